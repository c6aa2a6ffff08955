// SPDX-License-Identifier: GPL-2.0

//! The admin queue: synchronous admin commands completed by the admin interrupt, with a
//! timeout, and the commands the driver issues (identify, features, queue creation/deletion).
//!
//! Admin commands are few and never on the I/O path, so they are issued one caller at a time
//! under `lock`: one command, or a batch of up to [`MAX_BATCH`] submitted with one doorbell
//! write and waited for together (the namespace scan identifies many namespaces that way, where
//! the C driver identifies them from parallel threads). The interrupt handler stores each
//! completion whose command identifier is one of the outstanding run's and wakes the waiter
//! once all are in. A late completion of a timed-out command carries a stale identifier and is
//! dropped.
//!
//! Asynchronous Event Requests stay outstanding beside them: up to [`MAX_AERS`] (AERL + 1 at
//! most), each in a slot with a command identifier of its own that synchronous commands never
//! use, so an event never counts against or completes the one synchronous command. A slot is
//! free, outstanding, completed (its completion stored by the interrupt handler for the event
//! work) or retired (the controller refused it). The admin queue keeps the slots and runs the
//! event work; what an event means is for the [`AsyncEvents`] handler attached to it (the
//! namespaces' one, in [`crate::aen`]), which the work calls.
//!
//! A controller reset pauses submission; the requests the disabled controller dropped become
//! free and are submitted again, with the event configuration, once it is back. Teardown stops
//! the events, waits for the work, and leaves the outstanding requests to be abandoned when the
//! controller is shut down.

use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU64,
    Ordering, //
};

use kernel::{
    device,
    dma::Coherent,
    impl_has_work, new_mutex, new_spinlock, new_work,
    prelude::*,
    sync::{
        Arc,
        Mutex,
        SpinLock, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    workqueue::{
        Work,
        WorkItem, //
    },
};

use crate::{
    glue::{
        self,
        kver::{
            self,
            new_spinlock_irq,
            LocalInterruptDisabled,
            SpinLockIrq, //
        },
        Waiter, //
    },
    nvme::{
        aen::{
            aer_cid,
            aer_count,
            aer_outcome,
            aer_slot,
            next_sync_cid,
            sync_cids,
            waited_index,
            waiting,
            AerOutcome,
            MAX_AERS,
            MAX_BATCH,
            NO_WAIT, //
        },
        cmd::{
            self,
            Command,
            Completion, //
        },
        ident::IDENTIFY_SIZE,
        status::{
            generic,
            Status,
            SCT_GENERIC, //
        },
    },
    queue::Queue,
};

/// A caller's mistake (no commands, too many, a buffer too small), refused as a controller
/// would refuse a bad field.
const REFUSED: AdminError = AdminError::Status(Status::from_parts(
    SCT_GENERIC,
    generic::INVALID_FIELD,
    true,
));

/// How often a command held back by the fence looks again, in milliseconds.
const FENCE_POLL_MS: u32 = 10;

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

/// Slot state: no request with the controller.
const FREE: u64 = 0;
/// Slot state: the request is with the controller.
const OUTSTANDING: u64 = 1;
/// Slot state: the controller refused the request; it is not submitted again.
const RETIRED: u64 = 2;
/// Slot state flag: completed, with the status word in bits 47:32 and Dword 0 in bits 31:0.
const COMPLETED: u64 = 1 << 63;

/// What asynchronous events lead to, attached to the admin queue once the controller is up
/// ([`AdminQueue::start_events`]). The admin queue knows the requests; the handler knows what
/// an event means (log pages, namespace rescans), and serves the admin commands that change
/// namespaces.
pub(crate) trait AsyncEvents: Send + Sync {
    /// Runs in the event work with the outcomes of the completed requests, before they are
    /// submitted again: reads the log pages the events name (which clears them at the
    /// controller) and reports them. Returns true when a namespace changed.
    fn report(&self, admin: &AdminQueue, events: &[AerOutcome]) -> bool;

    /// Runs in the event work, after the requests went back to the controller, when a
    /// namespace changed or a controller reset may have hidden a notice: rescans.
    fn namespaces_changed(&self, admin: &AdminQueue);

    /// Scans the namespaces now (`NVME_IOCTL_RESCAN`).
    fn rescan(&self, admin: &AdminQueue) -> Result;

    /// Runs `cmd`, an admin command that may change namespaces, with I/O frozen when `freeze`,
    /// and brings the namespaces up to date after it.
    fn run_changing(
        &self,
        admin: &AdminQueue,
        freeze: bool,
        cmd: &mut dyn FnMut() -> Result<Completion, AdminError>,
    ) -> Result<Result<Completion, AdminError>>;
}

/// What submission of Asynchronous Event Requests depends on.
struct AerSubmit {
    /// Requests may be submitted: the controller is live and not being torn down.
    running: bool,
    /// Slots in use (AERL + 1, capped); 0 until the events are started.
    count: usize,
    /// Asynchronous Event Configuration to set whenever the controller (re)starts.
    aec: u32,
}

/// A completion as kept in a slot.
const fn stored(cqe: &Completion) -> u64 {
    COMPLETED | ((cqe.status_word() as u64) << 32) | cqe.result_dw0() as u64
}

/// The completion kept in a slot, rebuilt for decoding.
const fn unstored(v: u64) -> Completion {
    // CAST: the fields were stored from a `u16` and a `u32`.
    let (status, dw0) = ((v >> 32) as u16, v as u32);
    Completion::from_dwords([dw0, 0, 0, (status as u32) << 16])
}

/// State under the admin queue's lock.
struct AdminSlot {
    next_cid: u16,
    /// False once unbind closed the queue: BAR0 may be unmapped, nothing may be submitted.
    open: bool,
    /// A command timed out: the controller was stopped, and commands fail at once until a
    /// reset brings it back ([`AdminQueue::restart`]).
    stalled: bool,
}

/// What the admin queue asks of the controller when a command gets no answer within the admin
/// timeout: stop it from reaching memory at once (the command's buffer is the caller's to free
/// or reuse when `submit_sync` returns), then recover it, as the C driver disables and resets
/// the controller on an admin timeout. Implemented for the controller core ([`crate::ctrl`]).
pub(crate) trait AdminRecovery: Send + Sync {
    /// Called with the admin queue's lock held: must not issue admin commands.
    fn admin_timed_out(&self);
}

/// The completions of the outstanding synchronous commands.
struct Results {
    /// By place in the run ([`waited_index`]).
    cqes: [Option<Completion>; MAX_BATCH],
    /// How many are still to come.
    left: usize,
}

/// The admin queue pair and its one-caller-at-a-time command slot.
#[pin_data]
pub(crate) struct AdminQueue {
    /// The admin submission/completion queue pair (queue 0).
    pub(crate) q: Arc<Queue>,
    /// Serialises admin commands; holds the next command identifier and whether the queue
    /// still takes commands.
    #[pin]
    lock: Mutex<AdminSlot>,
    /// The outstanding run of synchronous commands ([`waiting`]), or [`NO_WAIT`].
    waiting_cid: AtomicU32,
    /// The completions of the outstanding commands, stored by the interrupt handler (so the
    /// lock is taken with interrupts off everywhere else).
    #[pin]
    results: SpinLockIrq<Results>,
    #[pin]
    done: Waiter,
    /// How long to wait for a completion, in milliseconds.
    timeout_ms: u32,
    /// The controller is out of service (a reset, a function reset, a system sleep): commands
    /// other than the recovery's own wait until [`AdminQueue::unfence`], as the C driver's
    /// quiesced admin queue holds them.
    fenced: AtomicBool,
    /// Who stops and recovers the controller when a command times out; set once the core
    /// exists, cleared when the controller goes (it holds the core).
    #[pin]
    recovery: Mutex<Option<Arc<dyn AdminRecovery>>>,
    /// One state per Asynchronous Event Request slot: [`FREE`], [`OUTSTANDING`], [`RETIRED`]
    /// or a [`COMPLETED`] entry.
    aer_slots: [AtomicU64; MAX_AERS],
    /// Teardown started: completions queue no more work, and the work does nothing.
    events_stopped: AtomicBool,
    /// The work is to have the namespaces rescanned even without a notice (after a reset).
    rescan_asked: AtomicBool,
    /// Serialises submissions of event requests with pausing and resuming.
    #[pin]
    aer_submit: SpinLock<AerSubmit>,
    /// What events lead to, from [`AdminQueue::start_events`] until teardown.
    #[pin]
    events: Mutex<Option<Arc<dyn AsyncEvents>>>,
    /// Handles completed Asynchronous Event Requests in process context.
    #[pin]
    events_work: Work<AdminQueue>,
}

impl_has_work! {
    impl HasWork<Self> for AdminQueue { self.events_work }
}

impl WorkItem for AdminQueue {
    type Pointer = Arc<AdminQueue>;

    fn run(this: Arc<AdminQueue>) {
        this.handle_events();
    }
}

impl AdminQueue {
    /// Wraps the admin queue pair `q`.
    pub(crate) fn new(q: Arc<Queue>, timeout_ms: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            q,
            lock <- new_mutex!(
                AdminSlot {
                    next_cid: 0,
                    open: true,
                    stalled: false,
                },
                "nvme_admin_lock"
            ),
            recovery <- new_mutex!(None, "nvme_admin_recovery"),
            waiting_cid: AtomicU32::new(NO_WAIT),
            fenced: AtomicBool::new(false),
            results <- new_spinlock_irq!(
                Results {
                    cqes: [None; MAX_BATCH],
                    left: 0,
                },
                "nvme_admin_result"
            ),
            done <- Waiter::new(),
            timeout_ms,
            aer_slots: [const { AtomicU64::new(FREE) }; MAX_AERS],
            events_stopped: AtomicBool::new(false),
            rescan_asked: AtomicBool::new(false),
            aer_submit <- new_spinlock!(
                AerSubmit {
                    running: false,
                    count: 0,
                    aec: 0,
                },
                "rust_nvme_aer_submit"
            ),
            events <- new_mutex!(None, "rust_nvme_aen_events"),
            events_work <- new_work!("rust_nvme_aen"),
        })
    }

    /// Consumes admin completions, from process context (recovery).
    pub(crate) fn nvme_poll_cq(self: &Arc<Self>) -> usize {
        self.q.nvme_poll_cq(|cqe| self.handle_cqe(cqe))
    }

    /// Consumes admin completions from the admin queue's interrupt handler; `irqs_off` proves
    /// that interrupts are disabled, so the locks are taken without disabling them again.
    pub(crate) fn nvme_poll_cq_irq(self: &Arc<Self>, irqs_off: &LocalInterruptDisabled) -> bool {
        // The admin queue shares its vector with the first I/O queue: most interrupts are not
        // for it.
        if !self.q.cqe_maybe_pending() {
            return false;
        }
        self.reap_irq(irqs_off)
    }

    /// The rest of [`Self::nvme_poll_cq_irq`], out of line: so that the shared vector's handler
    /// does not carry this loop's stack frame on every I/O interrupt.
    #[inline(never)]
    fn reap_irq(self: &Arc<Self>, irqs_off: &LocalInterruptDisabled) -> bool {
        self.q.nvme_poll_cq_irq(irqs_off, |cqe| {
            if aer_slot(cqe.command_id()).is_some() {
                self.aer_completed(cqe);
            } else {
                self.store(&mut self.results.lock_with(irqs_off), cqe);
            }
        }) > 0
    }

    /// Keeps `cqe`, a completion of a synchronous command, in `r` (the locked results) when
    /// it answers one of the run a caller waits for, and wakes the waiter once the last is in.
    /// The run is read with the results locked, as the submitter publishes it together with
    /// the emptied results: so a late completion of a command that already timed out, or a
    /// second one, is dropped and never taken for a later command's.
    fn store(&self, r: &mut Results, cqe: &Completion) {
        let Some(i) = waited_index(self.waiting_cid.load(Ordering::Acquire), cqe.command_id())
        else {
            return;
        };
        let Some(slot) = r.cqes.get_mut(i) else {
            return;
        };
        if slot.is_none() && r.left > 0 {
            *slot = Some(*cqe);
            r.left -= 1;
            if r.left == 0 {
                self.done.complete();
            }
        }
    }

    fn handle_cqe(self: &Arc<Self>, cqe: &Completion) {
        if aer_slot(cqe.command_id()).is_some() {
            self.aer_completed(cqe);
        } else {
            self.store(&mut self.results.lock(), cqe);
        }
    }

    /// Wakes the waiter of the outstanding command, if any, without a completion: it fails
    /// at once instead of waiting out its timeout (the controller is being disabled).
    pub(crate) fn cancel(&self) {
        // SeqCst, paired with `submit`: a submitter either published its command identifier
        // before this swap (and is woken here), or sees the fence set before it and submits
        // nothing.
        if self.waiting_cid.swap(NO_WAIT, Ordering::SeqCst) != NO_WAIT {
            self.done.complete();
        }
    }

    /// Holds commands back while the controller is out of service (before it is disabled):
    /// only the recovery's own ([`AdminQueue::submit_recovery`]) go through until
    /// [`AdminQueue::unfence`]. A command already submitted is the canceller's
    /// ([`AdminQueue::cancel`]).
    pub(crate) fn fence(&self) {
        self.fenced.store(true, Ordering::SeqCst);
    }

    /// The controller is back, or given up: held commands go on (to fail at once if it is
    /// dead, see [`AdminQueue::stall`]).
    pub(crate) fn unfence(&self) {
        self.fenced.store(false, Ordering::SeqCst);
    }

    /// The controller will not answer any more (it is dead): commands fail at once.
    pub(crate) fn stall(&self) {
        self.lock.lock().stalled = true;
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

    /// Issues `cmd` and sleeps until it completes or the admin timeout passes. While the
    /// controller is out of service ([`AdminQueue::fence`]), waits for it to come back first,
    /// up to the admin timeout.
    pub(crate) fn submit_sync(&self, cmd: Command) -> Result<Completion, AdminError> {
        self.submit(cmd, false)
    }

    /// [`AdminQueue::submit_sync`] for the steps of the recovery itself (deleting and
    /// re-creating the I/O queues), which run while the queue is fenced.
    pub(crate) fn submit_recovery(&self, cmd: Command) -> Result<Completion, AdminError> {
        self.submit(cmd, true)
    }

    fn submit(&self, cmd: Command, recovery: bool) -> Result<Completion, AdminError> {
        let mut out = [Err(AdminError::Timeout)];
        self.submit_run(&mut [cmd], recovery, &mut out)?;
        let [r] = out;
        r
    }

    /// Issues `cmds` (at most [`MAX_BATCH`]) together, with one doorbell write, and sleeps
    /// until every one completes or the admin timeout passes; the outcome of `cmds[i]` goes to
    /// `out[i]` (`out` as long as `cmds` at least). Fails as a whole, with nothing submitted,
    /// when the queue is closed, the controller stays out of service, or there are no commands
    /// or too many (Invalid Field); a timeout or a cancellation fails the commands without
    /// a completion. While the controller is out of service ([`AdminQueue::fence`]), waits
    /// for it to come back first, up to the admin timeout.
    pub(crate) fn submit_batch(
        &self,
        cmds: &mut [Command],
        out: &mut [Result<Completion, AdminError>],
    ) -> Result<(), AdminError> {
        self.submit_run(cmds, false, out)
    }

    fn submit_run(
        &self,
        cmds: &mut [Command],
        recovery: bool,
        out: &mut [Result<Completion, AdminError>],
    ) -> Result<(), AdminError> {
        let n = cmds.len();
        if n == 0 || n > MAX_BATCH || out.len() < n {
            return Err(REFUSED);
        }
        // CAST: at most `MAX_BATCH`.
        let n16 = n as u16;
        let mut waited = 0;
        let (mut slot, first) = loop {
            let mut slot = self.lock.lock();
            if !slot.open {
                return Err(AdminError::Closed);
            }
            if recovery || !self.fenced.load(Ordering::SeqCst) {
                if slot.stalled {
                    return Err(AdminError::Timeout);
                }
                let first = sync_cids(slot.next_cid, n16);
                // Armed before the identifiers are published: a `cancel` from then on wakes us.
                self.done.rearm();
                {
                    // The run is published with the results emptied, under their lock (see
                    // `store`).
                    let mut r = self.results.lock();
                    r.cqes = [None; MAX_BATCH];
                    r.left = n;
                    // SeqCst, paired with `cancel`: see there.
                    self.waiting_cid
                        .store(waiting(first, n16), Ordering::SeqCst);
                }
                if recovery || !self.fenced.load(Ordering::SeqCst) {
                    slot.next_cid = next_sync_cid(first + n16 - 1);
                    break (slot, first);
                }
                // Fenced meanwhile: whoever fenced may have cancelled before the store.
                self.waiting_cid.store(NO_WAIT, Ordering::SeqCst);
            }
            drop(slot);
            if waited >= self.timeout_ms {
                return Err(AdminError::Timeout);
            }
            fsleep(Delta::from_millis(FENCE_POLL_MS.into()));
            waited += FENCE_POLL_MS;
        };
        for (i, cmd) in cmds.iter_mut().enumerate() {
            // CAST: `i < n <= MAX_BATCH`.
            cmd.set_cid(first + i as u16);
            // The last one rings the doorbell for all.
            self.q.submit(cmd, i + 1 == n);
        }
        let completed = self.done.wait_timeout(self.timeout_ms);
        let (cqes, left) = {
            let r = self.results.lock();
            self.waiting_cid.store(NO_WAIT, Ordering::Release);
            (r.cqes, r.left)
        };
        for (o, cqe) in out.iter_mut().zip(cqes.iter()).take(n) {
            *o = match cqe {
                Some(cqe) => {
                    let status = Status::new(cqe.status_field());
                    if status.is_success() {
                        Ok(*cqe)
                    } else {
                        Err(AdminError::Status(status))
                    }
                }
                // Woken without it (cancelled by whoever is disabling the controller), or not
                // answered in time.
                None => Err(AdminError::Timeout),
            };
        }
        if !completed && left > 0 {
            // No answer: the controller may still carry the commands out, into buffers the
            // caller frees or reuses as soon as this returns. Stop it first.
            slot.stalled = true;
            let recovery = self.recovery.lock().clone();
            if let Some(r) = recovery {
                r.admin_timed_out();
            }
        }
        Ok(())
    }

    /// Attaches what stops and recovers the controller on a timeout.
    pub(crate) fn set_recovery(&self, r: Arc<dyn AdminRecovery>) {
        *self.recovery.lock() = Some(r);
    }

    /// Detaches it again (it holds the core, which holds this queue).
    pub(crate) fn clear_recovery(&self) {
        let r = self.recovery.lock().take();
        drop(r);
    }

    /// The controller was enabled again (a reset): commands go through again.
    pub(crate) fn restart(&self) {
        self.lock.lock().stalled = false;
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

    /// Identify data structures `reqs[i] = (cns, nsid)` all at once ([`AdminQueue::submit_batch`]),
    /// the `i`th into the `i`th 4 KiB page of `buf`; whether the `i`th succeeded goes to
    /// `ok[i]`. At most [`MAX_BATCH`] and as many as `buf` has pages.
    pub(crate) fn identify_batch(
        &self,
        buf: &Coherent<[u8]>,
        reqs: &[(u8, u32)],
        ok: &mut [bool],
    ) -> Result<(), AdminError> {
        if reqs.len() > MAX_BATCH || reqs.len() * IDENTIFY_SIZE > buf.len() || ok.len() < reqs.len()
        {
            return Err(REFUSED);
        }
        let mut cmds = [Command::default(); MAX_BATCH];
        for (i, (c, &(cns, nsid))) in cmds.iter_mut().zip(reqs).enumerate() {
            *c = Command::identify(cns, nsid, 0);
            // CAST: a page index below `MAX_BATCH`.
            c.set_prp(kver::dma_address(buf) + (i * IDENTIFY_SIZE) as u64, 0);
        }
        let mut out = [Err(AdminError::Timeout); MAX_BATCH];
        let n = reqs.len();
        self.submit_batch(&mut cmds[..n], &mut out[..n])?;
        for (o, r) in ok.iter_mut().zip(out.iter()).take(n) {
            *o = r.is_ok();
        }
        Ok(())
    }

    /// Identify data structure `cns` of I/O command set `csi` for `nsid` into `buf`.
    pub(crate) fn identify_csi_into(
        &self,
        buf: &Coherent<[u8]>,
        cns: u8,
        nsid: u32,
        csi: u8,
    ) -> Result<(), AdminError> {
        let mut c = Command::identify_csi(cns, nsid, csi);
        c.set_prp(kver::dma_address(buf), 0);
        self.submit_sync(c).map(|_| ())
    }

    /// Get Log Page `lid` of log specific identifier `lsi` (an endurance group's logs), its
    /// first 4 KiB, into `buf`.
    pub(crate) fn get_log_lsi_into(
        &self,
        buf: &Coherent<[u8]>,
        lid: u8,
        lsi: u16,
    ) -> Result<(), AdminError> {
        // CAST: 4 KiB in dwords, 0's based.
        let mut c = Command::get_log_lsi(lid, lsi, (IDENTIFY_SIZE / 4 - 1) as u32, 0);
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

    /// Get Features (current value), returning Dword 0 of the completion.
    pub(crate) fn get_features(&self, fid: u8, dw11: u32) -> Result<u32, AdminError> {
        self.submit_sync(Command::get_features(fid, dw11))
            .map(|c| c.result_dw0())
    }

    /// Set Features, returning Dword 0 of the completion.
    pub(crate) fn set_features(&self, fid: u8, dw11: u32) -> Result<u32, AdminError> {
        self.submit_sync(Command::set_features(fid, dw11))
            .map(|c| c.result_dw0())
    }

    /// Asks for `nr` I/O queue pairs; returns how many the controller granted (a recovery
    /// step: see [`AdminQueue::submit_recovery`]).
    pub(crate) fn set_queue_count(&self, nr: u16) -> Result<u16, AdminError> {
        let c = Command::set_features(cmd::FEAT_NUM_QUEUES, cmd::num_queues_dw11(nr));
        let dw0 = self.submit_recovery(c)?.result_dw0();
        Ok(cmd::num_queues_granted(dw0))
    }

    /// Creates I/O completion queue and submission queue `q.qid` on the controller (a
    /// recovery step: see [`AdminQueue::submit_recovery`]).
    pub(crate) fn create_io_queue(&self, q: &Queue, irq: bool) -> Result<(), AdminError> {
        let vector = if irq { Some(q.vector) } else { None };
        self.submit_recovery(Command::create_cq(q.qid, q.depth, q.cq_dma(), vector))?;
        if let Err(e) = self.submit_recovery(Command::create_sq(q.qid, q.depth, q.sq_dma(), q.qid))
        {
            let _ = self.submit_recovery(Command::delete_cq(q.qid));
            return Err(e);
        }
        Ok(())
    }

    /// Deletes I/O submission queue and completion queue `qid`, in that order (a recovery
    /// step: see [`AdminQueue::submit_recovery`]).
    pub(crate) fn delete_io_queue(&self, qid: u16) -> Result<(), AdminError> {
        let sq = self.submit_recovery(Command::delete_sq(qid));
        let cq = self.submit_recovery(Command::delete_cq(qid));
        sq.and(cq).map(|_| ())
    }
}

impl AdminQueue {
    /// Takes the completion of an Asynchronous Event Request, from the completion path
    /// (interrupt or recovery polling), and queues the event work for it. Anything else (a late
    /// completion of a timed-out command) is dropped.
    fn aer_completed(self: &Arc<Self>, cqe: &Completion) {
        let Some(slot) = aer_slot(cqe.command_id()) else {
            return;
        };
        // Only an outstanding request completes; a stray entry with its identifier is dropped.
        if self.aer_slots[slot]
            .compare_exchange(
                OUTSTANDING,
                stored(cqe),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
            && !self.events_stopped.load(Ordering::Acquire)
        {
            let _ = glue::system_dfl_wq().enqueue(self.clone());
        }
    }

    /// Submits a request in every free slot, when submission is allowed.
    fn submit_aers(&self) {
        let sub = self.aer_submit.lock();
        if !sub.running {
            return;
        }
        for slot in 0..sub.count {
            if self.aer_slots[slot]
                .compare_exchange(FREE, OUTSTANDING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let mut c = Command::async_event();
                c.set_cid(aer_cid(slot));
                self.q.submit(&c, true);
            }
        }
    }

    /// Starts asynchronous events on a controller that has just come up: `events` handles
    /// them, with `aerl` (Identify Controller AERL) requests outstanding and the Asynchronous
    /// Event Configuration `aec`. Call once, when nothing can fail any more. Returns the
    /// outcome of setting the configuration (the requests are submitted either way).
    pub(crate) fn start_events(
        &self,
        events: Arc<dyn AsyncEvents>,
        aerl: u8,
        aec: u32,
    ) -> Result<(), AdminError> {
        *self.events.lock() = Some(events);
        // Enable the events the controller offers, then hand it the requests.
        let set = self.set_features(cmd::FEAT_ASYNC_EVENT, aec).map(|_| ());
        {
            let mut sub = self.aer_submit.lock();
            sub.count = aer_count(aerl);
            sub.aec = aec;
            sub.running = true;
        }
        self.submit_aers();
        set
    }

    /// Stops submitting requests: the controller is about to be disabled (reset) or is dead.
    pub(crate) fn pause_events(&self) {
        self.aer_submit.lock().running = false;
    }

    /// Forgets the requests a disabled controller dropped; call after its completions were
    /// reaped. Completed slots stay for the work.
    pub(crate) fn forget_events(&self) {
        for slot in &self.aer_slots {
            let _ = slot.compare_exchange(OUTSTANDING, FREE, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// After a controller reset: sets the event configuration again, resubmits the requests
    /// and has the work rescan the namespaces (a notice may have been lost meanwhile, or a
    /// rescan failed).
    pub(crate) fn resume_events(self: &Arc<Self>) {
        let aec = {
            let sub = self.aer_submit.lock();
            if sub.count == 0 || self.events_stopped.load(Ordering::Acquire) {
                return;
            }
            sub.aec
        };
        let _ = self.set_features(cmd::FEAT_ASYNC_EVENT, aec);
        {
            let mut sub = self.aer_submit.lock();
            if self.events_stopped.load(Ordering::Acquire) {
                return;
            }
            sub.running = true;
        }
        self.submit_aers();
        self.rescan_asked.store(true, Ordering::Release);
        let _ = glue::system_dfl_wq().enqueue(self.clone());
    }

    /// Teardown, first step: no more submissions, no more work queued, the work does nothing.
    /// The caller then waits for running interrupt handlers and calls
    /// [`AdminQueue::flush_events`].
    pub(crate) fn stop_events(&self) {
        self.events_stopped.store(true, Ordering::Release);
        self.pause_events();
    }

    /// Teardown, second step: waits for the work and drops the handler (and what it holds).
    pub(crate) fn flush_events(self: &Arc<Self>) {
        glue::cancel_arc_work(self);
        let events = self.events.lock().take();
        drop(events);
    }

    /// The event handler, once events run and until teardown: it also serves the commands
    /// that change namespaces.
    pub(crate) fn events(&self) -> Option<Arc<dyn AsyncEvents>> {
        self.events.lock().clone()
    }

    /// Has the event work rescan the namespaces soon (from any context: an I/O completion
    /// that found the namespace's ANA state changed). Nothing once events stopped.
    pub(crate) fn ask_rescan(self: &Arc<Self>) {
        if self.events_stopped.load(Ordering::Acquire) {
            return;
        }
        self.rescan_asked.store(true, Ordering::Release);
        // Already queued: that run rescans.
        let _ = glue::system_dfl_wq().enqueue(self.clone());
    }

    /// `NVME_IOCTL_RESCAN`: has the namespaces scanned now.
    pub(crate) fn rescan(&self) -> Result {
        self.events().ok_or(ENODEV)?.rescan(self)
    }

    /// The work: hands every completed request's outcome to the handler, frees (or retires)
    /// their slots, submits the requests again, and has the handler rescan when a namespace
    /// changed.
    fn handle_events(&self) {
        if self.events_stopped.load(Ordering::Acquire) {
            return;
        }
        let events = self.events.lock();
        let Some(handler) = events.as_ref() else {
            return;
        };
        let rescan = self.rescan_asked.swap(false, Ordering::AcqRel);
        let mut taken = [(0usize, 0u64); MAX_AERS];
        let mut outcomes = [AerOutcome::Aborted; MAX_AERS];
        let mut n = 0;
        for (i, slot) in self.aer_slots.iter().enumerate() {
            let v = slot.load(Ordering::Acquire);
            if v & COMPLETED != 0 {
                taken[n] = (i, v);
                outcomes[n] = aer_outcome(&unstored(v));
                n += 1;
            }
        }
        let changed = n != 0 && handler.report(self, &outcomes[..n]);
        for (&(i, v), outcome) in taken.iter().zip(outcomes.iter()).take(n) {
            let next = match outcome {
                AerOutcome::Refused(_) => RETIRED,
                AerOutcome::Event(_) | AerOutcome::Aborted => FREE,
            };
            let _ =
                self.aer_slots[i].compare_exchange(v, next, Ordering::AcqRel, Ordering::Acquire);
        }
        self.submit_aers();
        if (changed || rescan) && !self.events_stopped.load(Ordering::Acquire) {
            handler.namespaces_changed(self);
        }
    }
}

/// Copies a completed Identify (or log page) buffer out of DMA memory.
pub(crate) fn identify_copy(buf: &Coherent<[u8]>) -> Result<KBox<[u8; IDENTIFY_SIZE]>> {
    identify_copy_page(buf, 0)
}

/// Copies the `page`th 4 KiB of `buf`, a completed Identify of [`AdminQueue::identify_batch`],
/// out of DMA memory.
pub(crate) fn identify_copy_page(
    buf: &Coherent<[u8]>,
    page: usize,
) -> Result<KBox<[u8; IDENTIFY_SIZE]>> {
    let mut out = KBox::new([0u8; IDENTIFY_SIZE], GFP_KERNEL)?;
    let at = page * IDENTIFY_SIZE;
    // SAFETY: the commands completed, so the device no longer writes the buffer, and no other
    // reference to it exists.
    let src = unsafe { buf.as_ref() };
    out.copy_from_slice(src.get(at..at + IDENTIFY_SIZE).ok_or(EINVAL)?);
    Ok(out)
}
