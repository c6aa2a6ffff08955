// SPDX-License-Identifier: GPL-2.0

//! NVMe submission queue entries (commands) and completion queue entries.
//!
//! [`Command`] is the 64-byte submission queue entry and [`Completion`] the
//! 16-byte completion queue entry, both laid out as the NVMe Base
//! Specification defines them. The constructors build the admin commands the
//! driver needs (Identify, queue creation and deletion, features, log pages,
//! abort, asynchronous events, doorbell buffer config) and the NVM command set
//! I/O commands (Read, Write, Flush, Write Zeroes, Dataset Management).
//! Fields are stored little-endian; constructors and accessors convert.

/// log2 of the size in bytes of a submission queue entry (64 bytes).
pub(crate) const SQ_ENTRY_SHIFT: u8 = 6;
/// log2 of the size in bytes of a completion queue entry (16 bytes).
pub(crate) const CQ_ENTRY_SHIFT: u8 = 4;
/// Number of entries of the admin submission and completion queues.
pub(crate) const AQ_DEPTH: u16 = 32;

/// Bits of an I/O command identifier that hold the request's tag (tags are below the queue
/// depth, at most 1024); the 4 bits above count the tag's issues, as the C driver's
/// `nvme_cid()`, so that a completion of an earlier issue of the same tag (late, or repeated
/// by a faulty controller) is told apart from the one the request waits for.
pub(crate) const CID_TAG_BITS: u32 = 12;
const _: () = assert!(crate::nvme::ring::MAX_IO_QUEUE_DEPTH <= 1 << CID_TAG_BITS);

/// The command identifier of issue `gen` (4 bits) of tag `tag`.
pub(crate) const fn io_cid(tag: u16, gen: u8) -> u16 {
    // CAST: `gen` is masked to 4 bits.
    (((gen & 0xf) as u16) << CID_TAG_BITS) | (tag & ((1 << CID_TAG_BITS) - 1))
}

/// The tag of I/O command identifier `cid`.
pub(crate) const fn cid_tag(cid: u16) -> u16 {
    cid & ((1 << CID_TAG_BITS) - 1)
}

/// The issue counter of I/O command identifier `cid`.
pub(crate) const fn cid_gen(cid: u16) -> u8 {
    // CAST: 4 bits.
    (cid >> CID_TAG_BITS) as u8
}

/// The issue counter after `gen`, wrapping at 16.
pub(crate) const fn next_gen(gen: u8) -> u8 {
    gen.wrapping_add(1) & 0xf
}

/// Admin command set opcodes.
pub(crate) mod admin {
    /// Delete I/O Submission Queue.
    pub(crate) const DELETE_SQ: u8 = 0x00;
    /// Create I/O Submission Queue.
    pub(crate) const CREATE_SQ: u8 = 0x01;
    /// Get Log Page.
    pub(crate) const GET_LOG_PAGE: u8 = 0x02;
    /// Delete I/O Completion Queue.
    pub(crate) const DELETE_CQ: u8 = 0x04;
    /// Create I/O Completion Queue.
    pub(crate) const CREATE_CQ: u8 = 0x05;
    /// Identify.
    pub(crate) const IDENTIFY: u8 = 0x06;
    /// Abort.
    pub(crate) const ABORT: u8 = 0x08;
    /// Set Features.
    pub(crate) const SET_FEATURES: u8 = 0x09;
    /// Get Features.
    pub(crate) const GET_FEATURES: u8 = 0x0a;
    /// Asynchronous Event Request.
    pub(crate) const ASYNC_EVENT: u8 = 0x0c;
    /// Doorbell Buffer Config.
    pub(crate) const DBBUF_CONFIG: u8 = 0x7c;
}

/// NVM command set I/O opcodes.
pub(crate) mod io {
    /// Flush.
    pub(crate) const FLUSH: u8 = 0x00;
    /// Write.
    pub(crate) const WRITE: u8 = 0x01;
    /// Read.
    pub(crate) const READ: u8 = 0x02;
    /// Write Zeroes.
    pub(crate) const WRITE_ZEROES: u8 = 0x08;
    /// Dataset Management.
    pub(crate) const DSM: u8 = 0x09;
}

/// Identify CNS: Identify Namespace data structure for the given NSID.
pub(crate) const CNS_NS: u8 = 0x00;
/// Identify CNS: Identify Controller data structure.
pub(crate) const CNS_CTRL: u8 = 0x01;
/// Identify CNS: active namespace ID list (NSIDs greater than the given one).
pub(crate) const CNS_NS_ACTIVE_LIST: u8 = 0x02;
/// Identify CNS: namespace identification descriptor list.
pub(crate) const CNS_NS_DESC_LIST: u8 = 0x03;

/// Feature identifier: Arbitration.
pub(crate) const FEAT_ARBITRATION: u8 = 0x01;
/// Feature identifier: Power Management.
pub(crate) const FEAT_POWER_MGMT: u8 = 0x02;
/// Feature identifier: Volatile Write Cache.
pub(crate) const FEAT_VOLATILE_WC: u8 = 0x06;
/// Feature identifier: Number of Queues.
pub(crate) const FEAT_NUM_QUEUES: u8 = 0x07;
/// Feature identifier: Interrupt Coalescing.
pub(crate) const FEAT_IRQ_COALESCE: u8 = 0x08;
/// Feature identifier: Asynchronous Event Configuration.
pub(crate) const FEAT_ASYNC_EVENT: u8 = 0x0b;

/// Log page identifier: Error Information.
pub(crate) const LOG_ERROR: u8 = 0x01;
/// Log page identifier: SMART / Health Information.
pub(crate) const LOG_SMART: u8 = 0x02;
/// Log page identifier: Firmware Slot Information.
pub(crate) const LOG_FW_SLOT: u8 = 0x03;
/// Log page identifier: Changed Namespace List.
pub(crate) const LOG_CHANGED_NS: u8 = 0x04;

/// Read/Write CDW12 bit 30: Force Unit Access.
pub(crate) const RW_FUA: u32 = 1 << 30;
/// Read/Write CDW12 bit 31: Limited Retry.
pub(crate) const RW_LR: u32 = 1 << 31;
/// Write Zeroes CDW12 bit 25: Deallocate.
pub(crate) const WZ_DEAC: u32 = 1 << 25;
/// Dataset Management CDW11 bit 2: Attribute - Deallocate.
pub(crate) const DSM_AD: u32 = 1 << 2;
/// Largest number of ranges one Dataset Management command carries.
pub(crate) const DSM_MAX_RANGES: u32 = 256;
/// Largest number of logical blocks one Read/Write/Write Zeroes command
/// carries (NLB is a 16-bit 0-based field).
pub(crate) const MAX_NLB: u32 = 1 << 16;

/// Encodes the Number of Queues feature (CDW11) asking for `nr_io_queues`
/// I/O submission queues and as many I/O completion queues: NSQR in bits
/// 15:0 and NCQR in bits 31:16, both 0-based. `nr_io_queues` must be >= 1.
pub(crate) const fn num_queues_dw11(nr_io_queues: u16) -> u32 {
    let n = nr_io_queues.saturating_sub(1) as u32;
    (n << 16) | n
}

/// Decodes completion DW0 of Set/Get Features Number of Queues: the number
/// of I/O queue pairs allocated, min(NSQA, NCQA) + 1 (both fields 0-based).
/// Saturates at `u16::MAX` for the (spec-invalid) value 0xffff.
pub(crate) const fn num_queues_granted(dw0: u32) -> u16 {
    // CAST: each half is a 16-bit field.
    let nsqa = (dw0 & 0xffff) as u16;
    // CAST: the shift leaves exactly 16 bits.
    let ncqa = (dw0 >> 16) as u16;
    let min = if nsqa < ncqa { nsqa } else { ncqa };
    min.saturating_add(1)
}

/// A submission queue entry (NVMe Base Specification, "Common Command
/// Format"). All fields are little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Command {
    /// Command Dword 0: opcode (7:0), FUSE (9:8), PSDT (15:14), CID (31:16).
    pub(crate) cdw0: u32,
    /// Namespace Identifier.
    pub(crate) nsid: u32,
    /// Command Dword 2 (command specific).
    pub(crate) cdw2: u32,
    /// Command Dword 3 (command specific).
    pub(crate) cdw3: u32,
    /// Metadata Pointer.
    pub(crate) mptr: u64,
    /// Data Pointer: PRP Entry 1.
    pub(crate) prp1: u64,
    /// Data Pointer: PRP Entry 2 (or PRP list pointer).
    pub(crate) prp2: u64,
    /// Command Dword 10.
    pub(crate) cdw10: u32,
    /// Command Dword 11.
    pub(crate) cdw11: u32,
    /// Command Dword 12.
    pub(crate) cdw12: u32,
    /// Command Dword 13.
    pub(crate) cdw13: u32,
    /// Command Dword 14.
    pub(crate) cdw14: u32,
    /// Command Dword 15.
    pub(crate) cdw15: u32,
}

const _: () = assert!(core::mem::size_of::<Command>() == 64);

impl Command {
    /// An all-zero command.
    pub(crate) const fn zeroed() -> Self {
        Self {
            cdw0: 0,
            nsid: 0,
            cdw2: 0,
            cdw3: 0,
            mptr: 0,
            prp1: 0,
            prp2: 0,
            cdw10: 0,
            cdw11: 0,
            cdw12: 0,
            cdw13: 0,
            cdw14: 0,
            cdw15: 0,
        }
    }

    /// A command with only the opcode and namespace set (CID 0, no data).
    pub(crate) const fn with_opcode(opcode: u8, nsid: u32) -> Self {
        let mut c = Self::zeroed();
        c.cdw0 = (opcode as u32).to_le();
        c.nsid = nsid.to_le();
        c
    }

    /// The opcode (CDW0 bits 7:0).
    pub(crate) const fn opcode(&self) -> u8 {
        // CAST: keeps the low 8 bits, the opcode.
        (u32::from_le(self.cdw0) & 0xff) as u8
    }

    /// Sets the Command Identifier (CDW0 bits 31:16).
    pub(crate) fn set_cid(&mut self, cid: u16) {
        let dw0 = (u32::from_le(self.cdw0) & 0xffff) | (u32::from(cid) << 16);
        self.cdw0 = dw0.to_le();
    }

    /// The Command Identifier (CDW0 bits 31:16).
    pub(crate) const fn cid(&self) -> u16 {
        // CAST: the shift leaves exactly 16 bits.
        (u32::from_le(self.cdw0) >> 16) as u16
    }

    /// The namespace identifier.
    pub(crate) const fn nsid(&self) -> u32 {
        u32::from_le(self.nsid)
    }

    /// Sets the data pointer as PRP Entry 1 and PRP Entry 2 (PSDT stays 00b,
    /// PRPs used).
    pub(crate) fn set_prp(&mut self, prp1: u64, prp2: u64) {
        self.prp1 = prp1.to_le();
        self.prp2 = prp2.to_le();
    }

    /// Points the data pointer at SGL descriptor `d` (a Data Block, or a Last Segment leading
    /// to a list) and marks the command as using SGLs (CDW0 PSDT = 01b).
    pub(crate) fn set_sgl(&mut self, d: &super::sgl::SglDesc) {
        let (lo, hi) = d.dptr();
        self.prp1 = lo;
        self.prp2 = hi;
        self.cdw0 = (u32::from_le(self.cdw0) | super::sgl::PSDT_SGL).to_le();
    }

    /// Identify: `cns` selects the data structure, `cntid` goes to CDW10
    /// bits 31:16. The caller sets PRP1 to a 4 KiB buffer.
    pub(crate) const fn identify(cns: u8, nsid: u32, cntid: u16) -> Self {
        let mut c = Self::with_opcode(admin::IDENTIFY, nsid);
        c.cdw10 = ((cns as u32) | ((cntid as u32) << 16)).to_le();
        c
    }

    /// Set Features: feature `fid` (CDW10 bits 7:0, not saved) with the
    /// feature specific value `dw11`.
    pub(crate) const fn set_features(fid: u8, dw11: u32) -> Self {
        let mut c = Self::with_opcode(admin::SET_FEATURES, 0);
        c.cdw10 = (fid as u32).to_le();
        c.cdw11 = dw11.to_le();
        c
    }

    /// Get Features: feature `fid` (current value, SEL = 0), with a feature
    /// specific `dw11`.
    pub(crate) const fn get_features(fid: u8, dw11: u32) -> Self {
        let mut c = Self::with_opcode(admin::GET_FEATURES, 0);
        c.cdw10 = (fid as u32).to_le();
        c.cdw11 = dw11.to_le();
        c
    }

    /// Create I/O Completion Queue `qid` with `entries` entries (1-based;
    /// QSIZE is encoded 0-based) at the physically contiguous buffer
    /// `cq_dma`. With `Some(vector)` interrupts are enabled on that MSI-X
    /// vector; with `None` the queue is polled (IEN = 0).
    pub(crate) const fn create_cq(
        qid: u16,
        entries: u16,
        cq_dma: u64,
        irq_vector: Option<u16>,
    ) -> Self {
        let mut c = Self::with_opcode(admin::CREATE_CQ, 0);
        c.prp1 = cq_dma.to_le();
        c.cdw10 = ((qid as u32) | ((entries.saturating_sub(1) as u32) << 16)).to_le();
        // PC (bit 0) = 1: physically contiguous.
        let dw11 = match irq_vector {
            Some(v) => 1 | (1 << 1) | ((v as u32) << 16),
            None => 1,
        };
        c.cdw11 = dw11.to_le();
        c
    }

    /// Create I/O Submission Queue `qid` with `entries` entries (1-based)
    /// at the physically contiguous buffer `sq_dma`, completing to `cqid`,
    /// priority 0 (urgent/ignored under round robin).
    pub(crate) const fn create_sq(qid: u16, entries: u16, sq_dma: u64, cqid: u16) -> Self {
        let mut c = Self::with_opcode(admin::CREATE_SQ, 0);
        c.prp1 = sq_dma.to_le();
        c.cdw10 = ((qid as u32) | ((entries.saturating_sub(1) as u32) << 16)).to_le();
        // PC (bit 0) = 1, QPRIO (bits 2:1) = 0, CQID (bits 31:16).
        c.cdw11 = (1 | ((cqid as u32) << 16)).to_le();
        c
    }

    /// Delete I/O Submission Queue `qid`.
    pub(crate) const fn delete_sq(qid: u16) -> Self {
        let mut c = Self::with_opcode(admin::DELETE_SQ, 0);
        c.cdw10 = (qid as u32).to_le();
        c
    }

    /// Delete I/O Completion Queue `qid`.
    pub(crate) const fn delete_cq(qid: u16) -> Self {
        let mut c = Self::with_opcode(admin::DELETE_CQ, 0);
        c.cdw10 = (qid as u32).to_le();
        c
    }

    /// Abort the command `cid` submitted to queue `sqid`.
    pub(crate) const fn abort(sqid: u16, cid: u16) -> Self {
        let mut c = Self::with_opcode(admin::ABORT, 0);
        c.cdw10 = ((sqid as u32) | ((cid as u32) << 16)).to_le();
        c
    }

    /// Asynchronous Event Request.
    pub(crate) const fn async_event() -> Self {
        Self::with_opcode(admin::ASYNC_EVENT, 0)
    }

    /// Doorbell Buffer Config: PRP1 is the shadow doorbell page, PRP2 the
    /// EventIdx page (both one memory page, page aligned).
    pub(crate) const fn dbbuf_config(shadow_dma: u64, eventidx_dma: u64) -> Self {
        let mut c = Self::with_opcode(admin::DBBUF_CONFIG, 0);
        c.prp1 = shadow_dma.to_le();
        c.prp2 = eventidx_dma.to_le();
        c
    }

    /// Get Log Page `lid` for `nsid`, `dwords` dwords long (1-based; encoded
    /// 0-based as NUMDL in CDW10 bits 31:16 and NUMDU in CDW11 bits 15:0)
    /// into `dma` (PRP1). If the buffer crosses a memory page boundary the
    /// caller must also set PRP2.
    pub(crate) const fn get_log_page(lid: u8, nsid: u32, dwords: u32, dma: u64) -> Self {
        let mut c = Self::with_opcode(admin::GET_LOG_PAGE, nsid);
        let numd = dwords.saturating_sub(1);
        c.prp1 = dma.to_le();
        c.cdw10 = ((lid as u32) | ((numd & 0xffff) << 16)).to_le();
        c.cdw11 = (numd >> 16).to_le();
        c
    }

    /// Read or Write (`opcode`) of `nlb` logical blocks (1-based,
    /// 1..=[`MAX_NLB`]; encoded 0-based in CDW12 bits 15:0) starting at
    /// `slba`, with Force Unit Access if `fua`. The caller sets the PRPs.
    pub(crate) const fn rw(opcode: u8, nsid: u32, slba: u64, nlb: u32, fua: bool) -> Self {
        debug_assert!(nlb >= 1 && nlb <= MAX_NLB);
        let mut c = Self::with_opcode(opcode, nsid);
        // CAST: low half of the 64-bit starting LBA.
        c.cdw10 = (slba as u32).to_le();
        // CAST: the shift leaves exactly the high 32 bits.
        c.cdw11 = ((slba >> 32) as u32).to_le();
        let mut dw12 = nlb.wrapping_sub(1) & 0xffff;
        if fua {
            dw12 |= RW_FUA;
        }
        c.cdw12 = dw12.to_le();
        c
    }

    /// Read `nlb` blocks (1-based) at `slba`.
    pub(crate) const fn read(nsid: u32, slba: u64, nlb: u32) -> Self {
        Self::rw(io::READ, nsid, slba, nlb, false)
    }

    /// Write `nlb` blocks (1-based) at `slba`, with FUA if `fua`.
    pub(crate) const fn write(nsid: u32, slba: u64, nlb: u32, fua: bool) -> Self {
        Self::rw(io::WRITE, nsid, slba, nlb, fua)
    }

    /// Flush the volatile write cache for `nsid`.
    pub(crate) const fn flush(nsid: u32) -> Self {
        Self::with_opcode(io::FLUSH, nsid)
    }

    /// Write Zeroes of `nlb` blocks (1-based) at `slba`; with `deallocate`
    /// the controller may deallocate the range (DEAC, CDW12 bit 25).
    pub(crate) const fn write_zeroes(nsid: u32, slba: u64, nlb: u32, deallocate: bool) -> Self {
        let mut c = Self::rw(io::WRITE_ZEROES, nsid, slba, nlb, false);
        if deallocate {
            c.cdw12 = (u32::from_le(c.cdw12) | WZ_DEAC).to_le();
        }
        c
    }

    /// Dataset Management with the Deallocate attribute over `nr_ranges`
    /// [`DsmRange`]s (1-based, 1..=256; NR is CDW10 bits 7:0, 0-based). The
    /// caller points PRP1 at the range array.
    pub(crate) const fn dsm_deallocate(nsid: u32, nr_ranges: u32) -> Self {
        debug_assert!(nr_ranges >= 1 && nr_ranges <= DSM_MAX_RANGES);
        let mut c = Self::with_opcode(io::DSM, nsid);
        c.cdw10 = (nr_ranges.wrapping_sub(1) & 0xff).to_le();
        c.cdw11 = DSM_AD.to_le();
        c
    }
}

/// One Dataset Management range (NVM Command Set Specification, "Dataset
/// Management - Range Definition"). All fields are little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DsmRange {
    /// Context Attributes.
    pub(crate) cattr: u32,
    /// Length in logical blocks (1-based, not 0-based).
    pub(crate) nlb: u32,
    /// Starting LBA.
    pub(crate) slba: u64,
}

const _: () = assert!(core::mem::size_of::<DsmRange>() == 16);

impl DsmRange {
    /// A range of `nlb` blocks starting at `slba`, no context attributes.
    pub(crate) const fn new(slba: u64, nlb: u32) -> Self {
        Self {
            cattr: 0,
            nlb: nlb.to_le(),
            slba: slba.to_le(),
        }
    }
}

/// A completion queue entry (NVMe Base Specification, "Common Completion
/// Queue Entry Layout"). All fields are little-endian.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Completion {
    /// Dword 0 (low half) and Dword 1 (high half): command specific.
    pub(crate) result: u64,
    /// SQ Head Pointer.
    pub(crate) sq_head: u16,
    /// SQ Identifier.
    pub(crate) sq_id: u16,
    /// Command Identifier.
    pub(crate) command_id: u16,
    /// Phase Tag (bit 0) and Status Field (bits 15:1).
    pub(crate) status: u16,
}

const _: () = assert!(core::mem::size_of::<Completion>() == 16);

impl Completion {
    /// Builds an entry from its four dwords in CPU order, as a device would
    /// write them (useful for tests and simulations).
    pub(crate) const fn from_dwords(dw: [u32; 4]) -> Self {
        Self {
            result: ((dw[0] as u64) | ((dw[1] as u64) << 32)).to_le(),
            // CAST: low 16 bits of DW2 are SQHD.
            sq_head: (dw[2] as u16).to_le(),
            // CAST: the shift leaves exactly the 16-bit SQID.
            sq_id: ((dw[2] >> 16) as u16).to_le(),
            // CAST: low 16 bits of DW3 are the CID.
            command_id: (dw[3] as u16).to_le(),
            // CAST: the shift leaves exactly the phase and status bits.
            status: ((dw[3] >> 16) as u16).to_le(),
        }
    }

    /// Dword 0, the command specific result.
    pub(crate) const fn result_dw0(&self) -> u32 {
        // CAST: keeps the low dword.
        u64::from_le(self.result) as u32
    }

    /// Dword 1 of the completion (command specific).
    pub(crate) const fn result_dw1(&self) -> u32 {
        // CAST: keeps the high dword.
        (u64::from_le(self.result) >> 32) as u32
    }

    /// SQ Head Pointer: how far the controller has consumed the SQ.
    pub(crate) const fn sq_head(&self) -> u16 {
        u16::from_le(self.sq_head)
    }

    /// SQ Identifier of the queue the command came from.
    pub(crate) const fn sq_id(&self) -> u16 {
        u16::from_le(self.sq_id)
    }

    /// Command Identifier of the completed command.
    pub(crate) const fn command_id(&self) -> u16 {
        u16::from_le(self.command_id)
    }

    /// The raw 16-bit status word, phase tag included.
    pub(crate) const fn status_word(&self) -> u16 {
        u16::from_le(self.status)
    }

    /// Phase Tag (bit 0 of the status word).
    pub(crate) const fn phase(&self) -> bool {
        self.status_word() & 1 != 0
    }

    /// The 15-bit Status Field, without the phase tag; feed it to
    /// `status::Status::new`.
    pub(crate) const fn status_field(&self) -> u16 {
        self.status_word() >> 1
    }
}
