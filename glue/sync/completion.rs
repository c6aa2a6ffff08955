// SPDX-License-Identifier: GPL-2.0

//! A one-shot event waited for with a timeout (`struct completion`). Upstream's
//! `sync::Completion` has no timed wait in 7.3.
//!
//! C header: [`include/linux/completion.h`](srctree/include/linux/completion.h)

use kernel::{
    bindings,
    prelude::*,
    types::Opaque, //
};

/// A one-shot event a task waits for with a timeout (`struct completion`).
///
/// # Invariants
///
/// `inner` is initialised by `init_completion` before first use.
#[pin_data]
pub(crate) struct Waiter {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: `struct completion` is designed to be signalled and waited on from any thread.
unsafe impl Send for Waiter {}
// SAFETY: as above.
unsafe impl Sync for Waiter {}

impl Waiter {
    /// Creates an unsignalled waiter.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes; `init_completion` initialises it in place.
            inner <- Opaque::ffi_init(|slot: *mut bindings::completion| unsafe {
                bindings::init_completion(slot)
            }),
        })
    }

    /// Re-arms the waiter; nobody may wait on or signal it concurrently.
    pub(crate) fn rearm(&self) {
        // SAFETY: the completion is initialised (type invariant); callers guarantee exclusive use
        // while re-arming, which is what re-initialising requires.
        unsafe { bindings::init_completion(self.inner.get()) };
    }

    /// Signals the waiter; callable from hard interrupt context.
    pub(crate) fn complete(&self) {
        // SAFETY: the completion is initialised (type invariant).
        unsafe { bindings::complete(self.inner.get()) };
    }

    /// Sleeps until signalled or `ms` milliseconds pass; true when signalled.
    pub(crate) fn wait_timeout(&self, ms: u32) -> bool {
        // SAFETY: plain arithmetic on an integer.
        let jiffies = unsafe { bindings::__msecs_to_jiffies(ms) };
        // SAFETY: the completion is initialised (type invariant); this may sleep, and callers
        // are in process context.
        unsafe { bindings::wait_for_completion_timeout(self.inner.get(), jiffies) != 0 }
    }
}
