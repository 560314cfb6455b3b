#!/usr/bin/env bash
# Runs a `cargo test` command and fails unless its `test result:` lines say
# that at least one test passed. cargo reports a filter that matched nothing,
# or tests that all stayed ignored, as "ok. 0 passed": a suite whose service
# tests did not run must not look green.
#   scripts/expect-ran.sh scripts/with-swtpm.sh cargo test -p sv-cli --all-features --test cli -- --ignored backends::tpm2::
set -euo pipefail
if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
out=$(mktemp "${TMPDIR:-/tmp}/sv-expect-ran.XXXXXX")
trap 'rm -f "$out"' EXIT
"$@" | tee "$out"
passed=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9][0-9]*\) passed;.*/\1/p' "$out" |
    awk '{ n += $1 } END { print n + 0 }')
if [ "$passed" -eq 0 ]; then
    echo "$0: no test ran (0 passed) in: $*" >&2
    exit 1
fi
echo "== $passed tests ran and passed"
