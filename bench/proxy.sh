#!/usr/bin/env bash
# The credential proxy's figures (docs/design.md §10), side by side in one
# run: the same mock upstream over TLS (sv-mock-provider), the same
# keep-alive load client (sv-load), and these columns:
#   direct     the client talks TLS to the mock itself, the key in x-api-key
#   nginx      nginx as a header-adding reverse proxy (proxy_set_header,
#              TLS upstream verified against the mock's CA, keep-alive)
#   mitmproxy  mitmdump in reverse mode with a three-line addon that sets
#              the header, as people build one by hand
#   sv-proxy   session-vault's proxy inside its daemon: the script starts a
#              daemon of its own (private HOME and runtime directory,
#              passphrase backend), points `[tools.claude]` at the mock
#              (`upstream`, `ca_file`), stores the key and takes a stand-in
#              from `session-vault exec --proxy --tool claude` (whose
#              process stays alive for the run). SV_PROXY_URL,
#              SV_PROXY_STANDIN and SV_PROXY_PIDS point the column at
#              another proxy instead (SV_PROXY=0 leaves it out).
# Proxies get a stand-in key; each replaces it with the real one.
#
# Per column: requests/s and latency with 32 clients and with 1 client
# (small non-streamed requests, closed loop); time to the first SSE event
# and each event's one-way delay over 500-event streams (events 1 ms apart,
# stamped by the mock with CLOCK_MONOTONIC); the proxy's RSS with 100
# streams open (sv-proxy: the daemon's, beside the daemon alone: unlocked,
# one key stored, before any stand-in was issued; and after 2 s of `get`
# lookups, which fill its audit cache). "Added" figures are the
# column minus direct.
#
# Needs: nginx (Debian nginx-light), python3 (venv for mitmproxy from PyPI,
# MITMDUMP=path skips that; NO_MITM=1 leaves the column out), jq.
# SECONDS_PER_RUN (default 5). Raw output goes to bench/runs/<date>/proxy/
# (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECONDS_PER_RUN:-5}
# SV_BIN_DIR: binaries built before (session-vault, sv-daemon, sv-load,
# sv-mock-provider), e.g. one commit's copy to compare with another's.
if [[ -n ${SV_BIN_DIR:-} ]]; then
    BIN=$(cd "$SV_BIN_DIR" && pwd)
else
    cargo build --release --locked -p sv-cli -p sv-testkit -p sv-bench >&2
    BIN=$PWD/target/release
fi

OUT=${OUT:-$PWD/bench/runs/$(date -u +%F)/proxy}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d)
pids=()
cleanup() {
    [[ -n ${SV_DAEMON_PID:-} ]] && kill "$SV_DAEMON_PID" 2>/dev/null || true
    [[ -n ${SV_STANDIN_PID:-} ]] && kill "$SV_STANDIN_PID" 2>/dev/null || true
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -f $W/nginx.pid ]] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT

KEY=sk-ant-api03-bench-real-key-0123456789abcdef0123456789abcdef
STANDIN=sk-ant-api03-bench-stand-in-fedcba9876543210fedcba98765432

wait_file() { for _ in $(seq 100); do [[ -s $1 ]] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctx_switches() { local t=0 p; for p in "$@"; do t=$((t + $(cat /proc/$p/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s+0}'))); done; echo "$t"; }
# "user system" ticks, summed over the processes; cpu_ticks their sum.
cpu_split() { local u=0 s=0 p a b; for p in "$@"; do read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo 0 0); u=$((u + a)) s=$((s + b)); done; echo "$u $s"; }
cpu_ticks() { local u s; read -r u s <<<"$(cpu_split "$@")"; echo $((u + s)); }
# Ticks of the threads named "sv-proxy" (the daemon's proxy thread).
proxy_thread_ticks() { local t=0 p f; for p in "$@"; do for f in /proc/$p/task/*; do [[ $(cat "$f/comm" 2>/dev/null) == sv-proxy ]] && t=$((t + $(awk '{print $14 + $15}' "$f/stat"))); done; done; echo "$t"; }
rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"

# The upstream: one mock over TLS, not recording requests.
"$BIN/sv-mock-provider" --dir "$W/mock" --no-log --threads 1 >"$W/mock.out" &
pids+=($!)
wait_file "$W/mock/port"
MPORT=$(cat "$W/mock/port")
CA=$W/mock/ca.pem

# nginx: header-adding reverse proxy, TLS upstream with keep-alive.
NPORT=$(free_port)
mkdir -p "$W/nginx"
cat >"$W/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    upstream mock { server 127.0.0.1:$MPORT; keepalive 128; }
    server {
        listen 127.0.0.1:$NPORT;
        keepalive_requests 100000;
        location / {
            proxy_pass https://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host localhost:$MPORT;
            proxy_set_header x-api-key "$KEY";
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $CA;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
            proxy_ssl_session_reuse on;
            proxy_buffering off;
            proxy_request_buffering off;
        }
    }
}
EOF
nginx -c "$W/nginx.conf" -p "$W/nginx" -g 'daemon on;'
wait_port "$NPORT"
nginx_pids() { pgrep -P "$(cat "$W/nginx.pid")" | tr '\n' ' '; cat "$W/nginx.pid"; }

# mitmproxy: reverse mode, an addon that sets the header and streams bodies.
columns=(direct nginx)
if [[ -z ${NO_MITM:-} ]]; then
    if [[ -z ${MITMDUMP:-} ]]; then
        venv=${MITM_VENV:-$PWD/target/mitm-venv}
        [[ -x $venv/bin/mitmdump ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q mitmproxy; } >&2
        MITMDUMP=$venv/bin/mitmdump
    fi
    cat >"$W/inject.py" <<EOF
def request(flow):
    flow.request.headers["x-api-key"] = "$KEY"
def responseheaders(flow):
    flow.response.stream = True
EOF
    MPPORT=$(free_port)
    "$MITMDUMP" -q --mode "reverse:https://localhost:$MPORT" --listen-host 127.0.0.1 \
        --listen-port "$MPPORT" -s "$W/inject.py" --set ssl_verify_upstream_trusted_ca="$CA" \
        --set confdir="$W/mitm" >"$W/mitm.log" 2>&1 &
    pids+=($!)
    MITM_PID=$!
    wait_port "$MPPORT"
    columns+=(mitmproxy)
    echo "mitmproxy $("$MITMDUMP" --version 2>/dev/null | head -1)" >>"$OUT/machine.txt"
fi

# session-vault: its own daemon, the key stored, a stand-in from exec --proxy.
if [[ -z ${SV_PROXY_URL:-} && ${SV_PROXY:-1} != 0 ]]; then
    SV=$BIN/session-vault
    mkdir -p "$W/sv/home" "$W/sv/data/session-vault" "$W/sv/run"
    chmod 700 "$W/sv/run" "$W/sv/data/session-vault"
    sv() {
        env -i PATH="$BIN:/usr/bin:/bin" HOME="$W/sv/home" XDG_RUNTIME_DIR="$W/sv/run" \
            XDG_DATA_HOME="$W/sv/data" XDG_CONFIG_HOME="$W/sv/home/.config" \
            SESSION_VAULT_BACKEND=passphrase LANG=C.UTF-8 "$SV" "$@"
    }
    printf '[tools.claude]\nupstream = "https://localhost:%s"\nca_file = "%s"\n' "$MPORT" "$CA" \
        >"$W/sv/data/session-vault/config.toml"
    sv daemon start >&2
    echo "bench passphrase" | sv unlock >&2
    echo "$KEY" | sv add --tool claude --global >&2
    SV_DAEMON_PID=$(sv daemon status --json | jq -r .pid)
    sleep 1
    SV_DAEMON_ALONE_KIB=$(rss_kib "$SV_DAEMON_PID")
    # The same daemon after 2 s of audited `get` lookups: the vault's audit
    # page cache filled as any use fills it (docs/proxy.md, "Memory"),
    # still before any stand-in was issued.
    if [[ -x $BIN/sv-bench ]]; then
        (cd "$W" && env -i PATH="$BIN:/usr/bin:/bin" HOME="$W/sv/home" XDG_RUNTIME_DIR="$W/sv/run" \
            XDG_DATA_HOME="$W/sv/data" "$BIN/sv-bench" get --clients 1 --duration 2 >"$OUT/sv-warm.txt")
        sleep 1
        SV_DAEMON_WARM_KIB=$(rss_kib "$SV_DAEMON_PID")
    fi
    # The stand-in lives as long as this process (the shell execs sleep).
    sv exec --proxy --tool claude -- sh -c \
        'printf "%s %s %s\n" "$ANTHROPIC_BASE_URL" "$ANTHROPIC_API_KEY" "$$" >"$0"; exec sleep 100000' \
        "$W/sv/standin" &
    pids+=($!)
    wait_file "$W/sv/standin"
    # The shell execs sleep: its pid is the stand-in's process, killed at
    # the end (killing the backgrounded function leaves it running).
    read -r SV_PROXY_URL SV_PROXY_STANDIN SV_STANDIN_PID <"$W/sv/standin"
    SV_PROXY_PIDS=$SV_DAEMON_PID
    echo "session-vault $(sv --version | head -1) (daemon alone: $SV_DAEMON_ALONE_KIB KiB RSS; after 2 s of get lookups: ${SV_DAEMON_WARM_KIB:-not measured} KiB)" >>"$OUT/machine.txt"
fi
[[ -n ${SV_PROXY_URL:-} ]] && columns+=(sv-proxy)
echo "nginx $(nginx -v 2>&1 | cut -d/ -f2)" >>"$OUT/machine.txt"

target() { # column -> url, header, pids
    case $1 in
        direct) echo "https://localhost:$MPORT/v1/messages|x-api-key: $KEY|" ;;
        nginx) echo "http://127.0.0.1:$NPORT/v1/messages|x-api-key: $STANDIN|$(nginx_pids)" ;;
        mitmproxy) echo "http://127.0.0.1:$MPPORT/v1/messages|x-api-key: $STANDIN|$MITM_PID" ;;
        sv-proxy) echo "${SV_PROXY_URL%/}/v1/messages|x-api-key: ${SV_PROXY_STANDIN:?set SV_PROXY_STANDIN}|${SV_PROXY_PIDS:-}" ;;
    esac
}

for col in "${columns[@]}"; do
    IFS='|' read -r url header procs <<<"$(target "$col")"
    load=("$BIN/sv-load" --url "$url" --ca "$CA" --header "$header")
    echo "== $col ($url)" >&2
    # The proxy's own CPU time per request (user + system), 32 clients.
    cpu0=$( [[ -n $procs ]] && cpu_ticks $procs || echo 0)
    cs0=$( [[ -n $procs ]] && ctx_switches $procs || echo 0)
    "${load[@]}" rps --clients 32 --seconds "$SECS" >"$OUT/$col-rps32.json"
    cpu1=$( [[ -n $procs ]] && cpu_ticks $procs || echo 0)
    cs1=$( [[ -n $procs ]] && ctx_switches $procs || echo 0)
    if [[ -n $procs ]]; then
        jq --argjson t "$((cpu1 - cpu0))" --argjson hz "$(getconf CLK_TCK)" --argjson cs "$((cs1 - cs0))" \
            '. + {proxy_cpu_us_per_request: (if .requests > 0 then ($t / $hz * 1e6 / .requests * 10 | round / 10) else null end),
                  proxy_context_switches_per_request: (if .requests > 0 then ($cs / .requests * 100 | round / 100) else null end)}' \
            "$OUT/$col-rps32.json" >"$OUT/$col-rps32.json.tmp" && mv "$OUT/$col-rps32.json.tmp" "$OUT/$col-rps32.json"
    fi
    "${load[@]}" rps --clients 1 --seconds "$SECS" >"$OUT/$col-rps1.json"
    "${load[@]}" stream --streams 10 --events 500 --interval-us 1000 >"$OUT/$col-stream.json"
    # 100 streams open for 6 s; the proxy's RSS measured in the middle.
    rss_before=$( [[ -n $procs ]] && rss_kib $procs || echo 0)
    "${load[@]}" hold --clients 100 --seconds 6 --interval-us 100000 >"$OUT/$col-hold.json" &
    hold=$!
    sleep 3
    rss=$( [[ -n $procs ]] && rss_kib $procs || echo 0)
    threads=0
    for p in $procs; do threads=$((threads + $(awk '/^Threads/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
    wait "$hold"
    # sv-proxy: "idle" is the daemon alone, before any stand-in or request.
    [[ $col == sv-proxy && -n ${SV_DAEMON_ALONE_KIB:-} ]] && rss_before=$SV_DAEMON_ALONE_KIB
    jq -n --arg col "$col" --argjson idle "$rss_before" --argjson open "$rss" --argjson threads "$threads" \
        '{column: $col, rss_idle_kib: $idle, rss_100_streams_kib: $open, threads_100_streams: $threads}' >"$OUT/$col-rss.json"
done

# The duel: sv-proxy and nginx in turn, in short slices, so that both see
# the same machine. On this shared two-CPU VM the rate a proxy reaches moves
# by tens of percent between runs a minute apart (nginx's own 32-client
# figure has ranged from 13 000 to 23 000 req/s), more than the two differ;
# the ratio of two slices seconds apart cancels most of that drift. Each
# pair runs the two in alternating order (nginx first in even pairs) and
# gives the req/s ratio at 32 clients, each proxy's CPU per request, and
# the difference of their 1-client p50s. DUEL_PAIRS=0 leaves it out.
DUEL_PAIRS=${DUEL_PAIRS:-10}
DUEL_SECS=${DUEL_SECS:-2}
if [[ $DUEL_PAIRS -gt 0 && " ${columns[*]} " == *" sv-proxy "* ]]; then
    echo "== duel: sv-proxy and nginx in turn, $DUEL_PAIRS pairs of $DUEL_SECS s" >&2
    mkdir -p "$OUT/duel"
    slice() { # column pair -> one 32-client and one 1-client slice
        local col=$1 i=$2 url header procs u0 s0 u1 s1 t0 t1
        IFS='|' read -r url header procs <<<"$(target "$col")"
        local load=("$BIN/sv-load" --url "$url" --ca "$CA" --header "$header")
        read -r u0 s0 <<<"$(cpu_split $procs)"
        t0=$(proxy_thread_ticks $procs)
        "${load[@]}" rps --clients 32 --seconds "$DUEL_SECS" >"$OUT/duel/$col-$i-rps32.json"
        read -r u1 s1 <<<"$(cpu_split $procs)"
        t1=$(proxy_thread_ticks $procs)
        # CPU per request, and the part of it in user space (the rest is
        # the kernel's: loopback TCP, wake-ups, system calls).
        # sv-proxy: also the part of its proxy thread (the rest is the
        # daemon's workers: audit records, caller lookups).
        jq --argjson u "$((u1 - u0))" --argjson s "$((s1 - s0))" --argjson t "$((t1 - t0))" --argjson hz "$(getconf CLK_TCK)" \
            '. + (if .requests > 0 then {proxy_cpu_us_per_request: (($u + $s) / $hz * 1e6 / .requests * 10 | round / 10),
                  proxy_user_us_per_request: ($u / $hz * 1e6 / .requests * 10 | round / 10),
                  proxy_thread_us_per_request: ($t / $hz * 1e6 / .requests * 10 | round / 10)} else {proxy_cpu_us_per_request: null} end)' \
            "$OUT/duel/$col-$i-rps32.json" >"$OUT/duel/tmp.json" && mv "$OUT/duel/tmp.json" "$OUT/duel/$col-$i-rps32.json"
        "${load[@]}" rps --clients 1 --seconds "$DUEL_SECS" >"$OUT/duel/$col-$i-rps1.json"
    }
    for ((i = 0; i < DUEL_PAIRS; i++)); do
        if ((i % 2 == 0)); then slice nginx "$i"; slice sv-proxy "$i"; else slice sv-proxy "$i"; slice nginx "$i"; fi
    done
    # One object per pair, then the table and the summary from those.
    for ((i = 0; i < DUEL_PAIRS; i++)); do
        jq -cn --slurpfile s32 "$OUT/duel/sv-proxy-$i-rps32.json" --slurpfile n32 "$OUT/duel/nginx-$i-rps32.json" \
            --slurpfile s1 "$OUT/duel/sv-proxy-$i-rps1.json" --slurpfile n1 "$OUT/duel/nginx-$i-rps1.json" --argjson i "$i" \
            '{i: $i, rs: $s32[0].rps, rn: $n32[0].rps, r: ($s32[0].rps / $n32[0].rps),
              cs: $s32[0].proxy_cpu_us_per_request, cn: $n32[0].proxy_cpu_us_per_request,
              us: $s32[0].proxy_user_us_per_request, un: $n32[0].proxy_user_us_per_request, ts: $s32[0].proxy_thread_us_per_request,
              ps: $s1[0].latency.p50_us, pn: $n1[0].latency.p50_us, d: ($s1[0].latency.p50_us - $n1[0].latency.p50_us)}'
    done >"$OUT/duel/pairs.jsonl"
    {
        echo "| pair | req/s sv-proxy / nginx (32 clients) | ratio | CPU µs/request sv-proxy / nginx | 1-client p50 µs sv-proxy / nginx | difference µs |"
        echo "|---|---|---|---|---|---|"
        jq -r '"| \(.i) | \(.rs) / \(.rn) | \(.r * 100 | round / 100) | \(.cs) / \(.cn) | \(.ps) / \(.pn) | \(.d * 10 | round / 10) |"' "$OUT/duel/pairs.jsonl"
        jq -rs 'def med: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
            "\nduel, \(length) pairs: req/s ratio sv-proxy / nginx min \(map(.r) | min * 100 | round / 100), median \(map(.r) | med * 100 | round / 100), max \(map(.r) | max * 100 | round / 100); sv-proxy at least level in \(map(select(.r >= 1)) | length) of \(length). CPU µs/request median sv-proxy \(map(.cs) | med) vs nginx \(map(.cn) | med), of which user space \(map(.us) | med) vs \(map(.un) | med); sv-proxy'"'"'s proxy thread \(map(.ts) | med * 10 | round / 10). 1-client p50 difference (sv-proxy - nginx) median \(map(.d) | med * 10 | round / 10) µs, at most 0 in \(map(select(.d <= 0)) | length) of \(length)."' "$OUT/duel/pairs.jsonl"
    } >"$OUT/duel.md"
fi

# The table: one row per column; "added" is the column minus direct.
{
    echo "| column | req/s 32 clients | proxy CPU µs/request (32) | p50 / p99 µs (32) | p50 / p99 µs (1 client) | added p50 µs (1 client) | first event p50 µs | event delay p50 / p99 µs | added event delay p50 µs | RSS idle → 100 streams MiB |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    d1=$(jq '.latency.p50_us' "$OUT/direct-rps1.json")
    de=$(jq '.event_delay.p50_us' "$OUT/direct-stream.json")
    for col in "${columns[@]}"; do
        r32=$OUT/$col-rps32.json r1=$OUT/$col-rps1.json s=$OUT/$col-stream.json m=$OUT/$col-rss.json
        printf '| %s | %s | %s | %s / %s | %s / %s | %s | %s | %s / %s | %s | %s |\n' "$col" \
            "$(jq '.rps' "$r32")" "$(jq -r 'if .proxy_cpu_us_per_request then "\(.proxy_cpu_us_per_request) (\(.proxy_context_switches_per_request) context switches)" else "—" end' "$r32")" "$(jq '.latency.p50_us' "$r32")" "$(jq '.latency.p99_us' "$r32")" \
            "$(jq '.latency.p50_us' "$r1")" "$(jq '.latency.p99_us' "$r1")" \
            "$(jq --argjson d "$d1" '(.latency.p50_us - $d) * 10 | round / 10' "$r1")" \
            "$(jq '.first_event.p50_us' "$s")" "$(jq '.event_delay.p50_us' "$s")" "$(jq '.event_delay.p99_us' "$s")" \
            "$(jq --argjson d "$de" '(.event_delay.p50_us - $d) * 10 | round / 10' "$s")" \
            "$(jq -r 'if .rss_idle_kib == 0 then "—" else "\(.rss_idle_kib / 1024 * 10 | round / 10) → \(.rss_100_streams_kib / 1024 * 10 | round / 10)" end' "$m")"
    done
    echo
    echo "errors: $(for col in "${columns[@]}"; do printf '%s %s/%s  ' "$col" "$(jq .errors "$OUT/$col-rps32.json")" "$(jq .errors "$OUT/$col-rps1.json")"; done)"
    echo "events received per column (of 5000): $(for col in "${columns[@]}"; do printf '%s %s  ' "$col" "$(jq .events_received "$OUT/$col-stream.json")"; done)"
    echo "streams open at once (of 100): $(for col in "${columns[@]}"; do printf '%s %s  ' "$col" "$(jq .peak_open "$OUT/$col-hold.json")"; done)"
    if [[ -n ${SV_DAEMON_WARM_KIB:-} && -f $OUT/sv-proxy-rss.json ]]; then
        echo "sv-proxy, 100 streams over the daemon alone: +$(jq --argjson a "$SV_DAEMON_ALONE_KIB" '(.rss_100_streams_kib - $a) / 1024 * 10 | round / 10' "$OUT/sv-proxy-rss.json") MiB; over the daemon after 2 s of get lookups ($((SV_DAEMON_WARM_KIB / 1024)) MiB, its audit cache filled): +$(jq --argjson a "$SV_DAEMON_WARM_KIB" '(.rss_100_streams_kib - $a) / 1024 * 10 | round / 10' "$OUT/sv-proxy-rss.json") MiB"
    fi
    [[ -f $OUT/duel.md ]] && cat "$OUT/duel.md"
} | tee "$OUT/table.md"
