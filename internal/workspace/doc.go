// Package workspace reads a git checkout on the host for banger's
// workspaces: which files ship into a guest (tracked files as they are in
// the working tree, untracked-but-not-ignored ones on request, ignored
// ones never), the tar stream that carries them with a shallow copy of the
// repository's history, and the host-side checks and apply of a patch
// exported from a guest.
//
// It runs in the CLI, as the user who owns the checkout, and only reads
// the checkout (apply aside, which the user asks for); it runs the host's
// git. It must not talk to the daemon or touch anything outside the
// checkout and its own temporary directory.
package workspace
