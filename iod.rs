// SPDX-License-Identifier: GPL-2.0

//! The per-request data of an NVMe I/O (`nvme_iod` in the C driver) and the completion side
//! that touches it from interrupt and recovery context: [`nvme_handle_cqe`] records a
//! completion and hands the request to blk-mq, [`nvme_cancel_request`] completes one as
//! cancelled by the host. The blk-mq callbacks themselves are in [`crate::io`].

use core::{
    mem::size_of,
    ptr::{
        self,
        NonNull, //
    },
};

use crate::{
    glue::{
        self,
        BlkStatus,
        CompBatch,
        PoolBuf,
        Request,
        SgHeap,
        SgMap, //
    },
    nvme::{
        cmd::{
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

/// Per-request driver data, followed in memory by the request's scatterlist table.
#[repr(C)]
pub(crate) struct Iod {
    /// NVMe status field of the completion (without the phase bit).
    pub(crate) status: u16,
    /// The data is DMA-mapped through the scatterlist and must be unmapped at completion
    /// (`nents`, `mapped`, `write` are valid).
    pub(crate) mapped: bool,
    /// Direction of the mapping.
    pub(crate) write: bool,
    /// Entries in the scatterlist table.
    pub(crate) nents: i32,
    /// Entries `dma_map_sg` produced.
    pub(crate) nr_mapped: u32,
    /// The table of a request with more than `INLINE_SEGMENTS` segments.
    pub(crate) sg_heap: Option<SgHeap>,
    /// The data is one segment mapped without a scatterlist: bus address and length.
    pub(crate) single: Option<(u64, u32)>,
    /// Pool buffers in use: PRP list pages or the DSM range list.
    pub(crate) nr_bufs: u8,
    /// Times recovery has retried this request.
    pub(crate) retries: u8,
    /// An Abort was sent for this request after its first timeout.
    pub(crate) aborted: bool,
    pub(crate) bufs: [Option<PoolBuf>; MAX_LIST_PAGES],
    /// The command of a passthrough request, set by [`execute_passthru`] while it waits for
    /// the request (so the command outlives its use in `queue_rq`).
    pub(crate) pt_cmd: Option<NonNull<Command>>,
    /// Completion dwords 0 and 1, for passthrough requests.
    pub(crate) result: u64,
}

/// Bytes of per-request data: the `Iod` and the inline scatterlist table.
pub(crate) fn pdu_size() -> u32 {
    let bytes = sg_offset() + usize::from(INLINE_SEGMENTS) * glue::SG_ENTRY_SIZE;
    // CAST: at most a few KiB.
    bytes as u32
}

/// Offset of the scatterlist table from the start of the PDU.
pub(crate) const fn sg_offset() -> usize {
    size_of::<Iod>().next_multiple_of(8)
}

/// Status given to requests that recovery cancels: "Command Aborted By Host".
pub(crate) const HOST_ABORTED: Status = Status::from_parts(SCT_PATH, path::HOST_ABORTED_CMD, false);

/// Pointer to the inline scatterlist table of `rq`.
pub(crate) fn inline_sgl(rq: &Request) -> *mut u8 {
    // SAFETY: the PDU is `pdu_size()` bytes, with the inline table at `sg_offset()`.
    unsafe { rq.pdu::<u8>().as_ptr().add(sg_offset()) }
}

/// Prepares a newly allocated request's PDU: an idle `Iod` and the inline scatterlist table.
pub(crate) fn init_pdu(rq: &Request) {
    let pdu = rq.pdu::<Iod>();
    // SAFETY: the PDU is ours and not yet in use; it is sized for `Iod` plus the table.
    unsafe {
        pdu.as_ptr().write(Iod {
            status: 0,
            mapped: false,
            write: false,
            nents: 0,
            nr_mapped: 0,
            sg_heap: None,
            single: None,
            nr_bufs: 0,
            retries: 0,
            aborted: false,
            bufs: [None; MAX_LIST_PAGES],
            pt_cmd: None,
            result: 0,
        });
        SgMap::init_table(inline_sgl(rq), u32::from(INLINE_SEGMENTS));
    }
}

/// The blk-mq callbacks of the NVMe I/O queues.
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
    // SAFETY: a completion for this command identifier means the request is in flight on this
    // queue, and the tag set outlives the queue's interrupt handler.
    let Some(rq) = (unsafe { q.tags().request(cqe.command_id()) }) else {
        // A completion for a tag we never issued: the controller is confused. Ignore it; the
        // block layer's timeout catches anything lost.
        return;
    };
    let pdu: NonNull<Iod> = rq.pdu();
    let status = cqe.status_field();
    // SAFETY: the request is in flight on this queue; only this handler writes its status and
    // result now.
    unsafe {
        ptr::addr_of_mut!((*pdu.as_ptr()).status).write(status);
        ptr::addr_of_mut!((*pdu.as_ptr()).result)
            .write(u64::from(cqe.result_dw0()) | (u64::from(cqe.result_dw1()) << 32));
    }
    glue::complete_request::<NvmeMq>(rq, Status::new(status).is_success(), batch);
}

/// Completes an in-flight request as cancelled by the host (recovery); it is retried or failed
/// in [`glue::Operations::complete`].
pub(crate) fn nvme_cancel_request(rq: &Request) {
    if rq.is_completed() {
        return;
    }
    let pdu: NonNull<Iod> = rq.pdu();
    // SAFETY: the request is started and the controller is disabled, so no completion for it
    // can arrive and nothing else writes its status.
    unsafe { ptr::addr_of_mut!((*pdu.as_ptr()).status).write(HOST_ABORTED.0) };
    rq.complete();
}
