package network

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/store"
)

// fakeLinks is a host's links in memory.
type fakeLinks struct {
	mu      sync.Mutex
	links   map[string]string // name -> master ("" detached, "bridge" for bridges)
	owner   map[string]int
	routes  []netip.Prefix
	fwd     bool
	created int
	deleted int
	renames map[string]string // from -> to
	failTap error
	slowOff time.Duration // how long taking a tap off the bridge or deleting it takes
}

func newFakeLinks() *fakeLinks {
	return &fakeLinks{links: map[string]string{}, owner: map[string]int{}}
}

func (f *fakeLinks) EnsureBridge(name string, addr netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[name] = "bridge"
	return nil
}

func (f *fakeLinks) CreateTap(name string, uid, gid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failTap != nil {
		return f.failTap
	}
	if _, ok := f.links[name]; ok {
		return fmt.Errorf("%s exists", name)
	}
	if len(name) > 15 {
		return fmt.Errorf("name %q too long", name)
	}
	f.links[name] = ""
	f.owner[name] = uid
	f.created++
	return nil
}

func (f *fakeLinks) AttachTap(tap, bridge string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[tap]; !ok {
		return fmt.Errorf("no tap %s", tap)
	}
	if f.links[bridge] != "bridge" {
		return fmt.Errorf("no bridge %s", bridge)
	}
	f.links[tap] = bridge
	return nil
}

func (f *fakeLinks) RenameLink(from, to string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.links[from]
	if !ok {
		return fmt.Errorf("no link %s", from)
	}
	if _, ok := f.links[to]; ok {
		return fmt.Errorf("%s exists", to)
	}
	delete(f.links, from)
	f.links[to] = m
	if f.renames == nil {
		f.renames = map[string]string{}
	}
	f.renames[from] = to
	f.owner[to] = f.owner[from]
	return nil
}

func (f *fakeLinks) DetachTap(tap string) error {
	f.mu.Lock()
	slow := f.slowOff
	f.mu.Unlock()
	time.Sleep(slow)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[tap]; ok {
		f.links[tap] = ""
	}
	return nil
}

func (f *fakeLinks) DeleteLink(name string) error {
	f.mu.Lock()
	slow := f.slowOff
	f.mu.Unlock()
	time.Sleep(slow)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[name]; ok {
		f.deleted++
	}
	delete(f.links, name)
	return nil
}

func (f *fakeLinks) Links(prefix string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.links {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeLinks) LinkExists(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.links[name]
	return ok, nil
}

func (f *fakeLinks) RoutedPrefixes(exclude string) ([]netip.Prefix, error) { return f.routes, nil }

func (f *fakeLinks) Forwarding() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fwd, nil
}

func (f *fakeLinks) SetForwarding(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fwd = on
	return nil
}

// snapshot returns the links whose name starts with prefix and their
// masters.
func (f *fakeLinks) snapshot(prefix string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for n, m := range f.links {
		if strings.HasPrefix(n, prefix) {
			out[n] = m
		}
	}
	return out
}

// fakeFirewall records the last rules applied.
type fakeFirewall struct {
	mu      sync.Mutex
	last    Rules
	applies int
	delay   time.Duration // how long an apply takes
}

func (f *fakeFirewall) Apply(r Rules) error {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = r
	f.applies++
	return nil
}

func (f *fakeFirewall) rules() Rules {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

type fakeNames struct {
	mu   sync.Mutex
	recs map[string]netip.Addr
}

func (f *fakeNames) Set(name string, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recs == nil {
		f.recs = map[string]netip.Addr{}
	}
	f.recs[name] = ip
	return nil
}

func (f *fakeNames) Delete(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.recs, name)
}

// rig is a Service over fakes and a real store.
type rig struct {
	svc   *Service
	links *fakeLinks
	fw    *fakeFirewall
	names *fakeNames
	store *store.Store
	image string
}

func newRig(t *testing.T, pool int) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	img := store.Image{ID: "00000000000000a1", Name: "img", RootFS: "/r", Kernel: "/k", RootFSSize: 1, CreatedAt: time.Now()}
	if err := st.CreateImage(ctx, img); err != nil {
		t.Fatal(err)
	}
	r := &rig{links: newFakeLinks(), fw: &fakeFirewall{}, names: &fakeNames{}, store: st, image: img.ID}
	r.svc = New(Config{
		Store: st, Links: r.links, Firewall: r.fw, Names: r.names,
		Bridge: "banger0", Subnet: netip.MustParsePrefix("10.77.0.0/24"), TapPool: pool, DNSPort: 53, UID: 1000, GID: 1000,
	})
	t.Cleanup(func() { r.svc.Close() })
	return r
}

// vm records a VM numbered n and returns what Attach needs.
func (r *rig) vm(t *testing.T, n int, nat bool, group string) VM {
	t.Helper()
	id := fmt.Sprintf("b%03x000000000000", n)
	rec := store.VM{ID: id, Name: fmt.Sprintf("vm%d", n), State: "stopped", ImageID: r.image, VCPUs: 1, MemoryMiB: 128,
		DiskBytes: 1, Driver: "qemu", Dir: "/d", RuntimeDir: "/r", NAT: nat, NetGroup: group, CreatedAt: time.Now()}
	if err := r.store.CreateVM(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return VM{ID: id, Name: rec.Name, NAT: nat, Group: group}
}

// waitSpares waits until the pool holds n spares.
func (r *rig) waitSpares(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ready, _, _ := r.svc.pool.stats(); ready == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	ready, _, _ := r.svc.pool.stats()
	t.Fatalf("pool holds %d spares, want %d", ready, n)
}

func (f *fakeLinks) forwarding() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fwd
}

// settle waits for the rule updates a Detach left for later.
func settle(t *testing.T, r *rig) {
	t.Helper()
	if err := r.svc.Settle(context.Background()); err != nil {
		t.Fatal(err)
	}
}
