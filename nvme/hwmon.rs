// SPDX-License-Identifier: GPL-2.0

//! Temperatures (NVMe Base Specification 2.1, "SMART / Health Information" and "Temperature
//! Threshold"): the composite and sensor temperatures of the SMART log, the thresholds of the
//! Temperature Threshold feature, and the conversions between the device's Kelvin and the
//! hwmon interface's millidegrees Celsius.

/// Feature Identifier: Temperature Threshold.
pub(crate) const FEAT_TEMP_THRESH: u8 = 0x04;
/// Size of the SMART / Health Information log.
pub(crate) const SMART_LOG_SIZE: usize = 512;
/// Temperature sensors the SMART log reports besides the composite.
pub(crate) const SENSORS: usize = 8;
/// Critical Warning bit 1: a temperature is above an over-temperature threshold or below an
/// under-temperature threshold.
pub(crate) const CRIT_TEMPERATURE: u8 = 1 << 1;
/// Threshold Temperature Select (TMPSEL) field of the feature's Dword 11.
const TMPSEL_SHIFT: u32 = 16;
/// Threshold Type Select (THSEL): under-temperature threshold (over-temperature is 0).
const THSEL_UNDER: u32 = 1 << 20;
/// Temperature Threshold (TMPTH), in Kelvin.
const TMPTH_MASK: u32 = 0xffff;

/// Byte offset of the Composite Temperature in the SMART log.
const SMART_COMPOSITE: usize = 1;
/// Byte offset of Temperature Sensor 1; sensors 2 to 8 follow, 2 bytes each.
const SMART_SENSOR1: usize = 200;

/// Which threshold of a sensor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Threshold {
    /// The over-temperature threshold (`tempN_max`).
    Over,
    /// The under-temperature threshold (`tempN_min`).
    Under,
}

/// Dword 11 of Get Features (Temperature Threshold) for `threshold` of `sensor` (0: the
/// composite temperature, 1 to 8: the sensors).
pub(crate) const fn thresh_select(sensor: u8, threshold: Threshold) -> u32 {
    let sel = (sensor as u32 & 0xf) << TMPSEL_SHIFT;
    match threshold {
        Threshold::Over => sel,
        Threshold::Under => sel | THSEL_UNDER,
    }
}

/// Dword 11 of Set Features (Temperature Threshold): `threshold` of `sensor` set to `kelvin`.
pub(crate) const fn thresh_set(sensor: u8, threshold: Threshold, kelvin: u16) -> u32 {
    thresh_select(sensor, threshold) | kelvin as u32
}

/// The threshold in Kelvin from Dword 0 of the Get Features completion.
pub(crate) const fn thresh_of(dw0: u32) -> u16 {
    // CAST: masked to 16 bits.
    (dw0 & TMPTH_MASK) as u16
}

/// Kelvin to millidegrees Celsius (`kelvin_to_millicelsius()`: 0 °C is 273.15 K).
pub(crate) const fn kelvin_to_millicelsius(k: u16) -> i64 {
    k as i64 * 1000 - 273_150
}

/// Millidegrees Celsius to Kelvin, rounded to the nearest and clamped to what the feature can
/// hold (0 to 65535 K), as C's `millicelsius_to_kelvin()` followed by `clamp_val()`.
pub(crate) fn millicelsius_to_kelvin(mc: i64) -> u16 {
    let mk = mc.saturating_add(273_150);
    // Round half away from zero, as DIV_ROUND_CLOSEST() for either sign.
    let k = if mk >= 0 {
        mk.saturating_add(500) / 1000
    } else {
        mk.saturating_sub(500) / 1000
    };
    // CAST: clamped to the `u16` range.
    k.clamp(0, i64::from(u16::MAX)) as u16
}

/// The temperatures of a SMART / Health Information log.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SmartTemps {
    /// Critical Warning.
    pub(crate) critical_warning: u8,
    /// Composite Temperature, in Kelvin.
    pub(crate) composite: u16,
    /// Temperature Sensors 1 to 8, in Kelvin; 0 where the controller has no such sensor.
    pub(crate) sensors: [u16; SENSORS],
}

impl SmartTemps {
    /// Parses the first [`SMART_LOG_SIZE`] bytes of the log; `None` if `log` is shorter.
    pub(crate) fn parse(log: &[u8]) -> Option<Self> {
        if log.len() < SMART_LOG_SIZE {
            return None;
        }
        let le16 = |off: usize| u16::from_le_bytes([log[off], log[off + 1]]);
        let mut sensors = [0u16; SENSORS];
        for (i, s) in sensors.iter_mut().enumerate() {
            *s = le16(SMART_SENSOR1 + 2 * i);
        }
        Some(Self {
            critical_warning: log[0],
            composite: le16(SMART_COMPOSITE),
            sensors,
        })
    }

    /// The temperature of `channel` in Kelvin: 0 is the composite, 1 to 8 the sensors.
    pub(crate) fn kelvin(&self, channel: usize) -> Option<u16> {
        match channel {
            0 => Some(self.composite),
            c => self.sensors.get(c - 1).copied(),
        }
    }

    /// The temperature alarm (Critical Warning bit 1).
    pub(crate) fn alarm(&self) -> bool {
        self.critical_warning & CRIT_TEMPERATURE != 0
    }
}
