#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Formats (or, with --check, checks) the module's Rust sources with the
# kernel's rustfmt settings.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$RNVME_ROOT"
cfg="$(rnvme_srcdir)/.rustfmt.toml"
args=(--edition 2021)
[ -f "$cfg" ] && args+=(--config-path "$cfg")
[ "${1:-}" = --check ] && args+=(--check)
files=(rust_nvme.rs $(find nvme tests/host/src -name '*.rs' 2>/dev/null | sort))
rustfmt "${args[@]}" "${files[@]}"
