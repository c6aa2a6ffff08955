// SPDX-License-Identifier: GPL-2.0

//! Rust NVMe PCIe driver.
//!
//! Binds to NVMe controllers (PCI class 0x010802), brings them up through the admin queue and
//! exposes their namespaces as block devices through blk-mq. This file is the module root: the
//! PCI id table, probe and unbind, and the controller's lifetime.

use kernel::{
    device::{
        Bound,
        Core, //
    },
    io::{
        poll::read_poll_timeout,
        Io, //
    },
    pci,
    prelude::*,
    time::Delta, //
};

mod nvme;
mod regs;

use nvme::regs::{
    Cap,
    Cc,
    Csts,
    Vs, //
};

/// BAR0 with the register file mapped; doorbells beyond the admin pair are checked at run time.
type Bar0<'bound> = pci::Bar<'bound, { regs::BAR0_MIN }>;

/// PCI class code of an NVM Express I/O controller: mass storage, non-volatile memory, NVMe.
const PCI_CLASS_STORAGE_EXPRESS: u32 = 0x010802;

/// Per-controller driver data, alive from probe until unbind.
struct Controller<'bound> {
    pdev: &'bound pci::Device<Bound>,
    bar: Bar0<'bound>,
    /// CAP.TO: worst-case time for CSTS.RDY to change, in milliseconds.
    timeout_ms: u32,
}

struct NvmeDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <NvmeDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(PCI_CLASS_STORAGE_EXPRESS, 0xffffff),
        ()
    )]
);

impl Controller<'_> {
    /// Clears CC.EN and waits for CSTS.RDY to drop, within CAP.TO.
    fn disable(&self) -> Result {
        let cc = Cc(self.bar.read(regs::CC).into_raw());
        if cc.enable() {
            self.bar
                .write_reg(regs::CC::from_raw(cc.with_enable(false).0));
        }
        self.wait_ready(false)
    }

    /// Waits until CSTS.RDY equals `ready`, failing on CSTS.CFS or after CAP.TO.
    fn wait_ready(&self, ready: bool) -> Result {
        let csts = read_poll_timeout(
            || Ok(Csts(self.bar.read(regs::CSTS).into_raw())),
            |csts| csts.rdy() == ready || csts.cfs() || csts.is_gone(),
            Delta::from_millis(1),
            Delta::from_millis(i64::from(self.timeout_ms)),
        )
        .inspect_err(|_| {
            dev_err!(
                self.pdev,
                "controller did not become {} within {} ms\n",
                if ready { "ready" } else { "disabled" },
                self.timeout_ms
            );
        })?;
        if csts.is_gone() {
            dev_err!(self.pdev, "controller registers read as all ones: device gone\n");
            return Err(ENODEV);
        }
        if csts.cfs() {
            dev_err!(self.pdev, "controller fatal status (CSTS.CFS) set\n");
            return Err(EIO);
        }
        Ok(())
    }
}

impl pci::Driver for NvmeDriver {
    type IdInfo = ();
    type Data<'bound> = Controller<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar = pdev.iomap_region_sized::<{ regs::BAR0_MIN }>(0, c"rust_nvme")?;

        let cap = Cap(u64::from(bar.read(regs::CAP_LO).into_raw())
            | (u64::from(bar.read(regs::CAP_HI).into_raw()) << 32));
        if cap.0 == u64::MAX {
            dev_err!(pdev, "CAP reads as all ones: controller not responding\n");
            return Err(ENODEV);
        }
        let vs = Vs(bar.read(regs::VS).into_raw());
        let timeout_ms = cap.timeout_ms();
        let ctrl = Controller {
            pdev,
            bar,
            timeout_ms,
        };
        ctrl.disable()?;

        dev_info!(
            pdev,
            "NVMe {}.{}.{}, MQES {} ({} entries), doorbell stride {} bytes, timeout {} ms\n",
            vs.major(),
            vs.minor(),
            vs.tertiary(),
            cap.mqes(),
            cap.max_queue_entries(),
            cap.doorbell_stride(),
            timeout_ms
        );
        Ok(ctrl)
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        let _ = this.disable();
    }
}

kernel::module_pci_driver! {
    type: NvmeDriver,
    name: "rust_nvme",
    authors: ["rust-nvme developers"],
    description: "NVMe PCIe block driver in Rust",
    license: "GPL",
}
