#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks that a kernel build directory can build rust_nvme.ko, with one line
# saying what is wrong and what to do when it cannot.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# = 1 ] || die "usage: scripts/check-kdir.sh KDIR"
msg=$(rnvme_check_kdir "$1") || die "$msg"
