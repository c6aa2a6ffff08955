// SPDX-License-Identifier: GPL-2.0

//! The generic char device of a namespace, `/dev/rng<c>n<ns>` (the C driver's `/dev/ngXnY`):
//! the passthrough ioctls of the namespace's disk, with the same rules as on the whole disk
//! (see [`crate::passthru`]), and NVMe I/O commands through io_uring (`IORING_OP_URING_CMD`
//! with `NVME_URING_CMD_IO` and `NVME_URING_CMD_IO_VEC`, polled on rings that poll), which is
//! how fio's `io_uring_cmd` engine and libnvme's io_uring path reach a namespace.
//!
//! A namespace that no disk can serve (a block size the block layer does not take) still gets
//! one, on a request queue of its own, as the C driver's hidden disks keep their `ng` node.
//!
//! An open file holds a reference on the namespace's request queue and data, not on the disk
//! or the controller: after the namespace or the controller went, its ioctls and commands fail
//! with `ENODEV` (the queue is dying) or `EINTR` (cancelled in flight).

use kernel::{
    device,
    prelude::*,
    str::CString, //
};

use crate::{
    glue::{
        uring_passthru_iopoll,
        IssueFlags,
        PollBatch,
        QueueRef,
        UringCmd,
        UringMiscDevice,
        UringMiscRegistration, //
    },
    iod::NvmeMq,
    nvme::uapi::Origin,
};

/// The char device of one namespace, registered while its disk (or its own queue) is.
pub(crate) type NsChar = UringMiscRegistration<NsCharFile>;

/// Registers `/dev/rng<ctrl>n<nsid>` for the namespace whose request queue is `queue` (its
/// disk's, or one of its own when no disk serves it), under `parent`.
pub(crate) fn register(
    ctrl: u32,
    nsid: u32,
    queue: QueueRef<NvmeMq>,
    parent: &device::Device,
) -> Result<Pin<KBox<NsChar>>> {
    let name = CString::try_from_fmt(format_args!("rng{}n{}", ctrl, nsid))?;
    KBox::pin_init(NsChar::register(name, parent, queue), GFP_KERNEL)
}

/// The files of a namespace's char device.
pub(crate) struct NsCharFile;

impl NsCharFile {
    /// The passthrough view of the namespace through an open file.
    fn origin(writable: bool) -> Origin {
        Origin {
            partition: false,
            open_for_write: writable,
        }
    }
}

impl UringMiscDevice for NsCharFile {
    type RegData = QueueRef<NvmeMq>;
    type Ptr = KBox<QueueRef<NvmeMq>>;

    fn open(queue: &QueueRef<NvmeMq>) -> Result<KBox<QueueRef<NvmeMq>>> {
        Ok(KBox::new(queue.try_clone()?, GFP_KERNEL)?)
    }

    fn ioctl(disk: &QueueRef<NvmeMq>, writable: bool, cmd: u32, arg: usize) -> Result<isize> {
        let ns = disk.data();
        let node = ns.node(disk.disk_queue(), Self::origin(writable));
        ns.passthru.ioctl(cmd, arg, Some(node))
    }

    fn uring_cmd(disk: &QueueRef<NvmeMq>, cmd: UringCmd<'_>, issue: IssueFlags) -> Result {
        let ns = disk.data();
        let node = ns.node(disk.disk_queue(), Self::origin(cmd.file_writable()));
        ns.passthru.uring_cmd(node, cmd, issue)
    }

    fn uring_cmd_iopoll(cmd: &UringCmd<'_>, iob: PollBatch, poll_flags: u32) -> i32 {
        uring_passthru_iopoll(cmd, iob, poll_flags)
    }
}
