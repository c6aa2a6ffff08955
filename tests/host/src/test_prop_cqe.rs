// SPDX-License-Identifier: GPL-2.0

//! Property tests of the decoding of what the controller writes outside the
//! data buffers, on random and adversarial values: completion queue entries
//! and their Status Field (nvme/cmd.rs, nvme/status.rs), the granted Number
//! of Queues, the CAP, VS and CSTS registers (nvme/regs.rs), the phase tag
//! and the shadow doorbell event index (nvme/ring.rs).

use crate::nvme::{
    cmd::{
        num_queues_granted,
        Completion, //
    },
    regs::*,
    ring::*,
    status::*,
};
use crate::prop::*;
use crate::rng::XorShift;

/// Checks every property of one Status Field (bits 14:0 of `field`).
fn check_status(field: u16) {
    let st = Status::new(field);
    assert_eq!(st.0, field & 0x7fff);
    // The parts put back together give the field.
    let parts = u16::from(st.sc())
        | u16::from(st.sct()) << 8
        | u16::from(st.crd()) << 11
        | u16::from(st.more()) << 13
        | u16::from(st.dnr()) << 14;
    assert_eq!(parts, st.0);
    assert!(st.sct() <= 7 && st.crd() <= 3);
    // Building it from SCT, SC and DNR loses only CRD and More.
    let built = Status::from_parts(st.sct(), st.sc(), st.dnr());
    assert_eq!(built.0, st.0 & !(0x3 << 11 | 1 << 13));
    assert_eq!(
        (built.sct(), built.sc(), built.dnr()),
        (st.sct(), st.sc(), st.dnr())
    );
    assert_eq!(built.blk_err(), st.blk_err());
    assert_eq!(built.name(), st.name());

    assert_eq!(st.is_success(), st.sct() == 0 && st.sc() == 0);
    assert_eq!(st.blk_err() == BlkErr::Ok, st.is_success());
    if st.retryable() {
        assert!(!st.is_success() && !st.dnr());
        assert_ne!(st.blk_err(), BlkErr::NotSupported);
    }
    assert!(!st.name().is_empty());
    let shown = st.to_string();
    assert!(shown.starts_with(st.name()));
    assert!(shown.contains(&format!("sct {:#x} sc {:#x}", st.sct(), st.sc())));
    assert_eq!(shown.contains(", dnr"), st.dnr());
    assert_eq!(shown.contains(", more"), st.more());
}

#[test]
fn prop_status_exhaustive() {
    // Every 16-bit status word, phase tag included.
    for word in 0..=u16::MAX {
        let cqe = Completion::from_dwords([0, 0, 0, u32::from(word) << 16]);
        assert_eq!(cqe.status_word(), word);
        assert_eq!(cqe.phase(), word & 1 != 0);
        assert_eq!(cqe.status_field(), word >> 1);
        check_status(cqe.status_field());
        check_status(word);
    }
}

/// A dword of a completion entry: a boundary value, or one with a boundary
/// value in either half.
fn cqe_dword(rng: &mut XorShift) -> u32 {
    match rng.range(0, 3) {
        0 => edge32(rng),
        1 => u32::from(edge16(rng)) | u32::from(edge16(rng)) << 16,
        // CAST: keeps the low 32 bits.
        _ => rng.next_u64() as u32,
    }
}

#[test]
fn prop_cqe() {
    run("cqe", |rng| {
        let dw = [
            cqe_dword(rng),
            cqe_dword(rng),
            cqe_dword(rng),
            cqe_dword(rng),
        ];
        let cqe = Completion::from_dwords(dw);
        assert_eq!((cqe.result_dw0(), cqe.result_dw1()), (dw[0], dw[1]));
        assert_eq!(u32::from(cqe.sq_head()), dw[2] & 0xffff);
        assert_eq!(u32::from(cqe.sq_id()), dw[2] >> 16);
        assert_eq!(u32::from(cqe.command_id()), dw[3] & 0xffff);
        assert_eq!(u32::from(cqe.status_word()), dw[3] >> 16);
        assert_eq!(cqe.phase(), dw[3] & (1 << 16) != 0);
        assert_eq!(u32::from(cqe.status_field()), dw[3] >> 17);
        check_status(cqe.status_field());

        // A new entry is one whose phase tag is the one the ring expects.
        let mut ring = CqRing::new(edge16(rng).max(2));
        if rng.chance(1, 2) {
            // On an odd pass round the ring.
            ring.cq_phase = false;
        }
        assert_eq!(
            ring.is_pending(cqe.status_word()),
            cqe.phase() == ring.cq_phase
        );

        // Set/Get Features Number of Queues: min(NSQA, NCQA) + 1, saturated.
        let got = num_queues_granted(dw[0]);
        // CAST: the halves of a dword.
        let (nsqa, ncqa) = (dw[0] as u16, (dw[0] >> 16) as u16);
        assert!(got >= 1);
        assert_eq!(got, nsqa.min(ncqa).saturating_add(1));
    });
}

#[test]
fn prop_registers() {
    run("registers", |rng| {
        let cap = Cap(match rng.range(0, 2) {
            0 => edge64(rng),
            1 => rng.next_u64(),
            // One field at a boundary in an otherwise all-ones or zero register.
            _ => {
                let base = if rng.chance(1, 2) { 0 } else { u64::MAX };
                base ^ (edge64(rng) << rng.range(0, 63))
            }
        });
        assert_eq!(cap.max_queue_entries(), u32::from(cap.mqes()) + 1);
        assert!((500..=255 * 500).contains(&cap.timeout_ms()));
        assert_eq!(cap.timeout_ms() % 500, 0);
        assert_eq!(cap.doorbell_stride(), 4 << cap.dstrd());
        assert!(cap.doorbell_stride() <= 4 << 15);
        assert!((12..=27).contains(&cap.min_page_shift()));
        assert!((12..=27).contains(&cap.max_page_shift()));
        assert_eq!(cap.css_nvm(), cap.css() & CAP_CSS_NVM != 0);

        let param = edge32(rng);
        let depth = io_queue_depth(cap.max_queue_entries(), param);
        assert!((2..=MAX_IO_QUEUE_DEPTH).contains(&u32::from(depth)));
        assert_eq!(
            u32::from(depth),
            cap.max_queue_entries()
                .min(param)
                .clamp(2, MAX_IO_QUEUE_DEPTH)
        );

        // Doorbells of every queue the stride allows stay apart and in order.
        let nr = edge16(rng);
        let dstrd = cap.dstrd();
        let size = bar_size_needed(nr, dstrd);
        assert!(size >= DOORBELL_BASE);
        if nr > 0 {
            let last = nr - 1;
            assert_eq!(size, cq_head_db(last, dstrd) + 4);
            assert_eq!(
                cq_head_db(last, dstrd) - sq_tail_db(last, dstrd),
                cap.doorbell_stride()
            );
        }

        let vs = Vs(edge32(rng));
        assert_eq!(Vs::new(vs.major(), vs.minor(), vs.tertiary()), vs);
        assert_eq!(
            vs.to_string(),
            format!("{}.{}.{}", vs.0 >> 16, (vs.0 >> 8) & 0xff, vs.0 & 0xff)
        );

        let csts = Csts(edge32(rng));
        assert_eq!(csts.is_gone(), csts.0 == u32::MAX);
        assert_eq!(csts.rdy(), csts.0 & 1 != 0);
        assert_eq!(csts.cfs(), csts.0 & 2 != 0);
        let _ = csts.shst();

        // The controller's shadow doorbell event index: ring the MMIO
        // doorbell when it lies in old..new (mod 2^16).
        let (event, new, old) = (edge16(rng), edge16(rng), edge16(rng));
        assert_eq!(
            nvme_dbbuf_need_event(event, new, old),
            event.wrapping_sub(old) < new.wrapping_sub(old)
        );
    });
}
