// SPDX-License-Identifier: GPL-2.0

//! Parsing of the 4 KiB Identify data structures.
//!
//! [`IdCtrl`] is decoded from the Identify Controller data structure (CNS
//! 01h), [`IdNs`] from the NVM command set Identify Namespace data structure
//! (CNS 00h), and [`active_ns_list`] walks the Active Namespace ID list (CNS
//! 02h). Fields are read little-endian at the byte offsets of the NVMe Base
//! Specification and the NVM Command Set Specification, so the code does not
//! depend on the host's endianness or on struct layout.

/// Size of every Identify data structure.
pub(crate) const IDENTIFY_SIZE: usize = 4096;

/// Reads a little-endian `u16` at `off`.
fn le16(b: &[u8; IDENTIFY_SIZE], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// Reads a little-endian `u32` at `off`.
fn le32(b: &[u8; IDENTIFY_SIZE], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Reads a little-endian `u64` at `off`.
fn le64(b: &[u8; IDENTIFY_SIZE], off: usize) -> u64 {
    u64::from(le32(b, off)) | (u64::from(le32(b, off + 4)) << 32)
}

/// Copies `N` bytes starting at `off`.
fn bytes<const N: usize>(b: &[u8; IDENTIFY_SIZE], off: usize) -> [u8; N] {
    core::array::from_fn(|i| b[off + i])
}

/// `s` without trailing ASCII spaces and NUL bytes (string fields are
/// space padded by the spec; some devices pad with NULs).
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && (s[end - 1] == b' ' || s[end - 1] == 0) {
        end -= 1;
    }
    &s[..end]
}

/// Whether every byte of `s` is zero.
fn all_zero(s: &[u8]) -> bool {
    s.iter().all(|&b| b == 0)
}

/// Decoded Identify Controller data structure (CNS 01h).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdCtrl {
    /// PCI Vendor ID (bytes 1:0).
    pub(crate) vid: u16,
    /// PCI Subsystem Vendor ID (bytes 3:2).
    pub(crate) ssvid: u16,
    /// Serial Number, ASCII, space padded (bytes 23:4).
    pub(crate) sn: [u8; 20],
    /// Model Number, ASCII, space padded (bytes 63:24).
    pub(crate) mn: [u8; 40],
    /// Firmware Revision, ASCII, space padded (bytes 71:64).
    pub(crate) fr: [u8; 8],
    /// Recommended Arbitration Burst (byte 72).
    pub(crate) rab: u8,
    /// IEEE OUI Identifier (bytes 75:73).
    pub(crate) ieee: [u8; 3],
    /// Controller Multi-Path I/O and Namespace Sharing Capabilities (byte 76).
    pub(crate) cmic: u8,
    /// Maximum Data Transfer Size (byte 77): log2 in units of CAP.MPSMIN
    /// pages, 0 = no limit.
    pub(crate) mdts: u8,
    /// Controller ID (bytes 79:78).
    pub(crate) cntlid: u16,
    /// Version, same encoding as the VS register (bytes 83:80).
    pub(crate) ver: u32,
    /// RTD3 Resume Latency in microseconds (bytes 87:84).
    pub(crate) rtd3r: u32,
    /// RTD3 Entry Latency in microseconds (bytes 91:88).
    pub(crate) rtd3e: u32,
    /// Optional Asynchronous Events Supported (bytes 95:92).
    pub(crate) oaes: u32,
    /// Controller Attributes (bytes 99:96).
    pub(crate) ctratt: u32,
    /// Command Retry Delay Times 1..3 in 100 ms units (bytes 133:128).
    pub(crate) crdt: [u16; 3],
    /// Optional Admin Command Support (bytes 257:256).
    pub(crate) oacs: u16,
    /// Abort Command Limit, 0-based (byte 258).
    pub(crate) acl: u8,
    /// Asynchronous Event Request Limit, 0-based (byte 259).
    pub(crate) aerl: u8,
    /// Firmware Updates (byte 260).
    pub(crate) frmw: u8,
    /// Log Page Attributes (byte 261).
    pub(crate) lpa: u8,
    /// Error Log Page Entries, 0-based (byte 262).
    pub(crate) elpe: u8,
    /// Number of Power States Support, 0-based (byte 263).
    pub(crate) npss: u8,
    /// Warning Composite Temperature Threshold in kelvin (bytes 267:266).
    pub(crate) wctemp: u16,
    /// Critical Composite Temperature Threshold in kelvin (bytes 269:268).
    pub(crate) cctemp: u16,
    /// Submission Queue Entry Size: max (7:4) and required (3:0) log2 (byte 512).
    pub(crate) sqes: u8,
    /// Completion Queue Entry Size: max (7:4) and required (3:0) log2 (byte 513).
    pub(crate) cqes: u8,
    /// Maximum Outstanding Commands (bytes 515:514, fabrics only).
    pub(crate) maxcmd: u16,
    /// Number of Namespaces: largest valid NSID (bytes 519:516).
    pub(crate) nn: u32,
    /// Optional NVM Command Support (bytes 521:520).
    pub(crate) oncs: u16,
    /// Fused Operation Support (bytes 523:522).
    pub(crate) fuses: u16,
    /// Format NVM Attributes (byte 524).
    pub(crate) fna: u8,
    /// Volatile Write Cache (byte 525).
    pub(crate) vwc: u8,
    /// Atomic Write Unit Normal, 0-based blocks (bytes 527:526).
    pub(crate) awun: u16,
    /// Atomic Write Unit Power Fail, 0-based blocks (bytes 529:528).
    pub(crate) awupf: u16,
    /// SGL Support (bytes 539:536).
    pub(crate) sgls: u32,
    /// NVM Subsystem NVMe Qualified Name, UTF-8, NUL padded (bytes 1023:768).
    pub(crate) subnqn: [u8; 256],
    /// ANA Transition Time in seconds (byte 343).
    pub(crate) anatt: u8,
    /// Number of ANA Group Identifiers (bytes 351:348).
    pub(crate) nanagrpid: u32,
}

impl IdCtrl {
    /// Decodes an Identify Controller data structure.
    pub(crate) fn parse(b: &[u8; IDENTIFY_SIZE]) -> Self {
        Self {
            vid: le16(b, 0),
            ssvid: le16(b, 2),
            sn: bytes(b, 4),
            mn: bytes(b, 24),
            fr: bytes(b, 64),
            rab: b[72],
            ieee: bytes(b, 73),
            cmic: b[76],
            mdts: b[77],
            cntlid: le16(b, 78),
            ver: le32(b, 80),
            rtd3r: le32(b, 84),
            rtd3e: le32(b, 88),
            oaes: le32(b, 92),
            ctratt: le32(b, 96),
            crdt: [le16(b, 128), le16(b, 130), le16(b, 132)],
            oacs: le16(b, 256),
            acl: b[258],
            aerl: b[259],
            frmw: b[260],
            lpa: b[261],
            elpe: b[262],
            npss: b[263],
            wctemp: le16(b, 266),
            cctemp: le16(b, 268),
            sqes: b[512],
            cqes: b[513],
            maxcmd: le16(b, 514),
            nn: le32(b, 516),
            oncs: le16(b, 520),
            fuses: le16(b, 522),
            fna: b[524],
            vwc: b[525],
            awun: le16(b, 526),
            awupf: le16(b, 528),
            sgls: le32(b, 536),
            subnqn: bytes(b, 768),
            anatt: b[343],
            nanagrpid: le32(b, 348),
        }
    }

    /// Serial number without padding.
    pub(crate) fn serial(&self) -> &[u8] {
        trim(&self.sn)
    }

    /// Model number without padding.
    pub(crate) fn model(&self) -> &[u8] {
        trim(&self.mn)
    }

    /// Firmware revision without padding.
    pub(crate) fn firmware(&self) -> &[u8] {
        trim(&self.fr)
    }

    /// Subsystem NQN without padding.
    pub(crate) fn subsys_nqn(&self) -> &[u8] {
        trim(&self.subnqn)
    }

    /// Whether a volatile write cache is present (VWC bit 0), so writes
    /// need Flush (and FUA) for durability.
    pub(crate) const fn has_vwc(&self) -> bool {
        self.vwc & 1 != 0
    }

    /// Whether Dataset Management is supported (ONCS bit 2).
    pub(crate) const fn oncs_dsm(&self) -> bool {
        self.oncs & (1 << 2) != 0
    }

    /// Whether Write Zeroes is supported (ONCS bit 3).
    pub(crate) const fn oncs_write_zeroes(&self) -> bool {
        self.oncs & (1 << 3) != 0
    }

    /// Whether Namespace Management is supported (OACS bit 3).
    pub(crate) const fn oacs_ns_mgmt(&self) -> bool {
        self.oacs & (1 << 3) != 0
    }

    /// Whether Doorbell Buffer Config is supported (OACS bit 8).
    pub(crate) const fn oacs_dbbuf(&self) -> bool {
        self.oacs & (1 << 8) != 0
    }

    /// Whether SGLs are supported for the NVM command set (SGLS bits 1:0).
    pub(crate) const fn sgl_supported(&self) -> bool {
        self.sgls & 0x3 != 0
    }

    /// Largest data transfer of one command in bytes, given the controller's
    /// minimum page shift (12 + CAP.MPSMIN); `None` if MDTS reports no limit.
    /// A limit that does not fit in `u32` is reported as `u32::MAX`.
    pub(crate) const fn max_transfer_bytes(&self, min_page_shift: u32) -> Option<u32> {
        if self.mdts == 0 {
            return None;
        }
        let shift = self.mdts as u32 + min_page_shift;
        if shift >= 32 {
            Some(u32::MAX)
        } else {
            Some(1u32 << shift)
        }
    }
}

/// One LBA Format descriptor of Identify Namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LbaFormat {
    /// Metadata Size in bytes per logical block.
    pub(crate) ms: u16,
    /// LBA Data Size as log2 of bytes (0 = format not available).
    pub(crate) lbads: u8,
    /// Relative Performance (bits 1:0; 0 = best).
    pub(crate) rp: u8,
}

/// Number of LBA format descriptors in Identify Namespace (NVMe 2.0).
pub(crate) const NR_LBAF: usize = 64;

/// Why a namespace cannot be exposed as a plain block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// FLBAS selects a format index above NLBAF.
    FormatIndex(u8),
    /// The logical block size is `1 << lbads`, below 512 bytes or above what the block layer
    /// takes.
    BlockSize(u8),
}

/// Decoded NVM command set Identify Namespace data structure (CNS 00h).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IdNs {
    /// Namespace Size in logical blocks (bytes 7:0).
    pub(crate) nsze: u64,
    /// Namespace Capacity in logical blocks (bytes 15:8).
    pub(crate) ncap: u64,
    /// Namespace Utilization in logical blocks (bytes 23:16).
    pub(crate) nuse: u64,
    /// Namespace Features (byte 24).
    pub(crate) nsfeat: u8,
    /// Number of LBA Formats, 0-based (byte 25).
    pub(crate) nlbaf: u8,
    /// Formatted LBA Size (byte 26).
    pub(crate) flbas: u8,
    /// Metadata Capabilities (byte 27).
    pub(crate) mc: u8,
    /// End-to-end Data Protection Capabilities (byte 28).
    pub(crate) dpc: u8,
    /// End-to-end Data Protection Type Settings (byte 29).
    pub(crate) dps: u8,
    /// Namespace Multi-path I/O and Namespace Sharing Capabilities (byte 30).
    pub(crate) nmic: u8,
    /// Namespace Atomic Write Unit Normal, 0-based (bytes 35:34); 0 unless
    /// NSFEAT bit 1 is set.
    pub(crate) nawun: u16,
    /// Namespace Atomic Write Unit Power Fail, 0-based (bytes 37:36); 0
    /// unless NSFEAT bit 1 is set.
    pub(crate) nawupf: u16,
    /// Namespace Atomic Compare & Write Unit, 0-based (bytes 39:38); 0
    /// unless NSFEAT bit 1 is set.
    pub(crate) nacwu: u16,
    /// Namespace Atomic Boundary Offset (bytes 43:42).
    pub(crate) nabo: u16,
    /// Namespace Atomic Boundary Size Power Fail, 0-based (bytes 45:44).
    pub(crate) nabspf: u16,
    /// Namespace Preferred Write Granularity, 0-based (bytes 65:64); 0
    /// unless NSFEAT bit 4 is set.
    pub(crate) npwg: u16,
    /// Namespace Preferred Write Alignment, 0-based (bytes 67:66); 0 unless
    /// NSFEAT bit 4 is set.
    pub(crate) npwa: u16,
    /// Namespace Preferred Deallocate Granularity, 0-based (bytes 69:68); 0
    /// unless NSFEAT bit 4 is set.
    pub(crate) npdg: u16,
    /// Namespace Preferred Deallocate Alignment, 0-based (bytes 71:70); 0
    /// unless NSFEAT bit 4 is set.
    pub(crate) npda: u16,
    /// Namespace Optimal Write Size, 0-based (bytes 73:72); 0 unless NSFEAT
    /// bit 4 is set.
    pub(crate) nows: u16,
    /// Namespace Globally Unique Identifier (bytes 119:104).
    pub(crate) nguid: [u8; 16],
    /// IEEE Extended Unique Identifier (bytes 127:120).
    pub(crate) eui64: [u8; 8],
    /// ANA Group Identifier (bytes 95:92); 0 when the controller reports no ANA.
    pub(crate) anagrpid: u32,
    /// LBA Format descriptors 0..63 (bytes 128 + 4 * i).
    pub(crate) lbaf: [LbaFormat; NR_LBAF],
}

/// NSFEAT bit 1: NAWUN, NAWUPF and NACWU are valid.
pub(crate) const NSFEAT_NSABP: u8 = 1 << 1;
/// NSFEAT bit 4: NPWG, NPWA, NPDG, NPDA and NOWS are valid.
pub(crate) const NSFEAT_OPTPERF: u8 = 1 << 4;

impl IdNs {
    /// Decodes an Identify Namespace data structure.
    pub(crate) fn parse(b: &[u8; IDENTIFY_SIZE]) -> Self {
        let nsfeat = b[24];
        let nsabp = nsfeat & NSFEAT_NSABP != 0;
        let optperf = nsfeat & NSFEAT_OPTPERF != 0;
        let if_set = |valid: bool, off: usize| if valid { le16(b, off) } else { 0 };
        Self {
            nsze: le64(b, 0),
            ncap: le64(b, 8),
            nuse: le64(b, 16),
            nsfeat,
            nlbaf: b[25],
            flbas: b[26],
            mc: b[27],
            dpc: b[28],
            dps: b[29],
            nmic: b[30],
            nawun: if_set(nsabp, 34),
            nawupf: if_set(nsabp, 36),
            nacwu: if_set(nsabp, 38),
            nabo: le16(b, 42),
            nabspf: le16(b, 44),
            npwg: if_set(optperf, 64),
            npwa: if_set(optperf, 66),
            npdg: if_set(optperf, 68),
            npda: if_set(optperf, 70),
            nows: if_set(optperf, 72),
            nguid: bytes(b, 104),
            eui64: bytes(b, 120),
            anagrpid: le32(b, 92),
            lbaf: core::array::from_fn(|i| {
                let off = 128 + 4 * i;
                LbaFormat {
                    ms: le16(b, off),
                    lbads: b[off + 2],
                    rp: b[off + 3] & 0x3,
                }
            }),
        }
    }

    /// Index of the LBA format the namespace is formatted with: FLBAS bits
    /// 3:0, and when more than 16 formats exist (NLBAF, 0-based, >= 16)
    /// FLBAS bits 6:5 as index bits 5:4.
    pub(crate) const fn lba_format_index(&self) -> u8 {
        let low = self.flbas & 0xf;
        if self.nlbaf >= 16 {
            low | (((self.flbas >> 5) & 0x3) << 4)
        } else {
            low
        }
    }

    /// The LBA format in use.
    pub(crate) const fn current_format(&self) -> LbaFormat {
        // The index is at most 63 by construction.
        self.lbaf[self.lba_format_index() as usize]
    }

    /// log2 of the logical block size in bytes (LBADS of the current format).
    pub(crate) const fn lba_shift(&self) -> u8 {
        self.current_format().lbads
    }

    /// Logical block size in bytes (saturating at `u32::MAX`).
    pub(crate) const fn logical_block_size(&self) -> u32 {
        let s = self.lba_shift();
        if s >= 32 {
            u32::MAX
        } else {
            1u32 << s
        }
    }

    /// Metadata bytes per logical block of the current format.
    pub(crate) const fn metadata_size(&self) -> u16 {
        self.current_format().ms
    }

    /// Whether metadata is interleaved with the data (FLBAS bit 4).
    pub(crate) const fn metadata_extended(&self) -> bool {
        self.flbas & (1 << 4) != 0
    }

    /// Protection Information type in use (DPS bits 2:0; 0 = disabled).
    pub(crate) const fn pi_type(&self) -> u8 {
        self.dps & 0x7
    }

    /// Whether the driver can expose this namespace as a block device whose logical blocks
    /// are at most `1 << max_shift` bytes (what the kernel's block layer takes: `PAGE_SIZE`,
    /// or 64 KiB with large folios). Metadata and protection information are the business of
    /// [`super::meta`].
    pub(crate) const fn is_supported(&self, max_shift: u8) -> Result<(), Unsupported> {
        let idx = self.lba_format_index();
        if idx > self.nlbaf {
            return Err(Unsupported::FormatIndex(idx));
        }
        let s = self.lba_shift();
        if s < 9 || s > max_shift {
            return Err(Unsupported::BlockSize(s));
        }
        Ok(())
    }

    /// Namespace size in 512-byte sectors (saturating at `u64::MAX`).
    pub(crate) const fn capacity_sectors(&self) -> u64 {
        let s = self.lba_shift() as u32;
        if s >= 9 {
            let up = s - 9;
            if up >= 64 || self.nsze > (u64::MAX >> up) {
                u64::MAX
            } else {
                self.nsze << up
            }
        } else {
            self.nsze >> (9 - s)
        }
    }

    /// Physical block size in bytes: the preferred write granularity
    /// ((NPWG + 1) logical blocks) when NSFEAT bit 4 reports it, otherwise
    /// the logical block size. Saturates at `u32::MAX`.
    pub(crate) const fn physical_block_size(&self) -> u32 {
        let lbs = self.logical_block_size();
        if self.nsfeat & NSFEAT_OPTPERF != 0 {
            match lbs.checked_mul(self.npwg as u32 + 1) {
                Some(v) => v,
                None => u32::MAX,
            }
        } else {
            lbs
        }
    }

    /// Optimal I/O size in bytes ((NOWS + 1) logical blocks) when NSFEAT bit
    /// 4 reports it, otherwise 0 (unknown).
    pub(crate) const fn optimal_io_size(&self) -> u32 {
        if self.nsfeat & NSFEAT_OPTPERF != 0 {
            match self.logical_block_size().checked_mul(self.nows as u32 + 1) {
                Some(v) => v,
                None => u32::MAX,
            }
        } else {
            0
        }
    }

    /// Whether the namespace reports an NGUID (not all zeroes).
    pub(crate) fn has_nguid(&self) -> bool {
        !all_zero(&self.nguid)
    }

    /// Whether the namespace reports an EUI-64 (not all zeroes).
    pub(crate) fn has_eui64(&self) -> bool {
        !all_zero(&self.eui64)
    }

    /// Whether the namespace is active: an inactive NSID identifies as all
    /// zeroes, so its size is 0.
    pub(crate) const fn is_active(&self) -> bool {
        self.nsze != 0
    }
}

/// Largest number of NSIDs in one Active Namespace ID list.
pub(crate) const NS_LIST_MAX: usize = IDENTIFY_SIZE / 4;

/// The NSIDs of an Active Namespace ID list (CNS 02h), in order, up to the
/// first 0 entry (at most 1024).
pub(crate) fn active_ns_list(buf: &[u8; IDENTIFY_SIZE]) -> impl Iterator<Item = u32> + '_ {
    (0..NS_LIST_MAX)
        .map(move |i| le32(buf, 4 * i))
        .take_while(|&id| id != 0)
}

/// The identifiers of a namespace: from Identify Namespace (EUI64, NGUID) and from the
/// Namespace Identification Descriptor list (CNS 03h), which adds the UUID and may also carry
/// the EUI64 and NGUID of controllers that report them only there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NsIds {
    /// IEEE Extended Unique Identifier (all zero when absent).
    pub(crate) eui64: [u8; 8],
    /// Namespace Globally Unique Identifier (all zero when absent).
    pub(crate) nguid: [u8; 16],
    /// Namespace UUID (all zero when absent).
    pub(crate) uuid: [u8; 16],
    /// Command Set Identifier, when the descriptor list reports it.
    pub(crate) csi: Option<u8>,
}

/// Command Set Identifier: NVM.
pub(crate) const CSI_NVM: u8 = 0;
/// Command Set Identifier: Key Value.
pub(crate) const CSI_KV: u8 = 1;
/// Command Set Identifier: Zoned Namespace.
pub(crate) const CSI_ZNS: u8 = 2;

/// Namespace Identifier Type of a descriptor: IEEE EUI-64.
pub(crate) const NIDT_EUI64: u8 = 1;
/// Namespace Identifier Type of a descriptor: NGUID.
pub(crate) const NIDT_NGUID: u8 = 2;
/// Namespace Identifier Type of a descriptor: UUID.
pub(crate) const NIDT_UUID: u8 = 3;
/// Namespace Identifier Type of a descriptor: Command Set Identifier (1 byte).
pub(crate) const NIDT_CSI: u8 = 4;

impl NsIds {
    /// Starts from the identifiers in Identify Namespace.
    pub(crate) fn from_id_ns(ns: &IdNs) -> Self {
        Self {
            eui64: ns.eui64,
            nguid: ns.nguid,
            uuid: [0; 16],
            csi: None,
        }
    }

    /// Adds the identifiers of a Namespace Identification Descriptor list: entries of a 4-byte
    /// header (NIDT, NIDL, two reserved bytes) and NIDL bytes of identifier, ended by a zero
    /// NIDT or the end of the buffer. Descriptors of an unexpected length are skipped.
    pub(crate) fn add_descriptors(&mut self, b: &[u8; IDENTIFY_SIZE]) {
        let mut off = 0;
        while off + 4 <= IDENTIFY_SIZE {
            let (nidt, nidl) = (b[off], usize::from(b[off + 1]));
            if nidt == 0 || off + 4 + nidl > IDENTIFY_SIZE {
                break;
            }
            let id = &b[off + 4..off + 4 + nidl];
            match (nidt, nidl) {
                (NIDT_EUI64, 8) => self.eui64.copy_from_slice(id),
                (NIDT_NGUID, 16) => self.nguid.copy_from_slice(id),
                (NIDT_UUID, 16) => self.uuid.copy_from_slice(id),
                (NIDT_CSI, 1) => self.csi = Some(id[0]),
                _ => {}
            }
            off += 4 + nidl;
        }
    }

    /// True when the EUI64 is set.
    pub(crate) fn has_eui64(&self) -> bool {
        !all_zero(&self.eui64)
    }

    /// True when the NGUID is set.
    pub(crate) fn has_nguid(&self) -> bool {
        !all_zero(&self.nguid)
    }

    /// True when the UUID is set.
    /// True when `other`, identifiers of a namespace with the same NSID seen through another
    /// controller, names the same namespace (as C's `nvme_ns_ids_equal()`): every
    /// identifier and the command set equal.
    pub(crate) fn same_namespace(&self, other: &NsIds) -> bool {
        self.uuid == other.uuid
            && self.nguid == other.nguid
            && self.eui64 == other.eui64
            && self.csi == other.csi
    }

    pub(crate) fn has_uuid(&self) -> bool {
        !all_zero(&self.uuid)
    }
}

/// Writes bytes as lowercase hex, with `sep` between them when given (`%*phN`, `%*phD`).
pub(crate) fn write_hex(
    w: &mut impl core::fmt::Write,
    b: &[u8],
    sep: Option<char>,
) -> core::fmt::Result {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            if let Some(c) = sep {
                w.write_char(c)?;
            }
        }
        write!(w, "{:02x}", x)?;
    }
    Ok(())
}

/// Writes 16 bytes in UUID form, 8-4-4-4-12 lowercase hex digits in byte order (`%pU`).
pub(crate) fn write_uuid(w: &mut impl core::fmt::Write, b: &[u8; 16]) -> core::fmt::Result {
    for (i, part) in [&b[0..4], &b[4..6], &b[6..8], &b[8..10], &b[10..16]]
        .iter()
        .enumerate()
    {
        if i > 0 {
            w.write_char('-')?;
        }
        write_hex(w, part, None)?;
    }
    Ok(())
}

/// Identify Controller data specific to the NVM command set (CNS 06h, CSI 00h).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IdCtrlNvm {
    /// Verify Size Limit (2^n controller pages; 0: no limit).
    pub(crate) vsl: u8,
    /// Write Zeroes Size Limit (2^n controller pages; 0: no limit).
    pub(crate) wzsl: u8,
    /// Write Uncorrectable Size Limit (2^n controller pages; 0: no limit).
    pub(crate) wusl: u8,
    /// Dataset Management Ranges Limit (0: no limit below 256).
    pub(crate) dmrl: u8,
    /// Dataset Management Range Size Limit, in logical blocks (0: no limit).
    pub(crate) dmrsl: u32,
    /// Dataset Management Size Limit, in logical blocks (0: no limit).
    pub(crate) dmsl: u64,
}

/// CNS value of Identify Namespace data specific to an I/O command set.
pub(crate) const CNS_CS_NS: u8 = 0x05;

/// CNS value of Identify Controller data specific to an I/O command set.
pub(crate) const CNS_CS_CTRL: u8 = 0x06;

impl IdCtrlNvm {
    /// Parses the first 16 bytes of the structure.
    pub(crate) fn parse(b: &[u8; IDENTIFY_SIZE]) -> Self {
        Self {
            vsl: b[0],
            wzsl: b[1],
            wusl: b[2],
            dmrl: b[3],
            dmrsl: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            dmsl: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    /// Largest Write Zeroes in bytes for `page_shift`-sized controller pages, when limited.
    pub(crate) const fn write_zeroes_limit(&self, page_shift: u32) -> Option<u64> {
        if self.wzsl == 0 || self.wzsl as u32 + page_shift >= 63 {
            None
        } else {
            Some(1u64 << (self.wzsl as u32 + page_shift))
        }
    }
}

impl IdNs {
    /// Discard granularity in logical blocks: the larger of the preferred deallocate
    /// granularity and alignment (NPDG, NPDA, 0's based) when the namespace reports them
    /// (NSFEAT OPTPERF), else one block.
    pub(crate) const fn discard_granularity_blocks(&self) -> u32 {
        if self.nsfeat & NSFEAT_OPTPERF == 0 {
            return 1;
        }
        let g = self.npdg as u32 + 1;
        let a = self.npda as u32 + 1;
        if g > a {
            g
        } else {
            a
        }
    }
}

/// Atomic write limits of a namespace, in logical blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AtomicWrite {
    /// Largest write guaranteed atomic across a power failure.
    pub(crate) max_blocks: u32,
    /// Atomic writes must not cross a multiple of this (0: no boundary).
    pub(crate) boundary_blocks: u32,
}

impl IdNs {
    /// Atomic write limits, as Linux's NVMe driver derives them: the namespace's NAWUPF (and
    /// NABSPF) when it reports them, else a single block. `None` when the atomic boundaries
    /// are offset (NABO), which the block layer cannot describe.
    pub(crate) const fn atomic_write(&self) -> Option<AtomicWrite> {
        if self.nabo != 0 {
            return None;
        }
        if self.nsfeat & NSFEAT_NSABP != 0 && self.nawupf != 0 {
            Some(AtomicWrite {
                max_blocks: self.nawupf as u32 + 1,
                boundary_blocks: if self.nabspf != 0 {
                    self.nabspf as u32 + 1
                } else {
                    0
                },
            })
        } else {
            Some(AtomicWrite {
                max_blocks: 1,
                boundary_blocks: 0,
            })
        }
    }
}

/// Writes an identify string as the controller reports it, padding included (as the C
/// driver's attributes do), up to a NUL; anything but printable ASCII as '?'.
pub(crate) fn write_id_str(w: &mut impl core::fmt::Write, s: &[u8]) -> core::fmt::Result {
    for &b in s.iter().take_while(|&&b| b != 0) {
        w.write_char(if b.is_ascii_graphic() || b == b' ' {
            char::from(b)
        } else {
            '?'
        })?;
    }
    Ok(())
}

/// The identity of the controller a namespace is seen through, for the namespace's attributes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CtrlIdent<'a> {
    /// PCI vendor id.
    pub(crate) vid: u16,
    /// Serial number, space padded.
    pub(crate) serial: &'a [u8],
    /// Model number, space padded.
    pub(crate) model: &'a [u8],
    /// Firmware revision, space padded.
    pub(crate) firmware: &'a [u8],
}

/// Writes namespace attribute `index` (without a newline) of namespace `nsid` with
/// identifiers `ids` on controller `c`, as the C driver's disks show them: 0 `nsid`, 1
/// `wwid` (the UUID, else the NGUID, else the EUI64, else vendor, serial, model and nsid), 2
/// `eui`, 3 `nguid`, 4 `uuid`, 5 `model`, 6 `serial`, 7 `firmware_rev`.
pub(crate) fn write_ns_attr(
    w: &mut impl core::fmt::Write,
    index: usize,
    nsid: u32,
    ids: &NsIds,
    c: &CtrlIdent<'_>,
) -> core::fmt::Result {
    match index {
        0 => write!(w, "{}", nsid),
        1 if ids.has_uuid() => {
            w.write_str("uuid.")?;
            write_uuid(w, &ids.uuid)
        }
        1 if ids.has_nguid() => {
            w.write_str("eui.")?;
            write_hex(w, &ids.nguid, None)
        }
        1 if ids.has_eui64() => {
            w.write_str("eui.")?;
            write_hex(w, &ids.eui64, None)
        }
        1 => {
            write!(w, "nvme.{:04x}-", c.vid)?;
            write_hex(w, trim(c.serial), None)?;
            w.write_char('-')?;
            write_hex(w, trim(c.model), None)?;
            write!(w, "-{:08x}", nsid)
        }
        2 => write_hex(w, &ids.eui64, Some('-')),
        3 => write_uuid(w, &ids.nguid),
        4 => write_uuid(w, &ids.uuid),
        5 => write_id_str(w, c.model),
        6 => write_id_str(w, c.serial),
        _ => write_id_str(w, c.firmware),
    }
}
