// SPDX-License-Identifier: GPL-2.0

//! Sleepable RCU (`struct srcu_struct`): on 7.3 the `kernel` crate's `Srcu`; on 7.2, which
//! has none, the same interface over the exported Tree SRCU functions (without the lockdep
//! annotations of the `srcu_read_lock()` inline, which 7.2's helpers do not export).
//!
//! C header: [`include/linux/srcu.h`](srctree/include/linux/srcu.h)

#[cfg(not(rnvme_kver_7_2))]
pub(crate) use kernel::sync::{
    srcu::Guard as SrcuGuard,
    Srcu, //
};

#[cfg(rnvme_kver_7_2)]
pub(crate) use v7_2::{
    Srcu,
    SrcuGuard, //
};

/// An initialiser of an [`Srcu`] with a lock class of its own.
macro_rules! new_srcu {
    ($name:literal) => {
        $crate::glue::sync::srcu::Srcu::new(::kernel::c_str!($name), ::kernel::static_lock_class!())
    };
}
pub(crate) use new_srcu;

#[cfg(rnvme_kver_7_2)]
mod v7_2 {
    #[cfg(not(CONFIG_TREE_SRCU))]
    compile_error!("rust_nvme on 7.2 needs Tree SRCU (CONFIG_TREE_SRCU, any SMP kernel)");

    use kernel::{
        bindings,
        error::to_result,
        prelude::*,
        str::CStr,
        sync::LockClassKey,
        types::{
            NotThreadSafe,
            Opaque, //
        },
    };

    /// A `struct srcu_struct`, as 7.3's `kernel::sync::Srcu`.
    ///
    /// # Invariants
    ///
    /// `inner` was initialised by `__init_srcu_struct` and stays pinned until dropped.
    #[pin_data(PinnedDrop)]
    pub(crate) struct Srcu {
        #[pin]
        inner: Opaque<bindings::srcu_struct>,
    }

    // SAFETY: SRCU is made to be used from any thread at once.
    unsafe impl Send for Srcu {}
    // SAFETY: as above.
    unsafe impl Sync for Srcu {}

    impl Srcu {
        /// A new SRCU named `name`, of lock class `key`.
        pub(crate) fn new(
            name: &'static CStr,
            key: Pin<&'static LockClassKey>,
        ) -> impl PinInit<Self, Error> {
            try_pin_init!(Self {
                // INVARIANT: initialised here, pinned with `Self`.
                inner <- Opaque::try_ffi_init(|p: *mut bindings::srcu_struct| {
                    // With lock debugging `init_srcu_struct()` is a macro passing a lock
                    // class; without it a function of the pointer alone.
                    #[cfg(CONFIG_DEBUG_LOCK_ALLOC)]
                    // SAFETY: `p` is valid uninitialised memory for a `srcu_struct`; `name`
                    // and `key` are static.
                    let r = unsafe {
                        bindings::__init_srcu_struct(p, name.as_char_ptr(), key.as_ptr())
                    };
                    #[cfg(not(CONFIG_DEBUG_LOCK_ALLOC))]
                    let r = {
                        let _ = (name, key);
                        // SAFETY: `p` is valid uninitialised memory for a `srcu_struct`.
                        unsafe { bindings::init_srcu_struct(p) }
                    };
                    to_result(r)
                }),
            })
        }

        /// Enters a read-side critical section.
        pub(crate) fn read_lock(&self) -> SrcuGuard<'_> {
            // SAFETY: `inner` is initialised (type invariant).
            let idx = unsafe { bindings::__srcu_read_lock(self.inner.get()) };
            SrcuGuard {
                srcu: self,
                idx,
                _not_send: NotThreadSafe,
            }
        }

        /// Waits for every read-side critical section under way.
        pub(crate) fn synchronize(&self) {
            // SAFETY: `inner` is initialised (type invariant).
            unsafe { bindings::synchronize_srcu(self.inner.get()) };
        }
    }

    #[pinned_drop]
    impl PinnedDrop for Srcu {
        fn drop(self: Pin<&mut Self>) {
            // SAFETY: initialised, and no reader is left: a guard borrows `self`.
            unsafe { bindings::cleanup_srcu_struct(self.inner.get()) };
        }
    }

    /// A read-side critical section, left when dropped.
    pub(crate) struct SrcuGuard<'a> {
        srcu: &'a Srcu,
        idx: i32,
        _not_send: NotThreadSafe,
    }

    impl Drop for SrcuGuard<'_> {
        fn drop(&mut self) {
            // SAFETY: `idx` came from `__srcu_read_lock` on this SRCU, on this thread.
            unsafe { bindings::__srcu_read_unlock(self.srcu.inner.get(), self.idx) };
        }
    }
}
