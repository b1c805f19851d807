$a = $null
$b = $a ?? "default"
