// SPDX-License-Identifier: GPL-2.0

//! The Zoned Namespace command set (NVMe Zoned Namespace Command Set Specification 1.1):
//! Identify data (CNS 05h and 06h with CSI 02h), Zone Management Send and Receive, the Report
//! Zones data (the plain action only: 64-byte descriptors, no extensions) and Zone Append, with
//! zones translated into what Linux's `struct blk_zone` holds (512-byte sectors).

use super::cmd::Command;
use super::ident::{IDENTIFY_SIZE, NR_LBAF};

/// Zoned Namespace command set I/O opcodes.
pub(crate) mod io {
    /// Zone Management Send.
    pub(crate) const ZONE_MGMT_SEND: u8 = 0x79;
    /// Zone Management Receive.
    pub(crate) const ZONE_MGMT_RECV: u8 = 0x7a;
    /// Zone Append.
    pub(crate) const ZONE_APPEND: u8 = 0x7d;
}

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

/// `lba` logical blocks of `1 << lba_shift` bytes in 512-byte sectors (saturating at
/// `u64::MAX`; blocks smaller than a sector round down).
pub(crate) const fn lba_to_sectors(lba: u64, lba_shift: u8) -> u64 {
    if lba == 0 {
        0
    } else if lba_shift >= 9 {
        // CAST: widening.
        let up = (lba_shift - 9) as u32;
        if up >= 64 || lba > u64::MAX >> up {
            u64::MAX
        } else {
            lba << up
        }
    } else {
        lba >> (9 - lba_shift)
    }
}

/// Identify Controller data specific to the Zoned Namespace command set (CNS 06h, CSI 02h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdCtrlZns {
    /// Zone Append Size Limit (byte 0): 2^n minimum memory pages (CAP.MPSMIN); 0: MDTS.
    pub(crate) zasl: u8,
}

impl IdCtrlZns {
    /// Decodes the structure.
    pub(crate) const fn parse(b: &[u8; IDENTIFY_SIZE]) -> Self {
        Self { zasl: b[0] }
    }

    /// Largest Zone Append in bytes for minimum memory pages of `1 << page_shift` bytes
    /// (12 + CAP.MPSMIN). `None` when ZASL is 0, the limit being the same as for any transfer
    /// (MDTS): the caller uses its maximum transfer size. Also `None` for a limit of 2^63
    /// bytes or more, which only the maximum transfer size can bound anyway.
    pub(crate) const fn append_limit_bytes(&self, page_shift: u32) -> Option<u64> {
        // CAST: widening.
        let shift = (self.zasl as u32).saturating_add(page_shift);
        if self.zasl == 0 || shift >= 63 {
            None
        } else {
            Some(1u64 << shift)
        }
    }

    /// Largest Zone Append in 512-byte sectors: the ZASL limit, at most `max_transfer_sectors`
    /// (the controller's maximum data transfer, which also applies when ZASL is 0).
    pub(crate) fn append_max_sectors(&self, page_shift: u32, max_transfer_sectors: u32) -> u32 {
        self.append_limit_bytes(page_shift)
            .and_then(|b| u32::try_from(b >> 9).ok())
            .map_or(max_transfer_sectors, |s| s.min(max_transfer_sectors))
    }
}

/// ZOC bit 0: Variable Zone Capacity (a zone's capacity may change when it is reset).
pub(crate) const ZOC_VZCAP: u16 = 1 << 0;
/// ZOC bit 1: Zone Active Excursions (the controller may finish active zones by itself).
pub(crate) const ZOC_ZAE: u16 = 1 << 1;
/// OZCS bit 0: Read Across Zone Boundaries.
pub(crate) const OZCS_RAZB: u16 = 1 << 0;
/// MAR and MOR: no limit on active or open resources.
pub(crate) const RESOURCES_NO_LIMIT: u32 = 0xffff_ffff;
/// Offset of the LBA Format Extension data structures in the ZNS Identify Namespace.
pub(crate) const LBAFE_OFFSET: usize = 2816;
/// Size of one LBA Format Extension data structure.
pub(crate) const LBAFE_SIZE: usize = 16;

/// An LBA Format Extension: the zone geometry of one LBA format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LbaFormatExt {
    /// Zone Size in logical blocks (bytes 7:0).
    pub(crate) zsze: u64,
    /// Zone Descriptor Extension Size in 64-byte units (byte 8).
    pub(crate) zdes: u8,
}

/// Identify Namespace data specific to the Zoned Namespace command set (CNS 05h, CSI 02h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdNsZns {
    /// Zone Operation Characteristics (bytes 1:0).
    pub(crate) zoc: u16,
    /// Optional Zoned Command Support (bytes 3:2).
    pub(crate) ozcs: u16,
    /// Maximum Active Resources, 0's based (bytes 7:4; [`RESOURCES_NO_LIMIT`]: none).
    pub(crate) mar: u32,
    /// Maximum Open Resources, 0's based (bytes 11:8; [`RESOURCES_NO_LIMIT`]: none).
    pub(crate) mor: u32,
    /// LBA Format Extensions, one per LBA format (bytes 2816 + 16 * i).
    pub(crate) lbafe: [LbaFormatExt; NR_LBAF],
}

/// Why the driver cannot serve a zoned namespace as a zoned disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZnsUnsupported {
    /// Zone operation characteristics (ZOC) the block layer does not model.
    ZoneOperations(u16),
    /// The zone size in logical blocks is 0, not a power of two, or more than `u32::MAX`
    /// sectors (the block layer's `chunk_sectors`).
    ZoneSize(u64),
}

impl IdNsZns {
    /// Decodes the structure.
    pub(crate) fn parse(b: &[u8; IDENTIFY_SIZE]) -> Self {
        Self {
            zoc: le16(b, 0),
            ozcs: le16(b, 2),
            mar: le32(b, 4),
            mor: le32(b, 8),
            lbafe: core::array::from_fn(|i| {
                let off = LBAFE_OFFSET + LBAFE_SIZE * i;
                LbaFormatExt {
                    zsze: le64(b, off),
                    zdes: b[off + 8],
                }
            }),
        }
    }

    /// Zone size in logical blocks of LBA format `lbaf_index` (0 for an index past the 64
    /// formats).
    pub(crate) fn zone_size_blocks(&self, lbaf_index: u8) -> u64 {
        self.lbafe
            .get(usize::from(lbaf_index))
            .map_or(0, |e| e.zsze)
    }

    /// Zone size in 512-byte sectors of LBA format `lbaf_index` with `1 << lba_shift`-byte
    /// blocks, when the block layer can serve the namespace: no zone operation
    /// characteristics, and a power-of-two zone size that fits its `chunk_sectors`.
    pub(crate) fn zone_size_sectors(
        &self,
        lbaf_index: u8,
        lba_shift: u8,
    ) -> Result<u32, ZnsUnsupported> {
        if self.zoc != 0 {
            return Err(ZnsUnsupported::ZoneOperations(self.zoc));
        }
        let blocks = self.zone_size_blocks(lbaf_index);
        match u32::try_from(lba_to_sectors(blocks, lba_shift)) {
            Ok(s) if s != 0 && blocks.is_power_of_two() => Ok(s),
            _ => Err(ZnsUnsupported::ZoneSize(blocks)),
        }
    }

    /// Largest number of open zones for the block layer: 0 for no limit, else MOR + 1.
    pub(crate) const fn max_open(&self) -> u32 {
        match self.mor {
            RESOURCES_NO_LIMIT => 0,
            n => n.saturating_add(1),
        }
    }

    /// Largest number of active zones for the block layer: 0 for no limit, else MAR + 1.
    pub(crate) const fn max_active(&self) -> u32 {
        match self.mar {
            RESOURCES_NO_LIMIT => 0,
            n => n.saturating_add(1),
        }
    }

    /// [`Self::max_open`] and [`Self::max_active`], open zones limited to the active ones
    /// (open zones are active; the block layer rejects more open than active zones).
    pub(crate) const fn zone_resources(&self) -> (u32, u32) {
        let (open, active) = (self.max_open(), self.max_active());
        if active != 0 && (open == 0 || open > active) {
            (active, active)
        } else {
            (open, active)
        }
    }
}

/// Zone Send Action of a Zone Management Send (CDW13 bits 7:0).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZoneAction {
    /// Close Zone.
    Close = 0x01,
    /// Finish Zone.
    Finish = 0x02,
    /// Open Zone.
    Open = 0x03,
    /// Reset Zone.
    Reset = 0x04,
    /// Offline Zone.
    Offline = 0x05,
    /// Set Zone Descriptor Extension (the data is the extension).
    SetZoneDescExt = 0x10,
}

/// Zone Management Send CDW13 bit 8: Select All (the action applies to every zone it can).
pub(crate) const ZMS_SELECT_ALL: u32 = 1 << 8;
/// Zone Receive Action: Report Zones.
pub(crate) const ZRA_REPORT_ZONES: u32 = 0x00;
/// Reporting Option of Report Zones (CDW13 bits 15:8): all zones.
pub(crate) const ZRASF_ALL: u32 = 0x00;
/// Zone Management Receive CDW13 bit 16: Partial Report (NRZ counts the zones returned).
pub(crate) const ZMR_PARTIAL: u32 = 1 << 16;

impl Command {
    /// Identify with a Command Set Identifier (CDW11 bits 31:24): `cns` selects the data
    /// structure. The caller sets PRP1 to a 4 KiB buffer.
    pub(crate) const fn identify_csi(cns: u8, nsid: u32, csi: u8) -> Self {
        let mut c = Self::identify(cns, nsid, 0);
        // CAST: widening.
        c.cdw11 = ((csi as u32) << 24).to_le();
        c
    }

    /// Zone Management Send: `action` on the zone starting at `slba` (CDW11:10), or on all
    /// zones it applies to with `select_all` (then `slba` is ignored by the controller).
    pub(crate) const fn zone_mgmt_send(
        nsid: u32,
        slba: u64,
        action: ZoneAction,
        select_all: bool,
    ) -> Self {
        let mut c = Self::with_opcode(io::ZONE_MGMT_SEND, nsid);
        // CAST: low half of the 64-bit starting LBA.
        c.cdw10 = (slba as u32).to_le();
        // CAST: the shift leaves exactly the high 32 bits.
        c.cdw11 = ((slba >> 32) as u32).to_le();
        // CAST: the action's code, widened.
        let mut dw13 = action as u8 as u32;
        if select_all {
            dw13 |= ZMS_SELECT_ALL;
        }
        c.cdw13 = dw13.to_le();
        c
    }

    /// Zone Management Receive, Report Zones of all zones from the one holding `slba`, into a
    /// buffer of `numd + 1` dwords (NUMD is 0's based, CDW12; see [`report_numd`]); with
    /// `partial` the report's zone count is that of the descriptors returned.
    pub(crate) const fn zone_mgmt_recv(nsid: u32, slba: u64, numd: u32, partial: bool) -> Self {
        let mut c = Self::with_opcode(io::ZONE_MGMT_RECV, nsid);
        // CAST: low half of the 64-bit starting LBA.
        c.cdw10 = (slba as u32).to_le();
        // CAST: the shift leaves exactly the high 32 bits.
        c.cdw11 = ((slba >> 32) as u32).to_le();
        c.cdw12 = numd.to_le();
        let mut dw13 = ZRA_REPORT_ZONES | (ZRASF_ALL << 8);
        if partial {
            dw13 |= ZMR_PARTIAL;
        }
        c.cdw13 = dw13.to_le();
        c
    }

    /// Zone Append of `nlb` blocks (1-based) to the zone starting at `zslba`, with FUA if
    /// `fua`. The completion says where the data went ([`zone_append_lba_to_sector`]).
    pub(crate) const fn zone_append(nsid: u32, zslba: u64, nlb: u32, fua: bool) -> Self {
        Self::rw(io::ZONE_APPEND, nsid, zslba, nlb, fua)
    }
}

/// The 0's based NUMD of a Zone Management Receive into a buffer of `bytes` bytes (whole
/// dwords; saturating).
pub(crate) fn report_numd(bytes: usize) -> u32 {
    u32::try_from((bytes / 4).saturating_sub(1)).unwrap_or(u32::MAX)
}

/// Size of the Report Zones header (its first 8 bytes are the Number of Zones).
pub(crate) const REPORT_HEADER_SIZE: usize = 64;
/// Size of a zone descriptor.
pub(crate) const ZONE_DESC_SIZE: usize = 64;
/// Zone Type: Sequential Write Required (the only one the ZNS command set defines).
pub(crate) const ZT_SEQ_WRITE_REQ: u8 = 0x2;
/// Zone Attributes bit 1: Finish Zone Recommended.
pub(crate) const ZA_FZR: u8 = 1 << 1;
/// Zone Attributes bit 2: Reset Zone Recommended.
pub(crate) const ZA_RZR: u8 = 1 << 2;

/// Linux zone type (`enum blk_zone_type`): conventional, no write pointer.
pub(crate) const BLK_ZONE_TYPE_CONVENTIONAL: u8 = 0x1;
/// Linux zone type: sequential write required.
pub(crate) const BLK_ZONE_TYPE_SEQWRITE_REQ: u8 = 0x2;
/// Linux zone type: sequential write preferred.
pub(crate) const BLK_ZONE_TYPE_SEQWRITE_PREF: u8 = 0x3;
/// Linux zone condition (`enum blk_zone_cond`): no write pointer (conventional). The other
/// conditions have the numbers of the ZNS zone states (ZSE, ZSIO, ZSEO, ZSC, ZSRO, ZSF, ZSO).
pub(crate) const BLK_ZONE_COND_NOT_WP: u8 = 0x0;
/// Linux zone condition: empty.
pub(crate) const BLK_ZONE_COND_EMPTY: u8 = 0x1;
/// Linux zone condition: implicitly open.
pub(crate) const BLK_ZONE_COND_IMP_OPEN: u8 = 0x2;
/// Linux zone condition: explicitly open.
pub(crate) const BLK_ZONE_COND_EXP_OPEN: u8 = 0x3;
/// Linux zone condition: closed.
pub(crate) const BLK_ZONE_COND_CLOSED: u8 = 0x4;
/// Linux zone condition: read only.
pub(crate) const BLK_ZONE_COND_READONLY: u8 = 0xd;
/// Linux zone condition: full.
pub(crate) const BLK_ZONE_COND_FULL: u8 = 0xe;
/// Linux zone condition: offline.
pub(crate) const BLK_ZONE_COND_OFFLINE: u8 = 0xf;

/// A zone descriptor of a Report Zones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ZoneDesc {
    /// Zone Type (byte 0 bits 3:0).
    pub(crate) zt: u8,
    /// Zone State (byte 1 bits 7:4), numbered as the `BLK_ZONE_COND_*` it maps to.
    pub(crate) zs: u8,
    /// Zone Attributes (byte 2).
    pub(crate) za: u8,
    /// Zone Capacity in logical blocks (bytes 15:8).
    pub(crate) zcap: u64,
    /// Zone Start LBA (bytes 23:16).
    pub(crate) zslba: u64,
    /// Write Pointer LBA (bytes 31:24); valid only in the empty, opened and closed states.
    pub(crate) wp: u64,
}

/// A zone as Linux's `struct blk_zone` holds it, in 512-byte sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlkZone {
    /// First sector.
    pub(crate) start: u64,
    /// Sectors of the zone (the namespace's zone size).
    pub(crate) len: u64,
    /// Write pointer.
    pub(crate) wp: u64,
    /// Writable sectors from the start (at most `len`).
    pub(crate) capacity: u64,
    /// Zone type (`BLK_ZONE_TYPE_*`).
    pub(crate) zone_type: u8,
    /// Zone condition (`BLK_ZONE_COND_*`).
    pub(crate) cond: u8,
    /// The controller recommends a reset (`reset` of `struct blk_zone`).
    pub(crate) reset: bool,
}

/// Why a zone descriptor has no `struct blk_zone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZoneError {
    /// A zone type other than sequential write required.
    Type(u8),
    /// A reserved zone state code.
    State(u8),
}

impl ZoneDesc {
    /// Decodes a 64-byte zone descriptor.
    pub(crate) fn parse(d: &[u8; ZONE_DESC_SIZE]) -> Self {
        Self {
            zt: d[0] & 0xf,
            zs: d[1] >> 4,
            za: d[2],
            zcap: le64(d, 8),
            zslba: le64(d, 16),
            wp: le64(d, 24),
        }
    }

    /// Linux's zone condition of the zone state, `None` for a reserved state.
    pub(crate) const fn blk_cond(&self) -> Option<u8> {
        match self.zs {
            BLK_ZONE_COND_EMPTY..=BLK_ZONE_COND_CLOSED
            | BLK_ZONE_COND_READONLY..=BLK_ZONE_COND_OFFLINE => Some(self.zs),
            _ => None,
        }
    }

    /// The zone as Linux's `struct blk_zone`, for zones of `zone_sectors` sectors and blocks
    /// of `1 << lba_shift` bytes. The write pointer of a full zone is its end (start + len),
    /// as the block layer expects; so is that of a read only or offline zone, whose device
    /// write pointer is not valid and which the block layer treats as having none. The
    /// other states convert the device's write pointer.
    pub(crate) const fn to_blk_zone(
        self,
        zone_sectors: u64,
        lba_shift: u8,
    ) -> Result<BlkZone, ZoneError> {
        if self.zt != ZT_SEQ_WRITE_REQ {
            return Err(ZoneError::Type(self.zt));
        }
        let cond = match self.blk_cond() {
            Some(c) => c,
            None => return Err(ZoneError::State(self.zs)),
        };
        let start = lba_to_sectors(self.zslba, lba_shift);
        let wp = match cond {
            BLK_ZONE_COND_FULL | BLK_ZONE_COND_READONLY | BLK_ZONE_COND_OFFLINE => {
                start.saturating_add(zone_sectors)
            }
            _ => lba_to_sectors(self.wp, lba_shift),
        };
        Ok(BlkZone {
            start,
            len: zone_sectors,
            wp,
            capacity: lba_to_sectors(self.zcap, lba_shift),
            zone_type: BLK_ZONE_TYPE_SEQWRITE_REQ,
            cond,
            reset: self.za & ZA_RZR != 0,
        })
    }
}

/// The Number of Zones of a Report Zones (header bytes 7:0; 0 when the buffer is shorter).
pub(crate) fn nr_zones(buf: &[u8]) -> u64 {
    buf.get(..8).map_or(0, |h| le64(h, 0))
}

/// The zone descriptors of a Report Zones in `buf`: as many as the header's Number of Zones
/// says and the buffer holds whole, never reading past its end.
pub(crate) fn zones(buf: &[u8]) -> impl Iterator<Item = ZoneDesc> + '_ {
    let n = usize::try_from(nr_zones(buf)).unwrap_or(usize::MAX);
    buf.get(REPORT_HEADER_SIZE..)
        .unwrap_or(&[])
        .chunks_exact(ZONE_DESC_SIZE)
        .take(n)
        .filter_map(|d| {
            <&[u8; ZONE_DESC_SIZE]>::try_from(d)
                .ok()
                .map(ZoneDesc::parse)
        })
}

/// The sector a Zone Append's data was written at, from completion dwords 0 (low) and 1
/// (high) in CPU order (`u64::from_le` of the completion's result): the LBA of its first
/// block, for blocks of `1 << lba_shift` bytes.
pub(crate) const fn zone_append_lba_to_sector(result: u64, lba_shift: u8) -> u64 {
    lba_to_sectors(result, lba_shift)
}
