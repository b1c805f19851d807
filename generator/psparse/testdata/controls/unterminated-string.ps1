$s = "unterminated
Write-Output $s
