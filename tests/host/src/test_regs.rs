// SPDX-License-Identifier: GPL-2.0

//! Tests of controller register decoding and encoding (nvme/regs.rs), with
//! values from the NVMe Base Specification and from QEMU's emulated
//! controller.

use crate::nvme::regs::*;

/// Builds a CAP value from its fields, placed at the spec's bit positions.
#[allow(clippy::too_many_arguments)]
fn cap_from_fields(
    mqes: u64,
    cqr: u64,
    ams: u64,
    to: u64,
    dstrd: u64,
    nssrs: u64,
    css: u64,
    bps: u64,
    mpsmin: u64,
    mpsmax: u64,
    pmrs: u64,
    cmbs: u64,
) -> Cap {
    Cap(mqes
        | cqr << 16
        | ams << 17
        | to << 24
        | dstrd << 32
        | nssrs << 36
        | css << 37
        | bps << 45
        | mpsmin << 48
        | mpsmax << 52
        | pmrs << 56
        | cmbs << 57)
}

#[test]
fn register_offsets() {
    assert_eq!(CAP, 0x00);
    assert_eq!(VS, 0x08);
    assert_eq!(INTMS, 0x0c);
    assert_eq!(INTMC, 0x10);
    assert_eq!(CC, 0x14);
    assert_eq!(CSTS, 0x1c);
    assert_eq!(NSSR, 0x20);
    assert_eq!(AQA, 0x24);
    assert_eq!(ASQ, 0x28);
    assert_eq!(ACQ, 0x30);
    assert_eq!(CMBLOC, 0x38);
    assert_eq!(CMBSZ, 0x3c);
    assert_eq!(DOORBELL_BASE, 0x1000);
    assert_eq!(NSSR_RESET, u32::from_be_bytes(*b"NVMe"));
}

#[test]
fn cap_qemu_defaults() {
    // QEMU's emulated controller with default properties: mqes = 2048
    // entries (MQES raw 0x7ff), CQR = 1, TO = 0xf, DSTRD = 0, NSSRS = 1,
    // CSS = NVM | I/O command sets | admin only, MPSMIN = 0, MPSMAX = 4,
    // no CMB/PMR.
    let cap = cap_from_fields(0x7ff, 1, 0, 0xf, 0, 1, 0xc1, 0, 0, 4, 0, 0);
    assert_eq!(cap.0, 0x0040_1830_0f01_07ff);
    assert_eq!(cap.mqes(), 2047);
    assert_eq!(cap.max_queue_entries(), 2048);
    assert!(cap.cqr());
    assert_eq!(cap.ams(), 0);
    assert_eq!(cap.to(), 0xf);
    assert_eq!(cap.timeout_ms(), 7500);
    assert_eq!(cap.dstrd(), 0);
    assert_eq!(cap.doorbell_stride(), 4);
    assert!(cap.nssrs());
    assert_eq!(cap.css(), 0xc1);
    assert!(cap.css_nvm());
    assert_eq!(cap.css() & CAP_CSS_IOCS, CAP_CSS_IOCS);
    assert_eq!(cap.css() & CAP_CSS_ADMIN_ONLY, CAP_CSS_ADMIN_ONLY);
    assert!(!cap.bps());
    assert_eq!(cap.mpsmin(), 0);
    assert_eq!(cap.mpsmax(), 4);
    assert_eq!(cap.min_page_shift(), 12);
    assert_eq!(cap.max_page_shift(), 16);
    assert!(!cap.pmrs());
    assert!(!cap.cmbs());
}

#[test]
fn cap_non_default_mqes() {
    // QEMU with -device nvme,mqes=64: MQES is 0-based, so 63.
    let cap = cap_from_fields(63, 1, 0, 0xf, 0, 1, 0xc1, 0, 0, 4, 0, 0);
    assert_eq!(cap.mqes(), 63);
    assert_eq!(cap.max_queue_entries(), 64);
    // The largest value: 65536 entries.
    let cap = cap_from_fields(0xffff, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0);
    assert_eq!(cap.mqes(), 0xffff);
    assert_eq!(cap.max_queue_entries(), 65536);
}

#[test]
fn cap_each_field_isolated() {
    let all = |c: Cap| {
        (
            c.mqes(),
            c.cqr(),
            c.ams(),
            c.to(),
            c.dstrd(),
            c.nssrs(),
            c.css(),
            c.bps(),
            c.mpsmin(),
            c.mpsmax(),
            c.pmrs(),
            c.cmbs(),
        )
    };
    assert_eq!(
        all(Cap(0)),
        (0, false, 0, 0, 0, false, 0, false, 0, 0, false, false)
    );
    assert!(all(Cap(1 << 16)).1);
    assert_eq!(all(Cap(3 << 17)).2, 3);
    assert_eq!(all(Cap(1 << 17)).2, 1);
    assert_eq!(all(Cap(0xff << 24)).3, 0xff);
    assert_eq!(all(Cap(0xf << 32)).4, 0xf);
    assert!(all(Cap(1 << 36)).5);
    assert_eq!(all(Cap(0xff << 37)).6, 0xff);
    assert!(all(Cap(1 << 45)).7);
    assert_eq!(all(Cap(0xf << 48)).8, 0xf);
    assert_eq!(all(Cap(0xf << 52)).9, 0xf);
    assert!(all(Cap(1 << 56)).10);
    assert!(all(Cap(1 << 57)).11);
    // Neighbouring fields do not leak into each other.
    let c = Cap(u64::MAX);
    assert_eq!(c.mqes(), 0xffff);
    assert_eq!(c.ams(), 3);
    assert_eq!(c.to(), 0xff);
    assert_eq!(c.dstrd(), 0xf);
    assert_eq!(c.css(), 0xff);
    assert_eq!(c.mpsmin(), 0xf);
    assert_eq!(c.mpsmax(), 0xf);
    assert_eq!(c.min_page_shift(), 27);
    assert_eq!(c.max_page_shift(), 27);
}

#[test]
fn cap_timeout_and_stride() {
    let to = |t: u64| Cap(t << 24);
    assert_eq!(to(0).timeout_ms(), 500, "TO = 0 must not mean 0 ms");
    assert_eq!(to(1).timeout_ms(), 500);
    assert_eq!(to(2).timeout_ms(), 1000);
    assert_eq!(to(0xff).timeout_ms(), 127_500);
    let stride = |d: u64| Cap(d << 32).doorbell_stride();
    assert_eq!(stride(0), 4);
    assert_eq!(stride(1), 8);
    assert_eq!(stride(2), 16);
    assert_eq!(stride(15), 4 << 15);
    assert!(!Cap(0x40 << 37).css_nvm());
}

#[test]
fn vs_decode_and_display() {
    let vs = Vs(0x0001_0400);
    assert_eq!((vs.major(), vs.minor(), vs.tertiary()), (1, 4, 0));
    assert_eq!(vs.to_string(), "1.4.0");
    assert_eq!(Vs(0x0002_0000).to_string(), "2.0.0");
    assert_eq!(Vs(0x0001_0201).to_string(), "1.2.1");
    assert_eq!(Vs::new(1, 4, 0), vs);
    assert_eq!(Vs::new(2, 1, 3).0, 0x0002_0103);
    assert_eq!(Vs(0xffff_ffff).to_string(), "65535.255.255");
}

#[test]
fn cc_nvm_io_encoding() {
    let cc = Cc::nvm_io(12);
    assert_eq!(cc.0, 0x0046_0001);
    assert!(cc.enable());
    assert_eq!(cc.css(), CC_CSS_NVM);
    assert_eq!(cc.mps(), 0);
    assert_eq!(cc.ams(), CC_AMS_RR);
    assert_eq!(cc.shn(), 0);
    assert_eq!(cc.iosqes(), 6);
    assert_eq!(cc.iocqes(), 4);
    // 64 KiB pages: MPS = 4 in bits 10:7.
    assert_eq!(Cc::nvm_io(16).0, 0x0046_0201);
    assert_eq!(Cc::nvm_io(16).mps(), 4);
}

#[test]
fn cc_builder_fields() {
    assert_eq!(Cc::new().0, 0);
    assert_eq!(Cc::new().with_enable(true).0, 0x1);
    assert_eq!(Cc::new().with_css(CC_CSS_ADMIN_ONLY).0, 0x70);
    assert_eq!(Cc::new().with_css(CC_CSS_CSI).0, 0x60);
    assert_eq!(Cc::new().with_mps(13).0, 0x80);
    assert_eq!(Cc::new().with_mps(27).0, 0xf << 7);
    assert_eq!(Cc::new().with_ams(1).0, 0x800);
    assert_eq!(Cc::new().with_ams(7).0, 0x3800);
    assert_eq!(Cc::new().with_shn(Shn::Normal).0, 0x4000);
    assert_eq!(Cc::new().with_shn(Shn::Abrupt).0, 0x8000);
    assert_eq!(Cc::new().with_iosqes(6).0, 0x6_0000);
    assert_eq!(Cc::new().with_iocqes(4).0, 0x40_0000);

    // Setting a field replaces it and leaves the others alone.
    let cc = Cc::nvm_io(12).with_shn(Shn::Normal);
    assert_eq!(cc.0, 0x0046_4001);
    assert_eq!(cc.shn(), 1);
    let cc = cc.with_shn(Shn::None).with_enable(false);
    assert_eq!(cc.0, 0x0046_0000);
    assert!(!cc.enable());
    let cc = Cc(u32::MAX).with_css(0).with_iosqes(0);
    assert_eq!(cc.css(), 0);
    assert_eq!(cc.iosqes(), 0);
    assert_eq!(cc.iocqes(), 0xf);
    assert_eq!(cc.mps(), 0xf);
    // Values wider than the field are truncated to it.
    assert_eq!(Cc::new().with_css(0xff).0, 0x70);
}

#[test]
fn csts_decode() {
    assert!(Csts(0x1).rdy());
    assert!(!Csts(0x1).cfs());
    assert!(Csts(0x2).cfs());
    assert!(!Csts(0x2).rdy());
    assert_eq!(Csts(0x0).shst(), Shst::Normal);
    assert_eq!(Csts(0x4).shst(), Shst::Occurring);
    assert_eq!(Csts(0x8).shst(), Shst::Complete);
    assert_eq!(Csts(0xc).shst(), Shst::Reserved);
    assert_eq!(Csts(0x9).shst(), Shst::Complete);
    assert!(Csts(0x10).nssro());
    assert!(Csts(0x20).pp());
    assert!(!Csts(0x1f).pp());
    assert!(Csts(0xffff_ffff).is_gone());
    assert!(!Csts(0x7fff_ffff).is_gone());
    assert!(!Csts(0x1).is_gone());
}

#[test]
fn aqa_encoding() {
    assert_eq!(Aqa::new(32, 32), 0x001f_001f);
    assert_eq!(Aqa::new(4096, 2), 0x0001_0fff);
    assert_eq!(Aqa::new(2, 4096), 0x0fff_0001);
    assert_eq!(Aqa::new(64, 128), 0x007f_003f);
}

#[test]
fn doorbells_stride_0() {
    assert_eq!(sq_tail_db(0, 0), 0x1000);
    assert_eq!(cq_head_db(0, 0), 0x1004);
    assert_eq!(sq_tail_db(1, 0), 0x1008);
    assert_eq!(cq_head_db(1, 0), 0x100c);
    assert_eq!(sq_tail_db(4, 0), 0x1020);
    assert_eq!(cq_head_db(4, 0), 0x1024);
    assert_eq!(bar_size_needed(0, 0), 0x1000);
    assert_eq!(bar_size_needed(1, 0), 0x1008);
    assert_eq!(bar_size_needed(5, 0), 0x1028);
    assert_eq!(bar_size_needed(65, 0), 0x1000 + 65 * 8);
}

#[test]
fn doorbells_stride_2() {
    // DSTRD = 2: 16-byte stride.
    assert_eq!(sq_tail_db(0, 2), 0x1000);
    assert_eq!(cq_head_db(0, 2), 0x1010);
    assert_eq!(sq_tail_db(1, 2), 0x1020);
    assert_eq!(cq_head_db(1, 2), 0x1030);
    assert_eq!(sq_tail_db(3, 2), 0x1060);
    assert_eq!(cq_head_db(3, 2), 0x1070);
    assert_eq!(bar_size_needed(2, 2), 0x1034);
    // The largest queue id does not overflow.
    assert_eq!(sq_tail_db(u16::MAX, 0), 0x1000 + 2 * 65535 * 4);
    assert_eq!(
        cq_head_db(u16::MAX, 15),
        0x1000 + (2 * 65535 + 1) * (4 << 15)
    );
}
