// Package azureflags holds the flags `avdgen rbac apply` and `avdgen sweep`
// share: the host pool, the cloud, the endpoint override and credentials.
package azureflags

import (
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/armvm"
	"github.com/avdgen/avdgen/agent/azcred"
	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/agent/pool"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
)

// Flags are the raw values.
type Flags struct {
	Pool        pool.Ref
	Auth        string
	Cloud       string
	ARMEndpoint string
	Concurrency int
}

// Add registers the flags.
func Add(cmd *cobra.Command, f *Flags) {
	fs := cmd.Flags()
	fs.StringVar(&f.Pool.Subscription, "subscription", "", "subscription id of the host pool (required)")
	fs.StringVar(&f.Pool.ResourceGroup, "resource-group", "", "resource group of the host pool (required)")
	fs.StringVar(&f.Pool.HostPool, "host-pool", "", "host pool name (required)")
	fs.StringVar(&f.Auth, "auth", "default", "credential: default (the Azure SDK chain), cli, managed-identity, env, device-code")
	fs.StringVar(&f.Cloud, "cloud", "public", "Azure cloud: public, usgov, china")
	fs.StringVar(&f.ARMEndpoint, "arm-endpoint", "", "Resource Manager endpoint override (https, or http on loopback for tests)")
	fs.IntVar(&f.Concurrency, "concurrency", 8, "requests in flight at once (1-64)")
}

// Validate checks every flag before any request is made.
func (f *Flags) Validate() error {
	if err := f.Pool.Validate(); err != nil {
		return cmdutil.Usagef("%v", err)
	}
	if f.Concurrency < 1 || f.Concurrency > 64 {
		return cmdutil.Usagef("--concurrency %d: must be between 1 and 64", f.Concurrency)
	}
	if _, err := azure.CloudByName(f.Cloud); err != nil {
		return cmdutil.Usagef("%v", err)
	}
	if f.ARMEndpoint != "" {
		if _, err := azure.ParseARMOverride("--arm-endpoint", f.ARMEndpoint); err != nil {
			return cmdutil.Usagef("%v", err)
		}
	}
	for _, k := range azcred.AuthKinds {
		if k == f.Auth {
			return nil
		}
	}
	_, err := azcred.Credential(f.Auth, azure.Cloud{}, nil, nil)
	return cmdutil.Usagef("%v", err)
}

// Client builds the ARM client (after Validate).
func (f *Flags) Client(fac *cmdutil.Factory) (*armvm.Client, error) {
	cloud, _ := azure.CloudByName(f.Cloud)
	endpoint := ""
	if f.ARMEndpoint != "" {
		endpoint, _ = azure.ParseARMOverride("--arm-endpoint", f.ARMEndpoint)
	}
	hc := &http.Client{Transport: fac.Transport}
	var cred azcore.TokenCredential
	var err error
	if fac.Credential != nil {
		cred, err = fac.Credential(f.Auth, cloud)
	} else {
		cred, err = azcred.Credential(f.Auth, cloud, hc, func(msg string) { fmt.Fprintln(fac.IO.ErrOut, msg) })
	}
	if err != nil {
		return nil, fmt.Errorf("credential (--auth %s): %w", f.Auth, err)
	}
	return armvm.New(azure.ARM{Cloud: cloud, Endpoint: endpoint, HTTPClient: hc}, cred)
}
