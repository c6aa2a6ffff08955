// SPDX-License-Identifier: GPL-2.0

//! Read-only sysfs attributes of the controller char device and of the disks.
//!
//! C header: [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h)

use crate::glue::{
    block::mq::operations::Operations,
    device::raw_dev, //
};
use core::{
    fmt,
    ptr::{self},
};
use kernel::{
    bindings, device,
    error::{
        to_result, //
    },
    prelude::*,
    str::CStr,
};

/// Where a sysfs `show` callback writes its value: the page sysfs hands it.
pub(crate) struct SysfsWriter {
    buf: *mut u8,
    pos: usize,
}

/// Bytes of the sysfs page a value may use (one page, the last byte kept for a NUL).
const SYSFS_PAGE: usize = 4096 - 1;

impl fmt::Write for SysfsWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(SYSFS_PAGE - self.pos);
        // SAFETY: `buf` is the PAGE_SIZE buffer of a `show` call and `pos + n <= SYSFS_PAGE`.
        unsafe { ptr::copy_nonoverlapping(s.as_ptr(), self.buf.add(self.pos), n) };
        self.pos += n;
        Ok(())
    }
}

/// A `show` callback of the driver: index of the attribute, the data, the output.
type ShowResult = core::result::Result<(), fmt::Error>;

/// Builds a read-only (0444) device attribute.
const fn dev_attr(
    name: &'static CStr,
    show: unsafe extern "C" fn(
        *mut bindings::device,
        *mut bindings::device_attribute,
        *mut u8,
    ) -> isize,
) -> bindings::device_attribute {
    let mut a: bindings::device_attribute = pin_init::zeroed();
    a.attr.name = kernel::str::as_char_ptr_in_const_context(name);
    a.attr.mode = 0o444;
    a.__bindgen_anon_1.show = Some(show);
    a
}

/// Static attribute tables: immutable, pointing to each other and to this module's code.
#[repr(transparent)]
pub(in crate::glue) struct Static<T>(pub(in crate::glue) T);

// SAFETY: the tables are never written after initialisation (sysfs only reads them).
unsafe impl<T> Sync for Static<T> {}

/// Runs `f` on a `show` call's page and returns the number of bytes written.
fn emit(buf: *mut u8, f: impl FnOnce(&mut SysfsWriter) -> ShowResult) -> isize {
    let mut w = SysfsWriter { buf, pos: 0 };
    match f(&mut w) {
        // CAST: at most a page.
        Ok(()) => w.pos as isize,
        Err(_) => EIO.to_errno() as isize,
    }
}

/// # Safety
///
/// Only installed on the `this_device` of a [`crate::chardev::CtrlChar`] misc device, with
/// `buf` a sysfs page.
unsafe extern "C" fn ctrl_show<const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `misc_register` sets the misc device's `struct miscdevice` as the driver data
    // of `this_device`; the attributes are removed before the misc device is deregistered.
    let misc = unsafe { (*dev).driver_data }.cast_const();
    // SAFETY: as above, `misc` is the registration of a live `CtrlChar`.
    emit(buf, |w| unsafe {
        crate::chardev::ctrl_attr_show(misc, I, w)
    })
}

static CTRL_ATTRS: Static<[bindings::device_attribute; 6]> = Static([
    dev_attr(c"model", ctrl_show::<0>),
    dev_attr(c"serial", ctrl_show::<1>),
    dev_attr(c"firmware_rev", ctrl_show::<2>),
    dev_attr(c"state", ctrl_show::<3>),
    dev_attr(c"queue_count", ctrl_show::<4>),
    dev_attr(c"sqsize", ctrl_show::<5>),
]);

static CTRL_ATTR_PTRS: Static<[*mut bindings::attribute; 7]> = Static([
    ptr::addr_of!(CTRL_ATTRS.0[0].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[1].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[2].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[3].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[4].attr).cast_mut(),
    ptr::addr_of!(CTRL_ATTRS.0[5].attr).cast_mut(),
    ptr::null_mut(),
]);

static CTRL_GROUP: Static<bindings::attribute_group> = Static({
    let mut g: bindings::attribute_group = pin_init::zeroed();
    g.__bindgen_anon_2.attrs = ptr::addr_of!(CTRL_ATTR_PTRS.0)
        .cast::<*mut bindings::attribute>()
        .cast_mut();
    g
});

/// Adds the controller attributes to a char device's `this_device`.
pub(crate) fn add_ctrl_attrs(dev: &device::Device) -> Result {
    // SAFETY: `dev` is a live device; the group is static.
    to_result(unsafe { bindings::sysfs_create_group(&mut (*raw_dev(dev)).kobj, &CTRL_GROUP.0) })
}

/// Removes what [`add_ctrl_attrs`] added; after it returns no `show` call runs.
pub(crate) fn remove_ctrl_attrs(dev: &device::Device) {
    // SAFETY: `dev` is a live device; removing a group waits for running callbacks.
    unsafe { bindings::sysfs_remove_group(&mut (*raw_dev(dev)).kobj, &CTRL_GROUP.0) };
}

/// The namespace data of the disk whose device is `dev`.
///
/// # Safety
///
/// `dev` must be the device of one of our disks (its `struct block_device` `bd_device`).
unsafe fn disk_data<'a>(dev: *mut bindings::device) -> &'a <crate::io::NvmeMq as Operations>::Disk {
    // SAFETY: a disk's device is the `bd_device` of its whole-disk `block_device`, whose disk's
    // queue carries the namespace as `queuedata` for the disk's lifetime.
    unsafe {
        let bdev = kernel::container_of!(dev, bindings::block_device, bd_device);
        &*(*(*(*bdev).bd_disk).queue)
            .queuedata
            .cast::<<crate::io::NvmeMq as Operations>::Disk>()
    }
}

/// # Safety
///
/// Only installed on our disks, with `buf` a sysfs page.
unsafe extern "C" fn disk_show<const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: `dev` is one of our disks (function safety requirement).
    let ns = unsafe { disk_data(dev) };
    emit(buf, |w| crate::io::disk_attr_show(ns, I, w))
}

/// # Safety
///
/// Only installed on our disks.
unsafe extern "C" fn disk_attr_visible(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    index: i32,
) -> bindings::umode_t {
    // SAFETY: the group is added to a disk's device, whose `kobj` this is.
    let ns = unsafe { disk_data(kernel::container_of!(kobj, bindings::device, kobj)) };
    match usize::try_from(index) {
        // SAFETY: `attr` is one of our static attributes.
        Ok(i) if crate::io::disk_attr_visible(ns, i) => unsafe { (*attr).mode },
        _ => 0,
    }
}

static DISK_ATTRS: Static<[bindings::device_attribute; 5]> = Static([
    dev_attr(c"nsid", disk_show::<0>),
    dev_attr(c"wwid", disk_show::<1>),
    dev_attr(c"eui", disk_show::<2>),
    dev_attr(c"nguid", disk_show::<3>),
    dev_attr(c"uuid", disk_show::<4>),
]);

static DISK_ATTR_PTRS: Static<[*mut bindings::attribute; 6]> = Static([
    ptr::addr_of!(DISK_ATTRS.0[0].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[1].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[2].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[3].attr).cast_mut(),
    ptr::addr_of!(DISK_ATTRS.0[4].attr).cast_mut(),
    ptr::null_mut(),
]);

static DISK_GROUP: Static<bindings::attribute_group> = Static({
    let mut g: bindings::attribute_group = pin_init::zeroed();
    g.__bindgen_anon_1.is_visible = Some(disk_attr_visible);
    g.__bindgen_anon_2.attrs = ptr::addr_of!(DISK_ATTR_PTRS.0)
        .cast::<*mut bindings::attribute>()
        .cast_mut();
    g
});

pub(in crate::glue) static DISK_GROUPS: Static<[*const bindings::attribute_group; 2]> =
    Static([ptr::addr_of!(DISK_GROUP.0), ptr::null()]);
