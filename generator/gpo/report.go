package gpo

import (
	"time"

	"github.com/beevik/etree"

	"github.com/avdgen/avdgen/generator/policy"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/generator/task"
)

// gpReport is gpreport.xml in Get-GPOReport's shape, UTF-16LE with BOM and
// CRLF, so GPMC can show the backup's settings before import.
func gpReport(s spec.Spec, id ids, l task.Logoff, at time.Time) ([]byte, error) {
	const (
		settingsNS = "http://www.microsoft.com/GroupPolicy/Settings"
		typesNS    = "http://www.microsoft.com/GroupPolicy/Types"
	)
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-16"`)
	g := doc.CreateElement("GPO")
	g.CreateAttr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	g.CreateAttr("xmlns:xsd", "http://www.w3.org/2001/XMLSchema")
	g.CreateAttr("xmlns", settingsNS)
	ident := g.CreateElement("Identifier")
	i := ident.CreateElement("Identifier")
	i.CreateAttr("xmlns", typesNS)
	i.SetText(id.gpo)
	d := ident.CreateElement("Domain")
	d.CreateAttr("xmlns", typesNS)
	d.SetText(s.GPO.Domain)
	g.CreateElement("Name").SetText(s.GPO.Name)
	g.CreateElement("IncludeComments").SetText("true")
	stamp := at.Format("2006-01-02T15:04:05")
	g.CreateElement("CreatedTime").SetText(stamp)
	g.CreateElement("ModifiedTime").SetText(stamp)
	g.CreateElement("ReadTime").SetText(at.Format("2006-01-02T15:04:05.0000000Z"))
	g.CreateElement("FilterDataAvailable").SetText("true")

	comp := g.CreateElement("Computer")
	comp.CreateElement("VersionDirectory").SetText("1")
	comp.CreateElement("VersionSysvol").SetText("1")
	comp.CreateElement("Enabled").SetText("true")

	reg := comp.CreateElement("ExtensionData")
	ext := reg.CreateElement("Extension")
	ext.CreateAttr("xmlns:q1", settingsNS+"/Registry")
	ext.CreateAttr("xsi:type", "q1:RegistrySettings")
	for _, r := range policy.Rows(s.Limits) {
		if r.State == "Not Configured" {
			continue
		}
		p := ext.CreateElement("q1:Policy")
		p.CreateElement("q1:Name").SetText(r.Policy)
		p.CreateElement("q1:State").SetText(r.State)
		p.CreateElement("q1:Supported").SetText("At least Windows Server 2003 operating systems or Windows XP Professional")
		p.CreateElement("q1:Category").SetText("Windows Components/Remote Desktop Services/Remote Desktop Session Host/Session Time Limits")
		if r.Setting != "" {
			dd := p.CreateElement("q1:DropDownList")
			dd.CreateElement("q1:Name").SetText(r.Setting)
			dd.CreateElement("q1:State").SetText("Enabled")
			dd.CreateElement("q1:Value").CreateElement("q1:Name").SetText(r.Value)
		}
	}
	reg.CreateElement("Name").SetText("Registry")

	files := comp.CreateElement("ExtensionData")
	fext := files.CreateElement("Extension")
	fext.CreateAttr("xmlns:q2", settingsNS+"/Files")
	fext.CreateAttr("xsi:type", "q2:FilesSettings")
	fs := fext.CreateElement("q2:FilesSettings")
	fs.CreateAttr("clsid", filesCLSID)
	f := fs.CreateElement("q2:File")
	f.CreateAttr("clsid", fileCLSID)
	f.CreateAttr("name", "avd-agent.exe")
	f.CreateAttr("status", "avd-agent.exe")
	fp := f.CreateElement("q2:Properties")
	fp.CreateAttr("action", "R")
	fp.CreateAttr("fromPath", sysvolScripts(s.GPO.Domain)+`\avd-agent-<architecture>.exe`)
	fp.CreateAttr("targetPath", l.Command)
	files.CreateElement("Name").SetText("Files")

	tasks := comp.CreateElement("ExtensionData")
	text := tasks.CreateElement("Extension")
	text.CreateAttr("xmlns:q3", settingsNS+"/ScheduledTasks")
	text.CreateAttr("xsi:type", "q3:ScheduledTasksSettings")
	st := text.CreateElement("q3:ScheduledTasks")
	st.CreateAttr("clsid", task.ScheduledTasksCLSID)
	tv := st.CreateElement("q3:TaskV2")
	tv.CreateAttr("clsid", task.TaskV2CLSID)
	tv.CreateAttr("name", `avdgen\avd-agent logoff`)
	tp := tv.CreateElement("q3:Properties")
	tp.CreateAttr("action", "U")
	tp.CreateAttr("runAs", "S-1-5-18")
	tp.CreateAttr("command", l.Command)
	tp.CreateAttr("arguments", l.Arguments)
	tasks.CreateElement("Name").SetText("Scheduled Tasks")

	user := g.CreateElement("User")
	user.CreateElement("VersionDirectory").SetText("0")
	user.CreateElement("VersionSysvol").SetText("0")
	user.CreateElement("Enabled").SetText("false")

	doc.Indent(2)
	out, err := doc.WriteToString()
	if err != nil {
		return nil, err
	}
	return task.UTF16LE(task.CRLF(out)), nil
}
