foreach $a in $b { Write-Output $a }
