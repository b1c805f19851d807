package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/avdgen/avdgen/cmd/avdgen/app"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/dist/testpe"
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
// machine type and console subsystem, see dist/testpe), $GUI_EXE (a GUI
// subsystem amd64 image), a fixed
// SOURCE_DATE_EPOCH, and $EXAMPLES pointing at examples/.
func TestScript(t *testing.T) {
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
			for _, a := range dist.Arches {
				if err := os.WriteFile(filepath.Join(agents, dist.FileName(a)), testpe.Agent(dist.Machine[a], string(a)), 0o644); err != nil {
					return err
				}
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
			return nil
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
