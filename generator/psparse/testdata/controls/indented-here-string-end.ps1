$x = @'
  text
  '@
Write-Output $x
