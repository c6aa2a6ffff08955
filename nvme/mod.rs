// SPDX-License-Identifier: GPL-2.0

//! Pure NVMe protocol logic shared by the kernel module and the host tests.
//!
//! Nothing in here touches hardware or the kernel: the submodules only encode
//! and decode the structures defined by the NVMe Base Specification and the
//! NVM Command Set Specification (register values, submission and completion
//! queue entries, PRP lists, status codes, Identify data) and do the ring
//! arithmetic of the queues. Only `core` is used, so the same files are built
//! into the kernel module and into the host test crate under `tests/host`.

#![allow(
    dead_code,
    reason = "the kernel uses a subset of the protocol helpers; the host tests use them all"
)]

pub(crate) mod aen;
pub(crate) mod cmd;
pub(crate) mod effects;
pub(crate) mod fdp;
pub(crate) mod hwmon;
pub(crate) mod ident;
pub(crate) mod meta;
pub(crate) mod mpath;
pub(crate) mod prp;
pub(crate) mod regs;
pub(crate) mod ring;
pub(crate) mod sgl;
pub(crate) mod status;
pub(crate) mod uapi;
pub(crate) mod zns;
