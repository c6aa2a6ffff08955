#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Installs or removes udev/61-rust-nvme.rules (the /dev/disk/by-id links of rust_nvme's
# disks) in $DESTDIR/etc/udev/rules.d, and has a running udev reload its rules and replay
# the block devices' events. Run by `make install-udev`/`make uninstall-udev` and by DKMS
# (POST_INSTALL/POST_REMOVE in dkms.conf, from the module's source tree).
#
# Usage: scripts/udev-rules.sh install|remove
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${DESTDIR:-}/etc/udev/rules.d/61-rust-nvme.rules
case "${1:-}" in
install)
	install -D -m 644 "$here/udev/61-rust-nvme.rules" "$dest"
	echo "installed $dest"
	;;
remove)
	rm -f "$dest"
	echo "removed $dest"
	;;
*)
	echo "usage: $0 install|remove" >&2
	exit 2
	;;
esac
# Only on the running system, and only when udev runs.
if [ -z "${DESTDIR:-}" ] && command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
	udevadm control --reload 2>/dev/null || true
	udevadm trigger --subsystem-match=block --action=change 2>/dev/null || true
fi
