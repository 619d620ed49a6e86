package vm

import "time"

// State is where a VM is in its lifecycle:
// creating → stopped → starting → running → stopping → stopped, plus error
// and deleting; a running VM may be paused (its VMM runs, the guest's vCPUs
// do not) and resumed. The store keeps it as a string.
type State string

// The states a VM record can be in.
const (
	StateCreating State = "creating"
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StatePaused   State = "paused"
	StateStopping State = "stopping"
	StateDeleting State = "deleting"
	StateError    State = "error"
)

// StateDeleted is never stored: it is the state of the last event of a VM,
// published once its record is gone.
const StateDeleted State = "deleted"

// States lists every state a VM record can be in, in lifecycle order.
var States = []State{StateCreating, StateStopped, StateStarting, StateRunning, StatePaused, StateStopping, StateDeleting, StateError}

// VM is a virtual machine as the service reports it.
type VM struct {
	ID        string
	Name      string
	State     State
	Image     string // the image's name (its id when the image is gone)
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	Driver    string
	PID       int // of the VMM; set only while running
	Dir       string
	LastError string
	CreatedAt time.Time
	StartedAt time.Time // set only while running
	// Network: the leased address and MAC (empty when networking is off),
	// egress and group settings, and the VM's DNS name.
	IP       string
	MAC      string
	NAT      bool
	NetGroup string
	DNSName  string
	// Labels are the client's key/value pairs given at create; nil when
	// none.
	Labels map[string]string
	// Workspace is the git checkout shipped into the VM; nil when none.
	Workspace *Workspace
	// Snapshot is the snapshot the VM was made from (its name, its id
	// when it is gone); empty for a VM booted from its image.
	Snapshot string
}

// Workspace says where a VM's workspace came from and where it lives.
type Workspace struct {
	HostPath   string // the checkout's top level on the host
	GuestPath  string // the repository's directory in the guest
	BaseCommit string // the commit the host's HEAD was at when it shipped
	Branch     string // the branch it was on; empty when detached
	PreparedAt time.Time
}

// CreateRequest asks for a new VM: see Service.Create. Zero values take the
// configured defaults; an empty name gets a generated one.
type CreateRequest struct {
	Name      string
	Image     string
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	Start     bool // start the VM once it is created
	// NAT says whether the VM may reach outside networks; nil takes the
	// default.
	NAT *bool
	// NetGroup: VMs in the same group may reach each other.
	NetGroup string
	// Labels are key/value pairs kept with the VM for its client (e.g.
	// banger-vk records the Pod it runs); see checkLabels.
	Labels map[string]string
	// FromSnapshot names the snapshot to make the VM from
	// (CreateFromSnapshot); Create refuses it.
	FromSnapshot string
	// Warm asks for CreateWarm (vm run): resume a matching warm snapshot
	// rather than boot. Create itself boots.
	Warm bool
}

// EventType says what an Event reports.
type EventType string

// Event types.
const (
	EventStep EventType = "step" // a step of an operation started
	EventVM   EventType = "vm"   // a VM changed state
)

// Event is a step of an operation or a change of a VM's state, as given to
// a Progress function and published on the Broker.
type Event struct {
	Type   EventType
	Time   time.Time
	OpID   string
	Kind   string // operation kind, e.g. "vm.create"
	Target string // VM name
	Step   string
	Index  int   // 1-based step number
	Total  int   // steps in the plan
	State  State // for EventVM
}

// AgentInfo is what a running guest's agent reports.
type AgentInfo struct {
	Version  string
	Hostname string
	BootTime time.Time
	Systemd  bool
}

// Port is a TCP port a guest listens on.
type Port struct {
	Port    int
	Address string // the guest address it is bound to
	Proto   string // "tcp" or "tcp6"
	// Endpoint is how the host reaches it ("name.vm:8080"); empty when it
	// listens on the guest's loopback only.
	Endpoint string
}
