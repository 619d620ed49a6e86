package cli

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/client"
)

// completeTimeout bounds how long a shell completion waits for bangerd.
const completeTimeout = 2 * time.Second

// completeFunc is a cobra ValidArgsFunction.
type completeFunc = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective)

// lister returns the names a completion offers, from a running daemon.
type lister func(ctx context.Context, cl *client.Client) ([]string, error)

func listVMNames(ctx context.Context, cl *client.Client) ([]string, error) {
	vms, err := cl.ListVMs(ctx)
	names := make([]string, 0, len(vms))
	for _, v := range vms {
		names = append(names, v.Name)
	}
	return names, err
}

func listImageNames(ctx context.Context, cl *client.Client) ([]string, error) {
	imgs, err := cl.ListImages(ctx)
	names := make([]string, 0, len(imgs))
	for _, i := range imgs {
		names = append(names, i.Name)
	}
	return names, err
}

func listKernelNames(ctx context.Context, cl *client.Client) ([]string, error) {
	ks, err := cl.ListKernels(ctx)
	names := make([]string, 0, len(ks))
	for _, k := range ks {
		names = append(names, k.Name)
	}
	return names, err
}

// completeVMs completes VM names for the first n arguments, or for every
// argument when n < 0 (names already given are not offered again).
func (a *app) completeVMs(n int) completeFunc { return a.completeNames(n, listVMNames) }

// completeNames completes the names list returns for the first n
// arguments (every argument when n < 0), and nothing (not files) after.
func (a *app) completeNames(n int, list lister) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if n >= 0 && len(args) >= n {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, name := range a.names(cmd, list) {
			if strings.HasPrefix(name, toComplete) && !slices.Contains(args, name) {
				out = append(out, name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeCpEnd completes an end of vm cp: "NAME:" for the VMs whose
// name starts with what was typed, and host files otherwise.
func (a *app) completeCpEnd(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) >= 2 || strings.ContainsAny(toComplete, ":/") || strings.HasPrefix(toComplete, ".") || strings.HasPrefix(toComplete, "~") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	var out []cobra.Completion
	for _, name := range a.names(cmd, listVMNames) {
		if strings.HasPrefix(name, toComplete) {
			out = append(out, name+":")
		}
	}
	if len(out) == 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return out, cobra.ShellCompDirectiveNoSpace
}

// names asks a running daemon for names, quietly returning none when no
// daemon answers: completion never starts bangerd, and never prints.
func (a *app) names(cmd *cobra.Command, list lister) []string {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	cl, _, err := a.connect(ctx)
	if err != nil {
		return nil
	}
	names, err := list(ctx, cl)
	if err != nil {
		return nil
	}
	slices.Sort(names)
	return names
}

// completeVMThenDir completes a VM name, then a host directory.
func (a *app) completeVMThenDir(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0:
		return a.completeVMs(1)(cmd, args, toComplete)
	case 1:
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}
