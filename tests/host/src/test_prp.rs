// SPDX-License-Identifier: GPL-2.0

//! Tests of PRP planning and list building (nvme/prp.rs).
//!
//! Every built data pointer is checked by walking it the way a controller
//! does (PRP1 with its offset, PRP2 as a direct page or as a list pointer,
//! chain pointers in the last slot of full list pages) and comparing the
//! byte ranges reached with the input segments.

use crate::nvme::prp::*;
use crate::rng::XorShift;
use std::collections::BTreeMap;

/// Fake bus address where simulated list pages live, far from data pages.
const LIST_BASE: u64 = 0x7f00_0000_0000;

/// Simulated host memory holding PRP list pages: bus address -> qwords.
type Mem = BTreeMap<u64, Vec<u64>>;

/// Reads the little-endian qword at bus address `addr` of `mem`.
fn read_qword(mem: &Mem, addr: u64) -> Result<u64, String> {
    let (&base, page) = mem
        .range(..=addr)
        .next_back()
        .ok_or(format!("read of {addr:#x}: no list memory there"))?;
    let idx = ((addr - base) / 8) as usize;
    if (addr - base) % 8 != 0 || idx >= page.len() {
        return Err(format!("read of {addr:#x}: outside list page {base:#x}"));
    }
    Ok(u64::from_le(page[idx]))
}

/// What a controller sees when walking a PRP data pointer.
struct Walk {
    /// Byte ranges transferred, in order.
    ranges: Vec<(u64, u64)>,
    /// Number of PRP entries used for data.
    entries: usize,
    /// Number of list pages visited (the first one plus chained ones).
    list_pages: usize,
}

/// Walks PRP1/PRP2 for a transfer of `len` bytes as the spec describes.
fn device_walk(prp1: u64, prp2: u64, len: u64, shift: u32, mem: &Mem) -> Result<Walk, String> {
    let page = 1u64 << shift;
    if prp1 & 3 != 0 {
        return Err(format!("PRP1 {prp1:#x} not dword aligned"));
    }
    let first = len.min(page - (prp1 & (page - 1)));
    let mut w = Walk {
        ranges: vec![(prp1, first)],
        entries: 1,
        list_pages: 0,
    };
    let mut rem = len - first;
    if rem == 0 {
        if prp2 != 0 {
            return Err(format!("PRP2 {prp2:#x} set but unused"));
        }
        return Ok(w);
    }
    if rem <= page {
        if prp2 & (page - 1) != 0 {
            return Err(format!("PRP2 {prp2:#x} has an offset"));
        }
        w.ranges.push((prp2, rem));
        w.entries += 1;
        return Ok(w);
    }
    let mut ptr = prp2;
    if ptr & 7 != 0 {
        return Err(format!("PRP list pointer {ptr:#x} not qword aligned"));
    }
    w.list_pages = 1;
    while rem > 0 {
        if ptr & (page - 1) == page - 8 && rem > page {
            ptr = read_qword(mem, ptr)?;
            if ptr & 7 != 0 {
                return Err(format!("chain pointer {ptr:#x} not qword aligned"));
            }
            w.list_pages += 1;
            continue;
        }
        let e = read_qword(mem, ptr)?;
        if e & (page - 1) != 0 {
            return Err(format!("list entry {e:#x} at {ptr:#x} has an offset"));
        }
        let n = rem.min(page);
        w.ranges.push((e, n));
        w.entries += 1;
        rem -= n;
        ptr += 8;
    }
    Ok(w)
}

/// Merges physically contiguous neighbouring ranges.
fn coalesce(it: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, n) in it {
        match out.last_mut() {
            Some((la, ln)) if *la + *ln == a => *ln += n,
            _ => out.push((a, n)),
        }
    }
    out
}

/// Result of building a data pointer into simulated list pages.
struct Built {
    plan: PrpPlan,
    prp1: u64,
    prp2: u64,
    mem: Mem,
    dmas: Vec<u64>,
}

/// Plans and fills `segs` with page-aligned list pages at fake addresses.
fn build(segs: &[Seg], shift: u32) -> Result<Built, PrpError> {
    let plan = plan(segs, shift)?;
    let per_page = entries_per_list_page(shift);
    // Spread the list pages out so that chaining is really followed.
    let dmas: Vec<u64> = (0..plan.list_pages as u64)
        .map(|i| LIST_BASE + (i * 3 + 1) * (1u64 << shift))
        .collect();
    // Poison: an unwritten slot read as an entry has an offset.
    let mut bufs: Vec<Vec<u64>> = dmas.iter().map(|_| vec![0xbad0_0bad; per_page]).collect();
    let mut pages: Vec<ListPage<'_>> = bufs
        .iter_mut()
        .zip(&dmas)
        .map(|(b, &dma)| ListPage { dma, entries: b })
        .collect();
    let (prp1, prp2) = fill(segs, shift, &mut pages)?;
    drop(pages);
    let mem = dmas.iter().copied().zip(bufs).collect();
    Ok(Built {
        plan,
        prp1,
        prp2,
        mem,
        dmas,
    })
}

/// Builds `segs`, walks the result like a device, and checks it matches.
fn check(segs: &[Seg], shift: u32) -> Built {
    let b = build(segs, shift).unwrap_or_else(|e| panic!("{e:?} for {segs:x?}"));
    let len: u64 = segs.iter().map(|s| u64::from(s.len)).sum();
    assert_eq!(b.plan.len, len);
    assert_eq!(b.prp1, b.plan.prp1);
    if let Some(p2) = b.plan.prp2 {
        assert_eq!(b.prp2, p2);
    }
    if b.plan.needs_list() {
        assert_eq!(b.prp2, b.dmas[0]);
    }
    let w = device_walk(b.prp1, b.prp2, len, shift, &b.mem)
        .unwrap_or_else(|e| panic!("{e} for {segs:x?}"));
    assert_eq!(
        coalesce(w.ranges.iter().copied()),
        coalesce(segs.iter().map(|s| (s.addr, u64::from(s.len)))),
        "segments {segs:x?}"
    );
    assert_eq!(w.entries, b.plan.nr_entries);
    assert_eq!(w.list_pages, b.plan.list_pages);
    if b.plan.list_pages > 0 {
        assert_eq!(b.plan.list_entries, b.plan.nr_entries - 1);
    } else {
        assert_eq!(b.plan.list_entries, 0);
    }
    b
}

/// Independent model of the list page count: fill pages one at a time.
fn model_list_pages(nr_entries: usize, shift: u32) -> usize {
    if nr_entries <= 2 {
        return 0;
    }
    let per_page = (1usize << shift) / 8;
    let mut rem = nr_entries - 1;
    let mut pages = 0;
    while rem > 0 {
        pages += 1;
        if rem <= per_page {
            rem = 0;
        } else {
            rem -= per_page - 1;
        }
    }
    pages
}

const P: u64 = 4096;

/// Reads slot `i` of list page `page` in built memory.
fn slot(b: &Built, page: usize, i: usize) -> u64 {
    u64::from_le(b.mem[&b.dmas[page]][i])
}

#[test]
fn single_page_with_offset() {
    let b = check(&[Seg::new(0x1000_0200, 0x400)], 12);
    assert_eq!((b.prp1, b.prp2), (0x1000_0200, 0));
    assert_eq!(b.plan.nr_entries, 1);
    assert_eq!(b.plan.prp2, None);
    // Ending exactly at the page end is still one page.
    let b = check(&[Seg::new(0x1000_0e00, 0x200)], 12);
    assert_eq!((b.prp1, b.prp2, b.plan.nr_entries), (0x1000_0e00, 0, 1));
}

#[test]
fn exactly_one_page() {
    let b = check(&[Seg::new(0x2000, 4096)], 12);
    assert_eq!((b.prp1, b.prp2), (0x2000, 0));
    assert!(!b.plan.needs_list());
}

#[test]
fn two_pages() {
    let b = check(&[Seg::new(0x3000, 8192)], 12);
    assert_eq!((b.prp1, b.prp2), (0x3000, 0x4000));
    assert_eq!(b.plan.prp2, Some(0x4000));
    assert_eq!((b.plan.list_pages, b.plan.list_entries), (0, 0));
    // Two segments, one page each.
    let b = check(&[Seg::new(0x5800, 0x800), Seg::new(0x9000, 0x1000)], 12);
    assert_eq!((b.prp1, b.prp2), (0x5800, 0x9000));
    // A short second segment.
    let b = check(&[Seg::new(0x5000, 0x1000), Seg::new(0x9000, 0x200)], 12);
    assert_eq!((b.prp1, b.prp2), (0x5000, 0x9000));
}

#[test]
fn crossing_boundary_with_offset() {
    // 512 bytes straddling a page boundary: two entries.
    let b = check(&[Seg::new(0x3f00, 0x200)], 12);
    assert_eq!((b.prp1, b.prp2), (0x3f00, 0x4000));
    // 8 KiB from offset 0x800 touches three pages: a list of two.
    let b = check(&[Seg::new(0x10_0800, 0x2000)], 12);
    assert_eq!(b.plan.nr_entries, 3);
    assert_eq!((b.plan.list_pages, b.plan.list_entries), (1, 2));
    assert_eq!(b.prp1, 0x10_0800);
    assert_eq!(slot(&b, 0, 0), 0x10_1000);
    assert_eq!(slot(&b, 0, 1), 0x10_2000);
}

#[test]
fn many_pages_one_list() {
    let b = check(&[Seg::new(0x10000, 16 * 4096)], 12);
    assert_eq!(b.plan.nr_entries, 16);
    assert_eq!((b.plan.list_pages, b.plan.list_entries), (1, 15));
    assert_eq!(b.plan.slots_in_page(0), 15);
    assert_eq!(b.prp2, b.dmas[0]);
    for i in 0..15 {
        assert_eq!(slot(&b, 0, i), 0x11000 + i as u64 * P);
    }
    // Untouched slots keep the poison.
    assert_eq!(slot(&b, 0, 15), 0xbad0_0bad);
}

#[test]
fn list_exactly_one_full_page() {
    // 513 entries: PRP1 plus 512 list entries filling one page, no chain;
    // the last slot holds data.
    let b = check(&[Seg::new(0x100_0000, 513 * 4096)], 12);
    assert_eq!(b.plan.nr_entries, 513);
    assert_eq!((b.plan.list_pages, b.plan.list_entries), (1, 512));
    assert_eq!(b.plan.slots_in_page(0), 512);
    assert_eq!(slot(&b, 0, 511), 0x100_0000 + 512 * P);
}

#[test]
fn list_one_more_than_a_page_chains() {
    // 514 entries: 513 list entries; page 0 holds 511 and a chain pointer,
    // page 1 holds the remaining 2.
    let b = check(&[Seg::new(0x100_0000, 514 * 4096)], 12);
    assert_eq!((b.plan.list_pages, b.plan.list_entries), (2, 513));
    assert_eq!(b.plan.slots_in_page(0), 512);
    assert_eq!(b.plan.slots_in_page(1), 2);
    assert_eq!(slot(&b, 0, 510), 0x100_0000 + 511 * P);
    assert_eq!(slot(&b, 0, 511), b.dmas[1]);
    assert_eq!(slot(&b, 1, 0), 0x100_0000 + 512 * P);
    assert_eq!(slot(&b, 1, 1), 0x100_0000 + 513 * P);
}

#[test]
fn multi_chain() {
    // 1 + 511 + 511 + 512 entries: exactly three full list pages.
    let n = 1 + 511 + 511 + 512;
    let b = check(&[Seg::new(0x4000_0000, n * 4096)], 12);
    assert_eq!(b.plan.list_pages, 3);
    assert_eq!(slot(&b, 0, 511), b.dmas[1]);
    assert_eq!(slot(&b, 1, 511), b.dmas[2]);
    assert_eq!(slot(&b, 2, 511), 0x4000_0000 + (u64::from(n) - 1) * P);
    // One more entry needs a fourth page.
    let b = check(&[Seg::new(0x4000_0000, (n + 1) * 4096)], 12);
    assert_eq!(b.plan.list_pages, 4);
    assert_eq!(b.plan.slots_in_page(3), 2);
    assert_eq!(slot(&b, 2, 511), b.dmas[3]);
    // Same with an offset first page and several segments.
    let segs = [
        Seg::new(0x4000_0a00, 0x600 + 700 * 4096),
        Seg::new(0x9000_0000, 900 * 4096),
        Seg::new(0x2000_0000, 1000 * 4096 + 0x123),
    ];
    let b = check(&segs, 12);
    assert_eq!(b.plan.nr_entries, 1 + 700 + 900 + 1001);
    assert_eq!(b.plan.list_pages, model_list_pages(b.plan.nr_entries, 12));
}

#[test]
fn aligned_first_offsets() {
    // 512-byte aligned offset.
    let b = check(&[Seg::new(0x8000_0200, 0x1000)], 12);
    assert_eq!((b.prp1, b.prp2), (0x8000_0200, 0x8000_1000));
    // 4-byte aligned offset, the smallest the spec allows.
    let b = check(&[Seg::new(0x8000_0004, 0x1ffc)], 12);
    assert_eq!((b.prp1, b.prp2), (0x8000_0004, 0x8000_1000));
    let b = check(&[Seg::new(0x8000_0ffc, 4)], 12);
    assert_eq!((b.prp1, b.prp2), (0x8000_0ffc, 0));
    let b = check(&[Seg::new(0x8000_0ffc, 8)], 12);
    assert_eq!((b.prp1, b.prp2), (0x8000_0ffc, 0x8000_1000));
}

#[test]
fn larger_controller_pages() {
    // 64 KiB pages: 8192 entries per list page.
    let b = check(&[Seg::new(0x1_0000_0000, 3 * 65536)], 16);
    assert_eq!(b.plan.nr_entries, 3);
    assert_eq!(b.plan.list_pages, 1);
    let b = check(&[Seg::new(0x1_0000_0000, 65536 * 8194)], 16);
    assert_eq!(b.plan.list_pages, 2);
    assert_eq!(slot(&b, 0, 8191), b.dmas[1]);
    // A 4 KiB-aligned (but not 64 KiB-aligned) middle is invalid there.
    let segs = [
        Seg::new(0x1_0000_0000, 65536),
        Seg::new(0x2_0000_1000, 4096),
    ];
    assert_eq!(plan(segs, 16), Err(PrpError::UnalignedStart));
    assert!(plan(segs, 12).is_ok());
}

#[test]
fn invalid_inputs() {
    use PrpError::*;
    let cases: &[(&[Seg], PrpError)] = &[
        (&[], Empty),
        (&[Seg::new(0x1000, 0)], ZeroLength),
        (&[Seg::new(0x1000, 4096), Seg::new(0x3000, 0)], ZeroLength),
        (&[Seg::new(0x1001, 512)], UnalignedFirst),
        (&[Seg::new(0x1002, 512)], UnalignedFirst),
        (&[Seg::new(0x1003, 512)], UnalignedFirst),
        (
            &[Seg::new(0x1000, 4096), Seg::new(0x3200, 512)],
            UnalignedStart,
        ),
        (
            &[Seg::new(0x1000, 4096), Seg::new(0x3004, 512)],
            UnalignedStart,
        ),
        (
            &[Seg::new(0x1000, 2048), Seg::new(0x3000, 4096)],
            UnalignedEnd,
        ),
        (
            &[Seg::new(0x1800, 4096), Seg::new(0x3000, 4096)],
            UnalignedEnd,
        ),
        (
            &[
                Seg::new(0x1000, 4096),
                Seg::new(0x3000, 4000),
                Seg::new(0x5000, 4096),
            ],
            UnalignedEnd,
        ),
        (&[Seg::new(u64::MAX - 3, 8)], Overflow),
    ];
    for (segs, err) in cases {
        assert_eq!(plan(*segs, 12), Err(*err), "{segs:x?}");
        assert_eq!(fill(*segs, 12, &mut []), Err(*err), "{segs:x?}");
    }
    for shift in [0, 11, 28, 64] {
        let segs = [Seg::new(0x1000, 512)];
        assert_eq!(plan(segs, shift), Err(PrpError::BadPageShift));
        assert_eq!(fill(segs, shift, &mut []), Err(PrpError::BadPageShift));
    }
}

#[test]
fn wrong_list_pages() {
    let mut a = vec![0u64; 512];
    let mut bb = vec![0u64; 512];
    // No list needed but a page given.
    let one = [Seg::new(0x1000, 4096)];
    let mut pages = [ListPage {
        dma: 0x10_0000,
        entries: &mut a,
    }];
    assert_eq!(fill(one, 12, &mut pages), Err(PrpError::ListPageCount));
    let two = [Seg::new(0x1000, 8192)];
    assert_eq!(fill(two, 12, &mut pages), Err(PrpError::ListPageCount));
    // A list needed but no page given.
    let three = [Seg::new(0x1000, 3 * 4096)];
    assert_eq!(fill(three, 12, &mut []), Err(PrpError::ListPageCount));
    // One list page needed, two given.
    let mut pages = [
        ListPage {
            dma: 0x10_0000,
            entries: &mut a,
        },
        ListPage {
            dma: 0x20_0000,
            entries: &mut bb,
        },
    ];
    assert_eq!(fill(three, 12, &mut pages), Err(PrpError::ListPageCount));
    // Two needed, one given.
    let long = [Seg::new(0x1000, 600 * 4096)];
    assert_eq!(plan(long, 12).unwrap().list_pages, 2);
    assert_eq!(
        fill(long, 12, &mut pages[..1]),
        Err(PrpError::ListPageCount)
    );
    assert!(fill(long, 12, &mut pages).is_ok());
}

#[test]
fn list_page_constraints() {
    let segs = [Seg::new(0x1000, 20 * 4096)];
    let plan = plan(segs, 12).unwrap();
    assert_eq!((plan.list_pages, plan.slots_in_page(0)), (1, 19));
    // A small (256-byte) list buffer at an offset in its page is fine for
    // an only list page that fits.
    let mut small = vec![0u64; 32];
    let mut pages = [ListPage {
        dma: 0x55_0f00,
        entries: &mut small,
    }];
    let (p1, p2) = fill(segs, 12, &mut pages).unwrap();
    assert_eq!((p1, p2), (0x1000, 0x55_0f00));
    let mem: Mem = [(0x55_0f00, small.clone())].into_iter().collect();
    let w = device_walk(p1, p2, 20 * 4096, 12, &mem).unwrap();
    assert_eq!(coalesce(w.ranges), vec![(0x1000, 20 * 4096)]);
    // Too few entries in the slice.
    let mut tiny = vec![0u64; 18];
    let mut pages = [ListPage {
        dma: 0x55_0000,
        entries: &mut tiny,
    }];
    assert_eq!(fill(segs, 12, &mut pages), Err(PrpError::ListPageTooSmall));
    // The list would cross the end of its memory page.
    let mut big = vec![0u64; 512];
    let mut pages = [ListPage {
        dma: 0x55_0f80,
        entries: &mut big,
    }];
    assert_eq!(fill(segs, 12, &mut pages), Err(PrpError::ListPageTooSmall));
    // Not qword aligned.
    let mut pages = [ListPage {
        dma: 0x55_0004,
        entries: &mut big,
    }];
    assert_eq!(
        fill(segs, 12, &mut pages),
        Err(PrpError::ListPageMisaligned)
    );
    // A page that must chain onward has to end at its memory page end.
    let long = [Seg::new(0x1000, 600 * 4096)];
    let mut b2 = vec![0u64; 512];
    let mut pages = [
        ListPage {
            dma: 0x60_0100,
            entries: &mut big,
        },
        ListPage {
            dma: 0x70_0000,
            entries: &mut b2,
        },
    ];
    assert_eq!(fill(long, 12, &mut pages), Err(PrpError::ListPageTooSmall));
    pages[0].dma = 0x60_0000;
    assert!(fill(long, 12, &mut pages).is_ok());
}

#[test]
fn iterator_inputs() {
    let segs = vec![
        Seg::new(0x1_0000_0a00, 0x600),
        Seg::new(0x2_0000_0000, 3 * 4096),
        Seg::new(0x3_0000_0000, 100),
    ];
    let a = plan(&segs, 12).unwrap();
    let b = plan(segs.iter().copied(), 12).unwrap();
    let c = plan(segs.iter(), 12).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.nr_entries, 5);
    let mut buf = vec![0u64; 512];
    let mut pages = [ListPage {
        dma: 0x9000,
        entries: &mut buf,
    }];
    let r = fill(segs.iter().copied(), 12, &mut pages).unwrap();
    assert_eq!(r, (0x1_0000_0a00, 0x9000));
    assert_eq!(
        buf[..4]
            .iter()
            .map(|&e| u64::from_le(e))
            .collect::<Vec<_>>(),
        [0x2_0000_0000, 0x2_0000_1000, 0x2_0000_2000, 0x3_0000_0000]
    );
}

#[test]
fn sizing_helpers() {
    assert_eq!(entries_per_list_page(12), 512);
    assert_eq!(entries_per_list_page(16), 8192);
    assert_eq!(max_entries(128 * 1024, 12), 33);
    assert_eq!(max_list_pages(128 * 1024, 12), 1);
    assert_eq!(max_entries(2 << 20, 12), 513);
    assert_eq!(max_list_pages(2 << 20, 12), 1);
    assert_eq!(max_list_pages((2 << 20) + 4096, 12), 2);
    assert_eq!(max_segments(512 * 1024, 12), 129);
    assert_eq!(max_list_pages(0, 12), 0);
    assert_eq!(max_list_pages(4096, 12), 0);
    assert_eq!(max_list_pages(8192, 12), 1);
    assert_eq!(
        max_list_pages(u32::MAX, 12),
        model_list_pages(max_entries(u32::MAX, 12), 12)
    );
    for n in 0..5000 {
        for shift in [12, 13, 16] {
            assert_eq!(list_pages_for(n, shift), model_list_pages(n, shift), "{n}");
        }
    }
    // The worst case really is reached by a transfer at the worst offset.
    let len = 128 * 1024u32;
    let p = plan([Seg::new(0x1000 + 4096 - 4, len)], 12).unwrap();
    assert_eq!(p.nr_entries, max_entries(len, 12));
}

/// Picks a dword-aligned offset into a page: 0, 512-aligned or 4-aligned.
fn random_offset(rng: &mut XorShift, page: u64) -> u64 {
    match rng.range(0, 2) {
        0 => 0,
        1 => rng.range(0, page / 512 - 1) * 512,
        _ => rng.range(0, page / 4 - 1) * 4,
    }
}

/// A random segment list that follows the PRP rules.
fn random_valid(rng: &mut XorShift, shift: u32) -> Vec<Seg> {
    let page = 1u64 << shift;
    let per_page = page / 8;
    let nsegs = if rng.chance(1, 10) {
        rng.range(1, 64)
    } else {
        rng.range(1, 6)
    };
    // Sometimes large enough to need chained list pages.
    let kmax = if rng.chance(1, 6) {
        rng.range(1, 3 * per_page / nsegs + 2)
    } else {
        rng.range(1, 4)
    };
    let mut page_addr = || rng.range(1, (1u64 << 44) >> shift) << shift;
    let mut addrs: Vec<u64> = (0..nsegs).map(|_| page_addr()).collect();
    let mut segs = Vec::new();
    for i in 0..nsegs as usize {
        let last = i as u64 == nsegs - 1;
        let (addr, len) = if i == 0 {
            let off = random_offset(rng, page);
            if last {
                (addrs[0] + off, rng.range(1, kmax * page))
            } else {
                (addrs[0] + off, page - off + rng.range(0, kmax) * page)
            }
        } else if last {
            (addrs[i], rng.range(1, kmax * page))
        } else {
            (addrs[i], rng.range(1, kmax) * page)
        };
        // Occasionally make a segment physically follow the previous one.
        if i > 0 && rng.chance(1, 8) {
            let prev: &Seg = &segs[i - 1];
            addrs[i] = prev.addr + u64::from(prev.len);
            segs.push(Seg::new(addrs[i], u32::try_from(len).unwrap()));
            continue;
        }
        segs.push(Seg::new(addr, u32::try_from(len).unwrap()));
    }
    segs
}

#[test]
fn random_valid_lists_roundtrip() {
    let mut rng = XorShift::new(0x5eed_1234);
    let mut with_chain = 0;
    let mut with_list = 0;
    for _ in 0..4000 {
        let shift = rng.pick(&[12, 12, 12, 13, 14, 16]);
        let segs = random_valid(&mut rng, shift);
        let b = check(&segs, shift);
        assert_eq!(
            b.plan.list_pages,
            model_list_pages(b.plan.nr_entries, shift)
        );
        with_list += usize::from(b.plan.list_pages >= 1);
        with_chain += usize::from(b.plan.list_pages >= 2);
    }
    // The generator must actually reach the interesting shapes.
    assert!(with_list > 1000, "{with_list}");
    assert!(with_chain > 50, "{with_chain}");
}

#[test]
fn random_invalid_lists_rejected() {
    let mut rng = XorShift::new(0xbad);
    let mut seen = [0usize; 4];
    for _ in 0..4000 {
        let shift = rng.pick(&[12, 13, 16]);
        let page = 1u64 << shift;
        let mut segs = random_valid(&mut rng, shift);
        let n = segs.len();
        let valid_pages = plan(&segs, shift).unwrap().list_pages;
        let kind = rng.range(0, 3);
        let expect = match kind {
            0 => {
                segs[0].addr += rng.range(1, 3);
                PrpError::UnalignedFirst
            }
            1 if n >= 2 => {
                let i = rng.range(1, n as u64 - 1) as usize;
                segs[i].addr += rng.range(1, page - 1);
                PrpError::UnalignedStart
            }
            2 if n >= 2 => {
                let i = rng.range(0, n as u64 - 2) as usize;
                let len = u64::from(segs[i].len);
                let d = rng.range(1, page - 1);
                let new = if len > page { len - d } else { len + d };
                segs[i].len = u32::try_from(new).unwrap();
                PrpError::UnalignedEnd
            }
            _ => {
                let i = rng.range(0, n as u64 - 1) as usize;
                segs[i].len = 0;
                PrpError::ZeroLength
            }
        };
        seen[match expect {
            PrpError::UnalignedFirst => 0,
            PrpError::UnalignedStart => 1,
            PrpError::UnalignedEnd => 2,
            _ => 3,
        }] += 1;
        assert_eq!(plan(&segs, shift), Err(expect), "{segs:x?}");
        // fill_one_list validates as plan does, except that running out of room can come
        // first, and then the caller plans (and plan rejects the list).
        let mut room = vec![0u64; 8192];
        match fill_one_list(&segs, shift, &mut room) {
            Err(PrpError::ListPageCount) => {}
            r => assert_eq!(r, Err(expect), "{segs:x?}"),
        }
        // fill must reject it too, whatever list pages it is given.
        let mut bufs: Vec<Vec<u64>> = (0..valid_pages).map(|_| vec![0; 8192]).collect();
        let mut pages: Vec<ListPage<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| ListPage {
                dma: LIST_BASE + i as u64 * 0x10_0000,
                entries: b,
            })
            .collect();
        assert_eq!(fill(&segs, shift, &mut pages), Err(expect), "{segs:x?}");
    }
    assert!(seen.iter().all(|&c| c > 300), "{seen:?}");
}

/// `simple` agrees with `plan` on every single segment: same PRP1/PRP2 where no list is
/// needed, `None` where a list is needed or `plan` rejects the segment.
#[test]
fn simple_matches_plan_for_one_segment() {
    let mut rng = XorShift::new(0x5151_e7e5);
    let mut fits = 0;
    for i in 0..200_000u32 {
        let shift = [12, 13, 16, 27, 11, 28][(i % 6) as usize];
        let page = 1u64 << shift.min(27);
        let addr = match rng.range(0, 3) {
            0 => rng.range(0, 1 << 40) & !3,
            1 => rng.range(0, 1 << 40),
            2 => u64::MAX - rng.range(0, 3 * page),
            _ => (rng.range(0, 1 << 30) << shift.min(27)) + rng.range(0, page - 1),
        };
        let len = match rng.range(0, 2) {
            0 => rng.range(0, 3 * page).min(u64::from(u32::MAX)) as u32,
            1 => (page - (addr & (page - 1)) + rng.range(0, 8)) as u32,
            _ => rng.range(0, 16) as u32 * 512,
        };
        let seg = Seg::new(addr, len);
        let want = match plan([seg], shift) {
            Ok(p) if !p.needs_list() => Some((p.prp1, p.prp2.unwrap_or(0))),
            _ => None,
        };
        fits += usize::from(want.is_some());
        assert_eq!(simple(seg, shift), want, "{seg:x?} shift {shift}");
    }
    // The cases are not all rejections.
    assert!(fits > 30_000, "only {fits} segments fit in two pages");
}

/// The edges of `simple`: exactly one page, one byte into the next, exactly two pages, one
/// byte more.
#[test]
fn simple_edges() {
    let p = 4096u64;
    assert_eq!(simple(Seg::new(0x10000, 4096), 12), Some((0x10000, 0)));
    assert_eq!(
        simple(Seg::new(0x10000, 4097), 12),
        Some((0x10000, 0x11000))
    );
    assert_eq!(
        simple(Seg::new(0x10000, 8192), 12),
        Some((0x10000, 0x11000))
    );
    assert_eq!(simple(Seg::new(0x10000, 8193), 12), None);
    assert_eq!(simple(Seg::new(0x10ff8, 8), 12), Some((0x10ff8, 0)));
    assert_eq!(simple(Seg::new(0x10ff8, 12), 12), Some((0x10ff8, 0x11000)));
    assert_eq!(
        simple(Seg::new(0x10ff8, (p + 8) as u32), 12),
        Some((0x10ff8, 0x11000))
    );
    assert_eq!(simple(Seg::new(0x10ff8, (p + 9) as u32), 12), None);
    assert_eq!(simple(Seg::new(0x10ffa, 8), 12), None);
    assert_eq!(simple(Seg::new(0x10000, 0), 12), None);
    assert_eq!(simple(Seg::new(0x10000, 512), 11), None);
}

/// `fill_one_list` writes the same list as `fill` for every random valid segment list that
/// needs exactly one list page (`check` walks that list like the device); a list that needs
/// more pages, or a page too short for the entries, is an error, not an overrun.
#[test]
fn fill_one_list_matches_fill() {
    let mut rng = XorShift::new(0x0e11_57a7);
    let mut tried = 0;
    let mut chained = 0;
    for _ in 0..20_000 {
        let shift = rng.pick(&[12, 12, 12, 13, 16]);
        let segs = random_valid(&mut rng, shift);
        let b = check(&segs, shift);
        let per_page = entries_per_list_page(shift);
        if b.plan.list_pages > 1 {
            // Too long for one page: an error, the caller plans several.
            let mut page = vec![0u64; per_page];
            assert_eq!(
                fill_one_list(&segs, shift, &mut page),
                Err(PrpError::ListPageCount),
                "{segs:x?}"
            );
            chained += 1;
            continue;
        }
        if b.plan.list_pages == 0 {
            continue;
        }
        tried += 1;
        let mut page = vec![0xbad0_0bad_u64; per_page];
        let prp1 = fill_one_list(&segs, shift, &mut page).expect("one list page");
        assert_eq!(prp1, b.prp1, "{segs:x?}");
        let want = &b.mem[&b.dmas[0]];
        assert_eq!(page, *want, "{segs:x?}");
        // One entry short of what the list needs.
        let mut short = vec![0u64; b.plan.list_entries - 1];
        assert_eq!(
            fill_one_list(&segs, shift, &mut short),
            Err(PrpError::ListPageCount)
        );
    }
    assert!(tried > 500, "only {tried} lists of one page");
    assert!(chained > 50, "only {chained} lists of several pages");
}
