// SPDX-License-Identifier: GPL-2.0

//! The NVMe passthrough ioctl ABI of Linux (`include/uapi/linux/nvme_ioctl.h`): the command
//! structures user space (nvme-cli, libnvme) fills in, and the ioctl numbers, so that our nodes
//! answer the same calls as the C driver's.

/// `struct nvme_passthru_cmd` (`struct nvme_admin_cmd`): 72 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PassthruCmd {
    /// Command opcode.
    pub(crate) opcode: u8,
    /// Command flags (FUSE, PSDT); must be zero here.
    pub(crate) flags: u8,
    /// Reserved.
    pub(crate) rsvd1: u16,
    /// Namespace identifier.
    pub(crate) nsid: u32,
    /// Command dwords 2 and 3.
    pub(crate) cdw2: u32,
    /// Command dword 3.
    pub(crate) cdw3: u32,
    /// User address of the metadata buffer.
    pub(crate) metadata: u64,
    /// User address of the data buffer.
    pub(crate) addr: u64,
    /// Metadata length in bytes.
    pub(crate) metadata_len: u32,
    /// Data length in bytes.
    pub(crate) data_len: u32,
    /// Command dwords 10 to 15.
    pub(crate) cdw10: u32,
    /// Command dword 11.
    pub(crate) cdw11: u32,
    /// Command dword 12.
    pub(crate) cdw12: u32,
    /// Command dword 13.
    pub(crate) cdw13: u32,
    /// Command dword 14.
    pub(crate) cdw14: u32,
    /// Command dword 15.
    pub(crate) cdw15: u32,
    /// Timeout in milliseconds (0: the driver's default).
    pub(crate) timeout_ms: u32,
    /// Dword 0 of the completion, written back.
    pub(crate) result: u32,
}

const _: () = assert!(core::mem::size_of::<PassthruCmd>() == 72);

/// `struct nvme_passthru_cmd64`: 80 bytes, with a 64-bit result.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PassthruCmd64 {
    /// Command opcode.
    pub(crate) opcode: u8,
    /// Command flags (FUSE, PSDT); must be zero here.
    pub(crate) flags: u8,
    /// Reserved.
    pub(crate) rsvd1: u16,
    /// Namespace identifier.
    pub(crate) nsid: u32,
    /// Command dword 2.
    pub(crate) cdw2: u32,
    /// Command dword 3.
    pub(crate) cdw3: u32,
    /// User address of the metadata buffer.
    pub(crate) metadata: u64,
    /// User address of the data buffer.
    pub(crate) addr: u64,
    /// Metadata length in bytes.
    pub(crate) metadata_len: u32,
    /// Data length in bytes (the `vec_cnt` union member is not supported).
    pub(crate) data_len: u32,
    /// Command dword 10.
    pub(crate) cdw10: u32,
    /// Command dword 11.
    pub(crate) cdw11: u32,
    /// Command dword 12.
    pub(crate) cdw12: u32,
    /// Command dword 13.
    pub(crate) cdw13: u32,
    /// Command dword 14.
    pub(crate) cdw14: u32,
    /// Command dword 15.
    pub(crate) cdw15: u32,
    /// Timeout in milliseconds (0: the driver's default).
    pub(crate) timeout_ms: u32,
    /// Reserved.
    pub(crate) rsvd2: u32,
    /// Dwords 0 and 1 of the completion, written back.
    pub(crate) result: u64,
}

const _: () = assert!(core::mem::size_of::<PassthruCmd64>() == 80);

/// `struct nvme_user_io`: a read, write or compare of `NVME_IOCTL_SUBMIT_IO`, 48 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserIo {
    /// Opcode: write, read or compare.
    pub(crate) opcode: u8,
    /// Command flags (must be 0).
    pub(crate) flags: u8,
    /// CDW12 bits 31:16 (FUA, limited retry, PRINFO).
    pub(crate) control: u16,
    /// Blocks, 0-based.
    pub(crate) nblocks: u16,
    /// Reserved.
    pub(crate) rsvd: u16,
    /// User address of the metadata buffer.
    pub(crate) metadata: u64,
    /// User address of the data buffer.
    pub(crate) addr: u64,
    /// First block.
    pub(crate) slba: u64,
    /// CDW13: dataset management.
    pub(crate) dsmgmt: u32,
    /// CDW14: initial reference tag.
    pub(crate) reftag: u32,
    /// Application tag.
    pub(crate) apptag: u16,
    /// Application tag mask.
    pub(crate) appmask: u16,
}

const _: () = assert!(core::mem::size_of::<UserIo>() == 48);

impl UserIo {
    /// Command dwords 10 to 15 of the command.
    pub(crate) const fn cdw10_15(&self) -> [u32; 6] {
        [
            // CAST: the low and the high half of the 64-bit starting LBA.
            self.slba as u32,
            (self.slba >> 32) as u32,
            self.nblocks as u32 | (self.control as u32) << 16,
            self.dsmgmt,
            self.reftag,
            self.apptag as u32 | (self.appmask as u32) << 16,
        ]
    }
}

impl From<&PassthruCmd> for PassthruCmd64 {
    /// The same command in the 64-bit-result form (the result itself is output only).
    fn from(c: &PassthruCmd) -> Self {
        Self {
            opcode: c.opcode,
            flags: c.flags,
            rsvd1: c.rsvd1,
            nsid: c.nsid,
            cdw2: c.cdw2,
            cdw3: c.cdw3,
            metadata: c.metadata,
            addr: c.addr,
            metadata_len: c.metadata_len,
            data_len: c.data_len,
            cdw10: c.cdw10,
            cdw11: c.cdw11,
            cdw12: c.cdw12,
            cdw13: c.cdw13,
            cdw14: c.cdw14,
            cdw15: c.cdw15,
            timeout_ms: c.timeout_ms,
            rsvd2: 0,
            result: 0,
        }
    }
}

/// The `_IOC` encoding of Linux on x86 and most architectures.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    // CAST: the ABI structures are far below the 14-bit size limit.
    (dir << 30) | ((size as u32) << 16) | ((b'N' as u32) << 8) | nr
}

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `NVME_IOCTL_ID`: the namespace id of a block device node.
pub(crate) const NVME_IOCTL_ID: u32 = ioc(IOC_NONE, 0x40, 0);
/// `NVME_IOCTL_ADMIN_CMD`: admin command passthrough.
pub(crate) const NVME_IOCTL_ADMIN_CMD: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x41,
    core::mem::size_of::<PassthruCmd>(),
);
/// `NVME_IOCTL_SUBMIT_IO`: the old read/write interface (`struct nvme_user_io`, 48 bytes).
pub(crate) const NVME_IOCTL_SUBMIT_IO: u32 = ioc(IOC_WRITE, 0x42, core::mem::size_of::<UserIo>());
/// `NVME_IOCTL_IO_CMD`: I/O command passthrough.
pub(crate) const NVME_IOCTL_IO_CMD: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x43,
    core::mem::size_of::<PassthruCmd>(),
);
/// `NVME_IOCTL_RESET`: controller reset.
pub(crate) const NVME_IOCTL_RESET: u32 = ioc(IOC_NONE, 0x44, 0);
/// `NVME_IOCTL_SUBSYS_RESET`: NVM subsystem reset.
pub(crate) const NVME_IOCTL_SUBSYS_RESET: u32 = ioc(IOC_NONE, 0x45, 0);
/// `NVME_IOCTL_RESCAN`: namespace rescan.
pub(crate) const NVME_IOCTL_RESCAN: u32 = ioc(IOC_NONE, 0x46, 0);
/// `NVME_IOCTL_ADMIN64_CMD`: admin command passthrough with a 64-bit result.
pub(crate) const NVME_IOCTL_ADMIN64_CMD: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x47,
    core::mem::size_of::<PassthruCmd64>(),
);
/// `NVME_IOCTL_IO64_CMD`: I/O command passthrough with a 64-bit result.
pub(crate) const NVME_IOCTL_IO64_CMD: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x48,
    core::mem::size_of::<PassthruCmd64>(),
);

/// `NVME_IOCTL_IO64_CMD_VEC`: as [`NVME_IOCTL_IO64_CMD`], with `addr` pointing to an array of
/// `data_len` `struct iovec`s instead of one buffer.
pub(crate) const NVME_IOCTL_IO64_CMD_VEC: u32 = ioc(
    IOC_READ | IOC_WRITE,
    0x49,
    core::mem::size_of::<PassthruCmd64>(),
);

/// `struct nvme_uring_cmd`, the command of an io_uring `IORING_OP_URING_CMD` on a namespace's
/// char device (in the SQE's command area, 128-byte SQEs): the layout of [`PassthruCmd`],
/// whose last field (`result` there) is reserved. The result goes in the big CQE.
pub(crate) type UringCmd = PassthruCmd;

/// `NVME_URING_CMD_IO`: an I/O command through io_uring.
pub(crate) const NVME_URING_CMD_IO: u32 =
    ioc(IOC_READ | IOC_WRITE, 0x80, core::mem::size_of::<UringCmd>());
/// `NVME_URING_CMD_IO_VEC`: as [`NVME_URING_CMD_IO`], `addr` pointing to `data_len` iovecs.
pub(crate) const NVME_URING_CMD_IO_VEC: u32 =
    ioc(IOC_READ | IOC_WRITE, 0x81, core::mem::size_of::<UringCmd>());

/// Data direction of an opcode (bits 1:0, NVMe Base Specification, "Opcodes"): bit 0 set
/// means host to controller, bit 1 set means controller to host.
pub(crate) const fn data_to_device(opcode: u8) -> bool {
    opcode & 1 != 0
}

/// As [`data_to_device`], for controller to host.
pub(crate) const fn data_from_device(opcode: u8) -> bool {
    opcode & 2 != 0
}

/// Who may send a passthrough command (the rules of Linux's NVMe ioctls, stricter where
/// noted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone who could open the node.
    Anyone,
    /// Only a caller with `CAP_SYS_ADMIN`.
    SysAdmin,
    /// Nobody: the driver manages what the command would change.
    Never,
}

/// Where a passthrough command came in, as far as access is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    /// A partition node: passthrough would escape its bounds, so only `CAP_SYS_ADMIN` may.
    pub(crate) partition: bool,
    /// The descriptor was opened for writing.
    pub(crate) open_for_write: bool,
}

/// First vendor specific opcode, admin and I/O alike (as Linux counts them).
const VENDOR_START: u8 = 0x80;
/// The Fabrics command opcode.
const FABRICS: u8 = 0x7f;

/// Identify CNS values that tell user space how to build I/O commands and expose nothing
/// sensitive: namespace, controller, I/O command set specific namespace and controller,
/// command set independent namespace.
const OPEN_IDENTIFY_CNS: [u8; 5] = [0x00, 0x01, 0x05, 0x06, 0x08];
/// Features whose state the driver manages (Number of Queues, Autonomous Power State
/// Transition, Host Memory Buffer, Keep Alive Timer, Host Behavior Support).
const DRIVER_FEATURES: [u8; 5] = [0x07, 0x0c, 0x0d, 0x0f, 0x16];
/// Admin commands that manage what the driver owns: I/O queue creation and deletion,
/// Asynchronous Event Requests and the shadow doorbell buffers (a user's Doorbell Buffer
/// Config would point the controller's DMA at memory of the user's choosing). The C driver
/// lets `CAP_SYS_ADMIN` send them; we let nobody.
const DRIVER_OPCODES: [u8; 6] = [0x00, 0x01, 0x04, 0x05, 0x0c, 0x7c];

/// Who may send admin command `opcode` with command dword 10 `cdw10`, from `origin`.
pub(crate) fn admin_access(opcode: u8, cdw10: u32, origin: Origin) -> Access {
    // CAST: CNS and FID are the low byte of command dword 10.
    let low = cdw10 as u8;
    if DRIVER_OPCODES.contains(&opcode) || (opcode == 0x09 && DRIVER_FEATURES.contains(&low)) {
        return Access::Never;
    }
    if origin.partition || opcode >= VENDOR_START || opcode == FABRICS {
        return Access::SysAdmin;
    }
    match opcode {
        0x06 if OPEN_IDENTIFY_CNS.contains(&low) => Access::Anyone,
        _ => Access::SysAdmin,
    }
}

/// Who may send I/O command `opcode` on a namespace node from `origin`: `effects` is the
/// opcode's entry of the Commands Supported and Effects log (`None` when the controller has no
/// such log) and `sized` says whether the driver knows how much data the command moves.
///
/// As Linux: vendor specific and fabrics opcodes, commands the log does not mark supported
/// and commands with effects beyond changing block contents need `CAP_SYS_ADMIN`; commands
/// that send data or change block contents need a descriptor open for writing. Stricter than
/// Linux: every command on a partition needs `CAP_SYS_ADMIN` (Linux lets `NVME_IOCTL_IO_CMD`
/// through), and so does a command whose data length the driver cannot check.
pub(crate) fn io_access(opcode: u8, effects: Option<u32>, sized: bool, origin: Origin) -> Access {
    use super::effects::{
        CSUPP,
        HARMLESS,
        LBCC, //
    };
    if origin.partition || opcode >= VENDOR_START || opcode == FABRICS || !sized {
        return Access::SysAdmin;
    }
    let Some(e) = effects else {
        return Access::SysAdmin;
    };
    if e & CSUPP == 0 || e & !HARMLESS != 0 {
        return Access::SysAdmin;
    }
    if (data_to_device(opcode) || e & LBCC != 0) && !origin.open_for_write {
        return Access::SysAdmin;
    }
    Access::Anyone
}

/// Bytes of data NVM command set I/O command `opcode` moves, from its command dwords `cdw`
/// (10 to 15) on a namespace of `1 << lba_shift`-byte blocks without metadata: `None` when the
/// driver does not know the command.
#[inline(always)]
pub(crate) fn io_data_len(opcode: u8, cdw: &[u32; 6], lba_shift: u32) -> Option<u64> {
    let (cdw10, cdw12) = (cdw[0], cdw[2]);
    let dwords = |n: u32| (u64::from(n) + 1) * 4;
    Some(match opcode {
        // Flush, Write Uncorrectable, Write Zeroes, Verify: no data.
        0x00 | 0x04 | 0x08 | 0x0c => 0,
        // Write, Read, Compare, Zone Append: NLB + 1 blocks.
        0x01 | 0x02 | 0x05 | 0x7d => (u64::from(cdw12 & 0xffff) + 1) << lba_shift,
        // Dataset Management: NR + 1 ranges of 16 bytes.
        0x09 => (u64::from(cdw10 & 0xff) + 1) * 16,
        // Reservation Register, Acquire, Release: fixed structures.
        0x0d | 0x11 => 16,
        0x15 => 8,
        // Reservation Report, Zone Management Receive: NUMD + 1 dwords.
        0x0e => dwords(cdw10),
        0x7a => dwords(cdw12),
        // Copy with source range descriptor format 0 (32 bytes) or 1 (40 bytes).
        0x19 => match (cdw12 >> 8) & 0xf {
            0 => (u64::from(cdw12 & 0xff) + 1) * 32,
            1 => (u64::from(cdw12 & 0xff) + 1) * 40,
            _ => return None,
        },
        _ => return None,
    })
}

/// What an I/O command moves on a namespace with metadata: data buffer and metadata buffer
/// bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoLayout {
    /// Bytes of the data buffer (with the metadata when it is interleaved).
    pub(crate) data: u64,
    /// Bytes of the separate metadata buffer (0: none).
    pub(crate) meta: u64,
}

/// What I/O command `opcode` (command dwords 10 to 15 in `cdw`) moves on a namespace of
/// `1 << lba_shift`-byte blocks with metadata `meta`, as C's `nvme_submit_io()` sizes a read or
/// write: a command that moves blocks moves their metadata too, interleaved in the data buffer
/// or through a separate one, unless the metadata is all protection information and the
/// command asks the controller to insert or strip it (PRACT). `None` when the driver does not
/// know the command, or it moves blocks but the metadata's size overflows.
#[inline(always)]
pub(crate) fn io_layout(
    opcode: u8,
    cdw: &[u32; 6],
    lba_shift: u32,
    meta: &super::meta::MetaFormat,
) -> Option<IoLayout> {
    let data = io_data_len(opcode, cdw, lba_shift)?;
    let cdw12 = cdw[2];
    let moves_blocks = matches!(opcode, 0x01 | 0x02 | 0x05 | 0x7d);
    let pract = u32::from(super::meta::PRACT) << 16;
    if meta.ms == 0 || !moves_blocks || (cdw12 & pract != 0 && meta.is_pi_only()) {
        return Some(IoLayout { data, meta: 0 });
    }
    let md = (u64::from(cdw12 & 0xffff) + 1).checked_mul(u64::from(meta.ms))?;
    Some(if meta.extended {
        IoLayout {
            data: data.checked_add(md)?,
            meta: 0,
        }
    } else {
        IoLayout { data, meta: md }
    })
}

/// Bytes of data Get or Set Features moves for feature `fid`: `None` for features the driver
/// does not know.
fn feature_data_len(fid: u8, cdw11: u32) -> Option<u64> {
    Some(match fid {
        // LBA Range Type; Host Memory Buffer attributes (Get Features).
        0x03 | 0x0d => 4096,
        // Autonomous Power State Transition: 32 entries of 8 bytes.
        0x0c => 256,
        // Timestamp.
        0x0e => 8,
        // Host Behavior Support.
        0x16 => 512,
        // Host Identifier: 8 bytes, 16 when extended (EXHID).
        0x81 => 8 << (cdw11 & 1),
        // Features held in command dword 11 or the completion: no data.
        0x01 | 0x02 | 0x04..=0x0b | 0x0f..=0x12 | 0x80 | 0x82..=0x84 => 0,
        _ => return None,
    })
}

/// Bytes of data admin command `opcode` moves, from its command dwords `cdw` (10 to 15):
/// `None` when the driver does not know the command.
pub(crate) fn admin_data_len(opcode: u8, cdw: &[u32; 6]) -> Option<u64> {
    let (cdw10, cdw11) = (cdw[0], cdw[1]);
    let dwords = |n: u32| (u64::from(n) + 1) * 4;
    Some(match opcode {
        // Get Log Page: NUMDL in dword 10, NUMDU in dword 11.
        0x02 => dwords((cdw10 >> 16) | ((cdw11 & 0xffff) << 16)),
        // Identify.
        0x06 => 4096,
        // Abort, Keep Alive, Device Self-test, Format NVM, Sanitize, Virtualization and
        // Capacity Management, Lockdown: no data.
        0x08 | 0x14 | 0x18 | 0x1c | 0x20 | 0x24 | 0x80 | 0x84 => 0,
        // CAST: the FID is the low byte.
        0x09 | 0x0a => feature_data_len(cdw10 as u8, cdw11)?,
        // Namespace Management: a data structure to create, none to delete.
        0x0d => {
            if cdw10 & 0xf == 0 {
                4096
            } else {
                0
            }
        }
        // Firmware Commit: none; Firmware Image Download, Directive Send and Receive: NUMD + 1
        // dwords.
        0x10 => 0,
        0x11 | 0x19 | 0x1a => dwords(cdw10),
        // Namespace Attachment: a controller list.
        0x15 => 4096,
        // Security Send and Receive: the allocation length.
        0x81 | 0x82 => u64::from(cdw11),
        _ => return None,
    })
}
