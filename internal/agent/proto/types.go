package proto

import "time"

// Protocol constants shared by both sides.
const (
	// Version is the protocol version; every path starts with "/" + Version.
	Version = "v1"
	// VsockPort is the AF_VSOCK port the agent listens on under Firecracker.
	VsockPort = 1024
	// SerialPortName is the virtio-serial port name the agent opens under
	// qemu, found at /dev/virtio-ports/<name> in the guest.
	SerialPortName = "org.banger.agent"
	// ExecUpgrade is the Upgrade token of POST /v1/exec.
	ExecUpgrade = "banger-exec"
	// TCPUpgrade is the Upgrade token of POST /v1/tcp: after it the stream
	// carries raw bytes to and from a guest TCP port.
	TCPUpgrade = "banger-tcp"
	// ErrorTrailer is the HTTP trailer that carries an error that happened
	// after a streamed response (GET /v1/files) had started.
	ErrorTrailer = "Banger-Error"
	// MaxJSONBody bounds every JSON request and response body.
	MaxJSONBody = 1 << 20
)

// Ready answers GET /v1/ready.
type Ready struct {
	Version  string    `json:"version"`
	Hostname string    `json:"hostname"`
	BootTime time.Time `json:"boot_time"`
	Systemd  bool      `json:"systemd"`
}

// ExecRequest is the body of POST /v1/exec. Env entries are "KEY=value"
// and override the agent's defaults. Cwd must be absolute; empty means
// /root (or / when /root does not exist). Rows and Cols set the PTY size
// when TTY is true. Stdin says whether the host will send stdin frames;
// without it the command reads /dev/null (or the PTY when TTY is set).
type ExecRequest struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
	Cwd  string   `json:"cwd,omitempty"`
	// User runs the command as another user, as an OCI image's config
	// names it: "name", "uid", "name:group" or "uid:gid", names looked up
	// in the guest's /etc/passwd and /etc/group. Empty is root.
	User  string `json:"user,omitempty"`
	TTY   bool   `json:"tty,omitempty"`
	Rows  uint16 `json:"rows,omitempty"`
	Cols  uint16 `json:"cols,omitempty"`
	Stdin bool   `json:"stdin,omitempty"`
}

// Port is one listening TCP socket in the guest (GET /v1/ports).
type Port struct {
	Port    uint16 `json:"port"`
	Address string `json:"address"`
	Proto   string `json:"proto"` // "tcp" or "tcp6"
}

// HostKey is one SSH host key of the guest (GET /v1/hostkeys).
// PublicKey is the authorized_keys form ("ssh-ed25519 AAAA..."), and
// Fingerprint is "SHA256:<unpadded base64>", as ssh-keygen -lf prints it.
type HostKey struct {
	Type        string `json:"type"`
	PublicKey   string `json:"public_key"`
	Fingerprint string `json:"fingerprint"`
}

// Metrics answers GET /v1/metrics. Sizes are bytes; Uptime is seconds.
type Metrics struct {
	Load1        float64 `json:"load1"`
	Load5        float64 `json:"load5"`
	Load15       float64 `json:"load15"`
	MemTotal     uint64  `json:"mem_total"`
	MemAvailable uint64  `json:"mem_available"`
	DiskTotal    uint64  `json:"disk_total"`
	DiskFree     uint64  `json:"disk_free"`
	Uptime       float64 `json:"uptime"`
}

// ErrorBody is the JSON shape of every error reply.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error carries an errdefs kind as Code and a message a person reads.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// UploadResult answers PUT /v1/files: how many tar entries were written.
type UploadResult struct {
	Entries int `json:"entries"`
}

// Stat answers GET /v1/stat: what a guest path is, symlinks followed.
type Stat struct {
	// Path is the path asked for, cleaned.
	Path string `json:"path"`
	// Dir is true for a directory.
	Dir bool `json:"dir"`
	// Mode is the Go fs.FileMode bits.
	Mode    uint32    `json:"mode"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Identity is the body of POST /v1/identity: the new identity of a guest
// restored from a snapshot, which still runs as the machine that was
// saved. The agent applies all of it, then takes Token as its secret (the
// token the request came with stops working).
type Identity struct {
	// Token is the guest agent's new secret: 32 to 128 characters of
	// [0-9a-zA-Z].
	Token string `json:"token"`
	// Hostname is the guest's new host name (a DNS label).
	Hostname string `json:"hostname"`
	// MachineID is the new /etc/machine-id: 32 lowercase hex digits.
	MachineID string `json:"machine_id"`
	// Network: the interface's new MAC ("02:..."), address with prefix
	// length, default gateway and resolver. All empty when the VM has no
	// network.
	MAC     string `json:"mac,omitempty"`
	Address string `json:"address,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	DNS     string `json:"dns,omitempty"`
	// Time is the host's clock when it sent the request; the guest's
	// clock is stepped to it.
	Time time.Time `json:"time"`
	// Entropy is random bytes from the host (16 to 512) credited to the
	// guest's entropy pool, which the snapshot made a copy of.
	Entropy []byte `json:"entropy"`
}
