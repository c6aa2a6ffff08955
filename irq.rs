// SPDX-License-Identifier: GPL-2.0

//! The interrupt handler of one MSI-X/MSI vector (or the INTx line): the admin queue and the
//! I/O queues that signal it, each drained with its completions ended as one batch, as the
//! C driver's `nvme_irq`.

use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};

use kernel::{
    prelude::*,
    sync::{
        Arc,
        SetOnce, //
    },
};

use crate::{
    admin::AdminQueue,
    glue::{
        self,
        kver::LocalInterruptDisabled,
        CompBatch, //
    },
    iod::nvme_handle_cqe,
    queue::Queue,
};

/// Interrupt handler of one vector: the admin queue and/or I/O queues signalling it.
pub(crate) struct VectorIrq {
    admin: Option<Arc<AdminQueue>>,
    io: KVec<Arc<Queue>>,
    /// I/O completions are processed only while the tag set is alive.
    io_active: AtomicBool,
    /// For the shared vector: I/O queues added once they exist.
    shared: SetOnce<KVec<Arc<Queue>>>,
    /// `shared` has been set: checked first, with a plain atomic load, so that the interrupts
    /// of vectors that never get shared queues skip the `SetOnce` lookup.
    has_shared: AtomicBool,
}

impl VectorIrq {
    pub(crate) fn new(admin: Option<Arc<AdminQueue>>, io: KVec<Arc<Queue>>) -> Self {
        Self {
            admin,
            io,
            io_active: AtomicBool::new(true),
            shared: SetOnce::new(),
            has_shared: AtomicBool::new(false),
        }
    }

    /// Adds `queues`, the I/O queues that share this vector (the admin queue's, when there is
    /// one vector for all); only once.
    pub(crate) fn share(&self, queues: KVec<Arc<Queue>>) {
        if self.shared.populate(queues) {
            self.has_shared.store(true, Ordering::Release);
        }
    }

    /// Stops handling I/O completions: the tag set is about to go. The caller then waits for
    /// a running handler (`synchronize`).
    pub(crate) fn stop_io(&self) {
        self.io_active.store(false, Ordering::Release);
    }

    /// Drains the I/O queues of the vector (`nvme_irq()`), each one's completions ended as one
    /// batch.
    fn nvme_irq(queues: &[Arc<Queue>], irqs_off: &LocalInterruptDisabled) -> bool {
        let mut handled = false;
        for q in queues {
            let mut batch = CompBatch::new();
            handled |=
                q.nvme_poll_cq_irq(irqs_off, |cqe| nvme_handle_cqe(q, cqe, Some(&mut batch))) > 0;
            // After the CQ head doorbell, outside the completion lock, as one batch.
            batch.flush();
        }
        handled
    }
}

impl glue::Handler for VectorIrq {
    fn handle(&self, irqs_off: &LocalInterruptDisabled) -> bool {
        let mut handled = false;
        if let Some(admin) = &self.admin {
            handled |= admin.nvme_poll_cq_irq(irqs_off);
        }
        if self.io_active.load(Ordering::Acquire) {
            handled |= Self::nvme_irq(&self.io, irqs_off);
            if self.has_shared.load(Ordering::Acquire) {
                if let Some(shared) = self.shared.as_ref() {
                    handled |= Self::nvme_irq(shared, irqs_off);
                }
            }
        }
        handled
    }
}
