// SPDX-License-Identifier: GPL-2.0

//! The Commands Supported and Effects log (log page 05h, NVMe Base Specification 2.0,
//! "Commands Supported and Effects"): for each admin and I/O opcode, whether the controller
//! supports it and what it may change. The passthrough ioctls decide from it who may send a
//! command and whether I/O must be frozen and the namespaces revalidated around it.

/// Log identifier of the Commands Supported and Effects log.
pub(crate) const LOG_CMD_EFFECTS: u8 = 0x05;
/// Bytes of the log: 256 admin and 256 I/O dwords, then reserved space.
pub(crate) const LOG_SIZE: usize = 4096;
/// Identify Controller LPA bit 1: the controller has the log.
pub(crate) const LPA_CMD_EFFECTS: u8 = 1 << 1;

/// Command Supported.
pub(crate) const CSUPP: u32 = 1 << 0;
/// Logical Block Content Change.
pub(crate) const LBCC: u32 = 1 << 1;
/// Namespace Capability Change.
pub(crate) const NCC: u32 = 1 << 2;
/// Namespace Inventory Change.
pub(crate) const NIC: u32 = 1 << 3;
/// Controller Capability Change.
pub(crate) const CCC: u32 = 1 << 4;
/// Command Submission and Execution Relaxations.
pub(crate) const CSER_MASK: u32 = 0b11 << 14;
/// Command Submission and Execution: the command must run alone (per namespace or
/// controller).
pub(crate) const CSE_MASK: u32 = 0b111 << 16;
/// UUID Selection Supported.
pub(crate) const UUID_SEL: u32 = 1 << 19;
/// Command Scope.
pub(crate) const SCOPE_MASK: u32 = 0xfff << 20;

/// Effects an unprivileged I/O command may have: none but changing block contents (which
/// needs a descriptor open for writing), and the informational bits.
pub(crate) const HARMLESS: u32 = CSUPP | LBCC | UUID_SEL | SCOPE_MASK;

/// Admin opcodes whose effects the driver knows whatever the log says.
mod admin_op {
    pub(super) const NS_MGMT: u8 = 0x0d;
    pub(super) const NS_ATTACH: u8 = 0x15;
    pub(super) const FORMAT_NVM: u8 = 0x80;
    pub(super) const SECURITY_RECV: u8 = 0x82;
    pub(super) const SANITIZE: u8 = 0x84;
}

/// I/O opcodes that change block contents whatever the log says.
const IO_LBCC: [u8; 3] = [0x01, 0x04, 0x08];

/// The effects of every opcode, as the controller reports them plus what the driver knows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Effects {
    /// Admin opcodes.
    acs: [u32; 256],
    /// I/O opcodes of the NVM command set.
    iocs: [u32; 256],
    /// The controller gave the log (without it, no I/O command is open to unprivileged users).
    reported: bool,
}

impl Effects {
    /// What the driver knows without a log: the effects of Format NVM, Sanitize, namespace
    /// management and attachment, and which I/O commands change block contents. No command is
    /// marked supported.
    pub(crate) fn known() -> Self {
        let mut e = Self {
            acs: [0; 256],
            iocs: [0; 256],
            reported: false,
        };
        e.add_known();
        e
    }

    /// Parses the log as the controller wrote it, and adds what the driver knows.
    pub(crate) fn parse(b: &[u8; LOG_SIZE]) -> Self {
        let mut e = Self {
            acs: [0; 256],
            iocs: [0; 256],
            reported: true,
        };
        for (i, d) in b[..2048].chunks_exact(4).enumerate() {
            let v = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            if i < 256 {
                e.acs[i] = v;
            } else {
                e.iocs[i - 256] = v;
            }
        }
        e.add_known();
        e
    }

    /// The driver's own knowledge, as Linux's `nvme_init_known_nvm_effects()` has it, and
    /// namespace management and attachment as inventory changes (the C driver relies on the
    /// controller's log for those).
    fn add_known(&mut self) {
        let a = &mut self.acs;
        a[usize::from(admin_op::FORMAT_NVM)] |= LBCC | NCC | CSE_MASK;
        a[usize::from(admin_op::SANITIZE)] |= LBCC | CSE_MASK;
        a[usize::from(admin_op::NS_MGMT)] |= NIC;
        a[usize::from(admin_op::NS_ATTACH)] |= NIC;
        // Its execution restriction concerns the admin queue only; freezing I/O for it helps
        // nothing.
        a[usize::from(admin_op::SECURITY_RECV)] &= !CSE_MASK;
        for op in IO_LBCC {
            self.iocs[usize::from(op)] |= LBCC;
        }
    }

    /// Whether the controller gave the log.
    pub(crate) fn reported(&self) -> bool {
        self.reported
    }

    /// Effects of admin `opcode`; execution restrictions are ignored when a relaxation is set.
    pub(crate) fn admin(&self, opcode: u8) -> u32 {
        let e = self.acs[usize::from(opcode)];
        if e & CSER_MASK != 0 {
            e & !CSE_MASK
        } else {
            e
        }
    }

    /// Effects of I/O `opcode`.
    pub(crate) fn io(&self, opcode: u8) -> u32 {
        self.iocs[usize::from(opcode)]
    }
}

/// Whether a command with effects `e` must run with I/O to every namespace frozen.
pub(crate) const fn needs_freeze(e: u32) -> bool {
    e & CSE_MASK != 0
}

/// Whether a command with effects `e` may change the namespaces' formats, capacities or
/// inventory, so that they must be revalidated after it.
pub(crate) const fn needs_revalidate(e: u32) -> bool {
    e & (NCC | NIC | CSE_MASK) != 0
}
