package firewall

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// TableName is the name of both of banger's tables (families inet and
// bridge).
const TableName = "banger"

// Names of the sets and chains, fixed so that Read and tests find them.
const (
	setNATVMs       = "nat_vms"       // inet: ipv4_addr of VMs with NAT
	setVMAddrs      = "vm_addrs"      // inet: ether_addr . ipv4_addr of every VM
	setTaps         = "taps"          // bridge: ifname of every VM's tap
	setTapAddrs     = "tap_addrs"     // bridge: ifname . ether_addr . ipv4_addr a tap may send from
	mapTapGroup     = "tap_group"     // bridge: ifname : group id of taps in a group
	setGroupMembers = "group_members" // bridge: ifname . group id
)

// bridgeFilterPriority is "priority filter" in the bridge family
// (NF_BR_PRI_FILTER_BRIDGED).
const bridgeFilterPriority = -200

// tableDef is one table as Apply will write it: built from a Spec without
// touching the kernel, then programmed into a batch.
type tableDef struct {
	table  *nftables.Table
	sets   []*setDef
	chains []*chainDef
}

type setDef struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

type chainDef struct {
	chain *nftables.Chain
	rules [][]expr.Any
}

// ruleset builds banger's tables for spec. With no VMs both tables are
// empty. Set IDs are unique within the batch; they are assigned here so
// that the library's process-wide ID counter is never used.
func ruleset(spec Spec) []*tableDef {
	inet := &tableDef{table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}}
	bridge := &tableDef{table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyBridge}}
	if len(spec.VMs) > 0 {
		ids := &idAlloc{}
		buildInet(inet, spec, ids)
		buildBridge(bridge, spec, ids)
	}
	return []*tableDef{inet, bridge}
}

type idAlloc struct{ last uint32 }

func (a *idAlloc) next() uint32 { a.last++; return a.last }

func (t *tableDef) addSet(s *nftables.Set, ids *idAlloc, elems []nftables.SetElement) *setDef {
	s.Table = t.table
	s.ID = ids.next()
	d := &setDef{set: s, elems: elems}
	t.sets = append(t.sets, d)
	return d
}

func (t *tableDef) addChain(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio nftables.ChainPriority) *chainDef {
	accept := nftables.ChainPolicyAccept
	c := &chainDef{chain: &nftables.Chain{
		Name: name, Table: t.table, Type: typ, Hooknum: hook,
		Priority: nftables.ChainPriorityRef(prio), Policy: &accept,
	}}
	t.chains = append(t.chains, c)
	return c
}

func (c *chainDef) add(parts ...[]expr.Any) { c.rules = append(c.rules, join(parts...)) }

// setElemChunk bounds the elements sent in one netlink message; a batch may
// hold many messages.
const setElemChunk = 256

// program adds the commands that replace t to conn's batch: add the table
// (a no-op if it exists), delete it with everything in it, add it again
// and fill it.
func (t *tableDef) program(conn *nftables.Conn) error {
	conn.AddTable(t.table)
	conn.DelTable(t.table)
	conn.AddTable(t.table)
	return t.programContents(conn)
}

// programContents adds t's sets, chains and rules to conn's batch, for a
// table that exists and is empty.
func (t *tableDef) programContents(conn *nftables.Conn) error {
	for _, s := range t.sets {
		if err := conn.AddSet(s.set, nil); err != nil {
			return err
		}
		for i := 0; i < len(s.elems); i += setElemChunk {
			if err := conn.SetAddElements(s.set, s.elems[i:min(i+setElemChunk, len(s.elems))]); err != nil {
				return err
			}
		}
	}
	for _, c := range t.chains {
		conn.AddChain(c.chain)
		for _, r := range c.rules {
			conn.AddRule(&nftables.Rule{Table: t.table, Chain: c.chain, Exprs: r})
		}
	}
	return nil
}
