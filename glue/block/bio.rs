// SPDX-License-Identifier: GPL-2.0

//! One bio in a driver's hands (`struct bio`), and the block device it is sent to next: what
//! a stacking driver (multipath) does with the bios of its disk. Upstream has no bio
//! abstraction.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)

use core::{
    ptr::{
        self,
        NonNull, //
    },
    sync::atomic::{
        AtomicPtr,
        Ordering, //
    },
};
use kernel::bindings;

use crate::glue::BlkStatus;

/// `REQ_DRV`: a flag the block layer leaves to the driver of the disk a bio goes to; set on
/// the bios a stacking driver sends down, so that their requests are known at completion.
pub(crate) const REQ_DRV: u32 = 1 << bindings::req_flag_bits___REQ_DRV;

/// The whole-disk block device of a disk (`disk->part0`), for bios sent to it.
///
/// # Invariants
///
/// Points to the `part0` of a disk. It is valid only while that disk is added: whoever hands
/// one out (the disk's owner) keeps the disk added while the value may be used.
#[derive(Clone, Copy)]
pub(crate) struct DiskTarget(pub(in crate::glue) NonNull<bindings::block_device>);

// SAFETY: a pointer to a block device, which the block layer synchronises; the type's users
// keep the disk added while they use it (type invariant).
unsafe impl Send for DiskTarget {}
// SAFETY: as above.
unsafe impl Sync for DiskTarget {}

/// A [`DiskTarget`] that is set and cleared while others read it.
pub(crate) struct AtomicDiskTarget(AtomicPtr<bindings::block_device>);

impl AtomicDiskTarget {
    /// None.
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }

    /// The target, if set.
    #[inline]
    pub(crate) fn get(&self) -> Option<DiskTarget> {
        NonNull::new(self.0.load(Ordering::Acquire)).map(DiskTarget)
    }

    /// Sets or clears the target.
    pub(crate) fn set(&self, t: Option<DiskTarget>) {
        self.0.store(
            t.map_or(ptr::null_mut(), |t| t.0.as_ptr()),
            Ordering::Release,
        );
    }
}

/// A bio the driver owns: it must be submitted or ended.
///
/// # Invariants
///
/// Points to a live bio no one else uses until this value submits or ends it (a bio handed to
/// a disk's `submit_bio`, or taken off a [`super::bio_list::BioList`]), unlinked (`bi_next`
/// null).
pub(crate) struct Bio(NonNull<bindings::bio>);

// SAFETY: a bio may be submitted or ended from any thread.
unsafe impl Send for Bio {}

/// `BIO_REMAPPED` and `BIO_BPS_THROTTLED`, as `bio_set_dev()` clears them.
const BIO_REMAPPED: u16 = 1 << bindings::BIO_REMAPPED;
const BIO_BPS_THROTTLED: u16 = 1 << bindings::BIO_BPS_THROTTLED;

impl Bio {
    /// Takes ownership of `bio`.
    ///
    /// # Safety
    ///
    /// `bio` is a live, unlinked bio the caller owns and hands over (the type invariant).
    pub(in crate::glue) unsafe fn from_raw(bio: *mut bindings::bio) -> Self {
        // SAFETY: live, hence non-null (the caller's guarantee).
        Self(unsafe { NonNull::new_unchecked(bio) })
    }

    /// Gives up ownership.
    pub(in crate::glue) fn into_raw(self) -> *mut bindings::bio {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Points the bio at `to` (`bio_set_dev()`), marked [`REQ_DRV`] when `mark`.
    pub(crate) fn set_target(&mut self, to: DiskTarget, mark: bool) {
        let bio = self.0.as_ptr();
        // SAFETY: we own the bio (type invariant); the flags and the device are read by the
        // block layer only once it is submitted. `to` is a live disk's device (the caller's, by
        // `DiskTarget`'s invariant).
        unsafe {
            (*bio).bi_flags &= !BIO_REMAPPED;
            if (*bio).bi_bdev != to.0.as_ptr() {
                (*bio).bi_flags &= !BIO_BPS_THROTTLED;
            }
            (*bio).bi_bdev = to.0.as_ptr();
            if mark {
                (*bio).bi_opf |= REQ_DRV;
            } else {
                (*bio).bi_opf &= !REQ_DRV;
            }
            #[cfg(CONFIG_BLK_CGROUP)]
            bindings::bio_associate_blkg(bio);
        }
    }

    /// Submits the bio to the device it points at (`submit_bio_noacct()`); from a disk's
    /// `submit_bio` the block layer issues it once that returns. May sleep otherwise.
    pub(crate) fn submit(self) {
        // SAFETY: we own the bio, pointed at a live disk (type invariant, `set_target`).
        unsafe { bindings::submit_bio_noacct(self.into_raw()) };
    }

    /// Ends the bio with `status` (`bio_endio()`).
    pub(crate) fn end(self, status: BlkStatus) {
        let bio = self.into_raw();
        // SAFETY: we owned the bio (type invariant); ending it hands it back to its submitter.
        unsafe {
            (*bio).bi_status = status.0;
            bindings::bio_endio(bio);
        }
    }
}

impl Drop for Bio {
    fn drop(&mut self) {
        // Never left unfinished.
        // SAFETY: we own the bio (type invariant).
        unsafe {
            (*self.0.as_ptr()).bi_status = BlkStatus::IOERR.0;
            bindings::bio_endio(self.0.as_ptr());
        }
    }
}
