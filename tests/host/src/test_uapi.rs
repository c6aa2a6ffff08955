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
    assert_eq!(NVME_IOCTL_IO64_CMD_VEC, 0xc050_4e49);
    assert_eq!(NVME_URING_CMD_IO, 0xc048_4e80);
    assert_eq!(NVME_URING_CMD_IO_VEC, 0xc048_4e81);
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

const NODE: Origin = Origin {
    partition: false,
    open_for_write: false,
};
const NODE_W: Origin = Origin {
    partition: false,
    open_for_write: true,
};
const PART_W: Origin = Origin {
    partition: true,
    open_for_write: true,
};

#[test]
fn admin_access_rules() {
    // Identify Controller and Namespace (and the command set specific ones): anyone.
    for cns in [0x00, 0x01, 0x05, 0x06, 0x08] {
        assert_eq!(
            admin_access(0x06, cns, NODE),
            Access::Anyone,
            "cns {cns:#x}"
        );
        // Not on a partition, where every passthrough needs CAP_SYS_ADMIN.
        assert_eq!(admin_access(0x06, cns, PART_W), Access::SysAdmin);
    }
    // The CNS is the low byte only (the controller id sits above it).
    assert_eq!(admin_access(0x06, 0x0001_0001, NODE), Access::Anyone);
    // Other identify data (e.g. the active namespace list, 0x02) and all else: CAP_SYS_ADMIN.
    assert_eq!(admin_access(0x06, 0x02, NODE), Access::SysAdmin);
    assert_eq!(admin_access(0x02, 0x02, NODE), Access::SysAdmin); // Get Log Page
    assert_eq!(admin_access(0x0a, 0x07, NODE), Access::SysAdmin); // Get Features
    assert_eq!(admin_access(0xc0, 0, NODE), Access::SysAdmin); // vendor specific
    assert_eq!(admin_access(0x7f, 0, NODE), Access::SysAdmin); // fabrics
    assert_eq!(admin_access(0x80, 0, NODE_W), Access::SysAdmin); // Format NVM
                                                                 // Set Features the driver manages: never; others: CAP_SYS_ADMIN.
    for fid in [0x07, 0x0c, 0x0d, 0x0f, 0x16] {
        assert_eq!(admin_access(0x09, fid, NODE), Access::Never, "fid {fid:#x}");
        assert_eq!(
            admin_access(0x09, fid, PART_W),
            Access::Never,
            "fid {fid:#x}"
        );
    }
    assert_eq!(admin_access(0x09, 0x06, NODE), Access::SysAdmin); // volatile write cache
                                                                  // Queue management, AER and Doorbell Buffer Config belong to the driver.
    for op in [0x00, 0x01, 0x04, 0x05, 0x0c, 0x7c] {
        assert_eq!(admin_access(op, 0, NODE_W), Access::Never, "op {op:#x}");
    }
}

/// The effects QEMU's controller reports for the NVM command set, plus the driver's own.
fn qemu_like() -> crate::nvme::effects::Effects {
    use crate::nvme::effects::*;
    let mut log = [0u8; LOG_SIZE];
    let mut set = |off: usize, v: u32| log[off..off + 4].copy_from_slice(&v.to_le_bytes());
    for (op, e) in [
        (0x00, CSUPP | LBCC),
        (0x01, CSUPP | LBCC),
        (0x02, CSUPP),
        (0x05, CSUPP),
        (0x08, CSUPP | LBCC),
        (0x09, CSUPP | LBCC),
        (0x0c, CSUPP),
        (0x19, CSUPP | LBCC),
    ] {
        set(1024 + op * 4, e);
    }
    set(0x80 * 4, CSUPP | LBCC | NCC | NIC | CSE_MASK);
    Effects::parse(&log)
}

#[test]
fn io_access_rules() {
    let e = qemu_like();
    // Read and Verify on a read-only descriptor; Compare sends data, so it needs a writable
    // one, as in Linux.
    for op in [0x02, 0x05, 0x0c] {
        let want = if op == 0x05 {
            Access::SysAdmin
        } else {
            Access::Anyone
        };
        assert_eq!(
            io_access(op, Some(e.io(op)), true, NODE),
            want,
            "op {op:#x}"
        );
        assert_eq!(
            io_access(op, Some(e.io(op)), true, NODE_W),
            Access::Anyone,
            "op {op:#x}"
        );
        // Without a log, or with a length the driver cannot check: CAP_SYS_ADMIN.
        assert_eq!(
            io_access(op, None, true, NODE_W),
            Access::SysAdmin,
            "op {op:#x}"
        );
        assert_eq!(
            io_access(op, Some(e.io(op)), false, NODE_W),
            Access::SysAdmin
        );
        // Never on a partition, with either ioctl (Linux lets NVME_IOCTL_IO_CMD through).
        assert_eq!(
            io_access(op, Some(e.io(op)), true, PART_W),
            Access::SysAdmin
        );
    }
    for op in [0x00, 0x01, 0x08, 0x09, 0x19] {
        assert_eq!(
            io_access(op, Some(e.io(op)), true, NODE),
            Access::SysAdmin,
            "op {op:#x}"
        );
        assert_eq!(
            io_access(op, Some(e.io(op)), true, NODE_W),
            Access::Anyone,
            "op {op:#x}"
        );
    }
    // Not supported by the log, vendor specific, fabrics.
    for op in [0x04, 0x0d, 0x7f, 0x80, 0xff] {
        assert_eq!(
            io_access(op, Some(e.io(op)), true, NODE_W),
            Access::SysAdmin,
            "op {op:#x}"
        );
    }
    // Intrusive effects (here: a namespace capability change) need CAP_SYS_ADMIN.
    use crate::nvme::effects::{
        CSUPP,
        NCC, //
    };
    assert_eq!(
        io_access(0x02, Some(CSUPP | NCC), true, NODE_W),
        Access::SysAdmin
    );
}

#[test]
fn known_effects() {
    use crate::nvme::effects::*;
    let none = Effects::known();
    assert!(!none.reported());
    // Format NVM and Sanitize freeze I/O and change the namespaces, whatever the log says.
    for op in [0x80, 0x84] {
        assert!(needs_freeze(none.admin(op)) && needs_revalidate(none.admin(op)));
    }
    // Namespace management and attachment change the inventory; no freeze.
    for op in [0x0d, 0x15] {
        assert!(!needs_freeze(none.admin(op)) && needs_revalidate(none.admin(op)));
    }
    assert_eq!(none.io(0x02), 0);
    assert_eq!(none.io(0x01), LBCC);
    // A relaxation bit lifts the execution restriction.
    let mut log = [0u8; LOG_SIZE];
    log[0x84 * 4..0x84 * 4 + 4].copy_from_slice(&(CSUPP | CSER_MASK).to_le_bytes());
    let e = Effects::parse(&log);
    assert!(!needs_freeze(e.admin(0x84)) && e.admin(0x84) & LBCC != 0);
    assert_eq!(qemu_like().io(0x02), CSUPP);
}

#[test]
fn transfer_lengths() {
    let cdw = |d10: u32, d11: u32, d12: u32| [d10, d11, d12, 0, 0, 0];
    // Read/Write/Compare: NLB + 1 blocks.
    assert_eq!(io_data_len(0x02, &cdw(0, 0, 0), 9), Some(512));
    assert_eq!(io_data_len(0x01, &cdw(0, 0, 7), 12), Some(32768));
    assert_eq!(
        io_data_len(0x05, &cdw(0, 0, 0xffff_ffff), 9),
        Some(65536 * 512)
    );
    assert_eq!(io_data_len(0x00, &cdw(0, 0, 5), 9), Some(0));
    assert_eq!(io_data_len(0x09, &cdw(255, 0, 0), 9), Some(4096));
    assert_eq!(io_data_len(0x19, &cdw(0, 0, 0x0101), 9), Some(80));
    assert_eq!(io_data_len(0x19, &cdw(0, 0, 0x0200), 9), None);
    assert_eq!(io_data_len(0x81, &cdw(0, 0, 0), 9), None);
    // Identify: 4 KiB; Get Log Page: NUMDU:NUMDL + 1 dwords.
    assert_eq!(admin_data_len(0x06, &cdw(1, 0, 0)), Some(4096));
    assert_eq!(admin_data_len(0x02, &cdw(0x007f_0002, 0, 0)), Some(512));
    assert_eq!(
        admin_data_len(0x02, &cdw(0xffff_0002, 0xffff, 0)),
        Some(1 << 34)
    );
    assert_eq!(admin_data_len(0x0a, &cdw(0x0c, 0, 0)), Some(256));
    assert_eq!(admin_data_len(0x09, &cdw(0x81, 1, 0)), Some(16));
    assert_eq!(admin_data_len(0x0a, &cdw(0xc1, 0, 0)), None);
    assert_eq!(admin_data_len(0xc1, &cdw(0, 0, 0)), None);
}
