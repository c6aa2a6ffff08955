// SPDX-License-Identifier: GPL-2.0

//! The driver side of a blk-mq tag set: the callbacks blk-mq makes, as a trait the
//! driver implements. Upstream's `mq::Operations` has no `commit_rqs`, `map_queues`, `poll`,
//! `timeout`, hardware-context data or disk ioctls.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::block::{
    mq::{
        comp_batch::CompBatch,
        passthru::DiskQueue,
        request::Request,
        tag_set::{
            QueueMaps,
            Tags, //
        },
    },
    status::BlkStatus, //
};
use crate::glue::sysfs::Attributes;
use kernel::prelude::*;

// blk-mq tag set.

/// What [`Operations::timeout`] tells blk-mq.
pub(crate) enum TimeoutAction {
    /// The driver has completed (or will complete) the request.
    Done,
    /// Restart the request's timer.
    ResetTimer,
}

/// The driver side of a blk-mq tag set: the callbacks blk-mq makes.
pub(crate) trait Operations: Sized + 'static {
    /// Shared data of the tag set (`set->driver_data`), e.g. the I/O queues.
    type SetData: Sync + Send;
    /// Per hardware queue data (`hctx->driver_data`).
    type HwQueue: Sync + Send;
    /// Per disk data (`queue->queuedata`).
    type Disk: Sync + Send;
    /// The read-only sysfs attributes of each disk ([`NoAttrs`] for none).
    type DiskAttrs: Attributes<Object = Self::Disk>;

    /// Returns the hardware queue for hardware context `index`; must stay valid until the tag
    /// set is freed (it is borrowed from `set`).
    fn hw_queue(set: &Self::SetData, index: u32) -> Option<&Self::HwQueue>;

    /// Tells the hardware queue the tag array of its hardware context.
    fn set_tags(hwq: &Self::HwQueue, tags: Tags);

    /// Prepares a newly allocated request's per-request data (`init_request`).
    fn init_request(set: &Self::SetData, rq: &Request);

    /// Issues a request. `last` is false when more requests follow in this batch.
    fn queue_rq(
        set: &Self::SetData,
        hwq: &Self::HwQueue,
        disk: &Self::Disk,
        rq: &Request,
        last: bool,
    ) -> BlkStatus;

    /// Ends a batch that stopped before a request with `last` set (`commit_rqs`).
    fn commit_rqs(hwq: &Self::HwQueue);

    /// Finishes a request that [`Request::complete`] handed to blk-mq (`complete`).
    fn complete(set: &Self::SetData, rq: &Request);

    /// Releases what a successfully completed request holds, before its [`CompBatch`] ends it
    /// with the rest of the batch; must not end or requeue it.
    fn complete_batched(set: &Self::SetData, rq: &Request);

    /// Builds the CPU to hardware queue maps (`map_queues`).
    fn map_queues(set: &Self::SetData, maps: &mut QueueMaps<'_>);

    /// Reaps completions of a polled hardware queue, adding successful ones to `batch` when
    /// blk-mq gave one; returns how many (`poll`).
    fn poll(set: &Self::SetData, hwq: &Self::HwQueue, batch: Option<&mut CompBatch>) -> i32;

    /// A request ran past its deadline (`timeout`); runs in process context.
    fn timeout(set: &Self::SetData, hwq: &Self::HwQueue, rq: &Request) -> TimeoutAction;

    /// An ioctl the block layer does not handle itself, on the disk or one of its partitions
    /// (`ioctl` of `block_device_operations`). The disk may have been removed already (a
    /// descriptor outlives it): `disk` stays valid, but its queue fails new requests.
    fn disk_ioctl(_disk: &Self::Disk, _node: IoctlNode, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }
}

/// The block device node an ioctl came in on.
#[derive(Clone, Copy)]
pub(crate) struct IoctlNode {
    /// The disk's request queue, for passthrough requests.
    pub(crate) queue: DiskQueue,
    /// The node is a partition, not the whole disk.
    pub(crate) partition: bool,
    /// The descriptor was opened for writing (`BLK_OPEN_WRITE`).
    pub(crate) writable: bool,
}
