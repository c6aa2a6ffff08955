// SPDX-License-Identifier: GPL-2.0

//! The driver side of a blk-mq tag set: the callbacks blk-mq makes, as a trait the
//! driver implements. Upstream's `mq::Operations` has no `commit_rqs`, `map_queues`, `poll`,
//! `timeout`, hardware-context data, per-request data of the driver's own or disk ioctls.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::block::{
    mq::{
        comp_batch::CompBatch,
        passthru::DiskQueue,
        request::{
            OwnedRequest,
            Request, //
        },
        tag_set::{
            QueueMaps,
            Tags, //
        },
    },
    status::BlkStatus,
    zoned::ZoneReport, //
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
    /// Per-request data any callback reads ([`Request::data`]); what the completion and
    /// timeout paths both change must be atomic.
    type RequestData: Send + Sync;
    /// Per-request data only the request's owner reaches ([`OwnedRequest::parts`]).
    type RequestOwned: Send;

    /// Returns the hardware queue for hardware context `index`; must stay valid until the tag
    /// set is freed (it is borrowed from `set`).
    fn hw_queue(set: &Self::SetData, index: u32) -> Option<&Self::HwQueue>;

    /// Tells the hardware queue the tag array of its hardware context.
    fn set_tags(hwq: &Self::HwQueue, tags: Tags);

    /// Initialises a newly allocated request's shared data (`init_request`).
    fn init_request(set: &Self::SetData) -> impl PinInit<Self::RequestData>;

    /// Initialises a newly allocated request's owned data (`init_request`).
    fn init_request_owned(set: &Self::SetData) -> impl PinInit<Self::RequestOwned>;

    /// Issues a request: [`OwnedRequest::start`] once the command is built, before the device
    /// can see it. `last` is false when more requests follow in this batch. A request not
    /// started is not issued, whatever the status says.
    fn queue_rq(
        set: &Self::SetData,
        hwq: &Self::HwQueue,
        disk: &Self::Disk,
        rq: OwnedRequest<'_, Self>,
        last: bool,
    ) -> BlkStatus;

    /// Ends a batch that stopped before a request with `last` set (`commit_rqs`).
    fn commit_rqs(hwq: &Self::HwQueue);

    /// Finishes a request that [`Request::complete`] handed to blk-mq (`complete`): ends or
    /// requeues it.
    fn complete(set: &Self::SetData, rq: OwnedRequest<'_, Self>);

    /// Releases what a successfully completed request holds, before its [`CompBatch`] ends it
    /// with the rest of the batch.
    fn complete_batched(set: &Self::SetData, rq: &mut OwnedRequest<'_, Self>);

    /// Builds the CPU to hardware queue maps (`map_queues`).
    fn map_queues(set: &Self::SetData, maps: &mut QueueMaps<'_>);

    /// Reaps completions of a polled hardware queue, adding successful ones to `batch` when
    /// blk-mq gave one; returns how many (`poll`).
    fn poll(set: &Self::SetData, hwq: &Self::HwQueue, batch: Option<&mut CompBatch>) -> i32;

    /// A request ran past its deadline (`timeout`); runs in process context.
    fn timeout(set: &Self::SetData, hwq: &Self::HwQueue, rq: &Request<Self>) -> TimeoutAction;

    /// Reports the zones of a zoned disk from the one holding `sector` on, at most `nr_zones`
    /// of them, each through `report` (`report_zones`); returns how many it reported. Runs
    /// in process context, and may issue commands on the disk's `queue`.
    fn report_zones(
        _disk: &Self::Disk,
        _queue: DiskQueue<Self>,
        _sector: u64,
        _nr_zones: u32,
        _report: &mut ZoneReport,
    ) -> Result<u32> {
        Err(EINVAL)
    }

    /// An ioctl the block layer does not handle itself, on the disk or one of its partitions
    /// (`ioctl` of `block_device_operations`). The disk may have been removed already (a
    /// descriptor outlives it): `disk` stays valid, but its queue fails new requests.
    fn disk_ioctl(
        _disk: &Self::Disk,
        _node: IoctlNode<Self>,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        Err(ENOTTY)
    }
}

/// The block device node an ioctl came in on.
pub(crate) struct IoctlNode<T: Operations> {
    /// The disk's request queue, for passthrough requests.
    pub(crate) queue: DiskQueue<T>,
    /// The node is a partition, not the whole disk.
    pub(crate) partition: bool,
    /// The descriptor was opened for writing (`BLK_OPEN_WRITE`).
    pub(crate) writable: bool,
}
