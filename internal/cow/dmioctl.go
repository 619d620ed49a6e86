package cow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"banger/internal/errdefs"
)

// dmControl is the device-mapper control node.
const dmControl = "/dev/mapper/control"

// Offsets in struct dm_ioctl (linux/dm-ioctl.h); unix.SizeofDmIoctl is its
// size and where the payload starts.
const (
	dmOffDataSize    = 12
	dmOffDataStart   = 16
	dmOffTargetCount = 20
	dmOffOpenCount   = 24
	dmOffFlags       = 28
	dmOffEventNr     = 32
	dmOffDev         = 40
	dmOffName        = 48
	dmOffUUID        = 48 + unix.DM_NAME_LEN
)

// dmUdevQuiet is the cookie a create and a resume carry: it asks udev's
// device-mapper rules to leave the device alone (no /dev/mapper link, no
// owner or mode of their own), since banger makes the node itself and
// gives it to the daemon's user (DM_UDEV_DISABLE_DM_RULES_FLAG,
// _SUBSYSTEM_, _DISK_ and _OTHER_RULES_FLAG, shifted by
// DM_UDEV_FLAGS_SHIFT).
const dmUdevQuiet = (0x1 | 0x2 | 0x4 | 0x8) << 16

// dmIoctl is one device-mapper request: the header, then a payload.
type dmIoctl struct {
	buf []byte
}

func newDMIoctl(name string, payload []byte, size int) *dmIoctl {
	if size < unix.SizeofDmIoctl+len(payload) {
		size = unix.SizeofDmIoctl + len(payload)
	}
	b := make([]byte, size)
	le := binary.NativeEndian
	le.PutUint32(b[0:], unix.DM_VERSION_MAJOR)
	le.PutUint32(b[4:], 0)
	le.PutUint32(b[8:], 0)
	le.PutUint32(b[dmOffDataSize:], uint32(size))
	le.PutUint32(b[dmOffDataStart:], unix.SizeofDmIoctl)
	copy(b[dmOffName:dmOffName+unix.DM_NAME_LEN-1], name)
	copy(b[unix.SizeofDmIoctl:], payload)
	return &dmIoctl{buf: b}
}

func (d *dmIoctl) setUUID(uuid string) {
	copy(d.buf[dmOffUUID:dmOffUUID+unix.DM_UUID_LEN-1], uuid)
}

func (d *dmIoctl) flags() uint32 { return binary.NativeEndian.Uint32(d.buf[dmOffFlags:]) }
func (d *dmIoctl) setEventNr(n uint32) {
	binary.NativeEndian.PutUint32(d.buf[dmOffEventNr:], n)
}
func (d *dmIoctl) setTargetCount(n uint32) {
	binary.NativeEndian.PutUint32(d.buf[dmOffTargetCount:], n)
}
func (d *dmIoctl) openCount() int32 {
	return int32(binary.NativeEndian.Uint32(d.buf[dmOffOpenCount:]))
}
func (d *dmIoctl) dev() uint64 { return binary.NativeEndian.Uint64(d.buf[dmOffDev:]) }
func (d *dmIoctl) uuid() string {
	return cString(d.buf[dmOffUUID : dmOffUUID+unix.DM_UUID_LEN])
}

// payload is what the kernel wrote after the header.
func (d *dmIoctl) payload() []byte {
	start := binary.NativeEndian.Uint32(d.buf[dmOffDataStart:])
	size := binary.NativeEndian.Uint32(d.buf[dmOffDataSize:])
	if int(start) > len(d.buf) || size < start || int(size) > len(d.buf) {
		return nil
	}
	return d.buf[start:size]
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// dmCall opens the control node and runs one request on it.
func dmCall(req uintptr, d *dmIoctl) error {
	ctl, err := os.OpenFile(dmControl, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return errdefs.FailedPreconditionf("open %s (%w): the host needs device-mapper (modprobe dm-snapshot) for vm.disk_strategy = \"dm\"", dmControl, err)
	}
	defer ctl.Close()
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), req, uintptr(unsafe.Pointer(&d.buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// dmTarget is one line of a device's table.
type dmTarget struct {
	start, length uint64 // in 512-byte sectors
	typ, params   string
}

// tablePayload encodes targets as DM_TABLE_LOAD takes them: a
// dm_target_spec each, followed by its parameters, 8-byte aligned.
func tablePayload(targets []dmTarget) []byte {
	var out []byte
	for _, t := range targets {
		n := unix.SizeofDmTargetSpec + len(t.params) + 1
		n = (n + 7) &^ 7
		spec := make([]byte, n)
		le := binary.NativeEndian
		le.PutUint64(spec[0:], t.start)
		le.PutUint64(spec[8:], t.length)
		le.PutUint32(spec[20:], uint32(n)) // next: offset of the following spec
		copy(spec[24:24+15], t.typ)
		copy(spec[unix.SizeofDmTargetSpec:], t.params)
		out = append(out, spec...)
	}
	return out
}

// dmCreate makes the device name (with uuid), loads targets into it and
// resumes it, so it is usable. A failure after the device was made
// removes it again.
func dmCreate(name, uuid string, targets []dmTarget) (dev uint64, err error) {
	c := newDMIoctl(name, nil, 0)
	c.setUUID(uuid)
	c.setEventNr(dmUdevQuiet)
	if err := dmCall(unix.DM_DEV_CREATE, c); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return 0, errdefs.AlreadyExistsf("device-mapper device %s already exists", name)
		}
		return 0, fmt.Errorf("create device-mapper device %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, dmRemove(name))
		}
	}()
	l := newDMIoctl(name, tablePayload(targets), 0)
	l.setTargetCount(uint32(len(targets)))
	if err := dmCall(unix.DM_TABLE_LOAD, l); err != nil {
		return 0, fmt.Errorf("load the table of %s (%s %s): %w", name, targets[0].typ, targets[0].params, err)
	}
	r := newDMIoctl(name, nil, 0)
	r.setEventNr(dmUdevQuiet)
	if err := dmCall(unix.DM_DEV_SUSPEND, r); err != nil { // no suspend flag: resume
		return 0, fmt.Errorf("resume %s: %w", name, err)
	}
	return r.dev(), nil
}

// dmRemove removes the device name; a missing one is not an error.
func dmRemove(name string) error {
	r := newDMIoctl(name, nil, 0)
	r.setEventNr(dmUdevQuiet)
	err := dmCall(unix.DM_DEV_REMOVE, r)
	switch {
	case err == nil, errors.Is(err, unix.ENXIO):
		return nil
	case errors.Is(err, unix.EBUSY):
		return errdefs.FailedPreconditionf("remove device-mapper device %s: it is open (a VM still runs on it): stop the VM first", name)
	}
	return fmt.Errorf("remove device-mapper device %s: %w", name, err)
}

// dmInfo is what DM_DEV_STATUS says of a device.
type dmInfo struct {
	dev       uint64
	uuid      string
	openCount int32
}

// dmStatus describes the device name; ok is false when there is none.
func dmStatus(name string) (info dmInfo, ok bool, err error) {
	s := newDMIoctl(name, nil, 0)
	if err := dmCall(unix.DM_DEV_STATUS, s); err != nil {
		if errors.Is(err, unix.ENXIO) {
			return dmInfo{}, false, nil
		}
		return dmInfo{}, false, fmt.Errorf("status of device-mapper device %s: %w", name, err)
	}
	return dmInfo{dev: s.dev(), uuid: s.uuid(), openCount: s.openCount()}, true, nil
}

// dmList returns the names of every device-mapper device.
func dmList() ([]string, error) {
	for size := 16 << 10; size <= 16<<20; size *= 4 {
		l := newDMIoctl("", nil, size)
		if err := dmCall(unix.DM_LIST_DEVICES, l); err != nil {
			return nil, fmt.Errorf("list device-mapper devices: %w", err)
		}
		if l.flags()&unix.DM_BUFFER_FULL_FLAG != 0 {
			continue
		}
		return parseNameList(l.payload()), nil
	}
	return nil, fmt.Errorf("list device-mapper devices: more than 16 MiB of names")
}

// parseNameList reads struct dm_name_list entries: dev (u64), next (u32),
// name; next is 0 on the last.
func parseNameList(p []byte) []string {
	var names []string
	for off := 0; off+12 < len(p); {
		dev := binary.NativeEndian.Uint64(p[off:])
		next := binary.NativeEndian.Uint32(p[off+8:])
		if dev == 0 && next == 0 && len(names) == 0 && p[off+12] == 0 {
			return nil // no devices
		}
		names = append(names, cString(p[off+12:]))
		if next == 0 {
			break
		}
		off += int(next)
	}
	return names
}

// dmHasTarget reports whether the kernel has the target type typ loaded.
func dmHasTarget(typ string) (bool, error) {
	l := newDMIoctl("", nil, 16<<10)
	if err := dmCall(unix.DM_LIST_VERSIONS, l); err != nil {
		return false, fmt.Errorf("list device-mapper targets: %w", err)
	}
	p := l.payload()
	// struct dm_target_versions: next (u32), version[3] (u32), name.
	for off := 0; off+16 < len(p); {
		next := binary.NativeEndian.Uint32(p[off:])
		if cString(p[off+16:]) == typ {
			return true, nil
		}
		if next == 0 {
			break
		}
		off += int(next)
	}
	return false, nil
}
