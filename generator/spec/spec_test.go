package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	ok := map[string]uint32{"never": 0, "0": 0, "1m": 60000, "15m": 900000, "60m": 3600000, "1h": 3600000, "2h": 7200000,
		"18h": 64800000, "1d": 86400000, "24h": 86400000, "5d": 432000000, "120h": 432000000, "NEVER": 0}
	for in, want := range ok {
		l, err := ParseLimit("limits.idle", in)
		if err != nil || !l.Set || l.Ms != want {
			t.Errorf("%q: %+v %v, want %d", in, l, err, want)
		}
	}
	for in, wantNear := range map[string]string{"45m": "30m, 1h", "7d": "5d", "30s": "1m", "4h": "3h, 6h", "90m": "1h, 2h"} {
		_, err := ParseLimit("limits.idle", in)
		if err == nil || !strings.Contains(err.Error(), "limits.idle \""+in+"\"") || !strings.Contains(err.Error(), "nearest allowed: "+wantNear) {
			t.Errorf("%q: err = %v, want nearest %s", in, err, wantNear)
		}
	}
	for _, in := range []string{"soon", "-1h", "", "1x"} {
		if _, err := ParseLimit("limits.disconnected", in); err == nil || !strings.Contains(err.Error(), "allowed: never, 1m, 5m") {
			t.Errorf("%q: err = %v", in, err)
		}
	}
}

func TestFormatMsRoundTrips(t *testing.T) {
	for _, ms := range AllowedLimits {
		l, err := ParseLimit("x", FormatMs(ms))
		if err != nil || l.Ms != ms {
			t.Errorf("%d -> %q -> %v %v", ms, FormatMs(ms), l, err)
		}
	}
	if len(AllowedLimits) != 19 {
		t.Errorf("%d allowed values, FORMATS.md lists 19", len(AllowedLimits))
	}
}

func TestDecodeFull(t *testing.T) {
	s, err := Decode("avdgen.yaml", []byte(`
hostPool: hp-personal
limits:
  idle: 2h
  disconnected: 15m
  active: never
  endSessionOnLimit: true
agent:
  action: hibernate
  grace: 2m
gpo:
  domain: contoso.local
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.HostPool != "hp-personal" || s.Limits.Idle.Ms != 7200000 || s.Limits.Disconnected.Ms != 900000 || !s.Limits.Active.Set || s.Limits.Active.Ms != 0 ||
		!s.Limits.EndSessionOnLimit || s.Agent.Action != "hibernate" || s.Agent.Grace != 2*time.Minute || s.GPO.Domain != "contoso.local" {
		t.Errorf("decoded %+v", s)
	}
	if err := s.WithDefaults().Validate(true); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestDecodeUnknownKeySuggestsClosest(t *testing.T) {
	_, err := Decode("avdgen.yaml", []byte("limits:\n  idel: 2h\n"))
	if err == nil || !strings.Contains(err.Error(), `avdgen.yaml:2: unknown key "idel" in limits (did you mean "idle"?`) {
		t.Fatalf("err = %v", err)
	}
	_, err = Decode("f.yaml", []byte("hostpool: x\n"))
	if err == nil || !strings.Contains(err.Error(), `did you mean "hostPool"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = Decode("f.yaml", []byte("limits:\n  idle: 45m\n"))
	if err == nil || !strings.Contains(err.Error(), `f.yaml:2: limits.idle "45m"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = Decode("f.yaml", []byte("agent:\n  grace: later\n"))
	if err == nil || !strings.Contains(err.Error(), `agent.grace "later"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := Spec{GPO: GPO{Domain: "contoso.local"}, Limits: Limits{Disconnected: Limit{Ms: 900000, Set: true}}}.WithDefaults()
	if err := base.Validate(true); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cases := map[string]struct {
		mut  func(*Spec)
		want string
	}{
		"netbios domain":    {func(s *Spec) { s.GPO.Domain = "CONTOSO" }, `gpo.domain "CONTOSO": not a fully qualified`},
		"bad label":         {func(s *Spec) { s.GPO.Domain = "con_toso.local" }, `label "con_toso"`},
		"temp install":      {func(s *Spec) { s.Agent.InstallDir = `%TEMP%\avdgen` }, `users can write there`},
		"profile install":   {func(s *Spec) { s.Agent.InstallDir = `C:\Users\Public\avdgen` }, `users can write there`},
		"programdata":       {func(s *Spec) { s.Agent.InstallDir = `%ProgramData%\avdgen` }, `users can write there`},
		"drive root folder": {func(s *Spec) { s.Agent.InstallDir = `C:\tools\avdgen` }, `must be under %ProgramFiles%`},
		"unc":               {func(s *Spec) { s.Agent.InstallDir = `\\srv\share` }, `UNC`},
		"relative":          {func(s *Spec) { s.Agent.InstallDir = `avdgen` }, `must be under`},
		"dotdot":            {func(s *Spec) { s.Agent.InstallDir = `%ProgramFiles%\..\Users\x` }, `'..'`},
		"action":            {func(s *Spec) { s.Agent.Action = "stop" }, `agent.action "stop": allowed values are deallocate, hibernate`},
		"grace":             {func(s *Spec) { s.Agent.Grace = -time.Second }, `agent.grace -1s`},
		"tag":               {func(s *Spec) { s.Agent.ExcludeTag = "nope" }, `agent.excludeTag "nope"`},
		"tag space value":   {func(s *Spec) { s.Agent.ExcludeTag = "keep=yes please" }, `the value "yes please" may only hold`},
		"tag space name":    {func(s *Spec) { s.Agent.ExcludeTag = "keep me=yes" }, `the name "keep me" may only hold`},
		"tag quote":         {func(s *Spec) { s.Agent.ExcludeTag = `keep="yes"` }, `no spaces or quotes`},
		"tag percent":       {func(s *Spec) { s.Agent.ExcludeTag = "keep=%USERNAME%" }, `may only hold`},
		"tag dollar":        {func(s *Spec) { s.Agent.ExcludeTag = "keep=$(User)" }, `may only hold`},
		"tag empty name":    {func(s *Spec) { s.Agent.ExcludeTag = "=x" }, `want name=value`},
		"idle after short":  {func(s *Spec) { s.Agent.IdleAfter = "1m" }, `agent.idleAfter "1m"`},
		"idle after words":  {func(s *Spec) { s.Agent.IdleAfter = "half an hour" }, `or never`},
		"client id":         {func(s *Spec) { s.Agent.IdentityClientID = "abc" }, `agent.identityClientId "abc": must be a GUID`},
		"host pool":         {func(s *Spec) { s.HostPool = "bad name" }, `hostPool "bad name"`},
		"ou dc mismatch":    {func(s *Spec) { s.GPO.OU = "OU=AVD,DC=fabrikam,DC=com" }, `do not match gpo.domain`},
		"ou not dn":         {func(s *Spec) { s.GPO.OU = "AVD" }, `not a distinguished name`},
		"min release":       {func(s *Spec) { s.Intune.MinimumWindowsRelease = "21H2" }, `intune.minimumWindowsRelease`},
		"min release 99H9":  {func(s *Spec) { s.Intune.MinimumWindowsRelease = "Windows11_99H9" }, `intune.minimumWindowsRelease "Windows11_99H9": not a release Graph knows`},
		"min release 20H2":  {func(s *Spec) { s.Intune.MinimumWindowsRelease = "Windows10_20H2" }, `Graph spells 20H2 "2H20"`},
	}
	for name, c := range cases {
		s := base
		c.mut(&s)
		if err := s.Validate(true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	missing := Spec{Limits: base.Limits}.WithDefaults()
	if err := missing.Validate(true); err == nil || !strings.Contains(err.Error(), "gpo.domain is required") {
		t.Errorf("missing domain: %v", err)
	}
	if err := missing.Validate(false); err != nil {
		t.Errorf("intune needs no domain: %v", err)
	}
	if base.Agent.IdleAfter != "30m" {
		t.Errorf("idleAfter default %q", base.Agent.IdleAfter)
	}
	for _, v := range []string{"never", "Never", "5m", "2h", "168h"} {
		s := base
		s.Agent.IdleAfter = v
		if err := s.Validate(true); err != nil {
			t.Errorf("idleAfter %q refused: %v", v, err)
		}
	}
	for _, tag := range []string{"avdgen-exclude=true", "keep=", "a.b:c+d@e_f-g=H.I:J"} {
		if err := ValidateExcludeTag(tag); err != nil {
			t.Errorf("%q refused: %v", tag, err)
		}
	}
	ok := base
	ok.GPO.OU = "OU=Personal,OU=AVD,DC=contoso,DC=local"
	ok.Agent.InstallDir = `C:\Program Files\avdgen`
	if err := ok.Validate(true); err != nil {
		t.Errorf("valid OU/install dir refused: %v", err)
	}
}

// TestValidateRefusesNoLogoff: limits under which no session is ever logged
// off would leave the logoff task (and the agent) never running.
func TestValidateRefusesNoLogoff(t *testing.T) {
	lim := func(ms uint32) Limit { return Limit{Ms: ms, Set: true} }
	cases := []struct {
		name   string
		limits Limits
		ok     bool
	}{
		{"nothing set", Limits{}, false},
		{"disconnected never", Limits{Disconnected: lim(0), Idle: lim(7200000)}, false},
		{"idle without end-session", Limits{Idle: lim(7200000)}, false},
		{"end-session without a finite limit", Limits{EndSessionOnLimit: true, Idle: lim(0), Active: lim(0)}, false},
		{"end-session, limits unset", Limits{EndSessionOnLimit: true}, false},
		{"disconnected 15m", Limits{Disconnected: lim(900000)}, true},
		{"end-session with idle 2h", Limits{EndSessionOnLimit: true, Idle: lim(7200000)}, true},
		{"end-session with active 8h", Limits{EndSessionOnLimit: true, Active: lim(28800000)}, true},
		{"nothing set, allowNoLogoff", Limits{AllowNoLogoff: true}, true},
	}
	for _, c := range cases {
		s := Spec{Limits: c.limits}.WithDefaults()
		err := s.Validate(false)
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok {
			if !errors.Is(err, ErrNoLogoff) {
				t.Errorf("%s: err = %v, want ErrNoLogoff", c.name, err)
				continue
			}
			for _, want := range []string{"never deallocated", "--disconnected", "--end-session", "--allow-no-logoff", "limits.allowNoLogoff"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: error %q does not mention %s", c.name, err, want)
				}
			}
		}
	}
	// The yaml field decodes.
	s, err := Decode("f.yaml", []byte("limits:\n  idle: 2h\n  allowNoLogoff: true\n"))
	if err != nil || !s.Limits.AllowNoLogoff {
		t.Fatalf("allowNoLogoff: %v, %+v", err, s.Limits)
	}
}

// Issue 10 item 1: the GPO powers VMs off, so it may only be linked to an
// OU; the domain root and CN= containers are refused, saying why.
func TestOUMustBeAnOrganizationalUnit(t *testing.T) {
	base := Spec{GPO: GPO{Domain: "contoso.local"}, Limits: Limits{AllowNoLogoff: true}}.WithDefaults()
	for ou, want := range map[string]string{
		"DC=contoso,DC=local":                     "is the domain root",
		"dc=contoso,dc=local":                     "is the domain root",
		"CN=Computers,DC=contoso,DC=local":        "names a container (CN=)",
		"OU=AVD,CN=Computers,DC=contoso,DC=local": "names a container (CN=)",
		"OU=AVD":                          "DC= parts of the domain are missing",
		"OU=AVD,DC=contoso,OU=x,DC=local": "OU= parts must come before",
	} {
		s := base
		s.GPO.OU = ou
		if err := s.Validate(true); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `gpo.ou "`+ou+`"`) {
			t.Errorf("%s: err = %v, want %q", ou, err, want)
		}
	}
	s := base
	s.GPO.OU = "OU=Personal,OU=AVD,DC=contoso,DC=local"
	if err := s.Validate(true); err != nil {
		t.Errorf("nested OU refused: %v", err)
	}
}

func TestHostsGroup(t *testing.T) {
	base := Spec{GPO: GPO{Domain: "contoso.local"}, Limits: Limits{AllowNoLogoff: true}}.WithDefaults()
	for _, ok := range [][2]string{{`CONTOSO\AVD Session Hosts`, ""}, {`CONTOSO\avd-hosts`, "S-1-5-21-1004336348-1177238915-682003330-1105"}} {
		s := base
		s.GPO.HostsGroup, s.GPO.HostsGroupSID = ok[0], ok[1]
		if err := s.Validate(true); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
	for _, bad := range [][3]string{
		{"AVD Hosts", "", `gpo.hostsGroup "AVD Hosts": want the computer group as DOMAIN\name`},
		{`contoso.local\AVD`, "", `gpo.hostsGroup "contoso.local\\AVD"`},
		{`CONTOSO\AVD`, "S-1-5-32-544", `gpo.hostsGroupSid "S-1-5-32-544": want a domain group SID`},
		{"", "S-1-5-21-1-2-3-4", `give the group's name too`},
	} {
		s := base
		s.GPO.HostsGroup, s.GPO.HostsGroupSID = bad[0], bad[1]
		if err := s.Validate(true); err == nil || !strings.Contains(err.Error(), bad[2]) {
			t.Errorf("%v: err = %v, want %q", bad[:2], err, bad[2])
		}
	}
}

func TestHostsGroupFromYAML(t *testing.T) {
	s, err := Decode("avdgen.yaml", []byte("limits:\n  disconnected: 15m\ngpo:\n  domain: contoso.local\n  hostsGroup: CONTOSO\\AVD Session Hosts\n  hostsGroupSid: S-1-5-21-1-2-3-1105\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.GPO.HostsGroup != `CONTOSO\AVD Session Hosts` || s.GPO.HostsGroupSID != "S-1-5-21-1-2-3-1105" {
		t.Errorf("decoded %+v", s.GPO)
	}
	if err := s.WithDefaults().Validate(true); err != nil {
		t.Error(err)
	}
}

// TestDecodeNamesKeyAndLineOfBadValues: a value of the wrong type is
// reported with its key and line, not as yaml's "cannot unmarshal".
func TestDecodeNamesKeyAndLineOfBadValues(t *testing.T) {
	cases := map[string]string{
		"hostPool: hp\nlimits:\n  endSessionOnLimit: nope\n": `f.yaml:3: limits.endSessionOnLimit "nope": want true or false`,
		"limits:\n  allowNoLogoff: 3\n":                      `f.yaml:2: limits.allowNoLogoff "3": want true or false`,
		"hostPool:\n  - a\n  - b\n":                          `f.yaml:2: hostPool: want a single text value`,
		"gpo:\n  domain: {a: b}\n":                           `f.yaml:2: gpo.domain: want a single text value`,
	}
	for in, want := range cases {
		_, err := Decode("f.yaml", []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("%q: yaml's wording leaked: %v", in, err)
		}
	}
}

// Every listed release is accepted; the old pattern's examples stay valid.
func TestWindowsReleasesAccepted(t *testing.T) {
	base := Spec{Limits: Limits{AllowNoLogoff: true}}.WithDefaults()
	for _, r := range WindowsReleases {
		s := base
		s.Intune.MinimumWindowsRelease = r
		if err := s.Validate(false); err != nil {
			t.Errorf("%s refused: %v", r, err)
		}
	}
}

// Issue 20 (6): an install folder is judged after its variables are
// expanded: %SystemRoot%\Temp\avdgen is refused as C:\Windows\Temp\avdgen is,
// whatever the spelling, and every spelling of an accepted folder is accepted.
func TestInstallDirJudgedAfterExpansion(t *testing.T) {
	for _, dir := range []string{
		`C:\Windows\Temp\avdgen`, `%SystemRoot%\Temp\avdgen`, `%SYSTEMROOT%\TEMP\avdgen`, `%windir%\Temp\avdgen`,
		`%SystemDrive%\Windows\Temp\avdgen`, `%SystemRoot%\Tasks\avdgen`, `%SystemRoot%\System32\spool\drivers\color\avdgen`,
		`%SystemRoot%\tracing\avdgen`, `%SystemDrive%\ProgramData\avdgen`, `%ALLUSERSPROFILE%\avdgen`, `%PUBLIC%\avdgen`,
		`%SystemDrive%\Users\x`, `%LOCALAPPDATA%\avdgen`, `%UserProfile%\avdgen`,
	} {
		if err := ValidateInstallDir(dir); err == nil || !strings.Contains(err.Error(), "users can write there") || !strings.Contains(err.Error(), `agent.installDir "`+dir+`"`) {
			t.Errorf("%s: %v", dir, err)
		}
	}
	for dir, want := range map[string]string{
		`%SystemDrive%\tools\avdgen`:    "must be under %ProgramFiles%",
		`%SystemRoot%`:                  "use a dedicated folder",
		`%ProgramFiles%\`:               "use a dedicated folder",
		`%NOPE%\avdgen`:                 "unknown environment variable %NOPE%",
		`%ProgramFiles\avdgen`:          "unpaired %",
		`C:\PROGRA~1\avdgen`:            "short (8.3) name",
		`%ProgramFiles%\.\avdgen`:       "'.'",
		`%ProgramFiles%\\avdgen`:        "empty",
		`%SystemDrive%%SystemDrive%\x`:  "not a local absolute path",
		`D:\Program Files\avdgen`:       "must be under %ProgramFiles%",
		`%ProgramData%\..\Windows\Temp`: "'..'",
	} {
		if err := ValidateInstallDir(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dir, err, want)
		}
	}
	for _, dir := range []string{`%ProgramFiles%\avdgen`, `C:\Program Files\avdgen`, `%ProgramW6432%\Contoso\avdgen`, `%ProgramFiles(x86)%\avdgen`,
		`%SystemRoot%\avdgen`, `c:\windows\System32\avdgen`, `%SystemDrive%\Program Files\avdgen\`, `%CommonProgramFiles%\avdgen`} {
		if err := ValidateInstallDir(dir); err != nil {
			t.Errorf("%s refused: %v", dir, err)
		}
	}
}
