// SPDX-License-Identifier: GPL-2.0

//! Flexible Data Placement (NVMe Base Specification 2.1, "Flexible Data Placement"): the FDP
//! feature, the endurance group scoped FDP log pages, the Reclaim Unit Handle Status of an I/O
//! Management Receive, and the Data Placement directive of a write, with the mapping of the
//! block layer's write streams onto placement identifiers.

use super::cmd::{admin, Command};
use super::ident::IDENTIFY_SIZE;

/// CTRATT bit 19: Flexible Data Placement Supported.
pub(crate) const CTRATT_FDPS: u32 = 1 << 19;
/// Feature Identifier of Flexible Data Placement (endurance group scoped).
pub(crate) const FEAT_FDP: u8 = 0x1d;
/// Log Identifier: FDP Configurations.
pub(crate) const LOG_FDP_CONFIGS: u8 = 0x20;
/// Log Identifier: Reclaim Unit Handle Usage.
pub(crate) const LOG_RUH_USAGE: u8 = 0x21;
/// Log Identifier: FDP Statistics.
pub(crate) const LOG_FDP_STATS: u8 = 0x22;
/// Log Identifier: FDP Events.
pub(crate) const LOG_FDP_EVENTS: u8 = 0x23;
/// I/O opcode: I/O Management Receive.
pub(crate) const IO_MGMT_RECV: u8 = 0x12;
/// Management Operation of an I/O Management Receive: Reclaim Unit Handle Status.
pub(crate) const MO_RUH_STATUS: u8 = 0x01;
/// Directive Type: Data Placement.
pub(crate) const DTYPE_DATA_PLACEMENT: u8 = 2;
/// Most write streams the block layer takes (its stream number is a `u8`, 0 meaning none).
pub(crate) const MAX_WRITE_STREAMS: u16 = 255;

/// Reads a little-endian `u16` at `off`; the caller keeps `off + 2 <= b.len()`.
fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Reads a little-endian `u32` at `off`; the caller keeps `off + 4 <= b.len()`.
fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Reads a little-endian `u64` at `off`; the caller keeps `off + 8 <= b.len()`.
fn le64(b: &[u8], off: usize) -> u64 {
    u64::from(le32(b, off)) | (u64::from(le32(b, off + 4)) << 32)
}

/// The Endurance Group Identifier of an Identify Namespace (ENDGID, bytes 103:102; 0 when
/// the namespace reports none).
pub(crate) fn endgid(id_ns: &[u8; IDENTIFY_SIZE]) -> u16 {
    le16(id_ns, 102)
}

/// The FDP feature of an endurance group: completion dword 0 of a Get Features FDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FdpFeature {
    /// FDP Enable (bit 0): the endurance group uses Flexible Data Placement.
    pub(crate) enabled: bool,
    /// FDP Configuration Index (bits 15:8): the configuration in force, an index into the
    /// FDP Configurations log.
    pub(crate) config_index: u8,
}

impl FdpFeature {
    /// Decodes completion dword 0 (in CPU order) of a Get Features FDP.
    pub(crate) const fn from_dw0(dw0: u32) -> Self {
        Self {
            enabled: dw0 & 1 != 0,
            // CAST: the shift and mask leave exactly bits 15:8.
            config_index: ((dw0 >> 8) & 0xff) as u8,
        }
    }
}

impl Command {
    /// Get Features FDP (current value) of endurance group `endgid` (CDW11 bits 15:0).
    pub(crate) const fn get_features_fdp(endgid: u16) -> Self {
        // CAST: widening.
        Self::get_features(FEAT_FDP, endgid as u32)
    }

    /// Get Log Page `lid` with Log Specific Identifier `lsi` (CDW11 bits 31:16; the endurance
    /// group for the FDP logs) into a buffer of `numd_0based + 1` dwords (NUMDL in CDW10 bits
    /// 31:16, NUMDU in CDW11 bits 15:0), from byte `offset` of the log (LPOL/LPOU, CDW12/13;
    /// a multiple of 4). The NSID is 0: the FDP logs are endurance group scoped, the group
    /// is named by the LSI, so the command uses no namespace (as Linux sends them). LSP,
    /// RAE, UUID index and CSI are 0. The caller sets the data pointer.
    pub(crate) const fn get_log_lsi(lid: u8, lsi: u16, numd_0based: u32, offset: u64) -> Self {
        let mut c = Self::with_opcode(admin::GET_LOG_PAGE, 0);
        // CAST: widening.
        c.cdw10 = ((lid as u32) | ((numd_0based & 0xffff) << 16)).to_le();
        // CAST: widening.
        c.cdw11 = ((numd_0based >> 16) | ((lsi as u32) << 16)).to_le();
        // CAST: low half of the 64-bit offset.
        c.cdw12 = (offset as u32).to_le();
        // CAST: the shift leaves exactly the high 32 bits.
        c.cdw13 = ((offset >> 32) as u32).to_le();
        c
    }

    /// I/O Management Receive, Reclaim Unit Handle Status (MO in CDW10 bits 7:0, MOS 0) of
    /// namespace `nsid` into a buffer of `numd_0based + 1` dwords (NUMD, CDW11). The caller
    /// sets the data pointer.
    pub(crate) const fn io_mgmt_recv_ruhs(nsid: u32, numd_0based: u32) -> Self {
        let mut c = Self::with_opcode(IO_MGMT_RECV, nsid);
        // CAST: widening.
        c.cdw10 = (MO_RUH_STATUS as u32).to_le();
        c.cdw11 = numd_0based.to_le();
        c
    }

    /// Directs a write to placement identifier `pid`: DTYPE Data Placement in CDW12 bits
    /// 23:20 and DSPEC `pid` in CDW13 bits 31:16. Only those two fields change (a placement
    /// set before is replaced); NLB, FUA, PRINFO and the rest of CDW12 and CDW13 stay.
    pub(crate) fn set_placement(&mut self, pid: u16) {
        let dw12 =
            (u32::from_le(self.cdw12) & !(0xf << 20)) | (u32::from(DTYPE_DATA_PLACEMENT) << 20);
        let dw13 = (u32::from_le(self.cdw13) & 0xffff) | (u32::from(pid) << 16);
        self.cdw12 = dw12.to_le();
        self.cdw13 = dw13.to_le();
    }
}

/// Size of the FDP Configurations log header.
pub(crate) const CONFIGS_HEADER_SIZE: usize = 16;
/// Size of the fixed part of an FDP configuration descriptor, before its reclaim unit handle
/// descriptors.
pub(crate) const CONFIG_DESC_FIXED_SIZE: usize = 64;
/// Size of a reclaim unit handle descriptor of an FDP configuration.
pub(crate) const RUH_DESC_SIZE: usize = 4;
/// FDPA bit 7: FDP Configuration Valid.
pub(crate) const FDPA_VALID: u8 = 1 << 7;

/// One FDP configuration descriptor of the FDP Configurations log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FdpConfig {
    /// The configuration is valid (FDPA bit 7).
    pub(crate) valid: bool,
    /// Number of Reclaim Groups (bytes 7:4).
    pub(crate) nrg: u32,
    /// Number of Reclaim Unit Handles (bytes 9:8).
    pub(crate) nruh: u16,
    /// Max Placement Identifiers, 0's based (bytes 11:10): most a namespace may have.
    pub(crate) maxpids: u16,
    /// Number of Namespaces Supported (bytes 15:12).
    pub(crate) nnss: u32,
    /// Reclaim Unit Nominal Size in bytes (bytes 23:16).
    pub(crate) runs: u64,
    /// Estimated Reclaim Unit Time Limit in seconds (bytes 27:24; 0: none reported).
    pub(crate) erutl: u32,
}

/// Why the FDP Configurations log does not yield the configuration asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdpError {
    /// The buffer, or the log size SZE, ends before the header or a descriptor does.
    Truncated,
    /// The index is past the last configuration (NUMFDPC, 0's based).
    Index {
        /// The configuration asked for.
        index: u8,
        /// NUMFDPC of the log.
        numfdpc: u16,
    },
    /// A descriptor size (DSZE) smaller than the fixed part of a descriptor, 0 included.
    DescriptorSize(u16),
    /// The NRUH reclaim unit handle descriptors do not fit in the descriptor's DSZE.
    Handles(u16),
}

/// The log size SZE of an FDP Configurations log (header bytes 7:4; 0 when `buf` is shorter),
/// to read the whole log after its header.
pub(crate) fn configs_log_size(buf: &[u8]) -> u32 {
    buf.get(..8).map_or(0, |h| le32(h, 4))
}

/// FDP configuration `index` (the FDP Configuration Index of the feature) of the FDP
/// Configurations log in `buf`. The descriptors are walked by their DSZE, never past the
/// end of `buf` nor past the log size SZE.
pub(crate) fn fdp_config(buf: &[u8], index: u8) -> Result<FdpConfig, FdpError> {
    let Some(h) = buf.get(..CONFIGS_HEADER_SIZE) else {
        return Err(FdpError::Truncated);
    };
    let numfdpc = le16(h, 0);
    if u16::from(index) > numfdpc {
        return Err(FdpError::Index { index, numfdpc });
    }
    let sze = usize::try_from(le32(h, 4)).unwrap_or(usize::MAX);
    let log = &buf[..buf.len().min(sze)];
    let mut off = CONFIGS_HEADER_SIZE;
    for _ in 0..index {
        off += config_desc(log, off)?.len();
    }
    let d = config_desc(log, off)?;
    let nruh = le16(d, 8);
    if CONFIG_DESC_FIXED_SIZE + RUH_DESC_SIZE * usize::from(nruh) > d.len() {
        return Err(FdpError::Handles(nruh));
    }
    Ok(FdpConfig {
        valid: d[2] & FDPA_VALID != 0,
        nrg: le32(d, 4),
        nruh,
        maxpids: le16(d, 10),
        nnss: le32(d, 12),
        runs: le64(d, 16),
        erutl: le32(d, 24),
    })
}

/// The whole configuration descriptor at byte `off` of `log` (DSZE bytes, at least the fixed
/// part), when `log` holds it.
fn config_desc(log: &[u8], off: usize) -> Result<&[u8], FdpError> {
    let dsze = log
        .get(off..off + 2)
        .map(|d| le16(d, 0))
        .ok_or(FdpError::Truncated)?;
    if usize::from(dsze) < CONFIG_DESC_FIXED_SIZE {
        return Err(FdpError::DescriptorSize(dsze));
    }
    log.get(off..off + usize::from(dsze))
        .ok_or(FdpError::Truncated)
}

/// Size of the Reclaim Unit Handle Status header.
pub(crate) const RUHS_HEADER_SIZE: usize = 16;
/// Size of a Reclaim Unit Handle Status descriptor.
pub(crate) const RUHS_DESC_SIZE: usize = 32;

/// Bytes of a Reclaim Unit Handle Status with `nr` descriptors: the buffer to receive them.
pub(crate) const fn ruhs_size(nr: u16) -> usize {
    // CAST: widening.
    RUHS_HEADER_SIZE + RUHS_DESC_SIZE * nr as usize
}

/// A Reclaim Unit Handle Status descriptor: one placement identifier of the namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RuhStatus {
    /// Placement Identifier (bytes 1:0), the DSPEC of a write placed through it.
    pub(crate) pid: u16,
    /// Reclaim Unit Handle Identifier (bytes 3:2).
    pub(crate) ruhid: u16,
    /// Estimated Active Reclaim Unit Time Remaining in seconds (bytes 7:4).
    pub(crate) earutr: u32,
    /// Reclaim Unit Available Media Writes in logical blocks (bytes 15:8).
    pub(crate) ruamw: u64,
}

/// The Number of Reclaim Unit Handle Status Descriptors of a Reclaim Unit Handle Status
/// (NRUHSD, header bytes 15:14; 0 when `buf` is shorter).
pub(crate) fn nr_ruhsd(buf: &[u8]) -> u16 {
    buf.get(..RUHS_HEADER_SIZE).map_or(0, |h| le16(h, 14))
}

/// The descriptors of a Reclaim Unit Handle Status in `buf`: as many as NRUHSD says and the
/// buffer holds whole, never reading past its end.
pub(crate) fn ruh_status(buf: &[u8]) -> impl Iterator<Item = RuhStatus> + '_ {
    buf.get(RUHS_HEADER_SIZE..)
        .unwrap_or(&[])
        .chunks_exact(RUHS_DESC_SIZE)
        .take(usize::from(nr_ruhsd(buf)))
        .map(|d| RuhStatus {
            pid: le16(d, 0),
            ruhid: le16(d, 2),
            earutr: le32(d, 4),
            ruamw: le64(d, 8),
        })
}

/// The placement identifiers of a Reclaim Unit Handle Status in `buf`, in descriptor order
/// (see [`ruh_status`]).
pub(crate) fn placement_ids(buf: &[u8]) -> impl Iterator<Item = u16> + '_ {
    ruh_status(buf).map(|r| r.pid)
}

/// Number of write streams the block layer can offer for `nr_pids` placement identifiers:
/// one per identifier, at most [`MAX_WRITE_STREAMS`].
pub(crate) fn write_streams(nr_pids: usize) -> u16 {
    u16::try_from(nr_pids).map_or(MAX_WRITE_STREAMS, |n| n.min(MAX_WRITE_STREAMS))
}

/// The placement identifier of the block layer's write stream `stream` (1-based: stream `n`
/// is `pids[n - 1]`); `None` for stream 0 (no stream) or one past the list.
pub(crate) fn pid_for_stream(pids: &[u16], stream: u8) -> Option<u16> {
    let i = usize::from(stream).checked_sub(1)?;
    pids.get(i).copied()
}
