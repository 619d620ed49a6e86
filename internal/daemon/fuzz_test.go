package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/api"
	"banger/internal/bytesize"
	"banger/internal/config"
	"banger/internal/disk"
	"banger/internal/errdefs"
	"banger/internal/names"
	"banger/internal/vm"
	"banger/internal/vmm/firecracker/fctest"
)

// fuzzHosts are the hosts create requests are checked against: one whose
// facts are unknown (the widest limits) and a small one.
var fuzzHosts = []config.Host{{}, {CPUs: 4, MemoryBytes: 8 * bytesize.GiB, StateFreeBytes: 100 * bytesize.GiB}}

// FuzzCreateVMRequest decodes arbitrary bytes as a create request and
// checks it as the daemon does (decode, then the vm service's checks with
// the limits the daemon wires in). A request that is refused is refused as
// invalid_argument; one that is accepted has every number within its
// limits, so that no later arithmetic on it can wrap.
func FuzzCreateVMRequest(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `{"memory_mib":17592186044672}`, `{"memory_mib":9223372036854775807}`,
		`{"memory_mib":-17592186044672}`, `{"memory_mib":8796093022208}`, `{"vcpus":4294967297}`,
		`{"vcpus":-9223372036854775808}`, `{"disk_bytes":9223372036854775807}`, `{"disk_bytes":-1}`,
		`{"memory_mib":1048576,"vcpus":32,"disk_bytes":2199023255552}`, `{"memory_mib":128,"vcpus":1,"disk_bytes":268435456}`,
		`{"memory_mib":1e3}`, `{"memory_mib":1.5}`, `{"name":"web","image":"x","net_group":"g","nat":false,"start":true}`,
		`{"name":"Bad_Name"}`, `{"net_group":"-x"}`, `{"vcpus":"1"}`, `{"memory_mib":128} x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.CreateVMRequest
		if err := decodeBody(bytes.NewReader(body), &req); err != nil {
			if k := errdefs.KindOf(err); k != errdefs.InvalidArgument {
				t.Fatalf("decode %q: kind %s, want invalid_argument: %v", body, k, err)
			}
			return
		}
		for _, h := range fuzzHosts {
			got, err := vmDefaults(config.Defaults(h), h).CheckCreate(vmCreateRequest(req))
			if err != nil {
				if k := errdefs.KindOf(err); k != errdefs.InvalidArgument {
					t.Fatalf("check %+v: kind %s, want invalid_argument: %v", req, k, err)
				}
				continue
			}
			checkCreateInRange(t, got, h)
		}
	})
}

// checkCreateInRange fails t unless an accepted create request is sane on
// host h.
func checkCreateInRange(t *testing.T, req vm.CreateRequest, h config.Host) {
	t.Helper()
	maxCPUs := config.MaxVCPUs
	if h.CPUs > 0 {
		maxCPUs = min(maxCPUs, h.CPUs)
	}
	if req.VCPUs < 1 || req.VCPUs > maxCPUs {
		t.Fatalf("accepted vcpus = %d on %+v", req.VCPUs, h)
	}
	if req.MemoryMiB < 128 || int64(req.MemoryMiB) > config.MaxMemory>>20 {
		t.Fatalf("accepted memory_mib = %d", req.MemoryMiB)
	}
	bytes := int64(req.MemoryMiB) << 20
	if bytes>>20 != int64(req.MemoryMiB) || bytes < config.MinMemory || (h.MemoryBytes > 0 && bytes > h.MemoryBytes) {
		t.Fatalf("accepted memory_mib = %d (%d bytes) on %+v", req.MemoryMiB, bytes, h)
	}
	if req.DiskBytes < config.MinDiskSize || req.DiskBytes > config.MaxDiskSize {
		t.Fatalf("accepted disk_bytes = %d", req.DiskBytes)
	}
	if req.Image == "" {
		t.Fatalf("accepted a request without an image")
	}
	if req.Name != "" && names.Validate(req.Name) != nil {
		t.Fatalf("accepted name %q", req.Name)
	}
	if req.NetGroup != "" && names.ValidateAs("network group", req.NetGroup) != nil {
		t.Fatalf("accepted net_group %q", req.NetGroup)
	}
}

// fuzzFiles makes the files the register and import fuzz targets may name:
// a real ext4 image, a kernel, a FIFO, a symlink to the kernel, a
// directory and an empty file. Inputs say $DIR for their directory.
func fuzzFiles(f *testing.F) string {
	f.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		f.Skip("needs mkfs.ext4 (apt-get install e2fsprogs)")
	}
	dir := f.TempDir()
	root := filepath.Join(dir, "root.ext4")
	fh, err := os.Create(root)
	if err != nil {
		f.Fatal(err)
	}
	if err := fh.Truncate(16 << 20); err != nil {
		f.Fatal(err)
	}
	fh.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", root).CombinedOutput(); err != nil {
		f.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	fctest.WriteKernel(f, filepath.Join(dir, "vmlinux"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("vmlinux", filepath.Join(dir, "vmlinuz")); err != nil {
		f.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		f.Fatal(err)
	}
	return dir
}

// fuzzPost sends body (with $DIR replaced) to path on h and checks the
// answer: a JSON body, never a server error, and a valid error body for a
// refusal. It returns the status and the body.
func fuzzPost(t *testing.T, h http.Handler, path, dir string, body []byte) (int, []byte) {
	t.Helper()
	body = bytes.ReplaceAll(body, []byte("$DIR"), []byte(dir))
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 || rec.Code < 200 || (rec.Code >= 300 && rec.Code < 400) {
		t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("POST %s %q: body is not JSON: %q", path, body, rec.Body)
	}
	if rec.Code >= 400 {
		var eb api.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || !errdefs.Kind(eb.Error.Code).Valid() {
			t.Fatalf("POST %s %q: error body %s has no valid code (%v)", path, body, rec.Body, err)
		}
	}
	return rec.Code, rec.Body.Bytes()
}

// fuzzRemove deletes what an accepted request made, so every input starts
// from the same state.
func fuzzRemove(t *testing.T, h http.Handler, path string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("DELETE %s: status %d: %s", path, rec.Code, rec.Body)
	}
}

// checkUserFile fails t unless path is an absolute path to a regular file
// of at most max bytes.
func checkUserFile(t *testing.T, what, path string, max int64) os.FileInfo {
	t.Helper()
	if !filepath.IsAbs(path) {
		t.Fatalf("accepted %s %q: not absolute", what, path)
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > max {
		t.Fatalf("accepted %s %s: %v, %v", what, path, st, err)
	}
	return st
}

// FuzzRegisterImageRequest posts arbitrary bytes to POST /v1/images. A
// registered image has a valid name and absolute paths to regular files of
// sane sizes, and its recorded size is its root filesystem's.
func FuzzRegisterImageRequest(f *testing.F) {
	dir := fuzzFiles(f)
	for _, seed := range []string{
		`{"name":"img","rootfs":"$DIR/root.ext4","kernel":"$DIR/vmlinux"}`,
		`{"name":"img","rootfs":"$DIR/root.ext4","kernel":"$DIR/vmlinuz","initrd":"$DIR/empty"}`,
		`{"name":"img","rootfs":"$DIR/fifo","kernel":"$DIR/vmlinux"}`,
		`{"name":"img","rootfs":"$DIR/root.ext4","kernel":"$DIR/fifo"}`,
		`{"name":"img","rootfs":"$DIR/root.ext4","kernel":"$DIR/vmlinux","initrd":"/dev/zero"}`,
		`{"name":"img","rootfs":"$DIR/sub","kernel":"$DIR/vmlinux"}`,
		`{"name":"img","rootfs":"$DIR/sub/../root.ext4","kernel":"$DIR/vmlinux"}`,
		`{"name":"img","rootfs":"root.ext4","kernel":"vmlinux"}`,
		`{"name":"Bad","rootfs":"$DIR/root.ext4","kernel":"$DIR/vmlinux"}`,
		`{"name":"img","rootfs":"$DIR/root.ext4","kernel":"$DIR/vmlinux","size":1}`,
		`null`, `{}`, `{"rootfs":"/dev/zero","kernel":"/dev/zero"}`,
	} {
		f.Add([]byte(seed))
	}
	d, _, _, _ := newTestDaemon(f, os.Getuid())
	h := d.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, data := fuzzPost(t, h, "/v1/images", dir, body)
		if code != http.StatusCreated {
			return
		}
		var img api.Image
		if err := json.Unmarshal(data, &img); err != nil {
			t.Fatal(err)
		}
		defer fuzzRemove(t, h, "/v1/images/"+img.ID)
		if err := names.ValidateAs("image", img.Name); err != nil {
			t.Fatalf("accepted image name %q: %v", img.Name, err)
		}
		st := checkUserFile(t, "rootfs", img.RootFS, disk.MaxImageSize)
		if img.RootFSSize != st.Size() {
			t.Fatalf("rootfs_size = %d, the file has %d", img.RootFSSize, st.Size())
		}
		checkUserFile(t, "kernel", img.Kernel, disk.MaxKernelSize)
		if img.Initrd != "" {
			checkUserFile(t, "initrd", img.Initrd, disk.MaxKernelSize)
		}
	})
}

// FuzzImportKernelRequest posts arbitrary bytes to POST /v1/kernels. An
// imported kernel has a valid name, and its files are regular files in the
// kernel store, no larger than the limits.
func FuzzImportKernelRequest(f *testing.F) {
	dir := fuzzFiles(f)
	for _, seed := range []string{
		`{"path":"$DIR/vmlinux"}`, `{"name":"k","path":"$DIR/vmlinuz"}`,
		`{"name":"k","path":"$DIR/vmlinux","initrd":"$DIR/empty"}`,
		`{"name":"k","path":"$DIR/fifo"}`, `{"name":"k","path":"$DIR/vmlinux","initrd":"$DIR/fifo"}`,
		`{"name":"k","path":"/dev/zero"}`, `{"name":"k","path":"$DIR/root.ext4"}`, `{"name":"k","path":"$DIR/sub"}`,
		`{"name":"k","path":"vmlinux"}`, `{"name":"` + strings.Repeat("k", 64) + `","path":"$DIR/vmlinux"}`,
		`null`, `{}`, `{"path":"$DIR/vmlinux","jobs":1}`,
	} {
		f.Add([]byte(seed))
	}
	d, _, layout, _ := newTestDaemon(f, os.Getuid())
	h := d.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		code, data := fuzzPost(t, h, "/v1/kernels", dir, body)
		if code != http.StatusCreated {
			return
		}
		var k api.Kernel
		if err := json.Unmarshal(data, &k); err != nil {
			t.Fatal(err)
		}
		defer fuzzRemove(t, h, "/v1/kernels/"+k.ID)
		if err := names.ValidateAs("kernel", k.Name); err != nil {
			t.Fatalf("accepted kernel name %q: %v", k.Name, err)
		}
		for what, p := range map[string]string{"vmlinux": k.Vmlinux, "bzImage": k.BzImage, "initrd": k.Initrd} {
			if p == "" {
				continue
			}
			if !strings.HasPrefix(p, layout.StateDir+"/") && !strings.HasPrefix(p, layout.CacheDir+"/") {
				t.Fatalf("%s %s is outside the kernel store", what, p)
			}
			checkUserFile(t, what, p, disk.MaxKernelSize)
		}
		if k.Size <= 0 || k.Size > disk.MaxKernelSize {
			t.Fatalf("size = %d", k.Size)
		}
	})
}
