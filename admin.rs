// SPDX-License-Identifier: GPL-2.0

//! The admin queue: synchronous admin commands completed by the admin interrupt, with a
//! timeout, and the commands the driver issues (identify, features, queue creation/deletion).
//!
//! Admin commands are few and never on the I/O path, so they are issued one at a time under
//! `lock`; the interrupt handler stores the completion whose command identifier matches the
//! outstanding command and wakes the waiter. A late completion of a timed-out command carries a
//! stale identifier and is dropped. Asynchronous Event Requests stay outstanding beside them,
//! under command identifiers of their own (see [`crate::aen`]).

use core::sync::atomic::{
    AtomicU32,
    Ordering, //
};

use kernel::{
    device,
    dma::Coherent,
    new_mutex, new_work,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    workqueue::Work,
};

use crate::{
    aen::Aen,
    glue::{
        kver::{
            self,
            new_spinlock_irq,
            LocalInterruptDisabled,
            SpinLockIrq, //
        },
        Waiter, //
    },
    nvme::{
        aen::next_sync_cid,
        cmd::{
            self,
            Command,
            Completion, //
        },
        ident::IDENTIFY_SIZE,
        status::Status,
    },
    queue::Queue,
};

/// No admin command is outstanding (command identifiers are 16 bits).
const NO_CID: u32 = u32::MAX;

/// Why an admin command failed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AdminError {
    /// No completion within the admin timeout.
    Timeout,
    /// The controller completed the command with an error status.
    Status(Status),
    /// The admin queue is closed: the controller is going away.
    Closed,
}

impl AdminError {
    /// A short description for log messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AdminError::Timeout => "timed out",
            AdminError::Status(s) => s.name(),
            AdminError::Closed => "controller going away",
        }
    }
}

impl From<AdminError> for Error {
    fn from(e: AdminError) -> Error {
        match e {
            AdminError::Timeout => ETIMEDOUT,
            AdminError::Status(_) => EIO,
            AdminError::Closed => ENODEV,
        }
    }
}

/// State under the admin queue's lock.
struct AdminSlot {
    next_cid: u16,
    /// False once unbind closed the queue: BAR0 may be unmapped, nothing may be submitted.
    open: bool,
}

/// The admin queue pair and its one-at-a-time command slot.
#[pin_data]
pub(crate) struct AdminQueue {
    /// The admin submission/completion queue pair (queue 0).
    pub(crate) q: Arc<Queue>,
    /// Serialises admin commands; holds the next command identifier and whether the queue
    /// still takes commands.
    #[pin]
    lock: Mutex<AdminSlot>,
    /// Command identifier of the outstanding command, or `NO_CID`.
    waiting_cid: AtomicU32,
    /// The completion of the outstanding command, stored by the interrupt handler (so the
    /// lock is taken with interrupts off everywhere else).
    #[pin]
    result: SpinLockIrq<Option<Completion>>,
    #[pin]
    done: Waiter,
    /// How long to wait for a completion, in milliseconds.
    timeout_ms: u32,
    /// The outstanding Asynchronous Event Requests and what their events lead to.
    #[pin]
    pub(crate) aen: Aen,
    /// Handles completed Asynchronous Event Requests in process context.
    #[pin]
    pub(crate) aen_work: Work<AdminQueue>,
}

impl AdminQueue {
    /// Wraps the admin queue pair `q`.
    pub(crate) fn new(q: Arc<Queue>, timeout_ms: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            q,
            lock <- new_mutex!(AdminSlot { next_cid: 0, open: true }, "nvme_admin_lock"),
            waiting_cid: AtomicU32::new(NO_CID),
            result <- new_spinlock_irq!(None, "nvme_admin_result"),
            done <- Waiter::new(),
            timeout_ms,
            aen <- Aen::new(),
            aen_work <- new_work!("rust_nvme_aen"),
        })
    }

    /// Consumes admin completions, from process context (recovery).
    pub(crate) fn process_cq(self: &Arc<Self>) -> bool {
        self.q.process_cq(|cqe| self.handle_cqe(cqe))
    }

    /// Consumes admin completions from the admin queue's interrupt handler; `irqs_off` proves
    /// that interrupts are disabled, so the locks are taken without disabling them again.
    pub(crate) fn process_cq_irq(self: &Arc<Self>, irqs_off: &LocalInterruptDisabled) -> bool {
        // The admin queue shares its vector with the first I/O queue: most interrupts are not
        // for it.
        if !self.q.cqe_maybe_pending() {
            return false;
        }
        self.q.process_cq_irq(irqs_off, |cqe| {
            if self.is_waited_for(cqe) {
                *self.result.lock_with(irqs_off) = Some(*cqe);
                self.done.complete();
            } else {
                self.aer_completed(cqe);
            }
        })
    }

    /// True when `cqe` answers the command a caller waits for. Anything else is an
    /// Asynchronous Event or a late completion of a command that already timed out: nothing
    /// waits for it.
    fn is_waited_for(&self, cqe: &Completion) -> bool {
        u32::from(cqe.command_id()) == self.waiting_cid.load(Ordering::Acquire)
    }

    fn handle_cqe(self: &Arc<Self>, cqe: &Completion) {
        if self.is_waited_for(cqe) {
            *self.result.lock() = Some(*cqe);
            self.done.complete();
        } else {
            self.aer_completed(cqe);
        }
    }

    /// Wakes the waiter of the outstanding command, if any, without a completion: it fails
    /// at once instead of waiting out its timeout (the controller is being disabled).
    pub(crate) fn cancel(&self) {
        if self.waiting_cid.swap(NO_CID, Ordering::AcqRel) != NO_CID {
            self.done.complete();
        }
    }

    /// Closes the queue for good, after any running command: from then on nothing is
    /// submitted, so the doorbells (and BAR0) may go while handles to the queue remain.
    pub(crate) fn close(&self) {
        self.lock.lock().open = false;
    }

    /// True until [`AdminQueue::close`].
    pub(crate) fn is_open(&self) -> bool {
        self.lock.lock().open
    }

    /// Issues `cmd` and sleeps until it completes or the admin timeout passes.
    pub(crate) fn submit_sync(&self, mut cmd: Command) -> Result<Completion, AdminError> {
        let mut slot = self.lock.lock();
        if !slot.open {
            return Err(AdminError::Closed);
        }
        let cid = slot.next_cid;
        slot.next_cid = next_sync_cid(cid);
        cmd.set_cid(cid);
        *self.result.lock() = None;
        self.done.rearm();
        self.waiting_cid.store(u32::from(cid), Ordering::Release);
        self.q.submit(&cmd, true);
        let completed = self.done.wait_timeout(self.timeout_ms);
        self.waiting_cid.store(NO_CID, Ordering::Release);
        let cqe = self.result.lock().take();
        match cqe {
            Some(cqe) if completed || cqe.command_id() == cid => {
                let status = Status::new(cqe.status_field());
                if status.is_success() {
                    Ok(cqe)
                } else {
                    Err(AdminError::Status(status))
                }
            }
            _ => Err(AdminError::Timeout),
        }
    }

    /// Identify with `cns`/`nsid` into a fresh 4 KiB buffer.
    pub(crate) fn identify(
        &self,
        dev: &device::Device<device::Bound>,
        cns: u8,
        nsid: u32,
    ) -> Result<Coherent<[u8]>, Error> {
        let buf = Coherent::<u8>::zeroed_slice(dev, IDENTIFY_SIZE, GFP_KERNEL)?;
        let mut c = Command::identify(cns, nsid, 0);
        c.set_prp(kver::dma_address(&buf), 0);
        self.submit_sync(c)?;
        Ok(buf)
    }

    /// Identify with `cns`/`nsid` into `buf` (at least 4 KiB, page aligned).
    pub(crate) fn identify_into(
        &self,
        buf: &Coherent<[u8]>,
        cns: u8,
        nsid: u32,
    ) -> Result<(), AdminError> {
        let mut c = Command::identify(cns, nsid, 0);
        c.set_prp(kver::dma_address(buf), 0);
        self.submit_sync(c).map(|_| ())
    }

    /// Get Log Page `lid` (controller scope, Retain Asynchronous Event clear) of `len` bytes
    /// into `buf` (at most 4 KiB, page aligned).
    pub(crate) fn get_log_page(
        &self,
        buf: &Coherent<[u8]>,
        lid: u8,
        len: u32,
    ) -> Result<(), AdminError> {
        self.submit_sync(Command::get_log_page(
            lid,
            u32::MAX,
            len / 4,
            kver::dma_address(buf),
        ))
        .map(|_| ())
    }

    /// Set Features, returning Dword 0 of the completion.
    pub(crate) fn set_features(&self, fid: u8, dw11: u32) -> Result<u32, AdminError> {
        self.submit_sync(Command::set_features(fid, dw11))
            .map(|c| c.result_dw0())
    }

    /// Asks for `nr` I/O queue pairs; returns how many the controller granted.
    pub(crate) fn set_queue_count(&self, nr: u16) -> Result<u16, AdminError> {
        let dw0 = self.set_features(cmd::FEAT_NUM_QUEUES, cmd::num_queues_dw11(nr))?;
        Ok(cmd::num_queues_granted(dw0))
    }

    /// Creates I/O completion queue and submission queue `q.qid` on the controller.
    pub(crate) fn create_io_queue(&self, q: &Queue, irq: bool) -> Result<(), AdminError> {
        let vector = if irq { Some(q.vector) } else { None };
        self.submit_sync(Command::create_cq(q.qid, q.depth, q.cq_dma(), vector))?;
        if let Err(e) = self.submit_sync(Command::create_sq(q.qid, q.depth, q.sq_dma(), q.qid)) {
            let _ = self.submit_sync(Command::delete_cq(q.qid));
            return Err(e);
        }
        Ok(())
    }

    /// Deletes I/O submission queue and completion queue `qid`, in that order.
    pub(crate) fn delete_io_queue(&self, qid: u16) -> Result<(), AdminError> {
        let sq = self.submit_sync(Command::delete_sq(qid));
        let cq = self.submit_sync(Command::delete_cq(qid));
        sq.and(cq).map(|_| ())
    }
}
