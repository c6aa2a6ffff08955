#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boots the test kernel in QEMU with emulated NVMe controllers, runs one
# guest test script in it and judges the run: it passes when the guest
# reports "RNVME-EXIT: 0" and the console holds no kernel report (see
# tests/harness/scan-console.sh). The console is saved to
# ${RNVME_LOGDIR:-build/logs}/NAME.log. See tests/README.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<'EOF'
usage: tests/harness/vm.sh --name NAME [options] TEST_SCRIPT|-

  --nvme 'PROPS'      add '-device nvme,addr=SLOT,PROPS'; the N-th --nvme (from 0)
                      gets PCI slot 0x10+N, which the guest's 'pci_addr_of N' returns
                      (PROPS with its own bus= or addr= keeps it)
  --disk ID=SIZE[,fmt=raw|qcow2][,DRIVE-OPTS]
                      a sparse image in the run's temporary directory, as -drive id=ID
  --null ID=SIZE      a null-co block node (reads zeroes, stores nothing) named ID
  --file HOST=GUEST   copy a host file into the guest at GUEST
  --qemu 'ARGS'       raw QEMU arguments (split on spaces): pcie-root-port, nvme-subsys,
                      nvme-ns, ...; --nvme and --qemu go to QEMU in the order given,
                      after the --disk and --null drives
  --append 'ARGS'     more kernel command line arguments
  --smp N --mem SIZE  guest CPUs (default 2) and memory (default 1G)
  --timeout SECONDS   hard limit for the whole run (default 300); QEMU is killed
  --icount            -icount shift=0,sleep=off (deterministic guest time, 1 CPU thread)
  --tcg-one-thread    -accel tcg,thread=single: one host thread runs every vCPU in turn,
                      for tests that hot-unplug a PCI device (see below, at 'accel=')
  --monitor           print the HMP monitor socket (path from RNVME_MONITOR if set)
  --expect-fail       pass only if the guest script exits non-zero (console still clean)
  --allow-alloc-warnings
                      the kernel's reports of failed allocations (warn_alloc call traces) do
                      not fail the run: for tests that inject allocation failures
  --allow-pciehp-lockdep
                      the PCIe hot-plug driver's own lockdep report on a surprise removal
                      (see tests/harness/scan-console.sh) does not fail the run

TEST_SCRIPT (or - for stdin) runs in the guest under busybox sh with 'set -e'
and tests/vm/guest-lib.sh sourced. Environment: KDIR, RNVME_KVM=1 (use KVM),
RNVME_LOGDIR, RNVME_VERBOSE=1 (show the kernel's lines live too), RNVME_KEEP=1
(keep the run directory), RNVME_MODULE (see tests/harness/initramfs.sh).
EOF
}

name='' script='' smp=2 mem=1G timeout=300 icount=0 one_thread=0 monitor=0 expect_fail=0 allow_alloc_warn=0 allow_pciehp=0
append='' nvmes=() disks=() nulls=() files=() order=()

need() {
	[ $# -ge 2 ] || die "option $1 needs a value; see tests/harness/vm.sh --help"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--name) need "$@"; name=$2; shift 2 ;;
	--nvme) need "$@"; order+=("nvme:${#nvmes[@]}"); nvmes+=("$2"); shift 2 ;;
	--disk) need "$@"; disks+=("$2"); shift 2 ;;
	--null) need "$@"; nulls+=("$2"); shift 2 ;;
	--file) need "$@"; files+=("$2"); shift 2 ;;
	--qemu) need "$@"; order+=("qemu:$2"); shift 2 ;;
	--append) need "$@"; append+=" $2"; shift 2 ;;
	--smp) need "$@"; smp=$2; shift 2 ;;
	--mem) need "$@"; mem=$2; shift 2 ;;
	--timeout) need "$@"; timeout=$2; shift 2 ;;
	--icount) icount=1; shift ;;
	--tcg-one-thread) one_thread=1; shift ;;
	--monitor) monitor=1; shift ;;
	--expect-fail) expect_fail=1; shift ;;
	--allow-alloc-warnings) allow_alloc_warn=1; shift ;;
	--allow-pciehp-lockdep) allow_pciehp=1; shift ;;
	-h | --help) usage; exit 0 ;;
	-) script=-; shift ;;
	-*) die "unknown option $1; see tests/harness/vm.sh --help" ;;
	*) [ -z "$script" ] || die "more than one test script ($script, $1)"; script=$1; shift ;;
	esac
done
# The debug kernel (KASAN, lockdep, kmemleak) runs several times slower under TCG: stretch
# every test's time limit rather than write two sets of limits.
if [ "$RNVME_VARIANT" = debug ]; then
	timeout=$((timeout * ${RNVME_DEBUG_SLOWDOWN:-6}))
fi
[ -n "$name" ] || die "--name NAME is missing; see tests/harness/vm.sh --help"
[[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || die "--name '$name' may only hold letters, digits, '.', '_' and '-'"
[ -n "$script" ] || die "no test script given (a file, or - for stdin); see tests/harness/vm.sh --help"
[ "$script" = - ] || [ -f "$script" ] || die "test script $script does not exist"
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout '$timeout' is not a number of seconds"

KDIR=${KDIR:-$(rnvme_kdir)}
export KDIR
kernel=$KDIR/arch/x86/boot/bzImage
[ -f "$kernel" ] || die "no kernel image $kernel; run 'make setup' (or pass KDIR= a built kernel)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; run 'make setup'"
command -v socat >/dev/null || die "socat not found; run 'make setup'"

logdir=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
mkdir -p "$logdir"
log=$logdir/$name.log
run=$(mktemp -d "${TMPDIR:-/tmp}/rnvme-vm.XXXXXX")
mon=${RNVME_MONITOR:-$run/monitor.sock}
qpid='' wpid='' bpid=''

cleanup() {
	[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
	[ -z "$wpid" ] || kill "$wpid" 2>/dev/null || true
	[ -z "$bpid" ] || kill "$bpid" 2>/dev/null || true
	if [ "${RNVME_KEEP:-0}" = 1 ]; then
		echo "vm $name: run directory kept: $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the guest's files and the QEMU command line ----------------------------

if [ "$script" = - ]; then
	cat >"$run/test.sh"
else
	cp "$script" "$run/test.sh"
fi
"$RNVME_ROOT/tests/harness/initramfs.sh" "$run/initrd.img" "$run/test.sh=/test.sh" "${files[@]}"

devargs=()
id_ok() {
	[[ "$1" =~ ^[A-Za-z][A-Za-z0-9_-]*$ ]] || die "block id '$1' must be a letter then letters, digits, '_' or '-'"
}
for spec in "${disks[@]}"; do
	id=${spec%%=*} rest=${spec#*=}
	[ "$id" != "$spec" ] || die "--disk '$spec' is not ID=SIZE[,fmt=raw|qcow2][,opts]"
	id_ok "$id"
	size=${rest%%,*} fmt=raw opts=''
	IFS=, read -ra kv <<<"${rest#"$size"}"
	for o in "${kv[@]}"; do
		case "$o" in
		'') ;;
		fmt=*) fmt=${o#fmt=} ;;
		*) opts+=",$o" ;;
		esac
	done
	img=$run/$id.img
	case "$fmt" in
	raw) truncate -s "$size" "$img" || die "--disk $spec: bad size '$size' (use e.g. 64M, 4G)" ;;
	qcow2) qemu-img create -q -f qcow2 "$img" "$size" || die "--disk $spec: qemu-img create failed" ;;
	*) die "--disk $spec: fmt must be raw or qcow2" ;;
	esac
	devargs+=(-drive "file=$img,if=none,id=$id,format=$fmt$opts")
done
for spec in "${nulls[@]}"; do
	id=${spec%%=*} size=${spec#*=}
	[ "$id" != "$spec" ] || die "--null '$spec' is not ID=SIZE"
	id_ok "$id"
	bytes=$(numfmt --from=iec "$size" 2>/dev/null) || die "--null $spec: bad size '$size' (use e.g. 1G)"
	devargs+=(-blockdev "driver=null-co,node-name=$id,size=$bytes,read-zeroes=on")
done
# --nvme and --qemu in command-line order: a root port before the
# controller behind it, a controller before its nvme-ns.
slots=() serials=()
for o in "${order[@]}"; do
	if [ "${o%%:*}" = qemu ]; then
		read -r -d "" -a words <<<"${o#qemu:}" || true
		devargs+=("${words[@]}")
		continue
	fi
	i=${o#nvme:}
	props=${nvmes[$i]}
	case ",$props," in
	*,bus=*)
		slots+=(-)
		devargs+=(-device "nvme,$props")
		;;
	*,addr=*)
		a=${props#*addr=} a=${a%%,*} a=${a#0x}
		fn=0
		[[ "$a" == *.* ]] && fn=${a#*.} a=${a%.*}
		slots+=("$(printf '0000:00:%02x.%x' $((16#$a)) "$fn")")
		devargs+=(-device "nvme,$props")
		;;
	*)
		[ $i -lt 15 ] || die "at most 15 --nvme get fixed slots (0x10 to 0x1e); give the others bus= or addr="
		slots+=("$(printf '0000:00:%02x.0' $((0x10 + i)))")
		devargs+=(-device "nvme,addr=$(printf '0x%x' $((0x10 + i))),$props")
		;;
	esac
	s=-
	case ",$props," in *,serial=*) s=${props#*serial=} s=${s%%,*} ;; esac
	serials+=("$s")
done

join() {
	local IFS=,
	echo "$*"
}
cmdline="console=ttyS0 printk.time=1 panic=-1 oops=panic"
[ ${#slots[@]} = 0 ] || cmdline+=" rnvme.slots=$(join "${slots[@]}") rnvme.serials=$(join "${serials[@]}")"
cmdline+=$append

# --tcg-one-thread works around a QEMU 10.0.2 (Debian) TCG race that a PCI hot-unplug
# exposes. Debian's fix for QEMU issue 3040 makes iotlb_to_section() look a TLB entry's
# section number up in the address space's *current* memory map, while each vCPU flushes
# its TLB only later, from its own thread. A device_del shrinks the map; a vCPU that
# makes an MMIO access (LAPIC, ECAM) with an entry from the old map before its flush
# aborts QEMU: "iotlb_to_section: Assertion 'section_index < d->map.sections_nb'".
# With one TCG thread no other vCPU runs between the map change and its own flush.
accel=(-accel tcg)
[ $one_thread = 0 ] || accel=(-accel tcg,thread=single)
[ "${RNVME_KVM:-0}" = 1 ] && accel=(-accel kvm -cpu host)
[ $icount = 0 ] || accel+=(-icount "shift=0,sleep=off")

qemu=(qemu-system-x86_64 -machine q35 "${accel[@]}" -smp "$smp" -m "$mem"
	-nodefaults -display none -no-reboot
	-kernel "$kernel" -initrd "$run/initrd.img" -append "$cmdline"
	-chardev "file,id=console,path=$log" -serial chardev:console
	-chardev "socket,id=hostchan,path=$run/host.sock,server=on,wait=off" -serial chardev:hostchan
	-monitor "unix:$mon,server=on,wait=off"
	"${devargs[@]}")
printf '%q ' "${qemu[@]}" >"$run/qemu.cmd"

# --- the console watcher: live output and host actions ------------------------

# monitor_cmd CMD: runs one HMP command on the monitor connection opened on
# first use and prints its output. HMP echoes each keystroke with cursor
# escapes, so the end of the output is found by a following 'info version'.
monitor_cmd() {
	local line state=0
	if [ -z "${MONC_PID:-}" ]; then
		coproc MONC { socat - UNIX-CONNECT:"$mon" 2>&1; }
	fi
	printf '%s\ninfo version\n' "$1" >&"${MONC[1]}"
	while IFS= read -r -t 60 line <&"${MONC[0]}"; do
		line=${line//$'\r'/}
		line=$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' <<<"$line")
		case "$state:$line" in
		0:"(qemu)"*) state=1 ;;
		1:"(qemu)"*"info version") state=2 ;;
		1:*) echo "$line" ;;
		2:*) return 0 ;;
		esac
	done
	echo "Error: no answer from the QEMU monitor"
}

# wake_from_suspend: waits (up to 60 s) for the guest to reach suspend to RAM, then
# wakes it (the monitor's system_wakeup), for a guest that asked before it suspended and
# prints "RNVME-RESUMED" once it is back.
wake_from_suspend() {
	local i=0 back
	back=$(grep -ac '^RNVME-RESUMED' "$log" || true)
	while [ $i -lt 240 ]; do
		if monitor_cmd "info status" | grep -q suspended; then
			monitor_cmd system_wakeup
			echo "woken after $((i / 4)).$((i % 4 * 25)) s"
			return 0
		fi
		# The guest may be back on its own (a sleep that failed, or another wake-up source);
		# it says so with an "RNVME-RESUMED" line.
		if [ "$(grep -ac '^RNVME-RESUMED' "$log" || true)" != "$back" ]; then
			echo "back without a wake-up"
			return 0
		fi
		sleep 0.25
		i=$((i + 1))
	done
	echo "Error: the guest did not suspend within 60 s"
}

# host_action "SEQ CMD": runs CMD for the guest and answers on its ttyS1. CMD is an HMP
# command, or wake-from-suspend (see above).
host_action() {
	local seq=${1%% *} cmd=${1#* } out rc=0
	if [ -z "${ACK_OPEN:-}" ]; then
		mkfifo "$run/host.fifo"
		socat -u OPEN:"$run/host.fifo" UNIX-CONNECT:"$run/host.sock" &
		exec 7>"$run/host.fifo"
		ACK_OPEN=1
	fi
	if [ "$cmd" = wake-from-suspend ]; then
		out=$(wake_from_suspend)
	else
		out=$(monitor_cmd "$cmd")
	fi
	grep -q '^Error' <<<"$out" && rc=1
	echo "  host> $cmd${out:+: $(head -c 300 <<<"$out" | tr '\n' ' ')}"
	{
		while IFS= read -r l; do
			[ -z "$l" ] || echo "RNVME-OUT $seq $l"
		done <<<"$out"
		echo "RNVME-ACK $seq $rc"
	} >&7
}

watch_console() {
	local line
	tail -n +1 -F -s 0.2 --pid="$qpid" "$log" 2>/dev/null | while IFS= read -r line; do
		line=${line%$'\r'}
		case "$line" in
		RNVME-GUEST-START*) date +%s.%N >"$run/t-guest" ;;
		"RNVME-HOST: "*) host_action "${line#RNVME-HOST: }" ;;
		RNVME-EXIT:*) ;;
		"["*) [ "${RNVME_VERBOSE:-0}" = 0 ] || echo "  $line" ;;
		"") ;;
		*) echo "  | $line" ;;
		esac
	done
}

# --- the run ------------------------------------------------------------------

# boot_watch: the kernel must start /init within $boot_deadline seconds; before
# /init neither rust_nvme nor nvme is loaded, so a stall there is the emulator's
# or the early kernel's. It saves every vCPU's registers (RIP looked up in
# System.map) for the record, kills QEMU and leaves $run/boot-stall.
boot_watch() {
	local waited=0 regs
	while [ $waited -lt "$boot_deadline" ]; do
		sleep 1
		waited=$((waited + 1))
		grep -aq '^RNVME-GUEST-START' "$log" 2>/dev/null && return 0
		kill -0 "$qpid" 2>/dev/null || return 0
	done
	regs=$logdir/$name.boot-stall-$attempt.regs
	printf 'info registers -a\n' | timeout 10 socat -t 3 - UNIX-CONNECT:"$mon" 2>&1 |
		sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r//g' >"$regs" || true
	for r in $(grep -ao 'RIP=[0-9a-f]*' "$regs"); do
		awk -v rip="${r#RIP=}" 'function h(x,  i, n, c) { n = 0; x = tolower(x)
				for (i = 1; i <= length(x); i++) { c = index("0123456789abcdef", substr(x, i, 1)); n = n * 16 + c - 1 }
				return n }
			# the low 32 bits only: awk numbers are doubles, and kernel text lies in one 4 GiB window
			BEGIN { want = h(substr(rip, length(rip) - 7)); best = -1 }
			$2 ~ /^[tT]$/ && substr($1, 1, 8) == substr(rip, 1, 8) {
				a = h(substr($1, 9)); if (a <= want && a > best) { best = a; sym = $3 } }
			END { if (sym != "") printf "RIP %s is in %s+0x%x\n", rip, sym, want - best }' "$KDIR/System.map"
	done >"$regs.sym" 2>&1 || true
	{ echo; cat "$regs.sym"; } >>"$regs" && rm -f "$regs.sym"
	: >"$run/boot-stall"
	kill "$qpid" 2>/dev/null || true
}

echo "vm $name: booting (${#nvmes[@]} nvme, $([ "${RNVME_KVM:-0}" = 1 ] && echo kvm || echo tcg)$([ $icount = 1 ] && echo ', icount')$([ $one_thread = 1 ] && echo ', one TCG thread'), smp $smp, $mem); log: $log"
[ $monitor = 0 ] || echo "vm $name: monitor: $mon (HMP: echo 'info pci' | socat - UNIX-CONNECT:$mon)"
boot_deadline=${RNVME_BOOT_DEADLINE:-60}
[ "$RNVME_VARIANT" != debug ] || boot_deadline=$((boot_deadline * ${RNVME_DEBUG_SLOWDOWN:-6}))
boot_attempts=${RNVME_BOOT_ATTEMPTS:-3}
attempt=1
while :; do
	: >"$log"
	rm -f "$run/boot-stall" "$run/t-guest" "$run/host.fifo"
	t0=$(date +%s.%N)
	timeout -k 5 "$timeout" "${qemu[@]}" </dev/null >"$run/qemu.out" 2>&1 &
	qpid=$!
	watch_console &
	wpid=$!
	boot_watch &
	bpid=$!
	qrc=0
	wait "$qpid" || qrc=$?
	qpid=''
	wait "$bpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	wpid=''
	t1=$(date +%s.%N)
	sed -i 's/\r$//' "$log"
	[ -f "$run/boot-stall" ] && [ $attempt -lt "$boot_attempts" ] || break
	cp "$log" "$logdir/$name.boot-stall-$attempt.log"
	echo "vm $name: the kernel had not started /init after $boot_deadline s (no NVMe driver is loaded" \
		"before /init: an early-boot stall under the emulator); console and registers kept in" \
		"$logdir/$name.boot-stall-$attempt.{log,regs}; booting again ($((attempt + 1)) of $boot_attempts)"
	sed -n 's/^RIP .* is in /    stalled in: /p' "$logdir/$name.boot-stall-$attempt.regs" 2>/dev/null || true
	attempt=$((attempt + 1))
done

# --- the verdict ----------------------------------------------------------------

reasons=()
show_tail=0
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	reasons+=("timed out after $timeout s; QEMU was killed")
	show_tail=1
elif [ $qrc != 0 ]; then
	reasons+=("QEMU failed (exit $qrc): $(tail -n 3 "$run/qemu.out" | tr '\n' ' ')")
fi
exit_line=$(grep -a '^RNVME-EXIT: ' "$log" | tail -n 1 || true)
if [ -z "$exit_line" ]; then
	if ! grep -aq '^RNVME-GUEST-START' "$log"; then
		reasons+=("the kernel never started /init")
		[ ! -f "$run/boot-stall" ] ||
			reasons+=("(stalled in early boot $attempt times; registers in $logdir/$name.boot-stall-$attempt.regs:" \
				"$(sed -n 's/^RIP .* is in //p' "$logdir/$name.boot-stall-$attempt.regs" 2>/dev/null | paste -sd ' '))")
	else
		reasons+=("no RNVME-EXIT line: the guest did not finish")
	fi
	show_tail=1
else
	code=${exit_line#RNVME-EXIT: }
	if [ $expect_fail = 1 ]; then
		[ "$code" != 0 ] || reasons+=("the guest script passed, but --expect-fail wants it to fail")
	elif [ "$code" != 0 ]; then
		fails=$(grep -a -o 'RNVME-FAIL: .*' "$log" | head -n 3 | paste -sd '|' | sed 's/|/; /g' || true)
		reasons+=("the guest script exited with $code${fails:+: $fails}")
	fi
fi
scan_out=$(RNVME_ALLOW_ALLOC_WARN=$allow_alloc_warn RNVME_ALLOW_PCIEHP_LOCKDEP=$allow_pciehp "$RNVME_ROOT/tests/harness/scan-console.sh" "$log") || reasons+=("kernel reports on the console")

times=$(awk -v a="$t0" -v b="$t1" -v g="$(cat "$run/t-guest" 2>/dev/null || echo 0)" 'BEGIN {
	if (g > 0) printf "%.1f s: boot %.1f s, test %.1f s", b - a, g - a, b - g
	else printf "%.1f s", b - a }')
if [ ${#reasons[@]} = 0 ]; then
	echo "vm $name: PASS in $times"
	exit 0
fi
echo "vm $name: FAIL in $times"
for r in "${reasons[@]}"; do
	echo "    $r"
done
[ -z "$scan_out" ] || sed 's/^/    /' <<<"$scan_out"
if [ $show_tail = 1 ]; then
	echo "    last console lines:"
	tail -n 15 "$log" | sed 's/^/      /'
fi
echo "    log: $log"
exit 1
