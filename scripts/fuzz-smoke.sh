#!/usr/bin/env bash
# Runs the cargo-fuzz targets for a short while each (CI smoke) or longer
# (evidence runs). Usage:
#   scripts/fuzz-smoke.sh [TARGET...]        # frame quote scope vault_open
#   FUZZ_SECONDS=600 nice -n 19 scripts/fuzz-smoke.sh scope
# FUZZ_SECONDS defaults to 60 per target. Needs cargo-fuzz and a nightly
# toolchain; without them it says so and exits 0: the committed corpus and
# every past crash input still run in plain `cargo test`
# (crates/*/tests/fuzz_regressions.rs). A crash fails the script and leaves
# the input in fuzz/artifacts/TARGET/: copy it to fuzz/regressions/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: cargo-fuzz or the nightly toolchain is missing; skipped (the regression inputs run in cargo test)"
    exit 0
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame quote scope vault_open)
# No sanitizer: the targets are safe Rust (SQLite's C is not instrumented
# either way), and on a small machine the executions matter more.
cargo +nightly fuzz build -s none
for t in "${targets[@]}"; do
    scratch=fuzz/target/corpus-run/$t
    mkdir -p "$scratch"
    echo "== fuzz $t for ${secs}s"
    log=fuzz/target/fuzz-$t.log
    rc=0
    cargo +nightly fuzz run -s none "$t" "$scratch" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb|SUMMARY|thread .* panicked)' "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log"
        echo "fuzz-smoke: $t failed (exit $rc); the input is in fuzz/artifacts/$t/"
        exit 1
    fi
done
echo "fuzz-smoke: ok"
