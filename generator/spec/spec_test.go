package spec

import (
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
	base := Spec{GPO: GPO{Domain: "contoso.local"}}.WithDefaults()
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
	}
	for name, c := range cases {
		s := base
		c.mut(&s)
		if err := s.Validate(true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
	}
	missing := Spec{}.WithDefaults()
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
