// SPDX-License-Identifier: GPL-2.0

//! Block status codes (`blk_status_t`): what the driver hands back to the block layer.
//! Upstream has `kernel::block::mq` error mapping only inside its request end path.
//!
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

/// A `blk_status_t` value handed back to the block layer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BlkStatus(pub(in crate::glue) u8);

impl BlkStatus {
    /// Success.
    pub(crate) const OK: Self = Self(0);
    /// Operation not supported (`BLK_STS_NOTSUPP`).
    pub(crate) const NOTSUPP: Self = Self(1);
    /// Out of space (`BLK_STS_NOSPC`).
    pub(crate) const NOSPC: Self = Self(3);
    /// Transport error (`BLK_STS_TRANSPORT`).
    pub(crate) const TRANSPORT: Self = Self(4);
    /// Target error, e.g. LBA out of range (`BLK_STS_TARGET`).
    pub(crate) const TARGET: Self = Self(5);
    /// Reservation conflict (`BLK_STS_RESV_CONFLICT`).
    pub(crate) const RESV_CONFLICT: Self = Self(6);
    /// Medium error (`BLK_STS_MEDIUM`).
    pub(crate) const MEDIUM: Self = Self(7);
    /// Protection information error (`BLK_STS_PROTECTION`).
    pub(crate) const PROTECTION: Self = Self(8);
    /// Transient resource shortage: blk-mq retries (`BLK_STS_RESOURCE`).
    pub(crate) const RESOURCE: Self = Self(9);
    /// Generic I/O error (`BLK_STS_IOERR`).
    pub(crate) const IOERR: Self = Self(10);
    /// Invalid request, e.g. a write stream the disk does not offer (`BLK_STS_INVAL`).
    pub(crate) const INVAL: Self = Self(19);

    /// Returns true for `BLK_STS_OK`.
    pub(crate) fn is_ok(self) -> bool {
        self == Self::OK
    }
}
