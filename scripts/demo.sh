#!/usr/bin/env bash
# The main job, end to end: check every supported release's schemas, confirm generated/
# matches them, then drive a real QEMU with the SDK (the README's example).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${QAPI_TS_CACHE:-.cache/qemu}
for v in $(awk '!/^#/ && NF { print $1 }' scripts/qemu-versions); do
  for s in qapi/qapi-schema.json qga/qapi-schema.json storage-daemon/qapi/qapi-schema.json; do
    # A release from binary packages (bin:SUITE) has only the guest agent's schema.
    if awk -v v="$v" '$1 == v && $3 ~ /^bin:/ { found = 1 } END { exit !found }' scripts/qemu-versions; then
      [ "$s" = qga/qapi-schema.json ] || continue
    fi
    printf '%-5s %-38s ' "$v" "$s"
    node dist/cli/bin.js check-schema "$cache/$v/$s"
  done
done
node dist/cli/bin.js gen --all --check
node scripts/demo-qemu.mjs
bash scripts/demo-cli.sh
