// SPDX-License-Identifier: GPL-2.0

//! What asynchronous events lead to: the handler the admin queue's event work calls
//! ([`crate::admin::AsyncEvents`]). It reads the log page each event names (which clears the
//! event at the controller), logs SMART / Health warnings and namespace notices, and on a
//! Namespace Attribute Changed notice, or after a controller reset, rescans the namespaces
//! ([`crate::scan`]). It also runs the admin commands that change namespaces for passthrough.

use kernel::{
    device,
    dma::Coherent,
    fmt, new_mutex,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};

use crate::{
    admin::{
        AdminError,
        AdminQueue,
        AsyncEvents, //
    },
    nvme::{
        aen::{
            aec_dw11,
            critical_warnings,
            smart_critical_warning,
            AerOutcome,
            AsyncEvent,
            ChangedNs, //
        },
        cmd::Completion,
        ident::IdCtrl,
    },
    scan::NsScan,
};

/// Bytes of the log page buffer: the largest log an event names (Changed Namespace List).
const LOG_BUF: usize = 4096;

/// The asynchronous event handler of one controller.
#[pin_data]
pub(crate) struct Events {
    /// The PCI device, for messages.
    dev: ARef<device::Device>,
    /// The log page buffer; the lock keeps one reader at a time (the event work runs alone,
    /// but the buffer is the device's to write while a Get Log Page runs).
    #[pin]
    log: Mutex<Coherent<[u8]>>,
    /// The controller's namespaces, rescanned on a Namespace Attribute Changed notice.
    scan: Arc<NsScan>,
}

impl Events {
    /// Starts asynchronous events on a controller that has just come up, with `scan` rescanned
    /// on namespace changes. Call once, when nothing can fail any more.
    pub(crate) fn start(
        admin: &AdminQueue,
        dev: &device::Device<device::Bound>,
        idc: &IdCtrl,
        scan: Arc<NsScan>,
    ) -> Result {
        let log = Coherent::<u8>::zeroed_slice(dev, LOG_BUF, GFP_KERNEL)?;
        let events = Arc::pin_init(
            pin_init!(Self {
                dev: ARef::from(&**dev),
                log <- new_mutex!(log, "rust_nvme_aen_log"),
                scan,
            }),
            GFP_KERNEL,
        )?;
        let aec = aec_dw11(idc.oaes);
        if let Err(e) = admin.start_events(events, idc.aerl, aec) {
            dev_warn!(
                dev,
                "Set Features (Asynchronous Event Configuration {:#x}) failed: {}\n",
                aec,
                e.name()
            );
        }
        Ok(())
    }
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

impl AsyncEvents for Events {
    fn report(&self, admin: &AdminQueue, events: &[AerOutcome]) -> bool {
        let mut changed = false;
        for outcome in events {
            match *outcome {
                AerOutcome::Event(ev) => {
                    changed |= ev.is_ns_changed() || ev.is_ana_change();
                    self.report_one(admin, ev);
                }
                AerOutcome::Aborted => {}
                AerOutcome::Refused(st) => dev_warn!(
                    self.dev,
                    "Asynchronous Event Request refused ({}): one request less\n",
                    st.name()
                ),
            }
        }
        changed
    }

    fn namespaces_changed(&self, admin: &AdminQueue) {
        if let Err(e) = self.scan.rescan(admin, true) {
            dev_warn!(self.dev, "namespace rescan failed: {:?}\n", e);
        }
    }

    fn rescan(&self, admin: &AdminQueue) -> Result {
        self.scan.rescan(admin, true).map(|_| ())
    }

    fn run_changing(
        &self,
        admin: &AdminQueue,
        freeze: bool,
        cmd: &mut dyn FnMut() -> Result<Completion, AdminError>,
    ) -> Result<Result<Completion, AdminError>> {
        self.scan.run_changing(admin, freeze, cmd)
    }
}

impl Events {
    /// Reads the log page `ev` names (which clears the event) and logs the event.
    fn report_one(&self, admin: &AdminQueue, ev: AsyncEvent) {
        let buf = self.log.lock();
        let log = match ev.log_len() {
            Some(len) => match admin.get_log_page(&buf, ev.log_page, len) {
                // SAFETY: the command completed, so the device no longer writes the buffer,
                // and only this work (under the lock) uses it.
                Ok(()) => Some(unsafe { buf.as_ref() }),
                Err(e) => {
                    dev_warn!(
                        self.dev,
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
                    self.dev,
                    "asynchronous event ({}): critical warning {:#04x}: {}\n",
                    ev.name(),
                    cw,
                    Warnings(cw)
                ),
                _ => dev_warn!(self.dev, "asynchronous event ({})\n", ev.name()),
            }
        } else if ev.is_ns_changed() {
            match log {
                Some(log) => dev_info!(
                    self.dev,
                    "asynchronous event ({}): namespaces {}\n",
                    ev.name(),
                    Changed(ChangedNs::parse(log))
                ),
                None => dev_info!(self.dev, "asynchronous event ({})\n", ev.name()),
            }
        } else {
            dev_info!(
                self.dev,
                "asynchronous event ({}): info {:#04x}, log page {:#04x}\n",
                ev.name(),
                ev.info,
                ev.log_page
            );
        }
    }
}
