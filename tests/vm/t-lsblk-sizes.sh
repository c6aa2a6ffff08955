#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Disk sizes and block sizes as lsblk sees them: controller 0 has one
# namespace of 40 MiB + 512 bytes with 512-byte logical and physical blocks,
# controller 1 sits in an nvme-subsys and has three namespaces of
# 48, 64 and 80 MiB with 4096-byte blocks. Every rnvme disk must show
# exactly the size, logical and physical sector size QEMU was given, there
# must be exactly four of them, named after their controller and nsid.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name lsblk-sizes --timeout 120 \
	--disk d0=41943552 --disk n1=48M --disk n2=64M --disk n3=80M \
	--nvme serial=rls0,drive=d0,logical_block_size=512,physical_block_size=512 \
	--qemu '-device nvme-subsys,id=subsys0,nqn=rnvme-lsblk' \
	--nvme id=nvs1,serial=rls1,subsys=subsys0 \
	--qemu '-device nvme-ns,drive=n1,bus=nvs1,nsid=1,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=n2,bus=nvs1,nsid=2,logical_block_size=4096,physical_block_size=4096' \
	--qemu '-device nvme-ns,drive=n3,bus=nvs1,nsid=3,logical_block_size=4096,physical_block_size=4096' \
	- <<'GUEST'
load_rust_driver
a0=$(pci_addr_of 0)
a1=$(pci_addr_of 1)
bind "$a0" rust_nvme
bind "$a1" rust_nvme
wait_for '[ "$(disks_of '"$a0"' | wc -l)" = 1 ] && [ "$(disks_of '"$a1"' | wc -l)" = 3 ]' 20

/usr/bin/lsblk -b -o NAME,SIZE,LOG-SEC,PHY-SEC,MIN-IO
M=1048576
# name, bytes, logical and physical sector size, as given to QEMU.
expect="rnvme0n1 $((40 * M + 512)) 512 512
rnvme1n1 $((48 * M)) 4096 4096
rnvme1n2 $((64 * M)) 4096 4096
rnvme1n3 $((80 * M)) 4096 4096"

echo "$expect" | while read -r name bytes lsec psec; do
	[ -b "/dev/$name" ] || fail "no block device /dev/$name"
	got=$(/usr/bin/lsblk -b -d -n -o NAME,SIZE,LOG-SEC,PHY-SEC "/dev/$name" | tr -s ' ')
	[ "$got" = "$name $bytes $lsec $psec" ] ||
		fail "lsblk says '$got', QEMU was given '$name $bytes $lsec $psec'"
	log "$got: as given"
done
case "$(disks_of "$a0")" in rnvme0n1) ;; *) fail "$a0 has disks '$(disks_of "$a0")', want rnvme0n1" ;; esac
[ "$(disks_of "$a1" | sort | tr '\n' ' ')" = "rnvme1n1 rnvme1n2 rnvme1n3 " ] ||
	fail "$a1 has disks '$(disks_of "$a1" | tr '\n' ' ')', want rnvme1n1 rnvme1n2 rnvme1n3"
n=$(/usr/bin/lsblk -d -n -o NAME | grep -c '^rnvme' || true)
[ "$n" = 4 ] || fail "lsblk lists $n rnvme disks, want 4"
n=$(ls /sys/block | grep -c '^rnvme' || true)
[ "$n" = 4 ] || fail "/sys/block has $n rnvme disks, want 4"
log "4 rnvme disks"

unbind "$a0"
unbind "$a1"
unload_rust_driver
GUEST
