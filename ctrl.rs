// SPDX-License-Identifier: GPL-2.0

//! The controller core: register access, the controller state, enable/disable/shutdown, and
//! recovery (controller reset, cancelling in-flight I/O, giving up on a dead controller).
//!
//! It is shared, through an `Arc`, by probe and unbind, by the blk-mq timeout handler and by
//! the reset work, so it holds no borrow of the PCI device: BAR0 is reached through a raw
//! mapping that the [`crate::driver::Controller`] keeps alive until every user of the core is gone.

use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU8,
    Ordering, //
};

use kernel::{
    device, impl_has_delayed_work, impl_has_work,
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    new_delayed_work, new_mutex, new_spinlock, new_work,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex,
        SpinLock, //
    },
    time::Delta,
    workqueue::{
        DelayedWork,
        Work,
        WorkItem, //
    },
};

use crate::{
    admin::{
        AdminQueue,
        AdminRecovery, //
    },
    glue::{
        self,
        kver::{
            self,
            Regs,
            RegsIo, //
        },
        BioList,
        BlkStatus,
        OwnedRequest,
        TagSetRef, //
    },
    iod::{
        nvme_cancel_request,
        nvme_handle_cqe,
        NvmeMq, //
    },
    nvme::{
        cmd::Command,
        regs::{
            Aqa,
            Cap,
            Cc,
            Csts,
            Shn,
            Shst,
            CTRL_PAGE_SHIFT, //
        },
    },
    queue::{
        DbBuf,
        Queue, //
    },
    regs,
};

/// Where the controller is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum State {
    /// Serving I/O.
    Live = 0,
    /// A reset is in progress; I/O is quiesced.
    Resetting = 1,
    /// Unbind is tearing the controller down.
    Deleting = 2,
    /// The controller is gone or could not be brought back: all I/O fails.
    Dead = 3,
    /// Probe is bringing the controller up: no reset may start yet.
    New = 4,
}

/// The I/O side, known to the core from the moment its queues exist on the controller: the
/// core holds their memory until the controller is disabled (see [`CtrlCore::clear_io`]).
pub(crate) struct IoRefs {
    /// The I/O queues, in queue-id order.
    pub(crate) queues: KVec<Arc<Queue>>,
    /// The tag set of the controller's disks, once it exists.
    pub(crate) tagset: Option<TagSetRef<NvmeMq>>,
    /// The shadow doorbell pages, when in use.
    pub(crate) dbbuf: Option<Arc<DbBuf>>,
}

/// The controller core.
///
/// # Invariants
///
/// `regs` maps BAR0 of the controller and stays mapped while the core is in use: the owning
/// [`crate::driver::Controller`] cancels the reset work and frees the tag set (the only other holders
/// of the core) before it unmaps BAR0. The tag set in `io` is allocated while `io` holds it:
/// teardown clears `io` before freeing the tag set.
#[pin_data]
pub(crate) struct CtrlCore {
    /// The PCI function's device (the `dev` of its `struct pci_dev`), for messages and for
    /// bus mastering on reset.
    pub(crate) dev: ARef<device::Device>,
    regs: Regs<{ regs::BAR0_MIN }>,
    /// The admin queue.
    pub(crate) admin: Arc<AdminQueue>,
    /// CAP.TO in milliseconds.
    pub(crate) timeout_ms: u32,
    state: AtomicU8,
    /// The I/O side; the lock serialises disabling the controller and cancelling requests.
    #[pin]
    io: Mutex<Option<IoRefs>>,
    #[pin]
    reset_work: Work<CtrlCore>,
    #[pin]
    health_work: DelayedWork<CtrlCore, HEALTH>,
    /// Commands to abort (queue id, command identifier), from the I/O timeout handler.
    #[pin]
    aborts: SpinLock<KVec<(u16, u16)>>,
    #[pin]
    abort_work: Work<CtrlCore, ABORT>,
    /// Bios of requests that were waiting on a hardware queue the controller no longer has
    /// after a reset, submitted again once the tag set has its new size.
    #[pin]
    pub(crate) rerouted: BioList,
    /// A restart is waiting for the block layer to resize the tag set: an I/O timeout now
    /// gives the controller up (the resize waits for every request to end).
    resizing: AtomicBool,
    /// Requests of shared namespaces in flight, counted under the queue-depth multipath
    /// policy (see [`crate::mpath`]).
    pub(crate) nr_active: AtomicU32,
}

impl State {
    /// The state stored as `v`.
    fn from_raw(v: u8) -> Self {
        match v {
            0 => State::Live,
            1 => State::Resetting,
            2 => State::Deleting,
            4 => State::New,
            _ => State::Dead,
        }
    }

    /// The name sysfs shows, as the C driver's `state` attribute does.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Live => "live",
            State::Resetting => "resetting",
            State::Deleting => "deleting",
            State::Dead => "dead",
            State::New => "new",
        }
    }
}

impl_has_work! {
    impl HasWork<Self> for CtrlCore { self.reset_work }
}

/// Work item id of the health check ([`CtrlCore::health_check`]).
const HEALTH: u64 = 1;

/// Work item id of the abort work ([`CtrlCore::send_aborts`]).
const ABORT: u64 = 2;

/// Most Aborts waiting or outstanding at once (the specification's ACL default is 4); a
/// timeout beyond them resets the controller.
const MAX_ABORTS: usize = 4;

impl_has_work! {
    impl HasWork<Self, ABORT> for CtrlCore { self.abort_work }
}

impl WorkItem<ABORT> for CtrlCore {
    type Pointer = Arc<CtrlCore>;

    fn run(this: Arc<CtrlCore>) {
        this.send_aborts();
    }
}

/// How often the health check looks at the controller.
pub(crate) const HEALTH_PERIOD_MS: u32 = 1000;

impl_has_delayed_work! {
    impl HasDelayedWork<Self, HEALTH> for CtrlCore { self.health_work }
}

impl WorkItem<HEALTH> for CtrlCore {
    type Pointer = Arc<CtrlCore>;

    fn run(this: Arc<CtrlCore>) {
        this.health_check();
    }
}

/// The core's answer to an admin command without completion, attached to the admin queue by
/// [`CtrlCore::attach_recovery`].
struct Recovery(Arc<CtrlCore>);

impl AdminRecovery for Recovery {
    fn admin_timed_out(&self) {
        let core = &self.0;
        let then = if core.state() == State::Live {
            ", then resetting it"
        } else {
            ""
        };
        dev_warn!(
            core.dev,
            "admin command timed out: disabling the controller{}\n",
            then
        );
        core.stop_dma();
        core.schedule_reset();
    }
}

impl WorkItem for CtrlCore {
    type Pointer = Arc<CtrlCore>;

    fn run(this: Arc<CtrlCore>) {
        this.reset();
    }
}

/// The time limits of a normal shutdown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shutdown {
    /// For the requests in flight to complete before the queues are deleted (the I/O timeout).
    pub(crate) drain_ms: u32,
    /// For the controller to report the shutdown complete (CSTS.SHST; RTD3E, bounded).
    pub(crate) shn_ms: u32,
}

/// How often recovery retries a cancelled request before failing it.
pub(crate) const MAX_RETRIES: u8 = 5;

impl CtrlCore {
    /// Creates the core over the BAR0 mapping `regs`.
    ///
    /// # Safety
    ///
    /// `regs` must map BAR0 of the controller and stay mapped as the type invariants require.
    pub(crate) unsafe fn new(
        dev: ARef<device::Device>,
        regs: Regs<{ regs::BAR0_MIN }>,
        admin: Arc<AdminQueue>,
        timeout_ms: u32,
    ) -> impl PinInit<Self> {
        // INVARIANT: guaranteed by the caller.
        pin_init!(Self {
            dev,
            regs,
            admin,
            timeout_ms,
            state: AtomicU8::new(State::New as u8),
            io <- new_mutex!(None),
            reset_work <- new_work!("rust_nvme_reset"),
            health_work <- new_delayed_work!("rust_nvme_health"),
            aborts <- new_spinlock!(KVec::new(), "rust_nvme_aborts"),
            abort_work <- new_work!("rust_nvme_abort"),
            rerouted <- BioList::new(),
            resizing: AtomicBool::new(false),
            nr_active: AtomicU32::new(0),
        })
    }

    fn mmio(&self) -> RegsIo<'_, { regs::BAR0_MIN }> {
        // SAFETY: `regs` is a live BAR0 mapping (type invariant).
        unsafe { kver::regs_io(&self.regs) }
    }

    /// Controller Status.
    pub(crate) fn csts(&self) -> Csts {
        Csts(self.mmio().read(regs::CSTS).into_raw())
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        State::from_raw(self.state.load(Ordering::Acquire))
    }

    fn set_state(&self, s: State) -> State {
        State::from_raw(self.state.swap(s as u8, Ordering::AcqRel))
    }

    /// Has the admin queue stop and reset the controller when a command times out. Undone by
    /// [`CtrlCore::detach_recovery`], which the owner must call when it lets go of the core.
    pub(crate) fn attach_recovery(self: &Arc<Self>) -> Result {
        let r: Arc<dyn AdminRecovery> = Arc::new(Recovery(self.clone()), GFP_KERNEL)?;
        self.admin.set_recovery(r);
        Ok(())
    }

    /// Undoes [`CtrlCore::attach_recovery`].
    pub(crate) fn detach_recovery(&self) {
        self.admin.clear_recovery();
    }

    /// Probe brought the controller up: from now on a reset may start. Nothing changes a state
    /// other than `New` (a teardown that started meanwhile keeps its own).
    pub(crate) fn set_live(&self) {
        let _ = self.state.compare_exchange(
            State::New as u8,
            State::Live as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// True when I/O must fail at once.
    pub(crate) fn is_dead(&self) -> bool {
        self.state.load(Ordering::Relaxed) == State::Dead as u8
    }

    /// Tells the core about the I/O queues as they are created on the controller.
    pub(crate) fn set_io(&self, io: IoRefs) {
        *self.io.lock() = Some(io);
    }

    /// Adds an I/O queue, before it is created on the controller: the core holds it until the
    /// controller is disabled or the queue deleted.
    pub(crate) fn add_io_queue(&self, q: Arc<Queue>) -> Result {
        match &mut *self.io.lock() {
            Some(io) => Ok(io.queues.push(q, GFP_KERNEL)?),
            None => Err(EINVAL),
        }
    }

    /// Tells the core about the tag set of the I/O queues.
    pub(crate) fn set_tagset(&self, tagset: TagSetRef<NvmeMq>) {
        if let Some(io) = &mut *self.io.lock() {
            io.tagset = Some(tagset);
        }
    }

    /// Forgets the I/O side before its tag set is freed; returns what it held, whose memory
    /// the controller may use until it is disabled or the queues are deleted.
    pub(crate) fn clear_io(&self) -> Option<IoRefs> {
        self.io.lock().take()
    }

    /// Waits until CSTS.RDY equals `ready`, failing on CSTS.CFS or after CAP.TO.
    pub(crate) fn wait_ready(&self, ready: bool) -> Result {
        let csts = read_poll_timeout(
            || Ok(self.csts()),
            |csts| csts.rdy() == ready || csts.cfs() || csts.is_gone(),
            Delta::from_millis(1),
            Delta::from_millis(i64::from(self.timeout_ms)),
        )
        .inspect_err(|_| {
            dev_err!(
                self.dev,
                "controller did not become {} within {} ms (CAP.TO)\n",
                if ready { "ready" } else { "disabled" },
                self.timeout_ms
            );
        })?;
        if csts.is_gone() {
            dev_err!(
                self.dev,
                "controller registers read as all ones: device gone\n"
            );
            return Err(ENODEV);
        }
        if csts.cfs() {
            dev_err!(self.dev, "controller fatal status (CSTS.CFS) set\n");
            return Err(EIO);
        }
        Ok(())
    }

    /// Clears CC.EN and waits for CSTS.RDY to drop; the controller forgets all queues.
    pub(crate) fn disable(&self) -> Result {
        let csts = self.csts();
        if csts.is_gone() {
            return Err(ENODEV);
        }
        let io = self.mmio();
        let cc = Cc(io.read(regs::CC).into_raw());
        if cc.enable() {
            io.write_reg(regs::CC::from_raw(cc.with_enable(false).0));
        }
        if csts.rdy() || cc.enable() {
            self.wait_ready(false)
        } else {
            Ok(())
        }
    }

    /// Programs the admin queue `aq` and enables the controller (CC.EN) with 4 KiB pages.
    pub(crate) fn enable(&self, aq: &Queue) -> Result {
        let io = self.mmio();
        let depth = u32::from(aq.depth);
        io.write_reg(regs::AQA::from_raw(Aqa::new(depth, depth)));
        let (sq, cq) = (aq.sq_dma(), aq.cq_dma());
        // CAST: deliberate split of the 64-bit addresses into their halves.
        io.write_reg(regs::ASQ_LO::from_raw(sq as u32));
        io.write_reg(regs::ASQ_HI::from_raw((sq >> 32) as u32));
        // CAST: as above.
        io.write_reg(regs::ACQ_LO::from_raw(cq as u32));
        io.write_reg(regs::ACQ_HI::from_raw((cq >> 32) as u32));
        // CAP.CSS lies in the register's high half.
        let css = Cap(u64::from(io.read(regs::CAP_HI).into_raw()) << 32).css();
        io.write_reg(regs::CC::from_raw(Cc::io(CTRL_PAGE_SHIFT, css).0));
        self.wait_ready(true)
    }

    /// Normal shutdown: CC.SHN, then wait up to `ms` for CSTS.SHST to report completion,
    /// then disable.
    pub(crate) fn shutdown(&self, ms: u32) {
        let io = self.mmio();
        let cc = Cc(io.read(regs::CC).into_raw());
        if self.csts().is_gone() || !cc.enable() {
            return;
        }
        io.write_reg(regs::CC::from_raw(cc.with_shn(Shn::Normal).0));
        let done = read_poll_timeout(
            || Ok(self.csts()),
            |csts| csts.shst() == Shst::Complete || csts.is_gone(),
            Delta::from_millis(1),
            Delta::from_millis(i64::from(ms)),
        );
        if done.is_err() {
            dev_warn!(self.dev, "shutdown did not complete within {} ms\n", ms);
        }
        let _ = self.disable();
    }

    /// Disables the controller and turns bus mastering off, so that the function reaches no
    /// memory whether or not the controller obeyed (a controller that does not report itself
    /// disabled within CAP.TO may still be writing): what it was using may then be completed,
    /// reused or freed. As the C driver's `nvme_dev_disable()`, which disables the PCI
    /// function before it cancels requests. A reset turns bus mastering back on (`reinit`).
    pub(crate) fn stop_dma(&self) {
        match self.disable() {
            // A device that is gone reaches no memory either.
            Ok(()) | Err(ENODEV) => {}
            Err(e) => dev_warn!(
                self.dev,
                "controller not disabled ({:?}): bus mastering off\n",
                e
            ),
        }
        // SAFETY: `dev` is the PCI function's device, and the core is used only while the driver
        // is bound to it (see `reinit`).
        unsafe { glue::pci_clear_master_of(&self.dev) };
    }

    /// Queues a controller reset unless one is pending or the controller is past saving.
    pub(crate) fn schedule_reset(self: &Arc<Self>) {
        if self.state() == State::Live {
            let _ = glue::system_dfl_wq().enqueue::<_, 0>(self.clone());
        }
    }

    /// Reaps posted completions, then completes every request still in flight as cancelled:
    /// it is retried after a reset, or failed when the controller is dead or going away.
    fn cancel_inflight(&self, io: Option<&IoRefs>) {
        self.admin.nvme_poll_cq();
        self.admin.cancel();
        let Some(io) = io else {
            return;
        };
        for q in io.queues.iter() {
            q.nvme_poll_cq(|cqe| nvme_handle_cqe(q, cqe, None));
        }
        if let Some(tagset) = io.tagset {
            // SAFETY: the tag set is allocated while `io` holds it (type invariant), and the
            // caller holds the `io` lock.
            unsafe {
                tagset.for_each_busy(nvme_cancel_request);
                tagset.wait_completed();
            }
        }
    }

    /// System restart, halt or power off (C's `nvme_shutdown()`): dispatch stops (queued
    /// requests wait), the I/O queues are deleted and the controller is shut down normally
    /// (CC.SHN), so that it writes back what it caches and counts no unsafe shutdown; what is
    /// still in flight is failed. Nothing when unbind is tearing the controller down already,
    /// or it is dead.
    pub(crate) fn nvme_shutdown(self: &Arc<Self>, sd: Shutdown) {
        if matches!(self.state(), State::Deleting | State::Dead) {
            return;
        }
        // No reset or health check runs from here on.
        self.start_teardown();
        let io = self.io.lock();
        let tagset = io.as_ref().and_then(|io| io.tagset);
        if let Some(t) = tagset {
            // SAFETY: the tag set is allocated while `io` holds it (type invariant). It stays
            // quiesced: the system is going down.
            unsafe { t.quiesce() };
            self.drain(t, sd.drain_ms);
        }
        self.admin.pause_events();
        if let Some(io) = io.as_ref() {
            self.delete_io_queues(&io.queues);
        }
        self.shutdown(sd.shn_ms);
        self.set_state(State::Dead);
        self.stop_dma();
        self.cancel_inflight(io.as_ref());
    }

    /// Gives up on the controller: I/O fails from now on, and what is in flight is failed.
    pub(crate) fn kill(&self, why: &str) {
        let io = self.io.lock();
        if self.set_state(State::Dead) != State::Dead {
            dev_err!(self.dev, "controller is dead ({}): failing its I/O\n", why);
        }
        self.admin.pause_events();
        self.stop_dma();
        self.cancel_inflight(io.as_ref());
    }

    /// Marks the controller as being torn down and waits for a running reset and health
    /// check to finish.
    pub(crate) fn start_teardown(self: &Arc<Self>) {
        if self.state() != State::Dead {
            self.set_state(State::Deleting);
        }
        glue::cancel_arc_delayed_work::<_, HEALTH>(self);
        glue::cancel_arc_work::<_, ABORT>(self);
        glue::cancel_arc_work::<_, 0>(self);
    }

    /// Asks the controller, from the abort work, to abort command `cid` of queue `qid`, which
    /// timed out (the I/O timeout handler does not wait for the Abort, as the C driver's
    /// `nvme_timeout()`). False when too many Aborts are pending: reset instead.
    pub(crate) fn queue_abort(self: &Arc<Self>, qid: u16, cid: u16) -> bool {
        {
            let mut aborts = self.aborts.lock();
            if aborts.len() >= MAX_ABORTS || aborts.push((qid, cid), GFP_ATOMIC).is_err() {
                return false;
            }
        }
        let _ = glue::system_dfl_wq().enqueue::<_, ABORT>(self.clone());
        true
    }

    /// The abort work: sends the queued Aborts, one at a time; one the controller refuses, or
    /// does not answer, resets it.
    fn send_aborts(self: &Arc<Self>) {
        loop {
            let next = {
                let mut aborts = self.aborts.lock();
                (!aborts.is_empty())
                    .then(|| aborts.remove(0).ok())
                    .flatten()
            };
            let Some((qid, cid)) = next else {
                return;
            };
            if self.state() != State::Live {
                continue;
            }
            match self.admin.submit_sync(Command::abort(qid, cid)) {
                // Completion dword 0 bit 0 clear: the command was aborted and completes with
                // "Command Abort Requested".
                Ok(cqe) if cqe.result_dw0() & 1 == 0 => {}
                // Not aborted, or no answer: the controller needs a reset.
                _ => self.schedule_reset(),
            }
        }
    }

    /// True when the function decodes its memory space, so register reads are the
    /// controller's: false while the PCI core resets the function (its config space saved and
    /// the function disabled until it is restored).
    fn registers_valid(&self) -> bool {
        // SAFETY: `dev` is the PCI function's device, and the core is used only while the driver
        // is bound to it (see `reinit`).
        unsafe { glue::pci_memory_enabled_of(&self.dev) }
    }

    /// Starts checking, every [`HEALTH_PERIOD_MS`], that the controller is still enabled.
    pub(crate) fn start_health_check(self: &Arc<Self>) {
        let _ = glue::system_dfl_wq().enqueue_delayed::<_, HEALTH>(
            self.clone(),
            kernel::time::msecs_to_jiffies(HEALTH_PERIOD_MS),
        );
    }

    /// The health check (C's PCI error handlers' `reset_prepare`/`reset_done`, which 7.3's
    /// `pci::Driver` cannot have): a live controller that is no longer ready, without having
    /// gone, was reset behind the driver's back (a function level reset through sysfs, a
    /// bus reset) or failed; its commands are lost, so reset it now rather than after an I/O
    /// timeout. Runs again until teardown.
    fn health_check(self: &Arc<Self>) {
        if self.state() == State::Live && self.registers_valid() {
            let csts = self.csts();
            // Read between two looks at the command register: a reset by the PCI core that
            // was under way when CSTS was read shows in one of them.
            if !csts.is_gone() && (!csts.rdy() || csts.cfs()) && self.registers_valid() {
                dev_warn!(
                    self.dev,
                    "controller {} (CSTS {:#x}): resetting it\n",
                    if csts.cfs() {
                        "failed"
                    } else {
                        "no longer ready"
                    },
                    csts.0
                );
                self.schedule_reset();
            }
        }
        if matches!(self.state(), State::Live | State::Resetting) {
            self.start_health_check();
        }
    }

    /// Resets the controller (the reset work): [`Self::disable_for_reset`], then
    /// [`Self::restart`]. Nothing unless the controller is live.
    fn reset(&self) {
        if self.disable_for_reset(None) {
            self.restart();
        }
    }

    /// Takes a live controller out of service until [`Self::nvme_restart`] brings it back, as
    /// the C driver's `nvme_disable_prepare_reset()` before a function reset (`reset_prepare`),
    /// after a fatal PCI error, and at system suspend: a reset under way finishes first, then
    /// [`Self::disable_for_reset`]. False when the controller was not live (dead, being torn
    /// down): nothing was done, and nothing is to be restarted.
    pub(crate) fn nvme_disable_prepare_reset(self: &Arc<Self>, shutdown: Option<Shutdown>) -> bool {
        // A reset work that was queued or running when we looked has the controller
        // resetting until it ends: wait for it and look again (twice at most: once it has
        // ended, only a reset the state allows, from live, can be queued).
        for _ in 0..3 {
            glue::cancel_arc_work::<_, 0>(self);
            if self.disable_for_reset(shutdown) {
                return true;
            }
            if self.state() != State::Resetting {
                return false;
            }
        }
        false
    }

    /// Live to resetting: dispatch stops (queued requests wait), the events pause, the
    /// controller is disabled and bus mastering turned off, and what was in flight is cancelled,
    /// to be issued again once the controller is back. With `shutdown` (system suspend), what
    /// the controller holds completes first (within [`Shutdown::drain_ms`]), then the I/O
    /// queues are deleted and the controller shut down normally (CC.SHN), so that it may lose
    /// power. False, doing nothing, unless the controller was live.
    fn disable_for_reset(&self, shutdown: Option<Shutdown>) -> bool {
        if self
            .state
            .compare_exchange(
                State::Live as u8,
                State::Resetting as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        if shutdown.is_none() {
            dev_warn!(self.dev, "resetting controller\n");
        }
        // Admin commands wait from here until the controller is back; one submitted already
        // completes, or is cancelled once the controller is disabled.
        self.admin.fence();
        let io = self.io.lock();
        let tagset = io.as_ref().and_then(|io| io.tagset);
        if let Some(t) = tagset {
            // SAFETY: the tag set is allocated while `io` holds it (type invariant).
            unsafe { t.quiesce() };
        }
        if let (Some(sd), Some(t)) = (shutdown, tagset) {
            self.drain(t, sd.drain_ms);
        }
        // The disabled controller drops the outstanding Asynchronous Event Requests: submit
        // none meanwhile, and submit them again once it is back.
        self.admin.pause_events();
        if let Some(sd) = shutdown {
            if let Some(io) = io.as_ref() {
                self.delete_io_queues(&io.queues);
            }
            self.shutdown(sd.shn_ms);
        }
        self.stop_dma();
        self.cancel_inflight(io.as_ref());
        self.admin.forget_events();
        true
    }

    /// Gives up on a controller that [`Self::nvme_disable_prepare_reset`] took out of service
    /// and that will not come back (the slot could not be reset): dead, its held admin
    /// commands and its waiting I/O failed at once. Nothing unless it is resetting.
    pub(crate) fn fail_disabled(&self, why: &str) {
        let io = self.io.lock();
        if self
            .state
            .compare_exchange(
                State::Resetting as u8,
                State::Dead as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        dev_err!(self.dev, "controller is dead ({}): failing its I/O\n", why);
        self.fail_held(io.as_ref());
    }

    /// The end of a controller that was out of service and is now dead (the caller set the
    /// state and holds the `io` lock, `io` being what it holds): DMA stopped, in-flight I/O
    /// and held admin commands failed, dispatch resumed so that waiting requests fail too.
    fn fail_held(&self, io: Option<&IoRefs>) {
        self.stop_dma();
        self.cancel_inflight(io);
        self.admin.stall();
        self.admin.unfence();
        if let Some(t) = io.and_then(|io| io.tagset) {
            // SAFETY: quiesced by `disable_for_reset`, and nothing else unquiesces it while the
            // controller was resetting; the caller holds the `io` lock, under which the tag set
            // is allocated.
            unsafe { t.unquiesce() };
        }
    }

    /// Brings back a controller that [`Self::nvme_disable_prepare_reset`] took out of service
    /// (after the function reset, the slot reset, the resume). Nothing unless it is resetting.
    pub(crate) fn nvme_restart(&self) {
        if self.state() == State::Resetting {
            self.restart();
        }
    }

    /// Resetting to live: the controller enabled again, its queues re-created, the events and
    /// dispatch resumed; or, when it cannot be brought back, dead, and its I/O failed.
    fn restart(&self) {
        let io = self.io.lock();
        match self.reinit(io.as_ref()) {
            Ok(online) => {
                // Held commands go on, then the event requests (their Set Features is one).
                self.admin.unfence();
                self.admin.resume_events();
                let tagset = io.as_ref().and_then(|io| io.tagset);
                // SAFETY: the tag set is allocated while `io` holds it (type invariant).
                let resize = tagset.filter(|t| unsafe { t.nr_hw_queues() } != online);
                if let Some(t) = resize {
                    self.resizing.store(true, Ordering::Release);
                    // SAFETY: quiesced by `disable_for_reset`; allocated (we hold the lock).
                    unsafe { t.unquiesce() };
                    drop(io);
                    self.resize(t, online);
                    self.resizing.store(false, Ordering::Release);
                }
                // A teardown that started meanwhile keeps its own state.
                let _ = self.state.compare_exchange(
                    State::Resetting as u8,
                    State::Live as u8,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                dev_info!(self.dev, "controller reset complete\n");
                if let (Some(t), None) = (tagset, resize) {
                    // SAFETY: quiesced by `disable_for_reset`; the tag set is still allocated
                    // (we hold the lock: it was not dropped without a resize).
                    unsafe { t.unquiesce() };
                }
            }
            Err(e) => {
                self.set_state(State::Dead);
                dev_err!(
                    self.dev,
                    "controller could not be reset ({:?}): failing its I/O\n",
                    e
                );
                self.fail_held(io.as_ref());
            }
        }
    }

    /// Waits, up to `ms`, until no request of `tagset` is in flight on the controller (its
    /// dispatch quiesced), as the C driver lets the controller complete what it holds before a
    /// shutdown (`nvme_wait_freeze_timeout()`): deleting the queues would abort it.
    fn drain(&self, tagset: TagSetRef<NvmeMq>, ms: u32) {
        let busy = || {
            let mut n = 0usize;
            // SAFETY: the caller holds the `io` lock, under which the tag set is allocated.
            unsafe { tagset.for_each_busy(|_| n += 1) };
            n
        };
        if let Err(e) = read_poll_timeout(
            || Ok(busy()),
            |n| *n == 0,
            Delta::from_millis(5),
            Delta::from_millis(i64::from(ms)),
        ) {
            dev_warn!(
                self.dev,
                "{} requests still in flight after {} ms ({:?}): cancelling them\n",
                busy(),
                ms,
                e
            );
        }
    }

    /// Gives the tag set `online` hardware queues after a reset that created that many (as the
    /// C driver's `nvme_pci_update_nr_queues()`), with dispatch running: requests on the
    /// contexts of queues the controller no longer has give their bios back (`queue_rq`), to
    /// be submitted again here once the maps point only at queues that exist.
    ///
    /// Called by [`Self::restart`] without the `io` lock (an I/O timeout meanwhile kills the
    /// controller, which takes it); the tag set stays allocated because teardown cancels the
    /// reset work, and the other callers of the restart run under the device lock, which
    /// excludes unbinding.
    fn resize(&self, t: TagSetRef<NvmeMq>, online: u32) {
        // SAFETY: see above for the allocation; dispatch was resumed by the caller, and no
        // lock that a completion or a timeout takes is held.
        let before = unsafe { t.nr_hw_queues() };
        // SAFETY: as above.
        unsafe { t.update_nr_hw_queues(online) };
        // SAFETY: as above.
        let after = unsafe { t.nr_hw_queues() };
        // The contexts of the queues beyond the new size are gone, and their tag arrays freed.
        if let Some(io) = self.io.lock().as_ref() {
            for q in io.queues.iter().skip(after as usize) {
                q.clear_tags();
            }
        }
        dev_info!(
            self.dev,
            "{} I/O queues after the reset (the controller granted fewer or more): hardware contexts {} -> {}\n",
            online,
            before,
            after
        );
        self.rerouted.resubmit();
    }

    /// A request reached the context of a queue the controller does not have (the reset
    /// that preceded the tag set's resize granted fewer): its bios are taken back, to be
    /// submitted again after the resize, and the request ends without them. Passthrough
    /// commands and flushes without data cannot be placed elsewhere: they fail with
    /// `BLK_STS_IOERR`, as C fails every request on such a queue.
    #[cold]
    pub(crate) fn reroute(&self, rq: OwnedRequest<'_, NvmeMq>) -> BlkStatus {
        if rq.is_passthrough() {
            return BlkStatus::IOERR;
        }
        // SAFETY: `rq` is in `queue_rq`, not started, and is ended right after.
        if unsafe { self.rerouted.steal_from(&rq) } {
            rq.end(BlkStatus::OK);
            BlkStatus::OK
        } else {
            BlkStatus::IOERR
        }
    }

    /// True while a restart waits for the tag set's resize (see [`Self::resize`]).
    pub(crate) fn resizing(&self) -> bool {
        self.resizing.load(Ordering::Acquire)
    }

    /// Enables the controller again and re-creates its I/O queues: as many as it grants now,
    /// in queue-id order (the polled queues, last, go first when it grants fewer). Returns how
    /// many were created.
    fn reinit(&self, io: Option<&IoRefs>) -> Result<u32> {
        // Whatever ran the controller meanwhile (the firmware, or a boot kernel before a
        // hibernation image is restored) may have left it enabled with queues of its own:
        // disabled first, before it may reach memory again. (One that keeps CSTS.CFS or
        // RDY is tried all the same: enabling it resets it, or fails below.)
        if let Err(ENODEV) = self.disable() {
            return Err(ENODEV);
        }
        // Bus mastering first, as the C driver's reset does (`nvme_pci_enable()`): a controller
        // that failed because it was cleared (blktests block/011 toggles it under I/O) could
        // otherwise not even fetch the admin commands below.
        // SAFETY: `dev` is the PCI function's device, and a reset runs only while the driver is
        // bound to it: teardown cancels the reset work before the driver lets go.
        unsafe { glue::pci_set_master_of(&self.dev) };
        self.admin.q.reset_rings();
        self.admin.restart();
        if let Some(b) = io.and_then(|io| io.dbbuf.as_ref()) {
            b.set_enabled(false);
            b.clear();
        }
        self.enable(&self.admin.q)?;
        let Some(io) = io else {
            return Ok(0);
        };
        // CAST: at most 1024 queues.
        let nr = io.queues.len() as u16;
        let granted = self.admin.set_queue_count(nr)?;
        if granted == 0 {
            dev_err!(
                self.dev,
                "the controller grants no I/O queue after the reset\n"
            );
            return Err(EIO);
        }
        if granted != nr {
            dev_warn!(
                self.dev,
                "the controller grants {} of our {} I/O queues after the reset\n",
                granted.min(nr),
                nr
            );
        }
        for (i, q) in io.queues.iter().enumerate() {
            q.reset_rings();
            let on = i < usize::from(granted);
            q.set_online(on);
            if on {
                self.admin.create_io_queue(q, !q.polled)?;
            }
        }
        if let Some(b) = &io.dbbuf {
            self.config_dbbuf(b);
        }
        Ok(u32::from(granted.min(nr)))
    }

    /// Hands the shadow doorbell pages to the controller (Doorbell Buffer Config); returns
    /// whether they are in use.
    pub(crate) fn config_dbbuf(&self, b: &DbBuf) -> bool {
        let (dbs, eis) = b.dma();
        match self.admin.submit_recovery(Command::dbbuf_config(dbs, eis)) {
            Ok(_) => {
                b.set_enabled(true);
                true
            }
            Err(e) => {
                dev_warn!(
                    self.dev,
                    "Doorbell Buffer Config failed ({}); using MMIO doorbells\n",
                    e.name()
                );
                false
            }
        }
    }

    /// Deletes I/O queues on the controller (before their memory is freed).
    pub(crate) fn delete_io_queues(&self, queues: &[Arc<Queue>]) {
        if self.is_dead() || self.csts().is_gone() {
            return;
        }
        for q in queues.iter().rev().filter(|q| q.is_online()) {
            if let Err(e) = self.admin.delete_io_queue(q.qid) {
                dev_warn!(
                    self.dev,
                    "deleting I/O queue {} failed: {}\n",
                    q.qid,
                    e.name()
                );
                return;
            }
        }
    }
}
