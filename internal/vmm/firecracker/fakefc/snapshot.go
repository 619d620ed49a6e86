package main

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
)

// snapshotMagic marks a state file the fake wrote. Firecracker's state
// files are its own binary format; the fake only ever loads its own.
const snapshotMagic = "fakefc-snapshot-v1"

// snapshotState is what the fake saves to snapshot_path: the devices a
// restored microVM gets back, as Firecracker's MicrovmState does.
type snapshotState struct {
	Magic   string        `json:"magic"`
	Machine machineConfig `json:"machine"`
	Drives  []drive       `json:"drives"`
	Nets    []netIface    `json:"nets"`
	Vsock   *vsockConfig  `json:"vsock"`
}

// createSnapshotParams is the body of PUT /snapshot/create.
type createSnapshotParams struct {
	MemFilePath  string
	SnapshotPath string
	SnapshotType string
}

func decodeCreateSnapshot(body []byte) (createSnapshotParams, error) {
	p := createSnapshotParams{SnapshotType: "Full"}
	var version *string
	err := decodeObject(body,
		required("mem_file_path", &p.MemFilePath),
		required("snapshot_path", &p.SnapshotPath),
		defaulted("snapshot_type", &p.SnapshotType),
		optional("version", &version),
	)
	if err != nil {
		return p, err
	}
	return p, enumValue(p.SnapshotType, "Full", "Diff")
}

// loadSnapshotParams is the body of PUT /snapshot/load.
type loadSnapshotParams struct {
	SnapshotPath string
	MemPath      string
	ResumeVM     bool
	// NetworkOverrides give saved network interfaces (by iface_id) a new
	// host tap; VsockOverride a new host socket path for the vsock device.
	NetworkOverrides []networkOverride
	VsockOverride    *string
}

// networkOverride is one entry of network_overrides.
type networkOverride struct {
	IfaceID     string
	HostDevName string
}

// memBackend is the mem_backend object of PUT /snapshot/load.
type memBackend struct {
	BackendType string
	BackendPath string
}

func decodeLoadSnapshot(body []byte) (loadSnapshotParams, error) {
	var (
		p       loadSnapshotParams
		memFile *string
		backend *memBackend
		diff    bool

		rawOverrides []json.RawMessage
	)
	err := decodeObject(body,
		required("snapshot_path", &p.SnapshotPath),
		optional("mem_file_path", &memFile),
		nested("mem_backend", func(raw json.RawMessage) error {
			var b memBackend
			if err := decodeObject(raw, required("backend_type", &b.BackendType), required("backend_path", &b.BackendPath)); err != nil {
				return err
			}
			if err := enumValue(b.BackendType, "File", "Uffd"); err != nil {
				return err
			}
			backend = &b
			return nil
		}),
		defaulted("enable_diff_snapshots", &diff),
		defaulted("resume_vm", &p.ResumeVM),
		defaulted("network_overrides", &rawOverrides),
		nested("vsock_override", func(raw json.RawMessage) error {
			var path string
			if err := decodeObject(raw, required("uds_path", &path)); err != nil {
				return err
			}
			p.VsockOverride = &path
			return nil
		}),
	)
	if err != nil {
		return p, err
	}
	for _, raw := range rawOverrides {
		var o networkOverride
		if err := decodeObject(raw, required("iface_id", &o.IfaceID), required("host_dev_name", &o.HostDevName)); err != nil {
			return p, err
		}
		p.NetworkOverrides = append(p.NetworkOverrides, o)
	}
	if err != nil {
		return p, err
	}
	switch {
	case memFile != nil && backend != nil:
		return p, errors.New("too many fields: either `mem_backend` or `mem_file_path` exclusively is required")
	case memFile == nil && backend == nil:
		return p, errors.New("missing field: either `mem_backend` or `mem_file_path` is required")
	case backend != nil && backend.BackendType == "Uffd":
		return p, faultf("fakefc does not implement the Uffd memory backend (Firecracker does): extend the fake if banger needs it")
	case backend != nil:
		p.MemPath = backend.BackendPath
	default:
		p.MemPath = *memFile
	}
	return p, nil
}

// createSnapshot saves the paused microVM. Like Firecracker it is refused
// before boot, and by the vCPUs while they run.
func (v *vmm) createSnapshot(body []byte) error {
	p, err := decodeCreateSnapshot(body)
	if err != nil {
		return err
	}
	if !v.started {
		return errPreBoot()
	}
	if !v.paused {
		return faultf("Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable while running")
	}
	if p.SnapshotType == "Diff" && !v.machine.TrackDirtyPages {
		return faultf("Create snapshot error: Cannot get dirty bitmap: Diff snapshots require track_dirty_pages in the machine config")
	}
	st := snapshotState{Magic: snapshotMagic, Machine: v.machine, Drives: v.drives, Nets: v.nets}
	if v.vsock != nil {
		cfg := v.vsock.cfg
		st.Vsock = &cfg
	}
	data, err := json.Marshal(st)
	if err != nil {
		return faultf("fakefc: encode snapshot: %v", err)
	}
	if err := writeSynced(p.SnapshotPath, data, 0); err != nil {
		return faultf("Create snapshot error: Cannot perform open on the snapshot backing file: %s", osError(err))
	}
	// The memory file is the size of guest memory; the fake guest's memory
	// holds nothing, so it is sparse.
	if err := writeSynced(p.MemFilePath, nil, int64(v.machine.MemSizeMiB)<<20); err != nil {
		return faultf("Create snapshot error: Cannot perform open on the memory backing file: %s", osError(err))
	}
	v.log.logf(levelInfo, "fc_vmm", "'create full snapshot' VMM action took 1 us.")
	return nil
}

// writeSynced writes data to path (created or truncated, mode 0600), then
// extends it to size when size is larger, and syncs it.
func writeSynced(path string, data []byte, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if size > int64(len(data)) {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadSnapshot restores a microVM the fake saved, in place of configuring
// and booting one. It is only allowed before boot and before any
// boot-specific resource was configured. The restored devices are the
// saved ones: the drives are reopened at their saved paths, the tap is
// taken again and the vsock socket bound again at its saved path. A
// drive file that cannot be opened fails the load, and Firecracker exits.
func (v *vmm) loadSnapshot(body []byte) error {
	p, err := decodeLoadSnapshot(body)
	if err != nil {
		return err
	}
	if v.started {
		return errPostBoot()
	}
	if v.bootPath {
		return faultf("Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.")
	}
	fail := func(format string, args ...any) error {
		// A failed restore leaves Firecracker unusable: it exits.
		v.requestExit()
		return faultf("Load snapshot error: Failed to restore from snapshot: "+format, args...)
	}
	data, err := os.ReadFile(p.SnapshotPath)
	if err != nil {
		return fail("Failed to get snapshot state from file: Failed to open snapshot file: %s", osError(err))
	}
	var st snapshotState
	if json.Unmarshal(data, &st) != nil || st.Magic != snapshotMagic {
		return fail("Failed to get snapshot state from file: Failed to load snapshot state from file: Snapshot: Invalid snapshot file (fakefc loads only the state files it wrote)")
	}
	mem, err := os.Stat(p.MemPath)
	if err != nil {
		return fail("Failed to load guest memory: %s", osError(err))
	}
	if mem.Size() != int64(st.Machine.MemSizeMiB)<<20 {
		return fail("Failed to load guest memory: the memory file has %d bytes, the snapshot's guest has %d MiB", mem.Size(), st.Machine.MemSizeMiB)
	}
	for _, d := range st.Drives {
		flag := os.O_RDWR
		if d.IsReadOnly {
			flag = os.O_RDONLY
		}
		// Firecracker has no drive override: the saved path is opened,
		// relative ones against the working directory.
		if err := v.openDrive(d.PathOnHost, flag); err != nil {
			return fail("Failed to build microVM from snapshot: Failed to restore devices: Block: Virtio backend error: Error manipulating the backing file: %s %s", osError(err), d.PathOnHost)
		}
	}
	// Overrides change the saved devices' host side, as Firecracker
	// applies them before restoring the devices.
	for _, o := range p.NetworkOverrides {
		i := slices.IndexFunc(st.Nets, func(n netIface) bool { return n.IfaceID == o.IfaceID })
		if i < 0 {
			return fail("Invalid network override: the snapshot has no network interface %q", o.IfaceID)
		}
		st.Nets[i].HostDevName = o.HostDevName
	}
	if p.VsockOverride != nil {
		if st.Vsock == nil {
			return fail("Cannot restore devices: the vsock override is for a snapshot without a vsock device")
		}
		st.Vsock.UDSPath = *p.VsockOverride
	}
	for _, n := range st.Nets {
		if err := checkTap(n.HostDevName); err != nil {
			v.requestExit()
			return err
		}
	}
	if st.Vsock != nil {
		dev, err := bindVsock(*st.Vsock, v.log)
		if err != nil {
			return fail("Cannot restore devices: %s", faultMessage(err))
		}
		v.vsock = dev
		v.vsock.serve()
	}
	v.machine, v.drives, v.nets = st.Machine, st.Drives, st.Nets
	v.started = true
	v.paused = !p.ResumeVM
	v.log.logf(levelInfo, "fc_vmm", "'load snapshot' VMM action took 1 us.")
	v.console.line("fake guest: restored from snapshot")
	return nil
}

// patchDrive swaps the backing file of an attached drive after boot
// (PATCH /drives/{id} with path_on_host), as Firecracker allows.
func (v *vmm) patchDrive(id string, body []byte) error {
	if err := checkedID(id); err != nil {
		return err
	}
	var driveID string
	var path *string
	var limiter json.RawMessage
	err := decodeObject(body,
		required("drive_id", &driveID),
		optional("path_on_host", &path),
		defaulted("rate_limiter", &limiter),
	)
	if err != nil {
		return err
	}
	if driveID != id {
		return faultf("The id from the path does not match the id from the body!")
	}
	if !v.started {
		return errPreBoot()
	}
	for i, d := range v.drives {
		if d.DriveID != id {
			continue
		}
		if path == nil {
			return nil
		}
		flag := os.O_RDWR
		if d.IsReadOnly {
			flag = os.O_RDONLY
		}
		if err := v.openDrive(*path, flag); err != nil {
			return faultf("Drive config error: Unable to patch the block device: BackingFile(%s, %q)", osError(err), *path)
		}
		v.drives[i].PathOnHost = *path
		return nil
	}
	return faultf("Drive config error: Unable to patch the block device: DeviceNotFound")
}
