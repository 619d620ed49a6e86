package firewall

import (
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/google/nftables"
)

// Applier applies specs one after another and makes the common changes
// cheap. On this kernel every transaction that deletes something (a table,
// a rule, a set element) waits for an RCU grace period, about 15 ms, while
// one that only adds costs well under a millisecond. banger's rules are
// fixed for a given bridge, gateway and DNS port; VMs coming and going only
// change the elements of the sets the rules look up. So Applier remembers
// what it applied last and sends the smallest transaction that gets from
// there to the new spec:
//
//   - the first VM into empty tables: add the sets, chains and rules
//     (nothing deleted);
//   - VMs added or removed with the same bridge, gateway and port: add and
//     delete just those set elements;
//   - anything else (the first Apply, the last VM gone, another bridge, a
//     failed transaction): replace the tables whole, as Apply does.
//
// Every one of these is a single transaction: a reader sees the old rules
// or the new ones, never a mix.
type Applier struct {
	mu     sync.Mutex
	shape  string            // of the last spec applied, "" when unknown
	last   []*tableDef       // what the last spec applied built
	groups map[string]uint32 // the numbers the last spec's groups got
}

// shape is what decides the rules as opposed to the sets' contents.
func (s Spec) shape() string {
	if len(s.VMs) == 0 {
		return "empty"
	}
	return fmt.Sprintf("%s|%s|%d", s.Bridge, s.Gateway, s.DNSPort)
}

// Apply makes the kernel's rules match spec, as the package function
// Apply does.
func (a *Applier) Apply(spec Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	spec.groups = stableGroupIDs(a.groups, spec.VMs)
	shape, next := spec.shape(), ruleset(spec)
	var err error
	switch {
	case a.shape == "":
		err = errUnknown
	case a.shape == "empty" && shape != "empty":
		err = fill(next)
	case a.shape == shape && shape != "empty":
		err = updateSets(a.last, next)
	case a.shape == shape:
		return nil // still empty
	default:
		err = errUnknown
	}
	if err != nil {
		a.shape, a.last, a.groups = "", nil, nil
		if err := applyWhole(spec); err != nil {
			return err
		}
	}
	a.shape, a.last, a.groups = shape, next, spec.groups
	return nil
}

// errUnknown sends Apply down the whole-replace path.
var errUnknown = fmt.Errorf("the kernel's tables are not known to match")

// fill adds the contents of tables into existing empty tables.
func fill(tables []*tableDef) error {
	conn, err := nftables.New()
	if err != nil {
		return kernelError("open an nftables connection", err)
	}
	for _, t := range tables {
		if err := t.programContents(conn); err != nil {
			return err
		}
	}
	if err := conn.Flush(); err != nil {
		return kernelError("fill banger's nftables tables", err)
	}
	return nil
}

// updateSets changes the elements of the sets of old into those of next,
// which has the same sets, in one transaction.
func updateSets(old, next []*tableDef) error {
	conn, err := nftables.New()
	if err != nil {
		return kernelError("open an nftables connection", err)
	}
	for i, t := range next {
		for j, s := range t.sets {
			if i >= len(old) || j >= len(old[i].sets) || old[i].sets[j].set.Name != s.set.Name {
				return errUnknown
			}
			gone, added := diffElems(old[i].sets[j].elems, s.elems)
			if len(gone) > 0 {
				if err := conn.SetDeleteElements(s.set, gone); err != nil {
					return err
				}
			}
			for k := 0; k < len(added); k += setElemChunk {
				if err := conn.SetAddElements(s.set, added[k:min(k+setElemChunk, len(added))]); err != nil {
					return err
				}
			}
		}
	}
	if err := conn.Flush(); err != nil {
		return kernelError("update banger's nftables sets", err)
	}
	return nil
}

// diffElems returns the elements of old not in next and of next not in
// old. A map element whose value changed is in both.
func diffElems(old, next []nftables.SetElement) (gone, added []nftables.SetElement) {
	have := make(map[string]bool, len(old))
	for _, e := range old {
		have[elemKey(e)] = true
	}
	want := make(map[string]bool, len(next))
	for _, e := range next {
		k := elemKey(e)
		want[k] = true
		if !have[k] {
			added = append(added, e)
		}
	}
	for _, e := range old {
		if !want[elemKey(e)] {
			gone = append(gone, e)
		}
	}
	return gone, added
}

func elemKey(e nftables.SetElement) string {
	v := ""
	if e.VerdictData != nil {
		v = fmt.Sprintf("%d/%s", e.VerdictData.Kind, e.VerdictData.Chain)
	}
	return hex.EncodeToString(e.Key) + "|" + hex.EncodeToString(e.KeyEnd) + "|" + hex.EncodeToString(e.Val) + "|" + v
}
