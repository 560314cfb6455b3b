# session-vault hook for PowerShell. Load it with:
#   Invoke-Expression (& session-vault init powershell | Out-String)
#
#   sv_load TOOL...    puts the tools' variables (e.g. ANTHROPIC_API_KEY) into
#                      this session, from the credential scoped to this directory
#   sv_unload TOOL...  removes them again
#
# The values come from `session-vault env`, which prints each one inside
# single quotes, so nothing a value contains is ever run. On failure the
# functions write an error ($? is False) and leave session-vault's exit code
# in $LASTEXITCODE.

function sv_load {
    if ($args.Count -eq 0) {
        Write-Error 'sv_load: name the tools to load, e.g.: sv_load claude'
        return
    }
    $svArgs = @('env')
    foreach ($svTool in $args) { $svArgs += @('--tool', [string]$svTool) }
    $svArgs += @('--format', 'powershell')
    $svEnv = (& session-vault @svArgs | Out-String)
    if ($LASTEXITCODE -ne 0) {
        Write-Error "sv_load: nothing loaded for $($args -join ' ') (exit $LASTEXITCODE); see the message above"
        return
    }
    Invoke-Expression $svEnv
    $svEnv = $null
    [Console]::Error.WriteLine("sv_load: loaded $($args -join ' ')")
}

function sv_unload {
    if ($args.Count -eq 0) {
        Write-Error 'sv_unload: name the tools to unload, e.g.: sv_unload claude'
        return
    }
    $svArgs = @('env')
    foreach ($svTool in $args) { $svArgs += @('--tool', [string]$svTool) }
    $svArgs += @('--format', 'powershell', '--unset')
    $svEnv = (& session-vault @svArgs | Out-String)
    if ($LASTEXITCODE -ne 0) {
        Write-Error "sv_unload: nothing unloaded (exit $LASTEXITCODE); see the message above"
        return
    }
    Invoke-Expression $svEnv
}
