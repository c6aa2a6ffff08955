// SPDX-License-Identifier: GPL-2.0

//! Property tests of the log pages the driver parses and of the asynchronous
//! events that lead to them, on random and adversarial input: the event in
//! Dword 0 of an Asynchronous Event Request completion (nvme/aen.rs), the
//! SMART / Health Information log's Critical Warning, the Changed Namespace
//! List log, and the Commands Supported and Effects log (nvme/effects.rs).
//! The driver reads the Error Information and Firmware Slot logs only to
//! clear their events and parses nothing in them.

use crate::nvme::{
    aen::*,
    cmd::Completion,
    effects,
    status::{
        generic,
        Status,
        SCT_GENERIC, //
    },
};
use crate::prop::*;
use crate::rng::XorShift;

/// Bytes of the buffer the driver reads log pages into.
const LOG_BUF: usize = 4096;

/// A completion status word (phase tag in bit 0): success, the two aborts an
/// AER sees at a reset, a boundary value or any word.
fn status_word(rng: &mut XorShift) -> u16 {
    let phase = u16::from(rng.chance(1, 2));
    let field = match rng.range(0, 4) {
        0 => 0,
        1 => u16::from(rng.pick(&[generic::ABORT_REQ, generic::ABORT_QUEUE])),
        2 => edge16(rng) >> 1,
        _ => byte(rng).into(),
    };
    // Some with CRD, More or DNR set on top.
    let extra = if rng.chance(1, 4) {
        edge16(rng) & 0x7800
    } else {
        0
    };
    ((field | extra) << 1) | phase
}

#[test]
fn prop_aer_completion() {
    run("aer_completion", |rng| {
        let dw0 = match rng.range(0, 2) {
            0 => edge32(rng),
            // Each of the fields the decoding reads at a boundary.
            1 => {
                u32::from(byte(rng) & 7)
                    | u32::from(edge8(rng)) << 8
                    | u32::from(rng.pick(&[0u8, 1, 2, 3, 4, 5, 0x0d, 0x80, 0xff])) << 16
                    | u32::from(edge8(rng)) << 24
            }
            // CAST: keeps the low 32 bits.
            _ => rng.next_u64() as u32,
        };
        let cid = match rng.range(0, 2) {
            0 => AER_CID_BASE.wrapping_add(edge16(rng) % 8).wrapping_sub(2),
            _ => edge16(rng),
        };
        let sw = status_word(rng);
        let dw3 = u32::from(cid) | u32::from(sw) << 16;
        let cqe = Completion::from_dwords([dw0, edge32(rng), edge32(rng), dw3]);

        let ev = AsyncEvent::from_dw0(dw0);
        assert_eq!(u32::from(ev.info), (dw0 >> 8) & 0xff);
        assert_eq!(u32::from(ev.log_page), (dw0 >> 16) & 0xff);
        let want = match dw0 & 7 {
            0 => EventType::Error,
            1 => EventType::Smart,
            2 => EventType::Notice,
            3 => EventType::Immediate,
            4 => EventType::OneShot,
            6 => EventType::IoCmdSet,
            7 => EventType::Vendor,
            _ => EventType::Reserved(5),
        };
        assert_eq!(ev.kind, want);
        assert!(!ev.name().is_empty());
        assert_eq!(ev.is_smart(), dw0 & 7 == 1);
        assert_eq!(
            ev.is_ns_changed(),
            dw0 & 7 == 2 && ev.info == NOTICE_NS_ATTR
        );
        match ev.log_len() {
            // Only the logs the driver reads, and they fit its buffer.
            Some(n) => {
                assert!((1..=4).contains(&ev.log_page));
                assert!(n > 0 && n as usize <= LOG_BUF && n % 4 == 0);
            }
            None => assert!(!(1..=4).contains(&ev.log_page)),
        }

        let st = Status::new(sw >> 1);
        match aer_outcome(&cqe) {
            AerOutcome::Event(e) => {
                assert!(st.is_success());
                assert_eq!(e, ev);
            }
            AerOutcome::Aborted => {
                assert_eq!(st.sct(), SCT_GENERIC);
                assert!([generic::ABORT_REQ, generic::ABORT_QUEUE].contains(&st.sc()));
            }
            AerOutcome::Refused(s) => {
                assert!(!st.is_success());
                assert_eq!(s, st);
            }
        }

        // The slot a completion's command identifier names, if any.
        let in_range = (AER_CID_BASE..AER_CID_BASE + MAX_AERS as u16).contains(&cid);
        match aer_slot(cid) {
            Some(slot) => {
                assert!(in_range && slot < MAX_AERS);
                assert_eq!(aer_cid(slot), cid);
            }
            None => assert!(!in_range),
        }
        // The identifiers the driver gives its own commands never reach the
        // AER range. (Only those: the driver never passes the u16::MAX that
        // `next_sync_cid` would overflow on.)
        if cid < AER_CID_BASE {
            assert!(next_sync_cid(cid) < AER_CID_BASE);
        }
    });
}

#[test]
fn prop_smart_log() {
    // Every Critical Warning byte: one meaning per bit set, lowest first.
    for cw in 0..=u8::MAX {
        let names: Vec<&str> = critical_warnings(cw).collect();
        assert_eq!(names.len(), cw.count_ones() as usize);
        assert!(names.iter().all(|n| !n.is_empty()));
        let mut bits = (0..8).filter(|b| cw & (1 << b) != 0);
        let all: Vec<&str> = critical_warnings(0xff).collect();
        for n in &names {
            let bit = bits.next().expect("one name per bit");
            assert_eq!(*n, all[bit]);
        }
    }
    let mut log = vec![0u8; LOG_BUF];
    run("smart_log", |rng| {
        let len = match rng.range(0, 2) {
            0 => rng.pick(&[0, 1, 2, 511, 512, 513, LOG_BUF]),
            // CAST: below LOG_BUF.
            _ => rng.range(0, LOG_BUF as u64) as usize,
        };
        let log = &mut log[..len];
        fill(rng, log);
        let cw = smart_critical_warning(log);
        assert_eq!(cw, log.first().copied());
        if let Some(cw) = cw {
            assert_eq!(critical_warnings(cw).count(), cw.count_ones() as usize);
        }
    });
}

#[test]
fn prop_changed_ns_log() {
    let mut buf = vec![0u8; 2 * LOG_BUF];
    run("changed_ns_log", |rng| {
        let len = match rng.range(0, 2) {
            0 => rng.pick(&[
                0, 1, 2, 3, 4, 5, 7, 8, 4092, 4093, 4095, 4096, 4097, 4100, 8192,
            ]),
            // CAST: below 2 * LOG_BUF.
            _ => rng.range(0, 2 * LOG_BUF as u64) as usize,
        };
        let log = &mut buf[..len];
        fill(rng, log);
        let built = match rng.range(0, 3) {
            0 => None,
            1 => {
                let ascending = rng.chance(1, 2);
                Some(nsid_list(rng, log, ascending))
            }
            _ => {
                // "More than 1024 changed", with or without entries after it.
                if len >= 4 {
                    put32(log, 0, u32::MAX);
                }
                None
            }
        };
        let window = &log[..len.min(LOG_BUF) & !3];
        let parsed = ChangedNs::parse(log);
        let ids: Vec<u32> = parsed.nsids().collect();
        match parsed {
            ChangedNs::Many => {
                assert_eq!(window.get(..4), Some(&[0xff; 4][..]));
                assert!(ids.is_empty());
            }
            ChangedNs::List(l) => {
                assert!(window.len() < 4 || get32(window, 0) != u32::MAX);
                assert_eq!(l.len() % 4, 0);
                assert_eq!(l, &window[..l.len()]);
                assert_eq!(ids.len(), l.len() / 4);
                assert!(ids.len() <= LOG_BUF / 4);
                assert!(ids.iter().all(|&id| id != 0));
                assert_eq!(ids, dwords_to_zero(window));
                if let Some(built) = built {
                    // The window may cut the list the device wrote short.
                    let n = built.len().min(window.len() / 4);
                    assert_eq!(ids, built[..n]);
                }
            }
        }
    });
}

/// A Commands Supported and Effects log: the background of [`fill`], with
/// the dwords of the opcodes the driver knows about and of random opcodes
/// set to boundary values or to the execution restriction and relaxation
/// bits alone.
fn effects_log(rng: &mut XorShift) -> [u8; effects::LOG_SIZE] {
    let mut b = [0u8; effects::LOG_SIZE];
    fill(rng, &mut b);
    let known = [0x0d, 0x15, 0x80, 0x82, 0x84];
    for _ in 0..rng.range(0, 16) {
        let admin = rng.chance(1, 2);
        let op = if admin && rng.chance(1, 2) {
            rng.pick(&known)
        } else if !admin && rng.chance(1, 2) {
            rng.pick(&[0x00, 0x01, 0x02, 0x04, 0x08, 0x09, 0xff])
        } else {
            byte(rng)
        };
        let v = match rng.range(0, 2) {
            0 => edge32(rng),
            1 => rng.pick(&[
                effects::CSE_MASK,
                effects::CSER_MASK,
                effects::CSE_MASK | effects::CSER_MASK,
            ]),
            // CAST: keeps the low 32 bits.
            _ => (rng.next_u64() as u32) & !effects::SCOPE_MASK,
        };
        let off = 4 * (usize::from(op) + if admin { 0 } else { 256 });
        put32(&mut b, off, v);
    }
    b
}

#[test]
fn prop_effects_log() {
    use effects::Effects;
    let known = Effects::known();
    assert!(!known.reported());
    for op in 0..=u8::MAX {
        assert_eq!(known.admin(op) & effects::CSUPP, 0);
        assert_eq!(known.io(op) & effects::CSUPP, 0);
    }
    run("effects_log", |rng| {
        let b = effects_log(rng);
        let e = Effects::parse(&b);
        assert!(e.reported());
        for op in 0..=u8::MAX {
            let i = usize::from(op);
            // I/O: as reported, plus block contents for Write, Write
            // Uncorrectable and Write Zeroes.
            let mut io = get32(&b, 4 * (256 + i));
            if [0x01, 0x04, 0x08].contains(&op) {
                io |= effects::LBCC;
            }
            assert_eq!(e.io(op), io);
            // Admin: as reported plus what the driver knows, then a
            // relaxation lifts the execution restriction.
            let mut admin = get32(&b, 4 * i);
            match op {
                0x80 => admin |= effects::LBCC | effects::NCC | effects::CSE_MASK,
                0x84 => admin |= effects::LBCC | effects::CSE_MASK,
                0x0d | 0x15 => admin |= effects::NIC,
                0x82 => admin &= !effects::CSE_MASK,
                _ => {}
            }
            if admin & effects::CSER_MASK != 0 {
                admin &= !effects::CSE_MASK;
            }
            let got = e.admin(op);
            assert_eq!(got, admin);
            assert_eq!(effects::needs_freeze(got), got & effects::CSE_MASK != 0);
            assert_eq!(
                effects::needs_revalidate(got),
                got & (effects::NCC | effects::NIC | effects::CSE_MASK) != 0
            );
        }
        // Whatever the controller says: Format NVM and namespace management
        // and attachment are followed by a revalidation, and the writes
        // change block contents.
        for op in [0x80, 0x0d, 0x15] {
            assert!(effects::needs_revalidate(e.admin(op)));
        }
        for op in [0x01, 0x04, 0x08] {
            assert_ne!(e.io(op) & effects::LBCC, 0);
        }
        // The reserved second half of the log is not read.
        if rng.chance(1, 8) {
            let mut other = b;
            random_bytes(rng, &mut other[2048..]);
            assert_eq!(Effects::parse(&other), e);
        }
    });
}
