// SPDX-License-Identifier: GPL-2.0

//! Temperature sensors (C's `hwmon.c`): a hwmon device named `nvme` under the PCI function,
//! with the composite temperature and each sensor the SMART log reports, their over- and
//! under-temperature thresholds (Get/Set Features Temperature Threshold), the critical
//! temperature from Identify Controller, and the temperature alarm of the Critical Warning.

use kernel::{
    device,
    dma::Coherent,
    new_mutex,
    prelude::*,
    str::CStr,
    sync::{
        Arc,
        Mutex, //
    },
};

use crate::{
    admin::AdminQueue,
    glue::{
        kver,
        Hwmon,
        TempAttr,
        TempSensors, //
    },
    nvme::{
        cmd::LOG_SMART,
        hwmon::{
            kelvin_to_millicelsius,
            millicelsius_to_kelvin,
            thresh_of,
            thresh_select,
            thresh_set,
            SmartTemps,
            Threshold,
            FEAT_TEMP_THRESH,
            SENSORS,
            SMART_LOG_SIZE, //
        },
        ident::IdCtrl,
    },
};

/// The attributes of the composite temperature, then of each sensor (as C's).
const COMPOSITE: u32 = TempAttr::Input.bit()
    | TempAttr::Max.bit()
    | TempAttr::Min.bit()
    | TempAttr::Crit.bit()
    | TempAttr::Label.bit()
    | TempAttr::Alarm.bit();
const SENSOR: u32 =
    TempAttr::Input.bit() | TempAttr::Max.bit() | TempAttr::Min.bit() | TempAttr::Label.bit();

/// The channels' labels.
const LABELS: [&CStr; SENSORS + 1] = [
    c"Composite",
    c"Sensor 1",
    c"Sensor 2",
    c"Sensor 3",
    c"Sensor 4",
    c"Sensor 5",
    c"Sensor 6",
    c"Sensor 7",
    c"Sensor 8",
];

/// The temperatures of one controller.
#[pin_data]
pub(crate) struct NvmeHwmon {
    admin: Arc<AdminQueue>,
    /// Warning Composite Temperature Threshold (Kelvin; 0: none).
    wctemp: u16,
    /// Critical Composite Temperature Threshold (Kelvin; 0: none).
    cctemp: u16,
    /// The sensors the SMART log reported when the device was registered.
    sensors: [bool; SENSORS],
    /// The SMART log buffer; one reader at a time (the device writes it during a read).
    #[pin]
    log: Mutex<Coherent<[u8]>>,
}

/// Reads the SMART log's temperatures into `buf`, which the caller keeps to itself.
fn read_smart(admin: &AdminQueue, buf: &Coherent<[u8]>) -> Result<SmartTemps> {
    // CAST: 512 bytes.
    admin.get_log_page(buf, LOG_SMART, SMART_LOG_SIZE as u32)?;
    // SAFETY: the command completed, so the device no longer writes the buffer, and the
    // caller keeps it to itself.
    SmartTemps::parse(unsafe { buf.as_ref() }).ok_or(EIO)
}

impl NvmeHwmon {
    /// Reads the SMART log's temperatures.
    fn smart(&self) -> Result<SmartTemps> {
        read_smart(&self.admin, &self.log.lock())
    }

    /// A sensor number of the Temperature Threshold feature.
    fn sensor(channel: usize) -> Result<u8> {
        u8::try_from(channel)
            .ok()
            .filter(|&c| usize::from(c) <= SENSORS)
            .ok_or(EINVAL)
    }

    fn threshold(attr: TempAttr) -> Result<Threshold> {
        match attr {
            TempAttr::Max => Ok(Threshold::Over),
            TempAttr::Min => Ok(Threshold::Under),
            _ => Err(kver::eopnotsupp()),
        }
    }
}

impl TempSensors for NvmeHwmon {
    const CHANNELS: &'static [u32] = &[
        COMPOSITE, SENSOR, SENSOR, SENSOR, SENSOR, SENSOR, SENSOR, SENSOR, SENSOR,
    ];

    fn visible(&self, attr: TempAttr, channel: usize) -> u16 {
        let present = channel == 0 || self.sensors.get(channel - 1).copied().unwrap_or(false);
        match attr {
            TempAttr::Crit if channel == 0 && self.cctemp != 0 => 0o444,
            TempAttr::Max | TempAttr::Min
                if (channel == 0 && self.wctemp != 0) || (channel > 0 && present) =>
            {
                0o644
            }
            TempAttr::Alarm if channel == 0 => 0o444,
            TempAttr::Input | TempAttr::Label if present => 0o444,
            _ => 0,
        }
    }

    fn read(&self, attr: TempAttr, channel: usize) -> Result<i64> {
        match attr {
            TempAttr::Max | TempAttr::Min => {
                let dw11 = thresh_select(Self::sensor(channel)?, Self::threshold(attr)?);
                let dw0 = self.admin.get_features(FEAT_TEMP_THRESH, dw11)?;
                Ok(kelvin_to_millicelsius(thresh_of(dw0)))
            }
            TempAttr::Crit => Ok(kelvin_to_millicelsius(self.cctemp)),
            TempAttr::Input => {
                let k = self.smart()?.kelvin(channel).ok_or(EINVAL)?;
                Ok(kelvin_to_millicelsius(k))
            }
            TempAttr::Alarm => Ok(i64::from(self.smart()?.alarm())),
            TempAttr::Label => Err(kver::eopnotsupp()),
        }
    }

    fn label(&self, channel: usize) -> &'static CStr {
        LABELS.get(channel).copied().unwrap_or(c"")
    }

    fn write(&self, attr: TempAttr, channel: usize, val: i64) -> Result {
        let dw11 = thresh_set(
            Self::sensor(channel)?,
            Self::threshold(attr)?,
            millicelsius_to_kelvin(val),
        );
        self.admin.set_features(FEAT_TEMP_THRESH, dw11)?;
        Ok(())
    }
}

/// Registers the temperature sensors of a controller that has just come up (as C's
/// `nvme_hwmon_init()`): none when the SMART log cannot be read.
pub(crate) fn nvme_hwmon_init(
    dev: &device::Device<device::Bound>,
    admin: &Arc<AdminQueue>,
    idc: &IdCtrl,
) -> Option<Hwmon<NvmeHwmon>> {
    let setup = || -> Result<Hwmon<NvmeHwmon>> {
        let log = Coherent::<u8>::zeroed_slice(dev, SMART_LOG_SIZE, GFP_KERNEL)?;
        // The sensors present decide which attributes exist: known before registering.
        let sensors = read_smart(admin, &log)?.sensors.map(|k| k != 0);
        let data = Arc::pin_init(
            pin_init!(NvmeHwmon {
                admin: admin.clone(),
                wctemp: idc.wctemp,
                cctemp: idc.cctemp,
                sensors,
                log <- new_mutex!(log, "rust_nvme_hwmon_log"),
            }),
            GFP_KERNEL,
        )?;
        Hwmon::register(dev, c"nvme", data)
    };
    setup()
        .inspect_err(|e| dev_warn!(dev, "no temperature sensors: {:?}\n", e))
        .ok()
}
