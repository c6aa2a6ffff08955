// SPDX-License-Identifier: GPL-2.0

//! Tests of nvme/fdp.rs: the FDP feature, Get Log Page with a Log Specific Identifier, I/O
//! Management Receive and Data Placement encodings, FDP Configurations and Reclaim Unit
//! Handle Status parsing, and the write stream helpers, on buffers built at the byte offsets
//! of the NVMe Base Specification.

use crate::nvme::cmd::{admin, Command};
use crate::nvme::fdp::*;

/// CDW10..=CDW15 of a command, in CPU order.
fn cdws(c: &Command) -> [u32; 6] {
    [c.cdw10, c.cdw11, c.cdw12, c.cdw13, c.cdw14, c.cdw15].map(u32::from_le)
}

/// Writes `v` at `off` of `b`.
fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// An FDP configuration descriptor of `dsze` bytes (at least 64) with the fields of `c` and
/// FDPA `fdpa`; its NRUH handle descriptors have type 1 as far as `dsze` holds them.
fn desc(dsze: usize, fdpa: u8, c: &FdpConfig) -> Vec<u8> {
    let mut d = vec![0u8; dsze];
    put(&mut d, 0, &u16::try_from(dsze).unwrap().to_le_bytes());
    d[2] = fdpa;
    d[3] = 0;
    put(&mut d, 4, &c.nrg.to_le_bytes());
    put(&mut d, 8, &c.nruh.to_le_bytes());
    put(&mut d, 10, &c.maxpids.to_le_bytes());
    put(&mut d, 12, &c.nnss.to_le_bytes());
    put(&mut d, 16, &c.runs.to_le_bytes());
    put(&mut d, 24, &c.erutl.to_le_bytes());
    for h in 0..usize::from(c.nruh) {
        if let Some(t) = d.get_mut(64 + 4 * h) {
            *t = 1;
        }
    }
    d
}

/// An FDP Configurations log of descriptors `descs` (NUMFDPC their count, 0's based; SZE the
/// log's size).
fn log(descs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    put(
        &mut b,
        0,
        &u16::try_from(descs.len() - 1).unwrap().to_le_bytes(),
    );
    b[2] = 0;
    for d in descs {
        b.extend_from_slice(d);
    }
    let sze = u32::try_from(b.len()).unwrap();
    put(&mut b, 4, &sze.to_le_bytes());
    b
}

/// Configuration 0 of the tests: 4 handles, 1 GiB reclaim units.
const C0: FdpConfig = FdpConfig {
    valid: true,
    nrg: 1,
    nruh: 4,
    maxpids: 7,
    nnss: 16,
    runs: 1 << 30,
    erutl: 0,
};

/// Configuration 1 of the tests: 8 handles in 2 groups, vendor specific bytes after them.
const C1: FdpConfig = FdpConfig {
    valid: true,
    nrg: 2,
    nruh: 8,
    maxpids: 127,
    nnss: 0xffff_ffff,
    runs: 0x0123_4567_89ab_cdef,
    erutl: 3600,
};

#[test]
fn constants() {
    assert_eq!(FEAT_FDP, 0x1d);
    assert_eq!(
        [
            LOG_FDP_CONFIGS,
            LOG_RUH_USAGE,
            LOG_FDP_STATS,
            LOG_FDP_EVENTS
        ],
        [0x20, 0x21, 0x22, 0x23]
    );
    assert_eq!((IO_MGMT_RECV, MO_RUH_STATUS), (0x12, 1));
    assert_eq!(DTYPE_DATA_PLACEMENT, 2);
    assert_eq!(CTRATT_FDPS, 0x0008_0000);
}

#[test]
fn feature_dw0() {
    assert_eq!(FdpFeature::from_dw0(0), FdpFeature::default());
    let f = FdpFeature::from_dw0(0x0000_0301);
    assert_eq!((f.enabled, f.config_index), (true, 3));
    let f = FdpFeature::from_dw0(0x0000_ff00);
    assert_eq!((f.enabled, f.config_index), (false, 0xff));
    // Reserved bits are ignored.
    let f = FdpFeature::from_dw0(0xffff_00fe);
    assert_eq!((f.enabled, f.config_index), (false, 0));
    let f = FdpFeature::from_dw0(u32::MAX);
    assert_eq!((f.enabled, f.config_index), (true, 0xff));
}

#[test]
fn get_features_fdp_encoding() {
    let c = Command::get_features_fdp(1);
    assert_eq!((c.opcode(), c.nsid()), (admin::GET_FEATURES, 0));
    assert_eq!(c.opcode(), 0x0a);
    assert_eq!(cdws(&c), [0x1d, 1, 0, 0, 0, 0]);
    let c = Command::get_features_fdp(0xabcd);
    assert_eq!(cdws(&c), [0x1d, 0xabcd, 0, 0, 0, 0]);
    assert_eq!((c.prp1, c.prp2), (0, 0));
}

#[test]
fn get_log_lsi_encoding() {
    let c = Command::get_log_lsi(LOG_FDP_CONFIGS, 1, 1023, 0);
    assert_eq!((c.opcode(), c.nsid()), (0x02, 0));
    assert_eq!(cdws(&c), [0x03ff_0020, 0x0001_0000, 0, 0, 0, 0]);
    // NUMD split into NUMDL and NUMDU, LSI above NUMDU, a 64-bit offset.
    let c = Command::get_log_lsi(LOG_FDP_EVENTS, 0xbeef, 0x0012_3456, 0x1_0000_0200);
    assert_eq!(cdws(&c), [0x3456_0023, 0xbeef_0012, 0x0000_0200, 1, 0, 0]);
    let c = Command::get_log_lsi(LOG_RUH_USAGE, u16::MAX, u32::MAX, u64::MAX);
    assert_eq!(cdws(&c), [0xffff_0021, u32::MAX, u32::MAX, u32::MAX, 0, 0]);
    let c = Command::get_log_lsi(LOG_FDP_STATS, 0, 0, 4);
    assert_eq!(cdws(&c), [0x22, 0, 4, 0, 0, 0]);
}

#[test]
fn io_mgmt_recv_ruhs_encoding() {
    let c = Command::io_mgmt_recv_ruhs(1, 3);
    assert_eq!((c.opcode(), c.nsid()), (0x12, 1));
    assert_eq!(cdws(&c), [1, 3, 0, 0, 0, 0]);
    let c = Command::io_mgmt_recv_ruhs(0xffff_fffe, u32::MAX);
    assert_eq!(
        (c.nsid(), cdws(&c)),
        (0xffff_fffe, [1, u32::MAX, 0, 0, 0, 0])
    );
    assert_eq!(ruhs_size(0), 16);
    assert_eq!(ruhs_size(4), 16 + 4 * 32);
    assert_eq!(ruhs_size(u16::MAX), 16 + 65535 * 32);
}

#[test]
fn set_placement_keeps_other_bits() {
    let mut c = Command::write(5, 0x1_0000_0002, 8, true);
    c.set_placement(0x1234);
    assert_eq!(c.opcode(), 0x01);
    assert_eq!(c.nsid(), 5);
    assert_eq!(cdws(&c), [2, 1, 0x4020_0007, 0x1234_0000, 0, 0]);
    // Every other bit of CDW12 and CDW13 stays; a second placement replaces the first.
    c.cdw12 = (0xff0f_ffffu32).to_le();
    c.cdw13 = (0x0000_ffffu32).to_le();
    c.set_placement(0xffff);
    assert_eq!(cdws(&c)[2..4], [0xff2f_ffff, 0xffff_ffff]);
    c.cdw12 = u32::MAX.to_le();
    c.set_placement(0);
    assert_eq!(cdws(&c)[2..4], [0xff2f_ffff, 0x0000_ffff]);
    let mut c = Command::write(1, 0, 1, false);
    c.set_placement(7);
    c.set_placement(3);
    assert_eq!(cdws(&c)[2..4], [0x0020_0000, 0x0003_0000]);
}

#[test]
fn endgid_field() {
    let mut b = [0u8; 4096];
    assert_eq!(endgid(&b), 0);
    put(&mut b, 102, &0x1234u16.to_le_bytes());
    b[101] = 0xff;
    b[104] = 0xff;
    assert_eq!(endgid(&b), 0x1234);
}

#[test]
fn configs_of_different_sizes() {
    // Descriptor 0 has just its fixed part and handles; descriptor 1 has 40 vendor bytes more.
    let b = log(&[
        desc(64 + 4 * 4, 0x80, &C0),
        desc(64 + 8 * 4 + 40, 0x81, &C1),
    ]);
    assert_eq!(configs_log_size(&b), 16 + 80 + 136);
    assert_eq!(fdp_config(&b, 0), Ok(C0));
    assert_eq!(fdp_config(&b, 1), Ok(C1));
    // Not valid: FDPA bit 7 clear, whatever the other bits.
    let b = log(&[desc(128, 0x7f, &C0)]);
    assert_eq!(fdp_config(&b, 0), Ok(FdpConfig { valid: false, ..C0 }));
    // Bytes past SZE (a larger buffer) are not looked at.
    let mut b = log(&[desc(64, 0x80, &FdpConfig { nruh: 0, ..C0 })]);
    b.resize(4096, 0xff);
    assert_eq!(fdp_config(&b, 0), Ok(FdpConfig { nruh: 0, ..C0 }));
}

#[test]
fn config_index_beyond_numfdpc() {
    let b = log(&[desc(80, 0x80, &C0), desc(96, 0x80, &C1)]);
    assert_eq!(
        fdp_config(&b, 2),
        Err(FdpError::Index {
            index: 2,
            numfdpc: 1
        })
    );
    assert_eq!(
        fdp_config(&b, 255),
        Err(FdpError::Index {
            index: 255,
            numfdpc: 1
        })
    );
}

#[test]
fn config_truncated() {
    let b = log(&[desc(80, 0x80, &C0), desc(96, 0x80, &C1)]);
    assert_eq!(configs_log_size(&b[..7]), 0);
    for len in [0, 1, 15] {
        assert_eq!(fdp_config(&b[..len], 0), Err(FdpError::Truncated));
    }
    // Short of descriptor 0's DSZE, or of descriptor 1.
    for len in [16, 17, 18, 95] {
        assert_eq!(fdp_config(&b[..len], 0), Err(FdpError::Truncated), "{len}");
    }
    assert_eq!(fdp_config(&b[..96], 0), Ok(C0));
    for len in [96, 97, 98, 191] {
        assert_eq!(fdp_config(&b[..len], 1), Err(FdpError::Truncated), "{len}");
    }
    assert_eq!(fdp_config(&b[..192], 1), Ok(C1));
    // An SZE smaller than the buffer cuts the log there.
    let mut s = b.clone();
    put(&mut s, 4, &191u32.to_le_bytes());
    assert_eq!(fdp_config(&s, 0), Ok(C0));
    assert_eq!(fdp_config(&s, 1), Err(FdpError::Truncated));
    for sze in [0u32, 15, 16, 95] {
        put(&mut s, 4, &sze.to_le_bytes());
        assert_eq!(fdp_config(&s, 0), Err(FdpError::Truncated), "{sze}");
    }
    // A DSZE running past the end.
    let mut s = b.clone();
    put(&mut s, 96, &0xffffu16.to_le_bytes());
    assert_eq!(fdp_config(&s, 0), Ok(C0));
    assert_eq!(fdp_config(&s, 1), Err(FdpError::Truncated));
}

#[test]
fn config_bad_descriptor_sizes() {
    let b = log(&[desc(80, 0x80, &C0), desc(96, 0x80, &C1)]);
    for dsze in [0u16, 1, 2, 63] {
        // In the descriptor asked for, or in one before it.
        let mut s = b.clone();
        put(&mut s, 16, &dsze.to_le_bytes());
        assert_eq!(fdp_config(&s, 0), Err(FdpError::DescriptorSize(dsze)));
        assert_eq!(fdp_config(&s, 1), Err(FdpError::DescriptorSize(dsze)));
        let mut s = b.clone();
        put(&mut s, 96, &dsze.to_le_bytes());
        assert_eq!(fdp_config(&s, 0), Ok(C0));
        assert_eq!(fdp_config(&s, 1), Err(FdpError::DescriptorSize(dsze)));
    }
    // The smallest DSZE, 64, holds no handle descriptors.
    let b = log(&[desc(64, 0x80, &FdpConfig { nruh: 0, ..C0 })]);
    assert_eq!(fdp_config(&b, 0), Ok(FdpConfig { nruh: 0, ..C0 }));
    // More handles than DSZE holds.
    let b = log(&[desc(64 + 4 * 4 - 1, 0x80, &C0)]);
    assert_eq!(fdp_config(&b, 0), Err(FdpError::Handles(4)));
    let b = log(&[desc(64, 0x80, &FdpConfig { nruh: 1, ..C0 })]);
    assert_eq!(fdp_config(&b, 0), Err(FdpError::Handles(1)));
    let b = log(&[desc(64, 0x80, &FdpConfig { nruh: 0xffff, ..C0 })]);
    assert_eq!(fdp_config(&b, 0), Err(FdpError::Handles(0xffff)));
}

/// A Reclaim Unit Handle Status saying `nruhsd` descriptors, holding `descs` (PID, RUHID,
/// EARUTR, RUAMW).
fn ruhs(nruhsd: u16, descs: &[(u16, u16, u32, u64)]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[..14].fill(0xee);
    put(&mut b, 14, &nruhsd.to_le_bytes());
    for &(pid, ruhid, earutr, ruamw) in descs {
        let mut d = [0xddu8; 32];
        put(&mut d, 0, &pid.to_le_bytes());
        put(&mut d, 2, &ruhid.to_le_bytes());
        put(&mut d, 4, &earutr.to_le_bytes());
        put(&mut d, 8, &ruamw.to_le_bytes());
        b.extend_from_slice(&d);
    }
    b
}

#[test]
fn ruh_status_descriptors() {
    let b = ruhs(
        3,
        &[(0, 0, 10, 1 << 20), (1, 1, 0, 0), (0x1002, 2, 5, u64::MAX)],
    );
    assert_eq!(nr_ruhsd(&b), 3);
    assert_eq!(placement_ids(&b).collect::<Vec<_>>(), [0, 1, 0x1002]);
    let r: Vec<_> = ruh_status(&b).collect();
    assert_eq!(
        r[0],
        RuhStatus {
            pid: 0,
            ruhid: 0,
            earutr: 10,
            ruamw: 1 << 20
        }
    );
    assert_eq!((r[2].pid, r[2].ruhid, r[2].earutr), (0x1002, 2, 5));
    assert_eq!(r[2].ruamw, u64::MAX);
    // Fewer than the buffer holds: NRUHSD counts.
    let b = ruhs(1, &[(4, 0, 0, 0), (5, 1, 0, 0)]);
    assert_eq!(placement_ids(&b).collect::<Vec<_>>(), [4]);
    let b = ruhs(0, &[(4, 0, 0, 0)]);
    assert_eq!(placement_ids(&b).count(), 0);
}

#[test]
fn ruh_status_never_past_the_buffer() {
    assert_eq!(nr_ruhsd(&[]), 0);
    assert_eq!(placement_ids(&[]).count(), 0);
    let b = ruhs(2, &[(4, 0, 0, 0), (5, 1, 0, 0)]);
    assert_eq!(nr_ruhsd(&b[..15]), 0);
    assert_eq!(placement_ids(&b[..15]).count(), 0);
    assert_eq!(placement_ids(&b[..16]).count(), 0);
    // Only whole descriptors.
    assert_eq!(placement_ids(&b[..47]).count(), 0);
    assert_eq!(placement_ids(&b[..48]).collect::<Vec<_>>(), [4]);
    assert_eq!(placement_ids(&b[..79]).collect::<Vec<_>>(), [4]);
    // NRUHSD larger than what fits.
    let b = ruhs(u16::MAX, &[(4, 0, 0, 0), (5, 1, 0, 0)]);
    assert_eq!(nr_ruhsd(&b), u16::MAX);
    assert_eq!(placement_ids(&b).collect::<Vec<_>>(), [4, 5]);
    let mut b = b;
    b.extend_from_slice(&[0x77; 31]);
    assert_eq!(placement_ids(&b).collect::<Vec<_>>(), [4, 5]);
}

#[test]
fn write_streams_cap() {
    assert_eq!(write_streams(0), 0);
    assert_eq!(write_streams(1), 1);
    assert_eq!(write_streams(254), 254);
    assert_eq!(write_streams(255), 255);
    assert_eq!(write_streams(256), 255);
    assert_eq!(write_streams(65535), 255);
    assert_eq!(write_streams(65536), 255);
    assert_eq!(write_streams(usize::MAX), 255);
    assert_eq!(MAX_WRITE_STREAMS, 255);
}

#[test]
fn pid_for_stream_edges() {
    let pids = [10, 11, 0x2003];
    assert_eq!(pid_for_stream(&pids, 0), None);
    assert_eq!(pid_for_stream(&pids, 1), Some(10));
    assert_eq!(pid_for_stream(&pids, 3), Some(0x2003));
    assert_eq!(pid_for_stream(&pids, 4), None);
    assert_eq!(pid_for_stream(&pids, 255), None);
    assert_eq!(pid_for_stream(&[], 0), None);
    assert_eq!(pid_for_stream(&[], 1), None);
    let many: Vec<u16> = (0..300).collect();
    assert_eq!(pid_for_stream(&many, 255), Some(254));
    // Every stream the cap allows has an identifier.
    let n = write_streams(many.len());
    assert_eq!(pid_for_stream(&many, u8::try_from(n).unwrap()), Some(254));
}
