// Package contract holds the names that the generated artifacts and the
// agent must agree on: the scheduled task, the event log source, the log and
// install folders, the exclusion tag and the Intune detection value.
package contract

const (
	// TaskFolder and TaskName place the logoff task at \avdgen\avd-agent logoff.
	TaskFolder = `\avdgen\`
	TaskName   = "avd-agent logoff"
	// TaskPath is the full Task Scheduler path.
	TaskPath = TaskFolder + TaskName

	// EventSource is the Application event log source the agent writes.
	EventSource = "avd-agent"

	// AgentExe is the agent's file name on the host.
	AgentExe = "avd-agent.exe"
	// DefaultInstallDir is where the agent is installed unless the spec says otherwise.
	DefaultInstallDir = `%ProgramFiles%\avdgen`
	// LogDir is where the agent keeps its size-capped log file and its state
	// file, and the Intune scripts their install log: in the SYSTEM profile,
	// where only SYSTEM and Administrators can create anything, so no user
	// can create the folder, a junction or a link there first (under
	// %ProgramData% any user can).
	LogDir = `%SystemRoot%\System32\config\systemprofile\AppData\Local\avdgen`
	// LogFile is the log file name inside LogDir.
	LogFile = "avd-agent.log"

	// DefaultExcludeTag on a VM makes the agent and the sweep leave it alone.
	DefaultExcludeTag = "avdgen-exclude=true"
	// DefaultGraceSeconds is the agent's default wait after logoff.
	DefaultGraceSeconds = 90
	// DefaultIdleAfter is how long a host may go without any user session
	// before the idle safety net deallocates it ("never" turns it off).
	DefaultIdleAfter = "30m"
	// IdleTaskName places the idle safety net's task at \avdgen\avd-agent idle.
	IdleTaskName = "avd-agent idle"
	// IdleTaskPath is its full Task Scheduler path.
	IdleTaskPath = TaskFolder + IdleTaskName

	// DetectionKey and DetectionValue hold the installed agent version
	// (HKLM), written by the Intune install script and read by its detection rule.
	DetectionKey   = `SOFTWARE\avdgen`
	DetectionValue = "AgentVersion"

	// PolicyKey is where the Session Time Limits policies land (FORMATS.md §1).
	PolicyKey = `SOFTWARE\Policies\Microsoft\Windows NT\Terminal Services`
)
