#!/usr/bin/env bash
# Run every test and end with the totals alone on the last line: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
# Tests that import the package (README example, exports) run dist/: never a stale one.
if [ ! -f dist/bundle/runtime.js ] || [ -n "$(find runtime codegen cli generated bench scripts/bundle.mjs package.json tsconfig*.json -newer dist/bundle/runtime.js -type f 2>/dev/null | head -1)" ]; then
  npm run --silent build || { echo "0 passed, 1 failed"; exit 1; }
fi
report=$(mktemp "${TMPDIR:-/tmp}/qapi-ts-tests.XXXXXX.json")
trap 'rm -f "$report"' EXIT
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node -e '
  const fs = require("node:fs");
  let r;
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { console.log("0 passed, 1 failed"); process.exit(1); }
  // A file that fails to load has no failing test of its own: count it as one failure.
  const broken = (r.testResults ?? []).filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + broken} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report"
exit $status
