// SPDX-License-Identifier: GPL-2.0

//! Sysfs attribute groups, described by a driver through [`Attributes`] and laid
//! out as constants by [`AttrTable`].
//!
//! C header: [`include/linux/sysfs.h`](srctree/include/linux/sysfs.h)

use crate::glue::device::raw_dev;
use core::{
    fmt,
    marker::PhantomData,
    ptr, //
};
use kernel::{
    bindings,
    device,
    error::to_result,
    miscdevice::{
        MiscDevice,
        MiscDeviceRegistration, //
    },
    prelude::*,
    str::CStr, //
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

/// Most attributes one [`AttrTable`] holds.
const MAX_ATTRS: usize = 10;

/// What a driver shows in the read-only sysfs attributes of an object of its (a disk, a misc
/// device): the attribute names, and one `show` per index. Upstream's `kernel::device` has no
/// attribute groups in 7.3.
pub(crate) trait Attributes: 'static {
    /// The object the attributes belong to, as the driver knows it.
    type Object;
    /// The attribute names, at most ten; index `i` is shown by `show(.., i, ..)`.
    const NAMES: &'static [&'static CStr];

    /// Writes attribute `index` of `obj`.
    fn show(obj: &Self::Object, index: usize, w: &mut SysfsWriter) -> fmt::Result;

    /// Whether attribute `index` exists for `obj` (read when the group is added).
    fn visible(_obj: &Self::Object, _index: usize) -> bool {
        true
    }

    /// The attributes (bit `i` for index `i`) root may write (mode 0644); the others are
    /// read-only (0444).
    const WRITABLE: u16 = 0;

    /// Takes a write of `val` to writable attribute `index` of `obj`.
    fn store(_obj: &Self::Object, _index: usize, _val: &[u8]) -> Result {
        Err(EINVAL)
    }
}

/// Attributes of nothing, for users of a tag set whose disks have none (the KUnit test double).
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
pub(crate) struct NoAttrs<O>(PhantomData<O>);

#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
impl<O: 'static> Attributes for NoAttrs<O> {
    type Object = O;
    const NAMES: &'static [&'static CStr] = &[];

    fn show(_obj: &O, _index: usize, _w: &mut SysfsWriter) -> fmt::Result {
        Ok(())
    }
}

/// How the glue finds the object behind a device that carries attributes.
pub(crate) trait Locate: 'static {
    /// The object.
    type Object;

    /// The object whose device is `dev`.
    ///
    /// # Safety
    ///
    /// `dev` is a device a group of this kind was added to, alive for `'a`.
    unsafe fn object<'a>(dev: *mut bindings::device) -> &'a Self::Object;
}

/// The registration of a misc device of `T`, found from its `this_device`.
pub(crate) struct MiscOf<T>(PhantomData<T>);

impl<T: MiscDevice + 'static> Locate for MiscOf<T> {
    type Object = MiscDeviceRegistration<T>;

    unsafe fn object<'a>(dev: *mut bindings::device) -> &'a MiscDeviceRegistration<T> {
        // SAFETY: `misc_register` sets the `struct miscdevice` as the driver data of
        // `this_device`; `MiscDeviceRegistration` is a transparent wrapper of it, alive while
        // its device has attributes (the caller's guarantee).
        unsafe { &*(*dev).driver_data.cast::<MiscDeviceRegistration<T>>() }
    }
}

/// The attribute group of an [`Attributes`] implementation on devices found by `L`, in
/// constants: each is evaluated once into memory that lives as long as the module, and points
/// only to such memory.
pub(crate) struct AttrTable<A, L>(PhantomData<(A, L)>);

impl<A: Attributes, L: Locate<Object = A::Object>> AttrTable<A, L> {
    /// The attributes: `A::NAMES`, each with its `show`; unused slots hidden by `is_visible`.
    const ATTRS: [bindings::device_attribute; MAX_ATTRS] = {
        let mut a = [dev_attr(c"", show::<A, L, 0>); MAX_ATTRS];
        let shows = [
            show::<A, L, 0>,
            show::<A, L, 1>,
            show::<A, L, 2>,
            show::<A, L, 3>,
            show::<A, L, 4>,
            show::<A, L, 5>,
            show::<A, L, 6>,
            show::<A, L, 7>,
            show::<A, L, 8>,
            show::<A, L, 9>,
        ];
        let stores = [
            store::<A, L, 0>,
            store::<A, L, 1>,
            store::<A, L, 2>,
            store::<A, L, 3>,
            store::<A, L, 4>,
            store::<A, L, 5>,
            store::<A, L, 6>,
            store::<A, L, 7>,
            store::<A, L, 8>,
            store::<A, L, 9>,
        ];
        assert!(A::NAMES.len() <= MAX_ATTRS);
        let mut i = 0;
        while i < A::NAMES.len() {
            a[i] = dev_attr(A::NAMES[i], shows[i]);
            if A::WRITABLE & (1 << i) != 0 {
                a[i].attr.mode = 0o644;
                a[i].__bindgen_anon_2.store = Some(stores[i]);
            }
            i += 1;
        }
        a
    };

    /// The NULL-terminated list of the attributes in use.
    const PTRS: [*mut bindings::attribute; MAX_ATTRS + 1] = {
        let attrs: &'static [bindings::device_attribute; MAX_ATTRS] = &Self::ATTRS;
        let mut p = [ptr::null_mut(); MAX_ATTRS + 1];
        let mut i = 0;
        while i < A::NAMES.len() {
            p[i] = ptr::addr_of!(attrs[i].attr).cast_mut();
            i += 1;
        }
        p
    };

    /// The group.
    const GROUP: bindings::attribute_group = {
        let ptrs: &'static [*mut bindings::attribute; MAX_ATTRS + 1] = &Self::PTRS;
        let mut g: bindings::attribute_group = pin_init::zeroed();
        g.__bindgen_anon_1.is_visible = Some(is_visible::<A, L>);
        g.__bindgen_anon_2.attrs = ptrs.as_ptr().cast_mut();
        g
    };

    /// The NULL-terminated list of groups, as `device_add_disk` takes it.
    const GROUPS: [*const bindings::attribute_group; 2] = {
        let g: &'static bindings::attribute_group = &Self::GROUP;
        [ptr::from_ref(g), ptr::null()]
    };

    /// The group, for `sysfs_create_group`.
    pub(crate) const fn group() -> &'static bindings::attribute_group {
        &Self::GROUP
    }

    /// The group list, for `device_add_disk`.
    pub(crate) const fn groups() -> &'static [*const bindings::attribute_group; 2] {
        &Self::GROUPS
    }

    /// Adds the attributes to `dev` (`sysfs_create_group()`), which must be a device whose
    /// object [`Locate::object`] finds until [`AttrTable::remove`].
    pub(crate) fn add(dev: &device::Device) -> Result {
        // SAFETY: `dev` is a live device; the group is a constant of the module.
        to_result(unsafe { bindings::sysfs_create_group(&mut (*raw_dev(dev)).kobj, Self::group()) })
    }

    /// Removes what [`AttrTable::add`] added; after it returns no `show` call runs.
    pub(crate) fn remove(dev: &device::Device) {
        // SAFETY: `dev` is a live device; removing a group waits for running callbacks.
        unsafe { bindings::sysfs_remove_group(&mut (*raw_dev(dev)).kobj, Self::group()) };
    }
}

/// Runs `f` on a `show` call's page and returns the number of bytes written.
fn emit(buf: *mut u8, f: impl FnOnce(&mut SysfsWriter) -> ShowResult) -> isize {
    let mut w = SysfsWriter { buf, pos: 0 };
    match f(&mut w) {
        // CAST: at most a page.
        Ok(()) => w.pos as isize,
        Err(_) => EIO.to_errno() as isize,
    }
}

/// `show` of attribute `I` of an [`AttrTable`].
///
/// # Safety
///
/// Only installed by [`AttrTable`] on devices of `A`'s objects, with `buf` a sysfs page.
unsafe extern "C" fn show<A: Attributes, L: Locate<Object = A::Object>, const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    // SAFETY: the group is on `dev`, which sysfs keeps alive during the call.
    let obj = unsafe { L::object(dev) };
    emit(buf, |w| A::show(obj, I, w))
}

/// `store` of attribute `I` of an [`AttrTable`]: the written bytes to [`Attributes::store`].
///
/// # Safety
///
/// Only installed by [`AttrTable`] on devices of `A`'s objects, with `buf` holding `count`
/// bytes.
unsafe extern "C" fn store<A: Attributes, L: Locate<Object = A::Object>, const I: usize>(
    dev: *mut bindings::device,
    _attr: *mut bindings::device_attribute,
    buf: *const u8,
    count: usize,
) -> isize {
    // SAFETY: the group is on `dev`, which sysfs keeps alive during the call; sysfs hands the
    // written bytes in `buf`.
    let (obj, val) = unsafe { (L::object(dev), core::slice::from_raw_parts(buf, count)) };
    match A::store(obj, I, val) {
        // CAST: sysfs writes are at most a page.
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `is_visible` of an [`AttrTable`]'s group.
///
/// # Safety
///
/// Only installed by [`AttrTable`] on devices of `A`'s objects.
unsafe extern "C" fn is_visible<A: Attributes, L: Locate<Object = A::Object>>(
    kobj: *mut bindings::kobject,
    attr: *mut bindings::attribute,
    index: i32,
) -> bindings::umode_t {
    // SAFETY: the group is added to a device, whose `kobj` this is.
    let obj = unsafe { L::object(kernel::container_of!(kobj, bindings::device, kobj)) };
    match usize::try_from(index) {
        // SAFETY: `attr` is one of the table's attributes.
        Ok(i) if i < A::NAMES.len() && A::visible(obj, i) => unsafe { (*attr).mode },
        _ => 0,
    }
}
