// SPDX-License-Identifier: GPL-2.0

//! Multipath rules: policies, path choice, the ANA log.

use crate::nvme::mpath::*;

fn p(live: bool, ana: AnaState, local: bool, depth: u32) -> Option<PathView> {
    Some(PathView {
        live,
        ana,
        local,
        depth,
    })
}

#[test]
fn policy_names_round_trip() {
    for pol in IoPolicy::ALL {
        assert_eq!(IoPolicy::parse(pol.name().as_bytes()), Some(pol));
        let mut s = pol.name().as_bytes().to_vec();
        s.push(b'\n');
        assert_eq!(IoPolicy::parse(&s), Some(pol));
        assert_eq!(IoPolicy::from_raw(pol as u8), pol);
    }
    assert_eq!(IoPolicy::parse(b"rr"), None);
    assert_eq!(IoPolicy::parse(b"numa\n\n"), None);
    assert_eq!(IoPolicy::parse(b""), None);
}

#[test]
fn no_usable_path() {
    use AnaState::*;
    for pol in IoPolicy::ALL {
        assert_eq!(select(&[], pol, 0), None);
        assert_eq!(select(&[None, None], pol, 0), None);
        let paths = [
            p(false, Optimized, true, 0),
            p(true, Inaccessible, true, 0),
            p(true, PersistentLoss, true, 0),
            p(true, Change, true, 0),
        ];
        assert_eq!(select(&paths, pol, 0), None);
    }
}

#[test]
fn optimized_before_non_optimized() {
    use AnaState::*;
    let paths = [
        p(true, NonOptimized, true, 0),
        None,
        p(true, Optimized, false, 9),
    ];
    for pol in IoPolicy::ALL {
        for last in 0..3 {
            assert_eq!(select(&paths, pol, last), Some(2), "{pol:?}");
        }
    }
    let paths = [p(true, NonOptimized, true, 3), p(false, Optimized, true, 0)];
    for pol in IoPolicy::ALL {
        assert_eq!(select(&paths, pol, 1), Some(0), "{pol:?}");
    }
}

#[test]
fn round_robin_takes_turns() {
    use AnaState::*;
    let paths = [
        p(true, Optimized, true, 0),
        None,
        p(true, Optimized, true, 0),
        p(false, Optimized, true, 0),
    ];
    let mut last = 0;
    let mut seen = Vec::new();
    for _ in 0..6 {
        last = select(&paths, IoPolicy::RoundRobin, last).unwrap();
        seen.push(last);
    }
    assert_eq!(seen, [2, 0, 2, 0, 2, 0]);
    // The last slot out of range (a head that lost paths) still works.
    assert_eq!(select(&paths, IoPolicy::RoundRobin, 7), Some(0));
}

#[test]
fn numa_prefers_local() {
    use AnaState::*;
    let paths = [p(true, Optimized, false, 0), p(true, Optimized, true, 0)];
    assert_eq!(select(&paths, IoPolicy::Numa, 0), Some(1));
    assert_eq!(select(&paths, IoPolicy::Numa, 1), Some(1));
    // A remote optimized path beats a local non-optimized one.
    let paths = [p(true, NonOptimized, true, 0), p(true, Optimized, false, 0)];
    assert_eq!(select(&paths, IoPolicy::Numa, 0), Some(1));
}

#[test]
fn queue_depth_takes_least_busy() {
    use AnaState::*;
    let paths = [
        p(true, Optimized, true, 5),
        p(true, Optimized, true, 2),
        p(true, Optimized, true, 2),
        p(true, NonOptimized, true, 0),
    ];
    assert_eq!(select(&paths, IoPolicy::QueueDepth, 0), Some(1));
    assert_eq!(select(&paths, IoPolicy::QueueDepth, 3), Some(1));
}

fn log(groups: &[(u32, u8, &[u32])]) -> Vec<u8> {
    let mut v = vec![0u8; ANA_HEADER];
    v[8..10].copy_from_slice(&(groups.len() as u16).to_le_bytes());
    for (grpid, state, nsids) in groups {
        let mut d = [0u8; ANA_GROUP];
        d[0..4].copy_from_slice(&grpid.to_le_bytes());
        d[4..8].copy_from_slice(&(nsids.len() as u32).to_le_bytes());
        d[16] = *state;
        v.extend_from_slice(&d);
        for n in nsids.iter() {
            v.extend_from_slice(&n.to_le_bytes());
        }
    }
    v
}

#[test]
fn ana_log_parses() {
    let l = log(&[(1, 0x1, &[1, 3]), (2, 0x2, &[]), (7, 0x3, &[2])]);
    let g: Vec<_> = ana_groups(&l, 8).unwrap().collect();
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].grpid, 1);
    assert_eq!(g[0].state, AnaState::Optimized);
    assert_eq!(g[0].nsids().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(g[1].state, AnaState::NonOptimized);
    assert_eq!(g[1].nsids().count(), 0);
    assert_eq!(g[2].state, AnaState::Inaccessible);
    assert_eq!(g[2].nsids().collect::<Vec<_>>(), [2]);
    assert_eq!(
        group_state(ana_groups(&l, 8).unwrap(), 7),
        Some(AnaState::Inaccessible)
    );
    assert_eq!(group_state(ana_groups(&l, 8).unwrap(), 9), None);
    // Trailing bytes (the buffer is sized for the most groups) are ignored.
    let mut padded = l.clone();
    padded.resize(l.len() + 100, 0);
    assert_eq!(ana_groups(&padded, 8).unwrap().count(), 3);
}

#[test]
fn ana_log_rejects_bad_lengths() {
    let l = log(&[(1, 0x1, &[1, 3]), (2, 0x4, &[5])]);
    for cut in 0..l.len() {
        assert_eq!(
            ana_groups(&l[..cut], 8).err(),
            Some(AnaLogError::Truncated),
            "cut at {cut}"
        );
    }
    assert_eq!(ana_groups(&l, 1).err(), Some(AnaLogError::TooManyGroups));
    // A namespace count that would overflow the offset.
    let mut bad = log(&[(1, 0x1, &[])]);
    bad[ANA_HEADER + 4..ANA_HEADER + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(ana_groups(&bad, 8).err(), Some(AnaLogError::Truncated));
}

#[test]
fn ana_states() {
    assert_eq!(AnaState::from_bits(0x11), AnaState::Optimized);
    assert_eq!(AnaState::from_bits(0xf), AnaState::Change);
    assert_eq!(AnaState::from_bits(0x0), AnaState::Inaccessible);
    assert_eq!(AnaState::from_bits(0x5), AnaState::Inaccessible);
    assert!(AnaState::Optimized.is_usable() && AnaState::NonOptimized.is_usable());
    assert!(!AnaState::Change.is_usable() && !AnaState::PersistentLoss.is_usable());
    assert_eq!(ana_log_size(4, 10, 1 << 20), 16 + 4 * 32 + 40);
    assert_eq!(ana_log_size(u32::MAX, u32::MAX, 4096), 4096);
}

#[test]
fn ana_errors() {
    for sc in 1..=3u8 {
        assert!(is_ana_error(3, sc));
        assert!(!is_ana_error(2, sc));
        assert!(!is_ana_error(0, sc));
    }
    for sc in [0x00u8, 0x04, 0x60, 0x70, 0x71] {
        assert!(!is_ana_error(3, sc));
    }
}

#[test]
fn ctrl_list_count() {
    assert_eq!(ctrl_list_len(&[]), 0);
    assert_eq!(ctrl_list_len(&[3]), 0);
    assert_eq!(ctrl_list_len(&[2, 0, 1, 0, 2, 0]), 2);
    assert_eq!(ctrl_list_len(&[0x01, 0x01]), 257);
    // More than a list can hold: bounded.
    assert_eq!(ctrl_list_len(&[0xff, 0xff]), 2047);
    let mut page = [0u8; 4096];
    page[0] = 1;
    page[2] = 7;
    assert_eq!(ctrl_list_len(&page), 1);
}

#[test]
fn placement_of_shared_namespaces() {
    // A head exists: every controller is a path, whatever it sees attached.
    for attached in [None, Some(0), Some(1), Some(2), Some(8)] {
        assert_eq!(place(true, None, 0, attached), Placement::JoinHead);
    }
    // Attached to several controllers, or the controller cannot say: a new head.
    assert_eq!(place(false, None, 0, Some(2)), Placement::NewHead);
    assert_eq!(place(false, None, 0, Some(9)), Placement::NewHead);
    assert_eq!(place(false, None, 0, None), Placement::NewHead);
    // Attached to this controller alone (or, racing a detach, to none): its own disk.
    assert_eq!(place(false, None, 3, Some(1)), Placement::Own);
    assert_eq!(place(false, None, 3, Some(0)), Placement::Own);
    // Another controller serves it with its own disk: nothing here, even when attached to
    // several now (no second writable disk).
    assert_eq!(place(false, Some(0), 1, Some(2)), Placement::Taken);
    assert_eq!(place(false, Some(0), 1, None), Placement::Taken);
    assert_eq!(place(false, Some(0), 1, Some(1)), Placement::Taken);
    // This controller's own disk stays its own (a re-added disk after a format change).
    assert_eq!(place(false, Some(3), 3, Some(2)), Placement::Own);
}
