// SPDX-License-Identifier: GPL-2.0

//! The blk-mq side: the callbacks of the tag set shared by a controller's namespaces,
//! `queue_rq` building NVMe commands in place and ringing the doorbell, `complete` retrying or
//! ending them, `timeout` recovering, and the queue maps and polling. In the order of pci.c.

use core::sync::atomic::{
    AtomicBool,
    AtomicU32,
    Ordering, //
};
use kernel::{
    prelude::*,
    sync::Arc, //
};

use crate::{
    ctrl::{
        CtrlCore,
        State,
        MAX_RETRIES, //
    },
    glue::{
        self,
        BlkStatus,
        CompBatch,
        DiskQueue,
        IoctlNode,
        MapKind,
        OwnedRequest,
        QueueMaps,
        ReqOp,
        Request,
        Tags,
        TimeoutAction,
        ZoneReport, //
    },
    iod::{
        blk_status,
        nvme_handle_cqe,
        Iod,
        IodOwned,
        NvmeMq, //
    },
    map::DataPath,
    mpath,
    ns::{
        Namespace,
        NsAttrs, //
    },
    nvme::{
        cmd::{
            self,
            Command,
            DsmRange, //
        },
        meta::{
            self,
            MetaFormat,
            PiCheck, //
        },
        regs::CTRL_PAGE_SHIFT,
        uapi::Origin,
        zns::{
            self,
            ZoneAction, //
        },
    },
    queue::Queue,
    zoned,
};

/// State shared by all hardware queues and disks of one controller.
pub(crate) struct IoSet {
    /// The I/O queues; hardware context `i` uses `queues[i]`.
    pub(crate) queues: KVec<Arc<Queue>>,
    /// How request data is mapped and described to the controller.
    pub(crate) data: DataPath,
    /// Interrupt vectors spread over the CPUs (queue `i` on vector `i + 1`).
    pub(crate) irq_affinity: bool,
    /// The first `nr_default` queues are interrupt driven; the rest are polled.
    pub(crate) nr_default: u32,
    /// The controller core, for recovery.
    pub(crate) core: Arc<CtrlCore>,
    /// Each CPU's interrupt-driven queue by the vectors' affinity, read once, when the tag
    /// set is allocated (`irq_map_ready` then set): resizing the tag set maps its queues with
    /// the queues frozen, where asking the vectors' affinity again (`pci_irq_get_affinity()`
    /// takes the MSI domain's mutex, under which memory is allocated) would make reclaim wait
    /// for the frozen queues (a lockdep report on the debug kernel).
    pub(crate) irq_map: KVec<AtomicU32>,
    pub(crate) irq_map_ready: AtomicBool,
}

impl IoSet {
    /// Completes in `c`, a copy of the command the passthrough paths of [`crate::passthru`]
    /// left in the request's data, the command of passthrough request `rq`: its data mapped.
    ///
    /// Out of line, so that `c` stays in memory: copied from the request's data and into the
    /// ring by [`Queue::submit`] as a whole. Inlined, the compiler took it apart into its
    /// fields, held them in registers and on the stack across the mapping, the request's start
    /// and the ring's lock, and wrote them out one by one: about 50 instructions more per
    /// command.
    #[inline(never)]
    fn setup_passthru(
        &self,
        ns: &Namespace,
        rq: &Request<NvmeMq>,
        iod: &mut IodOwned,
        c: &mut Command,
    ) -> BlkStatus {
        let sized = iod.pt_sized;
        if sized.lba_shift != ns.lba_shift() || sized.meta != ns.meta_bits() {
            return BlkStatus::IOERR;
        }
        if rq.nr_phys_segments() > 0 {
            let st = self.data.map_data(rq, iod, c, true);
            if !st.is_ok() {
                self.data.release(iod);
                return st;
            }
        }
        if sized.meta_len != 0 {
            let st = self.data.map_meta(rq, iod, c, sized.meta_len);
            if !st.is_ok() {
                self.data.release(iod);
                return st;
            }
        }
        BlkStatus::OK
    }

    /// Issues `c`, the command of `rq` on `ns`, on `hwq`: gives it the request's command
    /// identifier, counts it for the multipath head it came through, starts the request and
    /// copies the command into the ring (ringing the doorbell when `last`).
    #[inline(always)]
    fn issue(
        &self,
        hwq: &Queue,
        ns: &Namespace,
        mut rq: OwnedRequest<'_, NvmeMq>,
        c: &mut Command,
        last: bool,
    ) {
        let (r, iod) = rq.parts();
        c.set_cid(r.data().next_cid(r.tag()));
        hwq.note_sgl(c);
        if let (Some(link), true) = (ns.mpath.as_ref(), r.is_stacked()) {
            iod.counted = mpath::count_active(link, &self.core);
            iod.head_acct = link.head.account_start(r);
        }
        rq.start();
        hwq.submit(c, last);
    }

    /// Maps the data of a read, write or zone append `r` of `nlb` blocks at `slba` on `ns`
    /// into `c`, and its metadata where the namespace has some; on failure releases what was
    /// mapped and returns the status to end the request with.
    #[inline(always)]
    fn map_blocks(
        &self,
        ns: &Namespace,
        r: &Request<NvmeMq>,
        iod: &mut IodOwned,
        c: &mut Command,
        slba: u64,
        nlb: u32,
    ) -> BlkStatus {
        if r.nr_phys_segments() > 0 {
            let st = self.data.map_data(r, iod, c, false);
            if !st.is_ok() {
                self.data.release(iod);
                return st;
            }
        }
        if ns.has_meta() {
            let st = self.setup_meta(&ns.meta(), r, iod, c, slba, nlb);
            if !st.is_ok() {
                self.data.release(iod);
                return st;
            }
        }
        BlkStatus::OK
    }

    /// Adds what a read or write of `nlb` blocks at `slba` needs on a namespace with metadata
    /// (format `meta`): the metadata buffer the block layer attached, mapped (MPTR), and the
    /// protection information checks it asked for; or, with no buffer on a format whose
    /// metadata is all PI, the controller inserting and stripping it.
    fn setup_meta(
        &self,
        meta: &MetaFormat,
        r: &Request<NvmeMq>,
        iod: &mut IodOwned,
        c: &mut Command,
        slba: u64,
        nlb: u32,
    ) -> BlkStatus {
        let checks = r.integrity();
        let req = PiCheck {
            has_payload: checks.is_some(),
            guard: checks.is_some_and(|k| k.guard),
            reftag: checks.is_some_and(|k| k.reftag),
            app_tag: checks.and_then(|k| k.app_tag),
        };
        let Ok(f) = meta::pi_fields(meta, slba, req, !r.is_write()) else {
            return BlkStatus::IOERR;
        };
        c.set_pi(&f);
        if checks.is_some() {
            return self
                .data
                .map_meta(r, iod, c, nlb.saturating_mul(u32::from(meta.ms)));
        }
        BlkStatus::OK
    }

    /// Builds a Dataset Management (deallocate) command for a discard request.
    fn setup_discard(
        &self,
        ns: &Namespace,
        rq: &Request<NvmeMq>,
        iod: &mut IodOwned,
    ) -> Result<Command, BlkStatus> {
        let Some(buf) = self.data.take_buf(&mut iod.bufs) else {
            return Err(BlkStatus::RESOURCE);
        };
        let max = (1usize << CTRL_PAGE_SHIFT) / size_of::<DsmRange>();
        let ranges = buf.cpu.as_ptr().cast::<DsmRange>();
        let mut n = 0usize;
        let mut overflow = false;
        rq.for_each_bio_range(|sector, nr_sectors| {
            if n == max {
                overflow = true;
                return;
            }
            let r = DsmRange::new(ns.lba(sector), nr_sectors >> (ns.lba_shift() - 9));
            // SAFETY: `n < max`, inside the page-sized pool buffer this request took above;
            // the device reads it only after the doorbell write.
            unsafe { ranges.add(n).write(r) };
            n += 1;
        });
        if overflow || n == 0 {
            return Err(BlkStatus::IOERR);
        }
        // CAST: `n <= 256`.
        let mut c = Command::dsm_deallocate(ns.nsid, n as u32);
        c.set_prp(buf.dma, 0);
        Ok(c)
    }
}

impl glue::Operations for NvmeMq {
    type SetData = IoSet;
    type HwQueue = Queue;
    type Disk = Namespace;
    type DiskAttrs = NsAttrs;
    type RequestData = Iod;
    type RequestOwned = IodOwned;

    fn disk_ioctl(ns: &Namespace, node: IoctlNode<NvmeMq>, cmd: u32, arg: usize) -> Result<isize> {
        let origin = Origin {
            partition: node.partition,
            open_for_write: node.writable,
        };
        ns.passthru
            .ioctl(cmd, arg, Some(ns.node(node.queue, origin)))
    }

    fn report_zones(
        ns: &Namespace,
        queue: DiskQueue<NvmeMq>,
        sector: u64,
        nr_zones: u32,
        report: &mut ZoneReport,
    ) -> Result<u32> {
        zoned::nvme_ns_report_zones(ns, queue, sector, nr_zones, report)
    }

    fn hw_queue(set: &IoSet, index: u32) -> Option<&Queue> {
        set.queues.get(usize::try_from(index).ok()?).map(|q| &**q)
    }

    fn set_tags(hwq: &Queue, tags: Tags) {
        hwq.set_tags(tags);
    }

    fn init_request(_set: &IoSet) -> impl PinInit<Iod> {
        Iod::new()
    }

    fn init_request_owned(_set: &IoSet) -> impl PinInit<IodOwned> {
        IodOwned::new()
    }

    fn queue_rq(
        set: &IoSet,
        hwq: &Queue,
        ns: &Namespace,
        mut rq: OwnedRequest<'_, NvmeMq>,
        last: bool,
    ) -> BlkStatus {
        if set.core.is_dead() {
            // A shared namespace's I/O goes down another path.
            if let (Some(link), true) = (ns.mpath.as_ref(), rq.is_stacked()) {
                return match link.head.failover(rq) {
                    Ok(()) => BlkStatus::OK,
                    Err(_) => BlkStatus::IOERR,
                };
            }
            return BlkStatus::IOERR;
        }
        if !hwq.is_online() {
            return set.core.reroute(rq);
        }
        let (r, iod) = rq.parts();
        r.data().reset();
        let req_op = r.op();
        let mut c = match req_op {
            ReqOp::Read | ReqOp::Write => {
                let op = if req_op == ReqOp::Read {
                    cmd::io::READ
                } else {
                    cmd::io::WRITE
                };
                let slba = ns.lba(r.sector());
                let nlb = ns.blocks(r.bytes());
                let mut c = Command::rw(op, ns.nsid, slba, nlb, r.is_fua());
                if req_op == ReqOp::Write && ns.has_write_streams() {
                    let stream = r.write_stream();
                    if stream != 0 {
                        // The block layer checks the stream against the disk's limits.
                        let Some(pid) = ns.placement_id(stream) else {
                            return BlkStatus::INVAL;
                        };
                        c.set_placement(pid);
                    }
                }
                let st = set.map_blocks(ns, r, iod, &mut c, slba, nlb);
                if !st.is_ok() {
                    return st;
                }
                c
            }
            ReqOp::ZoneAppend => {
                let slba = ns.lba(r.sector());
                let nlb = ns.blocks(r.bytes());
                let mut c = Command::zone_append(ns.nsid, slba, nlb, r.is_fua());
                let st = set.map_blocks(ns, r, iod, &mut c, slba, nlb);
                if !st.is_ok() {
                    return st;
                }
                // CAST: the shift is at most 16.
                iod.append_shift = Some(ns.lba_shift() as u8);
                c
            }
            ReqOp::ZoneOpen | ReqOp::ZoneClose | ReqOp::ZoneFinish | ReqOp::ZoneReset => {
                let action = match req_op {
                    ReqOp::ZoneOpen => ZoneAction::Open,
                    ReqOp::ZoneClose => ZoneAction::Close,
                    ReqOp::ZoneFinish => ZoneAction::Finish,
                    _ => ZoneAction::Reset,
                };
                Command::zone_mgmt_send(ns.nsid, ns.lba(r.sector()), action, false)
            }
            ReqOp::ZoneResetAll => Command::zone_mgmt_send(ns.nsid, 0, ZoneAction::Reset, true),
            ReqOp::Flush => Command::flush(ns.nsid),
            ReqOp::WriteZeroes => {
                let slba = ns.lba(r.sector());
                let mut c =
                    Command::write_zeroes(ns.nsid, slba, ns.blocks(r.bytes()), !r.is_nounmap());
                if ns.has_meta() {
                    c.set_pi(&meta::write_zeroes_pi(&ns.meta(), slba));
                }
                c
            }
            ReqOp::Discard => match set.setup_discard(ns, r, iod) {
                Ok(c) => c,
                Err(st) => {
                    set.data.release(iod);
                    return st;
                }
            },
            ReqOp::Other(_) if r.is_passthrough() => {
                // A command of its own, kept apart from the others' (see `setup_passthru`).
                let Some(mut c) = iod.pt_cmd else {
                    return BlkStatus::IOERR;
                };
                let st = set.setup_passthru(ns, r, iod, &mut c);
                if st.is_ok() {
                    set.issue(hwq, ns, rq, &mut c, last);
                }
                return st;
            }
            ReqOp::Other(_) => return BlkStatus::NOTSUPP,
        };
        set.issue(hwq, ns, rq, &mut c, last);
        BlkStatus::OK
    }

    fn commit_rqs(hwq: &Queue) {
        hwq.commit();
    }

    fn complete(set: &IoSet, mut rq: OwnedRequest<'_, NvmeMq>) {
        let (r, iod) = rq.parts();
        set.data.release(iod);
        end_stacked(set, r, iod);
        let status = r.data().status();
        if let Some(shift) = iod.append_shift.take() {
            if status.is_success() {
                rq.set_sector(zns::zone_append_lba_to_sector(r.data().result(), shift));
            }
        }
        let (r, iod) = rq.parts();
        // As the C driver does: a failure the controller does not mark Do Not Retry (and a
        // request recovery cancelled) is issued again, a few times, unless the submitter asked
        // to fail fast or the controller is gone.
        if r.is_passthrough() {
            // Passthrough: never retried, and the caller reads the NVMe status itself.
            rq.end(if status.is_success() {
                BlkStatus::OK
            } else {
                BlkStatus::IOERR
            });
            return;
        }
        // A shared namespace's request that failed for a reason of its path (as C's
        // `nvme_failover_req()`: a path-related status, the reset's cancellation, the
        // controller's death) goes down another path, however often it was tried; unless the
        // submitter asked to fail fast or the controller said not to retry (as C).
        if !status.is_success()
            && r.is_stacked()
            && !r.is_failfast()
            && (set.core.is_dead() || (mpath::is_path_error(status.sct()) && !status.dnr()))
        {
            if let Some(link) = r.disk_data().mpath.as_ref() {
                // The ANA state changed under the host: the scan reads the log again (as C).
                if link.anagrpid != 0 && mpath::is_ana_error(status.sct(), status.sc()) {
                    set.core.admin.ask_rescan();
                }
                iod.retries = 0;
                match link.head.failover(rq) {
                    Ok(()) => return,
                    Err(back) => rq = back,
                }
            }
        }
        let (r, iod) = rq.parts();
        if !status.is_success()
            && !status.dnr()
            && iod.retries < MAX_RETRIES
            && !r.is_failfast()
            && !set.core.is_dead()
        {
            iod.retries += 1;
            rq.requeue();
            return;
        }
        iod.retries = 0;
        let blk = blk_status(status);
        if !blk.is_ok() {
            dev_err!(
                set.data.dev,
                "I/O error: {:?} sector {} ({} bytes): {} (sct {:#x} sc {:#x}{})\n",
                r.op(),
                r.sector(),
                r.bytes(),
                status.name(),
                status.sct(),
                status.sc(),
                if status.dnr() { ", dnr" } else { "" }
            );
        }
        rq.end(blk);
    }

    #[inline]
    fn complete_batched(set: &IoSet, rq: &mut OwnedRequest<'_, NvmeMq>) {
        let (r, iod) = rq.parts();
        set.data.release(iod);
        iod.retries = 0;
        end_stacked(set, r, iod);
        if let Some(shift) = iod.append_shift.take() {
            let lba = rq.data().result();
            rq.set_sector(zns::zone_append_lba_to_sector(lba, shift));
        }
    }

    fn timeout(set: &IoSet, hwq: &Queue, rq: &Request<NvmeMq>) -> TimeoutAction {
        let core = &set.core;
        // A lost interrupt leaves the completion in the ring: look there first.
        hwq.nvme_poll_cq(|cqe| nvme_handle_cqe(hwq, cqe, None));
        if rq.is_completed() {
            dev_warn!(
                core.dev,
                "I/O tag {} on queue {} completed by polling: interrupt lost?\n",
                rq.tag(),
                hwq.qid
            );
            return TimeoutAction::Done;
        }
        let csts = core.csts();
        let iod = rq.data();
        match core.state() {
            // First expiry of a live controller's command: ask the controller to abort it,
            // and give the abort (or the command) another timeout period.
            State::Live
                if !csts.is_gone()
                    && csts.rdy()
                    && !csts.cfs()
                    && !hwq.polled
                    && iod.set_aborted() =>
            {
                // The abort work sends the Abort; this handler does not wait for it.
                let queued = core.queue_abort(hwq.qid, iod.cid(rq.tag()));
                dev_warn!(
                    core.dev,
                    "I/O timeout: {:?} sector {} tag {} on queue {}; {}\n",
                    rq.op(),
                    rq.sector(),
                    rq.tag(),
                    hwq.qid,
                    if queued {
                        "aborting it"
                    } else {
                        "too many Aborts pending, resetting the controller"
                    }
                );
                if !queued {
                    core.schedule_reset();
                }
                TimeoutAction::ResetTimer
            }
            State::Live if !csts.is_gone() => {
                dev_warn!(
                    core.dev,
                    "I/O timeout: {:?} sector {} tag {} on queue {}{}; resetting the controller\n",
                    rq.op(),
                    rq.sector(),
                    rq.tag(),
                    hwq.qid,
                    if csts.cfs() { " (CSTS.CFS set)" } else { "" }
                );
                core.schedule_reset();
                TimeoutAction::ResetTimer
            }
            // A restart waiting for the tag set's resize waits for this request: as the C
            // driver's timeout while connecting, the controller is given up.
            State::Resetting if core.resizing() => {
                core.kill("I/O timeout while the queues were being resized");
                TimeoutAction::Done
            }
            // The reset in progress cancels and retries the request.
            State::Resetting => TimeoutAction::ResetTimer,
            // Gone, dead or being removed: nothing will complete it.
            State::Live | State::Deleting | State::Dead | State::New => {
                core.kill("I/O timeout with the controller unreachable or being removed");
                TimeoutAction::Done
            }
        }
    }

    fn map_queues(set: &IoSet, maps: &mut QueueMaps<'_>) {
        // The queues the controller has now: a prefix, as a reset creates them in order (see
        // `CtrlCore::reinit`); at least the first.
        let online = |qs: &[Arc<Queue>]| {
            // CAST: at most 1024 queues.
            qs.iter().take_while(|q| q.is_online()).count() as u32
        };
        // CAST: `nr_default` is at most the number of queues.
        let (default_qs, poll_qs) = set.queues.split_at(set.nr_default as usize);
        let nr_default = online(default_qs).max(1);
        let nr_poll = if nr_default == set.nr_default {
            online(poll_qs)
        } else {
            0
        };
        if maps.count() > 1 {
            maps.map(MapKind::Default).set_range(nr_default, 0);
            maps.map(MapKind::Read).set_range(0, 0);
            let mut poll = maps.map(MapKind::Poll);
            poll.set_range(nr_poll, nr_default);
            if nr_poll > 0 {
                poll.map_evenly();
            }
        }
        let mut map = maps.map(MapKind::Default);
        // With fewer queues than vectors, the vectors' affinity would leave CPUs without a
        // queue: spread them evenly instead.
        if set.irq_affinity && nr_default == set.nr_default {
            if set.irq_map_ready.load(Ordering::Acquire) {
                map.write_cpus(&set.irq_map);
            } else {
                map.map_by_irq_affinity(&set.data.dev, 1);
                map.read_cpus(&set.irq_map);
                set.irq_map_ready.store(true, Ordering::Release);
            }
        } else {
            map.map_evenly();
        }
    }

    #[inline]
    fn poll(_set: &IoSet, hwq: &Queue, batch: Option<&mut CompBatch>) -> i32 {
        // A polling loop asks far more often than completions arrive (about a hundred times
        // per 4 KiB read on QEMU): look without the lock first, in a function that saves no
        // registers; the work is in `poll_found`.
        if !hwq.cqe_maybe_pending() {
            return 0;
        }
        poll_found(hwq, batch)
    }
}

/// A request a multipath head sent down ends on this path (completed, retried or moved to
/// another): uncounted from the queue depth and from the head's accounting.
#[inline]
fn end_stacked(set: &IoSet, r: &Request<NvmeMq>, iod: &mut IodOwned) {
    if iod.counted {
        iod.counted = false;
        set.core.nr_active.fetch_sub(1, Ordering::Relaxed);
    }
    if let Some(start) = iod.head_acct.take() {
        if let Some(link) = r.disk_data().mpath.as_ref() {
            link.head.account_end(r, start);
        }
    }
}

/// [`glue::Operations::poll`] once a completion may be pending: consumes the queue's
/// completions. Kept out of line, so that the poll that finds none (most of them) runs without
/// the register saves this one needs.
#[inline(never)]
fn poll_found(hwq: &Queue, mut batch: Option<&mut CompBatch>) -> i32 {
    let found = hwq.nvme_poll_cq(|cqe| nvme_handle_cqe(hwq, cqe, batch.as_deref_mut()));
    // CAST: at most one queue's depth.
    found as i32
}
