// SPDX-License-Identifier: GPL-2.0

//! Tests of queue ring and phase arithmetic, the shadow doorbell event test
//! and the I/O queue depth choice (nvme/ring.rs).

use crate::nvme::ring::*;
use crate::rng::XorShift;

#[test]
fn sq_advance_wraps() {
    let mut sq = SqRing::new(4);
    assert_eq!((sq.sq_tail, sq.last_sq_tail, sq.depth), (0, 0, 4));
    let slots: Vec<u16> = (0..10).map(|_| sq.advance()).collect();
    assert_eq!(slots, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    assert_eq!(sq.sq_tail, 2);
}

#[test]
fn sq_full_keeps_one_slot_free() {
    let mut sq = SqRing::new(4);
    // Controller head at 0: three entries fit, the fourth would make
    // tail == head, indistinguishable from empty.
    assert!(!sq.is_full(0));
    sq.advance();
    sq.advance();
    assert!(!sq.is_full(0));
    sq.advance();
    assert_eq!(sq.sq_tail, 3);
    assert!(sq.is_full(0));
    // The controller consumed one: room again, across the wrap.
    assert!(!sq.is_full(1));
    sq.advance();
    assert_eq!(sq.sq_tail, 0);
    assert!(sq.is_full(1));
    assert!(!sq.is_full(2));

    let sq = SqRing {
        sq_tail: 1,
        last_sq_tail: 1,
        depth: 2,
    };
    assert!(sq.is_full(0));
    assert!(!sq.is_full(1));
}

#[test]
fn sq_full_model() {
    // Against a counter model over many random operations.
    let mut rng = XorShift::new(7);
    for depth in [2u16, 3, 5, 32, 1024] {
        let mut sq = SqRing::new(depth);
        let mut head = 0u16;
        let mut in_flight = 0u32;
        for _ in 0..5000 {
            if rng.chance(1, 2) {
                let full = in_flight == u32::from(depth) - 1;
                assert_eq!(sq.is_full(head), full);
                if !full {
                    let slot = sq.advance();
                    assert!(slot < depth);
                    in_flight += 1;
                }
            } else if in_flight > 0 {
                head = (head + 1) % depth;
                in_flight -= 1;
            }
        }
    }
}

#[test]
fn sq_doorbell_tracking() {
    let mut sq = SqRing::new(8);
    assert!(!sq.pending_doorbell());
    sq.advance();
    sq.advance();
    assert!(sq.pending_doorbell());
    sq.mark_doorbell_written();
    assert_eq!(sq.last_sq_tail, 2);
    assert!(!sq.pending_doorbell());
    // A full lap returns the tail to the same value: nothing to ring is a
    // limitation callers avoid by never queueing more than depth - 1.
    for _ in 0..3 {
        sq.advance();
    }
    assert!(sq.pending_doorbell());
}

#[test]
fn cq_phase_flips_each_lap() {
    let depth = 5u16;
    let mut cq = CqRing::new(depth);
    assert_eq!((cq.cq_head, cq.cq_phase), (0, true));
    // Zeroed memory is not pending on the first lap.
    assert!(!cq.is_pending(0));
    assert!(cq.is_pending(1));
    for lap in 0..6u32 {
        let phase = lap % 2 == 0;
        for i in 0..depth {
            assert_eq!(cq.cq_head, i);
            assert_eq!(cq.cq_phase, phase);
            // The device writes this lap's phase; the old one is stale.
            let new_word = u16::from(phase) | 0x1234 << 1;
            let old_word = u16::from(!phase) | 0x1234 << 1;
            assert!(cq.is_pending(new_word));
            assert!(!cq.is_pending(old_word));
            cq.advance();
        }
    }
    assert_eq!((cq.cq_head, cq.cq_phase), (0, true));
}

#[test]
fn cq_simulated_device() {
    // A device writing entries into a ring with alternating phase; the host
    // consumes exactly what was posted, in order, over many laps.
    let depth = 7usize;
    let mut ring = vec![0u16; depth];
    let mut dev_tail = 0usize;
    let mut dev_phase = true;
    let mut cq = CqRing::new(depth as u16);
    let mut rng = XorShift::new(99);
    let mut posted = 0u32;
    let mut consumed = 0u32;
    for _ in 0..2000 {
        // Post up to the free space (host keeps up, depth - 1 outstanding).
        let outstanding = posted - consumed;
        let n = rng.range(0, u64::from(depth as u32 - 1 - outstanding)) as u32;
        for _ in 0..n {
            // Status word carries the entry number in the status bits.
            ring[dev_tail] = u16::from(dev_phase) | (((posted & 0x3fff) as u16) << 1);
            posted += 1;
            dev_tail += 1;
            if dev_tail == depth {
                dev_tail = 0;
                dev_phase = !dev_phase;
            }
        }
        while cq.is_pending(ring[usize::from(cq.cq_head)]) {
            let word = ring[usize::from(cq.cq_head)];
            assert_eq!(u32::from(word >> 1), consumed & 0x3fff);
            consumed += 1;
            cq.advance();
        }
        assert_eq!(consumed, posted);
    }
    assert!(posted > 1000);
}

#[test]
fn dbbuf_need_event_cases() {
    // Device asks to be told once the index moves past event_idx.
    assert!(nvme_dbbuf_need_event(0, 1, 0));
    assert!(!nvme_dbbuf_need_event(1, 1, 0));
    assert!(nvme_dbbuf_need_event(1, 2, 1));
    // Batch from 0 to 5: events 0..=4 are crossed, 5 and later are not.
    for e in 0..5 {
        assert!(nvme_dbbuf_need_event(e, 5, 0), "event {e}");
    }
    assert!(!nvme_dbbuf_need_event(5, 5, 0));
    assert!(!nvme_dbbuf_need_event(7, 5, 0));
    assert!(!nvme_dbbuf_need_event(0xffff, 5, 0));
    // Wrap-around of the u16 index: 0xfffe -> 0x0002.
    assert!(nvme_dbbuf_need_event(0xfffe, 0x0002, 0xfffe));
    assert!(nvme_dbbuf_need_event(0xffff, 0x0002, 0xfffe));
    assert!(nvme_dbbuf_need_event(0x0000, 0x0002, 0xfffe));
    assert!(nvme_dbbuf_need_event(0x0001, 0x0002, 0xfffe));
    assert!(!nvme_dbbuf_need_event(0x0002, 0x0002, 0xfffe));
    assert!(!nvme_dbbuf_need_event(0xfffd, 0x0002, 0xfffe));
    // No movement never needs an event.
    assert!(!nvme_dbbuf_need_event(3, 3, 3));
}

#[test]
fn dbbuf_need_event_model() {
    // event_idx in [old, new) modulo 2^16, for moves of 1..=2^15 slots.
    let mut rng = XorShift::new(0xdb);
    for _ in 0..100_000 {
        let old = rng.range(0, 0xffff) as u16;
        let step = rng.range(1, 0x8000) as u16;
        let new = old.wrapping_add(step);
        let event = if rng.chance(1, 2) {
            old.wrapping_add(rng.range(0, u64::from(step) + 2) as u16)
                .wrapping_sub(1)
        } else {
            rng.range(0, 0xffff) as u16
        };
        let crossed = event.wrapping_sub(old) < step;
        assert_eq!(
            nvme_dbbuf_need_event(event, new, old),
            crossed,
            "event {event:#x} new {new:#x} old {old:#x}"
        );
    }
}

#[test]
fn queue_depth_choice() {
    assert_eq!(MAX_IO_QUEUE_DEPTH, 1024);
    assert_eq!(io_queue_depth(2048, 1024), 1024);
    assert_eq!(io_queue_depth(2048, 4096), 1024);
    assert_eq!(io_queue_depth(65536, u32::MAX), 1024);
    assert_eq!(io_queue_depth(64, 1024), 64);
    assert_eq!(io_queue_depth(2048, 128), 128);
    assert_eq!(io_queue_depth(1, 1024), 2);
    assert_eq!(io_queue_depth(2048, 0), 2);
    assert_eq!(io_queue_depth(0, 0), 2);
}
