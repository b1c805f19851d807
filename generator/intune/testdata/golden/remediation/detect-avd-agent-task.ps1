<#
    avdgen v1.0.0: Intune Remediations detection script for host pool hp-entra.
    Exit 1 (remediate) when the logoff task \avdgen\avd-agent logoff is missing or no longer runs the agent as avdgen
    registered it; exit 0 otherwise. Run as SYSTEM, in 64-bit PowerShell.
#>
$ErrorActionPreference = 'Stop'
$expectedCommand = '%ProgramFiles%\avdgen\avd-agent.exe'
$expectedArguments = 'logoff --session $(SessionId) --user "$(User)" --grace 1m30s --action deallocate --exclude-tag avdgen-exclude=true'
try {
    $task = Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent logoff' -ErrorAction SilentlyContinue
    if (-not $task) { Write-Output 'avd-agent logoff task missing'; exit 1 }
    $action = @($task.Actions)[0]
    $problems = @()
    if ($action.Execute -ne $expectedCommand) { $problems += "command is '$($action.Execute)'" }
    if ($action.Arguments -ne $expectedArguments) { $problems += "arguments are '$($action.Arguments)'" }
    if (@('SYSTEM', 'S-1-5-18', 'NT AUTHORITY\SYSTEM') -notcontains $task.Principal.UserId) { $problems += "runs as '$($task.Principal.UserId)'" }
    if (@($task.Triggers).Count -ne 2) { $problems += "has $(@($task.Triggers).Count) triggers, expected 2" }
    if ($task.State -eq 'Disabled') { $problems += 'is disabled' }
    if ($problems.Count -gt 0) { Write-Output ('avd-agent logoff task altered: ' + ($problems -join '; ')); exit 1 }
    Write-Output 'avd-agent logoff task ok'
    exit 0
} catch {
    Write-Output "detection failed: $($_.Exception.Message)"
    exit 1
}
