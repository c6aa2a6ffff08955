// SPDX-License-Identifier: GPL-2.0

//! The one place for the differences between the kernels the driver builds against.
//!
//! The driver is written against Linux 7.3's `kernel` crate. For 7.2, Kbuild passes
//! `--cfg rnvme_kver_7_2` (the kernel sets cfgs from Kconfig only), and this module supplies
//! what 7.2 lacks or spells differently, under the same names, so the rest of the driver has no
//! `cfg` of its own. On 7.3 every item here is the kernel's own, re-exported or forwarded.
//!
//! What 7.2 lacks or spells differently:
//!
//! - `kernel::interrupt::LocalInterruptDisabled`, `SpinLockIrq` and `new_spinlock_irq!` (7.2 has
//!   neither the Rust types nor C's `spin_lock_irq_disable()`): [`SpinLockIrq`] here takes the
//!   lock with `spin_lock_irqsave()`, from any context.
//! - `kernel::sync::barrier::{mb, dma_mb}` (7.2 has `smp_*` only): `glue::sync::barrier` issues
//!   x86-64's instructions on both kernels.
//! - I/O: 7.3 types a mapping as `MmioRaw<Region<N>>` with `Mmio<'_, Region<N>>` views, 7.2 as
//!   `MmioRaw<N>` with `&Mmio<N>`: [`Regs`], [`RegsIo`], [`regs_new`], [`regs_io`],
//!   [`bar_base`] and [`bar_len`].
//! - `Coherent::dma_address()` is `dma_handle()` in 7.2: [`dma_address`].
//! - `PinInit::__init` is `__pinned_init` in 7.2: [`init_at`].
//! - `pci::Driver::probe` gets `Option<&IdInfo>` in 7.3, `&IdInfo` in 7.2: [`PciIdInfo`]; and 7.2's
//!   `pci_device_table!` wants a name for the module's alias table: [`pci_device_table!`].
//! - Module parameters: 7.2's `module!` has no `bool` parameters and its `value()` returns a
//!   reference: [`module_pci_driver!`] declares 7.2's parameters itself, with C's parameter ops.
//!   The driver reads them as `module_params::NAME.value()` on both (7.2's `module!` always
//!   defines an empty `module_parameters`, so that name cannot be reused).
//! - `EOPNOTSUPP` is not among 7.2's error codes: [`eopnotsupp`].
//! - Raw bindings used by the glue: `dma_data_direction` and `irqreturn` are bindgen newtype enums
//!   in 7.3 and plain constants in 7.2, `bvec_iter::bi_offset` is `bi_bvec_done` in 7.2, 7.2 has no
//!   `pci_irq_type()` helper, and the module's `THIS_MODULE` moved into `ModuleMetadata` in 7.3.

use kernel::{
    bindings,
    dma::{
        Coherent,
        DmaAddress, //
    },
    pci,
    prelude::*,
    ptr::KnownSize, //
};

// ---------------------------------------------------------------------------------------------
// Linux 7.3: the kernel's own items.

#[cfg(not(rnvme_kver_7_2))]
pub(crate) use kernel::{
    interrupt::LocalInterruptDisabled,
    io::{
        Mmio,
        MmioRaw,
        Region, //
    },
    new_spinlock_irq, pci_device_table,
    sync::SpinLockIrq,
};

/// `module_pci_driver!` with the glue's PCI adapter (the callbacks `pci::Driver` lacks), the
/// module parameters reachable as `module_params`.
#[cfg(not(rnvme_kver_7_2))]
macro_rules! module_pci_driver {
    ($($tt:tt)*) => {
        $crate::glue::pci::driver::module_pci_driver_ext! { $($tt)* }

        use module_parameters as module_params;
    };
}
#[cfg(not(rnvme_kver_7_2))]
pub(crate) use module_pci_driver;

/// A mapped register file of at least `N` bytes.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) type Regs<const N: usize> = MmioRaw<Region<N>>;

/// Accessors of a [`Regs`] mapping (`kernel::io::Io`).
#[cfg(not(rnvme_kver_7_2))]
pub(crate) type RegsIo<'a, const N: usize> = Mmio<'a, Region<N>>;

/// The device-table entry data `pci::Driver::probe` receives.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) type PciIdInfo<'a, T> = Option<&'a T>;

/// Describes the `len` bytes mapped at `base` as a register file of at least `N` bytes.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) fn regs_new<const N: usize>(base: usize, len: usize) -> Result<Regs<N>> {
    MmioRaw::new_region(base, len)
}

/// The accessors of `regs`.
///
/// # Safety
///
/// `regs` must describe a live MMIO mapping for as long as the returned value is used.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) unsafe fn regs_io<const N: usize>(regs: &Regs<N>) -> RegsIo<'_, N> {
    // SAFETY: the caller keeps the mapping alive while the view is used.
    unsafe { Mmio::from_raw(*regs) }
}

/// Virtual address of the start of a mapped BAR.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) fn bar_base<const N: usize>(bar: &pci::Bar<'_, N>) -> usize {
    use kernel::io::{
        IoBackend,
        IoBase, //
    };
    kernel::io::MmioBackend::as_ptr(bar.as_view())
        .cast::<u8>()
        .addr()
}

/// Length in bytes of a mapped BAR.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) fn bar_len<const N: usize>(bar: &pci::Bar<'_, N>) -> usize {
    use kernel::io::Io;
    bar.size()
}

/// Initialises `slot` with `init` (pin-init's `PinInit::__init`; 7.2 spells it
/// `__pinned_init`).
///
/// # Safety
///
/// As `PinInit::__init`: `slot` is valid for writes of an uninitialised `T` and does not move
/// until it is dropped; on `Err` it is left uninitialised.
pub(crate) unsafe fn init_at<T, E>(slot: *mut T, init: impl PinInit<T, E>) -> Result<(), E> {
    // SAFETY: per the function's requirements.
    #[cfg(not(rnvme_kver_7_2))]
    unsafe {
        init.__init(slot)
    }
    // SAFETY: per the function's requirements.
    #[cfg(rnvme_kver_7_2)]
    unsafe {
        init.__pinned_init(slot)
    }
}

/// Bus address of a coherent allocation.
#[cfg(not(rnvme_kver_7_2))]
pub(crate) fn dma_address<T: KnownSize + ?Sized>(c: &Coherent<T>) -> DmaAddress {
    c.dma_address()
}

/// `DMA_TO_DEVICE` as the DMA mapping calls take it.
#[cfg(not(rnvme_kver_7_2))]
pub(super) const DMA_TO_DEVICE: bindings::dma_data_direction =
    bindings::dma_data_direction::DMA_TO_DEVICE;
/// `DMA_FROM_DEVICE` as the DMA mapping calls take it.
#[cfg(not(rnvme_kver_7_2))]
pub(super) const DMA_FROM_DEVICE: bindings::dma_data_direction =
    bindings::dma_data_direction::DMA_FROM_DEVICE;
/// `IRQ_HANDLED` as an interrupt handler returns it.
#[cfg(not(rnvme_kver_7_2))]
pub(super) const IRQ_HANDLED: bindings::irqreturn_t = bindings::irqreturn::IRQ_HANDLED;
/// `IRQ_NONE` as an interrupt handler returns it.
#[cfg(not(rnvme_kver_7_2))]
pub(super) const IRQ_NONE: bindings::irqreturn_t = bindings::irqreturn::IRQ_NONE;

/// Bytes of the current bio vector that `it` has already consumed.
#[cfg(not(rnvme_kver_7_2))]
pub(super) fn bvec_iter_done(it: &bindings::bvec_iter) -> u32 {
    it.bi_offset
}

/// `pci_irq_type()`: `PCI_IRQ_MSIX`, `PCI_IRQ_MSI` or `PCI_IRQ_INTX`.
///
/// # Safety
///
/// `pdev` must be a live PCI device.
#[cfg(not(rnvme_kver_7_2))]
pub(super) unsafe fn pci_irq_type(pdev: *mut bindings::pci_dev) -> u32 {
    // SAFETY: the caller passes a live device.
    unsafe { bindings::pci_irq_type(pdev) }
}

/// The module's `struct module`, as `THIS_MODULE` in C.
#[cfg(not(rnvme_kver_7_2))]
pub(super) const fn this_module() -> *mut bindings::module {
    <crate::LocalModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
}

/// `EOPNOTSUPP` (7.2's `kernel::error::code` lacks it).
#[cfg(not(rnvme_kver_7_2))]
pub(crate) const fn eopnotsupp() -> Error {
    EOPNOTSUPP
}

// ---------------------------------------------------------------------------------------------
// Linux 7.2: stand-ins.

#[cfg(rnvme_kver_7_2)]
pub(crate) use v7_2::*;

#[cfg(rnvme_kver_7_2)]
mod v7_2 {
    use super::*;
    use core::{
        cell::UnsafeCell,
        marker::PhantomData, //
    };
    use kernel::{
        ffi::{
            c_char,
            c_ulong,
            c_void, //
        },
        io::{
            Io,
            Mmio,
            MmioRaw, //
        },
        str::CStr,
        sync::{
            lock::{
                Backend,
                Guard,
                Lock, //
            },
            LockClassKey,
        },
    };

    #[cfg(CONFIG_PREEMPT_RT)]
    compile_error!("on Linux 7.2, rust_nvme's SpinLockIrq needs a kernel without PREEMPT_RT");

    /// Proof that local interrupts are disabled (7.3's `kernel::interrupt::LocalInterruptDisabled`).
    ///
    /// # Invariants
    ///
    /// Local interrupts are disabled while a reference to this type exists.
    pub(crate) struct LocalInterruptDisabled(PhantomData<*mut ()>);

    impl LocalInterruptDisabled {
        /// Assumes that local interrupts are disabled.
        ///
        /// # Safety
        ///
        /// Local interrupts must stay disabled for the whole of `'a` (an interrupt handler).
        pub(crate) unsafe fn assume_disabled<'a>() -> &'a LocalInterruptDisabled {
            // INVARIANT: guaranteed by the caller.
            const DISABLED: &LocalInterruptDisabled = &LocalInterruptDisabled(PhantomData);
            DISABLED
        }
    }

    /// Lock backend of [`SpinLockIrq`]: a `spinlock_t` taken with `spin_lock_irqsave()`.
    pub(crate) struct IrqSaveBackend;

    /// The `raw_spinlock_t` inside a `spinlock_t` (`spinlock_check()`): its first member when the
    /// kernel is not PREEMPT_RT (checked above).
    fn raw_lock(ptr: *mut bindings::spinlock_t) -> *mut bindings::raw_spinlock_t {
        ptr.cast()
    }

    // SAFETY: `_raw_spin_lock_irqsave()` takes the lock with local interrupts disabled and
    // returns the previous interrupt state, which `_raw_spin_unlock_irqrestore()` restores
    // when it releases the lock: the `spinlock_t` provides mutual exclusion, and interrupts
    // stay off for as long as the guard (and its `GuardState`) lives.
    unsafe impl Backend for IrqSaveBackend {
        type State = bindings::spinlock_t;
        type GuardState = c_ulong;

        unsafe fn init(
            ptr: *mut Self::State,
            name: *const c_char,
            key: *mut bindings::lock_class_key,
        ) {
            // SAFETY: the caller passes a writable lock, and a name and key that live forever.
            unsafe { bindings::__spin_lock_init(ptr, name, key) }
        }

        unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
            // SAFETY: the caller passes an initialised lock.
            unsafe { bindings::_raw_spin_lock_irqsave(raw_lock(ptr)) }
        }

        unsafe fn try_lock(_ptr: *mut Self::State) -> Option<Self::GuardState> {
            // 7.2 exports no `spin_trylock_irqsave()`; taking the lock with interrupts on could
            // deadlock against the interrupt handler, so report it busy. The driver never
            // calls `try_lock` on these locks.
            None
        }

        unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
            // SAFETY: the caller holds the lock, taken by `lock` above, which returned `flags`.
            unsafe { bindings::_raw_spin_unlock_irqrestore(raw_lock(ptr), *flags) }
        }

        unsafe fn assert_is_held(ptr: *mut Self::State) {
            // SAFETY: the caller passes an initialised lock.
            unsafe { bindings::spin_assert_is_held(ptr) }
        }
    }

    /// A spinlock whose holder runs with local interrupts disabled (7.3's `SpinLockIrq`).
    #[pin_data]
    pub(crate) struct SpinLockIrq<T> {
        #[pin]
        lock: Lock<T, IrqSaveBackend>,
    }

    impl<T> SpinLockIrq<T> {
        /// A new lock holding `t`; use [`new_spinlock_irq!`].
        pub(crate) fn new(
            t: T,
            name: &'static CStr,
            key: Pin<&'static LockClassKey>,
        ) -> impl PinInit<Self> {
            pin_init!(Self {
                lock <- Lock::new(t, name, key),
            })
        }

        /// Takes the lock, disabling local interrupts until the guard is dropped.
        pub(crate) fn lock(&self) -> Guard<'_, T, IrqSaveBackend> {
            self.lock.lock()
        }

        /// Takes the lock where interrupts are known to be off (`irqsave` keeps them off).
        pub(crate) fn lock_with<'a>(
            &'a self,
            _irqs_off: &'a LocalInterruptDisabled,
        ) -> Guard<'a, T, IrqSaveBackend> {
            self.lock.lock()
        }
    }

    /// Creates a [`SpinLockIrq`] initialiser with a name and a new lock class.
    macro_rules! new_spinlock_irq {
        ($inner:expr, $name:literal $(,)?) => {
            $crate::glue::kver::SpinLockIrq::new(
                $inner,
                ::kernel::c_str!($name),
                ::kernel::static_lock_class!(),
            )
        };
    }
    pub(crate) use new_spinlock_irq;

    /// A mapped register file of at least `N` bytes.
    pub(crate) type Regs<const N: usize> = MmioRaw<N>;

    /// Accessors of a [`Regs`] mapping (`kernel::io::Io`).
    pub(crate) type RegsIo<'a, const N: usize> = &'a Mmio<N>;

    /// The device-table entry data `pci::Driver::probe` receives.
    pub(crate) type PciIdInfo<'a, T> = &'a T;

    /// Describes the `len` bytes mapped at `base` as a register file of at least `N` bytes.
    pub(crate) fn regs_new<const N: usize>(base: usize, len: usize) -> Result<Regs<N>> {
        MmioRaw::new(base, len)
    }

    /// The accessors of `regs`.
    ///
    /// # Safety
    ///
    /// `regs` must describe a live MMIO mapping for as long as the returned value is used.
    pub(crate) unsafe fn regs_io<const N: usize>(regs: &Regs<N>) -> RegsIo<'_, N> {
        // SAFETY: the caller keeps the mapping alive while the view is used.
        unsafe { Mmio::from_raw(regs) }
    }

    /// Virtual address of the start of a mapped BAR.
    pub(crate) fn bar_base<const N: usize>(bar: &pci::Bar<'_, N>) -> usize {
        bar.addr()
    }

    /// Length in bytes of a mapped BAR.
    pub(crate) fn bar_len<const N: usize>(bar: &pci::Bar<'_, N>) -> usize {
        bar.maxsize()
    }

    /// `EOPNOTSUPP`, which 7.2's `kernel::error::code` lacks.
    pub(crate) fn eopnotsupp() -> Error {
        // CAST: a small positive errno.
        Error::from_errno(-(bindings::EOPNOTSUPP as i32))
    }

    /// Bus address of a coherent allocation.
    pub(crate) fn dma_address<T: KnownSize + ?Sized>(c: &Coherent<T>) -> DmaAddress {
        c.dma_handle()
    }

    /// `DMA_TO_DEVICE` as the DMA mapping calls take it.
    pub(in crate::glue) const DMA_TO_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction_DMA_TO_DEVICE;
    /// `DMA_FROM_DEVICE` as the DMA mapping calls take it.
    pub(in crate::glue) const DMA_FROM_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction_DMA_FROM_DEVICE;
    /// `IRQ_HANDLED` as an interrupt handler returns it.
    pub(in crate::glue) const IRQ_HANDLED: bindings::irqreturn_t = bindings::irqreturn_IRQ_HANDLED;
    /// `IRQ_NONE` as an interrupt handler returns it.
    pub(in crate::glue) const IRQ_NONE: bindings::irqreturn_t = bindings::irqreturn_IRQ_NONE;

    /// Bytes of the current bio vector that `it` has already consumed.
    pub(in crate::glue) fn bvec_iter_done(it: &bindings::bvec_iter) -> u32 {
        it.bi_bvec_done
    }

    /// `pci_irq_type()`: `PCI_IRQ_MSIX`, `PCI_IRQ_MSI` or `PCI_IRQ_INTX`.
    ///
    /// # Safety
    ///
    /// `pdev` must be a live PCI device.
    pub(in crate::glue) unsafe fn pci_irq_type(pdev: *mut bindings::pci_dev) -> u32 {
        // SAFETY: the caller passes a live device.
        let (msix, msi) = unsafe { ((*pdev).msix_enabled(), (*pdev).msi_enabled()) };
        if msix != 0 {
            bindings::PCI_IRQ_MSIX
        } else if msi != 0 {
            bindings::PCI_IRQ_MSI
        } else {
            bindings::PCI_IRQ_INTX
        }
    }

    /// The module's `struct module`, as `THIS_MODULE` in C.
    pub(in crate::glue) const fn this_module() -> *mut bindings::module {
        crate::THIS_MODULE.as_ptr()
    }

    /// The device table and the `MODULE_DEVICE_TABLE` alias 7.2 asks a name for.
    macro_rules! pci_device_table {
        ($table:ident, $info:ty, $data:expr $(,)?) => {
            ::kernel::pci_device_table!($table, MODULE_PCI_TABLE, $info, $data);
        };
    }
    pub(crate) use pci_device_table;

    /// A module parameter, set by the module loader through C's `param_ops_uint` or
    /// `param_ops_bool` (7.2's `module!` has no `bool` parameters).
    ///
    /// # Invariants
    ///
    /// The value is written only while the module loads, before its `init` runs: the parameter
    /// has permission 0, so sysfs never writes it.
    #[repr(transparent)]
    pub(crate) struct Param<T>(UnsafeCell<T>);

    // SAFETY: after loading, the value is only read (type invariant).
    unsafe impl<T: Copy + Send> Sync for Param<T> {}

    impl<T: Copy> Param<T> {
        /// A parameter with its default value.
        pub(crate) const fn new(default: T) -> Self {
            Self(UnsafeCell::new(default))
        }

        /// The value given at load time, or the default.
        pub(crate) fn value(&self) -> T {
            // SAFETY: nothing writes the value once the module runs (type invariant).
            unsafe { *self.0.get() }
        }

        /// Where the C parameter ops store the value (`kernel_param.arg`).
        pub(crate) const fn as_arg(&self) -> *mut c_void {
            self.0.get().cast()
        }
    }

    /// Copies a `.modinfo` string into an array of its exact length.
    pub(crate) const fn modinfo<const N: usize>(s: &str) -> [u8; N] {
        let b = s.as_bytes();
        let mut out = [0u8; N];
        let mut i = 0;
        while i < N {
            out[i] = b[i];
            i += 1;
        }
        out
    }

    /// C's parameter ops for a parameter type (`u32`: `uint`, `bool`: `bool`).
    macro_rules! param_ops {
        (u32) => {
            ::kernel::bindings::param_ops_uint
        };
        (bool) => {
            ::kernel::bindings::param_ops_bool
        };
    }
    pub(crate) use param_ops;

    /// 7.3's `module_pci_driver!` (with the glue's PCI adapter): the module, the parameters
    /// in `module_parameters` as 7.3 has them (`value()` returns the value).
    macro_rules! module_pci_driver {
        (
            type: $type:ty,
            name: $name:literal,
            authors: [$($author:literal),* $(,)?],
            description: $description:literal,
            license: $license:literal,
            params: {
                $($param:ident: $ptype:ident {
                    default: $default:expr,
                    description: $pdesc:literal $(,)?
                }),* $(,)?
            } $(,)?
        ) => {
            $crate::glue::pci::driver::module_pci_driver_ext! {
                type: $type,
                name: $name,
                authors: [$($author),*],
                description: $description,
                license: $license,
            }

            mod module_params {
                $(
                    #[expect(non_upper_case_globals, reason = "named as the parameter")]
                    pub(crate) static $param: $crate::glue::kver::Param<$ptype> =
                        $crate::glue::kver::Param::new($default);

                    const _: () = {
                        const PARMTYPE: &str =
                            concat!("parmtype=", stringify!($param), ":", stringify!($ptype), "\0");
                        const PARM: &str = concat!("parm=", stringify!($param), ":", $pdesc, "\0");

                        #[link_section = ".modinfo"]
                        #[used(compiler)]
                        static MODINFO_PARMTYPE: [u8; PARMTYPE.len()] =
                            $crate::glue::kver::modinfo(PARMTYPE);

                        #[link_section = ".modinfo"]
                        #[used(compiler)]
                        static MODINFO_PARM: [u8; PARM.len()] = $crate::glue::kver::modinfo(PARM);

                        #[link_section = "__param"]
                        #[used(compiler)]
                        static KERNEL_PARAM: ::kernel::module_param::KernelParam =
                            ::kernel::module_param::KernelParam::new(::kernel::bindings::kernel_param {
                                name: concat!(stringify!($param), "\0")
                                    .as_ptr()
                                    .cast::<::kernel::ffi::c_char>(),
                                // The module's own `struct module`, alive while it is.
                                mod_: &raw mut ::kernel::bindings::__this_module,
                                // C's parameter ops, immutable statics.
                                ops: &raw const $crate::glue::kver::param_ops!($ptype),
                                // Not in sysfs, so never written after loading (`Param`).
                                perm: 0,
                                level: -1,
                                flags: 0,
                                __bindgen_anon_1: ::kernel::bindings::kernel_param__bindgen_ty_1 {
                                    arg: $param.as_arg(),
                                },
                            });
                    };
                )*
            }
        };
    }
    pub(crate) use module_pci_driver;
}
