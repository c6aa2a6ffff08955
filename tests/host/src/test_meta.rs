// SPDX-License-Identifier: GPL-2.0

//! Tests of nvme/meta.rs: how each metadata and protection information format QEMU can
//! present (and a few it cannot) is read from Identify Namespace and served, and the
//! protection information fields of reads and writes.

use crate::nvme::ident::IdNs;
use crate::nvme::meta::*;

/// An Identify Namespace of one 512-byte format with `ms` metadata bytes, interleaved when
/// `ext`, PI type `pi` at the start of the metadata when `first`.
fn ns(ms: u16, ext: bool, pi: u8, first: bool) -> IdNs {
    let mut b = [0u8; 4096];
    b[0..8].copy_from_slice(&1000u64.to_le_bytes());
    b[26] = if ext { 1 << 4 } else { 0 };
    b[29] = pi | if first { 1 << 3 } else { 0 };
    b[128..130].copy_from_slice(&ms.to_le_bytes());
    b[130] = 9;
    IdNs::parse(&b)
}

/// The NVM command set Identify Namespace with format 0's guard `pif` and storage tag `sts`.
fn nvm(pif: u32, sts: u32) -> IdNsNvm {
    let mut b = [0u8; 4096];
    b[12..16].copy_from_slice(&(sts | (pif << 7)).to_le_bytes());
    IdNsNvm::parse(&b)
}

#[test]
fn no_metadata_is_plain() {
    let f = MetaFormat::of(&ns(0, false, 0, false), None);
    assert_eq!(f.serve(), Serve::Plain);
    assert_eq!(
        pi_fields(&f, 7, PiCheck::default(), true),
        Ok(PiFields::default())
    );
}

#[test]
fn separate_metadata_without_pi_is_opaque() {
    for ms in [8, 16, 64] {
        let f = MetaFormat::of(&ns(ms, false, 0, false), None);
        assert_eq!(f.pi_type, 0);
        let Serve::Integrity(p) = f.serve() else {
            panic!("{f:?}")
        };
        assert_eq!(p.csum, Csum::None);
        assert_eq!((p.metadata_size, p.pi_tuple_size, p.pi_offset), (ms, 0, 0));
        // A buffer is needed: the block layer always gives one.
        assert_eq!(
            pi_fields(&f, 0, PiCheck::default(), false),
            Err(PiError::NoMetadataBuffer)
        );
    }
}

#[test]
fn separate_pi_formats_get_the_block_layer_profile() {
    for (ms, pi, first, csum, tag, reftag, off) in [
        (8, 1, false, Csum::Crc16, 2, true, 0),
        (8, 2, true, Csum::Crc16, 2, true, 0),
        (8, 3, false, Csum::Crc16, 6, false, 0),
        (16, 1, false, Csum::Crc16, 2, true, 8),
        (16, 1, true, Csum::Crc16, 2, true, 0),
        (64, 3, false, Csum::Crc16, 6, false, 56),
    ] {
        let f = MetaFormat::of(&ns(ms, false, pi, first), None);
        assert_eq!(f.pi_type, pi);
        let Serve::Integrity(p) = f.serve() else {
            panic!("{f:?}")
        };
        assert_eq!(
            (
                p.csum,
                p.tag_size,
                p.ref_tag,
                p.metadata_size,
                p.pi_tuple_size,
                p.pi_offset
            ),
            (csum, tag, reftag, ms, 8, off),
            "ms {ms} pi {pi} first {first}"
        );
    }
}

#[test]
fn the_64_bit_guard_comes_from_the_extended_formats() {
    let id = ns(16, false, 1, false);
    let f = MetaFormat::of(&id, Some(&nvm(2, 0)));
    assert_eq!(
        (f.guard, f.pi_size, f.pi_offset, f.pi_type),
        (Guard::Crc64, 16, 0, 1)
    );
    let Serve::Integrity(p) = f.serve() else {
        panic!()
    };
    assert_eq!((p.csum, p.tag_size, p.ref_tag), (Csum::Crc64, 2, true));
    let f3 = MetaFormat::of(&ns(64, false, 3, false), Some(&nvm(2, 0)));
    let Serve::Integrity(p) = f3.serve() else {
        panic!()
    };
    assert_eq!((p.csum, p.tag_size, p.pi_offset), (Csum::Crc64, 8, 48));
    // An 8-byte metadata cannot hold a 16-byte tuple: opaque.
    let small = MetaFormat::of(&ns(8, false, 1, false), Some(&nvm(2, 0)));
    assert_eq!(small.pi_type, 0);
    // Storage tags and 32-bit guards: opaque metadata.
    assert_eq!(MetaFormat::of(&id, Some(&nvm(0, 16))).pi_type, 0);
    assert_eq!(MetaFormat::of(&id, Some(&nvm(1, 0))).pi_type, 0);
    // Plain 16-bit guard from the extended formats, as without them.
    assert_eq!(
        MetaFormat::of(&id, Some(&nvm(0, 0))),
        MetaFormat::of(&id, None)
    );
}

#[test]
fn interleaved_metadata_is_pract_only_when_all_pi() {
    assert_eq!(
        MetaFormat::of(&ns(8, true, 1, false), None).serve(),
        Serve::Pract
    );
    assert_eq!(
        MetaFormat::of(&ns(8, true, 3, true), None).serve(),
        Serve::Pract
    );
    assert_eq!(
        MetaFormat::of(&ns(16, true, 1, false), Some(&nvm(2, 0))).serve(),
        Serve::Pract
    );
    for (ms, pi) in [(8, 0), (16, 1), (64, 2), (64, 0)] {
        assert_eq!(
            MetaFormat::of(&ns(ms, true, pi, false), None).serve(),
            Serve::Unusable,
            "ms {ms} pi {pi}"
        );
    }
}

#[test]
fn pract_inserts_with_the_lba_as_reference_tag() {
    let f = MetaFormat::of(&ns(8, true, 1, false), None);
    let r = pi_fields(&f, 0x1_2345_6789, PiCheck::default(), false).unwrap();
    assert_eq!(r.control, PRACT);
    // A read also has the controller check what it strips.
    let rd = pi_fields(&f, 0x1_2345_6789, PiCheck::default(), true).unwrap();
    assert_eq!(rd.control, PRACT | PRCHK_GUARD | PRCHK_REF);
    assert_eq!(rd.cdw14, r.cdw14);
    assert_eq!((r.cdw14, r.cdw3, r.cdw15), (0x2345_6789, 0, 0));
    // Type 3 has no reference tag.
    let f3 = MetaFormat::of(&ns(8, true, 3, false), None);
    let r3 = pi_fields(&f3, 99, PiCheck::default(), true).unwrap();
    assert_eq!((r3.cdw14, r3.control), (0, PRACT | PRCHK_GUARD));
    // 64-bit guard: a 48-bit reference tag split over CDW14 and CDW3.
    let f64 = MetaFormat::of(&ns(16, true, 2, false), Some(&nvm(2, 0)));
    let r = pi_fields(&f64, 0xabcd_1234_5678_9abc, PiCheck::default(), false).unwrap();
    assert_eq!((r.cdw14, r.cdw3), (0x5678_9abc, 0x1234));
}

#[test]
fn checks_follow_the_request() {
    let f = MetaFormat::of(&ns(8, false, 1, false), None);
    let all = PiCheck {
        has_payload: true,
        guard: true,
        reftag: true,
        app_tag: Some(0xbeef),
    };
    let r = pi_fields(&f, 42, all, true).unwrap();
    assert_eq!(r.control, PRCHK_GUARD | PRCHK_REF | PRCHK_APP);
    assert_eq!((r.cdw14, r.cdw15), (42, 0xffff_beef));
    let none = PiCheck {
        has_payload: true,
        ..PiCheck::default()
    };
    assert_eq!(pi_fields(&f, 42, none, false).unwrap(), PiFields::default());
}

#[test]
fn formats_pack_into_64_bits_and_back() {
    let mut n = 0;
    for ms in [0, 8, 16, 64] {
        for ext in [false, true] {
            for pi in 0..4 {
                for first in [false, true] {
                    for elbaf in [None, Some(nvm(2, 0)), Some(nvm(1, 0))] {
                        let f = MetaFormat::of(&ns(ms, ext, pi, first), elbaf.as_ref());
                        assert_eq!(MetaFormat::from_bits(f.to_bits()), f);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 192);
    assert_eq!(
        MetaFormat::from_bits(MetaFormat::NONE.to_bits()),
        MetaFormat::NONE
    );
}

#[test]
fn pi_fields_land_in_the_command() {
    use crate::nvme::cmd::Command;
    let f64 = MetaFormat::of(&ns(16, false, 1, false), Some(&nvm(2, 0)));
    let req = PiCheck {
        has_payload: true,
        guard: true,
        reftag: true,
        app_tag: Some(0x1234),
    };
    let mut c = Command::write(1, 0x0000_0102_0304_0506, 8, true);
    let dw12 = u32::from_le(c.cdw12);
    c.set_pi(&pi_fields(&f64, 0x0000_0102_0304_0506, req, false).unwrap());
    assert_eq!(
        u32::from_le(c.cdw12),
        dw12 | u32::from(PRCHK_GUARD | PRCHK_REF | PRCHK_APP) << 16
    );
    // CDW12 bits 29:26 are PRINFO: PRACT 29, guard 28, app 27, ref 26.
    assert_eq!(u32::from_le(c.cdw12) >> 26 & 0xf, 0b0111);
    assert_eq!(u32::from_le(c.cdw14), 0x0304_0506);
    assert_eq!(u32::from_le(c.cdw3), 0x0102);
    assert_eq!(u32::from_le(c.cdw15), 0xffff_1234);
}

#[test]
fn write_zeroes_generates_pi_only_when_all_pi() {
    let pi = MetaFormat::of(&ns(8, false, 1, false), None);
    let wz = write_zeroes_pi(&pi, 77);
    assert_eq!((wz.control, wz.cdw14), (PRACT, 77));
    let opaque = MetaFormat::of(&ns(16, false, 1, false), None);
    assert_eq!(write_zeroes_pi(&opaque, 77), PiFields::default());
    assert_eq!(write_zeroes_pi(&MetaFormat::NONE, 77), PiFields::default());
}

#[test]
fn io_passthrough_layout_carries_the_metadata() {
    use crate::nvme::uapi::{io_layout, IoLayout};
    // Read of 8 blocks of 512 bytes (NLB 7 in CDW12), with PRACT when asked.
    let rd = |pract: bool| [0, 0, 7 | if pract { 1 << 29 } else { 0 }, 0, 0, 0];
    let plain = MetaFormat::NONE;
    assert_eq!(
        io_layout(0x02, &rd(false), 9, &plain),
        Some(IoLayout {
            data: 4096,
            meta: 0
        })
    );
    let sep = MetaFormat::of(&ns(16, false, 0, false), None);
    assert_eq!(
        io_layout(0x02, &rd(false), 9, &sep),
        Some(IoLayout {
            data: 4096,
            meta: 128
        })
    );
    // PRACT with metadata that is not all PI still moves it.
    assert_eq!(
        io_layout(0x02, &rd(true), 9, &sep),
        Some(IoLayout {
            data: 4096,
            meta: 128
        })
    );
    let ext = MetaFormat::of(&ns(8, true, 1, false), None);
    assert_eq!(
        io_layout(0x01, &rd(false), 9, &ext),
        Some(IoLayout {
            data: 4096 + 64,
            meta: 0
        })
    );
    assert_eq!(
        io_layout(0x01, &rd(true), 9, &ext),
        Some(IoLayout {
            data: 4096,
            meta: 0
        })
    );
    // Commands that move no blocks move no metadata; unknown ones stay unknown.
    assert_eq!(
        io_layout(0x0c, &rd(false), 9, &sep),
        Some(IoLayout { data: 0, meta: 0 })
    );
    assert_eq!(io_layout(0x81, &rd(false), 9, &sep), None);
}
