package gpo

import (
	"strings"
	"testing"
)

// Issue 10 item 1: every File and Task item applies only on registered AVD
// session hosts ([MS-GPPREF] 2.2.1.22 Registry Match on the AVD agent's
// IsRegistered), and only in the hosts group when one is given.
func TestItemsTargetRegisteredSessionHosts(t *testing.T) {
	for _, withGroup := range []bool{false, true} {
		in := testInput(t)
		if withGroup {
			in.Spec.GPO.HostsGroup = `CONTOSO\AVD Hosts`
			in.Spec.GPO.HostsGroupSID = "S-1-5-21-1004336348-1177238915-682003330-1105"
		}
		files, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		items := readXML(t, find(t, files, "Files/Files.xml").Data).FindElements("Files/File")
		items = append(items, readXML(t, find(t, files, "ScheduledTasks/ScheduledTasks.xml").Data).FindElements("ScheduledTasks/TaskV2")...)
		if len(items) != 4 {
			t.Fatalf("%d items, want 2 files and 2 tasks (logoff, idle safety net)", len(items))
		}
		for _, it := range items {
			name := it.Tag + " " + it.SelectAttrValue("uid", "")
			reg := it.FindElement("Filters/FilterRegistry")
			if reg == nil {
				t.Errorf("%s: no Registry Match targeting", name)
				continue
			}
			for k, v := range map[string]string{"bool": "AND", "not": "0", "type": "MATCHVALUE", "hive": "HKEY_LOCAL_MACHINE",
				"key": `SOFTWARE\Microsoft\RDInfraAgent`, "valueName": "IsRegistered", "valueType": "REG_DWORD", "valueData": "1"} {
				if got := reg.SelectAttrValue(k, ""); got != v {
					t.Errorf("%s: FilterRegistry %s = %q, want %q", name, k, got, v)
				}
			}
			// Any filter joined by OR would let other computers in.
			for _, f := range it.FindElements("Filters/*") {
				if f.SelectAttrValue("bool", "") != "AND" || f.SelectAttrValue("not", "") != "0" {
					t.Errorf("%s: filter %s is not a plain AND: %v", name, f.Tag, f.Attr)
				}
			}
			g := it.FindElement("Filters/FilterGroup")
			switch {
			case !withGroup && g != nil:
				t.Errorf("%s: group filter without --hosts-group", name)
			case withGroup && g == nil:
				t.Errorf("%s: no group filter for --hosts-group", name)
			case withGroup:
				if g.SelectAttrValue("name", "") != `CONTOSO\AVD Hosts` || g.SelectAttrValue("sid", "") != in.Spec.GPO.HostsGroupSID ||
					g.SelectAttrValue("userContext", "") != "0" || g.SelectAttrValue("localGroup", "") != "0" {
					t.Errorf("%s: group filter %v", name, g.Attr)
				}
			}
		}
	}
}

// The script's -Ou can be overridden at run time; it refuses what the spec
// refuses.
func TestImportScriptRefusesNonOU(t *testing.T) {
	ps := string(find(t, build(t), "Import-AvdGpo.ps1").Data)
	if !strings.Contains(ps, `if ($Ou -and $Ou -notmatch '^OU=') {`) || !strings.Contains(ps, "is not an organizational unit") {
		t.Error("Import-AvdGpo.ps1 links to whatever -Ou says")
	}
}
