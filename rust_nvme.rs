// SPDX-License-Identifier: GPL-2.0

//! Rust NVMe PCIe driver.
//!
//! Binds to NVMe controllers (PCI class 0x010802), brings them up through the admin queue,
//! creates one I/O queue pair per CPU (as far as the controller and the interrupt vectors
//! allow) and exposes every supported namespace as a block device `rnvme<ctrl>n<nsid>` through
//! blk-mq. This file is the module root: the PCI id table, probe and unbind, and the
//! controller's lifetime.

use core::sync::atomic::{
    AtomicU64,
    Ordering, //
};

use kernel::{
    device::{
        self,
        Bound,
        Core, //
    },
    dma::{
        self,
        DmaMask, //
    },
    io::Io,
    new_mutex,
    pci,
    prelude::*,
    str::BStr,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    types::ScopeGuard, //
};

mod admin;
mod aen;
mod chardev;
mod ctrl;
mod glue;
mod io;
mod iod;
mod irq;
mod map;
mod ns;
mod nvme;
mod passthru;
mod queue;
mod regs;
mod scan;

use admin::{
    identify_copy,
    AdminQueue, //
};
use aen::Events;
use chardev::CtrlChar;
use ctrl::{
    CtrlCore,
    IoRefs, //
};
use glue::{
    kver,
    DmaPool,
    IrqHandler,
    IrqKind,
    IrqVectors,
    TagSet, //
};
use io::IoSet;
use iod::{
    NvmeMq,
    MAX_LIST_PAGES,
    MAX_SEGMENTS, //
};
use irq::VectorIrq;
use map::DataPath;
use nvme::{
    cmd,
    effects::{
        self,
        Effects, //
    },
    ident::{
        self,
        IdCtrl,
        IdCtrlNvm, //
    },
    prp,
    regs::{
        Cap,
        Vs,
        CTRL_PAGE_SHIFT, //
    },
    ring,
};
use passthru::{
    CtrlInfo,
    Passthru, //
};
use queue::{
    DbBuf,
    DoorbellBar,
    Queue,
    QueueStats, //
};
use scan::{
    DiskParams,
    NsScan, //
};

/// True when the `debug_stats` module parameter asks for queue counters.
pub(crate) fn debug_stats() -> bool {
    module_params::debug_stats.value()
}

/// BAR0 with the register file mapped; doorbells beyond the admin pair are checked at run time.
type Bar0<'bound> = pci::Bar<'bound, { regs::BAR0_MIN }>;

/// PCI class code of an NVM Express I/O controller: mass storage, non-volatile memory, NVMe.
const PCI_CLASS_STORAGE_EXPRESS: u32 = 0x010802;

/// Time allowed for a normal shutdown when the controller does not report RTD3E.
const SHUTDOWN_TIMEOUT_MS: u32 = 5_000;

/// Largest transfer the driver issues, whatever MDTS allows.
const MAX_TRANSFER_BYTES: u32 = 2 << 20;

/// Largest number of controllers bound at once (bits of [`CTRL_IDS`]).
const MAX_CONTROLLERS: u32 = 64;

/// Controller numbers in use, for disk names.
static CTRL_IDS: AtomicU64 = AtomicU64::new(0);

/// A controller number, released on drop.
struct CtrlId(u32);

impl CtrlId {
    fn alloc() -> Result<Self> {
        let mut cur = CTRL_IDS.load(Ordering::Relaxed);
        loop {
            let free = (!cur).trailing_zeros();
            if free >= MAX_CONTROLLERS {
                return Err(EBUSY);
            }
            match CTRL_IDS.compare_exchange(
                cur,
                cur | (1 << free),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Self(free)),
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for CtrlId {
    fn drop(&mut self) {
        CTRL_IDS.fetch_and(!(1u64 << self.0), Ordering::AcqRel);
    }
}

/// PCI ids of controllers whose namespace identifiers (EUI64, NGUID, UUID) are not unique:
/// QEMU's emulated controller, whose older versions gave every namespace the same ones. As the
/// C driver does for it, such identifiers are ignored, and `wwid` is built from the vendor,
/// serial, model and nsid instead.
pub(crate) const QUIRK_BOGUS_NID: [(u16, u16); 1] = [(0x1b36, 0x0010)];

/// What exists only while the controller serves I/O; torn down first, in order, on unbind.
struct IoState {
    ns: Arc<NsScan>,
    tagset: Arc<Pin<KBox<TagSet<NvmeMq>>>>,
    irqs: KVec<IrqHandler<VectorIrq>>,
    set: Arc<IoSet>,
}

/// Per-controller driver data, alive from probe until unbind.
///
/// Fields drop in declaration order: I/O state, the admin interrupt, the core, then BAR0,
/// which the core's register mapping relies on.
struct Controller<'bound> {
    /// `/dev/rnvme<N>`, removed first.
    _chardev: Option<Pin<KBox<CtrlChar>>>,
    io: Pin<KBox<Mutex<Option<IoState>>>>,
    admin_irq: IrqHandler<VectorIrq>,
    core: Arc<CtrlCore>,
    /// Passthrough, shared with the char device and the disks, which open descriptors may keep
    /// after unbind; teardown detaches it from the controller.
    passthru: Arc<Passthru>,
    _id: CtrlId,
    /// Time allowed for shutdown, in milliseconds.
    shutdown_ms: u32,
    /// Keeps BAR0 mapped for the core's registers and the queues' doorbells.
    _bar: Bar0<'bound>,
}

struct NvmeDriver;

kver::pci_device_table!(
    PCI_TABLE,
    <NvmeDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(PCI_CLASS_STORAGE_EXPRESS, 0xffffff),
        ()
    )]
);

fn read_cap(bar: &Bar0<'_>) -> Cap {
    Cap(u64::from(bar.read(regs::CAP_LO).into_raw())
        | (u64::from(bar.read(regs::CAP_HI).into_raw()) << 32))
}

/// Prints an identify string (space padded ASCII).
fn id_str(s: &[u8]) -> &BStr {
    BStr::from_bytes(ident::trim(s))
}

impl<'bound> Controller<'bound> {
    /// Brings the controller up: admin queue, identify, I/O queues, tag set and disks.
    fn probe(pdev: &'bound pci::Device<Core<'_>>) -> Result<Self> {
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar = pdev.iomap_region_sized::<{ regs::BAR0_MIN }>(0, c"rust_nvme")?;
        let pdev_b: &'bound pci::Device<Bound> = pdev;

        let cap = read_cap(&bar);
        if cap.0 == u64::MAX {
            dev_err!(pdev, "CAP reads as all ones: controller not responding\n");
            return Err(ENODEV);
        }
        if !cap.css_nvm() {
            dev_err!(pdev, "controller does not support the NVM command set\n");
            return Err(ENODEV);
        }
        if CTRL_PAGE_SHIFT < cap.min_page_shift() || CTRL_PAGE_SHIFT > cap.max_page_shift() {
            dev_err!(
                pdev,
                "controller page sizes 2^{}..2^{} exclude 4 KiB\n",
                cap.min_page_shift(),
                cap.max_page_shift()
            );
            return Err(ENODEV);
        }
        let vs = Vs(bar.read(regs::VS).into_raw());
        let timeout_ms = cap.timeout_ms();

        // SAFETY: nothing has been allocated or mapped for DMA on this device yet.
        unsafe { dma::Device::dma_set_mask_and_coherent(pdev, DmaMask::new::<64>())? };
        // PRPs describe segments of any length, and the queue limits let the block layer build
        // them; raise the DMA layer's 64 KiB default to match (DMA-API debugging checks it).
        // SAFETY: as above, no DMA allocation or mapping runs concurrently.
        unsafe { dma::Device::dma_set_max_seg_size(pdev, u32::MAX) };

        let id = CtrlId::alloc()?;
        let dev: &device::Device<Bound> = pdev.as_ref();
        let base = kver::bar_base(&bar);
        let len = kver::bar_len(&bar);
        let dbar = DoorbellBar {
            base,
            len,
            dstrd: cap.dstrd(),
        };

        let max_io = match module_params::max_io_queues.value() {
            0 => kernel::cpu::nr_cpu_ids(),
            n => n.min(kernel::cpu::nr_cpu_ids()),
        }
        .clamp(1, 1024);
        let vectors = Arc::new(
            IrqVectors::alloc(pdev_b, max_io + 1, module_params::use_msi.value())?,
            GFP_KERNEL,
        )?;

        let admin_q = Arc::pin_init(
            Queue::new(dev, dbar, 0, cmd::AQ_DEPTH, Some(0), None),
            GFP_KERNEL,
        )?;
        let admin = Arc::pin_init(
            AdminQueue::new(
                admin_q.clone(),
                module_params::admin_timeout.value().saturating_mul(1000),
            ),
            GFP_KERNEL,
        )?;
        let core = Arc::pin_init(
            // SAFETY: `base..base + len` is the BAR0 mapping that `Self::bar` keeps until the
            // core's users are gone (teardown and the field order of `Controller`).
            unsafe {
                CtrlCore::new(
                    ARef::from(&**dev),
                    kver::regs_new(base, len)?,
                    admin.clone(),
                    timeout_ms,
                )
            },
            GFP_KERNEL,
        )?;
        core.disable()?;
        let admin_irq = IrqHandler::new(
            &vectors,
            0,
            c"rust_nvme",
            VectorIrq::new(Some(admin.clone()), KVec::new()),
        )?;
        // I/O queue memory must outlive the guard below: on failure the controller is disabled
        // first, and only then are the rings it may still point to freed.
        let mut queues: KVec<Arc<Queue>> = KVec::new();
        // From here on a failure must leave the controller disabled and its reset work idle.
        let enabled = ScopeGuard::new(|| {
            core.start_teardown();
            let _ = core.disable();
        });
        core.enable(&admin_q)?;

        let idc = admin.identify(dev, cmd::CNS_CTRL, 0).inspect_err(|e| {
            dev_err!(pdev, "Identify Controller failed: {:?}\n", e);
        })?;
        let idc = IdCtrl::parse(&*identify_copy(&idc)?);

        // I/O queues: one per vector beyond the admin one (or one on a shared vector), then
        // the polled queues the `poll_queues` parameter asks for.
        let irq_affinity = vectors.count() > 1;
        let want = if irq_affinity {
            (vectors.count() - 1).min(max_io)
        } else {
            1
        };
        let want_poll = module_params::poll_queues.value().min(max_io);
        // CAST: both at most 1024.
        let (want, want_poll) = (want as u16, want_poll as u16);
        let granted = admin.set_queue_count(want + want_poll).map_err(|e| {
            dev_err!(
                pdev,
                "Set Features (Number of Queues) failed: {}\n",
                e.name()
            );
            Error::from(e)
        })?;
        let nr_default = want.min(granted);
        let nr_poll = want_poll.min(granted - nr_default);
        let nr_io = nr_default + nr_poll;
        let depth = ring::io_queue_depth(
            cap.max_queue_entries(),
            module_params::io_queue_depth.value(),
        );
        // Not on INTx: the pin is level-triggered, and a controller may lower it only when an
        // MMIO CQ head doorbell write shows the queue drained (QEMU's does). Shadow doorbells
        // skip most of those writes, which leaves the pin asserted after the handler has
        // drained the queue: interrupts that find nothing, until the kernel disables the line.
        let dbbuf = if idc.oacs_dbbuf()
            && module_params::use_dbbuf.value()
            && vectors.kind() != IrqKind::Intx
        {
            Some(Arc::new(DbBuf::new(dev, cap.dstrd())?, GFP_KERNEL)?)
        } else {
            None
        };
        queues.reserve(usize::from(nr_io), GFP_KERNEL)?;
        let mut irqs = KVec::with_capacity(usize::from(nr_default), GFP_KERNEL)?;
        for qid in 1..=nr_io {
            let vector = match (qid <= nr_default, irq_affinity) {
                (false, _) => None,
                (true, true) => Some(qid),
                (true, false) => Some(0),
            };
            let q = Arc::pin_init(
                Queue::new(dev, dbar, qid, depth, vector, dbbuf.as_ref()),
                GFP_KERNEL,
            )?;
            if let Err(e) = admin.create_io_queue(&q, !q.polled) {
                dev_err!(pdev, "creating I/O queue {} failed: {}\n", qid, e.name());
                return Err(e.into());
            }
            if irq_affinity && !q.polled {
                let mut own = KVec::with_capacity(1, GFP_KERNEL)?;
                own.push(q.clone(), GFP_KERNEL)?;
                irqs.push(
                    IrqHandler::new(
                        &vectors,
                        u32::from(qid),
                        c"rust_nvme",
                        VectorIrq::new(None, own),
                    )?,
                    GFP_KERNEL,
                )?;
            }
            queues.push(q, GFP_KERNEL)?;
        }
        let mut io_queues = KVec::with_capacity(queues.len(), GFP_KERNEL)?;
        for q in queues.iter() {
            io_queues.push(q.clone(), GFP_KERNEL)?;
        }
        if !irq_affinity {
            let mut shared = KVec::with_capacity(queues.len(), GFP_KERNEL)?;
            for q in queues.iter().filter(|q| !q.polled) {
                shared.push(q.clone(), GFP_KERNEL)?;
            }
            if admin_irq.handler().shared.populate(shared) {
                admin_irq
                    .handler()
                    .has_shared
                    .store(true, Ordering::Release);
            }
        }
        let dbbuf_on = dbbuf.as_ref().is_some_and(|b| core.config_dbbuf(b));

        // Transfer limits: MDTS, our own cap, and what fits the per-request list pages.
        let mut max_transfer = idc
            .max_transfer_bytes(cap.min_page_shift())
            .unwrap_or(u32::MAX)
            .min(MAX_TRANSFER_BYTES);
        while prp::max_list_pages(max_transfer, CTRL_PAGE_SHIFT) > MAX_LIST_PAGES {
            max_transfer /= 2;
        }
        // CAST: capped by `MAX_SEGMENTS`, a `u16`.
        let max_segs =
            prp::max_segments(max_transfer, CTRL_PAGE_SHIFT).min(u32::from(MAX_SEGMENTS)) as u16;

        let set = Arc::new(
            IoSet {
                queues: io_queues,
                data: DataPath {
                    dev: glue::DevRef::new(dev),
                    pool: DmaPool::new(c"rust_nvme_prp", dev, 1 << CTRL_PAGE_SHIFT)?,
                    sgl: idc.sgl_supported(),
                    sgl_threshold: module_params::sgl_threshold.value(),
                },
                irq_affinity,
                nr_default: u32::from(nr_default),
                core: core.clone(),
            },
            GFP_KERNEL,
        )?;
        let tagset = Arc::new(
            KBox::pin_init(
                TagSet::<NvmeMq>::new(
                    set.clone(),
                    if nr_poll > 0 { 3 } else { 1 },
                    u32::from(nr_io),
                    u32::from(depth) - 1,
                    module_params::io_timeout.value().clamp(1, 3600) * 1000,
                ),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;

        let mut core_queues = KVec::with_capacity(queues.len(), GFP_KERNEL)?;
        for q in queues.iter() {
            core_queues.push(q.clone(), GFP_KERNEL)?;
        }
        core.set_io(IoRefs {
            queues: core_queues,
            tagset: tagset.handle(),
            dbbuf,
        });

        let info = CtrlInfo {
            vid: idc.vid,
            model: idc.mn,
            serial: idc.sn,
            firmware: idc.fr,
            queue_count: u32::from(nr_io) + 1,
            sqsize: u32::from(depth) - 1,
        };
        let effects = Self::read_effects(&admin, dev, &idc)?;
        let passthru = Passthru::new(dev, core.clone(), info, effects, idc.sgl_supported())?;
        let params = DiskParams {
            ctrl: id.0,
            max_transfer,
            max_segs,
            passthru: passthru.clone(),
            bogus_nid: QUIRK_BOGUS_NID.contains(&(pdev.vendor_id().as_raw(), pdev.device_id())),
            nvm: Self::identify_ctrl_nvm(&admin, dev, vs),
        };
        let ns = NsScan::new(dev, idc.clone(), params, tagset.clone())?;
        ns.rescan(&admin, false)?;
        dev_info!(
            pdev,
            "{} ({}), firmware {}, NVMe {}.{}.{}, MQES {}, {} I/O queues of depth {} on {} {}, {} namespaces; {} poll queues, shadow doorbells {}\n",
            id_str(idc.model()),
            id_str(idc.serial()),
            id_str(idc.firmware()),
            vs.major(),
            vs.minor(),
            vs.tertiary(),
            cap.mqes(),
            nr_default,
            depth,
            vectors.count(),
            vectors.kind().name(),
            ns.count(),
            nr_poll,
            if dbbuf_on { "on" } else { "off" }
        );

        let shutdown_ms = if idc.rtd3e == 0 {
            SHUTDOWN_TIMEOUT_MS
        } else {
            (idc.rtd3e / 1000).clamp(SHUTDOWN_TIMEOUT_MS, 60_000)
        };
        let chardev = match CtrlChar::new(id.0, passthru.clone()) {
            Some(init) => KBox::pin_init(init, GFP_KERNEL)
                .inspect_err(|e| dev_warn!(pdev, "no char device: {:?}\n", e))
                .ok(),
            None => None,
        };
        let io = KBox::pin_init(
            new_mutex!(Some(IoState {
                ns: ns.clone(),
                tagset,
                irqs,
                set,
            })),
            GFP_KERNEL,
        )?;
        // Nothing fatal can happen any more: from here on unbind disables the controller. Up
        // to here a failure removed the disks (dropped before this guard), then disabled the
        // controller, and only then freed the rings it was using.
        enabled.dismiss();
        // Last, once nothing can fail: from here on unbind stops the events.
        if let Err(e) = Events::start(&admin, dev, &idc, ns) {
            dev_warn!(pdev, "no asynchronous events: {:?}\n", e);
        }
        Ok(Self {
            _chardev: chardev,
            io,
            admin_irq,
            core,
            passthru,
            _id: id,
            shutdown_ms,
            _bar: bar,
        })
    }

    /// Identify Controller for the NVM command set (CNS 06h), from NVMe 1.2 on, where the CNS
    /// field is a full byte; a controller without it has no such limits.
    fn identify_ctrl_nvm(admin: &AdminQueue, dev: &device::Device<Bound>, vs: Vs) -> IdCtrlNvm {
        if (vs.major(), vs.minor()) < (1, 2) {
            return IdCtrlNvm::default();
        }
        admin
            .identify(dev, ident::CNS_CS_CTRL, 0)
            .ok()
            .and_then(|buf| identify_copy(&buf).ok())
            .map(|b| IdCtrlNvm::parse(&b))
            .unwrap_or_default()
    }

    /// The Commands Supported and Effects log when the controller has one (LPA bit 1), with
    /// what the driver knows added; only the driver's knowledge otherwise (then no I/O
    /// passthrough is open to unprivileged users, as in the C driver).
    fn read_effects(
        admin: &AdminQueue,
        dev: &device::Device<Bound>,
        idc: &IdCtrl,
    ) -> Result<KBox<Effects>> {
        if idc.lpa & effects::LPA_CMD_EFFECTS != 0 {
            let buf =
                kernel::dma::Coherent::<u8>::zeroed_slice(dev, effects::LOG_SIZE, GFP_KERNEL)?;
            // CAST: 4 KiB.
            match admin.get_log_page(&buf, effects::LOG_CMD_EFFECTS, effects::LOG_SIZE as u32) {
                Ok(()) => {
                    let log = identify_copy(&buf)?;
                    return Ok(KBox::new(Effects::parse(&log), GFP_KERNEL)?);
                }
                Err(e) => dev_warn!(
                    dev,
                    "Commands Supported and Effects log unreadable ({:?}): unprivileged I/O passthrough off\n",
                    e
                ),
            }
        }
        Ok(KBox::new(Effects::known(), GFP_KERNEL)?)
    }

    /// Removes the disks, deletes the I/O queues and shuts the controller down.
    fn teardown(&self) {
        self.core.start_teardown();
        if self.core.csts().is_gone() {
            // Surprise removal: nothing will complete what is in flight, so fail it now, and
            // fail new I/O at once, so that removing the disks cannot hang.
            self.core.kill("device removed");
        }
        // No more asynchronous event work: the interrupt handler may have queued it until it
        // saw the events stopped; a running rescan finishes before the disks go.
        self.core.admin.stop_events();
        self.admin_irq.synchronize();
        self.core.admin.flush_events();
        let io = self.io.lock().take();
        if let Some(io) = io {
            // Deleting the disks drains their I/O, which still completes through the queues.
            io.ns.remove_all();
            drop(io.ns);
            let queues = self.core.clear_io();
            if let (true, Some(queues)) = (debug_stats(), &queues) {
                for q in queues.iter() {
                    let st = &q.stats;
                    dev_info!(
                        self.core.dev,
                        "queue {}: {} commands, {} completions, {} SQ and {} CQ doorbell MMIO writes, {} by SGL\n",
                        q.qid,
                        QueueStats::get(&st.submitted),
                        QueueStats::get(&st.completed),
                        QueueStats::get(&st.sq_mmio),
                        QueueStats::get(&st.cq_mmio),
                        QueueStats::get(&st.sgl)
                    );
                }
            }
            if let Some(queues) = &queues {
                self.core.delete_io_queues(queues);
            }
            drop(io.irqs);
            self.admin_irq
                .handler()
                .io_active
                .store(false, Ordering::Release);
            self.admin_irq.synchronize();
            drop(io.tagset);
            drop(io.set);
        }
        self.core.shutdown(self.shutdown_ms);
        // Open char devices and disk nodes may outlive us: nothing more reaches the device,
        // and what they hold keeps no controller memory.
        self.core.admin.close();
        self.passthru.detach();
        // Recovery polling during teardown may have queued the event work once more.
        self.core.admin.flush_events();
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
        // The probe runs inside the initializer, once the PCI core has the driver data's box:
        // a probe evaluated first would leave a live controller (disks, events, an enabled
        // device) to a plain drop, never unbound, if that allocation then failed.
        pin_init::pin_init_scope(move || Ok::<_, Error>(Controller::probe(pdev)))
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.teardown();
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
    },
}
