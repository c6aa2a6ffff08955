// SPDX-License-Identifier: GPL-2.0

//! Multipath rules: which controllers share namespaces (CMIC, NMIC), the Asymmetric Namespace
//! Access log and its states, the I/O policies, and the choice of a path for an I/O.
//!
//! Layouts from the NVMe Base Specification 2.0: Identify Controller CMIC (byte 76), ANATT
//! (343), ANACAP (344), NANAGRPID (351:348); Identify Namespace NMIC (byte 30), ANAGRPID
//! (95:92); the ANA log page (log identifier 0Ch, section 5.16.1.13).

/// CMIC bit 1: the NVM subsystem may have two or more controllers.
pub(crate) const CMIC_MULTI_CTRL: u8 = 1 << 1;
/// CMIC bit 3: the controller reports Asymmetric Namespace Access.
pub(crate) const CMIC_ANA: u8 = 1 << 3;
/// NMIC bit 0: the namespace may be attached to two or more controllers.
pub(crate) const NMIC_SHARED: u8 = 1 << 0;

/// Identify CNS 12h: the controllers of the subsystem a namespace is attached to (a
/// Controller List: a 16-bit count, then the identifiers).
pub(crate) const CNS_NS_ATTACHED_CTRLS: u8 = 0x12;

/// Identify CNS 13h: the controllers of the subsystem (a Controller List).
pub(crate) const CNS_SUBSYS_CTRLS: u8 = 0x13;

/// Most identifiers a Controller List holds.
const CTRL_LIST_MAX: u16 = 2047;

/// The number of controllers in Controller List `list` (its first two bytes, little endian,
/// at most 2047); 0 when `list` is too short to hold the count.
pub(crate) fn ctrl_list_len(list: &[u8]) -> u16 {
    match list {
        [lo, hi, ..] => u16::from_le_bytes([*lo, *hi]).min(CTRL_LIST_MAX),
        _ => 0,
    }
}

/// What serves a shared namespace (NMIC bit 0) found on one controller of a subsystem that
/// may have several (CMIC bit 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Placement {
    /// A path of the namespace's head, which exists.
    JoinHead,
    /// A path of a new head: the namespace is attached to several controllers.
    NewHead,
    /// The controller's own disk, as a private namespace's: it was attached to this
    /// controller only when found.
    Own,
    /// Nothing: another controller serves it with its own disk (it found the namespace
    /// attached to it alone); a head would give the namespace a second writable disk.
    Taken,
}

/// Where a shared namespace goes on controller `me`: `head` when the subsystem has a head for
/// it, `owner` the controller serving it with its own disk, if any, `attached` the number of
/// controllers it is attached to (`None` when the controller cannot say: a head, as C makes
/// for every namespace of such a subsystem).
///
/// A namespace attached to a single controller keeps that controller's own disk, a blk-mq
/// disk like any private namespace's; a head appears only where a second path exists, and
/// never while a controller's own disk serves the namespace (which would give it two
/// writable disks). The controller's own disk is not turned into a head under its users.
pub(crate) fn place(head: bool, owner: Option<u32>, me: u32, attached: Option<u16>) -> Placement {
    if head {
        return Placement::JoinHead;
    }
    match owner {
        Some(o) if o != me => Placement::Taken,
        Some(_) => Placement::Own,
        None => match attached {
            Some(n) if n < 2 => Placement::Own,
            _ => Placement::NewHead,
        },
    }
}

/// Log identifier of the Asymmetric Namespace Access log.
pub(crate) const LID_ANA: u8 = 0x0c;
/// Bytes of the ANA log header.
pub(crate) const ANA_HEADER: usize = 16;
/// Bytes of one ANA group descriptor without its namespace list.
pub(crate) const ANA_GROUP: usize = 32;

/// Most paths (controllers) one shared namespace is served through.
pub(crate) const MAX_PATHS: usize = 8;

/// A namespace's access state through one controller (the ANA state of its group).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum AnaState {
    /// Optimized: the preferred paths.
    Optimized = 0x1,
    /// Non-optimized: usable, used when no optimized path is.
    NonOptimized = 0x2,
    /// Inaccessible: commands fail until the state changes.
    Inaccessible = 0x3,
    /// Persistent loss: the namespace is not coming back on this path.
    PersistentLoss = 0x4,
    /// Change: a transition is in progress.
    Change = 0xf,
}

impl AnaState {
    /// The state of ANA state field `v` (bits 3:0); a reserved value reads as inaccessible.
    pub(crate) const fn from_bits(v: u8) -> Self {
        match v & 0xf {
            0x1 => Self::Optimized,
            0x2 => Self::NonOptimized,
            0x4 => Self::PersistentLoss,
            0xf => Self::Change,
            _ => Self::Inaccessible,
        }
    }

    /// True when I/O may be sent on a path in this state.
    pub(crate) const fn is_usable(self) -> bool {
        matches!(self, Self::Optimized | Self::NonOptimized)
    }

    /// The name sysfs shows (the C driver's `ana_state` names).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Optimized => "optimized",
            Self::NonOptimized => "non-optimized",
            Self::Inaccessible => "inaccessible",
            Self::PersistentLoss => "persistent-loss",
            Self::Change => "change",
        }
    }
}

/// How a shared namespace's I/O is spread over its paths.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum IoPolicy {
    /// The best path of the submitting CPU's NUMA node, kept while it stays the best.
    Numa = 0,
    /// Each I/O on the next usable path in turn.
    RoundRobin = 1,
    /// The path whose controller has the fewest requests in flight.
    QueueDepth = 2,
}

impl IoPolicy {
    /// Every policy, in the order of their numbers.
    pub(crate) const ALL: [IoPolicy; 3] = [Self::Numa, Self::RoundRobin, Self::QueueDepth];

    /// The name sysfs shows and takes (the C driver's `iopolicy` names).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Numa => "numa",
            Self::RoundRobin => "round-robin",
            Self::QueueDepth => "queue-depth",
        }
    }

    /// The policy stored as `v`.
    pub(crate) const fn from_raw(v: u8) -> Self {
        match v {
            1 => Self::RoundRobin,
            2 => Self::QueueDepth,
            _ => Self::Numa,
        }
    }

    /// The policy a sysfs write names (one trailing newline allowed), if any.
    pub(crate) fn parse(s: &[u8]) -> Option<Self> {
        let s = s.strip_suffix(b"\n").unwrap_or(s);
        Self::ALL.into_iter().find(|p| p.name().as_bytes() == s)
    }
}

/// True for a status that says the namespace's ANA state through the controller is not what
/// the host last read (path-related: persistent loss, inaccessible, transition): the ANA log
/// is to be read again, as C's `nvme_is_ana_error()`.
pub(crate) const fn is_ana_error(sct: u8, sc: u8) -> bool {
    use super::status::{
        path,
        SCT_PATH, //
    };
    sct == SCT_PATH
        && matches!(
            sc,
            path::ANA_PERSISTENT_LOSS | path::ANA_INACCESSIBLE | path::ANA_TRANSITION
        )
}

/// What path selection needs of one path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PathView {
    /// The path's controller serves I/O now.
    pub(crate) live: bool,
    /// The namespace's ANA state through the controller.
    pub(crate) ana: AnaState,
    /// The controller is on the submitting CPU's NUMA node (or the machine has one node).
    pub(crate) local: bool,
    /// Requests in flight on the controller (counted under the queue-depth policy only).
    pub(crate) depth: u32,
}

impl PathView {
    fn rank(&self) -> Option<u8> {
        if !self.live {
            return None;
        }
        match self.ana {
            AnaState::Optimized => Some(0),
            AnaState::NonOptimized => Some(1),
            _ => None,
        }
    }
}

/// The path for the next I/O among `paths` (slot `i` empty when `None`), by `policy`; `last`
/// is the slot the previous I/O went to (round-robin goes on after it). Optimized paths are
/// taken before non-optimized ones under every policy; `None` when no path is usable.
pub(crate) fn select(paths: &[Option<PathView>], policy: IoPolicy, last: usize) -> Option<usize> {
    let n = paths.len();
    if n == 0 {
        return None;
    }
    // Lower keys win; ties go to the first slot in the policy's order.
    let key = |p: &PathView| -> Option<(u8, u32)> {
        let rank = p.rank()?;
        Some(match policy {
            IoPolicy::Numa => (rank * 2 + u8::from(!p.local), 0),
            IoPolicy::RoundRobin => (rank, 0),
            IoPolicy::QueueDepth => (rank, p.depth),
        })
    };
    let start = match policy {
        IoPolicy::RoundRobin => (last + 1) % n,
        _ => 0,
    };
    let mut best: Option<(usize, (u8, u32))> = None;
    for k in 0..n {
        let i = (start + k) % n;
        let Some(k) = paths[i].as_ref().and_then(key) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, b)) => k < b,
        };
        if better {
            best = Some((i, k));
        }
    }
    best.map(|(i, _)| i)
}

/// One group of an ANA log: its identifier, state, and the namespaces in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AnaGroup<'a> {
    /// ANA Group ID.
    pub(crate) grpid: u32,
    /// The group's state.
    pub(crate) state: AnaState,
    /// The namespace identifiers, little-endian, 4 bytes each.
    nsids: &'a [u8],
}

impl AnaGroup<'_> {
    /// The namespace identifiers in the group.
    pub(crate) fn nsids(&self) -> impl Iterator<Item = u32> + '_ {
        self.nsids
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Why an ANA log cannot be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AnaLogError {
    /// A descriptor or its namespace list runs past the end of the log.
    Truncated,
    /// More descriptors than the controller has groups (NANAGRPID).
    TooManyGroups,
}

/// The groups of ANA log `log` (read with the namespace lists), at most `max_groups` of them,
/// with every length checked against the buffer.
pub(crate) fn ana_groups(log: &[u8], max_groups: u32) -> Result<AnaGroups<'_>, AnaLogError> {
    if log.len() < ANA_HEADER {
        return Err(AnaLogError::Truncated);
    }
    let count = u16::from_le_bytes([log[8], log[9]]);
    if u32::from(count) > max_groups {
        return Err(AnaLogError::TooManyGroups);
    }
    // Walk once to check every length, so the iterator cannot fail.
    let mut off = ANA_HEADER;
    for _ in 0..count {
        off = next_group(log, off)?.1;
    }
    Ok(AnaGroups {
        log,
        off: ANA_HEADER,
        left: count,
    })
}

/// The group descriptor at `off` of `log` and the offset after it.
fn next_group(log: &[u8], off: usize) -> Result<(AnaGroup<'_>, usize), AnaLogError> {
    let d = log
        .get(off..off.checked_add(ANA_GROUP).ok_or(AnaLogError::Truncated)?)
        .ok_or(AnaLogError::Truncated)?;
    let grpid = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
    let nnsids = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) as usize;
    let state = AnaState::from_bits(d[16]);
    let list_start = off + ANA_GROUP;
    let list_end = nnsids
        .checked_mul(4)
        .and_then(|b| list_start.checked_add(b))
        .ok_or(AnaLogError::Truncated)?;
    let nsids = log
        .get(list_start..list_end)
        .ok_or(AnaLogError::Truncated)?;
    Ok((
        AnaGroup {
            grpid,
            state,
            nsids,
        },
        list_end,
    ))
}

/// The groups of an ANA log checked by [`ana_groups`].
pub(crate) struct AnaGroups<'a> {
    log: &'a [u8],
    off: usize,
    left: u16,
}

impl<'a> Iterator for AnaGroups<'a> {
    type Item = AnaGroup<'a>;

    fn next(&mut self) -> Option<AnaGroup<'a>> {
        if self.left == 0 {
            return None;
        }
        let (g, next) = next_group(self.log, self.off).ok()?;
        self.left -= 1;
        self.off = next;
        Some(g)
    }
}

/// Bytes of an ANA log with namespace lists for a controller of `nanagrpid` groups and `nn`
/// namespaces (each namespace is in one group), bounded by `max`.
pub(crate) fn ana_log_size(nanagrpid: u32, nn: u32, max: usize) -> usize {
    let groups = (nanagrpid as usize).saturating_mul(ANA_GROUP);
    let lists = (nn as usize).saturating_mul(4);
    ANA_HEADER
        .saturating_add(groups)
        .saturating_add(lists)
        .min(max)
}

/// The state of group `grpid` in `log` (checked by [`ana_groups`]), if listed.
pub(crate) fn group_state(groups: AnaGroups<'_>, grpid: u32) -> Option<AnaState> {
    let mut groups = groups;
    groups.find(|g| g.grpid == grpid).map(|g| g.state)
}
