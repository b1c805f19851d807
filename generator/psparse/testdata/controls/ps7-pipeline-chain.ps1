Get-Item C:\ && Write-Output ok
