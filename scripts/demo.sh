#!/usr/bin/env bash
# The main job, end to end: check every supported QEMU release's schemas with qapi-ts.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${QAPI_TS_CACHE:-.cache/qemu}
for v in $(awk '!/^#/ && NF { print $1 }' scripts/qemu-versions); do
  for s in qapi/qapi-schema.json qga/qapi-schema.json storage-daemon/qapi/qapi-schema.json; do
    printf '%-5s %-38s ' "$v" "$s"
    node dist/cli/bin.js check-schema "$cache/$v/$s"
  done
done
