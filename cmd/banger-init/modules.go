package main

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"banger/internal/initramfs/initlayout"
)

// loadModules loads every module of the list with load(file, name), each
// as soon as the modules it depends on are loaded: independent modules
// (the block, network, console, entropy and vsock drivers once the virtio
// transport is in) load at the same time, on as many CPUs as the VM has,
// and the root disk can be mounted before the last of them. A module whose
// dependency failed is not tried. The error is that of the first module
// of the list that failed; a dependency that is not earlier in the list
// is an error before anything loads.
func loadModules(list []initlayout.ListEntry, load func(file, name string) error) error {
	type state struct {
		done chan struct{} // closed once the module is loaded or failed
		err  error         // set before done is closed
	}
	mods := make(map[string]*state, len(list))
	for _, e := range list {
		name := moduleName(e.File)
		for _, d := range e.Depends {
			if mods[d] == nil {
				return fmt.Errorf("module list: %s depends on %s, which is not listed before it", name, d)
			}
		}
		if mods[name] != nil {
			return fmt.Errorf("module list: %s is listed twice", name)
		}
		mods[name] = &state{done: make(chan struct{})}
	}
	var wg sync.WaitGroup
	for _, e := range list {
		name := moduleName(e.File)
		st := mods[name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(st.done)
			for _, d := range e.Depends {
				dep := mods[d]
				<-dep.done
				if dep.err != nil {
					st.err = errSkipped
					return
				}
			}
			if err := load(e.File, name); err != nil {
				st.err = fmt.Errorf("module %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	for _, e := range list {
		if err := mods[moduleName(e.File)].err; err != nil && !errors.Is(err, errSkipped) {
			return err
		}
	}
	return nil
}

// errSkipped marks a module not loaded because a dependency failed.
var errSkipped = errors.New("skipped")

// loadModule loads the module at path with params. A module the kernel
// already has (EEXIST) is fine.
func loadModule(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), params, 0)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}
