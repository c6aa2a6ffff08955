// SPDX-License-Identifier: GPL-2.0

//! A blk-mq tag set (`struct blk_mq_tag_set`) with the callbacks of an [`Operations`],
//! tag-to-request lookup, queue maps, and the recovery handle (quiesce, cancel, wait).
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::glue::{
    block::mq::{
        comp_batch::{
            rq_list_add_tail,
            rq_list_pop,
            CompBatch, //
        },
        operations::{
            Operations,
            TimeoutAction, //
        },
        request::{
            OwnedRequest,
            Pdu,
            Request, //
        },
    },
    block::status::BlkStatus,
    device::raw_dev, //
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr,
    sync::atomic::{
        AtomicPtr,
        AtomicU32,
        Ordering, //
    },
};
use kernel::{
    bindings,
    device,
    error::to_result,
    prelude::*,
    sync::Arc,
    types::Opaque, //
};

/// The tag array of one hardware context, to find a request by its tag.
#[derive(Clone, Copy)]
pub(crate) struct Tags(*mut bindings::blk_mq_tags);

// SAFETY: the tag array lives as long as the tag set; lookups are lock-free reads.
unsafe impl Send for Tags {}
// SAFETY: as above.
unsafe impl Sync for Tags {}

impl Tags {
    /// Finds the request with `tag` (`blk_mq_tag_to_rq()`).
    ///
    /// # Safety
    ///
    /// The tag set must still be allocated and be one created by [`TagSet::new`] for `T`, and no
    /// I/O scheduler of its queues may be freed while the reference lives: a tag that was ever
    /// started points to a request the tag set (or the scheduler) allocated up front and frees
    /// only with it. The request found may be idle or on another issue: the caller checks.
    pub(crate) unsafe fn request<'a, T: Operations>(self, tag: u16) -> Option<&'a Request<T>> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: `self.0` is a live tag array (function safety requirements).
        let tags = unsafe { &*self.0 };
        if u32::from(tag) >= tags.nr_tags {
            return None;
        }
        // SAFETY: `tag < nr_tags`, so the slot is inside `rqs`.
        let rq = unsafe { *tags.rqs.add(usize::from(tag)) };
        if rq.is_null() {
            return None;
        }
        // SAFETY: a request of a tag set of `T`, allocated while the reference lives (function
        // safety requirements).
        Some(unsafe { Request::from_raw(rq) })
    }
}

/// Where a hardware queue keeps its [`Tags`] once blk-mq has set them up: written by
/// `init_hctx` (again for every context when the tag set is resized, whose tag arrays may then
/// be new), read by every completion, so a plain atomic pointer rather than a lock.
pub(crate) struct TagsCell(AtomicPtr<bindings::blk_mq_tags>);

impl TagsCell {
    /// A cell that holds no tag array yet.
    pub(crate) const fn new() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }

    /// Records `tags`. Every disk of the set has the same array for a given hardware queue
    /// (so a call for another disk's context stores the same value), and a resize hands each
    /// context the array it has from then on: the latest call is right.
    pub(crate) fn set(&self, tags: Tags) {
        self.0.store(tags.0, Ordering::Release);
    }

    /// Forgets the tag array (a hardware queue the tag set no longer has: blk-mq freed its
    /// array), so that a stray completion finds nothing.
    pub(crate) fn clear(&self) {
        self.0.store(ptr::null_mut(), Ordering::Release);
    }

    /// The tag array; one that finds nothing before blk-mq has set it.
    pub(crate) fn get(&self) -> Tags {
        Tags(self.0.load(Ordering::Acquire))
    }
}

/// The kinds of hardware queue a tag set may have (`enum hctx_type`).
#[derive(Clone, Copy)]
pub(crate) enum MapKind {
    /// Interrupt-driven queues for all I/O not mapped elsewhere.
    Default,
    /// Queues for reads only (unused by this driver: zero queues).
    Read,
    /// Polled queues, without interrupts.
    Poll,
}

/// The CPU to hardware queue maps of a tag set, given to [`Operations::map_queues`].
pub(crate) struct QueueMaps<'a> {
    set: *mut bindings::blk_mq_tag_set,
    _p: PhantomData<&'a mut ()>,
}

impl QueueMaps<'_> {
    /// Number of maps the tag set has.
    pub(crate) fn count(&self) -> u32 {
        // SAFETY: `set` is valid during `map_queues`.
        unsafe { (*self.set).nr_maps }
    }

    /// The map of one kind of queue.
    pub(crate) fn map(&mut self, kind: MapKind) -> QueueMap<'_> {
        let index = match kind {
            MapKind::Default => bindings::hctx_type_HCTX_TYPE_DEFAULT,
            MapKind::Read => bindings::hctx_type_HCTX_TYPE_READ,
            MapKind::Poll => bindings::hctx_type_HCTX_TYPE_POLL,
        };
        QueueMap {
            // SAFETY: `set` is valid during `map_queues`; `index` is below `HCTX_MAX_TYPES`.
            map: unsafe { ptr::addr_of_mut!((*self.set).map[index as usize]) },
            _p: PhantomData,
        }
    }
}

/// One CPU to hardware queue map of a tag set.
pub(crate) struct QueueMap<'a> {
    map: *mut bindings::blk_mq_queue_map,
    _p: PhantomData<&'a mut ()>,
}

impl QueueMap<'_> {
    /// Gives the map `nr` hardware queues starting at hardware queue `offset`.
    pub(crate) fn set_range(&mut self, nr: u32, offset: u32) {
        // SAFETY: `map` is one of the set's maps, valid during `map_queues`.
        unsafe {
            (*self.map).nr_queues = nr;
            (*self.map).queue_offset = offset;
        }
    }

    /// Follows the affinity of the device's interrupt vectors, skipping `offset` vectors that
    /// serve no hardware queue (`blk_mq_map_hw_queues()`).
    pub(crate) fn map_by_irq_affinity(&mut self, dev: &device::Device, offset: u32) {
        // SAFETY: `map` is valid in `map_queues`; `dev` is live.
        unsafe { bindings::blk_mq_map_hw_queues(self.map, raw_dev(dev), offset) };
    }

    /// Records each CPU's hardware queue, relative to the map's first (`mq_map[cpu] -
    /// queue_offset`), in `out` (indexed by CPU id; a shorter `out` gets its CPUs only).
    pub(crate) fn read_cpus(&self, out: &[AtomicU32]) {
        let n = (kernel::cpu::nr_cpu_ids() as usize).min(out.len());
        // SAFETY: `map` is valid in `map_queues`; `mq_map` has `nr_cpu_ids` entries.
        unsafe {
            let m = &*self.map;
            for (cpu, q) in out.iter().enumerate().take(n) {
                q.store(
                    (*m.mq_map.add(cpu)).wrapping_sub(m.queue_offset),
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// Sets each CPU's hardware queue from `cpus` (as [`Self::read_cpus`] records them):
    /// queue `cpus[cpu]` of the map, or its first where that is not below its number of
    /// queues. Allocates nothing and takes no lock.
    pub(crate) fn write_cpus(&mut self, cpus: &[AtomicU32]) {
        let n = (kernel::cpu::nr_cpu_ids() as usize).min(cpus.len());
        // SAFETY: `map` is valid in `map_queues`; `mq_map` has `nr_cpu_ids` entries.
        unsafe {
            let m = &mut *self.map;
            for (cpu, q) in cpus.iter().enumerate().take(n) {
                let q = q.load(Ordering::Relaxed);
                let q = if q < m.nr_queues { q } else { 0 };
                *m.mq_map.add(cpu) = m.queue_offset + q;
            }
        }
    }

    /// Spreads CPUs over the map's hardware queues evenly (`blk_mq_map_queues()`).
    pub(crate) fn map_evenly(&mut self) {
        // SAFETY: `map` is valid in `map_queues`.
        unsafe { bindings::blk_mq_map_queues(self.map) };
    }
}

/// A blk-mq tag set shared by all disks of a controller.
///
/// # Invariants
///
/// `inner` is an allocated tag set (`blk_mq_alloc_tag_set` succeeded) whose `driver_data`
/// points to `data`, freed in `Drop` after all disks using it have been removed (disks hold an
/// `Arc` of the tag set).
#[pin_data(PinnedDrop)]
pub(crate) struct TagSet<T: Operations> {
    #[pin]
    inner: Opaque<bindings::blk_mq_tag_set>,
    data: Arc<T::SetData>,
}

// SAFETY: the tag set is internally synchronised by blk-mq.
unsafe impl<T: Operations> Send for TagSet<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for TagSet<T> {}

impl<T: Operations> TagSet<T> {
    const OPS: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq_callback),
        commit_rqs: Some(Self::commit_rqs_callback),
        queue_rqs: Some(Self::queue_rqs_callback),
        get_budget: None,
        put_budget: None,
        set_rq_budget_token: None,
        get_rq_budget_token: None,
        timeout: Some(Self::timeout_callback),
        poll: Some(Self::poll_callback),
        complete: Some(Self::complete_callback),
        init_hctx: Some(Self::init_hctx_callback),
        exit_hctx: None,
        init_request: Some(Self::init_request_callback),
        exit_request: Some(Self::exit_request_callback),
        cleanup_rq: None,
        busy: None,
        map_queues: Some(Self::map_queues_callback),
        #[cfg(CONFIG_BLK_DEBUG_FS)]
        show_rq: None,
    };

    /// Bytes of per-request data: a [`Pdu`] of `T`.
    const CMD_SIZE: u32 = {
        // blk-mq places the data right after the request (`rq + 1`): it can only be as aligned
        // as the request.
        assert!(core::mem::align_of::<Pdu<T>>() <= core::mem::align_of::<bindings::request>());
        assert!(core::mem::size_of::<Pdu<T>>() <= 1 << 16);
        // CAST: at most 64 KiB, asserted above.
        core::mem::size_of::<Pdu<T>>() as u32
    };

    /// Allocates a tag set of `nr_hw_queues` queues of `queue_depth` tags, each request with a
    /// [`Pdu`] of `T`, and a request timeout of `timeout_ms`; with `nr_maps` of 3 it has
    /// default, read and poll maps (filled in by [`Operations::map_queues`]).
    pub(crate) fn new(
        data: Arc<T::SetData>,
        nr_maps: u32,
        nr_hw_queues: u32,
        queue_depth: u32,
        timeout_ms: u32,
    ) -> impl PinInit<Self, Error> {
        let cmd_size = Self::CMD_SIZE;
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(|set: *mut bindings::blk_mq_tag_set| {
                // SAFETY: plain arithmetic on an integer.
                let timeout = unsafe { bindings::__msecs_to_jiffies(timeout_ms) };
                // SAFETY: `set` is valid for writes; it is zeroed and then filled in before
                // `blk_mq_alloc_tag_set` reads it. `data` outlives the tag set (it is a field
                // of `Self`, dropped after `PinnedDrop` frees the set).
                unsafe {
                    set.write(pin_init::zeroed());
                    (*set).ops = &Self::OPS;
                    (*set).nr_hw_queues = nr_hw_queues;
                    (*set).queue_depth = queue_depth;
                    (*set).cmd_size = cmd_size;
                    (*set).numa_node = bindings::NUMA_NO_NODE;
                    // CAST: a jiffies count of a timeout in milliseconds fits in 32 bits.
                    (*set).timeout = timeout as u32;
                    (*set).nr_maps = nr_maps;
                    (*set).driver_data = Arc::as_ptr(&data).cast_mut().cast();
                    to_result(bindings::blk_mq_alloc_tag_set(set))
                }
            }),
            data: data.clone(),
        })
    }

    pub(in crate::glue) fn as_raw(&self) -> *mut bindings::blk_mq_tag_set {
        self.inner.get()
    }

    /// # Safety
    ///
    /// `set` must be a tag set created by [`TagSet::new`] for `T`.
    unsafe fn set_data<'a>(set: *mut bindings::blk_mq_tag_set) -> &'a T::SetData {
        // SAFETY: `driver_data` points to the `T::SetData` that lives as long as the set.
        unsafe { &*(*set).driver_data.cast::<T::SetData>() }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a tag set created by [`TagSet::new`] for `T`.
    unsafe extern "C" fn queue_rq_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        bd: *const bindings::blk_mq_queue_data,
    ) -> bindings::blk_status_t {
        // SAFETY: blk-mq passes a live hardware context whose `driver_data` was set in
        // `init_hctx` to a `T::HwQueue` that lives as long as the tag set, and a live queue whose
        // `queuedata` is the disk's `T::Disk` (set in `Disk::new`, freed after `del_gendisk`).
        let (set, hwq, disk, rq, last) = unsafe {
            (
                Self::set_data((*(*hctx).queue).tag_set),
                &*(*hctx).driver_data.cast::<T::HwQueue>(),
                &*(*(*hctx).queue).queuedata.cast::<T::Disk>(),
                Request::<T>::from_raw((*bd).rq),
                (*bd).last,
            )
        };
        Self::issue(set, hwq, disk, rq, last).0
    }

    /// Hands `rq` to [`Operations::queue_rq`], which owns it for the call.
    fn issue(
        set: &T::SetData,
        hwq: &T::HwQueue,
        disk: &T::Disk,
        rq: &Request<T>,
        last: bool,
    ) -> BlkStatus {
        // SAFETY: blk-mq gives the driver a request it dispatches alone: it is idle (not
        // started, or back from a completion that requeued it).
        let owned = unsafe { OwnedRequest::new(rq) };
        let status = T::queue_rq(set, hwq, disk, owned, last);
        if !status.is_ok() {
            rq.not_issued();
        }
        status
    }

    /// Issues a plugged list of requests (`queue_rqs`): each through [`Operations::queue_rq`]
    /// as not the last of its batch, with one [`Operations::commit_rqs`] per run of requests
    /// for the same hardware queue. Requests the driver could not issue stay on the list, and
    /// blk-mq then issues them one by one.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only, with a list of requests of queues of this tag set whose
    /// hardware contexts were set up by `init_hctx`.
    unsafe extern "C" fn queue_rqs_callback(rqlist: *mut bindings::rq_list) {
        let mut left = bindings::rq_list {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
        };
        let mut prev: Option<&T::HwQueue> = None;
        loop {
            // SAFETY: `rqlist` is blk-mq's list of requests, ours for the call.
            let rq = unsafe { rq_list_pop(rqlist) };
            if rq.is_null() {
                break;
            }
            // SAFETY: as in `queue_rq_callback`, for the request's own hardware context and
            // queue, which blk-mq set up before putting the request on the list.
            let (set, hwq, disk, request) = unsafe {
                let hctx = (*rq).mq_hctx;
                (
                    Self::set_data((*(*hctx).queue).tag_set),
                    &*(*hctx).driver_data.cast::<T::HwQueue>(),
                    &*(*(*hctx).queue).queuedata.cast::<T::Disk>(),
                    Request::<T>::from_raw(rq),
                )
            };
            if let Some(p) = prev {
                if !ptr::eq(p, hwq) {
                    T::commit_rqs(p);
                }
            }
            prev = Some(hwq);
            if !Self::issue(set, hwq, disk, request, false).is_ok() {
                // SAFETY: `left` is our list; the request was not issued, so it is still
                // blk-mq's, off any other list, and its link is free.
                unsafe { rq_list_add_tail(&raw mut left, rq) };
            }
        }
        if let Some(p) = prev {
            T::commit_rqs(p);
        }
        // SAFETY: as above; what is left goes back to blk-mq.
        unsafe { *rqlist = left };
    }

    /// # Safety
    ///
    /// Called by blk-mq only, with a context set up by `init_hctx`.
    unsafe extern "C" fn commit_rqs_callback(hctx: *mut bindings::blk_mq_hw_ctx) {
        // SAFETY: as in `queue_rq_callback`.
        let hwq = unsafe { &*(*hctx).driver_data.cast::<T::HwQueue>() };
        T::commit_rqs(hwq);
    }

    /// # Safety
    ///
    /// Called by blk-mq only (or by [`super::comp_batch::complete_request`] in its place), for
    /// a request whose completion [`Request::take_completion`] let through.
    pub(in crate::glue) unsafe extern "C" fn complete_callback(rq: *mut bindings::request) {
        // SAFETY: `rq` is a live request of a queue of this tag set; `q->tag_set` leads back to
        // the set whose data outlives its requests. Its one completion was let through.
        let (rq, data) = unsafe {
            let set = (*(*rq).q).tag_set;
            (Request::<T>::completing(rq), Self::set_data(set))
        };
        T::complete(data, rq);
    }

    /// # Safety
    ///
    /// Called by blk-mq only, with `data` = the set's `driver_data`.
    unsafe extern "C" fn init_hctx_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        data: *mut c_void,
        index: u32,
    ) -> i32 {
        // SAFETY: `data` is the set's `T::SetData` (see `new`).
        let set = unsafe { &*data.cast::<T::SetData>() };
        match T::hw_queue(set, index) {
            Some(hwq) => {
                // SAFETY: `hctx` is live; `tags` is set before `init_hctx` is called.
                unsafe {
                    T::set_tags(hwq, Tags((*hctx).tags));
                    (*hctx).driver_data = ptr::from_ref(hwq).cast_mut().cast();
                }
                0
            }
            None => EINVAL.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a request of a tag set created by `new`.
    unsafe extern "C" fn init_request_callback(
        set: *mut bindings::blk_mq_tag_set,
        rq: *mut bindings::request,
        _hctx_idx: u32,
        _numa_node: i32,
    ) -> i32 {
        // SAFETY: `set` is our tag set; `rq` is a newly allocated request of it, followed by
        // `cmd_size` bytes for a `Pdu<T>` (aligned as the request, asserted in `CMD_SIZE`) that
        // nothing uses yet.
        unsafe { Pdu::<T>::init(Request::<T>::pdu_ptr(rq), Self::set_data(set)) };
        0
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a request of a tag set created by `new` whose
    /// `init_request` succeeded, when it is freed.
    unsafe extern "C" fn exit_request_callback(
        _set: *mut bindings::blk_mq_tag_set,
        rq: *mut bindings::request,
        _hctx_idx: u32,
    ) {
        // SAFETY: the data was initialised by `init_request_callback` and the request is freed:
        // nothing uses the data any more.
        unsafe { Pdu::<T>::drop_in_place(Request::<T>::pdu_ptr(rq)) };
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a started request of a tag set created by `new`.
    unsafe extern "C" fn timeout_callback(
        rq: *mut bindings::request,
    ) -> bindings::blk_eh_timer_return {
        // SAFETY: `rq` is a live, started request; its hardware context was set up by
        // `init_hctx` and its queue belongs to our tag set.
        let (set, hwq, rq) = unsafe {
            (
                Self::set_data((*(*rq).q).tag_set),
                &*(*(*rq).mq_hctx).driver_data.cast::<T::HwQueue>(),
                Request::<T>::from_raw(rq),
            )
        };
        match T::timeout(set, hwq, rq) {
            TimeoutAction::Done => bindings::blk_eh_timer_return_BLK_EH_DONE,
            TimeoutAction::ResetTimer => bindings::blk_eh_timer_return_BLK_EH_RESET_TIMER,
        }
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a hardware context set up by `init_hctx`.
    unsafe extern "C" fn poll_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        iob: *mut bindings::io_comp_batch,
    ) -> i32 {
        // SAFETY: `hctx` is live and was set up by `init_hctx`; its queue belongs to our set.
        // `iob`, when not null, is the poller's batch, used by this thread only during the call.
        let (set, hwq, batch) = unsafe {
            (
                Self::set_data((*(*hctx).queue).tag_set),
                &*(*hctx).driver_data.cast::<T::HwQueue>(),
                CompBatch::from_raw(iob),
            )
        };
        T::poll(set, hwq, batch)
    }

    /// Ends a batch of requests of this tag set: releases each one's resources through
    /// [`Operations::complete_batched`], then ends them together (`blk_mq_end_request_batch()`).
    ///
    /// # Safety
    ///
    /// Called through `iob->complete` only, for a batch filled by [`CompBatch::add`] with this
    /// function.
    pub(in crate::glue) unsafe extern "C" fn complete_batch_callback(
        iob: *mut bindings::io_comp_batch,
    ) {
        // SAFETY: every request on the list completed successfully, its one completion let
        // through, and belongs to a tag set of `T` (type invariant of `CompBatch`); the list is
        // only read until it is handed to `blk_mq_end_request_batch`, which ends every request
        // and empties it.
        unsafe {
            let mut rq = (*iob).req_list.head;
            while !rq.is_null() {
                let next = (*rq).__bindgen_anon_1.rq_next;
                let mut owned = Request::<T>::completing(rq);
                T::complete_batched(Self::set_data((*(*rq).q).tag_set), &mut owned);
                owned.batch_ended();
                rq = next;
            }
            bindings::blk_mq_end_request_batch(iob);
        }
    }

    /// A handle for recovery code that must reach the whole tag set.
    pub(crate) fn handle(&self) -> TagSetRef<T> {
        TagSetRef(self.as_raw(), PhantomData)
    }

    /// # Safety
    ///
    /// Called by blk-mq only, for a tag set created by `new`.
    unsafe extern "C" fn map_queues_callback(set: *mut bindings::blk_mq_tag_set) {
        // SAFETY: `set` is our tag set; its maps are valid during `map_queues`.
        let data = unsafe { Self::set_data(set) };
        let mut maps = QueueMaps {
            set,
            _p: PhantomData,
        };
        T::map_queues(data, &mut maps);
    }
}

#[pinned_drop]
impl<T: Operations> PinnedDrop for TagSet<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: the set is allocated (type invariant) and no disk uses it any more.
        unsafe { bindings::blk_mq_free_tag_set(self.as_raw()) };
    }
}

/// A handle on a tag set for controller recovery: quiesce, cancel, wait.
///
/// # Invariants
///
/// Points to a tag set allocated by [`TagSet::new`]; users guarantee (see each method) that the
/// tag set is still allocated when they use the handle.
pub(crate) struct TagSetRef<T: Operations>(*mut bindings::blk_mq_tag_set, PhantomData<T>);

impl<T: Operations> Clone for TagSetRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Operations> Copy for TagSetRef<T> {}

// SAFETY: the handle is a plain pointer; blk-mq synchronises the operations below internally.
unsafe impl<T: Operations> Send for TagSetRef<T> {}
// SAFETY: as above.
unsafe impl<T: Operations> Sync for TagSetRef<T> {}

impl<T: Operations> TagSetRef<T> {
    /// Stops dispatch to every queue of the set and waits for running `queue_rq` calls
    /// (`blk_mq_quiesce_tagset()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated; the caller may sleep.
    pub(crate) unsafe fn quiesce(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_quiesce_tagset(self.0) };
    }

    /// Restarts dispatch (`blk_mq_unquiesce_tagset()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated and quiesced by [`TagSetRef::quiesce`].
    pub(crate) unsafe fn unquiesce(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_unquiesce_tagset(self.0) };
    }

    /// Changes the number of hardware queues to `nr` (`blk_mq_update_nr_hw_queues()`): the
    /// block layer waits until no request of the set's queues is in use (they must be able
    /// to complete: dispatch running, the controller serving them), rebuilds the queue maps
    /// through [`Operations::map_queues`], exits the contexts beyond `nr` and initialises
    /// new ones through [`Operations::hw_queue`].
    ///
    /// # Safety
    ///
    /// The tag set must be allocated and not quiesced; the caller may sleep and holds no lock
    /// that completing or timing out a request of the set takes.
    pub(crate) unsafe fn update_nr_hw_queues(self, nr: u32) {
        // CAST: at most 1024 queues.
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_update_nr_hw_queues(self.0, nr as i32) };
    }

    /// The number of hardware queues the set has now.
    ///
    /// # Safety
    ///
    /// The tag set must be allocated.
    pub(crate) unsafe fn nr_hw_queues(self) -> u32 {
        // SAFETY: per the function's safety requirements; the field changes only in
        // `update_nr_hw_queues`, which the driver serialises with its readers.
        unsafe { (*self.0).nr_hw_queues }
    }

    /// Calls `f` on every started request of the set (`blk_mq_tagset_busy_iter()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated.
    pub(crate) unsafe fn for_each_busy(self, mut f: impl FnMut(&Request<T>)) {
        let mut f: &mut dyn FnMut(&Request<T>) = &mut f;
        // SAFETY: the tag set is allocated; `busy_callback` casts `data` back to the
        // `&mut dyn FnMut` that lives on this stack frame for the whole call.
        unsafe {
            bindings::blk_mq_tagset_busy_iter(
                self.0,
                Some(busy_callback::<T>),
                ptr::from_mut(&mut f).cast::<c_void>(),
            )
        };
    }

    /// Waits until requests completed by recovery have been ended
    /// (`blk_mq_tagset_wait_completed_request()`).
    ///
    /// # Safety
    ///
    /// The tag set must be allocated; the caller may sleep.
    pub(crate) unsafe fn wait_completed(self) {
        // SAFETY: per the function's safety requirements.
        unsafe { bindings::blk_mq_tagset_wait_completed_request(self.0) };
    }
}

/// # Safety
///
/// Only passed to `blk_mq_tagset_busy_iter` by [`TagSetRef::for_each_busy`].
unsafe extern "C" fn busy_callback<T: Operations>(
    rq: *mut bindings::request,
    data: *mut c_void,
) -> bool {
    // SAFETY: `data` is the `&mut dyn FnMut` of `for_each_busy`; `rq` is a started request of
    // the tag set of `T` that blk-mq keeps alive during the iteration.
    unsafe {
        let f = &mut *data.cast::<&mut dyn FnMut(&Request<T>)>();
        f(Request::from_raw(rq));
    }
    true
}
