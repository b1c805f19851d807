package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/avdgen/avdgen/cmd/avdgen/app"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/fakegraph"
	"github.com/avdgen/avdgen/internal/testkit"
	"github.com/avdgen/avdgen/internal/testpe"
)

// TestMain lets scripts run `avdgen` as a real command: testscript re-execs
// this test binary, which then runs app.Main like cmd/avdgen/main.go does.
func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"avdgen": func() int { return app.Main(os.Args[1:], app.SystemFactory()) },
	}))
}

// TestScript runs testdata/script/*.txtar. Each script gets $AGENTS, a
// folder of small stand-in agents for --agent-dir (PE headers of the right
// machine type and console subsystem, see internal/testpe), $GUI_EXE (a GUI
// subsystem amd64 image), a fixed SOURCE_DATE_EPOCH, $EXAMPLES pointing at
// examples/, and $GRAPH, a loopback fake of Microsoft Graph and blob storage
// of its own (with a stand-in az on PATH for --auth cli, $GROUP a group in
// the fake tenant and the `graphcounts [reset]` command printing the fake's
// request counts).
func TestScript(t *testing.T) {
	var mu sync.Mutex
	fakes := map[string]*fakegraph.Fake{}
	examples, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			agents := filepath.Join(env.WorkDir, "agents")
			if err := os.MkdirAll(agents, 0o755); err != nil {
				return err
			}
			if err := testkit.WriteAgents(agents); err != nil {
				return err
			}
			// A GUI-subsystem amd64 image, which --agent-dir must refuse.
			gui := filepath.Join(env.WorkDir, "gui-amd64.exe")
			if err := os.WriteFile(gui, testpe.Build(testpe.MachineAMD64, testpe.SubsystemGUI, nil), 0o644); err != nil {
				return err
			}
			env.Setenv("GUI_EXE", gui)
			if err := os.WriteFile(filepath.Join(agents, "VERSION"), []byte("v0.0.0-test\n"), 0o644); err != nil {
				return err
			}
			env.Setenv("AGENTS", agents)
			env.Setenv("EXAMPLES", examples)
			env.Setenv("SOURCE_DATE_EPOCH", "1700000000")
			fake := fakegraph.New(t, fakegraph.Options{})
			mu.Lock()
			fakes[fake.URL] = fake
			mu.Unlock()
			env.Setenv("GRAPH", fake.URL)
			env.Setenv("GROUP", fakegraph.GroupID)
			bin := filepath.Join(env.WorkDir, ".bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				return err
			}
			az := "#!/bin/sh\necho \"$@\" >> '" + filepath.Join(bin, "az.log") + "'\necho '{\"accessToken\":\"fake-cli-token\",\"expiresOn\":\"2100-01-01 00:00:00.000000\",\"expires_on\":4102444800,\"tenant\":\"72f988bf-0000-0000-0000-000000000000\",\"tokenType\":\"Bearer\"}'\n"
			if err := os.WriteFile(filepath.Join(bin, "az"), []byte(az), 0o755); err != nil {
				return err
			}
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			// A stand-in App Service managed identity endpoint on loopback
			// (IDENTITY_ENDPOINT/IDENTITY_HEADER, which azidentity reads):
			// --auth managed-identity for intune publish, which refuses cli.
			msiLog := filepath.Join(bin, "msi.log")
			msi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-IDENTITY-HEADER") != "fake-identity-header" {
					http.Error(w, "no identity header", http.StatusBadRequest)
					return
				}
				if f, err := os.OpenFile(msiLog, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
					fmt.Fprintf(f, "%s %s\n", r.Method, r.URL.RequestURI())
					f.Close()
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":"fake-msi-token","expires_on":"4102444800","resource":%q,"token_type":"Bearer"}`, r.URL.Query().Get("resource"))
			}))
			t.Cleanup(msi.Close)
			env.Setenv("MSI_ENDPOINT_STANDIN", msi.URL+"/msi/token")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"graphcounts": func(ts *testscript.TestScript, neg bool, args []string) {
				mu.Lock()
				fake := fakes[ts.Getenv("GRAPH")]
				mu.Unlock()
				if len(args) == 1 && args[0] == "reset" {
					fake.ResetCounts()
					return
				}
				c := fake.Counts()
				fmt.Fprintf(ts.Stdout(), "requests=%d writes=%d blobwrites=%d policies=%d apps=%d\n", c.Requests, c.Writes, c.BlobWrites, fake.Policies(), fake.Apps())
			},
		},
		Condition: func(cond string) (bool, error) {
			if cond == "embedded" { // the agents are built into this avdgen (make)
				_, err := dist.Embedded()
				return err == nil, nil
			}
			return false, nil
		},
	})
}
