# A control that must pass: the same constructs the defective controls use, written the 5.1-safe way.
$ErrorActionPreference = 'Stop'
$x = @'
  text
'@
& schtasks.exe /Query /TN '\avdgen\avd-agent logoff' | Out-Null
if ($LASTEXITCODE -ne 0) { exit 0 }
$b = if ($null -eq $a) { 'default' } else { $a }
foreach ($i in @(1, 2)) { Write-Output $i }
Get-Item 'C:\' -ErrorAction SilentlyContinue 2>$null | Out-Null
