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
write_at /dev/$d $((8 * M)) /tmp/a.bin
write_at /dev/$d $last /tmp/tail.bin
[ "$(sha_at /dev/$d $((8 * M)) $((16 * M)))" = "$sa" ] || fail "rust_nvme does not read back its own 16 MiB"
[ "$(sha_at /dev/$d $last 4096)" = "$st" ] || fail "rust_nvme does not read back its own last 4 KiB"
log "rust_nvme /dev/$d: wrote 16 MiB at 8 MiB and the last 4 KiB, read them back"
unbind "$a"

bind "$a" nvme
d=$(disk_on "$a" nvme)
case "$d" in nvme*) ;; *) fail "the C driver's disk is called $d" ;; esac
[ "$(disk_bytes $d)" = $((64 * M)) ] || fail "the C driver sees $(disk_bytes $d) bytes"
[ "$(sha_at /dev/$d $((8 * M)) $((16 * M)))" = "$sa" ] || fail "the C driver reads other data than rust_nvme wrote at 8 MiB"
[ "$(sha_at /dev/$d $last 4096)" = "$st" ] || fail "the C driver reads other data than rust_nvme wrote in the last 4 KiB"
log "nvme /dev/$d: reads rust_nvme's 16 MiB and last 4 KiB"
# The new pattern overlaps the last 4 MiB of the first one.
write_at /dev/$d $((20 * M)) /tmp/b.bin
[ "$(sha_at /dev/$d $((20 * M)) $((16 * M)))" = "$sb" ] || fail "the C driver does not read back its own 16 MiB"
log "nvme /dev/$d: wrote 16 MiB at 20 MiB"
unbind "$a"

bind "$a" rust_nvme
d=$(disk_on "$a" rust_nvme)
[ "$(sha_at /dev/$d $((20 * M)) $((16 * M)))" = "$sb" ] || fail "rust_nvme reads other data than the C driver wrote at 20 MiB"
keep=$(/usr/bin/dd if=/tmp/a.bin bs=1M count=12 status=none | /usr/bin/sha256sum | cut -d' ' -f1)
[ "$(sha_at /dev/$d $((8 * M)) $((12 * M)))" = "$keep" ] || fail "rust_nvme: the first 12 MiB of its own pattern changed"
[ "$(sha_at /dev/$d $last 4096)" = "$st" ] || fail "rust_nvme: the last 4 KiB changed"
log "rust_nvme /dev/$d: reads the C driver's 16 MiB and the rest of its own data"
unbind "$a"
unload_rust_driver
unload_c_driver
GUEST
