package winetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/avdgen/avdgen/internal/fakeazure"
	"github.com/avdgen/avdgen/internal/testkit"
)

// wineEnv prepares (once per test binary) a Wine prefix that can run Go
// Windows binaries: Wine 8 lacks ProcessPrng, so a tiny bcryptprimitives.dll
// built with mingw from testdata/bcryptprimitives.c goes into system32.
type wineEnv struct {
	wine   string
	prefix string
	agent  string // the windows/amd64 avd-agent.exe under test
	err    error
}

var (
	setupOnce sync.Once
	setup     wineEnv
)

// need skips when a tool is missing locally, and fails in CI (CI=true),
// which must run this test.
func need(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	testkit.Unavailable(t, "Wine harness: %v (install wine64 and gcc-mingw-w64-x86-64)", err)
}

func prepare(t *testing.T) *wineEnv {
	setupOnce.Do(func() { setup = doPrepare() })
	need(t, setup.err)
	return &setup
}

func run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (w *wineEnv) env() []string {
	return []string{"WINEPREFIX=" + w.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY="}
}

func doPrepare() wineEnv {
	var w wineEnv
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return wineEnv{err: errors.New("the Wine harness runs on linux/amd64 only")}
	}
	var err error
	if w.wine, err = exec.LookPath("wine"); err != nil {
		return wineEnv{err: fmt.Errorf("wine not found: %w", err)}
	}
	gcc, err := exec.LookPath("x86_64-w64-mingw32-gcc")
	if err != nil {
		return wineEnv{err: fmt.Errorf("mingw not found: %w", err)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	version, err := run(ctx, nil, w.wine, "--version")
	if err != nil {
		return wineEnv{err: fmt.Errorf("wine --version: %v: %s", err, version)}
	}
	// wine --version may print a multi-line warning about wine32 first.
	for _, line := range strings.Split(version, "\n") {
		if strings.HasPrefix(line, "wine-") {
			version = line
		}
	}
	if !strings.HasPrefix(version, "wine-") {
		return wineEnv{err: fmt.Errorf("cannot read the Wine version from %q", version)}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	w.prefix = filepath.Join(cache, "avdgen-wine", strings.NewReplacer(" ", "_", "(", "", ")", "", "~", "-").Replace(strings.TrimSpace(version)))
	if _, err := os.Stat(filepath.Join(w.prefix, "system.reg")); err != nil {
		if err := os.MkdirAll(w.prefix, 0o755); err != nil {
			return wineEnv{err: err}
		}
		if out, err := run(ctx, w.env(), "wineboot", "-i"); err != nil {
			return wineEnv{err: fmt.Errorf("wineboot -i: %v: %s", err, out)}
		}
		run(ctx, w.env(), "wineserver", "-w")
	}
	// This Wine "VM" is a registered AVD session host, as the AVD agent
	// leaves a real one (HKLM\SOFTWARE\Microsoft\RDInfraAgent, IsRegistered = 1).
	if out, err := run(ctx, w.env(), w.wine, "reg", "add", `HKLM\SOFTWARE\Microsoft\RDInfraAgent`, "/v", "IsRegistered", "/t", "REG_DWORD", "/d", "1", "/f"); err != nil {
		return wineEnv{err: fmt.Errorf("registering the session host: %v: %s", err, out)}
	}
	dll := filepath.Join(w.prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if out, err := run(ctx, nil, gcc, "-shared", "-O2", "-o", dll, filepath.Join("testdata", "bcryptprimitives.c"), "-ladvapi32"); err != nil {
		return wineEnv{err: fmt.Errorf("building bcryptprimitives.dll: %v: %s", err, out)}
	}
	dir, err := os.MkdirTemp("", "avd-agent-wine")
	if err != nil {
		return wineEnv{err: err}
	}
	w.agent = filepath.Join(dir, "avd-agent.exe")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", w.agent, "github.com/avdgen/avdgen/cmd/avd-agent")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return wineEnv{err: fmt.Errorf("building the Windows agent: %v: %s", err, out)}
	}
	return w
}

func (w *wineEnv) agentRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := run(ctx, w.env(), w.wine, append([]string{w.agent}, args...)...)
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running wine: %v\n%s", err, out)
	}
	return out, code
}

func TestWindowsAgentVersionUnderWine(t *testing.T) {
	w := prepare(t)
	out, code := w.agentRun(t, "version")
	if code != 0 || !strings.HasPrefix(out, "avd-agent ") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// logDir is a fresh folder under the prefix's C:\ProgramData that the agent
// creates itself (with its protected DACL), as on a new session host.
func (w *wineEnv) logDir(t *testing.T) (windowsPath, hostPath string) {
	name := fmt.Sprintf("avdgen-test-%d", time.Now().UnixNano())
	hostPath = filepath.Join(w.prefix, "drive_c", "ProgramData", name)
	t.Cleanup(func() { os.RemoveAll(hostPath) })
	return `C:\ProgramData\` + name, hostPath
}

// The real Windows build reads IMDS, gets a managed-identity token and posts
// deallocate against the loopback fake, with every safety check on. Under
// Wine: WTSEnumerateSessions lists no sessions; EvtQuery fails, and the
// classic ReadEventLogW reader reports the end of the System log (no event
// 1074); SM_SHUTTINGDOWN is 0; no TrustedInstaller service and no
// pending-reboot marker; the session host registration comes from the
// registry value prepare() sets; the log folder is created by the agent.
func TestWindowsAgentDeallocatesUnderWine(t *testing.T) {
	w := prepare(t)
	vm := fakeazure.DefaultVM()
	fake := fakeazure.New(t, vm)
	fake.WantAudience = "https://management.azure.com"
	winDir, hostDir := w.logDir(t)
	logFile := filepath.Join(hostDir, "agent.log")
	if _, err := os.Stat(hostDir); err == nil {
		t.Fatalf("%s exists before the run", hostDir)
	}
	out, code := w.agentRun(t, "logoff", "--grace", "0s", "--session", "2", "--user", `CONTOSO\ann`,
		"--imds-endpoint", fake.URL, "--arm-endpoint", fake.URL, "--log-file", winDir+`\agent.log`, "--verbose")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "deallocated:") {
		t.Errorf("output lacks the deallocated line:\n%s", out)
	}
	if n := fake.Count("GET", "/metadata/instance"); n != 1 {
		t.Errorf("IMDS requests = %d, want 1", n)
	}
	if n := fake.Count("GET", "/metadata/identity/oauth2/token"); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := fake.Count("POST", vm.ID()+"/deallocate"); n != 1 {
		t.Errorf("deallocate POSTs = %d, want 1", n)
	}
	for _, r := range fake.Requests() {
		if strings.HasPrefix(r.Path, "/metadata/") && r.Header.Get("Metadata") != "true" {
			t.Errorf("%s without Metadata: true", r.Path)
		}
	}
	// Wine maps every file's owner to the Unix user's SID, whatever the agent
	// asked for, so the folder fails the ownership check: the agent must not
	// write its log file there, must say why (event 401), and still decide.
	if _, err := os.Stat(logFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log file written into a folder that is not SYSTEM's/Administrators' (%v)", err)
	}
	if !strings.Contains(out, " 401 not writing the log file") || !strings.Contains(out, "is owned by") {
		t.Errorf("no explanation (event 401) for the missing log file:\n%s", out)
	}
	if !strings.Contains(out, " 100 ") {
		t.Errorf("output lacks event 100 (deallocated):\n%s", out)
	}
	t.Logf("agent output under Wine:\n%s", out)
}

func TestWindowsAgentBadInputUnderWine(t *testing.T) {
	w := prepare(t)
	fake := fakeazure.New(t, fakeazure.DefaultVM())
	out, code := w.agentRun(t, "logoff", "--action", "reboot", "--imds-endpoint", fake.URL, "--arm-endpoint", fake.URL)
	if code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("exit %d, want 2 with one line:\n%s", code, out)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests on bad input", n)
	}
}

// `check` runs every Windows probe of the real build: under Wine the
// sessions, event log, servicing and registration probes answer, the policy
// values and the tasks are missing, and the folder fails the owner check.
func TestWindowsAgentCheckUnderWine(t *testing.T) {
	w := prepare(t)
	fake := fakeazure.New(t, fakeazure.DefaultVM())
	winDir, _ := w.logDir(t)
	out, code := w.agentRun(t, "--imds-endpoint", fake.URL, "check", "--arm-endpoint", fake.URL, "--log-file", winDir+`\agent.log`)
	if code != 1 {
		t.Errorf("exit %d, want 1 (no policy, no task)", code)
	}
	for _, want := range []string{"OK    imds", "OK    token", "OK    permission", "FAIL  policy", "FAIL  task", "WARN  idle task",
		"OK    sessionhost", "OK    sessions", "OK    shutdown", "OK    eventlog", "OK    servicing", "FAIL  folder"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if n := fake.Count("POST", "/deallocate"); n != 0 {
		t.Errorf("check posted deallocate %d times", n)
	}
	t.Logf("check under Wine:\n%s", out)
}

// The idle safety net under Wine: the folder for its state file fails the
// owner check (Wine fakes owners), so how long the host has been idle is
// unknown and nothing is sent.
func TestWindowsAgentIdleFailsClosedUnderWine(t *testing.T) {
	w := prepare(t)
	fake := fakeazure.New(t, fakeazure.DefaultVM())
	winDir, _ := w.logDir(t)
	out, code := w.agentRun(t, "idle", "--imds-endpoint", fake.URL, "--arm-endpoint", fake.URL, "--log-file", winDir+`\agent.log`, "--verbose")
	if code != 0 || !strings.Contains(out, " 213 ") || !strings.Contains(out, "skipped:") {
		t.Errorf("exit %d, want a skip with event 213:\n%s", code, out)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d requests while the idle time is unknown", n)
	}
}
