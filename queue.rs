// SPDX-License-Identifier: GPL-2.0

//! One NVMe queue pair: the submission and completion rings in coherent DMA memory, their
//! indices (`sq_tail`, `last_sq_tail`, `cq_head`, `cq_phase`) and their two doorbells.
//!
//! The submission side is serialised by `sq_lock`; the completion side by `cq_lock`, which only
//! the queue's interrupt handler (and teardown) takes. Ring arithmetic lives in the host-tested
//! [`crate::nvme::ring`].

use core::ptr;

use kernel::{
    device,
    dma::Coherent,
    new_spinlock, new_spinlock_irq,
    prelude::*,
    sync::{
        barrier::{
            dma_mb,
            Read, //
        },
        SetOnce,
        SpinLock,
        SpinLockIrq, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
};

use crate::{
    ffi::{
        Doorbell,
        Tags, //
    },
    nvme::{
        cmd::{
            Command,
            Completion, //
        },
        regs,
        ring::{
            CqRing,
            SqRing, //
        },
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
    sq_lock: SpinLock<SqRing>,
    /// Taken by the interrupt handler and, with interrupts off, by recovery polling.
    #[pin]
    cq_lock: SpinLockIrq<CqRing>,
    /// The blk-mq tag array of this queue's hardware context (I/O queues only).
    tags: SetOnce<Tags>,
}

impl Queue {
    /// Allocates the rings of queue `qid` with `depth` entries, signalling `vector`.
    pub(crate) fn new(
        dev: &device::Device<device::Bound>,
        db: DoorbellBar,
        qid: u16,
        depth: u16,
        vector: u16,
    ) -> impl PinInit<Self, Error> + '_ {
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
            sq_lock <- new_spinlock!(sq_ring, "nvme_sq_lock"),
            cq_lock <- new_spinlock_irq!(cq_ring, "nvme_cq_lock"),
            tags: SetOnce::new(),
        })
    }

    /// Bus address of the submission ring.
    pub(crate) fn sq_dma(&self) -> u64 {
        self.sq.dma_address()
    }

    /// Bus address of the completion ring.
    pub(crate) fn cq_dma(&self) -> u64 {
        self.cq.dma_address()
    }

    /// Records the blk-mq tag array of this queue's hardware context.
    pub(crate) fn set_tags(&self, tags: Tags) {
        // A shared tag set gives every disk the same array per hardware queue, so later calls
        // carry the same value and may be ignored.
        let _ = self.tags.populate(tags);
    }

    /// The blk-mq tag array of this queue.
    pub(crate) fn tags(&self) -> Tags {
        self.tags.copy().unwrap_or(Tags::NONE)
    }

    /// Copies `cmd` into the next submission slot; rings the SQ doorbell when `ring` is set
    /// (the last command of a batch), otherwise leaves it for [`Queue::commit`].
    pub(crate) fn submit(&self, cmd: &Command, ring: bool) {
        let mut sq = self.sq_lock.lock();
        let slot = usize::from(sq.advance());
        // SAFETY: `slot < depth` (ring arithmetic), so the pointer is inside `sq`. The device
        // reads the slot only after the doorbell write below, which is ordered after this store
        // (`writel` orders prior memory writes); no CPU reference to the ring exists.
        unsafe { ptr::write_volatile(self.sq.as_mut_ptr().cast::<Command>().add(slot), *cmd) };
        if ring {
            Self::nvme_write_sq_db(&self.q_db, &mut sq);
        }
    }

    /// Rings the SQ doorbell for commands queued without it (`nvme_commit_rqs`).
    pub(crate) fn commit(&self) {
        let mut sq = self.sq_lock.lock();
        if sq.pending_doorbell() {
            Self::nvme_write_sq_db(&self.q_db, &mut sq);
        }
    }

    fn nvme_write_sq_db(db: &Doorbell, sq: &mut SqRing) {
        db.write(u32::from(sq.sq_tail));
        sq.mark_doorbell_written();
    }

    /// Returns both rings to their initial state (empty, phase tag 1) after the controller was
    /// disabled, before the queue is handed to it again.
    pub(crate) fn reset_rings(&self) {
        let mut sq = self.sq_lock.lock();
        let mut cq = self.cq_lock.lock();
        *sq = SqRing::new(self.depth);
        *cq = CqRing::new(self.depth);
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

    /// Consumes every posted completion, calling `f` on each, then writes the CQ head doorbell
    /// once. Returns true when at least one entry was consumed.
    pub(crate) fn process_cq(&self, mut f: impl FnMut(&Completion)) -> bool {
        let mut cq = self.cq_lock.lock();
        let base = self.cq.as_ptr().cast::<Completion>();
        let mut found = false;
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
            // SAFETY: the phase tag says the device has finished writing this entry.
            let cqe = unsafe { ptr::read_volatile(entry) };
            f(&cqe);
            cq.advance();
            found = true;
        }
        if found {
            self.cq_db.write(u32::from(cq.cq_head));
        }
        found
    }
}

/// Orders the read of a completion's phase tag before the reads of the rest of the entry, so
/// that no field is read from before the device finished writing it (`dma_rmb()`).
fn nvme_cqe_read_barrier() {
    dma_mb(Read);
}
