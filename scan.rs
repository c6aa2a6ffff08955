// SPDX-License-Identifier: GPL-2.0

//! Namespace scanning: the disks of a controller, one per supported active namespace.
//!
//! The first scan runs at probe; later ones when the controller sends a Namespace Attribute
//! Changed notice (from the asynchronous event work, see [`crate::aen`]) or user space asks
//! with `NVME_IOCTL_RESCAN`. A scan reads the Active Namespace ID list, removes the disks of
//! namespaces that are no longer in it and adds disks for the new ones; scans are serialised
//! by the state lock, which teardown takes to remove every disk for good.
//!
//! A controller of many namespaces has them identified in batches of Identify commands
//! submitted together ([`Ahead`]), and their disks added in parallel ([`DiskJob`]): the C
//! driver does both from a thread per namespace.

use kernel::{
    device,
    dma::Coherent,
    impl_has_work, new_mutex, new_work,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
    workqueue::{
        Work,
        WorkItem, //
    },
};

use crate::{
    admin::{
        identify_copy,
        identify_copy_page,
        AdminError,
        AdminQueue, //
    },
    ctrl::CtrlCore,
    glue::{
        self,
        FrozenDisks,
        GenDisk,
        Limits,
        RequestQueue,
        TagSet,
        Waiter,
        ZonedLimits, //
    },
    iod::NvmeMq,
    mpath::{
        HeadRef,
        OwnClaim,
        PathLink,
        PathReg,
        Place,
        Subsystem, //
    },
    ns::{
        disk_integrity,
        Namespace, //
    },
    ns_char::{
        self,
        NsChar, //
    },
    nvme::{
        aen::{
            ns_missing,
            MAX_BATCH, //
        },
        cmd::{
            self,
            Command, //
        },
        fdp::{self, FdpFeature},
        ident::{
            self,
            IdCtrl,
            IdCtrlNvm,
            IdNs,
            NsIds,
            IDENTIFY_SIZE, //
        },
        meta::{
            self,
            IdNsNvm,
            MetaFormat,
            Serve, //
        },
        mpath::{
            ana_groups,
            ana_log_size,
            ctrl_list_len,
            group_state,
            AnaState,
            CNS_NS_ATTACHED_CTRLS,
            CNS_SUBSYS_CTRLS,
            LID_ANA,
            NMIC_SHARED, //
        },
        regs::CTRL_PAGE_SHIFT,
        zns::{
            IdCtrlZns,
            IdNsZns,
            ZnsUnsupported, //
        },
    },
    passthru::Passthru,
};

/// What every disk of a controller is created with.
pub(crate) struct DiskParams {
    /// Controller number, for the disk names.
    pub(crate) ctrl: u32,
    /// Largest transfer in bytes.
    pub(crate) max_transfer: u32,
    /// Most data segments per request.
    pub(crate) max_segs: u16,
    /// The controller's passthrough, for disk ioctls.
    pub(crate) passthru: Arc<Passthru>,
    /// Namespace identifiers are not to be trusted (see [`crate::driver::QUIRK_BOGUS_NID`]).
    pub(crate) bogus_nid: bool,
    /// Dataset Management and Write Zeroes limits of the controller.
    pub(crate) nvm: IdCtrlNvm,
    /// The controller runs all its I/O command sets (CC.CSS = 110b): each namespace reports
    /// its own.
    pub(crate) multi_css: bool,
    /// The subsystem whose shared namespaces the controller is a path to, if it may have
    /// several controllers.
    pub(crate) subsys: Option<Arc<Subsystem>>,
    /// The controller core, for the paths' state.
    pub(crate) core: Arc<CtrlCore>,
    /// The controller reports Asymmetric Namespace Access (CMIC bit 3): its number of ANA
    /// groups (NANAGRPID).
    pub(crate) ana_groups: Option<u32>,
}

/// A namespace's disk and the format it was last set up with.
struct NsDisk {
    nsid: u32,
    /// The namespace's char device, `/dev/rng<c>n<ns>` (none if registering it failed);
    /// deregistered before the disk is removed.
    _chr: Option<Pin<KBox<NsChar>>>,
    /// A shared namespace's place among its head's paths: left before the disk is removed.
    _path: Option<PathReg>,
    disk: GenDisk<NvmeMq>,
    /// The shared namespace's head, released after the disk is removed.
    _head: Option<HeadRef>,
    /// A shared namespace served by this disk alone: claimed until the disk is removed.
    _own: Option<OwnClaim>,
    fmt: DiskFormat,
}

/// What a namespace's format gives its disk.
#[derive(Clone, Copy, PartialEq)]
struct DiskFormat {
    lba_shift: u32,
    sectors: u64,
    limits: Limits,
    meta: MetaFormat,
}

impl DiskFormat {
    /// Zone size in sectors, 0 when the disk is not zoned.
    fn zone_sectors(&self) -> u32 {
        self.limits.zoned.map_or(0, |z| z.zone_sectors)
    }
}

/// What revalidating a namespace found.
enum Revalidated {
    /// The disk serves the namespace as it is now (updated if it changed).
    Kept,
    /// The namespace is inactive, or its new format is not supported: its disk was fenced
    /// (capacity 0, no I/O in flight) and must go.
    Remove,
}

/// An active namespace no disk serves. One of the NVM or zoned command set, whose format the
/// block layer cannot take, still gets its char device, on a request queue of its own (as C
/// gives its hidden disks an `ng` node).
struct Unserved {
    nsid: u32,
    /// The char device, deregistered before the queue goes.
    chr: Option<Pin<KBox<NsChar>>>,
    _queue: Option<RequestQueue<NvmeMq>>,
}

impl Unserved {
    /// An entry without a char device.
    fn plain(nsid: u32) -> Self {
        Self {
            nsid,
            chr: None,
            _queue: None,
        }
    }
}

impl ScanState {
    /// `nsid` is active and no disk serves it.
    fn is_unsupported(&self, nsid: u32) -> bool {
        self.unsupported.iter().any(|u| u.nsid == nsid)
    }
}

/// What exists until teardown removes the disks.
struct ScanState {
    /// The disks, by ascending nsid.
    disks: KVec<NsDisk>,
    /// Active namespaces no disk serves (format or command set not supported), warned about
    /// once.
    unsupported: KVec<Unserved>,
    tagset: Arc<Pin<KBox<TagSet<NvmeMq>>>>,
    /// Identify data of the scans (allocated at probe: scans run where the device is known to
    /// be bound but no `Device<Bound>` is at hand).
    buf: Coherent<[u8]>,
    /// [`MAX_BATCH`] pages for Identify commands issued together ([`Ahead`]), allocated for
    /// the first scan and kept by a controller that had more than one namespace then; without
    /// it, namespaces are identified one command after the other.
    batch: Option<Coherent<[u8]>>,
}

/// Identify data fetched ahead of its use, a batch of commands at a time
/// ([`AdminQueue::identify_batch`]): a scan identifies its namespaces [`MAX_BATCH`] commands at
/// once, one doorbell write and one wait for all, instead of one command after the other (the C
/// driver identifies namespaces from parallel threads to the same end).
struct Ahead {
    got: KVec<Fetched>,
}

/// The data of one Identify command of a batch.
struct Fetched {
    cns: u8,
    nsid: u32,
    /// `None` when the command failed.
    data: Option<KBox<[u8; IDENTIFY_SIZE]>>,
}

impl Ahead {
    fn new() -> Self {
        Self { got: KVec::new() }
    }

    /// Drops what was fetched before and identifies, in one batch through `buf`, the data
    /// structures `cnss` of each of the first of `nsids`, as many namespaces as a batch and the
    /// pages of `buf` take. A batch that fails as a whole (the controller is going away or
    /// stays out of service) counts as failed commands, as each alone would have failed.
    fn fetch(&mut self, admin: &AdminQueue, buf: &Coherent<[u8]>, cnss: &[u8], nsids: &[u32]) {
        self.got.clear();
        let per_batch = MAX_BATCH.min(buf.len() / IDENTIFY_SIZE) / cnss.len().max(1);
        let mut reqs = [(0u8, 0u32); MAX_BATCH];
        let wanted = nsids
            .iter()
            .take(per_batch)
            .flat_map(|&nsid| cnss.iter().map(move |&cns| (cns, nsid)));
        let mut n = 0;
        for (r, w) in reqs.iter_mut().zip(wanted) {
            *r = w;
            n += 1;
        }
        let reqs = &reqs[..n];
        if n == 0 || self.got.reserve(n, GFP_KERNEL).is_err() {
            return;
        }
        let mut ok = [false; MAX_BATCH];
        let batch_ok = admin.identify_batch(buf, reqs, &mut ok).is_ok();
        for (page, (&(cns, nsid), &ok)) in reqs.iter().zip(ok.iter()).enumerate() {
            let data = if batch_ok && ok {
                identify_copy_page(buf, page).ok()
            } else {
                None
            };
            // Cannot fail: room was reserved above.
            let _ = self.got.push_within_capacity(Fetched { cns, nsid, data });
        }
    }

    /// Identify data structure `cns` of `nsid`: the one fetched ahead, else asked alone
    /// through `buf`.
    fn identify(
        &mut self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        cns: u8,
        nsid: u32,
    ) -> Result<KBox<[u8; IDENTIFY_SIZE]>> {
        match self.got.iter_mut().find(|g| g.cns == cns && g.nsid == nsid) {
            Some(g) => g.data.take().ok_or(EIO),
            None => NsScan::identify(admin, buf, cns, nsid),
        }
    }

    /// Whether `cns` of `nsid` was fetched in the last batch.
    fn has(&self, cns: u8, nsid: u32) -> bool {
        self.got.iter().any(|g| g.cns == cns && g.nsid == nsid)
    }

    /// Fetches the next batch from `nsids[at..]` when `nsids[at]` is not in the last one and
    /// more than one namespace is left to identify (see [`Ahead::fetch`]).
    fn next(
        &mut self,
        admin: &AdminQueue,
        batch: Option<&Coherent<[u8]>>,
        cnss: &[u8],
        nsids: &[u32],
        at: usize,
    ) {
        let (Some(buf), Some(rest), Some(&cns)) = (batch, nsids.get(at..), cnss.first()) else {
            return;
        };
        if rest.len() > 1 && !self.has(cns, rest[0]) {
            self.fetch(admin, buf, cnss, rest);
        }
    }
}

/// The namespaces of one controller and their disks.
#[pin_data]
pub(crate) struct NsScan {
    /// The PCI device, for messages and as the disks' parent.
    dev: ARef<device::Device>,
    idc: IdCtrl,
    params: DiskParams,
    /// `None` once teardown removed the disks.
    #[pin]
    state: Mutex<Option<ScanState>>,
}

/// Largest discard: one Dataset Management range of at most DMRSL blocks when the controller
/// sets it, else as much as the block layer allows.
fn max_discard_sectors(idc: &IdCtrl, nvm: &IdCtrlNvm, lba_shift: u32) -> u32 {
    if !idc.oncs_dsm() {
        return 0;
    }
    let limit = u64::from(nvm.dmrsl) << (lba_shift - 9);
    match u32::try_from(limit) {
        Ok(sectors) if sectors != 0 => sectors,
        _ => u32::MAX,
    }
}

/// Largest Write Zeroes: WZSL when the controller sets it, else the largest transfer (the
/// specification exempts Write Zeroes from MDTS, but controllers have been seen to apply it),
/// and never more than one command's 65536 blocks.
fn max_write_zeroes_sectors(
    idc: &IdCtrl,
    nvm: &IdCtrlNvm,
    max_transfer: u32,
    lba_shift: u32,
) -> u32 {
    if !idc.oncs_write_zeroes() {
        return 0;
    }
    let bytes = nvm
        .write_zeroes_limit(CTRL_PAGE_SHIFT)
        .unwrap_or(u64::from(max_transfer));
    let one_command = u64::from(cmd::MAX_NLB) << lba_shift;
    // CAST: at most 65536 blocks of at most 4 KiB, in sectors: below 2^20.
    (bytes.min(one_command) >> 9) as u32
}

impl NsScan {
    /// Sets up scanning for the controller `dev` described by `idc`, with no disks yet.
    pub(crate) fn new(
        dev: &device::Device<device::Bound>,
        idc: IdCtrl,
        params: DiskParams,
        tagset: Arc<Pin<KBox<TagSet<NvmeMq>>>>,
    ) -> Result<Arc<Self>> {
        let state = ScanState {
            disks: KVec::new(),
            unsupported: KVec::new(),
            tagset,
            buf: Coherent::<u8>::zeroed_slice(dev, IDENTIFY_SIZE, GFP_KERNEL)?,
            batch: None,
        };
        Arc::pin_init(
            pin_init!(Self {
                dev: ARef::from(&**dev),
                idc,
                params,
                state <- new_mutex!(Some(state), "rust_nvme_scan"),
            }),
            GFP_KERNEL,
        )
    }

    /// Number of disks.
    pub(crate) fn count(&self) -> usize {
        self.state.lock().as_ref().map_or(0, |s| s.disks.len())
    }

    /// Removes every disk for good (teardown); later scans fail with `ENODEV`.
    pub(crate) fn remove_all(&self) {
        let state = self.state.lock().take();
        if let Some(state) = state {
            // Deleting the disks (and shutting down the queues of namespaces without one)
            // drains their I/O, before the tag set reference goes.
            drop(state.disks);
            drop(state.unsupported);
            drop(state.tagset);
        }
    }

    /// Identify into the scan buffer and a copy of the result.
    fn identify(
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        cns: u8,
        nsid: u32,
    ) -> Result<KBox<[u8; IDENTIFY_SIZE]>, Error> {
        admin.identify_into(buf, cns, nsid)?;
        identify_copy(buf)
    }

    /// Identify data structure `cns` of command set `csi` for `nsid`, through `buf`.
    fn identify_csi(
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        cns: u8,
        nsid: u32,
        csi: u8,
    ) -> Result<KBox<[u8; IDENTIFY_SIZE]>, Error> {
        admin.identify_csi_into(buf, cns, nsid, csi)?;
        identify_copy(buf)
    }

    /// How many controllers namespace `nsid` is attached to (Identify CNS 12h), `None` when the
    /// controller does not say. A subsystem of one controller (Identify CNS 13h, asked once per
    /// scan into `in_subsys`, `Some(None)` when not known: QEMU reports every controller
    /// multi-controller, even alone) needs no question per namespace.
    fn attached_ctrls(
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        in_subsys: &mut Option<Option<u16>>,
        nsid: u32,
    ) -> Option<u16> {
        let count = |cns, nsid| {
            Self::identify(admin, buf, cns, nsid)
                .ok()
                .map(|l| ctrl_list_len(&*l))
        };
        match *in_subsys.get_or_insert_with(|| count(CNS_SUBSYS_CTRLS, 0)) {
            Some(n) if n < 2 => Some(n),
            _ => count(CNS_NS_ATTACHED_CTRLS, nsid),
        }
    }

    /// The active namespaces, ascending.
    fn active_nsids(&self, admin: &AdminQueue, buf: &Coherent<[u8]>) -> Result<KVec<u32>> {
        let mut nsids = KVec::new();
        match admin.identify_into(buf, cmd::CNS_NS_ACTIVE_LIST, 0) {
            Ok(()) => {
                for nsid in ident::active_ns_list(&*identify_copy(buf)?) {
                    nsids.push(nsid, GFP_KERNEL)?;
                }
            }
            // Controllers before NVMe 1.1 have no active namespace list: try every nsid.
            Err(AdminError::Status(_)) => {
                for nsid in 1..=self.idc.nn.min(1024) {
                    nsids.push(nsid, GFP_KERNEL)?;
                }
            }
            // The controller is resetting or going away: change nothing.
            Err(e) => return Err(e.into()),
        }
        nsids.sort_unstable();
        Ok(nsids)
    }

    /// The scan at probe ([`NsScan::rescan`], without announcing): identifies its namespaces in
    /// batches through [`ScanState::batch`], allocated for it and kept when the controller has
    /// more than one namespace (later scans add or revalidate many). Without memory for it,
    /// the scan identifies one namespace after the other. Returns the number of disks.
    pub(crate) fn first_scan(
        &self,
        dev: &device::Device<device::Bound>,
        admin: &AdminQueue,
    ) -> Result<usize> {
        let mut guard = self.state.lock();
        let Some(state) = &mut *guard else {
            return Err(ENODEV);
        };
        state.batch = Coherent::<u8>::zeroed_slice(dev, MAX_BATCH * IDENTIFY_SIZE, GFP_KERNEL).ok();
        let r = self.rescan_locked(admin, state, false, None);
        if state.disks.len() + state.unsupported.len() < 2 {
            state.batch = None;
        }
        r
    }

    /// Scans the namespaces: revalidates the disks of active namespaces (format, capacity,
    /// limits), removes the disks of namespaces no longer active or no longer supported, adds
    /// disks for new ones. `announce` logs each change (not at probe). Returns the number of
    /// disks.
    pub(crate) fn rescan(&self, admin: &AdminQueue, announce: bool) -> Result<usize> {
        let mut guard = self.state.lock();
        let Some(state) = &mut *guard else {
            return Err(ENODEV);
        };
        self.rescan_locked(admin, state, announce, None)
    }

    /// Runs `cmd`, an admin command whose effects (Commands Supported and Effects log) say it
    /// may change namespaces, and brings the disks up to date after it, as the C driver's
    /// `nvme_passthru_start`/`nvme_passthru_end`. With `freeze` (Format NVM, Sanitize: the
    /// command needs the namespaces idle) every disk's I/O is drained and held back while the
    /// command runs, and each disk takes the namespace's new format before I/O resumes, so no
    /// request is ever built with the old block size for the new format (the C driver
    /// unfreezes before it rescans). Scans wait meanwhile.
    pub(crate) fn run_changing<R>(
        &self,
        admin: &AdminQueue,
        freeze: bool,
        cmd: impl FnOnce() -> R,
    ) -> Result<R> {
        let mut guard = self.state.lock();
        let Some(state) = &mut *guard else {
            // Teardown: no disks to protect; the command fails on the closed admin queue.
            return Ok(cmd());
        };
        let frozen = if freeze {
            Some(FrozenDisks::new(state.disks.iter().map(|d| &d.disk))?)
        } else {
            None
        };
        let r = cmd();
        // With the disks frozen, each takes its namespace's new format now; the rescan below
        // removes those that cannot and revalidates nothing twice.
        let mut fenced = None;
        if frozen.is_some() {
            let mut gone = KVec::new();
            let mut nsids = KVec::with_capacity(state.disks.len(), GFP_KERNEL)?;
            for d in state.disks.iter() {
                nsids.push(d.nsid, GFP_KERNEL)?;
            }
            let mut ahead = Ahead::new();
            for (i, d) in state.disks.iter_mut().enumerate() {
                ahead.next(admin, state.batch.as_ref(), &[cmd::CNS_NS], &nsids, i);
                if let Revalidated::Remove = self.revalidate(admin, &state.buf, &mut ahead, d, true)
                {
                    gone.push(d.nsid, GFP_KERNEL)?;
                }
            }
            fenced = Some(gone);
        }
        drop(frozen);
        if let Err(e) = self.rescan_locked(admin, state, true, fenced) {
            dev_warn!(self.dev, "namespace rescan failed: {:?}\n", e);
        }
        Ok(r)
    }

    /// [`NsScan::rescan`] with the state locked. `fenced` is `Some` when every disk was just
    /// revalidated (by [`NsScan::run_changing`]): the disks it lists were fenced and go, the
    /// others are not identified again.
    fn rescan_locked(
        &self,
        admin: &AdminQueue,
        state: &mut ScanState,
        announce: bool,
        fenced: Option<KVec<u32>>,
    ) -> Result<usize> {
        let active = self.active_nsids(admin, &state.buf)?;
        let revalidated = fenced.is_some();
        let mut gone = fenced.unwrap_or_default();
        // The disks to revalidate, identified in batches.
        let mut again = KVec::new();
        if !revalidated {
            for d in state.disks.iter() {
                if !gone.contains(&d.nsid) && active.binary_search(&d.nsid).is_ok() {
                    again.push(d.nsid, GFP_KERNEL)?;
                }
            }
        }
        let mut ahead = Ahead::new();
        let mut at = 0;
        for d in state.disks.iter_mut() {
            if gone.contains(&d.nsid) {
                continue;
            }
            let keep = active.binary_search(&d.nsid).is_ok()
                && (revalidated || {
                    ahead.next(admin, state.batch.as_ref(), &[cmd::CNS_NS], &again, at);
                    at += 1;
                    matches!(
                        self.revalidate(admin, &state.buf, &mut ahead, d, announce),
                        Revalidated::Kept
                    )
                });
            if !keep {
                gone.push(d.nsid, GFP_KERNEL)?;
            }
        }
        for &nsid in gone.iter() {
            // Still active: its format is not supported (and was warned about), so the scan
            // below does not add it again nor warn twice.
            if active.binary_search(&nsid).is_ok() && !state.is_unsupported(nsid) {
                state.unsupported.push(Unserved::plain(nsid), GFP_KERNEL)?;
            }
        }
        if !gone.is_empty() {
            if announce {
                for d in state.disks.iter().filter(|d| gone.contains(&d.nsid)) {
                    let why = if active.binary_search(&d.nsid).is_ok() {
                        ":"
                    } else {
                        " is gone:"
                    };
                    match d.disk.data().mpath.as_ref() {
                        // A path's disk is named after its head's subsystem.
                        Some(l) => dev_info!(
                            self.dev,
                            "namespace {}{} path rnvme{}c{}n{} removed\n",
                            d.nsid,
                            why,
                            l.head.instance(),
                            self.params.ctrl,
                            d.nsid
                        ),
                        None => dev_info!(
                            self.dev,
                            "namespace {}{} disk rnvme{}n{} removed\n",
                            d.nsid,
                            why,
                            self.params.ctrl,
                            d.nsid
                        ),
                    }
                }
            }
            // Deleting a disk drains its I/O.
            state.disks.retain(|d| !gone.contains(&d.nsid));
        }
        let mut have = KVec::with_capacity(state.disks.len(), GFP_KERNEL)?;
        for d in state.disks.iter() {
            have.push(d.nsid, GFP_KERNEL)?;
        }

        state.unsupported.retain(|u| active.contains(&u.nsid));
        // The number of controllers in the subsystem, asked at most once in this scan (they
        // join and leave between scans).
        let mut subsys_ctrls = None;
        let mut missing = KVec::new();
        for nsid in ns_missing(&active, &have) {
            missing.push(nsid, GFP_KERNEL)?;
        }
        // Each disk is started as soon as its namespace is identified, so that adding the
        // disks of one batch overlaps identifying the next.
        let mut adder = DiskAdder::new(missing.len() > 1);
        let mut failed = Ok(());
        for (at, &nsid) in missing.iter().enumerate() {
            ahead.next(
                admin,
                state.batch.as_ref(),
                &[cmd::CNS_NS, cmd::CNS_NS_DESC_LIST],
                &missing,
                at,
            );
            let added = self.add_one(admin, state, &mut ahead, nsid, &mut subsys_ctrls);
            failed = added.and_then(|p| match p {
                Some(p) => adder.start(self, state, p),
                None => Ok(()),
            });
            if failed.is_err() {
                break;
            }
        }
        // Every disk started is waited for and kept, even when the scan failed.
        for (d, _id) in self.finish_disks(admin, state, adder)? {
            let (nsid, sectors) = (d.nsid, d.fmt.sectors);
            state.disks.reserve(1, GFP_KERNEL)?;
            let at = state.disks.partition_point(|e| e.nsid < nsid);
            if state.disks.insert_within_capacity(at, d).is_err() {
                // Cannot happen: room was reserved above. The disk goes away again.
                continue;
            }
            if announce {
                dev_info!(
                    self.dev,
                    "namespace {}: disk rnvme{}n{} added, {} sectors\n",
                    nsid,
                    self.params.ctrl,
                    nsid,
                    sectors
                );
            }
        }
        failed?;
        self.update_ana(admin, state);
        Ok(state.disks.len())
    }

    /// Identifies namespace `nsid`, which no disk serves, with [`NsScan::add_disk`]:
    /// gives the disk to add, if any, and keeps what serves it otherwise in
    /// [`ScanState::unsupported`].
    fn add_one(
        &self,
        admin: &AdminQueue,
        state: &mut ScanState,
        ahead: &mut Ahead,
        nsid: u32,
        subsys_ctrls: &mut Option<Option<u16>>,
    ) -> Result<Option<PendingDisk>> {
        state.unsupported.reserve(1, GFP_KERNEL)?;
        // What serves the namespace now, if it had no disk: `add_disk` keeps it, replaces
        // it, or drops it before a disk takes the namespace (and its char device's name).
        let mut prior = state
            .unsupported
            .iter()
            .position(|u| u.nsid == nsid)
            .and_then(|i| state.unsupported.remove(i).ok());
        let added = self.add_disk(admin, state, ahead, nsid, &mut prior, subsys_ctrls);
        if let Some(p) = prior {
            // Cannot fail: room was reserved above.
            let _ = state.unsupported.push_within_capacity(p);
        }
        match added? {
            Added::Disk(p) => Ok(Some(p)),
            Added::Unsupported(u) => {
                let _ = state.unsupported.push_within_capacity(u);
                Ok(None)
            }
            Added::None => Ok(None),
        }
    }

    /// Reads the ANA log (at most the scan buffer's 4 KiB) and gives each path its group's
    /// state, when the controller reports ANA. A log that cannot be read or parsed changes
    /// nothing (with a warning).
    fn update_ana(&self, admin: &AdminQueue, state: &ScanState) {
        let Some(max_groups) = self.params.ana_groups else {
            return;
        };
        let len = ana_log_size(max_groups, self.idc.nn, IDENTIFY_SIZE);
        // CAST: at most 4 KiB.
        if let Err(e) = admin.get_log_page(&state.buf, LID_ANA, len as u32) {
            dev_warn!(self.dev, "ANA log: Get Log Page failed: {}\n", e.name());
            return;
        }
        let Ok(log) = identify_copy(&state.buf) else {
            return;
        };
        let log = &log[..len];
        if let Err(e) = ana_groups(log, max_groups) {
            dev_warn!(
                self.dev,
                "ANA log unusable ({:?}): path states unchanged\n",
                e
            );
            return;
        }
        for d in state.disks.iter() {
            let Some(link) = d.disk.data().mpath.as_ref() else {
                continue;
            };
            let Ok(groups) = ana_groups(log, max_groups) else {
                return;
            };
            // A namespace whose group is not listed is inaccessible through this controller.
            let s = group_state(groups, link.anagrpid).unwrap_or(AnaState::Inaccessible);
            if s != link.ana() {
                dev_info!(
                    self.dev,
                    "namespace {}: ANA group {} {}\n",
                    d.nsid,
                    link.anagrpid,
                    s.name()
                );
            }
            link.set_ana(s);
        }
    }

    /// Identifies `d`'s namespace again and brings its disk up to date: a new block size,
    /// capacity or limits are applied with the disk's I/O drained ([`GenDisk::update`]); a
    /// namespace that became inactive or took a format the driver does not support (with a
    /// warning) has its disk fenced, to be removed. When the namespace cannot be identified
    /// (the controller is resetting or failing), the disk stays as it is. Its Identify data
    /// comes from `ahead` when fetched there.
    fn revalidate(
        &self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        ahead: &mut Ahead,
        d: &mut NsDisk,
        announce: bool,
    ) -> Revalidated {
        let Ok(id) = ahead.identify(admin, buf, cmd::CNS_NS, d.nsid) else {
            return Revalidated::Kept;
        };
        let ns = IdNs::parse(&id);
        if !ns.is_active() {
            d.disk.fence();
            return Revalidated::Remove;
        }
        let zoned = match d.fmt.limits.zoned {
            None => None,
            Some(_) => match self.zone_limits(admin, buf, d.nsid, &ns) {
                Ok(z) => Some(z),
                Err(why) => {
                    dev_warn!(self.dev, "namespace {}: {}, disk removed\n", d.nsid, why);
                    d.disk.fence();
                    return Revalidated::Remove;
                }
            },
        };
        let fmt = match ns.is_supported(glue::MAX_BLOCK_SHIFT) {
            Ok(()) => self.format(admin, buf, d.nsid, &ns, zoned),
            Err(why) => {
                dev_warn!(
                    self.dev,
                    "namespace {}: new format unsupported ({:?}: {} byte blocks), disk removed\n",
                    d.nsid,
                    why,
                    ns.logical_block_size()
                );
                d.disk.fence();
                return Revalidated::Remove;
            }
        };
        // The write streams stay those found when the disk was added.
        let mut fmt = fmt;
        fmt.limits.write_streams = d.fmt.limits.write_streams;
        fmt.limits.write_stream_granularity = d.fmt.limits.write_stream_granularity;
        if fmt == d.fmt {
            return Revalidated::Kept;
        }
        self.warn_unusable(d.nsid, &ns, &fmt);
        let data = d.disk.data();
        if let Err(e) = d.disk.update(fmt.sectors, &fmt.limits, || {
            data.set_format(fmt.lba_shift, &fmt.meta, fmt.sectors, fmt.zone_sectors())
        }) {
            dev_warn!(
                self.dev,
                "namespace {}: the disk cannot take the new format ({:?}), removed\n",
                d.nsid,
                e
            );
            d.disk.fence();
            return Revalidated::Remove;
        }
        if let Some(link) = d.disk.data().mpath.as_ref() {
            if let Err(e) = link.head.update(fmt.sectors, &fmt.limits) {
                dev_warn!(
                    self.dev,
                    "namespace {}: the shared disk cannot take the new format ({:?})\n",
                    d.nsid,
                    e
                );
            }
        }
        if announce {
            dev_info!(
                self.dev,
                "namespace {}: {} byte blocks, {} bytes metadata, PI type {}, {} sectors\n",
                d.nsid,
                fmt.limits.logical_block_size,
                fmt.meta.ms,
                fmt.meta.pi_type,
                fmt.sectors
            );
        }
        d.fmt = fmt;
        Revalidated::Kept
    }

    /// The metadata of namespace `nsid`'s format: the Extended LBA Formats (guard and storage
    /// tag of each format) are read when the controller has them, as C does.
    fn meta_format(
        &self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        nsid: u32,
        ns: &IdNs,
    ) -> MetaFormat {
        if ns.metadata_size() == 0 {
            return MetaFormat::NONE;
        }
        let nvm = if self.idc.ctratt & meta::CTRATT_ELBAS != 0 {
            Self::identify(admin, buf, ident::CNS_CS_NS, nsid)
                .ok()
                .map(|b| IdNsNvm::parse(&b))
        } else {
            None
        };
        MetaFormat::of(ns, nvm.as_ref())
    }

    /// The zone geometry of zoned namespace `nsid` (`ns`), as C's `nvme_query_zone_info()`:
    /// from the zoned Identify Namespace (zone size of the current format, open and active
    /// zone limits) and Identify Controller (the zone append size limit, ZASL, in 4 KiB pages
    /// as the driver's controller page; none: the largest transfer). Refused (with the reason)
    /// for zone operation characteristics the block layer cannot honour and zone sizes that are
    /// not a power of two.
    fn zone_limits(
        &self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        nsid: u32,
        ns: &IdNs,
    ) -> Result<ZonedLimits, &'static str> {
        let id = Self::identify_csi(admin, buf, ident::CNS_CS_NS, nsid, ident::CSI_ZNS)
            .map_err(|_| "the zoned Identify Namespace failed")?;
        let z = IdNsZns::parse(&id);
        let zone_sectors = z
            .zone_size_sectors(ns.lba_format_index(), ns.lba_shift())
            .map_err(|e| match e {
                ZnsUnsupported::ZoneOperations(_) => {
                    "its zone operation characteristics are not supported"
                }
                ZnsUnsupported::ZoneSize(_) => "its zone size is not a power of two",
            })?;
        let (max_open, max_active) = z.zone_resources();
        let max_transfer = self.params.max_transfer >> 9;
        let max_append_sectors =
            match Self::identify_csi(admin, buf, ident::CNS_CS_CTRL, 0, ident::CSI_ZNS) {
                Ok(c) => IdCtrlZns::parse(&c).append_max_sectors(CTRL_PAGE_SHIFT, max_transfer),
                Err(_) => max_transfer,
            };
        Ok(ZonedLimits {
            zone_sectors,
            max_open,
            max_active,
            max_append_sectors,
        })
    }

    /// Offers the placement handles of a namespace (Identify data `id_ns`) with Flexible Data
    /// Placement enabled as its disk's write streams, as C's `nvme_query_fdp_info()`: FDP
    /// enabled for its endurance group (Get Features FDP), the reclaim unit nominal size of
    /// the configuration in use (FDP Configurations log) as the stream granularity, and the
    /// placement identifiers its reclaim unit handles report (I/O Management Receive on the
    /// disk's queue), stream `i + 1` for the `i`th. Nothing to do without FDP.
    fn setup_fdp(
        &self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        id_ns: &[u8; IDENTIFY_SIZE],
        d: &mut NsDisk,
    ) -> Result<(), &'static str> {
        let endgid = fdp::endgid(id_ns);
        let cqe = admin
            .submit_sync(Command::get_features_fdp(endgid))
            .map_err(|_| "Get Features FDP failed")?;
        let feature = FdpFeature::from_dw0(cqe.result_dw0());
        if !feature.enabled {
            return Ok(());
        }
        admin
            .get_log_lsi_into(buf, fdp::LOG_FDP_CONFIGS, endgid)
            .map_err(|_| "the FDP configurations log failed")?;
        let log = identify_copy(buf).map_err(|_| "no memory")?;
        let cfg = fdp::fdp_config(&log[..], feature.config_index)
            .map_err(|_| "bad FDP configurations log")?;
        if !cfg.valid || cfg.nrg > 1 || cfg.runs == 0 {
            return Err("FDP configuration not valid, or of several reclaim groups");
        }
        let len = fdp::ruhs_size(fdp::MAX_WRITE_STREAMS);
        let mut ruhs = KVec::from_elem(0u8, len, GFP_KERNEL).map_err(|_| "no memory")?;
        // CAST: a few KiB in dwords, 0's based.
        let c = Command::io_mgmt_recv_ruhs(d.nsid, (len / 4 - 1) as u32);
        let ns = d.disk.data();
        ns.run_on_disk(d.disk.disk_queue(), &c, &mut ruhs)
            .map_err(|_| "I/O Management Receive failed")?;
        let n = ns
            .set_placement_ids(fdp::placement_ids(&ruhs).take(usize::from(fdp::MAX_WRITE_STREAMS)));
        if n == 0 {
            return Ok(());
        }
        let mut limits = d.fmt.limits;
        limits.write_streams = n;
        limits.write_stream_granularity = u32::try_from(cfg.runs).unwrap_or(u32::MAX);
        d.disk
            .update(d.fmt.sectors, &limits, || ())
            .map_err(|_| "the disk took no write streams")?;
        d.fmt.limits = limits;
        if let Some(link) = d.disk.data().mpath.as_ref() {
            link.head
                .update(d.fmt.sectors, &limits)
                .map_err(|_| "the shared disk took no streams")?;
        }
        dev_info!(
            self.dev,
            "namespace {}: {} write streams (FDP placement handles), {} byte reclaim units\n",
            d.nsid,
            n,
            cfg.runs
        );
        Ok(())
    }

    /// Says so when namespace `nsid` (`ns`) gets a disk of no capacity because the driver
    /// cannot carry the metadata of its format `fmt`.
    fn warn_unusable(&self, nsid: u32, ns: &IdNs, fmt: &DiskFormat) {
        if fmt.sectors == 0 && ns.capacity_sectors() != 0 {
            dev_warn!(
                self.dev,
                "namespace {}: {} bytes of {} metadata per {} byte block (PI type {}) cannot be carried{}: no capacity, passthrough only\n",
                nsid,
                fmt.meta.ms,
                if fmt.meta.extended { "interleaved" } else { "separate" },
                ns.logical_block_size(),
                fmt.meta.pi_type,
                if glue::INTEGRITY_SUPPORTED { "" } else { " without the block layer's integrity support" }
            );
        }
    }

    /// The disk format of namespace `nsid` (`ns`), whose block size is supported, zoned with
    /// `zoned` geometry: a disk of no capacity when the driver cannot carry its metadata (as
    /// C: only passthrough reaches it).
    fn format(
        &self,
        admin: &AdminQueue,
        buf: &Coherent<[u8]>,
        nsid: u32,
        ns: &IdNs,
        zoned: Option<ZonedLimits>,
    ) -> DiskFormat {
        let meta = self.meta_format(admin, buf, nsid, ns);
        let integrity = disk_integrity(&meta);
        let usable = match meta.serve() {
            Serve::Plain | Serve::Pract => true,
            // Without metadata buffers, only what the controller can insert and strip.
            Serve::Integrity(_) => integrity.is_some() || meta.is_pi_only(),
            Serve::Unusable => false,
        };
        let DiskParams {
            max_transfer,
            ref nvm,
            ..
        } = self.params;
        let idc = &self.idc;
        let lba_shift = u32::from(ns.lba_shift());
        let lbs = 1u32 << lba_shift;
        let atomic = ns.atomic_write();
        let atomic_bytes = atomic.map_or(0, |a| a.max_blocks.saturating_mul(lbs));
        let limits = Limits {
            logical_block_size: lbs,
            // A block larger than what is written atomically is not a physical block.
            physical_block_size: match atomic {
                Some(_) => ns.physical_block_size().min(atomic_bytes).max(lbs),
                None => ns.physical_block_size().max(lbs),
            },
            write_cache: idc.has_vwc(),
            fua: idc.has_vwc(),
            max_discard_sectors: max_discard_sectors(idc, nvm, lba_shift),
            max_discard_segments: match (idc.oncs_dsm(), nvm.dmrl) {
                (false, _) => 1,
                (true, 0) => 256,
                (true, n) => u16::from(n),
            },
            discard_granularity: ns.discard_granularity_blocks().saturating_mul(lbs),
            atomic_write_max: atomic_bytes,
            atomic_write_boundary: atomic.map_or(0, |a| a.boundary_blocks.saturating_mul(lbs)),
            max_write_zeroes_sectors: max_write_zeroes_sectors(idc, nvm, max_transfer, lba_shift),
            integrity,
            zoned,
            write_streams: 0,
            write_stream_granularity: 0,
            ..self.transfer_limits()
        };
        DiskFormat {
            lba_shift,
            sectors: if usable { ns.capacity_sectors() } else { 0 },
            limits,
            meta,
        }
    }

    /// What serves namespace `nsid` (identified as `ns`), which no disk can: `prior` when it
    /// has a char device, else (`with_char`) a new char device on a request queue of its own,
    /// or nothing when that cannot be set up (with a warning).
    #[expect(
        clippy::too_many_arguments,
        reason = "the scan's state and the namespace's"
    )]
    fn unserved(
        &self,
        admin: &AdminQueue,
        state: &ScanState,
        nsid: u32,
        ns: &IdNs,
        ids: NsIds,
        prior: &mut Option<Unserved>,
        with_char: bool,
    ) -> Unserved {
        match prior.take() {
            Some(p) if p.chr.is_some() || !with_char => return p,
            _ => {}
        }
        if !with_char {
            return Unserved::plain(nsid);
        }
        let meta = self.meta_format(admin, &state.buf, nsid, ns);
        let made = (|| -> Result<Unserved> {
            let data = Arc::new(
                Namespace::new(
                    nsid,
                    u32::from(ns.lba_shift()),
                    &meta,
                    0,
                    0,
                    self.params.passthru.clone(),
                    ids,
                    None,
                ),
                GFP_KERNEL,
            )?;
            // The queue moves no block I/O: 512-byte blocks, the controller's transfer limits.
            let limits = Limits {
                logical_block_size: 512,
                physical_block_size: 512,
                ..self.transfer_limits()
            };
            let queue = RequestQueue::new(&state.tagset, data, &limits)?;
            let chr = ns_char::register(self.params.ctrl, nsid, queue.get_ref()?, &self.dev)?;
            Ok(Unserved {
                nsid,
                chr: Some(chr),
                _queue: Some(queue),
            })
        })();
        made.unwrap_or_else(|e| {
            dev_warn!(self.dev, "namespace {}: no char device ({:?})\n", nsid, e);
            Unserved::plain(nsid)
        })
    }

    /// The limits every request to the controller obeys: transfer size, segments, their
    /// boundaries and alignment.
    fn transfer_limits(&self) -> Limits {
        Limits {
            max_hw_sectors: self.params.max_transfer >> 9,
            max_segments: self.params.max_segs,
            // PRPs cannot describe a gap inside a controller page; SGLs can, so a controller
            // that takes them gets requests of any shape (as the C driver sets it).
            virt_boundary_mask: if self.idc.sgl_supported() {
                0
            } else {
                (1 << CTRL_PAGE_SHIFT) - 1
            },
            dma_alignment: 3,
            ..Limits::default()
        }
    }

    /// Identifies namespace `nsid` and adds its disk, unless it is inactive or its format is
    /// not supported (with a warning the first time).
    ///
    /// `prior` is what the namespace had while no disk served it (none on its first scan): an
    /// unsupported namespace keeps it (a new char device is set up only where it had none); a
    /// disk replaces it, dropped first. The namespace's Identify data and identifier
    /// descriptors come from `ahead` when fetched there. `subsys_ctrls` is the scan's memo of
    /// the number of controllers in the subsystem (see [`NsScan::attached_ctrls`]).
    fn add_disk(
        &self,
        admin: &AdminQueue,
        state: &ScanState,
        ahead: &mut Ahead,
        nsid: u32,
        prior: &mut Option<Unserved>,
        subsys_ctrls: &mut Option<Option<u16>>,
    ) -> Result<Added> {
        let DiskParams {
            ref passthru,
            bogus_nid,
            multi_css,
            ..
        } = self.params;
        let buf = &state.buf;
        let Ok(id) = ahead.identify(admin, buf, cmd::CNS_NS, nsid) else {
            dev_warn!(self.dev, "Identify Namespace {} failed, skipped\n", nsid);
            return Ok(Added::None);
        };
        let ns = IdNs::parse(&id);
        // Controllers from NVMe 1.3 on list the namespace's identifiers, UUID included, and
        // its command set. A controller whose identifiers are bogus keeps only the latter.
        let mut ids = NsIds::from_id_ns(&ns);
        if let Ok(desc) = ahead.identify(admin, buf, cmd::CNS_NS_DESC_LIST, nsid) {
            ids.add_descriptors(&desc);
        }
        if bogus_nid {
            ids = NsIds {
                csi: ids.csi,
                ..NsIds::default()
            };
        }
        if !ns.is_active() {
            return Ok(Added::None);
        }
        // As C: with several command sets, a namespace must say which is its own.
        let csi = match ids.csi {
            Some(csi) => csi,
            None if multi_css => CSI_UNREPORTED,
            None => ident::CSI_NVM,
        };
        let zoned = match csi {
            ident::CSI_NVM => Ok(None),
            ident::CSI_ZNS if glue::ZONED_SUPPORTED => {
                self.zone_limits(admin, buf, nsid, &ns).map(Some)
            }
            ident::CSI_ZNS => Err("zoned, and the kernel has no zoned block devices"),
            ident::CSI_KV => Err("key value namespaces are not supported"),
            CSI_UNREPORTED => Err("its command set is not reported"),
            _ => Err("its command set is unknown"),
        };
        // Commands of the NVM and zoned command sets are sized alike: their namespaces keep a
        // char device when no disk can serve them.
        let nvm_like = matches!(csi, ident::CSI_NVM | ident::CSI_ZNS);
        let zoned = match zoned {
            Ok(z) => z,
            Err(why) => {
                if prior.is_none() {
                    dev_warn!(self.dev, "namespace {}: {}, skipped\n", nsid, why);
                }
                return Ok(Added::Unsupported(
                    self.unserved(admin, state, nsid, &ns, ids, prior, nvm_like),
                ));
            }
        };
        if let Err(why) = ns.is_supported(glue::MAX_BLOCK_SHIFT) {
            if prior.is_none() {
                dev_warn!(
                    self.dev,
                    "namespace {}: unsupported format ({:?}: {} byte blocks), no disk\n",
                    nsid,
                    why,
                    ns.logical_block_size()
                );
            }
            return Ok(Added::Unsupported(
                self.unserved(admin, state, nsid, &ns, ids, prior, true),
            ));
        }
        // A namespace shared by several controllers of a subsystem is a path of its head (a
        // zoned one keeps the controller's own disk: heads take no zones); one attached to a
        // single controller when found is served by that controller's own disk.
        let mut own = None;
        let link = match &self.params.subsys {
            Some(s) if ns.nmic & NMIC_SHARED != 0 && zoned.is_none() => {
                let attached = Self::attached_ctrls(admin, buf, subsys_ctrls, nsid);
                match s.place(nsid, &ids, &passthru.info, self.params.ctrl, attached) {
                    Ok(Place::Path(head)) => Some(PathLink::new(head, ns.anagrpid)),
                    Ok(Place::Own(claim)) => {
                        own = Some(claim);
                        None
                    }
                    Ok(Place::Taken(owner)) => {
                        if prior.is_none() {
                            dev_warn!(
                                self.dev,
                                "namespace {}: shared, and served by rnvme{}n{} alone (attached \
                                 to that controller only when found); no disk here until that \
                                 disk goes\n",
                                nsid,
                                owner,
                                nsid
                            );
                        }
                        return Ok(Added::Unsupported(
                            self.unserved(admin, state, nsid, &ns, ids, prior, true),
                        ));
                    }
                    Err(why) => {
                        dev_warn!(
                            self.dev,
                            "namespace {}: not a path of rnvme{}n{}: {}; no disk\n",
                            nsid,
                            s.instance(),
                            nsid,
                            why
                        );
                        return Ok(Added::None);
                    }
                }
            }
            _ => None,
        };
        // A disk serves the namespace from here: its char device (if any) goes first.
        *prior = None;
        let fmt = self.format(admin, buf, nsid, &ns, zoned);
        self.warn_unusable(nsid, &ns, &fmt);
        let data = Arc::new(
            Namespace::new(
                nsid,
                fmt.lba_shift,
                &fmt.meta,
                fmt.sectors,
                fmt.zone_sectors(),
                passthru.clone(),
                ids,
                link,
            ),
            GFP_KERNEL,
        )?;
        Ok(Added::Disk(PendingDisk {
            nsid,
            data,
            fmt,
            id,
            own,
        }))
    }

    /// Waits for the disks `adder` started and sets up their write streams, which takes admin
    /// commands, one disk after the other. A disk that could not be added is left out, with an
    /// error.
    fn finish_disks(
        &self,
        admin: &AdminQueue,
        state: &ScanState,
        adder: DiskAdder,
    ) -> Result<KVec<(NsDisk, KBox<[u8; IDENTIFY_SIZE]>)>> {
        let DiskAdder { jobs, mut made, .. } = adder;
        // Every job is waited for before anything can fail.
        let mut outcomes = KVec::with_capacity(jobs.len(), GFP_KERNEL);
        for job in jobs.iter() {
            let o = job.finish();
            if let Ok(v) = outcomes.as_mut() {
                let _ = v.push_within_capacity(o);
            }
        }
        for o in outcomes? {
            made.push(o, GFP_KERNEL)?;
        }
        let mut disks = KVec::with_capacity(made.len(), GFP_KERNEL)?;
        for (nsid, result) in made {
            match result {
                Ok((mut d, id)) => {
                    if self.idc.ctratt & fdp::CTRATT_FDPS != 0 {
                        if let Err(why) = self.setup_fdp(admin, &state.buf, &id, &mut d) {
                            dev_warn!(self.dev, "namespace {}: no write streams ({})\n", nsid, why);
                        }
                    }
                    disks.push((d, id), GFP_KERNEL)?;
                }
                Err(e) => dev_err!(
                    self.dev,
                    "adding disk for namespace {} failed: {:?}\n",
                    nsid,
                    e
                ),
            }
        }
        Ok(disks)
    }
}

/// The disks a scan adds ([`NsScan::rescan`]): each started as soon as its namespace is
/// identified, several at once in parallel on the unbound workqueue (as C adds its namespaces
/// asynchronously), since adding a disk (its devices, its partition table read, its char
/// device) costs far more than identifying it; collected by [`NsScan::finish_disks`].
struct DiskAdder {
    /// The scan adds more than one disk: each on a work item.
    parallel: bool,
    jobs: KVec<Arc<DiskJob>>,
    /// The outcomes of disks added by the scan itself.
    made: KVec<DiskOutcome>,
}

impl DiskAdder {
    fn new(parallel: bool) -> Self {
        Self {
            parallel,
            jobs: KVec::new(),
            made: KVec::new(),
        }
    }

    /// Starts adding `p`'s disk for `scan` (adds it here when the scan adds one disk, or when
    /// no work item could be set up).
    fn start(&mut self, scan: &NsScan, state: &ScanState, p: PendingDisk) -> Result {
        self.made.reserve(1, GFP_KERNEL)?;
        let nsid = p.nsid;
        let input = DiskInput {
            tagset: state.tagset.clone(),
            core: scan.params.core.clone(),
            ctrl: scan.params.ctrl,
            parent: scan.dev.clone(),
            pending: p,
        };
        let result = if self.parallel {
            match DiskJob::start(input, &mut self.jobs) {
                None => return Ok(()),
                // No job: added here instead.
                Some(input) => input.add(),
            }
        } else {
            input.add()
        };
        // Cannot fail: room was reserved above.
        let _ = self.made.push_within_capacity((nsid, result));
        Ok(())
    }
}

/// A namespace [`NsScan::add_disk`] identified, whose disk is yet to be added.
struct PendingDisk {
    nsid: u32,
    data: Arc<Namespace>,
    fmt: DiskFormat,
    /// Its Identify Namespace data, for its write streams.
    id: KBox<[u8; IDENTIFY_SIZE]>,
    /// A shared namespace's claim, when the disk is to serve it alone.
    own: Option<OwnClaim>,
}

/// What adding one disk takes, owned, so that a work item can do it.
struct DiskInput {
    tagset: Arc<Pin<KBox<TagSet<NvmeMq>>>>,
    core: Arc<CtrlCore>,
    ctrl: u32,
    parent: ARef<device::Device>,
    pending: PendingDisk,
}

/// What adding one disk gave: the disk, or why not (for namespace `.0`).
type DiskOutcome = (u32, Result<(NsDisk, KBox<[u8; IDENTIFY_SIZE]>)>);

impl DiskInput {
    /// Adds the disk `/dev/rnvme<ctrl>n<nsid>` and its char device (without one, with a
    /// warning, when that fails). A shared namespace's disk is hidden,
    /// `rnvme<subsystem>c<ctrl>n<nsid>` without a parent device, and becomes a path of its
    /// head, whose disk sits under the PCI function of its first path.
    fn add(self) -> Result<(NsDisk, KBox<[u8; IDENTIFY_SIZE]>)> {
        let DiskInput {
            tagset,
            core,
            ctrl,
            parent,
            pending:
                PendingDisk {
                    nsid,
                    data,
                    fmt,
                    id,
                    own,
                },
        } = self;
        let head = data.mpath.as_ref().map(|l| l.head.clone());
        let disk = match &head {
            Some(h) => GenDisk::new(
                &tagset,
                data,
                format_args!("rnvme{}c{}n{}", h.instance(), ctrl, nsid),
                fmt.sectors,
                &fmt.limits,
                None,
            )?,
            None => GenDisk::new(
                &tagset,
                data,
                format_args!("rnvme{}n{}", ctrl, nsid),
                fmt.sectors,
                &fmt.limits,
                Some(&parent),
            )?,
        };
        let head_ref = head.clone().map(HeadRef);
        let path = match head {
            Some(h) => Some(h.add_path(
                core,
                parent.clone(),
                disk.target(),
                disk.queue_ref()?,
                fmt.sectors,
                &fmt.limits,
            )?),
            None => None,
        };
        let chr = match disk
            .queue_ref()
            .and_then(|q| ns_char::register(ctrl, nsid, q, &parent))
        {
            Ok(c) => Some(c),
            Err(e) => {
                dev_warn!(parent, "namespace {}: no char device ({:?})\n", nsid, e);
                None
            }
        };
        Ok((
            NsDisk {
                nsid,
                _chr: chr,
                _path: path,
                disk,
                _head: head_ref,
                _own: own,
                fmt,
            },
            id,
        ))
    }
}

/// One disk added on the unbound workqueue, for a scan that waits for it
/// ([`NsScan::finish_disks`]).
#[pin_data]
struct DiskJob {
    #[pin]
    work: Work<DiskJob>,
    /// Signalled once `cell` holds the outcome.
    #[pin]
    done: Waiter,
    /// The input, then the outcome.
    #[pin]
    cell: Mutex<DiskSlot>,
}

/// The input or the outcome of a [`DiskJob`].
enum DiskSlot {
    Input(DiskInput),
    Outcome(DiskOutcome),
    Taken,
}

impl_has_work! {
    impl HasWork<Self> for DiskJob { self.work }
}

impl WorkItem for DiskJob {
    type Pointer = Arc<DiskJob>;

    fn run(this: Arc<DiskJob>) {
        let input = core::mem::replace(&mut *this.cell.lock(), DiskSlot::Taken);
        if let DiskSlot::Input(input) = input {
            let nsid = input.pending.nsid;
            let outcome = input.add();
            *this.cell.lock() = DiskSlot::Outcome((nsid, outcome));
        }
        this.done.complete();
    }
}

impl DiskJob {
    /// Queues the addition of `input`'s disk, keeping the job in `jobs`; gives `input` back
    /// when no job could be set up.
    fn start(input: DiskInput, jobs: &mut KVec<Arc<DiskJob>>) -> Option<DiskInput> {
        if jobs.reserve(1, GFP_KERNEL).is_err() {
            return Some(input);
        }
        // The input goes in only once the job exists: a failed allocation gives it back.
        let job = match Arc::pin_init(
            pin_init!(DiskJob {
                work <- new_work!("rust_nvme_add_disk"),
                done <- Waiter::new(),
                cell <- new_mutex!(DiskSlot::Taken),
            }),
            GFP_KERNEL,
        ) {
            Ok(job) => job,
            Err(_) => return Some(input),
        };
        *job.cell.lock() = DiskSlot::Input(input);
        // A new job is not pending, so it is queued.
        let _ = glue::system_dfl_wq().enqueue(job.clone());
        let _ = jobs.push_within_capacity(job);
        None
    }

    /// Waits for the job and takes its outcome.
    fn finish(&self) -> DiskOutcome {
        // Adding a disk reads its partition table: no fixed bound, so wait in steps.
        while !self.done.wait_timeout(1000) {}
        match core::mem::replace(&mut *self.cell.lock(), DiskSlot::Taken) {
            DiskSlot::Outcome(o) => o,
            // Cannot be: the job stores an outcome before it signals.
            _ => (0, Err(EINVAL)),
        }
    }
}

/// Stands for a command set a namespace does not report (no CSI is this large).
const CSI_UNREPORTED: u8 = u8::MAX;

/// What [`NsScan::add_disk`] did.
enum Added {
    /// A disk is to be added ([`DiskAdder::start`]).
    Disk(PendingDisk),
    /// No disk: the format or command set is not supported.
    Unsupported(Unserved),
    /// No disk: the namespace is inactive, or identifying it or adding the disk failed.
    None,
}
