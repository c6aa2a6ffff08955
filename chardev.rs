// SPDX-License-Identifier: GPL-2.0

//! The controller character device `/dev/rnvme<N>`: the passthrough ioctls of
//! [`crate::passthru`] and the controller's sysfs attributes (model, serial, firmware_rev,
//! state, queue_count, sqsize), as the C driver's `/dev/nvme<N>`.

use kernel::{
    fs::File,
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::{
        Arc,
        ArcBorrow, //
    },
};

use crate::{
    glue::{
        AttrTable,
        Attributes,
        MiscOf,
        SysfsWriter, //
    },
    nvme::ident::write_id_str,
    passthru::Passthru,
};

/// Names of the controller char devices: `MiscDeviceOptions` wants a `'static` name.
static NAMES: [&CStr; 16] = [
    c"rnvme0", c"rnvme1", c"rnvme2", c"rnvme3", c"rnvme4", c"rnvme5", c"rnvme6", c"rnvme7",
    c"rnvme8", c"rnvme9", c"rnvme10", c"rnvme11", c"rnvme12", c"rnvme13", c"rnvme14", c"rnvme15",
];

/// The sysfs attributes of the controller char device, as the C driver's controller
/// attributes: model, serial, firmware_rev, state, queue_count, sqsize.
struct CtrlAttrs;

impl Attributes for CtrlAttrs {
    type Object = MiscDeviceRegistration<CtrlFile>;
    const NAMES: &'static [&'static CStr] = &[
        c"model",
        c"serial",
        c"firmware_rev",
        c"state",
        c"queue_count",
        c"sqsize",
    ];

    fn show(
        misc: &MiscDeviceRegistration<CtrlFile>,
        index: usize,
        w: &mut SysfsWriter,
    ) -> core::fmt::Result {
        use core::fmt::Write;
        let misc = core::ptr::from_ref(misc);
        // SAFETY: every `MiscDeviceRegistration<CtrlFile>` is the `reg` field of a `CtrlChar`,
        // alive while its device has the attributes (removed in `CtrlChar`'s drop).
        let this = unsafe { &*kernel::container_of!(misc, CtrlChar, reg) };
        let p = &this.passthru;
        let info = &p.info;
        match index {
            0 => write_id_str(w, &info.model)?,
            1 => write_id_str(w, &info.serial)?,
            2 => write_id_str(w, &info.firmware)?,
            3 => w.write_str(p.state_name())?,
            4 => write!(w, "{}", info.queue_count)?,
            _ => write!(w, "{}", info.sqsize)?,
        }
        w.write_char('\n')
    }
}

/// The attribute group of the char device.
type CtrlAttrTable = AttrTable<CtrlAttrs, MiscOf<CtrlFile>>;

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
                CtrlAttrTable::add(reg.device())?;
            },
        }))
    }
}

#[pinned_drop]
impl PinnedDrop for CtrlChar {
    fn drop(self: Pin<&mut Self>) {
        CtrlAttrTable::remove(self.reg.device());
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
