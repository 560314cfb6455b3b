# session-vault hook for zsh. Load it with:  eval "$(session-vault init zsh)"
#
#   sv_load TOOL...    puts the tools' variables (e.g. ANTHROPIC_API_KEY) into
#                      this shell, from the credential scoped to this directory
#   sv_unload TOOL...  removes them again
#
# The values come from `session-vault env`, which prints each one inside
# single quotes, so nothing a value contains is ever run.

sv_load() {
    emulate -L zsh
    if [ "$#" -eq 0 ]; then
        printf '%s\n' 'sv_load: name the tools to load, e.g. "sv_load claude"' >&2
        return 2
    fi
    local __sv_tool __sv_code __sv_env
    local -a __sv_args=()
    for __sv_tool in "$@"; do
        __sv_args+=(--tool "$__sv_tool")
    done
    __sv_code=0
    __sv_env="$(command session-vault env "${__sv_args[@]}" --format sh)" || __sv_code=$?
    if [ "$__sv_code" -ne 0 ]; then
        printf 'sv_load: nothing loaded for %s (exit %s); see the message above\n' "$*" "$__sv_code" >&2
        return "$__sv_code"
    fi
    eval "$__sv_env"
    __sv_env=
    printf 'sv_load: loaded %s\n' "$*" >&2
}

sv_unload() {
    emulate -L zsh
    if [ "$#" -eq 0 ]; then
        printf '%s\n' 'sv_unload: name the tools to unload, e.g. "sv_unload claude"' >&2
        return 2
    fi
    local __sv_tool __sv_code __sv_env
    local -a __sv_args=()
    for __sv_tool in "$@"; do
        __sv_args+=(--tool "$__sv_tool")
    done
    __sv_code=0
    __sv_env="$(command session-vault env "${__sv_args[@]}" --format sh --unset)" || __sv_code=$?
    if [ "$__sv_code" -ne 0 ]; then
        return "$__sv_code"
    fi
    eval "$__sv_env"
}
