// SPDX-License-Identifier: GPL-2.0

//! A blk-mq request (`struct request`) borrowed in a callback: its operation, position,
//! flags, per-request data, start, end and completion. Upstream's `kernel::block::mq::Request`
//! has no per-request data of a chosen size and no access to flags, bios or timeouts.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::block::status::BlkStatus;
use core::{
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::Ordering, //
};
use kernel::{
    bindings,
    types::Opaque, //
};

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
    pub(in crate::glue) unsafe fn from_raw<'a>(ptr: *mut bindings::request) -> &'a Self {
        // SAFETY: `Request` is `#[repr(transparent)]` over the C structure and the caller
        // guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(in crate::glue) fn as_raw(&self) -> *mut bindings::request {
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

    pub(in crate::glue) fn rq_flags(&self) -> u32 {
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
