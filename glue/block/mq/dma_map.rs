// SPDX-License-Identifier: GPL-2.0

//! DMA mapping of a request's data: one segment mapped directly ([`SingleMap`]), or a
//! scatterlist in the per-request data (or allocated for long requests) mapped with
//! `dma_map_sg` ([`SgTable`]). Each keeps its mapping whole until it is undone. Upstream has
//! `scatterlist::SGTable` for owned buffers, not for a request's bios.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h),
//! [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use crate::glue::kver;
use crate::glue::{
    block::mq::{
        operations::Operations,
        request::Request, //
    },
    device::raw_dev, //
};
use core::ptr;
use kernel::{
    bindings,
    device,
    prelude::*, //
};

/// The part of bio vector `idx` of `vecs` that an iterator `done` bytes into it, with `left`
/// bytes to go, covers: its page, the offset from that page and the length
/// (`mp_bvec_iter_bvec()`). The length is 0 for a vector the iterator has used up.
///
/// # Safety
///
/// `vecs` must be the vector array of a live bio whose iterator has `left > 0` bytes to go at
/// vector `idx`.
#[inline(always)]
unsafe fn bvec_at(
    vecs: *const bindings::bio_vec,
    idx: usize,
    done: u32,
    left: u32,
) -> (*mut bindings::page, u32, u32) {
    // SAFETY: vector `idx` is inside the array (the caller's requirement).
    let bv = unsafe { *vecs.add(idx) };
    (
        bv.bv_page,
        bv.bv_offset.wrapping_add(done),
        left.min(bv.bv_len.saturating_sub(done)),
    )
}

/// Maps `len` bytes from `offset` into `page` for `raw` in direction `dir`
/// (`dma_map_page_attrs()`, the result checked as `dma_mapping_error()` checks it); `None` when
/// the mapping failed.
///
/// # Safety
///
/// `raw` must be a live device and `page + offset` hold `len` bytes of memory that stays valid
/// until the mapping is undone.
#[inline(always)]
unsafe fn map_page(
    raw: *mut bindings::device,
    page: *mut bindings::page,
    offset: u32,
    len: u32,
    dir: bindings::dma_data_direction,
) -> Option<u64> {
    // SAFETY: as the caller promises.
    let addr =
        unsafe { bindings::dma_map_page_attrs(raw, page, offset as usize, len as usize, dir, 0) };
    // `dma_mapping_error()`: tell the DMA-API debugger the result was checked.
    #[cfg(CONFIG_DMA_API_DEBUG)]
    // SAFETY: `raw` is live; this only records that the address was checked.
    unsafe {
        bindings::debug_dma_mapping_error(raw, addr)
    };
    (addr != !0).then_some(addr)
}

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
    pub(crate) fn map<T: Operations>(dev: &device::Device, rq: &Request<T>, span: u32) -> Single {
        if rq.nr_phys_segments() != 1 {
            return Single::Scattered;
        }
        // SAFETY: `rq` is a valid request with data, so `bio` is non-null and its iterator has
        // bytes to go at its current vector; both are stable while the driver owns the
        // request. This is `req_bvec()`.
        let (page, offset, len) = unsafe {
            let bio = (*rq.as_raw()).bio;
            let it = (*bio).bi_iter;
            bvec_at(
                (*bio).bi_io_vec,
                it.bi_idx as usize,
                kver::bvec_iter_done(&it),
                it.bi_size,
            )
        };
        // One bio vector must cover the whole request, and fit two controller pages.
        if len != rq.bytes() || (offset & (span / 2 - 1)) + len > span {
            return Single::Scattered;
        }
        let write = rq.is_write();
        let dir = dma_dir(write);
        // SAFETY: `page + offset` holds `len` bytes of the request's data, which stays
        // pinned until the request ends; `dev` is a live device.
        let Some(addr) = (unsafe { map_page(raw_dev(dev), page, offset, len, dir) }) else {
            return Single::Failed;
        };
        // INVARIANT: mapped above for `len` bytes in `dir`.
        Single::Mapped(Self { addr, len, write })
    }

    /// Unmaps the data.
    pub(crate) fn unmap(self, dev: &device::Device) {
        let dir = dma_dir(self.write);
        // SAFETY: the mapping exists (type invariant) and is undone once.
        unsafe {
            bindings::dma_unmap_page_attrs(raw_dev(dev), self.addr, self.len as usize, dir, 0)
        };
    }
}

/// The DMA direction of a request's data: to the device for a write (`rq_dma_dir()`).
#[inline(always)]
fn dma_dir(write: bool) -> bindings::dma_data_direction {
    if write {
        kver::DMA_TO_DEVICE
    } else {
        kver::DMA_FROM_DEVICE
    }
}

/// A scatterlist table allocated for one request: its own table (see [`SgTable`]), or one for
/// a request with more segments than that.
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

    /// The table.
    fn as_mut_ptr(&mut self) -> *mut bindings::scatterlist {
        self.table.as_mut_ptr()
    }

    /// The table, read only.
    fn as_ptr(&self) -> *const bindings::scatterlist {
        self.table.as_ptr()
    }
}

/// False when mappings of `dev` need no `dma_unmap_*` call (direct mapping without bounce
/// buffers or cache maintenance, and no DMA-API debugging), so that completing an I/O can skip
/// the unmap (`dma_need_unmap()`). Valid for mappings made before the call.
pub(crate) fn dma_need_unmap(dev: &device::Device) -> bool {
    // SAFETY: `dev` is a live device.
    unsafe { bindings::dma_need_unmap(raw_dev(dev)) }
}

/// The largest streaming mapping `dev` takes in one piece without a slow path
/// (`dma_opt_mapping_size()`): with bounce buffers (`swiotlb`) a bigger one never succeeds, so
/// the disks' transfer size is capped by it, as C caps `max_hw_sectors`.
pub(crate) fn dma_opt_mapping_size(dev: &device::Device) -> usize {
    // SAFETY: `dev` is a live device.
    unsafe { bindings::dma_opt_mapping_size(raw_dev(dev)) }
}

/// True when `dev`'s streaming mappings are direct, coherent and need no unmapping, before any
/// was made: no IOMMU or DMA ops (where one `dma_map_sg()` of the whole list is cheaper than a
/// mapping per segment), no cache maintenance, no DMA-API debugging. Asked once, at bind: a
/// later bounce buffer makes [`dma_need_unmap`] true, which [`VecMap`] handles.
pub(crate) fn dma_map_is_direct(dev: &device::Device) -> bool {
    !dma_need_unmap(dev)
}

/// A DMA-mapped data segment.
#[derive(Clone, Copy)]
pub(crate) struct DmaSeg {
    /// Bus address.
    pub(crate) addr: u64,
    /// Length in bytes.
    pub(crate) len: u32,
}

/// A mapping made through an [`SgTable`].
struct SgMapping {
    /// Entries `__blk_rq_map_sg` filled in.
    nents: i32,
    /// Entries `dma_map_sg_attrs` produced.
    count: u32,
    dir: bindings::dma_data_direction,
}

/// The scatterlist of one request, kept with its per-request data: a table of `N` entries of
/// the request's own, allocated the first time the request maps more than one segment and kept
/// from then on (so that a request which never does, as most of a 4 KiB workload's, costs no
/// table: about 1 KiB less per request than one kept inline, which blk-mq allocates for every
/// tag of every queue at bind), one allocated for a request with more segments, and the
/// mapping of the request's data through whichever is in use.
///
/// # Invariants
///
/// `own`, when set, holds `N` entries initialised by `sg_init_table` (as does `heap` when set,
/// see [`SgHeap`]). When `mapping` is set, the table in use (`heap` when set, else `own`, then
/// set) holds `mapping.nents` entries, mapped with `dma_map_sg_attrs` in direction
/// `mapping.dir` for the device given to [`SgTable::map`], `mapping.count` being what that
/// call returned.
pub(crate) struct SgTable<const N: usize> {
    own: Option<SgHeap>,
    heap: Option<SgHeap>,
    mapping: Option<SgMapping>,
}

impl<const N: usize> SgTable<N> {
    /// A table with nothing mapped (and no entries allocated yet).
    pub(crate) const fn new() -> Self {
        // INVARIANT: nothing allocated, nothing mapped.
        Self {
            own: None,
            heap: None,
            mapping: None,
        }
    }

    /// The request's own table of `N` entries, allocated (without sleeping) on first use:
    /// `None` when that allocation fails.
    #[inline]
    fn own_table(&mut self) -> Option<*mut bindings::scatterlist> {
        if self.own.is_none() {
            // CAST: the table is a few dozen entries.
            self.own = Some(SgHeap::alloc(N as u16)?);
        }
        self.own.as_mut().map(SgHeap::as_mut_ptr)
    }

    /// Maps `rq`'s data for DMA by `dev` through the table (allocated for it, without sleeping,
    /// when it has more than `N` segments); anything mapped before is undone first. Returns
    /// false when memory or the mapping failed (`dma_map_sg` returned 0), which the caller
    /// reports as `BLK_STS_RESOURCE` so blk-mq retries.
    pub(crate) fn map<T: Operations>(&mut self, dev: &device::Device, rq: &Request<T>) -> bool {
        if self.mapping.is_some() {
            self.unmap(dev, true);
        }
        let segs = rq.nr_phys_segments();
        if usize::from(segs) > N {
            match SgHeap::alloc(segs) {
                Some(h) => self.heap = Some(h),
                None => return false,
            }
        }
        let sgl = match &mut self.heap {
            Some(h) => h.as_mut_ptr(),
            None => match self.own_table() {
                Some(t) => t,
                None => return false,
            },
        };
        let mut last: *mut bindings::scatterlist = ptr::null_mut();
        // SAFETY: `rq` is a valid request the driver owns and `sgl` an initialised table with
        // room for its physical segments (`N`, or `segs` allocated above).
        let nents = unsafe { bindings::__blk_rq_map_sg(rq.as_raw(), sgl, &mut last) };
        if nents <= 0 {
            self.heap = None;
            return false;
        }
        self.map_table(dev, rq, sgl, nents)
    }

    /// Maps `rq`'s integrity payload (its metadata buffers, `blk_rq_map_integrity_sg()`) for
    /// DMA by `dev` through the table's own entries; anything mapped before is undone first.
    /// Returns false when the request has no payload, more segments than the table holds (the
    /// disk's limits allow `N`), or the mapping failed.
    pub(crate) fn map_integrity<T: Operations>(
        &mut self,
        dev: &device::Device,
        rq: &Request<T>,
    ) -> bool {
        if self.mapping.is_some() {
            self.unmap(dev, true);
        }
        self.heap = None;
        let segs = usize::from(rq.nr_integrity_segments());
        if segs == 0 || segs > N {
            return false;
        }
        #[cfg(CONFIG_BLK_DEV_INTEGRITY)]
        {
            let Some(sgl) = self.own_table() else {
                return false;
            };
            // CAST: `N` is a handful of entries.
            // SAFETY: `sgl` has room for `N` entries; a table re-initialised has its end mark on
            // the last one, as `blk_rq_map_integrity_sg` expects.
            unsafe { bindings::sg_init_table(sgl, N as u32) };
            // SAFETY: `rq` is a valid request the driver owns, carrying an integrity payload of
            // at most `N` segments, and `sgl` is an initialised table of `N` entries.
            let nents = unsafe {
                super::super::integrity::blk_rq_map_integrity_sg(rq.as_raw().cast(), sgl)
            };
            if nents <= 0 {
                return false;
            }
            self.map_table(dev, rq, sgl, nents)
        }
        #[cfg(not(CONFIG_BLK_DEV_INTEGRITY))]
        false
    }

    /// DMA-maps the first `nents` entries of `sgl`, the table in use, filled in for `rq`.
    fn map_table<T: Operations>(
        &mut self,
        dev: &device::Device,
        rq: &Request<T>,
        sgl: *mut bindings::scatterlist,
        nents: i32,
    ) -> bool {
        let dir = dma_dir(rq.is_write());
        // SAFETY: `sgl` holds `nents` entries filled in by the caller; `dev` is a live device.
        let count = unsafe { bindings::dma_map_sg_attrs(raw_dev(dev), sgl, nents, dir, 0) };
        if count == 0 {
            self.heap = None;
            return false;
        }
        // INVARIANT: `sgl` is the table in use and holds `nents` entries mapped for `dev`.
        self.mapping = Some(SgMapping {
            nents,
            // CAST: `dma_map_sg_attrs` returns a count between 1 and `nents`.
            count: count as u32,
            dir,
        });
        true
    }

    /// Number of mapped segments (what `dma_map_sg` returned), 0 when nothing is mapped.
    #[inline]
    pub(crate) fn nr_segments(&self) -> u32 {
        self.mapping.as_ref().map_or(0, |m| m.count)
    }

    /// The mapped segments, in order.
    ///
    /// The table is one array that is never chained (see [`SgTable::new`] and
    /// [`SgHeap::alloc`]), so the mapped entries are consecutive and `sg_next()` would only
    /// step to the next element; the fields are read as `sg_dma_address()` and `sg_dma_len()`
    /// read them, without a call per segment.
    pub(crate) fn segments(&self) -> impl Iterator<Item = DmaSeg> + Clone + '_ {
        let sgl = match (&self.heap, &self.own) {
            (Some(h), _) | (None, Some(h)) => h.as_ptr(),
            // Nothing mapped: no table, no segments.
            (None, None) => ptr::null(),
        };
        (0..self.nr_segments() as usize).map(move |i| {
            // SAFETY: the first `count` entries of the table in use are initialised and mapped
            // (type invariant), consecutive in one array (see above), which `self` borrows.
            let sg = unsafe { &*sgl.add(i) };
            DmaSeg {
                addr: sg.dma_address,
                #[cfg(CONFIG_NEED_SG_DMA_LENGTH)]
                len: sg.dma_length,
                #[cfg(not(CONFIG_NEED_SG_DMA_LENGTH))]
                len: sg.length,
            }
        })
    }

    /// Undoes the mapping, if any, and frees an allocated table. With `unmap` false the
    /// mapping is dropped without `dma_unmap_sg` (as the C driver does where
    /// [`dma_need_unmap`] said, at mapping time, that none is needed).
    #[inline]
    pub(crate) fn unmap(&mut self, dev: &device::Device, unmap: bool) {
        if let Some(m) = self.mapping.take() {
            if unmap {
                let sgl = match (&mut self.heap, &mut self.own) {
                    (Some(h), _) | (None, Some(h)) => h.as_mut_ptr(),
                    // Cannot be: a mapping was made through one of them (type invariant).
                    (None, None) => return,
                };
                // SAFETY: the table in use was mapped for `dev` in `m.dir` with `m.nents`
                // entries (type invariant), and is unmapped once (`mapping` was taken).
                unsafe { bindings::dma_unmap_sg_attrs(raw_dev(dev), sgl, m.nents, m.dir, 0) };
            }
        }
        if self.heap.is_some() {
            self.heap = None;
        }
    }
}

/// What [`VecMap::map`] did.
pub(crate) enum VecMapped {
    /// Every bio vector of the request is mapped: [`VecMap::segments`].
    Mapped,
    /// Not mapped here, nothing kept: the request has more vectors than the record holds (its
    /// physically contiguous vectors are one segment to the block layer), or they do not add
    /// up to its length.
    Unsuitable,
    /// A mapping or the record's allocation failed, nothing kept: retry later.
    Failed,
}

/// The data of a request mapped one bio vector at a time with `dma_map_page_attrs()`: for a
/// device whose streaming mappings are direct (see [`dma_map_is_direct`]), what [`SgTable::map`]
/// does (`dma_map_sg()` maps entry by entry there too), without the scatterlist and without
/// `blk_rq_map_sg()`'s walk of the bio vectors, which cost about 170 instructions a segment
/// together (`make profile --job seq128k`).
///
/// Each mapping is recorded, in order, in a table of `N` entries the request keeps from its
/// first use (or one allocated for a request with more segments): the PRP or SGL writer reads
/// it, and where the mappings need undoing after all (a bounce buffer, `swiotlb=force`, turns
/// `dma_need_unmap()` true at the first one) they are undone from it.
///
/// # Invariants
///
/// The entries of the table in use (`heap` when set, else `own`) are streaming mappings for
/// the device given to [`VecMap::map`], in direction `write`, each made once and not undone.
pub(crate) struct VecMap<const N: usize> {
    own: KVec<DmaSeg>,
    heap: Option<KVec<DmaSeg>>,
    write: bool,
}

impl<const N: usize> VecMap<N> {
    /// Nothing mapped, no table allocated.
    pub(crate) const fn new() -> Self {
        // INVARIANT: no entries.
        Self {
            own: KVec::new(),
            heap: None,
            write: false,
        }
    }

    /// The table in use.
    #[inline]
    fn table(&self) -> &KVec<DmaSeg> {
        self.heap.as_ref().unwrap_or(&self.own)
    }

    /// Maps every bio vector of `rq` for DMA by `dev` and records the mappings; anything
    /// mapped before is undone first. The caller checks [`dma_need_unmap`] afterwards, as for
    /// [`SgTable`].
    #[inline]
    pub(crate) fn map<T: Operations>(
        &mut self,
        dev: &device::Device,
        rq: &Request<T>,
    ) -> VecMapped {
        if !self.table().is_empty() {
            self.unmap(dev, true);
        }
        let segs = usize::from(rq.nr_phys_segments());
        if segs > N {
            match KVec::with_capacity(segs, GFP_ATOMIC) {
                Ok(t) => self.heap = Some(t),
                Err(_) => return VecMapped::Failed,
            }
        } else if self.own.capacity() == 0 {
            match KVec::with_capacity(N, GFP_ATOMIC) {
                Ok(t) => self.own = t,
                Err(_) => return VecMapped::Failed,
            }
        }
        self.write = rq.is_write();
        let dir = dma_dir(self.write);
        let status = self.map_vectors(dev, rq, dir);
        if !matches!(status, VecMapped::Mapped) {
            self.unmap(dev, true);
        }
        status
    }

    /// Maps the vectors of every bio of `rq` in order into the empty table in use
    /// (`rq_for_each_bvec()`); on failure, what was mapped stays recorded for the caller to
    /// undo.
    #[inline(always)]
    fn map_vectors<T: Operations>(
        &mut self,
        dev: &device::Device,
        rq: &Request<T>,
        dir: bindings::dma_data_direction,
    ) -> VecMapped {
        let table = match &mut self.heap {
            Some(h) => h,
            None => &mut self.own,
        };
        let mut n = 0;
        let status = Self::map_into(raw_dev(dev), rq, dir, table.spare_capacity_mut(), &mut n);
        // SAFETY: `map_into` initialised the first `n` spare entries, and the table was empty.
        unsafe { table.inc_len(n) };
        status
    }

    /// Maps the vectors of `rq` in direction `dir` for `raw`, writing each mapping into the
    /// next entry of `out` and counting them in `n` (also on failure).
    #[inline(always)]
    fn map_into<T: Operations>(
        raw: *mut bindings::device,
        rq: &Request<T>,
        dir: bindings::dma_data_direction,
        out: &mut [core::mem::MaybeUninit<DmaSeg>],
        n: &mut usize,
    ) -> VecMapped {
        let mut total: u32 = 0;
        // SAFETY: `rq` is a valid request the driver owns; its bio chain, each bio's iterator
        // and vector array are stable until the request ends.
        let mut bio = unsafe { (*rq.as_raw()).bio };
        while !bio.is_null() {
            // SAFETY: `bio` is a live bio of the request (see above).
            let (it, vecs, next) = unsafe { ((*bio).bi_iter, (*bio).bi_io_vec, (*bio).bi_next) };
            let (mut idx, mut done, mut left) =
                (it.bi_idx as usize, kver::bvec_iter_done(&it), it.bi_size);
            while left > 0 {
                let Some(slot) = out.get_mut(*n) else {
                    return VecMapped::Unsuitable;
                };
                // SAFETY: `vecs` is the live bio's array and its iterator has `left` bytes to
                // go at vector `idx`.
                let (page, offset, len) = unsafe { bvec_at(vecs, idx, done, left) };
                if len == 0 {
                    return VecMapped::Unsuitable;
                }
                // SAFETY: the vector's pages hold `len` bytes of the request's data from
                // `offset` (a multi-page vector is physically contiguous), pinned until the
                // request ends; `raw` is a live device.
                let Some(addr) = (unsafe { map_page(raw, page, offset, len, dir) }) else {
                    return VecMapped::Failed;
                };
                // Recorded as soon as made, so that it is undone with the rest.
                slot.write(DmaSeg { addr, len });
                *n += 1;
                total = total.wrapping_add(len);
                left -= len;
                idx += 1;
                done = 0;
            }
            bio = next;
        }
        // The mappings must cover the request's data exactly: the controller moves what the
        // command's block count says through what they describe.
        if total != rq.bytes() {
            return VecMapped::Unsuitable;
        }
        VecMapped::Mapped
    }

    /// The mapped segments, in order.
    #[inline]
    pub(crate) fn segments(&self) -> &[DmaSeg] {
        self.table().as_slice()
    }

    /// Number of mapped segments.
    #[inline]
    pub(crate) fn nr_segments(&self) -> u32 {
        // CAST: at most `nr_phys_segments` (a `u16`) or `N` entries.
        self.table().len() as u32
    }

    /// Undoes the mappings (with `unmap` false they are dropped without a call, where
    /// [`dma_need_unmap`] said after mapping that none is needed) and frees an allocated table.
    #[inline]
    pub(crate) fn unmap(&mut self, dev: &device::Device, unmap: bool) {
        let dir = dma_dir(self.write);
        if unmap {
            for seg in self.table().iter() {
                // SAFETY: each entry is a mapping for `dev` in `dir` (type invariant), undone
                // once: the table is emptied below.
                unsafe {
                    bindings::dma_unmap_page_attrs(raw_dev(dev), seg.addr, seg.len as usize, dir, 0)
                };
            }
        }
        // INVARIANT: no entries are left.
        self.heap = None;
        self.own.clear();
    }
}
