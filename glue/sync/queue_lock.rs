// SPDX-License-Identifier: GPL-2.0

//! The per-queue spin locks of the I/O path, taken with `_raw_spin_lock*()` directly
//! (upstream's `SpinLock` reaches C through calls a module cannot inline).
//!
//! C header: [`include/linux/spinlock.h`](srctree/include/linux/spinlock.h)

use crate::glue::kver::LocalInterruptDisabled;
use core::{
    marker::PhantomData,
    ptr, //
};
use kernel::{
    bindings,
    prelude::*,
    str::CStr,
    types::Opaque, //
};

#[cfg(CONFIG_PREEMPT_RT)]
compile_error!(
    "rust_nvme's queue locks take spinlock_t as a raw spinlock: PREEMPT_RT is not supported"
);

/// A `spinlock_t` guarding a `T`: the submission and completion locks of one queue.
///
/// The `kernel` crate's `SpinLock` reaches the C lock through calls that a module cannot inline
/// (the `spin_lock()`/`spin_unlock()` helpers, `spin_assert_is_held()`, and `Opaque::get()` for
/// each of them): about 20 instructions per lock and unlock, 40 per I/O, which `make profile`
/// counted as the larger part of rust_nvme's difference to the C driver. This lock calls
/// `_raw_spin_lock*()` directly, which is what `spin_lock*()` are on a kernel without
/// PREEMPT_RT (checked above); lockdep sees it as it sees `spin_lock()`.
#[pin_data]
pub(crate) struct QueueLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: core::cell::UnsafeCell<T>,
}

// SAFETY: the lock hands `T` to one thread at a time, so it may move between threads with it.
unsafe impl<T: Send> Send for QueueLock<T> {}
// SAFETY: shared references only reach `T` through the lock, which serialises them.
unsafe impl<T: Send> Sync for QueueLock<T> {}

/// Creates a [`QueueLock`] initialiser with a name and a lock class of its own.
macro_rules! new_queue_lock {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::glue::QueueLock::new(
            $inner,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_queue_lock;

impl<T> QueueLock<T> {
    /// A new lock holding `t`, named `name` for lockdep, in lock class `key`.
    pub(crate) fn new(
        t: T,
        name: &'static CStr,
        key: Pin<&'static kernel::sync::LockClassKey>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            data: core::cell::UnsafeCell::new(t),
            // SAFETY: `slot` is the lock's own memory, valid for writes; the name and the key
            // live forever.
            lock <- Opaque::ffi_init(|slot: *mut bindings::spinlock_t| unsafe {
                bindings::__spin_lock_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// The `raw_spinlock_t` inside the `spinlock_t` (`spinlock_check()`).
    #[inline(always)]
    fn raw(&self) -> *mut bindings::raw_spinlock_t {
        // CAST: `Opaque<T>` is `#[repr(transparent)]` over `T`, and without PREEMPT_RT a
        // `spinlock_t` is a union whose first member is its `raw_spinlock_t`.
        ptr::from_ref(&self.lock).cast_mut().cast()
    }

    /// Takes the lock from a context that the lock's interrupt-time users cannot interrupt:
    /// a lock never taken in hard interrupt context (the submission lock), or any lock with
    /// [`QueueLock::lock_with`] and [`QueueLock::lock_irqsave`] instead.
    #[inline(always)]
    pub(crate) fn lock(&self) -> QueueLockGuard<'_, T> {
        // SAFETY: the lock was initialised by `new` (pinned, so still at this address).
        unsafe { bindings::_raw_spin_lock(self.raw()) };
        QueueLockGuard {
            lock: self,
            flags: None,
            _not_send: PhantomData,
        }
    }

    /// Takes the lock where local interrupts are already off (an interrupt handler).
    #[inline(always)]
    pub(crate) fn lock_with<'a>(
        &'a self,
        _irqs_off: &'a LocalInterruptDisabled,
    ) -> QueueLockGuard<'a, T> {
        self.lock()
    }

    /// Takes the lock with local interrupts disabled until the guard drops, from any context.
    #[inline(always)]
    pub(crate) fn lock_irqsave(&self) -> QueueLockGuard<'_, T> {
        // SAFETY: as in `lock`.
        let flags = unsafe { bindings::_raw_spin_lock_irqsave(self.raw()) };
        QueueLockGuard {
            lock: self,
            flags: Some(flags),
            _not_send: PhantomData,
        }
    }
}

/// Access to the data of a held [`QueueLock`]; releases it when dropped.
pub(crate) struct QueueLockGuard<'a, T> {
    lock: &'a QueueLock<T>,
    /// Interrupt state to restore, when the lock was taken with `lock_irqsave`.
    flags: Option<kernel::ffi::c_ulong>,
    /// Released on the CPU that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> core::ops::Deref for QueueLockGuard<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other reference to the data exists.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> core::ops::DerefMut for QueueLockGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as above, and the guard is borrowed mutably.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for QueueLockGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        match self.flags {
            // SAFETY: the guard took the lock with `_raw_spin_lock_irqsave()`, which returned
            // `flags`, on this CPU.
            Some(flags) => unsafe { bindings::_raw_spin_unlock_irqrestore(self.lock.raw(), flags) },
            // SAFETY: the guard took the lock with `_raw_spin_lock()` on this CPU.
            None => unsafe { bindings::_raw_spin_unlock(self.lock.raw()) },
        }
    }
}
