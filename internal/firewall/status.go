package firewall

import (
	"github.com/google/nftables"
)

// Status is what `banger doctor` shows about banger's tables.
type Status struct {
	Present bool // both tables exist
	Chains  int  // chains in both tables
	Rules   int  // rules in all those chains
	NATVMs  int  // addresses in the nat_vms set
}

// Read reports the state of banger's tables in the calling process's
// network namespace.
func Read() (Status, error) {
	conn, err := nftables.New()
	if err != nil {
		return Status{}, kernelError("open an nftables connection", err)
	}
	var st Status
	found := 0
	for _, fam := range families {
		t, err := findTable(conn, fam)
		if err != nil {
			return Status{}, err
		}
		if t == nil {
			continue
		}
		found++
		chains, err := conn.ListChainsOfTableFamily(fam)
		if err != nil {
			return Status{}, kernelError("list banger's chains", err)
		}
		for _, c := range chains {
			if c.Table.Name != TableName {
				continue
			}
			st.Chains++
			rules, err := conn.GetRules(t, c)
			if err != nil {
				return Status{}, kernelError("list the rules of chain "+c.Name, err)
			}
			st.Rules += len(rules)
		}
		if fam != nftables.TableFamilyINet {
			continue
		}
		sets, err := conn.GetSets(t)
		if err != nil {
			return Status{}, kernelError("list banger's sets", err)
		}
		for _, s := range sets {
			if s.Name != setNATVMs {
				continue
			}
			elems, err := conn.GetSetElements(s)
			if err != nil {
				return Status{}, kernelError("list the "+setNATVMs+" set", err)
			}
			st.NATVMs = len(elems)
		}
	}
	st.Present = found == len(families)
	return st, nil
}

// findTable returns banger's table of family fam, or nil if it does not
// exist.
func findTable(conn *nftables.Conn, fam nftables.TableFamily) (*nftables.Table, error) {
	tables, err := conn.ListTablesOfFamily(fam)
	if err != nil {
		return nil, kernelError("list nftables tables", err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			return t, nil
		}
	}
	return nil, nil
}
