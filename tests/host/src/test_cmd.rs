// SPDX-License-Identifier: GPL-2.0

//! Tests of submission and completion queue entry layouts and command
//! encodings (nvme/cmd.rs), checked dword by dword against the spec.

use crate::nvme::cmd::*;
use core::mem::{offset_of, size_of};

/// The 16 dwords of a command as the controller reads them (little-endian).
fn dwords(c: &Command) -> [u32; 16] {
    let mut b = [0u8; 64];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    // Fields already hold little-endian values: their native bytes are
    // what goes on the bus.
    put(0, &c.cdw0.to_ne_bytes());
    put(4, &c.nsid.to_ne_bytes());
    put(8, &c.cdw2.to_ne_bytes());
    put(12, &c.cdw3.to_ne_bytes());
    put(16, &c.mptr.to_ne_bytes());
    put(24, &c.prp1.to_ne_bytes());
    put(32, &c.prp2.to_ne_bytes());
    put(40, &c.cdw10.to_ne_bytes());
    put(44, &c.cdw11.to_ne_bytes());
    put(48, &c.cdw12.to_ne_bytes());
    put(52, &c.cdw13.to_ne_bytes());
    put(56, &c.cdw14.to_ne_bytes());
    put(60, &c.cdw15.to_ne_bytes());
    core::array::from_fn(|i| u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap()))
}

/// Expected dwords: all zero except the given (index, value) pairs.
fn expect(pairs: &[(usize, u32)]) -> [u32; 16] {
    let mut d = [0u32; 16];
    for &(i, v) in pairs {
        d[i] = v;
    }
    d
}

#[test]
fn command_layout() {
    assert_eq!(size_of::<Command>(), 64);
    assert_eq!(offset_of!(Command, cdw0), 0);
    assert_eq!(offset_of!(Command, nsid), 4);
    assert_eq!(offset_of!(Command, cdw2), 8);
    assert_eq!(offset_of!(Command, cdw3), 12);
    assert_eq!(offset_of!(Command, mptr), 16);
    assert_eq!(offset_of!(Command, prp1), 24);
    assert_eq!(offset_of!(Command, prp2), 32);
    assert_eq!(offset_of!(Command, cdw10), 40);
    assert_eq!(offset_of!(Command, cdw11), 44);
    assert_eq!(offset_of!(Command, cdw12), 48);
    assert_eq!(offset_of!(Command, cdw13), 52);
    assert_eq!(offset_of!(Command, cdw14), 56);
    assert_eq!(offset_of!(Command, cdw15), 60);
    assert_eq!(1usize << SQ_ENTRY_SHIFT, size_of::<Command>());
}

#[test]
fn completion_and_dsm_layout() {
    assert_eq!(size_of::<Completion>(), 16);
    assert_eq!(offset_of!(Completion, result), 0);
    assert_eq!(offset_of!(Completion, sq_head), 8);
    assert_eq!(offset_of!(Completion, sq_id), 10);
    assert_eq!(offset_of!(Completion, command_id), 12);
    assert_eq!(offset_of!(Completion, status), 14);
    assert_eq!(1usize << CQ_ENTRY_SHIFT, size_of::<Completion>());
    assert_eq!(size_of::<DsmRange>(), 16);
    assert_eq!(offset_of!(DsmRange, cattr), 0);
    assert_eq!(offset_of!(DsmRange, nlb), 4);
    assert_eq!(offset_of!(DsmRange, slba), 8);
    assert_eq!(AQ_DEPTH, 32);
}

#[test]
fn opcodes() {
    assert_eq!(admin::DELETE_SQ, 0x00);
    assert_eq!(admin::CREATE_SQ, 0x01);
    assert_eq!(admin::GET_LOG_PAGE, 0x02);
    assert_eq!(admin::DELETE_CQ, 0x04);
    assert_eq!(admin::CREATE_CQ, 0x05);
    assert_eq!(admin::IDENTIFY, 0x06);
    assert_eq!(admin::ABORT, 0x08);
    assert_eq!(admin::SET_FEATURES, 0x09);
    assert_eq!(admin::GET_FEATURES, 0x0a);
    assert_eq!(admin::ASYNC_EVENT, 0x0c);
    assert_eq!(admin::DBBUF_CONFIG, 0x7c);
    assert_eq!(io::FLUSH, 0x00);
    assert_eq!(io::WRITE, 0x01);
    assert_eq!(io::READ, 0x02);
    assert_eq!(io::WRITE_ZEROES, 0x08);
    assert_eq!(io::DSM, 0x09);
}

#[test]
fn zeroed_default_cid_prp() {
    assert_eq!(Command::zeroed(), Command::default());
    assert_eq!(dwords(&Command::zeroed()), [0; 16]);
    let mut c = Command::read(1, 0, 1);
    assert_eq!(c.cid(), 0);
    c.set_cid(0xbeef);
    assert_eq!(c.cid(), 0xbeef);
    assert_eq!(c.opcode(), io::READ);
    assert_eq!(dwords(&c)[0], 0xbeef_0002);
    c.set_cid(7);
    assert_eq!(dwords(&c)[0], 0x0007_0002);
    c.set_prp(0x1234_5678_9abc_d000, 0x0000_0001_0000_0000);
    let d = dwords(&c);
    assert_eq!((d[6], d[7]), (0x9abc_d000, 0x1234_5678));
    assert_eq!((d[8], d[9]), (0, 1));
    assert_eq!(c.nsid(), 1);
}

#[test]
fn read_write_encoding() {
    let c = Command::read(1, 0x1_2345_6789, 8);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x02), (1, 1), (10, 0x2345_6789), (11, 1), (12, 7)])
    );
    let c = Command::write(3, 0xffff_ffff_0000_0010, 1, false);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x01), (1, 3), (10, 0x10), (11, 0xffff_ffff), (12, 0)])
    );
    let c = Command::write(1, 0, 256, true);
    assert_eq!(dwords(&c), expect(&[(0, 0x01), (1, 1), (12, 0x4000_00ff)]));
    assert_eq!(RW_FUA, 1 << 30);
    // Largest transfer: NLB field 0xffff.
    let c = Command::rw(io::READ, 1, 0, MAX_NLB, true);
    assert_eq!(dwords(&c)[12], 0x4000_ffff);
}

#[test]
fn flush_write_zeroes_dsm_encoding() {
    assert_eq!(dwords(&Command::flush(1)), expect(&[(0, 0x00), (1, 1)]));
    let c = Command::write_zeroes(2, 0x1000, 16, false);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x08), (1, 2), (10, 0x1000), (12, 15)])
    );
    let c = Command::write_zeroes(2, 0x1_0000_0000, 65536, true);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x08), (1, 2), (11, 1), (12, 0x0200_ffff)])
    );
    let c = Command::dsm_deallocate(1, 1);
    assert_eq!(dwords(&c), expect(&[(0, 0x09), (1, 1), (10, 0), (11, 4)]));
    let c = Command::dsm_deallocate(5, 256);
    assert_eq!(dwords(&c), expect(&[(0, 0x09), (1, 5), (10, 255), (11, 4)]));

    let r = DsmRange::new(0x1_0000_0002, 8);
    assert_eq!(u32::from_le(r.cattr), 0);
    assert_eq!(u32::from_le(r.nlb), 8, "DSM range length is 1-based");
    assert_eq!(u64::from_le(r.slba), 0x1_0000_0002);
}

#[test]
fn identify_encoding() {
    assert_eq!(
        dwords(&Command::identify(CNS_CTRL, 0, 0)),
        expect(&[(0, 0x06), (10, 0x01)])
    );
    assert_eq!(
        dwords(&Command::identify(CNS_NS, 1, 0)),
        expect(&[(0, 0x06), (1, 1), (10, 0x00)])
    );
    assert_eq!(
        dwords(&Command::identify(CNS_NS_ACTIVE_LIST, 0, 0)),
        expect(&[(0, 0x06), (10, 0x02)])
    );
    assert_eq!(
        dwords(&Command::identify(CNS_NS_DESC_LIST, 7, 0)),
        expect(&[(0, 0x06), (1, 7), (10, 0x03)])
    );
    assert_eq!(
        dwords(&Command::identify(CNS_CTRL, 0, 0x1234))[10],
        0x1234_0001
    );
}

#[test]
fn queue_management_encoding() {
    let c = Command::create_cq(1, 1024, 0xdead_b000, Some(3));
    assert_eq!(
        dwords(&c),
        expect(&[
            (0, 0x05),
            (6, 0xdead_b000),
            (10, 0x03ff_0001),
            (11, 0x0003_0003)
        ])
    );
    let c = Command::create_cq(2, 2, 0x1_0000_0000, None);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x05), (7, 1), (10, 0x0001_0002), (11, 0x1)])
    );
    let c = Command::create_cq(5, 64, 0x4000, Some(0));
    assert_eq!(dwords(&c)[11], 0x0000_0003, "vector 0 still enables IEN");

    let c = Command::create_sq(1, 1024, 0xcafe_0000, 1);
    assert_eq!(
        dwords(&c),
        expect(&[
            (0, 0x01),
            (6, 0xcafe_0000),
            (10, 0x03ff_0001),
            (11, 0x0001_0001)
        ])
    );
    let c = Command::create_sq(0xffff, 65535, 0, 0x8000);
    assert_eq!(dwords(&c)[10], 0xfffe_ffff);
    assert_eq!(dwords(&c)[11], 0x8000_0001);

    assert_eq!(
        dwords(&Command::delete_sq(3)),
        expect(&[(0, 0x00), (10, 3)])
    );
    assert_eq!(
        dwords(&Command::delete_cq(3)),
        expect(&[(0, 0x04), (10, 3)])
    );
}

#[test]
fn features_encoding() {
    assert_eq!(FEAT_ARBITRATION, 0x01);
    assert_eq!(FEAT_POWER_MGMT, 0x02);
    assert_eq!(FEAT_VOLATILE_WC, 0x06);
    assert_eq!(FEAT_NUM_QUEUES, 0x07);
    assert_eq!(FEAT_IRQ_COALESCE, 0x08);
    assert_eq!(FEAT_ASYNC_EVENT, 0x0b);

    let c = Command::set_features(FEAT_NUM_QUEUES, num_queues_dw11(4));
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x09), (10, 0x07), (11, 0x0003_0003)])
    );
    let c = Command::get_features(FEAT_VOLATILE_WC, 0);
    assert_eq!(dwords(&c), expect(&[(0, 0x0a), (10, 0x06)]));
    let c = Command::set_features(FEAT_VOLATILE_WC, 1);
    assert_eq!(dwords(&c), expect(&[(0, 0x09), (10, 0x06), (11, 1)]));

    assert_eq!(num_queues_dw11(1), 0);
    assert_eq!(num_queues_dw11(64), 0x003f_003f);
    assert_eq!(num_queues_dw11(u16::MAX), 0xfffe_fffe);
    // NSQA in 15:0, NCQA in 31:16, both 0-based.
    assert_eq!(num_queues_granted(0x0003_0007), 4);
    assert_eq!(num_queues_granted(0x0007_0003), 4);
    assert_eq!(num_queues_granted(0), 1);
    assert_eq!(num_queues_granted(0x003f_003f), 64);
    assert_eq!(num_queues_granted(0xffff_ffff), u16::MAX);
}

#[test]
fn misc_admin_encoding() {
    assert_eq!(
        dwords(&Command::abort(2, 0x55)),
        expect(&[(0, 0x08), (10, 0x0055_0002)])
    );
    assert_eq!(dwords(&Command::async_event()), expect(&[(0, 0x0c)]));
    assert_eq!(
        dwords(&Command::dbbuf_config(0x1_2345_6000, 0x7000)),
        expect(&[(0, 0x7c), (6, 0x2345_6000), (7, 1), (8, 0x7000)])
    );
    // SMART log, 512 bytes = 128 dwords: NUMD = 127.
    let c = Command::get_log_page(LOG_SMART, 0xffff_ffff, 128, 0x8000);
    assert_eq!(
        dwords(&c),
        expect(&[(0, 0x02), (1, 0xffff_ffff), (6, 0x8000), (10, 0x007f_0002)])
    );
    // NUMD above 16 bits spills into NUMDU (CDW11 15:0).
    let c = Command::get_log_page(LOG_ERROR, 0, 0x2_0000, 0);
    assert_eq!(dwords(&c)[10], 0xffff_0001);
    assert_eq!(dwords(&c)[11], 0x0000_0001);
}

#[test]
fn completion_decode() {
    let cqe = Completion::from_dwords([0x1234_5678, 0x9abc_def0, (5 << 16) | 17, 0x0001_0042]);
    assert_eq!(cqe.result_dw0(), 0x1234_5678);
    assert_eq!(u64::from_le(cqe.result), 0x9abc_def0_1234_5678);
    assert_eq!(cqe.sq_head(), 17);
    assert_eq!(cqe.sq_id(), 5);
    assert_eq!(cqe.command_id(), 0x42);
    assert!(cqe.phase());
    assert_eq!(cqe.status_field(), 0);
    assert_eq!(cqe.status_word(), 1);

    // Phase 0, DNR + Unrecovered Read Error: field = 1<<14 | 2<<8 | 0x81.
    let field: u32 = (1 << 14) | (2 << 8) | 0x81;
    let cqe = Completion::from_dwords([0, 0, 0, (field << 17) | 0xffff]);
    assert!(!cqe.phase());
    assert_eq!(cqe.command_id(), 0xffff);
    assert_eq!(u32::from(cqe.status_field()), field);
    assert_eq!(Completion::default().status_word(), 0);
}

#[test]
fn io_cid_packs_tag_and_issue_counter() {
    assert_eq!(io_cid(0, 0), 0);
    assert_eq!(io_cid(5, 1), 0x1005);
    assert_eq!(io_cid(1023, 15), 0xf3ff);
    // The counter keeps 4 bits; the tag its 12.
    assert_eq!(io_cid(7, 0x13), 0x3007);
    assert_eq!(io_cid(0x1fff, 0), 0x0fff);
    for tag in [0u16, 1, 511, 1023, 4095] {
        for gen in 0u8..16 {
            let cid = io_cid(tag, gen);
            assert_eq!(cid_tag(cid), tag);
            assert_eq!(cid_gen(cid), gen);
        }
    }
}

#[test]
fn next_gen_wraps_at_16() {
    assert_eq!(next_gen(0), 1);
    assert_eq!(next_gen(14), 15);
    assert_eq!(next_gen(15), 0);
    let mut g = 0;
    for _ in 0..16 {
        g = next_gen(g);
    }
    assert_eq!(g, 0);
}
