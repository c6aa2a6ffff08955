// SPDX-License-Identifier: GPL-2.0

//! NVMe controller registers in BAR0, declared with the kernel's `register!` macro.
//!
//! `register!` says where each register lives and how wide it is; what the bits mean is decoded
//! by the host-tested value types in [`crate::nvme::regs`], so each layout is written once.
//! Offsets follow the NVMe Base Specification, "Controller Registers".
//!
//! The 64-bit registers (CAP, ASQ, ACQ) are accessed as two 32-bit halves, low half first: the
//! kernel's `Io` regions guarantee 4-byte alignment only, and the specification allows 32-bit
//! accesses to them.

use kernel::io::register;

use crate::nvme::regs as spec;

/// Smallest BAR0 the driver accepts: the register file plus the admin queue doorbells at the
/// smallest stride. I/O queue doorbells are checked against the real BAR size at run time.
pub(crate) const BAR0_MIN: usize = spec::DOORBELL_BASE + 8;

register! {
    /// Controller Capabilities, low half.
    pub(crate) CAP_LO(u32) @ 0x00 {
        31:0 value;
    }

    /// Controller Capabilities, high half.
    pub(crate) CAP_HI(u32) @ 0x04 {
        31:0 value;
    }

    /// Version.
    pub(crate) VS(u32) @ 0x08 {
        31:0 value;
    }

    /// Interrupt Mask Set.
    pub(crate) INTMS(u32) @ 0x0c {
        31:0 value;
    }

    /// Controller Configuration.
    pub(crate) CC(u32) @ 0x14 {
        31:0 value;
    }

    /// Controller Status.
    pub(crate) CSTS(u32) @ 0x1c {
        31:0 value;
    }

    /// Admin Queue Attributes.
    pub(crate) AQA(u32) @ 0x24 {
        31:0 value;
    }

    /// Admin Submission Queue Base Address, low half.
    pub(crate) ASQ_LO(u32) @ 0x28 {
        31:0 value;
    }

    /// Admin Submission Queue Base Address, high half.
    pub(crate) ASQ_HI(u32) @ 0x2c {
        31:0 value;
    }

    /// Admin Completion Queue Base Address, low half.
    pub(crate) ACQ_LO(u32) @ 0x30 {
        31:0 value;
    }

    /// Admin Completion Queue Base Address, high half.
    pub(crate) ACQ_HI(u32) @ 0x34 {
        31:0 value;
    }
}

// The offsets above are the specification's, as recorded (and host-tested) in `nvme::regs`.
const _: () = {
    use kernel::io::register::Register;
    assert!(CAP_LO::OFFSET == spec::CAP);
    assert!(CAP_HI::OFFSET == spec::CAP + 4);
    assert!(VS::OFFSET == spec::VS);
    assert!(INTMS::OFFSET == spec::INTMS);
    assert!(CC::OFFSET == spec::CC);
    assert!(CSTS::OFFSET == spec::CSTS);
    assert!(AQA::OFFSET == spec::AQA);
    assert!(ASQ_LO::OFFSET == spec::ASQ);
    assert!(ASQ_HI::OFFSET == spec::ASQ + 4);
    assert!(ACQ_LO::OFFSET == spec::ACQ);
    assert!(ACQ_HI::OFFSET == spec::ACQ + 4);
};
