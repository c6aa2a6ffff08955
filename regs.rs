// SPDX-License-Identifier: GPL-2.0

//! NVMe controller registers in BAR0, declared with the kernel's `register!` macro.
//!
//! `register!` says where each register lives, how wide it is and where its fields are; the
//! host-tested value types in [`crate::nvme::regs`] (`Cap`, `Vs`, `Cc`, `Csts`, `Aqa`) stay the
//! reference for what the bits mean and are what the driver computes with: the KUnit suite
//! below checks that every field declared here reads the same as their decoders. Offsets and
//! fields follow the NVMe Base Specification, "Controller Registers".
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
    /// Controller Capabilities, low half (CAP bits 31:0).
    pub(crate) CAP_LO(u32) @ 0x00 {
        /// Timeout: worst time to become ready, in 500 ms units.
        31:24 to;
        /// Arbitration Mechanisms Supported.
        18:17 ams;
        /// Contiguous Queues Required.
        16:16 cqr => bool;
        /// Maximum Queue Entries Supported, 0's based.
        15:0 mqes;
    }

    /// Controller Capabilities, high half (CAP bits 63:32).
    pub(crate) CAP_HI(u32) @ 0x04 {
        /// Controller Memory Buffer Supported (CAP bit 57).
        25:25 cmbs => bool;
        /// Persistent Memory Region Supported (CAP bit 56).
        24:24 pmrs => bool;
        /// Memory Page Size Maximum (CAP bits 55:52): 2^(12 + MPSMAX).
        23:20 mpsmax;
        /// Memory Page Size Minimum (CAP bits 51:48): 2^(12 + MPSMIN).
        19:16 mpsmin;
        /// Boot Partition Support (CAP bit 45).
        13:13 bps => bool;
        /// Command Sets Supported (CAP bits 44:37).
        12:5 css;
        /// NVM Subsystem Reset Supported (CAP bit 36).
        4:4 nssrs => bool;
        /// Doorbell Stride (CAP bits 35:32): 2^(2 + DSTRD) bytes.
        3:0 dstrd;
    }

    /// Version.
    pub(crate) VS(u32) @ 0x08 {
        /// Major Version Number.
        31:16 mjr;
        /// Minor Version Number.
        15:8 mnr;
        /// Tertiary Version Number.
        7:0 ter;
    }

    /// Interrupt Mask Set.
    pub(crate) INTMS(u32) @ 0x0c {
        31:0 ivms;
    }

    /// Controller Configuration.
    pub(crate) CC(u32) @ 0x14 {
        /// I/O Completion Queue Entry Size (log2).
        23:20 iocqes;
        /// I/O Submission Queue Entry Size (log2).
        19:16 iosqes;
        /// Shutdown Notification.
        15:14 shn;
        /// Arbitration Mechanism Selected.
        13:11 ams;
        /// Memory Page Size: 2^(12 + MPS).
        10:7 mps;
        /// I/O Command Set Selected.
        6:4 css;
        /// Enable.
        0:0 en => bool;
    }

    /// Controller Status.
    pub(crate) CSTS(u32) @ 0x1c {
        /// Shutdown Status.
        3:2 shst;
        /// Controller Fatal Status.
        1:1 cfs => bool;
        /// Ready.
        0:0 rdy => bool;
    }

    /// Admin Queue Attributes.
    pub(crate) AQA(u32) @ 0x24 {
        /// Admin Completion Queue Size, 0's based.
        27:16 acqs;
        /// Admin Submission Queue Size, 0's based.
        11:0 asqs;
    }

    /// Admin Submission Queue Base Address, low half.
    pub(crate) ASQ_LO(u32) @ 0x28 {
        31:0 asqb;
    }

    /// Admin Submission Queue Base Address, high half.
    pub(crate) ASQ_HI(u32) @ 0x2c {
        31:0 asqb;
    }

    /// Admin Completion Queue Base Address, low half.
    pub(crate) ACQ_LO(u32) @ 0x30 {
        31:0 acqb;
    }

    /// Admin Completion Queue Base Address, high half.
    pub(crate) ACQ_HI(u32) @ 0x34 {
        31:0 acqb;
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

#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
use kernel::prelude::kunit_tests;

/// The fields declared with `register!` against the host-tested decoders of `nvme::regs`, over
/// values with every field at its extremes and a few mixed ones.
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
#[kunit_tests(rust_nvme_regs)]
mod kunit_tests {
    use super::*;
    use spec::{
        Aqa,
        Cap,
        Cc,
        Csts,
        Shn,
        Vs, //
    };

    /// Register values to decode both ways.
    const VALUES: [u32; 8] = [
        0,
        u32::MAX,
        0x5555_5555,
        0xaaaa_aaaa,
        0x0f0f_0f0f,
        0xf0f0_f0f0,
        0x1234_5678,
        0x8765_4321,
    ];

    #[test]
    fn cap_fields_match_the_decoder() {
        for lo in VALUES {
            for hi in VALUES {
                let cap = Cap(u64::from(lo) | (u64::from(hi) << 32));
                let (l, h) = (CAP_LO::from_raw(lo), CAP_HI::from_raw(hi));
                assert_eq!(u32::from(l.mqes().get()), u32::from(cap.mqes()));
                assert_eq!(l.cqr(), cap.cqr());
                assert_eq!(u32::from(l.ams().get()), u32::from(cap.ams()));
                assert_eq!(u32::from(l.to().get()), u32::from(cap.to()));
                assert_eq!(u32::from(h.dstrd().get()), u32::from(cap.dstrd()));
                assert_eq!(h.nssrs(), cap.nssrs());
                assert_eq!(u32::from(h.css().get()), u32::from(cap.css()));
                assert_eq!(h.bps(), cap.bps());
                assert_eq!(u32::from(h.mpsmin().get()), u32::from(cap.mpsmin()));
                assert_eq!(u32::from(h.mpsmax().get()), u32::from(cap.mpsmax()));
                assert_eq!(h.pmrs(), cap.pmrs());
                assert_eq!(h.cmbs(), cap.cmbs());
            }
        }
    }

    #[test]
    fn vs_cc_csts_aqa_fields_match_the_decoders() {
        for v in VALUES {
            let vs = VS::from_raw(v);
            assert_eq!(u32::from(vs.mjr().get()), u32::from(Vs(v).major()));
            assert_eq!(u32::from(vs.mnr().get()), u32::from(Vs(v).minor()));
            assert_eq!(u32::from(vs.ter().get()), u32::from(Vs(v).tertiary()));
            let cc = CC::from_raw(v);
            assert_eq!(cc.en(), Cc(v).enable());
            assert_eq!(u32::from(cc.css().get()), u32::from(Cc(v).css()));
            assert_eq!(u32::from(cc.mps().get()), u32::from(Cc(v).mps()));
            assert_eq!(u32::from(cc.ams().get()), u32::from(Cc(v).ams()));
            assert_eq!(u32::from(cc.shn().get()), u32::from(Cc(v).shn()));
            assert_eq!(u32::from(cc.iosqes().get()), u32::from(Cc(v).iosqes()));
            assert_eq!(u32::from(cc.iocqes().get()), u32::from(Cc(v).iocqes()));
            let csts = CSTS::from_raw(v);
            assert_eq!(csts.rdy(), Csts(v).rdy());
            assert_eq!(csts.cfs(), Csts(v).cfs());
            assert_eq!(u32::from(csts.shst().get()), Csts(v).shst() as u32);
            let aqa = AQA::from_raw(v);
            let depth = (v & 0xfff) + 1;
            assert_eq!(
                AQA::from_raw(Aqa::new(depth, depth)).asqs().get(),
                v & 0xfff
            );
            assert_eq!(u32::from(aqa.acqs().get()), (v >> 16) & 0xfff);
        }
        // What the driver writes reads back through the fields as meant.
        let cc = CC::from_raw(Cc::nvm_io(12).with_shn(Shn::Normal).0);
        assert!(cc.en());
        assert_eq!(cc.mps().get(), 0);
        assert_eq!(cc.iosqes().get(), 6);
        assert_eq!(cc.iocqes().get(), 4);
        assert_eq!(cc.shn().get(), 1);
    }
}
