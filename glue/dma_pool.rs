// SPDX-License-Identifier: GPL-2.0

//! A DMA pool (`struct dma_pool`) of small aligned coherent buffers. Upstream has no
//! DMA pool abstraction.
//!
//! C header: [`include/linux/dmapool.h`](srctree/include/linux/dmapool.h)

use crate::glue::device::raw_dev;
use core::ptr::NonNull;
use kernel::{
    bindings,
    device,
    prelude::*,
    str::CStr, //
};

/// A pool of small, aligned coherent DMA buffers (PRP list pages, DSM range lists).
///
/// # Invariants
///
/// `pool` is a live pool created by `dma_pool_create_node`, destroyed in `Drop`.
pub(crate) struct DmaPool {
    pool: NonNull<bindings::dma_pool>,
}

// SAFETY: the DMA pool API takes its own lock and may be used from any context.
unsafe impl Send for DmaPool {}
// SAFETY: as above, all methods take `&self` and the pool serialises internally.
unsafe impl Sync for DmaPool {}

/// One buffer taken from a [`DmaPool`]; it must be handed back with [`DmaPool::free`].
#[derive(Clone, Copy)]
pub(crate) struct PoolBuf {
    /// CPU address.
    pub(crate) cpu: NonNull<u8>,
    /// Bus address.
    pub(crate) dma: u64,
}

// SAFETY: a `PoolBuf` names a buffer of a pool that may be used and freed from any context; it
// is a plain address pair, with no thread affinity.
unsafe impl Send for PoolBuf {}

impl DmaPool {
    /// Creates a pool of `size`-byte buffers aligned to `size` for `dev`.
    pub(crate) fn new(name: &'static CStr, dev: &device::Device, size: usize) -> Result<Self> {
        // SAFETY: `name` is a static NUL-terminated string and `dev` a live device that
        // outlives the pool (the driver data owning it is dropped before unbind completes).
        let pool = unsafe {
            bindings::dma_pool_create_node(
                name.as_char_ptr(),
                raw_dev(dev),
                size,
                size,
                0,
                bindings::NUMA_NO_NODE,
            )
        };
        let pool = NonNull::new(pool).ok_or(ENOMEM)?;
        // INVARIANT: `pool` was just created.
        Ok(Self { pool })
    }

    /// Takes a buffer without sleeping; `None` when memory is short.
    pub(crate) fn alloc_atomic(&self) -> Option<PoolBuf> {
        let mut dma: bindings::dma_addr_t = 0;
        // SAFETY: `self.pool` is live (type invariant); GFP_ATOMIC never sleeps.
        let cpu =
            unsafe { bindings::dma_pool_alloc(self.pool.as_ptr(), bindings::GFP_ATOMIC, &mut dma) };
        NonNull::new(cpu.cast::<u8>()).map(|cpu| PoolBuf { cpu, dma })
    }

    /// Returns a buffer to the pool.
    ///
    /// # Safety
    ///
    /// `buf` must come from `alloc_atomic` on this pool and not be used afterwards, by the CPU
    /// or the device.
    pub(crate) unsafe fn free(&self, buf: PoolBuf) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::dma_pool_free(self.pool.as_ptr(), buf.cpu.as_ptr().cast(), buf.dma) };
    }
}

impl Drop for DmaPool {
    fn drop(&mut self) {
        // SAFETY: the pool is live (type invariant) and every buffer has been returned, since
        // requests and their data are gone before the driver data drops.
        unsafe { bindings::dma_pool_destroy(self.pool.as_ptr()) };
    }
}
