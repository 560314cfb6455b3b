#!/usr/bin/env bash
# Chaos runs against the real release binaries (see docs/evidence.md):
#   kill    ROUNDS (default 100) rounds of kill -9 during concurrent adds and
#           removes; every acknowledged add must survive, every acknowledged
#           remove must stay removed, and the vault must open again.
#   stop    SIGSTOP of the daemon under load: clients give up after
#           SESSION_VAULT_TIMEOUT with exit 4 and a clear message; after
#           SIGCONT everything is served again.
#   full    the vault directory fills up (a 2 MiB tmpfs; a loop-mounted ext2
#           file system if tmpfs cannot be mounted): a clear error, no damage,
#           and writes work again once space is freed.
#   clock   the wall clock jumps back and forward under a daemon run with
#           libfaketime: sessions are neither extended nor killed.
# Usage: scripts/chaos.sh [kill|stop|full|clock]...   (default: all four)
# Needs: target/release/{session-vault,sv-daemon,sv-bench} (or SV_BIN_DIR),
# python3; root (or CAP_SYS_ADMIN) for `full`; faketime (libfaketime) for
# `clock`. Exit 0 when every check held.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${SV_BIN_DIR:-target/release}" && pwd)
SV=$BIN/session-vault
for b in session-vault sv-daemon sv-bench; do
    [ -x "$BIN/$b" ] || { echo "chaos: $BIN/$b missing; run cargo build --release -p sv-cli -p sv-bench" >&2; exit 1; }
done
ROUNDS=${ROUNDS:-100}
PW="chaos passphrase"
W=$(mktemp -d /tmp/sv-chaos.XXXXXX)
MOUNTED=""
cleanup() {
    local pid
    pid=$(daemon_pid 2>/dev/null) && kill -CONT "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    [ -z "$MOUNTED" ] || umount "$MOUNTED" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
FAILED=0
fail() { echo "  FAIL: $*"; FAILED=1; }
ok() { echo "  ok: $*"; }

use_env() { # use_env NAME [DATA_DIR]: a fresh HOME/XDG tree
    export HOME=$W/$1/home XDG_DATA_HOME=${2:-$W/$1/data} XDG_RUNTIME_DIR=$W/$1/run
    mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR"
    chmod 700 "$XDG_RUNTIME_DIR"
    export SESSION_VAULT_BACKEND=passphrase SESSION_VAULT_NO_AUTOSTART=1
    unset SESSION_VAULT_TIMEOUT
}
daemon_pid() {
    "$SV" daemon status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'
}
# kill -STOP only queues the signal: one thread takes it and then stops the
# others, each when it is next scheduled. On a loaded machine the daemon can
# serve for some milliseconds after kill returns, so wait until every thread
# of the process reports state T before counting on the stop.
wait_stopped() { # wait_stopped PID
    local i states
    for i in $(seq 1 1000); do
        states=$(for f in /proc/"$1"/task/*/stat; do sed 's/.*) //; s/ .*//' "$f" 2>/dev/null; done | sort -u | tr -d '\n')
        [ "$states" = T ] && return 0
        sleep 0.01
    done
    echo "  the daemon's threads did not all stop within 10 s (states: $states)"
    return 1
}
start() {
    "$SV" daemon start >/dev/null
    printf '%s\n' "$PW" | "$SV" unlock >/dev/null
}
# SQLite's own integrity check of the vault file (the daemon must be
# stopped: it holds the file exclusively while it runs).
integrity_check() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True).execute("pragma integrity_check").fetchone()[0])' "$XDG_DATA_HOME/session-vault/vault.db"
}

live_ids() { # ids of the sessions the daemon lists, one per line
    "$SV" list --json | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)]'
}

chaos_kill() {
    echo "== kill -9 during concurrent adds and removes ($ROUNDS rounds)"
    use_env kill
    local acked=$W/kill/acked_add attempted=$W/kill/attempted_rm removed=$W/kill/acked_rm
    : >"$acked"; : >"$attempted"; : >"$removed"
    local r lost=0 resurrected=0 opened=0
    for ((r = 1; r <= ROUNDS; r++)); do
        if ! start; then fail "round $r: the vault did not open after kill -9"; break; fi
        opened=$((opened + 1))
        local pid; pid=$(daemon_pid)
        # Removal candidates: acknowledged adds not yet touched by a remove.
        sort "$attempted" >"$W/kill/a.sorted"
        sort "$acked" | comm -23 - "$W/kill/a.sorted" | shuf -n 6 >"$W/kill/cands" || true
        local w
        for w in 1 2 3; do
            (
                while out=$(printf 'sk-chaos-%s-%s-%s\n' "$r" "$w" "$RANDOM" |
                    "$SV" add --tool claude --global --label "r$r w$w" 2>/dev/null); do
                    echo "${out##* }" >>"$acked"
                done
            ) &
        done
        (
            while read -r id; do
                echo "$id" >>"$attempted"
                "$SV" remove "$id" >/dev/null 2>&1 || break
                echo "$id" >>"$removed"
            done <"$W/kill/cands"
        ) &
        sleep "0.$((RANDOM % 5 + 1))"
        kill -9 "$pid"
        wait
    done
    start
    live_ids | sort >"$W/kill/live"
    sort "$attempted" >"$W/kill/a.sorted"
    lost=$(sort -u "$acked" | comm -23 - "$W/kill/a.sorted" | comm -23 - "$W/kill/live" | wc -l)
    resurrected=$(sort -u "$removed" | comm -12 - "$W/kill/live" | wc -l)
    local n_add n_rm
    n_add=$(sort -u "$acked" | wc -l); n_rm=$(sort -u "$removed" | wc -l)
    echo "  rounds: $opened of $ROUNDS reopened; acknowledged adds: $n_add; acknowledged removes: $n_rm"
    [ "$opened" -eq "$ROUNDS" ] && ok "the vault opened after every kill -9" || fail "the vault failed to open"
    [ "$lost" -eq 0 ] && ok "every acknowledged add survived" || fail "$lost acknowledged adds lost"
    [ "$resurrected" -eq 0 ] && ok "no acknowledged remove came back" || fail "$resurrected removed sessions came back"
    # The daemon holds the vault exclusively: stop it, then check the file.
    "$SV" daemon stop >/dev/null
    local check
    check=$(integrity_check)
    [ "$check" = ok ] && ok "integrity_check: ok" || fail "integrity_check: $check"
}

chaos_stop() {
    echo "== SIGSTOP / SIGCONT under load"
    use_env stop
    start
    printf 'sk-chaos-stop\n' | "$SV" add --tool claude --global >/dev/null
    local pid; pid=$(daemon_pid)
    # Background load through the bench client (its own 10 s timeout).
    (cd "$W" && "$BIN/sv-bench" get --clients 16 --duration 8 >"$W/stop/bench.txt" 2>&1) &
    local bench=$!
    sleep 1
    kill -STOP "$pid"
    wait_stopped "$pid" || fail "SIGSTOP did not stop the daemon"
    local i t0 t1
    for i in 1 2 3 4; do
        (
            t0=$(date +%s%N)
            rc=0
            SESSION_VAULT_TIMEOUT=2 "$SV" get --tool claude >/dev/null 2>"$W/stop/err$i" || rc=$?
            t1=$(date +%s%N)
            echo "$rc $(((t1 - t0) / 1000000))" >"$W/stop/rc$i"
        ) &
    done
    sleep 3.5
    kill -CONT "$pid"
    wait $(jobs -p | grep -v "^$bench$") 2>/dev/null || true
    local bad=0
    for i in 1 2 3 4; do
        read -r rc ms <"$W/stop/rc$i"
        if [ "$rc" -ne 4 ] || [ "$ms" -gt 4000 ] || ! grep -q "did not answer within 2 s" "$W/stop/err$i"; then
            bad=1
            echo "  client $i: exit $rc after ${ms} ms: $(cat "$W/stop/err$i")"
        fi
    done
    [ "$bad" -eq 0 ] && ok "stopped daemon: 4 clients exited 4 after ~2 s: $(head -c 160 "$W/stop/err1")" || fail "clients did not time out cleanly"
    wait "$bench" || true
    local errs
    errs=$(awk '/^errors:/ {print $2}' "$W/stop/bench.txt")
    echo "  bench during the stop: $(tr '\n' ' ' <"$W/stop/bench.txt" | tr -s ' ' | cut -c1-200)"
    [ "$errs" = 0 ] && ok "bench load (10 s timeout) rode out a 3.5 s stop with 0 errors" || fail "bench saw $errs errors"
    local got
    got=$("$SV" get --tool claude) && [ "$got" = sk-chaos-stop ] && ok "served again after SIGCONT" || fail "not served after SIGCONT"
    "$SV" daemon stop >/dev/null
}

chaos_full() {
    echo "== the vault directory fills up"
    local m=$W/full/mnt
    mkdir -p "$m"
    if mount -t tmpfs -o size=2m,mode=700 tmpfs "$m" 2>/dev/null; then
        echo "  using a 2 MiB tmpfs"
    elif dd if=/dev/zero of="$W/full/fs.img" bs=1k count=2048 status=none && mkfs.ext2 -q "$W/full/fs.img" && mount -o loop "$W/full/fs.img" "$m" 2>/dev/null; then
        echo "  using a 2 MiB loop-mounted ext2"
    else
        echo "  SKIPPED: cannot mount a small file system here (needs root or CAP_SYS_ADMIN)"
        return 0
    fi
    MOUNTED=$m
    use_env full "$m/data"
    start
    local i ids=()
    for i in 1 2 3 4 5; do
        out=$(printf 'sk-chaos-full-%s\n' "$i" | "$SV" add --tool claude --global --label "before $i")
        ids+=("${out##* }")
    done
    dd if=/dev/zero of="$m/filler" bs=4k status=none 2>/dev/null || true
    local rc=0 err
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        rc=0
        err=$(printf 'sk-chaos-full-x%s\n' "$i" | "$SV" add --tool claude --global --label "during $i $(printf 'x%.0s' {1..150})" 2>&1 >/dev/null) || rc=$?
        [ "$rc" -ne 0 ] && break
    done
    if [ "$rc" -eq 1 ] && grep -qi "full" <<<"$err" && [ "$(wc -l <<<"$err")" -eq 1 ]; then
        ok "add on a full disk: exit 1: $err"
    else
        fail "add on a full disk: exit $rc: $err"
    fi
    local got
    # Every serve is audited, and a serve the log cannot record is refused
    # (fail closed, docs/operations.md): a lookup on a full disk is a clear
    # one-line error, never a key handed out unrecorded, never a crash.
    local grc=0
    got=$("$SV" get --tool claude 2>&1) || grc=$?
    if [ "$grc" -eq 1 ] && grep -qi "full" <<<"$got" && [ "$(wc -l <<<"$got")" -eq 1 ]; then
        ok "lookup on a full disk refused, not served unaudited: $got"
    else
        fail "lookup while full: exit $grc: $got"
    fi
    live_ids >"$W/full/live_full" 2>"$W/full/list_err" && ok "list still works while full" || fail "list while full: $(cat "$W/full/list_err")"
    # A restart while still full.
    "$SV" daemon stop >/dev/null 2>&1 || true
    rc=0
    err=$("$SV" daemon start 2>&1 >/dev/null) || rc=$?
    echo "  restart while full: exit $rc ${err:+($err)}"
    rm -f "$m/filler"
    [ "$rc" -eq 0 ] || "$SV" daemon start >/dev/null
    printf '%s\n' "$PW" | "$SV" unlock >/dev/null
    live_ids | sort >"$W/full/live"
    local missing=0
    for i in "${ids[@]}"; do grep -qx "$i" "$W/full/live" || missing=$((missing + 1)); done
    [ "$missing" -eq 0 ] && ok "all ${#ids[@]} sessions stored before the disk filled are intact" || fail "$missing sessions lost"
    printf 'sk-chaos-full-after\n' | "$SV" add --tool claude --global >/dev/null && ok "writes work again once space is freed" || fail "add after freeing space"
    # The daemon holds the vault exclusively: stop it, then check the file.
    "$SV" daemon stop >/dev/null
    local check
    check=$(integrity_check)
    [ "$check" = ok ] && ok "integrity_check after freeing space: ok" || fail "integrity_check: $check"
    umount "$m" && MOUNTED=""
}

chaos_clock() {
    echo "== the wall clock jumps back and forward (libfaketime on the daemon)"
    local lib
    lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n1 || true)
    if [ -z "$lib" ]; then
        echo "  SKIPPED: libfaketime not installed (apt-get install faketime); the rule is unit-tested in sv-core ttl"
        return 0
    fi
    use_env clock
    local rc_file=$W/clock/faketime.rc
    echo "+0" >"$rc_file"
    # The CLI clears the daemon's environment, so start sv-daemon directly
    # with only the wall clock faked (CLOCK_BOOTTIME/MONOTONIC stay real).
    LD_PRELOAD=$lib FAKETIME_TIMESTAMP_FILE=$rc_file FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 \
        "$BIN/sv-daemon" --backend passphrase 2>"$W/clock/daemon.log" &
    local dpid=$!
    for _ in $(seq 100); do "$SV" daemon status >/dev/null 2>&1 && break; sleep 0.05; done
    printf '%s\n' "$PW" | "$SV" unlock >/dev/null
    printf 'sk-idle\n' | "$SV" add --tool claude --global --ttl 4 >/dev/null
    printf 'sk-hard\n' | "$SV" add --tool codex --global --ttl 0 --max-age 6 >/dev/null
    local t0=$SECONDS step
    for step in "-3h" "+3h" "+30d" "-1y"; do
        echo "$step" >"$rc_file"
        local a b
        a=$("$SV" get --tool claude 2>&1) && b=$("$SV" get --tool codex 2>&1) &&
            ok "clock $step: both sessions still served" || fail "clock $step killed a session: $a $b"
        sleep 0.7
    done
    echo "+0" >"$rc_file"
    sleep 1.5
    "$SV" get --tool claude >/dev/null 2>&1 && ok "idle session alive 1.5 s after its last serve" || fail "idle session died early"
    echo "-2h" >"$rc_file"
    sleep $((7 - (SECONDS - t0) > 0 ? 7 - (SECONDS - t0) : 0))
    sleep 4.5
    local rc=0
    "$SV" get --tool claude >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 3 ] && ok "idle TTL (4 s) expired after 4.5 s without use, clock set 2 h back" || fail "idle session: exit $rc (expected 3: not extended)"
    rc=0
    "$SV" get --tool codex >/dev/null 2>&1 || rc=$?
    [ "$rc" -eq 3 ] && ok "hard deadline (6 s) held with the clock set 2 h back" || fail "hard-deadline session: exit $rc (expected 3: not extended)"
    kill "$dpid"
    wait "$dpid" 2>/dev/null || true
}

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(kill stop full clock)
for c in "${what[@]}"; do
    case "$c" in
        kill) chaos_kill ;;
        stop) chaos_stop ;;
        full) chaos_full ;;
        clock) chaos_clock ;;
        *) echo "chaos: unknown run \`$c\` (kill, stop, full, clock)" >&2; exit 2 ;;
    esac
done
[ "$FAILED" -eq 0 ] && echo "chaos: all checks held" || { echo "chaos: some checks FAILED"; exit 1; }
