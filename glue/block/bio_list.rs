// SPDX-License-Identifier: GPL-2.0

//! A list of bios taken back from requests that cannot be issued where they are, to be
//! submitted again once the block layer can place them (`struct bio_list`, filled by
//! `blk_steal_bios()`, emptied by `submit_bio_noacct()`). Upstream has no bio abstraction.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use core::ptr;
use kernel::{
    bindings,
    new_spinlock,
    prelude::*,
    sync::SpinLock, //
};

use crate::glue::{
    Bio,
    Operations,
    Request, //
};

/// No poll cookie (`BLK_QC_T_NONE`, `include/linux/blk_types.h`).
const BLK_QC_T_NONE: u32 = u32::MAX;

/// A polled bio (`REQ_POLLED`, `include/linux/blk_types.h`).
const REQ_POLLED: bindings::blk_opf_t = 1 << bindings::req_flag_bits___REQ_POLLED;
/// A bio whose submitter cannot wait (`REQ_NOWAIT`).
const REQ_NOWAIT: bindings::blk_opf_t = 1 << bindings::req_flag_bits___REQ_NOWAIT;

/// The list itself: its first and last bio, chained through `bi_next`.
struct Chain(bindings::bio_list);

// SAFETY: the bios on the list are owned by the list (nothing else touches them until they
// are submitted or ended), and a bio may be submitted or ended from any thread.
unsafe impl Send for Chain {}

impl Chain {
    const fn empty() -> Self {
        Self(bindings::bio_list {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        })
    }

    /// Takes the whole chain out, leaving the list empty.
    fn take(&mut self) -> *mut bindings::bio {
        let head = self.0.head;
        self.0.head = ptr::null_mut();
        self.0.tail = ptr::null_mut();
        head
    }
}

/// Bios waiting to be submitted again.
///
/// # Invariants
///
/// Every bio on the list was taken from a request by [`BioList::steal_from`] or handed over by
/// [`BioList::push`], and is owned by the list until it is submitted, handed back by
/// [`BioList::take_each`], or ended when the list is dropped.
#[pin_data(PinnedDrop)]
pub(crate) struct BioList {
    #[pin]
    chain: SpinLock<Chain>,
}

impl BioList {
    /// An empty list.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            chain <- new_spinlock!(Chain::empty(), "rust_nvme_bio_list"),
        })
    }

    /// Moves the bios of `rq` to the end of the list (`blk_steal_bios()`), leaving it without
    /// data, to be ended with success; returns false, taking nothing, when it has none.
    ///
    /// # Safety
    ///
    /// The caller owns `rq` (it is in `queue_rq`, not started; or in its completion, its
    /// data unmapped) and ends it next, without issuing it.
    pub(crate) unsafe fn steal_from<T: Operations>(&self, rq: &Request<T>) -> bool {
        let raw = rq.as_raw();
        // SAFETY: `raw` is a valid request the caller owns (per the function's requirements).
        if unsafe { (*raw).bio }.is_null() {
            return false;
        }
        // A polled bio's cookie names the hardware context its request was on, which may be
        // gone by the time its submitter polls again: none until it is issued anew
        // (`bio_poll()` then finds nothing to poll). And it is issued anew without polling
        // (`bio_clear_polled()`): the tag set may have no polled queue any more, where the
        // block layer fails a polled bio; its submitter sees it complete all the same. Nor
        // with `REQ_NOWAIT`: it is submitted again from a work item, not by its submitter, and
        // a queue it then meets frozen would fail it with `EAGAIN` instead of waiting.
        // SAFETY: the bios of an owned request are valid and chained through `bi_next`; the
        // cookie is read concurrently only with `READ_ONCE()`, so it is written whole; the
        // flags are read only by the block layer's submission, which has not started.
        unsafe {
            let mut bio = (*raw).bio;
            while !bio.is_null() {
                ptr::write_volatile(&raw mut (*bio).__bindgen_anon_1.bi_cookie, BLK_QC_T_NONE);
                (*bio).bi_opf &= !(REQ_POLLED | REQ_NOWAIT);
                bio = (*bio).bi_next;
            }
        }
        let mut chain = self.chain.lock();
        // SAFETY: the request is owned by the caller and has bios; the list is ours, under
        // its lock. `blk_steal_bios()` appends them and clears the request's data.
        unsafe { bindings::blk_steal_bios(&mut chain.0, raw) };
        true
    }

    /// Appends `bio`.
    pub(crate) fn push(&self, bio: Bio) {
        let bio = bio.into_raw();
        let mut chain = self.chain.lock();
        // SAFETY: `bio` is ours, unlinked (`Bio`'s invariant); the list is ours, under its lock.
        unsafe {
            if chain.0.tail.is_null() {
                chain.0.head = bio;
            } else {
                (*chain.0.tail).bi_next = bio;
            }
            chain.0.tail = bio;
        }
    }

    /// Takes every bio off the list, in the order taken, and hands each to `f`.
    pub(crate) fn take_each(&self, mut f: impl FnMut(Bio)) {
        // SAFETY: each bio is ours and unlinked (`drain`).
        self.drain(|bio| f(unsafe { Bio::from_raw(bio) }));
    }

    /// Takes every bio off the list, in the order taken, and hands each to `f` unlinked.
    fn drain(&self, mut f: impl FnMut(*mut bindings::bio)) {
        let mut bio = self.chain.lock().take();
        while !bio.is_null() {
            // SAFETY: `bio` is on the chain we took out, owned by us (type invariant).
            let next = unsafe { (*bio).bi_next };
            // SAFETY: as above; unlinked before `f` hands it back to the block layer.
            unsafe { (*bio).bi_next = ptr::null_mut() };
            f(bio);
            bio = next;
        }
    }

    /// Submits every bio on the list again (`submit_bio_noacct()`), in the order taken; the
    /// block layer places each by the submitting CPU's current queue map. May sleep.
    pub(crate) fn resubmit(&self) {
        // SAFETY: each bio is ours and unlinked (`drain`).
        self.drain(|bio| unsafe { bindings::submit_bio_noacct(bio) });
    }
}

#[pinned_drop]
impl PinnedDrop for BioList {
    fn drop(self: Pin<&mut Self>) {
        // Never left unfinished: a bio still here is ended with an error (`bio_io_error()`).
        self.drain(|bio| {
            // SAFETY: each bio is ours and unlinked (`drain`).
            unsafe {
                (*bio).bi_status = crate::glue::BlkStatus::IOERR.0;
                bindings::bio_endio(bio);
            }
        });
    }
}
