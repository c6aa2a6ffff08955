// SPDX-License-Identifier: GPL-2.0

//! DMA mapping of a request's data: one segment mapped directly, or a scatterlist in the
//! per-request data (or allocated for long requests) mapped with `dma_map_sg`. Upstream has
//! `scatterlist::SGTable` for owned buffers, not for a request's bios.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h),
//! [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use crate::glue::kver;
use crate::glue::{
    block::mq::request::Request,
    device::raw_dev, //
};
use core::ptr;
use kernel::{
    bindings,
    device,
    prelude::*, //
};

/// Size of one `struct scatterlist`, for sizing per-request data.
pub(crate) const SG_ENTRY_SIZE: usize = core::mem::size_of::<bindings::scatterlist>();

/// A request whose data is one segment, mapped directly with `dma_map_page_attrs()`: the
/// common small I/O needs no scatterlist.
///
/// # Invariants
///
/// `addr..addr + len` is a streaming mapping for the device in direction `write`.
pub(crate) struct SingleMap {
    /// Bus address of the data.
    pub(crate) addr: u64,
    /// Length in bytes.
    pub(crate) len: u32,
    write: bool,
}

/// What [`SingleMap::map`] found.
pub(crate) enum Single {
    /// Mapped.
    Mapped(SingleMap),
    /// The request is not one segment within `span` bytes: use the scatterlist path.
    Scattered,
    /// The mapping failed: retry later.
    Failed,
}

impl SingleMap {
    /// Maps the data of `rq` directly when it is one segment of its first bio vector whose
    /// offset within a `span`-aligned window plus its length fit in `span` bytes.
    #[inline(always)]
    pub(crate) fn map(dev: &device::Device, rq: &Request, span: u32) -> Single {
        if rq.nr_phys_segments() != 1 {
            return Single::Scattered;
        }
        // SAFETY: `rq` is a valid request with data, so `bio` is non-null; its iterator and
        // vector are stable while the driver owns the request. This is `req_bvec()`.
        let (page, offset, len) = unsafe {
            let bio = (*rq.as_raw()).bio;
            let it = (*bio).bi_iter;
            let bv = *(*bio).bi_io_vec.add(it.bi_idx as usize);
            let done = kver::bvec_iter_done(&it);
            (
                bv.bv_page,
                bv.bv_offset + done,
                it.bi_size.min(bv.bv_len - done),
            )
        };
        // One bio vector must cover the whole request, and fit two controller pages.
        if len != rq.bytes() || (offset & (span / 2 - 1)) + len > span {
            return Single::Scattered;
        }
        let write = rq.is_write();
        let dir = if write {
            kver::DMA_TO_DEVICE
        } else {
            kver::DMA_FROM_DEVICE
        };
        // SAFETY: `page + offset` holds `len` bytes of the request's data, which stays
        // pinned until the request ends; `dev` is a live device.
        let addr = unsafe {
            bindings::dma_map_page_attrs(raw_dev(dev), page, offset as usize, len as usize, dir, 0)
        };
        // `dma_mapping_error()`: tell the DMA-API debugger the result was checked.
        #[cfg(CONFIG_DMA_API_DEBUG)]
        // SAFETY: `dev` is live; this only records that the address was checked.
        unsafe {
            bindings::debug_dma_mapping_error(raw_dev(dev), addr)
        };
        if addr == !0 {
            return Single::Failed;
        }
        // INVARIANT: mapped above for `len` bytes in `dir`.
        Single::Mapped(Self { addr, len, write })
    }

    /// Unmaps the data.
    pub(crate) fn unmap(self, dev: &device::Device) {
        let dir = if self.write {
            kver::DMA_TO_DEVICE
        } else {
            kver::DMA_FROM_DEVICE
        };
        // SAFETY: the mapping exists (type invariant) and is undone once.
        unsafe {
            bindings::dma_unmap_page_attrs(raw_dev(dev), self.addr, self.len as usize, dir, 0)
        };
    }

    /// Packs the mapping into plain values for per-request data.
    pub(crate) fn into_parts(self) -> (u64, u32, bool) {
        (self.addr, self.len, self.write)
    }

    /// Rebuilds a mapping from [`SingleMap::into_parts`].
    ///
    /// # Safety
    ///
    /// The parts must come from `into_parts` of a mapping not unmapped since.
    pub(crate) unsafe fn from_parts(addr: u64, len: u32, write: bool) -> Self {
        Self { addr, len, write }
    }
}

/// A scatterlist table allocated for one request with more segments than its inline table.
///
/// # Invariants
///
/// `table` holds `len` entries initialised by `sg_init_table`.
pub(crate) struct SgHeap {
    table: KVec<bindings::scatterlist>,
}

impl SgHeap {
    /// Allocates and initialises a table of `len` entries without sleeping.
    pub(crate) fn alloc(len: u16) -> Option<Self> {
        let n = usize::from(len);
        let mut table = KVec::with_capacity(n, GFP_ATOMIC).ok()?;
        // SAFETY: the capacity is `n`; `sg_init_table` initialises all `n` entries below,
        // before anything reads them.
        unsafe {
            bindings::sg_init_table(table.as_mut_ptr(), u32::from(len));
            table.inc_len(n);
        }
        // INVARIANT: `n` entries initialised above.
        Some(Self { table })
    }

    /// The table, for [`SgMap::map`].
    pub(crate) fn as_ptr(&mut self) -> *mut u8 {
        self.table.as_mut_ptr().cast()
    }
}

/// A request's data mapped for DMA through a scatterlist that lives in its per-request data.
///
/// # Invariants
///
/// `sgl` points to `nents` initialised scatterlist entries, mapped with `dma_map_sg_attrs` for
/// `dev` in direction `dir`; `mapped` is the count that call returned.
pub(crate) struct SgMap {
    sgl: *mut bindings::scatterlist,
    nents: i32,
    mapped: u32,
    dir: bindings::dma_data_direction,
}

/// False when mappings of `dev` need no `dma_unmap_*` call (direct mapping without bounce
/// buffers or cache maintenance, and no DMA-API debugging), so that completing an I/O can skip
/// the unmap (`dma_need_unmap()`). Valid for mappings made before the call.
pub(crate) fn dma_need_unmap(dev: &device::Device) -> bool {
    // SAFETY: `dev` is a live device.
    unsafe { bindings::dma_need_unmap(raw_dev(dev)) }
}

/// A DMA-mapped data segment.
#[derive(Clone, Copy)]
pub(crate) struct DmaSeg {
    /// Bus address.
    pub(crate) addr: u64,
    /// Length in bytes.
    pub(crate) len: u32,
}

impl SgMap {
    /// Initialises the scatterlist table of `max` entries at `sgl`.
    ///
    /// # Safety
    ///
    /// `sgl` must be valid for writes of `max` entries and not in use.
    pub(crate) unsafe fn init_table(sgl: *mut u8, max: u32) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::sg_init_table(sgl.cast(), max) };
    }

    /// Maps `rq`'s data for DMA by `dev` through the scatterlist at `sgl`.
    ///
    /// Returns `None` when the mapping failed (`dma_map_sg` returned 0), which the caller
    /// reports as `BLK_STS_RESOURCE` so blk-mq retries.
    ///
    /// # Safety
    ///
    /// `sgl` must be an initialised table (see [`SgMap::init_table`]) of at least
    /// `rq.nr_phys_segments()` entries, owned by `rq`, and `dev` must outlive the mapping.
    pub(crate) unsafe fn map(dev: &device::Device, rq: &Request, sgl: *mut u8) -> Option<Self> {
        let sgl = sgl.cast::<bindings::scatterlist>();
        let mut last: *mut bindings::scatterlist = ptr::null_mut();
        // SAFETY: `rq` is a valid request and `sgl` has room for its physical segments.
        let nents = unsafe { bindings::__blk_rq_map_sg(rq.as_raw(), sgl, &mut last) };
        if nents <= 0 {
            return None;
        }
        let dir = if rq.is_write() {
            kver::DMA_TO_DEVICE
        } else {
            kver::DMA_FROM_DEVICE
        };
        // SAFETY: `sgl` holds `nents` entries filled in above; `dev` is a live device.
        let mapped = unsafe { bindings::dma_map_sg_attrs(raw_dev(dev), sgl, nents, dir, 0) };
        if mapped == 0 {
            return None;
        }
        // INVARIANT: `sgl` holds `nents` entries mapped for `dev` in `dir`.
        Some(Self {
            sgl,
            nents,
            // CAST: `dma_map_sg_attrs` returns a count between 1 and `nents`.
            mapped: mapped as u32,
            dir,
        })
    }

    /// Number of mapped segments (what `dma_map_sg` returned).
    pub(crate) fn nr_segments(&self) -> u32 {
        self.mapped
    }

    /// The mapped segments, in order.
    ///
    /// The table is one array that is never chained (see [`SgMap::init_table`] and
    /// [`SgHeap::alloc`]), so the `mapped` entries are consecutive and `sg_next()` would only
    /// step to the next element; the fields are read as `sg_dma_address()` and `sg_dma_len()`
    /// read them, without a call per segment.
    pub(crate) fn segments(&self) -> impl Iterator<Item = DmaSeg> + '_ {
        // CAST: `mapped` is at most `nents`, a positive `i32`.
        (0..self.mapped as usize).map(move |i| {
            // SAFETY: the first `mapped` entries of the table are initialised and mapped (type
            // invariant), consecutive in one array (see above).
            let sg = unsafe { &*self.sgl.add(i) };
            DmaSeg {
                addr: sg.dma_address,
                #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
                len: sg.dma_length,
                #[cfg(not(CONFIG_NEED_SG_DMA_LENGTH))]
                len: sg.length,
            }
        })
    }

    /// Unmaps the data; the scatterlist can be reused afterwards.
    pub(crate) fn unmap(self, dev: &device::Device) {
        // SAFETY: the table was mapped for `dev` in `dir` with `nents` entries (type invariant).
        unsafe { bindings::dma_unmap_sg_attrs(raw_dev(dev), self.sgl, self.nents, self.dir, 0) };
    }

    /// Packs the mapping into plain values to store in per-request data.
    pub(crate) fn into_parts(self) -> (i32, u32, bool) {
        (self.nents, self.mapped, self.dir == kver::DMA_TO_DEVICE)
    }

    /// Rebuilds a mapping from [`SgMap::into_parts`].
    ///
    /// # Safety
    ///
    /// The parts must come from `into_parts` of a mapping of the table at `sgl` that has not
    /// been unmapped since.
    pub(crate) unsafe fn from_parts(sgl: *mut u8, nents: i32, mapped: u32, write: bool) -> Self {
        Self {
            sgl: sgl.cast(),
            nents,
            mapped,
            dir: if write {
                kver::DMA_TO_DEVICE
            } else {
                kver::DMA_FROM_DEVICE
            },
        }
    }
}
