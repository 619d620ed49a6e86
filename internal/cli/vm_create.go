package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

// createFlags are the VM shape flags of vm create and vm run.
type createFlags struct {
	image        string
	vcpus        int
	memory, disk string
	nat, offline bool
	netGroup     string
	fromSnapshot string
	vcpuSet      func() bool
}

func (c *createFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.image, "image", "", "image to boot: a name, or a registry reference (alpine:3.20) pulled on first use (default: vm.image from the config)")
	f.IntVar(&c.vcpus, "vcpu", 0, "number of virtual CPUs (default: vm.vcpus from the config)")
	f.StringVar(&c.memory, "memory", "", "guest memory, e.g. 512MiB or 2G (default: vm.memory from the config)")
	f.StringVar(&c.disk, "disk-size", "", "work disk size, e.g. 8G (default: vm.disk_size from the config)")
	f.BoolVar(&c.nat, "nat", false, "let the VM reach outside networks (default: network.nat from the config)")
	f.BoolVar(&c.offline, "offline", false, "keep the VM off outside networks: it reaches only banger's DNS and its net group")
	f.StringVar(&c.netGroup, "net-group", "", "VMs in the same group may reach each other (default: none, VMs are isolated)")
	f.StringVar(&c.fromSnapshot, "from-snapshot", "", "make the VM from a snapshot (banger snapshot list): it resumes the saved guest, with the snapshot's image, vCPUs, memory and disks, instead of booting")
	c.vcpuSet = func() bool { return f.Changed("vcpu") }
}

// request checks the flags and turns them into a create request.
func (c *createFlags) request() (api.CreateVMRequest, error) {
	req := api.CreateVMRequest{Image: c.image, VCPUs: c.vcpus, NetGroup: c.netGroup, FromSnapshot: c.fromSnapshot}
	if c.fromSnapshot != "" && (c.image != "" || c.vcpuSet() || c.memory != "" || c.disk != "") {
		return req, fmt.Errorf("--from-snapshot makes a VM with the snapshot's image, vCPUs, memory and disks: leave out --image, --vcpu, --memory and --disk-size")
	}
	switch {
	case c.nat && c.offline:
		return req, fmt.Errorf("--nat and --offline contradict each other: pick one")
	case c.nat:
		req.NAT = &c.nat
	case c.offline:
		no := false
		req.NAT = &no
	}
	if c.vcpuSet() && c.vcpus <= 0 {
		return req, fmt.Errorf("--vcpu %d: must be at least 1", c.vcpus)
	}
	if c.memory != "" {
		n, err := bytesize.Parse(c.memory)
		if err != nil {
			return req, fmt.Errorf("--memory: %w", err)
		}
		if n%(1<<20) != 0 || n <= 0 {
			return req, fmt.Errorf("--memory %s: must be a positive whole number of MiB", c.memory)
		}
		req.MemoryMiB = int(n >> 20)
	}
	if c.disk != "" {
		n, err := bytesize.Parse(c.disk)
		if err != nil {
			return req, fmt.Errorf("--disk-size: %w", err)
		}
		if n <= 0 {
			return req, fmt.Errorf("--disk-size %s: must be positive", c.disk)
		}
		req.DiskBytes = n
	}
	return req, nil
}

func (a *app) vmCreateCommand() *cobra.Command {
	var (
		c           createFlags
		start, json bool
	)
	cmd := &cobra.Command{
		Use:   "create [NAME...]",
		Short: "Create VMs (a readable name is generated when none is given)",
		Long: "Create VMs from an image. Each VM gets its own copy of the image's root disk and its own\n" +
			"work disk. With several names the VMs are created concurrently. --image takes an image's\n" +
			"name or a registry reference (debian:12, ghcr.io/owner/image:tag), pulled once with its\n" +
			"progress on first use as vm run does.\n\n" +
			"With --from-snapshot SNAPSHOT each VM is made from the snapshot instead: its disks are\n" +
			"copy-on-write clones of the snapshot's and it resumes the saved guest rather than booting,\n" +
			"so it is running when created.",
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := c.request()
			if err != nil {
				return err
			}
			req.Start = start || req.FromSnapshot != ""
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			// A registry reference is pulled once, before the creates,
			// as vm run does; a name is left to the daemon.
			if isImageRef(req.Image) {
				if req.Image, err = a.ensureImageName(cmd.Context(), cl, req.Image); err != nil {
					return err
				}
			}
			names := args
			if len(names) == 0 {
				names = []string{""}
			}
			pr := a.vmView(len(names) > 1)
			defer pr.finish(false)
			var (
				mu      sync.Mutex
				created []api.VM
			)
			err = a.forEach(cmd.Context(), "create", names, func(ctx context.Context, name string) error {
				r := req
				r.Name = name
				v, err := cl.CreateVM(ctx, r, pr.forVM(name))
				if err != nil {
					return err
				}
				if len(names) == 1 {
					pr.finish(true)
				}
				mu.Lock()
				defer mu.Unlock()
				if json {
					created = append(created, v)
					return nil
				}
				// One line per VM, whole, whatever Stdout is.
				fmt.Fprintf(a.env.Stdout, "created %s (%s)\n", v.Name, v.State)
				return nil
			})
			if json && len(created) > 0 {
				if jerr := writeJSON(a.env.Stdout, created); jerr != nil {
					return jerr
				}
			}
			return err
		},
	}
	c.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&start, "start", false, "start the VMs once created")
	f.BoolVar(&json, "json", false, "print the created VMs as JSON")
	return cmd
}
