// Package initcmd implements `avdgen init`.
package initcmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/specflags"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/generator/textrender"
)

// Options of `avdgen init`.
type Options struct {
	IO    *cmdutil.IOStreams
	Out   string
	Force bool
}

// NewCmdInit builds the command; runF replaces the run function in tests.
func NewCmdInit(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "init [--out avdgen.yaml]",
		Short: "Write a commented avdgen.yaml to start from",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "avdgen.yaml", "`FILE` to write")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite an existing file")
	return cmd
}

// New is the registration hook for commands.go.
func New(f *cmdutil.Factory) *cobra.Command { return NewCmdInit(f, nil) }

func run(opts *Options) error {
	allowed := make([]string, len(spec.AllowedLimits))
	for i, ms := range spec.AllowedLimits {
		allowed[i] = spec.FormatMs(ms)
	}
	b, err := textrender.Render("avdgen.yaml.tmpl", map[string]any{"Allowed": allowed, "Defaults": spec.Spec{}.WithDefaults()})
	if err != nil {
		return err
	}
	// Validate what we ship: the template must decode strictly.
	if _, err := spec.Decode(opts.Out, b); err != nil {
		return fmt.Errorf("internal error: the avdgen.yaml template does not decode: %w", err)
	}
	if _, err := os.Stat(opts.Out); err == nil && !opts.Force {
		return cmdutil.Usagef("%s exists; pass --force to overwrite it", opts.Out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(opts.Out, b, 0o644); err != nil {
		return err
	}
	if filepath.Clean(opts.Out) == specflags.DefaultConfig {
		// gpo and intune read ./avdgen.yaml when --config is not given.
		fmt.Fprintf(opts.IO.Out, "wrote %s; edit it, then run: avdgen gpo --out <dir>  (or avdgen intune --out <dir>; both read ./%s)\n", opts.Out, specflags.DefaultConfig)
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "wrote %s; edit it, then run: avdgen gpo --config %s --out <dir>  (or avdgen intune)\n", opts.Out, opts.Out)
	return nil
}
