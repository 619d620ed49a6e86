package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// console writes whole lines to the guest serial console, which is the
// process's stdout. The logger shares it until a log file is configured,
// as Firecracker's does, so their lines never interleave mid-line.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *console) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.w, s+"\n")
}

type level int

const (
	levelOff level = iota
	levelError
	levelWarn
	levelInfo
	levelDebug
	levelTrace
)

var levelNames = map[level]string{levelError: "ERROR", levelWarn: "WARN", levelInfo: "INFO", levelDebug: "DEBUG", levelTrace: "TRACE"}

// parseLevel accepts Firecracker's level names, case-insensitively.
func parseLevel(s string) (level, bool) {
	switch strings.ToLower(s) {
	case "off":
		return levelOff, true
	case "error":
		return levelError, true
	case "warn", "warning":
		return levelWarn, true
	case "info":
		return levelInfo, true
	case "debug":
		return levelDebug, true
	case "trace":
		return levelTrace, true
	}
	return 0, false
}

// logger imitates Firecracker's: lines of the form
// "<local time> [<instance id>:<thread>(:LEVEL)] message", to stdout until
// a log path is set, then to that file.
type logger struct {
	mu         sync.Mutex
	id         string
	out        *console
	file       *os.File
	level      level
	showLevel  bool
	showOrigin bool
}

func newLogger(id string, out *console) *logger {
	return &logger{id: id, out: out, level: levelInfo}
}

// update applies a logger configuration. Like Firecracker it opens the
// file read-write without creating or truncating it: the file (or FIFO)
// must exist, and writing starts at its beginning.
func (l *logger) update(cfg loggerConfig) error {
	var f *os.File
	if cfg.LogPath != "" {
		var err error
		f, err = os.OpenFile(cfg.LogPath, os.O_RDWR|syscall.O_NONBLOCK, 0)
		if err != nil {
			return faultf("Logger error: Failed to open target file: %s", osError(err))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f != nil {
		if l.file != nil {
			l.file.Close()
		}
		l.file = f
	}
	if cfg.Level != nil {
		l.level, _ = parseLevel(*cfg.Level)
	}
	if cfg.ShowLevel != nil {
		l.showLevel = *cfg.ShowLevel
	}
	if cfg.ShowLogOrigin != nil {
		l.showOrigin = *cfg.ShowLogOrigin
	}
	return nil
}

func (l *logger) logf(lv level, thread, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lv > l.level {
		return
	}
	var b strings.Builder
	b.WriteString(time.Now().Format("2006-01-02T15:04:05.000000000"))
	fmt.Fprintf(&b, " [%s:%s", l.id, thread)
	if l.showLevel {
		b.WriteString(":" + levelNames[lv])
	}
	if l.showOrigin {
		b.WriteString(":fakefc:0")
	}
	fmt.Fprintf(&b, "] "+format, args...)
	if l.file != nil {
		l.file.WriteString(b.String() + "\n")
		return
	}
	l.out.line(b.String())
}

func (l *logger) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}

// metrics is the metrics sink: set once (flag or PUT /metrics), written
// one JSON object per line on FlushMetrics.
type metrics struct {
	mu       sync.Mutex
	file     *os.File
	requests uint64
	fails    uint64
}

func (m *metrics) init(path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file != nil {
		return faultf("Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.")
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return faultf("Metrics error: Cannot initialize the metrics system due to bad user input: %s", osError(err))
	}
	m.file = f
	return nil
}

// count tallies one API request for the next flush.
func (m *metrics) count(failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	if failed {
		m.fails++
	}
}

// flush writes one metrics line; without a sink it does nothing, like
// Firecracker.
func (m *metrics) flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file == nil {
		return nil
	}
	line, err := json.Marshal(map[string]any{
		"utc_timestamp_ms": time.Now().UnixMilli(),
		"api_server":       map[string]uint64{"sync_response_fails": m.fails},
		"fakefc":           map[string]uint64{"api_requests": m.requests},
	})
	if err != nil {
		return faultf("Internal Vmm error: Metrics error: %v", err)
	}
	if _, err := m.file.Write(append(line, '\n')); err != nil {
		return faultf("Internal Vmm error: Metrics error: Failed to write metrics: %s", osError(err))
	}
	return nil
}

func (m *metrics) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.file != nil {
		m.file.Close()
		m.file = nil
	}
}
