package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/avdgen/avdgen/internal/depcheck"
)

// What runs as SYSTEM on every host is exactly what these tests allow: the
// agent's own packages and a short list of modules. Anything new fails here
// first, so it is added on purpose, with the reason beside it.

// agentTargets are the builds `make agents` ships.
var agentTargets = [][2]string{{"windows", "amd64"}, {"windows", "arm64"}}

// ownAllowed: avd-agent links agent/ (on-host code and the pieces it shares
// with avdgen: contract, azure, armclient), its own command and the version
// stamp; never fleet/ (admin-side operations), generator/, dist/ or a fake.
func ownAllowed(p string) bool {
	return strings.HasPrefix(p, "agent/") || p == "cmd/avd-agent" || strings.HasPrefix(p, "cmd/avd-agent/") || p == "cmd/internal/buildinfo"
}

// agentModules is the agent's dependency allowlist, transitive dependencies
// included. Not on it on purpose: azidentity and MSAL (the agent takes its
// token from IMDS itself; an SDK credential chain's Arc detection can be
// steered by a file a user writes), azblob, go-ldap, go-smb2, cobra, sprig.
var agentModules = map[string]string{
	"github.com/Azure/azure-sdk-for-go/sdk/azcore":   "ARM pipeline: retries, Retry-After, bearer policy",
	"github.com/Azure/azure-sdk-for-go/sdk/internal": "azcore's own internals",
	"golang.org/x/sys":  "Windows APIs: WTS sessions, event log, registry",
	"golang.org/x/net":  "azcore (http/httpguts, idna)",
	"golang.org/x/text": "golang.org/x/net/idna",
}

func TestAgentLinksNoAdminSideOrFakePackage(t *testing.T) {
	for _, tg := range agentTargets {
		l := depcheck.List(t, tg[0], tg[1], "cmd/avd-agent")
		for _, p := range l.Own {
			if depcheck.IsTestSupport(p) || !ownAllowed(p) {
				t.Errorf("%s: cmd/avd-agent links %s: the agent runs as SYSTEM on every host and links only agent/ (admin-side code lives in fleet/, fakes in internal/)", l.Target, p)
			}
		}
	}
}

func TestAgentDependencyAllowlist(t *testing.T) {
	for _, tg := range agentTargets {
		l := depcheck.List(t, tg[0], tg[1], "cmd/avd-agent")
		for _, m := range l.Modules {
			if _, ok := agentModules[m]; !ok {
				t.Errorf("%s: cmd/avd-agent links module %s, not on the agent's allowlist (cmd/avd-agent/deps_test.go): add it there only with the reason it must run as SYSTEM on every host", l.Target, m)
			}
		}
	}
}

// agent/ holds only what cmd/avd-agent links: a package there that the
// agent does not link belongs in fleet/ or internal/.
func TestAgentFolderHoldsOnlyWhatTheAgentLinks(t *testing.T) {
	l := depcheck.List(t, "windows", "amd64", "cmd/avd-agent")
	for _, p := range depcheck.Packages(t, "windows", "agent/...") {
		if !slices.Contains(l.Own, p) {
			t.Errorf("%s is under agent/ but cmd/avd-agent does not link it: move it to fleet/ (admin side) or internal/ (test support)", p)
		}
	}
}
