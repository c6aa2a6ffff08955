#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A controller that grants fewer (then more) I/O queues after a reset (issue 13): the tag set
# is resized as the C driver's `nvme_pci_update_nr_queues()` does, and no I/O is lost.
#
# The only way QEMU gives one controller a different queue count across its life is SR-IOV
# with flexible resources: the physical function (bound to the C driver, whose sriov_configure
# enables the virtual function) assigns the virtual function's queue (VQ) and interrupt (VI)
# resources with Virtualization Management (`nvme virt-mgmt`: offline, assign, online). Taking
# the secondary controller offline and online resets it behind its driver: the commands it
# held are lost, the driver finds out by its I/O timeout (5 s here, both drivers; our health
# check is off so that it cannot catch the short offline window, where enabling the
# controller fails; C has none) and resets it, and Set Features (Number of Queues) grants the
# new count. The physical function sits behind a PCIe root port: as a root complex integrated
# endpoint, QEMU 10.0's virtual function reads as all zeros (both drivers fail to probe it).
#
# The virtual function is bound to ours, then to C (poll_queues=1 for both, two CPUs: three
# I/O queues, two interrupt-driven and one polled). Under a verified fio write job (libaio)
# and a polled io_uring read job, the function's queues go 3 -> 1 -> 3:
#   - after each change, the disk's hardware contexts (/sys/block/X/mq/*) and io_poll equal
#     the queues granted, on ours as on C: 3 and 1, then 1 and 0, then 3 and 1;
#   - fio verifies every block (crc32c); ours logs the resize;
#   - the polled reads go on (failing, as the block layer fails polled I/O to a disk without
#     polled queues, while there is none): in flight at the shrink, ours issues them again
#     unpolled, and they complete;
#   - a verified job after the last change, and a verified polled one.
# C fails the requests that wait on a hardware context it is about to remove (nvme_queue_rq on
# a disabled queue: BLK_STS_IOERR, fio's job would see EIO when one waits there); ours gives
# their bios back and submits them again once the tag set is resized (tests/README.md). The
# fio job's verdict is checked on ours and recorded on C.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name queue-resize --timeout 400 --tcg-one-thread \
	--disk d0=128M \
	--qemu '-device nvme-subsys,id=sv0,nqn=rnvme-sriov' \
	--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8' \
	--nvme id=pf0,serial=rsriov0,subsys=sv0,bus=rp1,sriov_max_vfs=1,sriov_vq_flexible=4,sriov_vi_flexible=3 \
	--qemu '-device nvme-ns,drive=d0,bus=pf0,nsid=1' - <<'GUEST'
# The only NVMe function until the virtual function is enabled.
pf=$(nvme_ctrls | head -n 1)
insmod /lib/modules/nvme-core.ko io_timeout=5 admin_timeout=5 || fail "insmod nvme-core.ko"
load_c_driver poll_queues=1
# multipath=0: the namespace is shared by the functions of one subsystem, and this test reads
# the hardware contexts of the controller's own disk (a multipath head has none).
load_rust_driver io_timeout=5 admin_timeout=5 poll_queues=1 health_check=0 multipath=0
bind "$pf" nvme
pfc=/dev/$(ls /sys/bus/pci/devices/$pf/nvme | head -n 1)
[ -c "$pfc" ] || fail "no char device for the physical function"
echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
echo 1 >/sys/bus/pci/devices/$pf/sriov_numvfs || fail "enabling the virtual function failed"
vf=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn0)")
[ -n "$vf" ] || fail "no virtual function"
# The secondary controller's identifier, from the primary's Secondary Controller List.
/usr/sbin/nvme list-secondary "$pfc" -o json >/tmp/sec.json 2>&1 || fail "list-secondary: $(cat /tmp/sec.json)"
scid=$(tr -d ' \n' </tmp/sec.json | grep -o '"secondary-controller-identifier":[0-9]*' | head -n 1 | cut -d: -f2)
[ -n "$scid" ] || fail "no secondary controller in: $(cat /tmp/sec.json)"
log "physical function $pf ($pfc), virtual function $vf, secondary controller $scid"

vm() {
	/usr/sbin/nvme virt-mgmt "$pfc" -c "$scid" "$@" >/tmp/vm.out 2>&1 || fail "virt-mgmt $*: $(cat /tmp/vm.out)"
}

# resources VQ VI: the virtual function's queue and interrupt resources, as one quick
# offline, assign, assign, online sequence.
resources() {
	vm -a 7
	vm -r 0 -a 8 -n "$1"
	vm -r 1 -a 8 -n "$2"
	vm -a 9
}

# hctx DISK: the disk's hardware contexts.
hctx() {
	ls /sys/block/$1/mq | wc -l
}

# wait_hctx DISK N SECONDS: waits until the disk has N hardware contexts; false after SECONDS.
wait_hctx() {
	local end=$(($(uptime_ms) + $3 * 1000))
	until [ "$(hctx $1)" = "$2" ]; do
		[ "$(uptime_ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# phase DRV DISK VQ VI WANT_HCTX WANT_POLL: changes the resources under the jobs, waits for
# the driver to recover with the new count, checks the hardware contexts and io_poll. On C,
# returns 1 when the disk did not get there (recorded; fatal on ours).
phase() {
	local drv=$1 d=$2 t0 dd_pid
	# The jobs pause while the function goes offline and online: QEMU 10.0.2 crashed (SIGSEGV
	# in nvme_rw_complete_cb) in 2 of about 8 runs when the secondary controller was reset with
	# I/O in flight. What the jobs submit once they go on is lost on the reset controller.
	kill -STOP $fio_pid $poll_pid 2>/dev/null || true
	sleep 0.5
	resources "$3" "$4"
	kill -CONT $fio_pid $poll_pid 2>/dev/null || true
	t0=$(uptime_ms)
	# A read of our own, in case fio has ended (C's job stops at its first error): the
	# controller lost it, so its timeout makes the driver reset the controller.
	/usr/bin/dd if=/dev/$d of=/dev/null bs=4k count=1 skip=100 iflag=direct 2>/dev/null &
	dd_pid=$!
	if ! wait_hctx "$d" "$5" 60; then
		[ "$drv" = nvme ] || fail "$drv: the disk kept $(hctx $d) hardware contexts: $(dmesg | tail -n 8)"
		log "$drv: VQ $3 VI $4: the disk kept $(hctx $d) hardware contexts for 60 s; a read waits in $(cat /proc/$dd_pid/wchan 2>/dev/null) (state $(cut -d' ' -f3 /proc/$dd_pid/stat 2>/dev/null))"
		return 1
	fi
	if ! wait $dd_pid; then
		[ "$drv" = nvme ] || fail "$drv: a read across the reset failed"
		log "$drv: a read across the reset failed"
		eval "lost_$drv=\$((lost_$drv + 1))"
	fi
	log "$drv: VQ $3 VI $4: $(hctx $d) hardware contexts after $(($(uptime_ms) - t0)) ms, io_poll $(cat /sys/block/$d/queue/io_poll)"
	[ "$(cat /sys/block/$d/queue/io_poll)" = "$6" ] ||
		fail "$drv: io_poll is $(cat /sys/block/$d/queue/io_poll) with $(hctx $d) contexts, want $6"
	eval "hctx_${drv}_$3=\$(hctx \$d)"
}

# job DRV: binds the virtual function to DRV and runs the two changes under the jobs. On C,
# returns 1 if the disk got stuck (the VM is then ended by the host: C's shutdown of it
# would not return).
job() {
	local drv=$1 d
	bind "$vf" "$drv"
	d=$(disk_on "$vf")
	[ "$(hctx $d)" = 3 ] || fail "$drv: $(hctx $d) hardware contexts at bind, want 3"
	[ "$(cat /sys/block/$d/queue/io_poll)" = 1 ] || fail "$drv: io_poll off at bind"
	dmesg -c >/dev/null
	/usr/bin/fio --name=resize --filename=/dev/$d --rw=randwrite --bs=4k --size=64M --thread \
		--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c --do_verify=1 \
		--verify_backlog=512 --time_based --runtime=40 --output=/tmp/fio.out >/dev/null 2>&1 &
	fio_pid=$!
	# Polled reads throughout: while the disk has no polled queue the block layer fails them
	# (EOPNOTSUPP, both drivers), so errors are counted, not fatal.
	/usr/bin/fio --name=poll --filename=/dev/$d --rw=randread --bs=4k --offset=64M --size=32M --thread \
		--ioengine=io_uring --hipri --iodepth=4 --direct=1 --time_based --runtime=40 \
		--continue_on_error=all --output=/tmp/poll.out >/dev/null 2>&1 &
	poll_pid=$!
	sleep 3
	phase "$drv" "$d" 2 2 1 0 || return 1
	sleep 3
	phase "$drv" "$d" 4 3 3 1 || return 1
	wait $poll_pid || true
	log "$drv: polled reads: $(grep -m1 -o 'IOPS=[^,]*' /tmp/poll.out), $(grep -m1 -o 'err=[ 0-9]*' /tmp/poll.out | tr -d ' ')"
	if wait $fio_pid; then
		log "$drv: fio verified across the changes"
		eval "fio_$drv=verified"
	else
		[ "$drv" = nvme ] || fail "$drv: fio failed: $(grep -m3 -i 'err\|verify' /tmp/fio.out)"
		log "$drv: fio failed: $(grep -m1 -i 'err' /tmp/fio.out)"
		eval "fio_$drv=failed"
	fi
	if [ "$drv" = rust_nvme ]; then
		dmesg | grep -q "1 I/O queues after the reset.*hardware contexts 3 -> 1" ||
			fail "$drv: no resize 3 -> 1 in: $(dmesg | tail -n 10)"
		dmesg | grep -q "3 I/O queues after the reset.*hardware contexts 1 -> 3" ||
			fail "$drv: no resize 1 -> 3 in: $(dmesg | tail -n 10)"
	fi
	# Everything again at the final size, then polled reads of it.
	fio_verify /dev/$d 16M --offset=96M
	fio_verify /dev/$d 8M --offset=112M --ioengine=io_uring --hipri
	unbind "$vf"
}

lost_nvme=0 lost_rust_nvme=0 fio_nvme=stuck hctx_nvme_2=- hctx_nvme_4=-
resources 4 3
job rust_nvme
resources 4 3
if job nvme; then
	for v in 2 4; do
		eval "r=\$hctx_rust_nvme_$v c=\$hctx_nvme_$v"
		[ "$r" = "$c" ] || fail "VQ $v: ours has $r hardware contexts, C $c"
	done
	echo 0 >/sys/bus/pci/devices/$pf/sriov_numvfs
	unbind "$pf"
else
	[ "$hctx_rust_nvme_2" = "$hctx_nvme_2" ] ||
		fail "VQ 2: ours has $hctx_rust_nvme_2 hardware contexts, C $hctx_nvme_2"
	touch /tmp/.rnvme-quit
fi
log "hardware contexts at VQ 2 and 4: ours $hctx_rust_nvme_2 and $hctx_rust_nvme_4, C $hctx_nvme_2 and $hctx_nvme_4; fio: ours $fio_rust_nvme, C $fio_nvme; single reads across the resets that failed: ours $lost_rust_nvme, C $lost_nvme"
GUEST
