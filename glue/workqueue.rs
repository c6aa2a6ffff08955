// SPDX-License-Identifier: GPL-2.0

//! What the driver needs of workqueues beyond `kernel::workqueue`: cancelling a work item
//! (`cancel_work_sync()`, `cancel_delayed_work_sync()`) and `system_dfl_wq`.
//!
//! `kernel::workqueue` enqueues an `Arc<T>` work item by turning it into a raw pointer that
//! the item's `run` turns back into the `Arc`; an item cancelled while pending never runs, so
//! the cancelling functions here give that reference back themselves. Upstream has no cancel.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use kernel::{
    bindings,
    sync::Arc,
    workqueue::{
        HasDelayedWork,
        HasWork,
        Queue,
        Work,
        WorkItem, //
    },
};

/// Cancels work item `ID` of `this`, which is only ever enqueued as an `Arc<T>`, and waits for
/// a running instance to finish (`cancel_work_sync()`); a pending one is dropped with the
/// reference it held.
pub(crate) fn cancel_arc_work<T, const ID: u64>(this: &Arc<T>)
where
    T: HasWork<T, ID> + WorkItem<ID, Pointer = Arc<T>>,
{
    let ptr = Arc::as_ptr(this).cast_mut();
    // SAFETY: `ptr` points to a live `T`, whose work field `raw_get_work` finds; `raw_get`
    // gives its initialised `work_struct`.
    let pending = unsafe { bindings::cancel_work_sync(Work::raw_get(T::raw_get_work(ptr))) };
    if pending {
        // SAFETY: the item was pending, so it was enqueued as an `Arc<T>` of this `T` (the
        // only pointer type of its `WorkItem`), whose reference `Arc::into_raw` kept for `run`;
        // cancelled, it will not run: the reference is given back here, once.
        drop(unsafe { Arc::from_raw(ptr.cast_const()) });
    }
}

/// [`cancel_arc_work`] for a delayed work item (`cancel_delayed_work_sync()`), also when the
/// item requeues itself.
pub(crate) fn cancel_arc_delayed_work<T, const ID: u64>(this: &Arc<T>)
where
    T: HasDelayedWork<T, ID> + WorkItem<ID, Pointer = Arc<T>>,
{
    let ptr = Arc::as_ptr(this).cast_mut();
    // SAFETY: `ptr` points to a live `T` whose work field is the `work` of a `delayed_work`
    // (`HasDelayedWork`); `container_of!` gives that `delayed_work`.
    let pending = unsafe {
        let work = Work::raw_get(T::raw_get_work(ptr));
        bindings::cancel_delayed_work_sync(kernel::container_of!(
            work,
            bindings::delayed_work,
            work
        ))
    };
    if pending {
        // SAFETY: as in `cancel_arc_work`.
        drop(unsafe { Arc::from_raw(ptr.cast_const()) });
    }
}

/// The default system workqueue for work that may run on any CPU (`system_dfl_wq`).
pub(crate) fn system_dfl_wq() -> &'static Queue {
    // SAFETY: `system_dfl_wq` is a C global set up at boot and never freed.
    unsafe { Queue::from_raw(bindings::system_dfl_wq) }
}
