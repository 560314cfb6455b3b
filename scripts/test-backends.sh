#!/usr/bin/env bash
# The end-to-end suite once per hardware key backend, on real services:
# gnome-keyring (Secret Service) under a private D-Bus session, and swtpm.
# The passphrase run is scripts/test.sh; this adds libsecret and tpm2, and
# runs each backend's own tests (crates/sv-cli/tests/cli/backends/, ignored
# in a plain `cargo test`) inside its service. A backend suite in which none
# of its backend tests ran fails (scripts/expect-ran.sh). As root (CI), the
# tests that act as another user run on each backend too.
# Needs: apt-get install -y gnome-keyring dbus dbus-x11 libsecret-tools
# swtpm swtpm-tools libtss2-dev pkg-config
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs `cargo test ARGS` under the wrapper command WRAP (an array) and
# fails unless some test ran.
counted() {
    scripts/expect-ran.sh "${wrap[@]}" cargo test -p sv-cli --locked --all-features "$@"
}
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        echo "== the tests that act as another user"
        counted --test cli -- --ignored --skip backends:: --skip agents_real:: --skip agents_shell:: --skip agents_integrate::
    fi
}

wrap=(scripts/with-keyring.sh scripts/with-swtpm.sh env SV_TEST_BACKEND=secret-service)
echo "== suite on libsecret (gnome-keyring; swtpm up as well)"
"${wrap[@]}" cargo test -p sv-cli --locked --all-features
as_root
echo "== the Secret Service's own tests (the last one moves the key under swtpm)"
counted --test cli -- --ignored backends::keyring::

wrap=(scripts/with-swtpm.sh env SV_TEST_BACKEND=tpm2)
echo "== suite on tpm2 (swtpm)"
"${wrap[@]}" cargo test -p sv-cli --locked --all-features
as_root
echo "== the TPM's own tests"
counted --test cli -- --ignored backends::tpm2::
