package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// apiServer answers Firecracker's API. Requests are handled one at a time
// (mu), as by Firecracker's single VMM thread, and routed the way its API
// server parses paths: by the first path segment, with the resource id as
// the second.
type apiServer struct {
	mu         sync.Mutex
	vm         *vmm
	hooks      hooks
	rec        *recorder
	log        *logger
	maxPayload int64
}

// reply is one response: status, JSON body (nil for 204) and whether the
// connection must be closed because the request could not be framed the
// way Firecracker's HTTP server frames requests.
type reply struct {
	status int
	body   []byte
	close  bool
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	body, rep := s.handle(r, path)
	s.vm.metrics.count(rep.status >= 400)
	if err := s.rec.record(r.Method, path, body, rep.status); err != nil {
		s.log.logf(levelError, "fc_api", "fakefc: %v", err)
	}
	h := w.Header()
	h.Set("Server", "Firecracker API")
	if rep.close {
		h.Set("Connection", "close")
	}
	if rep.body != nil {
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	}
	w.WriteHeader(rep.status)
	w.Write(rep.body)
}

func (s *apiServer) handle(r *http.Request, path string) ([]byte, reply) {
	// micro_http frames bodies by Content-Length only.
	if slices.Contains(r.TransferEncoding, "chunked") {
		rep := s.fault(faultf("fakefc: chunked request bodies are not supported by Firecracker's API server: send Content-Length"))
		rep.close = true
		return nil, rep
	}
	if r.ContentLength > s.maxPayload {
		rep := s.fault(faultf("Request payload with size %d is larger than the limit of %d allowed by server.", r.ContentLength, s.maxPayload))
		rep.close = true
		return nil, rep
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxPayload))
	if err != nil {
		rep := s.fault(faultf("fakefc: read request body: %v", err))
		rep.close = true
		return nil, rep
	}
	if len(body) > 0 {
		s.log.logf(levelInfo, "fc_api", "The API server received a %s request on %q with body %q.", rustMethod(r.Method), path, string(body))
	} else {
		s.log.logf(levelInfo, "fc_api", "The API server received a %s request on %q.", rustMethod(r.Method), path)
	}
	if s.hooks.fails(r.Method, path) {
		return body, s.fault(faultf("fakefc: injected failure for %s %s (FAKEFC_FAIL)", r.Method, path))
	}

	s.mu.Lock()
	out, err := s.route(r.Method, path, body)
	s.mu.Unlock()
	if err != nil {
		return body, s.fault(err)
	}
	if out == nil {
		s.log.logf(levelInfo, "fc_api", "The request was executed successfully. Status code: 204 No Content.")
		return body, reply{status: http.StatusNoContent}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return body, s.fault(faultf("fakefc: encode response: %v", err))
	}
	s.log.logf(levelInfo, "fc_api", "The request was executed successfully. Status code: 200 OK.")
	return body, reply{status: http.StatusOK, body: data}
}

func (s *apiServer) fault(err error) reply {
	msg := faultMessage(err)
	s.log.logf(levelError, "fc_api", "Received Error. Status code: 400 Bad Request. Message: %s", msg)
	data, _ := json.Marshal(map[string]string{"fault_message": msg})
	return reply{status: http.StatusBadRequest, body: data}
}

// route dispatches a request. A nil result with a nil error means 204.
func (s *apiServer) route(method, path string, body []byte) (any, error) {
	segs := strings.Split(strings.TrimLeft(path, "/"), "/")
	if segs[len(segs)-1] == "" { // split_terminator drops one trailing empty segment
		segs = segs[:len(segs)-1]
	}
	var first, id string
	if len(segs) > 0 {
		first = segs[0]
	}
	if len(segs) > 1 {
		id = segs[1]
	}
	v := s.vm
	hasBody := len(body) > 0
	switch method {
	case http.MethodGet:
		if hasBody {
			return nil, faultf("GET request cannot have a body.")
		}
		switch {
		case first == "":
			return v.instanceInfo(), nil
		case first == "version":
			return map[string]string{"firecracker_version": v.version}, nil
		case first == "machine-config":
			return v.machine, nil
		case first == "vm" && id == "config":
			return v.fullConfig(), nil
		case first == "balloon" || first == "mmds":
			return nil, notImplemented(method, first)
		}
	case http.MethodPut:
		if !hasBody {
			return nil, faultf("Empty PUT request.")
		}
		switch first {
		case "boot-source", "drives", "machine-config", "network-interfaces", "vsock":
			// Configuring any of these commits to booting: a snapshot
			// can no longer be loaded (PrebootApiController.boot_path).
			if !v.started {
				v.bootPath = true
			}
		}
		switch first {
		case "snapshot":
			switch id {
			case "create":
				return nil, v.createSnapshot(body)
			case "load":
				return nil, v.loadSnapshot(body)
			}
			return nil, faultf("Invalid request type.")
		case "actions":
			return nil, v.putAction(body)
		case "boot-source":
			return nil, v.putBootSource(body)
		case "drives":
			return nil, v.putDrive(id, body)
		case "logger":
			return nil, v.putLogger(body)
		case "machine-config":
			return nil, v.putMachineConfig(body)
		case "metrics":
			return nil, v.putMetrics(body)
		case "network-interfaces":
			return nil, v.putNetworkInterface(id, body)
		case "vsock":
			return nil, v.putVsock(body)
		case "balloon", "cpu-config", "mmds", "entropy":
			return nil, notImplemented(method, first)
		}
	case http.MethodPatch:
		if !hasBody {
			return nil, faultf("Empty PATCH request.")
		}
		switch first {
		case "vm":
			return nil, v.patchVM(body)
		case "drives":
			return nil, v.patchDrive(id, body)
		case "balloon", "machine-config", "mmds", "network-interfaces":
			return nil, notImplemented(method, first)
		}
	default:
		return nil, faultf("Unsupported HTTP method.")
	}
	return nil, faultf("Invalid request method and/or path: %s %s.", method, first)
}

func notImplemented(method, first string) error {
	return faultf("fakefc does not implement %s /%s (Firecracker does): extend the fake if banger needs it", method, first)
}

// rustMethod is how Firecracker's log names a method ("Put").
func rustMethod(m string) string {
	if m == "" {
		return m
	}
	return m[:1] + strings.ToLower(m[1:])
}
