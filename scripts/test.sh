#!/usr/bin/env bash
# The whole test suite: unit, property and end-to-end tests against the real
# binaries. Needs bash, zsh, fish and tmux on PATH (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
