package regpol

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/oracle"
)

func limits(t *testing.T, idle, disc, active string, end bool) spec.Limits {
	t.Helper()
	l := spec.Limits{EndSessionOnLimit: end}
	for _, p := range []struct {
		dst *spec.Limit
		s   string
	}{{&l.Idle, idle}, {&l.Disconnected, disc}, {&l.Active, active}} {
		if p.s == "" {
			continue
		}
		v, err := spec.ParseLimit("x", p.s)
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = v
	}
	return l
}

func TestSessionLimitsThroughSamba(t *testing.T) {
	cases := []struct {
		name               string
		idle, disc, active string
		end                bool
		want               map[string]float64 // value name -> DWORD
	}{
		{"issue example", "2h", "15m", "", false, map[string]float64{"MaxIdleTime": 7200000, "MaxDisconnectionTime": 900000, "fResetBroken": 0}},
		{"never and end session", "never", "1m", "5d", true, map[string]float64{"MaxIdleTime": 0, "MaxDisconnectionTime": 60000, "MaxConnectionTime": 432000000, "fResetBroken": 1}},
		{"only disconnected", "", "1d", "", false, map[string]float64{"MaxDisconnectionTime": 86400000, "fResetBroken": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "registry.pol")
			if err := os.WriteFile(file, Encode(SessionLimits(limits(t, c.idle, c.disc, c.active, c.end))), 0o644); err != nil {
				t.Fatal(err)
			}
			entries := oracle.PolCheck(t, file)
			got := map[string]float64{}
			for _, e := range entries {
				if e.Key != `Software\Policies\Microsoft\Windows NT\Terminal Services` || e.Type != "REG_DWORD" || e.Size != 4 {
					t.Errorf("entry %+v", e)
				}
				got[e.Value] = e.Data.(float64)
			}
			if len(got) != len(c.want) {
				t.Errorf("values %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
		})
	}
}

func TestDeleteAndSZThroughSamba(t *testing.T) {
	file := filepath.Join(t.TempDir(), "registry.pol")
	os.WriteFile(file, Encode([]Entry{Delete(PolicyKey, "MaxIdleTime"), SZ(PolicyKey, "MaxDisconnectionTime", "0")}), 0o644)
	e := oracle.PolCheck(t, file)
	if len(e) != 2 || e[0].Value != "**del.MaxIdleTime" || e[0].Type != "REG_SZ" || e[0].Size != 4 || e[1].Data != "0" || e[1].Size != 4 {
		t.Errorf("entries %+v", e)
	}
}

// The reference file was written by GPMC: decoding it and encoding again
// must give the same bytes, and Samba must read it (proves the oracle works).
func TestRoundTripReferenceFile(t *testing.T) {
	ref := oracle.Reference(t, "registry-pol", "nsacyber-windows-computer.registry.pol")
	b, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 87 {
		t.Errorf("%d entries, the reference has 87", len(entries))
	}
	if !bytes.Equal(Encode(entries), b) {
		t.Error("Encode(Decode(reference)) differs from the GPMC-written reference")
	}
	var sawDel bool
	for _, e := range entries {
		if e.Value == "**del.MaxTicketExpiry" {
			sawDel = bytes.Equal(Encode([]Entry{e}), Encode([]Entry{Delete(e.Key, "MaxTicketExpiry")}))
		}
	}
	if !sawDel {
		t.Error("our Delete record differs from GPMC's **del. record")
	}
	if n := len(oracle.PolCheck(t, ref)); n != 87 {
		t.Errorf("pol-check read %d entries of the reference", n)
	}
}

func TestGolden(t *testing.T) {
	oracle.Golden(t, "session-limits.registry.pol", Encode(SessionLimits(limits(t, "2h", "15m", "", true))))
}
