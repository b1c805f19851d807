$ErrorActionPreference = 'Stop'
& schtasks.exe /Query /TN '\avdgen\avd-agent logoff' 2>$null | Out-Null
if ($LASTEXITCODE -ne 0) { exit 0 }
