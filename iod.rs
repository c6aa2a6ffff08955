// SPDX-License-Identifier: GPL-2.0

//! The per-request data of an NVMe I/O (`nvme_iod` in the C driver) and the completion side
//! that touches it from interrupt and recovery context: [`nvme_handle_cqe`] records a
//! completion and hands the request to blk-mq, [`nvme_cancel_request`] completes one as
//! cancelled by the host. The blk-mq callbacks themselves are in [`crate::io`].
//!
//! The data comes in two parts, as the glue lays them out ([`glue::Request`]): [`Iod`], which
//! the completion and timeout paths share (atomics), and [`IodOwned`], which only the request's
//! owner reaches (`queue_rq` to completion, or the passthrough submitter around its run).

use core::sync::atomic::{
    AtomicBool,
    AtomicU16,
    AtomicU64,
    AtomicU8,
    Ordering, //
};

use crate::{
    glue::{
        self,
        BlkStatus,
        CompBatch,
        PoolBuf,
        Request,
        SgTable,
        SingleMap,
        Tags,
        VecMap, //
    },
    nvme::{
        cmd::{
            self,
            Command,
            Completion, //
        },
        status::{
            path,
            BlkErr,
            Status,
            SCT_PATH, //
        },
    },
    queue::Queue,
};

/// Most PRP list pages (or DSM range pages) one request may hold; the transfer size limit is
/// chosen so that this is never exceeded.
pub(crate) const MAX_LIST_PAGES: usize = 4;

/// Most scatter-gather segments of one request.
pub(crate) const MAX_SEGMENTS: u16 = 256;

/// Scatterlist entries of each request's own table (about 1 KiB, allocated the first time the
/// request maps more than one segment, then kept): enough for 128 KiB in 4 KiB pages;
/// requests with more segments get a table allocated for them.
pub(crate) const INLINE_SEGMENTS: u16 = 32;

/// Scatterlist entries of each request's own table.
pub(crate) const INLINE_SG: usize = INLINE_SEGMENTS as usize;

/// Per-request data that the completion and timeout paths share.
pub(crate) struct Iod {
    /// NVMe status field of the completion (without the phase bit).
    status: AtomicU16,
    /// Completion dwords 0 and 1, for passthrough requests.
    result: AtomicU64,
    /// An Abort was sent for this request after its first timeout.
    aborted: AtomicBool,
    /// Issue counter of the request's tag: the top bits of its command identifier
    /// ([`cmd::io_cid`]); changed only by `queue_rq`, read by the completion path.
    genctr: AtomicU8,
}

impl Iod {
    /// An idle request's data.
    pub(crate) const fn new() -> Self {
        Self {
            status: AtomicU16::new(0),
            result: AtomicU64::new(0),
            aborted: AtomicBool::new(false),
            genctr: AtomicU8::new(0),
        }
    }

    /// The command identifier of the next issue of the request with `tag` (`queue_rq`).
    #[inline]
    pub(crate) fn next_cid(&self, tag: u16) -> u16 {
        // Relaxed: only `queue_rq`, which owns the request, changes the counter; starting the
        // request orders the store before the device can complete the command.
        let gen = cmd::next_gen(self.genctr.load(Ordering::Relaxed));
        self.genctr.store(gen, Ordering::Relaxed);
        cmd::io_cid(tag, gen)
    }

    /// The command identifier of the request's current issue, with `tag`.
    pub(crate) fn cid(&self, tag: u16) -> u16 {
        cmd::io_cid(tag, self.genctr.load(Ordering::Relaxed))
    }

    /// Clears the completion state, for a request about to be issued.
    #[inline]
    pub(crate) fn reset(&self) {
        // Relaxed: the request is not issued; starting it orders these stores before the
        // device can complete it.
        self.status.store(0, Ordering::Relaxed);
        self.aborted.store(false, Ordering::Relaxed);
    }

    /// Clears everything a completion records, for a passthrough request about to run (which
    /// may end before it reaches `queue_rq`).
    pub(crate) fn clear(&self) {
        self.record(0, 0);
        self.aborted.store(false, Ordering::Relaxed);
    }

    /// The status the completion recorded.
    #[inline]
    pub(crate) fn status(&self) -> Status {
        // Relaxed: blk-mq's completion path orders the recording before the reading.
        Status::new(self.status.load(Ordering::Relaxed))
    }

    /// Completion dwords 0 and 1.
    #[inline]
    pub(crate) fn result(&self) -> u64 {
        self.result.load(Ordering::Relaxed)
    }

    /// Records how the command ended.
    #[inline]
    fn record(&self, status: u16, result: u64) {
        self.status.store(status, Ordering::Relaxed);
        self.result.store(result, Ordering::Relaxed);
    }

    /// Marks the request as aborted by its first timeout; false when it already was.
    #[inline]
    pub(crate) fn set_aborted(&self) -> bool {
        !self.aborted.swap(true, Ordering::Relaxed)
    }
}

/// The pool buffers a request holds: PRP list pages or the DSM range list.
pub(crate) struct ListBufs {
    bufs: [Option<PoolBuf>; MAX_LIST_PAGES],
    nr: u8,
}

impl ListBufs {
    /// No buffers.
    const fn new() -> Self {
        Self {
            bufs: [None; MAX_LIST_PAGES],
            nr: 0,
        }
    }

    /// Takes a buffer from `alloc` and keeps it; `None` (and nothing allocated) when the
    /// request holds `MAX_LIST_PAGES` already, or when `alloc` finds none.
    #[inline]
    pub(crate) fn take(&mut self, alloc: impl FnOnce() -> Option<PoolBuf>) -> Option<PoolBuf> {
        let i = usize::from(self.nr);
        if i >= MAX_LIST_PAGES {
            return None;
        }
        let buf = alloc()?;
        self.bufs[i] = Some(buf);
        self.nr += 1;
        Some(buf)
    }

    /// Takes back the buffer taken last.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<PoolBuf> {
        let i = usize::from(self.nr).checked_sub(1)?;
        // CAST: `i` is below `nr`, a `u8`.
        self.nr = i as u8;
        self.bufs[i].take()
    }

    /// The buffers held.
    #[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &PoolBuf> {
        self.bufs.iter().take(usize::from(self.nr)).flatten()
    }

    /// Number of buffers held.
    #[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
    pub(crate) fn len(&self) -> u8 {
        self.nr
    }
}

/// Per-request data only the request's owner reaches: the data's mapping, the list pages
/// describing it, the retry count and a passthrough request's command.
pub(crate) struct IodOwned {
    /// The data is one segment mapped without a scatterlist.
    pub(crate) single: Option<SingleMap>,
    /// The data mapped one bio vector at a time, where the device's mappings are direct.
    pub(crate) vec: VecMap<INLINE_SG>,
    /// The scatterlist and the data mapped through it, otherwise.
    pub(crate) sg: SgTable<INLINE_SG>,
    /// The mapping in `vec` or `sg` must be undone at completion (`dma_need_unmap()` after
    /// mapping).
    pub(crate) unmap_data: bool,
    /// Pool buffers in use.
    pub(crate) bufs: ListBufs,
    /// Times recovery has retried this request.
    pub(crate) retries: u8,
    /// The command of a passthrough request, set by the passthrough paths of [`crate::passthru`].
    pub(crate) pt_cmd: Option<Command>,
    /// The namespace format a passthrough request's buffers were sized for.
    pub(crate) pt_sized: PtSized,
    /// The metadata buffer (integrity payload), mapped as one segment.
    pub(crate) meta: SgTable<1>,
    /// A zone append in flight on a namespace of `1 << shift`-byte blocks: its completion
    /// gives the LBA written, which becomes the request's sector.
    pub(crate) append_shift: Option<u8>,
    /// Counted in the controller's `nr_active` (multipath queue-depth policy) until it ends.
    pub(crate) counted: bool,
    /// Accounted on its multipath head's disk since this time (jiffies) until it ends.
    pub(crate) head_acct: Option<usize>,
}

impl IodOwned {
    /// An idle request's owned data: nothing mapped or held.
    pub(crate) fn new() -> Self {
        Self {
            single: None,
            vec: VecMap::new(),
            sg: SgTable::new(),
            unmap_data: false,
            bufs: ListBufs::new(),
            retries: 0,
            pt_cmd: None,
            pt_sized: PtSized::default(),
            meta: SgTable::new(),
            append_shift: None,
            counted: false,
            head_acct: None,
        }
    }
}

/// The namespace format a passthrough I/O command's buffers were sized for: `queue_rq`
/// refuses it if the namespace was reformatted since (the controller would move more than the
/// buffers hold).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PtSized {
    /// log2 of the logical block size.
    pub(crate) lba_shift: u32,
    /// The metadata format ([`crate::nvme::meta::MetaFormat::to_bits`]).
    pub(crate) meta: u64,
    /// Bytes of the separate metadata buffer (0: none).
    pub(crate) meta_len: u32,
}

/// Status given to requests that recovery cancels: "Command Aborted By Host".
pub(crate) const HOST_ABORTED: Status = Status::from_parts(SCT_PATH, path::HOST_ABORTED_CMD, false);

/// The blk-mq side of the driver: the tag set's callbacks are implemented in [`crate::io`];
/// its per-request data are [`Iod`] and [`IodOwned`].
pub(crate) struct NvmeMq;

/// Maps an NVMe completion status to the block layer's.
pub(crate) fn blk_status(status: Status) -> BlkStatus {
    match status.blk_err() {
        BlkErr::Ok => BlkStatus::OK,
        BlkErr::NotSupported => BlkStatus::NOTSUPP,
        BlkErr::Medium => BlkStatus::MEDIUM,
        BlkErr::Protection => BlkStatus::PROTECTION,
        BlkErr::Target => BlkStatus::TARGET,
        BlkErr::NoSpace => BlkStatus::NOSPC,
        BlkErr::ResvConflict => BlkStatus::RESV_CONFLICT,
        BlkErr::Transport => BlkStatus::TRANSPORT,
        BlkErr::IoErr => BlkStatus::IOERR,
    }
}

/// What became of a completion queue entry: ended its request, or was dropped as bogus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CqeFate {
    /// It ended the current issue of its request.
    Completed,
    /// No request of the queue was ever started with its tag (out of range, or never used).
    NoRequest,
    /// The tag's request is on another issue: a late or made-up completion of an earlier one.
    Stale,
    /// Its issue had ended already: a second completion of the same command, or one the
    /// controller sent after recovery cancelled the request.
    Duplicate,
}

impl CqeFate {
    /// Why an entry was dropped, for the log.
    pub(crate) const fn why(self) -> &'static str {
        match self {
            Self::Completed => "it completed its request",
            Self::NoRequest => "no request has its tag",
            Self::Stale => "its request is on another issue",
            Self::Duplicate => "its command had completed already",
        }
    }
}

/// Ends the request `cqe` names in `tags` (a hardware context of a tag set of `T`): records the
/// completion's status and hands the request to blk-mq, which calls
/// [`glue::Operations::complete`] on the submitting CPU. A successful completion goes into
/// `batch` when there is one, to be ended with the rest of the batch.
///
/// Only the first completion of the current issue of a started request gets through; any other
/// entry leaves every request alone and says why (C's `nvme_find_rq()` checks the tag and the
/// generation; the second completion of one issue it lets through).
///
/// # Safety
///
/// `tags` is the tag array of a hardware context of a live tag set of `T`, without an I/O
/// scheduler switch under way (as in the C driver, the requests a tag points to are those of the
/// tag set, or of the scheduler while it lives).
#[inline(always)]
pub(crate) unsafe fn end_cqe<T: glue::Operations<RequestData = Iod>>(
    tags: Tags,
    cqe: &Completion,
    batch: Option<&mut CompBatch>,
) -> CqeFate {
    let cid = cqe.command_id();
    // SAFETY: per the function's requirements; the request a started tag points to stays
    // allocated with the tag set, and is only read here unless it is the one in flight.
    let Some(rq) = (unsafe { tags.request::<T>(cmd::cid_tag(cid)) }) else {
        return CqeFate::NoRequest;
    };
    if rq.data().cid(rq.tag()) != cid {
        return CqeFate::Stale;
    }
    let status = cqe.status_field();
    let result = u64::from(cqe.result_dw0()) | (u64::from(cqe.result_dw1()) << 32);
    let first = glue::complete_request(rq, batch, |iod: &Iod| {
        iod.record(status, result);
        Status::new(status).is_success()
    });
    if first {
        CqeFate::Completed
    } else {
        CqeFate::Duplicate
    }
}

/// Handles one I/O completion of queue `q` ([`end_cqe`]); an entry that names no request in
/// flight is dropped with a warning (the first few of each queue).
pub(crate) fn nvme_handle_cqe(q: &Queue, cqe: &Completion, batch: Option<&mut CompBatch>) {
    // SAFETY: the queue's tags are those of the controller's tag set, created for `NvmeMq`,
    // which outlives the queue's interrupt handler and polling.
    let fate = unsafe { end_cqe::<NvmeMq>(q.tags(), cqe, batch) };
    if fate != CqeFate::Completed {
        q.note_bogus(cqe.command_id(), fate.why());
    }
}

/// Completes an in-flight request as cancelled by the host (recovery); it is retried or failed
/// in [`glue::Operations::complete`].
pub(crate) fn nvme_cancel_request<T: glue::Operations<RequestData = Iod>>(rq: &Request<T>) {
    if rq.is_completed() {
        return;
    }
    // The controller is disabled: no completion for it arrives any more, and one that arrived
    // first wins.
    rq.complete(|iod| iod.record(HOST_ABORTED.0, 0));
}

#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
use kernel::prelude::kunit_tests;

/// KUnit tests of the completion side on real blk-mq requests: a loopback "controller" starts
/// each request in `queue_rq` as the driver does, then feeds [`end_cqe`] the entries a confused
/// or malicious device could post (tags out of range or never used, identifiers of earlier
/// issues, second completions, completions after recovery cancelled the request) before and
/// after the right one, and records what became of each. Built with `--cfg rnvme_kunit`.
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
#[kunit_tests(rust_nvme_completion)]
mod kunit_tests {
    use super::*;
    use crate::glue::{
        testing::BareQueue,
        Limits,
        MapKind,
        OwnedRequest,
        QueueMaps,
        TagSet,
        TagsCell,
        TimeoutAction, //
    };
    use core::sync::atomic::AtomicUsize;
    use kernel::{
        prelude::*,
        sync::Arc, //
    };

    /// Requests of the tag set.
    const DEPTH: u16 = 4;

    /// Completion dword 0 of the right entry, to see it arrive.
    const RESULT: u32 = 0x5a5a_0001;

    /// Entries [`Loopback::queue_rq`] feeds at most.
    const MAX_FED: usize = 16;

    /// What the loopback controller does with the request it is given.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Script {
        /// Bogus entries, the right one, then the right one again.
        Bogus,
        /// Cancel the request as recovery does, then post its completion late.
        CancelThenLate,
    }

    /// The loopback controller: one hardware queue, and what happened to each entry fed.
    struct Loopback {
        tags: TagsCell,
        script: Script,
        fates: [AtomicU8; MAX_FED],
        fed: AtomicUsize,
        /// `(tag, command identifier)` of the last issue.
        issued: AtomicU64,
    }

    impl Loopback {
        fn new(script: Script) -> Self {
            Self {
                tags: TagsCell::new(),
                script,
                fates: [const { AtomicU8::new(u8::MAX) }; MAX_FED],
                fed: AtomicUsize::new(0),
                issued: AtomicU64::new(0),
            }
        }

        /// Feeds one successful entry for command identifier `cid`.
        fn feed(&self, cid: u16) {
            let cqe = Completion::from_dwords([RESULT, 0, 0, u32::from(cid)]);
            // SAFETY: the tag array of the loopback tag set's one hardware context, which
            // outlives the test's requests; the queue has no I/O scheduler.
            let fate = unsafe { end_cqe::<Loopback>(self.tags.get(), &cqe, None) };
            let i = self.fed.fetch_add(1, Ordering::Relaxed);
            if i < MAX_FED {
                // CAST: a fieldless enum's discriminant.
                self.fates[i].store(fate as u8, Ordering::Relaxed);
            }
        }

        /// The fates recorded, in order.
        fn fates(&self) -> Result<KVec<u8>> {
            let n = self.fed.load(Ordering::Relaxed).min(MAX_FED);
            let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
            for f in &self.fates[..n] {
                v.push(f.load(Ordering::Relaxed), GFP_KERNEL)?;
            }
            Ok(v)
        }
    }

    impl glue::Operations for Loopback {
        type SetData = Loopback;
        type HwQueue = Loopback;
        type Disk = ();
        type DiskAttrs = crate::glue::NoAttrs<()>;
        type RequestData = Iod;
        type RequestOwned = IodOwned;

        fn hw_queue(set: &Loopback, _index: u32) -> Option<&Loopback> {
            Some(set)
        }
        fn set_tags(hwq: &Loopback, tags: Tags) {
            hwq.tags.set(tags);
        }
        fn init_request(_set: &Loopback) -> impl PinInit<Iod> {
            Iod::new()
        }
        fn init_request_owned(_set: &Loopback) -> impl PinInit<IodOwned> {
            IodOwned::new()
        }
        fn queue_rq(
            set: &Loopback,
            _hwq: &Loopback,
            _d: &(),
            mut rq: OwnedRequest<'_, Self>,
            _l: bool,
        ) -> BlkStatus {
            // Issued as the driver's `queue_rq` issues: a new identifier, then started.
            let (r, _) = rq.parts();
            let tag = r.tag();
            let cid = r.data().next_cid(tag);
            set.issued
                .store(u64::from(tag) << 16 | u64::from(cid), Ordering::Relaxed);
            rq.start();
            let gen = cmd::cid_gen(cid);
            match set.script {
                Script::Bogus => {
                    // Tags out of range: one past the end, and the largest a CID can name.
                    set.feed(cmd::io_cid(DEPTH, gen));
                    set.feed(cmd::io_cid(u16::MAX, gen));
                    // A tag never started.
                    set.feed(cmd::io_cid((tag + 1) % DEPTH, gen));
                    // This tag's earlier and later issues.
                    set.feed(cmd::io_cid(tag, cmd::next_gen(gen)));
                    set.feed(cmd::io_cid(tag, gen.wrapping_sub(1) & 0xf));
                    // Still in flight after all that: the right entry ends it, once.
                    set.feed(cid);
                    set.feed(cid);
                }
                Script::CancelThenLate => {
                    nvme_cancel_request(r);
                    // The controller's completion, late: the cancel's status stands.
                    set.feed(cid);
                }
            }
            BlkStatus::OK
        }
        fn commit_rqs(_hwq: &Loopback) {}
        fn complete(_set: &Loopback, rq: OwnedRequest<'_, Self>) {
            let st = if rq.data().status().is_success() {
                BlkStatus::OK
            } else {
                BlkStatus::IOERR
            };
            rq.end(st);
        }
        fn complete_batched(_set: &Loopback, _rq: &mut OwnedRequest<'_, Self>) {}
        fn map_queues(_set: &Loopback, maps: &mut QueueMaps<'_>) {
            let mut map = maps.map(MapKind::Default);
            map.set_range(1, 0);
            map.map_evenly();
        }
        fn poll(_set: &Loopback, _hwq: &Loopback, _b: Option<&mut CompBatch>) -> i32 {
            0
        }
        fn timeout(_set: &Loopback, _hwq: &Loopback, _rq: &Request<Self>) -> TimeoutAction {
            TimeoutAction::ResetTimer
        }
    }

    /// A loopback tag set running `script`, and a queue on it.
    fn fixture(script: Script) -> Result<(Arc<Loopback>, BareQueue<Loopback>)> {
        let data = Arc::new(Loopback::new(script), GFP_KERNEL)?;
        let set = Arc::new(
            KBox::pin_init(
                TagSet::<Loopback>::new(data.clone(), 1, 1, DEPTH.into(), 30_000),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        let limits = Limits {
            logical_block_size: 512,
            physical_block_size: 512,
            max_hw_sectors: 8,
            max_segments: 1,
            dma_alignment: 3,
            max_discard_segments: 1,
            ..Limits::default()
        };
        let queue = BareQueue::new(&set, Arc::new((), GFP_KERNEL)?, &limits)?;
        Ok((data, queue))
    }

    /// Runs one request through the loopback controller; its status and its data after.
    fn run(queue: &BareQueue<Loopback>) -> Result<(BlkStatus, Status, u64)> {
        let mut rq = queue.queue().alloc_passthru(false)?;
        rq.parts().0.data().clear();
        let st = rq.execute();
        let (r, _) = rq.parts();
        Ok((st, r.data().status(), r.data().result()))
    }

    #[test]
    fn bogus_completions_are_dropped() -> Result {
        let (lb, queue) = fixture(Script::Bogus)?;
        for round in 0..3 {
            lb.fed.store(0, Ordering::Relaxed);
            let (st, status, result) = run(&queue)?;
            assert!(st.is_ok());
            assert!(status.is_success());
            assert_eq!(result, u64::from(RESULT));
            // CAST: fieldless enum discriminants.
            let want = [
                CqeFate::NoRequest as u8,
                CqeFate::NoRequest as u8,
                // In later rounds the neighbour tag may have run already: its request is
                // idle on an issue of its own, which is no better.
                if round == 0 {
                    CqeFate::NoRequest as u8
                } else {
                    u8::MAX
                },
                CqeFate::Stale as u8,
                CqeFate::Stale as u8,
                CqeFate::Completed as u8,
                CqeFate::Duplicate as u8,
            ];
            let got = lb.fates()?;
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want.iter()) {
                if *w == u8::MAX {
                    // CAST: as above.
                    assert!(
                        *g == CqeFate::NoRequest as u8
                            || *g == CqeFate::Stale as u8
                            || *g == CqeFate::Duplicate as u8
                    );
                } else {
                    assert_eq!(*g, *w);
                }
            }
        }
        Ok(())
    }

    #[test]
    fn completion_after_cancel_is_dropped() -> Result {
        let (lb, queue) = fixture(Script::CancelThenLate)?;
        let (st, status, result) = run(&queue)?;
        assert!(!st.is_ok());
        assert_eq!(status, HOST_ABORTED);
        assert_eq!(result, 0);
        let got = lb.fates()?;
        // CAST: a fieldless enum's discriminant.
        assert!(got[..] == [CqeFate::Duplicate as u8]);
        Ok(())
    }
}
