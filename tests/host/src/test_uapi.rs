// SPDX-License-Identifier: GPL-2.0

//! Tests of the passthrough ioctl ABI against the values Linux's `nvme_ioctl.h` produces.

use crate::nvme::uapi::*;
use core::mem::{
    offset_of,
    size_of, //
};

#[test]
fn ioctl_numbers_match_linux() {
    // The values `_IO`/`_IOW`/`_IOWR` give on x86_64 for the definitions in nvme_ioctl.h.
    assert_eq!(NVME_IOCTL_ID, 0x4e40);
    assert_eq!(NVME_IOCTL_ADMIN_CMD, 0xc048_4e41);
    assert_eq!(NVME_IOCTL_SUBMIT_IO, 0x4030_4e42);
    assert_eq!(NVME_IOCTL_IO_CMD, 0xc048_4e43);
    assert_eq!(NVME_IOCTL_RESET, 0x4e44);
    assert_eq!(NVME_IOCTL_SUBSYS_RESET, 0x4e45);
    assert_eq!(NVME_IOCTL_RESCAN, 0x4e46);
    assert_eq!(NVME_IOCTL_ADMIN64_CMD, 0xc050_4e47);
    assert_eq!(NVME_IOCTL_IO64_CMD, 0xc050_4e48);
}

#[test]
fn passthru_layout() {
    assert_eq!(size_of::<PassthruCmd>(), 72);
    assert_eq!(offset_of!(PassthruCmd, nsid), 4);
    assert_eq!(offset_of!(PassthruCmd, metadata), 16);
    assert_eq!(offset_of!(PassthruCmd, addr), 24);
    assert_eq!(offset_of!(PassthruCmd, metadata_len), 32);
    assert_eq!(offset_of!(PassthruCmd, data_len), 36);
    assert_eq!(offset_of!(PassthruCmd, cdw10), 40);
    assert_eq!(offset_of!(PassthruCmd, cdw15), 60);
    assert_eq!(offset_of!(PassthruCmd, timeout_ms), 64);
    assert_eq!(offset_of!(PassthruCmd, result), 68);

    assert_eq!(size_of::<PassthruCmd64>(), 80);
    assert_eq!(offset_of!(PassthruCmd64, timeout_ms), 64);
    assert_eq!(offset_of!(PassthruCmd64, rsvd2), 68);
    assert_eq!(offset_of!(PassthruCmd64, result), 72);
}

#[test]
fn opcode_directions() {
    // Identify (0x06) reads, Set Features (0x09) writes (host to controller data), Get Log
    // Page (0x02) reads, Flush (0x00) moves no data, Compare-like 0x03 is bidirectional.
    assert!(data_from_device(0x06) && !data_to_device(0x06));
    assert!(data_to_device(0x09) && !data_from_device(0x09));
    assert!(data_from_device(0x02));
    assert!(!data_to_device(0x00) && !data_from_device(0x00));
    assert!(data_to_device(0x03) && data_from_device(0x03));
}

#[test]
fn short_form_widens_to_the_64_bit_form() {
    let c = PassthruCmd {
        opcode: 0x06,
        nsid: 1,
        addr: 0x1000,
        data_len: 4096,
        cdw10: 1,
        cdw15: 7,
        timeout_ms: 9,
        result: 0xdead,
        ..Default::default()
    };
    let w = PassthruCmd64::from(&c);
    assert_eq!(
        (w.opcode, w.nsid, w.addr, w.data_len),
        (0x06, 1, 0x1000, 4096)
    );
    assert_eq!((w.cdw10, w.cdw15, w.timeout_ms, w.result), (1, 7, 9, 0));
}

#[test]
fn admin_access_rules() {
    // Identify Controller and Namespace (and the command set specific ones): anyone.
    for cns in [0x00, 0x01, 0x05, 0x06, 0x08] {
        assert_eq!(admin_access(0x06, cns), Access::Anyone, "cns {cns:#x}");
    }
    // The CNS is the low byte only (the controller id sits above it).
    assert_eq!(admin_access(0x06, 0x0001_0001), Access::Anyone);
    // Other identify data (e.g. the active namespace list, 0x02) and all else: CAP_SYS_ADMIN.
    assert_eq!(admin_access(0x06, 0x02), Access::SysAdmin);
    assert_eq!(admin_access(0x02, 0x02), Access::SysAdmin); // Get Log Page
    assert_eq!(admin_access(0x0a, 0x07), Access::SysAdmin); // Get Features
    assert_eq!(admin_access(0xc0, 0), Access::SysAdmin); // vendor specific
                                                         // Set Features the driver manages: never; others: CAP_SYS_ADMIN.
    for fid in [0x07, 0x0c, 0x0d, 0x0f, 0x16] {
        assert_eq!(admin_access(0x09, fid), Access::Never, "fid {fid:#x}");
    }
    assert_eq!(admin_access(0x09, 0x06), Access::SysAdmin); // volatile write cache
}

#[test]
fn io_access_rules() {
    for op in [0x02, 0x05, 0x0c] {
        assert_eq!(io_access(op, false), Access::Anyone, "op {op:#x}");
        assert_eq!(io_access(op, true), Access::Anyone, "op {op:#x}");
    }
    for op in [0x00, 0x01, 0x08, 0x09, 0x19] {
        assert_eq!(io_access(op, false), Access::SysAdmin, "op {op:#x}");
        assert_eq!(io_access(op, true), Access::Anyone, "op {op:#x}");
    }
    for op in [0x04, 0x0d, 0x7f, 0x80, 0xff] {
        assert_eq!(io_access(op, true), Access::SysAdmin, "op {op:#x}");
    }
}
