// SPDX-License-Identifier: GPL-2.0

//! One namespace served as a disk: its identity, format (block size, metadata, zones, write
//! streams) and sysfs attributes.

use core::{
    fmt,
    sync::atomic::{
        AtomicU16,
        AtomicU32,
        AtomicU64,
        Ordering, //
    },
};

use kernel::{
    prelude::*,
    str::CStr,
    sync::Arc, //
};

use crate::{
    glue::{
        self,
        Attributes,
        DiskQueue,
        Integrity,
        IntegrityCsum,
        SysfsWriter, //
    },
    iod::{
        NvmeMq,
        PtSized, //
    },
    mpath::PathLink,
    nvme::{
        cmd::Command,
        fdp,
        ident::{
            self,
            NsIds, //
        },
        meta::{
            Csum,
            MetaFormat,
            Serve, //
        },
        uapi::Origin,
    },
    passthru::{
        DiskNode,
        Passthru, //
    },
};

/// One namespace exposed as a disk.
pub(crate) struct Namespace {
    /// Namespace identifier.
    pub(crate) nsid: u32,
    /// log2 of the logical block size. Changed only while the disk's queue is frozen (see
    /// [`Namespace::set_lba_shift`]), so requests never see it change under them.
    lba_shift: AtomicU32,
    /// The format's metadata ([`MetaFormat::to_bits`]), changed with `lba_shift`.
    meta: AtomicU64,
    /// The disk's capacity in 512-byte sectors, changed with `lba_shift`.
    sectors: AtomicU64,
    /// Zone size in sectors of a zoned namespace (0: not zoned), changed with `lba_shift`.
    zone_sectors: AtomicU32,
    /// Flexible Data Placement: the placement identifier of write stream `i + 1` (set once,
    /// before the disk offers its streams).
    plids: [AtomicU16; fdp::MAX_WRITE_STREAMS as usize],
    /// Write streams the disk offers (0: none).
    nr_plids: AtomicU16,
    /// The controller's passthrough, for the disk's ioctls and identity.
    pub(crate) passthru: Arc<Passthru>,
    /// EUI64, NGUID and UUID, for sysfs.
    pub(crate) ids: NsIds,
    /// The head whose path this namespace is, when it is shared by the controllers of a
    /// subsystem.
    pub(crate) mpath: Option<PathLink>,
}

/// The sysfs attributes of a namespace's disk, as the C driver's: nsid, wwid, eui, nguid,
/// uuid (those three only when the namespace reports them); and the controller's model,
/// serial and firmware_rev, which C has on the disk's parent (the controller's class device)
/// and our disk, whose parent is the PCI function, carries itself: udev's `ATTRS{}` finds
/// them there for the `/dev/disk/by-id` links (`udev/61-rust-nvme.rules`). A path of a shared
/// namespace whose controller reports ANA also shows its `ana_state`.
pub(crate) struct NsAttrs;

impl Attributes for NsAttrs {
    type Object = Namespace;
    const NAMES: &'static [&'static CStr] = &[
        c"nsid",
        c"wwid",
        c"eui",
        c"nguid",
        c"uuid",
        c"model",
        c"serial",
        c"firmware_rev",
        c"ana_state",
    ];

    fn show(ns: &Namespace, index: usize, w: &mut SysfsWriter) -> fmt::Result {
        use fmt::Write;
        match (index, ns.mpath.as_ref()) {
            (8, Some(link)) => w.write_str(link.ana().name())?,
            (8, None) => {}
            _ => ident::write_ns_attr(w, index, ns.nsid, &ns.ids, &ns.passthru.info.ident())?,
        }
        w.write_char('\n')
    }

    fn visible(ns: &Namespace, index: usize) -> bool {
        match index {
            2 => ns.ids.has_eui64(),
            3 => ns.ids.has_nguid(),
            4 => ns.ids.has_uuid(),
            // As C: only where the controller reports ANA (the namespace has a group).
            8 => ns.mpath.as_ref().is_some_and(|l| l.anagrpid != 0),
            _ => true,
        }
    }
}

impl Namespace {
    /// A namespace of `1 << lba_shift`-byte blocks with metadata `meta`, served as a disk of
    /// `sectors` 512-byte sectors, zoned with zones of `zone_sectors` (0: not zoned).
    #[expect(clippy::too_many_arguments, reason = "the namespace's parts")]
    pub(crate) fn new(
        nsid: u32,
        lba_shift: u32,
        meta: &MetaFormat,
        sectors: u64,
        zone_sectors: u32,
        passthru: Arc<Passthru>,
        ids: NsIds,
        mpath: Option<PathLink>,
    ) -> Self {
        Self {
            nsid,
            lba_shift: AtomicU32::new(lba_shift),
            meta: AtomicU64::new(meta.to_bits()),
            sectors: AtomicU64::new(sectors),
            zone_sectors: AtomicU32::new(zone_sectors),
            plids: [const { AtomicU16::new(0) }; fdp::MAX_WRITE_STREAMS as usize],
            nr_plids: AtomicU16::new(0),
            passthru,
            ids,
            mpath,
        }
    }

    /// log2 of the logical block size.
    #[inline]
    pub(crate) fn lba_shift(&self) -> u32 {
        // Relaxed: the value changes only while the disk's queue is frozen, and freezing and
        // unfreezing order it with every request (see `set_lba_shift`).
        self.lba_shift.load(Ordering::Relaxed)
    }

    /// True when the namespace's format has metadata (the I/O path's quick test before
    /// [`Namespace::meta`]).
    #[inline]
    pub(crate) fn has_meta(&self) -> bool {
        // Relaxed: as `lba_shift`. The metadata size is the low 16 bits of the packed format.
        self.meta.load(Ordering::Relaxed) & 0xffff != 0
    }

    /// True when the disk offers write streams.
    #[inline]
    pub(crate) fn has_write_streams(&self) -> bool {
        // Relaxed: see `set_placement_ids`.
        self.nr_plids.load(Ordering::Relaxed) != 0
    }

    /// The metadata of the namespace's format.
    #[inline]
    pub(crate) fn meta(&self) -> MetaFormat {
        // Relaxed: as `lba_shift`.
        MetaFormat::from_bits(self.meta.load(Ordering::Relaxed))
    }

    /// [`Namespace::meta`] as [`MetaFormat::to_bits`] packs it, without decoding: for the
    /// passthrough path's check that the format did not change under a command.
    #[inline]
    pub(crate) fn meta_bits(&self) -> u64 {
        // Relaxed: as `lba_shift`. The value stored is always `to_bits()` of a format, which
        // `from_bits()` gives back unchanged.
        self.meta.load(Ordering::Relaxed)
    }

    /// Changes the logical block size, metadata, capacity and zone size, for a namespace that
    /// was reformatted or resized. Call only from [`glue::GenDisk::update`]'s `during`, while
    /// no request is on the disk.
    pub(crate) fn set_format(
        &self,
        lba_shift: u32,
        meta: &MetaFormat,
        sectors: u64,
        zone_sectors: u32,
    ) {
        self.lba_shift.store(lba_shift, Ordering::Relaxed);
        self.meta.store(meta.to_bits(), Ordering::Relaxed);
        self.sectors.store(sectors, Ordering::Relaxed);
        self.zone_sectors.store(zone_sectors, Ordering::Relaxed);
    }

    /// Takes the placement identifiers of the namespace's reclaim unit handles, write stream
    /// `i + 1` for `pids[i]`; returns how many streams the disk may offer. Call once, before
    /// the disk's limits offer them (the limits update orders the stores before any write).
    pub(crate) fn set_placement_ids(&self, pids: impl Iterator<Item = u16>) -> u16 {
        let mut n = 0;
        for (slot, pid) in self.plids.iter().zip(pids) {
            slot.store(pid, Ordering::Relaxed);
            n += 1;
        }
        self.nr_plids.store(n, Ordering::Relaxed);
        n
    }

    /// The placement identifier of write stream `stream` (from 1): `None` for 0 or a stream
    /// the disk does not offer.
    #[inline]
    pub(crate) fn placement_id(&self, stream: u8) -> Option<u16> {
        // Relaxed: see `set_placement_ids`.
        let n = self.nr_plids.load(Ordering::Relaxed);
        if stream == 0 || u16::from(stream) > n {
            return None;
        }
        Some(self.plids[usize::from(stream) - 1].load(Ordering::Relaxed))
    }

    /// What passthrough needs of the namespace, for a command from a node opened as `origin`
    /// on its disk, whose request queue is `queue`.
    #[inline]
    pub(crate) fn node(&self, queue: DiskQueue<NvmeMq>, origin: Origin) -> DiskNode {
        // A format without metadata (most) needs no decoding: this runs for every passthrough
        // command.
        let bits = self.meta_bits();
        let (meta, integrity) = if bits == MetaFormat::NONE.to_bits() {
            (MetaFormat::NONE, false)
        } else {
            let meta = MetaFormat::from_bits(bits);
            (meta, disk_integrity(&meta).is_some())
        };
        DiskNode {
            nsid: self.nsid,
            lba_shift: self.lba_shift(),
            meta,
            integrity,
            queue,
            origin,
        }
    }

    /// Runs the driver's own command `c` with `buf` as its data (read from the device) on the
    /// disk's `queue`, as C's `nvme_submit_sync_cmd()` on a namespace queue, and waits for it:
    /// `EIO` when it fails.
    pub(crate) fn run_on_disk(
        &self,
        queue: DiskQueue<NvmeMq>,
        c: &Command,
        buf: &mut [u8],
    ) -> Result {
        let mut rq = queue.alloc_passthru(false)?;
        rq.map_kernel(buf)?;
        rq.request().data().clear();
        rq.owned().pt_sized = PtSized {
            lba_shift: self.lba_shift(),
            meta: self.meta_bits(),
            meta_len: 0,
        };
        rq.owned().pt_cmd = Some(*c);
        let st = rq.execute();
        rq.owned().pt_cmd = None;
        if st.is_ok() && rq.request().data().status().is_success() {
            Ok(())
        } else {
            Err(EIO)
        }
    }

    /// The disk's capacity in 512-byte sectors.
    pub(crate) fn capacity_sectors(&self) -> u64 {
        // Relaxed: as `lba_shift`.
        self.sectors.load(Ordering::Relaxed)
    }

    /// Zone size in sectors of a zoned namespace, 0 when not zoned.
    pub(crate) fn zone_sectors(&self) -> u32 {
        // Relaxed: as `lba_shift`.
        self.zone_sectors.load(Ordering::Relaxed)
    }

    /// Converts a 512-byte sector number to this namespace's LBA.
    #[inline]
    pub(crate) fn lba(&self, sector: u64) -> u64 {
        sector >> (self.lba_shift() - 9)
    }

    /// Converts a byte count to a block count.
    #[inline]
    pub(crate) fn blocks(&self, bytes: u32) -> u32 {
        bytes >> self.lba_shift()
    }
}

/// The integrity profile of a disk whose namespace has metadata format `meta`: its metadata in
/// separate buffers the block layer attaches to every read and write. `None` for a format
/// without metadata, with metadata interleaved in the data, on a kernel without the block
/// layer's integrity support, or whose sizes the block layer cannot describe (its fields are
/// bytes: at most 255 bytes of metadata per block).
pub(crate) fn disk_integrity(meta: &MetaFormat) -> Option<Integrity> {
    let Serve::Integrity(p) = meta.serve() else {
        return None;
    };
    if !glue::INTEGRITY_SUPPORTED {
        return None;
    }
    Some(Integrity {
        csum: match p.csum {
            Csum::None => IntegrityCsum::None,
            Csum::Crc16 => IntegrityCsum::Crc,
            Csum::Crc64 => IntegrityCsum::Crc64,
        },
        tag_size: p.tag_size,
        ref_tag: p.ref_tag,
        metadata_size: u8::try_from(p.metadata_size).ok()?,
        pi_tuple_size: u8::try_from(p.pi_tuple_size).ok()?,
        pi_offset: u8::try_from(p.pi_offset).ok()?,
    })
}
