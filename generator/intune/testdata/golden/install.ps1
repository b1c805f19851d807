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

# %ProgramData%\avdgen holds the agent's log and state, written as SYSTEM: only
# Administrators and SYSTEM may own or write it. A junction or link a user put
# there is removed (the link only, never its target); the folder is then owned
# by Administrators with a protected DACL (no inherited ACEs).
function Protect-AvdgenFolder {
    $item = Get-Item -LiteralPath $logDir -Force -ErrorAction SilentlyContinue
    if ($item -and ($item.Attributes -band [IO.FileAttributes]::ReparsePoint)) {
        [IO.Directory]::Delete($logDir, $false)
        $item = $null
    }
    if (-not $item) { New-Item -ItemType Directory -Path $logDir -Force | Out-Null }
    & icacls.exe $logDir /setowner '*S-1-5-32-544' | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls /setowner on $logDir failed with $LASTEXITCODE" }
    & icacls.exe $logDir /inheritance:r /grant:r '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-18:(OI)(CI)F' | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls on $logDir failed with $LASTEXITCODE" }
}

function Write-Log([string] $message) {
    if (-not (Test-Path -LiteralPath $logDir)) { Protect-AvdgenFolder }
    Add-Content -LiteralPath $log -Value ('{0:u} install {1}' -f (Get-Date).ToUniversalTime(), $message)
}

try {
    Protect-AvdgenFolder
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

    # Idle safety net: at startup, then every 15 minutes (a restart from inside
    # Windows brings no logoff). idleAfter: never removes it.
    $idleTask = Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -ErrorAction SilentlyContinue
    if ($idleTask) { Unregister-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -Confirm:$false }
    $idleArgs = 'idle --idle-after 30m --action deallocate --exclude-tag avdgen-exclude=true'
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $trigger.Repetition = (New-ScheduledTaskTrigger -Once -At '2000-01-01T00:00:00' -RepetitionInterval (New-TimeSpan -Minutes 15)).Repetition
    Register-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -Force `
        -Action (New-ScheduledTaskAction -Execute $target -Argument $idleArgs) -Trigger $trigger `
        -Principal (New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -RunLevel Highest) `
        -Settings (New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Minutes 10) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries) | Out-Null

    # The detection rule's value: the agent version and a digest of everything
    # this package installs, so any change hosts must apply is a new value.
    $detectionVersion = 'v1.0.0+76319bbc86526d1a'
    $key = 'HKLM:\SOFTWARE\avdgen'
    if (-not (Test-Path -LiteralPath $key)) { New-Item -Path $key -Force | Out-Null }
    Set-ItemProperty -LiteralPath $key -Name 'AgentVersion' -Value $detectionVersion

    Write-Log ('installed ' + $detectionVersion)
    exit 0
} catch {
    Write-Log "FAILED: $($_.Exception.Message)"
    Write-Error $_.Exception.Message -ErrorAction Continue
    exit 1603
}
