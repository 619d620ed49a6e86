package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unicode"
)

// fault is an error the API reports as-is: its text is the fault_message
// Firecracker would send. Any other error from request decoding is a serde
// error and gets Firecracker's deserialisation prefix.
type fault struct{ msg string }

func (f *fault) Error() string { return f.msg }

func faultf(format string, args ...any) error { return &fault{msg: fmt.Sprintf(format, args...)} }

// faultMessage renders err as the fault_message of a 400 response.
func faultMessage(err error) string {
	var f *fault
	if errors.As(err, &f) {
		return f.msg
	}
	return fmt.Sprintf("An error occurred when deserializing the json body of a request: %v.", err)
}

// osError renders err the way Rust's io::Error displays, e.g. "No such
// file or directory (os error 2)".
func osError(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	msg := []rune(errno.Error())
	if len(msg) > 0 {
		msg[0] = unicode.ToUpper(msg[0])
	}
	return fmt.Sprintf("%s (os error %d)", string(msg), int(errno))
}

// checkOpen opens path the way Firecracker does when it accepts a resource
// (read-only, or read-write for writable drives) and closes it again.
func checkOpen(path string, flag int) error {
	_, err := openReached(path, flag)
	return err
}

// openReached is checkOpen that also says which file the open reached:
// the target of the opened descriptor, as /proc/self/fd names it.
func openReached(path string, flag int) (string, error) {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	reached, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return "", err
	}
	if flag != os.O_RDONLY {
		// open(2) refuses O_RDWR on a directory, but be explicit.
		if info, err := f.Stat(); err == nil && info.IsDir() {
			return "", &os.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
		}
	}
	return reached, nil
}

// checkCmdline applies linux-loader's Cmdline rules on x86_64: printable
// ASCII only and, with the terminating NUL, at most 2048 bytes.
func checkCmdline(args string) error {
	const maxSize = 2048
	for _, c := range args {
		if c < ' ' || c > '~' {
			return faultf("Boot source error: The kernel command line is invalid: String contains a non-printable ASCII character")
		}
	}
	if len(args)+1 > maxSize {
		return faultf("Boot source error: The kernel command line is invalid: Inserting string would make command line too long")
	}
	return nil
}

// checkKernelImage is what InstanceStart's kernel loader would reject on
// x86_64: anything but a little-endian 64-bit ELF (a bzImage must be
// unpacked to vmlinux first).
func checkKernelImage(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return faultf("Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: %s", osError(err))
	}
	defer f.Close()
	var ident [6]byte
	if _, err := io.ReadFull(f, ident[:]); err != nil || string(ident[:4]) != "\x7fELF" {
		return faultf("Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Elf(InvalidElfMagicNumber): %s is not an uncompressed ELF vmlinux", path)
	}
	if ident[4] != 2 || ident[5] != 1 { // ELFCLASS64, ELFDATA2LSB
		return faultf("Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Elf(InvalidElfClass): %s is not a 64-bit little-endian ELF", path)
	}
	return nil
}

// checkTap mirrors opening a tap with TUNSETIFF: the name must fit in
// IFNAMSIZ, and an existing interface of that name must be a tun/tap
// device (the kernel refuses to attach to anything else).
func checkTap(name string) error {
	const ifnamsiz = 16
	if name == "" || len(name) >= ifnamsiz {
		return faultf("Net device error: Could not create the network device: Open tap device failed: Invalid interface name %q: want 1-15 bytes", name)
	}
	dev := filepath.Join("/sys/class/net", name)
	if _, err := os.Stat(dev); err != nil {
		return nil // TUNSETIFF would create it
	}
	if _, err := os.Stat(filepath.Join(dev, "tun_flags")); err != nil {
		return faultf("Net device error: Could not create the network device: Open tap device failed: Error while creating ifreq structure: Invalid argument (os error 22). Invalid TUN/TAP Backend provided by %s. Check our documentation on setting up the network devices.", name)
	}
	return nil
}

// checkedID applies the API server's rule for ids taken from the path.
func checkedID(id string) error {
	if id == "" {
		return faultf("The ID cannot be empty.")
	}
	for _, c := range id {
		if c != '_' && !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return faultf("API Resource IDs can only contain alphanumeric characters and underscores.")
		}
	}
	return nil
}

// validInstanceID applies the rule the real binary enforces on --id
// (it panics on anything else).
func validInstanceID(id string) error {
	if n := len(id); n < 1 || n > 64 {
		return fmt.Errorf("invalid instance id %q: length %d is not between 1 and 64", id, n)
	}
	for i, c := range id {
		if c != '-' && !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return fmt.Errorf("invalid instance id %q: invalid char (%c) at position %d: use letters, digits and '-'", id, c, i)
		}
	}
	return nil
}
