// SPDX-License-Identifier: GPL-2.0

//! Batched completion (`struct io_comp_batch`): requests that completed successfully,
//! ended together. Upstream has no batch completion.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::block::mq::{
    operations::Operations,
    request::Request,
    tag_set::TagSet, //
};
use core::ptr;
use kernel::{
    bindings,
    types::Opaque, //
};

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
pub(in crate::glue) unsafe fn rq_list_add_tail(
    list: *mut bindings::rq_list,
    rq: *mut bindings::request,
) {
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
pub(in crate::glue) unsafe fn rq_list_pop(list: *mut bindings::rq_list) -> *mut bindings::request {
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
    pub(in crate::glue) unsafe fn from_raw<'a>(
        ptr: *mut bindings::io_comp_batch,
    ) -> Option<&'a mut Self> {
        // SAFETY: `CompBatch` is `#[repr(transparent)]` over the C structure; the caller
        // guarantees validity and exclusive use for `'a`.
        unsafe { ptr.cast::<Self>().as_mut() }
    }

    /// Adds `rq`, which completed without error, to the batch; false when it cannot be batched
    /// and must be completed on its own (`blk_mq_add_to_batch()`).
    fn add<T: Operations>(
        &mut self,
        rq: &Request<T>,
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
/// batch is at hand, or on its own through [`Operations::complete`]. `record` notes in the
/// request's data how it ended and says whether it succeeded. Only the first completion of an
/// issue goes through ([`Request::complete`]); returns false for any other, which leaves the
/// request alone.
pub(crate) fn complete_request<T: Operations>(
    rq: &Request<T>,
    batch: Option<&mut CompBatch>,
    record: impl FnOnce(&T::RequestData) -> bool,
) -> bool {
    // Fault injection (blktests nvme/050): the completion is lost on purpose, and the request
    // is left to the timeout handler, like the C driver's `nvme_try_complete_req()`.
    if rq.should_fake_timeout() {
        return true;
    }
    if !rq.take_completion() {
        return false;
    }
    let ok = record(rq.data());
    // SAFETY: `rq` is a started request of a tag set of `T` that the driver owns; blk-mq now
    // owns it when this returns true.
    if unsafe { bindings::blk_mq_complete_request_remote(rq.as_raw()) } {
        return true;
    }
    if let Some(batch) = batch {
        if ok && batch.add(rq, TagSet::<T>::complete_batch_callback) {
            return true;
        }
    }
    // SAFETY: `rq` belongs to a tag set of `T` (type invariant of `Request<T>`), its one
    // completion let through above, and is completed locally, as blk-mq would through
    // `complete`.
    unsafe { TagSet::<T>::complete_callback(rq.as_raw()) };
    true
}
