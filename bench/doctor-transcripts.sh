#!/usr/bin/env bash
# `session-vault doctor` over a home whose ~/.claude/projects holds SIZE_MB
# (default 2048) of Claude Code transcripts, side by side with `rg -c` for the
# same key patterns over the same files, in the same run.
#
# The transcripts are generated deterministically (fixed seed) into
# $BENCH_DIR (default /tmp/sv-bench-transcripts), with PLANTED keys (fake,
# well-formed, never issued) at fixed places; a second run reuses them.
# Both tools are run once to warm the page cache, then RUNS times each,
# alternating; wall time and peak RSS come from /usr/bin/time.
#
# Usage: bench/doctor-transcripts.sh [RUNS]
#   SV_BIN=path/to/session-vault (default target/release/session-vault;
#   build it with `cargo build --release -p sv-cli`)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SIZE_MB=${SIZE_MB:-2048}
BENCH_DIR=${BENCH_DIR:-/tmp/sv-bench-transcripts}
SV_BIN=${SV_BIN:-$PWD/target/release/session-vault}
HOME_DIR=$BENCH_DIR/home
PROJECTS=$HOME_DIR/.claude/projects

if [[ ! -f $BENCH_DIR/done-$SIZE_MB ]]; then
    rm -rf "$BENCH_DIR"
    mkdir -p "$PROJECTS"
    python3 - "$PROJECTS" "$SIZE_MB" <<'EOF'
import json, os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261202)
b62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
b64u = b62 + "_-"
def body(n, alphabet): return "".join(rng.choice(alphabet) for _ in range(n))
words = ("the function returns a value when the test passes and the build is "
         "green so we refactor this module to read files in chunks sk- task "
         "key token AIza skip ghost gh_pages hf_hub npm_config").split()
def prose(n): return " ".join(rng.choice(words) for _ in range(n))
# A pool of realistic transcript lines: user turns, assistant turns, tool
# results with file contents (long lines), near misses of key formats.
pool = []
for i in range(4000):
    kind = i % 4
    if kind == 0:
        rec = {"type": "user", "message": {"role": "user", "content": prose(rng.randint(5, 60))}}
    elif kind == 1:
        rec = {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": prose(rng.randint(20, 300))}]}}
    elif kind == 2:
        code = "\n".join("    let x%d = read(path).map_err(|e| e.to_string())?; // %s" % (j, prose(6)) for j in range(rng.randint(10, 200)))
        rec = {"type": "user", "toolUseResult": {"stdout": code, "stderr": ""}}
    else:
        rec = {"type": "assistant", "message": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "grep -rn sk-proj- src/ && echo AIza-not-a-key-" + body(10, b62)}}]}}
    rec.update({"uuid": "%08x-0000-4000-8000-%012x" % (i, i), "sessionId": "bench", "cwd": "/home/u/proj%d" % (i % 7)})
    pool.append(json.dumps(rec) + "\n")
planted = [
    "sk-ant-api03-" + body(93, b64u) + "AA",
    "sk-proj-" + body(74, b64u) + "T3BlbkFJ" + body(74, b64u),
    "AIza" + body(35, b64u),
    "gsk_" + body(52, b62),
]
target = size_mb * 1024 * 1024
files, written, n = 200, 0, 0
per_file = target // files
for f in range(files):
    d = os.path.join(root, "-home-u-proj%d" % (f % 25))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "%08x-bench-%04d.jsonl" % (f * 7919, f)), "w") as out:
        size = 0
        chunk = []
        while size < per_file:
            line = pool[rng.randrange(len(pool))]
            if n % 100000 == 99999:
                key = planted[(n // 100000) % len(planted)]
                line = json.dumps({"type": "user", "toolUseResult": {"stdout": "env\nANTHROPIC_API_KEY=%s\nPATH=/usr/bin\n" % key}}) + "\n"
            chunk.append(line)
            size += len(line)
            n += 1
            if len(chunk) >= 1000:
                out.write("".join(chunk)); chunk = []
        out.write("".join(chunk))
        written += size
print("generated %d MiB in %d files, %d lines" % (written >> 20, files, n))
EOF
    touch "$BENCH_DIR/done-$SIZE_MB"
fi

# The same patterns doctor compiles: every provider format in
# crates/sv-doctor/src/formats.rs, and the built-in tools' variable names.
PATTERN=$(grep -o 'pattern: r"[^"]*"' crates/sv-doctor/src/formats.rs | sed 's/^pattern: r"//; s/"$//' | paste -sd'|')
PATTERN="$PATTERN|ANTHROPIC_API_KEY|CURSOR_API_KEY|GEMINI_API_KEY|OPENAI_API_KEY"

run_doctor() {
    (cd "$HOME_DIR" && env -i PATH="$PATH" HOME="$HOME_DIR" XDG_DATA_HOME="$BENCH_DIR/data" \
        XDG_RUNTIME_DIR="$BENCH_DIR/run" SESSION_VAULT_NO_AUTOSTART=1 \
        /usr/bin/time -f "%e %M %U %S" -o "$BENCH_DIR/time" "$SV_BIN" doctor --json >"$BENCH_DIR/doctor.json" || true)
    tail -n 1 "$BENCH_DIR/time"
}
run_rg() {
    /usr/bin/time -f "%e %M %U %S" -o "$BENCH_DIR/time" rg -c -e "$PATTERN" "$PROJECTS" >"$BENCH_DIR/rg.txt" || true
    tail -n 1 "$BENCH_DIR/time"
}
mkdir -p "$BENCH_DIR/run" "$BENCH_DIR/data" && chmod 700 "$BENCH_DIR/run"
du -sm "$PROJECTS" | awk '{print "transcripts: " $1 " MiB"}'
run_doctor >/dev/null; run_rg >/dev/null   # warm the page cache
echo "run  doctor: wall_s peak_KiB cpu_s  |  rg: wall_s peak_KiB cpu_s  |  wall ratio  cpu ratio"
for i in $(seq 1 "$RUNS"); do
    read -r dt dm du ds < <(run_doctor)
    read -r rt rm ru rs < <(run_rg)
    dc=$(echo "$du + $ds" | bc); rc=$(echo "$ru + $rs" | bc)
    echo "$i  $dt $dm $dc  |  $rt $rm $rc  |  $(echo "scale=2; $dt / $rt" | bc)  $(echo "scale=2; $dc / $rc" | bc)"
done
python3 - "$BENCH_DIR/doctor.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = next(c for c in r["checks"] if c["id"] == "leftovers")
print("doctor: %s (%d findings)" % (c["summary"], len(c.get("findings", []))))
EOF
echo "rg: $(awk -F: '{s += $2} END {print s}' "$BENCH_DIR/rg.txt") matching lines in $(wc -l <"$BENCH_DIR/rg.txt") files"
