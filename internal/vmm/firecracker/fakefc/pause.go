package main

// patchVM pauses or resumes the vCPUs. Like Firecracker it is refused
// before boot and is idempotent after: pausing paused vCPUs or resuming
// running ones succeeds. A paused guest does not act on CTRL+ALT+DEL until
// it is resumed.
func (v *vmm) patchVM(body []byte) error {
	state, err := decodeVMState(body)
	if err != nil {
		return err
	}
	if !v.started {
		return errPreBoot()
	}
	switch state {
	case "Paused":
		v.paused = true
		v.log.logf(levelInfo, "fc_vmm", "'pause vm' VMM action took 1 us.")
	default:
		v.paused = false
		v.log.logf(levelInfo, "fc_vmm", "'resume vm' VMM action took 1 us.")
		if v.pendingCtrlAltDel {
			v.pendingCtrlAltDel = false
			v.reset()
		}
	}
	return nil
}
