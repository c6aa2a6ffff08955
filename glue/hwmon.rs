// SPDX-License-Identifier: GPL-2.0

//! A hardware monitoring device with temperature channels (`hwmon_device_register_with_info()`):
//! its attributes (`tempN_input`, `_max`, `_min`, `_crit`, `_alarm`, `_label`) are read and
//! written through [`TempSensors`]. Upstream has no hwmon abstraction, and the bindings do not
//! cover `<linux/hwmon.h>`: the structures and functions used are declared here from the 7.3
//! header.
//!
//! C header: [`include/linux/hwmon.h`](srctree/include/linux/hwmon.h)

use crate::glue::{
    device::raw_dev,
    kver, //
};
use core::{
    ffi::{
        c_int,
        c_long,
        c_void, //
    },
    ptr, //
};
use kernel::{
    bindings,
    device,
    ffi::c_char,
    prelude::*,
    str::CStr,
    sync::Arc, //
};

/// `enum hwmon_sensor_types`: the chip-wide attributes (none visible: only the flag below).
const HWMON_CHIP: u32 = 0;
/// `enum hwmon_sensor_types`: temperature channels.
const HWMON_TEMP: u32 = 1;
/// `HWMON_C_REGISTER_TZ`: register the temperature channels as thermal zones where the
/// platform describes them (`hwmon_chip_register_tz` is attribute 4).
const HWMON_C_REGISTER_TZ: u32 = 1 << 4;

/// A temperature attribute (`enum hwmon_temp_attributes`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TempAttr {
    /// `tempN_input`: the temperature, in millidegrees Celsius.
    Input,
    /// `tempN_min`: the under-temperature threshold.
    Min,
    /// `tempN_max`: the over-temperature threshold.
    Max,
    /// `tempN_crit`: the critical temperature.
    Crit,
    /// `tempN_alarm`: a temperature alarm is raised.
    Alarm,
    /// `tempN_label`: the channel's name.
    Label,
}

impl TempAttr {
    /// The attribute's number in `enum hwmon_temp_attributes`.
    const fn index(self) -> u32 {
        match self {
            Self::Input => 1,
            Self::Min => 5,
            Self::Max => 7,
            Self::Crit => 9,
            Self::Alarm => 13,
            Self::Label => 21,
        }
    }

    fn from_index(i: u32) -> Option<Self> {
        [
            Self::Input,
            Self::Min,
            Self::Max,
            Self::Crit,
            Self::Alarm,
            Self::Label,
        ]
        .into_iter()
        .find(|a| a.index() == i)
    }

    /// The attribute's bit in a channel's configuration (`HWMON_T_*`).
    pub(crate) const fn bit(self) -> u32 {
        1 << self.index()
    }
}

/// What a driver answers for its temperature channels.
pub(crate) trait TempSensors: Send + Sync + 'static {
    /// Channel 0 first: each channel's attributes, as [`TempAttr::bit`]s. At most 9 channels.
    const CHANNELS: &'static [u32];

    /// The file mode of `attr` of `channel` (0: hidden), asked once at registration.
    fn visible(&self, attr: TempAttr, channel: usize) -> u16;

    /// Reads a numeric attribute (millidegrees Celsius, or 0/1 for an alarm).
    fn read(&self, attr: TempAttr, channel: usize) -> Result<i64>;

    /// The channel's label.
    fn label(&self, channel: usize) -> &'static CStr;

    /// Writes a threshold (millidegrees Celsius).
    fn write(&self, attr: TempAttr, channel: usize, val: i64) -> Result;
}

/// `struct hwmon_ops`.
#[repr(C)]
struct HwmonOps {
    visible: u16,
    is_visible: Option<unsafe extern "C" fn(*const c_void, u32, u32, c_int) -> u16>,
    read:
        Option<unsafe extern "C" fn(*mut bindings::device, u32, u32, c_int, *mut c_long) -> c_int>,
    read_string: Option<
        unsafe extern "C" fn(*mut bindings::device, u32, u32, c_int, *mut *const c_char) -> c_int,
    >,
    write: Option<unsafe extern "C" fn(*mut bindings::device, u32, u32, c_int, c_long) -> c_int>,
}

/// `struct hwmon_channel_info`.
#[repr(C)]
struct ChannelInfo {
    kind: u32,
    config: *const u32,
}

/// `struct hwmon_chip_info`.
#[repr(C)]
struct ChipInfo {
    ops: *const HwmonOps,
    info: *const *const ChannelInfo,
}

extern "C" {
    /// `hwmon_device_register_with_info()`: `dev` and the result are `struct device *`, and
    /// `extra_groups` a `const struct attribute_group **` (the bindings' types are not
    /// FFI-safe as Rust sees them).
    fn hwmon_device_register_with_info(
        dev: *mut c_void,
        name: *const c_char,
        drvdata: *mut c_void,
        chip: *const ChipInfo,
        extra_groups: *const *const c_void,
    ) -> *mut c_void;
    /// `hwmon_device_unregister()` of a `struct device *`.
    fn hwmon_device_unregister(dev: *mut c_void);
}

/// Most temperature channels (the composite and 8 sensors of an NVMe SMART log).
const MAX_CHANNELS: usize = 9;

/// The tables hwmon reads: built in the registration, which they live as long as.
struct Tables {
    ops: HwmonOps,
    chip_config: [u32; 2],
    temp_config: [u32; MAX_CHANNELS + 1],
    chip: ChannelInfo,
    temp: ChannelInfo,
    info: [*const ChannelInfo; 3],
    chip_info: ChipInfo,
}

/// A registered hwmon device; unregistered when dropped.
///
/// # Invariants
///
/// `hwmon` is the device `hwmon_device_register_with_info()` returned for `tables` (pinned in
/// their box) and `data` (whose raw pointer is its driver data); both outlive it.
pub(crate) struct Hwmon<T: TempSensors> {
    hwmon: *mut c_void,
    _tables: Pin<KBox<Tables>>,
    _data: Arc<T>,
}

// SAFETY: the registration is a handle; unregistering may happen on any thread, and `T` is
// `Send + Sync`.
unsafe impl<T: TempSensors> Send for Hwmon<T> {}
// SAFETY: no method takes `&self` to mutate.
unsafe impl<T: TempSensors> Sync for Hwmon<T> {}

impl<T: TempSensors> Hwmon<T> {
    /// Registers a hwmon device named `name` under `dev`, with `T::CHANNELS` temperature
    /// channels answered by `data`.
    pub(crate) fn register(
        dev: &device::Device<device::Bound>,
        name: &'static CStr,
        data: Arc<T>,
    ) -> Result<Self> {
        if T::CHANNELS.len() > MAX_CHANNELS {
            return Err(EINVAL);
        }
        let mut temp_config = [0u32; MAX_CHANNELS + 1];
        temp_config[..T::CHANNELS.len()].copy_from_slice(T::CHANNELS);
        let mut tables = KBox::pin(
            Tables {
                ops: HwmonOps {
                    visible: 0,
                    is_visible: Some(is_visible_callback::<T>),
                    read: Some(read_callback::<T>),
                    read_string: Some(read_string_callback::<T>),
                    write: Some(write_callback::<T>),
                },
                chip_config: [HWMON_C_REGISTER_TZ, 0],
                temp_config,
                chip: ChannelInfo {
                    kind: HWMON_CHIP,
                    config: ptr::null(),
                },
                temp: ChannelInfo {
                    kind: HWMON_TEMP,
                    config: ptr::null(),
                },
                info: [ptr::null(); 3],
                chip_info: ChipInfo {
                    ops: ptr::null(),
                    info: ptr::null(),
                },
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `Tables` is not structurally pinned for any field; we only fill in the
        // pointers between its own fields, which stay put because the box is pinned.
        let t = unsafe { tables.as_mut().get_unchecked_mut() };
        t.chip.config = t.chip_config.as_ptr();
        t.temp.config = t.temp_config.as_ptr();
        t.info = [&raw const t.chip, &raw const t.temp, ptr::null()];
        t.chip_info = ChipInfo {
            ops: &raw const t.ops,
            info: t.info.as_ptr(),
        };
        let drvdata = Arc::as_ptr(&data).cast_mut().cast::<c_void>();
        // SAFETY: `dev` is a bound device; the name and the tables live as long as the
        // registration (the name is static; the tables and `data` are kept in `Self` until
        // it is unregistered in `drop`).
        let hwmon = unsafe {
            hwmon_device_register_with_info(
                raw_dev(dev).cast(),
                name.as_char_ptr(),
                drvdata,
                &raw const t.chip_info,
                ptr::null(),
            )
        };
        // CAST: an `ERR_PTR()` is the negative errno as an address.
        let v = hwmon as isize;
        if (-4095..0).contains(&v) {
            // CAST: within `-4095..0`.
            return Err(Error::from_errno(v as i32));
        }
        // INVARIANT: `hwmon` was registered with `tables` and `data`, both kept in `Self`.
        Ok(Self {
            hwmon,
            _tables: tables,
            _data: data,
        })
    }
}

impl<T: TempSensors> Drop for Hwmon<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register` (type invariant); unregistering waits for the
        // attribute callbacks under way, after which nothing reaches the tables or `data`.
        unsafe { hwmon_device_unregister(self.hwmon) };
    }
}

/// The driver data of hwmon device `dev` (`dev_get_drvdata()`).
///
/// # Safety
///
/// `dev` is a hwmon device registered by [`Hwmon::register`] for `T`, in one of its callbacks.
unsafe fn data_of<'a, T: TempSensors>(dev: *mut bindings::device) -> &'a T {
    // SAFETY: per the function's requirements, the driver data is the `Arc<T>`'s pointer,
    // kept alive by the registration for as long as callbacks may run.
    unsafe { &*(*dev).driver_data.cast::<T>() }
}

/// # Safety
///
/// Called by hwmon only, with the driver data of a registration for `T`.
unsafe extern "C" fn is_visible_callback<T: TempSensors>(
    data: *const c_void,
    kind: u32,
    attr: u32,
    channel: c_int,
) -> u16 {
    // SAFETY: `data` is the `Arc<T>`'s pointer (see `register`), alive during registration.
    let data = unsafe { &*data.cast::<T>() };
    temp_channel(kind, attr, channel).map_or(0, |(a, ch)| data.visible(a, ch))
}

/// The temperature attribute and channel hwmon names, if it is one.
fn temp_channel(kind: u32, attr: u32, channel: c_int) -> Option<(TempAttr, usize)> {
    if kind != HWMON_TEMP {
        return None;
    }
    Some((TempAttr::from_index(attr)?, usize::try_from(channel).ok()?))
}

/// # Safety
///
/// Called by hwmon only, for a device registered for `T`; `val` is writable.
unsafe extern "C" fn read_callback<T: TempSensors>(
    dev: *mut bindings::device,
    kind: u32,
    attr: u32,
    channel: c_int,
    val: *mut c_long,
) -> c_int {
    let Some((a, ch)) = temp_channel(kind, attr, channel) else {
        return kver::eopnotsupp().to_errno();
    };
    // SAFETY: per the function's requirements.
    match unsafe { data_of::<T>(dev) }.read(a, ch) {
        Ok(v) => match c_long::try_from(v) {
            Ok(v) => {
                // SAFETY: `val` is writable (hwmon's own variable).
                unsafe { *val = v };
                0
            }
            Err(_) => EOVERFLOW.to_errno(),
        },
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by hwmon only, for a device registered for `T`; `s` is writable.
unsafe extern "C" fn read_string_callback<T: TempSensors>(
    dev: *mut bindings::device,
    _kind: u32,
    _attr: u32,
    channel: c_int,
    s: *mut *const c_char,
) -> c_int {
    let Ok(ch) = usize::try_from(channel) else {
        return EINVAL.to_errno();
    };
    // SAFETY: per the function's requirements; the label is static.
    unsafe { *s = data_of::<T>(dev).label(ch).as_char_ptr() };
    0
}

/// # Safety
///
/// Called by hwmon only, for a device registered for `T`.
unsafe extern "C" fn write_callback<T: TempSensors>(
    dev: *mut bindings::device,
    kind: u32,
    attr: u32,
    channel: c_int,
    val: c_long,
) -> c_int {
    let Some((a, ch)) = temp_channel(kind, attr, channel) else {
        return kver::eopnotsupp().to_errno();
    };
    #[allow(
        clippy::useless_conversion,
        reason = "`long` is 64-bit here, 32-bit on other kernels"
    )]
    let val = i64::from(val);
    // SAFETY: per the function's requirements.
    match unsafe { data_of::<T>(dev) }.write(a, ch, val) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
