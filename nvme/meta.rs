// SPDX-License-Identifier: GPL-2.0

//! Metadata and end-to-end protection information (PI) of a namespace format: what the
//! format carries (NVMe Base Specification, "End-to-end Data Protection"; NVM Command Set
//! Specification, "Protection Information Formats" and the Extended LBA Formats of Identify
//! Namespace for the NVM command set), how the driver can serve it, and the fields of a read
//! or write that ask the controller to check or insert the protection information.

use super::ident::IdNs;

/// Guard of a protection information tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Guard {
    /// 16-bit CRC (T10 DIF), in an 8-byte tuple with a 32-bit reference tag.
    Crc16,
    /// 32-bit CRC: no block layer profile (its tuple is not served as PI).
    Crc32,
    /// 64-bit CRC (NVMe), in a 16-byte tuple with a 48-bit reference tag.
    Crc64,
}

impl Guard {
    /// Bytes of a protection information tuple with this guard, when it is one the block layer
    /// knows (`None` for the 32-bit guard).
    pub(crate) const fn tuple_size(self) -> Option<u16> {
        match self {
            Self::Crc16 => Some(8),
            Self::Crc32 => None,
            Self::Crc64 => Some(16),
        }
    }
}

/// CTRATT bit 15: Extended LBA Formats Supported (the NVM command set specific Identify
/// Namespace reports each format's guard and storage tag size).
pub(crate) const CTRATT_ELBAS: u32 = 1 << 15;

/// PIC bit 1 (NVM command set Identify Namespace): Qualified Protection Information Format
/// Supported.
pub(crate) const PIC_QPIFS: u8 = 1 << 1;

/// What the NVM command set specific Identify Namespace (CNS 05h, CSI 00h) says about the
/// current format: its Extended LBA Format dword and the protection information capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdNsNvm {
    /// Protection Information Capabilities (byte 8).
    pub(crate) pic: u8,
    /// Extended LBA Formats (bytes 12 + 4 * i), all 64.
    pub(crate) elbaf: [u32; 64],
}

impl IdNsNvm {
    /// Decodes the structure.
    pub(crate) fn parse(b: &[u8; super::ident::IDENTIFY_SIZE]) -> Self {
        Self {
            pic: b[8],
            elbaf: core::array::from_fn(|i| {
                let o = 12 + 4 * i;
                u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
            }),
        }
    }
}

/// DPS bit 3: the protection information is in the first bytes of the metadata (else the last).
const DPS_PI_FIRST: u8 = 1 << 3;

/// The metadata of a namespace's current format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MetaFormat {
    /// Metadata bytes per logical block (0: none).
    pub(crate) ms: u16,
    /// Interleaved with the data ("extended LBA", FLBAS bit 4) rather than in a separate
    /// buffer.
    pub(crate) extended: bool,
    /// Protection information type in force (1, 2, 3), or 0: none, or one the driver treats as
    /// opaque metadata (storage tags, a 32-bit guard, a tuple larger than the metadata).
    pub(crate) pi_type: u8,
    /// The guard of the tuple.
    pub(crate) guard: Guard,
    /// Bytes of the tuple (0 without protection information).
    pub(crate) pi_size: u16,
    /// Byte offset of the tuple within each block's metadata.
    pub(crate) pi_offset: u16,
}

impl MetaFormat {
    /// The metadata of `ns`'s current format, as C's `nvme_configure_metadata()` reads it:
    /// with the Extended LBA Formats (`nvm`, when the controller reports CTRATT.ELBAS) the
    /// guard comes from the format's dword, and a format with a storage tag carries no
    /// protection information the driver serves; without them the guard is the 16-bit CRC.
    pub(crate) fn of(ns: &IdNs, nvm: Option<&IdNsNvm>) -> Self {
        let ms = ns.metadata_size();
        let mut guard = Guard::Crc16;
        let mut pi_size = 0;
        if ms != 0 {
            match nvm {
                Some(nvm) => {
                    let elbaf = nvm.elbaf[usize::from(ns.lba_format_index() & 63)];
                    // Bits 6:0: Storage Tag Size; bits 8:7: Protection Information Format.
                    let sts = elbaf & 0x7f;
                    let mut pif = (elbaf >> 7) & 0x3;
                    // 3: qualified, the format's bits 10:9 say which guard.
                    if pif == 3 && nvm.pic & PIC_QPIFS != 0 {
                        pif = (elbaf >> 9) & 0x3;
                    }
                    if sts == 0 {
                        guard = match pif {
                            0 => Guard::Crc16,
                            1 => Guard::Crc32,
                            2 => Guard::Crc64,
                            _ => Guard::Crc32,
                        };
                        pi_size = guard.tuple_size().unwrap_or(0);
                    }
                }
                None => pi_size = 8,
            }
        }
        let pi_type = if pi_size != 0 && ms >= pi_size {
            ns.pi_type()
        } else {
            0
        };
        let pi_offset = if ns.dps & DPS_PI_FIRST == 0 && pi_size != 0 && ms >= pi_size {
            ms - pi_size
        } else {
            0
        };
        Self {
            ms,
            extended: ns.metadata_extended(),
            pi_type: if pi_type <= 3 { pi_type } else { 0 },
            guard,
            pi_size: if pi_type != 0 { pi_size } else { 0 },
            pi_offset: if pi_type != 0 { pi_offset } else { 0 },
        }
    }

    /// The whole metadata is one protection information tuple: the controller can insert and
    /// strip it (PRACT) with no metadata going over the bus.
    pub(crate) const fn is_pi_only(&self) -> bool {
        self.pi_type != 0 && self.ms == self.pi_size
    }

    /// How the driver serves a namespace of this format as a disk.
    pub(crate) const fn serve(&self) -> Serve {
        if self.ms == 0 {
            return Serve::Plain;
        }
        if !self.extended {
            return Serve::Integrity(self.profile());
        }
        // Interleaved metadata would have to be spliced into the data buffers. Only a format
        // whose metadata is all PI works, with the controller inserting and stripping it.
        if self.is_pi_only() {
            Serve::Pract
        } else {
            Serve::Unusable
        }
    }

    /// The block layer integrity profile of a separate metadata buffer.
    pub(crate) const fn profile(&self) -> Profile {
        let (csum, tag_size, ref_tag) = match (self.pi_type, self.guard) {
            (1 | 2, Guard::Crc16) => (Csum::Crc16, 2, true),
            (1 | 2, Guard::Crc64) => (Csum::Crc64, 2, true),
            (3, Guard::Crc16) => (Csum::Crc16, 6, false),
            (3, Guard::Crc64) => (Csum::Crc64, 8, false),
            _ => (Csum::None, 0, false),
        };
        let pi = !matches!(csum, Csum::None);
        Profile {
            csum,
            tag_size,
            ref_tag,
            metadata_size: self.ms,
            pi_tuple_size: if pi { self.pi_size } else { 0 },
            pi_offset: if pi { self.pi_offset } else { 0 },
        }
    }
}

/// The checksum of a block layer integrity profile (`enum blk_integrity_checksum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Csum {
    /// Opaque metadata: the block layer gives a zeroed buffer and checks nothing.
    None,
    /// T10 DIF CRC16.
    Crc16,
    /// NVMe CRC64.
    Crc64,
}

/// A block layer integrity profile (the `integrity` of `queue_limits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The guard's checksum.
    pub(crate) csum: Csum,
    /// Bytes of the tuple's tags the block layer may use (`tag_size`).
    pub(crate) tag_size: u8,
    /// The reference tag follows the LBA (types 1 and 2: `BLK_INTEGRITY_REF_TAG`).
    pub(crate) ref_tag: bool,
    /// Metadata bytes per block.
    pub(crate) metadata_size: u16,
    /// Bytes of the tuple (0 without PI).
    pub(crate) pi_tuple_size: u16,
    /// Offset of the tuple in the metadata.
    pub(crate) pi_offset: u16,
}

/// How a namespace format is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Serve {
    /// No metadata.
    Plain,
    /// Separate metadata buffers from the block layer's integrity payload (MPTR).
    Integrity(Profile),
    /// Interleaved metadata that is all PI: the controller inserts it on writes and strips it
    /// on reads (PRACT), checking it too.
    Pract,
    /// Interleaved metadata the driver cannot carry: the disk has no capacity (as C's), and
    /// only passthrough reaches the namespace.
    Unusable,
}

/// Protection information control of a read or write (CDW12 bits 29:26, as bits 13:10 of the
/// `control` half): Protection Information Action.
pub(crate) const PRACT: u16 = 1 << 13;
/// ... check the guard.
pub(crate) const PRCHK_GUARD: u16 = 1 << 12;
/// ... check the application tag.
pub(crate) const PRCHK_APP: u16 = 1 << 11;
/// ... check the reference tag.
pub(crate) const PRCHK_REF: u16 = 1 << 10;

/// What a request asks of the protection information, from its integrity payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PiCheck {
    /// The request carries an integrity payload (a metadata buffer).
    pub(crate) has_payload: bool,
    /// Check the guard (`BIP_CHECK_GUARD`).
    pub(crate) guard: bool,
    /// Check the reference tag (`BIP_CHECK_REFTAG`).
    pub(crate) reftag: bool,
    /// Check the application tag (`BIP_CHECK_APPTAG`) against this one.
    pub(crate) app_tag: Option<u16>,
}

/// The protection information fields of a read or write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PiFields {
    /// Bits for the `control` half of CDW12.
    pub(crate) control: u16,
    /// CDW14: the reference tag (its low 32 bits).
    pub(crate) cdw14: u32,
    /// CDW3: bits 47:32 of a 48-bit reference tag (64-bit guard).
    pub(crate) cdw3: u32,
    /// CDW15: application tag (bits 15:0) and its mask (bits 31:16).
    pub(crate) cdw15: u32,
}

/// Why a request cannot go to a namespace with metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PiError {
    /// The format has metadata that is not all PI, and the request brought no buffer for it.
    NoMetadataBuffer,
}

/// The protection information fields of a read (`read`) or write of the block at `slba` on a
/// namespace of format `fmt`, as C's `nvme_setup_rw()` sets them: without a metadata buffer,
/// a format whose metadata is all PI has the controller insert and strip it (PRACT, with the
/// reference tag it will write); with one, the checks the block layer asked for.
///
/// Stricter than C: a read with PRACT also asks the controller to check the guard (and the
/// reference tag of types 1 and 2) before it strips the tuple. C checks nothing on such
/// formats, so a corrupted block reads back as good data.
pub(crate) const fn pi_fields(
    fmt: &MetaFormat,
    slba: u64,
    req: PiCheck,
    read: bool,
) -> Result<PiFields, PiError> {
    let mut f = PiFields {
        control: 0,
        cdw14: 0,
        cdw3: 0,
        cdw15: 0,
    };
    if fmt.ms == 0 {
        return Ok(f);
    }
    let mut set_ref = false;
    if !req.has_payload {
        if !fmt.is_pi_only() {
            return Err(PiError::NoMetadataBuffer);
        }
        f.control |= PRACT;
        set_ref = true;
        if read {
            f.control |= PRCHK_GUARD;
            if fmt.pi_type != 3 {
                f.control |= PRCHK_REF;
            }
        }
    }
    if req.guard {
        f.control |= PRCHK_GUARD;
    }
    if req.reftag {
        f.control |= PRCHK_REF;
        set_ref = true;
    }
    if let Some(tag) = req.app_tag {
        f.control |= PRCHK_APP;
        f.cdw15 = tag as u32 | (0xffff << 16);
    }
    // Only types 1 and 2 have a reference tag tied to the LBA.
    if set_ref && (fmt.pi_type == 1 || fmt.pi_type == 2) {
        match fmt.guard {
            Guard::Crc64 => {
                let r = slba & 0xffff_ffff_ffff;
                // CAST: the low and the high half of a 48-bit value.
                f.cdw14 = r as u32;
                f.cdw3 = (r >> 32) as u32;
            }
            // CAST: the low 32 bits, as the block layer's `t10_pi_ref_tag()`.
            _ => f.cdw14 = slba as u32,
        }
    }
    Ok(f)
}

impl MetaFormat {
    /// No metadata.
    pub(crate) const NONE: Self = Self {
        ms: 0,
        extended: false,
        pi_type: 0,
        guard: Guard::Crc16,
        pi_size: 0,
        pi_offset: 0,
    };

    /// The format packed into 64 bits, to keep in an atomic ([`MetaFormat::from_bits`]).
    pub(crate) const fn to_bits(self) -> u64 {
        let guard = match self.guard {
            Guard::Crc16 => 0,
            Guard::Crc32 => 1,
            Guard::Crc64 => 2,
        };
        self.ms as u64
            | (self.pi_size as u64) << 16
            | (self.pi_offset as u64) << 32
            | ((self.pi_type & 0x7) as u64) << 48
            | (guard as u64) << 51
            | (self.extended as u64) << 53
    }

    /// The format [`MetaFormat::to_bits`] packed.
    pub(crate) const fn from_bits(b: u64) -> Self {
        // CAST: each field is taken from its own bits.
        Self {
            ms: b as u16,
            pi_size: (b >> 16) as u16,
            pi_offset: (b >> 32) as u16,
            pi_type: ((b >> 48) & 0x7) as u8,
            guard: match (b >> 51) & 0x3 {
                0 => Guard::Crc16,
                1 => Guard::Crc32,
                _ => Guard::Crc64,
            },
            extended: (b >> 53) & 1 != 0,
        }
    }
}

impl super::cmd::Command {
    /// Adds the protection information fields `f` to a read, write or write zeroes.
    pub(crate) const fn set_pi(&mut self, f: &PiFields) {
        self.cdw12 = (u32::from_le(self.cdw12) | (f.control as u32) << 16).to_le();
        self.cdw14 = f.cdw14.to_le();
        self.cdw3 = f.cdw3.to_le();
        self.cdw15 = f.cdw15.to_le();
    }
}

/// The protection information fields of a Write Zeroes on a namespace of format `fmt`, as C's
/// `nvme_setup_write_zeroes()`: when the metadata is all PI the controller writes valid tuples
/// (PRACT, with the reference tag); otherwise the metadata is zeroed with the data.
pub(crate) const fn write_zeroes_pi(fmt: &MetaFormat, slba: u64) -> PiFields {
    if !fmt.is_pi_only() {
        return PiFields {
            control: 0,
            cdw14: 0,
            cdw3: 0,
            cdw15: 0,
        };
    }
    match pi_fields(
        fmt,
        slba,
        PiCheck {
            has_payload: false,
            guard: false,
            reftag: false,
            app_tag: None,
        },
        false,
    ) {
        Ok(f) => f,
        Err(_) => PiFields {
            control: 0,
            cdw14: 0,
            cdw3: 0,
            cdw15: 0,
        },
    }
}
