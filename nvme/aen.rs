// SPDX-License-Identifier: GPL-2.0

//! Asynchronous events (NVMe Base Specification, "Asynchronous Event Request command" and
//! "Asynchronous Event Configuration"): how many Asynchronous Event Requests to keep
//! outstanding and under which command identifiers, the configuration that enables the events,
//! the decoding of an event's completion, the log pages that clear events, the SMART critical
//! warning bits, the Changed Namespace List log, and the comparison of namespace lists a
//! rescan acts on.

use super::{
    cmd::Completion,
    status::{
        generic,
        Status,
        SCT_GENERIC, //
    },
};

/// Most Asynchronous Event Requests the driver keeps outstanding, whatever AERL allows.
pub(crate) const MAX_AERS: usize = 4;

/// Command identifiers `AER_CID_BASE..AER_CID_BASE + MAX_AERS` belong to the outstanding
/// Asynchronous Event Requests, one per slot; synchronous admin commands never use them.
pub(crate) const AER_CID_BASE: u16 = 0xfff0;

/// How many Asynchronous Event Requests to keep outstanding: AERL is 0's based, and the
/// driver caps it at [`MAX_AERS`].
pub(crate) const fn aer_count(aerl: u8) -> usize {
    let n = aerl as usize + 1;
    if n < MAX_AERS {
        n
    } else {
        MAX_AERS
    }
}

/// The command identifier of AER slot `slot` (`slot < MAX_AERS`).
pub(crate) const fn aer_cid(slot: usize) -> u16 {
    // CAST: `slot < MAX_AERS`, far below 16 bits.
    AER_CID_BASE + slot as u16
}

/// The AER slot a command identifier belongs to, if it is one of them.
pub(crate) const fn aer_slot(cid: u16) -> Option<usize> {
    if cid >= AER_CID_BASE && ((cid - AER_CID_BASE) as usize) < MAX_AERS {
        Some((cid - AER_CID_BASE) as usize)
    } else {
        None
    }
}

/// The command identifier after `cid` for synchronous admin commands: wraps before the AER
/// range, so the two never collide.
pub(crate) const fn next_sync_cid(cid: u16) -> u16 {
    if cid >= AER_CID_BASE - 1 {
        0
    } else {
        cid + 1
    }
}

/// Most synchronous admin commands outstanding together (`AdminQueue::submit_batch`): with the
/// Asynchronous Event Requests, well below the admin queue's 31 usable entries.
pub(crate) const MAX_BATCH: usize = 16;

/// No synchronous admin command is outstanding (see [`waiting`]).
pub(crate) const NO_WAIT: u32 = u32::MAX;

/// The first of `n` consecutive command identifiers for synchronous commands, the next one
/// being `next`: the run starts again at 0 rather than reach the AER range, so the identifiers
/// of one run never wrap.
pub(crate) const fn sync_cids(next: u16, n: u16) -> u16 {
    if next as u32 + n as u32 > AER_CID_BASE as u32 {
        0
    } else {
        next
    }
}

/// The outstanding run of `n` synchronous commands from identifier `first` (from
/// [`sync_cids`]), packed for one atomic word.
pub(crate) const fn waiting(first: u16, n: u16) -> u32 {
    ((first as u32) << 16) | n as u32
}

/// The place of command identifier `cid` in the outstanding run `w` (see [`waiting`]), if it
/// is one of its commands.
pub(crate) const fn waited_index(w: u32, cid: u16) -> Option<usize> {
    if w == NO_WAIT {
        return None;
    }
    // CAST: the two halves of the packed word.
    let (first, n) = ((w >> 16) as u16, w as u16);
    let i = cid.wrapping_sub(first);
    if i < n {
        Some(i as usize)
    } else {
        None
    }
}

/// Asynchronous Event Configuration (Feature 0Bh) bits 7:0: the SMART / Health critical
/// warnings that trigger an event: available spare, temperature, NVM subsystem reliability,
/// read-only media, volatile memory backup failure.
pub(crate) const AEC_SMART_CRIT: u32 = 0x1f;
/// OAES and Asynchronous Event Configuration bit 8: Namespace Attribute Notices.
pub(crate) const AEC_NS_ATTR: u32 = 1 << 8;

/// Dword 11 of Set Features (Asynchronous Event Configuration) for a controller whose
/// Identify Controller OAES is `oaes`: every SMART critical warning, and the Namespace Attribute
/// Notices when the controller supports them.
pub(crate) const fn aec_dw11(oaes: u32) -> u32 {
    AEC_SMART_CRIT | (oaes & AEC_NS_ATTR)
}

/// Asynchronous Event Type (completion Dword 0 bits 2:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    /// Error status (the Error Information log).
    Error,
    /// SMART / Health status.
    Smart,
    /// Notice (namespace attributes, firmware activation, ...).
    Notice,
    /// Immediate.
    Immediate,
    /// One-Shot.
    OneShot,
    /// I/O Command Set specific status.
    IoCmdSet,
    /// Vendor specific.
    Vendor,
    /// A reserved value.
    Reserved(u8),
}

/// Asynchronous Event Information of a SMART / Health event: NVM subsystem reliability.
pub(crate) const SMART_INFO_RELIABILITY: u8 = 0x00;
/// SMART / Health event: a temperature threshold was crossed.
pub(crate) const SMART_INFO_TEMP: u8 = 0x01;
/// SMART / Health event: available spare below its threshold.
pub(crate) const SMART_INFO_SPARE: u8 = 0x02;
/// Asynchronous Event Information of a Notice: Namespace Attribute Changed.
pub(crate) const NOTICE_NS_ATTR: u8 = 0x00;
/// Notice: Firmware Activation Starting.
pub(crate) const NOTICE_FW_ACT: u8 = 0x01;
/// Notice: Telemetry Log Changed.
pub(crate) const NOTICE_TELEMETRY: u8 = 0x02;
/// Notice: Asymmetric Namespace Access Change.
pub(crate) const NOTICE_ANA: u8 = 0x03;

/// One asynchronous event, decoded from Dword 0 of an AER completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AsyncEvent {
    /// Asynchronous Event Type.
    pub(crate) kind: EventType,
    /// Asynchronous Event Information (bits 15:8).
    pub(crate) info: u8,
    /// Log Page Identifier to read to clear the event (bits 23:16).
    pub(crate) log_page: u8,
}

impl AsyncEvent {
    /// Decodes Dword 0 of an AER completion.
    pub(crate) const fn from_dw0(dw0: u32) -> Self {
        // CAST: each field is masked to its width first.
        let kind = match (dw0 & 0x7) as u8 {
            0 => EventType::Error,
            1 => EventType::Smart,
            2 => EventType::Notice,
            3 => EventType::Immediate,
            4 => EventType::OneShot,
            6 => EventType::IoCmdSet,
            7 => EventType::Vendor,
            n => EventType::Reserved(n),
        };
        Self {
            kind,
            // CAST: as above.
            info: ((dw0 >> 8) & 0xff) as u8,
            // CAST: as above.
            log_page: ((dw0 >> 16) & 0xff) as u8,
        }
    }

    /// True for a Namespace Attribute Changed notice: the namespaces must be scanned again.
    pub(crate) const fn is_ns_changed(&self) -> bool {
        matches!(self.kind, EventType::Notice) && self.info == NOTICE_NS_ATTR
    }

    /// True for an Asymmetric Namespace Access Change notice: the ANA log must be read again
    /// (the scan does).
    pub(crate) const fn is_ana_change(&self) -> bool {
        matches!(self.kind, EventType::Notice) && self.info == NOTICE_ANA
    }

    /// True for SMART / Health events, which deserve a warning in the log.
    pub(crate) const fn is_smart(&self) -> bool {
        matches!(self.kind, EventType::Smart)
    }

    /// A short description of the event for log messages.
    pub(crate) const fn name(&self) -> &'static str {
        match (self.kind, self.info) {
            (EventType::Error, _) => "error status",
            (EventType::Smart, SMART_INFO_RELIABILITY) => "SMART: NVM subsystem reliability",
            (EventType::Smart, SMART_INFO_TEMP) => "SMART: temperature threshold",
            (EventType::Smart, SMART_INFO_SPARE) => "SMART: available spare below threshold",
            (EventType::Smart, _) => "SMART: health status",
            (EventType::Notice, NOTICE_NS_ATTR) => "notice: namespace attribute changed",
            (EventType::Notice, NOTICE_FW_ACT) => "notice: firmware activation starting",
            (EventType::Notice, NOTICE_TELEMETRY) => "notice: telemetry log changed",
            (EventType::Notice, NOTICE_ANA) => "notice: asymmetric namespace access change",
            (EventType::Notice, _) => "notice",
            (EventType::Immediate, _) => "immediate",
            (EventType::OneShot, _) => "one-shot",
            (EventType::IoCmdSet, _) => "I/O command set specific status",
            (EventType::Vendor, _) => "vendor specific",
            (EventType::Reserved(_), _) => "reserved event type",
        }
    }

    /// Bytes of the log page named by the event to read (and so clear the event), or `None`
    /// when the event names no log page the driver reads. Controller-scope logs are read with
    /// NSID FFFFFFFFh and RAE cleared.
    pub(crate) const fn log_len(&self) -> Option<u32> {
        match self.log_page {
            // Error Information: the newest entry (64 bytes) is enough to clear the event.
            0x01 => Some(64),
            // SMART / Health Information, Firmware Slot Information.
            0x02 | 0x03 => Some(512),
            // Changed Namespace List: 1024 NSIDs.
            0x04 => Some(4096),
            _ => None,
        }
    }
}

/// What to do with the completion of an Asynchronous Event Request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AerOutcome {
    /// An event: handle it, then submit the request again.
    Event(AsyncEvent),
    /// The request was aborted (queue deleted, controller reset): submit it again once the
    /// controller takes commands.
    Aborted,
    /// The controller refuses this request (limit exceeded, or any other error): do not
    /// submit it again, or it would fail the same way for ever.
    Refused(Status),
}

/// Classifies the completion of an Asynchronous Event Request.
pub(crate) const fn aer_outcome(cqe: &Completion) -> AerOutcome {
    let st = Status::new(cqe.status_field());
    if st.is_success() {
        return AerOutcome::Event(AsyncEvent::from_dw0(cqe.result_dw0()));
    }
    match (st.sct(), st.sc()) {
        (SCT_GENERIC, generic::ABORT_REQ) | (SCT_GENERIC, generic::ABORT_QUEUE) => {
            AerOutcome::Aborted
        }
        // Asynchronous Event Request Limit Exceeded among others.
        _ => AerOutcome::Refused(st),
    }
}

/// SMART / Health Information log byte 0 (Critical Warning): bit number and meaning.
const CRIT_WARNINGS: [(u8, &str); 7] = [
    (0, "available spare below threshold"),
    (1, "temperature out of range"),
    (2, "NVM subsystem reliability degraded"),
    (3, "media in read-only mode"),
    (4, "volatile memory backup failed"),
    (5, "persistent memory region unreliable"),
    (6, "reserved bit 6"),
];

/// The meanings of the bits set in a Critical Warning byte, lowest bit first.
pub(crate) fn critical_warnings(cw: u8) -> impl Iterator<Item = &'static str> {
    CRIT_WARNINGS
        .iter()
        .filter(move |(bit, _)| cw & (1 << bit) != 0)
        .map(|&(_, name)| name)
        .chain(if cw & 0x80 != 0 {
            Some("reserved bit 7")
        } else {
            None
        })
}

/// The Critical Warning byte of a SMART / Health Information log.
pub(crate) fn smart_critical_warning(log: &[u8]) -> Option<u8> {
    log.first().copied()
}

/// The Changed Namespace List log (Log Page 04h) as read into `log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangedNs<'a> {
    /// More than 1024 namespaces changed (the first entry is FFFFFFFFh).
    Many,
    /// The changed NSIDs, as little-endian dwords up to the first zero.
    List(&'a [u8]),
}

impl<'a> ChangedNs<'a> {
    /// Parses the log in `log` (at most 4096 bytes are looked at).
    pub(crate) fn parse(log: &'a [u8]) -> Self {
        let log = &log[..log.len().min(4096) & !3];
        if Self::dword(log, 0) == Some(u32::MAX) {
            return ChangedNs::Many;
        }
        let n = (0..log.len() / 4)
            .take_while(|&i| Self::dword(log, i).is_some_and(|v| v != 0))
            .count();
        ChangedNs::List(&log[..n * 4])
    }

    fn dword(log: &[u8], i: usize) -> Option<u32> {
        let b = log.get(4 * i..4 * i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The changed NSIDs (none for [`ChangedNs::Many`]).
    pub(crate) fn nsids(&self) -> impl Iterator<Item = u32> + 'a {
        let list: &'a [u8] = match *self {
            ChangedNs::Many => &[],
            ChangedNs::List(l) => l,
        };
        list.chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The NSIDs in `have` (ascending) that are missing from `want` (ascending): with `have` the
/// disks present and `want` the active namespace list, the disks to remove; the other way
/// round, the namespaces to add.
pub(crate) fn ns_missing<'a>(have: &'a [u32], want: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    let mut j = 0;
    have.iter().copied().filter(move |&id| {
        while j < want.len() && want[j] < id {
            j += 1;
        }
        !(j < want.len() && want[j] == id)
    })
}
