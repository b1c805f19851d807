package sweepdeploy

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaBase = "https://schema.management.azure.com/schemas/"

// compiler loads Azure's published ARM schemas from testdata/schemas (see
// testdata/PROVENANCE.md) under their own URLs: nothing is fetched.
func compiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.UseLoader(refuseLoader{t})
	root := "testdata/schemas"
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		return c.AddResource(schemaBase+filepath.ToSlash(rel), doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type refuseLoader struct{ t *testing.T }

func (l refuseLoader) Load(url string) (any, error) {
	l.t.Fatalf("schema %s is not in testdata/schemas", url)
	return nil, nil
}

func validate(t *testing.T, c *jsonschema.Compiler, schemaURL string, data []byte) error {
	t.Helper()
	sch, err := c.Compile(strings.TrimSuffix(schemaURL, "#"))
	if err != nil {
		t.Fatalf("compiling %s: %v", schemaURL, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(doc)
}

func testOptions() Options {
	return Options{ManagementGroup: "mg-avd", Subscription: "00000000-1111-2222-3333-444444444444", ResourceGroup: "rg-avdgen-sweep",
		Location: "westeurope", Image: "contoso.azurecr.io/avdgen:1.4.0", Schedule: DefaultSchedule}
}

// Every file `sweep deploy` writes is valid against Azure's published
// schemas, for both kinds of scope.
func TestTemplatesAreSchemaValid(t *testing.T) {
	c := compiler(t)
	for _, o := range []Options{testOptions(), func() Options {
		o := testOptions()
		o.ManagementGroup, o.ScopeSubscription, o.Location = "", "00000000-1111-2222-3333-444444444444", ""
		return o
	}()} {
		files, err := o.Render()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			var head struct {
				Schema string `json:"$schema"`
			}
			json.Unmarshal(f.Data, &head)
			if err := validate(t, c, head.Schema, f.Data); err != nil {
				t.Errorf("%s (scope %s) is not valid against %s:\n%v", f.Name, o.Scope(), head.Schema, err)
			}
		}
	}
}

// The schemas do catch mistakes: each of these breaks the job template.
func TestSchemaRejectsBrokenTemplates(t *testing.T) {
	c := compiler(t)
	o := testOptions()
	for name, mutate := range map[string]func(map[string]any){
		"job without triggerType": func(tpl map[string]any) {
			job := tpl["resources"].([]any)[3].(map[string]any)
			delete(job["properties"].(map[string]any)["configuration"].(map[string]any), "triggerType")
		},
		"unknown api-version": func(tpl map[string]any) {
			tpl["resources"].([]any)[3].(map[string]any)["apiVersion"] = "2099-01-01"
		},
		"misspelled type": func(tpl map[string]any) {
			tpl["resources"].([]any)[0].(map[string]any)["type"] = "Microsoft.ManagedIdentity/userAssignedIdentity"
		},
		"bad contentVersion": func(tpl map[string]any) { tpl["contentVersion"] = "1.0" },
	} {
		b, _ := json.Marshal(o.JobTemplate())
		var tpl map[string]any
		json.Unmarshal(b, &tpl)
		mutate(tpl)
		b, _ = json.Marshal(tpl)
		if err := validate(t, c, ResourceGroupSchema, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
