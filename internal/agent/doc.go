// Package agent is banger-agent's server: the protocol the host uses to
// drive a guest. It owns request authentication, command execution with
// streamed stdio, tar file transfer with path checks, and the read-only
// reports (readiness, ports, host keys, metrics). It must not know about
// transports beyond "a listener of raw streams" or "one stream" (main
// opens vsock, unix sockets and the virtio-serial port), must not power
// anything off except through the injected Server.Poweroff, and must not
// trust any size or path the host sends.
//
// # Protocol v1
//
// Transport. Each raw stream from the host (a Firecracker vsock connection
// to guest port 1024, reached from the host through the VMM's unix socket
// and a "CONNECT 1024\n" / "OK <n>\n" handshake; or the qemu virtio-serial
// port org.banger.agent) carries one yamux session: the host is the yamux
// client and opens one stream per call; each stream carries HTTP/1.1.
//
// Authentication. Every request sends "Authorization: Bearer <token>", the
// per-VM secret the host wrote to /etc/banger/agent-token. It is compared
// in constant time; a missing or wrong token gets 401 with code
// failed_precondition.
//
// Errors. Every error reply is JSON {"error":{"code","message"}} with the
// codes of banger's API (not_found, already_exists, invalid_argument,
// failed_precondition, unavailable, internal) and their HTTP statuses (404,
// 409, 400, 412, 503, 500). JSON request bodies are limited to 1 MiB,
// uploads to Server.MaxUpload. Paths must be absolute and are cleaned.
//
// Routes (JSON field names as in package proto):
//
//	GET  /v1/ready          {version, hostname, boot_time, systemd}
//	POST /v1/exec           {argv, env, cwd, tty, rows, cols, stdin}, then 101 "Upgrade: banger-exec"
//	PUT  /v1/files?path=D   tar body extracted under D (created 0755) → {entries}
//	GET  /v1/files?path=P   tar of P, entries named from P's base name; trailer Banger-Error on late failure
//	GET  /v1/stat?path=P    {path, dir, mode, size, mod_time} of P, symlinks followed
//	GET  /v1/ports          [{port, address, proto}] of TCP sockets in LISTEN
//	GET  /v1/hostkeys       [{type, public_key, fingerprint}] from ssh_host_*_key.pub
//	POST /v1/tcp?port=N     connect to 127.0.0.1:N (503 when refused), then 101 "Upgrade: banger-tcp" and raw bytes both ways
//	GET  /v1/metrics        {load1, load5, load15, mem_total, mem_available, disk_total, disk_free, uptime}
//	POST /v1/shutdown       202, then sync and power off
//	POST /v1/identity       {token, hostname, machine_id, mac, address, gateway, dns, time, entropy} → {}
//
// Identity. A guest restored from a snapshot is told its new identity with
// POST /v1/identity, sent with the token it still holds. The request is
// checked in full (CheckIdentity) before Server.Reidentify applies it
// (SystemIdentity in the guest: clock, entropy, machine-id, hostname, SSH
// host keys, network, token file); only then does the agent take the new
// token, and the old one gets 401 from then on.
//
// Exec stream. After the 101 reply both directions carry frames:
// [1 byte type][4 byte big-endian length][payload], payload at most 1 MiB.
// Host to agent: 0x01 stdin data, 0x02 stdin EOF, 0x03 resize (uint16 rows,
// uint16 cols), 0x04 signal (int32, sent to the command's process group).
// Agent to host: 0x11 stdout, 0x12 stderr, 0x13 exit (int32 code, int32
// signal; code is 128+signal when a signal killed the command), 0x14 error
// (UTF-8 message, followed by an exit frame). Exit is always the last frame.
// A command that cannot start gets an error frame and exit code 127 (not
// found) or 126 (cannot execute, bad working directory). With tty the
// command runs on a PTY as a session leader, stderr is merged into stdout,
// and stdin EOF is delivered as the terminal's EOF character when the
// terminal is in canonical mode. Without tty it runs in its own process
// group with /dev/null as stdin unless stdin is set. The environment is
// PATH, HOME=/root, USER, LOGNAME (and TERM with tty), overridden by env;
// the working directory defaults to /root. If the host's stream ends or
// breaks the protocol before the exit, the process group is killed.
//
// Tar upload. Entries are extracted by package tarstream: names with ".."
// or absolute names, hard links to outside, and writes through symlinks
// are refused, as are device nodes, fifos and sockets. Numeric ownership, modes (set-id bits
// included) and modification times are kept.
package agent
