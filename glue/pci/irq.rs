// SPDX-License-Identifier: GPL-2.0

//! PCI interrupt vectors with managed affinity (`pci_alloc_irq_vectors_affinity()`):
//! upstream's `pci::IrqVector` allocation has no affinity descriptor (vector 0 left out of the
//! spreading).
//!
//! C header: [`include/linux/pci.h`](srctree/include/linux/pci.h)

use crate::glue::device::raw_pdev;
use crate::glue::kver;
use core::ptr;
use kernel::{
    bindings,
    device,
    error::to_result,
    pci,
    prelude::*, //
};

/// How the controller's interrupts are delivered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IrqKind {
    /// MSI-X.
    MsiX,
    /// MSI.
    Msi,
    /// Legacy INTx, shared.
    Intx,
}

impl IrqKind {
    /// The name the PCI core uses for this kind.
    pub(crate) fn name(self) -> &'static str {
        match self {
            IrqKind::MsiX => "MSI-X",
            IrqKind::Msi => "MSI",
            IrqKind::Intx => "INTx",
        }
    }
}

/// The PCI interrupt vectors of one controller (`pci_alloc_irq_vectors_affinity()`).
///
/// Vector 0 serves the admin queue and is not spread; vectors 1.. are spread over the CPUs by
/// the kernel (managed affinity), one per I/O queue.
///
/// # Invariants
///
/// `pdev` has `count` vectors allocated, freed in `Drop`; the device outlives this object.
pub(crate) struct IrqVectors {
    pdev: *mut bindings::pci_dev,
    count: u32,
    kind: IrqKind,
}

// SAFETY: the vectors are a property of the device; freeing them is allowed from any thread.
unsafe impl Send for IrqVectors {}
// SAFETY: `&self` methods only read plain data or query the PCI core.
unsafe impl Sync for IrqVectors {}

impl IrqVectors {
    /// Allocates between 1 and `max` vectors, preferring MSI-X, then MSI, then INTx.
    /// With `msi` false only legacy INTx is tried (the `use_msi` module parameter).
    pub(crate) fn alloc(pdev: &pci::Device<device::Bound>, max: u32, msi: bool) -> Result<Self> {
        let raw = raw_pdev(pdev);
        let mut affd = bindings::irq_affinity {
            pre_vectors: 1,
            ..Default::default()
        };
        let types = if msi {
            bindings::PCI_IRQ_ALL_TYPES
        } else {
            bindings::PCI_IRQ_INTX
        };
        // Spreading needs more than the one pre-vector; with a single vector, ask plainly.
        let (flags, affd_ptr) = if max > 1 {
            (types | bindings::PCI_IRQ_AFFINITY, ptr::from_mut(&mut affd))
        } else {
            (types, ptr::null_mut())
        };
        // SAFETY: `raw` is a bound, enabled PCI device; `affd` lives across the call.
        let ret = unsafe { bindings::pci_alloc_irq_vectors_affinity(raw, 1, max, flags, affd_ptr) };
        to_result(ret)?;
        // SAFETY: vectors were allocated just above.
        let kind = match unsafe { kver::pci_irq_type(raw) } {
            bindings::PCI_IRQ_MSIX => IrqKind::MsiX,
            bindings::PCI_IRQ_MSI => IrqKind::Msi,
            _ => IrqKind::Intx,
        };
        // INVARIANT: `ret` vectors are allocated on `raw`.
        Ok(Self {
            pdev: raw,
            // CAST: `to_result` passed, so `ret` is positive.
            count: ret as u32,
            kind,
        })
    }

    /// Number of vectors allocated.
    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// Delivery type of the vectors.
    pub(crate) fn kind(&self) -> IrqKind {
        self.kind
    }

    /// Linux interrupt number of vector `index`.
    pub(in crate::glue) fn irq(&self, index: u32) -> Result<u32> {
        if index >= self.count {
            return Err(EINVAL);
        }
        // SAFETY: `index` is below the allocated count (type invariant).
        let irq = unsafe { bindings::pci_irq_vector(self.pdev, index) };
        u32::try_from(irq).map_err(|_| EINVAL)
    }
}

impl Drop for IrqVectors {
    fn drop(&mut self) {
        // SAFETY: vectors were allocated on `pdev` (type invariant); all handlers registered on
        // them are freed first, since `IrqHandler`s hold a reference to this object.
        unsafe { bindings::pci_free_irq_vectors(self.pdev) };
    }
}
