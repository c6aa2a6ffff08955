#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Backend errors injected by QEMU's blkdebug driver: two controllers on identical poisoned
# images, one bound to rust_nvme and one to the C nvme driver in the same VM. On both:
#   - a read touching a poisoned sector fails, 512-byte reads of its neighbours succeed,
#     and the data around it (written beforehand) reads back unchanged;
#   - a write touching the write-poisoned sector fails, writes next to it succeed;
#   - the errno a reader or writer sees is the same with both drivers (the C driver
#     gives ENODATA "No data available" for a failed read, a media error);
#   - a read that fails once only (a transient backend error; QEMU reports it without
#     Do Not Retry) succeeds, as the C driver retries it;
# and on rust_nvme: each failed request is logged once with its sector and NVMe status, no
# controller reset follows, and a crc32c fio verify over an unaffected range passes while
# another process keeps hitting the poisoned sector.
#
# blkdebug raises "read_aio"/"write_aio" only for requests coming through a format driver
# on top of it, so the stack is raw (format) -> blkdebug -> file.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-inject.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Sector numbers are in 512-byte units: 20480 = 10 MiB, 40967 = 20 MiB + 3.5 KiB (the last
# sector of a 4 KiB block), 90112 = 44 MiB, 94208 = 46 MiB.
cat >"$tmp/blkdebug.conf" <<'EOF'
[inject-error]
event = "read_aio"
errno = "5"
sector = "20480"
once = "off"

[inject-error]
event = "read_aio"
errno = "5"
sector = "40967"
once = "off"

[inject-error]
event = "write_aio"
errno = "5"
sector = "90112"
once = "off"

[inject-error]
event = "read_aio"
errno = "5"
sector = "94208"
once = "on"
EOF
drives=''
for i in 0 1; do
	truncate -s 96M "$tmp/e$i.img"
	drives+=" -drive if=none,id=e$i,format=raw,file.driver=blkdebug,file.config=$tmp/blkdebug.conf,file.image.filename=$tmp/e$i.img"
done

tests/harness/vm.sh --name inject-errors --timeout 150 \
	--qemu "$drives" \
	--nvme serial=rie0,drive=e0 \
	--nvme serial=rie1,drive=e1 - <<'GUEST'
# die MSG: like fail, but on stderr, so that it reaches the console from inside $(...)
# too (the caller's set -e then stops the script).
die() {
	echo "RNVME-FAIL: $*" >&2
	exit 1
}
# rd DEV SECTOR COUNT OUT: reads COUNT 512-byte sectors at SECTOR with O_DIRECT into OUT
# (one read(2) up to 1 MiB);
# on failure prints the errno text dd gave and returns 1.
rd() {
	if /usr/bin/dd if="$1" of="$4" bs=1M skip=$(($2 * 512)) count=$(($3 * 512)) \
		iflag=direct,skip_bytes,count_bytes status=none 2>/tmp/dd.err; then
		return 0
	fi
	sed -n 's/.*: //p' /tmp/dd.err | tail -n 1
	return 1
}
# wr DEV SECTOR COUNT IN: writes the first COUNT sectors of IN at SECTOR with O_DIRECT, in one
# write(2); like rd.
wr() {
	if /usr/bin/dd if="$4" of="$1" bs=1M seek=$(($2 * 512)) count=$(($3 * 512)) \
		iflag=count_bytes oflag=direct,seek_bytes conv=notrunc status=none 2>/tmp/dd.err; then
		return 0
	fi
	sed -n 's/.*: //p' /tmp/dd.err | tail -n 1
	return 1
}
# ref SECTOR COUNT: sha256 of the reference pattern's COUNT sectors at SECTOR.
ref() {
	/usr/bin/dd if=/tmp/pat.bin bs=1M skip=$(($1 * 512)) count=$(($2 * 512)) \
		iflag=skip_bytes,count_bytes status=none | /usr/bin/sha256sum | cut -d' ' -f1
}
# must_fail_read DEV SECTOR COUNT WHAT: a read of the range fails; prints the errno text.
must_fail_read() {
	local e
	if e=$(rd "$1" $2 $3 /tmp/r.bin); then
		die "$1: reading $3 sectors at $2 ($4) succeeded, but it touches a poisoned sector"
	fi
	[ -n "$e" ] || die "$1: the failed read at $2 gave no error text: $(cat /tmp/dd.err)"
	echo "$e"
}
# must_read DEV SECTOR COUNT: a read of the range succeeds and matches the pattern.
must_read() {
	local e
	e=$(rd "$1" $2 $3 /tmp/r.bin) || fail "$1: reading $3 sectors at $2 failed ($e), but it touches no poisoned sector"
	[ "$(sha_file /tmp/r.bin)" = "$(ref $2 $3)" ] || fail "$1: $3 sectors at $2 read back other data than written"
}

load_rust_driver
load_c_driver
ra=$(pci_addr_of 0)
ca=$(pci_addr_of 1)
bind "$ra" rust_nvme
bind "$ca" nvme
rd_=$(disk_on "$ra")
cd_=$(disk_on "$ca")
case "$rd_" in rnvme*) ;; *) fail "rust_nvme's disk is $rd_" ;; esac
log "rust_nvme: /dev/$rd_ ($ra), nvme: /dev/$cd_ ($ca)"

# 40 MiB of random data over the first 40 MiB of both disks (writes there touch no
# write-poisoned sector).
/usr/bin/dd if=/dev/urandom of=/tmp/pat.bin bs=1M count=40 status=none
for d in $rd_ $cd_; do
	/usr/bin/dd if=/tmp/pat.bin of=/dev/$d bs=1M oflag=direct conv=notrunc status=none ||
		fail "writing the 40 MiB pattern to /dev/$d failed: $(cat /tmp/dd.err 2>/dev/null)"
done

for d in $rd_ $cd_; do
	log "/dev/$d: reads"
	e_r4k=$(must_fail_read /dev/$d 20480 8 "the 4 KiB block at the first poisoned sector")
	e_r1=$(must_fail_read /dev/$d 20480 1 "the first poisoned sector alone")
	e_rM=$(must_fail_read /dev/$d 18432 4096 "2 MiB around the first poisoned sector")
	e_r2=$(must_fail_read /dev/$d 40960 8 "the 4 KiB block ending in the second poisoned sector")
	must_read /dev/$d 20479 1
	must_read /dev/$d 20481 1
	must_read /dev/$d 20472 8
	must_read /dev/$d 20488 8
	must_read /dev/$d 40966 1
	must_read /dev/$d 40968 1
	must_read /dev/$d 0 20480
	must_read /dev/$d 20481 20479
	must_read /dev/$d 40968 4096
	log "/dev/$d: poisoned reads fail (4k: $e_r4k; 512: $e_r1; 2M: $e_rM; 2nd: $e_r2), neighbours read back intact"
	eval "read_err_$d=\"\$e_r4k\""

	log "/dev/$d: writes"
	/usr/bin/dd if=/dev/urandom of=/tmp/w.bin bs=4k count=3 status=none
	if e_w=$(wr /dev/$d 90112 8 /tmp/w.bin); then
		fail "/dev/$d: writing 4 KiB at the write-poisoned sector 90112 succeeded"
	fi
	[ -n "$e_w" ] || fail "/dev/$d: the failed write gave no error text: $(cat /tmp/dd.err)"
	if e=$(wr /dev/$d 90104 24 /tmp/w.bin); then
		fail "/dev/$d: writing 12 KiB across the write-poisoned sector succeeded"
	fi
	e=$(wr /dev/$d 90104 8 /tmp/w.bin) || fail "/dev/$d: writing the 4 KiB before the write-poisoned sector failed ($e)"
	/usr/bin/dd if=/tmp/w.bin of=/tmp/w2.bin bs=4k skip=2 count=1 status=none
	e=$(wr /dev/$d 90120 8 /tmp/w2.bin) || fail "/dev/$d: writing the 4 KiB after the write-poisoned sector failed ($e)"
	e=$(rd /dev/$d 90104 8 /tmp/r.bin) || fail "/dev/$d: reading back the 4 KiB before the write-poisoned sector failed ($e)"
	/usr/bin/dd if=/tmp/w.bin bs=4k count=1 status=none | /usr/bin/cmp -s - /tmp/r.bin ||
		fail "/dev/$d: the 4 KiB before the write-poisoned sector reads back other data than written"
	e=$(rd /dev/$d 90120 8 /tmp/r.bin) || fail "/dev/$d: reading back the 4 KiB after the write-poisoned sector failed ($e)"
	/usr/bin/cmp -s /tmp/w2.bin /tmp/r.bin ||
		fail "/dev/$d: the 4 KiB after the write-poisoned sector reads back other data than written"
	log "/dev/$d: the poisoned write fails ($e_w), writes beside it succeed and read back"
	eval "write_err_$d=\"\$e_w\""

	log "/dev/$d: a read failing once"
	/usr/bin/dd if=/dev/urandom of=/tmp/t.bin bs=4k count=1 status=none
	e=$(wr /dev/$d 94208 8 /tmp/t.bin) || fail "/dev/$d: writing 4 KiB at sector 94208 failed ($e)"
	if e=$(rd /dev/$d 94208 8 /tmp/r.bin); then
		/usr/bin/cmp -s /tmp/t.bin /tmp/r.bin || fail "/dev/$d: the retried read at 94208 returned other data than written"
		eval "transient_$d=ok"
	else
		again=failed
		if rd /dev/$d 94208 8 /tmp/r.bin >/dev/null && /usr/bin/cmp -s /tmp/t.bin /tmp/r.bin; then
			again="succeeded"
		fi
		eval "transient_$d=\"failed (\$e), a second read \$again\""
	fi
done

eval "rr=\$read_err_$rd_ cr=\$read_err_$cd_ rw=\$write_err_$rd_ cw=\$write_err_$cd_"
log "read error:  rust_nvme '$rr', nvme '$cr'"
log "write error: rust_nvme '$rw', nvme '$cw'"
[ "$rr" = "$cr" ] || fail "a poisoned read fails with '$rr' on rust_nvme but '$cr' on the C driver"
[ "$rw" = "$cw" ] || fail "a poisoned write fails with '$rw' on rust_nvme but '$cw' on the C driver"

dmesg | grep -q "rust_nvme $ra: I/O error: Read sector 20480 (4096 bytes): .*(sct 0x2 sc 0x81" ||
	fail "the failed 4 KiB read at sector 20480 is not logged with its status (sct 0x2 sc 0x81)"
dmesg | grep -q "rust_nvme $ra: I/O error: Write sector 90112 (4096 bytes): .*(sct 0x2 sc 0x80" ||
	fail "the failed 4 KiB write at sector 90112 is not logged with its status (sct 0x2 sc 0x80)"
log "$(dmesg | grep -m1 "rust_nvme $ra: I/O error: Read" | sed 's/^\[[^]]*\] //')"
log "$(dmesg | grep -m1 "rust_nvme $ra: I/O error: Write" | sed 's/^\[[^]]*\] //')"

if dmesg | grep -q "rust_nvme $ra: resetting controller"; then
	fail "media errors made rust_nvme reset the controller"
fi

log "fio verify on 48-80 MiB of /dev/$rd_ while another process keeps reading the poisoned sector"
dmesg -c >/dev/null
(
	n=0 ok=0
	# At most 300 reads, so that their messages fit in the kernel's log buffer.
	while [ ! -e /tmp/stop ] && [ $n -lt 300 ]; do
		if /usr/bin/dd if=/dev/$rd_ of=/dev/null bs=4k skip=2560 count=1 iflag=direct status=none 2>/dev/null; then
			ok=$((ok + 1))
		fi
		n=$((n + 1))
	done
	echo "$n $ok" >/tmp/bad-reads
) &
bp=$!
fio_verify /dev/$rd_ 32M --offset=48M --bsrange=4k-128k --iodepth=16
touch /tmp/stop
wait $bp
read -r n ok </tmp/bad-reads
[ "$n" -gt 0 ] || fail "the poisoned-read loop never ran"
[ "$ok" = 0 ] || fail "$ok of $n reads of the poisoned sector succeeded"
log "fio verify passed while $n reads of the poisoned sector failed"
c=$(dmesg | grep -c "rust_nvme $ra: I/O error: Read sector 20480 (4096 bytes)" || true)
[ "$c" = "$n" ] || fail "$n failed reads of sector 20480 were logged $c times, want once each"
must_read /dev/$rd_ 0 20480
if dmesg | grep -q "rust_nvme $ra: resetting controller"; then
	fail "media errors made rust_nvme reset the controller"
fi

eval "rt=\$transient_$rd_ ct=\$transient_$cd_"
log "a read failing once: rust_nvme $rt, nvme $ct"
[ "$ct" = ok ] || fail "the C driver did not retry a read failing once ($ct); the check is void"

unbind "$ra"
unbind "$ca"
unload_rust_driver
unload_c_driver
# Last, so that every check above has run: a transient error must not reach the reader.
[ "$rt" = ok ] || fail "rust_nvme fails a read that fails once in the backend ($rt); the C driver retries it (no DNR) and it succeeds"
GUEST
