// SPDX-License-Identifier: GPL-2.0

//! NVMe passthrough: the ioctls of Linux's `nvme_ioctl.h` (see [`crate::nvme::uapi`]) on the
//! controller's char device and on each disk, so that nvme-cli's `id-ctrl`, `id-ns`,
//! `smart-log`, `get-feature`, `error-log`, `admin-passthru`, `io-passthru` and `ns-rescan`
//! work on our nodes.
//!
//! Who may send what follows Linux's rules, stricter where they leak (see `tests/README.md`):
//! the nsid must be the node's, partitions need `CAP_SYS_ADMIN`, unprivileged I/O commands
//! must be supported without intrusive effects by the Commands Supported and Effects log, and
//! every buffer must hold what its command moves. I/O commands map the caller's memory into a
//! blk-mq request ([`execute_passthru`]); admin commands go through a DMA bounce buffer
//! allocated at probe, one command at a time, described so that the controller cannot leave
//! it. Commands that change namespaces (Format NVM, Sanitize, namespace management) freeze I/O
//! and revalidate the disks.
//!
//! An open file (char device, disk or partition) may outlive the controller: once unbind has
//! closed the admin queue, every passthrough ioctl fails with `ENODEV`.

use core::mem::offset_of;

use kernel::{
    device,
    dma::Coherent,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    transmute::{
        AsBytes,
        FromBytes, //
    },
    uaccess::{
        UserPtr,
        UserSlice, //
    },
};

use crate::{
    admin::AdminError,
    ctrl::CtrlCore,
    glue::{
        self,
        kver,
        BlkStatus,
        DiskQueue,
        IssueFlags,
        PassthruRq,
        Request,
        UringCmd,
        UringEnd, //
    },
    iod::{
        IodOwned,
        NvmeMq,
        PtSized,
        HOST_ABORTED, //
    },
    nvme::{
        cmd::Command,
        effects::{
            self,
            Effects, //
        },
        ident::CtrlIdent,
        meta::{
            self,
            MetaFormat, //
        },
        regs::CTRL_PAGE_SHIFT,
        status::Status,
        uapi::{
            self,
            Access,
            Origin,
            PassthruCmd,
            PassthruCmd64,
            UserIo, //
        },
    },
};

// SAFETY: `PassthruCmd` is `#[repr(C)]` of integers without padding (72 bytes, asserted), so
// every bit pattern is valid and all bytes are initialised; no interior mutability.
unsafe impl FromBytes for PassthruCmd {}
// SAFETY: as above.
unsafe impl AsBytes for PassthruCmd {}
// SAFETY: `UserIo` is `#[repr(C)]` of integers without padding (48 bytes, asserted).
unsafe impl FromBytes for UserIo {}
// SAFETY: `PassthruCmd64` is `#[repr(C)]` of integers without padding (80 bytes, asserted).
unsafe impl FromBytes for PassthruCmd64 {}
// SAFETY: as above.
unsafe impl AsBytes for PassthruCmd64 {}

/// Most iovecs of one vectored I/O passthrough command (Linux's `UIO_MAXIOV`).
const UIO_MAXIOV: u32 = 1024;

/// Largest data buffer of one admin passthrough command (the bounce buffer).
const PASSTHRU_MAX: usize = 64 * 1024;
/// Largest data buffer of one I/O passthrough command (the queue's largest transfer applies
/// too: a longer one fails with `EINVAL`).
const IO_PASSTHRU_MAX: usize = 2 * 1024 * 1024;

/// The DMA buffers of admin passthrough commands.
struct Bounce {
    data: Coherent<[u8]>,
    /// One PRP list page, describing the whole data buffer (see [`Passthru::fill_list`]).
    list: Coherent<[u64]>,
}

/// What sysfs shows about a controller.
#[derive(Clone, Copy)]
pub(crate) struct CtrlInfo {
    /// PCI vendor id from Identify Controller.
    pub(crate) vid: u16,
    /// Model number (space padded ASCII).
    pub(crate) model: [u8; 40],
    /// Serial number (space padded ASCII).
    pub(crate) serial: [u8; 20],
    /// Firmware revision (space padded ASCII).
    pub(crate) firmware: [u8; 8],
    /// Queues, the admin queue included.
    pub(crate) queue_count: u32,
    /// I/O queue size, 0's based.
    pub(crate) sqsize: u32,
}

impl CtrlInfo {
    /// The identity namespace attributes show.
    pub(crate) fn ident(&self) -> CtrlIdent<'_> {
        CtrlIdent {
            vid: self.vid,
            serial: &self.serial,
            model: &self.model,
            firmware: &self.firmware,
        }
    }
}

/// What passthrough uses of a bound controller: dropped at unbind ([`Passthru::detach`]), so
/// that a descriptor held open afterwards keeps no controller memory (DMA buffers, queues)
/// alive past the driver.
struct Live {
    core: Arc<CtrlCore>,
    bounce: Bounce,
}

/// Passthrough state of one controller, shared by its char device and its disks. Open
/// descriptors may hold it after the controller went (see [`Passthru::detach`]).
#[pin_data]
pub(crate) struct Passthru {
    /// Identity of the controller, for sysfs.
    pub(crate) info: CtrlInfo,
    /// What each command may change (the Commands Supported and Effects log and what the
    /// driver knows), read at probe.
    effects: KBox<Effects>,
    /// The controller takes SGLs for I/O data, so it checks every passthrough command's
    /// transfer against the buffer the driver describes.
    sgl: bool,
    /// `None` once the controller is unbound; the lock also serialises admin commands, which
    /// share the bounce buffer.
    #[pin]
    live: Mutex<Option<Live>>,
}

/// The disk node an ioctl came in on.
#[derive(Clone, Copy)]
pub(crate) struct DiskNode {
    /// Its namespace.
    pub(crate) nsid: u32,
    /// The namespace's logical block size (log2), for transfer lengths.
    pub(crate) lba_shift: u32,
    /// The namespace's metadata format, for transfer lengths.
    pub(crate) meta: MetaFormat,
    /// The disk has an integrity profile: metadata buffers can be attached to its requests.
    pub(crate) integrity: bool,
    /// Its request queue, for I/O passthrough.
    pub(crate) queue: DiskQueue<NvmeMq>,
    /// A partition or the whole disk, opened for writing or not.
    pub(crate) origin: Origin,
}

/// Lets the caller go ahead when `access` allows it (`EACCES` otherwise).
fn check_access(access: Access) -> Result {
    match access {
        Access::Anyone => Ok(()),
        Access::SysAdmin => glue::require_sys_admin(),
        Access::Never => Err(EACCES),
    }
}

/// One admin command as user space gave it, in either ABI.
struct UserCmd {
    opcode: u8,
    flags: u8,
    nsid: u32,
    cdw: [u32; 8],
    addr: u64,
    data_len: u32,
    metadata: u64,
    metadata_len: u32,
    timeout_ms: u32,
}

impl UserCmd {
    /// Checks what every passthrough command must satisfy before its access is decided: no
    /// command flags (FUSE, PSDT: the driver describes the data): `EINVAL` otherwise.
    fn check_form(&self) -> Result {
        if self.flags != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// The length and user address of the metadata buffer, checked against the `need` bytes
    /// the command moves through one: none when it moves none (`EINVAL` for a buffer given
    /// anyway); when it does, at least `need` bytes at a 4-byte aligned address within one
    /// page (the controller takes one metadata pointer), `EINVAL` otherwise. C passes a
    /// buffer it was not asked for to the device, and sends a command that moves metadata
    /// without one, the controller then writing metadata at bus address 0.
    fn meta(&self, need: u64) -> Result<Option<(usize, u32)>> {
        if need == 0 {
            return if self.metadata_len == 0 {
                Ok(None)
            } else {
                Err(EINVAL)
            };
        }
        let page = 1u64 << kernel::page::PAGE_SHIFT;
        if u64::from(self.metadata_len) < need
            || self.metadata == 0
            || self.metadata & 3 != 0
            || self.metadata % page + need > page
        {
            return Err(EINVAL);
        }
        let addr = usize::try_from(self.metadata).map_err(|_| EFAULT)?;
        // CAST: `need <= page`.
        Ok(Some((addr, need as u32)))
    }

    /// The length and user address of the data buffer, checked: at most `max` bytes, and at
    /// least the `need` bytes the command moves when the driver knows it (`EINVAL`
    /// otherwise); an address when there is data (`EFAULT` otherwise).
    fn data(&self, max: usize, need: Option<u64>) -> Result<(usize, usize)> {
        let len = usize::try_from(self.data_len).map_err(|_| EINVAL)?;
        if len > max || need.is_some_and(|n| n > u64::from(self.data_len)) {
            return Err(EINVAL);
        }
        if len != 0 && self.addr == 0 {
            return Err(EFAULT);
        }
        Ok((len, usize::try_from(self.addr).map_err(|_| EFAULT)?))
    }

    /// Command dwords 10 to 15.
    fn cdw10_15(&self) -> [u32; 6] {
        [
            self.cdw[2],
            self.cdw[3],
            self.cdw[4],
            self.cdw[5],
            self.cdw[6],
            self.cdw[7],
        ]
    }

    /// The NVMe command, without its data pointer.
    fn command(&self) -> Command {
        let mut c = Command::with_opcode(self.opcode, self.nsid);
        c.cdw2 = self.cdw[0].to_le();
        c.cdw3 = self.cdw[1].to_le();
        c.cdw10 = self.cdw[2].to_le();
        c.cdw11 = self.cdw[3].to_le();
        c.cdw12 = self.cdw[4].to_le();
        c.cdw13 = self.cdw[5].to_le();
        c.cdw14 = self.cdw[6].to_le();
        c.cdw15 = self.cdw[7].to_le();
        c
    }
}

impl From<&PassthruCmd64> for UserCmd {
    fn from(c: &PassthruCmd64) -> Self {
        Self {
            opcode: c.opcode,
            flags: c.flags,
            nsid: c.nsid,
            cdw: [
                c.cdw2, c.cdw3, c.cdw10, c.cdw11, c.cdw12, c.cdw13, c.cdw14, c.cdw15,
            ],
            addr: c.addr,
            data_len: c.data_len,
            metadata: c.metadata,
            metadata_len: c.metadata_len,
            timeout_ms: c.timeout_ms,
        }
    }
}

impl Passthru {
    /// Allocates the passthrough buffers of a controller.
    pub(crate) fn new(
        dev: &device::Device<device::Bound>,
        core: Arc<CtrlCore>,
        info: CtrlInfo,
        effects: KBox<Effects>,
        sgl: bool,
    ) -> Result<Arc<Self>> {
        let mut bounce = Bounce {
            data: Coherent::zeroed_slice(dev, PASSTHRU_MAX, GFP_KERNEL)?,
            list: Coherent::zeroed_slice(dev, 1 << (CTRL_PAGE_SHIFT - 3), GFP_KERNEL)?,
        };
        Self::fill_list(&mut bounce);
        Arc::pin_init(
            pin_init!(Self {
                info,
                effects,
                sgl,
                live <- new_mutex!(Some(Live { core, bounce })),
            }),
            GFP_KERNEL,
        )
    }

    /// Unbind: lets go of the controller (the admin queue must be closed, so that no command
    /// runs). Passthrough on descriptors still open fails with `ENODEV` from then on.
    pub(crate) fn detach(&self) {
        let live = self.live.lock().take();
        drop(live);
    }

    /// The controller state's name for sysfs.
    pub(crate) fn state_name(&self) -> &'static str {
        self.live
            .lock()
            .as_ref()
            .map_or("deleting", |l| l.core.state().name())
    }

    /// The controller, while bound (`ENODEV` otherwise).
    fn core(&self) -> Result<Arc<CtrlCore>> {
        self.live
            .lock()
            .as_ref()
            .map(|l| l.core.clone())
            .ok_or(ENODEV)
    }

    /// Writes the PRP list of every admin command with more than two pages of data: the
    /// bounce buffer's pages after the first, in order, then its last page again in every
    /// remaining entry, and in the last entry (where a longer transfer would chain to another
    /// list) the list itself. However much data the controller moves, it moves it within the
    /// bounce buffer. The device only reads the list.
    fn fill_list(bounce: &mut Bounce) {
        let base = kver::dma_address(&bounce.data);
        let list_dma = kver::dma_address(&bounce.list);
        // SAFETY: at probe, before any command: the device does not access the list yet, and
        // nothing else refers to it.
        let entries = unsafe { bounce.list.as_mut() };
        let n = entries.len();
        for (i, e) in entries.iter_mut().enumerate() {
            *e = sink_entry(i, n, base, 1, list_dma).to_le();
        }
    }

    /// The PRP entries of an admin command with `len` bytes of data (maybe 0) in the bounce
    /// buffer `data`. Every page the controller may reach lies in the bounce buffer, even when
    /// it moves more than `len` bytes (a command the driver cannot size): up to two pages go
    /// by PRP1 and PRP2, more by the list of [`Passthru::fill_list`]; under one page, the
    /// second page (unused by the command) is written as a list like it, in case the
    /// controller takes PRP2 for a list.
    fn describe(bounce: &Bounce, data: &mut [u8], len: usize) -> (u64, u64) {
        let page = 1usize << CTRL_PAGE_SHIFT;
        let base = kver::dma_address(&bounce.data);
        // CAST: a page size.
        let second = base + page as u64;
        if len <= page {
            let n = page / 8;
            for (i, e) in data[page..2 * page].chunks_exact_mut(8).enumerate() {
                e.copy_from_slice(&sink_entry(i, n, base, 2, second).to_le_bytes());
            }
            (base, second)
        } else if len <= 2 * page {
            (base, second)
        } else {
            (base, kver::dma_address(&bounce.list))
        }
    }

    /// Handles an NVMe ioctl; `disk` is the disk node it came in on, `None` on the char device.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize, disk: Option<DiskNode>) -> Result<isize> {
        match cmd {
            uapi::NVME_IOCTL_ID => disk
                .and_then(|d| isize::try_from(d.nsid).ok())
                .ok_or(ENOTTY),
            // I/O commands go through a disk's request queue, so they are taken on disk nodes;
            // on the char device the namespace is ambiguous.
            uapi::NVME_IOCTL_IO_CMD | uapi::NVME_IOCTL_IO64_CMD | uapi::NVME_IOCTL_IO64_CMD_VEC => {
                let node = disk.ok_or(EINVAL)?;
                Self::user_cmd(arg, cmd != uapi::NVME_IOCTL_IO_CMD, |uc| {
                    self.io_passthru(node, uc, cmd == uapi::NVME_IOCTL_IO64_CMD_VEC)
                })
            }
            uapi::NVME_IOCTL_SUBMIT_IO => {
                let node = disk.ok_or(ENOTTY)?;
                let io: UserIo = UserSlice::new(UserPtr::from_addr(arg), size_of::<UserIo>())
                    .reader()
                    .read()?;
                self.submit_io(node, &io).map(|(status, _)| status)
            }
            uapi::NVME_IOCTL_ADMIN_CMD | uapi::NVME_IOCTL_ADMIN64_CMD => {
                let origin = disk.map_or(
                    Origin {
                        partition: false,
                        open_for_write: true,
                    },
                    |d| d.origin,
                );
                Self::user_cmd(arg, cmd == uapi::NVME_IOCTL_ADMIN64_CMD, |uc| {
                    self.admin_passthru(uc, origin)
                })
            }
            // As the C driver, only on the controller's char device.
            uapi::NVME_IOCTL_RESET if disk.is_none() => {
                glue::require_sys_admin()?;
                let core = self.core()?;
                if !core.admin.is_open() {
                    return Err(ENODEV);
                }
                core.schedule_reset();
                Ok(0)
            }
            // As the C driver, only on the controller's char device; synchronous, so the disks
            // have appeared or gone when the call returns.
            uapi::NVME_IOCTL_RESCAN if disk.is_none() => {
                glue::require_sys_admin()?;
                self.core()?.admin.rescan()?;
                Ok(0)
            }
            // The old read/write interface and subsystem reset are not implemented.
            _ => Err(ENOTTY),
        }
    }

    /// Reads the passthrough structure at user address `arg` (`struct nvme_passthru_cmd64`
    /// when `wide`, else the 72-byte `struct nvme_passthru_cmd`), runs it with `run`, and writes
    /// the completion's result back into it: both dwords in the wide form, dword 0 in the
    /// other. Returns the NVMe status `run` gave.
    fn user_cmd(
        arg: usize,
        wide: bool,
        run: impl FnOnce(&UserCmd) -> Result<(isize, u64)>,
    ) -> Result<isize> {
        if wide {
            let c: PassthruCmd64 =
                UserSlice::new(UserPtr::from_addr(arg), size_of::<PassthruCmd64>())
                    .reader()
                    .read()?;
            let (status, result) = run(&UserCmd::from(&c))?;
            let at = offset_of!(PassthruCmd64, result);
            UserSlice::new(UserPtr::from_addr(arg + at), 8)
                .writer()
                .write(&result)?;
            Ok(status)
        } else {
            let c: PassthruCmd = UserSlice::new(UserPtr::from_addr(arg), size_of::<PassthruCmd>())
                .reader()
                .read()?;
            let (status, result) = run(&UserCmd::from(&PassthruCmd64::from(&c)))?;
            let at = offset_of!(PassthruCmd, result);
            // CAST: the 72-byte ABI returns completion dword 0.
            let dw0 = result as u32;
            UserSlice::new(UserPtr::from_addr(arg + at), 4)
                .writer()
                .write(&dw0)?;
            Ok(status)
        }
    }

    /// Runs one I/O command from user space on a disk's queue, through blk-mq, with the
    /// caller's buffer (or, when `vec`, the `data_len` buffers of its iovec array) mapped into
    /// the request. Returns the NVMe status (0 on success, the positive status field
    /// otherwise) and completion dwords 0 and 1.
    fn io_passthru(&self, node: DiskNode, uc: &UserCmd, vec: bool) -> Result<(isize, u64)> {
        let plan = self.plan_io(&node, uc, vec)?;
        let mut rq = node.queue.alloc_passthru(plan.to_device)?;
        plan.load(&mut rq, uc, vec, None)?;
        let blk = rq.execute();
        rq.owned().pt_cmd = None;
        let data = rq.request().data();
        let end = passthru_end(data.status(), data.result(), blk);
        rq.unmap_user()?;
        match end {
            PassthruEnd::Completed(status, result) => Ok((status as isize, result)),
            PassthruEnd::Failed(e) => Err(e),
        }
    }

    /// An `NVME_URING_CMD_IO` or `NVME_URING_CMD_IO_VEC` on a namespace's char device: the
    /// checks and mapping of [`Passthru::io_passthru`] (the buffer may also be one the ring
    /// registered), then the request is issued without waiting; it completes the command with
    /// the NVMe status, completion dwords 0 and 1 in the big completion entry. On a ring that
    /// polls, the request goes to a polled queue where the controller has one.
    pub(crate) fn uring_cmd(&self, node: DiskNode, cmd: UringCmd<'_>, issue: IssueFlags) -> Result {
        let vec = match cmd.cmd_op() {
            uapi::NVME_URING_CMD_IO => false,
            uapi::NVME_URING_CMD_IO_VEC => true,
            _ => return Err(ENOTTY),
        };
        let uring: uapi::UringCmd = cmd.command(issue)?;
        let uc = UserCmd::from(&PassthruCmd64::from(&uring));
        let plan = self.plan_io(&node, &uc, vec)?;
        let mut rq =
            node.queue
                .alloc_passthru_with(plan.to_device, issue.nonblock(), issue.iopoll())?;
        let fixed = cmd.fixed_buffer().then_some((&cmd, issue));
        plan.load(&mut rq, &uc, vec, fixed)?;
        rq.execute_uring::<NvmeMq>(cmd);
        Ok(())
    }

    /// Checks an I/O command from user space as the C driver does: its form (`EINVAL`), that
    /// its nsid is the node's (`EINVAL`), who may send it (`EACCES`). Then, stricter than C,
    /// that the buffer holds what the command moves (`EINVAL`): C leaves that to the device,
    /// which with PRPs may write past the caller's buffer. With `vec`, `data_len` counts the
    /// iovecs, and the length is checked once they are mapped ([`IoPlan::check_mapped`]).
    #[inline(always)]
    fn plan_io(&self, node: &DiskNode, uc: &UserCmd, vec: bool) -> Result<IoPlan> {
        uc.check_form()?;
        if uc.nsid != node.nsid {
            return Err(EINVAL);
        }
        let layout = uapi::io_layout(uc.opcode, &uc.cdw10_15(), node.lba_shift, &node.meta);
        let need = layout.map(|l| l.data);
        let effects = self.effects.reported().then(|| self.effects.io(uc.opcode));
        check_access(uapi::io_access(
            uc.opcode,
            effects,
            need.is_some(),
            node.origin,
        ))?;
        let has_data = if vec {
            if uc.data_len > UIO_MAXIOV || (uc.data_len != 0 && uc.addr == 0) {
                return Err(EINVAL);
            }
            uc.data_len != 0
        } else {
            uc.data(IO_PASSTHRU_MAX, need)?.0 != 0
        };
        if need.is_some_and(|n| n != 0) && !has_data {
            return Err(EINVAL);
        }
        // A command the driver cannot size (vendor specific, `CAP_SYS_ADMIN` only) gets a
        // buffer only where the controller checks its length (SGLs), and none on a namespace
        // with metadata, which it may move through a metadata pointer the driver cannot set.
        if need.is_none() && ((has_data && !self.sgl) || node.meta.ms != 0) {
            return Err(EINVAL);
        }
        let meta_buf = uc.meta(layout.map_or(0, |l| l.meta))?;
        if meta_buf.is_some() && !node.integrity {
            return Err(EINVAL);
        }
        Ok(IoPlan {
            need,
            meta_buf,
            sized: PtSized {
                lba_shift: node.lba_shift,
                meta: node.meta.to_bits(),
                meta_len: meta_buf.map_or(0, |m| m.1),
            },
            to_device: uapi::data_to_device(uc.opcode),
        })
    }

    /// Runs an `NVME_IOCTL_SUBMIT_IO` read, write or compare, as [`Passthru::io_passthru`]
    /// with the buffer lengths the command implies, as C's `nvme_submit_io()`: the data of
    /// every block (with its metadata when interleaved), the metadata through its own buffer
    /// when separate, none when the controller inserts and strips it (PRACT on metadata that
    /// is all PI, where a metadata buffer given is refused).
    fn submit_io(&self, node: DiskNode, io: &UserIo) -> Result<(isize, u64)> {
        if !matches!(io.opcode, 0x01 | 0x02 | 0x05) {
            return Err(EINVAL);
        }
        let cdw = io.cdw10_15();
        let layout = uapi::io_layout(io.opcode, &cdw, node.lba_shift, &node.meta).ok_or(EINVAL)?;
        let pract = io.control & meta::PRACT != 0;
        if pract && node.meta.is_pi_only() && io.metadata != 0 {
            return Err(EINVAL);
        }
        let uc = UserCmd {
            opcode: io.opcode,
            flags: io.flags,
            nsid: node.nsid,
            cdw: [0, 0, cdw[0], cdw[1], cdw[2], cdw[3], cdw[4], cdw[5]],
            addr: io.addr,
            data_len: u32::try_from(layout.data).map_err(|_| EINVAL)?,
            metadata: io.metadata,
            metadata_len: u32::try_from(layout.meta).map_err(|_| EINVAL)?,
            timeout_ms: 0,
        };
        self.io_passthru(node, &uc, false)
    }

    /// Runs one admin command from user space. Returns the NVMe status (0 on success, the
    /// positive status field otherwise, as the C driver does) and completion dwords 0 and 1
    /// (dword 1 in the high half).
    ///
    /// A command whose effects may change namespaces (Format NVM, Sanitize, namespace
    /// management) runs with I/O frozen where it needs it, and the disks follow the
    /// namespaces' new formats and inventory afterwards ([`crate::admin::AsyncEvents::run_changing`]).
    fn admin_passthru(&self, uc: &UserCmd, origin: Origin) -> Result<(isize, u64)> {
        uc.check_form()?;
        // Admin commands move no metadata (C: no disk, so no integrity to map it through).
        if uc.metadata_len != 0 {
            return Err(EINVAL);
        }
        check_access(uapi::admin_access(uc.opcode, uc.cdw[2], origin))?;
        let (len, addr) = uc.data(
            PASSTHRU_MAX,
            uapi::admin_data_len(uc.opcode, &uc.cdw10_15()),
        )?;
        let live = self.live.lock();
        let Some(Live { core, bounce }) = &*live else {
            return Err(ENODEV);
        };
        let mut c = uc.command();
        // Even a command without data points into the bounce buffer: one the driver cannot size
        // (`CAP_SYS_ADMIN` only) may still move data, and must not move it to bus address 0.
        // SAFETY: no command uses the bounce buffer (we hold the lock of `live`), so the device
        // does not access it, and no other reference to it exists.
        let data = unsafe { bounce.data.as_mut() };
        if len != 0 && uapi::data_to_device(uc.opcode) {
            UserSlice::new(UserPtr::from_addr(addr), len)
                .reader()
                .read_slice(&mut data[..len])?;
        }
        // Nothing of an earlier command's data may reach this caller.
        data[len..].fill(0);
        if !uapi::data_to_device(uc.opcode) {
            data[..len].fill(0);
        }
        let (prp1, prp2) = Self::describe(bounce, data, len);
        c.set_prp(prp1, prp2);
        let effects = self.effects.admin(uc.opcode);
        let submit = || core.admin.submit_sync(c);
        let done = match core.admin.events() {
            Some(events) if effects::needs_revalidate(effects) => {
                events.run_changing(&core.admin, effects::needs_freeze(effects), &mut { submit })?
            }
            _ => submit(),
        };
        let (status, result) = match done {
            Ok(cqe) => (
                0,
                u64::from(cqe.result_dw0()) | (u64::from(cqe.result_dw1()) << 32),
            ),
            Err(AdminError::Status(s)) => (isize::try_from(s.0).unwrap_or(isize::MAX), 0),
            Err(AdminError::Timeout) => return Err(ETIMEDOUT),
            Err(AdminError::Closed) => return Err(ENODEV),
        };
        if len != 0 && uapi::data_from_device(uc.opcode) {
            // SAFETY: the command completed (or failed), so the device is done with the buffer.
            let data = unsafe { bounce.data.as_ref() };
            UserSlice::new(UserPtr::from_addr(addr), len)
                .writer()
                .write_slice(&data[..len])?;
        }
        Ok((status, result))
    }
}

/// Entry `i` of an `n`-entry PRP list over the bounce buffer at bus address `base` that
/// starts with page `first`: the pages from `first` on, then the buffer's last page again, and
/// in the last entry `list`, the list's own address.
fn sink_entry(i: usize, n: usize, base: u64, first: u64, list: u64) -> u64 {
    let page = 1u64 << CTRL_PAGE_SHIFT;
    // CAST: the bounce buffer is 64 KiB.
    let last_page = (PASSTHRU_MAX as u64).div_ceil(page) - 1;
    if i + 1 == n {
        list
    } else {
        // CAST: at most 512 entries.
        base + (first + i as u64).min(last_page) * page
    }
}

/// What an I/O passthrough command ended with.
enum PassthruEnd {
    /// The controller completed it: status field (0 on success) and dwords 0 and 1.
    Completed(u16, u64),
    /// It never completed on the controller (controller dead or removed, or cancelled).
    Failed(Error),
}

/// How a passthrough request ended, from the NVMe `status` and `result` its data recorded and
/// the block layer's status `blk`.
fn passthru_end(status: Status, result: u64, blk: BlkStatus) -> PassthruEnd {
    if status.0 == HOST_ABORTED.0 || (blk.is_ok() != status.is_success()) {
        // Cancelled by recovery, or failed before reaching the controller.
        PassthruEnd::Failed(if blk.is_ok() { EIO } else { EINTR })
    } else {
        PassthruEnd::Completed(status.0, result)
    }
}

/// An I/O passthrough command checked by [`Passthru::plan_io`].
struct IoPlan {
    /// The data bytes it moves, when the driver can size it.
    need: Option<u64>,
    /// Its metadata buffer.
    meta_buf: Option<(usize, u32)>,
    /// The sizes its request is mapped with.
    sized: PtSized,
    /// It moves data to the device.
    to_device: bool,
}

impl IoPlan {
    /// Sets `rq` up for command `uc`: maps its data (`data_len` iovecs when `vec`; from the
    /// ring's registered buffer when `fixed` gives the io_uring command), checks what was
    /// mapped ([`IoPlan::check_mapped`]), maps its metadata, and gives it the timeout, the
    /// command and the sizes its buffers were checked against.
    #[inline(always)]
    fn load(
        &self,
        rq: &mut PassthruRq<'_, NvmeMq>,
        uc: &UserCmd,
        vec: bool,
        fixed: Option<(&UringCmd<'_>, IssueFlags)>,
    ) -> Result {
        if uc.data_len != 0 {
            // CAST: a user address (checked by `plan_io`).
            let addr = uc.addr as usize;
            match fixed {
                Some((cmd, issue)) => {
                    rq.map_fixed(cmd, uc.addr, uc.data_len, vec, issue, IO_PASSTHRU_MAX)?
                }
                None if vec => rq.map_user_vec(addr, uc.data_len, IO_PASSTHRU_MAX)?,
                None => rq.map_user(addr, uc.data_len)?,
            }
        }
        self.check_mapped(rq.request().bytes())?;
        if let Some((addr, len)) = self.meta_buf {
            rq.map_user_integrity(addr, len)?;
        }
        rq.set_timeout_ms(uc.timeout_ms);
        rq.request().data().clear();
        rq.owned().pt_sized = self.sized;
        // Built here, in the request's data, rather than kept in the plan: one copy fewer.
        rq.owned().pt_cmd = Some(uc.command());
        Ok(())
    }

    /// Checks the data `mapped` into the request (bytes): at least what the command moves and
    /// at most [`IO_PASSTHRU_MAX`] (`EINVAL` otherwise).
    fn check_mapped(&self, mapped: u32) -> Result {
        // CAST: `usize` holds a `u32`.
        if self.need.is_some_and(|n| n > u64::from(mapped)) || mapped as usize > IO_PASSTHRU_MAX {
            return Err(EINVAL);
        }
        Ok(())
    }
}

impl UringEnd<NvmeMq> for NvmeMq {
    /// As C: -EINTR when recovery cancelled the command, else the NVMe status, else the block
    /// layer's error; the result is completion dwords 0 and 1.
    #[inline]
    fn ended(rq: &Request<NvmeMq>, owned: &mut IodOwned, blk: BlkStatus) -> (i32, u64) {
        owned.pt_cmd = None;
        let data = rq.data();
        match passthru_end(data.status(), data.result(), blk) {
            PassthruEnd::Completed(status, result) => (i32::from(status), result),
            PassthruEnd::Failed(e) => (e.to_errno(), 0),
        }
    }
}
