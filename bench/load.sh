#!/usr/bin/env bash
# The load figures of BENCHMARKS.md in one run, against the release
# binaries of scripts/build-release.sh (target/dist, or SV_BIN_DIR), on a
# throwaway vault (see docs/evidence.md):
#   1. the RSS of a freshly started daemon holding 10 000 sessions, then
#      lookups with 32 and with 1000 concurrent clients (a project session;
#      each run also reports the RSS after it);
#   3. `session-vault list` with 100 000 sessions (hyperfine median).
# DURATION (default 10) seconds per lookup run. The vault lives under
# VAULT_ROOT (default /dev/shm when present): seeding 100 000 sessions
# through `add` on a disk would spend minutes in fsync, which is not what
# this measures; lookups never write.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${SV_BIN_DIR:-target/dist}" && pwd)
DURATION=${DURATION:-10}
root=${VAULT_ROOT:-/dev/shm}
[ -d "$root" ] || root=/tmp
W=$(mktemp -d "$root/sv-load.XXXXXX")
export HOME=$W/home XDG_DATA_HOME=$W/data XDG_RUNTIME_DIR=$W/run SESSION_VAULT_BACKEND=passphrase
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$W/project/src" && chmod 700 "$XDG_RUNTIME_DIR"
trap '"$BIN/session-vault" daemon stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
SV=$BIN/session-vault
BENCH=$BIN/sv-bench
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'load passphrase\n' | "$SV" unlock >/dev/null
printf 'sk-ant-api03-load-dummy\n' | "$SV" add --tool claude --project "$W/project" >/dev/null
cd "$W/project/src"
echo "== seed to 10 000 sessions (9 999 global ones of another tool)"
"$BENCH" seed --count 9999 --tool codex --global | grep -E 'seeded|failed|adds_per_s'
echo "== restart the daemon: measure a fresh one holding 10 000 sessions"
"$SV" daemon stop >/dev/null
printf 'load passphrase\n' | "$SV" unlock >/dev/null
"$BENCH" rss
echo "== get, 32 clients, ${DURATION}s"
"$BENCH" get --clients 32 --duration "$DURATION" || true
echo "== get, 1000 clients, ${DURATION}s"
"$BENCH" get --clients 1000 --duration "$DURATION" || true
echo "== seed to 100 000 sessions, then time \`session-vault list\`"
"$BENCH" seed --count 90000 --tool codex --global | grep -E 'seeded|failed|adds_per_s'
echo "list rows: $("$SV" list | wc -l)"
hyperfine -N --warmup 2 --runs 10 "$SV list" --export-json "$W/list.json" >&2
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print('list_100k_median_ms: %.1f' % (r['median']*1e3))" "$W/list.json"
"$BENCH" rss
