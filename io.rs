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
    sync::atomic::{
        AtomicU32,
        Ordering, //
    },
};

use kernel::{
    prelude::*,
    str::CStr,
    sync::Arc, //
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
    glue::{
        self,
        Attributes,
        BlkStatus,
        CompBatch,
        DiskQueue,
        DmaPool,
        DmaSeg,
        IoctlNode,
        MapKind,
        PoolBuf,
        QueueMaps,
        ReqOp,
        Request,
        SgHeap,
        SgMap,
        Single,
        SingleMap,
        SysfsWriter,
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
        uapi::Origin,
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
    let bytes = sg_offset() + usize::from(INLINE_SEGMENTS) * glue::SG_ENTRY_SIZE;
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
    /// How request data is mapped and described to the controller.
    pub(crate) data: DataPath,
    /// Interrupt vectors spread over the CPUs (queue `i` on vector `i + 1`).
    pub(crate) irq_affinity: bool,
    /// The first `nr_default` queues are interrupt driven; the rest are polled.
    pub(crate) nr_default: u32,
    /// The controller core, for recovery.
    pub(crate) core: Arc<CtrlCore>,
}

/// The data side of I/O: DMA mapping of request data, and the PRPs or SGLs (with their list
/// pages from the pool) that describe it in a command.
pub(crate) struct DataPath {
    /// The PCI device, for DMA mapping and messages.
    pub(crate) dev: glue::DevRef,
    /// PRP list pages and DSM range lists, one controller page each.
    pub(crate) pool: DmaPool,
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
    /// log2 of the logical block size. Changed only while the disk's queue is frozen (see
    /// [`Namespace::set_lba_shift`]), so requests never see it change under them.
    lba_shift: AtomicU32,
    /// The controller's passthrough, for the disk's ioctls and identity.
    pub(crate) passthru: Arc<Passthru>,
    /// EUI64, NGUID and UUID, for sysfs.
    pub(crate) ids: NsIds,
}

/// The sysfs attributes of a namespace's disk, as the C driver's: nsid, wwid, eui, nguid,
/// uuid (the last three only when the namespace reports them).
pub(crate) struct NsAttrs;

impl Attributes for NsAttrs {
    type Object = Namespace;
    const NAMES: &'static [&'static CStr] = &[c"nsid", c"wwid", c"eui", c"nguid", c"uuid"];

    /// `wwid` follows the C driver's choice: the UUID, else the NGUID, else the EUI64, else
    /// vendor, serial, model and nsid.
    fn show(ns: &Namespace, index: usize, w: &mut SysfsWriter) -> fmt::Result {
        use fmt::Write;
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

    fn visible(ns: &Namespace, index: usize) -> bool {
        match index {
            2 => ns.ids.has_eui64(),
            3 => ns.ids.has_nguid(),
            4 => ns.ids.has_uuid(),
            _ => true,
        }
    }
}

/// What an I/O passthrough command ended with.
pub(crate) enum PassthruEnd {
    /// The controller completed it: status field (0 on success) and dwords 0 and 1.
    Completed(u16, u64),
    /// It never completed on the controller (controller dead or removed, or cancelled).
    Failed(Error),
}

/// Runs I/O command `c` through blk-mq on `queue` as a passthrough request, with `len` bytes of
/// the calling process's memory at `addr` (to the controller when `to_device`) as its buffer,
/// and waits for it.
pub(crate) fn execute_passthru(
    queue: DiskQueue,
    c: &Command,
    user_buf: Option<(usize, u32)>,
    to_device: bool,
    timeout_ms: u32,
) -> Result<PassthruEnd> {
    let mut rq = queue.alloc_passthru(to_device)?;
    if let Some((addr, len)) = user_buf {
        rq.map_user(addr, len)?;
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
    rq.unmap_user()?;
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
    /// A namespace of `1 << lba_shift`-byte blocks.
    pub(crate) fn new(nsid: u32, lba_shift: u32, passthru: Arc<Passthru>, ids: NsIds) -> Self {
        Self {
            nsid,
            lba_shift: AtomicU32::new(lba_shift),
            passthru,
            ids,
        }
    }

    /// log2 of the logical block size.
    #[inline]
    pub(crate) fn lba_shift(&self) -> u32 {
        // Relaxed: the value changes only while the disk's queue is frozen, and freezing and
        // unfreezing order it with every request (see `set_lba_shift`).
        self.lba_shift.load(Ordering::Relaxed)
    }

    /// Changes the logical block size, for a namespace that was reformatted. Call only from
    /// [`glue::Disk::update`]'s `during`, while no request is on the disk.
    pub(crate) fn set_lba_shift(&self, lba_shift: u32) {
        self.lba_shift.store(lba_shift, Ordering::Relaxed);
    }

    /// Converts a 512-byte sector number to this namespace's LBA.
    #[inline]
    fn lba(&self, sector: u64) -> u64 {
        sector >> (self.lba_shift() - 9)
    }

    /// Converts a byte count to a block count.
    #[inline]
    fn blocks(&self, bytes: u32) -> u32 {
        bytes >> self.lba_shift()
    }
}

/// Prepares a newly allocated request's PDU: an idle `IoPdu` and the inline scatterlist table.
fn init_pdu(rq: &Request) {
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
        SgMap::init_table(DataPath::inline_sgl(rq), u32::from(INLINE_SEGMENTS));
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

impl DataPath {
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
        pdu.mapped = glue::dma_need_unmap(&self.dev);
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

    /// Gives back the pool buffer [`DataPath::take_buf`] took last.
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
}

impl IoSet {
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
            let st = self.data.map_data(rq, pdu, &mut c, true);
            if !st.is_ok() {
                self.data.release(rq, pdu);
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
        let Some(buf) = self.data.take_buf(pdu) else {
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

impl glue::Operations for NvmeMq {
    type SetData = IoSet;
    type HwQueue = Queue;
    type Disk = Namespace;
    type DiskAttrs = NsAttrs;

    fn disk_ioctl(ns: &Namespace, node: IoctlNode, cmd: u32, arg: usize) -> Result<isize> {
        let node = DiskNode {
            nsid: ns.nsid,
            lba_shift: ns.lba_shift(),
            queue: node.queue,
            origin: Origin {
                partition: node.partition,
                open_for_write: node.writable,
            },
        };
        ns.passthru.ioctl(cmd, arg, Some(node))
    }

    fn hw_queue(set: &IoSet, index: u32) -> Option<&Queue> {
        set.queues.get(usize::try_from(index).ok()?).map(|q| &**q)
    }

    fn set_tags(hwq: &Queue, tags: Tags) {
        hwq.set_tags(tags);
    }

    fn init_request(_set: &IoSet, rq: &Request) {
        init_pdu(rq);
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
                    let st = set.data.map_data(rq, pdu, &mut c, false);
                    if !st.is_ok() {
                        set.data.release(rq, pdu);
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
                    set.data.release(rq, pdu);
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
        set.data.release(rq, pdu);
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
                set.data.dev,
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
        set.data.release(rq, pdu);
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
            map.map_by_irq_affinity(&set.data.dev, 1);
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
    let pdu: NonNull<IoPdu> = rq.pdu();
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
    let pdu: NonNull<IoPdu> = rq.pdu();
    // SAFETY: the request is started and the controller is disabled, so no completion for it
    // can arrive and nothing else writes its status.
    unsafe { ptr::addr_of_mut!((*pdu.as_ptr()).status).write(HOST_ABORTED.0) };
    rq.complete();
}

/// KUnit tests of the data path on real kernel objects: blk-mq requests with kernel buffers
/// mapped into them, DMA mapping, and PRP and SGL lists in DMA pool pages. A software
/// "controller" reads each command's data pointer the way the device does and checks that it
/// describes exactly the buffer's physical memory, in order. Built with `--cfg rnvme_kunit`.
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
#[kunit_tests(rust_nvme_data_path)]
mod kunit_tests {
    use super::*;
    use crate::glue::{
        block::mq::passthru::PassthruRq,
        testing::{
            phys_addr,
            BareQueue,
            TestDevice, //
        },
        Limits,
        Operations,
        TagSet, //
    };
    use kernel::alloc::{
        allocator::{
            Kmalloc,
            Vmalloc, //
        },
        Allocator,
        KVec,
        Vec, //
    };

    /// Controller page size.
    const PAGE: usize = 1 << CTRL_PAGE_SHIFT;

    /// blk-mq operations of a queue whose requests are built and mapped but never issued.
    struct MapOnly;

    impl Operations for MapOnly {
        type SetData = DataPath;
        type HwQueue = ();
        type Disk = ();
        type DiskAttrs = crate::glue::NoAttrs<()>;

        fn hw_queue(_set: &DataPath, _index: u32) -> Option<&()> {
            Some(&())
        }
        fn set_tags(_hwq: &(), _tags: Tags) {}
        fn init_request(_set: &DataPath, rq: &Request) {
            init_pdu(rq);
        }
        fn queue_rq(_set: &DataPath, _hwq: &(), _d: &(), _rq: &Request, _l: bool) -> BlkStatus {
            BlkStatus::IOERR
        }
        fn commit_rqs(_hwq: &()) {}
        fn complete(_set: &DataPath, _rq: &Request) {}
        fn complete_batched(_set: &DataPath, _rq: &Request) {}
        fn map_queues(_set: &DataPath, maps: &mut QueueMaps<'_>) {
            let mut map = maps.map(MapKind::Default);
            map.set_range(1, 0);
            map.map_evenly();
        }
        fn poll(_set: &DataPath, _hwq: &(), _batch: Option<&mut CompBatch>) -> i32 {
            0
        }
        fn timeout(_set: &DataPath, _hwq: &(), _rq: &Request) -> TimeoutAction {
            TimeoutAction::ResetTimer
        }
    }

    /// A device, a data path with its pool, and a queue of requests to map. Fields drop in
    /// order: the queue, the tag set (and with it the data path and pool), the device.
    struct Fixture {
        queue: BareQueue<MapOnly>,
        data: Arc<DataPath>,
        _set: Arc<Pin<KBox<TagSet<MapOnly>>>>,
        _dev: TestDevice,
    }

    /// A fixture with a device named `name` (one per test: a failed assertion ends the test
    /// without running destructors, so its device stays), whose controller takes SGLs when
    /// `sgl` (from `sgl_threshold` bytes per segment on average, 0: only when forced or PRPs
    /// cannot describe the data).
    fn fixture(name: &'static CStr, sgl: bool, sgl_threshold: u32) -> Result<Fixture> {
        let dev = TestDevice::new(name)?;
        let data = Arc::new(
            DataPath {
                dev: glue::DevRef::new(dev.dev()),
                pool: DmaPool::new(c"rust_nvme_kunit", dev.dev(), PAGE)?,
                sgl,
                sgl_threshold,
            },
            GFP_KERNEL,
        )?;
        let set = Arc::new(
            KBox::pin_init(
                TagSet::<MapOnly>::new(data.clone(), 1, 1, 4, pdu_size(), 30_000),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        let limits = Limits {
            logical_block_size: 512,
            physical_block_size: 512,
            max_hw_sectors: 2048,
            max_segments: MAX_SEGMENTS,
            virt_boundary_mask: if sgl { 0 } else { PAGE as u64 - 1 },
            dma_alignment: 3,
            write_cache: false,
            fua: false,
            max_discard_sectors: 0,
            max_discard_segments: 1,
            discard_granularity: 0,
            max_write_zeroes_sectors: 0,
            atomic_write_max: 0,
            atomic_write_boundary: 0,
        };
        let queue = BareQueue::new(&set, Arc::new((), GFP_KERNEL)?, &limits)?;
        Ok(Fixture {
            queue,
            data,
            _set: set,
            _dev: dev,
        })
    }

    /// Appends `(addr, len)` to `v`, merged into the last range when contiguous with it.
    fn push_range(v: &mut KVec<(u64, u32)>, addr: u64, len: u32) -> Result {
        if let Some(last) = v.last_mut() {
            if last.0 + u64::from(last.1) == addr {
                last.1 += len;
                return Ok(());
            }
        }
        v.push((addr, len), GFP_KERNEL)?;
        Ok(())
    }

    /// The physical ranges of `buf[off..off + len]`, page by page, merged where contiguous.
    fn expected(buf: &[u8], off: usize, len: usize) -> Result<KVec<(u64, u32)>> {
        let mut v = KVec::new();
        let mut pos = off;
        while pos < off + len {
            let n = (PAGE - pos % PAGE).min(off + len - pos);
            // CAST: at most one page.
            push_range(&mut v, phys_addr(buf, pos), n as u32)?;
            pos += n;
        }
        Ok(v)
    }

    /// The CPU address of bus address `dma`, which must lie in one of the request's pool pages.
    fn list_cpu(pdu: &IoPdu, dma: u64) -> Result<*const u8> {
        for b in pdu.bufs.iter().take(usize::from(pdu.nr_bufs)).flatten() {
            if dma >= b.dma && dma < b.dma + PAGE as u64 {
                // CAST: the offset is below one page.
                return Ok(b
                    .cpu
                    .as_ptr()
                    .wrapping_add((dma - b.dma) as usize)
                    .cast_const());
            }
        }
        Err(EINVAL)
    }

    /// Reads `c`'s data pointer for `len` bytes as the controller does (PRP1, PRP2, PRP lists
    /// chained through the last entry of a full page; or SGL Data Block and Last Segment
    /// descriptors) and returns the ranges it describes, merged where contiguous.
    fn decode(c: &Command, len: usize, pdu: &IoPdu) -> Result<KVec<(u64, u32)>> {
        let mut v = KVec::new();
        if u32::from_le(c.cdw0) & sgl::PSDT_SGL != 0 {
            let d = SglDesc::from_dptr(c.prp1, c.prp2);
            let descs: KVec<SglDesc> = match d.id {
                sgl::DATA_BLOCK => {
                    let mut one = KVec::new();
                    one.push(d, GFP_KERNEL)?;
                    one
                }
                sgl::LAST_SEGMENT => {
                    let n = u32::from_le(d.len) as usize / sgl::DESC_SIZE;
                    let p = list_cpu(pdu, u64::from_le(d.addr))?.cast::<SglDesc>();
                    let mut all = KVec::new();
                    for i in 0..n {
                        // SAFETY: the list lies in a pool page of the request, written by
                        // `map_data`; `list_cpu` checked the start, the page holds
                        // `SGL_PER_PAGE` descriptors.
                        all.push(unsafe { p.add(i).read() }, GFP_KERNEL)?;
                    }
                    all
                }
                _ => return Err(EINVAL),
            };
            for d in descs.iter() {
                if d.id != sgl::DATA_BLOCK {
                    return Err(EINVAL);
                }
                push_range(&mut v, u64::from_le(d.addr), u32::from_le(d.len))?;
            }
        } else {
            let prp1 = u64::from_le(c.prp1);
            let first = (PAGE - (prp1 as usize % PAGE)).min(len);
            // CAST: at most one page.
            push_range(&mut v, prp1, first as u32)?;
            let mut left = len - first;
            if left > 0 && left <= PAGE {
                push_range(&mut v, u64::from_le(c.prp2), left as u32)?;
                left = 0;
            }
            let mut list = u64::from_le(c.prp2);
            while left > 0 {
                let page = list_cpu(pdu, list)?.cast::<u64>();
                let slots = (PAGE - list as usize % PAGE) / 8;
                let mut i = 0;
                while left > 0 && i < slots {
                    // SAFETY: slot `i` lies in the pool page `list_cpu` found.
                    let e = u64::from_le(unsafe { page.add(i).read() });
                    if i == slots - 1 && left > PAGE {
                        list = e;
                        break;
                    }
                    if e % PAGE as u64 != 0 {
                        return Err(EINVAL);
                    }
                    let n = left.min(PAGE);
                    push_range(&mut v, e, n as u32)?;
                    left -= n;
                    i += 1;
                }
            }
        }
        Ok(v)
    }

    /// What one mapped request showed: the ranges its command describes, the pool pages it
    /// took, whether it went by SGL and as one segment.
    struct Mapped {
        ranges: KVec<(u64, u32)>,
        want: KVec<(u64, u32)>,
        pool_pages: u8,
        sgl: bool,
        single: bool,
    }

    /// Maps `buf[off..off + len]` into a request on `fx`, describes it with `map_data`,
    /// decodes the command, and releases the request's DMA resources again.
    fn map_one(
        fx: &Fixture,
        buf: &mut [u8],
        off: usize,
        len: usize,
        force_sgl: bool,
    ) -> Result<Mapped> {
        let want = expected(buf, off, len)?;
        let mut rq: PassthruRq<'_> = fx.queue.queue().alloc_passthru(true)?;
        rq.map_kernel(&mut buf[off..off + len])?;
        let r = rq.request();
        // SAFETY: the request is allocated and never issued, so only this function uses its
        // PDU, which `init_request` set up.
        let pdu = unsafe { &mut *r.pdu::<IoPdu>().as_ptr() };
        let mut c = Command::zeroed();
        let st = fx.data.map_data(r, pdu, &mut c, force_sgl);
        let ranges = if st.is_ok() {
            decode(&c, len, pdu)
        } else {
            Err(EIO)
        };
        let pool_pages = pdu.nr_bufs;
        let single = pdu.single.is_some();
        fx.data.release(r, pdu);
        if pdu.nr_bufs != 0 || pdu.mapped || pdu.single.is_some() {
            return Err(EBUSY);
        }
        Ok(Mapped {
            ranges: ranges?,
            want,
            pool_pages,
            sgl: u32::from_le(c.cdw0) & sgl::PSDT_SGL != 0,
            single,
        })
    }

    /// `len` bytes of a byte pattern from allocator `A`: `Kmalloc` for a physically
    /// contiguous buffer, `Vmalloc` for one whose pages come from anywhere in memory.
    fn pattern<A: Allocator>(len: usize) -> Result<Vec<u8, A>> {
        let mut v = Vec::with_capacity(len, GFP_KERNEL)?;
        for i in 0..len {
            // CAST: a byte pattern.
            v.push(i as u8, GFP_KERNEL)?;
        }
        Ok(v)
    }

    #[test]
    fn pdu_layout() -> Result {
        let fx = fixture(c"rust_nvme_kunit_pdu", false, 0)?;
        let rq = fx.queue.queue().alloc_passthru(false)?;
        let pdu = rq.request().pdu::<IoPdu>();
        assert!(pdu.as_ptr().is_aligned());
        assert_eq!(sg_offset() % 8, 0);
        assert!(
            pdu_size() as usize >= sg_offset() + usize::from(INLINE_SEGMENTS) * glue::SG_ENTRY_SIZE
        );
        // SAFETY: the request is allocated and not issued; `init_request` wrote the PDU.
        let p = unsafe { &*pdu.as_ptr() };
        assert!(p.nr_bufs == 0 && !p.mapped && p.single.is_none() && p.sg_heap.is_none());
        Ok(())
    }

    #[test]
    fn one_segment_goes_by_prp1_prp2() -> Result {
        let fx = fixture(c"rust_nvme_kunit_prp1", false, 0)?;
        let mut buf = pattern::<Kmalloc>(3 * PAGE)?;
        for (off, len) in [
            (0, PAGE),
            (512, PAGE),
            (0, 2 * PAGE),
            (4, 512),
            (PAGE - 8, 16),
        ] {
            let m = map_one(&fx, &mut buf, off, len, false)?;
            assert!(m.single);
            assert_eq!(m.pool_pages, 0);
            assert!(!m.sgl);
            assert!(m.ranges[..] == m.want[..]);
        }
        Ok(())
    }

    #[test]
    fn scattered_data_gets_a_prp_list_page() -> Result {
        let fx = fixture(c"rust_nvme_kunit_prpl", false, 0)?;
        let mut buf = pattern::<Vmalloc>(260 * PAGE)?;
        for (off, len) in [
            (0, 16 * PAGE),
            (PAGE, 3 * PAGE),
            (0, 256 * PAGE),
            (1024, 64 * PAGE - 1024),
        ] {
            let m = map_one(&fx, &mut buf, off, len, false)?;
            assert!(!m.sgl);
            assert!(m.ranges[..] == m.want[..]);
            if m.want.len() > 2 {
                assert_eq!(m.pool_pages, 1);
            }
        }
        Ok(())
    }

    #[test]
    fn sgl_when_forced_or_above_the_threshold() -> Result {
        let fx = fixture(c"rust_nvme_kunit_sgl", true, 2 * PAGE as u32)?;
        let mut buf = pattern::<Vmalloc>(66 * PAGE)?;
        for (off, len, force) in [
            (0, PAGE, true),
            (0, 32 * PAGE, true),
            (512, 8 * PAGE, true),
            (0, 64 * PAGE, false),
        ] {
            let m = map_one(&fx, &mut buf, off, len, force)?;
            assert!(m.ranges[..] == m.want[..]);
            // Unforced, the choice follows the average segment: physically contiguous runs
            // of vmalloc pages merge into one segment each (no virtual boundary with SGLs).
            // CAST: at most 256 ranges.
            let by_size = sgl::prefer_sgl(len as u64, m.want.len() as u32, 2 * PAGE as u32);
            assert_eq!(m.sgl, force || by_size);
        }
        Ok(())
    }

    #[test]
    fn sgl_from_the_threshold() -> Result {
        let fx = fixture(c"rust_nvme_kunit_sglt", true, PAGE as u32)?;
        let mut buf = pattern::<Vmalloc>(10 * PAGE)?;
        let m = map_one(&fx, &mut buf, 0, 8 * PAGE, false)?;
        assert!(m.sgl);
        assert!(m.ranges[..] == m.want[..]);
        assert_eq!(m.pool_pages, u8::from(m.want.len() > 1));
        Ok(())
    }

    #[test]
    fn pool_pages_are_page_aligned_and_direct() -> Result {
        let fx = fixture(c"rust_nvme_kunit_pool", false, 0)?;
        let mut bufs = KVec::new();
        for _ in 0..64 {
            let Some(b) = fx.data.pool.alloc_atomic() else {
                break;
            };
            bufs.push(b, GFP_KERNEL)?;
        }
        let n = bufs.len();
        let mut ok = n == 64;
        for (i, b) in bufs.iter().enumerate() {
            // SAFETY: a live pool page of `PAGE` bytes.
            let page = unsafe { core::slice::from_raw_parts(b.cpu.as_ptr(), PAGE) };
            ok &= b.dma % PAGE as u64 == 0 && b.cpu.as_ptr() as usize % PAGE == 0;
            // No IOMMU: the bus address is the physical address.
            ok &= phys_addr(page, 0) == b.dma;
            ok &= bufs.iter().skip(i + 1).all(|o| o.dma != b.dma);
        }
        for b in bufs.drain_all() {
            // SAFETY: taken from this pool above and not used after.
            unsafe { fx.data.pool.free(b) };
        }
        assert!(ok);
        Ok(())
    }
}
