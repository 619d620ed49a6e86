package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"banger/internal/api"
	"banger/internal/vm"
)

// Handler returns the daemon's HTTP handler: every route of the API behind
// the request middleware.
func (d *Daemon) Handler() http.Handler {
	return d.routes(&routeMux{ServeMux: http.NewServeMux()})
}

// routeMux is the daemon's ServeMux; it remembers the patterns registered
// on it, so that docs/api.md's route table is tested against the real
// router.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers handler for pattern and remembers the pattern.
func (m *routeMux) Handle(pattern string, handler http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, handler)
}

// HandleFunc registers handler for pattern and remembers the pattern.
func (m *routeMux) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(handler))
}

// routes registers every route of the API on mux and returns it behind
// the request middleware. It is the daemon's one route table.
func (d *Daemon) routes(mux *routeMux) http.Handler {
	v := api.Version
	mux.HandleFunc("GET "+v+"/vms", d.listVMs)
	mux.HandleFunc("POST "+v+"/vms", d.createVM)
	mux.HandleFunc("POST "+v+"/vms/prune", d.pruneVMs)
	mux.HandleFunc("GET "+v+"/vms/{ref}", d.getVM)
	mux.HandleFunc("DELETE "+v+"/vms/{ref}", d.deleteVM)
	mux.HandleFunc("POST "+v+"/vms/{ref}/{action}", d.vmAction)
	mux.HandleFunc("GET "+v+"/vms/{ref}/logs", d.vmLogs)
	mux.HandleFunc("POST "+v+"/vms/{ref}/wait", d.waitVM)
	mux.HandleFunc("POST "+v+"/vms/{ref}/exec", d.execVM)
	mux.HandleFunc("POST "+v+"/vms/{ref}/tcp", d.tcpVM)
	mux.HandleFunc("PUT "+v+"/vms/{ref}/workspace", d.prepareWorkspace)
	mux.HandleFunc("GET "+v+"/vms/{ref}/ports", d.vmPorts)
	mux.HandleFunc("GET "+v+"/vms/{ref}/stat", d.statFile)
	mux.HandleFunc("GET "+v+"/vms/{ref}/files", d.downloadFiles)
	mux.HandleFunc(uploadRoute, d.uploadFiles)
	mux.HandleFunc("POST "+v+"/vms/{ref}/snapshot", d.snapshotVM)
	mux.HandleFunc("POST "+v+"/vms/{ref}/fork", d.forkVM)
	mux.HandleFunc("GET "+v+"/snapshots", d.listSnapshots)
	mux.HandleFunc("POST "+v+"/snapshots/prune", d.pruneSnapshots)
	mux.HandleFunc("GET "+v+"/snapshots/{ref}", d.getSnapshot)
	mux.HandleFunc("DELETE "+v+"/snapshots/{ref}", d.deleteSnapshot)
	mux.HandleFunc("GET "+v+"/vms/{ref}/forwards", d.listForwards)
	mux.HandleFunc("POST "+v+"/vms/{ref}/forwards", d.addForward)
	mux.HandleFunc("DELETE "+v+"/vms/{ref}/forwards/{port}", d.removeForward)
	mux.HandleFunc("GET "+v+"/images", d.listImages)
	mux.HandleFunc("POST "+v+"/images", d.registerImage)
	mux.HandleFunc("POST "+v+"/images/build", d.buildImage)
	mux.HandleFunc("POST "+v+"/images/pull", d.pullImage)
	mux.HandleFunc("POST "+v+"/images/prune", d.pruneImages)
	mux.HandleFunc("POST "+v+"/images/{ref}/warm", d.warmImage)
	mux.HandleFunc("POST "+v+"/images/cache/prune", d.pruneLayers)
	mux.HandleFunc("GET "+v+"/images/{ref}", d.getImage)
	mux.HandleFunc("DELETE "+v+"/images/{ref}", d.removeImage)
	mux.HandleFunc("GET "+v+"/kernels", d.listKernels)
	mux.HandleFunc("POST "+v+"/kernels", d.importKernel)
	mux.HandleFunc("POST "+v+"/kernels/build", d.buildKernel)
	mux.HandleFunc("POST "+v+"/kernels/fetch", d.fetchKernel)
	mux.HandleFunc("GET "+v+"/kernels/{ref}", d.getKernel)
	mux.HandleFunc("DELETE "+v+"/kernels/{ref}", d.removeKernel)
	mux.HandleFunc("GET "+v+"/operations", d.listOperations)
	mux.HandleFunc("GET "+v+"/operations/{id}", d.getOperation)
	mux.HandleFunc("GET "+v+"/events", d.events)
	mux.HandleFunc("GET "+v+"/ssh", d.sshInfo)
	mux.HandleFunc("GET "+v+"/system/info", d.info)
	mux.HandleFunc("GET "+v+"/system/doctor", d.doctor)
	mux.HandleFunc("GET "+v+"/system/df", d.systemDF)
	mux.HandleFunc("POST "+v+"/system/shutdown", d.shutdownDaemon)
	return d.middleware(d.readBody(mux, d.routeErrors(mux)))
}

// middleware gives every request an operation id (in its context, in the
// response header and in the log) and logs it once when it ends.
func (d *Daemon) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opID := vm.NewOpID()
		w.Header().Set(api.OpIDHeader, opID)
		r = r.WithContext(context.WithValue(r.Context(), opIDKey{}, opID))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if r.Method != http.MethodGet || sw.status >= 400 {
			level = slog.LevelInfo
		}
		d.log.Log(r.Context(), level, "request", "op_id", opID, "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration_ms", time.Since(start).Milliseconds())
	})
}

// statusWriter remembers the status code and passes flushes through.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status = code
		s.wrote = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (for exec).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// streamContext is the request's context, also cancelled when the daemon
// begins shutting down.
func (d *Daemon) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-d.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
