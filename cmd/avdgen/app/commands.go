package app

import (
	"github.com/spf13/cobra"

	"github.com/avdgen/avdgen/cmd/avdgen/app/cmdutil"
	"github.com/avdgen/avdgen/cmd/avdgen/app/gpocmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/initcmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/intunecmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/rbaccmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/reportcmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/sweepcmd"
	"github.com/avdgen/avdgen/cmd/avdgen/app/versioncmd"
)

// commands lists every avdgen subcommand: the one place a command is
// registered (help sorts them by name).
func commands() []func(*cmdutil.Factory) *cobra.Command {
	return []func(*cmdutil.Factory) *cobra.Command{
		initcmd.New,
		gpocmd.New,
		intunecmd.New,
		rbaccmd.New,
		sweepcmd.New,
		reportcmd.New,
		versioncmd.New,
	}
}
