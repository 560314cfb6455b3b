#!/usr/bin/env bash
# The end-to-end suite once per hardware key backend, on real services:
# gnome-keyring (Secret Service) under a private D-Bus session, and swtpm.
# The passphrase run is scripts/test.sh; this adds libsecret and tpm2, and
# runs each backend's own tests (crates/sv-cli/tests/cli/backends/, ignored
# in a plain `cargo test`) inside its service. A backend suite in which none
# of its backend tests ran fails (scripts/expect-ran.sh).
# Needs: apt-get install -y gnome-keyring dbus dbus-x11 libsecret-tools
# swtpm swtpm-tools libtss2-dev pkg-config
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== suite on libsecret (gnome-keyring; swtpm up as well)"
scripts/with-keyring.sh scripts/with-swtpm.sh \
    env SV_TEST_BACKEND=secret-service cargo test -p sv-cli --locked --all-features
echo "== the Secret Service's own tests (the last one moves the key under swtpm)"
scripts/expect-ran.sh scripts/with-keyring.sh scripts/with-swtpm.sh \
    cargo test -p sv-cli --locked --all-features --test cli -- --ignored backends::keyring::
echo "== suite on tpm2 (swtpm)"
scripts/with-swtpm.sh env SV_TEST_BACKEND=tpm2 cargo test -p sv-cli --locked --all-features
echo "== the TPM's own tests"
scripts/expect-ran.sh scripts/with-swtpm.sh \
    cargo test -p sv-cli --locked --all-features --test cli -- --ignored backends::tpm2::
