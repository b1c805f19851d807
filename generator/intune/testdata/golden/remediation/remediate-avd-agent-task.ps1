<#
    avdgen v1.0.0: Intune Remediations script for host pool hp-entra.
    Registers the logoff task \avdgen\avd-agent logoff again from the definition avdgen generated, replacing an
    altered one, and the idle safety net \avdgen\avd-agent idle (idleAfter 30m) as
    install.ps1 registers it.
    Run as SYSTEM, in 64-bit PowerShell. The agent itself is installed by the Win32 app.
#>
$ErrorActionPreference = 'Stop'
$xml = @'
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.3" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Date>2023-11-14T22:13:20</Date>
    <Author>avdgen</Author>
    <Description>avdgen: after a user signs out of host pool hp-entra, deallocate this VM when no user session is left (avd-agent logoff). Log: %SystemRoot%\System32\config\systemprofile\AppData\Local\avdgen\avd-agent.log</Description>
    <URI>\avdgen\avd-agent logoff</URI>
  </RegistrationInfo>
  <Triggers>
    <EventTrigger>
      <Enabled>true</Enabled>
      <Subscription>&lt;QueryList&gt;&lt;Query Id=&quot;0&quot; Path=&quot;Microsoft-Windows-TerminalServices-LocalSessionManager/Operational&quot;&gt;&lt;Select Path=&quot;Microsoft-Windows-TerminalServices-LocalSessionManager/Operational&quot;&gt;*[System[(EventID=23)]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>
      <ValueQueries>
        <Value name="SessionId">Event/UserData/EventXML/SessionID</Value>
        <Value name="User">Event/UserData/EventXML/User</Value>
      </ValueQueries>
    </EventTrigger>
    <EventTrigger>
      <Enabled>true</Enabled>
      <Subscription>&lt;QueryList&gt;&lt;Query Id=&quot;0&quot; Path=&quot;System&quot;&gt;&lt;Select Path=&quot;System&quot;&gt;*[System[Provider[@Name=&apos;Microsoft-Windows-Winlogon&apos;] and (EventID=7002)]]&lt;/Select&gt;&lt;/Query&gt;&lt;/QueryList&gt;</Subscription>
      <ValueQueries>
        <Value name="SessionId">Event/EventData/Data[@Name=&apos;TSId&apos;]</Value>
        <Value name="User">Event/EventData/Data[@Name=&apos;UserSid&apos;]</Value>
      </ValueQueries>
    </EventTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>Queue</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT11M30S</ExecutionTimeLimit>
    <Priority>7</Priority>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>%ProgramFiles%\avdgen\avd-agent.exe</Command>
      <Arguments>logoff --session $(SessionId) --user &quot;$(User)&quot; --grace 1m30s --action deallocate --exclude-tag avdgen-exclude=true</Arguments>
    </Exec>
  </Actions>
</Task>
'@
try {
    Register-ScheduledTask -Xml $xml -TaskPath '\avdgen\' -TaskName 'avd-agent logoff' -Force | Out-Null
    Write-Output 'avd-agent logoff task registered'

    # Idle safety net: the same steps as install.ps1.
    $idleTask = Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -ErrorAction SilentlyContinue
    if ($idleTask) { Unregister-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -Confirm:$false }
    $target = Join-Path ([Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen')) 'avd-agent.exe'
    $idleArgs = 'idle --idle-after 30m --action deallocate --exclude-tag avdgen-exclude=true'
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $trigger.Repetition = (New-ScheduledTaskTrigger -Once -At '2000-01-01T00:00:00' -RepetitionInterval (New-TimeSpan -Minutes 15)).Repetition
    Register-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -Force `
        -Action (New-ScheduledTaskAction -Execute $target -Argument $idleArgs) -Trigger $trigger `
        -Principal (New-ScheduledTaskPrincipal -UserId 'S-1-5-18' -RunLevel Highest) `
        -Settings (New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Minutes 10) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries) | Out-Null
    Write-Output 'avd-agent idle task registered'
    exit 0
} catch {
    Write-Output "remediation failed: $($_.Exception.Message)"
    exit 1
}
