#!/usr/bin/env bash
# Two or more builds side by side, alternating, in one run: the load
# figures of bench/load.sh (RSS of a fresh daemon holding 10 000 sessions,
# lookups/s, p99 and daemon CPU per lookup at 32 clients, `list` of 100 000
# sessions) for each binary directory given, ROUNDS times in turn (A B C A
# B C ...), then the median of each figure per build. On a shared machine
# the figures of one run move a lot from minute to minute; alternating
# builds and taking medians compares them under the same conditions.
#
# Usage: bench/paired.sh NAME=DIR NAME=DIR [...]
#   each DIR holds session-vault, sv-daemon and sv-bench (the release
#   binaries of scripts/build-release.sh, e.g. one commit's target/dist
#   copied aside). ROUNDS (default 5), DURATION seconds of lookups per run
#   (default 5), LIST_RUNS (default 10). Raw lines go to stdout; the vault
#   lives under VAULT_ROOT (default /dev/shm), see bench/load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/paired.sh NAME=DIR NAME=DIR ..." >&2; exit 2; }
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
LIST_RUNS=${LIST_RUNS:-10}
root=${VAULT_ROOT:-/dev/shm}
[ -d "$root" ] || root=/tmp
results=$(mktemp)
trap 'rm -f "$results"' EXIT

one() {
    local name=$1 BIN=$2 W
    W=$(mktemp -d "$root/sv-paired.XXXXXX")
    (
        export HOME=$W/home XDG_DATA_HOME=$W/data XDG_RUNTIME_DIR=$W/run SESSION_VAULT_BACKEND=passphrase
        mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$W/project/src" && chmod 700 "$XDG_RUNTIME_DIR"
        trap '"$BIN/session-vault" daemon stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
        SV=$BIN/session-vault
        printf 'load passphrase\n' | "$SV" unlock >/dev/null
        printf 'sk-ant-api03-load-dummy\n' | "$SV" add --tool claude --project "$W/project" >/dev/null
        cd "$W/project/src"
        "$BIN/sv-bench" seed --count 9999 --tool codex --global >/dev/null
        "$SV" daemon stop >/dev/null
        printf 'load passphrase\n' | "$SV" unlock >/dev/null
        rss=$("$BIN/sv-bench" rss | awk '/daemon_rss_kib/{print $2}')
        get=$("$BIN/sv-bench" get --clients 32 --duration "$DURATION" || true)
        lps=$(awk '/^lookups_per_s/{print $2}' <<<"$get")
        p99=$(awk '/^p99_ms/{print $2}' <<<"$get")
        cpu=$(awk '/^daemon_cpu_us_per_lookup/{print $2}' <<<"$get")
        "$BIN/sv-bench" seed --count 90000 --tool codex --global >/dev/null
        hyperfine -N -w 2 -r "$LIST_RUNS" --export-json "$W/list.json" "$SV list" >/dev/null 2>&1
        list=$(jq '.results[0].median*1000' "$W/list.json")
        printf '%s rss_kib=%s lookups_per_s=%s p99_ms=%s cpu_us_per_lookup=%s list_100k_ms=%.1f load=%s\n' \
            "$name" "$rss" "$lps" "$p99" "$cpu" "$list" "$(cut -d' ' -f1 /proc/loadavg)"
    )
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds of $*"
for round in $(seq "$ROUNDS"); do
    for pair in "$@"; do
        line=$(one "${pair%%=*}" "$(cd "${pair#*=}" && pwd)")
        echo "round $round: $line"
        echo "$line" >>"$results"
    done
done
echo "== medians over $ROUNDS rounds"
for pair in "$@"; do
    name=${pair%%=*}
    printf '%s' "$name"
    for f in rss_kib lookups_per_s p99_ms cpu_us_per_lookup list_100k_ms; do
        m=$(grep "^$name " "$results" | tr ' ' '\n' | sed -n "s/^$f=//p" | sort -g |
            awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')
        printf ' %s=%s' "$f" "$m"
    done
    echo
done
