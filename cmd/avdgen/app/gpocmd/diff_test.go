package gpocmd

import (
	"errors"
	"testing"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/adpublish"
)

// Issue 16 item 7: `gpo diff` gates a pipeline: exit 1 (SilentError, the
// changes already printed) when AD differs from the spec, 0 when it
// matches; publish itself succeeds either way.
func TestDiffExitCodes(t *testing.T) {
	differs := &adpublish.Result{Changes: []adpublish.Change{{Kind: "file", Target: "Machine/registry.pol"}}}
	same := &adpublish.Result{Changes: []adpublish.Change{}}
	if err := diffExit(true, differs); !errors.Is(err, cmdutil.SilentError) {
		t.Errorf("diff with changes: %v, want SilentError (exit 1)", err)
	}
	if err := diffExit(true, same); err != nil {
		t.Errorf("diff without changes: %v, want exit 0", err)
	}
	if err := diffExit(false, differs); err != nil {
		t.Errorf("publish with changes: %v, want exit 0", err)
	}
}
