#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# More device properties, four controllers in one VM, all bound to rust_nvme:
#   dbcs=off         no Doorbell Buffer Config: the probe line says "shadow doorbells off"
#                    and a crc32c fio verify passes on MMIO doorbells alone
#   empty subsystem  a controller of an nvme-subsys with no namespace at all: it binds
#                    ("0 namespaces"), makes no disk and unbinds cleanly
#   mixed formats    one controller with four namespaces: nsid 1 (512-byte blocks) and
#                    nsid 4 (4 KiB blocks) are exposed and verified; nsid 2 (8 bytes of
#                    metadata interleaved with each block, no PI: nothing the driver can
#                    carry) gets a disk of capacity 0 and a warning, as C's; nsid 3
#                    (128 KiB blocks, above what the block layer takes) is skipped with a
#                    warning and gets no disk
#   3 TiB            a sparse 3 TiB namespace (sector numbers above 2^32): exact size,
#                    distinct patterns at 0, at 2 TiB, just past 2 TiB and in the last
#                    MiB all read back (a truncated LBA would overwrite another one), and
#                    a fio verify over the last 32 MiB
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name odd-devices2 --timeout 200 \
	--disk d0=32M --disk n1=32M --disk n2=32M --disk n3=32M --disk n4=32M --disk big=3T \
	--nvme serial=rod5,drive=d0,dbcs=off \
	--qemu '-device nvme-subsys,id=ss0,nqn=rnvme-empty-subsys' \
	--nvme serial=rod6,subsys=ss0 \
	--nvme id=nm,serial=rod7 \
	--qemu '-device nvme-ns,bus=nm,drive=n1,nsid=1
		-device nvme-ns,bus=nm,drive=n2,nsid=2,ms=8,mset=1
		-device nvme-ns,bus=nm,drive=n3,nsid=3,logical_block_size=131072,physical_block_size=131072
		-device nvme-ns,bus=nm,drive=n4,nsid=4,logical_block_size=4096,physical_block_size=4096' \
	--nvme serial=rod8,drive=big - <<'GUEST'
# verify DEV SIZE FIO_ARGS...: a crc32c write+verify that must exit 0 and report no error.
verify() {
	local dev=$1 size=$2 out=/tmp/fio.out rc=0
	shift 2
	/usr/bin/fio --name=odd2 --filename=$dev --size=$size --rw=randwrite --direct=1 \
		--ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output-format=terse --terse-version=3 "$@" >$out 2>&1 || rc=$?
	[ $rc = 0 ] || { cat $out; fail "fio on $dev ($size $*) exited with $rc"; }
	grep '^3;' $out | awk -F';' '$5 != 0 || $6 == 0 || $47 == 0 { bad = 1 } END { exit bad || NR != 1 }' ||
		{ cat $out; fail "fio on $dev ($size $*) reported errors or moved no data"; }
	log "$dev: fio verify $size $* ok"
}

load_rust_driver
a_db=$(pci_addr_of 0)
a_empty=$(pci_addr_of 1)
a_mix=$(pci_addr_of 2)
a_big=$(pci_addr_of 3)
for a in $a_db $a_empty $a_mix $a_big; do
	bind "$a" rust_nvme
done
wait_for '[ -n "$(disks_of '"$a_db"')" ] && [ -n "$(disks_of '"$a_big"')" ] && [ "$(disks_of '"$a_mix"' | wc -l)" = 3 ]' 20

log "dbcs=off"
expect_probe "$a_db" "shadow doorbells off" " 1 namespaces"
d=$(disks_of "$a_db")
verify /dev/$d 16M --bsrange=4k-256k --iodepth=32

log "a subsystem without namespaces"
expect_probe "$a_empty" " 0 namespaces"
sleep 1
[ -z "$(disks_of "$a_empty")" ] || fail "$a_empty has no namespace but disks '$(disks_of "$a_empty" | tr '\n' ' ')'"
unbind "$a_empty"
[ -z "$(driver_of "$a_empty")" ] || fail "$a_empty still bound"
bind "$a_empty" rust_nvme
sleep 0.5
[ -z "$(disks_of "$a_empty")" ] || fail "$a_empty has disks after a rebind"
unbind "$a_empty"
log "$a_empty bound twice with no disk, unbound cleanly"

log "namespaces the driver cannot serve beside good ones"
expect_probe "$a_mix" " 3 namespaces"
w=$(dmesg | grep "rust_nvme $a_mix: namespace 3: unsupported format" | sed 's/^\[[^]]*\] //')
[ -n "$w" ] || fail "no 'unsupported format' warning for namespace 3 of $a_mix"
echo "$w" | grep -q '131072 byte blocks' || fail "the warning for namespace 3 does not name its block size: $w"
log "$w"
w=$(dmesg | grep "rust_nvme $a_mix: namespace 2: 8 bytes of interleaved metadata" | sed 's/^\[[^]]*\] //')
[ -n "$w" ] || fail "no warning for namespace 2's interleaved metadata"
log "$w"
for ns in 1 2 4; do
	if dmesg | grep -q "rust_nvme $a_mix: namespace $ns: unsupported"; then
		fail "namespace $ns of $a_mix was called unsupported"
	fi
done
disks=$(disks_of "$a_mix" | sort | tr '\n' ' ')
n1=$(disks_of "$a_mix" | grep 'n1$') || fail "$a_mix: no disk for namespace 1 (disks: $disks)"
n2=$(disks_of "$a_mix" | grep 'n2$') || fail "$a_mix: no disk for namespace 2 (disks: $disks)"
n4=$(disks_of "$a_mix" | grep 'n4$') || fail "$a_mix: no disk for namespace 4 (disks: $disks)"
[ "$(disks_of "$a_mix" | wc -l)" = 3 ] || fail "$a_mix has disks '$disks', want those of namespaces 1, 2 and 4 only"
[ "$(cat /sys/block/$n1/queue/logical_block_size)" = 512 ] || fail "$n1: logical block size $(cat /sys/block/$n1/queue/logical_block_size)"
[ "$(cat /sys/block/$n4/queue/logical_block_size)" = 4096 ] || fail "$n4: logical block size $(cat /sys/block/$n4/queue/logical_block_size)"
[ "$(disk_bytes $n1)" = 33554432 ] || fail "$n1: $(disk_bytes $n1) bytes, want 32 MiB"
[ "$(disk_bytes $n2)" = 0 ] || fail "$n2: $(disk_bytes $n2) bytes, want none"
[ "$(disk_bytes $n4)" = 33554432 ] || fail "$n4: $(disk_bytes $n4) bytes, want 32 MiB"
[ "$(/usr/bin/dd if=/dev/$n2 bs=512 count=1 iflag=direct 2>/dev/null | wc -c)" = 0 ] ||
	fail "$n2: a read of a disk with no capacity returned data"
verify /dev/$n1 8M --bsrange=512-64k --iodepth=16
verify /dev/$n4 8M --bsrange=4k-256k --iodepth=16
log "disks $disks: namespaces 1 and 4 exposed and verified, 2 without capacity, 3 skipped"

log "3 TiB"
b=$(disks_of "$a_big")
want=$((3 * 1024 * 1024 * 1024 * 1024))
got=$(/usr/bin/lsblk -bdno SIZE /dev/$b | tr -d ' ')
[ "$got" = "$want" ] || fail "$b: lsblk says $got bytes, want $want"
[ "$(disk_bytes $b)" = "$want" ] || fail "$b: /sys/block says $(disk_bytes $b) bytes, want $want"
T2=$((2 * 1024 * 1024 * 1024 * 1024))
M=1048576
offs="0 $((T2 - M)) $T2 $((T2 + M + 4096)) $((T2 + 7 * M + 512)) $((want - M))"
i=0
for o in $offs; do
	/usr/bin/dd if=/dev/urandom of=/tmp/p$i.bin bs=64k count=16 status=none
	write_at /dev/$b $o /tmp/p$i.bin
	i=$((i + 1))
done
i=0
for o in $offs; do
	[ "$(sha_at /dev/$b $o $M)" = "$(sha_file /tmp/p$i.bin)" ] ||
		fail "$b: the 1 MiB written at byte $o (sector $((o / 512))) reads back different"
	i=$((i + 1))
done
log "$b: $want bytes; 1 MiB patterns at bytes $offs read back intact"
verify /dev/$b 32M --offset=$((want - 32 * M)) --bsrange=4k-1m --iodepth=16
if /usr/bin/dd if=/dev/zero of=/dev/$b bs=4k seek=$((want / 4096)) count=1 oflag=direct conv=notrunc status=none 2>/dev/null; then
	fail "$b: a write past the end succeeded"
fi

for a in $a_db $a_mix $a_big; do
	unbind "$a"
done
unload_rust_driver
GUEST
