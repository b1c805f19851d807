<#
    avdgen v1.0.0: removes avd-agent for host pool hp-entra: the logoff task, the agent
    and its folder, the idle safety net's task, and the detection value. Exit codes: 0 success, 1603 failure
    (see %ProgramData%\avdgen\intune-install.log). Works on Windows PowerShell 5.1 and PowerShell 7.
#>
$ErrorActionPreference = 'Stop'

if ($env:PROCESSOR_ARCHITEW6432 -and -not [Environment]::Is64BitProcess) {
    & "$env:SystemRoot\sysnative\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass -File $PSCommandPath
    exit $LASTEXITCODE
}

$logDir = Join-Path $env:ProgramData 'avdgen'
$log = Join-Path $logDir 'intune-install.log'
function Write-Log([string] $message) {
    if (-not (Test-Path -LiteralPath $logDir)) { New-Item -ItemType Directory -Path $logDir -Force | Out-Null }
    Add-Content -LiteralPath $log -Value ('{0:u} uninstall {1}' -f (Get-Date).ToUniversalTime(), $message)
}

try {
    # The ScheduledTasks cmdlets, not schtasks.exe: under 'Stop', Windows PowerShell 5.1 turns a native
    # command's redirected stderr into a terminating error, and a task already gone would fail every retry.
    # Both tasks go: the logoff task and the idle safety net.
    $tasks = @(Get-ScheduledTask | Where-Object { @('\avdgen\avd-agent logoff', '\avdgen\avd-agent idle') -contains ($_.TaskPath + $_.TaskName) })
    foreach ($task in $tasks) { $task | Unregister-ScheduledTask -Confirm:$false }
    $installDir = [Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen')
    if (Test-Path -LiteralPath $installDir) { Remove-Item -LiteralPath $installDir -Recurse -Force }
    $key = 'HKLM:\SOFTWARE\avdgen'
    if (Test-Path -LiteralPath $key) { Remove-ItemProperty -LiteralPath $key -Name 'AgentVersion' -ErrorAction SilentlyContinue }
    Write-Log 'removed'
    exit 0
} catch {
    Write-Log "FAILED: $($_.Exception.Message)"
    Write-Error $_.Exception.Message -ErrorAction Continue
    exit 1603
}
