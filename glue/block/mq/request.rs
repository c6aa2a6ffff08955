// SPDX-License-Identifier: GPL-2.0

//! A blk-mq request (`struct request`) borrowed in a callback: its operation, position,
//! flags, typed per-request data, start, end and completion. Upstream's
//! `kernel::block::mq::Request<T>` keeps a reference count in the per-request data and has no
//! driver data beside it, no access to flags, bios or timeouts, and no way to end a request
//! other than whole.
//!
//! The per-request data area (`blk_mq_rq_to_pdu()`) holds a [`Pdu`]: the glue's completion
//! state, the driver's [`Operations::RequestData`], which any callback reads through
//! [`Request::data`] (shared: what the completion and timeout paths both touch is atomic),
//! and the driver's [`Operations::RequestOwned`], reached only through an [`OwnedRequest`],
//! which the glue hands out where blk-mq gives the driver the request alone: in `queue_rq`,
//! in `complete` after the one completion the glue let through (see
//! [`Request::complete`]), and to the submitter of a passthrough request around its run.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use super::super::integrity::IntegrityChecks;
use crate::glue::DiskTarget;
use crate::glue::{
    block::{
        mq::operations::Operations,
        status::BlkStatus, //
    },
    kver,
};
use core::{
    cell::UnsafeCell,
    marker::PhantomData,
    ptr,
    sync::atomic::{
        AtomicU8,
        Ordering, //
    },
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
    /// Write at a zone's write pointer; the device says where (`REQ_OP_ZONE_APPEND`).
    ZoneAppend,
    /// Zone management of the zone at the request's sector: explicitly open it.
    ZoneOpen,
    /// ... close it.
    ZoneClose,
    /// ... make it full.
    ZoneFinish,
    /// ... reset its write pointer.
    ZoneReset,
    /// Reset every zone of the disk.
    ZoneResetAll,
    /// Anything else (zoned, secure erase, driver private).
    Other(u32),
}

/// A block-layer request of a tag set of `T`, borrowed for the duration of a blk-mq callback.
///
/// # Invariants
///
/// The wrapped `struct request` is owned by blk-mq and valid for as long as the reference is
/// live: from `queue_rq` until the driver ends it, or within `complete`/`timeout`. It belongs
/// to a tag set created by [`super::tag_set::TagSet::new`] for `T`, so its per-request data
/// area holds an initialised [`Pdu<T>`].
#[repr(transparent)]
pub(crate) struct Request<T: Operations>(Opaque<bindings::request>, PhantomData<T>);

/// Completion state: the driver has not issued the request (or it came back to the driver).
const IDLE: u8 = 0;
/// Completion state: the device may complete the request ([`Request::start`] was called).
const IN_FLIGHT: u8 = 1;
/// Completion state: a completion was let through ([`Request::complete`]); blk-mq calls the
/// driver's `complete` next, or a completion batch ends it.
const COMPLETING: u8 = 2;

/// What blk-mq's per-request data area holds for a tag set of `T`.
#[repr(C)]
pub(crate) struct Pdu<T: Operations> {
    /// `IDLE`, `IN_FLIGHT` or `COMPLETING`: lets exactly one completion through per issue.
    state: AtomicU8,
    /// The driver's shared per-request data.
    data: T::RequestData,
    /// The driver's owned per-request data, reached only through an [`OwnedRequest`].
    owned: UnsafeCell<T::RequestOwned>,
}

impl<T: Operations> Pdu<T> {
    /// Initialises the data area at `slot` (`init_request`).
    ///
    /// # Safety
    ///
    /// `slot` must be valid for writes of a `Pdu<T>`, suitably aligned, and not in use.
    pub(in crate::glue) unsafe fn init(slot: *mut Self, set: &T::SetData) {
        // SAFETY: `slot` is valid for writes and will not move (the function's requirements);
        // each field is initialised once. The initialisers cannot fail.
        unsafe {
            ptr::addr_of_mut!((*slot).state).write(AtomicU8::new(IDLE));
            let Ok(()) = kver::init_at(ptr::addr_of_mut!((*slot).data), T::init_request(set));
            let owned = UnsafeCell::raw_get(ptr::addr_of!((*slot).owned));
            let Ok(()) = kver::init_at(owned, T::init_request_owned(set));
        }
    }

    /// Drops the data at `slot` (`exit_request`).
    ///
    /// # Safety
    ///
    /// `slot` must have been initialised by [`Pdu::init`] and be unused from now on.
    pub(in crate::glue) unsafe fn drop_in_place(slot: *mut Self) {
        // SAFETY: per the function's requirements.
        unsafe { ptr::drop_in_place(slot) };
    }
}

/// A request the driver has to itself: its owned data may be changed.
///
/// # Invariants
///
/// Nothing else uses `rq`'s owned data while this exists: the glue creates one only where
/// blk-mq gives the request to the driver alone (see the module documentation), one at a time.
pub(crate) struct OwnedRequest<'a, T: Operations> {
    rq: &'a Request<T>,
}

impl<'a, T: Operations> OwnedRequest<'a, T> {
    /// # Safety
    ///
    /// The caller must own `rq` alone for `'a` (see the type invariants).
    pub(in crate::glue) unsafe fn new(rq: &'a Request<T>) -> Self {
        // INVARIANT: per the function's requirements.
        Self { rq }
    }

    /// The request and its owned data, apart, so that both can be used together.
    #[inline]
    pub(crate) fn parts(&mut self) -> (&'a Request<T>, &mut T::RequestOwned) {
        // SAFETY: nothing else uses the owned data while `self` exists (type invariant); the
        // reference borrows `self` mutably, so it is the only one made from it at a time.
        let owned = unsafe { self.rq.owned_mut() };
        (self.rq, owned)
    }

    /// Starts the request's timeout clock (`blk_mq_start_request()`): from now on the device
    /// may complete it, and the owned data is out of reach until it does. Call in `queue_rq`,
    /// after the last change to the owned data and before the device can see the command.
    #[inline]
    pub(crate) fn start(self) {
        self.rq.pdu().state.store(IN_FLIGHT, Ordering::Release);
        // SAFETY: `rq` is a valid request the driver owns, in `queue_rq`.
        unsafe { bindings::blk_mq_start_request(self.rq.as_raw()) };
    }

    /// Sets the request's sector: where the device wrote a zone append, for its submitter
    /// (as C's completion of `REQ_OP_ZONE_APPEND`). Call before ending it.
    pub(crate) fn set_sector(&mut self, sector: u64) {
        // SAFETY: `rq` is a request the driver owns, completing; nothing else reads the field
        // until it is ended.
        unsafe { (*self.rq.as_raw()).__sector = sector };
    }

    /// Ends the request with `status` (`blk_mq_end_request()`).
    #[inline]
    pub(crate) fn end(self, status: BlkStatus) {
        self.rq.pdu().state.store(IDLE, Ordering::Relaxed);
        // SAFETY: `rq` is a started request the driver owns; it is not touched again.
        unsafe { bindings::blk_mq_end_request(self.rq.as_raw(), status.0) };
    }

    /// Puts the request back on its queue's requeue list to be issued again
    /// (`blk_mq_requeue_request()`); used instead of ending it.
    pub(crate) fn requeue(self) {
        self.rq.pdu().state.store(IDLE, Ordering::Relaxed);
        // SAFETY: `rq` is a request the driver owns and has not ended.
        unsafe { bindings::blk_mq_requeue_request(self.rq.as_raw(), true) };
    }
}

impl<T: Operations> core::ops::Deref for OwnedRequest<'_, T> {
    type Target = Request<T>;

    fn deref(&self) -> &Request<T> {
        self.rq
    }
}

/// `REQ_FUA`: the write must be on stable media when it completes.
const REQ_FUA: u32 = 1 << bindings::req_flag_bits___REQ_FUA;
/// `REQ_FAILFAST_DEV | REQ_FAILFAST_TRANSPORT | REQ_FAILFAST_DRIVER`.
const REQ_FAILFAST: u32 = (1 << bindings::req_flag_bits___REQ_FAILFAST_DEV)
    | (1 << bindings::req_flag_bits___REQ_FAILFAST_TRANSPORT)
    | (1 << bindings::req_flag_bits___REQ_FAILFAST_DRIVER);
/// `REQ_NOUNMAP`: a write-zeroes that must not deallocate.
const REQ_NOUNMAP: u32 = 1 << bindings::req_flag_bits___REQ_NOUNMAP;
/// `REQ_INTEGRITY`: the request carries an integrity payload (a metadata buffer).
const REQ_INTEGRITY: u32 = 1 << bindings::req_flag_bits___REQ_INTEGRITY;
/// `REQ_OP_MASK`: the operation bits of `cmd_flags`.
const REQ_OP_MASK: u32 = (1 << bindings::REQ_OP_BITS) - 1;

impl<T: Operations> Request<T> {
    /// Borrows a request from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live request of a tag set of `T`, with its data area initialised,
    /// that stays valid for `'a` (see the type invariants).
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
            bindings::req_op_REQ_OP_ZONE_APPEND => ReqOp::ZoneAppend,
            bindings::req_op_REQ_OP_ZONE_OPEN => ReqOp::ZoneOpen,
            bindings::req_op_REQ_OP_ZONE_CLOSE => ReqOp::ZoneClose,
            bindings::req_op_REQ_OP_ZONE_FINISH => ReqOp::ZoneFinish,
            bindings::req_op_REQ_OP_ZONE_RESET => ReqOp::ZoneReset,
            bindings::req_op_REQ_OP_ZONE_RESET_ALL => ReqOp::ZoneResetAll,
            other => ReqOp::Other(other),
        }
    }

    /// True when the request carries `REQ_FUA`.
    pub(crate) fn is_fua(&self) -> bool {
        self.cmd_flags() & REQ_FUA != 0
    }

    /// The checks the request's integrity payload asks for, or `None` when it carries none
    /// (`blk_integrity_rq()`, and the `BIP_CHECK_*` flags and application tag of its first
    /// bio's payload, which the block layer sets alike on every bio of a request).
    pub(crate) fn integrity(&self) -> Option<IntegrityChecks> {
        if self.cmd_flags() & REQ_INTEGRITY == 0 {
            return None;
        }
        // SAFETY: `self` is a valid request (type invariant), whose first bio (if any) lives
        // until the request ends.
        let bio = unsafe { (*self.as_raw()).bio };
        if bio.is_null() {
            return None;
        }
        // SAFETY: a bio of a request with `REQ_INTEGRITY`, alive while `self` is borrowed.
        unsafe { IntegrityChecks::of_bio(bio) }
    }

    /// The write stream the request's writer chose (`bi_write_stream` of its first bio; the
    /// block layer merges only bios of one stream): 0 for none.
    pub(crate) fn write_stream(&self) -> u8 {
        // SAFETY: `self` is a valid request (type invariant), whose first bio (if any) lives
        // until the request ends.
        unsafe {
            let bio = (*self.as_raw()).bio;
            if bio.is_null() {
                0
            } else {
                (*bio).bi_write_stream
            }
        }
    }

    /// Integrity segments of the request after coalescing.
    pub(crate) fn nr_integrity_segments(&self) -> u16 {
        // SAFETY: `self` is a valid request (type invariant).
        unsafe { (*self.as_raw()).nr_integrity_segments }
    }

    /// True when the submitter asked not to retry failures (`blk_noretry_request()`).
    pub(crate) fn is_failfast(&self) -> bool {
        self.cmd_flags() & REQ_FAILFAST != 0
    }

    /// True when a stacking disk sent the request's bios here (they carry `REQ_DRV`, see
    /// [`crate::glue::Bio::set_target`]).
    pub(crate) fn is_stacked(&self) -> bool {
        self.cmd_flags() & crate::glue::block::bio::REQ_DRV != 0
    }

    /// Starts accounting the request's I/O on the stacking disk whose whole device is `to`
    /// (`bdev_start_io_acct()`, as the C driver's multipath accounts its head disks); returns
    /// the start time for [`Request::account_end`].
    pub(crate) fn account_start(&self, to: DiskTarget) -> usize {
        // SAFETY: `to` is a live disk's device (`DiskTarget`'s invariant, the caller's to keep
        // until `account_end`); the operation is the request's; `jiffies` is read once, as
        // `READ_ONCE()`.
        unsafe {
            let now = ptr::read_volatile(&raw const bindings::jiffies);
            bindings::bdev_start_io_acct(to.0.as_ptr(), self.cmd_flags() & REQ_OP_MASK, now)
        }
    }

    /// Ends what [`Request::account_start`] started at `start`, for the request's bytes.
    pub(crate) fn account_end(&self, to: DiskTarget, start: usize) {
        // SAFETY: as in `account_start`.
        unsafe {
            bindings::bdev_end_io_acct(
                to.0.as_ptr(),
                self.cmd_flags() & REQ_OP_MASK,
                self.bytes() >> 9,
                start,
            )
        }
    }

    /// The data of the disk (or queue) the request is on.
    pub(crate) fn disk_data(&self) -> &T::Disk {
        // SAFETY: `self` is a live request of a queue whose `queuedata` is its `T::Disk`, set
        // before the queue takes requests and alive until the queue is gone, which outlives
        // the request.
        unsafe { &*(*(*self.as_raw()).q).queuedata.cast::<T::Disk>() }
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

    /// The data area (`blk_mq_rq_to_pdu()`, the memory right after the request).
    pub(in crate::glue) fn pdu_ptr(rq: *mut bindings::request) -> *mut Pdu<T> {
        // The allocation covers the request and its `cmd_size` bytes of data (sized for a
        // `Pdu<T>` in `TagSet::new`): `rq + 1` stays inside it.
        rq.wrapping_add(1).cast()
    }

    #[inline]
    fn pdu(&self) -> &Pdu<T> {
        // SAFETY: the data area holds an initialised `Pdu<T>` (type invariant) that lives as
        // long as the request; only its `owned` field is ever changed, behind an `UnsafeCell`.
        unsafe { &*Self::pdu_ptr(self.as_raw()) }
    }

    /// The driver's owned per-request data.
    ///
    /// # Safety
    ///
    /// The caller must own the request alone, and make no other reference to the owned data
    /// while this one lives.
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusive by the caller's ownership of the request"
    )]
    pub(in crate::glue) unsafe fn owned_mut(&self) -> &mut T::RequestOwned {
        // SAFETY: the owned data is initialised (type invariant) and the caller has it alone.
        unsafe { &mut *self.pdu().owned.get() }
    }

    /// The driver's shared per-request data.
    #[inline]
    pub(crate) fn data(&self) -> &T::RequestData {
        &self.pdu().data
    }

    /// Takes the one completion of an issued request: true for the first caller after
    /// [`OwnedRequest::start`], false for any other (a duplicated completion, or one racing with
    /// recovery's cancel), which must then leave the request alone.
    #[inline]
    pub(in crate::glue) fn take_completion(&self) -> bool {
        self.pdu()
            .state
            .compare_exchange(IN_FLIGHT, COMPLETING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// A completing request back with the driver: for the `complete` callbacks.
    ///
    /// # Safety
    ///
    /// Called by blk-mq's completion of a request that [`Request::take_completion`] let
    /// through, once.
    pub(in crate::glue) unsafe fn completing<'a>(
        rq: *mut bindings::request,
    ) -> OwnedRequest<'a, T> {
        // SAFETY: per the function's requirements the request is live and of a tag set of `T`;
        // the one completion let through gives it to the driver alone until it is ended or
        // requeued.
        unsafe { OwnedRequest::new(Self::from_raw(rq)) }
    }

    /// Hands the request to blk-mq for completion on the submitting CPU, after `record` has
    /// noted in its data how it ended; blk-mq then calls [`Operations::complete`]
    /// (`blk_mq_complete_request()`). Only the first completion of an issue goes through;
    /// returns false, without calling `record`, for any other.
    pub(crate) fn complete(&self, record: impl FnOnce(&T::RequestData)) -> bool {
        if !self.take_completion() {
            return false;
        }
        record(self.data());
        // SAFETY: `self` is a started request, completed once.
        unsafe { bindings::blk_mq_complete_request(self.as_raw()) };
        true
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

    /// Back to idle when `queue_rq` did not issue the request (blk-mq keeps or ends it).
    #[inline]
    pub(in crate::glue) fn not_issued(&self) {
        self.pdu().state.store(IDLE, Ordering::Relaxed);
    }

    /// Before a completion batch ends the request: back to idle.
    #[inline]
    pub(in crate::glue) fn batch_ended(&self) {
        self.pdu().state.store(IDLE, Ordering::Relaxed);
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
