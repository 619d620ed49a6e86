package daemon

import (
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"banger/internal/api"
	"banger/internal/doctor"
	"banger/internal/images"
	"banger/internal/kernels"
	"banger/internal/vm"
)

// fill sets every field of v, recursively, to a distinct non-zero value:
// strings "f<n>", numbers n, true, a time n hours after 2026-01-01,
// pointers to filled values, slices of one filled element.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 1, *n, 0, 0, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("f" + strconv.Itoa(*n))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) / 100)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(t, s.Index(0), n)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(v.Type(), 1)
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k, n)
		fill(t, e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: add support for %s", v.Type())
	}
}

// checkMapping checks that f carries every field of S into the field of
// the same name in T, value for value, and that it sets every field of T
// except unset, which stay zero. A field added to either side and not
// mapped fails it.
func checkMapping[S, T any](t *testing.T, f func(S) T, unset ...string) {
	t.Helper()
	var src S
	n := 0
	fill(t, reflect.ValueOf(&src).Elem(), &n)
	got := f(src)
	sv, gv := reflect.ValueOf(src), reflect.ValueOf(got)
	st, tt := sv.Type(), gv.Type()

	for i := range tt.NumField() {
		name, zero := tt.Field(i).Name, gv.Field(i).IsZero()
		switch {
		case slices.Contains(unset, name) && !zero:
			t.Errorf("%s.%s = %v, want it unset when mapped from %s", tt, name, gv.Field(i), st)
		case !slices.Contains(unset, name) && zero:
			t.Errorf("%s.%s is not set when mapped from %s: map it, or list it as unset", tt, name, st)
		}
	}
	for i := range st.NumField() {
		name := st.Field(i).Name
		if _, ok := tt.FieldByName(name); !ok {
			t.Errorf("%s.%s has no field of that name in %s", st, name, tt)
			continue
		}
		if from := sv.Field(i); !sameByName(from, gv.FieldByName(name)) {
			t.Errorf("%s.%s = %v, want the value of %s.%s, %v", tt, name, gv.FieldByName(name), st, name, from)
		}
		// Zeroing the field alone must change the result: it is read.
		zeroed := reflect.New(st).Elem()
		zeroed.Set(sv)
		zeroed.Field(i).SetZero()
		if reflect.DeepEqual(f(zeroed.Interface().(S)), got) {
			t.Errorf("%s.%s does not reach %s", st, name, tt)
		}
	}
}

// sameByName reports whether b holds a's value: equal after conversion
// for convertible types, else field by same-named field (structs),
// element by element (slices) or through the pointers.
func sameByName(a, b reflect.Value) bool {
	if a.Type().ConvertibleTo(b.Type()) {
		return reflect.DeepEqual(a.Convert(b.Type()).Interface(), b.Interface())
	}
	switch {
	case a.Kind() == reflect.Struct && b.Kind() == reflect.Struct:
		for i := range a.NumField() {
			f := b.FieldByName(a.Type().Field(i).Name)
			if !f.IsValid() || !sameByName(a.Field(i), f) {
				return false
			}
		}
		return true
	case a.Kind() == reflect.Slice && b.Kind() == reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameByName(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case a.Kind() == reflect.Pointer && b.Kind() == reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameByName(a.Elem(), b.Elem())
	}
	return false
}

func TestMappingCarriesEveryField(t *testing.T) {
	t.Run("vm.VM", func(t *testing.T) { checkMapping(t, apiVM) })
	t.Run("vm.CreateRequest", func(t *testing.T) { checkMapping(t, vmCreateRequest) })
	t.Run("vm.Event", func(t *testing.T) {
		checkMapping(t, apiVMEvent, "Detail", "Fraction", "Current", "TotalUnits", "Unit", "Bar", "VM", "Error", "Result")
	})
	t.Run("vm.AgentInfo", func(t *testing.T) { checkMapping(t, apiAgentInfo) })
	t.Run("vm.Port", func(t *testing.T) { checkMapping(t, apiPort) })
	t.Run("images.Image", func(t *testing.T) { checkMapping(t, apiImage) })
	t.Run("images.RegisterRequest", func(t *testing.T) { checkMapping(t, imageRegisterRequest) })
	t.Run("images.BuildRequest", func(t *testing.T) { checkMapping(t, imageBuildRequest) })
	t.Run("images.PullRequest", func(t *testing.T) { checkMapping(t, imagePullRequest) })
	t.Run("images.Progress", func(t *testing.T) {
		checkMapping(t, func(p images.Progress) api.Event { return apiImageProgress(p, opImageBuild, "op-1", "img") },
			"Time", "State", "VM", "Error", "Result")
	})
	t.Run("kernels.Kernel", func(t *testing.T) { checkMapping(t, apiKernel) })
	t.Run("kernels.ImportRequest", func(t *testing.T) { checkMapping(t, kernelImportRequest) })
	t.Run("kernels.BuildRequest", func(t *testing.T) { checkMapping(t, kernelBuildRequest) })
	t.Run("kernels.Progress", func(t *testing.T) { checkMapping(t, apiKernelProgress, "State", "Bar", "VM", "Error", "Result") })
	t.Run("doctor.Check", func(t *testing.T) { checkMapping(t, apiCheck) })
	t.Run("doctor.Report", func(t *testing.T) { checkMapping(t, apiDoctorReport) })
}

// Every value of the services' enumerations has its documented wire name,
// no two share one, and a value the daemon does not know (a record written
// by a newer daemon) is shown as stored.
func TestMappingEnumerations(t *testing.T) {
	states := map[vm.State]string{
		vm.StateCreating: "creating", vm.StateStopped: "stopped", vm.StateStarting: "starting",
		vm.StateRunning: "running", vm.StatePaused: "paused", vm.StateStopping: "stopping", vm.StateDeleting: "deleting",
		vm.StateError: "error", vm.StateDeleted: "deleted",
	}
	for _, s := range append(slices.Clone(vm.States), vm.StateDeleted) {
		if _, ok := states[s]; !ok {
			t.Errorf("vm state %q has no expected wire name in this test: add it and to apiState", s)
		}
	}
	checkEnum(t, apiState, states, []string{api.StateCreating, api.StateStopped, api.StateStarting,
		api.StateRunning, api.StatePaused, api.StateStopping, api.StateDeleting, api.StateError, api.StateDeleted})
	checkEnum(t, apiEventType, map[vm.EventType]string{vm.EventStep: "step", vm.EventVM: "vm"},
		[]string{api.EventStep, api.EventVM})
	checkEnum(t, apiKernelSource, map[kernels.Source]string{kernels.SourceBuilt: "built", kernels.SourceImported: "imported"},
		[]string{api.KernelBuilt, api.KernelImported})
	checkEnum(t, apiCheckStatus, map[doctor.Status]string{doctor.StatusPass: "PASS", doctor.StatusWarn: "WARN", doctor.StatusFail: "FAIL"},
		[]string{api.CheckPass, api.CheckWarn, api.CheckFail})
}

// checkEnum checks f against want, that the values it yields are exactly
// wire (the API's constants), and that it passes unknown values through.
func checkEnum[E ~string](t *testing.T, f func(E) string, want map[E]string, wire []string) {
	t.Helper()
	var got []string
	for in, w := range want {
		out := f(in)
		if out != w {
			t.Errorf("%T %q maps to %q, want %q", in, in, out, w)
		}
		got = append(got, out)
	}
	slices.Sort(got)
	wire = slices.Sorted(slices.Values(wire))
	if diff := cmp.Diff(wire, got); diff != "" {
		t.Errorf("%T maps onto other values than the API's (-api +mapped):\n%s", E(""), diff)
	}
	if out := f("from-the-future"); out != "from-the-future" {
		t.Errorf("%T unknown value maps to %q, want it unchanged", E(""), out)
	}
}

func TestMapSliceKeepsNilAndEmpty(t *testing.T) {
	if got := mapSlice([]vm.Port(nil), apiPort); got != nil {
		t.Errorf("nil maps to %#v, want nil", got)
	}
	if got := mapSlice([]vm.Port{}, apiPort); got == nil || len(got) != 0 {
		t.Errorf("empty maps to %#v, want an empty non-nil slice", got)
	}
	got := mapSlice([]vm.Port{{Port: 22}, {Port: 80}}, apiPort)
	if diff := cmp.Diff([]api.Port{{Port: 22}, {Port: 80}}, got); diff != "" {
		t.Errorf("order or values changed (-want +got):\n%s", diff)
	}
}

// A client that does not stream gets no progress function, so the
// services skip building events for it; one that streams gets each event
// mapped.
func TestProgressAdapters(t *testing.T) {
	if vmProgress(nil) != nil {
		t.Error("vmProgress(nil) is not nil")
	}
	if kernelProgress(nil) != nil {
		t.Error("kernelProgress(nil) is not nil")
	}
	var got []api.Event
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	vmProgress(func(ev api.Event) { got = append(got, ev) })(vm.Event{Type: vm.EventStep, Time: at, OpID: "op-1", Kind: "vm.create", Target: "web", Step: "record", Index: 1, Total: 7})
	kernelProgress(func(ev api.Event) { got = append(got, ev) })(kernels.Progress{Time: at, OpID: "op-2", Kind: kernels.OpBuild, Target: "default", Step: "compile", Index: 3, Total: 5, Detail: "CC init/main.o", Fraction: 0.5})
	want := []api.Event{
		{Type: "step", Time: at, OpID: "op-1", Kind: "vm.create", Target: "web", Step: "record", Index: 1, Total: 7},
		{Type: "step", Time: at, OpID: "op-2", Kind: "kernel.build", Target: "default", Step: "compile", Index: 3, Total: 5, Detail: "CC init/main.o", Fraction: 0.5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
