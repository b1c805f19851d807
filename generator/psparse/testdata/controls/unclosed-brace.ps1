if ($true) {
  Write-Output "open brace"
