// SPDX-License-Identifier: GPL-2.0

//! PCI device helpers: the raw `struct device`/`struct pci_dev` behind the
//! `kernel` crate's devices, a device reference the I/O path dereferences without a call,
//! and bus mastering for a controller reset.
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use core::ptr::{
    self,
    NonNull, //
};
use kernel::{
    bindings,
    device,
    pci, //
};

/// Returns the raw `struct device` behind a driver-model device.
pub(in crate::glue) fn raw_dev<Ctx: device::DeviceContext>(
    dev: &device::Device<Ctx>,
) -> *mut bindings::device {
    // CAST: `device::Device` is `#[repr(transparent)]` over `Opaque<bindings::device>`, which is
    // `#[repr(transparent)]` over the C structure, so the pointers are the same address.
    ptr::from_ref(dev).cast::<bindings::device>().cast_mut()
}

/// A counted reference to a device, for the I/O path: dereferences without a call.
///
/// `ARef<Device>`'s `Deref` is not `#[inline]`, so in a module every `&*aref` is a call into the
/// kernel crate (two per I/O in `make profile`). This keeps the reference and a plain pointer
/// to the same device.
///
/// # Invariants
///
/// `ptr` points to the device that `_dev` holds a reference on.
pub(crate) struct DevRef {
    _dev: kernel::sync::aref::ARef<device::Device>,
    ptr: NonNull<device::Device>,
}

// SAFETY: `ARef<Device>` is `Send` and `Sync`; the pointer is the same device, used only for
// shared references.
unsafe impl Send for DevRef {}
// SAFETY: as above.
unsafe impl Sync for DevRef {}

impl DevRef {
    /// Takes a reference on `dev`.
    pub(crate) fn new(dev: &device::Device) -> Self {
        // INVARIANT: the pointer and the reference are to `dev`.
        Self {
            _dev: dev.into(),
            ptr: NonNull::from(dev),
        }
    }
}

impl core::ops::Deref for DevRef {
    type Target = device::Device;

    #[inline(always)]
    fn deref(&self) -> &device::Device {
        // SAFETY: `ptr` points to a device kept alive by `_dev` for as long as `self` lives
        // (type invariant).
        unsafe { self.ptr.as_ref() }
    }
}

/// Returns the raw `struct pci_dev` behind a PCI device.
pub(in crate::glue) fn raw_pdev<Ctx: device::DeviceContext>(
    pdev: &pci::Device<Ctx>,
) -> *mut bindings::pci_dev {
    // CAST: `pci::Device` is `#[repr(transparent)]` over `Opaque<bindings::pci_dev>`.
    ptr::from_ref(pdev).cast::<bindings::pci_dev>().cast_mut()
}

/// The `struct pci_dev` whose `dev` field is `dev`.
///
/// # Safety
///
/// `dev` must be the `struct device` of a PCI function.
unsafe fn pdev_of(dev: &device::Device) -> *mut bindings::pci_dev {
    // SAFETY: by the caller's guarantee `dev` is the `dev` field of a `struct pci_dev`.
    unsafe { kernel::container_of!(raw_dev(dev), bindings::pci_dev, dev) }
}

/// Turns bus mastering back on for the PCI function whose device is `dev`
/// (`pci_set_master()`), as a controller reset must: whatever stopped the controller may have
/// cleared it (a write to the command register, a function reset), and without it the
/// controller cannot reach memory, so not even the admin queue works.
///
/// # Safety
///
/// `dev` must be the `struct device` of a PCI function the driver is bound to, for the whole
/// call.
pub(crate) unsafe fn pci_set_master_of(dev: &device::Device) {
    // SAFETY: `dev` is a PCI function's device (the caller's guarantee).
    let pdev = unsafe { pdev_of(dev) };
    // SAFETY: `pdev` is a bound, hence enabled, PCI function; the call only sets the bus master
    // bit of its command register.
    unsafe { bindings::pci_set_master(pdev) };
}

/// Turns bus mastering off for the PCI function whose device is `dev` (`pci_clear_master()`):
/// the function can no longer read or write memory (nor signal MSI/MSI-X), whatever state the
/// device itself is in. Used before the driver gives up memory the device may still be using,
/// as the C driver's `pci_disable_device()` in `nvme_dev_disable()`.
///
/// # Safety
///
/// `dev` must be the `struct device` of a PCI function the driver is bound to, for the whole
/// call.
pub(crate) unsafe fn pci_clear_master_of(dev: &device::Device) {
    // SAFETY: `dev` is a PCI function's device (the caller's guarantee).
    let pdev = unsafe { pdev_of(dev) };
    // SAFETY: `pdev` is a bound PCI function; the call only clears the bus master bit of its
    // command register.
    unsafe { bindings::pci_clear_master(pdev) };
}

/// True when the PCI function whose device is `dev` decodes its memory space (the Memory
/// Space Enable bit of its command register, read from config space). The PCI core clears it
/// while it resets the function (`pci_reset_function()` saves the config space, disables the
/// function, resets it and restores it), so register reads meanwhile are not the device's.
///
/// # Safety
///
/// `dev` must be the `struct device` of a PCI function the driver is bound to, for the whole
/// call.
pub(crate) unsafe fn pci_memory_enabled_of(dev: &device::Device) -> bool {
    // SAFETY: `dev` is a PCI function's device (the caller's guarantee).
    let pdev = unsafe { pdev_of(dev) };
    let mut cmd: u16 = 0;
    // CAST: `PCI_COMMAND` is the config space offset 4.
    let at = bindings::PCI_COMMAND as i32;
    // SAFETY: `pdev` is a bound PCI function; `cmd` is valid for the write of one word.
    let err = unsafe { bindings::pci_read_config_word(pdev, at, &mut cmd) };
    // CAST: `PCI_COMMAND_MEMORY` is bit 1.
    err == 0 && cmd & (bindings::PCI_COMMAND_MEMORY as u16) != 0
}
