#!/usr/bin/env bash
# The README's command-line quick start, run as written (in a private temp dir instead of /tmp,
# with this clone's CLI for npx qapi-ts), so that what it shows is what happens.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/qapi-cli-demo.XXXXXX)
trap 'kill %1 2>/dev/null || true; rm -rf "$dir"' EXIT
snippet=$(awk '/^Then, against a throwaway QEMU/ { on = 1 } on && /^```sh$/ { grab = 1; next } grab && /^```$/ { exit } grab { print }' README.md)
[ -n "$snippet" ] || { echo "demo-cli: no command-line snippet in README.md" >&2; exit 1; }
snippet=${snippet//\/tmp\//$dir/}
snippet=${snippet//npx qapi-ts/node dist\/cli\/bin.js}
set -x
eval "$snippet"
