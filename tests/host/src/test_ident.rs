// SPDX-License-Identifier: GPL-2.0

//! Tests of Identify Controller, Identify Namespace and Active Namespace ID
//! list parsing (nvme/ident.rs) from synthetic 4 KiB buffers with known
//! values at the spec's byte offsets.

use crate::nvme::ident::*;

/// A 4 KiB Identify buffer under construction.
struct Buf([u8; 4096]);

impl Buf {
    fn new() -> Self {
        Self([0; 4096])
    }
    fn u8(&mut self, off: usize, v: u8) -> &mut Self {
        self.0[off] = v;
        self
    }
    fn u16(&mut self, off: usize, v: u16) -> &mut Self {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
        self
    }
    /// Writes `s` padded with `pad` to `width` bytes.
    fn str(&mut self, off: usize, width: usize, s: &str, pad: u8) -> &mut Self {
        self.0[off..off + width].fill(pad);
        self.0[off..off + s.len()].copy_from_slice(s.as_bytes());
        self
    }
    /// LBA format descriptor `i`: metadata size, log2 data size, RP.
    fn lbaf(&mut self, i: usize, ms: u16, lbads: u8, rp: u8) -> &mut Self {
        let off = 128 + 4 * i;
        self.u16(off, ms).u8(off + 2, lbads).u8(off + 3, rp)
    }
}

/// An Identify Controller buffer like QEMU's emulated controller returns.
fn qemu_like_ctrl() -> Buf {
    let mut b = Buf::new();
    b.u16(0, 0x1b36)
        .u16(2, 0x1af4)
        .str(4, 20, "deadbeef", b' ')
        .str(24, 40, "QEMU NVMe Ctrl", b' ')
        .str(64, 8, "10.0.0", b' ')
        .u8(72, 6)
        .u8(73, 0x00)
        .u8(74, 0x54)
        .u8(75, 0x52)
        .u8(76, 0)
        .u8(77, 7)
        .u16(78, 0)
        .u32(80, 0x0001_0400)
        .u32(84, 0x0010_0000)
        .u32(88, 0x0020_0000)
        .u32(92, 0x0000_0100)
        .u32(96, 0x0000_0010)
        .u16(128, 1)
        .u16(130, 2)
        .u16(132, 3)
        .u16(256, 0x0108 | 0x0002)
        .u8(258, 3)
        .u8(259, 3)
        .u8(260, 0x07)
        .u8(261, 0x0f)
        .u8(262, 0x7f)
        .u8(263, 0)
        .u16(266, 0x0157)
        .u16(268, 0x0175)
        .u8(512, 0x66)
        .u8(513, 0x44)
        .u16(514, 0)
        .u32(516, 256)
        .u16(520, 0x00ff)
        .u16(522, 0)
        .u8(524, 0)
        .u8(525, 0x07)
        .u16(526, 0)
        .u16(528, 0)
        .u32(536, 0x0010_0001)
        .str(768, 256, "nqn.2019-08.org.qemu:deadbeef", 0);
    b
}

#[test]
fn id_ctrl_fields() {
    let c = IdCtrl::parse(&qemu_like_ctrl().0);
    assert_eq!(c.vid, 0x1b36);
    assert_eq!(c.ssvid, 0x1af4);
    assert_eq!(c.serial(), b"deadbeef");
    assert_eq!(c.model(), b"QEMU NVMe Ctrl");
    assert_eq!(c.firmware(), b"10.0.0");
    assert_eq!(&c.sn[..10], b"deadbeef  ");
    assert_eq!(c.rab, 6);
    assert_eq!(c.ieee, [0x00, 0x54, 0x52]);
    assert_eq!(c.cmic, 0);
    assert_eq!(c.mdts, 7);
    assert_eq!(c.cntlid, 0);
    assert_eq!(c.ver, 0x0001_0400);
    assert_eq!((c.rtd3r, c.rtd3e), (0x0010_0000, 0x0020_0000));
    assert_eq!(c.oaes, 0x100);
    assert_eq!(c.ctratt, 0x10);
    assert_eq!(c.crdt, [1, 2, 3]);
    assert_eq!(c.oacs, 0x010a);
    assert_eq!((c.acl, c.aerl), (3, 3));
    assert_eq!((c.frmw, c.lpa, c.elpe, c.npss), (0x07, 0x0f, 0x7f, 0));
    assert_eq!((c.wctemp, c.cctemp), (0x0157, 0x0175));
    assert_eq!((c.sqes, c.cqes), (0x66, 0x44));
    assert_eq!(c.maxcmd, 0);
    assert_eq!(c.nn, 256);
    assert_eq!(c.oncs, 0x00ff);
    assert_eq!((c.fuses, c.fna, c.vwc), (0, 0, 0x07));
    assert_eq!((c.awun, c.awupf), (0, 0));
    assert_eq!(c.sgls, 0x0010_0001);
    assert_eq!(c.subsys_nqn(), b"nqn.2019-08.org.qemu:deadbeef");
    assert!(c.has_vwc());
    assert!(c.oncs_dsm());
    assert!(c.oncs_write_zeroes());
    assert!(c.oacs_dbbuf());
    assert!(c.oacs_ns_mgmt());
    assert!(c.sgl_supported());
    assert_eq!(c.max_transfer_bytes(12), Some(512 * 1024));
}

#[test]
fn id_ctrl_capability_bits() {
    let mut b = qemu_like_ctrl();
    b.u16(520, 1 << 2).u16(256, 0).u8(525, 0x06).u32(536, 0);
    let c = IdCtrl::parse(&b.0);
    assert!(c.oncs_dsm());
    assert!(!c.oncs_write_zeroes());
    assert!(!c.oacs_dbbuf());
    assert!(!c.oacs_ns_mgmt());
    assert!(!c.has_vwc(), "VWC bit 0 is the presence bit");
    assert!(!c.sgl_supported());
    b.u16(520, 1 << 3).u16(256, 1 << 8).u32(536, 0x2);
    let c = IdCtrl::parse(&b.0);
    assert!(!c.oncs_dsm());
    assert!(c.oncs_write_zeroes());
    assert!(c.oacs_dbbuf());
    assert!(!c.oacs_ns_mgmt());
    assert!(c.sgl_supported());
}

#[test]
fn id_ctrl_strings_trimmed() {
    let mut b = Buf::new();
    b.str(4, 20, "S1X2", 0)
        .str(24, 40, "Vendor  Model", b' ')
        .str(64, 8, "FW 1", 0);
    // Trailing mixed padding; interior spaces stay.
    b.u8(24 + 13, 0).u8(24 + 15, 0).u8(63, 0);
    let c = IdCtrl::parse(&b.0);
    assert_eq!(c.serial(), b"S1X2");
    assert_eq!(c.model(), b"Vendor  Model");
    assert_eq!(c.firmware(), b"FW 1");
    assert_eq!(trim(b"  a b  \0\0 "), b"  a b");
    assert_eq!(trim(b"   "), b"");
    assert_eq!(trim(b""), b"");
    // A full-width serial with no padding is kept whole.
    let mut b = Buf::new();
    b.str(4, 20, "ABCDEFGHIJKLMNOPQRST", b' ');
    assert_eq!(IdCtrl::parse(&b.0).serial(), b"ABCDEFGHIJKLMNOPQRST");
}

#[test]
fn mdts_to_max_transfer() {
    let mdts = |m: u8, shift: u32| {
        let mut b = Buf::new();
        b.u8(77, m);
        IdCtrl::parse(&b.0).max_transfer_bytes(shift)
    };
    assert_eq!(mdts(0, 12), None);
    assert_eq!(mdts(1, 12), Some(8192));
    assert_eq!(mdts(5, 12), Some(128 * 1024));
    assert_eq!(mdts(9, 12), Some(2 << 20));
    // MDTS counts in units of the minimum page size (CAP.MPSMIN).
    assert_eq!(mdts(5, 13), Some(256 * 1024));
    assert_eq!(mdts(19, 12), Some(1 << 31));
    assert_eq!(mdts(20, 12), Some(u32::MAX));
    assert_eq!(mdts(255, 12), Some(u32::MAX));
}

/// A namespace with two 0-metadata formats (512 B and 4 KiB).
fn basic_ns(flbas: u8) -> Buf {
    let mut b = Buf::new();
    b.u64(0, 0x20_0000)
        .u64(8, 0x1f_0000)
        .u64(16, 0x1000)
        .u8(25, 1)
        .u8(26, flbas)
        .lbaf(0, 0, 9, 2)
        .lbaf(1, 0, 12, 0);
    b
}

#[test]
fn id_ns_basic() {
    let ns = IdNs::parse(&basic_ns(0).0);
    assert_eq!((ns.nsze, ns.ncap, ns.nuse), (0x20_0000, 0x1f_0000, 0x1000));
    assert_eq!(ns.nlbaf, 1);
    assert_eq!(ns.lba_format_index(), 0);
    assert_eq!(ns.lba_shift(), 9);
    assert_eq!(ns.logical_block_size(), 512);
    assert_eq!(ns.physical_block_size(), 512);
    assert_eq!(ns.capacity_sectors(), 0x20_0000);
    assert_eq!(ns.metadata_size(), 0);
    assert_eq!(ns.pi_type(), 0);
    assert_eq!(
        ns.lbaf[0],
        LbaFormat {
            ms: 0,
            lbads: 9,
            rp: 2
        }
    );
    assert_eq!(ns.is_supported(12), Ok(()));
    assert!(ns.is_active());
    assert!(!ns.has_nguid());
    assert!(!ns.has_eui64());

    let ns = IdNs::parse(&basic_ns(1).0);
    assert_eq!(ns.lba_shift(), 12);
    assert_eq!(ns.logical_block_size(), 4096);
    assert_eq!(ns.capacity_sectors(), 0x20_0000 * 8);
    assert_eq!(ns.is_supported(12), Ok(()));
}

#[test]
fn id_ns_other_fields() {
    let mut b = basic_ns(0);
    b.u8(24, 0)
        .u8(27, 0x3)
        .u8(28, 0x1f)
        .u8(29, 0)
        .u8(30, 1)
        .u16(34, 7)
        .u16(36, 3)
        .u16(38, 1)
        .u16(64, 7)
        .u16(72, 31)
        .str(104, 16, "0123456789abcdef", 0)
        .u64(120, 0x0011_2233_4455_6677);
    let ns = IdNs::parse(&b.0);
    assert_eq!((ns.mc, ns.dpc, ns.dps, ns.nmic), (3, 0x1f, 0, 1));
    // NSFEAT clear: the optional fields are not valid and read as 0.
    assert_eq!((ns.nawun, ns.nawupf, ns.nacwu), (0, 0, 0));
    assert_eq!((ns.npwg, ns.nows), (0, 0));
    assert_eq!(ns.physical_block_size(), 512);
    assert_eq!(ns.optimal_io_size(), 0);
    assert_eq!(&ns.nguid, b"0123456789abcdef");
    assert_eq!(ns.eui64, 0x0011_2233_4455_6677u64.to_le_bytes());
    assert!(ns.has_nguid());
    assert!(ns.has_eui64());

    b.u8(24, NSFEAT_NSABP | NSFEAT_OPTPERF)
        .u16(66, 1)
        .u16(68, 15)
        .u16(70, 2);
    let ns = IdNs::parse(&b.0);
    assert_eq!((ns.nawun, ns.nawupf, ns.nacwu), (7, 3, 1));
    assert_eq!(
        (ns.npwg, ns.npwa, ns.npdg, ns.npda, ns.nows),
        (7, 1, 15, 2, 31)
    );
    assert_eq!(ns.physical_block_size(), 4096);
    assert_eq!(ns.optimal_io_size(), 16 * 1024);
}

#[test]
fn id_ns_flbas_extended_index() {
    // 20 formats (NLBAF = 19): index 18 = FLBAS bits 3:0 = 2, bits 6:5 = 1.
    let mut b = Buf::new();
    b.u64(0, 1000).u8(25, 19).u8(26, 0x20 | 0x02);
    for i in 0..20 {
        b.lbaf(i, 0, 9, 0);
    }
    b.lbaf(18, 0, 12, 1).lbaf(2, 8, 9, 0);
    let ns = IdNs::parse(&b.0);
    assert_eq!(ns.lba_format_index(), 18);
    assert_eq!(ns.lba_shift(), 12);
    assert_eq!(ns.current_format().rp, 1);
    assert_eq!(ns.is_supported(12), Ok(()));
    assert_eq!(ns.capacity_sectors(), 8000);
    // Bit 4 (extended metadata) is not part of the index.
    b.u8(26, 0x10 | 0x20 | 0x02);
    let ns = IdNs::parse(&b.0);
    assert_eq!(ns.lba_format_index(), 18);
    assert!(ns.metadata_extended());
    // Index 63 is reachable with 64 formats.
    b.u8(25, 63).u8(26, 0x60 | 0x0f).lbaf(63, 0, 11, 0);
    let ns = IdNs::parse(&b.0);
    assert_eq!(ns.lba_format_index(), 63);
    assert_eq!(ns.logical_block_size(), 2048);
    // With 16 or fewer formats bits 6:5 are ignored: index 2.
    b.u8(25, 15).u8(26, 0x20 | 0x02);
    let ns = IdNs::parse(&b.0);
    assert_eq!(ns.lba_format_index(), 2);
    assert_eq!(ns.metadata_size(), 8);
    assert_eq!(ns.is_supported(12), Ok(()));
}

#[test]
fn id_ns_unsupported_formats() {
    // Metadata and protection information are not refused here (see nvme/meta.rs).
    let mut b = basic_ns(0);
    b.lbaf(0, 8, 9, 0).u8(29, 1);
    assert_eq!(IdNs::parse(&b.0).is_supported(12), Ok(()));
    // PI type 3 with bit 3 (PI first) set: type read from bits 2:0.
    b.u8(29, 0x8 | 3);
    assert_eq!(IdNs::parse(&b.0).pi_type(), 3);
    // Block sizes outside 512..=4096 with 4 KiB pages, 512..=65536 with large folios.
    for (lbads, ok4k, ok64k) in [
        (8, false, false),
        (9, true, true),
        (12, true, true),
        (13, false, true),
        (16, false, true),
        (17, false, false),
        (30, false, false),
    ] {
        let mut b = basic_ns(0);
        b.lbaf(0, 0, lbads, 0);
        for (max, ok) in [(12, ok4k), (16, ok64k)] {
            let r = IdNs::parse(&b.0).is_supported(max);
            if ok {
                assert_eq!(r, Ok(()));
            } else {
                assert_eq!(r, Err(Unsupported::BlockSize(lbads)));
            }
        }
    }
    // FLBAS selecting a format beyond NLBAF.
    let b = basic_ns(5);
    assert_eq!(
        IdNs::parse(&b.0).is_supported(12),
        Err(Unsupported::FormatIndex(5))
    );
}

#[test]
fn id_ns_capacity_edges() {
    let mut b = basic_ns(0);
    b.lbaf(0, 0, 13, 0).u64(0, 10);
    assert_eq!(IdNs::parse(&b.0).capacity_sectors(), 160);
    b.lbaf(0, 0, 12, 0).u64(0, u64::MAX);
    assert_eq!(IdNs::parse(&b.0).capacity_sectors(), u64::MAX);
    b.lbaf(0, 0, 9, 0).u64(0, u64::MAX);
    assert_eq!(IdNs::parse(&b.0).capacity_sectors(), u64::MAX);
    b.lbaf(0, 0, 40, 0).u64(0, 1);
    let ns = IdNs::parse(&b.0);
    assert_eq!(ns.capacity_sectors(), 1 << 31);
    assert_eq!(ns.logical_block_size(), u32::MAX);
}

#[test]
fn id_ns_inactive() {
    let ns = IdNs::parse(&[0; 4096]);
    assert!(!ns.is_active());
    assert_eq!(ns.capacity_sectors(), 0);
    assert_eq!(ns.is_supported(12), Err(Unsupported::BlockSize(0)));
}

#[test]
fn active_ns_list_parsing() {
    let mut b = Buf::new();
    b.u32(0, 1).u32(4, 2).u32(8, 5).u32(12, 0).u32(16, 7);
    assert_eq!(active_ns_list(&b.0).collect::<Vec<_>>(), [1, 2, 5]);
    assert_eq!(active_ns_list(&[0; 4096]).count(), 0);
    let mut b = Buf::new();
    for i in 0..1024u32 {
        b.u32(4 * i as usize, i + 1);
    }
    let all: Vec<u32> = active_ns_list(&b.0).collect();
    assert_eq!(all.len(), 1024);
    assert_eq!(all[1023], 1024);
    let mut b = Buf::new();
    b.u32(0, 0xffff_fffe);
    assert_eq!(active_ns_list(&b.0).collect::<Vec<_>>(), [0xffff_fffe]);
}

#[test]
fn id_ctrl_nvm_limits() {
    let mut b = [0u8; IDENTIFY_SIZE];
    b[1] = 7; // WZSL: 2^7 pages
    b[3] = 255; // DMRL
    b[4..8].copy_from_slice(&0x003f_ffffu32.to_le_bytes()); // DMRSL
    b[8..16].copy_from_slice(&0x1234_5678_9abcu64.to_le_bytes());
    let n = IdCtrlNvm::parse(&b);
    assert_eq!(
        (n.wzsl, n.dmrl, n.dmrsl, n.dmsl),
        (7, 255, 0x003f_ffff, 0x1234_5678_9abc)
    );
    assert_eq!(n.write_zeroes_limit(12), Some(512 * 1024));
    assert_eq!(IdCtrlNvm::default().write_zeroes_limit(12), None);
}

#[test]
fn discard_granularity_from_npdg_npda() {
    let mut b = [0u8; IDENTIFY_SIZE];
    assert_eq!(IdNs::parse(&b).discard_granularity_blocks(), 1);
    // OPTPERF with NPDG = 7 (8 blocks) and NPDA = 3 (4 blocks): 8 blocks.
    b[24] = NSFEAT_OPTPERF;
    b[68..70].copy_from_slice(&7u16.to_le_bytes());
    b[70..72].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(IdNs::parse(&b).discard_granularity_blocks(), 8);
    // Without OPTPERF the fields do not count.
    b[24] = 0;
    assert_eq!(IdNs::parse(&b).discard_granularity_blocks(), 1);
}

#[test]
fn atomic_write_limits() {
    let mut b = [0u8; IDENTIFY_SIZE];
    // Nothing reported: one block, no boundary.
    assert_eq!(
        IdNs::parse(&b).atomic_write(),
        Some(AtomicWrite {
            max_blocks: 1,
            boundary_blocks: 0
        })
    );
    // NSABP with NAWUPF = 7 (8 blocks) and NABSPF = 15 (16 blocks).
    b[24] = NSFEAT_NSABP;
    b[36..38].copy_from_slice(&7u16.to_le_bytes());
    b[44..46].copy_from_slice(&15u16.to_le_bytes());
    assert_eq!(
        IdNs::parse(&b).atomic_write(),
        Some(AtomicWrite {
            max_blocks: 8,
            boundary_blocks: 16
        })
    );
    // An offset boundary cannot be described: no atomic writes.
    b[42..44].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(IdNs::parse(&b).atomic_write(), None);
}

#[test]
fn id_strings_as_sysfs_shows_them() {
    let mut s = String::new();
    write_id_str(&mut s, b"QEMU NVMe Ctrl  \0junk").unwrap();
    assert_eq!(s, "QEMU NVMe Ctrl  ");
    let mut s = String::new();
    write_id_str(&mut s, b"a\x01b\xffc\tz").unwrap();
    assert_eq!(s, "a?b?c?z");
    let mut s = String::new();
    write_id_str(&mut s, b"").unwrap();
    assert_eq!(s, "");
}
