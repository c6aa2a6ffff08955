// SPDX-License-Identifier: GPL-2.0

//! Property tests of the Identify parsers (nvme/ident.rs) on random and
//! adversarial 4 KiB buffers: Identify Controller, the NVM command set
//! Identify Controller, Identify Namespace, the Active Namespace ID list and
//! the Namespace Identification Descriptor list. Each must take any buffer
//! without a panic, read every field from its offset, and keep the promises
//! the driver relies on (a supported namespace has a usable block size and an
//! exact capacity, the active list stops at its first zero, ...).

use crate::nvme::{
    aen,
    ident::*,
    prp, //
};
use crate::prop::*;
use crate::rng::XorShift;

/// LBADS values around what the driver accepts (9..=12) and what breaks
/// shifts (32, 63, 64, 255).
const LBADS: [u8; 17] = [
    0, 1, 8, 9, 10, 11, 12, 13, 16, 31, 32, 33, 63, 64, 72, 127, 255,
];
/// NLBAF values around the 16-format limit of FLBAS bits 3:0 and the 64
/// descriptors.
const NLBAF: [u8; 11] = [0, 1, 14, 15, 16, 17, 62, 63, 64, 127, 255];
/// MDTS values: no limit, the smallest, those whose transfer size crosses
/// 2^32 with 4 KiB..128 MiB pages, and the largest.
const MDTS: [u8; 11] = [0, 1, 2, 4, 5, 19, 20, 21, 32, 64, 255];

/// Overwrites an ASCII string field with text and padding of every kind the
/// trimming must cope with: spaces, NULs, both mixed, and none.
fn string_field(rng: &mut XorShift, f: &mut [u8]) {
    // CAST: a length up to that of the field.
    let len = rng.range(0, f.len() as u64) as usize;
    for (i, x) in f.iter_mut().enumerate() {
        *x = if i < len {
            rng.pick(&[b'A', b'z', b'0', b' ', 0, 0x80, 0xff])
        } else {
            rng.pick(&[b' ', 0])
        };
    }
}

/// An Identify Controller buffer with the fields the driver uses set to
/// boundary values.
fn id_ctrl_buf(rng: &mut XorShift) -> [u8; IDENTIFY_SIZE] {
    let mut b = [0u8; IDENTIFY_SIZE];
    fill(rng, &mut b);
    if rng.chance(3, 4) {
        b[77] = if rng.chance(1, 2) {
            rng.pick(&MDTS)
        } else {
            edge8(rng)
        };
        put32(&mut b, 516, edge32(rng)); // NN
        b[259] = edge8(rng); // AERL
        put32(&mut b, 92, edge32(rng)); // OAES
        put16(&mut b, 256, edge16(rng)); // OACS
        put16(&mut b, 520, edge16(rng)); // ONCS
        b[525] = edge8(rng); // VWC
        put32(&mut b, 536, edge32(rng)); // SGLS
        put32(&mut b, 80, edge32(rng)); // VER
        for off in [128, 130, 132] {
            put16(&mut b, off, edge16(rng)); // CRDT1..3
        }
    }
    if rng.chance(1, 2) {
        string_field(rng, &mut b[4..24]);
        string_field(rng, &mut b[24..64]);
        string_field(rng, &mut b[64..72]);
        string_field(rng, &mut b[768..1024]);
    }
    b
}

/// Checks that `trimmed` is `raw` without its trailing spaces and NULs.
fn check_trim(raw: &[u8], trimmed: &[u8]) {
    assert!(trimmed.len() <= raw.len());
    assert_eq!(trimmed, &raw[..trimmed.len()]);
    assert!(raw[trimmed.len()..].iter().all(|&c| c == b' ' || c == 0));
    if let Some(&last) = trimmed.last() {
        assert!(last != b' ' && last != 0);
    }
}

#[test]
fn prop_id_ctrl() {
    run("id_ctrl", |rng| {
        let b = id_ctrl_buf(rng);
        let c = IdCtrl::parse(&b);
        assert_eq!(c.vid, get16(&b, 0));
        assert_eq!(c.sn[..], b[4..24]);
        assert_eq!(c.mn[..], b[24..64]);
        assert_eq!(c.fr[..], b[64..72]);
        assert_eq!(c.mdts, b[77]);
        assert_eq!(c.ver, get32(&b, 80));
        assert_eq!(c.oaes, get32(&b, 92));
        assert_eq!(c.crdt, [get16(&b, 128), get16(&b, 130), get16(&b, 132)]);
        assert_eq!(c.oacs, get16(&b, 256));
        assert_eq!(c.aerl, b[259]);
        assert_eq!(c.nn, get32(&b, 516));
        assert_eq!(c.oncs, get16(&b, 520));
        assert_eq!(c.vwc, b[525]);
        assert_eq!(c.sgls, get32(&b, 536));
        assert_eq!(c.subnqn[..], b[768..1024]);
        check_trim(&c.sn, c.serial());
        check_trim(&c.mn, c.model());
        check_trim(&c.fr, c.firmware());
        check_trim(&c.subnqn, c.subsys_nqn());
        assert_eq!(c.has_vwc(), b[525] & 1 != 0);
        assert_eq!(c.sgl_supported(), get32(&b, 536) & 3 != 0);

        // MDTS with every page size CAP.MPSMIN can report (4 KiB..128 MiB).
        for mpsmin in 0..=15u32 {
            let shift = 12 + mpsmin;
            let got = c.max_transfer_bytes(shift);
            if c.mdts == 0 {
                assert_eq!(got, None);
                continue;
            }
            let total = u32::from(c.mdts) + shift;
            let v = got.expect("MDTS != 0 is a limit");
            assert_eq!(v, if total < 32 { 1 << total } else { u32::MAX });
            assert!(v == u32::MAX || v >= 2 << shift, "at least two pages");
        }
        // The driver halves the limit until the PRP list pages of a transfer
        // fit its preallocation: that loop ends even when none fit, since a
        // transfer of 0 bytes needs no list page.
        let mut mt = c.max_transfer_bytes(12).unwrap_or(u32::MAX);
        let mut steps = 0;
        while prp::max_list_pages(mt, 12) > 0 {
            mt /= 2;
            steps += 1;
        }
        assert!(steps <= 32);
        assert!(prp::max_segments(mt, 12) >= 1);

        let n = aen::aer_count(c.aerl);
        assert!((1..=aen::MAX_AERS).contains(&n));
        assert_eq!(
            aen::aec_dw11(c.oaes) & !(aen::AEC_SMART_CRIT | aen::AEC_NS_ATTR),
            0
        );
    });
}

#[test]
fn prop_id_ctrl_nvm() {
    run("id_ctrl_nvm", |rng| {
        let mut b = [0u8; IDENTIFY_SIZE];
        fill(rng, &mut b);
        if rng.chance(3, 4) {
            b[1] = if rng.chance(1, 2) {
                rng.pick(&[0, 1, 35, 36, 50, 51, 52, 63, 255])
            } else {
                edge8(rng)
            };
            b[3] = edge8(rng);
            put32(&mut b, 4, edge32(rng));
            put64(&mut b, 8, edge64(rng));
        }
        let n = IdCtrlNvm::parse(&b);
        assert_eq!((n.vsl, n.wzsl, n.wusl, n.dmrl), (b[0], b[1], b[2], b[3]));
        assert_eq!(n.dmrsl, get32(&b, 4));
        assert_eq!(n.dmsl, get64(&b, 8));
        for shift in 12..=27u32 {
            let wz = n.write_zeroes_limit(shift);
            let total = u32::from(n.wzsl) + shift;
            if n.wzsl == 0 || total >= 63 {
                assert_eq!(wz, None);
            } else {
                assert_eq!(wz, Some(1u64 << total));
            }
        }
    });
}

/// An Identify Namespace buffer. A quarter are built to be supported (the
/// selected format exists, 512..4096-byte blocks, no metadata, no PI), the
/// rest set the fields the driver reads to boundary values.
fn id_ns_buf(rng: &mut XorShift) -> [u8; IDENTIFY_SIZE] {
    let mut b = [0u8; IDENTIFY_SIZE];
    fill(rng, &mut b);
    if rng.chance(1, 8) {
        return b;
    }
    let nlbaf = if rng.chance(1, 2) {
        rng.pick(&NLBAF)
    } else {
        byte(rng)
    };
    b[25] = nlbaf;
    // FLBAS: any byte, or an index (bits 3:0, 6:5) chosen near NLBAF.
    let flbas = if rng.chance(1, 2) {
        byte(rng)
    } else {
        // CAST: the index is below 64.
        let idx = match rng.range(0, 3) {
            0 => u64::from(nlbaf.min(63)),
            1 => u64::from(nlbaf.saturating_add(1).min(63)),
            _ => rng.range(0, 63),
        } as u8;
        (idx & 0xf) | ((idx >> 4) << 5) | (byte(rng) & 0x90)
    };
    b[26] = flbas;
    let supported = rng.chance(1, 3);
    if supported && usize::from(IdNs::parse(&b).lba_format_index()) > usize::from(nlbaf) {
        // Every index FLBAS can name exists.
        b[25] = 63;
    }
    let idx = usize::from(IdNs::parse(&b).lba_format_index());
    let off = 128 + 4 * idx;
    if supported {
        // No metadata, no PI, 512..4096-byte blocks.
        put16(&mut b, off, 0);
        b[off + 2] = rng.pick(&[9, 10, 11, 12]);
        b[29] &= !0x7;
    } else {
        put16(&mut b, off, if rng.chance(1, 2) { 0 } else { edge16(rng) });
        b[off + 2] = if rng.chance(3, 4) {
            rng.pick(&LBADS)
        } else {
            byte(rng)
        };
        b[29] = if rng.chance(1, 2) { 0 } else { edge8(rng) };
    }
    for off in [0, 8, 16] {
        let v = match rng.range(0, 3) {
            0 => edge64(rng),
            // Just below and above where a shift by 3 (4 KiB blocks) overflows.
            1 => (u64::MAX >> rng.range(0, 4)).wrapping_add(rng.range(0, 2)),
            _ => rng.next_u64() >> rng.range(0, 63),
        };
        put64(&mut b, off, v); // NSZE, NCAP, NUSE
    }
    b[24] = byte(rng); // NSFEAT
    for off in (34..46).step_by(2).chain((64..74).step_by(2)) {
        put16(&mut b, off, edge16(rng)); // NAWUN..NABSPF, NPWG..NOWS
    }
    if rng.chance(1, 2) {
        put16(&mut b, 42, 0); // NABO
    }
    b
}

#[test]
fn prop_id_ns() {
    run("id_ns", |rng| {
        let b = id_ns_buf(rng);
        let ns = IdNs::parse(&b);
        assert_eq!(
            (ns.nsze, ns.ncap, ns.nuse),
            (get64(&b, 0), get64(&b, 8), get64(&b, 16))
        );
        assert_eq!((ns.nsfeat, ns.nlbaf, ns.flbas), (b[24], b[25], b[26]));
        assert_eq!(ns.dps, b[29]);
        let nsabp = b[24] & NSFEAT_NSABP != 0;
        let optperf = b[24] & NSFEAT_OPTPERF != 0;
        let gated = |on: bool, off: usize| if on { get16(&b, off) } else { 0 };
        assert_eq!(ns.nawun, gated(nsabp, 34));
        assert_eq!(ns.nawupf, gated(nsabp, 36));
        assert_eq!(ns.nacwu, gated(nsabp, 38));
        assert_eq!((ns.nabo, ns.nabspf), (get16(&b, 42), get16(&b, 44)));
        assert_eq!(ns.npwg, gated(optperf, 64));
        assert_eq!(ns.npdg, gated(optperf, 68));
        assert_eq!(ns.npda, gated(optperf, 70));
        assert_eq!(ns.nows, gated(optperf, 72));
        assert_eq!(ns.nguid[..], b[104..120]);
        assert_eq!(ns.eui64[..], b[120..128]);
        for (i, f) in ns.lbaf.iter().enumerate() {
            let off = 128 + 4 * i;
            assert_eq!(f.ms, get16(&b, off));
            assert_eq!(f.lbads, b[off + 2]);
            assert_eq!(f.rp, b[off + 3] & 3);
        }

        // The format index: FLBAS bits 3:0, plus bits 6:5 above 16 formats.
        let idx = ns.lba_format_index();
        let mut want = b[26] & 0xf;
        if b[25] >= 16 {
            want |= ((b[26] >> 5) & 3) << 4;
        }
        assert_eq!(idx, want);
        assert!(usize::from(idx) < NR_LBAF);
        let f = ns.current_format();
        assert_eq!(f, ns.lbaf[usize::from(idx)]);
        let s = ns.lba_shift();
        assert_eq!(s, f.lbads);
        let lbs = ns.logical_block_size();
        assert_eq!(u64::from(lbs), (1u64 << s.min(32)).min(u64::from(u32::MAX)));

        // Capacity in sectors, saturated: exact wherever it is representable.
        let cap = ns.capacity_sectors();
        if s < 9 {
            assert_eq!(cap, ns.nsze >> (9 - s));
        } else if s - 9 < 64 {
            let exact = u128::from(ns.nsze) << (s - 9);
            assert_eq!(u128::from(cap), exact.min(u128::from(u64::MAX)));
        } else if ns.nsze != 0 {
            assert_eq!(cap, u64::MAX);
        }

        let pbs = ns.physical_block_size();
        let opt = ns.optimal_io_size();
        let sat = |blocks: u16| (u64::from(lbs) * (u64::from(blocks) + 1)).min(u64::from(u32::MAX));
        if optperf {
            assert_eq!(u64::from(pbs), sat(ns.npwg));
            assert_eq!(u64::from(opt), sat(ns.nows));
        } else {
            assert_eq!((pbs, opt), (lbs, 0));
        }
        let g = ns.discard_granularity_blocks();
        assert!((1..=65536).contains(&g));
        match ns.atomic_write() {
            None => assert_ne!(ns.nabo, 0),
            Some(a) => {
                assert_eq!(ns.nabo, 0);
                assert!((1..=65536).contains(&a.max_blocks));
                assert!(a.boundary_blocks == 0 || (2..=65536).contains(&a.boundary_blocks));
            }
        }
        assert_eq!(ns.is_active(), ns.nsze != 0);
        assert_eq!(ns.has_nguid(), b[104..120].iter().any(|&x| x != 0));
        assert_eq!(ns.has_eui64(), b[120..128].iter().any(|&x| x != 0));
        let ids = NsIds::from_id_ns(&ns);
        assert_eq!(
            (ids.eui64, ids.nguid, ids.uuid),
            (ns.eui64, ns.nguid, [0; 16])
        );

        // The first check that fails names the reason; none fails only for a
        // format the block layer takes.
        let verdict = ns.is_supported(16);
        let expected = if idx > ns.nlbaf {
            Err(Unsupported::FormatIndex(idx))
        } else if !(9..=16).contains(&s) {
            Err(Unsupported::BlockSize(s))
        } else {
            Ok(())
        };
        assert_eq!(verdict, expected);
        if verdict.is_ok() {
            assert!((512..=65536).contains(&lbs) && lbs.is_power_of_two());
            assert_eq!(lbs, 1 << s);
            // Whatever the metadata, it packs and unpacks unchanged.
            let m = crate::nvme::meta::MetaFormat::of(&ns, None);
            assert_eq!(crate::nvme::meta::MetaFormat::from_bits(m.to_bits()), m);
            assert_eq!(
                u128::from(cap),
                (u128::from(ns.nsze) << (s - 9)).min(u128::from(u64::MAX))
            );
            assert!(pbs >= lbs && (pbs == u32::MAX || pbs % lbs == 0));
        }
    });
}

#[test]
fn prop_active_ns_list() {
    run("active_ns_list", |rng| {
        let mut b = [0u8; IDENTIFY_SIZE];
        fill(rng, &mut b);
        let built = match rng.range(0, 3) {
            0 => None,
            1 => Some(nsid_list(rng, &mut b, false)),
            _ => Some(nsid_list(rng, &mut b, true)),
        };
        let got: Vec<u32> = active_ns_list(&b).collect();
        assert!(got.len() <= NS_LIST_MAX);
        assert!(got.iter().all(|&id| id != 0));
        // The list's own order, up to the first zero entry.
        assert_eq!(got, dwords_to_zero(&b));
        if let Some(built) = built {
            assert_eq!(got, built);
        }

        // The rescan the driver makes of it: sorted, compared with the disks
        // it has (ascending, distinct) both ways. (On a quarter of the inputs:
        // this is no parser, and the slowest part of the test.)
        if rng.chance(3, 4) {
            return;
        }
        let mut active = got;
        active.sort_unstable();
        // CAST: keeps the low 32 bits.
        let salt = rng.next_u64() as u32;
        let mut have: Vec<u32> = active
            .iter()
            .copied()
            .filter(|id| (id ^ salt).count_ones() % 2 == 0)
            .collect();
        for _ in 0..rng.range(0, 8) {
            have.push(edge32(rng));
        }
        have.sort_unstable();
        have.dedup();
        let gone: Vec<u32> = aen::ns_missing(&have, &active).collect();
        let want: Vec<u32> = have
            .iter()
            .copied()
            .filter(|id| active.binary_search(id).is_err())
            .collect();
        assert_eq!(gone, want);
        let mut distinct = active.clone();
        distinct.dedup();
        let new: Vec<u32> = aen::ns_missing(&distinct, &have).collect();
        let want: Vec<u32> = distinct
            .iter()
            .copied()
            .filter(|id| have.binary_search(id).is_err())
            .collect();
        assert_eq!(new, want);
    });
}

/// Writes a Namespace Identification Descriptor list as a device might get it
/// wrong or right: descriptors of known and unknown types and of every
/// length, sometimes a zero NIDT followed by descriptors that must be
/// ignored, and sometimes a last descriptor that ends exactly at, or runs
/// past, the end of the buffer.
fn desc_list(rng: &mut XorShift, b: &mut [u8; IDENTIFY_SIZE]) {
    let mut off = 0;
    let count = if rng.chance(1, 2) {
        rng.range(0, 6)
    } else {
        rng.range(6, 64)
    };
    for _ in 0..count {
        if off + 4 > IDENTIFY_SIZE {
            break;
        }
        let nidt = rng.pick(&[
            0, NIDT_EUI64, NIDT_NGUID, NIDT_UUID, NIDT_UUID, 4, 0x7f, 0xff,
        ]);
        let nidl = match rng.range(0, 3) {
            0 => rng.pick(&[8, 16]),
            1 => rng.pick(&[0, 1, 4, 7, 9, 15, 17, 20, 252, 255]),
            _ => byte(rng),
        };
        off = descriptor(rng, b, off, nidt, nidl);
    }
    if rng.chance(1, 3) {
        // Unknown-type fillers up to a last descriptor that ends exactly at
        // the end of the buffer, or runs past it by 1..16 bytes.
        let nidl = rng.pick(&[8u8, 16]);
        let over = if rng.chance(1, 2) {
            0
        } else {
            // CAST: at most 16.
            rng.range(1, 16) as usize
        };
        let at = IDENTIFY_SIZE - 4 - usize::from(nidl) + over;
        if at + 4 > IDENTIFY_SIZE || off > at || (1..4).contains(&(at - off)) {
            return;
        }
        while off < at {
            let mut step = (at - off).min(4 + 255);
            if (1..4).contains(&(at - off - step)) {
                step -= 4;
            }
            // CAST: 0..=255 by the `min` above.
            off = descriptor(rng, b, off, 4, (step - 4) as u8);
        }
        let nidt = if nidl == 8 { NIDT_EUI64 } else { NIDT_UUID };
        descriptor(rng, b, at, nidt, nidl);
    }
}

/// Writes one descriptor header at `off` and as much of its identifier (zero
/// or random) as fits; returns the offset just past it.
fn descriptor(rng: &mut XorShift, b: &mut [u8], off: usize, nidt: u8, nidl: u8) -> usize {
    b[off] = nidt;
    b[off + 1] = nidl;
    let next = off + 4 + usize::from(nidl);
    let end = next.min(b.len());
    if rng.chance(1, 4) {
        b[off + 4..end].fill(0);
    } else {
        random_bytes(rng, &mut b[off + 4..end]);
    }
    next
}

/// What a Namespace Identification Descriptor list should add to `ids`: a
/// reference walk that bounds every access with `get`.
fn descriptors_model(mut ids: NsIds, b: &[u8]) -> NsIds {
    let mut off = 0usize;
    while let Some(&[nidt, nidl, _, _]) = b.get(off..off + 4) {
        if nidt == 0 {
            break;
        }
        let len = usize::from(nidl);
        let Some(id) = b.get(off + 4..off + 4 + len) else {
            break;
        };
        match (nidt, len) {
            (NIDT_EUI64, 8) => ids.eui64.copy_from_slice(id),
            (NIDT_NGUID, 16) => ids.nguid.copy_from_slice(id),
            (NIDT_UUID, 16) => ids.uuid.copy_from_slice(id),
            (NIDT_CSI, 1) => ids.csi = Some(id[0]),
            _ => {}
        }
        off += 4 + len;
    }
    ids
}

#[test]
fn prop_ns_desc_list() {
    run("ns_desc_list", |rng| {
        let mut b = [0u8; IDENTIFY_SIZE];
        fill(rng, &mut b);
        if rng.chance(3, 4) {
            desc_list(rng, &mut b);
        }
        let mut ids = NsIds::default();
        if rng.chance(1, 2) {
            random_bytes(rng, &mut ids.eui64);
            random_bytes(rng, &mut ids.nguid);
        }
        let before = ids;
        ids.add_descriptors(&b);
        assert_eq!(ids, descriptors_model(before, &b));
        assert_eq!(ids.has_uuid(), ids.uuid != [0; 16]);
    });
}
