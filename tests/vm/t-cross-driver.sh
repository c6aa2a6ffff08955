#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Data written by one driver is what the other reads, both ways, on one
# controller: rust_nvme writes 16 MiB of random data and the disk's last
# 4 KiB; the C nvme driver, bound next, reads the same bytes and writes a
# new 16 MiB pattern overlapping the first; rust_nvme, bound again, reads
# the C driver's data and what is left of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec tests/harness/vm.sh --name cross-driver --timeout 120 \
	--disk d0=64M --nvme serial=rxd0,drive=d0 - <<'GUEST'
M=1048576
# sha_of DEV OFFSET LEN: sha256 of LEN bytes at OFFSET, read with O_DIRECT.
sha_of() {
	/usr/bin/dd if="$1" bs=1M iflag=direct,skip_bytes,count_bytes skip=$2 count=$3 status=none |
		/usr/bin/sha256sum | cut -d' ' -f1
}
# sha_file FILE: sha256 of FILE.
sha_file() {
	/usr/bin/sha256sum <"$1" | cut -d' ' -f1
}
# put FILE DEV OFFSET: writes FILE to DEV at OFFSET with O_DIRECT.
put() {
	/usr/bin/dd if="$1" of="$2" bs=1M oflag=direct,seek_bytes seek=$3 conv=notrunc status=none ||
		fail "writing $1 to $2 at $3 failed"
}
# disk_on ADDR DRIVER: the one disk of ADDR, once DRIVER made it.
disk_on() {
	wait_for '[ -n "$(disks_of '"$1"')" ]' 20
	[ "$(disks_of "$1" | wc -l)" = 1 ] || fail "$1 ($2) has disks '$(disks_of "$1" | tr '\n' ' ')', want one"
	disks_of "$1"
}

load_rust_driver
load_c_driver
a=$(pci_addr_of 0)
/usr/bin/dd if=/dev/urandom of=/tmp/a.bin bs=1M count=16 status=none
/usr/bin/dd if=/dev/urandom of=/tmp/tail.bin bs=4k count=1 status=none
/usr/bin/dd if=/dev/urandom of=/tmp/b.bin bs=1M count=16 status=none
sa=$(sha_file /tmp/a.bin)
st=$(sha_file /tmp/tail.bin)
sb=$(sha_file /tmp/b.bin)
last=$((64 * M - 4096))

bind "$a" rust_nvme
d=$(disk_on "$a" rust_nvme)
case "$d" in rnvme*) ;; *) fail "rust_nvme's disk is called $d" ;; esac
put /tmp/a.bin /dev/$d $((8 * M))
put /tmp/tail.bin /dev/$d $last
[ "$(sha_of /dev/$d $((8 * M)) $((16 * M)))" = "$sa" ] || fail "rust_nvme does not read back its own 16 MiB"
[ "$(sha_of /dev/$d $last 4096)" = "$st" ] || fail "rust_nvme does not read back its own last 4 KiB"
log "rust_nvme /dev/$d: wrote 16 MiB at 8 MiB and the last 4 KiB, read them back"
unbind "$a"

bind "$a" nvme
d=$(disk_on "$a" nvme)
case "$d" in nvme*) ;; *) fail "the C driver's disk is called $d" ;; esac
[ "$(disk_bytes $d)" = $((64 * M)) ] || fail "the C driver sees $(disk_bytes $d) bytes"
[ "$(sha_of /dev/$d $((8 * M)) $((16 * M)))" = "$sa" ] || fail "the C driver reads other data than rust_nvme wrote at 8 MiB"
[ "$(sha_of /dev/$d $last 4096)" = "$st" ] || fail "the C driver reads other data than rust_nvme wrote in the last 4 KiB"
log "nvme /dev/$d: reads rust_nvme's 16 MiB and last 4 KiB"
# The new pattern overlaps the last 4 MiB of the first one.
put /tmp/b.bin /dev/$d $((20 * M))
[ "$(sha_of /dev/$d $((20 * M)) $((16 * M)))" = "$sb" ] || fail "the C driver does not read back its own 16 MiB"
log "nvme /dev/$d: wrote 16 MiB at 20 MiB"
unbind "$a"

bind "$a" rust_nvme
d=$(disk_on "$a" rust_nvme)
[ "$(sha_of /dev/$d $((20 * M)) $((16 * M)))" = "$sb" ] || fail "rust_nvme reads other data than the C driver wrote at 20 MiB"
keep=$(/usr/bin/dd if=/tmp/a.bin bs=1M count=12 status=none | /usr/bin/sha256sum | cut -d' ' -f1)
[ "$(sha_of /dev/$d $((8 * M)) $((12 * M)))" = "$keep" ] || fail "rust_nvme: the first 12 MiB of its own pattern changed"
[ "$(sha_of /dev/$d $last 4096)" = "$st" ] || fail "rust_nvme: the last 4 KiB changed"
log "rust_nvme /dev/$d: reads the C driver's 16 MiB and the rest of its own data"
unbind "$a"
unload_rust_driver
unload_c_driver
GUEST
