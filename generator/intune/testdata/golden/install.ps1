<#
    avdgen v1.0.0: installs avd-agent for host pool hp-entra (Intune Win32 app, runs as SYSTEM).
    Copies the agent for this CPU to %ProgramFiles%\avdgen, verifies its SHA-256, restricts the folder to
    Administrators and SYSTEM, registers the logoff task \avdgen\avd-agent logoff from avd-agent-logoff.xml
    (replacing an older one) and writes the detection value HKLM\SOFTWARE\avdgen\AgentVersion.
    Exit codes: 0 success, 1603 failure (see %ProgramData%\avdgen\intune-install.log).
    Works on Windows PowerShell 5.1 and PowerShell 7.
#>
$ErrorActionPreference = 'Stop'

# The Intune Management Extension may start a 32-bit PowerShell: rerun 64-bit so
# %ProgramFiles% and HKLM:\SOFTWARE are not redirected.
if ($env:PROCESSOR_ARCHITEW6432 -and -not [Environment]::Is64BitProcess) {
    & "$env:SystemRoot\sysnative\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy Bypass -File $PSCommandPath
    exit $LASTEXITCODE
}

$logDir = Join-Path $env:ProgramData 'avdgen'
$log = Join-Path $logDir 'intune-install.log'
function Write-Log([string] $message) {
    if (-not (Test-Path -LiteralPath $logDir)) { New-Item -ItemType Directory -Path $logDir -Force | Out-Null }
    Add-Content -LiteralPath $log -Value ('{0:u} install {1}' -f (Get-Date).ToUniversalTime(), $message)
}

try {
    $arch = $env:PROCESSOR_ARCHITECTURE
    switch ($arch) {
        'AMD64' { $source = 'avd-agent-amd64.exe'; $expected = 'ceabbdca648a6ce907ea656088de962c2ee9248c4ff0f34c5b7494646f9ad65e' }
        'ARM64' { $source = 'avd-agent-arm64.exe'; $expected = '9a619994be8e40994fdf476c0f7dafbdfa79c6f340dcab5b0c2a2e5446ca1081' }
        default { throw "unsupported processor architecture $arch" }
    }
    $installDir = [Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen')
    $target = Join-Path $installDir 'avd-agent.exe'
    Write-Log "installing $source to $target"

    if (-not (Test-Path -LiteralPath $installDir)) { New-Item -ItemType Directory -Path $installDir -Force | Out-Null }
    # Only Administrators and SYSTEM: the agent runs as SYSTEM, so users must not be able to replace it.
    & icacls.exe $installDir /inheritance:r /grant:r '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-18:(OI)(CI)F' | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls failed with $LASTEXITCODE" }

    Copy-Item -LiteralPath (Join-Path $PSScriptRoot $source) -Destination $target -Force
    $actual = (Get-FileHash -LiteralPath $target -Algorithm SHA256).Hash.ToLowerInvariant()
    if ($actual -ne $expected) { throw "$target has SHA-256 $actual, expected $expected" }

    & schtasks.exe /Create /XML (Join-Path $PSScriptRoot 'avd-agent-logoff.xml') /TN '\avdgen\avd-agent logoff' /F | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "schtasks /Create failed with $LASTEXITCODE" }

    $key = 'HKLM:\SOFTWARE\avdgen'
    if (-not (Test-Path -LiteralPath $key)) { New-Item -Path $key -Force | Out-Null }
    Set-ItemProperty -LiteralPath $key -Name 'AgentVersion' -Value 'v1.0.0+c5c7f5c23eb9'

    Write-Log "installed v1.0.0+c5c7f5c23eb9"
    exit 0
} catch {
    Write-Log "FAILED: $($_.Exception.Message)"
    Write-Error $_.Exception.Message -ErrorAction Continue
    exit 1603
}
