// SPDX-License-Identifier: GPL-2.0

//! Building the PRP data pointer of a command from DMA segments.
//!
//! A Physical Region Page (PRP) entry points at one memory page of the
//! controller's page size (CC.MPS). The first entry, PRP1, may carry a
//! dword-aligned offset into its page; every later entry points at the start
//! of a page. If the transfer touches one page, PRP1 alone describes it; if
//! it touches two, PRP2 is the second page; otherwise PRP2 points to a PRP
//! list: pages of 8-byte entries where, if more entries remain than fit, the
//! last slot of a list page points to the next list page.
//!
//! The kernel side maps the request with `dma_map_sg` and hands the segments
//! here in two steps that need no allocation: [`plan`] validates them and
//! says how many list pages are needed, the caller allocates exactly that
//! many from its DMA pool, and [`fill`] writes the list entries and returns
//! PRP1 and PRP2. Segments the PRP format cannot express are rejected with a
//! [`PrpError`] rather than turned into a wrong transfer.

use core::borrow::Borrow;

/// Smallest controller page shift (4 KiB, CC.MPS = 0).
pub(crate) const MIN_PAGE_SHIFT: u32 = 12;
/// Largest controller page shift (128 MiB, CC.MPS = 15).
pub(crate) const MAX_PAGE_SHIFT: u32 = 27;

/// One DMA-mapped segment of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    /// Bus address of the segment.
    pub(crate) addr: u64,
    /// Length in bytes.
    pub(crate) len: u32,
}

impl Seg {
    /// A segment of `len` bytes at bus address `addr`.
    pub(crate) const fn new(addr: u64, len: u32) -> Self {
        Self { addr, len }
    }
}

/// Why a segment list cannot be described with PRPs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrpError {
    /// No segments: the transfer length is zero.
    Empty,
    /// A segment has zero length.
    ZeroLength,
    /// The first segment's address is not dword (4-byte) aligned.
    UnalignedFirst,
    /// A segment other than the first does not start on a page boundary.
    UnalignedStart,
    /// A segment other than the last does not end on a page boundary.
    UnalignedEnd,
    /// A segment's end address overflows 64 bits, or counts overflow.
    Overflow,
    /// `page_shift` is outside `MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT`.
    BadPageShift,
    /// The number of list pages given to [`fill`] differs from the plan.
    ListPageCount,
    /// A list page's `entries` (or the room left in its memory page) is too
    /// small for the entries it must hold.
    ListPageTooSmall,
    /// A list page's bus address is not 8-byte aligned.
    ListPageMisaligned,
}

/// The shape of a PRP data pointer, computed by [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PrpPlan {
    /// PRP Entry 1: the first segment's address, offset included.
    pub(crate) prp1: u64,
    /// PRP Entry 2 when it is a direct page pointer (exactly two entries);
    /// `None` when there is one entry (PRP2 = 0) or a list is needed.
    pub(crate) prp2: Option<u64>,
    /// Total number of PRP entries (data pages touched), PRP1 included.
    pub(crate) nr_entries: usize,
    /// Number of data entries in the PRP list (0 without a list).
    pub(crate) list_entries: usize,
    /// Number of list pages to allocate and pass to [`fill`].
    pub(crate) list_pages: usize,
    /// Total transfer length in bytes.
    pub(crate) len: u64,
    /// Controller page shift the plan was made for.
    pub(crate) page_shift: u32,
}

impl PrpPlan {
    /// Whether PRP2 must point to a PRP list.
    pub(crate) const fn needs_list(&self) -> bool {
        self.list_pages != 0
    }

    /// Number of 8-byte slots [`fill`] writes in list page `i` (data entries
    /// plus the chain pointer, if any): a full page for every page but the
    /// last. A last (or only) list page may therefore be smaller than a
    /// memory page, as long as it does not cross a memory page boundary.
    pub(crate) const fn slots_in_page(&self, i: usize) -> usize {
        let per_page = entries_per_list_page(self.page_shift);
        if i + 1 < self.list_pages {
            per_page
        } else if i + 1 == self.list_pages {
            self.list_entries - (self.list_pages - 1) * (per_page - 1)
        } else {
            0
        }
    }
}

/// A caller-provided PRP list page.
pub(crate) struct ListPage<'a> {
    /// Bus address of `entries[0]`. Must be 8-byte aligned; every list page
    /// but the last must be page aligned, and the entries a page holds must
    /// not cross a memory page boundary.
    pub(crate) dma: u64,
    /// CPU view of the list memory; at least [`PrpPlan::slots_in_page`] long.
    pub(crate) entries: &'a mut [u64],
}

/// Number of 8-byte PRP entries in one memory page of `1 << page_shift`.
///
/// `page_shift` is clamped to `MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT` so that the
/// sizing helpers below never divide by zero or overflow.
pub(crate) const fn entries_per_list_page(page_shift: u32) -> usize {
    let shift = if page_shift < MIN_PAGE_SHIFT {
        MIN_PAGE_SHIFT
    } else if page_shift > MAX_PAGE_SHIFT {
        MAX_PAGE_SHIFT
    } else {
        page_shift
    };
    (1usize << shift) / 8
}

/// Number of list pages needed for `nr_entries` PRP entries in total (PRP1
/// included), with chaining through the last slot of each full list page.
pub(crate) const fn list_pages_for(nr_entries: usize, page_shift: u32) -> usize {
    if nr_entries <= 2 {
        return 0;
    }
    let list_entries = nr_entries - 1;
    let per_page = entries_per_list_page(page_shift);
    // Every list page but the last holds per_page - 1 entries and a chain
    // pointer; the last holds up to per_page entries.
    (list_entries - 1).div_ceil(per_page - 1)
}

/// Largest number of PRP entries a transfer of up to `max_transfer_bytes`
/// bytes can need: one per page, plus one when the first entry starts at an
/// offset into its page.
pub(crate) const fn max_entries(max_transfer_bytes: u32, page_shift: u32) -> usize {
    // CAST: entries_per_list_page() is 2^(shift - 3) with shift <= 27.
    let page = entries_per_list_page(page_shift) as u64 * 8;
    // CAST: at most 2^32 / 2^12 + 1 entries, which fits in any usize >= 32 bits.
    ((max_transfer_bytes as u64).div_ceil(page) + 1) as usize
}

/// Largest number of list pages a transfer of up to `max_transfer_bytes`
/// bytes can need (for sizing the DMA pool and preallocation).
pub(crate) const fn max_list_pages(max_transfer_bytes: u32, page_shift: u32) -> usize {
    list_pages_for(max_entries(max_transfer_bytes, page_shift), page_shift)
}

/// Largest number of DMA segments a transfer of up to `max_transfer_bytes`
/// can usefully have when segments follow the PRP rules (each segment but
/// the first starts on a page, so each needs at least one entry).
pub(crate) const fn max_segments(max_transfer_bytes: u32, page_shift: u32) -> u32 {
    let n = max_entries(max_transfer_bytes, page_shift);
    if n > u32::MAX as usize {
        u32::MAX
    } else {
        // CAST: checked above that n fits in u32.
        n as u32
    }
}

/// Rejects page shifts the controller cannot be configured with.
fn check_page_shift(page_shift: u32) -> Result<(), PrpError> {
    if (MIN_PAGE_SHIFT..=MAX_PAGE_SHIFT).contains(&page_shift) {
        Ok(())
    } else {
        Err(PrpError::BadPageShift)
    }
}

/// Validates `segs` and calls `run(addr, count)` for each segment in order.
///
/// The PRP entries of a segment are `addr` followed by the `count - 1`
/// page addresses after the page containing `addr`.
fn walk<I, F>(segs: I, page_shift: u32, mut run: F) -> Result<u64, PrpError>
where
    I: IntoIterator,
    I::Item: Borrow<Seg>,
    F: FnMut(u64, u64) -> Result<(), PrpError>,
{
    check_page_shift(page_shift)?;
    let mask = (1u64 << page_shift) - 1;
    let mut prev_end: Option<u64> = None;
    let mut total: u64 = 0;
    for seg in segs {
        let seg = *seg.borrow();
        if seg.len == 0 {
            return Err(PrpError::ZeroLength);
        }
        let len = u64::from(seg.len);
        let end = seg.addr.checked_add(len).ok_or(PrpError::Overflow)?;
        match prev_end {
            None => {
                if seg.addr & 3 != 0 {
                    return Err(PrpError::UnalignedFirst);
                }
            }
            Some(prev_end) => {
                if prev_end & mask != 0 {
                    return Err(PrpError::UnalignedEnd);
                }
                if seg.addr & mask != 0 {
                    return Err(PrpError::UnalignedStart);
                }
            }
        }
        // Pages touched: from the page holding addr to the one holding end - 1.
        let count = ((seg.addr & mask) + len + mask) >> page_shift;
        run(seg.addr, count)?;
        total = total.checked_add(len).ok_or(PrpError::Overflow)?;
        prev_end = Some(end);
    }
    if prev_end.is_none() {
        return Err(PrpError::Empty);
    }
    Ok(total)
}

/// Validates `segs` and computes the PRP layout for them, without writing
/// anything. O(number of segments).
///
/// `segs` may be a slice of [`Seg`] or any iterator of `Seg`/`&Seg`.
pub(crate) fn plan<I>(segs: I, page_shift: u32) -> Result<PrpPlan, PrpError>
where
    I: IntoIterator,
    I::Item: Borrow<Seg>,
{
    check_page_shift(page_shift)?;
    let page = 1u64 << page_shift;
    let mut nr: u64 = 0;
    let mut prp1 = 0;
    let mut second = 0;
    let len = walk(segs, page_shift, |addr, count| {
        if nr == 0 {
            prp1 = addr;
            if count >= 2 {
                second = (addr & !(page - 1)) + page;
            }
        } else if nr == 1 {
            second = addr;
        }
        nr = nr.checked_add(count).ok_or(PrpError::Overflow)?;
        Ok(())
    })?;
    let nr_entries = usize::try_from(nr).map_err(|_| PrpError::Overflow)?;
    let list_pages = list_pages_for(nr_entries, page_shift);
    Ok(PrpPlan {
        prp1,
        prp2: if nr_entries == 2 { Some(second) } else { None },
        nr_entries,
        list_entries: if list_pages == 0 { 0 } else { nr_entries - 1 },
        list_pages,
        len,
        page_shift,
    })
}

/// PRP1 and PRP2 for a single segment that touches at most two controller
/// pages, the common small I/O: PRP2 is the second page, or 0 when the
/// segment fits in one. `None` when the segment needs a PRP list, or when
/// [`plan`] would reject it. Gives what `plan([seg], page_shift)` gives for
/// such a segment, in constant time.
#[inline(always)]
pub(crate) const fn simple(seg: Seg, page_shift: u32) -> Option<(u64, u64)> {
    if page_shift < MIN_PAGE_SHIFT || page_shift > MAX_PAGE_SHIFT || seg.len == 0 {
        return None;
    }
    if seg.addr & 3 != 0 || seg.addr.checked_add(seg.len as u64).is_none() {
        return None;
    }
    let page = 1u64 << page_shift;
    // Bytes from `addr` to the end of its page.
    let first = page - (seg.addr & (page - 1));
    let len = seg.len as u64;
    if len <= first {
        Some((seg.addr, 0))
    } else if len - first <= page {
        Some((seg.addr, (seg.addr & !(page - 1)) + page))
    } else {
        None
    }
}

/// Validates `segs` like [`plan`] and writes the PRP list of a transfer that
/// needs exactly one list page (every transfer up to 2 MiB with 4 KiB pages,
/// so all of them below the usual MDTS) straight into `entries`, the CPU view
/// of that page, in one pass; returns PRP1 (PRP2 is the bus address of the
/// list page). Gives what [`fill`] gives with one list page, without a
/// separate planning pass or chaining bookkeeping.
///
/// A list longer than `entries` is [`PrpError::ListPageCount`] (the caller
/// then plans and fills several pages); segments that [`plan`] rejects get
/// its error. A transfer of one or two entries (no list needed) writes its
/// second entry, if any, to `entries[0]`.
pub(crate) fn fill_one_list<I>(
    segs: I,
    page_shift: u32,
    entries: &mut [u64],
) -> Result<u64, PrpError>
where
    I: IntoIterator,
    I::Item: Borrow<Seg>,
{
    // The checks of `walk`, in its order, in a loop of its own: this runs once a segment for
    // every scattered I/O, and the closure's generality cost about 20 instructions each.
    check_page_shift(page_shift)?;
    let page = 1u64 << page_shift;
    let mask = page - 1;
    let mut segs = segs.into_iter();
    let first = *segs.next().ok_or(PrpError::Empty)?.borrow();
    if first.len == 0 {
        return Err(PrpError::ZeroLength);
    }
    let mut len = u64::from(first.len);
    let mut end = first.addr.checked_add(len).ok_or(PrpError::Overflow)?;
    if first.addr & 3 != 0 {
        return Err(PrpError::UnalignedFirst);
    }
    // PRP1 is the first segment's own address; its other entries are the pages after the one
    // holding it.
    let base = first.addr & !mask;
    // CAST: pages touched by one segment, at most 2^32 / 2^12 + 1.
    let count = (((first.addr & mask) + len + mask) >> page_shift) as usize;
    let mut n = count - 1;
    let dst = entries.get_mut(..n).ok_or(PrpError::ListPageCount)?;
    let mut addr = base;
    for e in dst {
        addr += page;
        *e = addr.to_le();
    }
    let mut total = len;
    for seg in segs {
        let seg = *seg.borrow();
        if seg.len == 0 {
            return Err(PrpError::ZeroLength);
        }
        len = u64::from(seg.len);
        let seg_end = seg.addr.checked_add(len).ok_or(PrpError::Overflow)?;
        // Every segment but the last ends on a page boundary, every one but the first starts
        // on one, so each of its entries is a page address from its own.
        if end & mask != 0 {
            return Err(PrpError::UnalignedEnd);
        }
        if seg.addr & mask != 0 {
            return Err(PrpError::UnalignedStart);
        }
        // CAST: as above.
        let count = ((len + mask) >> page_shift) as usize;
        let dst = entries
            .get_mut(n..n + count)
            .ok_or(PrpError::ListPageCount)?;
        let mut addr = seg.addr;
        for e in dst {
            *e = addr.to_le();
            // Cannot wrap: the last entry's page ends at or before `seg_end`.
            addr = addr.wrapping_add(page);
        }
        n += count;
        total = total.checked_add(len).ok_or(PrpError::Overflow)?;
        end = seg_end;
    }
    Ok(first.addr)
}

/// Writes PRP list entries in order into caller-provided list pages,
/// chaining through the last slot of a full page. Keeps one entry back so
/// that it knows, when a page's last slot comes up, whether more follow.
struct ListWriter<'p, 'a> {
    /// The list pages, in chain order.
    pages: &'p mut [ListPage<'a>],
    /// Slots per full list page.
    per_page: usize,
    /// Controller page size minus one.
    mask: u64,
    /// Index of the page being filled.
    page: usize,
    /// Next slot in that page.
    slot: usize,
    /// Slots usable in the current page.
    cap: usize,
    /// Entries after PRP1 seen so far.
    count: u64,
    /// The first entry after PRP1 (PRP2 if it is the only one).
    second: u64,
    /// Entry seen but not yet written.
    pending: Option<u64>,
}

impl ListWriter<'_, '_> {
    /// Checks list page `i` and makes it the current page.
    fn open(&mut self, i: usize) -> Result<(), PrpError> {
        let p = self.pages.get(i).ok_or(PrpError::ListPageCount)?;
        if p.dma & 7 != 0 {
            return Err(PrpError::ListPageMisaligned);
        }
        // CAST: the offset is below the page size (at most 2^27).
        let room = ((self.mask + 1 - (p.dma & self.mask)) / 8) as usize;
        self.cap = p.entries.len().min(room).min(self.per_page);
        self.page = i;
        self.slot = 0;
        Ok(())
    }

    /// Stores `v` in the current slot.
    fn store(&mut self, v: u64) -> Result<(), PrpError> {
        if self.slot >= self.cap {
            return Err(PrpError::ListPageTooSmall);
        }
        self.pages[self.page].entries[self.slot] = v.to_le();
        self.slot += 1;
        Ok(())
    }

    /// Writes a data entry that is known not to be the last one.
    fn place(&mut self, e: u64) -> Result<(), PrpError> {
        if self.slot == self.per_page - 1 {
            // Last slot of a full page and more entries follow: chain.
            let next = self.page + 1;
            let next_dma = self.pages.get(next).ok_or(PrpError::ListPageCount)?.dma;
            self.store(next_dma)?;
            self.open(next)?;
        }
        self.store(e)
    }

    /// Takes the next entry after PRP1.
    fn push(&mut self, e: u64) -> Result<(), PrpError> {
        self.count += 1;
        match self.count {
            1 => self.second = e,
            2 => {
                self.open(0)?;
                self.place(self.second)?;
                self.pending = Some(e);
            }
            _ => {
                if let Some(p) = self.pending.replace(e) {
                    self.place(p)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the final entry and returns PRP2.
    fn finish(mut self) -> Result<u64, PrpError> {
        match self.count {
            0 => {
                if !self.pages.is_empty() {
                    return Err(PrpError::ListPageCount);
                }
                Ok(0)
            }
            1 => {
                if !self.pages.is_empty() {
                    return Err(PrpError::ListPageCount);
                }
                Ok(self.second)
            }
            _ => {
                if let Some(p) = self.pending.take() {
                    // The last entry may use the last slot of a page.
                    self.store(p)?;
                }
                if self.page + 1 != self.pages.len() {
                    return Err(PrpError::ListPageCount);
                }
                Ok(self.pages[0].dma)
            }
        }
    }
}

/// Validates `segs`, writes the PRP list (if any) into `pages` and returns
/// `(prp1, prp2)` for [`Command::set_prp`](super::cmd::Command::set_prp).
///
/// `pages` must hold exactly [`PrpPlan::list_pages`] list pages for the same
/// segments and page shift (empty when no list is needed). Entries are
/// stored little-endian. No allocation; O(number of PRP entries). On error
/// the list pages may have been partly written and must not be used.
pub(crate) fn fill<I>(
    segs: I,
    page_shift: u32,
    pages: &mut [ListPage<'_>],
) -> Result<(u64, u64), PrpError>
where
    I: IntoIterator,
    I::Item: Borrow<Seg>,
{
    check_page_shift(page_shift)?;
    let page = 1u64 << page_shift;
    let mut w = ListWriter {
        pages,
        per_page: entries_per_list_page(page_shift),
        mask: page - 1,
        page: 0,
        slot: 0,
        cap: 0,
        count: 0,
        second: 0,
        pending: None,
    };
    let mut prp1 = None;
    walk(segs, page_shift, |addr, count| {
        if prp1.is_none() {
            prp1 = Some(addr);
        } else {
            w.push(addr)?;
        }
        let base = addr & !(page - 1);
        for k in 1..count {
            w.push(base + k * page)?;
        }
        Ok(())
    })?;
    let prp2 = w.finish()?;
    Ok((prp1.unwrap_or(0), prp2))
}
