#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Temperature sensors (issue 16): the hwmon device "nvme" of a controller, on ours and on the
# C driver (CONFIG_NVME_HWMON) in the same VM, one after the other on the same controller:
#   - the same attribute files on both (QEMU reports the composite temperature only: temp1_*);
#   - temp1_input equals the SMART log's composite temperature (nvme smart-log, Kelvin) in
#     millidegrees Celsius; temp1_crit is Identify Controller's CCTEMP; temp1_max starts at
#     QEMU's over-temperature threshold (WCTEMP) and temp1_min at 0 K; the label "Composite";
#   - temp1_max written below the temperature raises temp1_alarm (Critical Warning bit 1), and
#     QEMU's SMART event (ours logs it with the warning); written back, the alarm clears; the
#     same with temp1_min above the temperature; each written value reads back, rounded to
#     whole Kelvin as C rounds;
#   - uid 1000 reads temp1_input and cannot write temp1_max (EACCES);
#   - a descriptor of temp1_input held open across unbind reads ENODEV afterwards, no report;
#     the hwmon device goes with the unbind and comes back with the next bind.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -static -Wall -o "$tmp/nvme-fd-probe" tests/vm/tools/nvme-fd-probe.c
tests/harness/vm.sh --name hwmon --timeout 240 \
	--file "$tmp/nvme-fd-probe=/usr/bin/nvme-fd-probe" \
	--disk h0=16M --nvme serial=rhw0,drive=h0 - <<'GUEST'
load_c_driver
load_rust_driver
a=$(pci_addr_of 0)

# hwmon_of PCIADDR: the hwmon directory named "nvme" whose device is (under) that function.
hwmon_of() {
	local h
	for h in /sys/class/hwmon/hwmon*; do
		[ -e "$h/name" ] || continue
		[ "$(cat $h/name)" = nvme ] || continue
		case "$(readlink -f $h/device)" in *"$1"*) echo "$h"; return 0 ;; esac
	done
	return 0
}

# json_num FILE KEY: the first numeric value of "KEY" in nvme-cli's JSON output.
json_num() {
	tr -d ' \n' <"$1" | grep -o "\"$2\":[0-9]*" | head -n 1 | cut -d: -f2
}

run() {
	local drv=$1 cdev=$2 h t k crit wc files v
	bind "$a" "$drv"
	h=$(hwmon_of "$a")
	[ -n "$h" ] || fail "$drv: no hwmon device named nvme for $a"
	files=$(cd $h && ls | grep '^temp' | sort | tr '\n' ' ')
	log "$drv: $h: $files"
	eval "files_$drv=\$files"
	[ "$(cat $h/temp1_label)" = Composite ] || fail "$drv: temp1_label is $(cat $h/temp1_label)"
	/usr/sbin/nvme smart-log "$cdev" -o json >/tmp/smart.json 2>&1 || fail "$drv: smart-log: $(cat /tmp/smart.json)"
	k=$(json_num /tmp/smart.json temperature)
	t=$(cat $h/temp1_input)
	[ "$t" = $((k * 1000 - 273150)) ] || fail "$drv: temp1_input $t, SMART composite $k K"
	/usr/sbin/nvme id-ctrl "$cdev" -o json >/tmp/id.json 2>&1 || fail "$drv: id-ctrl: $(cat /tmp/id.json)"
	crit=$(json_num /tmp/id.json cctemp)
	wc=$(json_num /tmp/id.json wctemp)
	[ "$(cat $h/temp1_crit)" = $((crit * 1000 - 273150)) ] ||
		fail "$drv: temp1_crit $(cat $h/temp1_crit), CCTEMP $crit K"
	[ "$(cat $h/temp1_max)" = $((wc * 1000 - 273150)) ] ||
		fail "$drv: temp1_max $(cat $h/temp1_max), WCTEMP $wc K"
	[ "$(cat $h/temp1_min)" = -273150 ] || fail "$drv: temp1_min $(cat $h/temp1_min), want 0 K"
	[ "$(cat $h/temp1_alarm)" = 0 ] || fail "$drv: temp1_alarm raised at the start"
	log "$drv: temp1_input $t (SMART $k K), crit $(cat $h/temp1_crit), max $(cat $h/temp1_max), min $(cat $h/temp1_min)"
	# Unprivileged: reads, no writes.
	v=$(nvme-fd-probe -u 1000 exec /bin/cat $h/temp1_input) || fail "$drv: uid 1000 cannot read temp1_input"
	[ "$v" = "$t" ] || fail "$drv: uid 1000 read $v"
	if nvme-fd-probe -u 1000 exec /bin/sh -c "echo 20000 >$h/temp1_max" 2>/tmp/w.err; then
		fail "$drv: uid 1000 wrote temp1_max"
	fi
	grep -qi 'denied' /tmp/w.err || fail "$drv: uid 1000's write failed otherwise: $(cat /tmp/w.err)"
	# Over-temperature threshold below the temperature: alarm, and QEMU's SMART event.
	dmesg -c >/dev/null
	echo $((t - 10000)) >$h/temp1_max
	[ "$(cat $h/temp1_max)" = $((t - 10000)) ] || fail "$drv: temp1_max reads $(cat $h/temp1_max)"
	[ "$(cat $h/temp1_alarm)" = 1 ] || fail "$drv: no alarm with temp1_max below the temperature"
	if [ "$drv" = rust_nvme ]; then
		wait_for 'dmesg | grep -q "critical warning 0x02"' 10 ||
			fail "$drv: no SMART event: $(dmesg | tail -n 5)"
	fi
	eval "event_$drv=\"$(dmesg | grep -c 'critical warning' || true) console lines\""
	echo $((wc * 1000 - 273150)) >$h/temp1_max
	[ "$(cat $h/temp1_alarm)" = 0 ] || fail "$drv: the alarm stays with temp1_max back at WCTEMP"
	# Under-temperature threshold above it; 1 m°C above a Kelvin boundary rounds down.
	echo $((t + 10001)) >$h/temp1_min
	[ "$(cat $h/temp1_min)" = $((t + 10000)) ] || fail "$drv: temp1_min reads $(cat $h/temp1_min)"
	[ "$(cat $h/temp1_alarm)" = 1 ] || fail "$drv: no alarm with temp1_min above the temperature"
	echo -273150 >$h/temp1_min
	[ "$(cat $h/temp1_alarm)" = 0 ] || fail "$drv: the alarm stays with temp1_min back at 0 K"
	# A descriptor held open across unbind.
	exec 7<$h/temp1_input
	unbind "$a"
	if v=$(cat <&7 2>/tmp/r.err); then
		fail "$drv: the held temp1_input read $v after unbind"
	fi
	exec 7<&-
	log "$drv: held temp1_input after unbind: $(cat /tmp/r.err)"
	[ -z "$(hwmon_of "$a")" ] || fail "$drv: the hwmon device outlived the unbind"
}

run rust_nvme /dev/rnvme0
bind "$a" rust_nvme
[ -n "$(hwmon_of "$a")" ] || fail "no hwmon device after binding again"
unbind "$a"
run nvme /dev/nvme0
[ "$files_rust_nvme" = "$files_nvme" ] ||
	fail "attribute files: ours $files_rust_nvme, C $files_nvme"
log "same attributes on both; SMART event on the console: ours $event_rust_nvme, C $event_nvme"
GUEST
