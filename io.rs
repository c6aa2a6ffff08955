// SPDX-License-Identifier: GPL-2.0

//! The blk-mq side: the tag set shared by a controller's namespaces, `queue_rq` building NVMe
//! commands in place and ringing the doorbell, the interrupt-time completion path, and the
//! per-request DMA bookkeeping (scatterlist, PRP list pages, DSM range buffer).

use core::{
    fmt,
    mem::size_of,
    ptr::{
        self,
        NonNull, //
    },
};

use kernel::{
    device,
    prelude::*,
    sync::{
        aref::ARef,
        Arc, //
    },
};

use crate::{
    chardev::{
        DiskNode,
        Passthru, //
    },
    ctrl::{
        CtrlCore,
        State,
        MAX_RETRIES, //
    },
    ffi::{
        self,
        BlkStatus,
        CompBatch,
        DiskQueue,
        DmaPool,
        DmaSeg,
        MapKind,
        PoolBuf,
        QueueMaps,
        ReqOp,
        Request,
        SgHeap,
        SgMap,
        Single,
        SingleMap,
        Tags,
        TimeoutAction, //
    },
    nvme::{
        cmd::{
            self,
            Command,
            Completion,
            DsmRange, //
        },
        ident::{
            self,
            write_hex,
            write_uuid,
            NsIds, //
        },
        prp::{
            self,
            ListPage,
            PrpError,
            Seg, //
        },
        sgl::{
            self,
            SglDesc, //
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
const INLINE_SEGMENTS: u16 = 32;

/// Controller memory page shift the driver uses (CC.MPS = 0, 4 KiB pages).
pub(crate) const CTRL_PAGE_SHIFT: u32 = 12;
/// PRP entries in one list page (one controller page).
const PRP_PER_PAGE: usize = 1 << (CTRL_PAGE_SHIFT - 3);
/// SGL descriptors in one list page; at least `MAX_SEGMENTS`, so one page always does.
const SGL_PER_PAGE: usize = sgl::descs_per_page(CTRL_PAGE_SHIFT);
const _: () = assert!(SGL_PER_PAGE >= MAX_SEGMENTS as usize);

/// Per-request driver data, followed in memory by the request's scatterlist table.
#[repr(C)]
struct IoPdu {
    /// NVMe status field of the completion (without the phase bit).
    status: u16,
    /// The data is DMA-mapped through the scatterlist and must be unmapped at completion
    /// (`nents`, `mapped`, `write` are valid).
    mapped: bool,
    /// Direction of the mapping.
    write: bool,
    /// Entries in the scatterlist table.
    nents: i32,
    /// Entries `dma_map_sg` produced.
    nr_mapped: u32,
    /// The table of a request with more than `INLINE_SEGMENTS` segments.
    sg_heap: Option<SgHeap>,
    /// The data is one segment mapped without a scatterlist: bus address and length.
    single: Option<(u64, u32)>,
    /// Pool buffers in use: PRP list pages or the DSM range list.
    nr_bufs: u8,
    /// Times recovery has retried this request.
    retries: u8,
    /// An Abort was sent for this request after its first timeout.
    aborted: bool,
    bufs: [Option<PoolBuf>; MAX_LIST_PAGES],
    /// The command of a passthrough request, set by [`execute_passthru`] while it waits for
    /// the request (so the command outlives its use in `queue_rq`).
    pt_cmd: Option<NonNull<Command>>,
    /// Completion dwords 0 and 1, for passthrough requests.
    result: u64,
}

/// Bytes of per-request data: the `IoPdu` and the inline scatterlist table.
pub(crate) fn pdu_size() -> u32 {
    let bytes = sg_offset() + usize::from(INLINE_SEGMENTS) * ffi::SG_ENTRY_SIZE;
    // CAST: at most a few KiB.
    bytes as u32
}

/// Offset of the scatterlist table from the start of the PDU.
const fn sg_offset() -> usize {
    size_of::<IoPdu>().next_multiple_of(8)
}

/// State shared by all hardware queues and disks of one controller.
pub(crate) struct IoSet {
    /// The I/O queues; hardware context `i` uses `queues[i]`.
    pub(crate) queues: KVec<Arc<Queue>>,
    /// The PCI device, for DMA mapping and messages.
    pub(crate) dev: ARef<device::Device>,
    /// PRP list pages and DSM range lists, one controller page each.
    pub(crate) pool: DmaPool,
    /// Interrupt vectors spread over the CPUs (queue `i` on vector `i + 1`).
    pub(crate) irq_affinity: bool,
    /// The first `nr_default` queues are interrupt driven; the rest are polled.
    pub(crate) nr_default: u32,
    /// The controller core, for recovery.
    pub(crate) core: Arc<CtrlCore>,
    /// The controller takes SGLs for data (Identify Controller SGLS).
    pub(crate) sgl: bool,
    /// Average segment size from which scattered data goes by SGL (0: only when PRPs cannot
    /// describe it), the `sgl_threshold` module parameter.
    pub(crate) sgl_threshold: u32,
}

/// Status given to requests that recovery cancels: "Command Aborted By Host".
const HOST_ABORTED: Status = Status::from_parts(SCT_PATH, path::HOST_ABORTED_CMD, false);

/// One namespace exposed as a disk.
pub(crate) struct Namespace {
    /// Namespace identifier.
    pub(crate) nsid: u32,
    /// log2 of the logical block size.
    pub(crate) lba_shift: u32,
    /// The controller's passthrough, for the disk's ioctls and identity.
    pub(crate) passthru: Arc<Passthru>,
    /// EUI64, NGUID and UUID, for sysfs.
    pub(crate) ids: NsIds,
}

/// Disk attributes (see the table in `ffi`): nsid, wwid, eui, nguid, uuid. `wwid` follows the
/// C driver's choice: the UUID, else the NGUID, else the EUI64, else vendor, serial, model and
/// nsid.
pub(crate) fn disk_attr_show(ns: &Namespace, index: usize, w: &mut impl fmt::Write) -> fmt::Result {
    let ids = &ns.ids;
    match index {
        0 => write!(w, "{}", ns.nsid)?,
        1 if ids.has_uuid() => {
            w.write_str("uuid.")?;
            write_uuid(w, &ids.uuid)?;
        }
        1 if ids.has_nguid() => {
            w.write_str("eui.")?;
            write_hex(w, &ids.nguid, None)?;
        }
        1 if ids.has_eui64() => {
            w.write_str("eui.")?;
            write_hex(w, &ids.eui64, None)?;
        }
        1 => {
            let info = &ns.passthru.info;
            write!(w, "nvme.{:04x}-", info.vid)?;
            write_hex(w, ident::trim(&info.serial), None)?;
            w.write_char('-')?;
            write_hex(w, ident::trim(&info.model), None)?;
            write!(w, "-{:08x}", ns.nsid)?;
        }
        2 => write_hex(w, &ids.eui64, Some('-'))?,
        3 => write_uuid(w, &ids.nguid)?,
        _ => write_uuid(w, &ids.uuid)?,
    }
    w.write_char('\n')
}

/// Whether disk attribute `index` exists for this namespace (`eui`, `nguid` and `uuid` only
/// when the namespace reports them).
pub(crate) fn disk_attr_visible(ns: &Namespace, index: usize) -> bool {
    match index {
        2 => ns.ids.has_eui64(),
        3 => ns.ids.has_nguid(),
        4 => ns.ids.has_uuid(),
        _ => true,
    }
}

/// NVMe ioctls on a disk node.
pub(crate) fn disk_ioctl(
    ns: &Namespace,
    queue: DiskQueue,
    writable: bool,
    cmd: u32,
    arg: usize,
) -> Result<isize> {
    let node = DiskNode {
        nsid: ns.nsid,
        queue,
        writable,
    };
    ns.passthru.ioctl(cmd, arg, Some(node))
}

/// What an I/O passthrough command ended with.
pub(crate) enum PassthruEnd {
    /// The controller completed it: status field (0 on success) and dwords 0 and 1.
    Completed(u16, u64),
    /// It never completed on the controller (controller dead or removed, or cancelled).
    Failed(Error),
}

/// Runs I/O command `c` through blk-mq on `queue` as a passthrough request, with `data` (to the
/// controller when `to_device`) as its buffer, and waits for it.
pub(crate) fn execute_passthru(
    queue: DiskQueue,
    c: &Command,
    data: Option<&mut [u8]>,
    to_device: bool,
    timeout_ms: u32,
) -> Result<PassthruEnd> {
    let mut rq = queue.alloc_passthru(to_device)?;
    if let Some(buf) = data {
        rq.map_kernel(buf)?;
    }
    rq.set_timeout_ms(timeout_ms);
    let pdu = rq.request().pdu::<IoPdu>();
    // SAFETY: the request is allocated and not issued: nothing else uses its PDU. `c` lives
    // until this function returns, after the request has ended.
    unsafe {
        (*pdu.as_ptr()).pt_cmd = Some(NonNull::from(c));
        (*pdu.as_ptr()).status = 0;
        (*pdu.as_ptr()).result = 0;
    }
    let blk = rq.execute();
    // SAFETY: the request has ended; the PDU is ours again until the request is freed.
    let (status, result) = unsafe {
        (*pdu.as_ptr()).pt_cmd = None;
        ((*pdu.as_ptr()).status, (*pdu.as_ptr()).result)
    };
    let status = Status::new(status);
    Ok(
        if status.0 == HOST_ABORTED.0 || (blk.is_ok() != status.is_success()) {
            // Cancelled by recovery, or failed before reaching the controller.
            PassthruEnd::Failed(if blk.is_ok() { EIO } else { EINTR })
        } else {
            PassthruEnd::Completed(status.0, result)
        },
    )
}

impl Namespace {
    /// Converts a 512-byte sector number to this namespace's LBA.
    #[inline]
    fn lba(&self, sector: u64) -> u64 {
        sector >> (self.lba_shift - 9)
    }

    /// Converts a byte count to a block count.
    #[inline]
    fn blocks(&self, bytes: u32) -> u32 {
        bytes >> self.lba_shift
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

impl IoSet {
    /// Pointer to the inline scatterlist table of `rq`.
    fn inline_sgl(rq: &Request) -> *mut u8 {
        // SAFETY: the PDU is `pdu_size()` bytes, with the inline table at `sg_offset()`.
        unsafe { rq.pdu::<u8>().as_ptr().add(sg_offset()) }
    }

    /// The scatterlist table `rq` uses: its own, or the one allocated for it.
    fn sgl(rq: &Request, pdu: &mut IoPdu) -> *mut u8 {
        match &mut pdu.sg_heap {
            Some(h) => h.as_ptr(),
            None => Self::inline_sgl(rq),
        }
    }

    /// Returns the request's DMA resources (pool buffers, mapping).
    fn release(&self, rq: &Request, pdu: &mut IoPdu) {
        if let Some((addr, len)) = pdu.single.take() {
            // A one-segment mapping is all such a request holds (see `map_data`).
            // SAFETY: stored by `map_data` from a mapping not unmapped since.
            unsafe { SingleMap::from_parts(addr, len, pdu.write) }.unmap(&self.dev);
            return;
        }
        for buf in pdu.bufs.iter_mut().take(usize::from(pdu.nr_bufs)) {
            if let Some(b) = buf.take() {
                // SAFETY: `b` was taken from this pool for this request, and the device is done
                // with it (the command completed or was never submitted).
                unsafe { self.pool.free(b) };
            }
        }
        pdu.nr_bufs = 0;
        if pdu.mapped {
            pdu.mapped = false;
            let sgl = Self::sgl(rq, pdu);
            // SAFETY: the parts were stored by `map_data` for this request's table (`sgl`) and
            // not unmapped since (`mapped` was set).
            let map = unsafe { SgMap::from_parts(sgl, pdu.nents, pdu.nr_mapped, pdu.write) };
            map.unmap(&self.dev);
        }
        pdu.sg_heap = None;
    }

    /// Takes a pool buffer for the request; `None` when memory is short.
    fn take_buf(&self, pdu: &mut IoPdu) -> Option<PoolBuf> {
        let i = usize::from(pdu.nr_bufs);
        if i >= MAX_LIST_PAGES {
            return None;
        }
        let buf = self.pool.alloc_atomic()?;
        pdu.bufs[i] = Some(buf);
        pdu.nr_bufs += 1;
        Some(buf)
    }

    /// Maps the request's data and fills in the data pointer of `c`: PRP1/PRP2 (and PRP
    /// lists), or an SGL when the controller takes them and the segments are large on average,
    /// PRPs cannot describe them, or `force_sgl` (user commands, so that the controller checks
    /// their lengths). Inlined into `queue_rq`, the hot path (the other user is the cold
    /// passthrough setup).
    #[inline(always)]
    fn map_data(
        &self,
        rq: &Request,
        pdu: &mut IoPdu,
        c: &mut Command,
        force_sgl: bool,
    ) -> BlkStatus {
        let force_sgl = force_sgl && self.sgl;
        // Most I/O is one segment within two controller pages: PRP1 and PRP2 point straight at
        // it, with no scatterlist and no list page.
        match SingleMap::map(&self.dev, rq, 2 << CTRL_PAGE_SHIFT) {
            Single::Mapped(m) => {
                let seg = Seg::new(m.addr, m.len);
                let (addr, len, write) = m.into_parts();
                pdu.single = Some((addr, len));
                pdu.write = write;
                if force_sgl {
                    c.set_sgl(&SglDesc::data_block(seg.addr, seg.len));
                    return BlkStatus::OK;
                }
                return match prp::simple(seg, CTRL_PAGE_SHIFT) {
                    Some((prp1, prp2)) => {
                        c.set_prp(prp1, prp2);
                        BlkStatus::OK
                    }
                    None => BlkStatus::IOERR,
                };
            }
            Single::Failed => return BlkStatus::RESOURCE,
            Single::Scattered => {}
        }
        if rq.nr_phys_segments() > INLINE_SEGMENTS {
            match SgHeap::alloc(rq.nr_phys_segments()) {
                Some(h) => pdu.sg_heap = Some(h),
                None => return BlkStatus::RESOURCE,
            }
        }
        let sgl = Self::sgl(rq, pdu);
        // SAFETY: `sgl` is an initialised table with room for the request's segments: the
        // inline one (set up in `init_request`) for up to `INLINE_SEGMENTS`, else one allocated
        // above for exactly `nr_phys_segments`.
        let Some(map) = (unsafe { SgMap::map(&self.dev, rq, sgl) }) else {
            return BlkStatus::RESOURCE;
        };
        let status = if force_sgl
            || (self.sgl
                && sgl::prefer_sgl(u64::from(rq.bytes()), map.nr_segments(), self.sgl_threshold))
        {
            self.fill_sgl(&map, pdu, c)
        } else {
            // Three or more segments make three or more PRP entries, so a list is needed, and
            // one list page holds any transfer up to 2 MiB: validate and write it in one pass.
            // Fewer segments, or a longer transfer, are planned first.
            let one_page = if map.nr_segments() >= 3 {
                self.fill_one_list_page(&map, pdu, c)
            } else {
                None
            };
            let status = match one_page {
                Some(st) => st,
                None => self.plan_and_fill(&map, pdu, c),
            };
            // Segments that PRPs cannot describe (a gap inside a controller page: the queue
            // has no virtual boundary when the controller takes SGLs) go by SGL.
            if status == BlkStatus::IOERR && self.sgl {
                self.fill_sgl(&map, pdu, c)
            } else {
                status
            }
        };
        let (nents, nr_mapped, write) = map.into_parts();
        pdu.nents = nents;
        pdu.nr_mapped = nr_mapped;
        pdu.write = write;
        // As the C driver does for scattered data: where the mapping needs no unmapping (no
        // IOMMU, no bounce buffers, no cache maintenance), completion skips it.
        pdu.mapped = ffi::dma_need_unmap(&self.dev);
        status
    }

    /// Describes the mapped data with an SGL: one Data Block descriptor in the command, or a
    /// list of them in one pool page.
    fn fill_sgl(&self, map: &SgMap, pdu: &mut IoPdu, c: &mut Command) -> BlkStatus {
        let mut segs = map
            .segments()
            .map(|DmaSeg { addr, len }| Seg::new(addr, len));
        if map.nr_segments() == 1 {
            return match segs.next() {
                Some(seg) => {
                    c.set_sgl(&SglDesc::data_block(seg.addr, seg.len));
                    BlkStatus::OK
                }
                None => BlkStatus::IOERR,
            };
        }
        let Some(b) = self.take_buf(pdu) else {
            return BlkStatus::RESOURCE;
        };
        // SAFETY: the buffer is a fresh, page-sized, page-aligned pool buffer that only this
        // request uses; the device reads it only after the doorbell write. `SglDesc` is plain
        // integers, 16 bytes, so a page holds `SGL_PER_PAGE` of them.
        let list = unsafe {
            core::slice::from_raw_parts_mut(b.cpu.as_ptr().cast::<SglDesc>(), SGL_PER_PAGE)
        };
        match sgl::fill(segs, list, b.dma) {
            Ok(d) => {
                c.set_sgl(&d);
                BlkStatus::OK
            }
            Err(_) => BlkStatus::IOERR,
        }
    }

    /// Plans the PRPs of the mapped data, then fills in PRP1/PRP2 and any list pages.
    fn plan_and_fill(&self, map: &SgMap, pdu: &mut IoPdu, c: &mut Command) -> BlkStatus {
        let segs = map
            .segments()
            .map(|DmaSeg { addr, len }| Seg::new(addr, len));
        match prp::plan(segs, CTRL_PAGE_SHIFT) {
            Err(_) => BlkStatus::IOERR,
            Ok(plan) if plan.list_pages > MAX_LIST_PAGES => BlkStatus::IOERR,
            Ok(plan) if !plan.needs_list() => {
                c.set_prp(plan.prp1, plan.prp2.unwrap_or(0));
                BlkStatus::OK
            }
            Ok(plan) => self.fill_prp_lists(map, plan.list_pages, pdu, c),
        }
    }

    /// Validates the mapped data and writes its PRP list into one list page; `None` when the
    /// list does not fit in one page (nothing is kept then).
    fn fill_one_list_page(
        &self,
        map: &SgMap,
        pdu: &mut IoPdu,
        c: &mut Command,
    ) -> Option<BlkStatus> {
        let Some(b) = self.take_buf(pdu) else {
            return Some(BlkStatus::RESOURCE);
        };
        // SAFETY: the buffer is a fresh, page-sized, page-aligned pool buffer that only this
        // request uses; the device reads it only after the doorbell write.
        let entries =
            unsafe { core::slice::from_raw_parts_mut(b.cpu.as_ptr().cast::<u64>(), PRP_PER_PAGE) };
        let segs = map
            .segments()
            .map(|DmaSeg { addr, len }| Seg::new(addr, len));
        match prp::fill_one_list(segs, CTRL_PAGE_SHIFT, entries) {
            Ok(prp1) => {
                c.set_prp(prp1, b.dma);
                Some(BlkStatus::OK)
            }
            Err(PrpError::ListPageCount) => {
                self.put_last_buf(pdu);
                None
            }
            Err(_) => Some(BlkStatus::IOERR),
        }
    }

    /// Gives back the pool buffer [`IoSet::take_buf`] took last.
    fn put_last_buf(&self, pdu: &mut IoPdu) {
        let Some(i) = usize::from(pdu.nr_bufs).checked_sub(1) else {
            return;
        };
        if let Some(b) = pdu.bufs[i].take() {
            // SAFETY: `b` was taken from this pool for this request and was never handed to the
            // device.
            unsafe { self.pool.free(b) };
        }
        // CAST: `i` is below `nr_bufs`, a `u8`.
        pdu.nr_bufs = i as u8;
    }

    /// Takes `nr` PRP list pages and writes the PRP lists for the mapped data.
    fn fill_prp_lists(
        &self,
        map: &SgMap,
        nr: usize,
        pdu: &mut IoPdu,
        c: &mut Command,
    ) -> BlkStatus {
        if nr == 1 {
            // One list page: written in place, no chaining.
            return self
                .fill_one_list_page(map, pdu, c)
                .unwrap_or(BlkStatus::IOERR);
        }
        let per_page = PRP_PER_PAGE;
        let segs = map
            .segments()
            .map(|DmaSeg { addr, len }| Seg::new(addr, len));
        let mut list: [ListPage<'_>; MAX_LIST_PAGES] = core::array::from_fn(|_| ListPage {
            dma: 0,
            entries: &mut [],
        });
        for page in list.iter_mut().take(nr) {
            let Some(b) = self.take_buf(pdu) else {
                return BlkStatus::RESOURCE;
            };
            // SAFETY: the buffer is a fresh, page-sized, page-aligned pool buffer that only this
            // request uses; the device reads it only after the doorbell write.
            let entries =
                unsafe { core::slice::from_raw_parts_mut(b.cpu.as_ptr().cast::<u64>(), per_page) };
            *page = ListPage {
                dma: b.dma,
                entries,
            };
        }
        match prp::fill(segs, CTRL_PAGE_SHIFT, &mut list[..nr]) {
            Ok((prp1, prp2)) => {
                c.set_prp(prp1, prp2);
                BlkStatus::OK
            }
            Err(_) => BlkStatus::IOERR,
        }
    }

    /// Builds the command of a passthrough request from the one [`execute_passthru`] left in
    /// its PDU, with its data mapped.
    #[cold]
    fn setup_passthru(&self, rq: &Request, pdu: &mut IoPdu) -> Result<Command, BlkStatus> {
        let Some(cmd) = pdu.pt_cmd else {
            return Err(BlkStatus::IOERR);
        };
        // SAFETY: `execute_passthru` set the pointer to a command that lives until the request
        // has ended, which it waits for.
        let mut c = unsafe { *cmd.as_ptr() };
        if rq.nr_phys_segments() > 0 {
            let st = self.map_data(rq, pdu, &mut c, true);
            if !st.is_ok() {
                self.release(rq, pdu);
                return Err(st);
            }
        }
        Ok(c)
    }

    /// Builds a Dataset Management (deallocate) command for a discard request.
    fn setup_discard(
        &self,
        ns: &Namespace,
        rq: &Request,
        pdu: &mut IoPdu,
    ) -> Result<Command, BlkStatus> {
        let Some(buf) = self.take_buf(pdu) else {
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
            let r = DsmRange::new(ns.lba(sector), nr_sectors >> (ns.lba_shift - 9));
            // SAFETY: `n < max`, inside the page-sized buffer owned by this request.
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

impl ffi::Operations for NvmeMq {
    type SetData = IoSet;
    type HwQueue = Queue;
    type Disk = Namespace;

    fn hw_queue(set: &IoSet, index: u32) -> Option<&Queue> {
        set.queues.get(usize::try_from(index).ok()?).map(|q| &**q)
    }

    fn set_tags(hwq: &Queue, tags: Tags) {
        hwq.set_tags(tags);
    }

    fn init_request(_set: &IoSet, rq: &Request) {
        let pdu = rq.pdu::<IoPdu>();
        // SAFETY: the PDU is ours and not yet in use; it is sized for `IoPdu` plus the table.
        unsafe {
            pdu.as_ptr().write(IoPdu {
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
            SgMap::init_table(IoSet::inline_sgl(rq), u32::from(INLINE_SEGMENTS));
        }
    }

    fn queue_rq(set: &IoSet, hwq: &Queue, ns: &Namespace, rq: &Request, last: bool) -> BlkStatus {
        if set.core.is_dead() {
            return BlkStatus::IOERR;
        }
        // SAFETY: the driver owns the request until it completes; nothing else touches its PDU.
        let pdu = unsafe { &mut *rq.pdu::<IoPdu>().as_ptr() };
        pdu.status = 0;
        pdu.aborted = false;
        let req_op = rq.op();
        let mut c = match req_op {
            ReqOp::Read | ReqOp::Write => {
                let op = if req_op == ReqOp::Read {
                    cmd::io::READ
                } else {
                    cmd::io::WRITE
                };
                let mut c = Command::rw(
                    op,
                    ns.nsid,
                    ns.lba(rq.sector()),
                    ns.blocks(rq.bytes()),
                    rq.is_fua(),
                );
                if rq.nr_phys_segments() > 0 {
                    let st = set.map_data(rq, pdu, &mut c, false);
                    if !st.is_ok() {
                        set.release(rq, pdu);
                        return st;
                    }
                }
                c
            }
            ReqOp::Flush => Command::flush(ns.nsid),
            ReqOp::WriteZeroes => Command::write_zeroes(
                ns.nsid,
                ns.lba(rq.sector()),
                ns.blocks(rq.bytes()),
                !rq.is_nounmap(),
            ),
            ReqOp::Discard => match set.setup_discard(ns, rq, pdu) {
                Ok(c) => c,
                Err(st) => {
                    set.release(rq, pdu);
                    return st;
                }
            },
            ReqOp::Other(_) if rq.is_passthrough() => match set.setup_passthru(rq, pdu) {
                Ok(c) => c,
                Err(st) => return st,
            },
            ReqOp::Other(_) => return BlkStatus::NOTSUPP,
        };
        c.set_cid(rq.tag());
        hwq.note_sgl(&c);
        rq.start();
        hwq.submit(&c, last);
        BlkStatus::OK
    }

    fn commit_rqs(hwq: &Queue) {
        hwq.commit();
    }

    fn complete(set: &IoSet, rq: &Request) {
        // SAFETY: the request completed; the driver owns it until `end`.
        let pdu = unsafe { &mut *rq.pdu::<IoPdu>().as_ptr() };
        set.release(rq, pdu);
        let status = Status::new(pdu.status);
        // As the C driver does: a failure the controller does not mark Do Not Retry (and a
        // request recovery cancelled) is issued again, a few times, unless the submitter asked
        // to fail fast or the controller is gone.
        if rq.is_passthrough() {
            // Passthrough: never retried, and the caller reads the NVMe status itself.
            rq.end(if status.is_success() {
                BlkStatus::OK
            } else {
                BlkStatus::IOERR
            });
            return;
        }
        if !status.is_success()
            && !status.dnr()
            && pdu.retries < MAX_RETRIES
            && !rq.is_failfast()
            && !set.core.is_dead()
        {
            pdu.retries += 1;
            rq.requeue();
            return;
        }
        pdu.retries = 0;
        let blk = blk_status(status);
        if !blk.is_ok() {
            dev_err!(
                set.dev,
                "I/O error: {:?} sector {} ({} bytes): {} (sct {:#x} sc {:#x}{})\n",
                rq.op(),
                rq.sector(),
                rq.bytes(),
                status.name(),
                status.sct(),
                status.sc(),
                if status.dnr() { ", dnr" } else { "" }
            );
        }
        rq.end(blk);
    }

    fn complete_batched(set: &IoSet, rq: &Request) {
        // SAFETY: the request completed and its batch owns it; nothing else touches its PDU.
        let pdu = unsafe { &mut *rq.pdu::<IoPdu>().as_ptr() };
        set.release(rq, pdu);
        pdu.retries = 0;
    }

    fn timeout(set: &IoSet, hwq: &Queue, rq: &Request) -> TimeoutAction {
        let core = &set.core;
        // A lost interrupt leaves the completion in the ring: look there first.
        hwq.process_cq(|cqe| nvme_handle_cqe(hwq, cqe, None));
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
        // SAFETY: the request timed out, so the driver owns it; nothing else uses its PDU now.
        let pdu = unsafe { &mut *rq.pdu::<IoPdu>().as_ptr() };
        match core.state() {
            // First expiry of a live controller's command: ask the controller to abort it,
            // and give the abort (or the command) another timeout period.
            State::Live if !csts.is_gone() && !csts.cfs() && !pdu.aborted && !hwq.polled => {
                pdu.aborted = true;
                dev_warn!(
                    core.dev,
                    "I/O timeout: {:?} sector {} tag {} on queue {}; aborting it\n",
                    rq.op(),
                    rq.sector(),
                    rq.tag(),
                    hwq.qid
                );
                match core.admin.submit_sync(Command::abort(hwq.qid, rq.tag())) {
                    // Completion dword 0 bit 0 clear: the command was aborted and completes
                    // with "Command Abort Requested".
                    Ok(cqe) if cqe.result_dw0() & 1 == 0 => TimeoutAction::ResetTimer,
                    // Not aborted, or no answer: the controller needs a reset.
                    _ => {
                        core.schedule_reset();
                        TimeoutAction::ResetTimer
                    }
                }
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
            // The reset in progress cancels and retries the request.
            State::Resetting => TimeoutAction::ResetTimer,
            // Gone, dead or being removed: nothing will complete it.
            State::Live | State::Deleting | State::Dead => {
                core.kill("I/O timeout with the controller unreachable or being removed");
                TimeoutAction::Done
            }
        }
    }

    fn map_queues(set: &IoSet, maps: &mut QueueMaps<'_>) {
        if maps.count() > 1 {
            // CAST: at most 1024 queues.
            let nr_poll = set.queues.len() as u32 - set.nr_default;
            maps.map(MapKind::Default).set_range(set.nr_default, 0);
            maps.map(MapKind::Read).set_range(0, 0);
            let mut poll = maps.map(MapKind::Poll);
            poll.set_range(nr_poll, set.nr_default);
            poll.map_evenly();
        }
        let mut map = maps.map(MapKind::Default);
        if set.irq_affinity {
            map.map_by_irq_affinity(&set.dev, 1);
        } else {
            map.map_evenly();
        }
    }

    fn poll(_set: &IoSet, hwq: &Queue, mut batch: Option<&mut CompBatch>) -> i32 {
        // A polling loop asks far more often than completions arrive: look without the lock
        // first.
        if !hwq.cqe_maybe_pending() {
            return 0;
        }
        let found = hwq.nvme_poll_cq(|cqe| nvme_handle_cqe(hwq, cqe, batch.as_deref_mut()));
        // CAST: at most one queue's depth.
        found as i32
    }
}

/// Handles one I/O completion: records its status and hands the request to blk-mq, which calls
/// [`ffi::Operations::complete`] on the submitting CPU.
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
    let pdu: NonNull<IoPdu> = rq.pdu();
    let status = cqe.status_field();
    // SAFETY: the request is in flight on this queue; only this handler writes its status and
    // result now.
    unsafe {
        ptr::addr_of_mut!((*pdu.as_ptr()).status).write(status);
        ptr::addr_of_mut!((*pdu.as_ptr()).result)
            .write(u64::from(cqe.result_dw0()) | (u64::from(cqe.result_dw1()) << 32));
    }
    ffi::complete_request::<NvmeMq>(rq, Status::new(status).is_success(), batch);
}

/// Completes an in-flight request as cancelled by the host (recovery); it is retried or failed
/// in [`ffi::Operations::complete`].
pub(crate) fn nvme_cancel_request(rq: &Request) {
    if rq.is_completed() {
        return;
    }
    let pdu: NonNull<IoPdu> = rq.pdu();
    // SAFETY: the request is started and the controller is disabled, so no completion for it
    // can arrive and nothing else writes its status.
    unsafe { ptr::addr_of_mut!((*pdu.as_ptr()).status).write(HOST_ABORTED.0) };
    rq.complete();
}
