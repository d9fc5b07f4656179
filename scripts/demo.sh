#!/usr/bin/env bash
# The main job, end to end: check every supported release's schemas, confirm generated/
# matches them, then drive a real QEMU with the SDK (the README's example).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${QAPI_TS_CACHE:-.cache/qemu}
# scripts/qemu-versions as fetch-qemu.sh reads it: VERSION PACKAGE FROM UPSTREAM.
while read -r v _ from _; do
  for s in qapi/qapi-schema.json qga/qapi-schema.json storage-daemon/qapi/qapi-schema.json; do
    # A release from binary packages (bin:SUITE) has only the guest agent's schema; one from a
    # local binary (local:qemu) has no schema source.
    case $from in
      bin:*) [ "$s" = qga/qapi-schema.json ] || continue ;;
      local:qemu) continue ;;
    esac
    printf '%-5s %-38s ' "$v" "$s"
    node dist/cli/bin.js check-schema "$cache/$v/$s" </dev/null
  done
done < <(bash scripts/fetch-qemu.sh --list)
node dist/cli/bin.js gen --all --check
node scripts/demo-qemu.mjs
bash scripts/demo-cli.sh
