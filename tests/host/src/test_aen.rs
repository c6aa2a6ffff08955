// SPDX-License-Identifier: GPL-2.0

//! Tests of asynchronous event handling (nvme/aen.rs): AER slots and command identifiers,
//! the event configuration, completion decoding, SMART critical warnings, the Changed
//! Namespace List log and the namespace list comparison of a rescan.

use crate::nvme::{
    aen::*,
    cmd::Completion,
    status::{
        cmd_specific,
        generic,
        Status,
        SCT_CMD_SPECIFIC,
        SCT_GENERIC, //
    },
};

#[test]
fn aer_count_follows_aerl_capped() {
    assert_eq!(aer_count(0), 1);
    assert_eq!(aer_count(2), 3);
    // QEMU's default AERL is 3: four requests.
    assert_eq!(aer_count(3), 4);
    assert_eq!(aer_count(255), MAX_AERS);
}

#[test]
fn aer_cids_round_trip_and_stay_apart_from_sync_cids() {
    for slot in 0..MAX_AERS {
        assert_eq!(aer_slot(aer_cid(slot)), Some(slot));
    }
    assert_eq!(aer_slot(0), None);
    assert_eq!(aer_slot(AER_CID_BASE - 1), None);
    assert_eq!(aer_slot(AER_CID_BASE + MAX_AERS as u16), None);
    assert_eq!(aer_slot(u16::MAX), None);
    // Walk the synchronous identifiers through more than a full wrap: never an AER one.
    let mut cid = 0u16;
    let mut wrapped = false;
    for _ in 0..70_000 {
        let next = next_sync_cid(cid);
        assert!(next < AER_CID_BASE, "{cid} -> {next}");
        assert!(next == cid + 1 || next == 0);
        wrapped |= next == 0;
        cid = next;
    }
    assert!(wrapped);
    assert_eq!(next_sync_cid(AER_CID_BASE - 1), 0);
}

#[test]
fn sync_cid_runs_never_wrap_nor_reach_aer_cids() {
    for n in 1..=MAX_BATCH as u16 {
        for next in [
            0,
            1,
            100,
            AER_CID_BASE - n - 1,
            AER_CID_BASE - n,
            AER_CID_BASE - 1,
        ] {
            let first = sync_cids(next, n);
            assert!(first == next || first == 0, "{next} {n}");
            // Every identifier of the run is synchronous and the run is consecutive.
            for i in 0..n {
                let cid = first + i;
                assert_eq!(aer_slot(cid), None, "{next} {n} {i}");
                assert_eq!(waited_index(waiting(first, n), cid), Some(usize::from(i)));
            }
        }
    }
    assert_eq!(sync_cids(AER_CID_BASE - 4, 4), AER_CID_BASE - 4);
    assert_eq!(sync_cids(AER_CID_BASE - 3, 4), 0);
}

#[test]
fn waited_index_takes_only_the_run() {
    let w = waiting(10, 3);
    assert_eq!(waited_index(w, 9), None);
    assert_eq!(waited_index(w, 10), Some(0));
    assert_eq!(waited_index(w, 12), Some(2));
    assert_eq!(waited_index(w, 13), None);
    // Nothing outstanding, and the AER identifiers, are never waited for.
    for cid in [0, 10, AER_CID_BASE, u16::MAX] {
        assert_eq!(waited_index(NO_WAIT, cid), None);
    }
    assert_eq!(waited_index(waiting(0, 1), 0), Some(0));
    assert_eq!(waited_index(waiting(0, 1), u16::MAX), None);
    for slot in 0..MAX_AERS {
        assert_eq!(
            waited_index(waiting(AER_CID_BASE - 16, 16), aer_cid(slot)),
            None
        );
    }
}

#[test]
fn aec_enables_ns_notices_only_when_offered() {
    assert_eq!(aec_dw11(0), 0x1f);
    // QEMU's OAES: Namespace Attribute Notices (bit 8).
    assert_eq!(aec_dw11(0x100), 0x11f);
    // Firmware activation (bit 9) and others are not enabled: the driver does not handle them.
    assert_eq!(aec_dw11(0xffff_ffff), 0x11f);
}

#[test]
fn event_dw0_decodes() {
    // QEMU, smart_critical_warning = 2 (temperature): type 1, info 1, log 02h.
    let e = AsyncEvent::from_dw0(0x0002_0101);
    assert_eq!(e.kind, EventType::Smart);
    assert_eq!(e.info, SMART_INFO_TEMP);
    assert_eq!(e.log_page, 0x02);
    assert!(e.is_smart() && !e.is_ns_changed());
    assert_eq!(e.log_len(), Some(512));
    assert_eq!(e.name(), "SMART: temperature threshold");

    // Namespace attribute changed: type 2, info 0, log 04h.
    let e = AsyncEvent::from_dw0(0x0004_0002);
    assert_eq!(e.kind, EventType::Notice);
    assert!(e.is_ns_changed() && !e.is_smart());
    assert_eq!(e.log_len(), Some(4096));

    // Firmware activation starting is a notice too, but no namespace change.
    let e = AsyncEvent::from_dw0(0x0003_0102);
    assert!(!e.is_ns_changed());
    assert_eq!(e.name(), "notice: firmware activation starting");

    // Error status event: Error Information log, one entry.
    let e = AsyncEvent::from_dw0(0x0001_0000);
    assert_eq!(e.kind, EventType::Error);
    assert_eq!(e.log_len(), Some(64));

    // Reserved type 5, vendor log page: nothing to read.
    let e = AsyncEvent::from_dw0(0x00c0_ff05);
    assert_eq!(e.kind, EventType::Reserved(5));
    assert_eq!(e.info, 0xff);
    assert_eq!(e.log_page, 0xc0);
    assert_eq!(e.log_len(), None);
    // Bits 31:24 are reserved and ignored.
    assert_eq!(
        AsyncEvent::from_dw0(0xff04_0002),
        AsyncEvent::from_dw0(0x0004_0002)
    );
}

fn cqe(dw0: u32, status: Status) -> Completion {
    Completion::from_dwords([
        dw0,
        0,
        0,
        u32::from(AER_CID_BASE) | (u32::from(status.0) << 17),
    ])
}

#[test]
fn aer_outcomes() {
    let ok = Status::from_parts(SCT_GENERIC, generic::SUCCESS, false);
    match aer_outcome(&cqe(0x0004_0002, ok)) {
        AerOutcome::Event(e) => assert!(e.is_ns_changed()),
        o => panic!("{o:?}"),
    }
    let aborted = Status::from_parts(SCT_GENERIC, generic::ABORT_QUEUE, false);
    assert_eq!(aer_outcome(&cqe(0, aborted)), AerOutcome::Aborted);
    let aborted = Status::from_parts(SCT_GENERIC, generic::ABORT_REQ, false);
    assert_eq!(aer_outcome(&cqe(0, aborted)), AerOutcome::Aborted);
    let limit = Status::from_parts(SCT_CMD_SPECIFIC, cmd_specific::ASYNC_LIMIT, true);
    assert_eq!(aer_outcome(&cqe(0, limit)), AerOutcome::Refused(limit));
    let opcode = Status::from_parts(SCT_GENERIC, generic::INVALID_OPCODE, true);
    assert_eq!(aer_outcome(&cqe(0, opcode)), AerOutcome::Refused(opcode));
}

#[test]
fn critical_warning_bits() {
    assert_eq!(critical_warnings(0).count(), 0);
    let v: Vec<_> = critical_warnings(0x02).collect();
    assert_eq!(v, ["temperature out of range"]);
    let v: Vec<_> = critical_warnings(0x85).collect();
    assert_eq!(
        v,
        [
            "available spare below threshold",
            "NVM subsystem reliability degraded",
            "reserved bit 7"
        ]
    );
    assert_eq!(critical_warnings(0xff).count(), 8);
    let mut log = [0u8; 512];
    log[0] = 0x02;
    assert_eq!(smart_critical_warning(&log), Some(2));
    assert_eq!(smart_critical_warning(&[]), None);
}

fn nslog(ids: &[u32]) -> Vec<u8> {
    let mut v = vec![0u8; 4096];
    for (i, id) in ids.iter().enumerate() {
        v[4 * i..4 * i + 4].copy_from_slice(&id.to_le_bytes());
    }
    v
}

#[test]
fn changed_ns_list() {
    let log = nslog(&[2, 7]);
    let c = ChangedNs::parse(&log);
    assert_eq!(c.nsids().collect::<Vec<_>>(), [2, 7]);
    let log = nslog(&[]);
    assert_eq!(ChangedNs::parse(&log).nsids().count(), 0);
    let log = nslog(&[u32::MAX]);
    assert_eq!(ChangedNs::parse(&log), ChangedNs::Many);
    assert_eq!(ChangedNs::parse(&log).nsids().count(), 0);
    // A full list of 1024 entries, and a short buffer with a ragged end.
    let all: Vec<u32> = (1..=1024).collect();
    let log = nslog(&all);
    assert_eq!(ChangedNs::parse(&log).nsids().collect::<Vec<_>>(), all);
    let log = nslog(&[3, 4]);
    assert_eq!(ChangedNs::parse(&log[..6]).nsids().collect::<Vec<_>>(), [3]);
}

#[test]
fn ns_list_differences() {
    let m = |a: &[u32], b: &[u32]| ns_missing(a, b).collect::<Vec<_>>();
    assert_eq!(m(&[1, 2, 3], &[1, 3]), [2]);
    assert_eq!(m(&[1, 3], &[1, 2, 3]), Vec::<u32>::new());
    assert_eq!(m(&[1, 3], &[]), [1, 3]);
    assert_eq!(m(&[], &[1, 2]), Vec::<u32>::new());
    assert_eq!(m(&[1, 2, 5, 9], &[2, 3, 4, 9, 10]), [1, 5]);
    assert_eq!(m(&[2, 3, 4, 9, 10], &[1, 2, 5, 9]), [3, 4, 10]);
}

#[test]
fn ns_list_differences_random() {
    let mut rng = crate::rng::XorShift::new(7);
    for _ in 0..500 {
        let pick = |rng: &mut crate::rng::XorShift| -> Vec<u32> {
            (1..=40u32).filter(|_| rng.chance(1, 2)).collect()
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let want: Vec<u32> = a.iter().copied().filter(|x| !b.contains(x)).collect();
        assert_eq!(ns_missing(&a, &b).collect::<Vec<_>>(), want);
    }
}
