// SPDX-License-Identifier: GPL-2.0

//! A hard-interrupt handler registered on one vector (`request_irq()`/`free_irq()`),
//! running with the interrupt-disabled token the queue locks take.
//!
//! C header: [`include/linux/interrupt.h`](srctree/include/linux/interrupt.h)

use crate::glue::kver::{
    self,
    LocalInterruptDisabled, //
};
use crate::glue::pci::irq::{
    IrqKind,
    IrqVectors, //
};
use core::{
    ffi::c_void,
    ptr, //
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    str::CStr,
    sync::Arc, //
};

/// A hard-interrupt handler.
pub(crate) trait Handler: Sync + Send {
    /// Handles one interrupt; returns true when it was ours. `irqs_off` proves that local
    /// interrupts are disabled, so IRQ-safe locks can be taken without disabling them again.
    fn handle(&self, irqs_off: &LocalInterruptDisabled) -> bool;
}

/// A handler registered on one vector of an [`IrqVectors`] (`request_irq()`/`free_irq()`).
///
/// # Invariants
///
/// `handler` is registered on `irq` with its own address as the cookie until `Drop`.
pub(crate) struct IrqHandler<H: Handler> {
    irq: u32,
    handler: Pin<KBox<H>>,
    _vectors: Arc<IrqVectors>,
}

impl<H: Handler> IrqHandler<H> {
    /// Registers `handler` on vector `index` under `name`.
    pub(crate) fn new(
        vectors: &Arc<IrqVectors>,
        index: u32,
        name: &'static CStr,
        handler: H,
    ) -> Result<Self> {
        let irq = vectors.irq(index)?;
        let handler = KBox::pin(handler, GFP_KERNEL)?;
        let cookie = ptr::from_ref::<H>(&handler).cast_mut().cast::<c_void>();
        let flags: usize = if vectors.kind() == IrqKind::Intx {
            // CAST: `IRQF_*` flags are small constants.
            bindings::IRQF_SHARED as usize
        } else {
            0
        };
        // SAFETY: `cookie` points to a pinned `H` that stays valid until `free_irq` in `Drop`;
        // `name` is static; `irq_callback::<H>` matches the cookie's type.
        to_result(unsafe {
            bindings::request_irq(
                irq,
                Some(irq_callback::<H>),
                flags,
                name.as_char_ptr(),
                cookie,
            )
        })?;
        // INVARIANT: registered above.
        Ok(Self {
            irq,
            handler,
            _vectors: vectors.clone(),
        })
    }

    /// Waits for running instances of the handler to finish (`synchronize_irq()`).
    pub(crate) fn synchronize(&self) {
        // SAFETY: `irq` is a registered interrupt (type invariant).
        unsafe { bindings::synchronize_irq(self.irq) };
    }

    /// The registered handler.
    pub(crate) fn handler(&self) -> &H {
        &self.handler
    }
}

impl<H: Handler> Drop for IrqHandler<H> {
    fn drop(&mut self) {
        let cookie = ptr::from_ref::<H>(&self.handler)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: registered with this cookie (type invariant); `free_irq` waits for running
        // handlers, so the handler is not used after this returns.
        unsafe { bindings::free_irq(self.irq, cookie) };
    }
}

/// # Safety
///
/// Only registered by [`IrqHandler::new`], with a cookie pointing to a live `H`.
unsafe extern "C" fn irq_callback<H: Handler>(
    _irq: i32,
    cookie: *mut c_void,
) -> bindings::irqreturn_t {
    // SAFETY: the cookie is a pinned `H` that outlives the registration.
    let handler = unsafe { &*cookie.cast::<H>() };
    // SAFETY: this is a hard interrupt handler (registered with `request_irq`, without
    // `IRQF_NO_THREAD` games: a force-threaded handler also runs with interrupts disabled on
    // kernels other than PREEMPT_RT, where spinlocks do not disable them anyway), so local
    // interrupts stay disabled until it returns.
    let irqs_off = unsafe { LocalInterruptDisabled::assume_disabled() };
    if handler.handle(irqs_off) {
        kver::IRQ_HANDLED
    } else {
        kver::IRQ_NONE
    }
}
