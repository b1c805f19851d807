package intune

import (
	"archive/zip"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/intunewin"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/oracle"
	"github.com/avdgen/avdgen/internal/testkit"
)

type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

func input(t testing.TB, yaml string) Input {
	s, err := spec.Decode("t.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Spec:   s.WithDefaults(),
		Agents: testkit.Agents(),
		Time:   time.Unix(1700000000, 0).UTC(), AvdgenVersion: "v1.0.0", Rand: &counter{},
	}
}

const example = "hostPool: hp-entra\nlimits:\n  idle: 2h\n  disconnected: 15m\n  active: never\n  endSessionOnLimit: true\n"

func build(t testing.TB, yaml string) []bundle.File {
	files, err := Build(input(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func file(t testing.TB, files []bundle.File, name string) []byte {
	for _, f := range files {
		if f.Path == name {
			return f.Data
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

// Every id we emit must exist in Graph's setting definitions.
func TestSettingIDsExistInGraphDefinitions(t *testing.T) {
	b, err := os.ReadFile(oracle.Reference(t, "intune", "SessionTimeLimits-device-settingDefinitions.extract.json"))
	if err != nil {
		t.Fatal(err)
	}
	var defs []struct {
		ID      string `json:"id"`
		Options []struct {
			ItemID string `json:"itemId"`
		} `json:"options"`
	}
	if err := json.Unmarshal(b, &defs); err != nil {
		t.Fatal(err)
	}
	options := map[string]map[string]bool{}
	for _, d := range defs {
		options[d.ID] = map[string]bool{}
		for _, o := range d.Options {
			options[d.ID][o.ItemID] = true
		}
	}
	var walk func(ci ChoiceInstance)
	seen := 0
	walk = func(ci ChoiceInstance) {
		seen++
		opts, ok := options[ci.SettingDefinitionID]
		if !ok {
			t.Errorf("settingDefinitionId %s does not exist", ci.SettingDefinitionID)
		} else if !opts[ci.ChoiceSettingValue.Value] {
			t.Errorf("option %s is not an option of %s", ci.ChoiceSettingValue.Value, ci.SettingDefinitionID)
		}
		for _, c := range ci.ChoiceSettingValue.Children {
			walk(c)
		}
	}
	for _, y := range []string{example, "limits:\n  disconnected: 5d\n", "limits:\n  idle: never\n  disconnected: 1m\n  active: 18h\n"} {
		for _, ms := range spec.AllowedLimits {
			y := y + "" // every allowed value for idle, too
			s := input(t, y).Spec
			s.Limits.Idle = spec.Limit{Ms: ms, Set: true}
			for _, st := range SettingsCatalog(s).Settings {
				walk(st.SettingInstance)
			}
		}
	}
	if seen < 100 {
		t.Errorf("only %d instances checked", seen)
	}
}

// keysAt collects the JSON keys at each depth-path, ignoring array indexes.
func keysAt(v any, path string, out map[string]map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if out[path] == nil {
			out[path] = map[string]bool{}
		}
		for k, c := range x {
			out[path][k] = true
			keysAt(c, path+"/"+k, out)
		}
	case []any:
		for _, c := range x {
			keysAt(c, path+"[]", out)
		}
	}
}

// readOnly are export-only properties that must not be POSTed.
var readOnly = map[string]bool{"@odata.context": true, "createdDateTime": true, "lastModifiedDateTime": true, "settingCount": true, "id": true,
	"creationSource": true, "priorityMetaData": true, "templateReference": true, "settingInstanceTemplateReference": true, "settingValueTemplateReference": true,
	"supportsScopeTags": true, "deviceManagementApplicabilityRuleOsEdition": true, "deviceManagementApplicabilityRuleOsVersion": true, "deviceManagementApplicabilityRuleDeviceMode": true}

func compareShape(t *testing.T, ours []byte, refFile string) {
	t.Helper()
	b, err := os.ReadFile(oracle.Reference(t, "intune", refFile))
	if err != nil {
		t.Fatal(err)
	}
	var o, r any
	json.Unmarshal(ours, &o)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	ok, rk := map[string]map[string]bool{}, map[string]map[string]bool{}
	keysAt(o, "", ok)
	keysAt(r, "", rk)
	for path, keys := range ok {
		for k := range keys {
			// Exports drop the POST-only @odata.type of each setting (the
			// IntuneManagement export keeps it); the type values are checked below.
			if !rk[path][k] && k != "@odata.type" {
				t.Errorf("%s: key %s/%s is not in the real export", refFile, path, k)
			}
		}
	}
	for path, keys := range rk {
		if _, ours := ok[path]; !ours {
			continue
		}
		for k := range keys {
			if !readOnly[k] && !ok[path][k] && !strings.HasPrefix(k, "@odata.") {
				t.Errorf("%s: our JSON lacks %s/%s", refFile, path, k)
			}
		}
	}
	// @odata.type values match wherever both have one.
	types := func(v any) map[string]bool {
		m := map[string]bool{}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if s, ok := x["@odata.type"].(string); ok {
					m[s] = true
				}
				for _, c := range x {
					walk(c)
				}
			case []any:
				for _, c := range x {
					walk(c)
				}
			}
		}
		walk(v)
		return m
	}
	rt := types(r)
	for ty := range types(o) {
		if !rt[ty] && ty != "#microsoft.graph.deviceManagementConfigurationSetting" {
			t.Errorf("@odata.type %s not in %s", ty, refFile)
		}
	}
}

func TestJSONHasTheShapeOfRealExports(t *testing.T) {
	files := build(t, example)
	compareShape(t, file(t, files, "session-time-limits.settings-catalog.json"), "MrPRSmith-CIS-W11-L2-terminalserver-sessions.settingscatalog.json")
	compareShape(t, file(t, files, "session-time-limits.oma-uri.json"), "eneerge-CIS-W10-omauri-TS_SESSIONS.windows10CustomConfiguration.json")
}

func TestSettingValues(t *testing.T) {
	p := SettingsCatalog(input(t, example).Spec)
	var got []string
	for _, s := range p.Settings {
		got = append(got, s.SettingInstance.ChoiceSettingValue.Value)
		for _, c := range s.SettingInstance.ChoiceSettingValue.Children {
			got = append(got, c.ChoiceSettingValue.Value)
		}
	}
	sort.Strings(got)
	want := []string{
		settingPrefix + "ts_session_end_on_limit_2_1",
		settingPrefix + "ts_sessions_disconnected_timeout_2_1",
		settingPrefix + "ts_sessions_disconnected_timeout_2_ts_sessions_enddisconnected_900000",
		settingPrefix + "ts_sessions_idle_limit_2_1",
		settingPrefix + "ts_sessions_idle_limit_2_ts_sessions_idlelimittext_7200000",
		settingPrefix + "ts_sessions_limits_2_1",
		settingPrefix + "ts_sessions_limits_2_ts_sessions_activelimit_0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("values:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	oma := OMAURI(input(t, "limits:\n  disconnected: 15m\n").Spec)
	if len(oma.OMASettings) != 2 || oma.OMASettings[0].Value != `<enabled/><data id="TS_SESSIONS_EndDisconnected" value="900000"/>` || oma.OMASettings[1].Value != "<disabled/>" {
		t.Errorf("OMA settings %+v", oma.OMASettings)
	}
}

// The package content: decrypt with the keys from the encryption JSON and
// check the files, the scripts and the task XML (against Microsoft's XSD).
func TestPackageContent(t *testing.T) {
	files := build(t, example)
	var names []string
	dir := t.TempDir()
	for _, f := range packageContent(t, files) {
		names = append(names, f.Path)
		os.WriteFile(filepath.Join(dir, f.Path), f.Data, 0o644)
	}
	if strings.Join(names, ",") != "avd-agent-amd64.exe,avd-agent-arm64.exe,avd-agent-logoff.xml,install.ps1,uninstall.ps1" {
		t.Errorf("content %v", names)
	}
	oracle.TaskCheck(t, filepath.Join(dir, "avd-agent-logoff.xml"))
	install, _ := os.ReadFile(filepath.Join(dir, "install.ps1"))
	for _, want := range []string{"'AMD64' { $source = 'avd-agent-amd64.exe'; $expected = '", "/inheritance:r", "*S-1-5-32-544", "*S-1-5-18",
		"schtasks.exe /Create /XML", "/TN '\\avdgen\\avd-agent logoff' /F", "exit 1603", "Get-FileHash", "sysnative"} {
		if !strings.Contains(string(install), want) {
			t.Errorf("install.ps1 lacks %q", want)
		}
	}
	var app Win32LobApp
	json.Unmarshal(file(t, files, "avd-agent.win32app.json"), &app)
	if !strings.Contains(string(install), "$detectionVersion = '"+app.Rules[0].ComparisonValue+"'") {
		t.Errorf("install.ps1 does not write the value the detection rule expects (%s)", app.Rules[0].ComparisonValue)
	}
	oracle.Golden(t, "install.ps1", install)
	un, _ := os.ReadFile(filepath.Join(dir, "uninstall.ps1"))
	oracle.Golden(t, "uninstall.ps1", un)
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func TestDeterministicExceptKeys(t *testing.T) {
	a := build(t, example)
	in := input(t, example)
	in.Rand = &counter{n: 99}
	b, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		same := bytes.Equal(a[i].Data, b[i].Data)
		random := a[i].Path == "avd-agent.intunewin" || a[i].Path == "avd-agent.encryption.json"
		if same == random {
			t.Errorf("%s: identical=%v across different keys", a[i].Path, same)
		}
	}
}

func TestGoldens(t *testing.T) {
	for _, f := range build(t, example) {
		if f.Path == "avd-agent.intunewin" {
			continue
		}
		oracle.Golden(t, f.Path, f.Data)
	}
}

// The remediation pair re-registers exactly the task the package installs.
func TestRemediationScripts(t *testing.T) {
	files := build(t, example)
	rem := string(file(t, files, "remediation/remediate-avd-agent-task.ps1"))
	start, end := strings.Index(rem, "@'\r\n"), strings.Index(rem, "\r\n'@")
	if start < 0 || end < start {
		t.Fatal("no here-string in the remediation script")
	}
	xmlPath := filepath.Join(t.TempDir(), "task.xml")
	os.WriteFile(xmlPath, []byte(strings.Replace(rem[start+4:end], `encoding="UTF-16"`, `encoding="UTF-8"`, 1)), 0o644)
	oracle.TaskCheck(t, xmlPath)
	det := string(file(t, files, "remediation/detect-avd-agent-task.ps1"))
	for _, want := range []string{
		`$expectedCommand = '%ProgramFiles%\avdgen\avd-agent.exe'`,
		`$expectedArguments = 'logoff --session $(SessionId) --user "$(User)" --grace 1m30s --action deallocate --exclude-tag avdgen-exclude=true'`,
		`-TaskPath '\avdgen\' -TaskName 'avd-agent logoff'`,
	} {
		if !strings.Contains(det, want) {
			t.Errorf("detection script lacks %q", want)
		}
	}
	if !strings.Contains(rem, `Register-ScheduledTask -Xml $xml -TaskPath '\avdgen\' -TaskName 'avd-agent logoff' -Force`) {
		t.Error("remediation does not register the task under its path")
	}
}

// The Remediations pair covers the idle safety net as well: with idleAfter set
// detection checks the idle task and remediation registers it with the very
// argument line and steps install.ps1 uses; with never, detection flags an
// idle task that is still there and remediation removes it.
func TestRemediationIdleTask(t *testing.T) {
	const idleArgs = `idle --idle-after 30m --action deallocate --exclude-tag avdgen-exclude=true --identity-client-id 0b0e6f1c-1d5a-4e1b-9c33-7a8f2e9b1c20`
	on := example + "agent:\n  idleAfter: 30m\n  identityClientId: 0b0e6f1c-1d5a-4e1b-9c33-7a8f2e9b1c20\n"
	off := example + "agent:\n  idleAfter: never\n"
	for name, yaml := range map[string]string{"30m": on, "never": off} {
		t.Run(name, func(t *testing.T) {
			in := input(t, yaml)
			files, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			det := string(file(t, files, "remediation/detect-avd-agent-task.ps1"))
			rem := string(file(t, files, "remediation/remediate-avd-agent-task.ps1"))
			install := packaged(t, files, "install.ps1")
			readme := string(file(t, files, "README.md"))
			const lookup = `Get-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -ErrorAction SilentlyContinue`
			const unregister = `Unregister-ScheduledTask -TaskPath '\avdgen\' -TaskName 'avd-agent idle' -Confirm:$false`
			if !strings.Contains(det, lookup) {
				t.Errorf("detection never looks up the idle task:\n%s", det)
			}
			if !strings.Contains(rem, lookup) || !strings.Contains(rem, unregister) {
				t.Errorf("remediation does not replace or remove an existing idle task:\n%s", rem)
			}
			// Both must still handle the logoff task.
			if !strings.Contains(det, `-TaskName 'avd-agent logoff'`) || !strings.Contains(rem, `Register-ScheduledTask -Xml $xml -TaskPath '\avdgen\' -TaskName 'avd-agent logoff' -Force`) {
				t.Error("the Remediations pair lost the logoff task")
			}
			if name == "never" {
				if !strings.Contains(det, "if ($idle) { $problems += 'idle task registered although idleAfter is never' }") {
					t.Errorf("detection accepts an idle task although idleAfter is never:\n%s", det)
				}
				for script, text := range map[string]string{"detection": det, "remediation": rem, "install.ps1": install} {
					if strings.Contains(text, "--idle-after") || strings.Contains(text, "Register-ScheduledTask -TaskPath '\\avdgen\\' -TaskName 'avd-agent idle'") {
						t.Errorf("%s registers or expects an idle task although idleAfter is never", script)
					}
				}
				if !strings.Contains(readme, "agent.idleAfter: never`, so the safety net is off") || strings.Contains(readme, "registers the idle safety net") {
					t.Error("README does not say the safety net is off")
				}
				return
			}
			quoted := "'" + idleArgs + "'"
			for script, want := range map[string]string{
				"install.ps1": "$idleArgs = " + quoted,
				"remediation": "$idleArgs = " + quoted,
				"detection":   "$expectedIdleArguments = " + quoted,
			} {
				text := map[string]string{"install.ps1": install, "remediation": rem, "detection": det}[script]
				if !strings.Contains(text, want+"\r\n") {
					t.Errorf("%s lacks the idle argument line %q", script, want)
				}
			}
			for _, want := range []string{
				`$expectedIdleCommand = [Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen\avd-agent.exe')`,
				`if ($action.Execute -ne $expectedIdleCommand)`,
				`if ($action.Arguments -ne $expectedIdleArguments)`,
				`if ($system -notcontains $idle.Principal.UserId)`,
				`if ($idle.State -eq 'Disabled')`,
				`if ($trigger.CimClass.CimClassName -ne 'MSFT_TaskBootTrigger')`,
				`if ($trigger.Repetition.Interval -ne 'PT15M')`,
				`if ($trigger.Repetition.Duration)`,
				`$problems += 'idle task missing'`,
			} {
				if !strings.Contains(det, want) {
					t.Errorf("detection lacks %q", want)
				}
			}
			if !strings.Contains(det, `$system = @('SYSTEM', 'S-1-5-18', 'NT AUTHORITY\SYSTEM')`) {
				t.Error("detection does not know SYSTEM by its SID")
			}
			// Remediation registers the idle task with install.ps1's own steps,
			// for the agent at the path install.ps1 copies it to.
			if !strings.Contains(install, `$installDir = [Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen')`+"\r\n") ||
				!strings.Contains(install, `$target = Join-Path $installDir 'avd-agent.exe'`+"\r\n") {
				t.Error("install.ps1 no longer puts the agent where the remediation expects it")
			}
			if !strings.Contains(rem, `$target = Join-Path ([Environment]::ExpandEnvironmentVariables('%ProgramFiles%\avdgen')) 'avd-agent.exe'`+"\r\n") {
				t.Errorf("remediation registers the idle task for another path than install.ps1:\n%s", rem)
			}
			if got, want := idleRegistration(t, rem), idleRegistration(t, install); got != want {
				t.Errorf("remediation registers the idle task differently from install.ps1:\nremediation:\n%s\ninstall.ps1:\n%s", got, want)
			}
			for _, want := range []string{"idle safety net", "`30m` (`agent.idleAfter` in the spec)", "`agent.idleAfter: never`", "both tasks"} {
				if !strings.Contains(readme, want) {
					t.Errorf("README lacks %q", want)
				}
			}
		})
	}
}

// idleRegistration returns the lines that register the idle task, from
// $idleArgs to the Register-ScheduledTask call's last line.
func idleRegistration(t *testing.T, script string) string {
	t.Helper()
	start := strings.Index(script, "    $idleArgs = ")
	end := strings.Index(script, "-DontStopIfGoingOnBatteries) | Out-Null\r\n")
	if start < 0 || end < start {
		t.Fatalf("no idle task registration in:\n%s", script)
	}
	return script[start:end]
}

// packageContent decrypts the .intunewin with the keys from the encryption
// JSON and returns the files of the content zip, in the zip's order.
func packageContent(t *testing.T, files []bundle.File) []bundle.File {
	t.Helper()
	var info intunewin.EncryptionInfo
	if err := json.Unmarshal(file(t, files, "avd-agent.encryption.json"), &info); err != nil {
		t.Fatal(err)
	}
	data := file(t, files, "avd-agent.intunewin")
	outer, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var enc []byte
	for _, f := range outer.File {
		if f.Name == intunewin.ContentPath {
			r, _ := f.Open()
			enc, _ = readAll(r)
		}
	}
	key, _ := base64.StdEncoding.DecodeString(info.EncryptionKey)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(enc)-48)
	cipher.NewCBCDecrypter(block, enc[32:48]).CryptBlocks(plain, enc[48:])
	plain = plain[:len(plain)-int(plain[len(plain)-1])]
	inner, err := zip.NewReader(bytes.NewReader(plain), int64(len(plain)))
	if err != nil {
		t.Fatal(err)
	}
	var out []bundle.File
	for _, f := range inner.File {
		r, _ := f.Open()
		b, _ := readAll(r)
		out = append(out, bundle.File{Path: f.Name, Data: b})
	}
	return out
}

// packaged returns a file from inside the .intunewin, decrypted.
func packaged(t *testing.T, files []bundle.File, name string) string {
	t.Helper()
	for _, f := range packageContent(t, files) {
		if f.Path == name {
			return string(f.Data)
		}
	}
	t.Fatalf("%s not in the package", name)
	return ""
}

// detection returns the rule's comparison value and the value the packaged
// install.ps1 writes.
func detection(t *testing.T, files []bundle.File) (rule, written string) {
	t.Helper()
	var app Win32LobApp
	if err := json.Unmarshal(file(t, files, "avd-agent.win32app.json"), &app); err != nil {
		t.Fatal(err)
	}
	for _, f := range packageContent(t, files) {
		if f.Path == "install.ps1" {
			_, rest, ok := strings.Cut(string(f.Data), "$detectionVersion = '")
			written, _, _ = strings.Cut(rest, "'")
			if !ok {
				t.Fatal("install.ps1 writes no $detectionVersion")
			}
		}
	}
	return app.Rules[0].ComparisonValue, written
}

// Issue 15 finding 1: Intune runs install.ps1 only where the detection rule
// is not met, so every change install.ps1 or the task XML carries must
// change the rule's value, not only a new agent build.
func TestDetectionCoversThePackage(t *testing.T) {
	base, written := detection(t, build(t, example))
	if base != written || !strings.HasPrefix(base, "v1.0.0+") {
		t.Fatalf("rule %q, install.ps1 writes %q", base, written)
	}
	seen := map[string]string{base: "example"}
	for name, extra := range map[string]string{
		"action":           "agent:\n  action: hibernate\n",
		"grace":            "agent:\n  grace: 10m\n",
		"excludeTag":       "agent:\n  excludeTag: keep=true\n",
		"installDir":       "agent:\n  installDir: '%ProgramFiles%\\Contoso\\avd-agent'\n",
		"idleAfter":        "agent:\n  idleAfter: never\n",
		"identityClientId": "agent:\n  identityClientId: 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\n",
	} {
		files, err := Build(input(t, example+extra))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rule, written := detection(t, files)
		if rule != written {
			t.Errorf("%s: rule %q, install.ps1 writes %q", name, rule, written)
		}
		if other, dup := seen[rule]; dup {
			t.Errorf("%s: detection value %s is the same as for %s: hosts that have the app would never install this change", name, rule, other)
		}
		seen[rule] = name
	}
	// Same spec, same agents: the same value (fresh keys do not matter).
	in := input(t, example)
	in.Rand = &counter{n: 77}
	files, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := detection(t, files); again != base {
		t.Errorf("rebuild with other keys: %s, was %s", again, base)
	}
}

// Issue 15 finding 6: the agent version (--agent-dir/VERSION) reaches
// install.ps1 and the detection rule; a hostile one is refused, and the
// typographic quotes PowerShell also ends strings with are escaped.
func TestHostileAgentVersionIsRefused(t *testing.T) {
	for _, v := range []string{"v1'; Start-Process calc; '", "v1\u2019; Start-Process calc; \u2019", "v1$(calc)", "v1\"; calc; \"", "v1`n", strings.Repeat("1", 65), ""} {
		in := input(t, example)
		in.Agents.Version = v
		if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "allowed are") {
			t.Errorf("version %q: %v", v, err)
		}
	}
	in := input(t, example)
	in.Agents.Version = "1.2.3+build_7-rc.1"
	if _, err := Build(in); err != nil {
		t.Error(err)
	}
}

// Issue 20 (3, 4): the install and uninstall scripts run as SYSTEM. Their
// log and the agent's state live where no user can create anything first
// (the SYSTEM profile, not %ProgramData%); they never re-own or adopt a
// folder (no /setowner), never remove a junction and carry on (a refusal
// instead: no window for a user to put it back), every icacls acts on a link
// itself (/L), and the log is never appended through a link or a hard link.
func TestInstallScriptsNeverFollowUserLinks(t *testing.T) {
	files := build(t, example)
	scripts := map[string]string{}
	for _, f := range packageContent(t, files) {
		if strings.HasSuffix(f.Path, ".ps1") {
			scripts[f.Path] = string(f.Data)
		}
	}
	if len(scripts) != 2 {
		t.Fatalf("scripts %v", scripts)
	}
	for name, text := range scripts {
		if !strings.Contains(text, `$logDir = Join-Path $env:SystemRoot 'System32\config\systemprofile\AppData\Local\avdgen'`) {
			t.Errorf("%s: the install log is not in the SYSTEM profile", name)
		}
		for _, bad := range []string{"ProgramData'", "$env:ProgramData", "/setowner", "[IO.Directory]::Delete"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		for i, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "icacls.exe") && !strings.Contains(line, " /L ") {
				t.Errorf("%s:%d: icacls without /L: %s", name, i+1, strings.TrimSpace(line))
			}
		}
		// The only append is the log's, right after the link check.
		add := strings.Index(text, "Add-Content -LiteralPath $log")
		check := strings.Index(text, "-or $item.LinkType)) {")
		if strings.Count(text, "Add-Content") != 1 || add < 0 || check < 0 || check > add || strings.Count(text[check:add], "\n") > 3 {
			t.Errorf("%s: the log is not checked for links right before it is appended to", name)
		}
	}
	install := scripts["install.ps1"]
	if strings.Count(install, "Confirm-AvdgenFolder $installDir") != 1 || strings.Count(install, "Confirm-AvdgenFolder $logDir") < 1 ||
		!strings.Contains(install, `throw "$path is a junction or link`) || !strings.Contains(install, `throw "$path is owned by $owner`) {
		t.Errorf("install.ps1 does not refuse a junction or a folder someone else owns, for the log and the install folder")
	}
}
