// SPDX-License-Identifier: GPL-2.0

//! Zoned namespaces served as zoned disks (C's `zns.c`): the zone report the block layer asks
//! for (Zone Management Receive on the disk's own queue, as C), and what a zoned namespace's
//! disk is set up with. Commands and data layouts are in [`crate::nvme::zns`].

use kernel::{
    alloc::{
        allocator::Vmalloc,
        Vec, //
    },
    prelude::*,
};

use crate::{
    glue::{
        DiskQueue,
        Zone,
        ZoneReport, //
    },
    iod::NvmeMq,
    ns::Namespace,
    nvme::{
        cmd::Command,
        zns::{
            self,
            REPORT_HEADER_SIZE,
            ZONE_DESC_SIZE, //
        },
    },
};

/// Largest zone report buffer: 1023 descriptors and the header (64 KiB).
const REPORT_MAX: usize = 64 * 1024;

/// Reports the zones of `ns`'s disk (on `queue`) from the one holding `sector` on, at most
/// `nr_zones`, as C's `nvme_ns_report_zones()`: reports of as many zones as fit a buffer of
/// up to 64 KiB (halved while memory is short), each converted and handed to the block
/// layer in order. Returns how many were reported; `EINVAL` when none was.
pub(crate) fn nvme_ns_report_zones(
    ns: &Namespace,
    queue: DiskQueue<NvmeMq>,
    sector: u64,
    nr_zones: u32,
    report: &mut ZoneReport,
) -> Result<u32> {
    let zone_sectors = u64::from(ns.zone_sectors());
    if zone_sectors == 0 {
        return Err(EINVAL);
    }
    let capacity = ns.capacity_sectors();
    let lba_shift = ns.lba_shift();
    // CAST: the shift is at most 16.
    let shift8 = lba_shift as u8;
    let zones_left = (capacity / zone_sectors).min(u64::from(nr_zones));
    let want = usize::try_from(zones_left)
        .unwrap_or(usize::MAX)
        .saturating_mul(ZONE_DESC_SIZE)
        .saturating_add(REPORT_HEADER_SIZE)
        .min(REPORT_MAX);
    let mut len = want;
    let mut buf = loop {
        match Vec::<u8, Vmalloc>::from_elem(0u8, len, GFP_KERNEL) {
            Ok(b) => break b,
            Err(_) if len / 2 >= REPORT_HEADER_SIZE + ZONE_DESC_SIZE => len /= 2,
            Err(e) => return Err(e.into()),
        }
    };
    let in_buf = (len - REPORT_HEADER_SIZE) / ZONE_DESC_SIZE;
    let mut sector = sector & !(zone_sectors - 1);
    let mut idx = 0u32;
    while idx < nr_zones && sector < capacity {
        buf.fill(0);
        let c = Command::zone_mgmt_recv(
            ns.nsid,
            sector >> (lba_shift - 9),
            zns::report_numd(len),
            true,
        );
        ns.run_on_disk(queue, &c, &mut buf)?;
        // CAST: a count of at most `u32::MAX` zones is what can be reported.
        let nz = zns::nr_zones(&buf)
            .min(u64::from(nr_zones - idx))
            .min(in_buf as u64) as u32;
        if nz == 0 {
            break;
        }
        for d in zns::zones(&buf).take(nz as usize) {
            let z = d.to_blk_zone(zone_sectors, shift8).map_err(|_| EINVAL)?;
            report.report(
                &Zone {
                    start: z.start,
                    len: z.len,
                    wp: z.wp,
                    capacity: z.capacity,
                    zone_type: z.zone_type,
                    cond: z.cond,
                    reset: z.reset,
                },
                idx,
            )?;
            idx += 1;
        }
        sector = sector.saturating_add(zone_sectors * u64::from(nz));
    }
    if idx == 0 {
        Err(EINVAL)
    } else {
        Ok(idx)
    }
}
