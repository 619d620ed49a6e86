package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/bytesize"
)

func (a *app) imageWarmCommand() *cobra.Command {
	var (
		c    createFlags
		json bool
	)
	cmd := &cobra.Command{
		Use:               "warm IMAGE [--vcpu N] [--memory SIZE] [--disk-size SIZE]",
		ValidArgsFunction: a.completeNames(1, listImageNames),
		Short:             "Make the warm snapshot vm run resumes instead of booting, for an image and a VM shape",
		Long: "Boot a VM of IMAGE in the given shape (the config's defaults for what is not given), wait\n" +
			"for its guest agent, snapshot it and delete it: the warm snapshot. vm run with the same\n" +
			"image and shape then resumes a copy of it instead of booting (unless --cold or\n" +
			"vm.warm_start = false). Nothing is done when a warm snapshot of the current image and\n" +
			"kernel files in that shape exists; an older one of the image (the image or its kernel\n" +
			"changed since) is removed. vm run makes the warm snapshot by itself, in the background\n" +
			"after its first cold boot; this command makes it ahead.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := c.request()
			if err != nil {
				return err
			}
			cl, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			pr := a.vmView(false)
			defer pr.finish(false)
			got, err := cl.WarmImage(cmd.Context(), args[0], api.WarmImageRequest{VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, DiskBytes: req.DiskBytes}, pr.forVM(""))
			if err != nil {
				return err
			}
			pr.finish(true)
			if json {
				return writeJSON(a.env.Stdout, got)
			}
			sn := got.Snapshot
			verb := "made"
			if !got.Made {
				verb = "already had"
			}
			fmt.Fprintf(a.env.Stdout, "%s warm snapshot %s of image %s (%d vCPU, %s memory, %s work disk; %s)\n",
				verb, sn.Name, sn.Image, sn.VCPUs, bytesize.Format(int64(sn.MemoryMiB)<<20), bytesize.Format(sn.DiskBytes), bytesize.Format(sn.SizeBytes))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&c.vcpus, "vcpu", 0, "number of virtual CPUs (default: vm.vcpus from the config)")
	f.StringVar(&c.memory, "memory", "", "guest memory, e.g. 512MiB or 2G (default: vm.memory from the config)")
	f.StringVar(&c.disk, "disk-size", "", "work disk size, e.g. 8G (default: vm.disk_size from the config)")
	f.BoolVar(&json, "json", false, "print JSON")
	c.vcpuSet = func() bool { return f.Changed("vcpu") }
	return cmd
}
