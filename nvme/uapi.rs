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
pub(crate) const NVME_IOCTL_SUBMIT_IO: u32 = ioc(IOC_WRITE, 0x42, 48);
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

/// Data direction of an opcode (bits 1:0, NVMe Base Specification, "Opcodes"): bit 0 set
/// means host to controller, bit 1 set means controller to host.
pub(crate) const fn data_to_device(opcode: u8) -> bool {
    opcode & 1 != 0
}

/// As [`data_to_device`], for controller to host.
pub(crate) const fn data_from_device(opcode: u8) -> bool {
    opcode & 2 != 0
}

/// Who may send a passthrough command (the rules of Linux's NVMe ioctls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone who could open the node.
    Anyone,
    /// Only a caller with `CAP_SYS_ADMIN`.
    SysAdmin,
    /// Nobody: the driver manages what the command would change.
    Never,
}

/// Identify CNS values that tell user space how to build I/O commands and expose nothing
/// sensitive: namespace, controller, I/O command set specific namespace and controller,
/// command set independent namespace.
const OPEN_IDENTIFY_CNS: [u8; 5] = [0x00, 0x01, 0x05, 0x06, 0x08];
/// Features whose state the driver manages (Number of Queues, Autonomous Power State
/// Transition, Host Memory Buffer, Keep Alive Timer, Host Behavior Support).
const DRIVER_FEATURES: [u8; 5] = [0x07, 0x0c, 0x0d, 0x0f, 0x16];

/// Who may send admin command `opcode` with command dword 10 `cdw10`.
pub(crate) fn admin_access(opcode: u8, cdw10: u32) -> Access {
    // CAST: CNS and FID are the low byte of command dword 10.
    let low = cdw10 as u8;
    match opcode {
        0x06 if OPEN_IDENTIFY_CNS.contains(&low) => Access::Anyone,
        0x09 if DRIVER_FEATURES.contains(&low) => Access::Never,
        _ => Access::SysAdmin,
    }
}

/// Who may send NVM command set I/O command `opcode` on a namespace node opened for writing
/// when `open_for_write`: commands that only read (Read, Compare, Verify) are open to anyone
/// who can open the node, commands that change block contents (Flush, Write, Write Zeroes,
/// Dataset Management, Copy) to anyone who opened it for writing; everything else (other and
/// vendor specific opcodes, whose effects are unknown) needs `CAP_SYS_ADMIN`.
pub(crate) fn io_access(opcode: u8, open_for_write: bool) -> Access {
    match opcode {
        0x02 | 0x05 | 0x0c => Access::Anyone,
        0x00 | 0x01 | 0x08 | 0x09 | 0x19 if open_for_write => Access::Anyone,
        _ => Access::SysAdmin,
    }
}
