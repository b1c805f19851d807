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
    & schtasks.exe /Query /TN '\avdgen\avd-agent logoff' 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) {
        & schtasks.exe /Delete /TN '\avdgen\avd-agent logoff' /F | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "schtasks /Delete failed with $LASTEXITCODE" }
    }
    & schtasks.exe /Query /TN '\avdgen\avd-agent idle' 2>$null | Out-Null
    if ($LASTEXITCODE -eq 0) {
        & schtasks.exe /Delete /TN '\avdgen\avd-agent idle' /F | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "schtasks /Delete (idle task) failed with $LASTEXITCODE" }
    }
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
