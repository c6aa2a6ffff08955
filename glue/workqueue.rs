// SPDX-License-Identifier: GPL-2.0

//! What the driver needs of workqueues beyond `kernel::workqueue`: `cancel_work_sync()`
//! and `system_dfl_wq`.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use kernel::bindings;

/// Cancels `work` and waits for a running instance to finish (`cancel_work_sync()`).
pub(crate) fn cancel_work_sync<T: ?Sized, const ID: u64>(work: &kernel::workqueue::Work<T, ID>) {
    // SAFETY: `work` is a live, initialised work item; `raw_get` gives its `work_struct`.
    unsafe { bindings::cancel_work_sync(kernel::workqueue::Work::raw_get(work)) };
}

/// The default system workqueue for work that may run on any CPU (`system_dfl_wq`).
pub(crate) fn system_dfl_wq() -> &'static kernel::workqueue::Queue {
    // SAFETY: `system_dfl_wq` is a C global set up at boot and never freed.
    unsafe { kernel::workqueue::Queue::from_raw(bindings::system_dfl_wq) }
}
