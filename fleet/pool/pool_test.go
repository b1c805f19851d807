package pool

import "testing"

// The sweep leaves a VM alone on the same terms as the agent (issue 9,
// defect 4): avdgen-exclude=True excludes as well as =true.
func TestHasTagIgnoresCase(t *testing.T) {
	vm := VM{Tags: map[string]string{"AVDGEN-Exclude": "True "}}
	if !vm.HasTag("avdgen-exclude", "true") || vm.HasTag("avdgen-exclude", "false") || vm.HasTag("other", "true") {
		t.Errorf("HasTag wrong for %v", vm.Tags)
	}
}
