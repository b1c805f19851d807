package gpo

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/internal/oracle"
)

// mutating are the script's statements that change the domain or SYSVOL.
var mutating = regexp.MustCompile(`\b(Copy-Item|New-Item|New-GPO|Import-GPO|New-GPLink|Set-GP\w+|Remove-\w+)\b|\.(GpoStatus|Description) =`)

// Issue 10 item 5: the import script cannot surprise. It refuses another
// domain, refuses to import over a GPO avdgen did not make (the marker in
// the GPO's comment, which it also writes), disables the user half after
// import, checks everything before the first change, and every change is
// behind ShouldProcess, so -WhatIf shows each step and does none.
func TestImportScriptCannotSurprise(t *testing.T) {
	in := testInput(t)
	ps := strings.TrimPrefix(strings.ReplaceAll(string(find(t, build(t), "Import-AvdGpo.ps1").Data), "\r\n", "\n"), "\ufeff")
	marker := Marker(in.Spec)
	for _, want := range []string{
		"$bundleDomain = 'contoso.local'",
		"if ($Domain -ne $bundleDomain) {",
		"$marker = '" + marker + "'",
		"$comment = '" + marker + ". Made by avdgen v1.0.0 from backup " + newIDs(in.Spec).backup,
		"if (-not $description.StartsWith($marker)) {",
		"New-GPO -Name $TargetName -Domain $Domain -Comment $comment",
		"$gpo.GpoStatus = 'UserSettingsDisabled'",
		"$gpo.Description = $comment",
		"Get-GPInheritance -Target $Ou -Domain $Domain | Out-Null",
		"Unblock-File",
	} {
		if !strings.Contains(ps, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Contains(ps, "-CreateIfNeeded") {
		t.Error("Import-GPO -CreateIfNeeded makes a GPO without the avdgen marker")
	}
	if marker != "[avdgen] host pool hp-personal, domain contoso.local" {
		t.Errorf("marker %q", marker)
	}
	// Every change sits inside an `if ($PSCmdlet.ShouldProcess(...)) {`
	// block, and the checks come first.
	var stack []bool
	firstChange, lastCheck := -1, -1
	inHelp := false
	for i, line := range strings.Split(ps, "\n") {
		code := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(code, "<#"):
			inHelp = true
		case strings.HasPrefix(code, "#>"):
			inHelp = false
			continue
		}
		if inHelp || strings.HasPrefix(code, "#") {
			continue
		}
		if strings.Contains(code, "throw ") && !strings.Contains(code, "Test-Sums") {
			if strings.Contains(code, "-Domain '") || strings.Contains(code, "-Ou '") || strings.Contains(code, "already exists and avdgen did not make it") {
				lastCheck = i
			}
		}
		if mutating.MatchString(code) && !strings.Contains(code, "ShouldProcess") && !strings.HasPrefix(code, "throw") && !strings.HasPrefix(code, "Write-Host") {
			if firstChange < 0 {
				firstChange = i
			}
			inside := false
			for _, sp := range stack {
				inside = inside || sp
			}
			if !inside {
				t.Errorf("line %d changes something outside ShouldProcess: %s", i+1, code)
			}
		}
		for _, c := range code {
			switch c {
			case '{':
				stack = append(stack, strings.Contains(code, "$PSCmdlet.ShouldProcess("))
			case '}':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			}
		}
	}
	if firstChange < 0 || lastCheck < 0 || lastCheck > firstChange {
		t.Errorf("checks (last at line %d) must all come before the first change (line %d)", lastCheck+1, firstChange+1)
	}
}

// The README's by-hand path links the GPO, prefers Import Settings over
// Restore, gives the single-VM copy, and tells a downloader to unblock.
func TestReadmeByHandPath(t *testing.T) {
	in := testInput(t)
	readme := string(find(t, build(t), "README.md").Data)
	for _, want := range []string{
		"Use **Import Settings**, not **Restore**",
		`"Link an Existing GPO..."`,
		"Never the domain or a container",
		"`Get-ChildItem -Recurse | Unblock-File`",
		"set the comment to\n   `" + Marker(in.Spec) + "`",
		`"GPO Status" to "User configuration settings`,
		"copy `sysvol-payload\\" + SourceFileName(in.Agents, dist.AMD64) + "` (or `" + SourceFileName(in.Agents, dist.ARM64) + "` on an Arm VM) to\n   `%ProgramFiles%\\avdgen\\" + AgentFileName(in.Agents) + "`",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README lacks %q", want)
		}
	}
}

// PowerShell's grammar (tree-sitter-powershell) accepts the script.
func TestImportScriptParses(t *testing.T) {
	dir := writeAll(t, build(t))
	out, ok := oracle.PSParse(t, filepath.Join(dir, "Import-AvdGpo.ps1"))
	if !ok || !strings.Contains(out, "ok ") {
		t.Errorf("ps-parse did not pass the script: %s", out)
	}
}
