// SPDX-License-Identifier: GPL-2.0

//! Tests of SGL descriptors and list building (nvme/sgl.rs): the byte layout the
//! specification gives, and random segment lists walked back like a controller would.

use crate::nvme::prp::Seg;
use crate::nvme::sgl::*;
use crate::rng::XorShift;

/// The descriptor's 16 bytes, as the controller reads them from memory.
fn bytes(d: &SglDesc) -> [u8; 16] {
    // SAFETY: `SglDesc` is `#[repr(C)]`, 16 bytes of integers without padding.
    unsafe { core::mem::transmute::<SglDesc, [u8; 16]>(*d) }
}

#[test]
fn descriptor_layout() {
    let d = SglDesc::data_block(0x1122_3344_5566_7788, 0x1000);
    let b = bytes(&d);
    assert_eq!(&b[0..8], &0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(&b[8..12], &0x1000u32.to_le_bytes());
    assert_eq!(&b[12..15], &[0, 0, 0]);
    assert_eq!(b[15], 0x00, "Data Block, address subtype");
    let l = SglDesc::last_segment(0xabc000, 5);
    let b = bytes(&l);
    assert_eq!(&b[0..8], &0xabc000u64.to_le_bytes());
    assert_eq!(&b[8..12], &80u32.to_le_bytes(), "five 16-byte descriptors");
    assert_eq!(b[15], 0x30, "Last Segment");
    // The same 16 bytes as the command's data pointer (PRP1/PRP2 quadwords).
    let (lo, hi) = l.dptr();
    let mut dptr = [0u8; 16];
    dptr[..8].copy_from_slice(&u64::from_le(lo).to_le_bytes());
    dptr[8..].copy_from_slice(&u64::from_le(hi).to_le_bytes());
    assert_eq!(dptr, bytes(&l));
    assert_eq!(SglDesc::from_dptr(lo, hi), l);
    assert_eq!(PSDT_SGL, 0x4000);
    assert_eq!(descs_per_page(12), 256);
}

#[test]
fn threshold_rule() {
    assert!(!prefer_sgl(1 << 20, 8, 0), "threshold 0 turns SGLs off");
    assert!(prefer_sgl(256 << 10, 8, 32 << 10), "32 KiB average");
    assert!(!prefer_sgl(128 << 10, 32, 32 << 10), "4 KiB average");
    assert!(prefer_sgl(4096, 1, 1));
    assert!(!prefer_sgl(4096, 0, 1));
}

/// Follows the data pointer like a controller: the byte ranges it describes, in order.
fn walk(dptr: SglDesc, list: &[SglDesc], list_dma: u64) -> Vec<(u64, u32)> {
    match dptr.id {
        DATA_BLOCK => vec![(u64::from_le(dptr.addr), u32::from_le(dptr.len))],
        LAST_SEGMENT => {
            assert_eq!(u64::from_le(dptr.addr), list_dma);
            let n = u32::from_le(dptr.len) as usize / DESC_SIZE;
            assert_eq!(u32::from_le(dptr.len) as usize % DESC_SIZE, 0);
            list[..n]
                .iter()
                .map(|d| {
                    assert_eq!(d.id, DATA_BLOCK, "a list of Data Block descriptors only");
                    (u64::from_le(d.addr), u32::from_le(d.len))
                })
                .collect()
        }
        other => panic!("unexpected descriptor type {other:#x}"),
    }
}

#[test]
fn random_lists_walk_back() {
    let mut rng = XorShift::new(0x5617_0001);
    for _ in 0..5000 {
        let n = rng.range(1, 300) as usize;
        // Any dword-aligned start and length: SGLs have no page rules.
        let segs: Vec<Seg> = (0..n)
            .map(|_| {
                Seg::new(
                    rng.range(0, 1 << 44) & !3,
                    rng.range(1, 1 << 20) as u32 & !3 | 4,
                )
            })
            .collect();
        let mut list = vec![SglDesc::default(); descs_per_page(12)];
        let dma = 0x7000_0000;
        match fill(&segs, &mut list, dma) {
            Ok(d) => {
                assert!(n <= list.len());
                let want: Vec<(u64, u32)> = segs.iter().map(|s| (s.addr, s.len)).collect();
                assert_eq!(walk(d, &list, dma), want);
                assert_eq!(d.id == DATA_BLOCK, n == 1);
            }
            Err(e) => {
                assert_eq!(e, SglError::TooMany);
                assert!(n > list.len());
            }
        }
    }
    // One segment needs no list at all.
    let one = fill([Seg::new(0x1000, 512)], &mut [], 0).unwrap();
    assert_eq!(one, SglDesc::data_block(0x1000, 512));
    assert_eq!(
        fill([Seg::new(0x1000, 0)], &mut [], 0),
        Err(SglError::ZeroLength)
    );
    assert_eq!(
        fill(core::iter::empty::<Seg>(), &mut [], 0),
        Err(SglError::Empty)
    );
}

#[test]
fn command_takes_an_sgl() {
    use crate::nvme::cmd::Command;
    let mut c = Command::rw(0x02, 1, 0x1234, 8, false);
    let d = SglDesc::last_segment(0x9000, 3);
    c.set_sgl(&d);
    c.set_cid(0x77);
    let dw0 = u32::from_le(c.cdw0);
    assert_eq!((dw0 >> 14) & 3, 1, "PSDT 01b survives set_cid");
    assert_eq!(dw0 >> 16, 0x77);
    assert_eq!(dw0 & 0xff, 0x02);
    assert_eq!(SglDesc::from_dptr(c.prp1, c.prp2), d);
}
