package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkStepCycle is the store work of one lifecycle step as the VM
// service does it, from many goroutines at once: journal the step, read the
// VM, write it back.
func BenchmarkStepCycle(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	img := mustCreateImage(b, s, 1)
	const vms = 100
	for i := range vms {
		mustCreateVM(b, s, i, img.ID)
		if err := s.CreateOperation(ctx, Operation{ID: fmt.Sprintf("op-%d", i), Kind: "vm.create", Target: hexID('b', i), State: "running"}); err != nil {
			b.Fatal(err)
		}
	}
	var next, seq atomic.Int64
	b.SetParallelism(50)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) % vms
		for pb.Next() {
			n := int(seq.Add(1))
			if err := s.AddStep(ctx, StepRecord{OpID: fmt.Sprintf("op-%d", i), Seq: n, Step: "make-dir", Status: "started", At: time.Now()}); err != nil {
				b.Fatal(err)
			}
			vm, err := s.GetVM(ctx, hexID('b', i))
			if err != nil {
				b.Fatal(err)
			}
			vm.State = "stopped"
			if err := s.UpdateVM(ctx, vm); err != nil {
				b.Fatal(err)
			}
		}
	})
}
