#!/bin/sh
# Prints command N (1, 2, …) of the README's first ```sh block: its lines
# that are neither empty nor comments. The first is the install line, the
# second the test command; .ci/run and scripts/readme-install.sh run them
# from here so that they cannot drift from what the README says.
set -eu
n=${1:?usage: readme-command.sh N}
cd "$(dirname "$0")/.."
cmd=$(awk '
    /^```sh$/ && !seen { inside = 1; seen = 1; next }
    inside && /^```$/ { exit }
    inside && !/^[[:space:]]*(#|$)/ { print }
' README.md | sed -n "${n}p")
if [ -z "$cmd" ]; then
    echo "readme-command.sh: README.md's first sh block has no command $n" >&2
    exit 1
fi
printf '%s\n' "$cmd"
