#!/bin/sh
# Runs its arguments inside a private D-Bus session with a fresh, unlocked
# gnome-keyring (the Secret Service), as CI does for the libsecret backend:
#   scripts/with-keyring.sh env SV_TEST_BACKEND=secret-service cargo test -p sv-cli --all-features
# Needs: dbus (dbus-run-session), gnome-keyring. Works as root without a display.
# HOME, XDG_DATA_HOME and XDG_RUNTIME_DIR point at a temp dir for the keyring
# only (the test harness gives each test its own HOME anyway); the keyring
# password is "test" (scripts can relock/unlock with it).
set -eu
if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
for tool in dbus-run-session gnome-keyring-daemon dbus-send; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$0: $tool is missing; apt-get install -y dbus dbus-x11 gnome-keyring" >&2
        exit 1
    }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sv-keyring.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/home" "$tmp/data" "$tmp/run"
chmod 700 "$tmp/run"
SV_KEYRING_TMP=$tmp
export SV_KEYRING_TMP
# The inner script: start the keyring unlocked, wait until it owns
# org.freedesktop.secrets (or D-Bus would activate a second, locked one),
# then run the command with the caller's HOME restored.
dbus-run-session -- sh -c '
    set -eu
    caller_home=${HOME:-/root}
    export SV_KEYRING_HOME="$SV_KEYRING_TMP/home"
    HOME="$SV_KEYRING_TMP/home" XDG_DATA_HOME="$SV_KEYRING_TMP/data" XDG_RUNTIME_DIR="$SV_KEYRING_TMP/run" \
        sh -c "printf test | gnome-keyring-daemon --unlock --components=secrets" > "$SV_KEYRING_TMP/env"
    i=0
    until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
        i=$((i + 1))
        if [ "$i" -gt 100 ]; then
            echo "with-keyring.sh: gnome-keyring did not take org.freedesktop.secrets within 10 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    export SV_KEYRING_DATA="$SV_KEYRING_TMP/data"
    HOME=$caller_home
    "$@"
' with-keyring "$@"
