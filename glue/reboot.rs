// SPDX-License-Identifier: GPL-2.0

//! A reboot notifier (`register_reboot_notifier()`): a callback the kernel makes before it
//! restarts, halts or powers off (and before a kexec), ahead of the devices' own shutdown.
//! Linux 7.3's `pci::Driver` has no `shutdown` callback, and the `kernel` crate no notifier
//! abstraction; `linux/reboot.h` is not in its bindings either, so the two functions are
//! declared here (both exported to modules).
//!
//! C header: [`include/linux/reboot.h`](srctree/include/linux/reboot.h)

use core::ffi::{
    c_int,
    c_void, //
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    types::Opaque, //
};

extern "C" {
    fn register_reboot_notifier(nb: *mut bindings::notifier_block) -> c_int;
    fn unregister_reboot_notifier(nb: *mut bindings::notifier_block) -> c_int;
}

/// What a [`RebootNotifier`] calls.
pub(crate) trait RebootHandler: Send + Sync {
    /// The system is about to restart, halt or power off: quiesce the device. Process
    /// context; may sleep.
    fn reboot(&self);
}

/// A registered reboot notifier, unregistered on drop.
///
/// # Invariants
///
/// `nb` is registered with `register_reboot_notifier()` while `self` exists, with
/// [`RebootNotifier::callback`], which finds `handler` from it.
#[pin_data(PinnedDrop)]
pub(crate) struct RebootNotifier<H: RebootHandler> {
    handler: H,
    #[pin]
    nb: Opaque<bindings::notifier_block>,
}

// SAFETY: the notifier block is only touched by the notifier chain, under its own lock; the
// handler is `Send + Sync`.
unsafe impl<H: RebootHandler> Send for RebootNotifier<H> {}
// SAFETY: as above.
unsafe impl<H: RebootHandler> Sync for RebootNotifier<H> {}

impl<H: RebootHandler> RebootNotifier<H> {
    /// Registers `handler`, called at every restart, halt and power off until this is dropped.
    pub(crate) fn new(handler: H) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // Before the registration below: the callback may run as soon as it is done.
            handler,
            nb <- Opaque::try_ffi_init(|nb: *mut bindings::notifier_block| {
                // SAFETY: `nb` is valid for writes and pinned; it is filled in before it is
                // registered, and stays registered until `drop`.
                unsafe {
                    nb.write(pin_init::zeroed());
                    (*nb).notifier_call = Some(Self::callback);
                    to_result(register_reboot_notifier(nb))
                }
            }),
        })
    }

    /// # Safety
    ///
    /// Called by the reboot notifier chain only, with a block registered by
    /// [`RebootNotifier::new`].
    unsafe extern "C" fn callback(
        nb: *mut bindings::notifier_block,
        _action: usize,
        _data: *mut c_void,
    ) -> c_int {
        // SAFETY: `nb` is the `nb` field of a live `RebootNotifier<H>` (type invariant: it is
        // unregistered before it goes), whose `handler` was initialised before registration.
        let this = unsafe {
            &*kernel::container_of!(nb.cast::<Opaque<bindings::notifier_block>>(), Self, nb)
        };
        this.handler.reboot();
        // CAST: `NOTIFY_DONE` is 0.
        bindings::NOTIFY_DONE as c_int
    }
}

#[pinned_drop]
impl<H: RebootHandler> PinnedDrop for RebootNotifier<H> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `new` (type invariant); after this returns the chain no longer
        // calls it (the chain's lock orders the removal with running callbacks).
        unsafe { unregister_reboot_notifier(self.nb.get()) };
    }
}
