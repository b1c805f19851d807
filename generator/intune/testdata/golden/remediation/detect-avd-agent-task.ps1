<#
    avdgen v1.0.0: Intune Remediations detection script for host pool hp-entra.
    Exit 1 (remediate) when the logoff task \avdgen\avd-agent logoff is missing or no longer runs the agent as avdgen
    registered it, or when the idle safety net \avdgen\avd-agent idle (idleAfter 30m) is
    missing, disabled or altered; exit 0 otherwise. Run as SYSTEM, in 64-bit PowerShell.
#>
$ErrorActionPreference = 'Stop'
$expectedCommand = '%ProgramFiles%\avdgen\avd-agent.exe'
$expectedArguments = 'logoff --session $(SessionId) --user "$(User)" --grace 1m30s --action deallocate --exclude-tag avdgen-exclude=true'
# install.ps1 registers the idle task with the agent's expanded path.
$expectedIdleCommand = [Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen\avd-agent.exe')
$expectedIdleArguments = 'idle --idle-after 30m --action deallocate --exclude-tag avdgen-exclude=true'
$system = @('SYSTEM', 'S-1-5-18', 'NT AUTHORITY\SYSTEM')
try {
    $problems = @()
    $task = Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent logoff' -ErrorAction SilentlyContinue
    if (-not $task) {
        $problems += 'logoff task missing'
    } else {
        $action = @($task.Actions)[0]
        if ($action.Execute -ne $expectedCommand) { $problems += "logoff task command is '$($action.Execute)'" }
        if ($action.Arguments -ne $expectedArguments) { $problems += "logoff task arguments are '$($action.Arguments)'" }
        if ($system -notcontains $task.Principal.UserId) { $problems += "logoff task runs as '$($task.Principal.UserId)'" }
        if (@($task.Triggers).Count -ne 2) { $problems += "logoff task has $(@($task.Triggers).Count) triggers, expected 2" }
        if ($task.State -eq 'Disabled') { $problems += 'logoff task is disabled' }
    }
    $idle = Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -ErrorAction SilentlyContinue
    if (-not $idle) {
        $problems += 'idle task missing'
    } else {
        $actions = @($idle.Actions)
        if ($actions.Count -ne 1) { $problems += "idle task has $($actions.Count) actions, expected 1" }
        $action = $actions[0]
        if ($action.Execute -ne $expectedIdleCommand) { $problems += "idle task command is '$($action.Execute)'" }
        if ($action.Arguments -ne $expectedIdleArguments) { $problems += "idle task arguments are '$($action.Arguments)'" }
        if ($system -notcontains $idle.Principal.UserId) { $problems += "idle task runs as '$($idle.Principal.UserId)'" }
        if ($idle.State -eq 'Disabled') { $problems += 'idle task is disabled' }
        $triggers = @($idle.Triggers)
        if ($triggers.Count -ne 1) {
            $problems += "idle task has $($triggers.Count) triggers, expected 1"
        } else {
            $trigger = $triggers[0]
            if ($trigger.CimClass.CimClassName -ne 'MSFT_TaskBootTrigger') { $problems += "idle task trigger is $($trigger.CimClass.CimClassName), expected at startup" }
            if ($trigger.Enabled -eq $false) { $problems += 'idle task trigger is disabled' }
            if ($trigger.Repetition.Interval -ne 'PT15M') { $problems += "idle task repeats every '$($trigger.Repetition.Interval)', expected PT15M" }
            # No duration: repeat for as long as the host runs.
            if ($trigger.Repetition.Duration) { $problems += "idle task stops repeating after $($trigger.Repetition.Duration)" }
        }
    }
    if ($problems.Count -gt 0) { Write-Output ('avd-agent tasks altered: ' + ($problems -join '; ')); exit 1 }
    Write-Output 'avd-agent tasks ok'
    exit 0
} catch {
    Write-Output "detection failed: $($_.Exception.Message)"
    exit 1
}
