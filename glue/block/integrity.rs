// SPDX-License-Identifier: GPL-2.0

//! Block layer integrity (`struct blk_integrity`, `struct bio_integrity_payload`): the
//! profile of a disk whose blocks carry metadata, and what a request's metadata buffer asks
//! of the device. The kernel crate has no abstraction for it, and the kernel's Rust bindings
//! do not cover `<linux/blk-integrity.h>` and `<linux/bio-integrity.h>`: the few functions,
//! flags and fields used here are declared from those headers, for a kernel built with
//! `CONFIG_BLK_DEV_INTEGRITY` (without it there is no integrity, see
//! [`INTEGRITY_SUPPORTED`]).

use kernel::bindings;

/// The kernel has the block layer's integrity support (`CONFIG_BLK_DEV_INTEGRITY`): without it
/// [`Limits::integrity`] is refused, and no request carries metadata.
pub(crate) const INTEGRITY_SUPPORTED: bool = cfg!(CONFIG_BLK_DEV_INTEGRITY);

/// The guard of the protection information tuples (`enum blk_integrity_checksum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum IntegrityCsum {
    /// No protection information: the metadata is opaque, the block layer zeroes it on writes
    /// and checks nothing.
    #[default]
    None,
    /// T10 DIF CRC16, 8-byte tuples.
    Crc,
    /// NVMe CRC64, 16-byte tuples.
    Crc64,
}

/// A block layer integrity profile (`struct blk_integrity` in `queue_limits`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Integrity {
    /// The guard; with one, the device checks the tuples (`BLK_INTEGRITY_DEVICE_CAPABLE`).
    pub(crate) csum: IntegrityCsum,
    /// Bytes of the tuple's tags available to the block layer.
    pub(crate) tag_size: u8,
    /// The reference tag is the block's LBA, remapped for partitions (`BLK_INTEGRITY_REF_TAG`).
    pub(crate) ref_tag: bool,
    /// Metadata bytes per logical block.
    pub(crate) metadata_size: u8,
    /// Bytes of the tuple.
    pub(crate) pi_tuple_size: u8,
    /// Offset of the tuple within each block's metadata.
    pub(crate) pi_offset: u8,
}

/// What a request's integrity payload asks the device to check (`BIP_CHECK_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct IntegrityChecks {
    /// Check the guard.
    pub(crate) guard: bool,
    /// Check the reference tag.
    pub(crate) reftag: bool,
    /// Check the application tag against this one.
    pub(crate) app_tag: Option<u16>,
}

/// `enum blk_integrity_flags` (`<linux/blk-integrity.h>`): the device checks the tuples.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BLK_INTEGRITY_DEVICE_CAPABLE: u8 = 1 << 2;
/// ... the reference tag is the block's LBA (types 1 and 2).
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BLK_INTEGRITY_REF_TAG: u8 = 1 << 3;
/// ... the driver takes integrity buffers split at any protection interval.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BLK_SPLIT_INTERVAL_CAPABLE: u8 = 1 << 5;

/// `enum bip_flags` (`<linux/bio-integrity.h>`): check the guard.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BIP_CHECK_GUARD: u16 = 1 << 5;
/// ... check the reference tag.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BIP_CHECK_REFTAG: u16 = 1 << 6;
/// ... check the application tag.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const BIP_CHECK_APPTAG: u16 = 1 << 7;

/// The leading fields of `struct bio_integrity_payload` (`<linux/bio-integrity.h>`, Linux
/// 7.2 and 7.3), which the bindings leave opaque; only ever read through a pointer the block
/// layer gave.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
#[repr(C)]
struct BipHead {
    bip_iter: bindings::bvec_iter,
    bip_vcnt: u16,
    bip_max_vcnt: u16,
    bip_flags: u16,
    app_tag: u16,
}

// `struct bvec_iter` is packed to 20 bytes with 4-byte alignment, so `bip_flags` is at byte 24
// and `app_tag` at 26, as in C.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
const _: () = {
    assert!(core::mem::size_of::<bindings::bvec_iter>() == 20);
    assert!(core::mem::offset_of!(BipHead, bip_flags) == 24);
    assert!(core::mem::offset_of!(BipHead, app_tag) == 26);
};

#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
extern "C" {
    /// `blk_rq_map_integrity_sg()`: fills `sg` with the integrity segments of request `rq`
    /// (a `struct request *`: the bindings' type is not FFI-safe as Rust sees it).
    pub(in crate::glue) fn blk_rq_map_integrity_sg(
        rq: *mut core::ffi::c_void,
        sg: *mut bindings::scatterlist,
    ) -> core::ffi::c_int;
    /// `blk_rq_integrity_map_user()`: attaches user memory as the integrity payload of
    /// request `rq` (a `struct request *`).
    pub(in crate::glue) fn blk_rq_integrity_map_user(
        rq: *mut core::ffi::c_void,
        ubuf: *mut core::ffi::c_void,
        bytes: isize,
    ) -> core::ffi::c_int;
}

impl IntegrityChecks {
    /// The checks of `bio`'s integrity payload, `None` without one.
    ///
    /// # Safety
    ///
    /// `bio` is a valid bio, alive for the call.
    pub(in crate::glue) unsafe fn of_bio(bio: *mut bindings::bio) -> Option<Self> {
        #[cfg(CONFIG_BLK_DEV_INTEGRITY)]
        {
            // SAFETY: `bio` is valid (function safety requirements); `bi_integrity` is null or
            // its payload, which starts with the fields `BipHead` mirrors and lives as long as
            // the bio.
            let bip = unsafe { (*bio).bi_integrity.cast::<BipHead>().as_ref()? };
            let has = |f: u16| bip.bip_flags & f != 0;
            Some(Self {
                guard: has(BIP_CHECK_GUARD),
                reftag: has(BIP_CHECK_REFTAG),
                app_tag: has(BIP_CHECK_APPTAG).then_some(bip.app_tag),
            })
        }
        #[cfg(not(CONFIG_BLK_DEV_INTEGRITY))]
        {
            let _ = bio;
            None
        }
    }
}

/// Sets (or clears) the integrity profile of `lim`.
#[cfg(CONFIG_BLK_DEV_INTEGRITY)]
pub(in crate::glue) fn set_limits(lim: &mut bindings::queue_limits, integrity: Option<&Integrity>) {
    lim.integrity = pin_init::zeroed();
    lim.max_integrity_segments = 0;
    let Some(i) = integrity else {
        return;
    };
    let bi = &mut lim.integrity;
    // The driver maps each request's metadata as one segment: the controller takes one
    // metadata pointer (MPTR).
    lim.max_integrity_segments = 1;
    bi.metadata_size = i.metadata_size;
    bi.tag_size = i.tag_size;
    bi.flags = BLK_SPLIT_INTERVAL_CAPABLE;
    bi.csum_type = match i.csum {
        IntegrityCsum::None => bindings::blk_integrity_checksum_BLK_INTEGRITY_CSUM_NONE,
        IntegrityCsum::Crc => bindings::blk_integrity_checksum_BLK_INTEGRITY_CSUM_CRC,
        IntegrityCsum::Crc64 => bindings::blk_integrity_checksum_BLK_INTEGRITY_CSUM_CRC64,
    };
    if i.csum != IntegrityCsum::None {
        bi.flags |= BLK_INTEGRITY_DEVICE_CAPABLE;
        if i.ref_tag {
            bi.flags |= BLK_INTEGRITY_REF_TAG;
        }
        bi.pi_tuple_size = i.pi_tuple_size;
        bi.pi_offset = i.pi_offset;
    }
}

/// Without the block layer's integrity support there is no profile to set; a disk asked for
/// one is refused when it is added or updated.
#[cfg(not(CONFIG_BLK_DEV_INTEGRITY))]
pub(in crate::glue) fn set_limits(
    _lim: &mut bindings::queue_limits,
    _integrity: Option<&Integrity>,
) {
}
