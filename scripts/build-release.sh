#!/usr/bin/env bash
# The release binaries, in target/dist/ (or $OUT):
#   sv-daemon      as cargo builds it, with $FEATURES (e.g. FEATURES=tpm2,
#                  which needs libtss2-dev);
#   session-vault  on x86_64/aarch64 Linux with glibc, linked statically
#                  (static-pie, `-C target-feature=+crt-static`): every agent
#                  launch runs it, and a static binary skips the dynamic
#                  loader's symbol lookups and relocations, which were most
#                  of the instructions of a `session-vault get`
#                  (bench/runs/2026-11-29/README.md). Still position-independent (ASLR) with
#                  full RELRO. Elsewhere it is built as usual.
#   sv-bench       the load client of bench/load.sh.
# Install with: install -m 0755 target/dist/session-vault target/dist/sv-daemon ~/.local/bin/
# (the CLI starts the sv-daemon that sits beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-target/dist}
FEATURES=${FEATURES:-}
if [[ $FEATURES == *test-hooks* ]]; then
    echo "build-release.sh: the test-hooks feature is for tests only, never in a release" >&2
    exit 2
fi
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --locked -p sv-cli --bin sv-daemon ${FEATURES:+--features "$FEATURES"}
cargo build --release --locked -p sv-bench
case "$host" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu)
        # An explicit --target keeps the static flag off build scripts and
        # proc-macros, which must stay dynamic.
        RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
            cargo build --release --locked -p sv-cli --bin session-vault --target "$host"
        cli=target/$host/release/session-vault
        ;;
    *)
        cargo build --release --locked -p sv-cli --bin session-vault
        cli=target/release/session-vault
        ;;
esac
mkdir -p "$OUT"
install -m 0755 "$cli" "$OUT/session-vault"
install -m 0755 target/release/sv-daemon target/release/sv-bench "$OUT/"
echo "built: $(cd "$OUT" && pwd)/{session-vault,sv-daemon,sv-bench}"
