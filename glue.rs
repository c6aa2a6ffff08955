// SPDX-License-Identifier: GPL-2.0

//! The one place where rust_nvme calls raw kernel bindings.
//!
//! Linux 7.3's `kernel` crate has no blk-mq abstraction an NVMe driver can use (no per-request
//! data of a chosen size, no hardware-context data, no tag-to-request lookup, no `map_queues`,
//! `commit_rqs` or `timeout`), no scatter-gather mapping of a request, no DMA pool, and no PCI
//! interrupt vectors with managed affinity. This folder supplies them, one kernel object per
//! file, laid out like the `kernel` crate modules they stand in for (`block/mq/request.rs`
//! for `kernel::block::mq::Request`, ...), each opening with its C header and what upstream
//! lacks: each type owns one kernel object, frees it in `Drop`, and every call into C carries
//! a `// SAFETY:` proof. It is named `glue`, not `ffi`, so that it does not shadow the
//! kernel's own `ffi` crate.
//!
//! What differs between the kernels the driver builds against (7.3, and 7.2) is in [`kver`].

pub(crate) mod block {
    //! Block devices: status codes, bios and blk-mq.
    pub(crate) mod bio;
    pub(crate) mod bio_disk;
    pub(crate) mod bio_list;
    pub(crate) mod mq {
        //! blk-mq: requests, their data mapping and completion, tag sets, disks.
        pub(crate) mod comp_batch;
        pub(crate) mod dma_map;
        pub(crate) mod gen_disk;
        pub(crate) mod operations;
        pub(crate) mod passthru;
        pub(crate) mod request;
        pub(crate) mod request_queue;
        pub(crate) mod tag_set;
    }
    pub(crate) mod integrity;
    pub(crate) mod status;
    pub(crate) mod zoned;
}
pub(crate) mod cred;
pub(crate) mod device;
pub(crate) mod dma_pool;
pub(crate) mod doorbell;
pub(crate) mod hwmon;
pub(crate) mod io_uring_cmd;
pub(crate) mod irq {
    //! Interrupt handlers.
    pub(crate) mod request;
}
pub(crate) mod kver;
pub(crate) mod miscdevice;
pub(crate) mod pci {
    //! PCI: the driver registration with the callbacks `pci::Driver` lacks, and interrupt
    //! vectors.
    pub(crate) mod driver;
    pub(crate) mod irq;
}
pub(crate) mod sync {
    //! Locks, completions and memory barriers.
    pub(crate) mod barrier;
    pub(crate) mod completion;
    pub(crate) mod queue_lock;
    pub(crate) mod srcu;
}
pub(crate) mod sysfs;
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
pub(crate) mod testing;
pub(crate) mod workqueue;

pub(crate) use block::{
    bio::{
        AtomicDiskTarget,
        Bio,
        DiskTarget, //
    },
    bio_disk::{
        BioDisk,
        BioOperations, //
    },
    bio_list::BioList,
    integrity::{
        Integrity,
        IntegrityCsum,
        INTEGRITY_SUPPORTED, //
    },
    mq::{
        comp_batch::{
            complete_request,
            CompBatch, //
        },
        dma_map::{
            dma_map_is_direct,
            dma_need_unmap,
            dma_opt_mapping_size,
            DmaSeg,
            SgTable,
            Single,
            SingleMap,
            VecMap,
            VecMapped, //
        },
        gen_disk::{
            FrozenDisks,
            GenDisk,
            Limits,
            MAX_BLOCK_SHIFT, //
        },
        operations::{
            IoctlNode,
            Operations,
            TimeoutAction, //
        },
        passthru::{
            uring_passthru_iopoll,
            DiskQueue,
            PassthruRq,
            UringEnd, //
        },
        request::{
            OwnedRequest,
            ReqOp,
            Request, //
        },
        request_queue::{
            QueueRef,
            RequestQueue, //
        },
        tag_set::{
            MapKind,
            QueueMaps,
            TagSet,
            TagSetRef,
            Tags,
            TagsCell, //
        },
    },
    status::BlkStatus,
    zoned::{
        Zone,
        ZoneReport,
        ZonedLimits,
        ZONED_SUPPORTED, //
    },
};
pub(crate) use cred::require_sys_admin;
pub(crate) use device::{
    pci_clear_master_of,
    pci_memory_enabled_of,
    pci_set_master_of,
    DevRef, //
};
pub(crate) use dma_pool::{
    DmaPool,
    PoolBuf, //
};
pub(crate) use doorbell::Doorbell;
pub(crate) use hwmon::{
    Hwmon,
    TempAttr,
    TempSensors, //
};
pub(crate) use io_uring_cmd::{
    IssueFlags,
    UringCmd, //
};
pub(crate) use irq::request::{
    Handler,
    IrqHandler, //
};
pub(crate) use miscdevice::{
    PollBatch,
    UringMiscDevice,
    UringMiscRegistration, //
};
pub(crate) use pci::{
    driver::{
        pci_restore_state,
        ChannelState,
        DriverExt,
        ErsResult,
        Sleep, //
    },
    irq::{
        IrqKind,
        IrqVectors, //
    },
};
pub(crate) use sync::{
    completion::Waiter,
    queue_lock::{
        new_queue_lock,
        QueueLock, //
    },
    srcu::{
        new_srcu,
        Srcu,
        SrcuGuard, //
    },
};
#[cfg(all(rnvme_kunit, CONFIG_KUNIT = "y"))]
pub(crate) use sysfs::NoAttrs;
pub(crate) use sysfs::{
    AttrTable,
    Attributes,
    MiscOf,
    SysfsWriter, //
};
pub(crate) use workqueue::{
    cancel_arc_delayed_work,
    cancel_arc_work,
    system_dfl_wq, //
};
