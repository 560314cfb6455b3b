# session-vault: register a scheduled task that starts the daemon at logon
# (docs/design.md §9). Run in a PowerShell session of the user who will use the vault:
#
#     powershell -ExecutionPolicy Bypass -File install.ps1            # install
#     powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall # remove
#
# The task runs as the current user only while they are logged on, with no
# elevated rights. This script is not exercised by the project's tests (they
# run on Linux); see docs/operations.md.

[CmdletBinding()]
param(
    [string]$DaemonPath = (Join-Path $env:USERPROFILE ".cargo\bin\sv-daemon.exe"),
    [switch]$Uninstall
)

$ErrorActionPreference = "Stop"
$TaskName = "session-vault daemon"

if ($Uninstall) {
    if (Get-ScheduledTask -TaskName $TaskName -ErrorAction SilentlyContinue) {
        Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false
        Write-Output "Removed the scheduled task '$TaskName'."
    } else {
        Write-Output "No scheduled task '$TaskName' is registered."
    }
    exit 0
}

if (-not (Test-Path -LiteralPath $DaemonPath -PathType Leaf)) {
    Write-Error "sv-daemon.exe not found at $DaemonPath; install session-vault first or pass -DaemonPath."
    exit 1
}

$user = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
$action = New-ScheduledTaskAction -Execute $DaemonPath -Argument "--foreground"
$trigger = New-ScheduledTaskTrigger -AtLogOn -User $user
$principal = New-ScheduledTaskPrincipal -UserId $user -LogonType Interactive -RunLevel Limited
$settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
    -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 3 -RestartInterval (New-TimeSpan -Minutes 1)

Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger `
    -Principal $principal -Settings $settings -Force | Out-Null
Write-Output "Registered '$TaskName'; it starts at your next logon. Start it now with:"
Write-Output "    Start-ScheduledTask -TaskName '$TaskName'"
