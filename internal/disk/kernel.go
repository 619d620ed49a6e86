package disk

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"banger/internal/errdefs"
	"banger/internal/userfile"
)

// KernelFormat is the on-disk format of a guest kernel.
type KernelFormat string

// The kernel formats banger accepts.
const (
	// Vmlinux is an uncompressed 64-bit ELF kernel for x86_64 or aarch64,
	// the format Firecracker boots.
	Vmlinux KernelFormat = "vmlinux"
	// BzImage is an x86 boot-protocol kernel ("HdrS" at 0x202); banger
	// unpacks it to a vmlinux before use.
	BzImage KernelFormat = "bzImage"
)

// The x86 boot protocol header (Documentation/arch/x86/boot.rst), offsets
// from the start of the file.
const (
	bootOffSetupSects = 0x1F1
	bootOffSyssize    = 0x1F4
	bootOffBootFlag   = 0x1FE
	bootOffHeader     = 0x202
	bootOffVersion    = 0x206
	bootOffLoadflags  = 0x211
	bootFlag          = 0xAA55
	bootMinVersion    = 0x0200 // protocol 2.00: the first that can load a bzImage high
	loadedHigh        = 0x01
	kernelHeadSize    = 4096
	kernelInstruction = "use an uncompressed vmlinux (ELF) or a bzImage for x86_64 or aarch64"
)

// DetectKernel reports the format of the kernel at path, reading only its
// headers. Anything else (a truncated file, an ELF for another
// architecture, random data) is InvalidArgument with a message saying what
// was found.
func DetectKernel(path string) (KernelFormat, error) {
	f, err := userfile.Open(path, MaxKernelSize)
	if err != nil {
		if errors.Is(err, userfile.ErrNotRegular) {
			return "", fmt.Errorf("%w: %s", err, kernelInstruction)
		}
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", path, err)
	}
	head := make([]byte, kernelHeadSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		if problem := checkELFKernel(f, head, st.Size()); problem != "" {
			return "", notKernel(path, problem)
		}
		return Vmlinux, nil
	case len(head) >= bootOffHeader+4 && string(head[bootOffHeader:bootOffHeader+4]) == "HdrS":
		if problem := checkBzImage(head, st.Size()); problem != "" {
			return "", notKernel(path, problem)
		}
		return BzImage, nil
	case n == 0:
		return "", notKernel(path, "the file is empty")
	}
	problem := "unrecognised contents"
	if found := sniff(head); found != "" {
		problem = "found " + found
	}
	return "", notKernel(path, problem)
}

func notKernel(path, problem string) error {
	return errdefs.InvalidArgumentf("%s is not a kernel banger can boot (%s): %s", path, problem, kernelInstruction)
}

// checkELFKernel checks that an ELF file is a 64-bit little-endian
// executable for x86_64 or aarch64 whose loadable segments are all present.
func checkELFKernel(r io.ReaderAt, head []byte, size int64) string {
	if len(head) < 64 {
		return fmt.Sprintf("a truncated ELF header of %d bytes", len(head))
	}
	if head[elf.EI_CLASS] != byte(elf.ELFCLASS64) {
		return fmt.Sprintf("an ELF file of class %v, want ELFCLASS64", elf.Class(head[elf.EI_CLASS]))
	}
	if head[elf.EI_DATA] != byte(elf.ELFDATA2LSB) {
		return fmt.Sprintf("an ELF file with byte order %v, want ELFDATA2LSB", elf.Data(head[elf.EI_DATA]))
	}
	machine := elf.Machine(binary.LittleEndian.Uint16(head[18:]))
	if machine != elf.EM_X86_64 && machine != elf.EM_AARCH64 {
		return fmt.Sprintf("an ELF file for %v, want EM_X86_64 or EM_AARCH64", machine)
	}
	ef, err := elf.NewFile(r)
	if err != nil {
		return fmt.Sprintf("a truncated or corrupt ELF file: %v", err)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Sprintf("an ELF file of type %v, want an executable", ef.Type)
	}
	loads := 0
	for _, p := range ef.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		loads++
		if end := p.Off + p.Filesz; end < p.Off || end > uint64(size) {
			return fmt.Sprintf("a truncated ELF file: a segment ends at byte %d but the file has %d", end, size)
		}
	}
	if loads == 0 {
		return "an ELF file with no loadable segments"
	}
	return ""
}

// checkBzImage checks the x86 boot protocol header of a bzImage and that
// the file is as long as the header says.
func checkBzImage(head []byte, size int64) string {
	le := binary.LittleEndian
	if len(head) < bootOffLoadflags+1 {
		return "a truncated bzImage header"
	}
	if le.Uint16(head[bootOffBootFlag:]) != bootFlag {
		return "a bzImage header without the 0xAA55 boot flag"
	}
	if v := le.Uint16(head[bootOffVersion:]); v < bootMinVersion {
		return fmt.Sprintf("a zImage with boot protocol %d.%02d, too old to load high", v>>8, v&0xff)
	}
	if head[bootOffLoadflags]&loadedHigh == 0 {
		return "a zImage, not a bzImage (the LOADED_HIGH flag is clear)"
	}
	setupSects := int64(head[bootOffSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	want := (setupSects+1)*512 + int64(le.Uint32(head[bootOffSyssize:]))*16
	if size < want {
		return fmt.Sprintf("a truncated bzImage: its header says at least %d bytes but the file has %d", want, size)
	}
	return ""
}
