$ErrorActionPreference = "Stop"
$out = icacls.exe "C:\x" 2>&1
