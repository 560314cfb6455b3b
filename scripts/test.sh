#!/usr/bin/env bash
# The whole test suite: unit, property and end-to-end tests against the real
# binaries, first on the passphrase backend, then again on the Secret Service
# (a private gnome-keyring) and on TPM2 (swtpm).
# Run as root (CI does): the tests that act as another user are ignored in
# a plain `cargo test` and run here; as another user they stay ignored, and
# this script says so.
# Needs on PATH: bash zsh fish tmux shellcheck python3 git systemd-analyze,
# gnome-keyring-daemon dbus-run-session secret-tool swtpm, and libtss2-dev to
# build the tpm2 feature (.ci/run installs them all on Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== workspace suite (passphrase backend)"
cargo test --workspace --locked --all-features
if [ "$(id -u)" -eq 0 ]; then
    echo "== the tests that act as another user (root)"
    scripts/expect-ran.sh \
        cargo test -p sv-cli --locked --all-features --test cli -- --ignored --skip backends:: --skip agents_real:: --skip agents_shell:: --skip agents_integrate::
else
    echo "== NOT RUN: the tests that act as another user need root (they stay ignored)"
fi
bash scripts/test-backends.sh
