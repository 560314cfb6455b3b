#!/usr/bin/env bash
# Times reading one API key with session-vault and with today's tools, in
# one hyperfine run (see docs/evidence.md and BENCHMARKS.md):
#   floor          a release hello-world Rust binary (bench/hello)
#   session-vault  `session-vault get --tool claude` (daemon running, unlocked)
#   keyctl         `keyctl pipe KEY` (kernel user keyring)
#   secret-tool    `secret-tool lookup` against gnome-keyring in dbus-run-session
#   pass           `pass show` with a throwaway GPG key (no passphrase)
# Each is first checked to print the same key. Prints a Markdown table of
# median wall time and the ratio to the floor; the raw hyperfine JSON goes
# to $OUT (default target/side-by-side.json).
# Needs: target/dist/session-vault + sv-daemon from scripts/build-release.sh
# (or SV_BIN_DIR), hyperfine,
# keyutils, gnome-keyring, libsecret-tools, dbus (dbus-x11), pass, gnupg,
# python3. RUNS (default 200) runs per command after 20 warm-ups.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$(cd "${SV_BIN_DIR:-target/dist}" && pwd)
OUT=${OUT:-$ROOT/target/side-by-side.json}
RUNS=${RUNS:-200}
for t in hyperfine keyctl secret-tool gnome-keyring-daemon dbus-run-session dbus-send pass gpg python3; do
    command -v "$t" >/dev/null || { echo "side-by-side: $t is not installed" >&2; exit 1; }
done
[ -x "$BIN/session-vault" ] || { echo "side-by-side: build first: scripts/build-release.sh" >&2; exit 1; }
cargo build --release --quiet --manifest-path bench/hello/Cargo.toml --target-dir "$ROOT/target/hello"
HELLO=$ROOT/target/hello/release/hello

W=$(mktemp -d /tmp/sv-side.XXXXXX)
export W BIN HELLO OUT RUNS
export HOME=$W/home XDG_DATA_HOME=$W/home/.local/share XDG_RUNTIME_DIR=$W/run
export GNUPGHOME=$W/home/.gnupg PASSWORD_STORE_DIR=$W/home/.password-store
export SESSION_VAULT_BACKEND=passphrase
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
mkdir -p -m 700 "$GNUPGHOME"
KID=""
cleanup() {
    "$BIN/session-vault" daemon stop >/dev/null 2>&1 || true
    [ -z "$KID" ] || keyctl unlink "$KID" @u >/dev/null 2>&1 || true
    gpgconf --kill gpg-agent 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
# A dummy key, the same for every tool.
KEY="sk-ant-api03-sidebyside-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export KEY

# session-vault
printf 'side-by-side passphrase\n' | "$BIN/session-vault" unlock >/dev/null
printf '%s\n' "$KEY" | "$BIN/session-vault" add --tool claude --global >/dev/null
# kernel keyring
KID=$(printf '%s' "$KEY" | keyctl padd user sv-side-by-side @u)
export KID
# pass with a throwaway key
gpg --batch --quiet --passphrase '' --quick-gen-key "sv side-by-side <bench@example.invalid>" default default never 2>/dev/null
FPR=$(gpg --list-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}')
pass init "$FPR" >/dev/null
printf '%s\n' "$KEY" | pass insert -e sv/claude >/dev/null

dbus-run-session -- bash -euo pipefail -c '
    eval "$(printf pw | gnome-keyring-daemon --unlock --components=secrets)"
    for _ in $(seq 100); do
        dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
        sleep 0.1
    done
    printf "%s" "$KEY" | secret-tool store --label="sv side-by-side" service sv-side-by-side tool claude
    check() { local got; got=$("$@"); [ "$got" = "$KEY" ] || { echo "side-by-side: $1 printed something else" >&2; exit 1; }; }
    check "$BIN/session-vault" get --tool claude
    check keyctl pipe "$KID"
    check secret-tool lookup service sv-side-by-side tool claude
    check pass show sv/claude
    hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$OUT" \
        -n floor "$HELLO" \
        -n session-vault "$BIN/session-vault get --tool claude" \
        -n keyctl "keyctl pipe $KID" \
        -n secret-tool "secret-tool lookup service sv-side-by-side tool claude" \
        -n pass "pass show sv/claude" >&2
'
python3 - "$OUT" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
floor = res["floor"]["median"]
sv = res["session-vault"]["median"]
print("| tool | median | mean ± σ | ratio to floor |")
print("|---|---:|---:|---:|")
for name in ["floor", "session-vault", "keyctl", "secret-tool", "pass"]:
    r = res[name]
    print(f"| {name} | {r['median']*1e3:.2f} ms | {r['mean']*1e3:.2f} ± {r['stddev']*1e3:.2f} ms | {r['median']/floor:.2f}× |")
print()
print(f"session-vault / floor: {sv/floor:.2f}× (target ≤ 1.3×); secret-tool / session-vault: {res['secret-tool']['median']/sv:.1f}× (target ≥ 10×)")
PY
