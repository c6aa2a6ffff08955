#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Native multipath (issue 16; ours with its default parameters), ours and then the C driver
# (CONFIG_NVME_MULTIPATH, built out of tree by tests/harness/c-multipath.sh: the test kernel
# has it off) on the same devices: an NVM subsystem of two controllers, each behind its own
# PCIe root port, sharing namespace 1 (shared=on), with namespace 2 private to the first
# controller.
#   - a namespace attached to one controller only (detached from the second with nvme
#     detach-ns, both unbound, the first bound): ours gives it that controller's own disk (a
#     blk-mq disk, as every namespace of a single controller), C a head with one path; the
#     second controller bound (QEMU attaches the namespace to it again when it is enabled;
#     else nvme attach-ns) after a marker was written: still one disk on both drivers
#     (ours: the second controller leaves it to the first's disk, with a warning; C: a second
#     path); the first controller unbound: ours' second controller takes over with a head
#     (C's head keeps its remaining path); the marker reads back through it; the first
#     controller bound again becomes its second path;
#   - one disk for the shared namespace (the head) and a hidden path disk per controller (no
#     device node); ours puts the head under the PCI function of its first path (where the
#     controller's own disk would be) and moves it when that function goes, C under its
#     subsystem device; the private namespace: ours keeps the controller's disk, C (whose
#     heads cover every namespace of such a subsystem) a head;
#   - data written through one path is read back through the head after every step;
#   - a verified fio job (crc32c, written then read back) runs while the I/O policy is
#     switched numa -> round-robin -> queue-depth -> numa under it; round-robin spreads I/O
#     over both paths (the hidden disks' counters in /proc/diskstats);
#   - a verified fio job runs across two controller resets of the second controller, another
#     across two function level resets (sysfs reset) of it, another while it stalls (bus
#     mastering off: the requests it holds are cancelled by the reset and complete on the
#     other path);
#   - a verified fio job runs while the first controller (the one our head sits under) is
#     removed (device_del): every request on the removed path completes on the other one
#     (fio sees no error), ours moves its head under the remaining function; the controller
#     is added back (device_add), becomes a path again and carries I/O;
#   - ours: a fatal PCI error (AER) on the second controller's root port under a verified
#     fio job: the controller is taken out of service and its requests go down the other
#     path;
#   - unbind and unload are clean.
# --tcg-one-thread and --allow-pciehp-lockdep as t-hotunplug (QEMU's TCG hot-unplug, and
# pciehp's own lockdep report on the debug kernel). RNVME_MP_APPEND=rnvme.mp_only=rust
# skips the C run.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name multipath --timeout 900 --tcg-one-thread --allow-pciehp-lockdep \
	--disk d1=96M --disk d2=32M \
	--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8 -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x9 -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off' \
	--qemu '-device nvme-subsys,id=ms0,nqn=rnvme-mp' \
	--nvme 'id=c0,serial=rnmp,subsys=ms0,bus=rp1' \
	--nvme 'id=c1,serial=rnmp,subsys=ms0,bus=rp2' \
	--qemu '-device nvme-ns,drive=d1,nsid=1,shared=on -device nvme-ns,drive=d2,nsid=2,bus=c0,shared=off' \
	${RNVME_MP_APPEND:+--append "$RNVME_MP_APPEND"} - <<'GUEST'
C0=0000:01:00.0
C1=0000:02:00.0
# The QEMU id of the first controller, which is removed and added back (a new id each time).
CID=c0

# head_of NSID: the disks of namespace NSID with a device node (the head of a shared one).
head_of() {
	local b
	for b in /sys/block/*; do
		[ "$(cat "$b/nsid" 2>/dev/null)" = "$1" ] && [ -b "/dev/${b##*/}" ] && echo "${b##*/}"
	done
	return 0
}

# paths_of NSID: the hidden path disks of namespace NSID (no device node).
paths_of() {
	local b
	for b in /sys/block/*; do
		[ "$(cat "$b/nsid" 2>/dev/null)" = "$1" ] && [ ! -e "/dev/${b##*/}" ] && echo "${b##*/}"
	done
	return 0
}

# ios DISK: reads plus writes completed on DISK (/proc/diskstats).
ios() {
	awk -v d="$1" '$3 == d { print $4 + $8 }' /proc/diskstats
}

# verify_bg NAME SIZE: a verified random-write fio job on the head, in the background.
verify_bg() {
	/usr/bin/fio --name="$1" --filename=/dev/$HEAD --rw=randwrite --bs=4k --size="$2" \
		--offset=16M --direct=1 --ioengine=libaio --iodepth=16 --verify=crc32c \
		--do_verify=1 --verify_fatal=1 --eta=never --output=/tmp/$1.out 2>/tmp/$1.err &
	FIO=$!
}

# verify_wait NAME: the background job ends without an error.
verify_wait() {
	if ! wait $FIO; then
		cat /tmp/$1.out /tmp/$1.err
		fail "$DRV: fio $1 failed"
	fi
	grep -q 'err= 0' /tmp/$1.out || { cat /tmp/$1.out; fail "$DRV: fio $1 reported errors"; }
	log "$DRV: fio $1: ok, $(grep -m1 -o 'WRITE: bw=[^ ]*' /tmp/$1.out)"
}

# cmd_reg PCIADDR / set_cmd_reg PCIADDR VALUE: the PCI command register (as t-admin-timeout).
cmd_reg() {
	od -An -tu2 -j4 -N2 "/sys/bus/pci/devices/$1/config" | tr -d ' '
}
set_cmd_reg() {
	local lo=$(($2 & 255)) hi=$(($2 >> 8))
	printf "\\$(printf %o $lo)\\$(printf %o $hi)" |
		dd of="/sys/bus/pci/devices/$1/config" bs=1 seek=4 count=2 conv=notrunc status=none
}

# marker: the data written at the start still reads back through the head.
check_marker() {
	[ "$(sha_at /dev/$HEAD 0 1048576)" = "$MARK" ] || fail "$DRV: the marker written through the head reads back different ($1)"
}

# set_policy P: the shared namespace's I/O policy.
set_policy() {
	echo "$1" >"$POLICY"
	[ "$(cat "$POLICY")" = "$1" ] || fail "$DRV: iopolicy reads '$(cat "$POLICY")' after writing $1"
}

# ctrl_nodes: the controllers' char devices (ours /dev/rnvmeN, C /dev/nvmeN).
ctrl_nodes() {
	ls /dev | grep -E '^r?nvme[0-9]+$' | sort
	return 0
}

# bind_node PCIADDR VAR: binds the function to $DRV and sets VAR to its new controller node.
bind_node() {
	local before new
	before=$(ctrl_nodes)
	bind $1 $DRV
	new=$(ctrl_nodes | grep -vxF "$before" || true)
	[ "$(echo "$new" | wc -w)" = 1 ] || fail "$DRV: binding $1 gave controller nodes '$new'"
	eval "$2=/dev/$new"
}

# cntlid NODE: the controller's identifier (decimal).
cntlid() {
	echo $(($(/usr/sbin/nvme id-ctrl "$1" | awk '$1 == "cntlid" { print $3 }')))
}

# A namespace attached to one controller, then to a second one: never two disks.
late_join() {
	local n0 n1 id1 d h
	bind_node $C0 n0
	bind_node $C1 n1
	wait_for '[ -n "$(head_of 1)" ] && [ "$(paths_of 1 | wc -l)" = 2 ]' 20
	id1=$(cntlid $n1)
	/usr/sbin/nvme detach-ns $n1 -n 1 -c $id1 >/dev/null || fail "$DRV: detach-ns of namespace 1 from $n1 failed"
	/usr/sbin/nvme ns-rescan $n1 || fail "$DRV: ns-rescan $n1 failed"
	wait_for '[ "$(paths_of 1 | wc -l)" = 1 ]' 20
	unbind $C0
	unbind $C1
	[ -z "$(head_of 1)" ] && [ -z "$(paths_of 1)" ] || fail "$DRV: namespace 1 has disks with no controller bound"
	bind_node $C0 n0
	wait_for '[ -n "$(head_of 1)" ]' 20
	d=$(head_of 1)
	if [ "$DRV" = rust_nvme ]; then
		[ -z "$(paths_of 1)" ] || fail "ours: namespace 1, attached to one controller, has paths '$(paths_of 1)'"
		[ "$(disk_nsid $C0 1)" = "$d" ] || fail "ours: $d is not $C0's own disk"
		[ -e /sys/block/$d/mq ] || fail "ours: $d, a single controller's disk, is not a blk-mq disk"
	else
		[ "$(paths_of 1 | wc -l)" = 1 ] || fail "C: namespace 1 has paths '$(paths_of 1)', want one"
	fi
	log "$DRV: namespace 1 attached to one controller: disk $d, paths '$(paths_of 1 | tr '\n' ' ')'"
	head -c 1048576 /dev/urandom >/tmp/mark0
	write_at /dev/$d 0 /tmp/mark0
	dmesg -c >/dev/null
	bind_node $C1 n1
	# QEMU attaches a shared namespace to a controller again when the controller is enabled
	# (seen on 10.0): attach-ns only when it did not.
	if /usr/sbin/nvme list-ns $n1 | grep -q ':0x1$'; then
		log "$DRV: namespace 1 is attached to $n1 again once enabled"
	else
		/usr/sbin/nvme attach-ns $n1 -n 1 -c $id1 >/dev/null || fail "$DRV: attach-ns of namespace 1 to $n1 failed"
		/usr/sbin/nvme ns-rescan $n1 || fail "$DRV: ns-rescan $n1 failed"
	fi
	if [ "$DRV" = rust_nvme ]; then
		wait_for 'dmesg | grep -q "namespace 1: shared, and served by $d alone"' 20
		[ -z "$(paths_of 1)" ] || fail "ours: namespace 1 has paths '$(paths_of 1)' beside $d"
		[ -z "$(disk_nsid $C1 1)" ] || fail "ours: $C1 has a disk of namespace 1 beside $d"
	else
		wait_for '[ "$(paths_of 1 | wc -l)" = 2 ]' 20
	fi
	[ "$(head_of 1)" = "$d" ] || fail "$DRV: namespace 1 has disks '$(head_of 1 | tr '\n' ' ')' once attached to two controllers"
	lsblk -dn -o NAME,SIZE
	[ "$(sha_at /dev/$d 0 1048576)" = "$(sha_file /tmp/mark0)" ] || fail "$DRV: the marker reads back different through $d"
	unbind $C0
	wait_for '[ -n "$(head_of 1)" ] && [ "$(paths_of 1 | wc -l)" = 1 ]' 20
	h=$(head_of 1)
	[ "$(sha_at /dev/$h 0 1048576)" = "$(sha_file /tmp/mark0)" ] || fail "$DRV: the marker reads back different through $h"
	log "$DRV: first controller unbound: namespace 1 on $h, path $(paths_of 1)"
	bind_node $C0 n0
	wait_for '[ "$(head_of 1)" = "$h" ] && [ "$(paths_of 1 | wc -l)" = 2 ]' 20
	fio_verify /dev/$h 4M --offset=8M
	unbind $C0
	unbind $C1
	[ -z "$(head_of 1)" ] || fail "$DRV: head $(head_of 1) left after both controllers were unbound"
}

scenario() {
	DRV=$1
	if [ "$DRV" = rust_nvme ]; then
		load_rust_driver
	else
		load_c_driver_multipath io_timeout=5
		[ "$(cat /sys/module/nvme_core/parameters/multipath)" = Y ] || fail "C driver without multipath"
	fi
	late_join
	bind_node $C0 CTRL0
	bind_node $C1 CTRL1
	wait_for '[ -n "$(head_of 1)" ] && [ "$(paths_of 1 | wc -l)" = 2 ]' 20
	HEAD=$(head_of 1)
	[ "$(head_of 1 | wc -l)" = 1 ] || fail "$DRV: shared namespace 1 has heads '$(head_of 1 | tr '\n' ' ')'"
	PATHS=$(paths_of 1 | tr '\n' ' ')
	log "$DRV: namespace 1: head $HEAD, paths $PATHS"
	for p in $PATHS; do
		[ "$(cat /sys/block/$p/size)" = "$(cat /sys/block/$HEAD/size)" ] || fail "$DRV: path $p size differs from $HEAD's"
		# QEMU reports no ANA: neither driver shows an ana_state then.
		[ ! -e /sys/block/$p/ana_state ] || fail "$DRV: path $p has an ana_state without ANA"
	done
	[ "$(disk_bytes $HEAD)" = $((96 << 20)) ] || fail "$DRV: $HEAD has $(disk_bytes $HEAD) bytes"
	lsblk -dn -o NAME,SIZE /dev/$HEAD
	# Passthrough on the head goes down a path.
	/usr/sbin/nvme id-ns /dev/$HEAD >/tmp/idns || fail "$DRV: nvme id-ns /dev/$HEAD failed"
	grep -q "^nsze *: 0x30000$" /tmp/idns || { cat /tmp/idns; fail "$DRV: id-ns on $HEAD: wrong nsze"; }
	[ "$(/usr/sbin/nvme get-ns-id /dev/$HEAD | grep -o 'namespace-id:[0-9]*')" = namespace-id:1 ] ||
		fail "$DRV: get-ns-id on $HEAD: $(/usr/sbin/nvme get-ns-id /dev/$HEAD)"
	if [ "$DRV" = rust_nvme ]; then
		POLICY=/sys/block/$HEAD/iopolicy
		case "$(readlink -f /sys/block/$HEAD)" in */$C0/*) ;; *) fail "ours: head $HEAD is not under $C0: $(readlink -f /sys/block/$HEAD)" ;; esac
		# The private namespace keeps the controller's own disk.
		PRIV=$(disk_nsid $C0 2)
		[ -n "$PRIV" ] && [ -b /dev/$PRIV ] || fail "ours: no disk of private namespace 2 under $C0"
		[ -z "$(paths_of 2)" ] || fail "ours: the private namespace 2 has paths '$(paths_of 2)'"
	else
		POLICY=$(echo /sys/class/nvme-subsystem/nvme-subsys*/iopolicy)
		PRIV=$(head_of 2)
	fi
	log "$DRV: private namespace 2: $PRIV; policy file $POLICY ($(cat "$POLICY")); second controller $CTRL1"
	head -c 1048576 /dev/urandom >/tmp/mark
	MARK=$(sha_file /tmp/mark)
	write_at /dev/$HEAD 0 /tmp/mark
	check_marker "after writing"

	# The policy changes under I/O.
	set_policy numa
	verify_bg policy 32M
	for p in round-robin queue-depth numa round-robin; do
		sleep 1
		set_policy $p
	done
	verify_wait policy
	set -- $PATHS
	a=$(ios $1) b=$(ios $2)
	fio_verify /dev/$HEAD 4M --offset=8M
	a=$(($(ios $1) - a)) b=$(($(ios $2) - b))
	log "$DRV: round-robin: $a I/Os on $1, $b on $2"
	[ "$a" -gt 100 ] && [ "$b" -gt 100 ] || fail "$DRV: round-robin left a path idle ($1: $a, $2: $b)"
	check_marker "after the policy changes"

	# Two resets of the second controller under I/O.
	verify_bg reset 32M
	for i in 1 2; do
		sleep 2
		/usr/sbin/nvme reset $CTRL1 || fail "$DRV: nvme reset $CTRL1 failed"
		log "$DRV: reset $i of $CTRL1 done"
	done
	verify_wait reset
	check_marker "after the resets"

	# Function level resets of the second controller under I/O (the PCI core's
	# reset_prepare/reset_done: what is in flight is cancelled and goes down the other path).
	verify_bg flr 32M
	for i in 1 2; do
		sleep 2
		echo 1 >/sys/bus/pci/devices/$C1/reset || fail "$DRV: FLR $i of $C1 failed"
		log "$DRV: FLR $i of $C1 done"
	done
	verify_wait flr
	check_marker "after the FLRs"


	# The first controller goes away under I/O, and comes back.
	set_policy round-robin
	verify_bg remove 48M
	sleep 3
	host_do device_del $CID >/dev/null
	wait_for "[ ! -e /sys/bus/pci/devices/$C0 ]" 60
	verify_wait remove
	[ "$(paths_of 1 | wc -l)" = 1 ] || fail "$DRV: paths after the removal: '$(paths_of 1 | tr '\n' ' ')'"
	[ "$(head_of 1)" = "$HEAD" ] || fail "$DRV: the head changed after the removal: '$(head_of 1)'"
	if [ "$DRV" = rust_nvme ]; then
		case "$(readlink -f /sys/block/$HEAD)" in */$C1/*) ;; *) fail "ours: head $HEAD did not move under $C1: $(readlink -f /sys/block/$HEAD)" ;; esac
		log "ours: $HEAD moved under $C1"
	fi
	check_marker "after the removal"
	# QEMU finishes with the removed device after the guest saw it go (the slot's power-off):
	# retried for 30 s, with a new id.
	CID=${CID}x
	i=0
	until host_do device_add nvme,id=$CID,serial=rnmp,subsys=ms0,bus=rp1 >/tmp/add.out; do
		i=$((i + 1))
		[ $i -lt 30 ] || fail "$DRV: device_add failed for 30 s: $(cat /tmp/add.out)"
		sleep 1
	done
	wait_for "[ -e /sys/bus/pci/devices/$C0 ]" 30
	# A hot-added function has no driver_override: the loaded driver claims it.
	wait_for "[ \"\$(driver_of $C0)\" = $DRV ]" 30
	wait_for '[ "$(paths_of 1 | wc -l)" = 2 ]' 30
	PATHS=$(paths_of 1 | tr '\n' ' ')
	log "$DRV: after device_add: paths $PATHS"
	set -- $PATHS
	a=$(ios $1) b=$(ios $2)
	fio_verify /dev/$HEAD 4M --offset=8M
	a=$(($(ios $1) - a)) b=$(($(ios $2) - b))
	[ "$a" -gt 100 ] && [ "$b" -gt 100 ] || fail "$DRV: the re-added path carries no I/O ($1: $a, $2: $b)"
	check_marker "after the re-add"

	# The second controller stalls under I/O: bus mastering off (it can neither fetch commands
	# nor post completions; QEMU sets CSTS.CFS). The driver finds it (ours: the health check
	# within a second; C: its I/O timeout, 5 s here) and resets it, which turns bus mastering
	# back on; what the stalled controller held is cancelled and goes down the other path.
	# C's job did not end after its reset in this VM (fio blocked in the kernel, its I/O lost):
	# recorded, and its run ends there, as t-aer's (QEMU is told to quit before the hung-task
	# detector's two minutes).
	# The job must still be running when bus mastering goes off: an idle stalled controller
	# does no DMA, so QEMU never sets CSTS.CFS and neither driver has anything to find (a
	# 32M job once ended inside the 2 s this phase used to wait). 64M (about 2.5 s of writes,
	# as long again of verify reads), stalled once I/O is seen on the second controller's path.
	# (The second controller's path disk: <head prefix>c<its instance>n<head instance>, on both.)
	p1=
	for p in $PATHS; do
		case $p in *c${CTRL1##*nvme}n[0-9]*) p1=$p ;; esac
	done
	[ -n "$p1" ] || fail "$DRV: no path disk of $CTRL1 among $PATHS"
	a=$(ios $p1)
	verify_bg stall 64M
	wait_for "[ \$((\$(ios $p1) - $a)) -gt 200 ]" 30
	c=$(cmd_reg $C1)
	set_cmd_reg $C1 $((c & ~4))
	t0=$(uptime_ms)
	kill -0 $FIO 2>/dev/null || fail "$DRV: the stall job had ended before bus mastering went off (test timing)"
	wait_for '[ $(($(cmd_reg $C1) & 4)) != 0 ]' 120
	log "$DRV: the stalled controller was reset after $(($(uptime_ms) - t0)) ms"
	if [ "$DRV" = nvme ]; then
		end=$(($(uptime_ms) + 60000))
		while kill -0 $FIO 2>/dev/null && [ "$(uptime_ms)" -lt $end ]; do sleep 0.5; done
		if kill -0 $FIO 2>/dev/null; then
			log "nvme: the fio job did not end within 60 s of the reset; ending the VM from the host"
			echo "RNVME-EXIT: 0"
			sleep 0.2
			host_do quit
		fi
	fi
	verify_wait stall
	check_marker "after the stall"

	# Ours only: a fatal PCI error on the second controller's port under I/O. The AER driver
	# resets the link around ours' error_detected (the controller taken out of service, what
	# it held cancelled: it moves to the other path) and slot_reset (brought back); when the
	# port does not come back (t-aer), the function is given up and its I/O moves all the
	# same. (C's run ends at the stall above.)
	if [ "$DRV" = rust_nvme ]; then
		dmesg -c >/dev/null
		verify_bg aer 32M
		sleep 2
		host_do pcie_aer_inject_error rp2 DLP >/dev/null || fail "ours: fatal injection failed"
		wait_for 'dmesg | grep -q "AER: device recovery"' 60
		log "ours: fatal error: $(dmesg | grep -o 'device recovery [a-z]*' | tail -n 1)"
		verify_wait aer
		check_marker "after the fatal error"
		set -- $(paths_of 1)
		log "ours: paths after the fatal error: $* ($(cat /sys/class/misc/${CTRL1#/dev/}/state))"
		unbind $C1
		# Back for the C run: the function is removed and found again.
		echo 1 >/sys/bus/pci/devices/$C1/remove
		echo 1 >/sys/bus/pci/rescan
		wait_for "[ -e /sys/bus/pci/devices/$C1 ]" 30
		wait_for "[ \"\$(driver_of $C1)\" = rust_nvme ]" 30
		wait_for '[ "$(paths_of 1 | wc -l)" = 2 ]' 30
		fio_verify /dev/$HEAD 4M --offset=8M
	fi
	set_policy numa

	unbind $C0
	[ "$(head_of 1)" = "$HEAD" ] || fail "$DRV: the head went with one of two paths"
	check_marker "with one path left"
	unbind $C1
	[ -z "$(head_of 1)" ] || fail "$DRV: head $(head_of 1) left after both controllers were unbound"
	if [ "$DRV" = rust_nvme ]; then unload_rust_driver; else unload_c_driver; fi
	log "$DRV: done"
}

scenario rust_nvme
if [ "$(rnvme_param mp_only)" = rust ]; then
	log "C driver run skipped (rnvme.mp_only=rust)"
else
	scenario nvme
fi
GUEST
