// SPDX-License-Identifier: GPL-2.0

//! Submission and completion queue ring arithmetic.
//!
//! The NVMe queues are circular buffers: the host produces submission queue
//! entries at `sq_tail` and tells the controller through the SQ tail
//! doorbell; the controller produces completion queue entries and the host
//! consumes them at `cq_head`, recognising new entries by their Phase Tag,
//! which the controller inverts on every pass through the ring. This file
//! keeps that index and phase bookkeeping, plus the shadow doorbell
//! (Doorbell Buffer Config) event index test and the I/O queue depth choice.

/// Largest I/O queue depth the driver uses, whatever the controller allows.
pub(crate) const MAX_IO_QUEUE_DEPTH: u32 = 1024;

/// Host side state of a submission queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SqRing {
    /// Next slot the host will fill.
    pub(crate) sq_tail: u16,
    /// Tail value last written to the SQ tail doorbell.
    pub(crate) last_sq_tail: u16,
    /// Number of slots in the ring (2..=65535).
    pub(crate) depth: u16,
}

impl SqRing {
    /// An empty ring of `depth` entries.
    pub(crate) const fn new(depth: u16) -> Self {
        Self {
            sq_tail: 0,
            last_sq_tail: 0,
            depth,
        }
    }

    /// The index after `i`, wrapping at `depth`.
    const fn next(&self, i: u16) -> u16 {
        if i >= self.depth.saturating_sub(1) {
            0
        } else {
            i + 1
        }
    }

    /// Claims the slot at `sq_tail` for a new entry and moves the tail on;
    /// returns the slot to write the command into.
    pub(crate) fn advance(&mut self) -> u16 {
        let slot = self.sq_tail;
        self.sq_tail = self.next(slot);
        slot
    }

    /// Whether the ring is full given the controller's last reported
    /// `sq_head` (from a completion entry). One slot always stays empty so
    /// that a full ring is distinguishable from an empty one.
    pub(crate) const fn is_full(&self, sq_head: u16) -> bool {
        self.next(self.sq_tail) == sq_head
    }

    /// Whether entries were added since the doorbell was last written.
    pub(crate) const fn pending_doorbell(&self) -> bool {
        self.sq_tail != self.last_sq_tail
    }

    /// Records that `sq_tail` was just written to the doorbell.
    pub(crate) fn mark_doorbell_written(&mut self) {
        self.last_sq_tail = self.sq_tail;
    }
}

/// Host side state of a completion queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CqRing {
    /// Next slot the host will look at.
    pub(crate) cq_head: u16,
    /// Phase Tag value that marks a new entry on the current pass.
    pub(crate) cq_phase: bool,
    /// Number of slots in the ring (2..=65535).
    pub(crate) depth: u16,
}

impl CqRing {
    /// A ring of `depth` entries whose memory was zeroed: the controller
    /// writes phase 1 on its first pass, so the expected phase starts true.
    pub(crate) const fn new(depth: u16) -> Self {
        Self {
            cq_head: 0,
            cq_phase: true,
            depth,
        }
    }

    /// Whether the entry at `cq_head`, whose raw 16-bit status word (phase
    /// tag in bit 0) is `status_word`, is a new completion.
    pub(crate) const fn is_pending(&self, status_word: u16) -> bool {
        (status_word & 1 != 0) == self.cq_phase
    }

    /// Consumes the entry at `cq_head`: moves the head on, and on wrapping
    /// back to slot 0 inverts the expected phase.
    pub(crate) fn advance(&mut self) {
        if self.cq_head >= self.depth.saturating_sub(1) {
            self.cq_head = 0;
            self.cq_phase = !self.cq_phase;
        } else {
            self.cq_head += 1;
        }
    }
}

/// Shadow doorbell event index test (Doorbell Buffer Config): after moving
/// a doorbell value from `old` to `new_idx`, the host must also write the
/// real MMIO doorbell only if the controller's `event_idx` lies in the range
/// just passed, i.e. `old <= event_idx < new_idx` modulo 2^16.
pub(crate) const fn nvme_dbbuf_need_event(event_idx: u16, new_idx: u16, old: u16) -> bool {
    new_idx.wrapping_sub(event_idx).wrapping_sub(1) < new_idx.wrapping_sub(old)
}

/// I/O queue depth to use: the smallest of the controller's limit
/// (`mqes_entries`, i.e. CAP.MQES + 1), the module parameter `param` and
/// [`MAX_IO_QUEUE_DEPTH`], but at least 2 (a ring needs one free slot).
pub(crate) const fn io_queue_depth(mqes_entries: u32, param: u32) -> u16 {
    let mut d = MAX_IO_QUEUE_DEPTH;
    if mqes_entries < d {
        d = mqes_entries;
    }
    if param < d {
        d = param;
    }
    if d < 2 {
        d = 2;
    }
    // CAST: d <= MAX_IO_QUEUE_DEPTH (1024), fits in u16.
    d as u16
}
