// Package bootstrap works out which tool versions a repository declares
// (.mise.toml or mise.toml, .tool-versions, go.mod's go and toolchain
// lines, .nvmrc, .python-version) and installs them in a guest through the
// tool manager the guest has: mise when it is on the guest's PATH, the
// distribution's packages (apt-get) otherwise.
//
// Parsing and merging are pure: files arrive as bytes, bad lines become
// warnings that name the file and line, never errors or panics, and every
// input is bounded. Installing runs commands through the small Guest
// interface its caller provides (the CLI's agent exec); this package must
// not talk to the daemon, read the host's files or decide whether a VM is
// online: its caller does.
package bootstrap
