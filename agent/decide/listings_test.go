package decide

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/agent/host"
)

// listingsDir holds real session listings of RDS and AVD hosts, copied from
// public sources (testdata/PROVENANCE.md, "Session listings").
const listingsDir = "../../testdata/reference/sessions"

// The busy rule over every session of every real listing: which sessions
// hold the VM, and what a logoff run decides on that host. Before issue 20
// the console at the logon screen ("console 1 Conn", "Session: 3 - Console,
// Connected") held the VM on every one of these hosts, so the AVD session
// host with nobody signed in never deallocated.
func TestBusyRuleOnRealListings(t *testing.T) {
	listings := map[string][]uint32{
		// AVD session host, Microsoft's documentation: nobody signed in.
		"avd-sessionhost-onedrive-doc.qwinsta.txt": nil,
		// RDS server: one user disconnected, one active over RDP.
		"rds-psexec-query-session.txt": {2, 3},
		"thm-analyst-qwinsta.txt":      {2},
		// The console is session 2 here, not 1.
		"htb-rdp-console2-qwinsta.txt": {1},
		// Users at the console.
		"ja-console-user-query-session.txt":    {2},
		"htb-academy-console-user-qwinsta.txt": {1},
		// WTS API listing (station names as Windows spells them): two users
		// disconnected, the console at the logon screen as session 3, and
		// Hyper-V's VMBus listener next to RDP-Tcp.
		"hyperv-vmbus-mimikatz-ts-sessions.txt": {1, 4},
	}
	for file, holding := range listings {
		t.Run(file, func(t *testing.T) {
			sessions := readListing(t, filepath.Join(listingsDir, file))
			var got []uint32
			for _, s := range sessions {
				if Busy(s) {
					got = append(got, s.ID)
				}
				t.Log(Explain(s))
			}
			if !slices.Equal(got, holding) {
				t.Errorf("sessions holding the VM: %v, want %v", got, holding)
			}
			f := Facts{Command: Logoff, LocalProbed: true, MetadataRead: true, SessionHost: true, Sessions: sessions}
			want := Deallocate
			if len(holding) > 0 {
				want = SkipUserSession
			}
			if d := Decide(f); d.Outcome != want {
				t.Errorf("logoff run: %d (%s), want %d", d.Outcome, d.Reason, want)
			}
		})
	}
	// Every listing in the folder is in the table above.
	entries, err := os.ReadDir(listingsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := listings[e.Name()]; !ok {
			t.Errorf("%s is in %s but not in this test", e.Name(), listingsDir)
		}
	}
	if len(entries) < 5 {
		t.Errorf("%d listings, want at least five hosts", len(entries))
	}
}

// The parsers read what the listings say: every kind of row comes out.
func TestListingParsers(t *testing.T) {
	got := readListing(t, filepath.Join(listingsDir, "rds-psexec-query-session.txt"))
	want := []host.Session{
		{ID: 0, Station: "services", State: host.StateDisconnected},
		{ID: 1, Station: "console", State: host.StateConnected},
		{ID: 2, User: "muoadmin_tg", State: host.StateDisconnected},
		{ID: 3, Station: "rdp-tcp#2", User: "muoadmin_tg", State: host.StateActive},
		{ID: 65536, Station: "rdp-tcp", State: host.StateListen},
	}
	if !slices.Equal(got, want) {
		t.Errorf("qwinsta\n got %+v\nwant %+v", got, want)
	}
	got = readListing(t, filepath.Join(listingsDir, "hyperv-vmbus-mimikatz-ts-sessions.txt"))
	want = []host.Session{
		{ID: 0, Station: "Services", State: host.StateDisconnected},
		{ID: 1, User: `WINDCORP\alcrez`, State: host.StateDisconnected},
		{ID: 3, Station: "Console", State: host.StateConnected},
		{ID: 4, User: `OSIRIS\hacker`, State: host.StateDisconnected},
		{ID: 65536, Station: "31C5CE94259D4006A9E4", State: host.StateListen},
		{ID: 65537, Station: "RDP-Tcp", State: host.StateListen},
	}
	if !slices.Equal(got, want) {
		t.Errorf("WTS listing\n got %+v\nwant %+v", got, want)
	}
}

func readListing(t *testing.T, path string) []host.Session {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []host.Session
	if strings.HasPrefix(string(b), "Session:") {
		out = parseWTSListing(t, string(b))
	} else {
		out = parseQwinsta(t, string(b))
	}
	if len(out) == 0 {
		t.Fatalf("%s: no sessions read", path)
	}
	return out
}

// qwinstaStates are the STATE column's words (query session).
var qwinstaStates = map[string]host.SessionState{
	"Active": host.StateActive, "Conn": host.StateConnected, "ConnQ": host.StateConnectQuery,
	"Shadow": host.StateShadow, "Disc": host.StateDisconnected, "Idle": host.StateIdle,
	"Listen": host.StateListen, "Reset": host.StateReset, "Down": host.StateDown, "Init": host.StateInit,
}

// parseQwinsta reads `qwinsta` / `query session` output. Columns are not
// cut by position (published listings are re-spaced by hand): a row is
// [name] [user] id state [type] [device]. A lone word before the id is the
// session name when it starts the row (column 0 or 1, after the '>' marking
// the current session) and the user when it is indented: a disconnected
// session has no name.
func parseQwinsta(t *testing.T, text string) []host.Session {
	var out []host.Session
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Scan() // header, in the language of the host
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, ">") {
			line = " " + line[1:]
		}
		fields := strings.Fields(line)
		i := slices.IndexFunc(fields, func(f string) bool { _, ok := qwinstaStates[f]; return ok })
		if i < 1 {
			t.Fatalf("qwinsta row %q: no id and state", line)
		}
		id, err := strconv.ParseUint(fields[i-1], 10, 32)
		if err != nil {
			t.Fatalf("qwinsta row %q: id %v", line, err)
		}
		s := host.Session{ID: uint32(id), State: qwinstaStates[fields[i]]}
		switch before := fields[:i-1]; len(before) {
		case 2:
			s.Station, s.User = before[0], before[1]
		case 1:
			if strings.Index(line, before[0]) <= 1 {
				s.Station = before[0]
			} else {
				s.User = before[0]
			}
		case 0:
		default:
			t.Fatalf("qwinsta row %q: too many words before the id", line)
		}
		out = append(out, s)
	}
	return out
}

var (
	wtsSession = regexp.MustCompile(`^Session: \*?(\d+) - (.*)$`)
	wtsState   = regexp.MustCompile(`^\s+state: \w+ \((\d+)\)$`)
	wtsUser    = regexp.MustCompile(`^\s+user : (.*) @ (.*)$`)
)

// parseWTSListing reads mimikatz's ts::sessions, which prints
// WTSEnumerateSessionsEx rows: "Session: ID - WinStationName", the
// WTS_CONNECTSTATE_CLASS number in parentheses, and "user @ domain".
func parseWTSListing(t *testing.T, text string) []host.Session {
	var out []host.Session
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := wtsSession.FindStringSubmatch(line); m != nil {
			id, _ := strconv.ParseUint(m[1], 10, 32)
			out = append(out, host.Session{ID: uint32(id), Station: strings.TrimSpace(m[2])})
			continue
		}
		if len(out) == 0 {
			continue
		}
		last := &out[len(out)-1]
		if m := wtsState.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			last.State = host.SessionState(n)
		} else if m := wtsUser.FindStringSubmatch(line + " "); m != nil {
			user, domain := strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
			if user != "" {
				last.User = domain + `\` + user
			}
		} else if strings.HasPrefix(strings.TrimSpace(line), "state:") || strings.HasPrefix(strings.TrimSpace(line), "user :") {
			t.Fatalf("WTS listing line %q not understood", line)
		}
	}
	return out
}
