#!/usr/bin/env bash
# Installs session-vault from this checkout, the way the README's first
# command does: both binaries into cargo's bin directory ($CARGO_INSTALL_ROOT,
# else $CARGO_HOME, else ~/.cargo; `--root DIR` overrides), from the exact
# dependency versions of Cargo.lock.
#
#   session-vault  every agent launch and shell hook runs it, so its start-up
#                  is what a user pays most often. On x86_64/aarch64 Linux
#                  with glibc it is linked statically (static-pie): the
#                  dynamic loader's symbol lookups and relocations were a
#                  third of a `session-vault get` (BENCHMARKS.md). It stays
#                  position-independent (ASLR) with full RELRO.
#   sv-daemon      dynamically linked as cargo builds it: it resolves
#                  provider host names for the proxy (getaddrinfo, NSS),
#                  which a static glibc binary cannot do reliably.
#
# Extra arguments go to both `cargo install` runs (e.g. `--features tpm2`,
# which needs libtss2-dev). Takes a few minutes on two cores: the static CLI
# has its own build directory, so dependencies are compiled twice.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
cargo install --locked --path crates/sv-cli --bin sv-daemon "$@"
case "$host" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu)
        # Through the per-target variable, so the flags of .cargo/config.toml
        # still apply; an explicit --target keeps the static flag off build
        # scripts and proc-macros, which must stay dynamic.
        var="CARGO_TARGET_$(printf '%s' "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
        export "$var=${!var:-} -C target-feature=+crt-static"
        cargo install --locked --path crates/sv-cli --bin session-vault --target "$host" "$@"
        ;;
    *)
        cargo install --locked --path crates/sv-cli --bin session-vault "$@"
        ;;
esac
