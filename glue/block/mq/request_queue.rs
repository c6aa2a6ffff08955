// SPDX-License-Identifier: GPL-2.0

//! Request queues on their own: a queue of a tag set without a disk (`blk_mq_alloc_queue()`),
//! for passthrough to a namespace no disk serves, and counted references on the request queue
//! of such a queue or of a disk (`blk_get_queue()`), for the char devices' open files.
//! Upstream has neither.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::NonNull, //
};

use kernel::{
    bindings,
    error::from_err_ptr,
    prelude::*,
    sync::Arc, //
};

use super::{
    gen_disk::{
        queue_limits,
        GenDisk,
        Limits, //
    },
    operations::Operations,
    passthru::DiskQueue,
    tag_set::TagSet,
};

/// A request queue of `T`'s tag set that no disk owns, for passthrough requests; shut down and
/// released on drop.
///
/// # Invariants
///
/// `q` was allocated by `blk_mq_alloc_queue()` on the tag set `_set` with `queuedata` pointing
/// to `data`, and this value owns the reference that allocation gave.
pub(crate) struct RequestQueue<T: Operations> {
    q: NonNull<bindings::request_queue>,
    data: Arc<T::Disk>,
    _set: Arc<Pin<KBox<TagSet<T>>>>,
}

// SAFETY: the request queue is internally synchronised by the block layer.
unsafe impl<T: Operations> Send for RequestQueue<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for RequestQueue<T> {}

impl<T: Operations> RequestQueue<T> {
    /// Allocates a queue on `set` with `limits`, its requests finding `data` as a disk's do.
    pub(crate) fn new(
        set: &Arc<Pin<KBox<TagSet<T>>>>,
        data: Arc<T::Disk>,
        limits: &Limits,
    ) -> Result<Self> {
        if limits.integrity.is_some() || limits.zoned.is_some() {
            return Err(EINVAL);
        }
        let mut lim = queue_limits(limits);
        let qdata = Arc::as_ptr(&data).cast_mut().cast::<c_void>();
        // SAFETY: `set` is an allocated tag set; `lim` is a valid limits structure; `qdata`
        // stays valid while the queue can run requests: `data` is kept in `Self`, and the queue
        // is shut down in `drop` before it goes (references taken by `QueueRef` hold their own).
        let q =
            from_err_ptr(unsafe { bindings::blk_mq_alloc_queue(set.as_raw(), &mut lim, qdata) })?;
        // INVARIANT: allocated above with `queuedata` set to `data`.
        Ok(Self {
            // SAFETY: `blk_mq_alloc_queue` returned a valid queue.
            q: unsafe { NonNull::new_unchecked(q) },
            data,
            _set: set.clone(),
        })
    }

    /// A counted reference on the queue.
    pub(crate) fn get_ref(&self) -> Result<QueueRef<T>> {
        // SAFETY: the queue is alive (type invariant).
        unsafe { QueueRef::get(self.q, &self.data) }
    }
}

impl<T: Operations> Drop for RequestQueue<T> {
    fn drop(&mut self) {
        // SAFETY: a queue of `blk_mq_alloc_queue` that was never added to a disk (type
        // invariant): `blk_mq_destroy_queue` marks it dying, waits for its requests and detaches
        // it from the tag set; then our reference goes. Holders of a `QueueRef` keep the memory.
        unsafe {
            bindings::blk_mq_destroy_queue(self.q.as_ptr());
            bindings::blk_put_queue(self.q.as_ptr());
        }
    }
}

impl<T: Operations> GenDisk<T> {
    /// A counted reference on the disk's request queue.
    pub(crate) fn queue_ref(&self) -> Result<QueueRef<T>> {
        let q = self.disk_queue().0;
        // SAFETY: the queue of a live disk, whose data is `self.data()`'s `Arc`.
        unsafe { QueueRef::get(q, self.data_arc()) }
    }
}

/// A counted reference on a request queue of `T`'s tag set (a disk's or a
/// [`RequestQueue`]) and on its data: the queue's memory and data stay while this lives. Once
/// the disk was removed or the queue shut down, the queue is dying and requests allocated on
/// it fail with `ENODEV`.
///
/// # Invariants
///
/// This value owns one reference on `q` (`blk_get_queue()`), a queue of a tag set of `T` whose
/// `queuedata` is `data`.
pub(crate) struct QueueRef<T: Operations> {
    q: NonNull<bindings::request_queue>,
    data: Arc<T::Disk>,
}

// SAFETY: the request queue is internally synchronised; the reference may go anywhere.
unsafe impl<T: Operations> Send for QueueRef<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for QueueRef<T> {}

impl<T: Operations> QueueRef<T> {
    /// Takes a reference on `q`, whose `queuedata` is `data`: `ENODEV` when it is dying.
    ///
    /// # Safety
    ///
    /// `q` is a live queue of a tag set of `T` with `queuedata` pointing to `data`.
    unsafe fn get(q: NonNull<bindings::request_queue>, data: &Arc<T::Disk>) -> Result<Self> {
        // SAFETY: a live queue (the caller's guarantee).
        if !unsafe { bindings::blk_get_queue(q.as_ptr()) } {
            return Err(ENODEV);
        }
        // INVARIANT: one reference taken above; the caller vouches for the rest.
        Ok(Self {
            q,
            data: data.clone(),
        })
    }

    /// Another reference on the same queue (`ENODEV` once it is dying).
    pub(crate) fn try_clone(&self) -> Result<Self> {
        // SAFETY: this value keeps the queue alive, and it is a queue of `T` with `data`.
        unsafe { Self::get(self.q, &self.data) }
    }

    /// The queue's data.
    pub(crate) fn data(&self) -> &T::Disk {
        &self.data
    }

    /// The queue, for passthrough requests while the handle is used.
    pub(crate) fn disk_queue(&self) -> DiskQueue<T> {
        // INVARIANT: this value keeps the queue's memory, and the handle is used within a
        // borrow of `self`.
        DiskQueue(self.q, PhantomData)
    }
}

impl<T: Operations> Drop for QueueRef<T> {
    fn drop(&mut self) {
        // SAFETY: the reference this value owns (type invariant). The last one frees the queue.
        unsafe { bindings::blk_put_queue(self.q.as_ptr()) };
    }
}
