#!/bin/bash
# Daemon start-to-ready time per key backend: how long `session-vault daemon
# start` takes to return (it returns once the daemon's socket answers, and a
# tpm2 / libsecret daemon opens the vault key before it starts serving).
#
#   scripts/with-keyring.sh scripts/with-swtpm.sh bench/start.sh [RUNS]
#
# Backends measured: passphrase always; libsecret when DBUS_SESSION_BUS_ADDRESS
# is set; tpm2 when SESSION_VAULT_TCTI is set and the binary has the tpm2
# feature. Each run uses a fresh HOME/XDG tree holding an existing vault (the
# first, creating start is reported apart). Binaries: $SV_BIN_DIR, else
# target/debug (build with `cargo build -p sv-cli --all-features`).
set -euo pipefail
runs=${1:-10}
bin_dir=${SV_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/debug}
sv="$bin_dir/session-vault"
[ -x "$sv" ] || { echo "bench/start.sh: $sv not found; cargo build -p sv-cli --all-features" >&2; exit 1; }
pass="bench passphrase"

backends=(passphrase)
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && backends+=(secret-service)
[ -n "${SESSION_VAULT_TCTI:-}" ] && backends+=(tpm2)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

run_sv() { # env for one private tree, then the command
    local root=$1; shift
    env -i PATH="$PATH" HOME="$root/home" XDG_RUNTIME_DIR="$root/run" XDG_DATA_HOME="$root/data" \
        XDG_CONFIG_HOME="$root/config" LANG=C.UTF-8 SESSION_VAULT_BACKEND="$backend" \
        ${DBUS_SESSION_BUS_ADDRESS:+DBUS_SESSION_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS"} \
        ${SESSION_VAULT_TCTI:+SESSION_VAULT_TCTI="$SESSION_VAULT_TCTI"} TSS2_LOG=all+none \
        "$sv" "$@"
}

stats() { # prints min / median / max of the numbers on stdin
    sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%d / %d / %d", a[1], m, a[NR]}'
}

printf '%-15s %-24s %-24s %s\n' backend "first start (ms)" "start, existing vault" "start + unlock (ms)"
for backend in "${backends[@]}"; do
    first=() again=() unlocked=()
    for _ in $(seq "$runs"); do
        root=$(mktemp -d)
        mkdir -p "$root/home" "$root/run" "$root/data"; chmod 700 "$root/run"
        t0=$(now_ms); run_sv "$root" daemon start >/dev/null; t1=$(now_ms)
        first+=($((t1 - t0)))
        printf '%s\n' "$pass" | run_sv "$root" unlock >/dev/null
        run_sv "$root" daemon stop >/dev/null
        t0=$(now_ms); run_sv "$root" daemon start >/dev/null; t1=$(now_ms)
        again+=($((t1 - t0)))
        if [ "$backend" = passphrase ]; then
            printf '%s\n' "$pass" | run_sv "$root" unlock >/dev/null; t2=$(now_ms)
            unlocked+=($((t2 - t0)))
        fi
        run_sv "$root" daemon stop >/dev/null
        rm -rf "$root"
    done
    u="-"
    [ ${#unlocked[@]} -gt 0 ] && u=$(printf '%s\n' "${unlocked[@]}" | stats)
    printf '%-15s %-24s %-24s %s\n' "$backend" "$(printf '%s\n' "${first[@]}" | stats)" \
        "$(printf '%s\n' "${again[@]}" | stats)" "$u"
done
echo "(min / median / max over $runs runs; $(basename "$bin_dir") binaries)"
