// SPDX-License-Identifier: GPL-2.0

//! Probe and unbind of one controller, in the steps of the C driver's pci.c: enable the PCI
//! function ([`nvme_pci_enable`]), configure the admin queue and enable the controller
//! ([`nvme_pci_configure_admin_queue`]), identify it ([`nvme_identify`]), create the I/O queues
//! ([`nvme_setup_io_queues`]), allocate the tag set ([`nvme_alloc_io_tag_set`]) and scan the
//! namespaces ([`nvme_scan`]); unbind ([`Controller::nvme_remove`]) undoes them.
//!
//! Each step returns what it built, and what it built is released by drop: a probe that fails
//! at any step drops the steps before it in reverse order, with no cleanup list. What makes
//! that safe for the device is [`Enabled`]: built when the controller is enabled, it disables
//! the controller when dropped, and the core ([`CtrlCore`]) holds every I/O queue from the
//! moment it exists on the controller, so no ring memory is freed while the controller may
//! still use it, whatever order the rest drops in.

use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    AtomicU8,
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
        Coherent,
        DmaMask, //
    },
    io::Io,
    new_mutex, pci,
    prelude::*,
    str::BStr,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
};

use crate::{
    admin::{
        identify_copy,
        AdminQueue, //
    },
    aen::Events,
    chardev::CtrlChar,
    ctrl::{
        CtrlCore,
        IoRefs,
        Shutdown, //
    },
    glue::{
        self,
        kver,
        ChannelState,
        DmaPool,
        ErsResult,
        Hwmon,
        IrqHandler,
        IrqKind,
        IrqVectors,
        TagSet, //
    },
    hwmon::{
        nvme_hwmon_init,
        NvmeHwmon, //
    },
    io::IoSet,
    iod::{
        NvmeMq,
        MAX_LIST_PAGES,
        MAX_SEGMENTS, //
    },
    irq::VectorIrq,
    map::DataPath,
    mpath::{
        Instance,
        Membership,
        Subsystem, //
    },
    nvme::{
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
        mpath::CMIC_ANA,
        prp,
        regs::{
            Cap,
            Vs,
            CTRL_PAGE_SHIFT, //
        },
        ring,
    },
    passthru::{
        CtrlInfo,
        Passthru, //
    },
    queue::{
        DbBuf,
        DoorbellBar,
        Queue,
        QueueStats, //
    },
    regs,
    scan::{
        DiskParams,
        NsScan, //
    },
};

/// BAR0 with the register file mapped; doorbells beyond the admin pair are checked at run time.
type Bar0<'bound> = pci::Bar<'bound, { regs::BAR0_MIN }>;

/// Time allowed for a normal shutdown when the controller does not report RTD3E.
const SHUTDOWN_TIMEOUT_MS: u32 = 5_000;

/// Largest transfer the driver issues, whatever MDTS allows.
const MAX_TRANSFER_BYTES: u32 = 2 << 20;

/// PCI ids of controllers whose namespace identifiers (EUI64, NGUID, UUID) are not unique:
/// QEMU's emulated controller, whose older versions gave every namespace the same ones. As the
/// C driver does for it, such identifiers are ignored, and `wwid` is built from the vendor,
/// serial, model and nsid instead.
pub(crate) const QUIRK_BOGUS_NID: [(u16, u16); 1] = [(0x1b36, 0x0010)];

/// What the module parameters ask of every controller.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    /// I/O request timeout, in milliseconds.
    pub(crate) io_timeout_ms: u32,
    /// Admin command timeout, in milliseconds.
    pub(crate) admin_timeout_ms: u32,
    /// Entries per I/O queue asked for.
    pub(crate) io_queue_depth: u32,
    /// Most I/O queue pairs (0: one per CPU).
    pub(crate) max_io_queues: u32,
    /// Polled I/O queues.
    pub(crate) poll_queues: u32,
    /// `sgl_threshold`.
    pub(crate) sgl_threshold: u32,
    /// Shadow doorbells allowed.
    pub(crate) use_dbbuf: bool,
    /// Per-queue counters.
    pub(crate) debug_stats: bool,
    /// MSI-X/MSI allowed.
    pub(crate) use_msi: bool,
    /// The health check runs.
    pub(crate) health_check: bool,
    /// Shared namespaces of a subsystem's controllers get one disk (see [`crate::mpath`]).
    pub(crate) multipath: bool,
}

/// The controller enabled: dropped, it disables the controller, waits for a running reset,
/// and only then lets go of the I/O queues the core holds, so that the rings go after the
/// controller stopped using them. A failed probe drops it; a bound controller keeps it until
/// its driver data goes, after unbind has shut the controller down.
struct Enabled(Arc<CtrlCore>);

impl Drop for Enabled {
    fn drop(&mut self) {
        // The event handler holds the namespaces, which hold the core: let it go (unbind has
        // done so already; a probe that failed after starting the events has not).
        self.0.admin.stop_events();
        self.0.admin.flush_events();
        self.0.start_teardown();
        self.0.stop_dma();
        self.0.detach_recovery();
        drop(self.0.clear_io());
    }
}

/// What [`nvme_pci_enable`] sets up.
struct PciSetup<'bound> {
    bar: Bar0<'bound>,
    cap: Cap,
    vs: Vs,
    /// Where the doorbells are.
    dbar: DoorbellBar,
    /// One vector per I/O queue beyond the admin one, as far as the platform gives them.
    vectors: Arc<IrqVectors>,
}

/// Enables the PCI function (memory space, bus mastering), maps BAR0, checks the controller's
/// capabilities, sets the DMA mask and allocates interrupt vectors for up to `max_io` I/O
/// queues.
fn nvme_pci_enable<'bound>(
    pdev: &'bound pci::Device<Core<'_>>,
    max_io: u32,
    params: &Params,
) -> Result<PciSetup<'bound>> {
    pdev.enable_device_mem()?;
    pdev.set_master();
    let bar = pdev.iomap_region_sized::<{ regs::BAR0_MIN }>(0, c"rust_nvme")?;
    let cap = Cap(u64::from(bar.read(regs::CAP_LO).into_raw())
        | (u64::from(bar.read(regs::CAP_HI).into_raw()) << 32));
    if cap.0 == u64::MAX {
        dev_err!(pdev, "CAP reads as all ones: controller not responding\n");
        return Err(ENODEV);
    }
    if !cap.css_nvm() {
        dev_err!(
            pdev,
            "controller does not support the NVM command set (CAP {:#x})\n",
            cap.0
        );
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
    // SAFETY: nothing has been allocated or mapped for DMA on this device yet.
    unsafe { dma::Device::dma_set_mask_and_coherent(pdev, DmaMask::new::<64>())? };
    // PRPs describe segments of any length, and the queue limits let the block layer build
    // them; raise the DMA layer's 64 KiB default to match (DMA-API debugging checks it).
    // SAFETY: as above, no DMA allocation or mapping runs concurrently.
    unsafe { dma::Device::dma_set_max_seg_size(pdev, u32::MAX) };
    let dbar = DoorbellBar {
        base: kver::bar_base(&bar),
        len: kver::bar_len(&bar),
        dstrd: cap.dstrd(),
    };
    let pdev_b: &pci::Device<Bound> = pdev;
    let vectors = Arc::new(
        IrqVectors::alloc(pdev_b, max_io + 1, params.use_msi)?,
        GFP_KERNEL,
    )?;
    Ok(PciSetup {
        bar,
        cap,
        vs,
        dbar,
        vectors,
    })
}

/// What [`nvme_pci_configure_admin_queue`] sets up.
struct AdminSetup {
    core: Arc<CtrlCore>,
    admin_irq: IrqHandler<VectorIrq>,
    enabled: Enabled,
}

/// Allocates the admin queue and the controller core, disables the controller, hooks the
/// admin queue's interrupt, programs the admin queue and enables the controller.
fn nvme_pci_configure_admin_queue(
    dev: &device::Device<Bound>,
    pci: &PciSetup<'_>,
    params: &Params,
) -> Result<AdminSetup> {
    let admin_q = Arc::pin_init(
        Queue::new(
            dev,
            pci.dbar,
            0,
            cmd::AQ_DEPTH,
            Some(0),
            None,
            params.debug_stats,
        ),
        GFP_KERNEL,
    )?;
    let admin = Arc::pin_init(
        AdminQueue::new(admin_q.clone(), params.admin_timeout_ms),
        GFP_KERNEL,
    )?;
    let core = Arc::pin_init(
        // SAFETY: `dbar` describes the BAR0 mapping that the controller's `_bar` keeps until
        // the core's users are gone (unbind, and the field order of `Controller`).
        unsafe {
            CtrlCore::new(
                ARef::from(&**dev),
                kver::regs_new(pci.dbar.base, pci.dbar.len)?,
                admin.clone(),
                pci.cap.timeout_ms(),
            )
        },
        GFP_KERNEL,
    )?;
    core.disable()?;
    let admin_irq = IrqHandler::new(
        &pci.vectors,
        0,
        c"rust_nvme",
        VectorIrq::new(Some(admin), KVec::new()),
    )?;
    // From here on the controller may use the admin queue: disabled again before it goes.
    let enabled = Enabled(core.clone());
    core.attach_recovery()?;
    core.enable(&admin_q)?;
    Ok(AdminSetup {
        core,
        admin_irq,
        enabled,
    })
}

/// What [`nvme_identify`] learns.
struct Identity {
    idc: IdCtrl,
    nvm: IdCtrlNvm,
    effects: KBox<Effects>,
}

/// Identify Controller, the NVM command set's controller limits and the Commands Supported and
/// Effects log.
fn nvme_identify(admin: &AdminQueue, dev: &device::Device<Bound>, vs: Vs) -> Result<Identity> {
    let idc = admin.identify(dev, cmd::CNS_CTRL, 0).inspect_err(|e| {
        dev_err!(dev, "Identify Controller failed: {:?}\n", e);
    })?;
    let idc = IdCtrl::parse(&*identify_copy(&idc)?);
    let nvm = identify_ctrl_nvm(admin, dev, vs);
    let effects = read_effects(admin, dev, &idc)?;
    Ok(Identity { idc, nvm, effects })
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
        let buf = Coherent::<u8>::zeroed_slice(dev, effects::LOG_SIZE, GFP_KERNEL)?;
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

/// What [`nvme_setup_io_queues`] sets up.
struct IoQueues {
    /// The I/O queues, interrupt driven first, then polled.
    queues: KVec<Arc<Queue>>,
    /// The handlers of the vectors of their own.
    irqs: KVec<IrqHandler<VectorIrq>>,
    /// Interrupt-driven queues.
    nr_default: u16,
    /// Polled queues.
    nr_poll: u16,
    /// Entries per queue.
    depth: u16,
    /// Each interrupt-driven queue has a vector of its own (else all share the admin one).
    irq_affinity: bool,
    /// Shadow doorbells are in use.
    dbbuf_on: bool,
}

/// Asks for the I/O queues (one per vector beyond the admin one, or one on a shared vector,
/// then the polled queues the `poll_queues` parameter asks for), creates those granted on the
/// controller with their interrupt handlers, and hands the core the queues (which it holds
/// until the controller is disabled) and the shadow doorbell pages.
fn nvme_setup_io_queues(
    dev: &device::Device<Bound>,
    pci: &PciSetup<'_>,
    admin: &AdminSetup,
    idc: &IdCtrl,
    max_io: u32,
    params: &Params,
) -> Result<IoQueues> {
    let core = &admin.core;
    let vectors = &pci.vectors;
    let irq_affinity = vectors.count() > 1;
    let want = if irq_affinity {
        (vectors.count() - 1).min(max_io)
    } else {
        1
    };
    let want_poll = params.poll_queues.min(max_io);
    // CAST: both at most 1024.
    let (want, want_poll) = (want as u16, want_poll as u16);
    let granted = core.admin.set_queue_count(want + want_poll).map_err(|e| {
        dev_err!(
            dev,
            "Set Features (Number of Queues) failed: {}\n",
            e.name()
        );
        Error::from(e)
    })?;
    let nr_default = want.min(granted);
    let nr_poll = want_poll.min(granted - nr_default);
    let nr_io = nr_default + nr_poll;
    let depth = ring::io_queue_depth(pci.cap.max_queue_entries(), params.io_queue_depth);
    // Not on INTx: the pin is level-triggered, and a controller may lower it only when an
    // MMIO CQ head doorbell write shows the queue drained (QEMU's does). Shadow doorbells
    // skip most of those writes, which leaves the pin asserted after the handler has drained
    // the queue: interrupts that find nothing, until the kernel disables the line.
    let dbbuf = if idc.oacs_dbbuf() && params.use_dbbuf && vectors.kind() != IrqKind::Intx {
        Some(Arc::new(DbBuf::new(dev, pci.cap.dstrd())?, GFP_KERNEL)?)
    } else {
        None
    };
    core.set_io(IoRefs {
        queues: KVec::with_capacity(usize::from(nr_io), GFP_KERNEL)?,
        tagset: None,
        dbbuf: dbbuf.clone(),
    });
    let mut queues = KVec::with_capacity(usize::from(nr_io), GFP_KERNEL)?;
    let mut irqs = KVec::with_capacity(usize::from(nr_default), GFP_KERNEL)?;
    for qid in 1..=nr_io {
        let vector = match (qid <= nr_default, irq_affinity) {
            (false, _) => None,
            (true, true) => Some(qid),
            (true, false) => Some(0),
        };
        let q = Arc::pin_init(
            Queue::new(
                dev,
                pci.dbar,
                qid,
                depth,
                vector,
                dbbuf.as_ref(),
                params.debug_stats,
            ),
            GFP_KERNEL,
        )?;
        // The core holds the queue before the controller may use it (see `Enabled`).
        core.add_io_queue(q.clone())?;
        if let Err(e) = core.admin.create_io_queue(&q, !q.polled) {
            dev_err!(dev, "creating I/O queue {} failed: {}\n", qid, e.name());
            return Err(e.into());
        }
        if irq_affinity && !q.polled {
            let mut own = KVec::with_capacity(1, GFP_KERNEL)?;
            own.push(q.clone(), GFP_KERNEL)?;
            irqs.push(
                IrqHandler::new(
                    vectors,
                    u32::from(qid),
                    c"rust_nvme",
                    VectorIrq::new(None, own),
                )?,
                GFP_KERNEL,
            )?;
        }
        queues.push(q, GFP_KERNEL)?;
    }
    if !irq_affinity {
        let mut shared = KVec::with_capacity(queues.len(), GFP_KERNEL)?;
        for q in queues.iter().filter(|q| !q.polled) {
            shared.push(q.clone(), GFP_KERNEL)?;
        }
        admin.admin_irq.handler().share(shared);
    }
    let dbbuf_on = dbbuf.as_ref().is_some_and(|b| core.config_dbbuf(b));
    Ok(IoQueues {
        queues,
        irqs,
        nr_default,
        nr_poll,
        depth,
        irq_affinity,
        dbbuf_on,
    })
}

/// The transfer limits of the controller's disks: MDTS, our own cap, the largest DMA mapping
/// the device takes in one piece (`dma_opt`: a request can be one physically contiguous
/// segment, and with bounce buffers a longer one never maps, so blk-mq would retry it for
/// ever), and what fits the per-request list pages; returns the largest transfer and the most
/// segments.
fn transfer_limits(idc: &IdCtrl, cap: Cap, dma_opt: usize) -> (u32, u16) {
    // CAST: clamped to `u32` first; whole controller pages.
    let dma_opt = (dma_opt.min(u32::MAX as usize) as u32) & !((1 << CTRL_PAGE_SHIFT) - 1);
    let mut max_transfer = idc
        .max_transfer_bytes(cap.min_page_shift())
        .unwrap_or(u32::MAX)
        .min(MAX_TRANSFER_BYTES)
        .min(dma_opt.max(1 << CTRL_PAGE_SHIFT));
    while prp::max_list_pages(max_transfer, CTRL_PAGE_SHIFT) > MAX_LIST_PAGES {
        max_transfer /= 2;
    }
    // CAST: capped by `MAX_SEGMENTS`, a `u16`.
    let max_segs =
        prp::max_segments(max_transfer, CTRL_PAGE_SHIFT).min(u32::from(MAX_SEGMENTS)) as u16;
    (max_transfer, max_segs)
}

/// The tag set of the controller's disks and the data its callbacks share.
type IoTagSet = Arc<Pin<KBox<TagSet<NvmeMq>>>>;

/// Allocates the tag set of the I/O queues (with a poll map when there are polled queues)
/// and tells the core about it.
fn nvme_alloc_io_tag_set(
    dev: &device::Device<Bound>,
    core: &Arc<CtrlCore>,
    io: &IoQueues,
    sgl: bool,
    params: &Params,
) -> Result<IoTagSet> {
    let mut queues = KVec::with_capacity(io.queues.len(), GFP_KERNEL)?;
    for q in io.queues.iter() {
        queues.push(q.clone(), GFP_KERNEL)?;
    }
    let set = Arc::new(
        IoSet {
            queues,
            data: DataPath {
                dev: glue::DevRef::new(dev),
                pool: DmaPool::new(c"rust_nvme_prp", dev, 1 << CTRL_PAGE_SHIFT)?,
                sgl,
                sgl_threshold: params.sgl_threshold,
                per_vector: glue::dma_map_is_direct(dev),
            },
            irq_affinity: io.irq_affinity,
            nr_default: u32::from(io.nr_default),
            core: core.clone(),
            irq_map: {
                let n = kernel::cpu::nr_cpu_ids() as usize;
                let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
                for _ in 0..n {
                    v.push(AtomicU32::new(0), GFP_KERNEL)?;
                }
                v
            },
            irq_map_ready: AtomicBool::new(false),
        },
        GFP_KERNEL,
    )?;
    let tagset = Arc::new(
        KBox::pin_init(
            TagSet::<NvmeMq>::new(
                set,
                if io.nr_poll > 0 { 3 } else { 1 },
                u32::from(io.nr_default + io.nr_poll),
                u32::from(io.depth) - 1,
                params.io_timeout_ms,
            ),
            GFP_KERNEL,
        )?,
        GFP_KERNEL,
    )?;
    core.set_tagset(tagset.handle());
    Ok(tagset)
}

/// Sets up the namespaces' scanning over `tagset` and scans them: a disk per supported active
/// namespace.
fn nvme_scan(
    dev: &device::Device<Bound>,
    admin: &AdminQueue,
    idc: &IdCtrl,
    params: DiskParams,
    tagset: IoTagSet,
) -> Result<Arc<NsScan>> {
    let ns = NsScan::new(dev, idc.clone(), params, tagset)?;
    ns.first_scan(dev, admin)?;
    Ok(ns)
}

/// Prints an identify string (space padded ASCII).
fn id_str(s: &[u8]) -> &BStr {
    BStr::from_bytes(ident::trim(s))
}

/// What exists only while the controller serves I/O; torn down first, in order, on unbind.
struct IoState {
    ns: Arc<NsScan>,
    tagset: IoTagSet,
    irqs: KVec<IrqHandler<VectorIrq>>,
}

/// Who took the controller out of service, to be brought back by the matching callback.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Paused {
    /// In service (or not ours to bring back).
    No = 0,
    /// `reset_prepare`, until `reset_done`.
    FunctionReset = 1,
    /// `error_detected`, until `slot_reset`.
    Error = 2,
    /// A system sleep, until the wake-up.
    Sleep = 3,
}

/// Per-controller driver data, alive from probe until unbind.
///
/// Fields drop in declaration order: the char device, the I/O state, the admin interrupt, the
/// controller's enabled state (disabling it if unbind did not), the core, then BAR0, which the
/// core's register mapping relies on.
#[pin_data]
pub(crate) struct Controller<'bound> {
    /// `/dev/rnvme<N>`.
    _chardev: Option<Pin<KBox<CtrlChar>>>,
    #[pin]
    io: Mutex<Option<IoState>>,
    admin_irq: IrqHandler<VectorIrq>,
    _enabled: Enabled,
    core: Arc<CtrlCore>,
    /// Passthrough, shared with the char device and the disks, which open descriptors may keep
    /// after unbind; unbind detaches it from the controller.
    passthru: Arc<Passthru>,
    /// The controller's subsystem, when it may have several controllers; left after unbind
    /// removed the disks.
    _membership: Option<Membership>,
    _id: Arc<Instance>,
    /// Time allowed for a normal shutdown.
    shutdown: Shutdown,
    /// Who took the controller out of service until a later callback brings it back
    /// ([`Paused`] as a number).
    paused: AtomicU8,
    /// The `debug_stats` parameter: queue counters logged at unbind.
    debug_stats: bool,
    /// The temperature sensors, unregistered first at unbind.
    #[pin]
    hwmon: Mutex<Option<Hwmon<NvmeHwmon>>>,
    /// Keeps BAR0 mapped for the core's registers and the queues' doorbells.
    _bar: Bar0<'bound>,
}

impl<'bound> Controller<'bound> {
    /// Brings the controller up, step by step; a failed step drops what the earlier ones
    /// built (see the module documentation).
    pub(crate) fn new<'core>(
        pdev: &'bound pci::Device<Core<'core>>,
        params: Params,
    ) -> impl PinInit<Self, Error> + use<'bound, 'core> {
        // The probe runs inside the initializer, once the PCI core has the driver data's box:
        // a probe evaluated first would leave a live controller (disks, events, an enabled
        // device) to a plain drop, never unbound, if that allocation then failed.
        pin_init::pin_init_scope(move || {
            let dev: &device::Device<Bound> = pdev.as_ref();
            let max_io = match params.max_io_queues {
                0 => kernel::cpu::nr_cpu_ids(),
                n => n.min(kernel::cpu::nr_cpu_ids()),
            }
            .clamp(1, 1024);
            let pci = nvme_pci_enable(pdev, max_io, &params)?;
            let id = Instance::alloc()?;
            let admin = nvme_pci_configure_admin_queue(dev, &pci, &params)?;
            let Identity { idc, nvm, effects } = nvme_identify(&admin.core.admin, dev, pci.vs)?;
            let membership = if params.multipath {
                Subsystem::join(&idc, &id, &admin.core.admin)
            } else {
                Ok(None)
            }
            .inspect_err(|_| {
                dev_err!(
                    pdev,
                    "controller id {} is already bound in subsystem {}: not probed\n",
                    idc.cntlid,
                    BStr::from_bytes(idc.subsys_nqn())
                )
            })?;
            let io = nvme_setup_io_queues(dev, &pci, &admin, &idc, max_io, &params)?;
            let tagset =
                nvme_alloc_io_tag_set(dev, &admin.core, &io, idc.sgl_supported(), &params)?;
            // The queues serve I/O: from here on a timeout may reset the controller, and the
            // health check looks for resets behind the driver's back.
            admin.core.set_live();
            if params.health_check {
                admin.core.start_health_check();
            }
            let info = CtrlInfo {
                vid: idc.vid,
                model: idc.mn,
                serial: idc.sn,
                firmware: idc.fr,
                queue_count: u32::from(io.nr_default + io.nr_poll) + 1,
                sqsize: u32::from(io.depth) - 1,
            };
            let passthru =
                Passthru::new(dev, admin.core.clone(), info, effects, idc.sgl_supported())?;
            let (max_transfer, max_segs) =
                transfer_limits(&idc, pci.cap, glue::dma_opt_mapping_size(dev));
            let disk_params = DiskParams {
                ctrl: id.0,
                max_transfer,
                max_segs,
                passthru: passthru.clone(),
                bogus_nid: QUIRK_BOGUS_NID.contains(&(pdev.vendor_id().as_raw(), pdev.device_id())),
                nvm,
                multi_css: pci.cap.css_iocs(),
                subsys: membership.as_ref().map(|m| m.subsys().clone()),
                core: admin.core.clone(),
                ana_groups: (membership.is_some() && idc.cmic & CMIC_ANA != 0)
                    .then_some(idc.nanagrpid),
            };
            let ns = nvme_scan(dev, &admin.core.admin, &idc, disk_params, tagset.clone())?;
            Self::announce(pdev, &idc, &pci, &io, ns.count());
            let chardev = match CtrlChar::new(id.0, passthru.clone()) {
                Some(init) => KBox::pin_init(init, GFP_KERNEL)
                    .inspect_err(|e| dev_warn!(pdev, "no char device: {:?}\n", e))
                    .ok(),
                None => None,
            };
            // Last, once nothing can fail: from here on unbind stops the events.
            if let Err(e) = Events::start(&admin.core.admin, dev, &idc, ns.clone()) {
                dev_warn!(pdev, "no asynchronous events: {:?}\n", e);
            }
            let hwmon = nvme_hwmon_init(dev, &admin.core.admin, &idc);
            let shutdown = Shutdown {
                drain_ms: params.io_timeout_ms,
                shn_ms: if idc.rtd3e == 0 {
                    SHUTDOWN_TIMEOUT_MS
                } else {
                    (idc.rtd3e / 1000).clamp(SHUTDOWN_TIMEOUT_MS, 60_000)
                },
            };
            let AdminSetup {
                core,
                admin_irq,
                enabled,
            } = admin;
            Ok(try_pin_init!(Self {
                _chardev: chardev,
                io <- new_mutex!(Some(IoState {
                    ns,
                    tagset,
                    irqs: io.irqs,
                })),
                admin_irq,
                _enabled: enabled,
                core,
                passthru,
                _membership: membership,
                _id: id,
                shutdown,
                paused: AtomicU8::new(Paused::No as u8),
                debug_stats: params.debug_stats,
                hwmon <- new_mutex!(hwmon),
                _bar: pci.bar,
            }? Error))
        })
    }

    /// The probe's one line about the controller.
    fn announce(
        pdev: &pci::Device<Core<'_>>,
        idc: &IdCtrl,
        pci: &PciSetup<'_>,
        io: &IoQueues,
        namespaces: usize,
    ) {
        dev_info!(
            pdev,
            "{} ({}), firmware {}, NVMe {}.{}.{}, MQES {}, {} I/O queues of depth {} on {} {}, {} namespaces; {} poll queues, shadow doorbells {}\n",
            id_str(idc.model()),
            id_str(idc.serial()),
            id_str(idc.firmware()),
            pci.vs.major(),
            pci.vs.minor(),
            pci.vs.tertiary(),
            pci.cap.mqes(),
            io.nr_default,
            io.depth,
            pci.vectors.count(),
            pci.vectors.kind().name(),
            namespaces,
            io.nr_poll,
            if io.dbbuf_on { "on" } else { "off" }
        );
    }

    /// System restart, halt, power-off or kexec (the PCI `shutdown` callback, C's
    /// `nvme_shutdown()`): what is in flight completes, the I/O queues are deleted and the
    /// controller shut down normally (CC.SHN).
    pub(crate) fn nvme_shutdown(&self) {
        self.core.nvme_shutdown(self.shutdown);
    }

    /// Takes the controller out of service for `why`, unless something else has already.
    fn pause(&self, why: Paused, shutdown: Option<Shutdown>) {
        if self.paused.load(Ordering::Acquire) != Paused::No as u8 {
            return;
        }
        if self.core.nvme_disable_prepare_reset(shutdown) {
            self.paused.store(why as u8, Ordering::Release);
        }
    }

    /// Brings the controller back if `why` took it out of service (or, with `None`, whatever
    /// did).
    fn unpause(&self, why: Option<Paused>) {
        let was = self.paused.load(Ordering::Acquire);
        if was == Paused::No as u8 || why.is_some_and(|w| w as u8 != was) {
            return;
        }
        self.paused.store(Paused::No as u8, Ordering::Release);
        self.core.nvme_restart();
    }

    /// Gives the controller up for `why`: dead, its I/O failed at once, whether or not it
    /// was out of service (then what waited for it is failed too).
    fn give_up(&self, why: &str) {
        if self.paused.swap(Paused::No as u8, Ordering::AcqRel) != Paused::No as u8 {
            self.core.fail_disabled(why);
        } else {
            self.core.kill(why);
        }
    }

    /// The PCI core is about to reset the function (`reset_prepare`: an FLR through sysfs, a
    /// bus reset): disable the controller and cancel what is in flight, to be issued again
    /// after the reset.
    pub(crate) fn nvme_reset_prepare(&self) {
        self.pause(Paused::FunctionReset, None);
    }

    /// The function reset is done (`reset_done`): bring the controller back.
    pub(crate) fn nvme_reset_done(&self) {
        self.unpause(Some(Paused::FunctionReset));
    }

    /// A PCI error was reported (`error_detected`): a frozen channel needs the slot reset,
    /// with the controller out of service meanwhile; a permanent failure fails the I/O now
    /// (the C driver leaves it to time out).
    pub(crate) fn nvme_error_detected(&self, state: ChannelState) -> ErsResult {
        match state {
            ChannelState::Normal => ErsResult::CanRecover,
            ChannelState::Frozen => {
                dev_warn!(
                    self.core.dev,
                    "frozen state error detected: resetting the controller\n"
                );
                self.pause(Paused::Error, None);
                if self.paused.load(Ordering::Acquire) == Paused::No as u8 {
                    // Not live (dead, going away): nothing to bring back.
                    self.give_up("PCI error on a controller not in service");
                    return ErsResult::Disconnect;
                }
                ErsResult::NeedReset
            }
            ChannelState::PermFailure => {
                dev_warn!(
                    self.core.dev,
                    "permanent failure error detected: giving the controller up\n"
                );
                self.give_up("permanent PCI failure");
                ErsResult::Disconnect
            }
        }
    }

    /// The slot was reset after a PCI error (`slot_reset`): restore config space and bring the
    /// controller back.
    pub(crate) fn nvme_slot_reset(&self, pdev: &pci::Device<Core<'_>>) -> ErsResult {
        dev_info!(self.core.dev, "restart after slot reset\n");
        glue::pci_restore_state(pdev);
        self.unpause(None);
        if self.core.is_dead() {
            ErsResult::Disconnect
        } else {
            ErsResult::Recovered
        }
    }

    /// System sleep (`suspend`, and hibernation's `freeze` and `poweroff`): as the C driver on
    /// a platform that may cut power (`nvme_disable_prepare_reset(shutdown)`), what is in
    /// flight completes, the I/O queues are deleted and the controller is shut down; requests
    /// submitted meanwhile wait for the resume.
    pub(crate) fn nvme_suspend(&self) -> Result {
        self.pause(Paused::Sleep, Some(self.shutdown));
        Ok(())
    }

    /// Wake-up (`resume`, `thaw`, `restore`): the controller is enabled and its queues
    /// re-created, whatever the sleep left of it, and the waiting requests are issued.
    pub(crate) fn nvme_resume(&self) -> Result {
        self.unpause(Some(Paused::Sleep));
        Ok(())
    }

    /// Unbind (`nvme_remove`): stops recovery and the events, removes the disks, deletes the
    /// I/O queues, shuts the controller down, and detaches what open descriptors may keep.
    pub(crate) fn nvme_remove(&self) {
        // Out of service and not coming back (an error recovery that ended without a slot
        // reset): what waits in the quiesced queues is failed, so the disks can go.
        if self.paused.load(Ordering::Acquire) != Paused::No as u8 {
            self.give_up("unbound while out of service");
        }
        // No more sensor reads (each an admin command) from here on.
        drop(self.hwmon.lock().take());
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
        // Held until the controller is shut down: it may use the queues until then.
        let io_refs = io.map(|io| self.nvme_remove_io(io));
        self.core.shutdown(self.shutdown.shn_ms);
        self.core.stop_dma();
        drop(io_refs);
        // Open char devices and disk nodes may outlive us: nothing more reaches the device,
        // and what they hold keeps no controller memory.
        self.core.admin.close();
        self.passthru.detach();
        // Recovery polling during teardown may have queued the event work once more.
        self.core.admin.flush_events();
    }

    /// Removes the disks (draining their I/O, which still completes through the queues),
    /// deletes the I/O queues on the controller and frees the tag set; returns what the core
    /// held, for the caller to keep until the controller is shut down.
    fn nvme_remove_io(&self, io: IoState) -> Option<IoRefs> {
        io.ns.remove_all();
        drop(io.ns);
        let refs = self.core.clear_io();
        if let Some(refs) = &refs {
            if self.debug_stats {
                Self::log_stats(&self.core, &refs.queues);
            }
            self.core.delete_io_queues(&refs.queues);
        }
        drop(io.irqs);
        self.admin_irq.handler().stop_io();
        self.admin_irq.synchronize();
        drop(io.tagset);
        refs
    }

    /// `debug_stats`: each queue's counters.
    fn log_stats(core: &CtrlCore, queues: &[Arc<Queue>]) {
        for q in queues.iter() {
            let st = &q.stats;
            dev_info!(
                core.dev,
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
}
