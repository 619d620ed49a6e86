package main

import (
	"os"
)

// vmm is the fake VMM's state: what has been configured and whether the
// guest "runs". It is not safe for concurrent use: the API server
// serialises requests, as Firecracker's single VMM thread does.
type vmm struct {
	id               string
	version          string
	log              *logger
	metrics          *metrics
	console          *console
	ignoreCtrlAltDel bool
	requestExit      func() // asks the process to exit (guest reset)
	opened           *openLog

	started bool
	// bootPath: a boot-specific resource was configured, so a snapshot
	// can no longer be loaded.
	bootPath bool
	paused   bool // the vCPUs are paused (PATCH /vm)
	// pendingCtrlAltDel: the keys were pressed while paused; the guest
	// acts on them when resumed.
	pendingCtrlAltDel bool
	machine           machineConfig
	boot              *bootSource
	drives            []drive // the root device, if any, first
	nets              []netIface
	vsock             *vsockDevice
}

func errPostBoot() error {
	return faultf("The requested operation is not supported after starting the microVM.")
}

func errPreBoot() error {
	return faultf("The requested operation is not supported before starting the microVM.")
}

func (v *vmm) putMachineConfig(body []byte) error {
	c, err := decodeMachineConfig(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.HugePages != "None" && v.boot != nil && v.boot.InitrdPath != nil {
		return faultf("Machine config error: Firecracker's huge pages support is incompatible with initrds.")
	}
	v.machine = c
	return nil
}

// defaultCmdline is Firecracker's kernel command line when boot_args is
// not given.
const defaultCmdline = "reboot=k panic=1 pci=off nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd"

func (v *vmm) putBootSource(body []byte) error {
	b, err := decodeBootSource(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	if b.InitrdPath != nil && v.machine.HugePages != "None" {
		return faultf("Boot source error: Firecracker's huge pages support is incompatible with initrds.")
	}
	if err := checkOpen(b.KernelImagePath, os.O_RDONLY); err != nil {
		return faultf("Boot source error: The kernel file cannot be opened: %s", osError(err))
	}
	if b.InitrdPath != nil {
		if err := checkOpen(*b.InitrdPath, os.O_RDONLY); err != nil {
			return faultf("Boot source error: The initrd file cannot be opened due to invalid path or invalid permissions. %s", osError(err))
		}
	}
	args := defaultCmdline
	if b.BootArgs != nil {
		args = *b.BootArgs
	}
	if err := checkCmdline(args); err != nil {
		return err
	}
	v.boot = &b
	return nil
}

func (v *vmm) putDrive(id string, body []byte) error {
	if err := checkedID(id); err != nil {
		return err
	}
	d, err := decodeDrive(body)
	if err != nil {
		return err
	}
	if d.DriveID != id {
		return faultf("The id from the path does not match the id from the body!")
	}
	if v.started {
		return errPostBoot()
	}
	pos := -1
	for i, existing := range v.drives {
		if existing.DriveID == d.DriveID {
			pos = i
		}
	}
	hasRoot := len(v.drives) > 0 && v.drives[0].IsRootDevice
	if d.IsRootDevice && hasRoot && pos != 0 {
		return faultf("Drive config error: A root block device already exists!")
	}
	flag := os.O_RDWR
	if d.IsReadOnly {
		flag = os.O_RDONLY
	}
	if err := v.openDrive(d.PathOnHost, flag); err != nil {
		return faultf("Drive config error: Unable to create the virtio block device: VirtioBackend(BackingFile(%s, %q))", osError(err), d.PathOnHost)
	}
	// BlockBuilder::insert: a new root goes first, others last; an update
	// replaces in place and a device that becomes root moves to the front.
	switch {
	case pos < 0 && d.IsRootDevice:
		v.drives = append([]drive{d}, v.drives...)
	case pos < 0:
		v.drives = append(v.drives, d)
	default:
		v.drives[pos] = d
		if pos != 0 && d.IsRootDevice {
			v.drives[0], v.drives[pos] = v.drives[pos], v.drives[0]
		}
	}
	return nil
}

func (v *vmm) putNetworkInterface(id string, body []byte) error {
	if err := checkedID(id); err != nil {
		return err
	}
	n, err := decodeNetIface(body)
	if err != nil {
		return err
	}
	if n.IfaceID != id {
		return faultf("The id from the path [%s] does not match the id from the body [%s]!", id, n.IfaceID)
	}
	if v.started {
		return errPostBoot()
	}
	for _, existing := range v.nets {
		if n.GuestMAC != nil && existing.GuestMAC != nil && *existing.GuestMAC == *n.GuestMAC && existing.IfaceID != n.IfaceID {
			return faultf("Net device error: The MAC address is already in use: %s", *n.GuestMAC)
		}
	}
	if err := checkTap(n.HostDevName); err != nil {
		return err
	}
	// NetBuilder::build: an update swap-removes the old entry, then the
	// new one is appended.
	for i, existing := range v.nets {
		if existing.IfaceID == n.IfaceID {
			last := len(v.nets) - 1
			v.nets[i] = v.nets[last]
			v.nets = v.nets[:last]
			break
		}
	}
	v.nets = append(v.nets, n)
	return nil
}

func (v *vmm) putVsock(body []byte) error {
	c, err := decodeVsock(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	if c.GuestCID < 3 {
		return faultf("Vsock config error: guest_cid %d is invalid: CIDs 0-2 are reserved, use 3 or more", c.GuestCID)
	}
	if old := v.vsock; old != nil {
		v.vsock = nil
		old.close()
		if err := os.Remove(old.cfg.UDSPath); err != nil {
			return faultf("Vsock config error: Cannot create backend for vsock device: UnixBind(%s)", osError(err))
		}
	}
	dev, err := bindVsock(c, v.log)
	if err != nil {
		return err
	}
	v.vsock = dev
	return nil
}

func (v *vmm) putLogger(body []byte) error {
	c, err := decodeLogger(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	return v.log.update(c)
}

func (v *vmm) putMetrics(body []byte) error {
	path, err := decodeMetrics(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	return v.metrics.init(path)
}

// instanceInfo is the body of GET /.
type instanceInfo struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	VMMVersion string `json:"vmm_version"`
	AppName    string `json:"app_name"`
}

func (v *vmm) instanceInfo() instanceInfo {
	state := "Not started"
	if v.started {
		state = "Running"
	}
	if v.paused {
		state = "Paused"
	}
	return instanceInfo{ID: v.id, State: state, VMMVersion: v.version, AppName: "Firecracker"}
}

// fullConfig is the body of GET /vm/config. Firecracker reports logger
// and metrics as null whether or not they are configured.
type fullConfig struct {
	Balloon           any           `json:"balloon"`
	Drives            []drive       `json:"drives"`
	BootSource        bootSource    `json:"boot-source"`
	CPUConfig         any           `json:"cpu-config"`
	Logger            any           `json:"logger"`
	MachineConfig     machineConfig `json:"machine-config"`
	Metrics           any           `json:"metrics"`
	MMDSConfig        any           `json:"mmds-config"`
	NetworkInterfaces []netIface    `json:"network-interfaces"`
	Vsock             *vsockConfig  `json:"vsock"`
	Entropy           any           `json:"entropy"`
}

func (v *vmm) fullConfig() fullConfig {
	c := fullConfig{
		Drives:            append([]drive{}, v.drives...),
		MachineConfig:     v.machine,
		NetworkInterfaces: append([]netIface{}, v.nets...),
	}
	if v.boot != nil {
		c.BootSource = *v.boot
	}
	if v.vsock != nil {
		cfg := v.vsock.cfg
		c.Vsock = &cfg
	}
	return c
}

// close releases what the VMM holds when the process exits. It may be
// called more than once.
func (v *vmm) close() {
	if v.vsock != nil {
		v.vsock.close()
		v.vsock = nil
	}
	v.metrics.close()
	v.log.close()
}

// openDrive opens a drive's backing file as Firecracker does (checkOpen),
// relative paths against the working directory, and logs the file it
// reached to FAKEFC_OPENED.
func (v *vmm) openDrive(path string, flag int) error {
	reached, err := openReached(path, flag)
	if err != nil {
		return err
	}
	if err := v.opened.add(path, reached); err != nil {
		return faultf("fakefc: %v", err)
	}
	return nil
}
