// SPDX-License-Identifier: GPL-2.0

//! One 32-bit MMIO register written on the hot path (a queue doorbell), without the
//! bounds checks of `kernel::io::Io` on every write.
//!
//! C header: [`include/asm-generic/io.h`](srctree/include/asm-generic/io.h)

use core::ffi::c_void;
use kernel::prelude::*;

/// One 32-bit doorbell register in BAR0.
///
/// # Invariants
///
/// `addr` is the mapped address of a doorbell inside BAR0; the controller keeps BAR0 mapped
/// until every queue (and so every doorbell) has been dropped.
pub(crate) struct Doorbell {
    addr: *mut c_void,
}

// SAFETY: MMIO writes may be issued from any CPU; the address is plain data.
unsafe impl Send for Doorbell {}
// SAFETY: as above; callers serialise writes to one doorbell with the queue's lock.
unsafe impl Sync for Doorbell {}

impl Doorbell {
    /// Creates a doorbell at `offset` in the mapping that starts at `base` and has `len` bytes.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be a live MMIO mapping that outlives the doorbell.
    pub(crate) unsafe fn new(base: usize, len: usize, offset: usize) -> Result<Self> {
        if offset.checked_add(4).is_none_or(|end| end > len) {
            return Err(EINVAL);
        }
        // INVARIANT: `offset + 4 <= len` inside a mapping the caller keeps alive.
        Ok(Self {
            addr: core::ptr::without_provenance_mut(base + offset),
        })
    }

    /// Writes `value`; ordered after all earlier writes to coherent memory (`writel()`).
    ///
    /// On x86-64 this is the one `mov` that `writel()` expands to there (`build_mmio_write()`
    /// in `arch/x86/include/asm/io.h`), inline: the `writel()` binding is an out-of-line helper
    /// unless the kernel is built with `CONFIG_RUST_INLINE_HELPERS`, and this runs on every I/O.
    /// x86-64 keeps stores in order, so the `asm!` (which, without `nomem`, may touch any
    /// memory) only has to stop the compiler moving earlier stores past it, as C's `"memory"`
    /// clobber does.
    #[inline]
    pub(crate) fn write(&self, value: u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `addr` is a mapped doorbell (type invariant), 4-byte aligned (doorbells are at
        // multiples of 4 in BAR0); a 32-bit store to it is what `writel()` issues.
        unsafe {
            core::arch::asm!(
                "mov dword ptr [{addr}], {value:e}",
                addr = in(reg) self.addr,
                value = in(reg) value,
                options(nostack, preserves_flags),
            )
        };
        #[cfg(not(target_arch = "x86_64"))]
        // SAFETY: `addr` is a mapped doorbell (type invariant).
        unsafe {
            kernel::bindings::writel(value, self.addr)
        };
    }
}
