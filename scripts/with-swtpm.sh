#!/bin/sh
# Runs its arguments with a fresh software TPM (swtpm) listening on free
# loopback ports, SESSION_VAULT_TCTI pointing at it and TSS2_LOG quiet;
# stops the TPM afterwards, whatever the command's outcome:
#   scripts/with-swtpm.sh env SV_TEST_BACKEND=tpm2 cargo test -p sv-cli --all-features
# Needs: swtpm, swtpm-tools (swtpm_ioctl).
set -eu
if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
for tool in swtpm swtpm_ioctl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$0: $tool is missing; apt-get install -y swtpm swtpm-tools" >&2
        exit 1
    }
done
state=$(mktemp -d "${TMPDIR:-/tmp}/sv-swtpm.XXXXXX")
port_free() {
    # Free when nothing listens on it (ss is in iproute2; fall back to bash's /dev/tcp).
    if command -v ss >/dev/null 2>&1; then
        ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
port_unused() {
    # No socket at all on it, a connection in TIME_WAIT included (swtpm's
    # bind would fail on one); as port_free without ss.
    if command -v ss >/dev/null 2>&1; then
        ! ss -Hatn "sport = :$1" 2>/dev/null | grep -q .
    else
        port_free "$1"
    fi
}
port=""
tries=0
while [ -z "$port" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 50 ]; then
        echo "$0: no two free ports found" >&2
        rm -rf "$state"
        exit 1
    fi
    # Below Linux's ephemeral range (32768-60999), where every client
    # connection on the machine takes its local port.
    p=$(( (($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 5800) * 2) + 21000 ))
    if port_unused "$p" && port_unused $((p + 1)); then
        port=$p
    fi
done
ctrl=$((port + 1))
stop() {
    swtpm_ioctl --tcp "127.0.0.1:$ctrl" -s >/dev/null 2>&1 || {
        [ -f "$state/pid" ] && kill "$(cat "$state/pid")" 2>/dev/null || true
    }
    rm -rf "$state"
}
trap stop EXIT INT TERM
swtpm socket --tpm2 --tpmstate "dir=$state" \
    --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$ctrl,bindaddr=127.0.0.1" \
    --flags not-need-init,startup-clear --pid "file=$state/pid" --daemon
i=0
until [ -s "$state/pid" ] && ! port_free "$port"; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
        echo "$0: swtpm did not start listening on 127.0.0.1:$port" >&2
        exit 1
    fi
    sleep 0.05
done
SESSION_VAULT_TCTI="swtpm:host=127.0.0.1,port=$port"
TSS2_LOG=all+none
export SESSION_VAULT_TCTI TSS2_LOG
set +e
"$@"
rc=$?
set -e
exit "$rc"
