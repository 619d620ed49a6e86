package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/agent/proto"
	"banger/internal/errdefs"
	"banger/internal/store"
	"banger/internal/vmm"
)

// Agent is a session with one VM's guest agent.
type Agent interface {
	Ready(ctx context.Context) (proto.Ready, error)
	Shutdown(ctx context.Context) error
	Ports(ctx context.Context) ([]proto.Port, error)
	// ExecStream starts a command and returns the raw exec stream (frames
	// of package proto) once the agent has switched protocols.
	ExecStream(ctx context.Context, req proto.ExecRequest) (io.ReadWriteCloser, error)
	// HostKeys lists the guest's SSH host keys.
	HostKeys(ctx context.Context) ([]proto.HostKey, error)
	// Dial opens a byte stream to TCP port on the guest's loopback; an
	// unavailable error means nothing listens there (yet).
	Dial(ctx context.Context, port int) (io.ReadWriteCloser, error)
	// Upload extracts a tar stream under the guest directory dir.
	Upload(ctx context.Context, dir string, tarStream io.Reader) error
	// Download returns a tar stream of a guest path; reading it fails,
	// rather than ending, when the agent failed part-way.
	Download(ctx context.Context, path string) (io.ReadCloser, error)
	// Stat reports what a guest path is, symlinks followed.
	Stat(ctx context.Context, path string) (proto.Stat, error)
	// Run runs a command to its end, copying its output to stdout and
	// stderr, and returns its exit code.
	Run(ctx context.Context, req proto.ExecRequest, stdout, stderr io.Writer) (int, error)
	// Reidentify gives a guest restored from a snapshot its new identity;
	// afterwards the agent answers only to id.Token, which the session
	// then sends.
	Reidentify(ctx context.Context, id proto.Identity) error
	Close() error
}

// AgentConnector starts an agent session over conn, authenticated with
// token. The session owns conn.
type AgentConnector func(conn io.ReadWriteCloser, token string) (Agent, error)

const (
	// readyPoll is the pause between attempts to reach a booting guest.
	readyPoll = 250 * time.Millisecond
	// attemptTimeout bounds one attempt: a guest whose agent is not up yet
	// may accept the connection and never answer.
	attemptTimeout = 3 * time.Second
	// bootAttempt bounds one of WaitReady's attempts, which wait for a
	// booting guest's agent. WaitReady checks the VM every readyPoll while
	// one is in flight, so it can be long: under qemu the connection is
	// made before the agent runs and the agent answers what waited on it
	// once it opens its port, and an attempt given up just before that
	// lost its session and the pause before the next (most of the 0.5 s
	// between two modes of boot times the benchmark saw). Only an agent
	// that dies between reading the request and answering leaves an
	// attempt to time out.
	bootAttempt = 20 * time.Second
	// shutdownAsk bounds the request that asks the guest to power off.
	shutdownAsk = 3 * time.Second
)

// agents caches one session per running VM: the qemu agent channel takes
// one connection at a time, and sessions are multiplexed anyway.
type agents struct {
	mu       sync.Mutex
	sessions map[string]Agent
	// dialing serializes making a session per VM: the qemu channel serves
	// one connection at a time, so a second concurrent dial would hang.
	dialing keyedLocks
}

func (a *agents) get(id string) Agent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[id]
}

func (a *agents) put(id string, ag Agent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions == nil {
		a.sessions = make(map[string]Agent)
	}
	if old := a.sessions[id]; old != nil && old != ag {
		_ = old.Close()
	}
	a.sessions[id] = ag
}

// drop closes and forgets the session of VM id (when it broke or the VM stopped).
func (a *agents) drop(id string, ag Agent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur := a.sessions[id]; cur != nil && (ag == nil || cur == ag) {
		_ = cur.Close()
		delete(a.sessions, id)
	}
}

// newToken returns a fresh agent secret.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// agentFor returns a working session with rec's agent: the cached one if
// it still answers, else a new one, giving up on it after attemptTimeout.
func (s *Service) agentFor(ctx context.Context, rec store.VM) (Agent, proto.Ready, error) {
	return s.agentWithin(ctx, rec, attemptTimeout)
}

// agentWithin is agentFor giving up on a new session after attempt.
func (s *Service) agentWithin(ctx context.Context, rec store.VM, attempt time.Duration) (Agent, proto.Ready, error) {
	if s.connect == nil {
		return nil, proto.Ready{}, errdefs.FailedPreconditionf("this daemon has no guest agent support")
	}
	// A stopping VM still runs: its stop asks the agent to end the guest.
	if State(rec.State) == StatePaused {
		return nil, proto.Ready{}, errPaused(rec)
	}
	if State(rec.State) != StateRunning && State(rec.State) != StateStopping {
		return nil, proto.Ready{}, errdefs.FailedPreconditionf("VM %s is %s: start it with banger vm start %s", rec.Name, rec.State, rec.Name)
	}
	if rec.AgentToken == "" {
		return nil, proto.Ready{}, errdefs.FailedPreconditionf("VM %s was created without a guest agent secret: recreate it", rec.Name)
	}
	unlock := s.agents.dialing.lock(rec.ID)
	defer unlock()
	if ag := s.agents.get(rec.ID); ag != nil {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		r, err := ag.Ready(actx)
		cancel()
		if err == nil {
			return ag, r, nil
		}
		s.agents.drop(rec.ID, ag)
	}
	actx, cancel := context.WithTimeout(ctx, attempt)
	defer cancel()
	img, err := s.store.GetImage(ctx, rec.ImageID)
	if err != nil {
		return nil, proto.Ready{}, err
	}
	conn, err := s.driverOf(rec).DialAgent(actx, VMMSpec(rec, img), vmm.AgentPort)
	if err != nil {
		return nil, proto.Ready{}, err
	}
	ag, err := s.connect(conn, rec.AgentToken)
	if err != nil {
		return nil, proto.Ready{}, err
	}
	r, err := ag.Ready(actx)
	if err != nil {
		_ = ag.Close()
		return nil, proto.Ready{}, err
	}
	s.agents.put(rec.ID, ag)
	s.pinOnReady(ctx, rec, ag)
	return ag, r, nil
}

// WaitReady waits until the guest agent of a running VM answers, or
// timeout passes, and returns what it reports. One attempt to reach the
// agent is in flight at a time (bootAttempt), started readyPoll after the
// last one failed; meanwhile the VM is checked every readyPoll, so a guest
// that failed to boot, stopped or paused ends the wait at once.
func (s *Service) WaitReady(ctx context.Context, ref string, timeout time.Duration) (AgentInfo, error) {
	deadline := time.Now().Add(timeout)
	type answer struct {
		r   proto.Ready
		err error
	}
	var (
		last    error
		pending chan answer // the attempt in flight; nil when none
		cancel  = func() {}
		next    time.Time // when the next attempt may start
	)
	defer func() { cancel() }()
	for {
		rec, err := s.store.GetVM(ctx, ref)
		if err != nil {
			return AgentInfo{}, err
		}
		if State(rec.State) == StatePaused {
			return AgentInfo{}, errPaused(rec)
		}
		if line := initError(filepath.Join(rec.Dir, consoleLogFile)); line != "" {
			return AgentInfo{}, errdefs.FailedPreconditionf("VM %s did not boot: %s (see banger vm logs %s)", rec.Name, line, rec.Name)
		}
		if State(rec.State) != StateRunning && State(rec.State) != StateStarting {
			return AgentInfo{}, errdefs.FailedPreconditionf("VM %s is %s, not running: see banger vm logs %s", rec.Name, rec.State, rec.Name)
		}
		if State(rec.State) == StateRunning && pending == nil && !time.Now().Before(next) {
			// agentWithin bounds the attempt; stop ends it when the wait does.
			actx, stop := context.WithCancel(ctx)
			ch := make(chan answer, 1)
			go func() {
				_, r, err := s.agentWithin(actx, rec, bootAttempt)
				ch <- answer{r, err}
			}()
			pending, cancel = ch, stop
		}
		if time.Now().After(deadline) {
			return AgentInfo{}, errdefs.Unavailablef("the guest agent of VM %s did not answer within %v (last error: %v): see banger vm logs %s", rec.Name, timeout, last, rec.Name)
		}
		select {
		case <-ctx.Done():
			return AgentInfo{}, ctx.Err()
		case a := <-pending:
			cancel()
			pending, cancel = nil, func() {}
			if a.err == nil {
				return AgentInfo{Version: a.r.Version, Hostname: a.r.Hostname, BootTime: a.r.BootTime, Systemd: a.r.Systemd}, nil
			}
			if errdefs.Is(a.err, errdefs.FailedPrecondition) {
				return AgentInfo{}, a.err
			}
			last, next = a.err, time.Now().Add(readyPoll)
		case <-time.After(readyPoll):
		}
	}
}

// ExecStream starts a command in a running VM and returns the raw exec
// stream for the caller to relay. With imageDefaults the command runs as
// the VM's image would run it (applyRunConfig: an empty Argv is a login
// shell; a pulled image's Entrypoint, Env, WorkingDir and User); without,
// exactly as asked.
func (s *Service) ExecStream(ctx context.Context, ref string, req proto.ExecRequest, imageDefaults bool) (io.ReadWriteCloser, error) {
	if len(req.Argv) == 0 && !imageDefaults {
		return nil, errdefs.InvalidArgumentf("exec needs a command")
	}
	rec, err := s.store.GetVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	var c *runConfig
	if imageDefaults {
		if c, err = s.imageRunConfig(ctx, rec); err != nil {
			return nil, err
		}
	}
	ag, _, err := s.agentFor(ctx, rec)
	if err != nil {
		return nil, err
	}
	if req.Cwd == "" {
		req.Cwd = s.workspaceDir(ctx, ag, rec)
	}
	if imageDefaults {
		req = applyRunConfig(req, c)
	}
	return ag.ExecStream(ctx, req)
}

// askShutdown asks the guest to power off, through its agent when it has
// one and answers, else through the VMM.
func (s *Service) askShutdown(ctx context.Context, rec store.VM) error {
	if s.connect != nil && rec.AgentToken != "" {
		actx, cancel := context.WithTimeout(ctx, shutdownAsk)
		ag, _, err := s.agentFor(actx, rec)
		if err == nil {
			err = ag.Shutdown(actx)
		}
		cancel()
		if err == nil {
			return nil
		}
		s.log.Info("the guest agent did not take the shutdown request; asking the VMM", "vm", rec.Name, "err", err)
	}
	err := s.driverOf(rec).Shutdown(ctx, vmm.Process{PID: rec.PID, StartTime: rec.PIDStart, APISocket: rec.APISocket})
	if errors.Is(err, vmm.ErrNotRunning) {
		return nil
	}
	return err
}
