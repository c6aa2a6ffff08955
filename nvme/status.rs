// SPDX-License-Identifier: GPL-2.0

//! Decoding of the NVMe completion Status Field.
//!
//! [`Status`] wraps the 15-bit Status Field of a completion queue entry (the
//! status word without its phase tag) and splits it into Status Code Type,
//! Status Code, Command Retry Delay, More and Do Not Retry. It also maps a
//! status to the block-layer error class the kernel side reports
//! ([`BlkErr`]), tells whether retrying makes sense, and gives a short
//! human-readable name for log messages. Code values are those of the NVMe
//! Base Specification and the NVM Command Set Specification.

/// Status Code Type 0h: Generic Command Status.
pub(crate) const SCT_GENERIC: u8 = 0x0;
/// Status Code Type 1h: Command Specific Status.
pub(crate) const SCT_CMD_SPECIFIC: u8 = 0x1;
/// Status Code Type 2h: Media and Data Integrity Errors.
pub(crate) const SCT_MEDIA: u8 = 0x2;
/// Status Code Type 3h: Path Related Status.
pub(crate) const SCT_PATH: u8 = 0x3;
/// Status Code Type 7h: Vendor Specific.
pub(crate) const SCT_VENDOR: u8 = 0x7;

/// Generic Command Status codes (SCT 0h).
pub(crate) mod generic {
    /// Successful Completion.
    pub(crate) const SUCCESS: u8 = 0x00;
    /// Invalid Command Opcode.
    pub(crate) const INVALID_OPCODE: u8 = 0x01;
    /// Invalid Field in Command.
    pub(crate) const INVALID_FIELD: u8 = 0x02;
    /// Command ID Conflict.
    pub(crate) const CMDID_CONFLICT: u8 = 0x03;
    /// Data Transfer Error.
    pub(crate) const DATA_XFER_ERROR: u8 = 0x04;
    /// Commands Aborted due to Power Loss Notification.
    pub(crate) const POWER_LOSS: u8 = 0x05;
    /// Internal Error.
    pub(crate) const INTERNAL: u8 = 0x06;
    /// Command Abort Requested.
    pub(crate) const ABORT_REQ: u8 = 0x07;
    /// Command Aborted due to SQ Deletion.
    pub(crate) const ABORT_QUEUE: u8 = 0x08;
    /// Command Aborted due to Failed Fused Command.
    pub(crate) const FUSED_FAIL: u8 = 0x09;
    /// Command Aborted due to Missing Fused Command.
    pub(crate) const FUSED_MISSING: u8 = 0x0a;
    /// Invalid Namespace or Format.
    pub(crate) const INVALID_NS: u8 = 0x0b;
    /// Command Sequence Error.
    pub(crate) const CMD_SEQ_ERROR: u8 = 0x0c;
    /// Invalid SGL Segment Descriptor.
    pub(crate) const SGL_INVALID_LAST: u8 = 0x0d;
    /// Invalid Number of SGL Descriptors.
    pub(crate) const SGL_INVALID_COUNT: u8 = 0x0e;
    /// Data SGL Length Invalid.
    pub(crate) const SGL_INVALID_DATA: u8 = 0x0f;
    /// Metadata SGL Length Invalid.
    pub(crate) const SGL_INVALID_METADATA: u8 = 0x10;
    /// SGL Descriptor Type Invalid.
    pub(crate) const SGL_INVALID_TYPE: u8 = 0x11;
    /// Invalid Use of Controller Memory Buffer.
    pub(crate) const CMB_INVALID_USE: u8 = 0x12;
    /// PRP Offset Invalid.
    pub(crate) const PRP_INVALID_OFFSET: u8 = 0x13;
    /// Atomic Write Unit Exceeded.
    pub(crate) const ATOMIC_WU_EXCEEDED: u8 = 0x14;
    /// Operation Denied.
    pub(crate) const OP_DENIED: u8 = 0x15;
    /// SGL Offset Invalid.
    pub(crate) const SGL_INVALID_OFFSET: u8 = 0x16;
    /// Host Identifier Inconsistent Format.
    pub(crate) const HOST_ID_INCONSIST: u8 = 0x18;
    /// Keep Alive Timer Expired.
    pub(crate) const KA_TIMEOUT_EXPIRED: u8 = 0x19;
    /// Keep Alive Timeout Invalid.
    pub(crate) const KA_TIMEOUT_INVALID: u8 = 0x1a;
    /// Command Aborted due to Preempt and Abort.
    pub(crate) const ABORTED_PREEMPT_ABORT: u8 = 0x1b;
    /// Sanitize Failed.
    pub(crate) const SANITIZE_FAILED: u8 = 0x1c;
    /// Sanitize In Progress.
    pub(crate) const SANITIZE_IN_PROGRESS: u8 = 0x1d;
    /// SGL Data Block Granularity Invalid.
    pub(crate) const SGL_INVALID_GRANULARITY: u8 = 0x1e;
    /// Command Not Supported for Queue in CMB.
    pub(crate) const CMD_NOT_SUP_CMB_QUEUE: u8 = 0x1f;
    /// Namespace is Write Protected.
    pub(crate) const NS_WRITE_PROTECTED: u8 = 0x20;
    /// Command Interrupted.
    pub(crate) const CMD_INTERRUPTED: u8 = 0x21;
    /// Transient Transport Error.
    pub(crate) const TRANSIENT_TR_ERR: u8 = 0x22;
    /// LBA Out of Range (NVM command set).
    pub(crate) const LBA_RANGE: u8 = 0x80;
    /// Capacity Exceeded (NVM command set).
    pub(crate) const CAP_EXCEEDED: u8 = 0x81;
    /// Namespace Not Ready (NVM command set).
    pub(crate) const NS_NOT_READY: u8 = 0x82;
    /// Reservation Conflict (NVM command set).
    pub(crate) const RESERVATION_CONFLICT: u8 = 0x83;
    /// Format In Progress (NVM command set).
    pub(crate) const FORMAT_IN_PROGRESS: u8 = 0x84;
}

/// Command Specific Status codes (SCT 1h).
pub(crate) mod cmd_specific {
    /// Completion Queue Invalid.
    pub(crate) const INVALID_CQ: u8 = 0x00;
    /// Invalid Queue Identifier.
    pub(crate) const INVALID_QID: u8 = 0x01;
    /// Invalid Queue Size.
    pub(crate) const QUEUE_SIZE: u8 = 0x02;
    /// Abort Command Limit Exceeded.
    pub(crate) const ABORT_LIMIT: u8 = 0x03;
    /// Asynchronous Event Request Limit Exceeded.
    pub(crate) const ASYNC_LIMIT: u8 = 0x05;
    /// Invalid Firmware Slot.
    pub(crate) const INVALID_FW_SLOT: u8 = 0x06;
    /// Invalid Firmware Image.
    pub(crate) const INVALID_FW_IMAGE: u8 = 0x07;
    /// Invalid Interrupt Vector.
    pub(crate) const INVALID_VECTOR: u8 = 0x08;
    /// Invalid Log Page.
    pub(crate) const INVALID_LOG_PAGE: u8 = 0x09;
    /// Invalid Format.
    pub(crate) const INVALID_FORMAT: u8 = 0x0a;
    /// Firmware Activation Requires Conventional Reset.
    pub(crate) const FW_NEEDS_CONV_RESET: u8 = 0x0b;
    /// Invalid Queue Deletion.
    pub(crate) const INVALID_QUEUE_DELETION: u8 = 0x0c;
    /// Feature Identifier Not Saveable.
    pub(crate) const FEATURE_NOT_SAVEABLE: u8 = 0x0d;
    /// Feature Not Changeable.
    pub(crate) const FEATURE_NOT_CHANGEABLE: u8 = 0x0e;
    /// Feature Not Namespace Specific.
    pub(crate) const FEATURE_NOT_PER_NS: u8 = 0x0f;
    /// Firmware Activation Requires NVM Subsystem Reset.
    pub(crate) const FW_NEEDS_SUBSYS_RESET: u8 = 0x10;
    /// Firmware Activation Requires Controller Level Reset.
    pub(crate) const FW_NEEDS_RESET: u8 = 0x11;
    /// Firmware Activation Requires Maximum Time Violation.
    pub(crate) const FW_NEEDS_MAX_TIME: u8 = 0x12;
    /// Firmware Activation Prohibited.
    pub(crate) const FW_ACTIVATE_PROHIBITED: u8 = 0x13;
    /// Overlapping Range.
    pub(crate) const OVERLAPPING_RANGE: u8 = 0x14;
    /// Namespace Insufficient Capacity.
    pub(crate) const NS_INSUFFICIENT_CAP: u8 = 0x15;
    /// Namespace Identifier Unavailable.
    pub(crate) const NS_ID_UNAVAILABLE: u8 = 0x16;
    /// Namespace Already Attached.
    pub(crate) const NS_ALREADY_ATTACHED: u8 = 0x18;
    /// Namespace Is Private.
    pub(crate) const NS_IS_PRIVATE: u8 = 0x19;
    /// Namespace Not Attached.
    pub(crate) const NS_NOT_ATTACHED: u8 = 0x1a;
    /// Thin Provisioning Not Supported.
    pub(crate) const THIN_PROV_NOT_SUPP: u8 = 0x1b;
    /// Controller List Invalid.
    pub(crate) const CTRL_LIST_INVALID: u8 = 0x1c;
    /// Device Self-test In Progress.
    pub(crate) const SELF_TEST_IN_PROGRESS: u8 = 0x1d;
    /// Boot Partition Write Prohibited.
    pub(crate) const BP_WRITE_PROHIBITED: u8 = 0x1e;
    /// Invalid Controller Identifier.
    pub(crate) const INVALID_CTRL_ID: u8 = 0x1f;
    /// Invalid Secondary Controller State.
    pub(crate) const INVALID_SEC_CTRL_STATE: u8 = 0x20;
    /// Invalid Number of Controller Resources.
    pub(crate) const INVALID_CTRL_RESOURCES: u8 = 0x21;
    /// Invalid Resource Identifier.
    pub(crate) const INVALID_RESOURCE_ID: u8 = 0x22;
    /// Sanitize Prohibited While Persistent Memory Region is Enabled.
    pub(crate) const PMR_SAN_PROHIBITED: u8 = 0x23;
    /// ANA Group Identifier Invalid.
    pub(crate) const ANA_GROUP_ID_INVALID: u8 = 0x24;
    /// ANA Attach Failed.
    pub(crate) const ANA_ATTACH_FAILED: u8 = 0x25;
    /// Conflicting Attributes (NVM command set: Dataset Management, Read,
    /// Write).
    pub(crate) const CONFLICTING_ATTRS: u8 = 0x80;
    /// Invalid Protection Information (NVM command set).
    pub(crate) const INVALID_PI: u8 = 0x81;
    /// Attempted Write to Read Only Range (NVM command set).
    pub(crate) const WRITE_TO_READ_ONLY: u8 = 0x82;
}

/// Media and Data Integrity Errors (SCT 2h).
pub(crate) mod media {
    /// Write Fault.
    pub(crate) const WRITE_FAULT: u8 = 0x80;
    /// Unrecovered Read Error.
    pub(crate) const READ_ERROR: u8 = 0x81;
    /// End-to-end Guard Check Error.
    pub(crate) const GUARD_CHECK: u8 = 0x82;
    /// End-to-end Application Tag Check Error.
    pub(crate) const APPTAG_CHECK: u8 = 0x83;
    /// End-to-end Reference Tag Check Error.
    pub(crate) const REFTAG_CHECK: u8 = 0x84;
    /// Compare Failure.
    pub(crate) const COMPARE_FAILED: u8 = 0x85;
    /// Access Denied.
    pub(crate) const ACCESS_DENIED: u8 = 0x86;
    /// Deallocated or Unwritten Logical Block.
    pub(crate) const UNWRITTEN_BLOCK: u8 = 0x87;
}

/// Path Related Status (SCT 3h).
pub(crate) mod path {
    /// Internal Path Error.
    pub(crate) const INTERNAL_PATH_ERROR: u8 = 0x00;
    /// Asymmetric Access Persistent Loss.
    pub(crate) const ANA_PERSISTENT_LOSS: u8 = 0x01;
    /// Asymmetric Access Inaccessible.
    pub(crate) const ANA_INACCESSIBLE: u8 = 0x02;
    /// Asymmetric Access Transition.
    pub(crate) const ANA_TRANSITION: u8 = 0x03;
    /// Controller Pathing Error.
    pub(crate) const CTRL_PATH_ERROR: u8 = 0x60;
    /// Host Pathing Error.
    pub(crate) const HOST_PATH_ERROR: u8 = 0x70;
    /// Command Aborted By Host.
    pub(crate) const HOST_ABORTED_CMD: u8 = 0x71;
}

/// Block-layer error class of a completion; the kernel side turns each into
/// the matching `blk_status_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlkErr {
    /// Success.
    Ok,
    /// The command or one of its parameters is not supported.
    NotSupported,
    /// Media error: the data could not be read or written.
    Medium,
    /// End-to-end protection information check failed.
    Protection,
    /// Target problem: the LBA range is outside the namespace.
    Target,
    /// Out of space (capacity exceeded, e.g. thin provisioning).
    NoSpace,
    /// Reservation conflict.
    ResvConflict,
    /// Path or transport problem; another path may succeed.
    Transport,
    /// Any other I/O error.
    IoErr,
}

/// A 15-bit NVMe Status Field: completion status word without the phase tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status(pub(crate) u16);

impl Status {
    /// Successful completion.
    pub(crate) const SUCCESS: Status = Status(0);

    /// Wraps a Status Field as returned by `Completion::status_field()`.
    pub(crate) const fn new(field: u16) -> Self {
        Self(field & 0x7fff)
    }

    /// Builds a status from its Status Code Type, Status Code and DNR bit.
    pub(crate) const fn from_parts(sct: u8, sc: u8, dnr: bool) -> Self {
        let mut v = ((sct as u16 & 0x7) << 8) | sc as u16;
        if dnr {
            v |= 1 << 14;
        }
        Self(v)
    }

    /// Status Code (bits 7:0).
    pub(crate) const fn sc(self) -> u8 {
        // CAST: keeps the 8-bit status code.
        (self.0 & 0xff) as u8
    }

    /// Status Code Type (bits 10:8).
    pub(crate) const fn sct(self) -> u8 {
        // CAST: 3-bit field.
        ((self.0 >> 8) & 0x7) as u8
    }

    /// Command Retry Delay (bits 12:11): 0 means no delay, 1..=3 select
    /// CRDT1..CRDT3 of Identify Controller.
    pub(crate) const fn crd(self) -> u8 {
        // CAST: 2-bit field.
        ((self.0 >> 11) & 0x3) as u8
    }

    /// More (bit 13): more status information in the Error Information log.
    pub(crate) const fn more(self) -> bool {
        self.0 & (1 << 13) != 0
    }

    /// Do Not Retry (bit 14).
    pub(crate) const fn dnr(self) -> bool {
        self.0 & (1 << 14) != 0
    }

    /// Whether the command completed successfully (SCT 0, SC 0).
    pub(crate) const fn is_success(self) -> bool {
        self.sct() == SCT_GENERIC && self.sc() == generic::SUCCESS
    }

    /// The block-layer error class of this status.
    pub(crate) const fn blk_err(self) -> BlkErr {
        match (self.sct(), self.sc()) {
            (SCT_GENERIC, generic::SUCCESS) => BlkErr::Ok,
            (SCT_GENERIC, generic::CAP_EXCEEDED) => BlkErr::NoSpace,
            (SCT_GENERIC, generic::LBA_RANGE) => BlkErr::Target,
            (SCT_GENERIC, generic::INVALID_OPCODE)
            | (SCT_GENERIC, generic::INVALID_FIELD)
            | (SCT_GENERIC, generic::INVALID_NS)
            | (SCT_CMD_SPECIFIC, cmd_specific::CONFLICTING_ATTRS) => BlkErr::NotSupported,
            (SCT_MEDIA, media::WRITE_FAULT)
            | (SCT_MEDIA, media::READ_ERROR)
            | (SCT_MEDIA, media::UNWRITTEN_BLOCK)
            | (SCT_MEDIA, media::ACCESS_DENIED)
            | (SCT_MEDIA, media::COMPARE_FAILED)
            | (SCT_CMD_SPECIFIC, cmd_specific::WRITE_TO_READ_ONLY) => BlkErr::Medium,
            (SCT_MEDIA, media::GUARD_CHECK)
            | (SCT_MEDIA, media::APPTAG_CHECK)
            | (SCT_MEDIA, media::REFTAG_CHECK)
            | (SCT_CMD_SPECIFIC, cmd_specific::INVALID_PI) => BlkErr::Protection,
            (SCT_GENERIC, generic::RESERVATION_CONFLICT) => BlkErr::ResvConflict,
            // Only a host pathing error says another path may work; the rest of the path
            // class (ANA states, aborts by the host) is a plain I/O error without multipath.
            (SCT_PATH, path::HOST_PATH_ERROR) => BlkErr::Transport,
            _ => BlkErr::IoErr,
        }
    }

    /// Whether the command may be retried: it failed, the controller did not
    /// set Do Not Retry, and the failure is not of the "not supported" kind
    /// that would fail identically again.
    pub(crate) const fn retryable(self) -> bool {
        !self.is_success() && !self.dnr() && !matches!(self.blk_err(), BlkErr::NotSupported)
    }

    /// A short human-readable name of the status code, or `"unknown"`.
    pub(crate) const fn name(self) -> &'static str {
        match self.sct() {
            SCT_GENERIC => generic_name(self.sc()),
            SCT_CMD_SPECIFIC => cmd_specific_name(self.sc()),
            SCT_MEDIA => media_name(self.sc()),
            SCT_PATH => path_name(self.sc()),
            SCT_VENDOR => "vendor specific",
            _ => "unknown",
        }
    }
}

/// Name of a Generic Command Status code.
const fn generic_name(sc: u8) -> &'static str {
    use generic::*;
    match sc {
        SUCCESS => "success",
        INVALID_OPCODE => "invalid command opcode",
        INVALID_FIELD => "invalid field in command",
        CMDID_CONFLICT => "command ID conflict",
        DATA_XFER_ERROR => "data transfer error",
        POWER_LOSS => "aborted due to power loss notification",
        INTERNAL => "internal error",
        ABORT_REQ => "command abort requested",
        ABORT_QUEUE => "aborted due to SQ deletion",
        FUSED_FAIL => "aborted due to failed fused command",
        FUSED_MISSING => "aborted due to missing fused command",
        INVALID_NS => "invalid namespace or format",
        CMD_SEQ_ERROR => "command sequence error",
        SGL_INVALID_LAST => "invalid SGL segment descriptor",
        SGL_INVALID_COUNT => "invalid number of SGL descriptors",
        SGL_INVALID_DATA => "data SGL length invalid",
        SGL_INVALID_METADATA => "metadata SGL length invalid",
        SGL_INVALID_TYPE => "SGL descriptor type invalid",
        CMB_INVALID_USE => "invalid use of controller memory buffer",
        PRP_INVALID_OFFSET => "PRP offset invalid",
        ATOMIC_WU_EXCEEDED => "atomic write unit exceeded",
        OP_DENIED => "operation denied",
        SGL_INVALID_OFFSET => "SGL offset invalid",
        HOST_ID_INCONSIST => "host identifier inconsistent format",
        KA_TIMEOUT_EXPIRED => "keep alive timer expired",
        KA_TIMEOUT_INVALID => "keep alive timeout invalid",
        ABORTED_PREEMPT_ABORT => "aborted due to preempt and abort",
        SANITIZE_FAILED => "sanitize failed",
        SANITIZE_IN_PROGRESS => "sanitize in progress",
        SGL_INVALID_GRANULARITY => "SGL data block granularity invalid",
        CMD_NOT_SUP_CMB_QUEUE => "command not supported for queue in CMB",
        NS_WRITE_PROTECTED => "namespace is write protected",
        CMD_INTERRUPTED => "command interrupted",
        TRANSIENT_TR_ERR => "transient transport error",
        LBA_RANGE => "LBA out of range",
        CAP_EXCEEDED => "capacity exceeded",
        NS_NOT_READY => "namespace not ready",
        RESERVATION_CONFLICT => "reservation conflict",
        FORMAT_IN_PROGRESS => "format in progress",
        _ => "unknown",
    }
}

/// Name of a Command Specific Status code.
const fn cmd_specific_name(sc: u8) -> &'static str {
    use cmd_specific::*;
    match sc {
        INVALID_CQ => "completion queue invalid",
        INVALID_QID => "invalid queue identifier",
        QUEUE_SIZE => "invalid queue size",
        ABORT_LIMIT => "abort command limit exceeded",
        ASYNC_LIMIT => "asynchronous event request limit exceeded",
        INVALID_FW_SLOT => "invalid firmware slot",
        INVALID_FW_IMAGE => "invalid firmware image",
        INVALID_VECTOR => "invalid interrupt vector",
        INVALID_LOG_PAGE => "invalid log page",
        INVALID_FORMAT => "invalid format",
        FW_NEEDS_CONV_RESET => "firmware activation requires conventional reset",
        INVALID_QUEUE_DELETION => "invalid queue deletion",
        FEATURE_NOT_SAVEABLE => "feature identifier not saveable",
        FEATURE_NOT_CHANGEABLE => "feature not changeable",
        FEATURE_NOT_PER_NS => "feature not namespace specific",
        FW_NEEDS_SUBSYS_RESET => "firmware activation requires NVM subsystem reset",
        FW_NEEDS_RESET => "firmware activation requires controller level reset",
        FW_NEEDS_MAX_TIME => "firmware activation requires maximum time violation",
        FW_ACTIVATE_PROHIBITED => "firmware activation prohibited",
        OVERLAPPING_RANGE => "overlapping range",
        NS_INSUFFICIENT_CAP => "namespace insufficient capacity",
        NS_ID_UNAVAILABLE => "namespace identifier unavailable",
        NS_ALREADY_ATTACHED => "namespace already attached",
        NS_IS_PRIVATE => "namespace is private",
        NS_NOT_ATTACHED => "namespace not attached",
        THIN_PROV_NOT_SUPP => "thin provisioning not supported",
        CTRL_LIST_INVALID => "controller list invalid",
        SELF_TEST_IN_PROGRESS => "device self-test in progress",
        BP_WRITE_PROHIBITED => "boot partition write prohibited",
        INVALID_CTRL_ID => "invalid controller identifier",
        INVALID_SEC_CTRL_STATE => "invalid secondary controller state",
        INVALID_CTRL_RESOURCES => "invalid number of controller resources",
        INVALID_RESOURCE_ID => "invalid resource identifier",
        PMR_SAN_PROHIBITED => "sanitize prohibited while PMR enabled",
        ANA_GROUP_ID_INVALID => "ANA group identifier invalid",
        ANA_ATTACH_FAILED => "ANA attach failed",
        CONFLICTING_ATTRS => "conflicting attributes",
        INVALID_PI => "invalid protection information",
        WRITE_TO_READ_ONLY => "attempted write to read only range",
        _ => "unknown",
    }
}

/// Name of a Media and Data Integrity Error code.
const fn media_name(sc: u8) -> &'static str {
    use media::*;
    match sc {
        WRITE_FAULT => "write fault",
        READ_ERROR => "unrecovered read error",
        GUARD_CHECK => "end-to-end guard check error",
        APPTAG_CHECK => "end-to-end application tag check error",
        REFTAG_CHECK => "end-to-end reference tag check error",
        COMPARE_FAILED => "compare failure",
        ACCESS_DENIED => "access denied",
        UNWRITTEN_BLOCK => "deallocated or unwritten logical block",
        _ => "unknown",
    }
}

/// Name of a Path Related Status code.
const fn path_name(sc: u8) -> &'static str {
    use path::*;
    match sc {
        INTERNAL_PATH_ERROR => "internal path error",
        ANA_PERSISTENT_LOSS => "asymmetric access persistent loss",
        ANA_INACCESSIBLE => "asymmetric access inaccessible",
        ANA_TRANSITION => "asymmetric access transition",
        CTRL_PATH_ERROR => "controller pathing error",
        HOST_PATH_ERROR => "host pathing error",
        HOST_ABORTED_CMD => "command aborted by host",
        _ => "unknown",
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} (sct {:#x} sc {:#x}",
            self.name(),
            self.sct(),
            self.sc()
        )?;
        if self.more() {
            f.write_str(", more")?;
        }
        if self.dnr() {
            f.write_str(", dnr")?;
        }
        f.write_str(")")
    }
}
