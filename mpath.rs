// SPDX-License-Identifier: GPL-2.0

//! Native multipath: the NVM subsystems controllers belong to, and one disk per namespace
//! shared by several of a subsystem's controllers, as the C driver's `multipath.c`.
//!
//! A controller whose subsystem may have several controllers (CMIC bit 1) joins the
//! [`Subsystem`] of its NQN. Each namespace it reports as shared (NMIC bit 0) becomes a path
//! of the subsystem's [`NsHead`] for that namespace identifier: the controller's disk of the
//! namespace is hidden (`rnvme<s>c<c>n<ns>`), and the head's bio-based disk
//! (`rnvme<s>n<ns>`) sends each bio to one of its paths, chosen by the subsystem's
//! [`IoPolicy`] among those whose controller is live and whose ANA state is usable. A request
//! that fails for a reason of its path (a path-related status, a controller reset or death)
//! gives its bios back to the head, which sends them down another path; with no usable path
//! but one that may come back (its controller resetting) they wait, and with none they fail.
//! Private namespaces keep the controller's own disks.
//!
//! Paths are read under the head's SRCU: a path leaves the head, and the head waits for
//! every reader, before its disk is removed.

use core::{
    fmt, ptr,
    sync::atomic::{
        AtomicBool,
        AtomicPtr,
        AtomicU64,
        AtomicU8,
        AtomicUsize,
        Ordering, //
    },
};
use kernel::{
    device, impl_has_delayed_work, new_delayed_work, new_mutex,
    prelude::*,
    str::CStr,
    sync::{
        aref::ARef,
        Arc,
        ArcBorrow,
        Mutex, //
    },
    workqueue::{
        DelayedWork,
        WorkItem, //
    },
};

use crate::{
    admin::AdminQueue,
    ctrl::{
        CtrlCore,
        State, //
    },
    glue::{
        self,
        new_srcu,
        AtomicDiskTarget,
        Attributes,
        Bio,
        BioDisk,
        BioList,
        BioOperations,
        BlkStatus,
        DiskTarget,
        Limits,
        OwnedRequest,
        QueueRef,
        Request,
        Srcu,
        SrcuGuard,
        SysfsWriter, //
    },
    iod::NvmeMq,
    nvme::{
        ident::{
            self,
            IdCtrl,
            NsIds, //
        },
        mpath::{
            self as mp,
            select,
            AnaState,
            IoPolicy,
            PathView,
            Placement,
            CMIC_MULTI_CTRL,
            MAX_PATHS, //
        },
        uapi::Origin,
    },
    passthru::CtrlInfo,
};

/// Largest number of controller and subsystem numbers in use at once (bits of [`INSTANCES`]).
const MAX_INSTANCES: u32 = 64;

/// Controller and subsystem numbers in use, for names: one space, as the C driver's
/// `nvme_instance_ida`, so that a subsystem named after its first controller never clashes
/// with a later controller.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// A controller number, released when the last holder (the controller, and the subsystem
/// named after it) drops it.
pub(crate) struct Instance(pub(crate) u32);

impl Instance {
    /// The lowest free number.
    pub(crate) fn alloc() -> Result<Arc<Self>> {
        // Allocated first: a failure after the bit is taken would leak it.
        let mut cur = INSTANCES.load(Ordering::Relaxed);
        loop {
            let free = (!cur).trailing_zeros();
            if free >= MAX_INSTANCES {
                return Err(EBUSY);
            }
            match INSTANCES.compare_exchange(
                cur,
                cur | (1 << free),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    break Arc::new(Self(free), GFP_KERNEL).inspect_err(|_| {
                        INSTANCES.fetch_and(!(1u64 << free), Ordering::AcqRel);
                    })
                }
                Err(now) => cur = now,
            }
        }
        .map_err(Into::into)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        INSTANCES.fetch_and(!(1u64 << self.0), Ordering::AcqRel);
    }
}

kernel::sync::global_lock! {
    // SAFETY: initialised by `subsystems()` before any use.
    unsafe(uninit) static SUBSYSTEMS: Mutex<KVec<Arc<Subsystem>>> = KVec::new();
}

/// [`SUBSYSTEMS`] initialised: 0 not yet, 1 being initialised, 2 done.
static SUBSYSTEMS_READY: AtomicU8 = AtomicU8::new(0);

/// The subsystem list, initialised by its first user (the module macro has no init hook).
fn subsystems() -> &'static kernel::sync::lock::GlobalLock<SUBSYSTEMS> {
    loop {
        match SUBSYSTEMS_READY.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                // SAFETY: the compare-exchange lets exactly one caller here, once, before any
                // caller gets the lock (the others wait for 2 below).
                unsafe { SUBSYSTEMS.init() };
                SUBSYSTEMS_READY.store(2, Ordering::Release);
                return &SUBSYSTEMS;
            }
            Err(2) => return &SUBSYSTEMS,
            Err(_) => core::hint::spin_loop(),
        }
    }
}

/// An NVM subsystem with several controllers, and the heads of its shared namespaces.
#[pin_data]
pub(crate) struct Subsystem {
    /// The subsystem NQN (trimmed of padding).
    nqn: KVec<u8>,
    /// The number it is named by: its first controller's.
    instance: Arc<Instance>,
    /// The I/O policy of its heads ([`IoPolicy`] as a number).
    policy: AtomicU8,
    /// The controllers bound: their identifiers (CNTLID) and admin queues (to have them
    /// rescan), changed under [`SUBSYSTEMS`].
    #[pin]
    ctrls: Mutex<KVec<(u16, Arc<AdminQueue>)>>,
    /// The heads, by namespace identifier; the lock also serialises adding and removing
    /// paths and head disks.
    #[pin]
    heads: Mutex<KVec<Arc<NsHead>>>,
    /// Shared namespaces served by one controller's own disk (see [`mp::place`]): namespace
    /// identifier and controller number, locked inside `heads`.
    #[pin]
    owned: Mutex<KVec<(u32, u32)>>,
}

/// What serves a shared namespace on one controller ([`Subsystem::place`]).
pub(crate) enum Place {
    /// A path of this head.
    Path(Arc<NsHead>),
    /// The controller's own disk, which holds the claim while it exists.
    Own(OwnClaim),
    /// Nothing: controller number `.0` serves it with its own disk.
    Taken(u32),
}

/// A controller's claim on a shared namespace it serves with its own disk: while it is held,
/// no other controller of the subsystem makes a disk for the namespace. Dropping it (after the
/// disk was removed) has the other controllers rescan, so that one of them takes over.
pub(crate) struct OwnClaim {
    subsys: Arc<Subsystem>,
    nsid: u32,
    ctrl: u32,
}

impl Drop for OwnClaim {
    fn drop(&mut self) {
        {
            let _heads = self.subsys.heads.lock();
            let mut owned = self.subsys.owned.lock();
            if let Some(i) = owned.iter().position(|o| *o == (self.nsid, self.ctrl)) {
                // Cannot fail: `i` is an index of the vector.
                let _ = owned.remove(i);
            }
        }
        // Rescans run from a work item each: nothing here waits for them.
        for (_, admin) in self.subsys.ctrls.lock().iter() {
            admin.ask_rescan();
        }
    }
}

/// A controller's membership of its subsystem: leaving it when dropped.
pub(crate) struct Membership {
    subsys: Arc<Subsystem>,
    cntlid: u16,
}

impl Subsystem {
    /// The subsystem controller `idc` (numbered `instance`) belongs to, joined; `None` when it
    /// may have only one controller (nothing to share). `EINVAL` when a bound controller of
    /// the subsystem has the same CNTLID (a broken subsystem, which C rejects too).
    pub(crate) fn join(
        idc: &IdCtrl,
        instance: &Arc<Instance>,
        admin: &Arc<AdminQueue>,
    ) -> Result<Option<Membership>> {
        if idc.cmic & CMIC_MULTI_CTRL == 0 {
            return Ok(None);
        }
        let nqn = idc.subsys_nqn();
        let mut list = subsystems().lock();
        let found = list.iter().find(|s| s.nqn.as_slice() == nqn).cloned();
        let subsys = match found {
            Some(s) => s,
            None => {
                let mut name = KVec::with_capacity(nqn.len(), GFP_KERNEL)?;
                name.extend_from_slice(nqn, GFP_KERNEL)?;
                let s = Arc::pin_init(
                    pin_init!(Subsystem {
                        nqn: name,
                        instance: instance.clone(),
                        policy: AtomicU8::new(IoPolicy::Numa as u8),
                        ctrls <- new_mutex!(KVec::new(), "rust_nvme_subsys_ctrls"),
                        heads <- new_mutex!(KVec::new(), "rust_nvme_subsys_heads"),
                        owned <- new_mutex!(KVec::new(), "rust_nvme_subsys_owned"),
                    }),
                    GFP_KERNEL,
                )?;
                list.push(s.clone(), GFP_KERNEL)?;
                s
            }
        };
        {
            let mut ctrls = subsys.ctrls.lock();
            if ctrls.iter().any(|c| c.0 == idc.cntlid) {
                drop(ctrls);
                Self::forget_if_unused(&mut list, &subsys);
                return Err(EINVAL);
            }
            ctrls.push((idc.cntlid, admin.clone()), GFP_KERNEL)?;
        }
        Ok(Some(Membership {
            subsys,
            cntlid: idc.cntlid,
        }))
    }

    /// Takes `subsys` off the list when no controller is bound to it. An empty list lets go
    /// of its memory: the list is a static, which unloading the module does not drop.
    fn forget_if_unused(list: &mut KVec<Arc<Subsystem>>, subsys: &Arc<Subsystem>) {
        if subsys.ctrls.lock().is_empty() {
            list.retain(|s| !ptr::eq(&**s, &**subsys));
        }
        if list.is_empty() {
            *list = KVec::new();
        }
    }

    /// The number the subsystem's heads are named by.
    pub(crate) fn instance(&self) -> u32 {
        self.instance.0
    }

    fn policy(&self) -> IoPolicy {
        IoPolicy::from_raw(self.policy.load(Ordering::Relaxed))
    }

    /// What serves shared namespace `nsid`, whose identifiers are `ids` and identity `info`,
    /// on controller number `ctrl`, to which it is one of `attached` controllers attached
    /// (`None`: unknown): a path of its head (the existing one, or a new one without paths),
    /// the controller's own disk, or nothing (see [`mp::place`]). `Err` names why the
    /// namespace cannot be a path of the existing head (its identifiers differ: not the same
    /// namespace).
    pub(crate) fn place(
        self: &Arc<Self>,
        nsid: u32,
        ids: &NsIds,
        info: &CtrlInfo,
        ctrl: u32,
        attached: Option<u16>,
    ) -> Result<Place, &'static str> {
        let mut heads = self.heads.lock();
        let mut owned = self.owned.lock();
        let head = heads.iter().find(|h| h.nsid == nsid);
        let owner = owned.iter().find(|o| o.0 == nsid).map(|o| o.1);
        match mp::place(head.is_some(), owner, ctrl, attached) {
            Placement::JoinHead => match head {
                Some(h) if h.ids.same_namespace(ids) => Ok(Place::Path(h.clone())),
                _ => Err("its identifiers differ from the shared namespace's"),
            },
            Placement::Taken => Ok(Place::Taken(owner.unwrap_or(ctrl))),
            Placement::Own => {
                owned
                    .push((nsid, ctrl), GFP_KERNEL)
                    .map_err(|_| "out of memory")?;
                Ok(Place::Own(OwnClaim {
                    subsys: self.clone(),
                    nsid,
                    ctrl,
                }))
            }
            Placement::NewHead => {
                drop(owned);
                self.new_head(&mut heads, nsid, ids, info).map(Place::Path)
            }
        }
    }

    /// A new head for namespace `nsid`, without paths, added to `heads`.
    fn new_head(
        self: &Arc<Self>,
        heads: &mut KVec<Arc<NsHead>>,
        nsid: u32,
        ids: &NsIds,
        info: &CtrlInfo,
    ) -> Result<Arc<NsHead>, &'static str> {
        let head = Arc::pin_init(
            try_pin_init!(NsHead {
                nsid,
                ids: *ids,
                info: *info,
                subsys: self.clone(),
                srcu <- new_srcu!("rust_nvme_head"),
                paths: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_PATHS],
                last: AtomicUsize::new(0),
                pending <- BioList::new(),
                requeue <- new_delayed_work!("rust_nvme_head_requeue"),
                disk <- new_mutex!(None, "rust_nvme_head_disk"),
                parent: AtomicUsize::new(0),
                acct: AtomicDiskTarget::new(),
                gone: AtomicBool::new(false),
                warned: AtomicBool::new(false),
            }? Error),
            GFP_KERNEL,
        )
        .map_err(|_| "out of memory")?;
        heads
            .push(head.clone(), GFP_KERNEL)
            .map_err(|_| "out of memory")?;
        Ok(head)
    }
}

impl Membership {
    /// The subsystem.
    pub(crate) fn subsys(&self) -> &Arc<Subsystem> {
        &self.subsys
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut list = subsystems().lock();
        self.subsys.ctrls.lock().retain(|c| c.0 != self.cntlid);
        Subsystem::forget_if_unused(&mut list, &self.subsys);
    }
}

/// Retry period of bios waiting for a path to come back.
const REQUEUE_MS: u32 = 100;

/// One shared namespace of a subsystem: its paths and its disk.
#[pin_data]
pub(crate) struct NsHead {
    nsid: u32,
    ids: NsIds,
    /// The identity of the first controller it was found on, for sysfs.
    info: CtrlInfo,
    subsys: Arc<Subsystem>,
    /// Readers of `paths`.
    #[pin]
    srcu: Srcu,
    /// The paths, each slot owning a reference (`Arc::into_raw`) or null; written under the
    /// subsystem's `heads` lock, read under `srcu`.
    paths: [AtomicPtr<Path>; MAX_PATHS],
    /// The slot the last I/O went to (round-robin).
    last: AtomicUsize,
    /// Bios waiting for a path.
    #[pin]
    pending: BioList,
    #[pin]
    requeue: DelayedWork<NsHead>,
    /// The head's disk, from its first path on; under the subsystem's `heads` lock as well.
    #[pin]
    disk: Mutex<Option<BioDisk<HeadOps>>>,
    /// The slot of the path whose PCI function is the head disk's parent (under the `heads`
    /// lock): the disk sits where the controller's own disk would, and moves to another
    /// path's function before that one goes.
    parent: AtomicUsize,
    /// The head disk's whole device, for the paths' requests' accounting: set while the
    /// disk is, which outlives every request sent down a path (see [`HeadRef`]).
    acct: AtomicDiskTarget,
    /// The last path left: bios fail.
    gone: AtomicBool,
    /// "No path" was logged since a path was last usable.
    warned: AtomicBool,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for NsHead { self.requeue }
}

impl WorkItem for NsHead {
    type Pointer = Arc<NsHead>;

    fn run(this: Arc<NsHead>) {
        this.pending.take_each(|bio| this.route(bio));
    }
}

/// One controller's way to a shared namespace.
pub(crate) struct Path {
    /// The controller.
    core: Arc<CtrlCore>,
    /// The controller's PCI function, the head disk's parent while this path is its first.
    dev: ARef<device::Device>,
    /// The controller's (hidden) disk of the namespace; valid while the path is in its head.
    target: DiskTarget,
    /// The disk's queue and namespace, for passthrough.
    queue: QueueRef<NvmeMq>,
}

/// What makes a namespace a path of a head: held by the namespace's disk data.
pub(crate) struct PathLink {
    /// The head.
    pub(crate) head: Arc<NsHead>,
    /// The namespace's ANA state through its controller ([`AnaState`] as a number).
    ana: AtomicU8,
    /// Its ANA group (0: the controller reports no ANA).
    pub(crate) anagrpid: u32,
}

impl PathLink {
    /// A link to `head`, in ANA group `anagrpid` (state optimized until the ANA log says
    /// otherwise).
    pub(crate) fn new(head: Arc<NsHead>, anagrpid: u32) -> Self {
        Self {
            head,
            ana: AtomicU8::new(AnaState::Optimized as u8),
            anagrpid,
        }
    }

    /// The ANA state.
    pub(crate) fn ana(&self) -> AnaState {
        AnaState::from_bits(self.ana.load(Ordering::Relaxed))
    }

    /// Takes a new ANA state; a usable one sends waiting bios.
    pub(crate) fn set_ana(&self, s: AnaState) {
        if self.ana.swap(s as u8, Ordering::Relaxed) != s as u8 && s.is_usable() {
            self.head.kick(0);
        }
    }
}

impl Drop for PathLink {
    fn drop(&mut self) {
        self.head.forget_if_pathless();
    }
}

/// A path's place in its head, held by the controller's disk of the namespace: dropped before
/// the disk is removed, the path leaves the head.
pub(crate) struct PathReg {
    head: Arc<NsHead>,
    slot: usize,
}

impl Drop for PathReg {
    fn drop(&mut self) {
        self.head.remove_path(self.slot);
    }
}

/// The head of a path, held by the controller's disk of the namespace: dropped after the disk
/// was removed (its requests drained), it takes the head's disk away if no path is left.
pub(crate) struct HeadRef(pub(crate) Arc<NsHead>);

impl Drop for HeadRef {
    fn drop(&mut self) {
        self.0.release_if_pathless();
    }
}

/// The limits of a head disk for a path disk with `limits`: the same block sizes, transfer
/// limits, integrity profile (the bios it sends down carry what the path's disk takes), write
/// streams and atomic writes; no zones (a zoned namespace keeps its controllers' disks), and
/// no segment boundary (the head splits nothing: the path's queue does).
pub(crate) fn head_limits(limits: &Limits) -> Limits {
    Limits {
        zoned: None,
        virt_boundary_mask: 0,
        ..*limits
    }
}

impl NsHead {
    /// The path in `slot`, while `_g` holds the SRCU read lock.
    fn path<'a>(&'a self, slot: usize, _g: &'a SrcuGuard<'_>) -> Option<&'a Path> {
        let p = self.paths[slot].load(Ordering::Acquire);
        // SAFETY: a non-null slot owns a reference on its path; `remove_path` clears the slot
        // and waits for the readers of `srcu` (which `_g` is) before dropping it.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The usable path for the next I/O, by the subsystem's policy.
    fn find<'a>(&'a self, g: &'a SrcuGuard<'_>) -> Option<&'a Path> {
        let policy = self.subsys.policy();
        let views: [Option<PathView>; MAX_PATHS] = core::array::from_fn(|i| {
            self.path(i, g).map(|p| PathView {
                live: p.core.state() == State::Live,
                ana: p.link().map_or(AnaState::Inaccessible, PathLink::ana),
                local: true,
                depth: p.core.nr_active.load(Ordering::Relaxed),
            })
        });
        let last = self.last.load(Ordering::Relaxed);
        let i = select(&views, policy, last)?;
        if policy == IoPolicy::RoundRobin && i != last {
            self.last.store(i, Ordering::Relaxed);
        }
        self.path(i, g)
    }

    /// True when a path may become usable (its controller is live or coming back).
    fn available(&self, g: &SrcuGuard<'_>) -> bool {
        (0..MAX_PATHS).any(|i| {
            self.path(i, g).is_some_and(|p| {
                matches!(p.core.state(), State::Live | State::Resetting | State::New)
            })
        })
    }

    /// Sends `bio` down a usable path; keeps it while none is but one may come back; fails it
    /// when there is none.
    fn route(&self, mut bio: Bio) {
        let g = self.srcu.read_lock();
        if let Some(p) = self.find(&g) {
            self.warned.store(false, Ordering::Relaxed);
            bio.set_target(p.target, true);
            bio.submit();
            return;
        }
        if !self.gone.load(Ordering::Acquire) && self.available(&g) {
            drop(g);
            self.pending.push(bio);
            self.kick(REQUEUE_MS);
            return;
        }
        drop(g);
        if !self.warned.swap(true, Ordering::Relaxed) {
            pr_warn!(
                "rnvme{}n{}: no usable path: failing I/O\n",
                self.subsys.instance(),
                self.nsid
            );
        }
        bio.end(BlkStatus::IOERR);
    }

    /// Has the waiting bios sent again after `ms` milliseconds.
    fn kick(&self, ms: u32) {
        if self.gone.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: `self` is always in an `Arc` (heads are only made by `Subsystem::head`).
        let this: Arc<NsHead> = unsafe { ArcBorrow::from_raw(self) }.into();
        let _ = glue::system_dfl_wq().enqueue_delayed(this, kernel::time::msecs_to_jiffies(ms));
    }

    /// A request of path namespace `rq` failed for a reason of its path (or its controller is
    /// gone): its bios wait on the head for another path, and it ends without them. Gives
    /// `rq` back when it has no bios to move (a flush of the block layer's own: its failure
    /// is its submitter's to see).
    pub(crate) fn failover<'a>(
        &self,
        rq: OwnedRequest<'a, NvmeMq>,
    ) -> Result<(), OwnedRequest<'a, NvmeMq>> {
        // SAFETY: the caller owns `rq` (in `queue_rq`, or completing with its data
        // unmapped), and it is ended right after without being issued.
        if !unsafe { self.pending.steal_from(&rq) } {
            return Err(rq);
        }
        rq.end(BlkStatus::OK);
        self.kick(0);
        Ok(())
    }

    /// Adds the path of controller `core` (PCI function `dev`), whose disk of the namespace is
    /// `target` with the queue `queue`, and whose format gives the head `capacity` sectors
    /// and `limits`; the first path adds the head's disk, under `dev`. Returns the
    /// registration that removes the path when dropped.
    pub(crate) fn add_path(
        self: &Arc<Self>,
        core: Arc<CtrlCore>,
        dev: ARef<device::Device>,
        target: DiskTarget,
        queue: QueueRef<NvmeMq>,
        capacity: u64,
        limits: &Limits,
    ) -> Result<PathReg> {
        let _heads = self.subsys.heads.lock();
        let slot = self
            .paths
            .iter()
            .position(|p| p.load(Ordering::Relaxed).is_null())
            .ok_or(EBUSY)?;
        let path = Arc::new(
            Path {
                core,
                dev,
                target,
                queue,
            },
            GFP_KERNEL,
        )?;
        let parent = path.dev.clone();
        // The path first: adding the head's disk reads its partition table through it.
        self.paths[slot].store(Arc::into_raw(path).cast_mut(), Ordering::Release);
        let mut disk = self.disk.lock();
        if disk.is_none() {
            match BioDisk::new(
                self.clone(),
                format_args!("rnvme{}n{}", self.subsys.instance(), self.nsid),
                capacity,
                &head_limits(limits),
                &parent,
            ) {
                Ok(d) => {
                    self.acct.set(Some(d.target()));
                    *disk = Some(d);
                    self.parent.store(slot, Ordering::Relaxed);
                }
                Err(e) => {
                    drop(disk);
                    let p = self.paths[slot].swap(ptr::null_mut(), Ordering::AcqRel);
                    self.srcu.synchronize();
                    // SAFETY: the slot owned this reference; no reader is left.
                    drop(unsafe { Arc::from_raw(p.cast_const()) });
                    return Err(e);
                }
            }
        }
        self.kick(0);
        Ok(PathReg {
            head: self.clone(),
            slot,
        })
    }

    /// Starts accounting `rq`, a request sent down a path, on the head's disk.
    #[inline]
    pub(crate) fn account_start(&self, rq: &Request<NvmeMq>) -> Option<usize> {
        self.acct.get().map(|t| rq.account_start(t))
    }

    /// Ends what [`NsHead::account_start`] started at `start`.
    #[inline]
    pub(crate) fn account_end(&self, rq: &Request<NvmeMq>, start: usize) {
        if let Some(t) = self.acct.get() {
            rq.account_end(t, start);
        }
    }

    /// Takes the path in `slot` out: once this returns, no bio goes down it. The head's disk
    /// moves to another path's PCI function if it sat under this one's.
    fn remove_path(self: &Arc<Self>, slot: usize) {
        let heads = self.subsys.heads.lock();
        let p = self.paths[slot].swap(ptr::null_mut(), Ordering::AcqRel);
        // No reader sees the path any more once those under way are done.
        self.srcu.synchronize();
        // SAFETY: the slot owned this reference (see `paths`); no reader is left. Dropped
        // once the lock is released: its queue reference may be the last on the namespace,
        // whose link then takes the lock (`PathLink`'s drop).
        let old = (!p.is_null()).then(|| unsafe { Arc::from_raw(p.cast_const()) });
        if let Some(next) =
            (0..MAX_PATHS).find(|&i| !self.paths[i].load(Ordering::Relaxed).is_null())
        {
            // The head's disk leaves the function going away for another path's.
            if self.parent.load(Ordering::Relaxed) == slot {
                if let Some(d) = self.disk.lock().as_ref() {
                    // SAFETY: `next` is a non-null slot, whose reference stays while the
                    // `heads` lock, which we hold, keeps it there.
                    let to = unsafe { &(*self.paths[next].load(Ordering::Relaxed)).dev };
                    if let Err(e) = d.move_to(to) {
                        pr_warn!(
                            "rnvme{}n{}: could not move to another path's device: {:?}\n",
                            self.instance(),
                            self.nsid,
                            e
                        );
                    }
                }
                self.parent.store(next, Ordering::Relaxed);
            }
            // What waited for this path may go down another.
            self.kick(0);
        }
        // The last path: the head goes once the path's disk is drained (`HeadRef`).
        drop(heads);
        drop(old);
    }

    /// The head has no path left (the last one's disk was removed, so no request of it is in
    /// flight): its disk goes, bios that waited fail, and it leaves its subsystem. Nothing
    /// when a path is (still, or again) there.
    fn release_if_pathless(self: &Arc<Self>) {
        let mut heads = self.subsys.heads.lock();
        if self
            .paths
            .iter()
            .any(|p| !p.load(Ordering::Relaxed).is_null())
        {
            return;
        }
        self.gone.store(true, Ordering::Release);
        glue::cancel_arc_delayed_work::<_, 0>(self);
        self.pending.take_each(|bio| bio.end(BlkStatus::IOERR));
        self.acct.set(None);
        let disk = self.disk.lock().take();
        drop(disk);
        heads.retain(|h| !ptr::eq(&**h, &**self));
    }

    /// The number of its subsystem, which names its disk and its paths' disks.
    pub(crate) fn instance(&self) -> u32 {
        self.subsys.instance()
    }

    /// Takes a head that never had a path (its first path's disk could not be added) off its
    /// subsystem.
    fn forget_if_pathless(self: &Arc<Self>) {
        let mut heads = self.subsys.heads.lock();
        let unused = self.disk.lock().is_none()
            && self
                .paths
                .iter()
                .all(|p| p.load(Ordering::Relaxed).is_null());
        if unused {
            heads.retain(|h| !ptr::eq(&**h, &**self));
        }
    }

    /// The namespace's format changed (seen through one of its paths): the head's disk takes
    /// `capacity` and the limits of the path disk's `limits`.
    pub(crate) fn update(&self, capacity: u64, limits: &Limits) -> Result {
        let _heads = self.subsys.heads.lock();
        match self.disk.lock().as_ref() {
            Some(d) => d.update(capacity, &head_limits(limits)),
            None => Ok(()),
        }
    }

    /// A path for a command (passthrough), counted, so that it may be used after the SRCU
    /// read lock is dropped.
    fn path_for_command(&self) -> Option<Arc<Path>> {
        let g = self.srcu.read_lock();
        let p = self.find(&g)?;
        // SAFETY: `p` is in a slot, which owns a reference, and stays there while `g` holds
        // the read lock: a new reference can be taken from it.
        Some(unsafe { ArcBorrow::from_raw(p) }.into())
    }
}

impl Path {
    /// The path's link to its head (its namespace's).
    fn link(&self) -> Option<&PathLink> {
        self.queue.data().mpath.as_ref()
    }
}

/// The operations of head disks.
pub(crate) struct HeadOps;

impl BioOperations for HeadOps {
    type Disk = NsHead;
    type DiskAttrs = HeadAttrs;

    fn submit_bio(head: &NsHead, bio: Bio) {
        head.route(bio);
    }

    /// As C's head disks: the namespace's passthrough ioctls, each on the path the policy
    /// chooses at the time.
    fn ioctl(
        head: &NsHead,
        partition: bool,
        writable: bool,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        if cmd == crate::nvme::uapi::NVME_IOCTL_ID {
            return isize::try_from(head.nsid).map_err(|_| EINVAL);
        }
        let path = head.path_for_command().ok_or(ENODEV)?;
        let ns = path.queue.data();
        let origin = Origin {
            partition,
            open_for_write: writable,
        };
        ns.passthru
            .ioctl(cmd, arg, Some(ns.node(path.queue.disk_queue(), origin)))
    }
}

/// The sysfs attributes of a head disk: the namespace's (as its paths' disks) and the
/// subsystem's I/O policy, which root may change (the C driver has it on the subsystem
/// device).
pub(crate) struct HeadAttrs;

impl Attributes for HeadAttrs {
    type Object = NsHead;
    const NAMES: &'static [&'static CStr] = &[
        c"nsid",
        c"wwid",
        c"eui",
        c"nguid",
        c"uuid",
        c"model",
        c"serial",
        c"firmware_rev",
        c"iopolicy",
    ];
    const WRITABLE: u16 = 1 << 8;

    fn show(head: &NsHead, index: usize, w: &mut SysfsWriter) -> fmt::Result {
        use fmt::Write;
        match index {
            8 => writeln!(w, "{}", head.subsys.policy().name()),
            // The namespace attributes, as `ident::write_ns_attr` numbers them.
            i => {
                ident::write_ns_attr(w, i, head.nsid, &head.ids, &head.info.ident())?;
                w.write_char('\n')
            }
        }
    }

    fn visible(head: &NsHead, index: usize) -> bool {
        match index {
            2 => head.ids.has_eui64(),
            3 => head.ids.has_nguid(),
            4 => head.ids.has_uuid(),
            _ => true,
        }
    }

    fn store(head: &NsHead, index: usize, val: &[u8]) -> Result {
        if index != 8 {
            return Err(EINVAL);
        }
        let p = IoPolicy::parse(val).ok_or(EINVAL)?;
        head.subsys.policy.store(p as u8, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts a request on a controller for the queue-depth policy: true when it was counted
/// (the completion uncounts it).
#[inline]
pub(crate) fn count_active(link: &PathLink, core: &CtrlCore) -> bool {
    if link.head.subsys.policy() != IoPolicy::QueueDepth {
        return false;
    }
    core.nr_active.fetch_add(1, Ordering::Relaxed);
    true
}

/// Path-related statuses (status code type 3: a host or controller path error, ANA states,
/// a command the host aborted for a reset) move I/O to another path.
pub(crate) fn is_path_error(sct: u8) -> bool {
    sct == crate::nvme::status::SCT_PATH
}

pub(crate) use crate::nvme::mpath::is_ana_error;
