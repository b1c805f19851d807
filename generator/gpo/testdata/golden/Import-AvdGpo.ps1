<#
.SYNOPSIS
    Imports the avdgen GPO for host pool hp-personal and publishes the avd-agent payload to SYSVOL.

.DESCRIPTION
    Written by avdgen v1.0.0 for the domain contoso.local. Run it from the bundle folder on a
    machine with the Group Policy Management tools (RSAT), as a user who may edit GPOs and write to SYSVOL.
    Nothing changes before every check has passed. Steps, each shown by -WhatIf:
      0. checks: -Domain is the bundle's domain, -Ou is an OU that exists, and a GPO named -TargetName is
         either absent or one avdgen made (its comment starts with the avdgen marker);
      1. verify the SHA-256 of every file in sysvol-payload\ against SHA256SUMS;
      2. copy them to \\contoso.local\SYSVOL\contoso.local\scripts\avdgen\ and verify them there;
      3. create the GPO with the avdgen marker as its comment, when it does not exist yet;
      4. Import-GPO -BackupGpoName 'avdgen - hp-personal' -Path .\gpo-backup -TargetName <TargetName>;
      5. set GpoStatus to UserSettingsDisabled (the GPO has computer settings only) and restamp the comment;
      6. link the GPO to the OU, when one is given and the link does not exist yet.
    The script stops at the first error. It works on Windows PowerShell 5.1 and PowerShell 7.
    A bundle downloaded from the internet: run Get-ChildItem -Recurse | Unblock-File in the bundle folder first.

.EXAMPLE
    .\Import-AvdGpo.ps1 -WhatIf
    .\Import-AvdGpo.ps1
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    # Must be the bundle's domain: Files.xml copies the agent from that domain's SYSVOL.
    [string] $Domain = 'contoso.local',
    [string] $TargetName = 'avdgen - hp-personal',
    [string] $Ou = 'OU=AVD,DC=contoso,DC=local'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

$bundleDomain = 'contoso.local'
# avdgen's marker: the comment of every GPO this script creates starts with it.
$marker = '[avdgen] host pool hp-personal, domain contoso.local'
$comment = '[avdgen] host pool hp-personal, domain contoso.local. Made by avdgen v1.0.0 from backup {B959D8C4-CBDD-581D-A4C2-7093A41A6515}: session time limits and the logoff task that deallocates the VM. Import-AvdGpo.ps1 replaces its settings only while this comment starts with the marker.'

$bundle = $PSScriptRoot
$payload = Join-Path $bundle 'sysvol-payload'
$backup = Join-Path $bundle 'gpo-backup'
$sysvol = "\\$bundleDomain\SYSVOL\$bundleDomain\scripts\avdgen"

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

function Get-TargetGpo {
    # -All and a filter: Get-GPO -Name throws when the GPO does not exist.
    return Get-GPO -All -Domain $Domain | Where-Object { $_.DisplayName -eq $TargetName }
}

Write-Host "0/6 Checking before changing anything"
# Files.xml and the task name this domain's SYSVOL; another domain's hosts could not copy the agent.
if ($Domain -ne $bundleDomain) {
    throw "-Domain '$Domain': this bundle was made for $bundleDomain and its Files.xml copies the agent from $sysvol. Make a bundle for $Domain instead: avdgen gpo --domain $Domain"
}
# The GPO's task powers VMs off: link it only to the OU of the session hosts,
# never to the domain root (every computer) or a CN= container (no links).
if ($Ou -and $Ou -notmatch '^OU=') {
    throw "-Ou '$Ou' is not an organizational unit (OU=...): the domain root would reach every computer, domain controllers included, and CN= containers cannot be linked. Give the OU of the session hosts."
}
Import-Module GroupPolicy
if ($Ou) {
    # Fails now if the OU does not exist, rather than after the GPO was made.
    Get-GPInheritance -Target $Ou -Domain $Domain | Out-Null
}
$existing = Get-TargetGpo
if ($existing) {
    $description = [string] $existing.Description
    if (-not $description.StartsWith($marker)) {
        throw "GPO '$TargetName' already exists and avdgen did not make it: its comment does not start with '$marker'. Import-GPO would replace every setting in it. Choose another -TargetName, or rename or delete that GPO yourself."
    }
    Write-Host "    GPO '$TargetName' exists and carries the avdgen marker: its settings will be replaced"
}

Write-Host "1/6 Verifying the payload in $payload"
$sums = Read-Sums $payload
Test-Sums $payload $sums

Write-Host "2/6 Copying the payload to $sysvol"
if ($PSCmdlet.ShouldProcess($sysvol, 'Copy avd-agent binaries and SHA256SUMS')) {
    if (-not (Test-Path -LiteralPath $sysvol)) { New-Item -ItemType Directory -Path $sysvol | Out-Null }
    foreach ($name in @($sums.Keys) + 'SHA256SUMS') {
        Copy-Item -LiteralPath (Join-Path $payload $name) -Destination (Join-Path $sysvol $name) -Force
    }
    Test-Sums $sysvol $sums
}

Write-Host "3/6 Creating GPO '$TargetName' with the avdgen marker"
if ($existing) {
    Write-Host "    already exists"
} elseif ($PSCmdlet.ShouldProcess($TargetName, "New-GPO with comment '$comment'")) {
    New-GPO -Name $TargetName -Domain $Domain -Comment $comment | Out-Null
}

Write-Host "4/6 Importing the settings into '$TargetName' from $backup"
if ($PSCmdlet.ShouldProcess($TargetName, 'Import-GPO from the avdgen backup (replaces all of its settings)')) {
    Import-GPO -BackupGpoName 'avdgen - hp-personal' -Path $backup -TargetName $TargetName -Domain $Domain | Out-Null
}

Write-Host "5/6 Disabling the user half of '$TargetName' and stamping its comment"
if ($PSCmdlet.ShouldProcess($TargetName, 'Set GpoStatus UserSettingsDisabled and the avdgen comment')) {
    $gpo = Get-TargetGpo
    $gpo.GpoStatus = 'UserSettingsDisabled'
    $gpo.Description = $comment
}

if ($Ou) {
    Write-Host "6/6 Linking '$TargetName' to $Ou"
    $linked = (Get-GPInheritance -Target $Ou -Domain $Domain).GpoLinks | Where-Object { $_.DisplayName -eq $TargetName }
    if ($linked) {
        Write-Host "    already linked"
    } elseif ($PSCmdlet.ShouldProcess($Ou, "New-GPLink '$TargetName'")) {
        New-GPLink -Name $TargetName -Target $Ou -Domain $Domain -LinkEnabled Yes | Out-Null
    }
} else {
    Write-Host "6/6 No OU given: link '$TargetName' to the OU of the session hosts yourself (New-GPLink -Name '$TargetName' -Target 'OU=...')"
}

Write-Host ""
$agent = '%ProgramFiles%\avdgen\avd-agent-v1.0.0-bca8f89d.exe'
Write-Host "Done. On a session host: gpupdate /force, then run"
Write-Host ('    & ([Environment]::ExpandEnvironmentVariables(''{0}'')) check' -f $agent)
Write-Host "and fix anything it reports as FAIL before users sign out."
