// Package vmmproc is what the VMM drivers share about the VMM process
// itself: finding the executable (with an error that says what to install
// or configure), reading and checking its version, checking the private
// runtime directory a VMM's sockets go in, launching the process in its own
// session with its output appended to log files, waiting until it answers
// on its socket while watching for an early exit (quoting the end of its
// log), reaping it, and killing a process a failed launch gives up on.
//
// It knows no VMM's protocol: a driver says how to ask its VMM whether it
// is ready. It must not create the runtime directory (the VM lifecycle
// does, privately, before Launch), and it decides no VM lifecycle policy.
package vmmproc
