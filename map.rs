// SPDX-License-Identifier: GPL-2.0

//! The data side of an I/O: the request's data DMA-mapped (one segment directly, more through a
//! scatterlist) and described to the controller by PRPs (with list pages from a DMA pool) or an
//! SGL, as the C driver's `nvme_map_data`; what a request holds is given back at completion
//! ([`DataPath::release`]).

use crate::{
    glue::{
        self,
        BlkStatus,
        DmaPool,
        DmaSeg,
        Operations,
        PoolBuf,
        Request,
        Single,
        SingleMap,
        VecMapped, //
    },
    iod::{
        IodOwned,
        ListBufs,
        MAX_LIST_PAGES,
        MAX_SEGMENTS, //
    },
    nvme::{
        cmd::Command,
        prp::{
            self,
            ListPage,
            PrpError,
            Seg, //
        },
        regs::CTRL_PAGE_SHIFT,
        sgl::{
            self,
            SglDesc, //
        },
    },
};

/// PRP entries in one list page (one controller page).
const PRP_PER_PAGE: usize = 1 << (CTRL_PAGE_SHIFT - 3);
/// SGL descriptors in one list page; at least `MAX_SEGMENTS`, so one page always does.
const SGL_PER_PAGE: usize = sgl::descs_per_page(CTRL_PAGE_SHIFT);
const _: () = assert!(SGL_PER_PAGE >= MAX_SEGMENTS as usize);

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
    /// Scattered data is mapped one bio vector at a time ([`glue::VecMap`]), not through a
    /// scatterlist: the device's mappings are direct ([`glue::dma_map_is_direct`] at bind).
    pub(crate) per_vector: bool,
}

impl DataPath {
    /// Returns the request's DMA resources (mapping, pool buffers).
    pub(crate) fn release(&self, iod: &mut IodOwned) {
        if iod.meta.nr_segments() != 0 {
            iod.meta.unmap(&self.dev, true);
        }
        if let Some(m) = iod.single.take() {
            // A one-segment mapping is all such a request holds (see `map_data`).
            m.unmap(&self.dev);
            return;
        }
        self.release_scattered(iod);
    }

    /// [`DataPath::release`] for everything but a one-segment mapping: out of line, so that
    /// the completion of small I/O does not carry it.
    #[inline(never)]
    fn release_scattered(&self, iod: &mut IodOwned) {
        while let Some(b) = iod.bufs.pop() {
            // SAFETY: `b` was taken from this pool for this request, and the device is done
            // with it (the command completed or was never submitted).
            unsafe { self.pool.free(b) };
        }
        if iod.vec.nr_segments() != 0 {
            iod.vec.unmap(&self.dev, iod.unmap_data);
        }
        iod.sg.unmap(&self.dev, iod.unmap_data);
    }

    /// Maps the request's metadata buffer (its integrity payload) and points `c`'s MPTR at
    /// it. The disk's limits allow one segment, which must hold exactly `len` bytes: the
    /// controller moves the metadata of every block through the one pointer, unchecked, so a
    /// shorter buffer would let it write past the end (C maps the first segment, unchecked).
    pub(crate) fn map_meta<T: Operations>(
        &self,
        rq: &Request<T>,
        iod: &mut IodOwned,
        c: &mut Command,
        len: u32,
    ) -> BlkStatus {
        if rq.nr_integrity_segments() != 1 {
            return BlkStatus::IOERR;
        }
        if !iod.meta.map_integrity(&self.dev, rq) {
            return BlkStatus::RESOURCE;
        }
        let seg = iod.meta.segments().next();
        match seg {
            Some(seg) if iod.meta.nr_segments() == 1 && seg.len == len => {
                c.mptr = seg.addr.to_le();
                BlkStatus::OK
            }
            _ => {
                iod.meta.unmap(&self.dev, true);
                BlkStatus::IOERR
            }
        }
    }

    /// Takes a pool buffer for the request; `None` when memory is short or the request holds
    /// as many as it may.
    pub(crate) fn take_buf(&self, bufs: &mut ListBufs) -> Option<PoolBuf> {
        bufs.take(|| self.pool.alloc_atomic())
    }

    /// Maps the request's data and fills in the data pointer of `c`: PRP1/PRP2 (and PRP
    /// lists), or an SGL when the controller takes them and the segments are large on average,
    /// PRPs cannot describe them, or `force_sgl` (user commands, so that the controller checks
    /// their lengths). Inlined into `queue_rq`, the hot path (the other user is the cold
    /// passthrough setup).
    #[inline(always)]
    pub(crate) fn map_data<T: Operations>(
        &self,
        rq: &Request<T>,
        iod: &mut IodOwned,
        c: &mut Command,
        force_sgl: bool,
    ) -> BlkStatus {
        let force_sgl = force_sgl && self.sgl;
        // Most I/O is one segment within two controller pages: PRP1 and PRP2 point straight at
        // it, with no scatterlist and no list page.
        match SingleMap::map(&self.dev, rq, 2 << CTRL_PAGE_SHIFT) {
            Single::Mapped(m) => {
                let seg = Seg::new(m.addr, m.len);
                iod.single = Some(m);
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
        self.map_scattered(rq, iod, c, force_sgl)
    }

    /// [`DataPath::map_data`] for data that is not one segment within two controller pages:
    /// out of line, so that the small I/O of `queue_rq` does not carry it.
    #[inline(never)]
    fn map_scattered<T: Operations>(
        &self,
        rq: &Request<T>,
        iod: &mut IodOwned,
        c: &mut Command,
        force_sgl: bool,
    ) -> BlkStatus {
        // Where the device's mappings are direct (no IOMMU, no bounce buffers), the bio vectors
        // are mapped one by one and recorded; otherwise through a scatterlist.
        match self.per_vector.then(|| iod.vec.map(&self.dev, rq)) {
            Some(VecMapped::Mapped) => {
                // As the C driver does for scattered data: where the mapping needs no unmapping
                // (no IOMMU, no bounce buffers, no cache maintenance), completion skips it.
                iod.unmap_data = glue::dma_need_unmap(&self.dev);
                let segs = iod.vec.segments().iter().map(|s| Seg::new(s.addr, s.len));
                return self.describe(rq, segs, iod.vec.nr_segments(), &mut iod.bufs, c, force_sgl);
            }
            Some(VecMapped::Failed) => return BlkStatus::RESOURCE,
            Some(VecMapped::Unsuitable) | None => {}
        }
        if !iod.sg.map(&self.dev, rq) {
            return BlkStatus::RESOURCE;
        }
        iod.unmap_data = glue::dma_need_unmap(&self.dev);
        let segs = iod
            .sg
            .segments()
            .map(|DmaSeg { addr, len }| Seg::new(addr, len));
        self.describe(rq, segs, iod.sg.nr_segments(), &mut iod.bufs, c, force_sgl)
    }

    /// Fills in the data pointer of `c` for the `n` mapped segments `segs`: an SGL when forced
    /// or preferred, else PRPs (an SGL after all where PRPs cannot describe them).
    #[inline(always)]
    fn describe<T: Operations, I>(
        &self,
        rq: &Request<T>,
        segs: I,
        n: u32,
        bufs: &mut ListBufs,
        c: &mut Command,
        force_sgl: bool,
    ) -> BlkStatus
    where
        I: Iterator<Item = Seg> + Clone,
    {
        if force_sgl || (self.sgl && sgl::prefer_sgl(u64::from(rq.bytes()), n, self.sgl_threshold))
        {
            return self.fill_sgl(segs, n, bufs, c);
        }
        // Three or more segments make three or more PRP entries, so a list is needed, and one
        // list page holds any transfer up to 2 MiB: validate and write it in one pass. Fewer
        // segments, or a longer transfer, are planned first.
        let one_page = if n >= 3 {
            self.fill_one_list_page(segs.clone(), bufs, c)
        } else {
            None
        };
        let status = match one_page {
            Some(st) => st,
            None => self.plan_and_fill(segs.clone(), bufs, c),
        };
        // Segments that PRPs cannot describe (a gap inside a controller page: the queue has no
        // virtual boundary when the controller takes SGLs) go by SGL.
        if status == BlkStatus::IOERR && self.sgl {
            self.fill_sgl(segs, n, bufs, c)
        } else {
            status
        }
    }

    /// Describes the `n` mapped segments `segs` with an SGL: one Data Block descriptor in the
    /// command, or a list of them in one pool page.
    fn fill_sgl<I>(&self, mut segs: I, n: u32, bufs: &mut ListBufs, c: &mut Command) -> BlkStatus
    where
        I: Iterator<Item = Seg>,
    {
        if n == 1 {
            return match segs.next() {
                Some(seg) => {
                    c.set_sgl(&SglDesc::data_block(seg.addr, seg.len));
                    BlkStatus::OK
                }
                None => BlkStatus::IOERR,
            };
        }
        let Some(b) = self.take_buf(bufs) else {
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
    fn plan_and_fill<I>(&self, segs: I, bufs: &mut ListBufs, c: &mut Command) -> BlkStatus
    where
        I: Iterator<Item = Seg> + Clone,
    {
        match prp::plan(segs.clone(), CTRL_PAGE_SHIFT) {
            Err(_) => BlkStatus::IOERR,
            Ok(plan) if plan.list_pages > MAX_LIST_PAGES => BlkStatus::IOERR,
            Ok(plan) if !plan.needs_list() => {
                c.set_prp(plan.prp1, plan.prp2.unwrap_or(0));
                BlkStatus::OK
            }
            Ok(plan) => self.fill_prp_lists(segs, plan.list_pages, bufs, c),
        }
    }

    /// Validates the mapped data and writes its PRP list into one list page; `None` when the
    /// list does not fit in one page (nothing is kept then).
    fn fill_one_list_page<I>(
        &self,
        segs: I,
        bufs: &mut ListBufs,
        c: &mut Command,
    ) -> Option<BlkStatus>
    where
        I: Iterator<Item = Seg>,
    {
        let Some(b) = self.take_buf(bufs) else {
            return Some(BlkStatus::RESOURCE);
        };
        // SAFETY: the buffer is a fresh, page-sized, page-aligned pool buffer that only this
        // request uses; the device reads it only after the doorbell write.
        let entries =
            unsafe { core::slice::from_raw_parts_mut(b.cpu.as_ptr().cast::<u64>(), PRP_PER_PAGE) };
        match prp::fill_one_list(segs, CTRL_PAGE_SHIFT, entries) {
            Ok(prp1) => {
                c.set_prp(prp1, b.dma);
                Some(BlkStatus::OK)
            }
            Err(PrpError::ListPageCount) => {
                if let Some(b) = bufs.pop() {
                    // SAFETY: `b` was taken from this pool for this request just above and was
                    // never handed to the device.
                    unsafe { self.pool.free(b) };
                }
                None
            }
            Err(_) => Some(BlkStatus::IOERR),
        }
    }

    /// Takes `nr` PRP list pages and writes the PRP lists for the mapped data.
    fn fill_prp_lists<I>(
        &self,
        segs: I,
        nr: usize,
        bufs: &mut ListBufs,
        c: &mut Command,
    ) -> BlkStatus
    where
        I: Iterator<Item = Seg>,
    {
        if nr == 1 {
            // One list page: written in place, no chaining.
            return self
                .fill_one_list_page(segs, bufs, c)
                .unwrap_or(BlkStatus::IOERR);
        }
        let mut list: [ListPage<'_>; MAX_LIST_PAGES] = core::array::from_fn(|_| ListPage {
            dma: 0,
            entries: &mut [],
        });
        for page in list.iter_mut().take(nr) {
            let Some(b) = self.take_buf(bufs) else {
                return BlkStatus::RESOURCE;
            };
            // SAFETY: the buffer is a fresh, page-sized, page-aligned pool buffer that only this
            // request uses; the device reads it only after the doorbell write.
            let entries = unsafe {
                core::slice::from_raw_parts_mut(b.cpu.as_ptr().cast::<u64>(), PRP_PER_PAGE)
            };
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

#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
use kernel::prelude::kunit_tests;

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
        CompBatch,
        Limits,
        MapKind,
        OwnedRequest,
        QueueMaps,
        TagSet,
        Tags,
        TimeoutAction, //
    };
    use crate::iod::Iod;
    use kernel::alloc::{
        allocator::{
            Kmalloc,
            Vmalloc, //
        },
        Allocator,
        KVec,
        Vec, //
    };
    use kernel::{
        prelude::*,
        str::CStr,
        sync::Arc, //
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
        type RequestData = Iod;
        type RequestOwned = IodOwned;

        fn hw_queue(_set: &DataPath, _index: u32) -> Option<&()> {
            Some(&())
        }
        fn set_tags(_hwq: &(), _tags: Tags) {}
        fn init_request(_set: &DataPath) -> impl PinInit<Iod> {
            Iod::new()
        }
        fn init_request_owned(_set: &DataPath) -> impl PinInit<IodOwned> {
            IodOwned::new()
        }
        fn queue_rq(
            _set: &DataPath,
            _hwq: &(),
            _d: &(),
            _rq: OwnedRequest<'_, Self>,
            _l: bool,
        ) -> BlkStatus {
            BlkStatus::IOERR
        }
        fn commit_rqs(_hwq: &()) {}
        fn complete(_set: &DataPath, _rq: OwnedRequest<'_, Self>) {}
        fn complete_batched(_set: &DataPath, _rq: &mut OwnedRequest<'_, Self>) {}
        fn map_queues(_set: &DataPath, maps: &mut QueueMaps<'_>) {
            let mut map = maps.map(MapKind::Default);
            map.set_range(1, 0);
            map.map_evenly();
        }
        fn poll(_set: &DataPath, _hwq: &(), _batch: Option<&mut CompBatch>) -> i32 {
            0
        }
        fn timeout(_set: &DataPath, _hwq: &(), _rq: &Request<Self>) -> TimeoutAction {
            TimeoutAction::ResetTimer
        }
    }

    /// A device, two data paths with their pools (`data` maps scattered data through a
    /// scatterlist, `per_vector` one bio vector at a time), and a queue of requests to map.
    /// Fields drop in order: the queue, the tag set (and with it the first data path), the
    /// second data path, the device.
    struct Fixture {
        queue: BareQueue<MapOnly>,
        data: Arc<DataPath>,
        _set: Arc<Pin<KBox<TagSet<MapOnly>>>>,
        per_vector: DataPath,
        _dev: TestDevice,
    }

    impl Fixture {
        /// Both data paths: through a scatterlist, then one bio vector at a time.
        fn paths(&self) -> [&DataPath; 2] {
            [&self.data, &self.per_vector]
        }
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
                per_vector: false,
            },
            GFP_KERNEL,
        )?;
        let per_vector = DataPath {
            dev: glue::DevRef::new(dev.dev()),
            pool: DmaPool::new(c"rust_nvme_kunit_vec", dev.dev(), PAGE)?,
            sgl,
            sgl_threshold,
            per_vector: true,
        };
        let set = Arc::new(
            KBox::pin_init(
                TagSet::<MapOnly>::new(data.clone(), 1, 1, 4, 30_000),
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
            max_discard_segments: 1,
            ..Limits::default()
        };
        let queue = BareQueue::new(&set, Arc::new((), GFP_KERNEL)?, &limits)?;
        Ok(Fixture {
            queue,
            data,
            _set: set,
            per_vector,
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
    fn list_cpu(iod: &IodOwned, dma: u64) -> Result<*const u8> {
        for b in iod.bufs.iter() {
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
    fn decode(c: &Command, len: usize, iod: &IodOwned) -> Result<KVec<(u64, u32)>> {
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
                    let p = list_cpu(iod, u64::from_le(d.addr))?.cast::<SglDesc>();
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
                let page = list_cpu(iod, list)?.cast::<u64>();
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
        data: &DataPath,
        buf: &mut [u8],
        off: usize,
        len: usize,
        force_sgl: bool,
    ) -> Result<Mapped> {
        let want = expected(buf, off, len)?;
        let mut rq: PassthruRq<'_, MapOnly> = fx.queue.queue().alloc_passthru(true)?;
        rq.map_kernel(&mut buf[off..off + len])?;
        let (r, iod) = rq.parts();
        let mut c = Command::zeroed();
        let st = data.map_data(r, iod, &mut c, force_sgl);
        let ranges = if st.is_ok() {
            decode(&c, len, iod)
        } else {
            Err(EIO)
        };
        let pool_pages = iod.bufs.len();
        let single = iod.single.is_some();
        // Scattered data went the data path's own way.
        let by_vector = iod.vec.nr_segments() != 0;
        if st.is_ok() && !single && by_vector != data.per_vector {
            return Err(EXDEV);
        }
        data.release(iod);
        if iod.bufs.len() != 0
            || iod.sg.nr_segments() != 0
            || iod.vec.nr_segments() != 0
            || iod.single.is_some()
        {
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
    fn request_data_starts_idle() -> Result {
        let fx = fixture(c"rust_nvme_kunit_pdu", false, 0)?;
        let mut rq: PassthruRq<'_, MapOnly> = fx.queue.queue().alloc_passthru(false)?;
        let (r, iod) = rq.parts();
        assert!(r.data().status().is_success() && r.data().result() == 0);
        assert!(iod.bufs.len() == 0 && iod.single.is_none() && iod.sg.nr_segments() == 0);
        assert!(iod.retries == 0 && iod.pt_cmd.is_none());
        Ok(())
    }

    #[test]
    fn one_segment_goes_by_prp1_prp2() -> Result {
        let fx = fixture(c"rust_nvme_kunit_prp1", false, 0)?;
        let mut buf = pattern::<Kmalloc>(3 * PAGE)?;
        for (data, (off, len)) in fx.paths().into_iter().flat_map(|d| {
            [
                (0, PAGE),
                (512, PAGE),
                (0, 2 * PAGE),
                (4, 512),
                (PAGE - 8, 16),
            ]
            .map(|x| (d, x))
        }) {
            let m = map_one(&fx, data, &mut buf, off, len, false)?;
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
        for (data, (off, len)) in fx.paths().into_iter().flat_map(|d| {
            [
                (0, 16 * PAGE),
                (PAGE, 3 * PAGE),
                (0, 256 * PAGE),
                (1024, 64 * PAGE - 1024),
                (8, 32 * PAGE),
            ]
            .map(|x| (d, x))
        }) {
            let m = map_one(&fx, data, &mut buf, off, len, false)?;
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
        for (data, (off, len, force)) in fx.paths().into_iter().flat_map(|d| {
            [
                (0, PAGE, true),
                (0, 32 * PAGE, true),
                (512, 8 * PAGE, true),
                (0, 64 * PAGE, false),
            ]
            .map(|x| (d, x))
        }) {
            let m = map_one(&fx, data, &mut buf, off, len, force)?;
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
        for data in fx.paths() {
            let m = map_one(&fx, data, &mut buf, 0, 8 * PAGE, false)?;
            assert!(m.sgl);
            assert!(m.ranges[..] == m.want[..]);
            assert_eq!(m.pool_pages, u8::from(m.want.len() > 1));
        }
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
