// SPDX-License-Identifier: GPL-2.0

//! The generic char device of a namespace, `/dev/rng<c>n<ns>` (the C driver's `/dev/ngXnY`):
//! the passthrough ioctls of the namespace's disk, with the same rules as on the whole disk
//! (see [`crate::passthru`]), and NVMe I/O commands through io_uring (`IORING_OP_URING_CMD`
//! with `NVME_URING_CMD_IO` and `NVME_URING_CMD_IO_VEC`, polled on rings that poll), which is
//! how fio's `io_uring_cmd` engine and libnvme's io_uring path reach a namespace.
//!
//! An open file holds a reference on the namespace's disk, not the disk itself: after the
//! namespace or the controller went, its ioctls and commands fail with `ENODEV` (the disk's
//! queue is dying) or `EINTR` (cancelled in flight).

use kernel::{
    device,
    prelude::*,
    str::CString, //
};

use crate::{
    glue::{
        uring_passthru_iopoll,
        DiskRef,
        GenDisk,
        IssueFlags,
        PollBatch,
        UringCmd,
        UringMiscDevice,
        UringMiscRegistration, //
    },
    iod::NvmeMq,
    nvme::uapi::Origin,
};

/// The char device of one namespace, registered while its disk is.
pub(crate) type NsChar = UringMiscRegistration<NsCharFile>;

/// Registers `/dev/rng<ctrl>n<nsid>` for the namespace served by `disk`, under `parent`.
pub(crate) fn register(
    ctrl: u32,
    nsid: u32,
    disk: &GenDisk<NvmeMq>,
    parent: &device::Device,
) -> Result<Pin<KBox<NsChar>>> {
    let name = CString::try_from_fmt(format_args!("rng{}n{}", ctrl, nsid))?;
    KBox::pin_init(NsChar::register(name, parent, disk.get_ref()), GFP_KERNEL)
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
    type RegData = DiskRef<NvmeMq>;
    type Ptr = KBox<DiskRef<NvmeMq>>;

    fn open(disk: &DiskRef<NvmeMq>) -> Result<KBox<DiskRef<NvmeMq>>> {
        Ok(KBox::new(disk.clone(), GFP_KERNEL)?)
    }

    fn ioctl(disk: &DiskRef<NvmeMq>, writable: bool, cmd: u32, arg: usize) -> Result<isize> {
        let ns = disk.data();
        let node = ns.node(disk.disk_queue(), Self::origin(writable));
        ns.passthru.ioctl(cmd, arg, Some(node))
    }

    fn uring_cmd(disk: &DiskRef<NvmeMq>, cmd: UringCmd<'_>, issue: IssueFlags) -> Result {
        let ns = disk.data();
        let node = ns.node(disk.disk_queue(), Self::origin(cmd.file_writable()));
        ns.passthru.uring_cmd(node, cmd, issue)
    }

    fn uring_cmd_iopoll(cmd: &UringCmd<'_>, iob: PollBatch, poll_flags: u32) -> i32 {
        uring_passthru_iopoll(cmd, iob, poll_flags)
    }
}
