// SPDX-License-Identifier: GPL-2.0

//! NVMe controller registers (NVMe Base Specification, "Controller Registers").
//!
//! This file holds the register offsets in BAR0 and small value types that
//! decode what was read from a register or encode what is to be written to
//! one. It does no MMIO itself: the kernel side reads the raw value and wraps
//! it in [`Cap`], [`Vs`], [`Csts`], or builds a [`Cc`] and writes its `.0`.

/// Controller Capabilities (64-bit).
pub(crate) const CAP: usize = 0x00;
/// Version (32-bit).
pub(crate) const VS: usize = 0x08;
/// Interrupt Mask Set (32-bit).
pub(crate) const INTMS: usize = 0x0c;
/// Interrupt Mask Clear (32-bit).
pub(crate) const INTMC: usize = 0x10;
/// Controller Configuration (32-bit).
pub(crate) const CC: usize = 0x14;
/// Controller Status (32-bit).
pub(crate) const CSTS: usize = 0x1c;
/// NVM Subsystem Reset (32-bit).
pub(crate) const NSSR: usize = 0x20;
/// Admin Queue Attributes (32-bit).
pub(crate) const AQA: usize = 0x24;
/// Admin Submission Queue Base Address (64-bit).
pub(crate) const ASQ: usize = 0x28;
/// Admin Completion Queue Base Address (64-bit).
pub(crate) const ACQ: usize = 0x30;
/// Controller Memory Buffer Location (32-bit).
pub(crate) const CMBLOC: usize = 0x38;
/// Controller Memory Buffer Size (32-bit).
pub(crate) const CMBSZ: usize = 0x3c;
/// Offset of the first doorbell register (admin submission queue tail).
pub(crate) const DOORBELL_BASE: usize = 0x1000;

/// Value written to NSSR to start an NVM subsystem reset ("NVMe" in ASCII).
pub(crate) const NSSR_RESET: u32 = 0x4e56_4d65;

/// Controller memory page shift the driver uses (CC.MPS = 0: 4 KiB pages), for queues, PRPs
/// and SGL list pages.
pub(crate) const CTRL_PAGE_SHIFT: u32 = 12;

/// Extracts `width` bits of `v` starting at bit `shift`.
const fn bits64(v: u64, shift: u32, width: u32) -> u64 {
    (v >> shift) & ((1u64 << width) - 1)
}

/// Extracts `width` bits of `v` starting at bit `shift`.
const fn bits32(v: u32, shift: u32, width: u32) -> u32 {
    (v >> shift) & ((1u32 << width) - 1)
}

/// Controller Capabilities register (CAP, offset 0x00), as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cap(pub(crate) u64);

impl Cap {
    /// Maximum Queue Entries Supported (bits 15:0), raw and 0-based.
    pub(crate) const fn mqes(self) -> u16 {
        // CAST: the field is 16 bits wide, the mask keeps only those.
        bits64(self.0, 0, 16) as u16
    }

    /// Largest number of entries an I/O queue may have (MQES + 1).
    pub(crate) const fn max_queue_entries(self) -> u32 {
        self.mqes() as u32 + 1
    }

    /// Contiguous Queues Required (bit 16).
    pub(crate) const fn cqr(self) -> bool {
        bits64(self.0, 16, 1) != 0
    }

    /// Arbitration Mechanism Supported (bits 18:17).
    pub(crate) const fn ams(self) -> u8 {
        // CAST: 2-bit field.
        bits64(self.0, 17, 2) as u8
    }

    /// Timeout (bits 31:24), raw, in units of 500 milliseconds.
    ///
    /// This is the worst-case time to wait for CSTS.RDY to change after
    /// CC.EN changes.
    pub(crate) const fn to(self) -> u8 {
        // CAST: 8-bit field.
        bits64(self.0, 24, 8) as u8
    }

    /// The ready timeout in milliseconds.
    ///
    /// A raw value of 0 is treated as 1 (500 ms) so that callers never wait
    /// for zero time.
    pub(crate) const fn timeout_ms(self) -> u32 {
        let to = self.to() as u32;
        let to = if to == 0 { 1 } else { to };
        to * 500
    }

    /// Doorbell Stride (bits 35:32), raw: the stride is `4 << dstrd` bytes.
    pub(crate) const fn dstrd(self) -> u8 {
        // CAST: 4-bit field.
        bits64(self.0, 32, 4) as u8
    }

    /// Distance in bytes between two consecutive doorbell registers.
    pub(crate) const fn doorbell_stride(self) -> usize {
        4usize << self.dstrd()
    }

    /// NVM Subsystem Reset Supported (bit 36).
    pub(crate) const fn nssrs(self) -> bool {
        bits64(self.0, 36, 1) != 0
    }

    /// Command Sets Supported (bits 44:37), raw bit mask.
    ///
    /// Bit 0 is the NVM command set, bit 6 means one or more I/O command sets
    /// are supported (CC.CSS = 110b), bit 7 means only the admin command set
    /// is supported.
    pub(crate) const fn css(self) -> u8 {
        // CAST: 8-bit field.
        bits64(self.0, 37, 8) as u8
    }

    /// Whether all supported I/O command sets can be selected together (CSS bit 6).
    pub(crate) const fn css_iocs(self) -> bool {
        self.css() & CAP_CSS_IOCS != 0
    }

    /// Whether the NVM command set is supported (CSS bit 0).
    pub(crate) const fn css_nvm(self) -> bool {
        self.css() & CAP_CSS_NVM != 0
    }

    /// Boot Partition Support (bit 45).
    pub(crate) const fn bps(self) -> bool {
        bits64(self.0, 45, 1) != 0
    }

    /// Memory Page Size Minimum (bits 51:48), raw: the size is `2^(12 + mpsmin)`.
    pub(crate) const fn mpsmin(self) -> u8 {
        // CAST: 4-bit field.
        bits64(self.0, 48, 4) as u8
    }

    /// Memory Page Size Maximum (bits 55:52), raw: the size is `2^(12 + mpsmax)`.
    pub(crate) const fn mpsmax(self) -> u8 {
        // CAST: 4-bit field.
        bits64(self.0, 52, 4) as u8
    }

    /// log2 of the smallest memory page size the controller supports.
    pub(crate) const fn min_page_shift(self) -> u32 {
        12 + self.mpsmin() as u32
    }

    /// log2 of the largest memory page size the controller supports.
    pub(crate) const fn max_page_shift(self) -> u32 {
        12 + self.mpsmax() as u32
    }

    /// Persistent Memory Region Supported (bit 56).
    pub(crate) const fn pmrs(self) -> bool {
        bits64(self.0, 56, 1) != 0
    }

    /// Controller Memory Buffer Supported (bit 57).
    pub(crate) const fn cmbs(self) -> bool {
        bits64(self.0, 57, 1) != 0
    }
}

/// CAP.CSS bit: NVM command set supported.
pub(crate) const CAP_CSS_NVM: u8 = 1 << 0;
/// CAP.CSS bit: one or more I/O command sets supported (CC.CSS = 110b).
pub(crate) const CAP_CSS_IOCS: u8 = 1 << 6;
/// CAP.CSS bit: only the admin command set supported (no I/O command set).
pub(crate) const CAP_CSS_ADMIN_ONLY: u8 = 1 << 7;

/// Version register (VS, offset 0x08), as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Vs(pub(crate) u32);

impl Vs {
    /// Builds the value a controller of version `major.minor.tertiary` reports.
    pub(crate) const fn new(major: u16, minor: u8, tertiary: u8) -> Self {
        Self(((major as u32) << 16) | ((minor as u32) << 8) | tertiary as u32)
    }

    /// Major Version Number (bits 31:16).
    pub(crate) const fn major(self) -> u16 {
        // CAST: the shift leaves exactly 16 bits.
        (self.0 >> 16) as u16
    }

    /// Minor Version Number (bits 15:8).
    pub(crate) const fn minor(self) -> u8 {
        // CAST: 8-bit field.
        bits32(self.0, 8, 8) as u8
    }

    /// Tertiary Version Number (bits 7:0).
    pub(crate) const fn tertiary(self) -> u8 {
        // CAST: 8-bit field.
        bits32(self.0, 0, 8) as u8
    }
}

impl core::fmt::Display for Vs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}.{}", self.major(), self.minor(), self.tertiary())
    }
}

/// CC.CSS value: NVM command set.
pub(crate) const CC_CSS_NVM: u8 = 0;
/// CC.CSS value: all supported I/O command sets (needs CAP.CSS bit 6).
pub(crate) const CC_CSS_CSI: u8 = 6;
/// CC.CSS value: admin command set only.
pub(crate) const CC_CSS_ADMIN_ONLY: u8 = 7;

/// CC.AMS value: round robin arbitration.
pub(crate) const CC_AMS_RR: u8 = 0;

/// Shutdown Notification values for CC.SHN (bits 15:14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shn {
    /// No notification, no effect.
    None = 0,
    /// Normal shutdown notification.
    Normal = 1,
    /// Abrupt shutdown notification.
    Abrupt = 2,
}

impl Shn {
    /// The 2-bit field value.
    const fn bits(self) -> u32 {
        match self {
            Shn::None => 0,
            Shn::Normal => 1,
            Shn::Abrupt => 2,
        }
    }
}

/// Controller Configuration register (CC, offset 0x14): builder and decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Cc(pub(crate) u32);

impl Cc {
    const EN_SHIFT: u32 = 0;
    const CSS_SHIFT: u32 = 4;
    const MPS_SHIFT: u32 = 7;
    const AMS_SHIFT: u32 = 11;
    const SHN_SHIFT: u32 = 14;
    const IOSQES_SHIFT: u32 = 16;
    const IOCQES_SHIFT: u32 = 20;

    /// An all-zero CC (controller disabled).
    pub(crate) const fn new() -> Self {
        Self(0)
    }

    /// Replaces `width` bits at `shift` with `val`.
    const fn with_field(self, shift: u32, width: u32, val: u32) -> Self {
        let mask = ((1u32 << width) - 1) << shift;
        Self((self.0 & !mask) | ((val << shift) & mask))
    }

    /// Sets or clears Enable (bit 0).
    pub(crate) const fn with_enable(self, en: bool) -> Self {
        self.with_field(Self::EN_SHIFT, 1, en as u32)
    }

    /// Sets I/O Command Set Selected (bits 6:4).
    pub(crate) const fn with_css(self, css: u8) -> Self {
        self.with_field(Self::CSS_SHIFT, 3, css as u32)
    }

    /// Sets Memory Page Size (bits 10:7) from a page shift (12 = 4 KiB).
    ///
    /// The register holds `page_shift - 12`; shifts below 12 encode as 0.
    pub(crate) const fn with_mps(self, page_shift: u32) -> Self {
        self.with_field(Self::MPS_SHIFT, 4, page_shift.saturating_sub(12))
    }

    /// Sets Arbitration Mechanism Selected (bits 13:11).
    pub(crate) const fn with_ams(self, ams: u8) -> Self {
        self.with_field(Self::AMS_SHIFT, 3, ams as u32)
    }

    /// Sets Shutdown Notification (bits 15:14).
    pub(crate) const fn with_shn(self, shn: Shn) -> Self {
        self.with_field(Self::SHN_SHIFT, 2, shn.bits())
    }

    /// Sets I/O Submission Queue Entry Size (bits 19:16), as log2 of bytes.
    pub(crate) const fn with_iosqes(self, log2: u8) -> Self {
        self.with_field(Self::IOSQES_SHIFT, 4, log2 as u32)
    }

    /// Sets I/O Completion Queue Entry Size (bits 23:20), as log2 of bytes.
    pub(crate) const fn with_iocqes(self, log2: u8) -> Self {
        self.with_field(Self::IOCQES_SHIFT, 4, log2 as u32)
    }

    /// The configuration used to run the NVM command set: NVM CSS, round
    /// robin arbitration, 64-byte SQ entries, 16-byte CQ entries, memory
    /// page size `1 << page_shift`, enabled.
    pub(crate) const fn nvm_io(page_shift: u32) -> Self {
        Self::new()
            .with_css(CC_CSS_NVM)
            .with_mps(page_shift)
            .with_ams(CC_AMS_RR)
            .with_shn(Shn::None)
            .with_iosqes(super::cmd::SQ_ENTRY_SHIFT)
            .with_iocqes(super::cmd::CQ_ENTRY_SHIFT)
            .with_enable(true)
    }

    /// The configuration to run I/O with, for a controller whose CAP.CSS is `cap_css`: as
    /// [`Cc::nvm_io`], but with all supported I/O command sets selected (CC.CSS = 110b) when
    /// the controller offers that (CAP.CSS bit 6), as C does, so that namespaces of other
    /// command sets (zoned) are attached and report their command set.
    pub(crate) const fn io(page_shift: u32, cap_css: u8) -> Self {
        let css = if cap_css & CAP_CSS_IOCS != 0 {
            CC_CSS_CSI
        } else {
            CC_CSS_NVM
        };
        Self::nvm_io(page_shift).with_css(css)
    }

    /// Enable (bit 0).
    pub(crate) const fn enable(self) -> bool {
        bits32(self.0, Self::EN_SHIFT, 1) != 0
    }

    /// I/O Command Set Selected (bits 6:4).
    pub(crate) const fn css(self) -> u8 {
        // CAST: 3-bit field.
        bits32(self.0, Self::CSS_SHIFT, 3) as u8
    }

    /// Memory Page Size (bits 10:7), raw: the page size is `2^(12 + mps)`.
    pub(crate) const fn mps(self) -> u8 {
        // CAST: 4-bit field.
        bits32(self.0, Self::MPS_SHIFT, 4) as u8
    }

    /// Arbitration Mechanism Selected (bits 13:11).
    pub(crate) const fn ams(self) -> u8 {
        // CAST: 3-bit field.
        bits32(self.0, Self::AMS_SHIFT, 3) as u8
    }

    /// Shutdown Notification (bits 15:14), raw (3 is reserved).
    pub(crate) const fn shn(self) -> u8 {
        // CAST: 2-bit field.
        bits32(self.0, Self::SHN_SHIFT, 2) as u8
    }

    /// I/O Submission Queue Entry Size (bits 19:16), log2 of bytes.
    pub(crate) const fn iosqes(self) -> u8 {
        // CAST: 4-bit field.
        bits32(self.0, Self::IOSQES_SHIFT, 4) as u8
    }

    /// I/O Completion Queue Entry Size (bits 23:20), log2 of bytes.
    pub(crate) const fn iocqes(self) -> u8 {
        // CAST: 4-bit field.
        bits32(self.0, Self::IOCQES_SHIFT, 4) as u8
    }
}

/// Shutdown Status values of CSTS.SHST (bits 3:2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shst {
    /// Normal operation, no shutdown requested.
    Normal,
    /// Shutdown processing occurring.
    Occurring,
    /// Shutdown processing complete.
    Complete,
    /// Reserved encoding (11b).
    Reserved,
}

/// Controller Status register (CSTS, offset 0x1c), as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Csts(pub(crate) u32);

impl Csts {
    /// Whether the read returned all ones, i.e. the device is no longer
    /// responding (surprise removal, dead link). Other accessors are
    /// meaningless in that case.
    pub(crate) const fn is_gone(self) -> bool {
        self.0 == u32::MAX
    }

    /// Ready (bit 0).
    pub(crate) const fn rdy(self) -> bool {
        bits32(self.0, 0, 1) != 0
    }

    /// Controller Fatal Status (bit 1).
    pub(crate) const fn cfs(self) -> bool {
        bits32(self.0, 1, 1) != 0
    }

    /// Shutdown Status (bits 3:2).
    pub(crate) const fn shst(self) -> Shst {
        match bits32(self.0, 2, 2) {
            0 => Shst::Normal,
            1 => Shst::Occurring,
            2 => Shst::Complete,
            _ => Shst::Reserved,
        }
    }

    /// NVM Subsystem Reset Occurred (bit 4).
    pub(crate) const fn nssro(self) -> bool {
        bits32(self.0, 4, 1) != 0
    }

    /// Processing Paused (bit 5).
    pub(crate) const fn pp(self) -> bool {
        bits32(self.0, 5, 1) != 0
    }
}

/// Admin Queue Attributes register (AQA, offset 0x24) encoder.
pub(crate) struct Aqa;

impl Aqa {
    /// Encodes the admin queue sizes (number of entries, 1-based, 2..=4096)
    /// as the register wants them: 0-based ASQS in bits 11:0 and 0-based
    /// ACQS in bits 27:16.
    // Returns the raw register value, ready for a 32-bit MMIO write.
    #[allow(
        clippy::new_ret_no_self,
        reason = "an encoder returning the raw register value"
    )]
    pub(crate) const fn new(asq_entries: u32, acq_entries: u32) -> u32 {
        let asqs = asq_entries.saturating_sub(1) & 0xfff;
        let acqs = acq_entries.saturating_sub(1) & 0xfff;
        (acqs << 16) | asqs
    }
}

/// Offset in BAR0 of the Submission Queue `qid` Tail Doorbell.
pub(crate) const fn sq_tail_db(qid: u16, dstrd: u8) -> usize {
    DOORBELL_BASE + (2 * qid as usize) * (4usize << dstrd)
}

/// Offset in BAR0 of the Completion Queue `qid` Head Doorbell.
pub(crate) const fn cq_head_db(qid: u16, dstrd: u8) -> usize {
    DOORBELL_BASE + (2 * qid as usize + 1) * (4usize << dstrd)
}

/// Bytes of BAR0 that must be mapped to reach every doorbell of queues
/// `0..nr_queues` (admin queue included): the end of the last CQ head
/// doorbell. Returns [`DOORBELL_BASE`] for `nr_queues == 0`.
pub(crate) const fn bar_size_needed(nr_queues: u16, dstrd: u8) -> usize {
    if nr_queues == 0 {
        DOORBELL_BASE
    } else {
        cq_head_db(nr_queues - 1, dstrd) + 4
    }
}
