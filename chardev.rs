// SPDX-License-Identifier: GPL-2.0

//! The controller character device `/dev/rnvme<N>` and the NVMe passthrough ioctls, on it and
//! on each disk, with the ABI of Linux's `nvme_ioctl.h` (see [`crate::nvme::uapi`]), so that
//! nvme-cli's `id-ctrl`, `id-ns`, `smart-log`, `get-feature`, `error-log`, `admin-passthru`
//! and `ns-rescan` work on our nodes.
//!
//! Admin commands go through a DMA bounce buffer allocated at probe, one command at a time.
//! An open file may outlive the controller: once unbind has closed the admin queue, every
//! ioctl fails with `ENODEV`.

use core::mem::offset_of;

use kernel::{
    device,
    dma::Coherent,
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        ArcBorrow,
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
    ffi::{
        self,
        kver,
        DiskQueue, //
    },
    io::{
        self,
        PassthruEnd,
        CTRL_PAGE_SHIFT, //
    },
    nvme::{
        cmd::Command,
        prp::{
            self,
            ListPage,
            Seg, //
        },
        uapi::{
            self,
            Access,
            PassthruCmd,
            PassthruCmd64, //
        },
    },
};

// SAFETY: `PassthruCmd` is `#[repr(C)]` of integers without padding (72 bytes, asserted), so
// every bit pattern is valid and all bytes are initialised; no interior mutability.
unsafe impl FromBytes for PassthruCmd {}
// SAFETY: as above.
unsafe impl AsBytes for PassthruCmd {}
// SAFETY: `PassthruCmd64` is `#[repr(C)]` of integers without padding (80 bytes, asserted).
unsafe impl FromBytes for PassthruCmd64 {}
// SAFETY: as above.
unsafe impl AsBytes for PassthruCmd64 {}

/// Largest data buffer of one admin passthrough command.
const PASSTHRU_MAX: usize = 64 * 1024;
/// Largest data buffer of one I/O passthrough command (the queue's largest transfer applies
/// too: a longer one fails with `EINVAL`).
const IO_PASSTHRU_MAX: usize = 2 * 1024 * 1024;

/// The DMA buffers of passthrough commands.
struct Bounce {
    data: Coherent<[u8]>,
    /// One PRP list page for the data buffer.
    list: Coherent<[u64]>,
}

/// What sysfs shows about a controller.
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

/// Passthrough state of one controller, shared by its char device and its disks.
#[pin_data]
pub(crate) struct Passthru {
    core: Arc<CtrlCore>,
    /// Identity of the controller, for sysfs.
    pub(crate) info: CtrlInfo,
    #[pin]
    bounce: Mutex<Bounce>,
}

/// The disk node an ioctl came in on.
#[derive(Clone, Copy)]
pub(crate) struct DiskNode {
    /// Its namespace.
    pub(crate) nsid: u32,
    /// Its request queue, for I/O passthrough.
    pub(crate) queue: DiskQueue,
    /// It was opened for writing.
    pub(crate) writable: bool,
}

/// Lets the caller go ahead when `access` allows it (`EACCES` otherwise).
fn check_access(access: Access) -> Result {
    match access {
        Access::Anyone => Ok(()),
        Access::SysAdmin => ffi::require_sys_admin(),
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
    metadata_len: u32,
    timeout_ms: u32,
}

impl UserCmd {
    /// The length and user address of the data buffer, checked: no flags or metadata (not
    /// supported), at most `max` bytes (`EINVAL` otherwise), an address when there is data
    /// (`EFAULT` otherwise).
    fn data(&self, max: usize) -> Result<(usize, usize)> {
        let len = usize::try_from(self.data_len).map_err(|_| EINVAL)?;
        if self.flags != 0 || self.metadata_len != 0 || len > max {
            return Err(EINVAL);
        }
        if len != 0 && self.addr == 0 {
            return Err(EFAULT);
        }
        Ok((len, usize::try_from(self.addr).map_err(|_| EFAULT)?))
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
    ) -> Result<Arc<Self>> {
        let bounce = Bounce {
            data: Coherent::zeroed_slice(dev, PASSTHRU_MAX, GFP_KERNEL)?,
            list: Coherent::zeroed_slice(dev, 1 << (CTRL_PAGE_SHIFT - 3), GFP_KERNEL)?,
        };
        Arc::pin_init(
            pin_init!(Self {
                core,
                info,
                bounce <- new_mutex!(bounce),
            }),
            GFP_KERNEL,
        )
    }

    /// Handles an NVMe ioctl; `disk` is the disk node it came in on, `None` on the char device.
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize, disk: Option<DiskNode>) -> Result<isize> {
        match cmd {
            uapi::NVME_IOCTL_ID => disk
                .and_then(|d| isize::try_from(d.nsid).ok())
                .ok_or(ENOTTY),
            // I/O commands go through a disk's request queue, so they are taken on disk nodes;
            // on the char device the namespace is ambiguous.
            uapi::NVME_IOCTL_IO_CMD | uapi::NVME_IOCTL_IO64_CMD => {
                let node = disk.ok_or(EINVAL)?;
                Self::user_cmd(arg, cmd == uapi::NVME_IOCTL_IO64_CMD, |uc| {
                    Self::io_passthru(node, uc)
                })
            }
            uapi::NVME_IOCTL_ADMIN_CMD | uapi::NVME_IOCTL_ADMIN64_CMD => {
                Self::user_cmd(arg, cmd == uapi::NVME_IOCTL_ADMIN64_CMD, |uc| {
                    self.admin_passthru(uc)
                })
            }
            uapi::NVME_IOCTL_RESET => {
                ffi::require_sys_admin()?;
                if !self.core.admin.is_open() {
                    return Err(ENODEV);
                }
                self.core.schedule_reset();
                Ok(0)
            }
            // As the C driver, only on the controller's char device; synchronous, so the disks
            // have appeared or gone when the call returns.
            uapi::NVME_IOCTL_RESCAN if disk.is_none() => {
                ffi::require_sys_admin()?;
                self.core.admin.rescan()?;
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

    /// Runs one I/O command from user space on a disk's queue, through blk-mq. Returns the
    /// NVMe status (0 on success, the positive status field otherwise) and completion dwords
    /// 0 and 1.
    fn io_passthru(node: DiskNode, uc: &UserCmd) -> Result<(isize, u64)> {
        check_access(uapi::io_access(uc.opcode, node.writable))?;
        let (len, addr) = uc.data(IO_PASSTHRU_MAX)?;
        let to_device = uapi::data_to_device(uc.opcode);
        let c = uc.command();
        let mut buf = KVVec::<u8>::new();
        if len != 0 {
            buf.resize(len, 0, GFP_KERNEL)?;
            if to_device {
                UserSlice::new(UserPtr::from_addr(addr), len)
                    .reader()
                    .read_slice(&mut buf)?;
            }
        }
        let data = if len != 0 { Some(&mut buf[..]) } else { None };
        let (status, result) =
            match io::execute_passthru(node.queue, &c, data, to_device, uc.timeout_ms)? {
                PassthruEnd::Completed(status, result) => (status, result),
                PassthruEnd::Failed(e) => return Err(e),
            };
        if len != 0 && uapi::data_from_device(uc.opcode) {
            UserSlice::new(UserPtr::from_addr(addr), len)
                .writer()
                .write_slice(&buf)?;
        }
        Ok((isize::try_from(status).unwrap_or(isize::MAX), result))
    }

    /// Runs one admin command from user space. Returns the NVMe status (0 on success, the
    /// positive status field otherwise, as the C driver does) and completion dwords 0 and 1
    /// (dword 1 in the high half).
    fn admin_passthru(&self, uc: &UserCmd) -> Result<(isize, u64)> {
        check_access(uapi::admin_access(uc.opcode, uc.cdw[2]))?;
        let (len, addr) = uc.data(PASSTHRU_MAX)?;
        let bounce = self.bounce.lock();
        let mut c = uc.command();
        if len != 0 {
            // SAFETY: no command uses the bounce buffer (we hold its lock), so the device does
            // not access it, and no other reference to it exists.
            let data = unsafe { bounce.data.as_mut() };
            let data = &mut data[..len];
            if uapi::data_to_device(uc.opcode) {
                UserSlice::new(UserPtr::from_addr(addr), len)
                    .reader()
                    .read_slice(data)?;
            } else {
                data.fill(0);
            }
            Self::map(&bounce, len, &mut c)?;
        }
        let (status, result) = match self.core.admin.submit_sync(c) {
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

    /// Points the command's PRPs at the first `len` bytes of the bounce buffer.
    fn map(bounce: &Bounce, len: usize, c: &mut Command) -> Result {
        let seg = Seg::new(kver::dma_address(&bounce.data), u32::try_from(len)?);
        let plan = prp::plan([seg], CTRL_PAGE_SHIFT).map_err(|_| EINVAL)?;
        let (prp1, prp2) = if plan.needs_list() {
            // SAFETY: the list page is used only by this command, under the bounce lock, and
            // the device reads it only after the doorbell.
            let entries = unsafe { bounce.list.as_mut() };
            let mut pages = [ListPage {
                dma: kver::dma_address(&bounce.list),
                entries,
            }];
            prp::fill([seg], CTRL_PAGE_SHIFT, &mut pages).map_err(|_| EINVAL)?
        } else {
            (plan.prp1, plan.prp2.unwrap_or(0))
        };
        c.set_prp(prp1, prp2);
        Ok(())
    }
}

/// Names of the controller char devices: `MiscDeviceOptions` wants a `'static` name.
static NAMES: [&CStr; 16] = [
    c"rnvme0", c"rnvme1", c"rnvme2", c"rnvme3", c"rnvme4", c"rnvme5", c"rnvme6", c"rnvme7",
    c"rnvme8", c"rnvme9", c"rnvme10", c"rnvme11", c"rnvme12", c"rnvme13", c"rnvme14", c"rnvme15",
];

/// Writes an identify string as the controller reports it, padding included (as the C
/// driver's attributes do), up to a NUL; anything but printable ASCII as '?'.
pub(crate) fn write_id_str(w: &mut impl core::fmt::Write, s: &[u8]) -> core::fmt::Result {
    for &b in s.iter().take_while(|&&b| b != 0) {
        w.write_char(if b.is_ascii_graphic() || b == b' ' {
            char::from(b)
        } else {
            '?'
        })?;
    }
    Ok(())
}

/// Shows controller attribute `index` (see the table in `ffi`) of the char device `misc`.
///
/// # Safety
///
/// `misc` must point to the registration of a live [`CtrlChar`].
pub(crate) unsafe fn ctrl_attr_show(
    misc: *const core::ffi::c_void,
    index: usize,
    w: &mut impl core::fmt::Write,
) -> core::fmt::Result {
    let misc = misc.cast::<MiscDeviceRegistration<CtrlFile>>();
    // SAFETY: `misc` is the `reg` field of a live `CtrlChar` (function safety requirement).
    let this = unsafe { &*kernel::container_of!(misc, CtrlChar, reg) };
    let p = &this.passthru;
    let info = &p.info;
    match index {
        0 => write_id_str(w, &info.model)?,
        1 => write_id_str(w, &info.serial)?,
        2 => write_id_str(w, &info.firmware)?,
        3 => w.write_str(p.core.state().name())?,
        4 => write!(w, "{}", info.queue_count)?,
        _ => write!(w, "{}", info.sqsize)?,
    }
    w.write_char('\n')
}

/// The char device of one controller.
#[pin_data(PinnedDrop)]
pub(crate) struct CtrlChar {
    #[pin]
    reg: MiscDeviceRegistration<CtrlFile>,
    passthru: Arc<Passthru>,
    /// The controller attributes on the char device exist while this does.
    _attrs: (),
}

impl CtrlChar {
    /// Registers `/dev/rnvme<id>`; controllers beyond the name table get no char device.
    pub(crate) fn new(id: u32, passthru: Arc<Passthru>) -> Option<impl PinInit<Self, Error>> {
        let name = *NAMES.get(usize::try_from(id).ok()?)?;
        Some(try_pin_init!(Self {
            reg <- MiscDeviceRegistration::register(MiscDeviceOptions { name }),
            passthru,
            _attrs: {
                // INVARIANT: removed again in `drop`, before `reg` is deregistered.
                ffi::add_ctrl_attrs(reg.device())?;
            },
        }))
    }
}

#[pinned_drop]
impl PinnedDrop for CtrlChar {
    fn drop(self: Pin<&mut Self>) {
        ffi::remove_ctrl_attrs(self.reg.device());
    }
}

/// An open controller char device.
pub(crate) struct CtrlFile;

#[vtable]
impl MiscDevice for CtrlFile {
    type Ptr = Arc<Passthru>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Passthru>> {
        let misc = core::ptr::from_ref(misc);
        // SAFETY: every `MiscDeviceRegistration<CtrlFile>` is the `reg` field of a `CtrlChar`,
        // which the misc core keeps registered (and so alive) during `open`.
        let this = unsafe { &*kernel::container_of!(misc, CtrlChar, reg) };
        Ok(this.passthru.clone())
    }

    fn ioctl(this: ArcBorrow<'_, Passthru>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        this.ioctl(cmd, arg, None)
    }
}
