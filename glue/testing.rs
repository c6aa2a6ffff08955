// SPDX-License-Identifier: GPL-2.0

//! Kernel objects that only the KUnit tests need: a device to map DMA for without a PCI
//! function behind it, a request queue without a disk, and the physical address behind a
//! kernel virtual address.
//!
//! Built with `--cfg rnvme_kunit` only (`make kunit-module`, run by `make test`); the module
//! users load has none of it.

use super::{
    kver,
    DiskQueue,
    Operations,
    TagSet, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    device,
    error::{
        from_err_ptr,
        to_result, //
    },
    prelude::*,
    str::CStr,
    sync::Arc, //
};

/// A root device (`/sys/devices/NAME`) set up for 64-bit DMA with segments of any size, as the
/// driver sets up its PCI function. It sits on no bus and behind no IOMMU, so the kernel maps
/// DMA for it directly: a bus address is the physical address.
///
/// # Invariants
///
/// `dev` was registered by `__root_device_register` and is unregistered in `Drop` only; its
/// `dma_parms` points to `_parms` until then.
pub(crate) struct TestDevice {
    dev: NonNull<bindings::device>,
    _parms: KBox<bindings::device_dma_parameters>,
}

impl TestDevice {
    /// Registers the device `name`.
    pub(crate) fn new(name: &'static CStr) -> Result<Self> {
        let mut parms = KBox::new(
            bindings::device_dma_parameters {
                max_segment_size: u32::MAX,
                min_align_mask: 0,
                segment_boundary_mask: usize::MAX,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `name` is a static NUL-terminated string; the owner is this module.
        let dev = from_err_ptr(unsafe {
            bindings::__root_device_register(name.as_char_ptr(), kver::this_module())
        })?;
        // INVARIANT: registered above; from here on `Drop` unregisters it, also on error.
        let parms_ptr: *mut bindings::device_dma_parameters = &mut *parms;
        let this = Self {
            dev: NonNull::new(dev).ok_or(ENOMEM)?,
            _parms: parms,
        };
        // SAFETY: the device is registered and only this value uses it. A device without a bus
        // DMA mask points `dma_mask` at its own `coherent_dma_mask`, as platform devices do;
        // the field lives as long as the device. `parms` is heap memory owned by `this`, which
        // detaches it in `Drop` before unregistering the device.
        unsafe {
            (*dev).dma_parms = parms_ptr;
            (*dev).dma_mask = &raw mut (*dev).coherent_dma_mask;
            to_result(bindings::dma_set_mask(dev, u64::MAX))?;
            to_result(bindings::dma_set_coherent_mask(dev, u64::MAX))?;
        }
        Ok(this)
    }

    /// The driver-model device.
    pub(crate) fn dev(&self) -> &device::Device {
        // SAFETY: registered until `drop` (type invariant), which cannot run while the returned
        // borrow of `self` lives; a reference taken from it (`ARef`) holds the device itself.
        unsafe { device::Device::from_raw(self.dev.as_ptr()) }
    }
}

impl Drop for TestDevice {
    fn drop(&mut self) {
        // SAFETY: registered by `new` and not unregistered since (type invariant); nothing maps
        // DMA for it any more, so its DMA parameters can go before it does.
        unsafe {
            (*self.dev.as_ptr()).dma_parms = core::ptr::null_mut();
            bindings::root_device_unregister(self.dev.as_ptr());
        }
    }
}

/// A request queue on a tag set, without a disk (`blk_mq_alloc_queue()`), as a controller's
/// admin queue would be: tests allocate requests on it and map data into them.
///
/// # Invariants
///
/// `queue` was allocated on `set` with `queuedata` pointing to `data`; `Drop` destroys it
/// before `data` and `set` go.
pub(crate) struct BareQueue<T: Operations> {
    queue: NonNull<bindings::request_queue>,
    _data: Arc<T::Disk>,
    _set: Arc<Pin<KBox<TagSet<T>>>>,
}

impl<T: Operations> BareQueue<T> {
    /// Allocates a queue on `set` with `limits`, whose requests see `data` as their disk.
    pub(crate) fn new(
        set: &Arc<Pin<KBox<TagSet<T>>>>,
        data: Arc<T::Disk>,
        limits: &super::Limits,
    ) -> Result<Self> {
        let mut lim = super::block::mq::gen_disk::queue_limits(limits);
        let qdata = Arc::as_ptr(&data).cast_mut().cast();
        // SAFETY: `set` is an allocated tag set; `lim` is a valid limits structure; `qdata`
        // lives as long as the queue (held in `Self`).
        let queue =
            from_err_ptr(unsafe { bindings::blk_mq_alloc_queue(set.as_raw(), &mut lim, qdata) })?;
        // INVARIANT: allocated on `set` with `qdata` above.
        Ok(Self {
            queue: NonNull::new(queue).ok_or(ENOMEM)?,
            _data: data,
            _set: set.clone(),
        })
    }

    /// The queue, to allocate requests on.
    pub(crate) fn queue(&self) -> DiskQueue<T> {
        // INVARIANT: the queue lives while `self` does, and the handle is used within a
        // borrow of it.
        DiskQueue(self.queue, core::marker::PhantomData)
    }
}

impl<T: Operations> Drop for BareQueue<T> {
    fn drop(&mut self) {
        // SAFETY: allocated by `new` (type invariant); no request of it is still allocated,
        // since every `PassthruRq` borrows the queue handle only while the queue lives.
        unsafe {
            bindings::blk_mq_destroy_queue(self.queue.as_ptr());
            bindings::blk_put_queue(self.queue.as_ptr());
        }
    }
}

/// The physical address of byte `off` of `buf`, found by walking the page tables (works for
/// the direct map and for vmalloc memory alike).
pub(crate) fn phys_addr(buf: &[u8], off: usize) -> u64 {
    let p = buf[off..].as_ptr();
    // SAFETY: `p` points into `buf`, mapped kernel memory that lives for the call.
    unsafe { bindings::slow_virt_to_phys(p.cast_mut().cast()) }
}
