<#
.SYNOPSIS
    Imports the avdgen GPO for host pool hp-personal and publishes the avd-agent payload to SYSVOL.

.DESCRIPTION
    Written by avdgen v1.0.0. Run it from the bundle folder on a machine with the Group Policy
    Management tools (RSAT), as a user who may edit GPOs and write to SYSVOL. Steps, each honouring -WhatIf:
      1. verify the SHA-256 of every file in sysvol-payload\ against SHA256SUMS;
      2. copy them to \\contoso.local\SYSVOL\contoso.local\scripts\avdgen\ and verify them there;
      3. Import-GPO -BackupGpoName 'avdgen - hp-personal' -Path .\gpo-backup -TargetName <TargetName> -CreateIfNeeded;
      4. link the GPO to the OU, when one is given and the link does not exist yet.
    The script stops at the first error. It works on Windows PowerShell 5.1 and PowerShell 7.

.EXAMPLE
    .\Import-AvdGpo.ps1 -WhatIf
    .\Import-AvdGpo.ps1
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string] $Domain = 'contoso.local',
    [string] $TargetName = 'avdgen - hp-personal',
    [string] $Ou = 'OU=AVD,DC=contoso,DC=local'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# The GPO's task powers VMs off: link it only to the OU of the session hosts,
# never to the domain root (every computer) or a CN= container (no links).
if ($Ou -and $Ou -notmatch '^OU=') {
    throw "-Ou '$Ou' is not an organizational unit (OU=...): the domain root would reach every computer, domain controllers included, and CN= containers cannot be linked. Give the OU of the session hosts."
}

$bundle = $PSScriptRoot
$payload = Join-Path $bundle 'sysvol-payload'
$backup = Join-Path $bundle 'gpo-backup'
$sysvol = "\\$Domain\SYSVOL\$Domain\scripts\avdgen"

function Read-Sums([string] $folder) {
    $sums = @{}
    foreach ($line in Get-Content -LiteralPath (Join-Path $folder 'SHA256SUMS')) {
        if ($line -match '^([0-9a-f]{64})  (.+)$') { $sums[$Matches[2]] = $Matches[1] }
    }
    if ($sums.Count -eq 0) { throw "SHA256SUMS in $folder lists no files" }
    return $sums
}

function Test-Sums([string] $folder, [hashtable] $sums) {
    foreach ($name in $sums.Keys) {
        $file = Join-Path $folder $name
        if (-not (Test-Path -LiteralPath $file)) { throw "$file is missing" }
        $actual = (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($actual -ne $sums[$name]) { throw "$file has SHA-256 $actual, expected $($sums[$name]); do not deploy it" }
    }
}

Import-Module GroupPolicy

Write-Host "1/4 Verifying the payload in $payload"
$sums = Read-Sums $payload
Test-Sums $payload $sums

Write-Host "2/4 Copying the payload to $sysvol"
if ($PSCmdlet.ShouldProcess($sysvol, 'Copy avd-agent binaries and SHA256SUMS')) {
    if (-not (Test-Path -LiteralPath $sysvol)) { New-Item -ItemType Directory -Path $sysvol | Out-Null }
    foreach ($name in @($sums.Keys) + 'SHA256SUMS') {
        Copy-Item -LiteralPath (Join-Path $payload $name) -Destination (Join-Path $sysvol $name) -Force
    }
    Test-Sums $sysvol $sums
}

Write-Host "3/4 Importing GPO '$TargetName' from $backup"
if ($PSCmdlet.ShouldProcess($TargetName, 'Import-GPO from the avdgen backup')) {
    Import-GPO -BackupGpoName 'avdgen - hp-personal' -Path $backup -TargetName $TargetName -Domain $Domain -CreateIfNeeded | Out-Null
}

if ($Ou) {
    Write-Host "4/4 Linking '$TargetName' to $Ou"
    $linked = (Get-GPInheritance -Target $Ou -Domain $Domain).GpoLinks | Where-Object { $_.DisplayName -eq $TargetName }
    if ($linked) {
        Write-Host "    already linked"
    } elseif ($PSCmdlet.ShouldProcess($Ou, "New-GPLink '$TargetName'")) {
        New-GPLink -Name $TargetName -Target $Ou -Domain $Domain -LinkEnabled Yes | Out-Null
    }
} else {
    Write-Host "4/4 No OU given: link '$TargetName' to the OU of the session hosts yourself (New-GPLink -Name '$TargetName' -Target 'OU=...')"
}

Write-Host ""
$agent = '%ProgramFiles%\avdgen\avd-agent-v1.0.0-bca8f89d.exe'
Write-Host "Done. On a session host: gpupdate /force, then run"
Write-Host ('    & ([Environment]::ExpandEnvironmentVariables(''{0}'')) check' -f $agent)
Write-Host "and fix anything it reports as FAIL before users sign out."
