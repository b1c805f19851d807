package gpo

import (
	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/spec"
)

// The AVD agent records a completed host pool registration as IsRegistered
// = 1 under this key (Microsoft's AVD agent troubleshooting article has
// admins reset it to 0 to re-register and check it reads 1). Only a
// registered session host has it, so the item-level targeting below keeps
// the agent file and the deallocating task off every other computer the
// GPO might reach (docs/gpo.md, "Scope"). REG_DWORD is our reading of its
// type; the article shows only the number.
const (
	rdAgentHive  = "HKEY_LOCAL_MACHINE"
	rdAgentKey   = `SOFTWARE\Microsoft\RDInfraAgent`
	rdAgentValue = "IsRegistered"
)

// hostFilters are the item-level targeting filters ([MS-GPPREF] 2.2.1.22)
// every File and Task item carries: a Registry Match on IsRegistered = 1,
// and, when the spec names one, membership of the computer in the session
// host group. All are ANDed.
func hostFilters(s spec.Spec) []*etree.Element {
	reg := etree.NewElement("FilterRegistry")
	for _, a := range [][2]string{
		{"bool", "AND"}, {"not", "0"}, {"type", "MATCHVALUE"}, {"subtype", "EQUALHEX"},
		{"valueName", rdAgentValue}, {"valueType", "REG_DWORD"}, {"valueData", "1"},
		{"min", "0.0.0.0"}, {"max", "0.0.0.0"}, {"gte", "1"}, {"lte", "0"},
		{"hive", rdAgentHive}, {"key", rdAgentKey},
	} {
		reg.CreateAttr(a[0], a[1])
	}
	out := []*etree.Element{reg}
	if s.GPO.HostsGroup != "" {
		g := etree.NewElement("FilterGroup")
		g.CreateAttr("bool", "AND")
		g.CreateAttr("not", "0")
		g.CreateAttr("name", s.GPO.HostsGroup)
		if s.GPO.HostsGroupSID != "" {
			g.CreateAttr("sid", s.GPO.HostsGroupSID)
		}
		// userContext 0: the computer's membership, not the user's.
		g.CreateAttr("userContext", "0")
		g.CreateAttr("primaryGroup", "0")
		g.CreateAttr("localGroup", "0")
		out = append(out, g)
	}
	return out
}

// addFilters appends a <Filters> element with the host filters and any
// extra ones to a preference item.
func addFilters(item *etree.Element, s spec.Spec, extra ...*etree.Element) {
	fl := item.CreateElement("Filters")
	for _, f := range append(hostFilters(s), extra...) {
		fl.AddChild(f)
	}
}
