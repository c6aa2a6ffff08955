// SPDX-License-Identifier: GPL-2.0

//! One NVMe queue pair: the submission and completion rings in coherent DMA memory, their
//! indices (`sq_tail`, `last_sq_tail`, `cq_head`, `cq_phase`) and their two doorbells.
//!
//! The submission side is serialised by `sq_lock`; the completion side by `cq_lock`, which only
//! the queue's interrupt handler (and teardown) takes. Ring arithmetic lives in the host-tested
//! [`crate::nvme::ring`].

use core::{
    ptr,
    sync::atomic::{
        AtomicBool,
        AtomicU32,
        AtomicU64,
        Ordering, //
    },
};

use kernel::{
    device,
    dma::Coherent,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

use crate::{
    glue::{
        kver::{
            self,
            LocalInterruptDisabled, //
        },
        new_queue_lock,
        sync::barrier::{
            dma_mb,
            mb,
            Full,
            Read,
            Write, //
        },
        Doorbell,
        QueueLock,
        Tags,
        TagsCell, //
    },
    nvme::{
        cmd::{
            Command,
            Completion, //
        },
        regs,
        ring::{
            nvme_dbbuf_need_event,
            CqRing,
            SqRing, //
        },
        sgl,
    },
};

// SAFETY: `Command` is `#[repr(C)]` with only integer fields and no padding (its size of 64 bytes
// is asserted next to it), so every bit pattern is valid and it has no interior mutability.
unsafe impl FromBytes for Command {}
// SAFETY: as above; all 64 bytes are always initialised.
unsafe impl AsBytes for Command {}
// SAFETY: `Completion` is `#[repr(C)]` with only integer fields and no padding (16 bytes,
// asserted), so every bit pattern is valid and it has no interior mutability.
unsafe impl FromBytes for Completion {}
// SAFETY: as above.
unsafe impl AsBytes for Completion {}

/// Where the doorbells of a controller live: the mapped BAR0 and the doorbell stride.
#[derive(Clone, Copy)]
pub(crate) struct DoorbellBar {
    /// Virtual address of the start of BAR0.
    pub(crate) base: usize,
    /// Mapped length of BAR0.
    pub(crate) len: usize,
    /// CAP.DSTRD.
    pub(crate) dstrd: u8,
}

/// The shadow doorbell and event index pages of a controller (Doorbell Buffer Config).
///
/// With them the driver writes each new SQ tail and CQ head into memory and rings the MMIO
/// doorbell only when the controller's event index says it is waiting for it, which saves
/// most doorbell writes (each one a VM exit under emulation). Entry `2 * qid` is the SQ tail,
/// `2 * qid + 1` the CQ head, with the doorbell stride applied as for the registers.
pub(crate) struct DbBuf {
    dbs: Coherent<[u32]>,
    eis: Coherent<[u32]>,
    /// Entries per doorbell (the stride in 32-bit words).
    stride: usize,
    /// The controller accepted the pages; cleared when a reset has not set them up again.
    enabled: AtomicBool,
}

impl DbBuf {
    /// Allocates zeroed shadow and event index pages for doorbell stride `dstrd`.
    pub(crate) fn new(dev: &device::Device<device::Bound>, dstrd: u8) -> Result<Self> {
        let words = 4096 / 4;
        Ok(Self {
            dbs: Coherent::zeroed_slice(dev, words, GFP_KERNEL)?,
            eis: Coherent::zeroed_slice(dev, words, GFP_KERNEL)?,
            stride: 1 << dstrd,
            enabled: AtomicBool::new(false),
        })
    }

    /// Bus addresses of the shadow doorbell and the event index pages.
    pub(crate) fn dma(&self) -> (u64, u64) {
        (kver::dma_address(&self.dbs), kver::dma_address(&self.eis))
    }

    /// Starts or stops using the pages (after Doorbell Buffer Config succeeded, or a reset).
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
    }

    /// Zeroes both pages; only while the controller is disabled.
    pub(crate) fn clear(&self) {
        for c in [&self.dbs, &self.eis] {
            // SAFETY: the controller is disabled (the caller's requirement), so it does not
            // access the pages; the length is the allocation's.
            unsafe { ptr::write_bytes(c.as_mut_ptr().cast::<u32>(), 0, c.len()) };
        }
    }

    /// The shadow and event index words of doorbell `index` (2 * qid, or 2 * qid + 1).
    fn slot(&self, index: usize) -> Option<(*mut u32, *mut u32)> {
        let i = index.checked_mul(self.stride)?;
        if i >= self.dbs.len() {
            return None;
        }
        // SAFETY: `i` is inside both pages, which have the same length.
        unsafe {
            Some((
                self.dbs.as_mut_ptr().cast::<u32>().add(i),
                self.eis.as_mut_ptr().cast::<u32>().add(i),
            ))
        }
    }
}

/// One doorbell's shadow word and event index word.
///
/// # Invariants
///
/// Both pointers point into the pages of `pages`, which this value keeps alive.
struct Shadow {
    db: *mut u32,
    ei: *mut u32,
    pages: Arc<DbBuf>,
}

// SAFETY: the pointers refer to coherent DMA memory kept alive by `pages`; writes are
// serialised by the owning queue's locks.
unsafe impl Send for Shadow {}
// SAFETY: as above.
unsafe impl Sync for Shadow {}

impl Shadow {
    fn new(pages: &Arc<DbBuf>, index: usize) -> Option<Self> {
        let (db, ei) = pages.slot(index)?;
        // INVARIANT: `db` and `ei` point into `pages`.
        Some(Self {
            db,
            ei,
            pages: pages.clone(),
        })
    }

    /// Publishes `value` in the shadow doorbell; returns true when the controller asked to be
    /// told by MMIO (`nvme_dbbuf_update_and_check_event`).
    fn update_and_check_event(&self, value: u16) -> bool {
        if !self.pages.enabled.load(Ordering::Acquire) {
            return true;
        }
        nvme_dbbuf_order_entries();
        // SAFETY: `db`/`ei` point into live coherent pages (type invariant); the controller
        // reads and writes them concurrently, hence volatile accesses.
        let old = unsafe { ptr::read_volatile(self.db) };
        // SAFETY: as above.
        unsafe { ptr::write_volatile(self.db, u32::from(value).to_le()) };
        nvme_dbbuf_order_event();
        // SAFETY: as above.
        let event = u32::from_le(unsafe { ptr::read_volatile(self.ei) });
        // CAST: doorbell values are 16-bit ring indices.
        nvme_dbbuf_need_event(event as u16, value, u32::from_le(old) as u16)
    }
}

/// Orders the queue entries (and everything before) before the shadow doorbell update, which
/// the controller may act on without an MMIO write (`wmb()`).
fn nvme_dbbuf_order_entries() {
    mb(Write);
}

/// Orders the shadow doorbell write before the event index read: the controller writes the
/// event index and then reads the shadow doorbell, so one side always sees the other (`mb()`).
fn nvme_dbbuf_order_event() {
    mb(Full);
}

/// Doorbell and completion counters of one queue, kept when the `debug_stats` module
/// parameter is set (to measure doorbell writes per I/O), and logged at unbind.
pub(crate) struct QueueStats {
    /// `debug_stats` as it was when the queue was made: read once, not on every I/O.
    enabled: bool,
    /// Commands submitted.
    pub(crate) submitted: AtomicU64,
    /// MMIO writes of the SQ tail doorbell.
    pub(crate) sq_mmio: AtomicU64,
    /// MMIO writes of the CQ head doorbell.
    pub(crate) cq_mmio: AtomicU64,
    /// Completions consumed.
    pub(crate) completed: AtomicU64,
    /// Commands whose data went by SGL.
    pub(crate) sgl: AtomicU64,
}

impl QueueStats {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            submitted: AtomicU64::new(0),
            sq_mmio: AtomicU64::new(0),
            cq_mmio: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            sgl: AtomicU64::new(0),
        }
    }

    fn add(&self, counter: &AtomicU64, n: u64) {
        if self.enabled {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Reads a counter.
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Dropped completion entries of one queue that are reported each ([`Queue::note_bogus`]).
const BOGUS_REPORTED: u32 = 8;

/// One submission/completion queue pair.
///
/// # Invariants
///
/// `sq` and `cq` have `depth` entries each and were handed to the controller (through
/// AQA/ASQ/ACQ or Create I/O SQ/CQ) as queue `qid`.
#[pin_data]
pub(crate) struct Queue {
    /// Queue identifier; 0 is the admin queue.
    pub(crate) qid: u16,
    /// Entries in each ring.
    pub(crate) depth: u16,
    /// Interrupt vector the completion queue signals.
    pub(crate) vector: u16,
    sq: Coherent<[Command]>,
    cq: Coherent<[Completion]>,
    /// SQ tail doorbell.
    q_db: Doorbell,
    /// CQ head doorbell.
    cq_db: Doorbell,
    #[pin]
    sq_lock: QueueLock<SqRing>,
    /// Taken by the interrupt handler and, with interrupts off, by recovery polling.
    #[pin]
    cq_lock: QueueLock<CqRing>,
    /// `cq_head | cq_phase << 16` as of the last drain, read without the lock by
    /// [`Queue::cqe_maybe_pending`].
    cq_hint: AtomicU32,
    /// The blk-mq tag array of this queue's hardware context (I/O queues only).
    tags: TagsCell,
    /// Polled queue: no interrupt; blk-mq's `poll` reaps its completions.
    pub(crate) polled: bool,
    /// Shadow doorbells of the SQ tail and the CQ head, when the controller has them.
    sq_shadow: Option<Shadow>,
    cq_shadow: Option<Shadow>,
    /// Counters for `debug_stats`.
    pub(crate) stats: QueueStats,
    /// The controller's device, to name in warnings.
    dev: ARef<device::Device>,
    /// Completion entries dropped because they named no request in flight.
    bogus: AtomicU32,
    /// Created on the controller: false for a queue a reset could not have again (the
    /// controller granted fewer queues), until a later reset does.
    online: AtomicBool,
}

impl Queue {
    /// Allocates the rings of queue `qid` with `depth` entries, signalling `vector`; `stats`
    /// keeps the `debug_stats` counters.
    pub(crate) fn new<'a>(
        dev: &'a device::Device<device::Bound>,
        db: DoorbellBar,
        qid: u16,
        depth: u16,
        vector: Option<u16>,
        dbbuf: Option<&Arc<DbBuf>>,
        stats: bool,
    ) -> impl PinInit<Self, Error> + 'a {
        let polled = vector.is_none();
        let vector = vector.unwrap_or(0);
        // The admin queue never uses shadow doorbells.
        let (sq_shadow, cq_shadow) = match dbbuf {
            Some(b) if qid != 0 => (
                Shadow::new(b, 2 * usize::from(qid)),
                Shadow::new(b, 2 * usize::from(qid) + 1),
            ),
            _ => (None, None),
        };
        let entries = usize::from(depth);
        let sq_db = regs::sq_tail_db(qid, db.dstrd);
        let cq_db = regs::cq_head_db(qid, db.dstrd);
        let sq_ring = SqRing::new(depth);
        let cq_ring = CqRing::new(depth);
        try_pin_init!(Self {
            qid,
            depth,
            vector,
            sq: Coherent::zeroed_slice(dev, entries, GFP_KERNEL)?,
            cq: Coherent::zeroed_slice(dev, entries, GFP_KERNEL)?,
            // SAFETY: `db` describes the live BAR0 mapping, which the controller keeps until
            // all queues are gone.
            q_db: unsafe { Doorbell::new(db.base, db.len, sq_db)? },
            // SAFETY: as above.
            cq_db: unsafe { Doorbell::new(db.base, db.len, cq_db)? },
            sq_lock <- new_queue_lock!(sq_ring, "nvme_sq_lock"),
            cq_lock <- new_queue_lock!(cq_ring, "nvme_cq_lock"),
            cq_hint: AtomicU32::new(cq_hint(&cq_ring)),
            tags: TagsCell::new(),
            polled,
            online: AtomicBool::new(true),
            sq_shadow,
            cq_shadow,
            stats: QueueStats::new(stats),
            dev: dev.into(),
            bogus: AtomicU32::new(0),
        })
    }

    /// Bus address of the submission ring.
    pub(crate) fn sq_dma(&self) -> u64 {
        kver::dma_address(&self.sq)
    }

    /// Bus address of the completion ring.
    pub(crate) fn cq_dma(&self) -> u64 {
        kver::dma_address(&self.cq)
    }

    /// Records the blk-mq tag array of this queue's hardware context.
    pub(crate) fn set_tags(&self, tags: Tags) {
        self.tags.set(tags);
    }

    /// Forgets the tag array: the queue's hardware context went with a resize of the tag set.
    pub(crate) fn clear_tags(&self) {
        self.tags.clear();
    }

    /// The blk-mq tag array of this queue.
    pub(crate) fn tags(&self) -> Tags {
        self.tags.get()
    }

    /// Reports a completion entry with command identifier `cid` that ended no request, for
    /// the reason `why`: the first [`BOGUS_REPORTED`] of the queue's life, then that more are
    /// not reported. A controller that keeps sending them floods nothing.
    #[cold]
    pub(crate) fn note_bogus(&self, cid: u16, why: &str) {
        let n = self.bogus.fetch_add(1, Ordering::Relaxed);
        if n < BOGUS_REPORTED {
            dev_warn!(
                self.dev,
                "queue {}: dropped a completion of command {:#x}: {}\n",
                self.qid,
                cid,
                why
            );
        } else if n == BOGUS_REPORTED {
            dev_warn!(
                self.dev,
                "queue {}: more completions naming no request in flight, not reported\n",
                self.qid
            );
        }
    }

    /// Copies `cmd` into the next submission slot; rings the SQ doorbell when `ring` is set
    /// (the last command of a batch), otherwise leaves it for [`Queue::commit`].
    #[inline(always)]
    pub(crate) fn submit(&self, cmd: &Command, ring: bool) {
        let mut sq = self.sq_lock.lock();
        let slot = usize::from(sq.advance());
        // SAFETY: `slot < depth` (ring arithmetic), so the slot is inside `sq`, and `cmd` is
        // not in the ring. The device reads the slot only after the doorbell write below, which
        // is ordered after this copy (`writel` orders prior memory writes); no CPU reference to
        // the ring exists. A plain copy, as C's `memcpy()`: a volatile store of the command is
        // split into its fields, and a command that came from memory (passthrough) is then
        // taken apart into registers and spilled around the lock.
        unsafe {
            ptr::copy_nonoverlapping(cmd, self.sq.as_mut_ptr().cast::<Command>().add(slot), 1)
        };
        self.stats.add(&self.stats.submitted, 1);
        if ring {
            self.nvme_write_sq_db(&mut sq);
        }
    }

    /// Counts `cmd` for `debug_stats` when its data goes by SGL. Called on the caller's own
    /// copy of the command, before [`Queue::submit`]: reading the command there would make the
    /// compiler split the 64-byte copy into the ring.
    #[inline]
    pub(crate) fn note_sgl(&self, cmd: &Command) {
        if self.stats.enabled && u32::from_le(cmd.cdw0) & sgl::PSDT_SGL != 0 {
            self.stats.add(&self.stats.sgl, 1);
        }
    }

    /// Rings the SQ doorbell for commands queued without it (`nvme_commit_rqs`).
    pub(crate) fn commit(&self) {
        let mut sq = self.sq_lock.lock();
        if sq.pending_doorbell() {
            self.nvme_write_sq_db(&mut sq);
        }
    }

    /// Tells the controller about new submissions: through the shadow doorbell, and by MMIO
    /// only when its event index asks for it.
    fn nvme_write_sq_db(&self, sq: &mut SqRing) {
        if self
            .sq_shadow
            .as_ref()
            .is_none_or(|sh| sh.update_and_check_event(sq.sq_tail))
        {
            self.q_db.write(u32::from(sq.sq_tail));
            self.stats.add(&self.stats.sq_mmio, 1);
        }
        sq.mark_doorbell_written();
    }

    /// Tells the controller how far the completion queue has been consumed.
    fn nvme_write_cq_db(&self, cq_head: u16) {
        if self
            .cq_shadow
            .as_ref()
            .is_none_or(|sh| sh.update_and_check_event(cq_head))
        {
            self.cq_db.write(u32::from(cq_head));
            self.stats.add(&self.stats.cq_mmio, 1);
        }
    }

    /// True while the queue exists on the controller (see [`Self::set_online`]).
    #[inline(always)]
    pub(crate) fn is_online(&self) -> bool {
        self.online.load(Ordering::Acquire)
    }

    /// Records whether the last (re)start created the queue on the controller. Set before
    /// dispatch resumes, which orders it before `queue_rq` reads it.
    pub(crate) fn set_online(&self, on: bool) {
        self.online.store(on, Ordering::Release);
    }

    /// Returns both rings to their initial state (empty, phase tag 1) after the controller was
    /// disabled, before the queue is handed to it again.
    pub(crate) fn reset_rings(&self) {
        let mut sq = self.sq_lock.lock();
        let mut cq = self.cq_lock.lock_irqsave();
        *sq = SqRing::new(self.depth);
        *cq = CqRing::new(self.depth);
        self.cq_hint.store(cq_hint(&cq), Ordering::Relaxed);
        // SAFETY: the controller is disabled, so it does not write the ring; `depth` entries
        // fit in `cq`; no CPU reference to the ring exists (readers hold `cq_lock`).
        unsafe {
            ptr::write_bytes(
                self.cq.as_mut_ptr().cast::<Completion>(),
                0,
                usize::from(self.depth),
            )
        };
    }

    /// False when the completion queue certainly holds no new entry, checked without the lock:
    /// for a vector shared with a busier queue (the admin queue with the first I/O queue), so
    /// that most interrupts skip it, and for polled queues, which are polled far more often
    /// than they have completions.
    ///
    /// The hint may be stale only while another context drains the queue; then the entry it
    /// points to has been consumed in the current pass and reads as pending (a needless look
    /// under the lock), or that other context consumes what this one skips. A completion
    /// written before the interrupt that runs this check is visible to it; one that a poller
    /// misses is seen by its next poll.
    pub(crate) fn cqe_maybe_pending(&self) -> bool {
        let hint = self.cq_hint.load(Ordering::Relaxed);
        // CAST: the low 16 bits are the head, bit 16 the phase.
        let (head, phase) = (hint as u16, hint & (1 << 16) != 0);
        if head >= self.depth {
            return true;
        }
        // SAFETY: `head < depth`, so the entry is inside `cq`; the device writes it
        // concurrently, hence the volatile read of the (naturally aligned) status word alone.
        let status = unsafe {
            ptr::read_volatile(ptr::addr_of!(
                (*self.cq.as_ptr().cast::<Completion>().add(usize::from(head))).status
            ))
        };
        (u16::from_le(status) & 1 != 0) == phase
    }

    /// Consumes every posted completion, calling `f` on each, then writes the CQ head doorbell
    /// once (`nvme_poll_cq()`). Returns the number of entries consumed. From any context.
    pub(crate) fn nvme_poll_cq(&self, f: impl FnMut(&Completion)) -> usize {
        let mut cq = self.cq_lock.lock_irqsave();
        self.poll_locked(&mut cq, f)
    }

    /// [`Queue::nvme_poll_cq`] from the queue's interrupt handler: `irqs_off` proves that
    /// interrupts are already disabled, so the completion lock is taken without disabling them
    /// again.
    pub(crate) fn nvme_poll_cq_irq(
        &self,
        irqs_off: &LocalInterruptDisabled,
        f: impl FnMut(&Completion),
    ) -> usize {
        let mut cq = self.cq_lock.lock_with(irqs_off);
        self.poll_locked(&mut cq, f)
    }

    /// [`Queue::nvme_poll_cq`] with the completion lock held (`cq`).
    fn poll_locked(&self, cq: &mut CqRing, mut f: impl FnMut(&Completion)) -> usize {
        let base = self.cq.as_ptr().cast::<Completion>();
        let mut found = 0;
        loop {
            // SAFETY: `cq_head < depth`, so the entry is inside `cq`; the device writes it
            // concurrently, hence the volatile read of the status word alone first.
            let entry = unsafe { base.add(usize::from(cq.cq_head)) };
            // SAFETY: as above; `status` is a naturally aligned `u16` in the entry.
            let status = unsafe { ptr::read_volatile(ptr::addr_of!((*entry).status)) };
            if !cq.is_pending(u16::from_le(status)) {
                break;
            }
            nvme_cqe_read_barrier();
            // SAFETY: the phase tag says the device has finished writing this entry, which is
            // 16-byte aligned (16-byte entries from the page-aligned ring's start). Read as two
            // quadwords: a volatile read of the entry itself is split into its five fields.
            let raw = unsafe { ptr::read_volatile(entry.cast::<[u64; 2]>()) };
            // SAFETY: `Completion` is 16 bytes of integers without padding; every bit pattern
            // is one (`FromBytes`).
            let cqe = unsafe { core::mem::transmute::<[u64; 2], Completion>(raw) };
            f(&cqe);
            cq.advance();
            found += 1;
        }
        if found > 0 {
            self.cq_hint.store(cq_hint(cq), Ordering::Relaxed);
            self.nvme_write_cq_db(cq.cq_head);
            // CAST: `usize` to `u64` is lossless on 64-bit.
            self.stats.add(&self.stats.completed, found as u64);
        }
        found
    }
}

/// The lock-free hint of [`Queue::cqe_maybe_pending`] for ring state `cq`.
fn cq_hint(cq: &CqRing) -> u32 {
    u32::from(cq.cq_head) | (u32::from(cq.cq_phase) << 16)
}

/// Orders the read of a completion's phase tag before the reads of the rest of the entry, so
/// that no field is read from before the device finished writing it (`dma_rmb()`).
fn nvme_cqe_read_barrier() {
    dma_mb(Read);
}
