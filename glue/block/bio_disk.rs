// SPDX-License-Identifier: GPL-2.0

//! A disk without a tag set (`struct gendisk` from `blk_alloc_disk()`): the block layer hands
//! each bio to the driver's `submit_bio`, which sends it on to another disk. What the C
//! multipath driver's head disks are; upstream's block abstractions have only blk-mq disks.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use core::{
    ffi::c_void,
    fmt,
    marker::PhantomData,
    ptr::{
        self,
        NonNull, //
    },
};
use kernel::{
    bindings,
    device,
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*,
    static_lock_class,
    sync::Arc, //
};

use crate::glue::{
    block::bio::{
        Bio,
        DiskTarget, //
    },
    block::mq::gen_disk::{
        queue_limits,
        set_queue_limits,
        Limits, //
    },
    device::raw_dev,
    kver,
    sysfs::{
        AttrTable,
        Attributes,
        Locate, //
    },
};

/// What a driver does with the bios of its bio-based disks.
pub(crate) trait BioOperations: 'static + Sized {
    /// Per disk data (`private_data`).
    type Disk: Send + Sync;
    /// The disk's sysfs attributes.
    type DiskAttrs: Attributes<Object = Self::Disk>;

    /// A bio submitted to the disk: the driver sends it on, keeps it for later, or ends it.
    /// Must not sleep for a bio marked `REQ_NOWAIT` (the disk offers `BLK_FEAT_NOWAIT`).
    fn submit_bio(disk: &Self::Disk, bio: Bio);

    /// An ioctl on an open node of the disk (`partition`: a partition's node; `writable`:
    /// opened for writing).
    fn ioctl(
        disk: &Self::Disk,
        partition: bool,
        writable: bool,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;
}

/// `BLK_FEAT_IO_STAT`: the block layer accounts the disk's I/O (`/proc/diskstats`).
const BLK_FEAT_IO_STAT: u32 = 1 << 4;
/// `BLK_FEAT_NOWAIT`: `REQ_NOWAIT` bios are taken (and never waited on).
const BLK_FEAT_NOWAIT: u32 = 1 << 7;

/// A bio-based disk added to the system.
///
/// # Invariants
///
/// `gendisk` was allocated by `blk_alloc_disk()` with `private_data` owning one reference on
/// `data` (from [`Arc::into_raw`]), dropped by `free_disk`, and added with `device_add_disk`;
/// `Drop` removes it and drops this value's gendisk reference.
pub(crate) struct BioDisk<T: BioOperations> {
    gendisk: NonNull<bindings::gendisk>,
    _data: PhantomData<T>,
}

// SAFETY: the gendisk is internally synchronised by the block layer.
unsafe impl<T: BioOperations> Send for BioDisk<T> {}
// SAFETY: as above.
unsafe impl<T: BioOperations> Sync for BioDisk<T> {}

/// The block device operations of `T`'s disks.
struct Fops(bindings::block_device_operations);

// SAFETY: the table is immutable; the raw pointers in it refer to this module, which outlives
// every disk (`owner`: an open disk holds the module).
unsafe impl Sync for Fops {}

impl<T: BioOperations> BioDisk<T> {
    const FOPS: Fops = Fops(bindings::block_device_operations {
        submit_bio: Some(submit_bio_callback::<T>),
        open: None,
        release: None,
        ioctl: Some(ioctl_callback::<T>),
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

    const fn fops() -> &'static bindings::block_device_operations {
        &Self::FOPS.0
    }

    /// The block layer's limits of a bio-based disk with `limits` (the transfer limits only
    /// describe the bios it sends on: it takes bios of any size and splits none).
    fn limits(limits: &Limits) -> bindings::queue_limits {
        let mut lim = queue_limits(limits);
        lim.features |= BLK_FEAT_IO_STAT | BLK_FEAT_NOWAIT;
        lim
    }

    /// Allocates a bio-based disk named `name`, of `capacity` 512-byte sectors, with
    /// `limits` (not zoned), and adds it to the system as a child of `parent`; the caller
    /// moves it ([`BioDisk::move_to`]) before `parent` goes.
    pub(crate) fn new(
        data: Arc<T::Disk>,
        name: fmt::Arguments<'_>,
        capacity: u64,
        limits: &Limits,
        parent: &device::Device,
    ) -> Result<Self> {
        if limits.zoned.is_some()
            || (limits.integrity.is_some() && !super::integrity::INTEGRITY_SUPPORTED)
        {
            return Err(EINVAL);
        }
        let mut lim = Self::limits(limits);
        // SAFETY: `lim` is a valid limits structure; the key is static.
        let gd = from_err_ptr(unsafe {
            bindings::__blk_alloc_disk(
                &mut lim,
                bindings::NUMA_NO_NODE,
                static_lock_class!().as_ptr(),
            )
        })?;
        // SAFETY: `__blk_alloc_disk` returned a valid gendisk.
        let gendisk = unsafe { NonNull::new_unchecked(gd) };
        let guard = kernel::types::ScopeGuard::new(move || {
            // SAFETY: the disk was allocated above and never added; `free_disk` does not run
            // for a disk never added, and `private_data` is not set until it is.
            unsafe { bindings::put_disk(gd) };
        });
        // SAFETY: the disk is not added yet, so we own it exclusively.
        let name_buf: &mut [u8] = unsafe { &mut (*gd).disk_name };
        let mut w = kernel::str::NullTerminatedFormatter::new(name_buf).ok_or(EINVAL)?;
        fmt::Write::write_fmt(&mut w, name).map_err(|_| EINVAL)?;
        // SAFETY: as above.
        unsafe {
            (*gd).fops = Self::fops();
            bindings::set_capacity(gd, capacity);
        }
        let groups = AttrTable::<T::DiskAttrs, BioDiskOf<T>>::groups()
            .as_ptr()
            .cast::<*const bindings::attribute_group>();
        // The reference `private_data` owns, set last: an `add` that fails leaves it to us.
        let pdata = Arc::into_raw(data.clone()).cast_mut().cast::<c_void>();
        // SAFETY: not added yet, so ours.
        unsafe { (*gd).private_data = pdata };
        // SAFETY: `gd` is a fully set up disk; `parent` is live (the caller moves the disk
        // before it goes); the attribute groups are static.
        let ret =
            to_result(unsafe { bindings::device_add_disk(raw_dev(parent), gd, groups.cast_mut()) });
        if let Err(e) = ret {
            // SAFETY: the disk was not added, so `free_disk` will not run: the reference is
            // still ours.
            drop(unsafe { Arc::from_raw(pdata.cast_const().cast::<T::Disk>()) });
            return Err(e);
        }
        guard.dismiss();
        // INVARIANT: allocated, `private_data` owning a reference, added.
        Ok(Self {
            gendisk,
            _data: PhantomData,
        })
    }

    /// The disk's whole-disk device; valid while `self` lives.
    pub(crate) fn target(&self) -> DiskTarget {
        // SAFETY: `part0` is set at allocation and lives with the gendisk, which `self` keeps
        // added (the `DiskTarget` invariant is the caller's to keep).
        DiskTarget(unsafe { NonNull::new_unchecked((*self.gendisk.as_ptr()).part0) })
    }

    /// Makes the disk a child of `parent` (`device_move()`), for a parent about to go.
    pub(crate) fn move_to(&self, parent: &device::Device) -> Result {
        // SAFETY: the disk is added (type invariant): its device (`disk_to_dev()`, the
        // whole-disk `bd_device`) is live; `parent` is a live device, on which the device
        // core takes a reference.
        to_result(unsafe {
            bindings::device_move(
                &raw mut (*(*self.gendisk.as_ptr()).part0).bd_device,
                raw_dev(parent),
                bindings::dpm_order_DPM_ORDER_NONE,
            )
        })
    }

    /// Applies `limits` and `capacity` (a namespace reformatted or resized) with the disk's
    /// submissions drained (`blk_mq_freeze_queue`, which a bio-based queue has too).
    pub(crate) fn update(&self, capacity: u64, limits: &Limits) -> Result {
        // SAFETY: the disk is added (type invariant), its queue live.
        let q = unsafe { (*self.gendisk.as_ptr()).queue };
        if limits.zoned.is_some()
            || (limits.integrity.is_some() && !super::integrity::INTEGRITY_SUPPORTED)
        {
            return Err(EINVAL);
        }
        // SAFETY: `limits_lock` guards `q->limits`, which we copy and commit back;
        // `queue_limits_commit_update` unlocks it. The queue is frozen around it, as for the
        // blk-mq disks (`GenDisk::update`).
        unsafe {
            bindings::mutex_lock(&raw mut (*q).limits_lock);
            let mut lim = (*q).limits;
            set_queue_limits(&mut lim, limits);
            lim.features |= BLK_FEAT_IO_STAT | BLK_FEAT_NOWAIT;
            bindings::blk_mq_freeze_queue_nomemsave(q);
            let ret = to_result(bindings::queue_limits_commit_update(q, &mut lim));
            if ret.is_ok() {
                bindings::set_capacity_and_notify(self.gendisk.as_ptr(), capacity);
            }
            bindings::blk_mq_unfreeze_queue_nomemrestore(q);
            ret
        }
    }
}

impl<T: BioOperations> Drop for BioDisk<T> {
    fn drop(&mut self) {
        // SAFETY: the disk was added (type invariant); `del_gendisk` waits for the submissions
        // under way and fails later ones, `put_disk` drops our reference; the data lives on in
        // `private_data` until `free_disk`.
        unsafe {
            bindings::del_gendisk(self.gendisk.as_ptr());
            bindings::put_disk(self.gendisk.as_ptr());
        }
    }
}

/// `submit_bio` of `T`'s disks.
///
/// # Safety
///
/// Called by the block layer only, with a bio for a disk allocated by [`BioDisk::new`].
unsafe extern "C" fn submit_bio_callback<T: BioOperations>(bio: *mut bindings::bio) {
    // SAFETY: the block layer submits a bio to a live, added disk (it holds the queue's usage
    // counter for the call), whose `private_data` owns a reference on its data until
    // `free_disk`; the bio is handed to us, unlinked.
    let (disk, bio) = unsafe {
        let gd = (*(*bio).bi_bdev).bd_disk;
        (&*(*gd).private_data.cast::<T::Disk>(), Bio::from_raw(bio))
    };
    T::submit_bio(disk, bio);
}

/// `ioctl` of `T`'s disks.
///
/// # Safety
///
/// Called by the block layer only, for an open node of a disk allocated by [`BioDisk::new`].
unsafe extern "C" fn ioctl_callback<T: BioOperations>(
    bdev: *mut bindings::block_device,
    mode: bindings::blk_mode_t,
    cmd: u32,
    arg: usize,
) -> i32 {
    // SAFETY: an open node keeps the gendisk, and `private_data` its data (until `free_disk`,
    // which cannot run while a node is open).
    let (gd, data) = unsafe {
        let gd = (*bdev).bd_disk;
        (gd, &*(*gd).private_data.cast::<T::Disk>())
    };
    // SAFETY: `part0` is set at allocation and never changes.
    let partition = !ptr::eq(bdev, unsafe { (*gd).part0 });
    // `BLK_OPEN_WRITE`.
    let writable = mode & (1 << 1) != 0;
    match T::ioctl(data, partition, writable, cmd, arg) {
        // CAST: ioctl results (an NVMe status or a namespace id) fit in an int.
        Ok(v) => v as i32,
        Err(e) => e.to_errno(),
    }
}

/// `free_disk` of `T`'s disks: drops the reference `private_data` owned.
///
/// # Safety
///
/// Called by the block layer only, once, for a disk added by [`BioDisk::new`].
unsafe extern "C" fn free_disk_callback<T: BioOperations>(gd: *mut bindings::gendisk) {
    // SAFETY: `private_data` came from `Arc::into_raw` in `BioDisk::new`, and `free_disk` runs
    // once, after every other user of the gendisk is gone.
    drop(unsafe { Arc::from_raw((*gd).private_data.cast::<T::Disk>()) });
}

/// The data of `T`'s disk, found from the disk's device (for its attributes).
pub(crate) struct BioDiskOf<T>(PhantomData<T>);

impl<T: BioOperations> Locate for BioDiskOf<T> {
    type Object = T::Disk;

    unsafe fn object<'a>(dev: *mut bindings::device) -> &'a T::Disk {
        // SAFETY: a disk's device is the `bd_device` of its whole-disk `block_device`; the
        // gendisk's `private_data` owns a reference on the data until `free_disk`, which
        // cannot run while the device is alive (the caller's guarantee).
        unsafe {
            let bdev = kernel::container_of!(dev, bindings::block_device, bd_device);
            &*(*(*bdev).bd_disk).private_data.cast::<T::Disk>()
        }
    }
}
