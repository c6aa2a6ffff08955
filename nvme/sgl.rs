// SPDX-License-Identifier: GPL-2.0

//! Scatter Gather Lists (NVMe Base Specification, "Scatter Gather List (SGL)"): the data
//! pointer of a command as SGL descriptors instead of PRPs, for controllers whose Identify
//! Controller SGLS field says they take them.
//!
//! A transfer of one segment is one Data Block descriptor in the command itself. More segments
//! go into a list of Data Block descriptors in one list page, which the command points to
//! with a Last Segment descriptor. Unlike PRPs, segments may start and end anywhere (at dword
//! granularity), so SGLs also carry what PRPs cannot express.

use core::borrow::Borrow;

use super::prp::Seg;

/// Size of one SGL descriptor.
pub(crate) const DESC_SIZE: usize = 16;

/// SGL identifier of a Data Block descriptor (type 0h, subtype 0h: an address).
pub(crate) const DATA_BLOCK: u8 = 0x00;
/// SGL identifier of a Last Segment descriptor (type 3h, subtype 0h).
pub(crate) const LAST_SEGMENT: u8 = 0x30;

/// CDW0 PSDT (bits 15:14) = 01b: SGLs describe the data, and MPTR is one contiguous buffer.
pub(crate) const PSDT_SGL: u32 = 1 << 14;

/// One SGL descriptor as the controller reads it: all fields little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SglDesc {
    /// Address (bytes 7:0).
    pub(crate) addr: u64,
    /// Length in bytes (bytes 11:8).
    pub(crate) len: u32,
    /// Reserved (bytes 14:12).
    pub(crate) rsvd: [u8; 3],
    /// SGL identifier: type (bits 7:4) and subtype (bits 3:0) (byte 15).
    pub(crate) id: u8,
}

const _: () = assert!(core::mem::size_of::<SglDesc>() == DESC_SIZE);

impl SglDesc {
    /// A Data Block descriptor for `len` bytes at `addr`.
    pub(crate) const fn data_block(addr: u64, len: u32) -> Self {
        Self {
            addr: addr.to_le(),
            len: len.to_le(),
            rsvd: [0; 3],
            id: DATA_BLOCK,
        }
    }

    /// A Last Segment descriptor for a list of `count` descriptors at `addr`.
    pub(crate) const fn last_segment(addr: u64, count: u32) -> Self {
        Self {
            addr: addr.to_le(),
            len: (count * DESC_SIZE as u32).to_le(),
            rsvd: [0; 3],
            id: LAST_SEGMENT,
        }
    }

    /// The descriptor as the two little-endian quadwords of a command's data pointer.
    pub(crate) const fn dptr(&self) -> (u64, u64) {
        let hi = u32::from_le(self.len) as u64 | ((self.id as u64) << 56);
        (self.addr, hi.to_le())
    }

    /// Decodes the two quadwords of a data pointer (for tests and debugging).
    pub(crate) const fn from_dptr(lo: u64, hi: u64) -> Self {
        let hi = u64::from_le(hi);
        Self {
            addr: lo,
            len: (hi as u32).to_le(),
            rsvd: [0; 3],
            id: (hi >> 56) as u8,
        }
    }
}

/// Descriptors in one list page of `1 << page_shift` bytes.
pub(crate) const fn descs_per_page(page_shift: u32) -> usize {
    (1usize << page_shift) / DESC_SIZE
}

/// Whether a transfer of `bytes` in `nr_segs` segments should use SGLs rather than PRPs, by
/// the rule of Linux's `sgl_threshold`: when the average segment is at least `threshold`
/// bytes; a threshold of 0 turns the choice off (PRPs, unless they cannot describe the data).
pub(crate) const fn prefer_sgl(bytes: u64, nr_segs: u32, threshold: u32) -> bool {
    threshold != 0 && nr_segs != 0 && bytes / nr_segs as u64 >= threshold as u64
}

/// Why segments cannot be described with SGLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SglError {
    /// No segments.
    Empty,
    /// A segment of zero bytes.
    ZeroLength,
    /// More segments than the list page holds.
    TooMany,
}

/// Writes the SGL of `segs`: for one segment, returns its Data Block descriptor and writes
/// nothing (`list` may be empty then); for more, writes one Data Block descriptor per segment into `list` (the CPU view
/// of a list page whose bus address is `list_dma`) and returns the Last Segment descriptor
/// that points to them. The result goes into the command's data pointer ([`SglDesc::dptr`]).
pub(crate) fn fill<I>(segs: I, list: &mut [SglDesc], list_dma: u64) -> Result<SglDesc, SglError>
where
    I: IntoIterator,
    I::Item: Borrow<Seg>,
{
    let mut n = 0usize;
    let mut first = SglDesc::default();
    for seg in segs {
        let seg = *seg.borrow();
        if seg.len == 0 {
            return Err(SglError::ZeroLength);
        }
        let d = SglDesc::data_block(seg.addr, seg.len);
        if n == 0 {
            // Kept aside: it goes into the list only if more segments follow.
            first = d;
        } else {
            if n == 1 {
                *list.get_mut(0).ok_or(SglError::TooMany)? = first;
            }
            *list.get_mut(n).ok_or(SglError::TooMany)? = d;
        }
        n += 1;
    }
    match n {
        0 => Err(SglError::Empty),
        1 => Ok(first),
        // CAST: `n` is at most the list length, a page's worth of descriptors.
        _ => Ok(SglDesc::last_segment(list_dma, n as u32)),
    }
}
