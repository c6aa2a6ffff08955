# SPDX-License-Identifier: GPL-2.0
#
# The guest library of the rust-nvme VM tests, installed as /lib/rnvme.sh
# and sourced by /init before each test script runs (busybox sh, set -e).
# It loads and binds drivers, finds controllers and their disks, waits for
# conditions, runs fio verify jobs and asks the host for QEMU monitor
# actions. Call util-linux and coreutils tools by full path (/usr/bin/...):
# busybox's shell runs its own applets first.

RNVME_MODDIR=/lib/modules
RNVME_NVME_CLASS=0x010802

# log MSG: one line of test output.
log() {
	echo "-- $*"
}

# fail MSG: reports the failure and ends the test with exit code 1.
fail() {
	echo "RNVME-FAIL: $*"
	exit 1
}

# rnvme_param NAME: value of rnvme.NAME= on the kernel command line.
rnvme_param() {
	local w
	for w in $(cat /proc/cmdline); do
		case "$w" in "rnvme.$1="*)
			echo "${w#*=}"
			return 0
			;;
		esac
	done
}

# nvme_ctrls: PCI address of every NVMe function (class 0x010802).
nvme_ctrls() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/class")" = "$RNVME_NVME_CLASS" ] && echo "${d##*/}"
	done
	return 0
}

# pci_addr_of N: PCI address of the N-th (from 0) --nvme of tests/harness/vm.sh.
pci_addr_of() {
	local a
	a=$(rnvme_param slots | cut -d, -f$(($1 + 1)))
	[ -n "$a" ] || fail "pci_addr_of $1: the VM has no --nvme number $1 (slots: $(rnvme_param slots))"
	[ "$a" != - ] || fail "pci_addr_of $1: that --nvme has its own bus=, its address is not fixed; use ctrl_by_serial"
	[ -d "/sys/bus/pci/devices/$a" ] || fail "pci_addr_of $1: no PCI device $a in the guest"
	echo "$a"
}

# ctrl_by_serial SERIAL: PCI address of the controller with that serial:
# from the --nvme options when the harness gave it a fixed slot, else from
# the sysfs serial of a controller a driver has bound (C driver:
# .../nvme/nvmeX/serial).
ctrl_by_serial() {
	local i s a f
	i=0
	for s in $(rnvme_param serials | tr , ' '); do
		a=$(rnvme_param slots | cut -d, -f$((i + 1)))
		if [ "$s" = "$1" ] && [ "$a" != - ]; then
			echo "$a"
			return 0
		fi
		i=$((i + 1))
	done
	for a in $(nvme_ctrls); do
		for f in /sys/bus/pci/devices/"$a"/nvme/*/serial; do
			[ -f "$f" ] || continue
			if [ "$(cat "$f" | tr -d ' ')" = "$1" ]; then
				echo "$a"
				return 0
			fi
		done
	done
	fail "no NVMe controller with serial $1 (controllers: $(nvme_ctrls | tr '\n' ' '))"
}

# driver_of PCIADDR: name of the driver bound to it, or nothing.
driver_of() {
	local l=/sys/bus/pci/devices/$1/driver
	[ -e "$l" ] && basename "$(readlink "$l")"
	return 0
}

# load_c_driver [NVME_PARAMS...]: insmod the C nvme-core.ko and nvme.ko.
load_c_driver() {
	[ -d /sys/module/nvme_core ] || insmod "$RNVME_MODDIR/nvme-core.ko" ||
		fail "insmod nvme-core.ko failed"
	[ -d /sys/module/nvme ] || insmod "$RNVME_MODDIR/nvme.ko" "$@" ||
		fail "insmod nvme.ko $* failed"
}

# load_c_driver_multipath [NVME_CORE_PARAMS...]: insmod the C driver with its native
# multipath on: the kernel's own modules when it has CONFIG_NVME_MULTIPATH, else the
# out-of-tree build of the same source that tests/harness/c-multipath.sh put in the initramfs.
load_c_driver_multipath() {
	local d=$RNVME_MODDIR
	[ -f "$d/mpath/nvme-core.ko" ] && d=$d/mpath
	[ ! -d /sys/module/nvme_core ] || fail "load_c_driver_multipath: nvme_core is already loaded"
	insmod "$d/nvme-core.ko" multipath=Y "$@" || fail "insmod $d/nvme-core.ko multipath=Y $* failed"
	insmod "$d/nvme.ko" || fail "insmod $d/nvme.ko failed"
}

# unload_c_driver: rmmod the C driver (unbind its controllers first).
unload_c_driver() {
	rmmod nvme || fail "rmmod nvme failed"
	rmmod nvme_core || fail "rmmod nvme_core failed"
}

# load_null_blk [PARAMS...]: insmod null_blk.ko.
load_null_blk() {
	insmod "$RNVME_MODDIR/null_blk.ko" "$@" || fail "insmod null_blk.ko $* failed"
}

# load_rust_driver [PARAMS...]: insmod rust_nvme.ko.
load_rust_driver() {
	[ -f "$RNVME_MODDIR/rust_nvme.ko" ] ||
		fail "rust_nvme.ko is not in the initramfs: build it with 'make' before running VM tests"
	insmod "$RNVME_MODDIR/rust_nvme.ko" "$@" || fail "insmod rust_nvme.ko $* failed; see the kernel messages above"
}

# unload_rust_driver: rmmod rust_nvme.
unload_rust_driver() {
	rmmod rust_nvme || fail "rmmod rust_nvme failed"
}

# bind PCIADDR DRIVER: binds the function to DRIVER (nvme or rust_nvme)
# through driver_override and drivers_probe, and checks that it took.
bind() {
	local a=$1 drv=$2 cur
	[ -d "/sys/bus/pci/devices/$a" ] || fail "bind: no PCI device $a"
	cur=$(driver_of "$a")
	[ -z "$cur" ] || fail "bind $a $drv: already bound to $cur; unbind it first"
	[ -d "/sys/bus/pci/drivers/$drv" ] || fail "bind $a $drv: no driver $drv is loaded"
	echo "$drv" >"/sys/bus/pci/devices/$a/driver_override"
	echo "$a" >/sys/bus/pci/drivers_probe || true
	cur=$(driver_of "$a")
	[ "$cur" = "$drv" ] || fail "bind $a $drv: probe failed (bound to: ${cur:-nothing}); see the kernel messages above"
	log "bound $a to $drv"
}

# unbind PCIADDR: unbinds the function from its driver and sets its
# driver_override back to none, so nothing binds it again by itself.
unbind() {
	local a=$1 cur
	cur=$(driver_of "$a")
	[ -z "$cur" ] || echo "$a" >"/sys/bus/pci/drivers/$cur/unbind"
	echo none >"/sys/bus/pci/devices/$a/driver_override"
	[ -z "$(driver_of "$a")" ] || fail "unbind $a: still bound to $(driver_of "$a")"
	log "unbound $a${cur:+ from $cur}"
}

# disks_of PCIADDR: names of the block devices under that PCI function.
disks_of() {
	local b
	for b in /sys/block/*; do
		case "$(readlink -f "$b")" in */"$1"/*) echo "${b##*/}" ;; esac
	done
	return 0
}

# disk_bytes DISK: size of /dev/DISK in bytes.
disk_bytes() {
	echo $(($(cat "/sys/block/$1/size") * 512))
}

# disk_on PCIADDR [WHAT]: the one disk of that function, once it is there (20 s at most);
# fails when it has none or several (WHAT, such as the driver, goes into the message).
disk_on() {
	wait_for '[ -n "$(disks_of '"$1"')" ]' 20
	[ "$(disks_of "$1" | wc -l)" = 1 ] || fail "$1${2:+ ($2)} has disks '$(disks_of "$1" | tr '\n' ' ')', want one"
	disks_of "$1"
}

# disk_nsid PCIADDR NSID: the disk of namespace NSID under that function, or nothing.
disk_nsid() {
	local d
	for d in $(disks_of "$1"); do
		[ "$(cat /sys/block/$d/nsid 2>/dev/null)" = "$2" ] && echo "$d"
	done
	return 0
}

# probe_line PCIADDR: the last rust_nvme probe summary line of that function in the kernel
# log, without its timestamp.
probe_line() {
	dmesg | grep "rust_nvme $1: .* I/O queues of depth " | tail -n 1 | sed 's/^\[[^]]*\] //'
}

# expect_probe PCIADDR TEXT...: its probe line contains every TEXT; logs the line.
expect_probe() {
	local a=$1 l t
	shift
	l=$(probe_line "$a")
	[ -n "$l" ] || fail "no probe line for $a"
	for t in "$@"; do
		case "$l" in *"$t"*) ;; *) fail "$a: probe line lacks '$t': $l" ;; esac
	done
	log "$l"
}

# write_at DEV OFFSET FILE: writes FILE to DEV at byte OFFSET with O_DIRECT.
write_at() {
	/usr/bin/dd if="$3" of="$1" bs=1M oflag=direct,seek_bytes seek=$2 conv=notrunc status=none ||
		fail "writing $3 to $1 at byte $2 failed"
}

# sha_at DEV OFFSET LEN: sha256 of LEN bytes of DEV at byte OFFSET, read with O_DIRECT.
sha_at() {
	/usr/bin/dd if="$1" bs=1M iflag=direct,skip_bytes,count_bytes skip=$2 count=$3 status=none |
		/usr/bin/sha256sum | cut -d' ' -f1
}

# sha_file FILE: sha256 of FILE.
sha_file() {
	/usr/bin/sha256sum <"$1" | cut -d' ' -f1
}

# uptime_ms: guest time since boot in milliseconds.
uptime_ms() {
	local up frac
	read -r up _ </proc/uptime
	frac=${up#*.}
	echo $((${up%.*} * 1000 + ${frac#0} * 10))
}

# read_fails_eio DISK LIMIT_S WHAT: a direct 4 KiB read of block 100 of /dev/DISK must fail
# with EIO within LIMIT_S seconds (WHAT names the situation in the failure message); logs how
# long it took and the error.
read_fails_eio() {
	local start took
	start=$(cut -d. -f1 /proc/uptime)
	if /usr/bin/dd if=/dev/$1 of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/tmp/dd.err; then
		fail "a read succeeded $3"
	fi
	took=$(($(cut -d. -f1 /proc/uptime) - start))
	log "read failed after $took s: $(head -n1 /tmp/dd.err)"
	grep -q 'Input/output error' /tmp/dd.err || fail "expected EIO, got: $(cat /tmp/dd.err)"
	[ "$took" -lt "$2" ] || fail "the failing read took $took s"
}

# wait_for COND_CMD [TIMEOUT_S]: evaluates COND_CMD every 0.1 s until it
# succeeds; fails the test after TIMEOUT_S (default 10) seconds.
wait_for() {
	local cond=$1 t=${2:-10} end
	end=$(($(uptime_ms) + t * 1000))
	until eval "$cond"; do
		[ "$(uptime_ms)" -lt "$end" ] || fail "timed out after ${t} s waiting for: $cond"
		sleep 0.1
	done
}

# fio_verify DEV SIZE [FIO_ARGS...]: 4k random writes over SIZE of DEV with
# crc32c verification, O_DIRECT, libaio at depth 16; fails on any error.
fio_verify() {
	local dev=$1 size=$2 out=/tmp/fio-verify.out
	shift 2
	if ! /usr/bin/fio --name=verify --filename="$dev" --rw=randwrite --bs=4k \
		--size="$size" --direct=1 --ioengine=libaio --iodepth=16 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 "$@" >"$out" 2>&1; then
		cat "$out"
		fail "fio verify of $size on $dev failed"
	fi
	log "fio verify $dev $size: ok, $(grep -m1 -o 'WRITE: bw=[^ ]*' "$out")"
}

# host_do MONITOR_CMD...: has the host run an HMP command on this VM's QEMU
# monitor (device_del, qemu-io, ...), waits for it to be done, prints the
# monitor's output and returns non-zero when the monitor reported an error.
# The request goes out on the console as "RNVME-HOST: SEQ CMD"; tests/harness/vm.sh
# runs it and answers on the second serial port (/dev/ttyS1) with
# "RNVME-OUT SEQ LINE" lines and one "RNVME-ACK SEQ RC".
host_do() {
	host_do_while "$*" true
}

# host_do_while "MONITOR_CMD" ACTION...: as host_do, but runs ACTION once the request is
# out and before the answer is read: for a host command that waits for what the guest
# does next (wake-from-suspend, answered once the guest has suspended and is woken).
# ACTION's failure fails the test.
host_do_while() {
	local seq line rc= cmd=$1
	shift
	seq=$(($(cat /tmp/.rnvme-host-seq 2>/dev/null || echo 0) + 1))
	echo "$seq" >/tmp/.rnvme-host-seq
	[ -c /dev/ttyS1 ] || fail "host_do: no /dev/ttyS1; run the test through tests/harness/vm.sh"
	exec 8<>/dev/ttyS1
	stty raw -echo <&8
	# Start on a fresh line: a tool's progress output (fio's ETA ends in \r, not \n) may
	# leave the console mid-line, and the host only reads requests at a line start.
	printf '\nRNVME-HOST: %s %s\n' "$seq" "$cmd" >/dev/console
	"$@" || fail "host_do_while $cmd: $* failed"
	while IFS= read -r -t 60 line <&8; do
		case "$line" in
		"RNVME-ACK $seq "*)
			rc=${line##* }
			break
			;;
		"RNVME-OUT $seq "*) echo "${line#RNVME-OUT $seq }" ;;
		esac
	done
	exec 8<&-
	[ -n "$rc" ] || fail "host_do $cmd: no answer from the host within 60 s"
	return "$rc"
}
