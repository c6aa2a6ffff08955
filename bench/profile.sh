#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# 'make profile': where does rust_nvme spend more guest kernel instructions
# per I/O than the C nvme driver? One QEMU VM (TCG, icount) with one NVMe
# controller on a null-co node runs the same fixed-size fio job through
# each driver in turn, with our TCG plugin (bench/profile/tbprof.c) counting
# executed kernel instructions per translation-block address. fio's
# exec_prerun/exec_postrun run /usr/bin/tbmark (bench/profile/tbmark.c),
# whose entry block makes the plugin dump and reset its counters, so a
# window holds the job's I/O and nothing of fio's start-up or exit. The
# guest prints its /proc/kallsyms and each job's fio JSON on the console;
# the host resolves the addresses to symbols and writes, per driver, the
# instructions per I/O in total, per module and for the top symbols to
# build/profile/<date>-<job>-<reap>.md (raw dumps, symbols and the console
# next to it, in the directory of the same name).
#
# Usage: bench/profile.sh [--job qd1|qd1-512|qd32|seq128k|ucmd16|ucmd-poll] [--reap poll|sleep]
#                         [--ios N] [--top N]
#                         [--timeout S]
# Environment: PROFILE_JOB, PROFILE_REAP, PROFILE_IOS, PROFILE_TOP, PROFILE_TIMEOUT (same
# meaning), KDIR, RNVME_LOGDIR, RNVME_MODULE (profile that rust_nvme.ko
# instead of building one).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$RNVME_ROOT"

usage() {
	cat <<'EOF'
usage: bench/profile.sh [--job qd1|qd1-512|qd32|seq128k|ucmd16|ucmd-poll] [--reap poll|sleep]
                        [--ios N] [--top N] [--timeout S]

  --job J       the measured fio job (default qd1):
                  qd1      4k random read, iodepth 1, libaio, direct   (20000 I/Os)
                  qd1-512  the same with 512-byte reads                 (20000 I/Os)
                  qd32     4k random read, iodepth 32, libaio, direct  (40000 I/Os)
                  seq128k  128k sequential read, iodepth 8, libaio     (4096 I/Os)
                  ucmd16   4k random read, iodepth 16, io_uring passthrough on the char
                           device (40000 I/Os)
                  ucmd-poll  the same at iodepth 1 on a polled ring, poll_queues=1 (20000 I/Os)
  --reap R      how fio waits for completions (default poll):
                  poll     reads the AIO ring from user space in a loop (--userspace_reap=1
                           --iodepth_batch_complete_min=0): fio never sleeps, so the counts
                           hold the I/O path only and repeat from run to run
                  sleep    io_getevents(2) as fio does by default: whether it sleeps for a
                           completion depends on host timing, and each sleep adds about
                           4000 scheduler and idle instructions, so totals vary between runs
  --ios N       I/Os of the measured job instead of the job's default
  --top N       symbols in the side-by-side table (default 40)
  --timeout S   hard limit for the VM (default 1200 s)

Environment: PROFILE_JOB, PROFILE_REAP, PROFILE_IOS, PROFILE_TOP, PROFILE_TIMEOUT, KDIR, and RNVME_MODULE
(a rust_nvme.ko to profile instead of building one with 'make').
EOF
}

job=${PROFILE_JOB:-qd1}
reap=${PROFILE_REAP:-poll}
ios=${PROFILE_IOS:-}
top=${PROFILE_TOP:-40}
vm_timeout=${PROFILE_TIMEOUT:-1200}
while [ $# -gt 0 ]; do
	case "$1" in
	--job) job=${2:?--job needs qd1, qd1-512, qd32, seq128k, ucmd16 or ucmd-poll}; shift 2 ;;
	--reap) reap=${2:?--reap needs poll or sleep}; shift 2 ;;
	--ios) ios=${2:?--ios needs a number}; shift 2 ;;
	--top) top=${2:?--top needs a number}; shift 2 ;;
	--timeout) vm_timeout=${2:?--timeout needs seconds}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument '$1'; see bench/profile.sh --help" ;;
	esac
done
# engine: libaio on the disk, or io_uring passthrough (io_uring_cmd) on its char device
# (C's ngXnY, our rngXnY), polled on a poll queue for ucmd-poll.
engine=libaio engine_args='' load_args=''
case "$job" in
qd1) bs=4k rw=randread depth=1 default_ios=20000 ;;
qd1-512) bs=512 rw=randread depth=1 default_ios=20000 ;;
qd32) bs=4k rw=randread depth=32 default_ios=40000 ;;
seq128k) bs=128k rw=read depth=8 default_ios=4096 ;;
ucmd16) bs=4k rw=randread depth=16 default_ios=40000 engine=io_uring_cmd engine_args='--cmd_type=nvme' ;;
ucmd-poll)
	bs=4k rw=randread depth=1 default_ios=20000 engine=io_uring_cmd
	engine_args='--cmd_type=nvme --hipri' load_args='poll_queues=1'
	;;
*) die "unknown job '$job' (known: qd1, qd1-512, qd32, seq128k, ucmd16, ucmd-poll)" ;;
esac
case "$reap" in
poll) reap_args="--userspace_reap=1 --iodepth_batch_complete_min=0" ;;
sleep) reap_args="" ;;
*) die "unknown --reap '$reap' (known: poll, sleep)" ;;
esac
# The reap choice is libaio's; io_uring passthrough reaps its own way.
[ "$engine" = libaio ] || reap_args=''
ios=${ios:-$default_ios}
[[ "$ios" =~ ^[1-9][0-9]*$ ]] || die "--ios '$ios' is not a positive number"
[[ "$top" =~ ^[1-9][0-9]*$ ]] || die "--top '$top' is not a positive number"
[[ "$vm_timeout" =~ ^[0-9]+$ ]] || die "--timeout '$vm_timeout' is not a number of seconds"

command -v python3 >/dev/null || die "python3 not found (the host resolves symbols and writes the report with it)"
command -v gcc >/dev/null || die "gcc not found (it builds the QEMU plugin); run 'make setup' or apt-get install gcc"
command -v c++filt >/dev/null || die "c++filt not found (it demangles Rust symbols); apt-get install binutils"
KDIR=${KDIR:-$(rnvme_kdir)}
export KDIR
[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "no test kernel at $KDIR; run 'make setup' first (or pass KDIR=)"
[ -f rust_nvme.rs ] || die "there is no rust_nvme.rs: nothing to profile"

t_start=$(date +%s)
stamp="$(date +%F-%H%M%S)-$job-$reap"
outdir=$RNVME_ROOT/build/profile
raw=$outdir/$stamp
report=$outdir/$stamp.md
mkdir -p "$raw"
# A run that writes no report leaves nothing behind (the console stays in build/logs/).
trap '[ -f "$report" ] || rm -rf "$raw"' EXIT
trap 'exit 130' INT TERM

# --- the plugin, the guest's marker program and the module --------------------

say "building the tbprof plugin and tbmark into build/profile/"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$outdir/tbprof.so" bench/profile/tbprof.c ||
	die "building bench/profile/tbprof.c failed"
# tbmark's entry block is the plugin's trigger: link it where nothing else in
# the guest runs (fio and the libraries are PIE/mmap'ed far above).
gcc -O2 -Wall -static -nostdlib -no-pie -fno-asynchronous-unwind-tables -Wl,--build-id=none \
	-Wl,-Ttext-segment=0x5a5a0000 -o "$outdir/tbmark" bench/profile/tbmark.c ||
	die "building bench/profile/tbmark.c failed (a gcc that links static x86-64 programs is needed)"
mark=$(readelf -h "$outdir/tbmark" | awk '/Entry point address/ { print $4 }')
[ -n "$mark" ] || die "cannot read the entry address of build/profile/tbmark"

if [ -n "${RNVME_MODULE:-}" ]; then
	[ -f "$RNVME_MODULE" ] || die "RNVME_MODULE=$RNVME_MODULE does not exist"
	say "profiling $RNVME_MODULE (RNVME_MODULE is set: no build)"
	cp "$RNVME_MODULE" "$raw/rust_nvme.ko"
else
	say "building rust_nvme.ko"
	make -s || die "the module does not build; fix the errors above and re-run 'make profile'"
	cp rust_nvme.ko "$raw/rust_nvme.ko"
fi
export RNVME_MODULE=$raw/rust_nvme.ko

logdir=${RNVME_LOGDIR:-$RNVME_ROOT/build/logs}
export RNVME_LOGDIR=$logdir
console=$logdir/profile.log

# --- the guest script -----------------------------------------------------------

guest=$raw/guest.sh
cat >"$guest" <<EOF
# Generated by bench/profile.sh.
JOB=$job BS=$bs RW=$rw DEPTH=$depth IOS=$ios REAP_ARGS="$reap_args"
ENGINE=$engine ENGINE_ARGS="$engine_args" LOAD_ARGS="$load_args"
EOF
cat >>"$guest" <<'GUEST'
# fio_job DISK N [FIO_ARGS...]: one run of the job, N I/Os, on CPU 0 over the
# first 1 GiB of /dev/DISK.
fio_job() {
	local disk=$1 size node=/dev/$1 direct=1
	case "$BS" in
	*k) size=$(($2 * ${BS%k}))k ;;
	*) size=$(($2 * BS)) ;;
	esac
	shift 2
	if [ "$ENGINE" = io_uring_cmd ]; then
		# The disk's char device (the char device takes no O_DIRECT; passthrough has no
		# page cache to skip).
		node=/dev/$(echo "$disk" | sed 's/nvme/ng/') direct=0
	fi
	/usr/bin/fio --name="$JOB" --filename="$node" --direct=$direct --size=1G --randrepeat=1 \
		--rw="$RW" --bs="$BS" --iodepth="$DEPTH" --ioengine="$ENGINE" $ENGINE_ARGS --io_size="$size" \
		--cpus_allowed=0 --disk_util=0 --eta=never $REAP_ARGS "$@"
}

# The plugin numbers its dumps from 0: each tbmark run makes one.
dumps=0

# profile DRIVER: binds the controller to DRIVER, warms it up, runs the
# measured job between two tbmark runs and prints its record.
profile() {
	local drv=$1 disk rc=0
	bind "$a" "$drv"
	wait_for '[ -n "$(disks_of "$a")" ]' 30
	disk=$(disks_of "$a" | head -n 1)
	wait_for '[ "$(cat /sys/block/$disk/size)" -gt 0 ]' 30
	fio_job "$disk" $((IOS / 4 + 64)) --output=/dev/null >/tmp/profile.err 2>&1 ||
		{ cat /tmp/profile.err; fail "warm-up fio on /dev/$disk ($drv) failed"; }
	rm -f /tmp/profile.json
	fio_job "$disk" "$IOS" --output-format=json --output=/tmp/profile.json \
		--exec_prerun=/usr/bin/tbmark --exec_postrun=/usr/bin/tbmark 2>/tmp/profile.err || rc=$?
	dumps=$((dumps + 2))
	echo "[profile-job] driver=$drv disk=$disk dump=$((dumps - 1)) rc=$rc"
	sed 's/^/[profile-err] /' /tmp/profile.err
	# Kernel messages must not land inside the base64 lines: keep them off the console
	# while printing (dmesg still has them).
	dmesg -n 1
	[ ! -s /tmp/profile.json ] || gzip -c /tmp/profile.json | base64 | sed 's/^/[profile-b64] /'
	dmesg -n 7
	echo "[profile-end] driver=$drv"
	[ "$rc" = 0 ] || fail "fio ($JOB on /dev/$disk, $drv) failed with exit $rc"
	log "$drv: $JOB, $IOS I/Os on /dev/$disk: counted (dump $((dumps - 1)))"
	unbind "$a"
}

load_c_driver $LOAD_ARGS
load_rust_driver $LOAD_ARGS
a=$(pci_addr_of 0)
profile nvme
profile rust_nvme
# Both drivers are still loaded, so their module symbols are in kallsyms.
dmesg -n 1
echo "[profile-kallsyms] begin"
awk '$2 ~ /^[tTwW]$/' /proc/kallsyms | gzip -c | base64 | sed 's/^/[profile-ksym] /'
echo "[profile-kallsyms] end dumps=$dumps"
dmesg -n 7
unload_rust_driver
unload_c_driver
log "profile done"
GUEST

# --- the run ------------------------------------------------------------------------

# A private copy of vm.sh, as in bench/bench.sh, so an edit meanwhile cannot break the run.
mkdir -p "$raw/harness"
cp tests/harness/vm.sh "$raw/harness/vm.sh"
echo ". '$RNVME_ROOT/tests/harness/lib.sh'" >"$raw/harness/lib.sh"

say "profiling $job, $reap reaping ($ios I/Os per driver), icount + tbprof plugin; console: $console"
vm_rc=0
"$raw/harness/vm.sh" --name profile --icount --timeout "$vm_timeout" \
	--null nc0=2G --nvme serial=rnp-null0,drive=nc0 \
	--file "$outdir/tbmark=/usr/bin/tbmark" \
	--qemu "-plugin file=$outdir/tbprof.so,out=$raw/dump,mark=$mark" \
	"$guest" || vm_rc=$?
rm -rf "$raw/harness"
cp "$console" "$raw/console.log"
[ $vm_rc = 0 ] || die "the profiling VM failed (see above and $console); no report written"

python3 - "$console" "$raw" "$report" "$job" "$reap" "$top" "$(qemu-system-x86_64 --version | head -n 1)" \
	"$(cat "$KDIR/include/config/kernel.release" 2>/dev/null || echo unknown)" \
	"$(git --no-optional-locks -C "$RNVME_ROOT" describe --always --dirty 2>/dev/null || echo unknown)" <<'PY'
import base64, bisect, collections, gzip, json, os, re, subprocess, sys

console, raw, report, job, reap, top, qemu, krel, gitrev = sys.argv[1:]
top = int(top)
DRIVERS = ("nvme", "rust_nvme")

# --- the console: job records and kallsyms -------------------------------------------------
jobs, cur, ksym, dumps_made = {}, None, [], None
with open(console, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("[profile-job] "):
            cur = dict(w.split("=", 1) for w in line.split()[1:])
            cur["b64"] = []
        elif line.startswith("[profile-b64] ") and cur is not None:
            cur["b64"].append(line.split(" ", 1)[1].strip())
        elif line.startswith("[profile-end] ") and cur is not None:
            jobs[cur["driver"]] = cur
            cur = None
        elif line.startswith("[profile-ksym] "):
            ksym.append(line.split(" ", 1)[1].strip())
        elif line.startswith("[profile-kallsyms] end"):
            dumps_made = int(line.rsplit("=", 1)[1])
for d in DRIVERS:
    if d not in jobs:
        sys.exit("profile: no record of the %s job on %s" % (d, console))
if not ksym:
    sys.exit("profile: no kallsyms on " + console)

ios, ctx = {}, {}
for d in DRIVERS:
    fj = gzip.decompress(base64.b64decode("".join(jobs[d]["b64"]))).decode(errors="replace")
    fj = json.loads(fj[fj.index("{"):])["jobs"][0]
    ios[d] = fj["read"]["total_ios"] + fj["write"]["total_ios"]
    ctx[d] = fj.get("ctx", 0)
    if ios[d] == 0:
        sys.exit("profile: fio reports 0 I/Os for %s" % d)

# Symbols: sorted start addresses; a block belongs to the last symbol at or below it.
# Identical code folding gives some addresses several names (Rust's small generic
# functions): they are one entry, shown by its shortest name.
text = gzip.decompress(base64.b64decode("".join(ksym))).decode(errors="replace")
with open(os.path.join(raw, "kallsyms.txt"), "w") as f:
    f.write(text)
aliases = collections.defaultdict(set)
for line in text.splitlines():
    w = line.split()
    if len(w) < 3:
        continue
    a = int(w[0], 16)
    if a == 0:
        sys.exit("profile: kallsyms shows zero addresses (kptr_restrict?); cannot resolve")
    mod = w[3].strip("[]") if len(w) > 3 else "vmlinux"
    aliases[(a, mod)].add(w[2])
syms = sorted(aliases)
starts = [s[0] for s in syms]
FAR = 1 << 20  # farther than this past a symbol start: not in any known function


def resolve(addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i < 0 or addr - starts[i] > FAR:
        return (0, "?")
    return syms[i]


# --- the plugin's dumps ------------------------------------------------------------------
files = sorted((int(n.rsplit(".", 1)[1]), n) for n in os.listdir(raw) if re.fullmatch(r"dump\.\d+", n))
if dumps_made is not None and len(files) != dumps_made:
    sys.exit("profile: the guest ran tbmark %d times but the plugin wrote %d dumps" % (dumps_made, len(files)))
per = {}
for d in DRIVERS:
    n = int(jobs[d]["dump"])
    path = os.path.join(raw, "dump.%d" % n)
    if not os.path.exists(path):
        sys.exit("profile: the plugin wrote no %s (the %s window)" % (path, d))
    c = collections.Counter()
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                if "refused" in line and not line.rstrip().endswith(" 0 refused"):
                    print("profile: warning: " + line.strip() + " (raise slots= in the plugin arguments)")
                continue
            a, n_ins = line.split()
            c[resolve(int(a, 16))] += int(n_ins)
    per[d] = c

# Readable names: Rust v0 symbols through c++filt, without crate hashes and LLVM suffixes.
names = sorted({n for c in per.values() for k in c for n in aliases.get(k, ())})
clean = [re.sub(r"\.llvm\.\d+$", "", n) for n in names]
out = subprocess.run(["c++filt"], input="\n".join(clean) + "\n", capture_output=True, text=True).stdout.splitlines()
pretty = {}
for n, o in zip(names, out):
    pretty[n] = re.sub(r"\[[0-9a-f]+\]", "", o)


def label(k):
    if k not in aliases:
        return "[no symbol]"
    shown = sorted((pretty.get(n, n) for n in aliases[k]), key=lambda n: (len(n), n))
    more = " (+%d aliases)" % (len(shown) - 1) if len(shown) > 1 else ""
    return shown[0] + more + ("" if k[1] == "vmlinux" else " [%s]" % k[1])


total = {d: sum(per[d].values()) / ios[d] for d in DRIVERS}
keys = set(per["nvme"]) | set(per["rust_nvme"])
row = {k: (per["nvme"][k] / ios["nvme"], per["rust_nvme"][k] / ios["rust_nvme"]) for k in keys}
mods = collections.defaultdict(lambda: [0.0, 0.0])
for (_, mod), (c, r) in row.items():
    mods[mod][0] += c
    mods[mod][1] += r


def f0(v):
    return "%.0f" % v


def fd(v):
    return "%+.0f" % v


def table(head, rows):
    return ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def esc(s):
    return s.replace("|", "\\|")


desc = {"qd1": "4k random read, iodepth 1", "qd1-512": "512-byte random read, iodepth 1",
        "qd32": "4k random read, iodepth 32",
        "seq128k": "128k sequential read, iodepth 8",
        "ucmd16": "4k random read, iodepth 16, io_uring passthrough on the char device",
        "ucmd-poll": "4k random read, iodepth 1, io_uring passthrough on the char device, polled"}[job]
md = ["# Guest kernel instructions per I/O: nvme vs rust_nvme, %s, %s" % (job, reap), ""]
md.append("%s, %s, on CPU 0, over the first 1 GiB of one QEMU NVMe controller on a "
          "null-co node; %d I/Os (nvme) and %d I/Os (rust_nvme) from fio's JSON. %s, TCG with "
          "`-icount shift=0,sleep=off`, 2 vCPUs; guest Linux %s; rust_nvme from `%s`. "
          "Counted by bench/profile/tbprof.c: kernel instructions (addresses >= 0xffff800000000000) "
          "on all vCPUs from fio's exec_prerun to its exec_postrun, so the window also holds two short "
          "shell + tbmark runs (the same for both drivers), and is attributed per translation block "
          "to the symbol containing its start (blocks running into a next symbol count for the first; "
          "an address with several names from identical code folding shows the shortest)."
          % (desc, "fio's io_uring_cmd engine (its own reaping)" if job.startswith("ucmd") else
             "libaio, direct, " + {"poll": "completions reaped by polling the AIO ring from user space "
                          "(fio --userspace_reap=1 --iodepth_batch_complete_min=0: fio never sleeps)",
                  "sleep": "completions reaped with io_getevents (fio may sleep, depending on host timing)"}[reap],
             ios["nvme"], ios["rust_nvme"], qemu.replace("QEMU emulator version ", "QEMU "), krel, gitrev))
md.append("")
md += table(["", "nvme", "rust_nvme", "rust - nvme"],
            [["kernel instructions per I/O", f0(total["nvme"]), f0(total["rust_nvme"]),
              fd(total["rust_nvme"] - total["nvme"])],
             ["fio context switches per I/O", "%.2f" % (ctx["nvme"] / ios["nvme"]),
              "%.2f" % (ctx["rust_nvme"] / ios["rust_nvme"]),
              "%+.2f" % (ctx["rust_nvme"] / ios["rust_nvme"] - ctx["nvme"] / ios["nvme"])]])
md += ["", "## Per module", ""]
md += table(["module", "nvme ins/IO", "rust_nvme ins/IO", "difference"],
            [[m, f0(c), f0(r), fd(r - c)] for m, (c, r) in sorted(mods.items(), key=lambda x: -max(x[1]))
             if max(c, r) >= 0.5])
md += ["", "## Top %d symbols by instructions per I/O (either driver)" % top, ""]
ranked = sorted(row.items(), key=lambda x: -max(x[1]))[:top]
md += table(["symbol", "nvme ins/IO", "rust_nvme ins/IO", "difference"],
            [["`%s`" % esc(label(k)), f0(c), f0(r), fd(r - c)] for k, (c, r) in ranked])
md += ["", "## Biggest differences (rust_nvme - nvme), top %d by size" % top, ""]
ranked = sorted(row.items(), key=lambda x: -abs(x[1][1] - x[1][0]))[:top]
md += table(["symbol", "nvme ins/IO", "rust_nvme ins/IO", "difference"],
            [["`%s`" % esc(label(k)), f0(c), f0(r), fd(r - c)] for k, (c, r) in ranked])
md += ["", "Raw data: `build/profile/%s/` (dump.N from the plugin, kallsyms.txt, console.log, the guest "
       "script and the rust_nvme.ko profiled)."
       % os.path.basename(raw), ""]
with open(report + ".tmp", "w") as f:
    f.write("\n".join(md))
os.rename(report + ".tmp", report)
print("\n".join(md))
print("profile: report in %s" % os.path.relpath(report))
PY
echo "profile: done in $(($(date +%s) - t_start)) s"
