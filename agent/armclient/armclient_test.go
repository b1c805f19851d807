package armclient

import "testing"

func TestAllowsEvaluatesWildcards(t *testing.T) {
	const act = DeallocateAction
	cases := []struct {
		name  string
		perms []Permission
		want  bool
	}{
		{"exact", []Permission{{Actions: []string{act}}}, true},
		{"case-insensitive", []Permission{{Actions: []string{"microsoft.compute/VIRTUALMACHINES/deallocate/action"}}}, true},
		{"owner", []Permission{{Actions: []string{"*"}}}, true},
		{"provider wildcard", []Permission{{Actions: []string{"Microsoft.Compute/*"}}}, true},
		{"all actions on VMs", []Permission{{Actions: []string{"Microsoft.Compute/virtualMachines/*/action"}}}, true},
		{"read only", []Permission{{Actions: []string{"*/read"}}}, false},
		{"other action", []Permission{{Actions: []string{"Microsoft.Compute/virtualMachines/start/action"}}}, false},
		{"not-action removes it", []Permission{{Actions: []string{"*"}, NotActions: []string{"Microsoft.Compute/virtualMachines/deallocate/action"}}}, false},
		{"not-action wildcard removes it", []Permission{{Actions: []string{"Microsoft.Compute/*"}, NotActions: []string{"Microsoft.Compute/*/action"}}}, false},
		{"second role grants it", []Permission{{Actions: []string{"*/read"}}, {Actions: []string{act}}}, true},
		{"none", nil, false},
	}
	for _, c := range cases {
		if got := Allows(c.perms, act); got != c.want {
			t.Errorf("%s: Allows = %v, want %v", c.name, got, c.want)
		}
	}
}

// Defect 11: the hibernate fallback only for hibernation's own refusals.
func TestHibernationRefused(t *testing.T) {
	for _, c := range []struct {
		se   StatusError
		want bool
	}{
		{StatusError{409, "OperationNotAllowed", "Hibernation is not supported for this VM size"}, true},
		{StatusError{409, "HibernationNotEnabled", "x"}, true},
		{StatusError{409, "OperationNotAllowed", "Operation 'deallocate' is not allowed since another operation is in progress"}, false},
		{StatusError{409, "Conflict", "The operation was preempted by a more recent operation"}, false},
		{StatusError{409, "OperationPreempted", "hibernate"}, false},
		{StatusError{409, "Conflict", "resource busy"}, false},
		{StatusError{400, "HibernationNotEnabled", "hibernation"}, false},
	} {
		if got := HibernationRefused(&c.se); got != c.want {
			t.Errorf("%+v: %v", c.se, got)
		}
	}
}
