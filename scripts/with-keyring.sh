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
# The bus and everything it activates (a keyring daemon restarted by D-Bus
# activation included) see the private HOME/XDG tree; the command gets the
# caller's back.
SV_CALLER_HOME=${HOME:-/root}
SV_CALLER_XDG_DATA_HOME=${XDG_DATA_HOME-}
SV_CALLER_XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR-}
export SV_CALLER_HOME SV_CALLER_XDG_DATA_HOME SV_CALLER_XDG_RUNTIME_DIR
# Inside: start the keyring unlocked (password "test"), wait until it owns
# org.freedesktop.secrets (or D-Bus would activate a second, locked one),
# then run the command.
HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/run" \
dbus-run-session -- sh -c '
    set -eu
    printf test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
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
    HOME=$SV_CALLER_HOME
    if [ -n "$SV_CALLER_XDG_DATA_HOME" ]; then XDG_DATA_HOME=$SV_CALLER_XDG_DATA_HOME; else unset XDG_DATA_HOME; fi
    if [ -n "$SV_CALLER_XDG_RUNTIME_DIR" ]; then XDG_RUNTIME_DIR=$SV_CALLER_XDG_RUNTIME_DIR; else unset XDG_RUNTIME_DIR; fi
    "$@"
' with-keyring "$@"
