package adpublish

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/gpo"
)

// Target is what publishing makes true in AD and SYSVOL, taken from the
// rendered `avdgen gpo` bundle.
type Target struct {
	Domain      string // contoso.local
	DisplayName string
	// GUID is the bundle's GPO GUID ({...}), derived from domain, GPO name
	// and host pool: avdgen's marker. A GPO with the display name but
	// another GUID was not made by avdgen and is never touched.
	GUID string
	// OU is the distinguished name of the OU to link to (OU=...).
	OU string
	// Files are the GPO's files relative to its SYSVOL folder
	// (Machine/registry.pol, Machine/Preferences/...).
	Files []File
	// MachineExtensionNames is gPCMachineExtensionNames, as in the backup.
	MachineExtensionNames string
	// Payload is copied to <domain>/scripts/avdgen: agents, then SHA256SUMS.
	Payload []File
}

// File is one file to publish; Open streams content larger than Data.
type File struct {
	Name   string
	Data   []byte
	Open   func() (io.ReadCloser, error)
	SHA256 string // hex; set with Open
}

func (f File) reader() (io.ReadCloser, error) {
	if f.Open != nil {
		return f.Open()
	}
	return io.NopCloser(strings.NewReader(string(f.Data))), nil
}

// TargetFromBundle picks the GPO's SYSVOL files, its core settings
// (Backup.xml) and the payload out of gpo.Build's files.
func TargetFromBundle(files []bundle.File, ou string) (Target, error) {
	if err := CheckOU(ou); err != nil {
		return Target{}, err
	}
	t := Target{OU: ou}
	var backupXML []byte
	for _, f := range files {
		parts := strings.SplitN(f.Path, "/", 3)
		switch {
		case len(parts) == 3 && parts[0] == gpo.BackupDir && parts[2] == "Backup.xml":
			backupXML = f.Data
		case len(parts) == 3 && parts[0] == gpo.BackupDir && strings.HasPrefix(parts[2], "DomainSysvol/GPO/"):
			t.Files = append(t.Files, File{Name: strings.TrimPrefix(parts[2], "DomainSysvol/GPO/"), Data: f.Data})
		case strings.HasPrefix(f.Path, gpo.PayloadDir+"/"):
			t.Payload = append(t.Payload, File{Name: path.Base(f.Path), Data: f.Data, Open: f.Open, SHA256: f.SHA256})
		}
	}
	if backupXML == nil {
		return Target{}, fmt.Errorf("the GPO bundle has no Backup.xml (generator/gpo changed?)")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(backupXML); err != nil {
		return Target{}, fmt.Errorf("Backup.xml: %w", err)
	}
	core := doc.FindElement("//GroupPolicyCoreSettings")
	if core == nil {
		return Target{}, fmt.Errorf("Backup.xml has no GroupPolicyCoreSettings")
	}
	text := func(tag string) string {
		if e := core.SelectElement(tag); e != nil {
			return strings.TrimSpace(e.Text())
		}
		return ""
	}
	t.GUID, t.Domain, t.DisplayName, t.MachineExtensionNames = strings.ToUpper(text("ID")), text("Domain"), text("DisplayName"), text("MachineExtensionGuids")
	if t.GUID == "" || t.Domain == "" || t.DisplayName == "" {
		return Target{}, fmt.Errorf("Backup.xml lacks the GPO's ID, Domain or DisplayName")
	}
	// Agents before SHA256SUMS: a host that sees new sums finds new agents.
	for i := range t.Payload {
		if t.Payload[i].Name == "SHA256SUMS" {
			t.Payload = append(append(t.Payload[:i:i], t.Payload[i+1:]...), t.Payload[i])
			break
		}
	}
	return t, nil
}

// CheckOU accepts the distinguished name of an organizational unit.
func CheckOU(ou string) error {
	if len(ou) < 4 || !strings.EqualFold(ou[:3], "OU=") || !strings.Contains(strings.ToUpper(ou), "DC=") {
		return fmt.Errorf("--ou %q: want the distinguished name of an OU, e.g. OU=AVD,DC=contoso,DC=local (GPOs link to OUs; domain and site links are not managed by avdgen)", ou)
	}
	return nil
}
