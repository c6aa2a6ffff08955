// SPDX-License-Identifier: GPL-2.0

//! Memory barriers (`kernel::sync::barrier`), inline on x86-64.
//!
//! The kernel crate's `mb()`, `rmb()`, `wmb()` and `dma_*` forms call a C helper each, out of
//! line unless the kernel is built with `CONFIG_RUST_INLINE_HELPERS` (which distribution kernels
//! and ours are not). The doorbell and completion path runs three of them per I/O, for what on
//! x86-64 is one instruction or none. So on x86-64 this module issues what
//! `arch/x86/include/asm/barrier.h` expands to; elsewhere it is the kernel's own (7.2 has no Rust
//! `mb()` at all, so the driver builds for x86-64 only there).
//!
//! C header: [`arch/x86/include/asm/barrier.h`](srctree/arch/x86/include/asm/barrier.h)

#[cfg(all(rnvme_kver_7_2, not(target_arch = "x86_64")))]
compile_error!("on Linux 7.2, rust_nvme's memory barriers are written for x86-64 only");

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use kernel::sync::barrier::{
    dma_mb,
    mb,
    Full,
    Read,
    Write, //
};

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::*;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::asm;

    /// Orders all earlier memory accesses before all later ones.
    pub(crate) struct Full;
    /// Orders earlier loads before later loads.
    pub(crate) struct Read;
    /// Orders earlier stores before later stores.
    pub(crate) struct Write;

    /// A barrier of one ordering, as the CPU and as DMA see it.
    pub(crate) trait Ordering {
        /// `mb()`, `rmb()` or `wmb()`.
        fn mb();
        /// `dma_mb()`, `dma_rmb()` or `dma_wmb()`.
        fn dma_mb();
    }

    /// A compiler barrier: an `asm!` without `nomem` may read and write any memory, so no
    /// access is moved across it.
    #[inline(always)]
    fn compiler_barrier() {
        // SAFETY: an empty instruction sequence.
        unsafe { asm!("", options(nostack, preserves_flags)) };
    }

    impl Ordering for Full {
        #[inline(always)]
        fn mb() {
            // SAFETY: a fence instruction, which every x86-64 CPU has.
            unsafe { asm!("mfence", options(nostack, preserves_flags)) };
        }
        #[inline(always)]
        fn dma_mb() {
            Self::mb();
        }
    }

    impl Ordering for Read {
        #[inline(always)]
        fn mb() {
            // SAFETY: a fence instruction, which every x86-64 CPU has.
            unsafe { asm!("lfence", options(nostack, preserves_flags)) };
        }
        #[inline(always)]
        fn dma_mb() {
            // x86-64 does not reorder loads with other loads.
            compiler_barrier();
        }
    }

    impl Ordering for Write {
        #[inline(always)]
        fn mb() {
            // SAFETY: a fence instruction, which every x86-64 CPU has.
            unsafe { asm!("sfence", options(nostack, preserves_flags)) };
        }
        #[inline(always)]
        fn dma_mb() {
            // x86-64 does not reorder stores with other stores.
            compiler_barrier();
        }
    }

    /// `mb()`, `rmb()` or `wmb()`.
    #[inline(always)]
    pub(crate) fn mb<T: Ordering>(_: T) {
        T::mb()
    }

    /// `dma_mb()`, `dma_rmb()` or `dma_wmb()`.
    #[inline(always)]
    pub(crate) fn dma_mb<T: Ordering>(_: T) {
        T::dma_mb()
    }
}
