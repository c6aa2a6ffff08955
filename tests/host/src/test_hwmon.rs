// SPDX-License-Identifier: GPL-2.0

//! Tests of nvme/hwmon.rs: Temperature Threshold encodings, SMART log temperatures at the byte
//! offsets of the NVMe Base Specification, and the Kelvin/millidegree conversions C's
//! `<linux/units.h>` makes.

use crate::nvme::hwmon::*;

#[test]
fn threshold_dwords() {
    assert_eq!(thresh_select(0, Threshold::Over), 0);
    assert_eq!(thresh_select(0, Threshold::Under), 1 << 20);
    assert_eq!(thresh_select(3, Threshold::Over), 3 << 16);
    assert_eq!(thresh_select(8, Threshold::Under), (8 << 16) | (1 << 20));
    // TMPSEL is 4 bits: a larger sensor number cannot spill into THSEL.
    assert_eq!(thresh_select(0x1f, Threshold::Over), 0xf << 16);
    assert_eq!(thresh_set(0, Threshold::Over, 343), 343);
    assert_eq!(
        thresh_set(2, Threshold::Under, 0xffff),
        (2 << 16) | (1 << 20) | 0xffff
    );
    assert_eq!(thresh_of(0xdead_0157), 0x157);
}

#[test]
fn conversions() {
    assert_eq!(kelvin_to_millicelsius(0), -273_150);
    assert_eq!(kelvin_to_millicelsius(273), -150);
    assert_eq!(kelvin_to_millicelsius(323), 49_850);
    assert_eq!(kelvin_to_millicelsius(u16::MAX), 65_535_000 - 273_150);
    // Rounded to the nearest Kelvin, halves away from zero.
    assert_eq!(millicelsius_to_kelvin(49_850), 323);
    assert_eq!(millicelsius_to_kelvin(30_000), 303);
    assert_eq!(millicelsius_to_kelvin(-150), 273);
    assert_eq!(millicelsius_to_kelvin(349), 273);
    assert_eq!(millicelsius_to_kelvin(350), 274);
    // Clamped to what the feature holds.
    assert_eq!(millicelsius_to_kelvin(-300_000), 0);
    assert_eq!(millicelsius_to_kelvin(i64::MIN), 0);
    assert_eq!(millicelsius_to_kelvin(i64::MAX), u16::MAX);
    assert_eq!(millicelsius_to_kelvin(70_000_000), u16::MAX);
    // Every threshold the device can hold survives the round trip.
    for k in 0..=u16::MAX {
        assert_eq!(millicelsius_to_kelvin(kelvin_to_millicelsius(k)), k);
    }
}

#[test]
fn smart_temperatures() {
    let mut log = vec![0u8; SMART_LOG_SIZE];
    log[0] = CRIT_TEMPERATURE | 1;
    log[1..3].copy_from_slice(&0x0143u16.to_le_bytes());
    log[200..202].copy_from_slice(&300u16.to_le_bytes());
    log[214..216].copy_from_slice(&310u16.to_le_bytes());
    let t = SmartTemps::parse(&log).unwrap();
    assert_eq!(t.critical_warning, 3);
    assert!(t.alarm());
    assert_eq!(t.kelvin(0), Some(0x143));
    assert_eq!(t.kelvin(1), Some(300));
    assert_eq!(t.kelvin(2), Some(0));
    assert_eq!(t.kelvin(8), Some(310));
    assert_eq!(t.kelvin(9), None);
    log[0] = 1;
    assert!(!SmartTemps::parse(&log).unwrap().alarm());
    assert_eq!(SmartTemps::parse(&log[..511]), None);
}
