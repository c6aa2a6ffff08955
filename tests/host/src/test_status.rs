// SPDX-License-Identifier: GPL-2.0

//! Tests of status field decoding, block error mapping, retry decisions and
//! names (nvme/status.rs).

use crate::nvme::cmd::Completion;
use crate::nvme::status::*;

/// (SCT, SC, expected class, expected name) for every code the mapping names.
const TABLE: &[(u8, u8, BlkErr, &str)] = &[
    (0, 0x00, BlkErr::Ok, "success"),
    (0, 0x01, BlkErr::NotSupported, "invalid command opcode"),
    (0, 0x02, BlkErr::NotSupported, "invalid field in command"),
    (0, 0x03, BlkErr::IoErr, "command ID conflict"),
    (0, 0x04, BlkErr::IoErr, "data transfer error"),
    (
        0,
        0x05,
        BlkErr::IoErr,
        "aborted due to power loss notification",
    ),
    (0, 0x06, BlkErr::IoErr, "internal error"),
    (0, 0x07, BlkErr::IoErr, "command abort requested"),
    (0, 0x08, BlkErr::IoErr, "aborted due to SQ deletion"),
    (
        0,
        0x09,
        BlkErr::IoErr,
        "aborted due to failed fused command",
    ),
    (
        0,
        0x0a,
        BlkErr::IoErr,
        "aborted due to missing fused command",
    ),
    (0, 0x0b, BlkErr::NotSupported, "invalid namespace or format"),
    (0, 0x0c, BlkErr::IoErr, "command sequence error"),
    (0, 0x13, BlkErr::IoErr, "PRP offset invalid"),
    (0, 0x20, BlkErr::IoErr, "namespace is write protected"),
    (0, 0x80, BlkErr::Target, "LBA out of range"),
    (0, 0x81, BlkErr::NoSpace, "capacity exceeded"),
    (0, 0x82, BlkErr::IoErr, "namespace not ready"),
    (0, 0x83, BlkErr::ResvConflict, "reservation conflict"),
    (0, 0x84, BlkErr::IoErr, "format in progress"),
    (1, 0x00, BlkErr::IoErr, "completion queue invalid"),
    (1, 0x01, BlkErr::IoErr, "invalid queue identifier"),
    (1, 0x02, BlkErr::IoErr, "invalid queue size"),
    (1, 0x03, BlkErr::IoErr, "abort command limit exceeded"),
    (
        1,
        0x05,
        BlkErr::IoErr,
        "asynchronous event request limit exceeded",
    ),
    (1, 0x08, BlkErr::IoErr, "invalid interrupt vector"),
    (1, 0x09, BlkErr::IoErr, "invalid log page"),
    (1, 0x0a, BlkErr::IoErr, "invalid format"),
    (
        1,
        0x0b,
        BlkErr::IoErr,
        "firmware activation requires conventional reset",
    ),
    (1, 0x0c, BlkErr::IoErr, "invalid queue deletion"),
    (1, 0x80, BlkErr::NotSupported, "conflicting attributes"),
    (
        1,
        0x81,
        BlkErr::Protection,
        "invalid protection information",
    ),
    (
        1,
        0x82,
        BlkErr::Medium,
        "attempted write to read only range",
    ),
    (2, 0x80, BlkErr::Medium, "write fault"),
    (2, 0x81, BlkErr::Medium, "unrecovered read error"),
    (2, 0x82, BlkErr::Protection, "end-to-end guard check error"),
    (
        2,
        0x83,
        BlkErr::Protection,
        "end-to-end application tag check error",
    ),
    (
        2,
        0x84,
        BlkErr::Protection,
        "end-to-end reference tag check error",
    ),
    (2, 0x85, BlkErr::Medium, "compare failure"),
    (2, 0x86, BlkErr::Medium, "access denied"),
    (
        2,
        0x87,
        BlkErr::Medium,
        "deallocated or unwritten logical block",
    ),
    (3, 0x00, BlkErr::IoErr, "internal path error"),
    (3, 0x01, BlkErr::IoErr, "asymmetric access persistent loss"),
    (3, 0x02, BlkErr::IoErr, "asymmetric access inaccessible"),
    (3, 0x03, BlkErr::IoErr, "asymmetric access transition"),
    (3, 0x60, BlkErr::IoErr, "controller pathing error"),
    (3, 0x70, BlkErr::Transport, "host pathing error"),
    (3, 0x71, BlkErr::IoErr, "command aborted by host"),
    (3, 0x42, BlkErr::IoErr, "unknown"),
    (7, 0x12, BlkErr::IoErr, "vendor specific"),
    (0, 0x7f, BlkErr::IoErr, "unknown"),
    (2, 0x00, BlkErr::IoErr, "unknown"),
    (5, 0x00, BlkErr::IoErr, "unknown"),
];

#[test]
fn constants_match_spec() {
    assert_eq!(
        (
            SCT_GENERIC,
            SCT_CMD_SPECIFIC,
            SCT_MEDIA,
            SCT_PATH,
            SCT_VENDOR
        ),
        (0, 1, 2, 3, 7)
    );
    assert_eq!(generic::LBA_RANGE, 0x80);
    assert_eq!(generic::CAP_EXCEEDED, 0x81);
    assert_eq!(generic::NS_NOT_READY, 0x82);
    assert_eq!(generic::RESERVATION_CONFLICT, 0x83);
    assert_eq!(cmd_specific::INVALID_VECTOR, 0x08);
    assert_eq!(cmd_specific::CONFLICTING_ATTRS, 0x80);
    assert_eq!(media::UNWRITTEN_BLOCK, 0x87);
    assert_eq!(path::HOST_PATH_ERROR, 0x70);
}

#[test]
fn mapping_table() {
    for &(sct, sc, class, name) in TABLE {
        for dnr in [false, true] {
            let s = Status::from_parts(sct, sc, dnr);
            assert_eq!((s.sct(), s.sc(), s.dnr()), (sct, sc, dnr));
            assert_eq!(s.blk_err(), class, "sct {sct:#x} sc {sc:#x}");
            assert_eq!(s.name(), name, "sct {sct:#x} sc {sc:#x}");
            assert_eq!(s.is_success(), class == BlkErr::Ok);
        }
    }
}

#[test]
fn retryable() {
    for &(sct, sc, class, _) in TABLE {
        let s = Status::from_parts(sct, sc, false);
        let expect = class != BlkErr::Ok && class != BlkErr::NotSupported;
        assert_eq!(s.retryable(), expect, "sct {sct:#x} sc {sc:#x}");
        assert!(!Status::from_parts(sct, sc, true).retryable());
    }
    assert!(!Status::SUCCESS.retryable());
}

#[test]
fn bit_fields() {
    // SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14.
    let s = Status::new(0x7fff);
    assert_eq!(
        (s.sc(), s.sct(), s.crd(), s.more(), s.dnr()),
        (0xff, 7, 3, true, true)
    );
    let s = Status::new(1 << 11);
    assert_eq!((s.crd(), s.more(), s.dnr()), (1, false, false));
    assert!(Status::new(1 << 13).more());
    // Bit 15 does not exist in the 15-bit field.
    assert_eq!(Status::new(0x8000), Status::SUCCESS);
    assert!(Status::new(0).is_success());
    // Success is decided by SCT and SC alone.
    assert!(Status::new(0x0800).is_success());
    assert!(!Status::new(0x0100).is_success());
}

#[test]
fn from_completion() {
    // Status word with phase 1, DNR, SCT 2, SC 0x81.
    let word: u32 = (((1 << 14) | (2 << 8) | 0x81) << 1) | 1;
    let cqe = Completion::from_dwords([0, 0, 0, word << 16]);
    let s = Status::new(cqe.status_field());
    assert_eq!(s.blk_err(), BlkErr::Medium);
    assert!(s.dnr());
    assert!(!s.retryable());
    // Phase set, status clear: success.
    let cqe = Completion::from_dwords([0, 0, 0, 1 << 16]);
    assert!(Status::new(cqe.status_field()).is_success());
}

#[test]
fn display() {
    assert_eq!(
        Status::from_parts(2, 0x81, true).to_string(),
        "unrecovered read error (sct 0x2 sc 0x81, dnr)"
    );
    assert_eq!(
        Status::from_parts(0, 0x80, false).to_string(),
        "LBA out of range (sct 0x0 sc 0x80)"
    );
    assert_eq!(
        Status::new((1 << 13) | 0x06).to_string(),
        "internal error (sct 0x0 sc 0x6, more)"
    );
    assert_eq!(
        Status::new(0x7fff).to_string(),
        "vendor specific (sct 0x7 sc 0xff, more, dnr)"
    );
}
