package daemon

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// apiDocs is the API's documentation; its route table is tested against
// the real router, as docs/config.md is against the config keys.
const apiDocs = "../../docs/api.md"

// documentedRoute is one "METHOD /path" of docs/api.md's route table, as
// written there ({name-or-id} placeholders, query strings dropped).
type documentedRoute struct{ method, path string }

func (r documentedRoute) String() string { return r.method + " " + r.path }

// routeSpan matches a route written in a cell of the route table:
// `GET /v1/vms`, `GET/DELETE /v1/kernels/{ref}`, `GET /v1/x?tail=N`.
var routeSpan = regexp.MustCompile("`([A-Z]+(?:/[A-Z]+)*) (/[^`?\\s]*)(?:\\?[^`]*)?`")

// readRouteTable returns the routes of the "## Routes" section of
// docs/api.md: every route named in the first cell of a row.
func readRouteTable(t *testing.T) []documentedRoute {
	t.Helper()
	b, err := os.ReadFile(apiDocs)
	if err != nil {
		t.Fatalf("read the API docs: %v", err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Routes\n")
	if !ok {
		t.Fatalf("%s has no \"## Routes\" section", apiDocs)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var routes []documentedRoute
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		for _, m := range routeSpan.FindAllStringSubmatch(cells[1], -1) {
			for _, method := range strings.Split(m[1], "/") {
				routes = append(routes, documentedRoute{method: method, path: m[2]})
			}
		}
	}
	if len(routes) < 10 {
		t.Fatalf("found %d routes in %s's route table: is the table's format changed? %v", len(routes), apiDocs, routes)
	}
	return routes
}

// placeholder matches a path segment the docs write as {something}.
var placeholder = regexp.MustCompile(`\{[^}/]+\}`)

// TestDocsListEveryRoute keeps docs/api.md's route table in step with the
// daemon's router, both ways: every documented route reaches a route the
// router registers (and, for POST /v1/vms/{ref}/{action}, an action it
// takes), and every registered route (every action included) is
// documented.
func TestDocsListEveryRoute(t *testing.T) {
	d, _, _, _ := newTestDaemon(t, os.Getuid())
	mux := &routeMux{ServeMux: http.NewServeMux()}
	d.routes(mux)
	if len(mux.patterns) == 0 {
		t.Fatal("the router registered no routes")
	}
	actions := d.vmActions()

	// The registered routes, with each {action} spelled out.
	registered := map[string]bool{}
	for _, p := range mux.patterns {
		if strings.Contains(p, "{action}") {
			for a := range actions {
				registered[strings.Replace(p, "{action}", a, 1)] = false
			}
			continue
		}
		registered[p] = false
	}

	for _, route := range readRouteTable(t) {
		// A placeholder becomes a value no literal segment has.
		path := placeholder.ReplaceAllString(route.path, "x1")
		req := httptest.NewRequest(route.method, path, nil)
		_, pattern := mux.Handler(req)
		if pattern == "" {
			t.Errorf("%s documents %s, which the router does not serve", apiDocs, route)
			continue
		}
		if strings.Contains(pattern, "{action}") {
			action := path[strings.LastIndex(path, "/")+1:]
			if _, ok := actions[action]; !ok {
				t.Errorf("%s documents %s, but %s takes no action %q (it takes %v)", apiDocs, route, pattern, action, sortedKeys(actions))
				continue
			}
			pattern = strings.Replace(pattern, "{action}", action, 1)
		}
		registered[pattern] = true
	}
	for p, documented := range registered {
		if !documented {
			t.Errorf("the router serves %s, which %s's route table does not list", p, apiDocs)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
