package qemu

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"banger/internal/process"
	"banger/internal/vmm"
)

// fakeQMP is a stateful stand-in for qemu's QMP server on a unix socket:
// it greets, insists on qmp_capabilities first, keeps the run state that
// cont and stop change, emits an event before some answers, and records every
// command it executed.
type fakeQMP struct {
	path string
	ln   net.Listener

	mu        sync.Mutex
	status    string            // query-status answer
	afterCont string            // status cont leads to
	failCmd   map[string]string // command -> error desc to answer with
	greeting  string            // overrides the greeting line
	commands  []string          // executed commands, in order
	args      map[string]json.RawMessage

	wg sync.WaitGroup
}

func newFakeQMP(t *testing.T) *fakeQMP {
	t.Helper()
	dir, err := os.MkdirTemp("", "qmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeQMP{path: filepath.Join(dir, "qmp.sock"), status: "prelaunch", afterCont: "running",
		failCmd: map[string]string{}, args: map[string]json.RawMessage{}}
	f.ln, err = net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() { f.ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeQMP) serve() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.session(conn) // one client at a time, like qemu
	}
}

func (f *fakeQMP) session(conn net.Conn) {
	defer conn.Close()
	f.mu.Lock()
	greeting := f.greeting
	f.mu.Unlock()
	if greeting == "" {
		greeting = `{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`
	}
	w := bufio.NewWriter(conn)
	send := func(v string) { w.WriteString(v + "\n"); w.Flush() }
	send(greeting)
	negotiated := false
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		var req struct {
			Execute   string          `json:"execute"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			send(`{"error": {"class": "GenericError", "desc": "JSON parse error"}}`)
			continue
		}
		if !negotiated && req.Execute != "qmp_capabilities" {
			send(`{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}`)
			continue
		}
		f.mu.Lock()
		f.commands = append(f.commands, req.Execute)
		if req.Arguments != nil {
			f.args[req.Execute] = req.Arguments
		}
		desc, fail := f.failCmd[req.Execute]
		status := f.status
		f.mu.Unlock()
		if fail {
			send(`{"error": {"class": "GenericError", "desc": "` + desc + `"}}`)
			continue
		}
		switch req.Execute {
		case "qmp_capabilities":
			negotiated = true
			send(`{"return": {}}`)
		case "cont":
			f.mu.Lock()
			f.status = f.afterCont
			f.mu.Unlock()
			send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}`)
			send(`{"return": {}}`)
		case "stop":
			f.mu.Lock()
			if f.status == "running" {
				f.status = "paused"
			}
			f.mu.Unlock()
			send(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}`)
			send(`{"return": {}}`)
		case "query-status":
			b, _ := json.Marshal(map[string]any{"status": status, "running": status == "running", "singlestep": false})
			send(`{"return": ` + string(b) + `}`)
		case "send-key":
			send(`{"return": {}}`)
		default:
			send(`{"error": {"class": "CommandNotFound", "desc": "The command ` + req.Execute + ` has not been found"}}`)
		}
	}
}

func (f *fakeQMP) executed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// self is a vmm.Process for the test binary itself: alive, with a real
// start time, so the driver talks to the fake socket.
func self(t *testing.T, sock string) vmm.Process {
	t.Helper()
	st, _, err := process.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return vmm.Process{PID: os.Getpid(), StartTime: st, APISocket: sock}
}

// listenSilent listens on path and accepts connections without ever
// writing to them.
func listenSilent(t *testing.T, path string) net.Listener {
	t.Helper()
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln
}
