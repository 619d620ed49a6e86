package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The resource types below have Firecracker v1.7's JSON shapes: they decode
// request bodies with the same required, defaulted and optional fields, and
// marshal to what GET /vm/config and GET /machine-config return (Option
// fields serialise as null, not omitted).

// machineConfig is the body of PUT /machine-config.
type machineConfig struct {
	VCPUCount       uint8   `json:"vcpu_count"`
	MemSizeMiB      uint64  `json:"mem_size_mib"`
	SMT             bool    `json:"smt"`
	CPUTemplate     *string `json:"cpu_template,omitempty"`
	TrackDirtyPages bool    `json:"track_dirty_pages"`
	HugePages       string  `json:"huge_pages"`
}

// defaultMachineConfig is what Firecracker boots with when PUT
// /machine-config is never sent.
func defaultMachineConfig() machineConfig {
	return machineConfig{VCPUCount: 1, MemSizeMiB: 128, HugePages: "None"}
}

func decodeMachineConfig(body []byte) (machineConfig, error) {
	c := machineConfig{HugePages: "None"}
	var tmpl *string
	err := decodeObject(body,
		required("vcpu_count", &c.VCPUCount),
		required("mem_size_mib", &c.MemSizeMiB),
		defaulted("smt", &c.SMT),
		optional("cpu_template", &tmpl),
		defaulted("track_dirty_pages", &c.TrackDirtyPages),
		defaulted("huge_pages", &c.HugePages),
	)
	if err != nil {
		return c, err
	}
	if err := enumValue(c.HugePages, "None", "2M"); err != nil {
		return c, err
	}
	if tmpl != nil {
		if err := enumValue(*tmpl, "C3", "T2", "T2S", "T2CL", "T2A", "V1N1", "None"); err != nil {
			return c, err
		}
		if *tmpl != "None" {
			c.CPUTemplate = tmpl
		}
	}
	return c, nil
}

// validate applies VmConfig::update's checks (x86_64).
func (c machineConfig) validate() error {
	if c.VCPUCount == 0 || c.VCPUCount > 32 || (c.SMT && c.VCPUCount > 1 && c.VCPUCount%2 == 1) {
		return faultf("Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number if SMT is enabled.")
	}
	if c.MemSizeMiB == 0 || (c.HugePages == "2M" && c.MemSizeMiB%2 != 0) {
		return faultf("Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.")
	}
	return nil
}

// bootSource is the body of PUT /boot-source.
type bootSource struct {
	KernelImagePath string  `json:"kernel_image_path"`
	InitrdPath      *string `json:"initrd_path"`
	BootArgs        *string `json:"boot_args"`
}

func decodeBootSource(body []byte) (bootSource, error) {
	var b bootSource
	err := decodeObject(body,
		required("kernel_image_path", &b.KernelImagePath),
		optional("initrd_path", &b.InitrdPath),
		optional("boot_args", &b.BootArgs),
	)
	return b, err
}

// drive is the body of PUT /drives/{drive_id}, and its reported form.
type drive struct {
	DriveID      string       `json:"drive_id"`
	PartUUID     *string      `json:"partuuid"`
	IsRootDevice bool         `json:"is_root_device"`
	CacheType    string       `json:"cache_type"`
	IsReadOnly   bool         `json:"is_read_only"`
	PathOnHost   string       `json:"path_on_host"`
	RateLimiter  *rateLimiter `json:"rate_limiter"`
	IOEngine     string       `json:"io_engine"`
	Socket       *string      `json:"socket"`
}

func decodeDrive(body []byte) (drive, error) {
	d := drive{CacheType: "Unsafe", IOEngine: "Sync"}
	var readOnly *bool
	var path, engine *string
	err := decodeObject(body,
		required("drive_id", &d.DriveID),
		optional("partuuid", &d.PartUUID),
		required("is_root_device", &d.IsRootDevice),
		defaulted("cache_type", &d.CacheType),
		optional("is_read_only", &readOnly),
		optional("path_on_host", &path),
		nested("rate_limiter", decodeRateLimiterInto(&d.RateLimiter)),
		optional("io_engine", &engine),
		optional("socket", &d.Socket),
	)
	if err != nil {
		return d, err
	}
	if err := enumValue(d.CacheType, "Unsafe", "Writeback"); err != nil {
		return d, err
	}
	if engine != nil {
		if err := enumValue(*engine, "Sync", "Async"); err != nil {
			return d, err
		}
		d.IOEngine = *engine
	}
	if readOnly != nil {
		d.IsReadOnly = *readOnly
	}
	if d.Socket != nil {
		return d, faultf("Drive config error: fakefc does not implement vhost-user block devices (socket); use path_on_host")
	}
	if path == nil {
		return d, faultf("Drive config error: Unable to create the virtio block device: InvalidBlockConfig: path_on_host is required for a virtio block device")
	}
	d.PathOnHost = *path
	return d, nil
}

// netIface is the body of PUT /network-interfaces/{iface_id}.
type netIface struct {
	IfaceID       string       `json:"iface_id"`
	HostDevName   string       `json:"host_dev_name"`
	GuestMAC      *string      `json:"guest_mac"`
	RxRateLimiter *rateLimiter `json:"rx_rate_limiter"`
	TxRateLimiter *rateLimiter `json:"tx_rate_limiter"`
}

func decodeNetIface(body []byte) (netIface, error) {
	var n netIface
	err := decodeObject(body,
		required("iface_id", &n.IfaceID),
		required("host_dev_name", &n.HostDevName),
		optional("guest_mac", &n.GuestMAC),
		nested("rx_rate_limiter", decodeRateLimiterInto(&n.RxRateLimiter)),
		nested("tx_rate_limiter", decodeRateLimiterInto(&n.TxRateLimiter)),
	)
	if err != nil {
		return n, err
	}
	if n.GuestMAC != nil {
		mac, err := parseMAC(*n.GuestMAC)
		if err != nil {
			return n, err
		}
		n.GuestMAC = &mac
	}
	return n, nil
}

// parseMAC accepts what Firecracker's MacAddr does (six colon-separated
// pairs of hex digits) and returns it in its lower-case display form.
func parseMAC(s string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return "", fmt.Errorf("invalid MAC address `%s`: want six colon-separated hex pairs", s)
	}
	for _, p := range parts {
		if len(p) != 2 || strings.Trim(strings.ToLower(p), "0123456789abcdef") != "" {
			return "", fmt.Errorf("invalid MAC address `%s`: want six colon-separated hex pairs", s)
		}
	}
	return strings.ToLower(s), nil
}

// vsockConfig is the body of PUT /vsock; the deprecated vsock_id is
// accepted and never reported.
type vsockConfig struct {
	GuestCID uint32 `json:"guest_cid"`
	UDSPath  string `json:"uds_path"`
}

func decodeVsock(body []byte) (vsockConfig, error) {
	var v vsockConfig
	var id *string
	err := decodeObject(body,
		optional("vsock_id", &id),
		required("guest_cid", &v.GuestCID),
		required("uds_path", &v.UDSPath),
	)
	return v, err
}

// rateLimiter is Firecracker's RateLimiterConfig; a bucket with a zero size
// or refill time means no limit and is reported as null, as is a limiter
// without buckets.
type rateLimiter struct {
	Bandwidth *tokenBucket `json:"bandwidth"`
	Ops       *tokenBucket `json:"ops"`
}

type tokenBucket struct {
	Size         uint64  `json:"size"`
	OneTimeBurst *uint64 `json:"one_time_burst"`
	RefillTime   uint64  `json:"refill_time"`
}

func decodeRateLimiterInto(dst **rateLimiter) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var rl rateLimiter
		err := decodeObject(raw,
			nested("bandwidth", decodeBucketInto(&rl.Bandwidth)),
			nested("ops", decodeBucketInto(&rl.Ops)),
		)
		if err != nil {
			return err
		}
		if rl.Bandwidth != nil || rl.Ops != nil {
			*dst = &rl
		}
		return nil
	}
}

func decodeBucketInto(dst **tokenBucket) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var b tokenBucket
		err := decodeObject(raw,
			required("size", &b.Size),
			optional("one_time_burst", &b.OneTimeBurst),
			required("refill_time", &b.RefillTime),
		)
		if err != nil {
			return err
		}
		if b.Size != 0 && b.RefillTime != 0 {
			*dst = &b
		}
		return nil
	}
}

// loggerConfig is the body of PUT /logger. Firecracker v1.6+ makes
// log_path optional, v1.5 requires it; the fake requires it so that a
// client that works here works on every version.
type loggerConfig struct {
	LogPath       string
	Level         *string
	ShowLevel     *bool
	ShowLogOrigin *bool
	Module        *string
}

func decodeLogger(body []byte) (loggerConfig, error) {
	var l loggerConfig
	err := decodeObject(body,
		required("log_path", &l.LogPath),
		optional("level", &l.Level),
		optional("show_level", &l.ShowLevel),
		optional("show_log_origin", &l.ShowLogOrigin),
		optional("module", &l.Module),
	)
	if err == nil && l.Level != nil {
		if _, ok := parseLevel(*l.Level); !ok {
			err = errors.New("invalid LevelFilter: want one of Error, Warning, Info, Debug, Trace, Off")
		}
	}
	return l, err
}

func decodeMetrics(body []byte) (string, error) {
	var path string
	err := decodeObject(body, required("metrics_path", &path))
	return path, err
}

func decodeAction(body []byte) (string, error) {
	var action string
	if err := decodeObject(body, required("action_type", &action)); err != nil {
		return "", err
	}
	return action, enumValue(action, "FlushMetrics", "InstanceStart", "SendCtrlAltDel")
}

// decodeVMState decodes the body of PATCH /vm: {"state": "Paused"|"Resumed"}.
func decodeVMState(body []byte) (string, error) {
	var state string
	if err := decodeObject(body, required("state", &state)); err != nil {
		return "", err
	}
	return state, enumValue(state, "Paused", "Resumed")
}
