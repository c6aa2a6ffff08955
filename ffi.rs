// SPDX-License-Identifier: GPL-2.0

//! The one place where rust_nvme calls raw kernel bindings.
//!
//! Linux 7.3's `kernel` crate has no blk-mq abstraction an NVMe driver can use (no per-request
//! data of a chosen size, no hardware-context data, no tag-to-request lookup, no `map_queues`,
//! `commit_rqs` or `timeout`), no scatter-gather mapping of a request, no DMA pool, and no PCI
//! interrupt vectors with managed affinity. This file supplies them, shaped like upstream
//! abstractions: each type owns one kernel object, frees it in `Drop`, and every call into C
//! carries a `// SAFETY:` proof. The rest of the driver uses only the safe API below.
//!
//! What differs between the kernels the driver builds against (7.3, and 7.2) is in [`kver`].

use core::{
    ffi::c_void,
    fmt,
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::{
    bindings,
    device,
    error::{
        from_err_ptr,
        to_result, //
    },
    pci,
    prelude::*,
    static_lock_class,
    str::CStr,
    sync::Arc,
    types::Opaque, //
};

pub(crate) mod kver;
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
pub(crate) mod testing;

use kver::LocalInterruptDisabled;

/// Returns the raw `struct device` behind a driver-model device.
fn raw_dev<Ctx: device::DeviceContext>(dev: &device::Device<Ctx>) -> *mut bindings::device {
    // CAST: `device::Device` is `#[repr(transparent)]` over `Opaque<bindings::device>`, which is
    // `#[repr(transparent)]` over the C structure, so the pointers are the same address.
    ptr::from_ref(dev).cast::<bindings::device>().cast_mut()
}

/// A counted reference to a device, for the I/O path: dereferences without a call.
///
/// `ARef<Device>`'s `Deref` is not `#[inline]`, so in a module every `&*aref` is a call into the
/// kernel crate (two per I/O in `make profile`). This keeps the reference and a plain pointer
/// to the same device.
///
/// # Invariants
///
/// `ptr` points to the device that `_dev` holds a reference on.
pub(crate) struct DevRef {
    _dev: kernel::sync::aref::ARef<device::Device>,
    ptr: NonNull<device::Device>,
}

// SAFETY: `ARef<Device>` is `Send` and `Sync`; the pointer is the same device, used only for
// shared references.
unsafe impl Send for DevRef {}
// SAFETY: as above.
unsafe impl Sync for DevRef {}

impl DevRef {
    /// Takes a reference on `dev`.
    pub(crate) fn new(dev: &device::Device) -> Self {
        // INVARIANT: the pointer and the reference are to `dev`.
        Self {
            _dev: dev.into(),
            ptr: NonNull::from(dev),
        }
    }
}

impl core::ops::Deref for DevRef {
    type Target = device::Device;

    #[inline(always)]
    fn deref(&self) -> &device::Device {
        // SAFETY: `ptr` points to a device kept alive by `_dev` for as long as `self` lives
        // (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

/// Returns the raw `struct pci_dev` behind a PCI device.
fn raw_pdev<Ctx: device::DeviceContext>(pdev: &pci::Device<Ctx>) -> *mut bindings::pci_dev {
    // CAST: `pci::Device` is `#[repr(transparent)]` over `Opaque<bindings::pci_dev>`.
    ptr::from_ref(pdev).cast::<bindings::pci_dev>().cast_mut()
}

/// Turns bus mastering back on for the PCI function whose device is `dev`
/// (`pci_set_master()`), as a controller reset must: whatever stopped the controller may have
/// cleared it (a write to the command register, a function reset), and without it the
/// controller cannot reach memory, so not even the admin queue works.
///
/// # Safety
///
/// `dev` must be the `struct device` of a PCI function the driver is bound to, for the whole
/// call.
pub(crate) unsafe fn pci_set_master_of(dev: &device::Device) {
    // SAFETY: by the caller's guarantee `dev` is the `dev` field of a `struct pci_dev`.
    let pdev = unsafe { kernel::container_of!(raw_dev(dev), bindings::pci_dev, dev) };
    // SAFETY: `pdev` is a bound, hence enabled, PCI function; the call only sets the bus master
    // bit of its command register.
    unsafe { bindings::pci_set_master(pdev) };
}

// ---------------------------------------------------------------------------------------------
// Block status codes.

/// A `blk_status_t` value handed back to the block layer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BlkStatus(u8);

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

    /// Returns true for `BLK_STS_OK`.
    pub(crate) fn is_ok(self) -> bool {
        self == Self::OK
    }
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// The operation a block request asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ReqOp {
    /// Read data from the device.
    Read,
    /// Write data to the device.
    Write,
    /// Flush the volatile write cache.
    Flush,
    /// Discard (deallocate) ranges.
    Discard,
    /// Write zeroes to a range.
    WriteZeroes,
    /// Anything else (zoned, secure erase, driver private).
    Other(u32),
}

/// A block-layer request, borrowed for the duration of a blk-mq callback.
///
/// # Invariants
///
/// The wrapped `struct request` is owned by blk-mq and valid for as long as the reference is
/// live: from `queue_rq` until the driver ends it, or within `complete`/`timeout`/`init_request`.
#[repr(transparent)]
pub(crate) struct Request(Opaque<bindings::request>);

/// `REQ_FUA`: the write must be on stable media when it completes.
const REQ_FUA: u32 = 1 << bindings::req_flag_bits___REQ_FUA;
/// `REQ_FAILFAST_DEV | REQ_FAILFAST_TRANSPORT | REQ_FAILFAST_DRIVER`.
const REQ_FAILFAST: u32 = (1 << bindings::req_flag_bits___REQ_FAILFAST_DEV)
    | (1 << bindings::req_flag_bits___REQ_FAILFAST_TRANSPORT)
    | (1 << bindings::req_flag_bits___REQ_FAILFAST_DRIVER);
/// `REQ_NOUNMAP`: a write-zeroes that must not deallocate.
const REQ_NOUNMAP: u32 = 1 << bindings::req_flag_bits___REQ_NOUNMAP;
/// `REQ_OP_MASK`: the operation bits of `cmd_flags`.
const REQ_OP_MASK: u32 = (1 << bindings::REQ_OP_BITS) - 1;

impl Request {
    /// Borrows a request from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live request that stays valid for `'a` (see the type invariants).
    unsafe fn from_raw<'a>(ptr: *mut bindings::request) -> &'a Self {
        // SAFETY: `Request` is `#[repr(transparent)]` over the C structure and the caller
        // guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_raw(&self) -> *mut bindings::request {
        self.0.get()
    }

    /// The request's tag, the NVMe command identifier of its command.
    pub(crate) fn tag(&self) -> u16 {
        // SAFETY: `self` is a valid request (type invariant); `tag` is set before `queue_rq`.
        let tag = unsafe { (*self.as_raw()).tag };
        // CAST: tags are below the queue depth, which is at most 65536.
        tag as u16
    }

    fn cmd_flags(&self) -> u32 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).cmd_flags }
    }

    /// The operation of the request (`req_op()`).
    #[inline]
    pub(crate) fn op(&self) -> ReqOp {
        match self.cmd_flags() & REQ_OP_MASK {
            bindings::req_op_REQ_OP_READ => ReqOp::Read,
            bindings::req_op_REQ_OP_WRITE => ReqOp::Write,
            bindings::req_op_REQ_OP_FLUSH => ReqOp::Flush,
            bindings::req_op_REQ_OP_DISCARD => ReqOp::Discard,
            bindings::req_op_REQ_OP_WRITE_ZEROES => ReqOp::WriteZeroes,
            other => ReqOp::Other(other),
        }
    }

    /// True when the request carries `REQ_FUA`.
    pub(crate) fn is_fua(&self) -> bool {
        self.cmd_flags() & REQ_FUA != 0
    }

    /// True when the submitter asked not to retry failures (`blk_noretry_request()`).
    pub(crate) fn is_failfast(&self) -> bool {
        self.cmd_flags() & REQ_FAILFAST != 0
    }

    /// True when a write-zeroes request forbids deallocation (`REQ_NOUNMAP`).
    pub(crate) fn is_nounmap(&self) -> bool {
        self.cmd_flags() & REQ_NOUNMAP != 0
    }

    /// First sector, in 512-byte units (`blk_rq_pos()`).
    pub(crate) fn sector(&self) -> u64 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).__sector }
    }

    /// Bytes left in the request (`blk_rq_bytes()`).
    pub(crate) fn bytes(&self) -> u32 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).__data_len }
    }

    /// Number of physical data segments (`blk_rq_nr_phys_segments()` without special payloads,
    /// which this driver never sets).
    pub(crate) fn nr_phys_segments(&self) -> u16 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).nr_phys_segments }
    }

    /// Calls `f(sector, nr_sectors)` for every bio of a discard request: with
    /// `max_discard_segments > 1` the block layer merges unrelated ranges into one request.
    pub(crate) fn for_each_bio_range(&self, mut f: impl FnMut(u64, u32)) {
        // SAFETY: `self` is a valid request (type invariant), whose bio chain is stable while the
        // driver owns the request.
        let mut bio = unsafe { (*self.as_raw()).bio };
        while !bio.is_null() {
            // SAFETY: `bio` is a non-null element of the request's bio chain.
            let (sector, size, next) = unsafe {
                (
                    (*bio).bi_iter.bi_sector,
                    (*bio).bi_iter.bi_size,
                    (*bio).bi_next,
                )
            };
            f(sector, size >> 9);
            bio = next;
        }
    }

    /// Pointer to the driver's per-request data (`blk_mq_rq_to_pdu()`).
    pub(crate) fn pdu<T>(&self) -> NonNull<T> {
        // SAFETY: `self` is a valid request; the tag set was allocated with `cmd_size` covering
        // a `T` (checked in `TagSet::new`), placed right after the request, which is where
        // `blk_mq_rq_to_pdu()` (`rq + 1`) finds it: the allocation covers both.
        let pdu = unsafe { self.as_raw().add(1) };
        // SAFETY: the PDU follows a valid request and so is never null.
        unsafe { NonNull::new_unchecked(pdu.cast::<T>()) }
    }

    /// Starts the request's timeout clock (`blk_mq_start_request()`).
    pub(crate) fn start(&self) {
        // SAFETY: `self` is a valid request the driver owns, in `queue_rq`.
        unsafe { bindings::blk_mq_start_request(self.as_raw()) };
    }

    /// Ends the request with `status` (`blk_mq_end_request()`).
    pub(crate) fn end(&self, status: BlkStatus) {
        // SAFETY: `self` is a started request the driver owns; it is not touched again.
        unsafe { bindings::blk_mq_end_request(self.as_raw(), status.0) };
    }

    /// Hands the request to blk-mq for completion on the submitting CPU; blk-mq then calls
    /// [`Operations::complete`] (`blk_mq_complete_request()`).
    pub(crate) fn complete(&self) {
        // SAFETY: `self` is a started request the driver owns.
        unsafe { bindings::blk_mq_complete_request(self.as_raw()) };
    }

    /// True once the request has been completed (`blk_mq_request_completed()`).
    pub(crate) fn is_completed(&self) -> bool {
        // SAFETY: `self` is a valid request (type invariant); `state` is read racily on purpose,
        // as the C helper does.
        let state = unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_raw()).state)) };
        state == bindings::mq_rq_state_MQ_RQ_COMPLETE
    }

    /// True when fault injection wants this request's completion dropped so that it times out
    /// instead (`blk_should_fake_timeout()`): the disk's `io-timeout-fail` attribute is set and
    /// the `fail_io_timeout` fault attribute fires. Always false in a kernel without
    /// `CONFIG_FAIL_IO_TIMEOUT`, as in C.
    pub(crate) fn should_fake_timeout(&self) -> bool {
        #[cfg(CONFIG_FAIL_IO_TIMEOUT)]
        {
            // SAFETY: `self` is a valid request (type invariant), and its queue outlives it.
            let q = unsafe { (*self.as_raw()).q };
            // SAFETY: `q` is the request's live queue. Its flags change under sysfs writes, by
            // atomic bit operations: an atomic load reads them, as the C `test_bit()` does.
            let flags = unsafe {
                core::sync::atomic::AtomicUsize::from_ptr(ptr::addr_of_mut!((*q).queue_flags))
            }
            .load(Ordering::Relaxed);
            if flags & (1 << bindings::QUEUE_FLAG_FAIL_IO) != 0 {
                // SAFETY: `q` is a valid queue; the call only consults the fault attribute.
                return unsafe { bindings::__blk_should_fake_timeout(q) };
            }
        }
        false
    }

    /// Puts the request back on its queue's requeue list to be issued again
    /// (`blk_mq_requeue_request()`); used instead of ending it.
    pub(crate) fn requeue(&self) {
        // SAFETY: `self` is a request the driver owns and has not ended.
        unsafe { bindings::blk_mq_requeue_request(self.as_raw(), true) };
    }

    fn rq_flags(&self) -> u32 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).rq_flags }
    }

    /// True for a driver-private passthrough request (`blk_rq_is_passthrough()`).
    pub(crate) fn is_passthrough(&self) -> bool {
        matches!(
            self.cmd_flags() & REQ_OP_MASK,
            bindings::req_op_REQ_OP_DRV_IN | bindings::req_op_REQ_OP_DRV_OUT
        )
    }

    /// True when the data flows from memory to the device.
    pub(crate) fn is_write(&self) -> bool {
        // `op_is_write()`: odd operation numbers write.
        self.cmd_flags() & 1 != 0
    }
}

// ---------------------------------------------------------------------------------------------
// Scatter-gather DMA mapping of a request's data.

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

// ---------------------------------------------------------------------------------------------
// DMA pool.

/// A pool of small, aligned coherent DMA buffers (PRP list pages, DSM range lists).
///
/// # Invariants
///
/// `pool` is a live pool created by `dma_pool_create_node`, destroyed in `Drop`.
pub(crate) struct DmaPool {
    pool: NonNull<bindings::dma_pool>,
}

// SAFETY: the DMA pool API takes its own lock and may be used from any context.
unsafe impl Send for DmaPool {}
// SAFETY: as above, all methods take `&self` and the pool serialises internally.
unsafe impl Sync for DmaPool {}

/// One buffer taken from a [`DmaPool`]; it must be handed back with [`DmaPool::free`].
#[derive(Clone, Copy)]
pub(crate) struct PoolBuf {
    /// CPU address.
    pub(crate) cpu: NonNull<u8>,
    /// Bus address.
    pub(crate) dma: u64,
}

impl DmaPool {
    /// Creates a pool of `size`-byte buffers aligned to `size` for `dev`.
    pub(crate) fn new(name: &'static CStr, dev: &device::Device, size: usize) -> Result<Self> {
        // SAFETY: `name` is a static NUL-terminated string and `dev` a live device that
        // outlives the pool (the driver data owning it is dropped before unbind completes).
        let pool = unsafe {
            bindings::dma_pool_create_node(
                name.as_char_ptr(),
                raw_dev(dev),
                size,
                size,
                0,
                bindings::NUMA_NO_NODE,
            )
        };
        let pool = NonNull::new(pool).ok_or(ENOMEM)?;
        // INVARIANT: `pool` was just created.
        Ok(Self { pool })
    }

    /// Takes a buffer without sleeping; `None` when memory is short.
    pub(crate) fn alloc_atomic(&self) -> Option<PoolBuf> {
        let mut dma: bindings::dma_addr_t = 0;
        // SAFETY: `self.pool` is live (type invariant); GFP_ATOMIC never sleeps.
        let cpu =
            unsafe { bindings::dma_pool_alloc(self.pool.as_ptr(), bindings::GFP_ATOMIC, &mut dma) };
        NonNull::new(cpu.cast::<u8>()).map(|cpu| PoolBuf { cpu, dma })
    }

    /// Returns a buffer to the pool.
    ///
    /// # Safety
    ///
    /// `buf` must come from `alloc_atomic` on this pool and not be used afterwards, by the CPU
    /// or the device.
    pub(crate) unsafe fn free(&self, buf: PoolBuf) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::dma_pool_free(self.pool.as_ptr(), buf.cpu.as_ptr().cast(), buf.dma) };
    }
}

impl Drop for DmaPool {
    fn drop(&mut self) {
        // SAFETY: the pool is live (type invariant) and every buffer has been returned, since
        // requests and their data are gone before the driver data drops.
        unsafe { bindings::dma_pool_destroy(self.pool.as_ptr()) };
    }
}

// ---------------------------------------------------------------------------------------------
// The per-queue spinlocks of the I/O path.

#[cfg(CONFIG_PREEMPT_RT)]
compile_error!(
    "rust_nvme's queue locks take spinlock_t as a raw spinlock: PREEMPT_RT is not supported"
);

/// A `spinlock_t` guarding a `T`: the submission and completion locks of one queue.
///
/// The `kernel` crate's `SpinLock` reaches the C lock through calls that a module cannot inline
/// (the `spin_lock()`/`spin_unlock()` helpers, `spin_assert_is_held()`, and `Opaque::get()` for
/// each of them): about 20 instructions per lock and unlock, 40 per I/O, which `make profile`
/// counted as the larger part of rust_nvme's difference to the C driver. This lock calls
/// `_raw_spin_lock*()` directly, which is what `spin_lock*()` are on a kernel without
/// PREEMPT_RT (checked above); lockdep sees it as it sees `spin_lock()`.
#[pin_data]
pub(crate) struct QueueLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: core::cell::UnsafeCell<T>,
}

// SAFETY: the lock hands `T` to one thread at a time, so it may move between threads with it.
unsafe impl<T: Send> Send for QueueLock<T> {}
// SAFETY: shared references only reach `T` through the lock, which serialises them.
unsafe impl<T: Send> Sync for QueueLock<T> {}

/// Creates a [`QueueLock`] initialiser with a name and a lock class of its own.
macro_rules! new_queue_lock {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::ffi::QueueLock::new(
            $inner,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_queue_lock;

impl<T> QueueLock<T> {
    /// A new lock holding `t`, named `name` for lockdep, in lock class `key`.
    pub(crate) fn new(
        t: T,
        name: &'static CStr,
        key: Pin<&'static kernel::sync::LockClassKey>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            data: core::cell::UnsafeCell::new(t),
            // SAFETY: `slot` is the lock's own memory, valid for writes; the name and the key
            // live forever.
            lock <- Opaque::ffi_init(|slot: *mut bindings::spinlock_t| unsafe {
                bindings::__spin_lock_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// The `raw_spinlock_t` inside the `spinlock_t` (`spinlock_check()`).
    #[inline(always)]
    fn raw(&self) -> *mut bindings::raw_spinlock_t {
        // CAST: `Opaque<T>` is `#[repr(transparent)]` over `T`, and without PREEMPT_RT a
        // `spinlock_t` is a union whose first member is its `raw_spinlock_t`.
        ptr::from_ref(&self.lock).cast_mut().cast()
    }

    /// Takes the lock from a context that the lock's interrupt-time users cannot interrupt:
    /// a lock never taken in hard interrupt context (the submission lock), or any lock with
    /// [`QueueLock::lock_with`] and [`QueueLock::lock_irqsave`] instead.
    #[inline(always)]
    pub(crate) fn lock(&self) -> QueueLockGuard<'_, T> {
        // SAFETY: the lock was initialised by `new` (pinned, so still at this address).
        unsafe { bindings::_raw_spin_lock(self.raw()) };
        QueueLockGuard {
            lock: self,
            flags: None,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock where local interrupts are already off (an interrupt handler).
    #[inline(always)]
    pub(crate) fn lock_with<'a>(
        &'a self,
        _irqs_off: &'a LocalInterruptDisabled,
    ) -> QueueLockGuard<'a, T> {
        self.lock()
    }

    /// Takes the lock with local interrupts disabled until the guard drops, from any context.
    #[inline(always)]
    pub(crate) fn lock_irqsave(&self) -> QueueLockGuard<'_, T> {
        // SAFETY: as in `lock`.
        let flags = unsafe { bindings::_raw_spin_lock_irqsave(self.raw()) };
        QueueLockGuard {
            lock: self,
            flags: Some(flags),
            _not_send: PhantomData,
        }
    }
}

/// Access to the data of a held [`QueueLock`]; releases it when dropped.
pub(crate) struct QueueLockGuard<'a, T> {
    lock: &'a QueueLock<T>,
    /// Interrupt state to restore, when the lock was taken with `lock_irqsave`.
    flags: Option<kernel::ffi::c_ulong>,
    /// Released on the CPU that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> core::ops::Deref for QueueLockGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the data exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> core::ops::DerefMut for QueueLockGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for QueueLockGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        match self.flags {
            // SAFETY: the guard took the lock with `_raw_spin_lock_irqsave()`, which returned
            // `flags`, on this CPU.
            Some(flags) => unsafe { bindings::_raw_spin_unlock_irqrestore(self.lock.raw(), flags) },
            // SAFETY: the guard took the lock with `_raw_spin_lock()` on this CPU.
            None => unsafe { bindings::_raw_spin_unlock(self.lock.raw()) },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Doorbells.

/// One 32-bit doorbell register in BAR0.
///
/// # Invariants
///
/// `addr` is the mapped address of a doorbell inside BAR0; the controller keeps BAR0 mapped
/// until every queue (and so every doorbell) has been dropped.
pub(crate) struct Doorbell {
    addr: *mut c_void,
}

// SAFETY: MMIO writes may be issued from any CPU; the address is plain data.
unsafe impl Send for Doorbell {}
// SAFETY: as above; callers serialise writes to one doorbell with the queue's lock.
unsafe impl Sync for Doorbell {}

impl Doorbell {
    /// Creates a doorbell at `offset` in the mapping that starts at `base` and has `len` bytes.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be a live MMIO mapping that outlives the doorbell.
    pub(crate) unsafe fn new(base: usize, len: usize, offset: usize) -> Result<Self> {
        if offset.checked_add(4).is_none_or(|end| end > len) {
            return Err(EINVAL);
        }
        // INVARIANT: `offset + 4 <= len` inside a mapping the caller keeps alive.
        Ok(Self {
            addr: core::ptr::without_provenance_mut(base + offset),
        })
    }

    /// Writes `value`; ordered after all earlier writes to coherent memory (`writel()`).
    pub(crate) fn write(&self, value: u32) {
        // SAFETY: `addr` is a mapped doorbell (type invariant).
        unsafe { bindings::writel(value, self.addr) };
    }
}

// ---------------------------------------------------------------------------------------------
// Interrupt vectors with managed affinity.

/// How the controller's interrupts are delivered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IrqKind {
    /// MSI-X.
    MsiX,
    /// MSI.
    Msi,
    /// Legacy INTx, shared.
    Intx,
}

impl IrqKind {
    /// The name the PCI core uses for this kind.
    pub(crate) fn name(self) -> &'static str {
        match self {
            IrqKind::MsiX => "MSI-X",
            IrqKind::Msi => "MSI",
            IrqKind::Intx => "INTx",
        }
    }
}

/// The PCI interrupt vectors of one controller (`pci_alloc_irq_vectors_affinity()`).
///
/// Vector 0 serves the admin queue and is not spread; vectors 1.. are spread over the CPUs by
/// the kernel (managed affinity), one per I/O queue.
///
/// # Invariants
///
/// `pdev` has `count` vectors allocated, freed in `Drop`; the device outlives this object.
pub(crate) struct IrqVectors {
    pdev: *mut bindings::pci_dev,
    count: u32,
    kind: IrqKind,
}

// SAFETY: the vectors are a property of the device; freeing them is allowed from any thread.
unsafe impl Send for IrqVectors {}
// SAFETY: `&self` methods only read plain data or query the PCI core.
unsafe impl Sync for IrqVectors {}

impl IrqVectors {
    /// Allocates between 1 and `max` vectors, preferring MSI-X, then MSI, then INTx.
    /// With `msi` false only legacy INTx is tried (the `use_msi` module parameter).
    pub(crate) fn alloc(pdev: &pci::Device<device::Bound>, max: u32, msi: bool) -> Result<Self> {
        let raw = raw_pdev(pdev);
        let mut affd = bindings::irq_affinity {
            pre_vectors: 1,
            ..Default::default()
        };
        let types = if msi {
            bindings::PCI_IRQ_ALL_TYPES
        } else {
            bindings::PCI_IRQ_INTX
        };
        // Spreading needs more than the one pre-vector; with a single vector, ask plainly.
        let (flags, affd_ptr) = if max > 1 {
            (types | bindings::PCI_IRQ_AFFINITY, ptr::from_mut(&mut affd))
        } else {
            (types, ptr::null_mut())
        };
        // SAFETY: `raw` is a bound, enabled PCI device; `affd` lives across the call.
        let ret = unsafe { bindings::pci_alloc_irq_vectors_affinity(raw, 1, max, flags, affd_ptr) };
        to_result(ret)?;
        // SAFETY: vectors were allocated just above.
        let kind = match unsafe { kver::pci_irq_type(raw) } {
            bindings::PCI_IRQ_MSIX => IrqKind::MsiX,
            bindings::PCI_IRQ_MSI => IrqKind::Msi,
            _ => IrqKind::Intx,
        };
        // INVARIANT: `ret` vectors are allocated on `raw`.
        Ok(Self {
            pdev: raw,
            // CAST: `to_result` passed, so `ret` is positive.
            count: ret as u32,
            kind,
        })
    }

    /// Number of vectors allocated.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Delivery type of the vectors.
    pub(crate) fn kind(&self) -> IrqKind {
        self.kind
    }

    /// Linux interrupt number of vector `index`.
    fn irq(&self, index: u32) -> Result<u32> {
        if index >= self.count {
            return Err(EINVAL);
        }
        // SAFETY: `index` is below the allocated count (type invariant).
        let irq = unsafe { bindings::pci_irq_vector(self.pdev, index) };
        u32::try_from(irq).map_err(|_| EINVAL)
    }
}

impl Drop for IrqVectors {
    fn drop(&mut self) {
        // SAFETY: vectors were allocated on `pdev` (type invariant); all handlers registered on
        // them are freed first, since `IrqHandler`s hold a reference to this object.
        unsafe { bindings::pci_free_irq_vectors(self.pdev) };
    }
}

/// A hard-interrupt handler.
pub(crate) trait Handler: Sync + Send {
    /// Handles one interrupt; returns true when it was ours. `irqs_off` proves that local
    /// interrupts are disabled, so IRQ-safe locks can be taken without disabling them again.
    fn handle(&self, irqs_off: &LocalInterruptDisabled) -> bool;
}

/// A handler registered on one vector of an [`IrqVectors`] (`request_irq()`/`free_irq()`).
///
/// # Invariants
///
/// `handler` is registered on `irq` with its own address as the cookie until `Drop`.
pub(crate) struct IrqHandler<H: Handler> {
    irq: u32,
    handler: Pin<KBox<H>>,
    _vectors: Arc<IrqVectors>,
}

impl<H: Handler> IrqHandler<H> {
    /// Registers `handler` on vector `index` under `name`.
    pub(crate) fn new(
        vectors: &Arc<IrqVectors>,
        index: u32,
        name: &'static CStr,
        handler: H,
    ) -> Result<Self> {
        let irq = vectors.irq(index)?;
        let handler = KBox::pin(handler, GFP_KERNEL)?;
        let cookie = ptr::from_ref::<H>(&handler).cast_mut().cast::<c_void>();
        let flags: usize = if vectors.kind() == IrqKind::Intx {
            // CAST: `IRQF_*` flags are small constants.
            bindings::IRQF_SHARED as usize
        } else {
            0
        };
        // SAFETY: `cookie` points to a pinned `H` that stays valid until `free_irq` in `Drop`;
        // `name` is static; `irq_callback::<H>` matches the cookie's type.
        to_result(unsafe {
            bindings::request_irq(
                irq,
                Some(irq_callback::<H>),
                flags,
                name.as_char_ptr(),
                cookie,
            )
        })?;
        // INVARIANT: registered above.
        Ok(Self {
            irq,
            handler,
            _vectors: vectors.clone(),
        })
    }

    /// Waits for running instances of the handler to finish (`synchronize_irq()`).
    pub(crate) fn synchronize(&self) {
        // SAFETY: `irq` is a registered interrupt (type invariant).
        unsafe { bindings::synchronize_irq(self.irq) };
    }

    /// The registered handler.
    pub(crate) fn handler(&self) -> &H {
        &self.handler
    }
}

impl<H: Handler> Drop for IrqHandler<H> {
    fn drop(&mut self) {
        let cookie = ptr::from_ref::<H>(&self.handler)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: registered with this cookie (type invariant); `free_irq` waits for running
        // handlers, so the handler is not used after this returns.
        unsafe { bindings::free_irq(self.irq, cookie) };
    }
}

/// # Safety
///
/// Only registered by [`IrqHandler::new`], with a cookie pointing to a live `H`.
unsafe extern "C" fn irq_callback<H: Handler>(
    _irq: i32,
    cookie: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: the cookie is a pinned `H` that outlives the registration.
    let handler = unsafe { &*cookie.cast::<H>() };
    // SAFETY: this is a hard interrupt handler (registered with `request_irq`, without
    // `IRQF_NO_THREAD` games: a force-threaded handler also runs with interrupts disabled on
    // kernels other than PREEMPT_RT, where spinlocks do not disable them anyway), so local
    // interrupts stay disabled until it returns.
    let irqs_off = unsafe { LocalInterruptDisabled::assume_disabled() };
    if handler.handle(irqs_off) {
        kver::IRQ_HANDLED
    } else {
        kver::IRQ_NONE
    }
}

// ---------------------------------------------------------------------------------------------
// A completion that can be waited on with a timeout.

/// A one-shot event a task waits for with a timeout (`struct completion`).
///
/// # Invariants
///
/// `inner` is initialised by `init_completion` before first use.
#[pin_data]
pub(crate) struct Waiter {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: `struct completion` is designed to be signalled and waited on from any thread.
unsafe impl Send for Waiter {}
// SAFETY: as above.
unsafe impl Sync for Waiter {}

impl Waiter {
    /// Creates an unsignalled waiter.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `init_completion` initialises it in place.
            inner <- Opaque::ffi_init(|slot: *mut bindings::completion| unsafe {
                bindings::init_completion(slot)
            }),
        })
    }

    /// Re-arms the waiter; nobody may wait on or signal it concurrently.
    pub(crate) fn rearm(&self) {
        // SAFETY: the completion is initialised (type invariant); callers guarantee exclusive use
        // while re-arming, which is what re-initialising requires.
        unsafe { bindings::init_completion(self.inner.get()) };
    }

    /// Signals the waiter; callable from hard interrupt context.
    pub(crate) fn complete(&self) {
        // SAFETY: the completion is initialised (type invariant).
        unsafe { bindings::complete(self.inner.get()) };
    }

    /// Sleeps until signalled or `ms` milliseconds pass; true when signalled.
    pub(crate) fn wait_timeout(&self, ms: u32) -> bool {
        // SAFETY: plain arithmetic on an integer.
        let jiffies = unsafe { bindings::__msecs_to_jiffies(ms) };
        // SAFETY: the completion is initialised (type invariant); this may sleep, and callers
        // are in process context.
        unsafe { bindings::wait_for_completion_timeout(self.inner.get(), jiffies) != 0 }
    }
}

// ---------------------------------------------------------------------------------------------
// Batched completion.

/// `RQF_SCHED_TAGS`: the request holds a scheduler tag.
const RQF_SCHED_TAGS: u32 = 1 << bindings::rqf_flags___RQF_SCHED_TAGS;
/// `RQF_IO_STAT | RQF_STATS | RQF_USE_SCHED`: ending the request needs a time stamp.
const RQF_NEED_TS: u32 = (1 << bindings::rqf_flags___RQF_IO_STAT)
    | (1 << bindings::rqf_flags___RQF_STATS)
    | (1 << bindings::rqf_flags___RQF_USE_SCHED);

/// Appends `rq` to `list` (`rq_list_add_tail()`).
///
/// # Safety
///
/// `list` is a valid list of live requests that only this thread uses meanwhile; `rq` is a live
/// request on no list, whose `rq_next` link (shared with `queuelist`) is free.
unsafe fn rq_list_add_tail(list: *mut bindings::rq_list, rq: *mut bindings::request) {
    // SAFETY: per the function's safety requirements.
    unsafe {
        (*rq).__bindgen_anon_1.rq_next = ptr::null_mut();
        let tail = (*list).tail;
        if tail.is_null() {
            (*list).head = rq;
        } else {
            (*tail).__bindgen_anon_1.rq_next = rq;
        }
        (*list).tail = rq;
    }
}

/// Takes the first request off `list`, or null when it is empty (`rq_list_pop()`).
///
/// # Safety
///
/// `list` is a valid list of live requests that only this thread uses meanwhile.
unsafe fn rq_list_pop(list: *mut bindings::rq_list) -> *mut bindings::request {
    // SAFETY: per the function's safety requirements.
    unsafe {
        let rq = (*list).head;
        if !rq.is_null() {
            (*list).head = (*rq).__bindgen_anon_1.rq_next;
            if (*list).head.is_null() {
                (*list).tail = ptr::null_mut();
            }
            (*rq).__bindgen_anon_1.rq_next = ptr::null_mut();
        }
        rq
    }
}

/// Requests that completed successfully, to be ended together (`struct io_comp_batch`).
///
/// Ending a batch (`blk_mq_end_request_batch()`) frees the tags of many requests at once and
/// takes the per-queue reference and time stamp once, which is what makes a completion
/// cheaper than ending each request on its own. blk-mq lends one to [`Operations::poll`]
/// (and ends it itself); an interrupt handler makes its own with [`CompBatch::new`] and
/// ends it with [`CompBatch::flush`].
///
/// # Invariants
///
/// Every request on `req_list` completed successfully on this CPU, belongs to a tag set whose
/// [`Operations`] is the one behind `complete`, and is owned by the batch until it is ended.
#[repr(transparent)]
pub(crate) struct CompBatch(Opaque<bindings::io_comp_batch>);

impl CompBatch {
    /// An empty batch (`DEFINE_IO_COMP_BATCH()`).
    pub(crate) fn new() -> Self {
        // INVARIANT: the list is empty.
        Self(Opaque::zeroed())
    }

    /// Borrows the batch blk-mq passed to `poll`.
    ///
    /// # Safety
    ///
    /// `ptr` is null or points to a batch that stays valid for `'a` and that only this thread
    /// uses meanwhile.
    unsafe fn from_raw<'a>(ptr: *mut bindings::io_comp_batch) -> Option<&'a mut Self> {
        // SAFETY: `CompBatch` is `#[repr(transparent)]` over the C structure; the caller
        // guarantees validity and exclusive use for `'a`.
        unsafe { ptr.cast::<Self>().as_mut() }
    }

    /// Adds `rq`, which completed without error, to the batch; false when it cannot be batched
    /// and must be completed on its own (`blk_mq_add_to_batch()`).
    fn add(
        &mut self,
        rq: &Request,
        complete: unsafe extern "C" fn(*mut bindings::io_comp_batch),
    ) -> bool {
        if rq.rq_flags() & RQF_SCHED_TAGS != 0 {
            return false;
        }
        // SAFETY: `rq` is valid (type invariant of `Request`).
        if !rq.is_passthrough() && unsafe { (*rq.as_raw()).end_io.is_some() } {
            return false;
        }
        let iob = self.0.get();
        // SAFETY: `iob` is valid and used by this thread only (`new` or `from_raw`); `rq` is a
        // completed request the driver owns, which from here on the batch owns: its `rq_next`
        // link is free (blk-mq no longer uses `queuelist` for a dispatched request).
        unsafe {
            match (*iob).complete {
                None => (*iob).complete = Some(complete),
                Some(f) if ptr::fn_addr_eq(f, complete) => {}
                Some(_) => return false,
            }
            if rq.rq_flags() & RQF_NEED_TS != 0 {
                (*iob).need_ts = true;
            }
            rq_list_add_tail(&raw mut (*iob).req_list, rq.as_raw());
        }
        // INVARIANT: `rq` completed successfully on this CPU, with `complete` its tag set's.
        true
    }

    /// Ends every request of the batch, through the completion function of the tag set that
    /// added them (for a batch made with [`CompBatch::new`]).
    pub(crate) fn flush(&mut self) {
        let iob = self.0.get();
        // SAFETY: `iob` is valid and ours; a non-empty list has `complete` set by `add`, which
        // ends every request (type invariant) and leaves the list empty.
        unsafe {
            if !(*iob).req_list.head.is_null() {
                if let Some(f) = (*iob).complete {
                    f(iob);
                }
            }
        }
    }
}

/// Completes a request whose command finished: on the submitting CPU when blk-mq wants that
/// (`blk_mq_complete_request_remote()`), otherwise here, in `batch` when it succeeded and a
/// batch is at hand, or on its own through [`Operations::complete`].
pub(crate) fn complete_request<T: Operations>(
    rq: &Request,
    ok: bool,
    batch: Option<&mut CompBatch>,
) {
    // Fault injection (blktests nvme/050): the completion is lost on purpose, and the request
    // is left to the timeout handler, like the C driver's `nvme_try_complete_req()`.
    if rq.should_fake_timeout() {
        return;
    }
    // SAFETY: `rq` is a started request of a tag set of `T` that the driver owns; blk-mq now
    // owns it when this returns true.
    if unsafe { bindings::blk_mq_complete_request_remote(rq.as_raw()) } {
        return;
    }
    if let Some(batch) = batch {
        if ok && batch.add(rq, TagSet::<T>::complete_batch_callback) {
            return;
        }
    }
    // SAFETY: `rq` belongs to a tag set of `T` (the caller's requirement) and is completed
    // locally, as blk-mq would through `complete`.
    unsafe { TagSet::<T>::complete_callback(rq.as_raw()) };
}

// ---------------------------------------------------------------------------------------------
// blk-mq tag set.

/// What [`Operations::timeout`] tells blk-mq.
pub(crate) enum TimeoutAction {
    /// The driver has completed (or will complete) the request.
    Done,
    /// Restart the request's timer.
    ResetTimer,
}

/// The driver side of a blk-mq tag set: the callbacks blk-mq makes.
pub(crate) trait Operations: Sized + 'static {
    /// Shared data of the tag set (`set->driver_data`), e.g. the I/O queues.
    type SetData: Sync + Send;
    /// Per hardware queue data (`hctx->driver_data`).
    type HwQueue: Sync + Send;
    /// Per disk data (`queue->queuedata`).
    type Disk: Sync + Send;

    /// Returns the hardware queue for hardware context `index`; must stay valid until the tag
    /// set is freed (it is borrowed from `set`).
    fn hw_queue(set: &Self::SetData, index: u32) -> Option<&Self::HwQueue>;

    /// Tells the hardware queue the tag array of its hardware context.
    fn set_tags(hwq: &Self::HwQueue, tags: Tags);

    /// Prepares a newly allocated request's per-request data (`init_request`).
    fn init_request(set: &Self::SetData, rq: &Request);

    /// Issues a request. `last` is false when more requests follow in this batch.
    fn queue_rq(
        set: &Self::SetData,
        hwq: &Self::HwQueue,
        disk: &Self::Disk,
        rq: &Request,
        last: bool,
    ) -> BlkStatus;

    /// Ends a batch that stopped before a request with `last` set (`commit_rqs`).
    fn commit_rqs(hwq: &Self::HwQueue);

    /// Finishes a request that [`Request::complete`] handed to blk-mq (`complete`).
    fn complete(set: &Self::SetData, rq: &Request);

    /// Releases what a successfully completed request holds, before its [`CompBatch`] ends it
    /// with the rest of the batch; must not end or requeue it.
    fn complete_batched(set: &Self::SetData, rq: &Request);

    /// Builds the CPU to hardware queue maps (`map_queues`).
    fn map_queues(set: &Self::SetData, maps: &mut QueueMaps<'_>);

    /// Reaps completions of a polled hardware queue, adding successful ones to `batch` when
    /// blk-mq gave one; returns how many (`poll`).
    fn poll(set: &Self::SetData, hwq: &Self::HwQueue, batch: Option<&mut CompBatch>) -> i32;

    /// A request ran past its deadline (`timeout`); runs in process context.
    fn timeout(set: &Self::SetData, hwq: &Self::HwQueue, rq: &Request) -> TimeoutAction;

    /// An ioctl the block layer does not handle itself, on the disk or one of its partitions
    /// (`ioctl` of `block_device_operations`). The disk may have been removed already (a
    /// descriptor outlives it): `disk` stays valid, but its queue fails new requests.
    fn disk_ioctl(_disk: &Self::Disk, _node: IoctlNode, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }
}

/// The block device node an ioctl came in on.
#[derive(Clone, Copy)]
pub(crate) struct IoctlNode {
    /// The disk's request queue, for passthrough requests.
    pub(crate) queue: DiskQueue,
    /// The node is a partition, not the whole disk.
    pub(crate) partition: bool,
    /// The descriptor was opened for writing (`BLK_OPEN_WRITE`).
    pub(crate) writable: bool,
}

/// The tag array of one hardware context, to find a request by its tag.
#[derive(Clone, Copy)]
pub(crate) struct Tags(*mut bindings::blk_mq_tags);

// SAFETY: the tag array lives as long as the tag set; lookups are lock-free reads.
unsafe impl Send for Tags {}
// SAFETY: as above.
unsafe impl Sync for Tags {}

impl Tags {
    /// Finds the request with `tag` (`blk_mq_tag_to_rq()`).
    ///
    /// # Safety
    ///
    /// The tag set must still be allocated, and the request with this tag must be in flight in
    /// the driver (a completion for it arrived) so that it is not freed while borrowed.
    pub(crate) unsafe fn request<'a>(self, tag: u16) -> Option<&'a Request> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: `self.0` is a live tag array (function safety requirements).
        let tags = unsafe { &*self.0 };
        if u32::from(tag) >= tags.nr_tags {
            return None;
        }
        // SAFETY: `tag < nr_tags`, so the slot is inside `rqs`.
        let rq = unsafe { *tags.rqs.add(usize::from(tag)) };
        if rq.is_null() {
            return None;
        }
        // SAFETY: the request is in flight (function safety requirements).
        Some(unsafe { Request::from_raw(rq) })
    }
}

/// Where a hardware queue keeps its [`Tags`] once blk-mq has set them up: written once by
/// `init_hctx`, read by every completion, so a plain atomic pointer rather than a lock.
pub(crate) struct TagsCell(AtomicPtr<bindings::blk_mq_tags>);

impl TagsCell {
    /// A cell that holds no tag array yet.
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }

    /// Records `tags`; a shared tag set gives every disk the same array per hardware queue, so
    /// a later call for the same queue carries the same value and is ignored.
    pub(crate) fn set(&self, tags: Tags) {
        let _ = self.0.compare_exchange(
            ptr::null_mut(),
            tags.0,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The tag array; one that finds nothing before blk-mq has set it.
    pub(crate) fn get(&self) -> Tags {
        Tags(self.0.load(Ordering::Acquire))
    }
}

/// The kinds of hardware queue a tag set may have (`enum hctx_type`).
#[derive(Clone, Copy)]
pub(crate) enum MapKind {
    /// Interrupt-driven queues for all I/O not mapped elsewhere.
    Default,
    /// Queues for reads only (unused by this driver: zero queues).
    Read,
    /// Polled queues, without interrupts.
    Poll,
}

/// The CPU to hardware queue maps of a tag set, given to [`Operations::map_queues`].
pub(crate) struct QueueMaps<'a> {
    set: *mut bindings::blk_mq_tag_set,
    _p: PhantomData<&'a mut ()>,
}

impl QueueMaps<'_> {
    /// Number of maps the tag set has.
    pub(crate) fn count(&self) -> u32 {
        // SAFETY: `set` is valid during `map_queues`.
        unsafe { (*self.set).nr_maps }
    }

    /// The map of one kind of queue.
    pub(crate) fn map(&mut self, kind: MapKind) -> QueueMap<'_> {
        let index = match kind {
            MapKind::Default => bindings::hctx_type_HCTX_TYPE_DEFAULT,
            MapKind::Read => bindings::hctx_type_HCTX_TYPE_READ,
            MapKind::Poll => bindings::hctx_type_HCTX_TYPE_POLL,
        };
        QueueMap {
            // SAFETY: `set` is valid during `map_queues`; `index` is below `HCTX_MAX_TYPES`.
            map: unsafe { ptr::addr_of_mut!((*self.set).map[index as usize]) },
            _p: PhantomData,
        }
    }
}

/// One CPU to hardware queue map of a tag set.
pub(crate) struct QueueMap<'a> {
    map: *mut bindings::blk_mq_queue_map,
    _p: PhantomData<&'a mut ()>,
}

impl QueueMap<'_> {
    /// Gives the map `nr` hardware queues starting at hardware queue `offset`.
    pub(crate) fn set_range(&mut self, nr: u32, offset: u32) {
        // SAFETY: `map` is one of the set's maps, valid during `map_queues`.
        unsafe {
            (*self.map).nr_queues = nr;
            (*self.map).queue_offset = offset;
        }
    }

    /// Follows the affinity of the device's interrupt vectors, skipping `offset` vectors that
    /// serve no hardware queue (`blk_mq_map_hw_queues()`).
    pub(crate) fn map_by_irq_affinity(&mut self, dev: &device::Device, offset: u32) {
        // SAFETY: `map` is valid in `map_queues`; `dev` is live.
        unsafe { bindings::blk_mq_map_hw_queues(self.map, raw_dev(dev), offset) };
    }

    /// Spreads CPUs over the map's hardware queues evenly (`blk_mq_map_queues()`).
    pub(crate) fn map_evenly(&mut self) {
        // SAFETY: `map` is valid in `map_queues`.
        unsafe { bindings::blk_mq_map_queues(self.map) };
    }
}

/// A blk-mq tag set shared by all disks of a controller.
///
/// # Invariants
///
/// `inner` is an allocated tag set (`blk_mq_alloc_tag_set` succeeded) whose `driver_data`
/// points to `data`, freed in `Drop` after all disks using it have been removed (disks hold an
/// `Arc` of the tag set).
#[pin_data(PinnedDrop)]
pub(crate) struct TagSet<T: Operations> {
    #[pin]
    inner: Opaque<bindings::blk_mq_tag_set>,
    data: Arc<T::SetData>,
}

// SAFETY: the tag set is internally synchronised by blk-mq.
unsafe impl<T: Operations> Send for TagSet<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for TagSet<T> {}

impl<T: Operations> TagSet<T> {
    const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq_callback),
        commit_rqs: Some(Self::commit_rqs_callback),
        queue_rqs: Some(Self::queue_rqs_callback),
        get_budget: None,
        put_budget: None,
        set_rq_budget_token: None,
        get_rq_budget_token: None,
        timeout: Some(Self::timeout_callback),
        poll: Some(Self::poll_callback),
        complete: Some(Self::complete_callback),
        init_hctx: Some(Self::init_hctx_callback),
        exit_hctx: None,
        init_request: Some(Self::init_request_callback),
        exit_request: None,
        cleanup_rq: None,
        busy: None,
        map_queues: Some(Self::map_queues_callback),
        #[cfg(CONFIG_BLK_DEBUG_FS)]
        show_rq: None,
    };

    /// Allocates a tag set of `nr_hw_queues` queues of `queue_depth` tags, each request with
    /// `cmd_size` bytes of driver data, and a request timeout of `timeout_ms`; with `nr_maps`
    /// of 3 it has default, read and poll maps (filled in by [`Operations::map_queues`]).
    pub(crate) fn new(
        data: Arc<T::SetData>,
        nr_maps: u32,
        nr_hw_queues: u32,
        queue_depth: u32,
        cmd_size: u32,
        timeout_ms: u32,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(|set: *mut bindings::blk_mq_tag_set| {
                // SAFETY: plain arithmetic on an integer.
                let timeout = unsafe { bindings::__msecs_to_jiffies(timeout_ms) };
                // SAFETY: `set` is valid for writes; it is zeroed and then filled in before
                // `blk_mq_alloc_tag_set` reads it. `data` outlives the tag set (it is a field
                // of `Self`, dropped after `PinnedDrop` frees the set).
                unsafe {
                    set.write(pin_init::zeroed());
                    (*set).ops = &Self::OPS;
                    (*set).nr_hw_queues = nr_hw_queues;
                    (*set).queue_depth = queue_depth;
                    (*set).cmd_size = cmd_size;
                    (*set).numa_node = bindings::NUMA_NO_NODE;
                    // CAST: a jiffies count of a timeout in milliseconds fits in 32 bits.
                    (*set).timeout = timeout as u32;
                    (*set).nr_maps = nr_maps;
                    (*set).driver_data = Arc::as_ptr(&data).cast_mut().cast();
                    to_result(bindings::blk_mq_alloc_tag_set(set))
                }
            }),
            data: data.clone(),
        })
    }

    fn as_raw(&self) -> *mut bindings::blk_mq_tag_set {
        self.inner.get()
    }

    /// # Safety
    ///
    /// `set` must be a tag set created by [`TagSet::new`] for `T`.
    unsafe fn set_data<'a>(set: *mut bindings::blk_mq_tag_set) -> &'a T::SetData {
        // SAFETY: `driver_data` points to the `T::SetData` that lives as long as the set.
        unsafe { &*(*set).driver_data.cast::<T::SetData>() }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a tag set created by [`TagSet::new`] for `T`.
    unsafe extern "C" fn queue_rq_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        bd: *const bindings::blk_mq_queue_data,
    ) -> bindings::blk_status_t {
        // SAFETY: blk-mq passes a live hardware context whose `driver_data` was set in
        // `init_hctx` to a `T::HwQueue` that lives as long as the tag set, and a live queue whose
        // `queuedata` is the disk's `T::Disk` (set in `Disk::new`, freed after `del_gendisk`).
        let (set, hwq, disk, rq, last) = unsafe {
            (
                Self::set_data((*(*hctx).queue).tag_set),
                &*(*hctx).driver_data.cast::<T::HwQueue>(),
                &*(*(*hctx).queue).queuedata.cast::<T::Disk>(),
                Request::from_raw((*bd).rq),
                (*bd).last,
            )
        };
        T::queue_rq(set, hwq, disk, rq, last).0
    }

    /// Issues a plugged list of requests (`queue_rqs`): each through [`Operations::queue_rq`]
    /// as not the last of its batch, with one [`Operations::commit_rqs`] per run of requests
    /// for the same hardware queue. Requests the driver could not issue stay on the list, and
    /// blk-mq then issues them one by one.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only, with a list of requests of queues of this tag set whose
    /// hardware contexts were set up by `init_hctx`.
    unsafe extern "C" fn queue_rqs_callback(rqlist: *mut bindings::rq_list) {
        let mut left = bindings::rq_list {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        };
        let mut prev: Option<&T::HwQueue> = None;
        loop {
            // SAFETY: `rqlist` is blk-mq's list of requests, ours for the call.
            let rq = unsafe { rq_list_pop(rqlist) };
            if rq.is_null() {
                break;
            }
            // SAFETY: as in `queue_rq_callback`, for the request's own hardware context and
            // queue, which blk-mq set up before putting the request on the list.
            let (set, hwq, disk, request) = unsafe {
                let hctx = (*rq).mq_hctx;
                (
                    Self::set_data((*(*hctx).queue).tag_set),
                    &*(*hctx).driver_data.cast::<T::HwQueue>(),
                    &*(*(*hctx).queue).queuedata.cast::<T::Disk>(),
                    Request::from_raw(rq),
                )
            };
            if let Some(p) = prev {
                if !ptr::eq(p, hwq) {
                    T::commit_rqs(p);
                }
            }
            prev = Some(hwq);
            if !T::queue_rq(set, hwq, disk, request, false).is_ok() {
                // SAFETY: `left` is our list; the request was not issued, so it is still
                // blk-mq's, off any other list, and its link is free.
                unsafe { rq_list_add_tail(&raw mut left, rq) };
            }
        }
        if let Some(p) = prev {
            T::commit_rqs(p);
        }
        // SAFETY: as above; what is left goes back to blk-mq.
        unsafe { *rqlist = left };
    }

    /// # Safety
    ///
    /// Called by blk-mq only, with a context set up by `init_hctx`.
    unsafe extern "C" fn commit_rqs_callback(hctx: *mut bindings::blk_mq_hw_ctx) {
        // SAFETY: as in `queue_rq_callback`.
        let hwq = unsafe { &*(*hctx).driver_data.cast::<T::HwQueue>() };
        T::commit_rqs(hwq);
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a request completed with `blk_mq_complete_request`.
    unsafe extern "C" fn complete_callback(rq: *mut bindings::request) {
        // SAFETY: `rq` is a live request of a queue of this tag set; `mq_hctx->queue->tag_set`
        // leads back to the set whose data outlives its requests.
        let (rq, data) = unsafe {
            let set = (*(*rq).q).tag_set;
            (Request::from_raw(rq), Self::set_data(set))
        };
        T::complete(data, rq);
    }

    /// # Safety
    ///
    /// Called by blk-mq only, with `data` = the set's `driver_data`.
    unsafe extern "C" fn init_hctx_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        data: *mut c_void,
        index: u32,
    ) -> i32 {
        // SAFETY: `data` is the set's `T::SetData` (see `new`).
        let set = unsafe { &*data.cast::<T::SetData>() };
        match T::hw_queue(set, index) {
            Some(hwq) => {
                // SAFETY: `hctx` is live; `tags` is set before `init_hctx` is called.
                unsafe {
                    T::set_tags(hwq, Tags((*hctx).tags));
                    (*hctx).driver_data = ptr::from_ref(hwq).cast_mut().cast();
                }
                0
            }
            None => EINVAL.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a request of a tag set created by `new`.
    unsafe extern "C" fn init_request_callback(
        set: *mut bindings::blk_mq_tag_set,
        rq: *mut bindings::request,
        _hctx_idx: u32,
        _numa_node: i32,
    ) -> i32 {
        // SAFETY: `set` is our tag set; `rq` is a newly allocated request of it.
        let (data, rq) = unsafe { (Self::set_data(set), Request::from_raw(rq)) };
        T::init_request(data, rq);
        0
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a started request of a tag set created by `new`.
    unsafe extern "C" fn timeout_callback(
        rq: *mut bindings::request,
    ) -> bindings::blk_eh_timer_return {
        // SAFETY: `rq` is a live, started request; its hardware context was set up by
        // `init_hctx` and its queue belongs to our tag set.
        let (set, hwq, rq) = unsafe {
            (
                Self::set_data((*(*rq).q).tag_set),
                &*(*(*rq).mq_hctx).driver_data.cast::<T::HwQueue>(),
                Request::from_raw(rq),
            )
        };
        match T::timeout(set, hwq, rq) {
            TimeoutAction::Done => bindings::blk_eh_timer_return_BLK_EH_DONE,
            TimeoutAction::ResetTimer => bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER,
        }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a hardware context set up by `init_hctx`.
    unsafe extern "C" fn poll_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        iob: *mut bindings::io_comp_batch,
    ) -> i32 {
        // SAFETY: `hctx` is live and was set up by `init_hctx`; its queue belongs to our set.
        // `iob`, when not null, is the poller's batch, used by this thread only during the call.
        let (set, hwq, batch) = unsafe {
            (
                Self::set_data((*(*hctx).queue).tag_set),
                &*(*hctx).driver_data.cast::<T::HwQueue>(),
                CompBatch::from_raw(iob),
            )
        };
        T::poll(set, hwq, batch)
    }

    /// Ends a batch of requests of this tag set: releases each one's resources through
    /// [`Operations::complete_batched`], then ends them together (`blk_mq_end_request_batch()`).
    ///
    /// # Safety
    ///
    /// Called through `iob->complete` only, for a batch filled by [`CompBatch::add`] with this
    /// function.
    unsafe extern "C" fn complete_batch_callback(iob: *mut bindings::io_comp_batch) {
        // SAFETY: every request on the list completed successfully and belongs to a tag set of
        // `T` (type invariant of `CompBatch`); the list is only read until it is handed to
        // `blk_mq_end_request_batch`, which ends every request and empties it.
        unsafe {
            let mut rq = (*iob).req_list.head;
            while !rq.is_null() {
                let next = (*rq).__bindgen_anon_1.rq_next;
                T::complete_batched(Self::set_data((*(*rq).q).tag_set), Request::from_raw(rq));
                rq = next;
            }
            bindings::blk_mq_end_request_batch(iob);
        }
    }

    /// A handle for recovery code that must reach the whole tag set.
    pub(crate) fn handle(&self) -> TagSetRef {
        TagSetRef(self.as_raw())
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a tag set created by `new`.
    unsafe extern "C" fn map_queues_callback(set: *mut bindings::blk_mq_tag_set) {
        // SAFETY: `set` is our tag set; its maps are valid during `map_queues`.
        let data = unsafe { Self::set_data(set) };
        let mut maps = QueueMaps {
            set,
            _p: PhantomData,
        };
        T::map_queues(data, &mut maps);
    }
}

#[pinned_drop]
impl<T: Operations> PinnedDrop for TagSet<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: the set is allocated (type invariant) and no disk uses it any more.
        unsafe { bindings::blk_mq_free_tag_set(self.as_raw()) };
    }
}

// ---------------------------------------------------------------------------------------------
// Disks.

/// Queue limits of a disk, from the namespace and controller.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Logical block size in bytes.
    pub(crate) logical_block_size: u32,
    /// Physical block size in bytes.
    pub(crate) physical_block_size: u32,
    /// Largest request in 512-byte sectors.
    pub(crate) max_hw_sectors: u32,
    /// Most data segments in one request.
    pub(crate) max_segments: u16,
    /// Segments may not straddle this boundary mask (PRP: controller page size - 1).
    pub(crate) virt_boundary_mask: u64,
    /// Required buffer alignment mask.
    pub(crate) dma_alignment: u32,
    /// The device has a volatile write cache.
    pub(crate) write_cache: bool,
    /// The device honours FUA.
    pub(crate) fua: bool,
    /// Largest discard in sectors; 0 when unsupported.
    pub(crate) max_discard_sectors: u32,
    /// Most ranges in one discard request.
    pub(crate) max_discard_segments: u16,
    /// Discard granularity in bytes.
    pub(crate) discard_granularity: u32,
    /// Largest write-zeroes in sectors; 0 when unsupported.
    pub(crate) max_write_zeroes_sectors: u32,
    /// Largest atomic write in bytes; 0 when atomic writes are not offered.
    pub(crate) atomic_write_max: u32,
    /// Atomic writes may not cross a multiple of this many bytes (0: no boundary).
    pub(crate) atomic_write_boundary: u32,
}

/// The block layer's queue limits for `limits`.
fn queue_limits(limits: &Limits) -> bindings::queue_limits {
    let mut lim: bindings::queue_limits = pin_init::zeroed();
    set_queue_limits(&mut lim, limits);
    lim
}

/// Sets the fields of `lim` that `limits` describes, clearing the optional ones (atomic
/// writes, write cache, FUA) that `limits` does not offer; the block layer derives the rest
/// when it validates them.
fn set_queue_limits(lim: &mut bindings::queue_limits, limits: &Limits) {
    lim.features &= !(BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA | BLK_FEAT_ATOMIC_WRITES);
    lim.atomic_write_hw_max = 0;
    lim.atomic_write_hw_boundary = 0;
    lim.atomic_write_hw_unit_min = 0;
    lim.atomic_write_hw_unit_max = 0;
    lim.logical_block_size = limits.logical_block_size;
    lim.physical_block_size = limits.physical_block_size;
    lim.io_min = limits.physical_block_size;
    lim.max_hw_sectors = limits.max_hw_sectors;
    lim.max_segments = limits.max_segments;
    lim.max_segment_size = u32::MAX;
    // CAST: `unsigned long` is 64 bits on the 64-bit kernels this module builds for.
    lim.virt_boundary_mask = limits.virt_boundary_mask as usize;
    lim.dma_alignment = limits.dma_alignment;
    lim.max_hw_discard_sectors = limits.max_discard_sectors;
    lim.max_discard_segments = limits.max_discard_segments;
    lim.discard_granularity = limits.discard_granularity;
    lim.max_write_zeroes_sectors = limits.max_write_zeroes_sectors;
    if limits.atomic_write_max != 0 {
        lim.atomic_write_hw_max = limits.atomic_write_max;
        lim.atomic_write_hw_boundary = limits.atomic_write_boundary;
        lim.atomic_write_hw_unit_min = limits.logical_block_size;
        // The largest power of two not above the maximum (`rounddown_pow_of_two`).
        lim.atomic_write_hw_unit_max = 1 << limits.atomic_write_max.ilog2();
        lim.features |= BLK_FEAT_ATOMIC_WRITES;
    }
    if limits.write_cache {
        lim.features |= BLK_FEAT_WRITE_CACHE;
        if limits.fua {
            lim.features |= BLK_FEAT_FUA;
        }
    }
}

/// A block device added to the system (`struct gendisk`).
///
/// The gendisk may outlive this value: a descriptor open on the disk or one of its partitions
/// keeps it (and its request queue) after `del_gendisk`. So the disk's data is reference
/// counted: `queuedata` and `private_data` point to it, and the gendisk owns one reference of
/// its own, dropped by `free_disk` when the last gendisk reference goes.
///
/// # Invariants
///
/// `gendisk` was allocated on `set` with `queuedata` and `private_data` pointing to `data`,
/// `private_data` owning one reference (from [`Arc::into_raw`]), and added with
/// `device_add_disk`; `Drop` removes it and drops this value's gendisk reference.
pub(crate) struct Disk<T: Operations> {
    gendisk: NonNull<bindings::gendisk>,
    /// The disk's data (`queuedata`, `private_data`).
    data: Arc<T::Disk>,
    _set: Arc<Pin<KBox<TagSet<T>>>>,
}

// SAFETY: the gendisk is internally synchronised by the block layer.
unsafe impl<T: Operations> Send for Disk<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for Disk<T> {}

/// The request queue of one of our disks, as an ioctl on the disk sees it: for passthrough
/// requests.
///
/// # Invariants
///
/// The queue belongs to an open disk of this driver, which keeps it alive while the ioctl
/// runs (the handle is not kept beyond it).
#[derive(Clone, Copy)]
pub(crate) struct DiskQueue(NonNull<bindings::request_queue>);

impl DiskQueue {
    /// Allocates a driver-private request on the queue (`blk_mq_alloc_request()` with
    /// `REQ_OP_DRV_OUT` when `to_device`, else `REQ_OP_DRV_IN`), waiting for a free tag.
    pub(crate) fn alloc_passthru<'a>(self, to_device: bool) -> Result<PassthruRq<'a>> {
        let op = if to_device {
            bindings::req_op_REQ_OP_DRV_OUT
        } else {
            bindings::req_op_REQ_OP_DRV_IN
        };
        // SAFETY: the queue is live (type invariant); flags 0 may sleep for a tag, which is
        // fine in an ioctl.
        let rq = from_err_ptr(unsafe { bindings::blk_mq_alloc_request(self.0.as_ptr(), op, 0) })?;
        // INVARIANT: allocated above, not yet freed.
        Ok(PassthruRq {
            rq: NonNull::new(rq).ok_or(ENOMEM)?,
            user_bio: None,
            _buf: PhantomData,
        })
    }
}

/// A passthrough request the driver allocated, freed on drop (`blk_mq_free_request()`).
///
/// # Invariants
///
/// `rq` is an allocated request of a queue that outlives this value; a data buffer mapped into
/// it lives for `'a`.
pub(crate) struct PassthruRq<'a> {
    rq: NonNull<bindings::request>,
    /// The bios of a user buffer mapped with [`PassthruRq::map_user`], until unmapped.
    user_bio: Option<NonNull<bindings::bio>>,
    _buf: PhantomData<&'a mut [u8]>,
}

impl<'a> PassthruRq<'a> {
    /// The request, e.g. to fill in its per-request data before [`PassthruRq::execute`].
    pub(crate) fn request(&self) -> &Request {
        // SAFETY: allocated and owned by this value (type invariant).
        unsafe { Request::from_raw(self.rq.as_ptr()) }
    }

    /// Attaches `buf` as the request's data (`blk_rq_map_kern()`): it is mapped, or copied
    /// through a bounce buffer when its alignment does not suit the queue. For the KUnit tests
    /// of the data path (passthrough maps the caller's memory, [`PassthruRq::map_user`]).
    #[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
    pub(crate) fn map_kernel(&mut self, buf: &'a mut [u8]) -> Result {
        let len = u32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: the request is allocated and not started; `buf` is valid for `len` bytes and
        // outlives the request's use of it (`'a`, type invariant), and nothing else accesses
        // it until the request is freed.
        to_result(unsafe {
            bindings::blk_rq_map_kern(
                self.rq.as_ptr(),
                buf.as_mut_ptr().cast(),
                len,
                bindings::GFP_KERNEL,
            )
        })
    }

    /// Attaches `len` bytes of the calling process's memory at `addr` as the request's data
    /// (`blk_rq_map_user()`), as the C driver maps passthrough buffers: the pages are pinned
    /// and mapped where their alignment suits the queue, else copied through pages the block
    /// layer allocates (and copied back by [`PassthruRq::unmap_user`]). Either way the device
    /// transfers to or from memory of at least `len` bytes that belongs to the caller or to
    /// this request, never to anything else in the kernel. Fails with `EFAULT` for a bad
    /// address.
    pub(crate) fn map_user(&mut self, addr: usize, len: u32) -> Result {
        if self.user_bio.is_some() || len == 0 {
            return Err(EINVAL);
        }
        // SAFETY: the request is allocated and not started (type invariant), with no data
        // mapped yet; `addr` is a user address, checked and pinned by the block layer.
        to_result(unsafe {
            bindings::blk_rq_map_user(
                (*self.rq.as_ptr()).q,
                self.rq.as_ptr(),
                ptr::null_mut(),
                addr as *mut c_void,
                // CAST: `unsigned long` holds a `u32`.
                len as usize,
                bindings::GFP_KERNEL,
            )
        })?;
        // SAFETY: mapped above, so `bio` heads the request's bios.
        self.user_bio = NonNull::new(unsafe { (*self.rq.as_ptr()).bio });
        Ok(())
    }

    /// Releases the user buffer of [`PassthruRq::map_user`] once the request ended: unpins
    /// its pages, or copies a bounce buffer back to the caller (`blk_rq_unmap_user()`).
    /// Fails with `EFAULT` when that copy fails.
    pub(crate) fn unmap_user(&mut self) -> Result {
        match self.user_bio.take() {
            // SAFETY: the bios `blk_rq_map_user` gave this request, not unmapped since; the
            // request has ended (or never started), so the device is done with the pages.
            Some(bio) => to_result(unsafe { bindings::blk_rq_unmap_user(bio.as_ptr()) }),
            None => Ok(()),
        }
    }

    /// Sets the request's timeout (0: the queue's default).
    pub(crate) fn set_timeout_ms(&mut self, ms: u32) {
        if ms != 0 {
            // SAFETY: the request is ours and not started.
            unsafe {
                (*self.rq.as_ptr()).timeout = bindings::__msecs_to_jiffies(ms)
                    .try_into()
                    .unwrap_or(u32::MAX)
            };
        }
    }

    /// Issues the request and waits for it to end (`blk_execute_rq()`).
    pub(crate) fn execute(&mut self) -> BlkStatus {
        // SAFETY: the request is ours, set up and not started; this sleeps until it ended.
        BlkStatus(unsafe { bindings::blk_execute_rq(self.rq.as_ptr(), false) })
    }
}

impl Drop for PassthruRq<'_> {
    fn drop(&mut self) {
        // A request that failed before it was issued, or whose caller did not unmap it.
        let _ = self.unmap_user();
        // SAFETY: allocated by `alloc_passthru` and ended or never issued (type invariant).
        unsafe { bindings::blk_mq_free_request(self.rq.as_ptr()) };
    }
}

/// The block device operations of every disk: blk-mq does the I/O. `owner` makes an open
/// disk hold a reference on the module (`rmmod` is refused meanwhile), `free_disk` drops the
/// gendisk's reference on the disk's data when the last gendisk reference goes, and `ioctl`
/// answers the NVMe passthrough ioctls.
struct Fops(bindings::block_device_operations);

// SAFETY: the table is immutable; the raw pointers in it refer to this module, which outlives
// every disk.
unsafe impl Sync for Fops {}

impl<T: Operations> Disk<T> {
    /// The operations of `T`'s disks.
    const FOPS: Fops = Fops(bindings::block_device_operations {
        submit_bio: None,
        open: None,
        release: None,
        ioctl: Some(disk_ioctl_callback::<T>),
        compat_ioctl: None,
        check_events: None,
        unlock_native_capacity: None,
        getgeo: None,
        set_read_only: None,
        swap_slot_free_notify: None,
        report_zones: None,
        devnode: None,
        alternative_gpt_sector: None,
        get_unique_id: None,
        owner: kver::this_module(),
        pr_ops: ptr::null(),
        free_disk: Some(free_disk_callback::<T>),
        poll_bio: None,
    });

    /// The `'static` table of [`Self::FOPS`].
    const fn fops() -> &'static bindings::block_device_operations {
        &Self::FOPS.0
    }
}

/// `free_disk` of our disks: the last reference on the gendisk went, so nothing can reach its
/// data through it any more; drops the reference `private_data` owned.
///
/// # Safety
///
/// Called by the block layer only, once, for a disk allocated and added by [`Disk::new`].
unsafe extern "C" fn free_disk_callback<T: Operations>(gd: *mut bindings::gendisk) {
    // SAFETY: `private_data` came from `Arc::into_raw` in `Disk::new` (type invariant of
    // `Disk`), and `free_disk` runs once, after every other user of the gendisk is gone.
    drop(unsafe { Arc::from_raw((*gd).private_data.cast::<T::Disk>()) });
}

impl<T: Operations> Disk<T> {
    /// Allocates a disk on `set`, named `name`, of `capacity` 512-byte sectors, with `limits`,
    /// as a child of `parent`, and adds it to the system.
    pub(crate) fn new(
        set: &Arc<Pin<KBox<TagSet<T>>>>,
        data: Arc<T::Disk>,
        name: fmt::Arguments<'_>,
        capacity: u64,
        limits: &Limits,
        parent: &device::Device,
    ) -> Result<Self> {
        let mut lim = queue_limits(limits);
        // The reference `private_data` owns (see the type invariant).
        let qdata = Arc::into_raw(data.clone()).cast_mut().cast::<c_void>();
        let own = kernel::types::ScopeGuard::new(move || {
            // SAFETY: `qdata` came from `Arc::into_raw` above and no gendisk that could have
            // freed it was added.
            drop(unsafe { Arc::from_raw(qdata.cast_const().cast::<T::Disk>()) });
        });
        // SAFETY: `set` is an allocated tag set; `lim` is a valid limits structure; `qdata`
        // lives as long as the disk (it is held in `Self`); the key is static.
        let gd = from_err_ptr(unsafe {
            bindings::__blk_mq_alloc_disk(
                set.as_raw(),
                &mut lim,
                qdata,
                static_lock_class!().as_ptr(),
            )
        })?;
        // SAFETY: `__blk_mq_alloc_disk` returned a valid gendisk.
        let gendisk = unsafe { NonNull::new_unchecked(gd) };
        // SAFETY: the disk is not added yet, so we own it exclusively. `free_disk` runs only for
        // an added disk: until then `own` is responsible for the reference.
        unsafe { (*gd).private_data = qdata };
        let guard = kernel::types::ScopeGuard::new(move || {
            // SAFETY: the disk was allocated above and never added.
            unsafe { bindings::put_disk(gd) };
        });

        // SAFETY: the disk is not added yet, so we own it exclusively.
        let name_buf: &mut [u8] = unsafe { &mut (*gd).disk_name };
        let mut w = kernel::str::NullTerminatedFormatter::new(name_buf).ok_or(EINVAL)?;
        fmt::Write::write_fmt(&mut w, name).map_err(|_| EINVAL)?;
        // SAFETY: as above; `set_capacity` takes the disk's own lock.
        unsafe {
            (*gd).fops = Self::fops();
            bindings::set_capacity(gd, capacity);
        }
        // The groups table is static and only read by the block layer.
        let groups = ptr::addr_of!(DISK_GROUPS.0).cast::<*const bindings::attribute_group>();
        // SAFETY: `gd` is a fully set up disk; `parent` is a live device that outlives it; the
        // attribute groups are static.
        to_result(unsafe { bindings::device_add_disk(raw_dev(parent), gd, groups.cast_mut()) })?;
        guard.dismiss();
        // From here `free_disk` drops the reference.
        own.dismiss();
        // INVARIANT: allocated on `set` with `queuedata` and `private_data` set to `data` (the
        // latter owning a reference) and added above.
        Ok(Self {
            gendisk,
            data,
            _set: set.clone(),
        })
    }
}

impl<T: Operations> Disk<T> {
    /// The disk's data.
    pub(crate) fn data(&self) -> &T::Disk {
        &self.data
    }

    /// The request queue of the disk.
    fn queue(&self) -> *mut bindings::request_queue {
        // SAFETY: the gendisk is live while `self` is (type invariant); its queue is set at
        // allocation and never changes.
        unsafe { (*self.gendisk.as_ptr()).queue }
    }

    /// Changes the disk's format while no I/O runs: waits for every request on the disk to end
    /// and holds new ones back (`blk_mq_freeze_queue`), applies `limits` (the block sizes and
    /// transfer limits blk-mq splits and checks requests by) and `capacity` in 512-byte
    /// sectors (`set_capacity_and_notify`, which tells user space when it changed), and runs
    /// `during` before I/O resumes (the driver's own view of the format).
    ///
    /// As the C driver does, the limits lock is taken before the queue is frozen. Nesting in
    /// a [`FrozenDisks`] of the same disk is allowed.
    pub(crate) fn update(&self, capacity: u64, limits: &Limits, during: impl FnOnce()) -> Result {
        let q = self.queue();
        // SAFETY: `q` is the live queue of an added disk (type invariant); `limits_lock` guards
        // `q->limits`, which we copy and commit back; `queue_limits_commit_update` unlocks it.
        // The queue is frozen around the commit, so no request is being built or issued while
        // the limits and the driver's format change.
        unsafe {
            bindings::mutex_lock(&raw mut (*q).limits_lock);
            let mut lim = (*q).limits;
            bindings::blk_mq_freeze_queue_nomemsave(q);
            set_queue_limits(&mut lim, limits);
            let ret = to_result(bindings::queue_limits_commit_update(q, &mut lim));
            if ret.is_ok() {
                during();
                bindings::set_capacity_and_notify(self.gendisk.as_ptr(), capacity);
            }
            bindings::blk_mq_unfreeze_queue_nomemrestore(q);
            ret
        }
    }

    /// Takes every request off the disk without removing it: sets its capacity to 0 (new I/O
    /// fails) after draining what is in flight. For a namespace whose format the driver cannot
    /// serve any more, before its disk is removed.
    pub(crate) fn fence(&self) {
        let q = self.queue();
        // SAFETY: as in `update`; freezing drains the queue, capacity 0 fails later I/O.
        unsafe {
            bindings::blk_mq_freeze_queue_nomemsave(q);
            bindings::set_capacity_and_notify(self.gendisk.as_ptr(), 0);
            bindings::blk_mq_unfreeze_queue_nomemrestore(q);
        }
    }
}

/// Disks whose I/O is frozen: every request on them has ended and new ones wait, until this
/// value is dropped. For commands that change namespaces under the disks (Format NVM,
/// Sanitize), as the C driver's `nvme_start_freeze`/`nvme_wait_freeze`.
///
/// # Invariants
///
/// Each queue in `queues` belongs to a disk that stays added while this value lives, and was
/// frozen once by [`FrozenDisks::new`] (the non-owner variant: lockdep would take one task
/// freezing several queues of one class for recursive locking).
pub(crate) struct FrozenDisks {
    queues: KVec<*mut bindings::request_queue>,
}

impl FrozenDisks {
    /// Freezes every disk of `disks`: starts all freezes first, then waits for each.
    ///
    /// The caller keeps the disks added until the result is dropped.
    pub(crate) fn new<'a, T: Operations + 'a>(
        disks: impl Iterator<Item = &'a Disk<T>> + Clone,
    ) -> Result<Self> {
        let mut queues = KVec::new();
        for d in disks.clone() {
            queues.push(d.queue(), GFP_KERNEL)?;
        }
        for &q in queues.iter() {
            // SAFETY: the queue of a live disk (caller's guarantee); undone in `drop`.
            unsafe { bindings::blk_freeze_queue_start_non_owner(q) };
        }
        for &q in queues.iter() {
            // SAFETY: as above; the queue's freeze was started.
            unsafe { bindings::blk_mq_freeze_queue_wait(q) };
        }
        // INVARIANT: each queue frozen once above.
        Ok(Self { queues })
    }
}

impl Drop for FrozenDisks {
    fn drop(&mut self) {
        for &q in self.queues.iter() {
            // SAFETY: frozen once by `new`, on a disk still added (type invariant).
            unsafe { bindings::blk_mq_unfreeze_queue_non_owner(q) };
        }
    }
}

impl<T: Operations> Drop for Disk<T> {
    fn drop(&mut self) {
        // SAFETY: the disk was added (type invariant); `del_gendisk` drains and removes it,
        // then `put_disk` drops our reference. The data outlives both calls: the gendisk owns a
        // reference, dropped in `free_disk`.
        unsafe {
            bindings::del_gendisk(self.gendisk.as_ptr());
            bindings::put_disk(self.gendisk.as_ptr());
        }
    }
}

/// `BLK_FEAT_WRITE_CACHE`: the device has a volatile write cache.
const BLK_FEAT_WRITE_CACHE: u32 = 1 << 0;
/// `BLK_FEAT_FUA`: the device honours forced unit access.
const BLK_FEAT_FUA: u32 = 1 << 1;
/// `BLK_FEAT_ATOMIC_WRITES`: the device offers untorn writes up to the atomic limits.
const BLK_FEAT_ATOMIC_WRITES: u32 = 1 << 14;

/// A handle on a tag set for controller recovery: quiesce, cancel, wait.
///
/// # Invariants
///
/// Points to a tag set allocated by [`TagSet::new`]; users guarantee (see each method) that the
/// tag set is still allocated when they use the handle.
#[derive(Clone, Copy)]
pub(crate) struct TagSetRef(*mut bindings::blk_mq_tag_set);

// SAFETY: the handle is a plain pointer; blk-mq synchronises the operations below internally.
unsafe impl Send for TagSetRef {}
// SAFETY: as above.
unsafe impl Sync for TagSetRef {}

impl TagSetRef {
    /// Stops dispatch to every queue of the set and waits for running `queue_rq` calls
    /// (`blk_mq_quiesce_tagset()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated; the caller may sleep.
    pub(crate) unsafe fn quiesce(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_quiesce_tagset(self.0) };
    }

    /// Restarts dispatch (`blk_mq_unquiesce_tagset()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated and quiesced by [`TagSetRef::quiesce`].
    pub(crate) unsafe fn unquiesce(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_unquiesce_tagset(self.0) };
    }

    /// Calls `f` on every started request of the set (`blk_mq_tagset_busy_iter()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated.
    pub(crate) unsafe fn for_each_busy(self, mut f: impl FnMut(&Request)) {
        let mut f: &mut dyn FnMut(&Request) = &mut f;
        // SAFETY: the tag set is allocated; `busy_callback` casts `data` back to the
        // `&mut dyn FnMut` that lives on this stack frame for the whole call.
        unsafe {
            bindings::blk_mq_tagset_busy_iter(
                self.0,
                Some(busy_callback),
                ptr::from_mut(&mut f).cast::<c_void>(),
            )
        };
    }

    /// Waits until requests completed by recovery have been ended
    /// (`blk_mq_tagset_wait_completed_request()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated; the caller may sleep.
    pub(crate) unsafe fn wait_completed(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_tagset_wait_completed_request(self.0) };
    }
}

/// # Safety
///
/// Only passed to `blk_mq_tagset_busy_iter` by [`TagSetRef::for_each_busy`].
unsafe extern "C" fn busy_callback(rq: *mut bindings::request, data: *mut c_void) -> bool {
    // SAFETY: `data` is the `&mut dyn FnMut` of `for_each_busy`; `rq` is a started request that
    // blk-mq keeps alive during the iteration.
    unsafe {
        let f = &mut *data.cast::<&mut dyn FnMut(&Request)>();
        f(Request::from_raw(rq));
    }
    true
}

/// Cancels `work` and waits for a running instance to finish (`cancel_work_sync()`).
pub(crate) fn cancel_work_sync<T: ?Sized, const ID: u64>(work: &kernel::workqueue::Work<T, ID>) {
    // SAFETY: `work` is a live, initialised work item; `raw_get` gives its `work_struct`.
    unsafe { bindings::cancel_work_sync(kernel::workqueue::Work::raw_get(work)) };
}

/// The default system workqueue for work that may run on any CPU (`system_dfl_wq`).
pub(crate) fn system_dfl_wq() -> &'static kernel::workqueue::Queue {
    // SAFETY: `system_dfl_wq` is a C global set up at boot and never freed.
    unsafe { kernel::workqueue::Queue::from_raw(bindings::system_dfl_wq) }
}

/// Fails with `EACCES` unless the caller has `CAP_SYS_ADMIN` (admin passthrough and reset).
pub(crate) fn require_sys_admin() -> Result {
    // CAST: capability numbers are small constants.
    // SAFETY: `capable` only looks at the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EACCES)
    }
}

/// `ioctl` of our disks, answered by [`Operations::disk_ioctl`].
///
/// # Safety
///
/// Called by the block layer only, for an open node of a disk allocated by [`Disk::new`].
unsafe extern "C" fn disk_ioctl_callback<T: Operations>(
    bdev: *mut bindings::block_device,
    mode: bindings::blk_mode_t,
    cmd: u32,
    arg: usize,
) -> i32 {
    // SAFETY: `bdev` is an open node of one of our disks; the gendisk lives while it is open,
    // and its `private_data` owns a reference on the disk's data until `free_disk`, which
    // cannot run while the node is open (type invariant of `Disk`), even after the disk was
    // removed.
    let (gd, data) = unsafe {
        let gd = (*bdev).bd_disk;
        (gd, &*(*gd).private_data.cast::<T::Disk>())
    };
    let node = IoctlNode {
        // SAFETY: as above, the disk is open, so its queue is live for the ioctl.
        queue: DiskQueue(unsafe { NonNull::new_unchecked((*gd).queue) }),
        // A partition's `block_device` is not the whole disk's (`bdev_is_partition()`).
        // SAFETY: `part0` is set at allocation and never changes.
        partition: !ptr::eq(bdev, unsafe { (*gd).part0 }),
        // `BLK_OPEN_WRITE` (a macro with a cast, which bindgen does not translate).
        writable: mode & (1 << 1) != 0,
    };
    match T::disk_ioctl(data, node, cmd, arg) {
        // CAST: ioctl results (an NVMe status or a namespace id) fit in an int.
        Ok(v) => v as i32,
        Err(e) => e.to_errno(),
    }
}

// ---------------------------------------------------------------------------------------------
// sysfs attributes of the controller char device and of the disks.

/// Where a sysfs `show` callback writes its value: the page sysfs hands it.
pub(crate) struct SysfsWriter {
    buf: *mut u8,
    pos: usize,
}

/// Bytes of the sysfs page a value may use (one page, the last byte kept for a NUL).
const SYSFS_PAGE: usize = 4096 - 1;

impl fmt::Write for SysfsWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(SYSFS_PAGE - self.pos);
        // SAFETY: `buf` is the PAGE_SIZE buffer of a `show` call and `pos + n <= SYSFS_PAGE`.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.pos), n) };
        self.pos += n;
        Ok(())
    }
}

/// A `show` callback of the driver: index of the attribute, the data, the output.
type ShowResult = core::result::Result<(), fmt::Error>;

/// Builds a read-only (0444) device attribute.
const fn dev_attr(
    name: &'static CStr,
    show: unsafe extern "C" fn(
        *mut bindings::device,
        *mut bindings::device_attribute,
        *mut u8,
    ) -> isize,
) -> bindings::device_attribute {
    let mut a: bindings::device_attribute = pin_init::zeroed();
    a.attr.name = kernel::str::as_char_ptr_in_const_context(name);
    a.attr.mode = 0o444;
    a.__bindgen_anon_1.show = Some(show);
    a
}

/// Static attribute tables: immutable, pointing to each other and to this module's code.
#[repr(transparent)]
struct Static<T>(T);

// SAFETY: the tables are never written after initialisation (sysfs only reads them).
unsafe impl<T> Sync for Static<T> {}

/// Runs `f` on a `show` call's page and returns the number of bytes written.
fn emit(buf: *mut u8, f: impl FnOnce(&mut SysfsWriter) -> ShowResult) -> isize {
    let mut w = SysfsWriter { buf, pos: 0 };
    match f(&mut w) {
        // CAST: at most a page.
        Ok(()) => w.pos as isize,
        Err(_) => EIO.to_errno() as isize,
    }
}

/// # Safety
///
/// Only installed on the `this_device` of a [`crate::chardev::CtrlChar`] misc device, with
/// `buf` a sysfs page.
unsafe extern "C" fn ctrl_show<const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `misc_register` sets the misc device's `struct miscdevice` as the driver data
    // of `this_device`; the attributes are removed before the misc device is deregistered.
    let misc = unsafe { (*dev).driver_data }.cast_const();
    // SAFETY: as above, `misc` is the registration of a live `CtrlChar`.
    emit(buf, |w| unsafe {
        crate::chardev::ctrl_attr_show(misc, I, w)
    })
}

static CTRL_ATTRS: Static<[bindings::device_attribute; 6]> = Static([
    dev_attr(c"model", ctrl_show::<0>),
    dev_attr(c"serial", ctrl_show::<1>),
    dev_attr(c"firmware_rev", ctrl_show::<2>),
    dev_attr(c"state", ctrl_show::<3>),
    dev_attr(c"queue_count", ctrl_show::<4>),
    dev_attr(c"sqsize", ctrl_show::<5>),
]);

static CTRL_ATTR_PTRS: Static<[*mut bindings::attribute; 7]> = Static([
    ptr::addr_of!(CTRL_ATTRS.0[0].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[1].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[2].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[3].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[4].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[5].attr).cast_mut(),
    ptr::null_mut(),
]);

static CTRL_GROUP: Static<bindings::attribute_group> = Static({
    let mut g: bindings::attribute_group = pin_init::zeroed();
    g.__bindgen_anon_2.attrs = ptr::addr_of!(CTRL_ATTR_PTRS.0)
        .cast::<*mut bindings::attribute>()
        .cast_mut();
    g
});

/// Adds the controller attributes to a char device's `this_device`.
pub(crate) fn add_ctrl_attrs(dev: &device::Device) -> Result {
    // SAFETY: `dev` is a live device; the group is static.
    to_result(unsafe { bindings::sysfs_create_group(&mut (*raw_dev(dev)).kobj, &CTRL_GROUP.0) })
}

/// Removes what [`add_ctrl_attrs`] added; after it returns no `show` call runs.
pub(crate) fn remove_ctrl_attrs(dev: &device::Device) {
    // SAFETY: `dev` is a live device; removing a group waits for running callbacks.
    unsafe { bindings::sysfs_remove_group(&mut (*raw_dev(dev)).kobj, &CTRL_GROUP.0) };
}

/// The namespace data of the disk whose device is `dev`.
///
/// # Safety
///
/// `dev` must be the device of one of our disks (its `struct block_device` `bd_device`).
unsafe fn disk_data<'a>(dev: *mut bindings::device) -> &'a <crate::io::NvmeMq as Operations>::Disk {
    // SAFETY: a disk's device is the `bd_device` of its whole-disk `block_device`, whose disk's
    // queue carries the namespace as `queuedata` for the disk's lifetime.
    unsafe {
        let bdev = kernel::container_of!(dev, bindings::block_device, bd_device);
        &*(*(*(*bdev).bd_disk).queue)
            .queuedata
            .cast::<<crate::io::NvmeMq as Operations>::Disk>()
    }
}

/// # Safety
///
/// Only installed on our disks, with `buf` a sysfs page.
unsafe extern "C" fn disk_show<const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `dev` is one of our disks (function safety requirement).
    let ns = unsafe { disk_data(dev) };
    emit(buf, |w| crate::io::disk_attr_show(ns, I, w))
}

/// # Safety
///
/// Only installed on our disks.
unsafe extern "C" fn disk_attr_visible(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    index: i32,
) -> bindings::umode_t {
    // SAFETY: the group is added to a disk's device, whose `kobj` this is.
    let ns = unsafe { disk_data(kernel::container_of!(kobj, bindings::device, kobj)) };
    match usize::try_from(index) {
        // SAFETY: `attr` is one of our static attributes.
        Ok(i) if crate::io::disk_attr_visible(ns, i) => unsafe { (*attr).mode },
        _ => 0,
    }
}

static DISK_ATTRS: Static<[bindings::device_attribute; 5]> = Static([
    dev_attr(c"nsid", disk_show::<0>),
    dev_attr(c"wwid", disk_show::<1>),
    dev_attr(c"eui", disk_show::<2>),
    dev_attr(c"nguid", disk_show::<3>),
    dev_attr(c"uuid", disk_show::<4>),
]);

static DISK_ATTR_PTRS: Static<[*mut bindings::attribute; 6]> = Static([
    ptr::addr_of!(DISK_ATTRS.0[0].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[1].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[2].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[3].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[4].attr).cast_mut(),
    ptr::null_mut(),
]);

static DISK_GROUP: Static<bindings::attribute_group> = Static({
    let mut g: bindings::attribute_group = pin_init::zeroed();
    g.__bindgen_anon_1.is_visible = Some(disk_attr_visible);
    g.__bindgen_anon_2.attrs = ptr::addr_of!(DISK_ATTR_PTRS.0)
        .cast::<*mut bindings::attribute>()
        .cast_mut();
    g
});

static DISK_GROUPS: Static<[*const bindings::attribute_group; 2]> =
    Static([ptr::addr_of!(DISK_GROUP.0), ptr::null()]);
