// SPDX-License-Identifier: GPL-2.0

//! Rust NVMe PCIe driver.
//!
//! Binds to NVMe controllers (PCI class 0x010802), brings them up through the admin queue,
//! creates one I/O queue pair per CPU (as far as the controller and the interrupt vectors
//! allow) and exposes every supported namespace as a block device `rnvme<ctrl>n<nsid>` through
//! blk-mq. This file is the module root: the modules, the PCI id table, the module parameters
//! and the PCI driver, whose probe, unbind and lifecycle callbacks (shutdown, function reset,
//! PCI errors, system sleep) are in [`driver`].

use kernel::{
    device::Core,
    pci,
    prelude::*, //
};

mod admin;
mod aen;
mod chardev;
mod ctrl;
mod driver;
mod glue;
mod hwmon;
mod io;
mod iod;
mod irq;
mod map;
mod mpath;
mod ns;
mod ns_char;
mod nvme;
mod passthru;
mod queue;
mod regs;
mod scan;
mod zoned;

use driver::{
    Controller,
    Params, //
};
use glue::{
    kver,
    ChannelState,
    DriverExt,
    ErsResult,
    Sleep, //
};

/// PCI class code of an NVM Express I/O controller: mass storage, non-volatile memory, NVMe.
const PCI_CLASS_STORAGE_EXPRESS: u32 = 0x010802;

struct NvmeDriver;

kver::pci_device_table!(
    PCI_TABLE,
    <NvmeDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(PCI_CLASS_STORAGE_EXPRESS, 0xffffff),
        ()
    )]
);

/// The module parameters, read once per probe.
fn params() -> Params {
    Params {
        io_timeout_ms: module_params::io_timeout.value().clamp(1, 3600) * 1000,
        admin_timeout_ms: module_params::admin_timeout.value().saturating_mul(1000),
        io_queue_depth: module_params::io_queue_depth.value(),
        max_io_queues: module_params::max_io_queues.value(),
        poll_queues: module_params::poll_queues.value(),
        sgl_threshold: module_params::sgl_threshold.value(),
        use_dbbuf: module_params::use_dbbuf.value(),
        debug_stats: module_params::debug_stats.value(),
        use_msi: module_params::use_msi.value(),
        health_check: module_params::health_check.value(),
        multipath: module_params::multipath.value(),
    }
}

impl pci::Driver for NvmeDriver {
    type IdInfo = ();
    type Data<'bound> = Controller<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: kver::PciIdInfo<'bound, Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        Controller::new(pdev, params())
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.nvme_remove();
    }
}

impl DriverExt for NvmeDriver {
    fn shutdown(_pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>) {
        this.nvme_shutdown();
    }

    fn reset_prepare(_pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>) {
        this.nvme_reset_prepare();
    }

    fn reset_done(_pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>) {
        this.nvme_reset_done();
    }

    fn error_detected(
        _pdev: &pci::Device<Core<'_>>,
        this: Pin<&Controller<'_>>,
        state: ChannelState,
    ) -> ErsResult {
        this.nvme_error_detected(state)
    }

    fn slot_reset(pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>) -> ErsResult {
        this.nvme_slot_reset(pdev)
    }

    fn suspend(_pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>, _how: Sleep) -> Result {
        this.nvme_suspend()
    }

    fn resume(_pdev: &pci::Device<Core<'_>>, this: Pin<&Controller<'_>>, _how: Sleep) -> Result {
        this.nvme_resume()
    }
}

kver::module_pci_driver! {
    type: NvmeDriver,
    name: "rust_nvme",
    authors: ["rust-nvme developers"],
    description: "NVMe PCIe block driver in Rust",
    license: "GPL",
    params: {
        io_timeout: u32 {
            default: 30,
            description: "I/O request timeout in seconds, before recovery starts",
        },
        admin_timeout: u32 {
            default: 60,
            description: "Admin command timeout in seconds",
        },
        io_queue_depth: u32 {
            default: 1024,
            description: "Entries per I/O queue (at most the controller's CAP.MQES + 1)",
        },
        max_io_queues: u32 {
            default: 0,
            description: "Most I/O queue pairs per controller (0: one per CPU)",
        },
        poll_queues: u32 {
            default: 0,
            description: "Polled I/O queues per controller, for io_uring polled I/O",
        },
        sgl_threshold: u32 {
            default: 32768,
            description: "Use SGLs for scattered I/O whose average segment is at least this many bytes (0: only where PRPs cannot describe the data)",
        },
        use_dbbuf: bool {
            default: true,
            description: "Use shadow doorbells when the controller offers them (never with INTx)",
        },
        debug_stats: bool {
            default: false,
            description: "Count submissions, completions and MMIO doorbell writes per queue; log them at unbind",
        },
        use_msi: bool {
            default: true,
            description: "Use MSI-X/MSI interrupts (false: legacy INTx only)",
        },
        multipath: bool {
            default: true,
            description: "One disk per namespace attached to several controllers of an NVM subsystem, with a path per controller (false: a disk per controller and namespace, as C without native multipath)",
        },
        health_check: bool {
            default: true,
            description: "Reset a controller found not ready or failed (after an FLR, a fatal error) within a second (false: only I/O and admin timeouts find it)",
        },
    },
}
