// SPDX-License-Identifier: GPL-2.0

//! Tests of nvme/zns.rs: the Zoned Namespace Identify structures, Zone Management Send and
//! Receive and Zone Append encodings, Report Zones parsing and the translation of zones into
//! Linux's `struct blk_zone`, on buffers built at the byte offsets of the ZNS specification.

use crate::nvme::cmd::{Command, Completion};
use crate::nvme::ident::{CNS_CS_CTRL, CNS_CS_NS, CSI_ZNS};
use crate::nvme::zns::*;

/// CDW10..=CDW15 of a command, in CPU order.
fn cdws(c: &Command) -> [u32; 6] {
    [c.cdw10, c.cdw11, c.cdw12, c.cdw13, c.cdw14, c.cdw15].map(u32::from_le)
}

/// A 4 KiB Identify buffer.
fn id() -> [u8; 4096] {
    [0; 4096]
}

/// Writes `v` little-endian at `off` of `b`.
fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// A ZNS Identify Namespace with `mar`, `mor` and zone size `zsze` for LBA format `i`.
fn id_ns(mar: u32, mor: u32, lbafe: &[(usize, u64, u8)]) -> IdNsZns {
    let mut b = id();
    put(&mut b, 4, &mar.to_le_bytes());
    put(&mut b, 8, &mor.to_le_bytes());
    for &(i, zsze, zdes) in lbafe {
        put(&mut b, 2816 + 16 * i, &zsze.to_le_bytes());
        b[2816 + 16 * i + 8] = zdes;
    }
    IdNsZns::parse(&b)
}

#[test]
fn identify_csi_puts_the_csi_in_cdw11() {
    let c = Command::identify_csi(0x05, 7, 2);
    assert_eq!(c.opcode(), 0x06);
    assert_eq!(c.nsid(), 7);
    assert_eq!(cdws(&c), [0x05, 0x0200_0000, 0, 0, 0, 0]);
    let c = Command::identify_csi(0x06, 0, 0xab);
    assert_eq!(cdws(&c)[..2], [0x06, 0xab00_0000]);
    let c = Command::identify_csi(CNS_CS_NS, 3, CSI_ZNS);
    assert_eq!(
        (c.nsid(), cdws(&c)[..2].to_vec()),
        (3, vec![0x05, 0x0200_0000])
    );
    let c = Command::identify_csi(CNS_CS_CTRL, 0, CSI_ZNS);
    assert_eq!(cdws(&c)[..2], [0x06, 0x0200_0000]);
}

#[test]
fn id_ctrl_zasl() {
    let mut b = id();
    assert_eq!(IdCtrlZns::parse(&b).zasl, 0);
    // 0: as MDTS.
    assert_eq!(IdCtrlZns::parse(&b).append_limit_bytes(12), None);
    assert_eq!(IdCtrlZns::parse(&b).append_max_sectors(12, 1024), 1024);
    b[0] = 5;
    b[1] = 0xff;
    let c = IdCtrlZns::parse(&b);
    assert_eq!(c.zasl, 5);
    assert_eq!(c.append_limit_bytes(12), Some(128 << 10));
    assert_eq!(c.append_limit_bytes(16), Some(2 << 20));
    assert_eq!(c.append_max_sectors(12, 1024), 256);
    // MDTS is smaller.
    assert_eq!(c.append_max_sectors(12, 128), 128);
    assert_eq!(c.append_max_sectors(12, 256), 256);
    // Limits past 2^62 bytes leave only the maximum transfer.
    b[0] = 51;
    assert_eq!(IdCtrlZns::parse(&b).append_limit_bytes(12), None);
    assert_eq!(IdCtrlZns::parse(&b).append_max_sectors(12, 77), 77);
    b[0] = 50;
    assert_eq!(IdCtrlZns::parse(&b).append_limit_bytes(12), Some(1 << 62));
    assert_eq!(IdCtrlZns::parse(&b).append_limit_bytes(u32::MAX), None);
    b[0] = 0xff;
    assert_eq!(IdCtrlZns::parse(&b).append_limit_bytes(12), None);
}

#[test]
fn id_ns_fields() {
    let mut b = id();
    put(&mut b, 0, &0x0003u16.to_le_bytes());
    put(&mut b, 2, &0x0001u16.to_le_bytes());
    put(&mut b, 4, &13u32.to_le_bytes());
    put(&mut b, 8, &11u32.to_le_bytes());
    let n = IdNsZns::parse(&b);
    assert_eq!(n.zoc, ZOC_VZCAP | ZOC_ZAE);
    assert_eq!(n.ozcs, OZCS_RAZB);
    assert_eq!((n.mar, n.mor), (13, 11));
    assert_eq!((n.max_active(), n.max_open()), (14, 12));
    assert_eq!(n.zone_resources(), (12, 14));
    assert!(n.lbafe.iter().all(|e| *e == LbaFormatExt::default()));
}

#[test]
fn id_ns_resource_limits() {
    let n = id_ns(u32::MAX, u32::MAX, &[]);
    assert_eq!((n.max_open(), n.max_active()), (0, 0));
    assert_eq!(n.zone_resources(), (0, 0));
    let n = id_ns(0, 0, &[]);
    assert_eq!((n.max_open(), n.max_active()), (1, 1));
    // Largest limited value: 0xfffffffe is 0xffffffff resources.
    let n = id_ns(0xffff_fffe, 0xffff_fffe, &[]);
    assert_eq!((n.max_open(), n.max_active()), (u32::MAX, u32::MAX));
    // Open unlimited but active limited: open zones are active.
    let n = id_ns(15, u32::MAX, &[]);
    assert_eq!((n.max_open(), n.max_active()), (0, 16));
    assert_eq!(n.zone_resources(), (16, 16));
    // More open than active (against the spec): clamped.
    let n = id_ns(3, 9, &[]);
    assert_eq!(n.zone_resources(), (4, 4));
    // Active unlimited, open limited.
    let n = id_ns(u32::MAX, 9, &[]);
    assert_eq!(n.zone_resources(), (10, 0));
}

#[test]
fn id_ns_zone_size_per_format() {
    let n = id_ns(
        0,
        0,
        &[
            (0, 0x8000, 0),
            (1, 0x1000, 2),
            (15, 1 << 20, 0),
            (63, 0x0102_0304_0506_0708, 0xff),
        ],
    );
    assert_eq!(n.zone_size_blocks(0), 0x8000);
    assert_eq!(n.zone_size_blocks(1), 0x1000);
    assert_eq!(n.lbafe[1].zdes, 2);
    assert_eq!(n.zone_size_blocks(2), 0);
    assert_eq!(n.zone_size_blocks(15), 1 << 20);
    assert_eq!(n.zone_size_blocks(63), 0x0102_0304_0506_0708);
    assert_eq!(n.lbafe[63].zdes, 0xff);
    assert_eq!(n.zone_size_blocks(64), 0);
    assert_eq!(n.zone_size_blocks(255), 0);
    // 512-byte and 4 KiB blocks.
    assert_eq!(n.zone_size_sectors(0, 9), Ok(0x8000));
    assert_eq!(n.zone_size_sectors(1, 12), Ok(0x8000));
    assert_eq!(n.zone_size_sectors(15, 12), Ok(8 << 20));
    assert_eq!(n.zone_size_sectors(2, 9), Err(ZnsUnsupported::ZoneSize(0)));
    assert_eq!(
        n.zone_size_sectors(63, 9),
        Err(ZnsUnsupported::ZoneSize(0x0102_0304_0506_0708))
    );
    let n = id_ns(0, 0, &[(0, 3 << 10, 0), (1, 1 << 31, 0), (2, 1 << 32, 0)]);
    assert_eq!(
        n.zone_size_sectors(0, 9),
        Err(ZnsUnsupported::ZoneSize(3 << 10))
    );
    assert_eq!(n.zone_size_sectors(1, 9), Ok(1 << 31));
    // More sectors than `chunk_sectors` holds.
    assert_eq!(
        n.zone_size_sectors(1, 10),
        Err(ZnsUnsupported::ZoneSize(1 << 31))
    );
    assert_eq!(
        n.zone_size_sectors(2, 9),
        Err(ZnsUnsupported::ZoneSize(1 << 32))
    );
    // Zone operation characteristics are refused.
    let mut b = id();
    b[0] = 1;
    put(&mut b, 2816, &0x1000u64.to_le_bytes());
    let n = IdNsZns::parse(&b);
    assert_eq!(
        n.zone_size_sectors(0, 9),
        Err(ZnsUnsupported::ZoneOperations(1))
    );
}

#[test]
fn zone_mgmt_send_encoding() {
    for (action, code) in [
        (ZoneAction::Close, 1),
        (ZoneAction::Finish, 2),
        (ZoneAction::Open, 3),
        (ZoneAction::Reset, 4),
        (ZoneAction::Offline, 5),
        (ZoneAction::SetZoneDescExt, 0x10),
    ] {
        let c = Command::zone_mgmt_send(9, 0x1122_3344_5566_7788, action, false);
        assert_eq!(c.opcode(), 0x79);
        assert_eq!(c.nsid(), 9);
        assert_eq!(cdws(&c), [0x5566_7788, 0x1122_3344, 0, code, 0, 0]);
        let c = Command::zone_mgmt_send(9, 0, action, true);
        assert_eq!(cdws(&c), [0, 0, 0, code | 0x100, 0, 0]);
        assert_eq!((c.prp1, c.prp2, c.mptr, c.cdw2, c.cdw3), (0, 0, 0, 0, 0));
    }
}

#[test]
fn zone_mgmt_recv_encoding() {
    let c = Command::zone_mgmt_recv(1, 0xaabb_ccdd_0000_1000, 1023, false);
    assert_eq!(c.opcode(), 0x7a);
    assert_eq!(c.nsid(), 1);
    assert_eq!(cdws(&c), [0x0000_1000, 0xaabb_ccdd, 1023, 0, 0, 0]);
    let c = Command::zone_mgmt_recv(1, 0, u32::MAX, true);
    assert_eq!(cdws(&c), [0, 0, u32::MAX, 1 << 16, 0, 0]);
    assert_eq!(report_numd(0), 0);
    assert_eq!(report_numd(3), 0);
    assert_eq!(report_numd(4), 0);
    assert_eq!(report_numd(4096), 1023);
    assert_eq!(report_numd(4099), 1023);
    assert_eq!(report_numd(usize::MAX), u32::MAX);
}

#[test]
fn zone_append_encoding_and_result() {
    let c = Command::zone_append(2, 0x1_0000_0000, 8, true);
    assert_eq!(c.opcode(), 0x7d);
    assert_eq!(c.nsid(), 2);
    assert_eq!(cdws(&c), [0, 1, 7 | (1 << 30), 0, 0, 0]);
    let c = Command::zone_append(2, 0x800, 1, false);
    assert_eq!(cdws(&c), [0x800, 0, 0, 0, 0, 0]);
    // The LBA written comes back in DW0 (low) and DW1 (high).
    let cqe = Completion::from_dwords([0x1234, 0x1, 0, 0]);
    let lba = u64::from_le(cqe.result);
    assert_eq!(lba, 0x1_0000_1234);
    assert_eq!(zone_append_lba_to_sector(lba, 9), 0x1_0000_1234);
    assert_eq!(zone_append_lba_to_sector(lba, 12), 0x8_0000_91a0);
    assert_eq!(zone_append_lba_to_sector(u64::MAX, 12), u64::MAX);
    assert_eq!(zone_append_lba_to_sector(1 << 60, 12), 1 << 63);
    assert_eq!(zone_append_lba_to_sector((1 << 61) - 1, 12), u64::MAX - 7);
    assert_eq!(zone_append_lba_to_sector(1 << 61, 12), u64::MAX);
}

#[test]
fn lba_to_sectors_shifts() {
    assert_eq!(lba_to_sectors(10, 9), 10);
    assert_eq!(lba_to_sectors(10, 12), 80);
    assert_eq!(lba_to_sectors(10, 16), 1280);
    assert_eq!(lba_to_sectors(10, 8), 5);
    assert_eq!(lba_to_sectors(1, 0), 0);
    assert_eq!(lba_to_sectors(1, 72), 1 << 63);
    assert_eq!(lba_to_sectors(2, 72), u64::MAX);
    assert_eq!(lba_to_sectors(1, 73), u64::MAX);
    assert_eq!(lba_to_sectors(0, 255), 0);
    assert_eq!(lba_to_sectors(1, 255), u64::MAX);
}

/// Writes `d` as zone descriptor `i` of a report in `b`, at the spec's byte offsets.
fn desc(b: &mut [u8], i: usize, d: ZoneDesc) {
    let o = 64 + 64 * i;
    b[o] = d.zt;
    b[o + 1] = d.zs << 4;
    b[o + 2] = d.za;
    put(b, o + 8, &d.zcap.to_le_bytes());
    put(b, o + 16, &d.zslba.to_le_bytes());
    put(b, o + 24, &d.wp.to_le_bytes());
}

/// A report of `nrz` zones in a buffer of `len` bytes, with `fill` descriptors of zone size
/// 0x100 blocks, each with its index in its fields.
fn report(len: usize, nrz: u64, fill: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    put(&mut b, 0, &nrz.to_le_bytes());
    for i in 0..fill {
        let z = 0x100 * i as u64;
        let d = ZoneDesc {
            zt: 2,
            zs: 2,
            za: 0,
            zcap: 0xf0,
            zslba: z,
            wp: z + i as u64,
        };
        desc(&mut b, i, d);
    }
    b
}

#[test]
fn zone_descriptor_fields() {
    let mut b = vec![0u8; 128];
    b[0] = 1;
    let want = ZoneDesc {
        zt: 2,
        zs: 0xe,
        za: 0x87,
        zcap: 0x1122_3344,
        zslba: 0x5566_7788_99aa,
        wp: 0xbbcc,
    };
    desc(&mut b, 0, want);
    // Reserved bits of bytes 0 and 1, and of bytes 3..8 and 32..64.
    b[64] = 0xf2;
    b[65] = 0xef;
    b[67..72].fill(0xff);
    b[96..128].fill(0xff);
    let z: Vec<_> = zones(&b).collect();
    assert_eq!(z, [want]);
    assert_eq!(z[0].blk_cond(), Some(BLK_ZONE_COND_FULL));
    assert_eq!(z[0].za & (ZA_FZR | ZA_RZR), 0x6);
}

#[test]
fn zones_stop_at_nrz() {
    let b = report(64 + 64 * 8, 3, 8);
    assert_eq!(nr_zones(&b), 3);
    let z: Vec<_> = zones(&b).collect();
    assert_eq!(z.len(), 3);
    for (i, d) in z.iter().enumerate() {
        assert_eq!((d.zslba, d.wp), (0x100 * i as u64, 0x101 * i as u64));
    }
    assert_eq!(zones(&report(64 + 64 * 8, 0, 8)).count(), 0);
}

#[test]
fn zones_stop_at_the_end_of_the_buffer() {
    // NRZ larger than what fits, up to u64::MAX.
    for nrz in [5, 1000, u64::MAX] {
        assert_eq!(zones(&report(64 + 64 * 4, nrz, 4)).count(), 4);
        // A partial descriptor at the end is not read.
        assert_eq!(zones(&report(64 + 64 * 4 + 63, nrz, 4)).count(), 4);
        assert_eq!(
            zones(&report(64 + 64 * 4 + 32, nrz, 4))
                .last()
                .unwrap()
                .zslba,
            0x300
        );
    }
    // Header only, short header, nothing.
    assert_eq!(zones(&report(64, 9, 0)).count(), 0);
    assert_eq!(zones(&report(127, 9, 0)).count(), 0);
    let mut b = [0u8; 63];
    b[0] = 9;
    assert_eq!(nr_zones(&b), 9);
    assert_eq!(zones(&b).count(), 0);
    assert_eq!(nr_zones(&b[..7]), 0);
    assert_eq!(zones(&b[..7]).count(), 0);
    assert_eq!(zones(&[]).count(), 0);
}

#[test]
fn every_state_maps_to_its_condition() {
    // ZNS state code, Linux condition (constant and number), write pointer is the zone end.
    for (zs, cond, linux, at_end) in [
        (0x1, BLK_ZONE_COND_EMPTY, 1, false),
        (0x2, BLK_ZONE_COND_IMP_OPEN, 2, false),
        (0x3, BLK_ZONE_COND_EXP_OPEN, 3, false),
        (0x4, BLK_ZONE_COND_CLOSED, 4, false),
        (0xd, BLK_ZONE_COND_READONLY, 0xd, true),
        (0xe, BLK_ZONE_COND_FULL, 0xe, true),
        (0xf, BLK_ZONE_COND_OFFLINE, 0xf, true),
    ] {
        assert_eq!(cond, linux);
        // Zone 3 of 0x1000-block zones of 4 KiB blocks, capacity 0xc00 blocks, 0x10 written.
        let d = ZoneDesc {
            zt: 2,
            zs,
            za: 0,
            zcap: 0xc00,
            zslba: 0x3000,
            wp: 0x3010,
        };
        assert_eq!(d.blk_cond(), Some(cond));
        let z = d.to_blk_zone(0x8000, 12).unwrap();
        assert_eq!(
            (z.zone_type, z.cond, z.reset),
            (BLK_ZONE_TYPE_SEQWRITE_REQ, cond, false)
        );
        assert_eq!((z.start, z.len, z.capacity), (0x18000, 0x8000, 0x6000));
        let wp = if at_end { 0x20000 } else { 0x18080 };
        assert_eq!(z.wp, wp, "state {zs:#x}");
    }
    for zs in [0x0, 0x5, 0x6, 0x7, 0x8, 0x9, 0xa, 0xb, 0xc] {
        let d = ZoneDesc {
            zt: 2,
            zs,
            ..Default::default()
        };
        assert_eq!(d.blk_cond(), None);
        assert_eq!(d.to_blk_zone(8, 9), Err(ZoneError::State(zs)));
    }
    assert_eq!(BLK_ZONE_COND_NOT_WP, 0);
    assert_eq!(
        (
            BLK_ZONE_TYPE_CONVENTIONAL,
            BLK_ZONE_TYPE_SEQWRITE_REQ,
            BLK_ZONE_TYPE_SEQWRITE_PREF
        ),
        (1, 2, 3)
    );
}

#[test]
fn blk_zone_edges() {
    // Only sequential write required zones.
    for zt in [0, 1, 3, 0xf] {
        let d = ZoneDesc {
            zt,
            zs: 1,
            ..Default::default()
        };
        assert_eq!(d.to_blk_zone(8, 9), Err(ZoneError::Type(zt)));
    }
    // Reset recommended; an empty zone's write pointer is its start.
    let d = ZoneDesc {
        zt: 2,
        zs: 1,
        za: ZA_RZR,
        zcap: 0x100,
        zslba: 0x200,
        wp: 0x200,
    };
    let z = d.to_blk_zone(0x100, 9).unwrap();
    assert_eq!(
        (z.start, z.wp, z.capacity, z.reset),
        (0x200, 0x200, 0x100, true)
    );
    // A full zone at the end of the LBA space saturates instead of overflowing.
    let d = ZoneDesc {
        zt: 2,
        zs: 0xe,
        za: 0,
        zcap: 1,
        zslba: u64::MAX,
        wp: u64::MAX,
    };
    let z = d.to_blk_zone(0x100, 12).unwrap();
    assert_eq!((z.start, z.wp), (u64::MAX, u64::MAX));
    // A whole report, converted.
    let b = report(64 + 64 * 3, 3, 3);
    let z: Vec<_> = zones(&b)
        .map(|d| d.to_blk_zone(0x800, 12).unwrap())
        .collect();
    assert_eq!(
        z.iter()
            .map(|z| (z.start, z.wp, z.capacity))
            .collect::<Vec<_>>(),
        [
            (0, 0, 0x780),
            (0x800, 0x808, 0x780),
            (0x1000, 0x1010, 0x780)
        ]
    );
}
