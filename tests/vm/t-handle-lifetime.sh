#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Descriptors held open across the removal of what they name. A process holds namespace 1's
# disk (read-only and read-write), its partition, the controller char device and two sysfs
# attribute files (the disk's wwid, the controller's serial) open, on inherited descriptors
# (tests/vm/tools/nvme-fd-probe.c -f N), while the namespace goes away four ways, each in a
# VM of its own with a fresh controller, the C driver first and rust_nvme second:
#   unbind   the controller is unbound through sysfs;
#   unplug   the controller is hot-unplugged (device_del behind a pcie-root-port);
#   detach   namespace 1 is detached from the controller (nvme detach-ns, an NVMe subsystem);
#            the controller stays, the driver drops the disk, and after re-attaching it the
#            disk is back with its data.
# Before and after the removal every held descriptor gets NVME_IOCTL_ID, an I/O passthrough
# Read, an admin passthrough Identify, BLKGETSIZE64 and a 4 KiB read(); the sysfs descriptors
# and paths are read. Each answer of both drivers is printed. After the removal:
# - the ioctls fail with ENODEV or ENXIO, except NVME_IOCTL_ID and BLKGETSIZE64, which may
#   still succeed;
# - read() fails (EIO, ENXIO, ENODEV) or sees the end of the disk (0 bytes), never data;
# - on the char device, the calls it does not take (NVME_IOCTL_ID, BLKGETSIZE64, read(), I/O
#   passthrough, which the C driver takes with one namespace only) may fail with ENOTTY or
#   EINVAL; its admin passthrough fails with ENODEV or ENXIO;
# - in detach the controller is still there: its char device answers as before, and an admin
#   command through the dropped disk's descriptor may still reach it (the C driver's does);
# - the sysfs reads may give anything (the kernel's answer is ENODEV, ENOENT for the paths).
# While the descriptors are held `rmmod rust_nvme` is refused (unbind, unplug); once they are
# closed it succeeds, and the module loads and binds again. No kernel report on the console
# (the harness's scan) is the main check: a driver that frees what an open descriptor still
# reaches crashes here. A task blocked for 15 s panics the guest (hung_task_panic), so a call
# that never returns ends the run at once, with its stack on the console.
# unplug runs with one TCG thread and excuses pciehp's own lockdep report, as t-hotunplug.
#   unplug-ng as unplug, with the namespace's generic char device (C's ngXnY, ours
#            rng<c>n<ns>) held in place of the controller's.
# HANDLE_LIFETIME_SCENARIOS='unbind unplug unplug-ng detach' (the default) chooses the
# scenarios.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-fd-probe" tests/vm/tools/nvme-fd-probe.c

# Guest functions shared by the three scenarios.
COMMON=$(
	cat <<'COMMON'
# A call that never returns: reported (and the run ended) after 15 s, not at the time limit.
# Set here, not on the kernel command line, whose echo would trip the console scan.
echo 15 >/proc/sys/kernel/hung_task_timeout_secs
echo 1 >/proc/sys/kernel/hung_task_panic
# make_partition DISK: an MBR with one Linux partition, 4 MiB from LBA 2048, and a 4 KiB
# pattern in it (LBA 4096), read back later by check_pattern.
make_partition() {
	{
		/usr/bin/dd if=/dev/zero bs=446 count=1 status=none
		printf '\000\000\000\000\203\000\000\000\000\010\000\000\000\040\000\000'
		/usr/bin/dd if=/dev/zero bs=48 count=1 status=none
		printf '\125\252'
	} >/tmp/mbr
	/usr/bin/dd if=/tmp/mbr of=/dev/$1 bs=512 count=1 oflag=direct conv=notrunc status=none
	blockdev --rereadpt /dev/$1
	wait_for '[ -e /dev/'"$1"'p1 ]' 10
	[ -f /tmp/pattern ] || /usr/bin/dd if=/dev/urandom of=/tmp/pattern bs=4096 count=1 status=none
	/usr/bin/dd if=/tmp/pattern of=/dev/$1 bs=512 seek=4096 oflag=direct conv=notrunc status=none
}
# check_pattern DISK: the pattern make_partition wrote reads back.
check_pattern() {
	/usr/bin/dd if=/dev/$1 of=/tmp/back bs=512 skip=4096 count=8 iflag=direct status=none
	/usr/bin/cmp -s /tmp/pattern /tmp/back || fail "the pattern at LBA 4096 of /dev/$1 does not read back"
}
# hold DISK CHARDEV CTRLSYSFS: descriptors 3 (disk, read-only), 4 (disk, read-write),
# 5 (partition 1, read-only), 6 (char device), 7 (the disk's wwid attribute) and 9 (the
# controller's serial attribute; 8 is host_do's). HELD_DISK is the disk's name.
hold() {
	HELD_DISK=$1
	exec 3</dev/$1 4<>/dev/$1 5</dev/${1}p1 6</dev/$2 7</sys/block/$1/wwid 9<$3/serial
}
release() {
	exec 3<&- 4<&- 5<&- 6<&- 7<&- 9<&-
}
# probe_held DRIVER WHEN: every call on every held descriptor; "DRIVER WHEN fd.call outcome"
# lines in /tmp/held, each shown as it comes (a call that never returns is the last one shown).
probe_held() {
	local drv=$1 when=$2 fd name call
	for fd in 3:disk-ro 4:disk-rw 5:part 6:char; do
		name=${fd#*:} fd=${fd%:*}
		for call in id io admin size read; do
			case $call in
			io) set -- io opc=2 nsid=1 cdw10=0 len=512 ;;
			admin) set -- admin opc=6 cdw10=1 len=4096 ;;
			*) set -- $call ;;
			esac
			held "$drv $when $name.$call" "$(nvme-fd-probe -f $fd "$@")"
		done
	done
	held "$drv $when sysfs-fd.wwid" "$(nvme-fd-probe -f 7 read)"
	held "$drv $when sysfs-fd.serial" "$(nvme-fd-probe -f 9 read)"
	held "$drv $when sysfs-path.wwid" "$(nvme-fd-probe -o /sys/block/$HELD_DISK/wwid read)"
	held "$drv $when sysfs-path.size" "$(nvme-fd-probe -o /sys/block/$HELD_DISK/size read)"
}
held() {
	echo "$1 $2" >>/tmp/held
	[ "${1#* before }" != "$1" ] || echo "    $1: $2"
}
# judge DRIVER [alive]: each call after the removal got an acceptable answer (see the test's
# header; with "alive" the controller is still there: its char device answers as before and an
# admin command through the disk's descriptor may still reach it); prints both times' answers.
judge() {
	local drv=$1 alive=${2:-} name before after ok bad=0
	for name in $(sed -n "s/^$drv before \([^ ]*\) .*/\1/p" /tmp/held); do
		before=$(sed -n "s/^$drv before $name //p" /tmp/held)
		after=$(sed -n "s/^$drv after $name //p" /tmp/held)
		ok=no
		case "$alive:$name:$after" in
		*:ENODEV | *:ENXIO) ok=yes ;;
		*.id:"ok id=1" | *.size:"ok size="*) ok=yes ;;
		*.read:EIO | *.read:"ok bytes=0") ok=yes ;;
		alive:char.*) [ "$after" = "$before" ] && ok=yes ;;
		*:char.admin:*) ;;
		*:char.*:ENOTTY | *:char.*:EINVAL) ok=yes ;;
		alive:*.admin:ok) ok=yes ;;
		*:sysfs-*) ok=yes ;;
		esac
		printf '  %-5s %-16s %-18s %-18s%s\n' "$drv" "$name" "$before" "$after" "$([ $ok = yes ] || echo ' <- not a clean failure')"
		[ $ok = yes ] || bad=$((bad + 1))
	done
	[ $bad = 0 ] || echo "$drv $bad" >>/tmp/held-bad
}
# rmmod_held MODULE: rmmod while the descriptors are held; prints what happened.
rmmod_held() {
	if rmmod "$1" 2>/tmp/rmmod.err; then
		echo "rmmod $1 with descriptors held: succeeded"
		return 0
	fi
	echo "rmmod $1 with descriptors held: refused ($(head -n1 /tmp/rmmod.err))"
	return 1
}
finish() {
	if [ -s /tmp/held-bad ]; then
		fail "unclean answers after the removal: $(tr '\n' ' ' </tmp/held-bad)"
	fi
	log "every held descriptor failed cleanly on both drivers"
}
COMMON
)

# vm NAME ARGS...: runs the guest script on stdin after COMMON, in a VM.
vm() {
	local name=$1
	shift
	{
		echo "$COMMON"
		cat
	} | tests/harness/vm.sh --name "handle-lifetime-$name" \
		--file "$tmp/nvme-fd-probe=/usr/bin/nvme-fd-probe" "$@" -
}

# want SCENARIO: the scenario was chosen.
want() {
	case " ${HANDLE_LIFETIME_SCENARIOS:-unbind unplug unplug-ng detach} " in *" $1 "*) echo "== $1" ;; *) return 1 ;; esac
}

failed=0
if want unbind; then vm unbind --timeout 150 --disk d0=64M --nvme serial=rnhl0,drive=d0 <<'GUEST' || failed=1
load_c_driver
a=$(pci_addr_of 0)
bind "$a" nvme
wait_for '[ -n "$(disk_nsid '"$a"' 1)" ]' 20
d=$(disk_nsid "$a" 1) c=$(ls /sys/bus/pci/devices/$a/nvme/)
make_partition "$d"
hold "$d" "$c" "/sys/class/nvme/$c"
probe_held c before
unbind "$a"
probe_held c after
judge c
log "C: $(rmmod_held nvme || true)"
release
[ ! -d /sys/module/nvme ] || rmmod nvme || fail "rmmod nvme failed after the descriptors were closed"
rmmod nvme_core || fail "rmmod nvme_core failed after the descriptors were closed"

load_rust_driver
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0n1p1 ]' 20
check_pattern rnvme0n1
hold rnvme0n1 rnvme0 /sys/class/misc/rnvme0
probe_held rust before
unbind "$a"
probe_held rust after
judge rust
! rmmod_held rust_nvme || fail "rmmod rust_nvme succeeded while its descriptors were held"
release
rmmod rust_nvme || fail "rmmod rust_nvme failed after the descriptors were closed"
load_rust_driver
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0n1p1 ]' 20
check_pattern rnvme0n1
log "rust_nvme reloaded and bound again: the data reads back"
unbind "$a"
unload_rust_driver
finish
GUEST
fi

# unplug_vm NAME SERIAL0 SERIAL1 HELD: the unplug scenario, two controllers behind root ports
# (C's on the first, ours on the second), with descriptor 6 on the controller's char device
# (HELD=ctrl) or on namespace 1's generic char device (HELD=ng: C's ngXnY, ours rng<c>n<ns>).
unplug_vm() {
	vm "$1" --timeout 200 --tcg-one-thread --allow-pciehp-lockdep --append "rnvme.held=$4" \
		--disk d0=64M --disk d1=64M \
		--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8 -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x9 -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off' \
		--nvme "id=hp0,serial=$2,drive=d0,bus=rp1" \
		--nvme "id=hp1,serial=$3,drive=d1,bus=rp2" <<'GUEST'
held=$(rnvme_param held)
# behind ROOTPORT: the NVMe function behind that root port.
behind() {
	local a
	for a in $(nvme_ctrls); do
		case "$(readlink -f /sys/bus/pci/devices/$a)" in */"$1"/*) echo "$a" ;; esac
	done
}
ca=$(behind 0000:00:08.0) ra=$(behind 0000:00:09.0)
[ -n "$ca" ] && [ -n "$ra" ] || fail "no controllers behind the root ports: $(nvme_ctrls | tr '\n' ' ')"
load_c_driver
bind "$ca" nvme
wait_for '[ -n "$(disk_nsid '"$ca"' 1)" ]' 20
d=$(disk_nsid "$ca" 1) c=$(ls /sys/bus/pci/devices/$ca/nvme/)
chr=$c
if [ "$held" = ng ]; then
	wait_for '[ -n "$(ls /sys/class/nvme-generic/)" ]' 20
	chr=$(ls /sys/class/nvme-generic/)
fi
make_partition "$d"
hold "$d" "$chr" "/sys/class/nvme/$c"
probe_held c before
host_do device_del hp0 >/dev/null
wait_for "[ ! -e /sys/bus/pci/devices/$ca ]" 40
wait_for "[ ! -e /sys/block/$d ]" 20
probe_held c after
judge c
log "C ($chr held): $(rmmod_held nvme || true)"
release
[ ! -d /sys/module/nvme ] || rmmod nvme || fail "rmmod nvme failed after the descriptors were closed"
rmmod nvme_core || fail "rmmod nvme_core failed after the descriptors were closed"

load_rust_driver
bind "$ra" rust_nvme
chr=rnvme0
[ "$held" != ng ] || chr=rng0n1
wait_for '[ -e /dev/rnvme0n1 ] && [ -e /dev/'"$chr"' ]' 20
make_partition rnvme0n1
hold rnvme0n1 "$chr" /sys/class/misc/rnvme0
probe_held rust before
host_do device_del hp1 >/dev/null
wait_for "[ ! -e /sys/bus/pci/devices/$ra ]" 40
wait_for "[ ! -e /sys/block/rnvme0n1 ]" 20
probe_held rust after
judge rust
! rmmod_held rust_nvme || fail "rmmod rust_nvme succeeded while its descriptors were held"
release
rmmod rust_nvme || fail "rmmod rust_nvme failed after the descriptors were closed"
load_rust_driver
unload_rust_driver
finish
GUEST
}

if want unplug; then unplug_vm unplug rnhl1 rnhl2 ctrl || failed=1; fi
if want unplug-ng; then unplug_vm unplug-ng rnhl4 rnhl5 ng || failed=1; fi

if want detach; then vm detach --timeout 150 --disk d1=64M --disk d2=32M \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnhl-detach' \
	--nvme id=nv0,serial=rnhl3,subsys=subsys0 \
	--qemu '-device nvme-ns,drive=d1,nsid=1,bus=nv0 -device nvme-ns,drive=d2,nsid=2,bus=nv0' <<'GUEST' || failed=1
a=$(pci_addr_of 0)
# ns_attach CHARDEV attach|detach: namespace 1 to or from this controller (nvme-cli).
ns_attach() {
	cntlid=$(/usr/sbin/nvme id-ctrl /dev/$1 | sed -n 's/^cntlid *: *//p')
	/usr/sbin/nvme $2-ns /dev/$1 --namespace-id=1 --controllers="$cntlid" >/tmp/attach.out 2>&1 ||
		{ cat /tmp/attach.out; fail "nvme $2-ns of namespace 1 on /dev/$1 failed"; }
	log "nvme $2-ns namespace 1, controller $cntlid: $(head -n1 /tmp/attach.out)"
}
load_c_driver
bind "$a" nvme
wait_for '[ -n "$(disk_nsid '"$a"' 1)" ] && [ -n "$(disk_nsid '"$a"' 2)" ]' 20
d=$(disk_nsid "$a" 1) d2=$(disk_nsid "$a" 2) c=$(ls /sys/bus/pci/devices/$a/nvme/)
make_partition "$d"
hold "$d" "$c" "/sys/class/nvme/$c"
probe_held c before
ns_attach "$c" detach
wait_for "[ ! -e /sys/block/$d ]" 20
[ -e "/sys/block/$d2" ] || fail "C: namespace 2's disk went away too"
probe_held c after
judge c alive
release
ns_attach "$c" attach
wait_for '[ -n "$(disk_nsid '"$a"' 1)" ]' 20
wait_for '[ -e /dev/$(disk_nsid '"$a"' 1)p1 ]' 10
check_pattern "$(disk_nsid "$a" 1)"
unbind "$a"
unload_c_driver

load_rust_driver
bind "$a" rust_nvme
wait_for '[ -e /dev/rnvme0n1p1 ] && [ -e /dev/rnvme0n2 ]' 20
check_pattern rnvme0n1
hold rnvme0n1 rnvme0 /sys/class/misc/rnvme0
probe_held rust before
ns_attach rnvme0 detach
wait_for "[ ! -e /sys/block/rnvme0n1 ]" 20
[ -e /sys/block/rnvme0n2 ] || fail "namespace 2's disk went away too"
[ "$(driver_of "$a")" = rust_nvme ] || fail "the controller is no longer bound"
probe_held rust after
judge rust alive
release
ns_attach rnvme0 attach
wait_for '[ -e /dev/rnvme0n1p1 ]' 20
check_pattern rnvme0n1
/usr/bin/fio --name=after --filename=/dev/rnvme0n2 --rw=randrw --bs=4k --size=4M --direct=1 \
	--ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 --output=/tmp/fio.out ||
	{ cat /tmp/fio.out; fail "fio verify on rnvme0n2 failed after the detach and re-attach"; }
log "namespace 1 re-attached: its disk is back with its data, namespace 2 works"
unbind "$a"
unload_rust_driver
finish
GUEST
fi

exit $failed
