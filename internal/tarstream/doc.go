// Package tarstream writes file trees as tar streams and extracts tar
// streams without letting them reach outside their target directory. It is
// shared by the guest agent (uploads into the guest) and the CLI (banger
// vm cp into the host), so both refuse the same hostile archives: names
// with ".." or absolute names, hard links out of the target, writes
// through symlinks (planted by the archive or already there), device
// nodes, fifos and sockets. It must not know about HTTP, the daemon or
// guests: it reads and writes io streams and one local directory.
package tarstream
