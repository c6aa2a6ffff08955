#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make blktests BLKTESTS=/path/to/blktests': runs blktests' device tests of
# the block and nvme groups ('./check -d block nvme') against one emulated
# NVMe disk, first with rust_nvme bound to the controller, then, in a second
# VM with an identical QEMU device, with the C nvme driver, and prints one
# table of both drivers' results per test.
#
# The user's checkout is never written to: it is copied (without results/,
# .git and config) to build/blktests/src, whose src/ helpers are built there with
# the host's cc, and the copy goes into the guest as a tarball. bash, gawk,
# GNU coreutils and the other programs blktests calls come from the host
# (RNVME_EXTRA_TOOLS of tests/harness/initramfs.sh); the test kernel's .config is
# the guest's /boot/config-<release> (gzipped), where blktests looks for kernel
# options.
#
# Every NVMe function starts with driver_override "none" (tests/vm/init.sh)
# and only the driver under test is loaded in its VM, so the other one can
# never bind the controller, not even after a test removes and rescans it.
#
# The controller sits behind a hot-plug capable PCIe root port, so that the
# tests which need one (block/019) apply too. Console logs:
# build/logs/blktests-<driver>.log; blktests' results/ directories and the
# table: build/blktests/<date>/.
#
# Usage: tests/blktests.sh [--args 'CHECK ARGS'] [--time S] [--timeout S]
#                          [--drivers 'rust_nvme nvme'] | --report DIR
# Environment: BLKTESTS (the blktests checkout, required), BLKTESTS_ZONED=1 (the
#   namespace is zoned, for './check zbd'), BLKTESTS_ARGS,
#   BLKTESTS_TIME, BLKTESTS_VM_TIMEOUT, BLKTESTS_DRIVERS (same meaning as the
#   options), KDIR, RNVME_MODULE (a rust_nvme.ko to test instead of building
#   one), RNVME_LOGDIR.
set -euo pipefail
. "$(dirname "$0")/harness/lib.sh"
cd "$RNVME_ROOT"

usage() {
	cat <<'EOF'
usage: make blktests BLKTESTS=/path/to/blktests
       tests/blktests.sh [--args 'CHECK ARGS'] [--time S] [--timeout S] [--drivers LIST]

  --args 'ARGS'   arguments of blktests' ./check (default '-d block nvme': the tests of
                  both groups that run on TEST_DEVS)
  --time S        blktests' TIMEOUT: the run time of each timed fio test (default 30)
  --timeout S     hard limit for each VM (default 2400)
  --drivers LIST  drivers to run, in order (default 'rust_nvme nvme')
  --report DIR    print the table of an earlier run's results directory again

Environment: BLKTESTS (required), BLKTESTS_ZONED=1 (a zoned namespace, for --args zbd),
BLKTESTS_ARGS, BLKTESTS_TIME, BLKTESTS_VM_TIMEOUT,
BLKTESTS_DRIVERS, KDIR, RNVME_MODULE, RNVME_LOGDIR.
EOF
}

# report DIR: the table of both drivers' results of the run in DIR (from its run.env and
# each driver's results/check.out), printed and written to DIR/results.md.
report() {
	local dir=$1
	[ -f "$dir/run.env" ] || die "$dir is not a 'make blktests' results directory (no run.env)"
	python3 - "$dir" <<'PY'
import os, re, sys

out = sys.argv[1]
env = dict(l.rstrip('\n').split('=', 1) for l in open(os.path.join(out, 'run.env')) if '=' in l)
version, release, args, fio_time = env['version'], env['release'], env['args'], env['time']
drivers = env['drivers'].split()
# "block/003 => nvme0n1 (description)  [passed]"; a test run under a condition has
# "(tr=loop) " before its description; a whole group skipped is "nvme/*** => DEV".
head = re.compile(r'^([a-z]+/(?:\d+|\*\*\*))(?: => (\S+))?\s*(.*?)\s*\[(passed|failed|not run)\]$')
cond_desc = re.compile(r'^\((\w+=[^)]*)\)\s*(.*)$')

def parse(path):
    """test -> (status, description, detail lines) from ./check's output."""
    res = {}
    if not os.path.exists(path):
        return res
    cur = None
    for line in open(path, errors='replace'):
        line = line.rstrip('\n')
        m = head.match(line)
        if m:
            test, dev, rest, status = m.groups()
            cond = None
            c = cond_desc.match(rest)
            if c:
                cond, rest = c.groups()
            desc = rest[1:-1] if rest.startswith('(') and rest.endswith(')') else rest
            name = test + (f' ({cond})' if cond else '')
            cur = [status, desc or '', []]
            res[name] = cur
        elif cur is not None and line.startswith('    '):
            cur[2].append(line.strip())
        else:
            cur = None
    return res

results = {d: parse(os.path.join(out, d, 'results', 'check.out')) for d in drivers}
# A group whose requirements the disk fails ("nvme/*** => DEV [not run]") names none of its
# tests; each test another driver's run shows gets a row of its own, marked n/a with the
# group's reason.
for d in drivers:
    for g in [t for t in results[d] if t.endswith('/***')]:
        for other in drivers:
            for t in results[other]:
                if t.startswith(g[:-3]) and not t.endswith('/***') and t not in results[d]:
                    results[d][t] = ['n/a', '', ['group ' + g[:-4] + ': ' + '; '.join(results[d][g][2])]]
tests = sorted({t for r in results.values() for t in r})

def detail(status, lines):
    if status in ('not run', 'n/a'):
        return '; '.join(lines)
    if status == 'failed':
        keep = [l for l in lines if not l.startswith('runtime')]
        return ' '.join(keep[:4])[:200]
    return ''

rows = []
for t in tests:
    desc = next((results[d][t][1] for d in drivers if t in results[d] and results[d][t][1]), '')
    cells, notes = [], {}
    for d in drivers:
        r = results[d].get(t)
        if r is None:
            cells.append('-')
            continue
        cells.append(r[0])
        n = detail(r[0], r[2])
        if n:
            notes[d] = n
    # One note when every driver gives the same one.
    if len(notes) == len(drivers) and len(set(notes.values())) == 1:
        note = next(iter(notes.values()))
    else:
        note = ' / '.join(f'{d}: {n}' for d, n in notes.items())
    rows.append((t, desc, cells, note.replace('|', '\\|')))

lines = [f'blktests {version} on Linux {release}: ./check {args}, TIMEOUT={fio_time}', '',
         '| test | description | ' + ' | '.join(drivers) + ' | notes |',
         '|---|---|' + '---|' * len(drivers) + '---|']
for t, desc, cells, note in rows:
    lines.append(f'| {t} | {desc} | ' + ' | '.join(cells) + f' | {note} |')
lines.append('')
for d in drivers:
    c = {s: sum(1 for t, r in results[d].items() if r[0] == s and not t.endswith('/***'))
         for s in ('passed', 'failed', 'not run', 'n/a')}
    lines.append(f'{d}: {c["passed"]} passed, {c["failed"]} failed, {c["not run"]} not run'
                 + (f', {c["n/a"]} not applicable (their group does not apply to the disk)' if c['n/a'] else ''))
text = '\n'.join(lines) + '\n'
open(os.path.join(out, 'results.md'), 'w').write(text)
print(text, end='')
PY
}

check_args=${BLKTESTS_ARGS:--d block nvme}
fio_time=${BLKTESTS_TIME:-30}
vm_timeout=${BLKTESTS_VM_TIMEOUT:-2400}
drivers=${BLKTESTS_DRIVERS:-rust_nvme nvme}
while [ $# -gt 0 ]; do
	case "$1" in
	--args) check_args=${2:?--args needs check arguments}; shift 2 ;;
	--time) fio_time=${2:?--time needs seconds}; shift 2 ;;
	--timeout) vm_timeout=${2:?--timeout needs seconds}; shift 2 ;;
	--drivers) drivers=${2:?--drivers needs a list}; shift 2 ;;
	--report) report "${2:?--report needs a results directory}"; exit 0 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1'; see tests/blktests.sh --help" ;;
	esac
done
[[ "$fio_time" =~ ^[1-9][0-9]*$ ]] || die "--time '$fio_time' is not a number of seconds"
[[ "$vm_timeout" =~ ^[1-9][0-9]*$ ]] || die "--timeout '$vm_timeout' is not a number of seconds"
for d in $drivers; do
	case "$d" in rust_nvme | nvme) ;; *) die "--drivers: unknown driver '$d' (rust_nvme, nvme)" ;; esac
done
[[ "$check_args" =~ ^[A-Za-z0-9/_.\ -]*$ ]] ||
	die "--args '$check_args': only test names, group names and options of ./check"

# --- the blktests checkout ------------------------------------------------------

[ -n "${BLKTESTS:-}" ] ||
	die "BLKTESTS is not set; pass your blktests checkout: make blktests BLKTESTS=/path/to/blktests (git clone https://github.com/linux-blktests/blktests)"
[ -f "$BLKTESTS/check" ] && [ -f "$BLKTESTS/common/rc" ] && [ -d "$BLKTESTS/tests/block" ] ||
	die "BLKTESTS=$BLKTESTS is not a blktests checkout (no check, common/rc and tests/block in it); pass the directory you cloned https://github.com/linux-blktests/blktests into"
BLKTESTS=$(cd "$BLKTESTS" && pwd)
command -v python3 >/dev/null || die "python3 not found (the host reads the results with it)"

KDIR=${KDIR:-$(rnvme_kdir)}
export KDIR
msg=$(rnvme_check_kdir "$KDIR") || die "$msg"
release=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null) ||
	die "$KDIR/include/config/kernel.release is missing; build the kernel first ('$(rnvme_setup_cmd)')"

if [ -n "${RNVME_MODULE:-}" ]; then
	[ -f "$RNVME_MODULE" ] || die "RNVME_MODULE=$RNVME_MODULE does not exist"
	say "testing $RNVME_MODULE (RNVME_MODULE is set: no build)"
else
	say "building rust_nvme.ko"
	make -s module KDIR="$KDIR" || die "the module does not build; fix the errors above and re-run 'make blktests'"
fi

stamp=$(date -u +%Y-%m-%d-%H%M)
out=$RNVME_ROOT/build/blktests/$stamp
src=$RNVME_ROOT/build/blktests/src
mkdir -p "$out"

say "copying $BLKTESTS to $src and building its src/ helpers"
rm -rf "$src"
mkdir -p "$src"
tar -C "$BLKTESTS" --exclude=./results --exclude=./.git --exclude=./config -cf - . | tar -C "$src" -xf -
if command -v cc >/dev/null; then
	make -s -C "$src" >"$out/build.log" 2>&1 ||
		echo "    some src/ helpers did not build (see $out/build.log); the tests that need them fail or are not run"
else
	echo "    no C compiler on the host: the src/ helpers are not built; the tests that need them are not run"
fi
version=$(git -C "$BLKTESTS" describe --always --dirty 2>/dev/null || echo unknown)
tar -C "$src" -czf "$out/blktests.tar.gz" .
printf 'version=%s\nrelease=%s\nargs=%s\ntime=%s\ndrivers=%s\n' \
	"$version" "$release" "$check_args" "$fio_time" "$drivers" >"$out/run.env"

# --- the guest's programs -------------------------------------------------------

# What blktests runs besides busybox: ./check wants bash, gawk, GNU dd, blockdev,
# fio and getconf; the tests call GNU coreutils, grep and sed options busybox
# lacks, util-linux, xfs_io and setpci. Missing ones are named, not fatal: the
# tests that need them say so themselves ("not run" or a failure).
want=(bash gawk awk grep sed diff find xargs readlink realpath stat sort uniq tr cut head
	tail wc date cat tee mkdir rm mv cp ln ls touch chmod basename dirname mktemp sleep
	timeout nproc getconf env id uname seq truncate sync numfmt md5sum gzip zgrep dmesg
	column blockdev blkdiscard blkzone findmnt lsblk blkid wipefs xfs_io mkfs.xfs setpci)
extra=() missing=()
for t in "${want[@]}"; do
	if PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t" >/dev/null; then
		extra+=("$t")
	else
		missing+=("$t")
	fi
done
[ ${#missing[@]} = 0 ] ||
	echo "    not on the host, so not in the guest: ${missing[*]} (Debian: gawk, pciutils, xfsprogs)"
export RNVME_EXTRA_TOOLS="${extra[*]}"

# The kernel's .config gzipped: blktests reads it with zgrep, which runs gzip -d, and
# busybox's gzip (the applet wins in zgrep's sh) reads gzip data only.
gzip -c "$KDIR/.config" >"$out/config.gz"
files=(--file "$out/blktests.tar.gz=/blktests.tar.gz" --file "$out/config.gz=/boot/config-$release")
# null_blk needs configfs, a module in the test kernel that the common initramfs leaves out.
[ ! -f "$KDIR/fs/configfs/configfs.ko" ] ||
	files+=(--file "$KDIR/fs/configfs/configfs.ko=/lib/modules/configfs.ko")
# The src/ helpers' shared libraries (libstdc++ for discontiguous-io, liburing), at
# the same paths in the guest.
while read -r lib; do
	files+=(--file "$lib=$lib")
done < <(find "$src/src" -type f -perm -u+x -exec ldd {} + 2>/dev/null |
	grep -o '/[^ ]*\.so[^ ]*' | sort -u)

# --- one VM per driver ----------------------------------------------------------

# The guest script: bind the controller to DRIVER (only DRIVER is loaded), run
# ./check on its disk, then send the output and results/ back on the console as
# base64 between two marker lines.
guest_script() {
	cat <<GUEST
drv=$1
check_args='$check_args'
fio_time=$fio_time
GUEST
	cat <<'GUEST'
ln -sf /usr/bin/bash /bin/bash
# bash's process substitution needs /dev/fd, which devtmpfs does not make.
ln -sf /proc/self/fd /dev/fd
# No udev daemon runs here: devtmpfs makes the device nodes as the kernel adds devices, so
# there is never an event queue to wait for. "udevadm settle" is therefore done at once;
# anything else (monitor, control, trigger) fails, and the tests that need it say so.
cat >/usr/bin/udevadm <<'STUB'
#!/bin/sh
[ "$1" = settle ] && exit 0
echo "udevadm $*: no udev in this guest (the blktests harness only answers 'settle')" >&2
exit 1
STUB
chmod 0755 /usr/bin/udevadm
# Everything here runs as root, where sudo would only run the command (nvme/067 calls it).
printf '#!/bin/sh\nexec "$@"\n' >/usr/bin/sudo
chmod 0755 /usr/bin/sudo
# modprobe (busybox's) finds the initramfs' modules (null_blk, which the zbd and some block
# tests load themselves) through a modules.dep of the running release.
moddir=/lib/modules/$(uname -r)
mkdir -p "$moddir"
cp /lib/modules/*.ko "$moddir"/
printf 'configfs.ko:\nnull_blk.ko: configfs.ko\nnvme-core.ko:\nnvme.ko: nvme-core.ko\n' >"$moddir/modules.dep"
mkdir -p /root/blktests
tar -xzf /blktests.tar.gz -C /root/blktests
rm /blktests.tar.gz
case "$drv" in
rust_nvme) load_rust_driver ;;
nvme) load_c_driver ;;
esac
a=$(nvme_ctrls)
[ "$(echo "$a" | wc -l)" = 1 ] || fail "want one NVMe controller, found: $a"
bind "$a" "$drv"
wait_for '[ -n "$(disks_of '"$a"')" ]' 20
disk=$(disks_of "$a")
log "$drv: /dev/$disk, $(disk_bytes "$disk") bytes, sysfs device $(readlink -f "/sys/block/$disk/device")"
cat >/root/blktests/config <<EOF
TEST_DEVS=(/dev/$disk)
TIMEOUT=$fio_time
EOF
cd /root/blktests
log "running ./check $check_args with TEST_DEVS=(/dev/$disk) TIMEOUT=$fio_time"
start=$(cut -d. -f1 /proc/uptime)
# A pipe, not the console, as ./check's output: no terminal colours.
bash ./check $check_args 2>&1 | tee /tmp/check.out
log "./check ended after $(($(cut -d. -f1 /proc/uptime) - start)) s"
log "after the run: $a bound to '$(driver_of "$a")', disks: $(disks_of "$a" | tr '\n' ' ')"
for m in nvme nvme_core rust_nvme; do
	[ ! -d /sys/module/$m ] || log "module $m is loaded"
done
cp /tmp/check.out results/check.out
echo 1 >/proc/sys/kernel/printk
echo "RNVME-BLKTESTS-BEGIN"
tar -czf - results | base64
echo "RNVME-BLKTESTS-END"
GUEST
}

logdir=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
# BLKTESTS_ZONED=1: the namespace is zoned (64 MiB zones, for the zbd group), as a
# separate nvme-ns so that QEMU takes its zoned properties.
if [ "${BLKTESTS_ZONED:-0}" = 1 ]; then
	ns_args=(--nvme serial=blkt0,bus=rp1,id=nv0
		--qemu '-device nvme-ns,drive=d0,bus=nv0,nsid=1,zoned=on,zoned.zone_size=64M,zoned.max_open=16,zoned.max_active=32')
else
	ns_args=(--nvme serial=blkt0,drive=d0,bus=rp1,id=nv0)
fi
vm_failed=()
for d in $drivers; do
	say "blktests with $d (./check $check_args, TIMEOUT=$fio_time; up to $vm_timeout s)"
	guest_script "$d" >"$out/guest-$d.sh"
	t0=$SECONDS
	rc=0
	tests/harness/vm.sh --name "blktests-$d" --timeout "$vm_timeout" --mem 2G \
		--disk d0=1G \
		--qemu '-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x8 -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off' \
		"${ns_args[@]}" \
		"${files[@]}" "$out/guest-$d.sh" || rc=$?
	echo "    $d: $((SECONDS - t0)) s"
	[ $rc = 0 ] || vm_failed+=("$d")
	cp "$logdir/blktests-$d.log" "$out/console-$d.log"
	mkdir -p "$out/$d"
	sed -n '/^RNVME-BLKTESTS-BEGIN/,/^RNVME-BLKTESTS-END/p' "$logdir/blktests-$d.log" |
		grep -E '^[A-Za-z0-9+/=]+$' | base64 -d 2>/dev/null | tar -C "$out/$d" -xzf - 2>/dev/null ||
		echo "    $d: no results came back (see $out/console-$d.log)"
done

# --- the table ------------------------------------------------------------------

say "results (build/blktests/$stamp/)"
report "$out"

if [ ${#vm_failed[@]} != 0 ]; then
	die "the VM run failed for: ${vm_failed[*]} (kernel reports on the console, a time-out, or the guest did not finish; see above and $out/console-*.log)"
fi
failed=$(sed -n 's/^rust_nvme: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$out/results.md")
[ "${failed:-0}" = 0 ] ||
	die "$failed blktests test(s) failed on rust_nvme; see the table above and blktests' output in $out/rust_nvme/results/"
