package main

import (
	"strings"
	"testing"

	"github.com/avdgen/avdgen/internal/depcheck"
)

// avdgenTargets are the builds `make dist` ships.
var avdgenTargets = [][2]string{{"linux", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}}

// sharedWithAgent are the only agent/ packages avdgen may link: the names
// and the exclusion tag rule both sides must agree on, the clouds and
// endpoints, and the ARM client rbac, pool and sweep share with the agent.
var sharedWithAgent = map[string]bool{"agent/contract": true, "agent/azure": true, "agent/armclient": true}

// avdgenDirect is avdgen's dependency allowlist: the modules whose packages
// avdgen's own code imports (their own dependencies come with them).
var avdgenDirect = map[string]string{
	"github.com/spf13/cobra":                               "CLI",
	"github.com/spf13/pflag":                               "cobra's flags (empty-value check)",
	"github.com/beevik/etree":                              "XML artifacts",
	"github.com/Masterminds/sprig/v3":                      "template functions",
	"go.yaml.in/yaml/v3":                                   "the spec file",
	"golang.org/x/term":                                    "password prompt of gpo publish",
	"github.com/Azure/azure-sdk-for-go/sdk/azcore":         "ARM and Graph pipelines",
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity":     "admin credentials (--auth)",
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob": "Intune content upload",
	"github.com/go-ldap/ldap/v3":                           "gpo publish: Active Directory",
	"github.com/cloudsoda/go-smb2":                         "gpo publish: SYSVOL",
	"github.com/jcmturner/gokrb5/v8":                       "gpo publish --auth kerberos: ticket cache and keytab (issue 16)",
	"github.com/google/go-containerregistry":               "sweep image: builds and pushes the OCI image without Docker (issue 18)",
	"github.com/google/uuid":                               "sweep deploy: the custom role's name-based (v5) GUID (issue 18)",
}

func TestAvdgenLinksNoFakeOrOnHostPackage(t *testing.T) {
	for _, tg := range avdgenTargets {
		l := depcheck.List(t, tg[0], tg[1], "cmd/avdgen")
		for _, p := range l.Own {
			switch {
			case depcheck.IsTestSupport(p):
				t.Errorf("%s: cmd/avdgen links %s, test support (a fake or a test helper)", l.Target, p)
			case strings.HasPrefix(p, "agent/") && !sharedWithAgent[p]:
				t.Errorf("%s: cmd/avdgen links the on-host package %s; avdgen may link only agent/contract, agent/azure and agent/armclient", l.Target, p)
			}
		}
	}
}

func TestAvdgenDependencyAllowlist(t *testing.T) {
	for _, tg := range avdgenTargets {
		l := depcheck.List(t, tg[0], tg[1], "cmd/avdgen")
		for _, m := range l.DirectModules {
			if _, ok := avdgenDirect[m]; !ok {
				t.Errorf("%s: avdgen's code imports module %s, not on avdgen's allowlist (cmd/avdgen/deps_test.go): add it there with the job it does (the brief: only the well-kept library for that job)", l.Target, m)
			}
		}
	}
}
