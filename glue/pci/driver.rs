// SPDX-License-Identifier: GPL-2.0

//! A PCI driver registration with the callbacks 7.3's `pci::Driver` lacks: `shutdown`, the
//! error handlers (`struct pci_error_handlers`: `reset_prepare`/`reset_done` around a
//! function or bus reset, `error_detected`/`slot_reset`/`resume` for AER) and system sleep
//! (`struct dev_pm_ops`: suspend/resume, and freeze/thaw/poweroff/restore for hibernation).
//!
//! [`Adapter`] stands in for `kernel::pci::Adapter`: it fills in the extra callbacks and then
//! hands the same `struct pci_driver` to the kernel's own adapter, which sets the probe and
//! remove callbacks, the id table, and registers it; the driver data is the kernel's
//! (`pci::Driver::Data`, stored by its probe, dropped after its unbind). Every extra callback
//! runs with the device lock held while the driver is bound (the PCI core and the PM core take
//! it and look up the bound driver first), as probe and unbind do: each gets the device in its
//! [`Core`] context and the driver data, as `unbind` does.
//!
//! C headers: [`include/linux/pci.h`](srctree/include/linux/pci.h),
//! [`include/linux/pm.h`](srctree/include/linux/pm.h)

use core::{
    ffi::c_int,
    marker::PhantomData, //
};
use kernel::{
    bindings,
    device::{
        self,
        Core,
        CoreInternal, //
    },
    driver,
    pci,
    prelude::*,
    types::Opaque,
    ThisModule, //
};

/// The channel state `error_detected` reports (`pci_channel_state_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ChannelState {
    /// I/O to the function still works (a non-fatal error).
    Normal,
    /// I/O to the function is blocked until the slot is reset (a fatal error).
    Frozen,
    /// The function is dead.
    PermFailure,
}

/// What an error handler asks of the recovery (`pci_ers_result_t`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ErsResult {
    /// The driver recovers on its own.
    CanRecover,
    /// The slot must be reset.
    NeedReset,
    /// The driver gives the function up.
    Disconnect,
    /// The driver is working again.
    Recovered,
}

impl ErsResult {
    fn into_raw(self) -> bindings::pci_ers_result_t {
        match self {
            Self::CanRecover => bindings::pci_ers_result_PCI_ERS_RESULT_CAN_RECOVER,
            Self::NeedReset => bindings::pci_ers_result_PCI_ERS_RESULT_NEED_RESET,
            Self::Disconnect => bindings::pci_ers_result_PCI_ERS_RESULT_DISCONNECT,
            Self::Recovered => bindings::pci_ers_result_PCI_ERS_RESULT_RECOVERED,
        }
    }
}

/// Which system sleep transition a PM callback is part of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sleep {
    /// Suspend to RAM or to idle (`suspend`/`resume`).
    Suspend,
    /// Hibernation, before and after the image is made (`freeze`/`thaw`).
    Freeze,
    /// Hibernation, before power-off after the image is saved, and when it is restored
    /// (`poweroff`/`restore`).
    Poweroff,
}

/// The callbacks a PCI driver has beyond `pci::Driver`'s. Each defaults to doing nothing (for
/// the error handlers: asking for a slot reset, and reporting recovery after it).
pub(crate) trait DriverExt: pci::Driver {
    /// The system restarts, halts, powers off or kexecs: quiesce the device.
    fn shutdown(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>) {}

    /// The PCI core is about to reset the function (`pci_reset_function()`, a bus reset):
    /// stop using it. Its config space is saved and restored around the reset.
    fn reset_prepare(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>) {}

    /// The reset announced by `reset_prepare` is done and config space restored.
    fn reset_done(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>) {}

    /// A PCI error was reported for the function (AER).
    fn error_detected(
        _pdev: &pci::Device<Core<'_>>,
        _this: Pin<&Self::Data<'_>>,
        _state: ChannelState,
    ) -> ErsResult {
        ErsResult::NeedReset
    }

    /// The slot was reset after an error.
    fn slot_reset(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>) -> ErsResult {
        ErsResult::Recovered
    }

    /// Error recovery is over: I/O may flow again.
    fn error_resume(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>) {}

    /// The system is going to sleep (`how`): stop the device so that it may lose power.
    fn suspend(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>, _how: Sleep) -> Result {
        Ok(())
    }

    /// The system woke from `how`: bring the device back.
    fn resume(_pdev: &pci::Device<Core<'_>>, _this: Pin<&Self::Data<'_>>, _how: Sleep) -> Result {
        Ok(())
    }
}

/// The registration of a [`DriverExt`] driver: `kernel::pci::Adapter` with the extra callbacks.
pub(crate) struct Adapter<T>(PhantomData<T>);

// SAFETY: as for `kernel::pci::Adapter`, whose layout this is:
// - `bindings::pci_driver` is a C type declared as `repr(C)`.
// - `T::Data` is the type of the driver's device private data (stored by the kernel adapter's
//   probe, which this registration uses).
// - `struct pci_driver` embeds a `struct device_driver` at `DEVICE_DRIVER_OFFSET`.
unsafe impl<T: DriverExt> driver::DriverLayout for Adapter<T> {
    type DriverType = bindings::pci_driver;
    type DriverData<'bound> = T::Data<'bound>;
    const DEVICE_DRIVER_OFFSET: usize = core::mem::offset_of!(Self::DriverType, driver);
}

// SAFETY: `unregister` is the kernel adapter's, valid after its `register` succeeded, which
// ours calls last.
unsafe impl<T: DriverExt + 'static> driver::RegistrationOps for Adapter<T> {
    unsafe fn register(
        pdrv: &Opaque<Self::DriverType>,
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> Result {
        // SAFETY: the fields of `struct pci_driver` may be set before it is registered; the
        // tables are statics, alive as long as the module.
        unsafe {
            (*pdrv.get()).shutdown = Some(Self::shutdown_callback);
            (*pdrv.get()).err_handler = &Self::ERR_HANDLERS;
            (*pdrv.get()).driver.pm = &Self::PM_OPS;
        }
        // SAFETY: `pdrv` stays pinned and valid until `unregister` (the caller's guarantee);
        // the kernel adapter sets the rest and registers the driver.
        unsafe { <pci::Adapter<T> as driver::RegistrationOps>::register(pdrv, name, module) }
    }

    unsafe fn unregister(pdrv: &Opaque<Self::DriverType>) {
        // SAFETY: registered by the kernel adapter in `register` (the caller's guarantee).
        unsafe { <pci::Adapter<T> as driver::RegistrationOps>::unregister(pdrv) }
    }
}

impl<T: DriverExt + 'static> Adapter<T> {
    const ERR_HANDLERS: bindings::pci_error_handlers = bindings::pci_error_handlers {
        error_detected: Some(Self::error_detected_callback),
        mmio_enabled: None,
        slot_reset: Some(Self::slot_reset_callback),
        reset_prepare: Some(Self::reset_prepare_callback),
        reset_done: Some(Self::reset_done_callback),
        resume: Some(Self::error_resume_callback),
        cor_error_detected: None,
    };

    const PM_OPS: bindings::dev_pm_ops = bindings::dev_pm_ops {
        suspend: Some(Self::pm_callback::<true, 0>),
        resume: Some(Self::pm_callback::<false, 0>),
        freeze: Some(Self::pm_callback::<true, 1>),
        thaw: Some(Self::pm_callback::<false, 1>),
        poweroff: Some(Self::pm_callback::<true, 2>),
        restore: Some(Self::pm_callback::<false, 2>),
        // SAFETY: all-zero is a valid `dev_pm_ops`: every other callback absent.
        ..unsafe { core::mem::zeroed() }
    };

    /// Runs `f` with the device and the driver data of the bound function `pdev`; `None` when
    /// no driver data is stored.
    ///
    /// # Safety
    ///
    /// `pdev` must be a PCI function this driver is bound to, with its device lock held, for
    /// the whole call (as the PCI and PM cores call the callbacks).
    unsafe fn with<R>(
        pdev: *mut bindings::pci_dev,
        f: impl FnOnce(&pci::Device<Core<'_>>, Pin<&T::Data<'_>>) -> R,
    ) -> Option<R> {
        // SAFETY: `pdev` is valid (the caller's guarantee).
        let raw = unsafe { &raw mut (*pdev).dev };
        // SAFETY: `raw` is a valid `struct device`.
        if unsafe { bindings::dev_get_drvdata(raw) }.is_null() {
            return None;
        }
        // SAFETY: `pci::Device` is `#[repr(transparent)]` over `struct pci_dev`, and a bound
        // function under its device lock is what the `Core` context stands for (the kernel
        // adapter's probe and unbind make the same cast).
        let pdev = unsafe { &*pdev.cast::<pci::Device<Core<'_>>>() };
        // SAFETY: `device::Device` is `#[repr(transparent)]` over `struct device`; the internal
        // context only gives access to the driver data, as the kernel adapter's unbind does.
        let dev = unsafe { &*raw.cast::<device::Device<CoreInternal<'_>>>() };
        // SAFETY: the driver data is set (checked above) by the kernel adapter's probe, as a
        // `T::Data` (this registration's `DriverData`), and stays until after unbind, which
        // cannot run while the device lock is held.
        let data = unsafe { dev.drvdata_borrow::<T::Data<'_>>() };
        Some(f(pdev, data))
    }

    extern "C" fn shutdown_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: `pci_device_shutdown()` calls this for the bound driver under the device
        // lock (`device_shutdown()`).
        unsafe { Self::with(pdev, |p, d| T::shutdown(p, d)) };
    }

    extern "C" fn reset_prepare_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: the PCI core calls the error handlers of the bound driver with the device
        // lock held (`pci_dev_lock()` around a reset).
        unsafe { Self::with(pdev, |p, d| T::reset_prepare(p, d)) };
    }

    extern "C" fn reset_done_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: as for `reset_prepare_callback`.
        unsafe { Self::with(pdev, |p, d| T::reset_done(p, d)) };
    }

    extern "C" fn error_detected_callback(
        pdev: *mut bindings::pci_dev,
        state: bindings::pci_channel_state_t,
    ) -> bindings::pci_ers_result_t {
        // CAST: the `pci_channel_state` constants are small positive numbers.
        let state = match state {
            s if s == bindings::pci_channel_io_normal as bindings::pci_channel_state_t => {
                ChannelState::Normal
            }
            s if s == bindings::pci_channel_io_frozen as bindings::pci_channel_state_t => {
                ChannelState::Frozen
            }
            _ => ChannelState::PermFailure,
        };
        // SAFETY: the AER recovery calls the error handlers of the bound driver with the device
        // lock held (`report_error_detected()`).
        unsafe { Self::with(pdev, |p, d| T::error_detected(p, d, state)) }
            .unwrap_or(ErsResult::Disconnect)
            .into_raw()
    }

    extern "C" fn slot_reset_callback(pdev: *mut bindings::pci_dev) -> bindings::pci_ers_result_t {
        // SAFETY: as for `error_detected_callback`.
        unsafe { Self::with(pdev, |p, d| T::slot_reset(p, d)) }
            .unwrap_or(ErsResult::Disconnect)
            .into_raw()
    }

    extern "C" fn error_resume_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: as for `error_detected_callback`.
        unsafe { Self::with(pdev, |p, d| T::error_resume(p, d)) };
    }

    /// The six system sleep callbacks: `SUSPEND` for the way down, `HOW` the transition
    /// (0: suspend/resume, 1: freeze/thaw, 2: poweroff/restore).
    extern "C" fn pm_callback<const SUSPEND: bool, const HOW: u8>(
        dev: *mut bindings::device,
    ) -> c_int {
        let how = match HOW {
            0 => Sleep::Suspend,
            1 => Sleep::Freeze,
            _ => Sleep::Poweroff,
        };
        // SAFETY: the PCI bus's PM callbacks call the driver's only for PCI functions, so `dev`
        // is the `dev` field of a `struct pci_dev`.
        let pdev = unsafe { kernel::container_of!(dev, bindings::pci_dev, dev) };
        // SAFETY: the PM core calls the callbacks of the bound driver under the device lock.
        let r = unsafe {
            Self::with(pdev, |p, d| {
                if SUSPEND {
                    T::suspend(p, d, how)
                } else {
                    T::resume(p, d, how)
                }
            })
        };
        match r {
            Some(Err(e)) => e.to_errno(),
            _ => 0,
        }
    }
}

/// Restores the saved config space of `pdev` (`pci_restore_state()`), as a driver does after
/// a slot reset.
pub(crate) fn pci_restore_state(pdev: &pci::Device<Core<'_>>) {
    // SAFETY: `pdev` is a valid PCI function, whose device lock its `Core` context holds.
    unsafe { bindings::pci_restore_state(crate::glue::device::raw_pdev(pdev)) };
}

/// A kernel module of one [`DriverExt`] PCI driver (`module_pci_driver!` with [`Adapter`]).
macro_rules! module_pci_driver_ext {
    ($($f:tt)*) => {
        ::kernel::module_driver!(<T>, $crate::glue::pci::driver::Adapter<T>, { $($f)* });
    };
}
pub(crate) use module_pci_driver_ext;
