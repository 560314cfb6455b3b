# session-vault hook for fish. Load it with:  session-vault init fish | source
#
#   sv_load TOOL...    puts the tools' variables (e.g. ANTHROPIC_API_KEY) into
#                      this shell, from the credential scoped to this directory
#   sv_unload TOOL...  removes them again
#
# The values come from `session-vault env`, which prints each one inside
# single quotes, so nothing a value contains is ever run.

function sv_load --description 'Load tools\' credentials from session-vault into this shell'
    if test (count $argv) -eq 0
        echo 'sv_load: name the tools to load, e.g.: sv_load claude' >&2
        return 2
    end
    set -l __sv_args
    for __sv_tool in $argv
        set -a __sv_args --tool $__sv_tool
    end
    set -l __sv_env (command session-vault env $__sv_args --format fish | string collect)
    set -l __sv_code $pipestatus[1]
    if test $__sv_code -ne 0
        echo "sv_load: nothing loaded for $argv (exit $__sv_code); see the message above" >&2
        return $__sv_code
    end
    printf '%s\n' $__sv_env | source
    set __sv_env
    echo "sv_load: loaded $argv" >&2
end

function sv_unload --description 'Remove tools\' credentials loaded by sv_load'
    if test (count $argv) -eq 0
        echo 'sv_unload: name the tools to unload, e.g.: sv_unload claude' >&2
        return 2
    end
    set -l __sv_args
    for __sv_tool in $argv
        set -a __sv_args --tool $__sv_tool
    end
    set -l __sv_env (command session-vault env $__sv_args --format fish --unset | string collect)
    set -l __sv_code $pipestatus[1]
    if test $__sv_code -ne 0
        return $__sv_code
    end
    printf '%s\n' $__sv_env | source
    return 0
end
