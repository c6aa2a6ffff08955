// SPDX-License-Identifier: GPL-2.0

//! Asynchronous events: the Asynchronous Event Requests kept outstanding on the admin queue,
//! and the work that handles their completions.
//!
//! Up to [`MAX_AERS`] requests (AERL + 1 at most) stay with the controller, each in a slot with
//! a command identifier of its own that synchronous admin commands never use, so an event never
//! counts against or completes the one synchronous command. A slot is free, outstanding,
//! completed (its completion stored by the interrupt handler for the work) or retired (the
//! controller refused it). The work reads the log page each event names, which clears the
//! event at the controller, logs SMART / Health warnings, submits the requests again and, on a
//! Namespace Attribute Changed notice, rescans the namespaces ([`crate::scan`]).
//!
//! A controller reset pauses submission; the requests the disabled controller dropped become
//! free and are submitted again, with the event configuration, once it is back. Teardown stops
//! the events, waits for the work, and leaves the outstanding requests to be abandoned when the
//! controller is shut down.

use core::sync::atomic::{
    AtomicBool,
    AtomicU64,
    Ordering, //
};

use kernel::{
    device,
    dma::Coherent,
    fmt, impl_has_work, new_mutex, new_spinlock,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex,
        SpinLock, //
    },
    workqueue::WorkItem,
};

use crate::{
    admin::AdminQueue,
    glue,
    nvme::{
        aen::{
            aec_dw11,
            aer_cid,
            aer_count,
            aer_outcome,
            aer_slot,
            critical_warnings,
            smart_critical_warning,
            AerOutcome,
            AsyncEvent,
            ChangedNs,
            MAX_AERS, //
        },
        cmd::{
            self,
            Command,
            Completion, //
        },
        ident::IdCtrl,
    },
    scan::NsScan,
};

/// Slot state: no request with the controller.
const FREE: u64 = 0;
/// Slot state: the request is with the controller.
const OUTSTANDING: u64 = 1;
/// Slot state: the controller refused the request; it is not submitted again.
const RETIRED: u64 = 2;
/// Slot state flag: completed, with the status word in bits 47:32 and Dword 0 in bits 31:0.
const COMPLETED: u64 = 1 << 63;

/// Bytes of the log page buffer: the largest log an event names (Changed Namespace List).
const LOG_BUF: usize = 4096;

/// What submission depends on.
struct Submit {
    /// Requests may be submitted: the controller is live and not being torn down.
    running: bool,
    /// Slots in use (AERL + 1, capped); 0 until the events are started.
    count: usize,
    /// Asynchronous Event Configuration to set whenever the controller (re)starts.
    aec: u32,
}

/// What the work needs, from [`AdminQueue::start_events`] until teardown.
struct Ctx {
    /// The PCI device, for messages.
    dev: ARef<device::Device>,
    /// The log page buffer.
    log: Coherent<[u8]>,
    /// The controller's namespaces, rescanned on a Namespace Attribute Changed notice.
    scan: Arc<NsScan>,
}

/// The asynchronous event state of an admin queue.
#[pin_data]
pub(crate) struct Aen {
    /// One state per slot: [`FREE`], [`OUTSTANDING`], [`RETIRED`] or a [`COMPLETED`] entry.
    slots: [AtomicU64; MAX_AERS],
    /// Teardown started: completions queue no more work, and the work does nothing.
    stopped: AtomicBool,
    /// The work is to rescan the namespaces even without a notice (after a controller reset,
    /// which may have hidden one).
    rescan_asked: AtomicBool,
    /// Serialises submissions with pausing and resuming.
    #[pin]
    submit: SpinLock<Submit>,
    #[pin]
    ctx: Mutex<Option<Ctx>>,
}

impl Aen {
    /// No events yet: every slot free, nothing submitted until [`AdminQueue::start_events`].
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            slots: [const { AtomicU64::new(FREE) }; MAX_AERS],
            stopped: AtomicBool::new(false),
            rescan_asked: AtomicBool::new(false),
            submit <- new_spinlock!(
                Submit {
                    running: false,
                    count: 0,
                    aec: 0,
                },
                "rust_nvme_aer_submit"
            ),
            ctx <- new_mutex!(None, "rust_nvme_aen_ctx"),
        })
    }
}

impl_has_work! {
    impl HasWork<Self> for AdminQueue { self.aen_work }
}

impl WorkItem for AdminQueue {
    type Pointer = Arc<AdminQueue>;

    fn run(this: Arc<AdminQueue>) {
        this.handle_events();
    }
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

/// Lists the meanings of a Critical Warning byte, comma separated.
struct Warnings(u8);

impl fmt::Display for Warnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in critical_warnings(self.0).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

/// Lists the namespaces of a Changed Namespace List log, comma separated.
struct Changed<'a>(ChangedNs<'a>);

impl fmt::Display for Changed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ChangedNs::Many = self.0 {
            return f.write_str("more than 1024");
        }
        for (i, nsid) in self.0.nsids().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", nsid)?;
        }
        Ok(())
    }
}

impl AdminQueue {
    /// Takes the completion of an Asynchronous Event Request, from the completion path
    /// (interrupt or recovery polling), and queues the work for it. Anything else (a late
    /// completion of a timed-out command) is dropped.
    pub(crate) fn aer_completed(self: &Arc<Self>, cqe: &Completion) {
        let Some(slot) = aer_slot(cqe.command_id()) else {
            return;
        };
        // Only an outstanding request completes; a stray entry with its identifier is dropped.
        if self.aen.slots[slot]
            .compare_exchange(
                OUTSTANDING,
                stored(cqe),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
            && !self.aen.stopped.load(Ordering::Acquire)
        {
            let _ = glue::system_dfl_wq().enqueue(self.clone());
        }
    }

    /// Submits a request in every free slot, when submission is allowed.
    fn submit_aers(&self) {
        let sub = self.aen.submit.lock();
        if !sub.running {
            return;
        }
        for slot in 0..sub.count {
            if self.aen.slots[slot]
                .compare_exchange(FREE, OUTSTANDING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let mut c = Command::async_event();
                c.set_cid(aer_cid(slot));
                self.q.submit(&c, true);
            }
        }
    }

    /// Starts asynchronous events on a controller that has just come up: `scan` is rescanned
    /// on namespace changes. Call once, when nothing can fail any more.
    pub(crate) fn start_events(
        &self,
        dev: &device::Device<device::Bound>,
        idc: &IdCtrl,
        scan: Arc<NsScan>,
    ) -> Result {
        let log = Coherent::<u8>::zeroed_slice(dev, LOG_BUF, GFP_KERNEL)?;
        *self.aen.ctx.lock() = Some(Ctx {
            dev: ARef::from(&**dev),
            log,
            scan,
        });
        // Enable the events the controller offers, then hand it the requests.
        let aec = aec_dw11(idc.oaes);
        if let Err(e) = self.set_features(cmd::FEAT_ASYNC_EVENT, aec) {
            dev_warn!(
                dev,
                "Set Features (Asynchronous Event Configuration {:#x}) failed: {}\n",
                aec,
                e.name()
            );
        }
        {
            let mut sub = self.aen.submit.lock();
            sub.count = aer_count(idc.aerl);
            sub.aec = aec;
            sub.running = true;
        }
        self.submit_aers();
        Ok(())
    }

    /// Stops submitting requests: the controller is about to be disabled (reset) or is dead.
    pub(crate) fn pause_events(&self) {
        self.aen.submit.lock().running = false;
    }

    /// Forgets the requests a disabled controller dropped; call after its completions were
    /// reaped. Completed slots stay for the work.
    pub(crate) fn forget_events(&self) {
        for slot in &self.aen.slots {
            let _ = slot.compare_exchange(OUTSTANDING, FREE, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// After a controller reset: sets the event configuration again, resubmits the requests
    /// and has the work rescan the namespaces (a notice may have been lost meanwhile, or a
    /// rescan failed).
    pub(crate) fn resume_events(self: &Arc<Self>) {
        let aec = {
            let sub = self.aen.submit.lock();
            if sub.count == 0 || self.aen.stopped.load(Ordering::Acquire) {
                return;
            }
            sub.aec
        };
        let _ = self.set_features(cmd::FEAT_ASYNC_EVENT, aec);
        {
            let mut sub = self.aen.submit.lock();
            if self.aen.stopped.load(Ordering::Acquire) {
                return;
            }
            sub.running = true;
        }
        self.submit_aers();
        self.aen.rescan_asked.store(true, Ordering::Release);
        let _ = glue::system_dfl_wq().enqueue(self.clone());
    }

    /// Teardown, first step: no more submissions, no more work queued, the work does nothing.
    /// The caller then waits for running interrupt handlers and calls
    /// [`AdminQueue::flush_events`].
    pub(crate) fn stop_events(&self) {
        self.aen.stopped.store(true, Ordering::Release);
        self.pause_events();
    }

    /// Teardown, second step: waits for the work and drops what it used (the namespaces).
    pub(crate) fn flush_events(&self) {
        glue::cancel_work_sync(&self.aen_work);
        let ctx = self.aen.ctx.lock().take();
        drop(ctx);
    }

    /// The controller's namespaces, once scanning runs and until teardown.
    pub(crate) fn scan(&self) -> Option<Arc<NsScan>> {
        self.aen.ctx.lock().as_ref().map(|c| c.scan.clone())
    }

    /// `NVME_IOCTL_RESCAN`: scans the namespaces now.
    pub(crate) fn rescan(&self) -> Result {
        self.scan().ok_or(ENODEV)?.rescan(self, true).map(|_| ())
    }

    /// The work: handles every completed request, submits them again, rescans when a
    /// namespace changed.
    fn handle_events(&self) {
        if self.aen.stopped.load(Ordering::Acquire) {
            return;
        }
        let ctx = self.aen.ctx.lock();
        let Some(ctx) = ctx.as_ref() else {
            return;
        };
        let mut rescan = self.aen.rescan_asked.swap(false, Ordering::AcqRel);
        for slot in &self.aen.slots {
            let v = slot.load(Ordering::Acquire);
            if v & COMPLETED == 0 {
                continue;
            }
            let next = match aer_outcome(&unstored(v)) {
                AerOutcome::Event(ev) => {
                    rescan |= ev.is_ns_changed();
                    self.report(ctx, ev);
                    FREE
                }
                AerOutcome::Aborted => FREE,
                AerOutcome::Refused(st) => {
                    dev_warn!(
                        ctx.dev,
                        "Asynchronous Event Request refused ({}): one request less\n",
                        st.name()
                    );
                    RETIRED
                }
            };
            let _ = slot.compare_exchange(v, next, Ordering::AcqRel, Ordering::Acquire);
        }
        self.submit_aers();
        if rescan && !self.aen.stopped.load(Ordering::Acquire) {
            if let Err(e) = ctx.scan.rescan(self, true) {
                dev_warn!(ctx.dev, "namespace rescan failed: {:?}\n", e);
            }
        }
    }

    /// Reads the log page `ev` names (which clears the event) and logs the event.
    fn report(&self, ctx: &Ctx, ev: AsyncEvent) {
        let log = match ev.log_len() {
            Some(len) => match self.get_log_page(&ctx.log, ev.log_page, len) {
                // SAFETY: the command completed, so the device no longer writes the buffer,
                // and only this work (under the context lock) uses it.
                Ok(()) => Some(unsafe { ctx.log.as_ref() }),
                Err(e) => {
                    dev_warn!(
                        ctx.dev,
                        "asynchronous event ({}): Get Log Page {:#04x} failed: {}\n",
                        ev.name(),
                        ev.log_page,
                        e.name()
                    );
                    None
                }
            },
            None => None,
        };
        if ev.is_smart() {
            match log.and_then(smart_critical_warning) {
                Some(cw) if cw != 0 => dev_warn!(
                    ctx.dev,
                    "asynchronous event ({}): critical warning {:#04x}: {}\n",
                    ev.name(),
                    cw,
                    Warnings(cw)
                ),
                _ => dev_warn!(ctx.dev, "asynchronous event ({})\n", ev.name()),
            }
        } else if ev.is_ns_changed() {
            match log {
                Some(log) => dev_info!(
                    ctx.dev,
                    "asynchronous event ({}): namespaces {}\n",
                    ev.name(),
                    Changed(ChangedNs::parse(log))
                ),
                None => dev_info!(ctx.dev, "asynchronous event ({})\n", ev.name()),
            }
        } else {
            dev_info!(
                ctx.dev,
                "asynchronous event ({}): info {:#04x}, log page {:#04x}\n",
                ev.name(),
                ev.info,
                ev.log_page
            );
        }
    }
}
