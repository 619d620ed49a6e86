package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// defaultVersion is the Firecracker version the fake claims to be.
const defaultVersion = "1.7.0"

// hooks are the test controls read from the environment.
type hooks struct {
	record           string          // FAKEFC_RECORD: file receiving one JSON line per request
	fail             map[string]bool // FAKEFC_FAIL: "METHOD /path" entries answered 400
	startDelay       time.Duration   // FAKEFC_START_DELAY
	version          string          // FAKEFC_VERSION
	ignoreCtrlAltDel bool            // FAKEFC_IGNORE_CTRLALTDEL=1
	opened           string          // FAKEFC_OPENED: file receiving one line per drive file opened
}

func loadHooks(getenv func(string) string) (hooks, error) {
	h := hooks{record: getenv("FAKEFC_RECORD"), opened: getenv("FAKEFC_OPENED"), fail: map[string]bool{}, version: defaultVersion}
	for _, entry := range strings.Split(getenv("FAKEFC_FAIL"), ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		method, path, ok := strings.Cut(entry, " ")
		path = strings.TrimSpace(path)
		if !ok || !strings.HasPrefix(path, "/") {
			return h, fmt.Errorf("FAKEFC_FAIL entry %q: want \"METHOD /path\", e.g. \"PUT /drives/rootfs\"", entry)
		}
		h.fail[strings.ToUpper(method)+" "+path] = true
	}
	if v := getenv("FAKEFC_START_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return h, fmt.Errorf("FAKEFC_START_DELAY=%q: want a non-negative Go duration such as 200ms", v)
		}
		h.startDelay = d
	}
	if v := getenv("FAKEFC_VERSION"); v != "" {
		h.version = strings.TrimPrefix(v, "v")
	}
	switch v := getenv("FAKEFC_IGNORE_CTRLALTDEL"); v {
	case "", "0":
	case "1":
		h.ignoreCtrlAltDel = true
	default:
		return h, fmt.Errorf("FAKEFC_IGNORE_CTRLALTDEL=%q: want 1 or unset", v)
	}
	return h, nil
}

func (h hooks) fails(method, path string) bool { return h.fail[method+" "+path] }

// recorder appends request records to the FAKEFC_RECORD file. Each record
// is written with one append before the response goes out, so a client
// that has its answer can read its request back.
type recorder struct {
	mu   sync.Mutex
	path string
}

// record is the JSON line format; fctest.Request reads it.
type record struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body"`
	Status int             `json:"status"`
}

func (r *recorder) record(method, path string, body []byte, status int) error {
	if r.path == "" {
		return nil
	}
	rec := record{Method: method, Path: path, Body: json.RawMessage("null"), Status: status}
	if len(body) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err == nil {
			rec.Body = compact.Bytes()
		} else {
			// Not JSON: keep what was sent, as a JSON string.
			rec.Body, _ = json.Marshal(string(body))
		}
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode request record: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open FAKEFC_RECORD file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write FAKEFC_RECORD file: %w", err)
	}
	return f.Close()
}

// openLog appends to the FAKEFC_OPENED file one line per drive backing
// file the fake opened: the path it was given, a tab, and the file the
// open reached (symbolic links and a relative path resolved, as the
// kernel resolved them). Tests read it to see which files a VMM touched.
type openLog struct {
	mu   sync.Mutex
	path string
}

func (l *openLog) add(given, reached string) error {
	if l == nil || l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open FAKEFC_OPENED file: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%s\t%s\n", given, reached); err != nil {
		f.Close()
		return fmt.Errorf("write FAKEFC_OPENED file: %w", err)
	}
	return f.Close()
}
