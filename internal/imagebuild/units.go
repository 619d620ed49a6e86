package imagebuild

// Files configure writes into the tree. They are fixed text: per-VM
// identity (hostname, agent token, authorized keys) reaches each VM on its
// own identity disk, which banger-identity.service installs at boot; none
// of it is baked in here.

// identityUnit installs the VM's identity from its identity disk (package
// identdisk) before the agent, sshd and anything that reads the hostname
// start. A VM booted without an identity disk keeps the files it has.
const identityUnit = `[Unit]
Description=Install this VM's identity from its identity disk (banger)
After=local-fs.target
Before=banger-agent.service ssh.service systemd-hostnamed.service network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/bin/banger-agent identity
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// IdentityMarker is the file in a built image saying that its agent
// installs each VM's identity from the identity disk; registering an image
// looks for it.
const IdentityMarker = "/etc/banger/identity-disk"

const identityMarkerText = "# banger: banger-identity.service installs this VM's identity from its identity disk at boot.\n"

// agentUnit runs the agent, which serves vsock (Firecracker) and the
// virtio-serial port (qemu) by itself, whichever the VMM provides; an
// /etc/banger/agent.env may still override its flags with
// BANGER_AGENT_LISTEN. It starts as soon as /root is mounted: a guest is
// ready for commands before sshd is (the host asks for host keys when it
// needs them).
const agentUnit = `[Unit]
Description=banger guest agent
After=local-fs.target root.mount
StartLimitIntervalSec=0

[Service]
Type=simple
Environment=BANGER_AGENT_LISTEN=auto
EnvironmentFile=-/etc/banger/agent.env
ExecStart=/usr/local/bin/banger-agent --listen ${BANGER_AGENT_LISTEN} --token-file /etc/banger/agent-token
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
`

// hostKeysUnit makes the SSH host keys on first boot: the image has none,
// so every VM gets its own. Only Ed25519 and ECDSA: an RSA key takes
// seconds to make, minutes under software emulation.
const hostKeysUnit = `[Unit]
Description=Generate this machine's SSH host keys (banger)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
ExecStart=/usr/bin/ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// rootSeedUnit fills a fresh work disk, mounted at /root, from /etc/skel
// once; the marker keeps files the user later deletes deleted.
const rootSeedUnit = `[Unit]
Description=Seed an empty /root from /etc/skel (banger)
After=local-fs.target root.mount
Before=banger-agent.service ssh.service
ConditionPathExists=!/root/.banger-seeded

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'cp -a -n /etc/skel/. /root/ && chmod 0700 /root && touch /root/.banger-seeded'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// fstab mounts the per-VM work disk (label "work") at /root. nofail keeps
// a VM without one bootable; the short device timeout keeps it from
// waiting 90 s for a disk that is not there.
const fstab = `# banger: the per-VM work disk holds /root and survives stop/start.
LABEL=work /root ext4 defaults,nofail,x-systemd.device-timeout=10s 0 2
`

// sshdConfig lets the VM service put authorized keys in the VM's root
// layer, since /root/.ssh is on the work disk.
const sshdConfig = `# banger
AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u
PasswordAuthentication no
PermitRootLogin prohibit-password
`

const hostsFile = `127.0.0.1	localhost
127.0.1.1	banger
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
`

const resolvConf = "# banger writes this file for each VM.\n"

// udevTriggerDropIn makes the boot's udev coldplug replay only devices'
// add events. Debian's systemd-udev-trigger.service replays subsystems'
// too (every /sys/module entry, bus and driver: 54 on the built kernel,
// 139 on Debian's cloud kernel), and udevd's workers handling those
// delayed the disks' events, so the work disk, and with it /root and the
// agent, came about 0.3 s later on the distribution kernel under TCG
// (docs/kernels.md). They are replayed after the boot instead
// (udevSubsystemsUnit). Only --type and --action are given, which every
// systemd's udevadm has, so an imported image with an older systemd still
// coldplugs its devices.
const udevTriggerDropIn = `# banger: coldplug devices at boot; banger-udev-subsystems.service replays
# the subsystems' (modules', buses', drivers') add events after the boot.
[Service]
ExecStart=
ExecStart=-udevadm trigger --type=devices --action=add
`

// udevTriggerDropInPath is where udevTriggerDropIn goes.
const udevTriggerDropInPath = "etc/systemd/system/systemd-udev-trigger.service.d/banger.conf"

// udevSubsystemsUnit replays the add events of subsystems that
// udevTriggerDropIn leaves out of the boot, once multi-user.target is
// reached, so rules that match them (in Debian's: media polling for
// removable disks, systemd's fuse and configfs mounts, which sysinit.target
// also pulls in) still see them, as on a stock boot, only later.
const udevSubsystemsUnit = `[Unit]
Description=Replay the add events of kernel modules, buses and drivers (banger)
After=multi-user.target systemd-udev-trigger.service
ConditionPathExists=/run/udev/control

[Service]
Type=oneshot
ExecStart=-udevadm trigger --type=subsystems --action=add
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`

// enabledUnits are linked into multi-user.target.wants.
var enabledUnits = map[string]string{
	"banger-agent.service":           agentUnit,
	"banger-identity.service":        identityUnit,
	"banger-hostkeys.service":        hostKeysUnit,
	"banger-root-seed.service":       rootSeedUnit,
	"banger-udev-subsystems.service": udevSubsystemsUnit,
}

// maskedUnits are linked to /dev/null. systemd-firstboot would prompt on
// the console because machine-id is empty on first boot.
var maskedUnits = []string{"systemd-firstboot.service"}

// disabledLinks are background jobs that only slow a short-lived VM down.
var disabledLinks = []string{
	"etc/systemd/system/timers.target.wants/apt-daily.timer",
	"etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer",
	"etc/systemd/system/timers.target.wants/dpkg-db-backup.timer",
	"etc/systemd/system/timers.target.wants/e2scrub_all.timer",
	"etc/systemd/system/multi-user.target.wants/e2scrub_reap.service",
}
