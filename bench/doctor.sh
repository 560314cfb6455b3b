#!/usr/bin/env bash
# Benchmark of `session-vault doctor` (issue 5): a home with 5,000 files and
# a project tree with 50,000 files, timed with hyperfine when it is
# installed (apt-get install hyperfine), else with a loop over `date +%s%N`.
#
# Usage: bench/doctor.sh [RUNS]     (SV_BIN=path/to/session-vault to skip the build)
# Uses the debug build by default (a release build is too costly on the
# shared 2-core machine); set SV_PROFILE=release to build and time that one.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
PROFILE=${SV_PROFILE:-debug}
if [[ -z "${SV_BIN:-}" ]]; then
    if [[ $PROFILE == release ]]; then
        cargo build -q --release -p sv-cli --bin session-vault
    else
        cargo build -q -p sv-cli --bin session-vault
    fi
    SV_BIN=$PWD/target/$PROFILE/session-vault
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sv-doctor-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
HOME_DIR=$WORK/home
TREE=$WORK/tree
mkdir -p "$HOME_DIR" "$TREE" "$WORK/run"
chmod 700 "$WORK/run"

# A fake 40-character key under a tool's name (no real key anywhere).
fake() { printf 'crsr_%s%s' "$1" 'Q7mZ2xLp9RtV4nB8kW3cY6hJ1dF5sG0a'; }

echo "building the fixture home (5,000 files)…" >&2
# Profiles with a few hundred lines each, agent configs, then filler.
for f in .bashrc .bash_profile .profile .zshrc .zshenv; do
    for i in $(seq 1 300); do echo "alias a$i='echo $i'  # filler"; done > "$HOME_DIR/$f"
done
echo "export CURSOR_API_KEY=$(fake 1)" >> "$HOME_DIR/.bashrc"
mkdir -p "$HOME_DIR/.config/fish/conf.d" "$HOME_DIR/.claude" "$HOME_DIR/.codex" "$HOME_DIR/.gemini" "$HOME_DIR/.cursor"
for i in $(seq 1 20); do echo "set -gx VAR$i value$i" > "$HOME_DIR/.config/fish/conf.d/c$i.fish"; done
echo '{"env": {"DEBUG": "1"}}' > "$HOME_DIR/.claude/settings.json"
echo '{"mcpServers": {"a": {"command": "a", "env": {"PORT": "1"}}}}' > "$HOME_DIR/.cursor/mcp.json"
n=$(find "$HOME_DIR" -type f | wc -l)
for d in $(seq 1 50); do
    mkdir -p "$HOME_DIR/.cache/c$d"
    for i in $(seq 1 100); do
        [[ $n -ge 5000 ]] && break 2
        echo "cache $d $i" > "$HOME_DIR/.cache/c$d/f$i"
        n=$((n + 1))
    done
done
echo "home: $(find "$HOME_DIR" -type f | wc -l) files" >&2

echo "building the project tree (50,000 files)…" >&2
python3 - "$TREE" <<'PY'
import os, sys
root = sys.argv[1]
n = 0
# 500 directories of 100 files; every 50th directory has a .env.
for d in range(500):
    p = os.path.join(root, f"pkg{d // 25}", f"mod{d}")
    os.makedirs(p, exist_ok=True)
    for i in range(100 if d % 50 else 99):
        with open(os.path.join(p, f"f{i}.txt"), "w") as f:
            f.write(f"file {d} {i}\n")
        n += 1
    if d % 50 == 0:
        with open(os.path.join(p, ".env"), "w") as f:
            f.write(f"PORT={8000 + d}\nCURSOR_API_KEY=crsr_{'abcdefghij' * 4}\n")
        n += 1
print(f"tree: {n} files", file=sys.stderr)
PY

RUN_ENV=(env -i PATH="$PATH" HOME="$HOME_DIR" XDG_RUNTIME_DIR="$WORK/run" SESSION_VAULT_NO_AUTOSTART=1)
# doctor exits 1 here (it finds the planted keys): that is expected.
"${RUN_ENV[@]}" "$SV_BIN" doctor >/dev/null || true
cd "$TREE"
found=$("${RUN_ENV[@]}" "$SV_BIN" doctor --recursive --json | grep -c '"hint"' || true)
echo "doctor --recursive finds $found keys in the tree and home" >&2

echo "profile: $PROFILE ($SV_BIN), runs: $RUNS" >&2
if command -v hyperfine >/dev/null; then
    hyperfine --runs "$RUNS" --warmup 2 -i --style basic \
        -n "doctor (home, 5k files)" "${RUN_ENV[*]} $SV_BIN doctor" \
        -n "doctor --recursive (50k-file tree)" "${RUN_ENV[*]} $SV_BIN doctor --recursive"
else
    for args in "doctor" "doctor --recursive"; do
        total=0; min=; max=0
        for _ in $(seq 1 "$RUNS"); do
            t0=$(date +%s%N)
            # shellcheck disable=SC2086
            "${RUN_ENV[@]}" "$SV_BIN" $args >/dev/null || true
            t=$(( ($(date +%s%N) - t0) / 1000 ))
            total=$((total + t)); [[ -z $min || $t -lt $min ]] && min=$t; [[ $t -gt $max ]] && max=$t
        done
        printf '%-22s mean %6d µs  min %6d µs  max %6d µs  (%d runs)\n' "$args" $((total / RUNS)) "$min" "$max" "$RUNS"
    done
fi
