// SPDX-License-Identifier: GPL-2.0

//! A disk on a tag set (`struct gendisk`): queue limits, adding and removing it, its
//! block device operations (`free_disk`, `ioctl`), and changing its format under a frozen
//! queue. Upstream's `GenDiskBuilder` sets capacity and block sizes only.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)

use crate::glue::kver;
use crate::glue::{
    block::mq::{
        operations::{
            IoctlNode,
            Operations, //
        },
        passthru::DiskQueue,
        tag_set::TagSet, //
    },
    block::{
        bio::DiskTarget,
        zoned::ZoneReport, //
    },
    device::raw_dev,
    sysfs::{
        AttrTable,
        Locate, //
    },
};
use core::{
    ffi::{
        c_int,
        c_uint,
        c_void, //
    },
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
    /// Metadata in a separate buffer, which the block layer provides with every read and write
    /// (the integrity payload), with or without protection information; one segment per
    /// request.
    pub(crate) integrity: Option<super::super::integrity::Integrity>,
    /// The disk is zoned, with this geometry.
    pub(crate) zoned: Option<super::super::zoned::ZonedLimits>,
    /// Write streams writers may choose among (`max_write_streams`, 0: none), and the bytes a
    /// stream fills before the device moves it on (`write_stream_granularity`).
    pub(crate) write_streams: u16,
    /// See `write_streams`.
    pub(crate) write_stream_granularity: u32,
}

/// log2 of the largest logical block size the block layer takes (`BLK_MAX_BLOCK_SIZE`): 64 KiB
/// when the page cache can hold blocks larger than a page in large folios
/// (`CONFIG_TRANSPARENT_HUGEPAGE`), else one page.
pub(crate) const MAX_BLOCK_SHIFT: u8 = if cfg!(CONFIG_TRANSPARENT_HUGEPAGE) {
    16
} else {
    // CAST: the page shift is 12 to 16.
    bindings::PAGE_SHIFT as u8
};

/// The block layer's queue limits for `limits`.
pub(in crate::glue) fn queue_limits(limits: &Limits) -> bindings::queue_limits {
    let mut lim: bindings::queue_limits = pin_init::zeroed();
    set_queue_limits(&mut lim, limits);
    lim
}

/// Sets the fields of `lim` that `limits` describes, clearing the optional ones (atomic
/// writes, write cache, FUA) that `limits` does not offer; the block layer derives the rest
/// when it validates them.
pub(in crate::glue) fn set_queue_limits(lim: &mut bindings::queue_limits, limits: &Limits) {
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
    super::super::integrity::set_limits(lim, limits.integrity.as_ref());
    super::super::zoned::set_limits(lim, limits.zoned.as_ref());
    lim.max_write_streams = limits.write_streams;
    lim.write_stream_granularity = limits.write_stream_granularity;
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
pub(crate) struct GenDisk<T: Operations> {
    gendisk: NonNull<bindings::gendisk>,
    /// The disk's data (`queuedata`, `private_data`).
    data: Arc<T::Disk>,
    _set: Arc<Pin<KBox<TagSet<T>>>>,
}

// SAFETY: the gendisk is internally synchronised by the block layer.
unsafe impl<T: Operations> Send for GenDisk<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for GenDisk<T> {}

/// The block device operations of every disk: blk-mq does the I/O. `owner` makes an open
/// disk hold a reference on the module (`rmmod` is refused meanwhile), `free_disk` drops the
/// gendisk's reference on the disk's data when the last gendisk reference goes, and `ioctl`
/// answers the NVMe passthrough ioctls.
struct Fops(bindings::block_device_operations);

// SAFETY: the table is immutable; the raw pointers in it refer to this module, which outlives
// every disk.
unsafe impl Sync for Fops {}

impl<T: Operations> GenDisk<T> {
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
        report_zones: Some(report_zones_callback::<T>),
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

/// `report_zones` of our disks, answered by [`Operations::report_zones`].
///
/// # Safety
///
/// Called by the block layer only, for a disk allocated by [`GenDisk::new`], with the
/// arguments of its zone report.
unsafe extern "C" fn report_zones_callback<T: Operations>(
    gd: *mut bindings::gendisk,
    sector: bindings::sector_t,
    nr_zones: c_uint,
    args: *mut bindings::blk_report_zones_args,
) -> c_int {
    // SAFETY: `private_data` holds a reference on the disk's data until `free_disk` (type
    // invariant of `GenDisk`), which cannot run during a call on the disk; the queue is the
    // disk's own, allocated with it on `T`'s tag set.
    let (disk, queue) = unsafe {
        (
            &*(*gd).private_data.cast::<T::Disk>(),
            DiskQueue::<T>(NonNull::new_unchecked((*gd).queue), PhantomData),
        )
    };
    // SAFETY: the arguments of this running call.
    let mut report = unsafe { ZoneReport::new(gd, args) };
    match T::report_zones(disk, queue, sector, nr_zones, &mut report) {
        // CAST: at most `nr_zones`, an `unsigned int`, zones are reported.
        Ok(n) => n.min(i32::MAX as u32) as c_int,
        Err(e) => e.to_errno(),
    }
}

/// `free_disk` of our disks: the last reference on the gendisk went, so nothing can reach its
/// data through it any more; drops the reference `private_data` owned.
///
/// # Safety
///
/// Called by the block layer only, once, for a disk allocated and added by [`GenDisk::new`].
unsafe extern "C" fn free_disk_callback<T: Operations>(gd: *mut bindings::gendisk) {
    // SAFETY: `private_data` came from `Arc::into_raw` in `GenDisk::new` (type invariant of
    // `GenDisk`), and `free_disk` runs once, after every other user of the gendisk is gone.
    drop(unsafe { Arc::from_raw((*gd).private_data.cast::<T::Disk>()) });
}

impl<T: Operations> GenDisk<T> {
    /// Allocates a disk on `set`, named `name`, of `capacity` 512-byte sectors, with `limits`,
    /// as a child of `parent`, and adds it to the system. With no parent the disk is hidden:
    /// no device node and no partitions (`GENHD_FL_HIDDEN`), under
    /// `/sys/devices/virtual/block`; only a stacking disk sends it bios.
    pub(crate) fn new(
        set: &Arc<Pin<KBox<TagSet<T>>>>,
        data: Arc<T::Disk>,
        name: fmt::Arguments<'_>,
        capacity: u64,
        limits: &Limits,
        parent: Option<&device::Device>,
    ) -> Result<Self> {
        if limits.integrity.is_some() && !super::super::integrity::INTEGRITY_SUPPORTED {
            return Err(EINVAL);
        }
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
            if parent.is_none() {
                (*gd).flags |= GENHD_FL_HIDDEN;
            }
            bindings::set_capacity(gd, capacity);
        }
        if limits.zoned.is_some() {
            // SAFETY: a zoned disk with its capacity and operations set, not added yet: the
            // block layer reads its zones (through `report_zones`) before it is visible.
            unsafe { super::super::zoned::revalidate(gd)? };
        }
        // The groups table is static and only read by the block layer.
        let groups = AttrTable::<T::DiskAttrs, DiskOf<T>>::groups()
            .as_ptr()
            .cast::<*const bindings::attribute_group>();
        let parent = parent.map_or(ptr::null_mut(), raw_dev);
        // SAFETY: `gd` is a fully set up disk; `parent` is null or a live device that outlives
        // it; the attribute groups are static.
        to_result(unsafe { bindings::device_add_disk(parent, gd, groups.cast_mut()) })?;
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

impl<T: Operations> GenDisk<T> {
    /// The disk's data.
    pub(crate) fn data(&self) -> &T::Disk {
        &self.data
    }

    /// The disk's data, counted.
    pub(in crate::glue) fn data_arc(&self) -> &Arc<T::Disk> {
        &self.data
    }

    /// The disk's whole-disk device, for bios a stacking disk sends it; valid while `self`
    /// lives.
    pub(crate) fn target(&self) -> DiskTarget {
        // SAFETY: `part0` is set at allocation and lives with the gendisk, which `self` keeps
        // added (the `DiskTarget` invariant is the caller's to keep).
        DiskTarget(unsafe { NonNull::new_unchecked((*self.gendisk.as_ptr()).part0) })
    }

    /// The disk's request queue, for the driver's own commands on it.
    pub(crate) fn disk_queue(&self) -> DiskQueue<T> {
        // SAFETY: the queue is set at allocation, never changes and lives with the gendisk,
        // which `self` holds; the handle is used within a borrow of `self` (its invariant).
        DiskQueue(unsafe { NonNull::new_unchecked(self.queue()) }, PhantomData)
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
        if limits.integrity.is_some() && !super::super::integrity::INTEGRITY_SUPPORTED {
            return Err(EINVAL);
        }
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
        disks: impl Iterator<Item = &'a GenDisk<T>> + Clone,
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

impl<T: Operations> Drop for GenDisk<T> {
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

/// `GENHD_FL_HIDDEN`: no device node, no partitions, no events.
// CAST: the flag (1 << 1) fits the `int` field.
const GENHD_FL_HIDDEN: c_int = bindings::GENHD_FL_HIDDEN as c_int;

/// `BLK_FEAT_WRITE_CACHE`: the device has a volatile write cache.
const BLK_FEAT_WRITE_CACHE: u32 = 1 << 0;
/// `BLK_FEAT_FUA`: the device honours forced unit access.
const BLK_FEAT_FUA: u32 = 1 << 1;
/// `BLK_FEAT_ATOMIC_WRITES`: the device offers untorn writes up to the atomic limits.
const BLK_FEAT_ATOMIC_WRITES: u32 = 1 << 14;

/// `ioctl` of our disks, answered by [`Operations::disk_ioctl`].
///
/// # Safety
///
/// Called by the block layer only, for an open node of a disk allocated by [`GenDisk::new`].
unsafe extern "C" fn disk_ioctl_callback<T: Operations>(
    bdev: *mut bindings::block_device,
    mode: bindings::blk_mode_t,
    cmd: u32,
    arg: usize,
) -> i32 {
    // SAFETY: `bdev` is an open node of one of our disks; the gendisk lives while it is open,
    // and its `private_data` owns a reference on the disk's data until `free_disk`, which
    // cannot run while the node is open (type invariant of `GenDisk`), even after the disk was
    // removed.
    let (gd, data) = unsafe {
        let gd = (*bdev).bd_disk;
        (gd, &*(*gd).private_data.cast::<T::Disk>())
    };
    let node = IoctlNode {
        // SAFETY: as above, the disk is open, so its queue is live for the ioctl.
        queue: DiskQueue(unsafe { NonNull::new_unchecked((*gd).queue) }, PhantomData),
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

/// The data of `T`'s disk, found from the disk's device (for its attributes).
pub(crate) struct DiskOf<T>(PhantomData<T>);

impl<T: Operations> Locate for DiskOf<T> {
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
