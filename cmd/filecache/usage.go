package main

import (
	"fmt"
	"strings"

	"github.com/filecache/filecache/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagSections are the groups of shared settings, in the order --help
// shows them after a command's own flags.
var flagSections = []struct {
	group config.Group
	title string
}{
	{config.GroupServer, "Server flags (serve only)"},
	{config.GroupCache, "Cache flags"},
	{config.GroupDatabase, "Database flags"},
	{config.GroupRedis, "Redis flags"},
}

// writeUsage is the usage of every command: cobra's layout, with the
// command's own flags first and the shared settings after them, one
// section per group.
func writeUsage(c *cobra.Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n  %s\n", c.UseLine())
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s [command]\n", c.CommandPath())
	}
	if c.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\nAvailable Commands:\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() || sub.Name() == "help" {
				fmt.Fprintf(&b, "  %-*s %s\n", c.NamePadding(), sub.Name(), sub.Short)
			}
		}
	}
	sections := map[config.Group]*pflag.FlagSet{}
	own := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	own.SortFlags = false
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		g := f.Annotations[config.GroupAnnotation]
		if len(g) == 0 || !isSection(config.Group(g[0])) {
			own.AddFlag(f)
			return
		}
		fs := sections[config.Group(g[0])]
		if fs == nil {
			fs = pflag.NewFlagSet(g[0], pflag.ContinueOnError)
			fs.SortFlags = false
			sections[config.Group(g[0])] = fs
		}
		fs.AddFlag(f)
	})
	if own.HasFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", own.FlagUsages())
	}
	for _, s := range flagSections {
		if fs := sections[s.group]; fs != nil {
			fmt.Fprintf(&b, "\n%s:\n%s", s.title, fs.FlagUsages())
		}
	}
	if c.HasAvailableInheritedFlags() {
		fmt.Fprintf(&b, "\nGlobal Flags:\n%s", c.InheritedFlags().FlagUsages())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nUse \"%s [command] --help\" for more information about a command.\n", c.CommandPath())
	}
	_, err := fmt.Fprint(c.OutOrStderr(), b.String())
	return err
}

func isSection(g config.Group) bool {
	for _, s := range flagSections {
		if s.group == g {
			return true
		}
	}
	return false
}
