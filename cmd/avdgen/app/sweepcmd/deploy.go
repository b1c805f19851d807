package sweepcmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/cmd/avdgen/app/azureflags"
	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/fleet/sweepdeploy"
)

// DeployOptions are the options of `avdgen sweep deploy`.
type DeployOptions struct {
	Factory *cmdutil.Factory
	Azure   azureflags.Flags
	Deploy  sweepdeploy.Options
	Out     string
	Apply   bool
	Force   bool
}

// NewCmdDeploy builds `avdgen sweep deploy`.
func NewCmdDeploy(f *cmdutil.Factory) *cobra.Command {
	o := &DeployOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "deploy {--management-group MG | --subscription S} --resource-group RG --image REF [--location L] {--out DIR | --apply}",
		Short: "Write (and with --apply deploy) a scheduled Container Apps job that runs the tenant-wide sweep",
		Long: `Writes two ARM templates with their parameters into --out DIR:
  sweep-job.json   (resource group --resource-group in --subscription): a user-assigned identity, a Log
                   Analytics workspace, a Container Apps environment and a job that runs
                   'avdgen sweep --management-group MG --auth managed-identity' on --schedule (UTC cron);
  sweep-role.json  (at the sweep's scope): the custom role "avdgen tenant sweeper" (VM read, instance view,
                   deallocate; host pool, session host and scaling plan read) and its assignment to the identity.
The scope is --management-group, or else --subscription. --apply deploys both through ARM and waits
for them; a rerun with nothing changed sends nothing.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runDeploy(o) },
	}
	fs := cmd.Flags()
	azureflags.AddConnection(cmd, &o.Azure)
	fs.StringVar(&o.Deploy.ManagementGroup, "management-group", "", "management group `ID` the job sweeps (default: the --subscription)")
	fs.StringVar(&o.Deploy.Subscription, "subscription", "", "subscription `ID` of the job (and the scope without --management-group)")
	fs.StringVar(&o.Deploy.ResourceGroup, "resource-group", "", "resource group `NAME` of the job (created by --apply if missing)")
	fs.StringVar(&o.Deploy.Location, "location", "", "Azure `REGION` of the job (required with --apply)")
	fs.StringVar(&o.Deploy.Image, "image", "", "the avdgen image `REF` with a tag or digest (see 'avdgen sweep image')")
	fs.StringVar(&o.Deploy.Schedule, "schedule", sweepdeploy.DefaultSchedule, "`CRON` schedule of the job, UTC")
	fs.StringVar(&o.Deploy.Name, "name", "", "`PREFIX` of the resources' names (default avdgen-sweep)")
	fs.StringVar(&o.Out, "out", "", "`DIR` to write the templates and parameters into")
	fs.BoolVar(&o.Apply, "apply", false, "deploy through ARM and wait for the result")
	fs.BoolVar(&o.Force, "force", false, "overwrite files in --out that differ")
	return cmd
}

func runDeploy(o *DeployOptions) error {
	d := o.Deploy
	if d.ManagementGroup == "" {
		d.ScopeSubscription = d.Subscription
	}
	var errs []string
	if err := d.Validate(o.Apply); err != nil {
		errs = append(errs, err.Error())
	}
	if err := o.Azure.ValidateConnection(); err != nil {
		errs = append(errs, err.Error())
	}
	if o.Out == "" && !o.Apply {
		errs = append(errs, "give --out DIR to write the templates, --apply to deploy them, or both")
	}
	if len(errs) > 0 {
		return cmdutil.Usagef("%s", strings.Join(errs, "; "))
	}
	files, err := d.Render()
	if err != nil {
		return err
	}
	out := o.Factory.IO.Out
	if o.Out != "" {
		if err := writeFiles(o.Out, files, o.Force, func(name, what string) { fmt.Fprintf(out, "%s %s\n", what, filepath.Join(o.Out, name)) }); err != nil {
			return err
		}
	}
	if !o.Apply {
		fmt.Fprintf(out, "deploy: az deployment group create -g %s --subscription %s -f %s -p @%s, then deploy %s at %s with principalId = its output (or rerun with --apply)\n",
			d.ResourceGroup, d.Subscription, filepath.Join(o.Out, "sweep-job.json"), filepath.Join(o.Out, "sweep-job.parameters.json"), filepath.Join(o.Out, "sweep-role.json"), d.Scope())
		return nil
	}
	c, err := o.Azure.Client(o.Factory)
	if err != nil {
		return err
	}
	sleep := o.Factory.Sleep
	if sleep == nil {
		sleep = azure.SleepContext
	}
	res, err := sweepdeploy.Apply(context.Background(), c, d, sleep)
	for _, s := range res.Steps {
		fmt.Fprintf(out, "%s: %s\n", s.What, s.Action)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d change(s); the job runs as principal %s with role %q at %s\n", res.Writes, res.PrincipalID, sweepdeploy.RoleName, d.Scope())
	return nil
}

// writeFiles writes each file aside and renames it into place; a file with
// the same bytes is left alone, one that differs only with force. Every
// conflict is found before anything is written.
func writeFiles(dir string, files []sweepdeploy.File, force bool, report func(name, what string)) error {
	var todo []sweepdeploy.File
	for _, f := range files {
		old, err := os.ReadFile(filepath.Join(dir, f.Name))
		switch {
		case err == nil && bytes.Equal(old, f.Data):
			report(f.Name, "unchanged")
		case err == nil && !force:
			return cmdutil.Usagef("%s exists and differs: pass --force to overwrite it", filepath.Join(dir, f.Name))
		case err != nil && !os.IsNotExist(err):
			return err
		default:
			todo = append(todo, f)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range todo {
		tmp, err := os.CreateTemp(dir, "."+f.Name+".*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(f.Data)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), 0o644)
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, f.Name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("writing %s: %w", f.Name, err)
		}
		report(f.Name, "wrote")
	}
	return nil
}
