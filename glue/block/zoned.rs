// SPDX-License-Identifier: GPL-2.0

//! Zoned block devices (`struct blk_zone`, `disk_report_zone()`): the zone geometry of a
//! disk's queue limits and the zone report a driver gives the block layer through the
//! `report_zones` operation. The kernel crate has no abstraction for them.

use kernel::{
    bindings,
    error::to_result,
    prelude::*, //
};

/// The kernel has zoned block device support (`CONFIG_BLK_DEV_ZONED`): without it no disk
/// can be zoned, see [`ZonedLimits`].
pub(crate) const ZONED_SUPPORTED: bool = cfg!(CONFIG_BLK_DEV_ZONED);

/// The zone geometry of a host-managed zoned disk (the zoned fields of `queue_limits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ZonedLimits {
    /// Zone size in 512-byte sectors, a power of two (`chunk_sectors`).
    pub(crate) zone_sectors: u32,
    /// Most zones open at once (0: no limit).
    pub(crate) max_open: u32,
    /// Most zones open or closed at once (0: no limit).
    pub(crate) max_active: u32,
    /// Largest zone append in sectors (`max_hw_zone_append_sectors`).
    pub(crate) max_append_sectors: u32,
}

/// `BLK_FEAT_ZONED`: the disk is a host-managed zoned device.
const BLK_FEAT_ZONED: u32 = 1 << 10;

/// Sets (or clears) the zone geometry of `lim`.
pub(in crate::glue) fn set_limits(lim: &mut bindings::queue_limits, zoned: Option<&ZonedLimits>) {
    lim.features &= !BLK_FEAT_ZONED;
    lim.max_open_zones = 0;
    lim.max_active_zones = 0;
    lim.max_hw_zone_append_sectors = 0;
    let Some(z) = zoned else {
        return;
    };
    lim.features |= BLK_FEAT_ZONED;
    lim.chunk_sectors = z.zone_sectors;
    lim.max_open_zones = z.max_open;
    lim.max_active_zones = z.max_active;
    lim.max_hw_zone_append_sectors = z.max_append_sectors;
}

/// One zone as the block layer describes it (`struct blk_zone`), in 512-byte sectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Zone {
    /// First sector.
    pub(crate) start: u64,
    /// Size in sectors.
    pub(crate) len: u64,
    /// Write pointer.
    pub(crate) wp: u64,
    /// Writable sectors from `start`.
    pub(crate) capacity: u64,
    /// `BLK_ZONE_TYPE_*`.
    pub(crate) zone_type: u8,
    /// `BLK_ZONE_COND_*`.
    pub(crate) cond: u8,
    /// The device recommends a reset.
    pub(crate) reset: bool,
}

/// Where the zones of a `report_zones` call go (`disk_report_zone()` with the block layer's
/// arguments of that call).
///
/// # Invariants
///
/// `disk` and `args` are those of a `report_zones` call that is running.
pub(crate) struct ZoneReport {
    disk: *mut bindings::gendisk,
    args: *mut bindings::blk_report_zones_args,
}

impl ZoneReport {
    /// # Safety
    ///
    /// `disk` and `args` are the arguments of the running `report_zones` call, and the value
    /// does not outlive it.
    pub(in crate::glue) unsafe fn new(
        disk: *mut bindings::gendisk,
        args: *mut bindings::blk_report_zones_args,
    ) -> Self {
        // INVARIANT: per the function's requirements.
        Self { disk, args }
    }

    /// Hands zone `idx` of the report (from 0, in order) to the block layer.
    pub(crate) fn report(&mut self, zone: &Zone, idx: u32) -> Result {
        let mut z = bindings::blk_zone {
            start: zone.start,
            len: zone.len,
            wp: zone.wp,
            type_: zone.zone_type,
            cond: zone.cond,
            reset: u8::from(zone.reset),
            capacity: zone.capacity,
            ..Default::default()
        };
        // SAFETY: `disk` and `args` belong to the running `report_zones` call (type
        // invariant); `z` is a valid zone the callee copies from.
        to_result(unsafe { bindings::disk_report_zone(self.disk, &mut z, idx, self.args) })
    }
}

/// Reads the zones of a zoned disk that is about to be added (`blk_revalidate_disk_zones()`,
/// which calls the disk's `report_zones`).
///
/// # Safety
///
/// `disk` is a disk allocated with zoned limits, its capacity and operations set, not freed
/// during the call.
pub(in crate::glue) unsafe fn revalidate(disk: *mut bindings::gendisk) -> Result {
    // SAFETY: per the function's requirements.
    to_result(unsafe { bindings::blk_revalidate_disk_zones(disk) })
}
