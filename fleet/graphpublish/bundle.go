package graphpublish

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/avdgen/avdgen/generator/intune"
)

// The bundle files publish reads (as written by `avdgen intune`).
const (
	PolicyFile     = "session-time-limits.settings-catalog.json"
	AppFile        = "avd-agent.win32app.json"
	IntunewinFile  = "avd-agent.intunewin"
	EncryptionFile = "avd-agent.encryption.json"
	DetectFile     = "remediation/detect-avd-agent-task.ps1"
	RemediateFile  = "remediation/remediate-avd-agent-task.ps1"
)

// FromBundle assembles an Input (without Group and DryRun) from the
// bundle's files by path. remediation adds the Remediations pair, named
// after the app.
func FromBundle(files map[string][]byte, remediation bool) (Input, error) {
	need := []string{PolicyFile, AppFile, IntunewinFile, EncryptionFile}
	if remediation {
		need = append(need, DetectFile, RemediateFile)
	}
	for _, n := range need {
		if len(files[n]) == 0 {
			return Input{}, fmt.Errorf("the bundle has no %s", n)
		}
	}
	pkg, err := ReadPackage(files[IntunewinFile], files[EncryptionFile])
	if err != nil {
		return Input{}, err
	}
	in := Input{Policy: files[PolicyFile], App: files[AppFile], Package: pkg}
	if remediation {
		var app struct{ DisplayName, Publisher, Notes string }
		if err := json.Unmarshal(files[AppFile], &app); err != nil {
			return Input{}, fmt.Errorf("%s: %w", AppFile, err)
		}
		description := "avdgen: detects the avd-agent logoff task and idle safety net task missing or altered and registers them again (removes the idle task when idleAfter is never)."
		// Its avdgen key is the app's, for the remediation of that pool.
		if key, ok := strings.CutSuffix(intune.KeyFrom(app.Notes), "/agent"); ok {
			description += "\n" + key + "/remediation"
		}
		// The display name keeps "logoff task": publish finds an earlier script by it.
		in.Remediation = &Remediation{DisplayName: app.DisplayName + " - logoff task", Publisher: app.Publisher,
			Description: description, Detect: files[DetectFile], Remediate: files[RemediateFile]}
	}
	return in, nil
}
