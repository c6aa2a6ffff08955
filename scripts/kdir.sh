#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Prints the build directory of the cached test kernel (see scripts/setup.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rnvme_kdir
