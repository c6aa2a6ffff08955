// SPDX-License-Identifier: GPL-2.0

//! Driver-private (passthrough) requests on a disk's queue: allocate, map the caller's
//! memory or a kernel buffer, execute and wait. Upstream has none.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::{
    block::{
        mq::{operations::Operations, request::Request},
        status::BlkStatus, //
    },
    io_uring_cmd::{
        IovIter,
        IssueFlags,
        Pdu,
        TaskWork,
        UringCmd,
        UringCmdHandle, //
    },
    miscdevice::PollBatch,
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::{
        AtomicI32,
        AtomicPtr,
        AtomicU64,
        Ordering, //
    },
};
use kernel::{
    bindings,
    error::to_result,
    ffi::c_int,
    prelude::*, //
};

/// The request queue of one of our disks, as an ioctl on the disk sees it: for passthrough
/// requests.
///
/// # Invariants
///
/// The queue is one of a tag set created for `T`, kept alive while the handle is used by what
/// it came from (an open disk during its ioctl, a [`GenDisk`] or a [`QueueRef`] it borrows);
/// the handle is not kept beyond that.
///
/// [`GenDisk`]: super::gen_disk::GenDisk
/// [`QueueRef`]: super::request_queue::QueueRef
pub(crate) struct DiskQueue<T: Operations>(
    pub(in crate::glue) NonNull<bindings::request_queue>,
    pub(in crate::glue) PhantomData<T>,
);

impl<T: Operations> Clone for DiskQueue<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Operations> Copy for DiskQueue<T> {}

impl<T: Operations> DiskQueue<T> {
    /// Allocates a driver-private request on the queue (`blk_mq_alloc_request()` with
    /// `REQ_OP_DRV_OUT` when `to_device`, else `REQ_OP_DRV_IN`), waiting for a free tag.
    pub(crate) fn alloc_passthru<'a>(self, to_device: bool) -> Result<PassthruRq<'a, T>> {
        self.alloc_passthru_with(to_device, false, false)
    }

    /// As [`DiskQueue::alloc_passthru`]; when `nowait`, fails with `EAGAIN` instead of waiting
    /// for a tag (`REQ_NOWAIT`), and when `polled`, on a polled hardware queue where the queue
    /// has one (`REQ_POLLED`: its completion is found by [`uring_passthru_iopoll`]).
    #[inline]
    pub(crate) fn alloc_passthru_with<'a>(
        self,
        to_device: bool,
        nowait: bool,
        polled: bool,
    ) -> Result<PassthruRq<'a, T>> {
        let mut op = if to_device {
            bindings::req_op_REQ_OP_DRV_OUT
        } else {
            bindings::req_op_REQ_OP_DRV_IN
        };
        let mut flags = 0;
        if nowait {
            op |= 1 << bindings::req_flag_bits___REQ_NOWAIT;
            flags |= bindings::BLK_MQ_REQ_NOWAIT;
        }
        if polled {
            op |= 1 << bindings::req_flag_bits___REQ_POLLED;
        }
        // SAFETY: the queue is live (type invariant); without `BLK_MQ_REQ_NOWAIT` the call may
        // sleep for a tag, which the callers (ioctls, io_uring's blocking issue) allow.
        let rq = err_ptr(unsafe { bindings::blk_mq_alloc_request(self.0.as_ptr(), op, flags) })?;
        // INVARIANT: allocated above, not yet freed.
        Ok(PassthruRq {
            rq: NonNull::new(rq).ok_or(ENOMEM)?,
            user_bio: None,
            _buf: PhantomData,
            _ops: PhantomData,
        })
    }
}

/// The error `p` encodes, if it is one (`IS_ERR()`, `PTR_ERR()`), tested inline:
/// `kernel::error::from_err_ptr` calls both C helpers out of line, on every passthrough command.
#[inline(always)]
fn err_ptr<T>(p: *mut T) -> Result<*mut T> {
    // CAST: an error pointer is a negative errno, `-MAX_ERRNO..0`, seen as an address.
    let v = p.addr() as isize;
    // CAST: `MAX_ERRNO` (4095) fits in `isize`.
    if v < 0 && v >= -(bindings::MAX_ERRNO as isize) {
        // CAST: in `-MAX_ERRNO..0`, so it fits in `i32`.
        return Err(Error::from_errno(v as i32));
    }
    Ok(p)
}

/// `to_result()` tested inline: the kernel crate's is a call, on every passthrough command.
#[inline(always)]
fn errno_result(ret: c_int) -> Result {
    if ret < 0 {
        return Err(Error::from_errno(ret));
    }
    Ok(())
}

/// A passthrough request the driver allocated, freed on drop (`blk_mq_free_request()`).
///
/// # Invariants
///
/// `rq` is an allocated request of a queue that outlives this value; a data buffer mapped into
/// it lives for `'a`.
pub(crate) struct PassthruRq<'a, T: Operations> {
    rq: NonNull<bindings::request>,
    /// The bios of a user buffer mapped with [`PassthruRq::map_user`], until unmapped.
    user_bio: Option<NonNull<bindings::bio>>,
    _buf: PhantomData<&'a mut [u8]>,
    _ops: PhantomData<T>,
}

impl<'a, T: Operations> PassthruRq<'a, T> {
    /// The request, e.g. to read its shared per-request data.
    pub(crate) fn request(&self) -> &Request<T> {
        // SAFETY: allocated and owned by this value (type invariant), from a queue of a tag set
        // of `T` (type invariant of `DiskQueue`), so its data area was initialised.
        unsafe { Request::from_raw(self.rq.as_ptr()) }
    }

    /// The request and its owned data, apart.
    #[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
    pub(crate) fn parts(&mut self) -> (&Request<T>, &mut T::RequestOwned) {
        // SAFETY: the request is allocated and owned by this value, from a queue of a tag set
        // of `T`; it is not running, so nothing else uses its data (see `owned`).
        unsafe {
            let rq = Request::from_raw(self.rq.as_ptr());
            (rq, rq.owned_mut())
        }
    }

    /// The request's owned data, e.g. to fill it in before [`PassthruRq::execute`] or read it
    /// after.
    pub(crate) fn owned(&mut self) -> &mut T::RequestOwned {
        // SAFETY: the request is allocated and owned by this value; it is not running (it runs
        // only within `execute`, which borrows `self` mutably), so nothing else uses its data.
        unsafe { self.request().owned_mut() }
    }

    /// Attaches `buf` as the request's data (`blk_rq_map_kern()`): it is mapped, or copied
    /// through a bounce buffer when its alignment does not suit the queue. For the driver's
    /// own commands on a disk's queue (zone reports) and the KUnit tests of the data path
    /// (passthrough maps the caller's memory, [`PassthruRq::map_user`]).
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
        errno_result(unsafe {
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
        self.took_user_bio();
        Ok(())
    }

    /// As [`PassthruRq::map_user`], for the `nr_segs` buffers of the `struct iovec` array at
    /// user address `addr`, of at most `max` bytes in all (`EINVAL` otherwise, before anything
    /// is mapped or allocated: a misaligned buffer is copied through pages the block layer
    /// allocates for its whole length). The array is read once (`import_iovec()`), checked,
    /// and mapped from that copy (`blk_rq_map_user_iov()`).
    pub(crate) fn map_user_vec(&mut self, addr: usize, nr_segs: u32, max: usize) -> Result {
        if self.user_bio.is_some() || nr_segs == 0 || nr_segs > bindings::UIO_MAXIOV {
            return Err(EINVAL);
        }
        let dir = if self.request().is_write() {
            bindings::ITER_SOURCE
        } else {
            bindings::ITER_DEST
        };
        // SAFETY: `struct iovec` is a pointer and a length: all zeroes is a valid value.
        let mut fast: [bindings::iovec; bindings::UIO_FASTIOV as usize] =
            unsafe { core::mem::zeroed() };
        let mut iov: *mut bindings::iovec = fast.as_mut_ptr();
        let mut iter = IovIter::new();
        // SAFETY: `addr` is a user address, which `import_iovec` copies the array from and
        // checks: into `fast` (`UIO_FASTIOV` entries) when it fits, else into an array it
        // allocates; it leaves `iov` null in the first case and the allocation in the second
        // (freed below). `iter` is ours to fill; it may point into `fast`, which outlives its
        // use here.
        let total = unsafe {
            bindings::import_iovec(
                // CAST: `ITER_SOURCE` and `ITER_DEST` are 1 and 0.
                dir as c_int,
                addr as *const bindings::iovec,
                nr_segs,
                bindings::UIO_FASTIOV,
                &mut iov,
                iter.as_mut_ptr(),
            )
        };
        let mapped = if total < 0 {
            // CAST: a negative errno.
            Err(Error::from_errno(total as c_int))
        } else if total == 0 || total.unsigned_abs() > max {
            Err(EINVAL)
        } else {
            self.map_iter(&iter)
        };
        // SAFETY: `iov` is null or the array `import_iovec` allocated (never `fast`); the
        // mapping is done with it.
        unsafe { bindings::kfree(iov.cast()) };
        mapped
    }

    /// As [`PassthruRq::map_user`], for memory the io_uring ring of `cmd` registered: `len`
    /// bytes at `addr` in it, or when `vec` the `len` iovecs at `addr` that point into it
    /// (`io_uring_cmd_import_fixed()`, `blk_rq_map_user_iov()`).
    /// At most `max` bytes in all (`EINVAL` otherwise).
    pub(crate) fn map_fixed(
        &mut self,
        cmd: &UringCmd<'_>,
        addr: u64,
        len: u32,
        vec: bool,
        issue: IssueFlags,
        max: usize,
    ) -> Result {
        if self.user_bio.is_some() || len == 0 {
            return Err(EINVAL);
        }
        let mut iter = IovIter::new();
        cmd.import_fixed(addr, len, vec, self.request().is_write(), issue, &mut iter)?;
        if iter.count() > max {
            return Err(EINVAL);
        }
        // The registered buffer stays registered while the command runs.
        self.map_iter(&iter)
    }

    /// Maps the user memory `iter` describes as the request's data (`blk_rq_map_user_iov()`),
    /// for [`PassthruRq::map_user_vec`] and [`PassthruRq::map_fixed`], which checked it.
    fn map_iter(&mut self, iter: &IovIter) -> Result {
        // SAFETY: the request is allocated and not started, with no data mapped yet (the
        // callers' checks); `iter` was filled from the caller's memory or the ring's
        // registered buffer, which lives while the request does.
        to_result(unsafe {
            bindings::blk_rq_map_user_iov(
                (*self.rq.as_ptr()).q,
                self.rq.as_ptr(),
                ptr::null_mut(),
                iter.as_ptr(),
                bindings::GFP_KERNEL,
            )
        })?;
        self.took_user_bio();
        Ok(())
    }

    /// Notes the bios that mapping user memory gave the request, for
    /// [`PassthruRq::unmap_user`].
    fn took_user_bio(&mut self) {
        // SAFETY: called right after user memory was mapped, so `bio` heads the request's bios.
        self.user_bio = NonNull::new(unsafe { (*self.rq.as_ptr()).bio });
    }

    /// Attaches `len` bytes of the calling process's memory at `addr` as the metadata of the
    /// data [`PassthruRq::map_user`] attached (`blk_rq_integrity_map_user()`): pinned, or
    /// copied through a kernel buffer when misaligned, and released with the data by
    /// [`PassthruRq::unmap_user`]. Needs a disk with an integrity profile (`EINVAL` without
    /// one, or without data mapped first).
    pub(crate) fn map_user_integrity(&mut self, addr: usize, len: u32) -> Result {
        if self.user_bio.is_none() || len == 0 {
            return Err(EINVAL);
        }
        #[cfg(CONFIG_BLK_DEV_INTEGRITY)]
        {
            // SAFETY: the request is allocated, not started, with user data mapped (its bio
            // is `user_bio`); `addr` is a user address, checked and pinned by the block layer.
            // The payload is released with the bio by `blk_rq_unmap_user`.
            to_result(unsafe {
                super::super::integrity::blk_rq_integrity_map_user(
                    self.rq.as_ptr().cast(),
                    addr as *mut c_void,
                    // CAST: `ssize_t` holds a `u32`.
                    len as isize,
                )
            })
        }
        #[cfg(not(CONFIG_BLK_DEV_INTEGRITY))]
        {
            let _ = addr;
            Err(EINVAL)
        }
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

impl<T: Operations> PassthruRq<'static, T> {
    /// Issues the request for the io_uring command `cmd` without waiting
    /// (`blk_execute_rq_nowait()`): once it ended, `E::ended` gives what the command completes
    /// with, and task work in the submitting task releases the user memory and completes it.
    /// The request is freed when it ends.
    pub(crate) fn execute_uring<E: UringEnd<T>>(self, mut cmd: UringCmd<'_>) {
        let this = core::mem::ManuallyDrop::new(self);
        let rq = this.rq.as_ptr();
        cmd.init_pdu(UringPdu {
            rq: AtomicPtr::new(rq),
            bio: this.user_bio.map_or(ptr::null_mut(), NonNull::as_ptr),
            status: AtomicI32::new(0),
            result: AtomicU64::new(0),
        });
        // SAFETY: the request is ours, set up and not started; from here it belongs to the
        // block layer, which calls `end_io` once and then frees it (`RQ_END_IO_FREE`), so
        // `this` is not dropped. The command stays live until the task work completes it.
        unsafe {
            (*rq).end_io = Some(uring_end_io_callback::<T, E>);
            (*rq).end_io_data = cmd.handle().as_ptr();
            bindings::blk_execute_rq_nowait(rq, false);
        }
    }
}

/// How an io_uring command's passthrough request completes the command.
pub(crate) trait UringEnd<T: Operations> {
    /// What the command completes with, for request `rq` that ended with `status`: its result
    /// (0, a positive NVMe status or a negative errno) and the big completion entry's second
    /// value. Called once, in any context (an interrupt handler included), with the request's
    /// owned data, before it is freed.
    fn ended(rq: &Request<T>, owned: &mut T::RequestOwned, status: BlkStatus) -> (i32, u64);
}

/// What an io_uring command keeps in its private area while its request runs.
struct UringPdu {
    /// The request, until it ended (then null): for polling.
    rq: AtomicPtr<bindings::request>,
    /// The bios of the mapped user memory (null: none), released by the task work.
    bio: *mut bindings::bio,
    /// What the command completes with, set when the request ended.
    status: AtomicI32,
    /// The second value of the command's completion, set when the request ended.
    result: AtomicU64,
}

// SAFETY: 32 bytes (the bio pointer is written before the request starts and read after it
// ended), aligned to 8, no destructor.
unsafe impl Pdu for UringPdu {}
// SAFETY: `bio` is written only before the request is issued and read only by the task work
// after it ended; the other fields are atomics.
unsafe impl Sync for UringPdu {}

/// `end_io` of a request issued by [`PassthruRq::execute_uring`].
///
/// # Safety
///
/// Called by blk-mq only, once, when the request ended.
unsafe extern "C" fn uring_end_io_callback<T: Operations, E: UringEnd<T>>(
    rq: *mut bindings::request,
    err: bindings::blk_status_t,
    iob: *const bindings::io_comp_batch,
) -> bindings::rq_end_io_ret {
    // SAFETY: a request of a queue of `T`'s tag set (`PassthruRq`), ended: nothing else uses
    // its data until it is freed after this call.
    let (status, result) = unsafe {
        let r = Request::<T>::from_raw(rq);
        E::ended(r, r.owned_mut(), BlkStatus(err))
    };
    // SAFETY: `end_io_data` is the command's handle (`execute_uring`); the command waits for
    // this request, so it is live and holds a `UringPdu`.
    let cmd = unsafe { UringCmdHandle::from_ptr((*rq).end_io_data) };
    // SAFETY: as above.
    let pdu = unsafe { cmd.pdu::<UringPdu>() };
    pdu.status.store(status, Ordering::Relaxed);
    pdu.result.store(result, Ordering::Relaxed);
    // Polling stops looking at the request, which is freed after this call.
    pdu.rq.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: `iob`, when set, is the batch of the running poll; the request is live until
    // this call returns, and the command too (it waits for the request).
    let own_poll = unsafe { !iob.is_null() && is_poll(rq) && (*iob).poll_ctx == cmd.ring_ctx() };
    if own_poll {
        // Found by a poll of the command's own ring, in its task: completed here, without
        // task work (as C does).
        let bio = pdu.bio;
        // SAFETY: as in `UringFinish::run`: the request ended, and this is the submitting
        // ring's task.
        let status = unsafe { unmap_then(bio, status) };
        // SAFETY: the command is live and uncompleted, and this is a poll of its own ring;
        // nothing uses it after this.
        unsafe { cmd.done_in_poll(status, result) };
    } else {
        // SAFETY: the command is live and uncompleted; the task work takes it over (the
        // request does not use it after this).
        unsafe { cmd.complete_in_task::<UringFinish>() };
    }
    bindings::rq_end_io_ret_RQ_END_IO_FREE
}

/// `blk_rq_is_poll()`: the request is on a polled hardware queue.
///
/// # Safety
///
/// `rq` is a live request.
unsafe fn is_poll(rq: *mut bindings::request) -> bool {
    // SAFETY: a live request's hardware context, when set, lives with its queue.
    unsafe {
        let hctx = (*rq).mq_hctx;
        !hctx.is_null() && u32::from((*hctx).type_) == bindings::hctx_type_HCTX_TYPE_POLL
    }
}

/// Releases the user memory `bio` (null: none) of an ended request (`blk_rq_unmap_user()`,
/// which copies a bounce buffer back): `status`, or the unmapping's error when `status` was
/// not one already.
///
/// # Safety
///
/// `bio` heads the bios `blk_rq_map_user*` gave a request that ended, not unmapped since;
/// called in the submitting task (for the copy back to its memory).
unsafe fn unmap_then(bio: *mut bindings::bio, status: i32) -> i32 {
    if bio.is_null() {
        return status;
    }
    // SAFETY: the caller's guarantees.
    let unmapped = unsafe { bindings::blk_rq_unmap_user(bio) };
    if unmapped != 0 && status >= 0 {
        unmapped
    } else {
        status
    }
}

/// The task work of an io_uring command whose request ended.
struct UringFinish;

impl TaskWork for UringFinish {
    fn run(cmd: UringCmd<'_>) {
        // SAFETY: the command was issued by `execute_uring`, which stored a `UringPdu`; the
        // task work queueing orders the stores of `uring_end_io_callback` before these loads.
        let (bio, status, result) = unsafe {
            let pdu = cmd.pdu::<UringPdu>();
            (
                pdu.bio,
                pdu.status.load(Ordering::Relaxed),
                pdu.result.load(Ordering::Relaxed),
            )
        };
        // SAFETY: the bios `blk_rq_map_user*` gave the request, not unmapped since; the
        // request ended, so the device is done with the memory. In the submitting task, so a
        // bounce buffer is copied back to its memory.
        let status = unsafe { unmap_then(bio, status) };
        cmd.done_from_task(status, result);
    }
}

/// `uring_cmd_iopoll` of a command issued by [`PassthruRq::execute_uring`] on a polled
/// hardware queue: polls the queue (`blk_rq_poll()`) while the request has not ended.
pub(crate) fn uring_passthru_iopoll(cmd: &UringCmd<'_>, iob: PollBatch, poll_flags: u32) -> i32 {
    // SAFETY: io_uring polls only commands that `uring_cmd` queued, which for this driver's
    // char devices is by `execute_uring` (its `UringPdu`).
    let pdu = unsafe { cmd.pdu::<UringPdu>() };
    let rq = pdu.rq.load(Ordering::Acquire);
    if rq.is_null() {
        return 0;
    }
    // SAFETY: the request had not ended when loaded; requests live in their tag set, which
    // outlives the queue's users, so a request that ended meanwhile is still memory of the
    // tag set: `blk_rq_poll` then polls its hardware context harmlessly (as C does), and
    // takes a queue reference (failing on a queue that is going).
    unsafe { bindings::blk_rq_poll(rq, iob.0, poll_flags) }
}

impl<T: Operations> Drop for PassthruRq<'_, T> {
    fn drop(&mut self) {
        // A request that failed before it was issued, or whose caller did not unmap it.
        let _ = self.unmap_user();
        // SAFETY: allocated by `alloc_passthru` and ended or never issued (type invariant).
        unsafe { bindings::blk_mq_free_request(self.rq.as_ptr()) };
    }
}
