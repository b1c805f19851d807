<#
    avdgen v1.0.0: removes avd-agent for host pool hp-entra: the logoff task, the agent
    and its folder, the idle safety net's task, and the detection value. Exit codes: 0 success, 1603 failure
    (see %SystemRoot%\System32\config\systemprofile\AppData\Local\avdgen\intune-install.log). Works on Windows
    PowerShell 5.1 and PowerShell 7.
#>
$ErrorActionPreference = 'Stop'

if ($env:PROCESSOR_ARCHITEW6432 -and -not [Environment]::Is64BitProcess) {
    & "$env:SystemRoot\sysnative\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass -File $PSCommandPath
    exit $LASTEXITCODE
}

# The install log lives in the SYSTEM profile, where no user can create anything (install.ps1).
# Written only into a folder that exists, is no junction or link and SYSTEM or Administrators
# own; never through a link or hard link at the log's name (removed first: the name only).
$logDir = Join-Path $env:SystemRoot 'System32\config\systemprofile\AppData\Local\avdgen'
$log = Join-Path $logDir 'intune-install.log'
function Write-Log([string] $message) {
    $dir = Get-Item -LiteralPath $logDir -Force -ErrorAction SilentlyContinue
    if (-not $dir -or ($dir.Attributes -band [IO.FileAttributes]::ReparsePoint) -or -not $dir.PSIsContainer) { return }
    $owner = (Get-Acl -LiteralPath $logDir).GetOwner([Security.Principal.SecurityIdentifier]).Value
    if (@('S-1-5-18', 'S-1-5-32-544') -notcontains $owner) { return }
    $item = Get-Item -LiteralPath $log -Force -ErrorAction SilentlyContinue
    if ($item -and (($item.Attributes -band [IO.FileAttributes]::ReparsePoint) -or $item.LinkType)) { [IO.File]::Delete($log) }
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
