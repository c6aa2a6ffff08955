// SPDX-License-Identifier: GPL-2.0

//! Driver-private (passthrough) requests on a disk's queue: allocate, map the caller's
//! memory or a kernel buffer, execute and wait. Upstream has none.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::block::{
    mq::{operations::Operations, request::Request},
    status::BlkStatus, //
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
};
use kernel::{
    bindings,
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*, //
};

/// The request queue of one of our disks, as an ioctl on the disk sees it: for passthrough
/// requests.
///
/// # Invariants
///
/// The queue belongs to an open disk of this driver, which keeps it alive while the ioctl
/// runs (the handle is not kept beyond it), and its tag set was created for `T`.
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
            _ops: PhantomData,
        })
    }
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

impl<T: Operations> Drop for PassthruRq<'_, T> {
    fn drop(&mut self) {
        // A request that failed before it was issued, or whose caller did not unmap it.
        let _ = self.unmap_user();
        // SAFETY: allocated by `alloc_passthru` and ended or never issued (type invariant).
        unsafe { bindings::blk_mq_free_request(self.rq.as_ptr()) };
    }
}
