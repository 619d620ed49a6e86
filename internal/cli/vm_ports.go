package cli

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func (a *app) vmPortsCommand() *cobra.Command {
	var json bool
	cmd := &cobra.Command{
		Use:               "ports NAME",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "List the TCP ports a running VM listens on, with the endpoints that reach them",
		Args:              cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ports, err := cl.Ports(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, ports)
			}
			rows := make([][]string, 0, len(ports))
			for _, p := range ports {
				endpoint := p.Endpoint
				if endpoint == "" {
					endpoint = "(guest loopback only)"
				}
				rows = append(rows, []string{strconv.Itoa(p.Port), p.Proto, p.Address, endpoint})
			}
			return table(a.env.Stdout, []string{"PORT", "PROTO", "ADDRESS", "ENDPOINT"}, rows)
		},
	}
	cmd.Flags().BoolVar(&json, "json", false, "print JSON")
	return cmd
}

func (a *app) vmForwardCommand() *cobra.Command {
	var (
		list, json bool
		stop       int
		address    string
	)
	cmd := &cobra.Command{
		Use:               "forward NAME [[HOSTPORT:]GUESTPORT]",
		ValidArgsFunction: a.completeVMs(1),
		Short:             "Forward a host loopback port to a guest port while the VM runs",
		Long: "Forward a host loopback port to a guest TCP port for as long as the VM runs; the forward\n" +
			"survives daemon restarts and ends when the VM stops. Without HOSTPORT the host port is the\n" +
			"guest port; HOSTPORT 0 picks a free one. --list shows the VM's forwards, --stop ends one.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := btoi(list) + btoi(stop != 0) + btoi(len(args) == 2); n != 1 {
				return fmt.Errorf("give exactly one of: a [HOSTPORT:]GUESTPORT to forward, --list, or --stop HOSTPORT")
			}
			if _, err := netip.ParseAddr(address); err != nil {
				return fmt.Errorf("--address %q: want an IP address such as 127.0.0.1", address)
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ctx, name := cmd.Context(), args[0]
			switch {
			case list:
				fs, err := cl.Forwards(ctx, name)
				if err != nil {
					return err
				}
				if json {
					return writeJSON(a.env.Stdout, fs)
				}
				rows := make([][]string, 0, len(fs))
				for _, f := range fs {
					rows = append(rows, []string{f.HostAddr + ":" + strconv.Itoa(f.HostPort), strconv.Itoa(f.GuestPort)})
				}
				return table(a.env.Stdout, []string{"HOST", "GUEST PORT"}, rows)
			case stop != 0:
				if err := cl.StopForward(ctx, name, address, stop); err != nil {
					return err
				}
				fmt.Fprintf(a.env.Stdout, "stopped forwarding %s:%d\n", address, stop)
				return nil
			}
			req, err := parseForward(args[1])
			if err != nil {
				return err
			}
			req.HostAddr = address
			f, err := cl.Forward(ctx, name, req)
			if err != nil {
				return err
			}
			if json {
				return writeJSON(a.env.Stdout, f)
			}
			fmt.Fprintf(a.env.Stdout, "forwarding %s:%d -> %s:%d\n", f.HostAddr, f.HostPort, name, f.GuestPort)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&list, "list", false, "list the VM's forwards")
	f.IntVar(&stop, "stop", 0, "stop forwarding this host port")
	f.StringVar(&address, "address", "127.0.0.1", "host loopback address to listen on")
	f.BoolVar(&json, "json", false, "print JSON")
	return cmd
}

// parseForward reads [HOSTPORT:]GUESTPORT.
func parseForward(s string) (api.ForwardRequest, error) {
	hostS, guestS, both := strings.Cut(s, ":")
	if !both {
		guestS = hostS
	}
	guest, err := strconv.Atoi(guestS)
	if err != nil || guest < 1 || guest > 65535 {
		return api.ForwardRequest{}, fmt.Errorf("%q: want [HOSTPORT:]GUESTPORT with ports 1-65535 (HOSTPORT 0 picks a free one)", s)
	}
	host := guest
	if both {
		host, err = strconv.Atoi(hostS)
		if err != nil || host < 0 || host > 65535 {
			return api.ForwardRequest{}, fmt.Errorf("%q: want [HOSTPORT:]GUESTPORT with ports 1-65535 (HOSTPORT 0 picks a free one)", s)
		}
	}
	return api.ForwardRequest{HostPort: host, GuestPort: guest}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
