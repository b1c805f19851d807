package app

import (
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
)

// commands lists avdgen's subcommands besides `version`, in help order.
func commands() []func(*cmdutil.Factory) *cobra.Command {
	return []func(*cmdutil.Factory) *cobra.Command{
		// one line per command package, e.g. gpo.New,
	}
}
