// Package bundlecmd is what `avdgen gpo` and `avdgen intune` share once
// their files are rendered: the manifest, --dry-run, --json and the safe
// write into --out.
package bundlecmd

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/cmd/internal/buildinfo"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/bundle"
	"github.com/avdgen/avdgen/generator/spec"
)

// Options common to bundle commands.
type Options struct {
	Out      string
	Force    bool
	DryRun   bool
	JSON     bool
	AgentDir string
	// FS is where the bundle is written; nil is the real file system
	// (tests inject failures).
	FS bundle.FS
}

// AddFlags registers --out, --force, --dry-run, --json and --agent-dir.
func AddFlags(cmd *cobra.Command, o *Options) {
	cmd.Flags().StringVar(&o.Out, "out", "", "`DIR` to write the bundle into (required; must be new, empty, or hold a previous avdgen bundle with --force)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace a previous avdgen bundle in --out, as a whole, once the new one is complete")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be written and write nothing")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print avdgen-manifest.json to stdout")
	cmd.Flags().StringVar(&o.AgentDir, "agent-dir", "", "bundle avd-agent-amd64.exe and avd-agent-arm64.exe from `DIR` (e.g. after signing them) instead of the built-in ones")
}

// Agents returns the agents to bundle: --agent-dir, or the built-in ones.
func (o Options) Agents(f *cmdutil.Factory) (dist.Agents, error) {
	if o.AgentDir != "" {
		ag, err := dist.FromDir(o.AgentDir)
		if err != nil {
			return ag, cmdutil.Usagef("--agent-dir: %v", err)
		}
		return ag, nil
	}
	return f.Agents()
}

// DefaultTime is the time stamped into bundles when SOURCE_DATE_EPOCH is
// not set, so the same spec always gives the same bytes.
var DefaultTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Time reads SOURCE_DATE_EPOCH (reproducible-builds.org), else DefaultTime.
func Time(getenv func(string) string) (time.Time, error) {
	v := strings.TrimSpace(getenv("SOURCE_DATE_EPOCH"))
	if v == "" {
		return DefaultTime, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, cmdutil.Usagef("SOURCE_DATE_EPOCH %q: want seconds since 1970 (a non-negative integer)", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Inputs checks --out and resolves the spec, the bundle time and the
// agents: everything a bundle command needs before it renders.
func (o Options) Inputs(f *cmdutil.Factory, flags *specflags.Flags, needDomain bool) (spec.Spec, dist.Agents, time.Time, error) {
	if o.Out == "" {
		return spec.Spec{}, dist.Agents{}, time.Time{}, cmdutil.Usagef("--out is required: the folder to write the bundle into")
	}
	s, err := flags.Resolve(needDomain, f.IO.ErrOut)
	if err != nil {
		return s, dist.Agents{}, time.Time{}, &cmdutil.UsageError{Err: err}
	}
	if s.Limits.DisconnectedStay() && s.Limits.EndsSessions() {
		// Accepted (end-session with an idle or active limit), but a user who
		// disconnects rather than idles stays signed in.
		fmt.Fprintln(f.IO.ErrOut, "avdgen: warning: no finite disconnected limit: the idle and active limits end only connected sessions, so a user who disconnects stays signed in and the VM keeps running; add --disconnected (e.g. 15m) to log disconnected users off too")
	}
	at, err := Time(f.Getenv)
	if err != nil {
		return s, dist.Agents{}, at, err
	}
	agents, err := o.Agents(f)
	return s, agents, at, err
}

// Emit adds the manifest, then lists (--dry-run) or writes the files.
func Emit(io *cmdutil.IOStreams, o Options, command, hostPool string, files []bundle.File, next string) error {
	all, m, err := bundle.Build(files, command, "avdgen "+buildinfo.Version, hostPool)
	if err != nil {
		return err
	}
	if o.DryRun {
		p, err := bundle.Plan(o.Out, all, bundle.WriteOptions{Force: o.Force})
		if err != nil {
			return writeError(err)
		}
		if o.JSON {
			return writeJSON(io.Out, m)
		}
		if p.Unchanged {
			fmt.Fprintf(io.Out, "dry run: %s already holds this bundle, byte for byte; nothing would be written\n", o.Out)
			return nil
		}
		fmt.Fprintf(io.Out, "dry run: would write %d files into %s\n", len(all), o.Out)
		for _, f := range all {
			fmt.Fprintf(io.Out, "  %-12s %10d  %s\n", f.Kind, f.Len(), f.Path)
		}
		return nil
	}
	res, err := bundle.Write(o.Out, all, bundle.WriteOptions{Force: o.Force, FS: o.FS})
	for _, w := range res.Warnings {
		fmt.Fprintf(io.ErrOut, "avdgen: warning: %s\n", w)
	}
	if err != nil {
		return writeError(err)
	}
	if o.JSON {
		return writeJSON(io.Out, m)
	}
	if res.Unchanged {
		fmt.Fprintf(io.Out, "unchanged: %s already holds this bundle, byte for byte; nothing written\n", o.Out)
		return nil
	}
	fmt.Fprintf(io.Out, "wrote %d files into %s\n%s", len(all), o.Out, next)
	return nil
}

// writeError makes a refusal (the folder is not ours, not empty without
// --force) a usage error, and anything else (a full disk, no permission) a
// runtime failure.
func writeError(err error) error {
	var refused *bundle.RefusedError
	if errors.As(err, &refused) {
		return &cmdutil.UsageError{Err: err}
	}
	return err
}

func writeJSON(w io.Writer, m bundle.Manifest) error {
	b, err := m.JSON()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
