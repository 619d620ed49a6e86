package firewall

import (
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"banger/internal/netnstest"
)

func TestZZDebug(t *testing.T) {
	if !netnstest.Isolate(t) {
		return
	}
	spec := specOf(vmN(2, true, "g"), vmN(3, false, "g"))
	for _, td := range ruleset(spec) {
		// table + sets only
		conn, _ := nftables.New()
		only := &tableDef{table: td.table, sets: td.sets}
		only.program(conn)
		t.Logf("%s sets: %v", familyName(td.table.Family), conn.Flush())
		for _, s := range td.sets {
			conn, _ := nftables.New()
			only := &tableDef{table: td.table, sets: []*setDef{s}}
			only.program(conn)
			t.Logf("%s set %s: %v", familyName(td.table.Family), s.set.Name, conn.Flush())
		}
		for _, c := range td.chains {
			conn, _ := nftables.New()
			only := &tableDef{table: td.table, sets: td.sets, chains: []*chainDef{{chain: c.chain}}}
			only.program(conn)
			t.Logf("%s chain %s: %v", familyName(td.table.Family), c.chain.Name, conn.Flush())
			for i, r := range c.rules {
				conn, _ := nftables.New()
				only := &tableDef{table: td.table, sets: td.sets, chains: []*chainDef{{chain: c.chain, rules: [][]expr.Any{r}}}}
				only.program(conn)
				t.Logf("%s chain %s rule %d: %v", familyName(td.table.Family), c.chain.Name, i, conn.Flush())
			}
		}
	}
}
