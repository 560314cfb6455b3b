#!/usr/bin/env bash
# The end-to-end suite once per hardware key backend, on real services:
# gnome-keyring (Secret Service) under a private D-Bus session, and swtpm.
# The passphrase run is scripts/test.sh; this adds libsecret and tpm2 and the
# backend-specific tests (crates/sv-cli/tests/cli/backends.rs) with both
# services up. Needs: apt-get install -y gnome-keyring dbus dbus-x11
# libsecret-tools swtpm swtpm-tools libtss2-dev pkg-config
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== suite on libsecret (gnome-keyring; swtpm up for the cross-backend tests)"
scripts/with-keyring.sh scripts/with-swtpm.sh \
    env SV_TEST_BACKEND=secret-service cargo test -p sv-cli --locked --all-features
echo "== suite on tpm2 (swtpm)"
scripts/with-swtpm.sh env SV_TEST_BACKEND=tpm2 cargo test -p sv-cli --locked --all-features
