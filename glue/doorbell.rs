// SPDX-License-Identifier: GPL-2.0

//! One 32-bit MMIO register written on the hot path (a queue doorbell), without the
//! bounds checks of `kernel::io::Io` on every write.
//!
//! C header: [`include/asm-generic/io.h`](srctree/include/asm-generic/io.h)

use core::ffi::c_void;
use kernel::{
    bindings,
    prelude::*, //
};

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
    pub(crate) fn write(&self, value: u32) {
        // SAFETY: `addr` is a mapped doorbell (type invariant).
        unsafe { bindings::writel(value, self.addr) };
    }
}
