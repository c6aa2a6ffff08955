// SPDX-License-Identifier: GPL-2.0

//! Pure NVMe protocol logic shared by the kernel module and the host tests.
//!
//! Nothing in here touches hardware or the kernel: the submodules only encode
//! and decode the structures defined by the NVMe Base Specification and the
//! NVM Command Set Specification (register values, submission and completion
//! queue entries, PRP lists, status codes, Identify data) and do the ring
//! arithmetic of the queues. Only `core` is used, so the same files are built
//! into the kernel module and into the host test crate under `tests/host`.

// Not every helper is used by the kernel side; the host tests exercise the
// rest, so unused items are expected here and are not a sign of dead code.
#![allow(dead_code)]

pub(crate) mod cmd;
pub(crate) mod ident;
pub(crate) mod prp;
pub(crate) mod regs;
pub(crate) mod ring;
pub(crate) mod status;
