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
        SingleMap, //
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

/// Scatterlist entries kept in each request's own data (about 1 KiB): enough for 128 KiB
/// in 4 KiB pages; requests with more segments get a table allocated for them.
pub(crate) const INLINE_SEGMENTS: u16 = 32;

/// Scatterlist entries in each request's own data.
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
    /// The scatterlist and the data mapped through it.
    pub(crate) sg: SgTable<INLINE_SG>,
    /// The scatterlist mapping must be undone at completion (`dma_need_unmap()` when mapped).
    pub(crate) sg_unmap: bool,
    /// Pool buffers in use.
    pub(crate) bufs: ListBufs,
    /// Times recovery has retried this request.
    pub(crate) retries: u8,
    /// The command of a passthrough request, set by [`crate::passthru::execute_passthru`].
    pub(crate) pt_cmd: Option<Command>,
}

impl IodOwned {
    /// An idle request's owned data: nothing mapped or held.
    pub(crate) fn new() -> Self {
        Self {
            single: None,
            sg: SgTable::new(),
            sg_unmap: false,
            bufs: ListBufs::new(),
            retries: 0,
            pt_cmd: None,
        }
    }
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

/// Handles one I/O completion: records its status and hands the request to blk-mq, which calls
/// [`glue::Operations::complete`] on the submitting CPU.
///
/// A successful completion goes into `batch` when there is one, to be ended with the rest of
/// the batch; anything else completes on its own.
pub(crate) fn nvme_handle_cqe(q: &Queue, cqe: &Completion, batch: Option<&mut CompBatch>) {
    let cid = cqe.command_id();
    // SAFETY: the queue's tags are those of the controller's tag set, created for `NvmeMq`; a
    // completion for this command identifier means the request is in flight on this queue, and
    // the tag set outlives the queue's interrupt handler.
    let Some(rq) = (unsafe { q.tags().request::<NvmeMq>(cmd::cid_tag(cid)) }) else {
        // A completion for a tag we never issued: the controller is confused. Ignore it; the
        // block layer's timeout catches anything lost.
        return;
    };
    // A completion of an earlier issue of this tag (late, or repeated) is not the request's.
    if rq.data().cid(rq.tag()) != cid {
        return;
    }
    let status = cqe.status_field();
    let result = u64::from(cqe.result_dw0()) | (u64::from(cqe.result_dw1()) << 32);
    // A second completion for the same issue (a duplicated entry) is not let through.
    glue::complete_request(rq, batch, |iod: &Iod| {
        iod.record(status, result);
        Status::new(status).is_success()
    });
}

/// Completes an in-flight request as cancelled by the host (recovery); it is retried or failed
/// in [`glue::Operations::complete`].
pub(crate) fn nvme_cancel_request(rq: &Request<NvmeMq>) {
    if rq.is_completed() {
        return;
    }
    // The controller is disabled: no completion for it arrives any more, and one that arrived
    // first wins.
    rq.complete(|iod| iod.record(HOST_ABORTED.0, 0));
}
