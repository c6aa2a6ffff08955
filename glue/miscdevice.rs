// SPDX-License-Identifier: GPL-2.0

//! A misc device whose files take io_uring commands: what `kernel::miscdevice` gives, plus the
//! `uring_cmd` and `uring_cmd_iopoll` file operations its 7.3 vtable lacks, a name made at run
//! time and a parent device.
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h)

use core::marker::PhantomData;

use kernel::{
    bindings, device,
    error::to_result,
    ffi::{
        c_int,
        c_long,
        c_uint,
        c_ulong, //
    },
    prelude::*,
    str::CString,
    types::{
        ForeignOwnable,
        Opaque, //
    },
};

use super::{
    device::raw_dev,
    io_uring_cmd::{
        IssueFlags,
        RawCmd,
        UringCmd, //
    },
    kver,
};

/// The files of a [`UringMiscRegistration`].
pub(crate) trait UringMiscDevice: Sized + 'static {
    /// What the registration keeps for its files.
    type RegData: Send + Sync;
    /// What an open file keeps.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Opens a file of the device registered with `data`.
    fn open(data: &Self::RegData) -> Result<Self::Ptr>;

    /// An ioctl on an open file; `writable` when it was opened for writing.
    fn ioctl(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        writable: bool,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;

    /// An io_uring command on an open file. `Ok` once it was queued: the driver completes it
    /// later ([`UringCmd::done_from_task`]); on an error it was not queued, and io_uring
    /// completes it with the error.
    fn uring_cmd(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        cmd: UringCmd<'_>,
        issue: IssueFlags,
    ) -> Result;

    /// Polls for the completion of `cmd`, queued by [`UringMiscDevice::uring_cmd`] on a ring
    /// that polls: how many completions were found.
    fn uring_cmd_iopoll(cmd: &UringCmd<'_>, iob: PollBatch, poll_flags: u32) -> i32;
}

/// The completion batch of an io_uring poll (`struct io_comp_batch`), for `blk_rq_poll()`.
#[derive(Clone, Copy)]
pub(crate) struct PollBatch(pub(in crate::glue) *mut bindings::io_comp_batch);

/// A registered misc device of `T`, `/dev/<name>`, deregistered on drop.
///
/// # Invariants
///
/// `inner` is registered (`misc_register`) with `name` as its name and the file operations of
/// `T`, until drop; `name` and `data` live as long as it.
#[pin_data(PinnedDrop)]
pub(crate) struct UringMiscRegistration<T: UringMiscDevice> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    name: CString,
    data: T::RegData,
}

// SAFETY: the misc core synchronises registration and open; `data` is `Send + Sync`.
unsafe impl<T: UringMiscDevice> Send for UringMiscRegistration<T> {}
// SAFETY: as above.
unsafe impl<T: UringMiscDevice> Sync for UringMiscRegistration<T> {}

impl<T: UringMiscDevice> UringMiscRegistration<T> {
    /// Registers `/dev/<name>` as a child of `parent`, its files opened with `data`. The node
    /// is created with the default mode (0600, root).
    pub(crate) fn register(
        name: CString,
        parent: &device::Device,
        data: T::RegData,
    ) -> impl PinInit<Self, Error> {
        // The name's buffer stays where it is when the `CString` moves into `Self`.
        let name_ptr = name.as_char_ptr();
        let parent = raw_dev(parent);
        try_pin_init!(Self {
            name,
            data,
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut misc: bindings::miscdevice = pin_init::zeroed();
                // CAST: `MISC_DYNAMIC_MINOR` (255) fits in an int.
                misc.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                misc.name = name_ptr;
                misc.fops = &VTable::<T>::FOPS.0;
                misc.parent = parent;
                // SAFETY: `slot` is ours to initialise; it is pinned and deregistered in drop,
                // before its memory, `name` and `data` go; the device core holds a reference
                // on `parent` while its child is registered.
                unsafe {
                    slot.write(misc);
                    to_result(bindings::misc_register(slot))
                }
            }),
        })
    }
}

#[pinned_drop]
impl<T: UringMiscDevice> PinnedDrop for UringMiscRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant). Files already open stay open: they hold only
        // what `T::open` gave them.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The file operations of `T`'s devices.
struct VTable<T>(bindings::file_operations, PhantomData<T>);

// SAFETY: the table is immutable; its pointers refer to this module, which outlives every file
// (`owner` holds the module while one is open).
unsafe impl<T> Sync for VTable<T> {}

impl<T: UringMiscDevice> VTable<T> {
    const FOPS: Self = Self(
        bindings::file_operations {
            owner: kver::this_module(),
            open: Some(open_callback::<T>),
            release: Some(release_callback::<T>),
            unlocked_ioctl: Some(ioctl_callback::<T>),
            uring_cmd: Some(uring_cmd_callback::<T>),
            uring_cmd_iopoll: Some(uring_cmd_iopoll_callback::<T>),
            ..pin_init::zeroed()
        },
        PhantomData,
    );
}

/// `open`: `misc_open()` has set `private_data` to the `struct miscdevice`.
///
/// # Safety
///
/// Called by the VFS only, for a file of a device registered by [`UringMiscRegistration`].
unsafe extern "C" fn open_callback<T: UringMiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `misc_open` set `private_data` to the registered `miscdevice`, the `inner` of a
    // `UringMiscRegistration<T>`, which stays registered (and alive) while it opens the file.
    let reg = unsafe {
        let misc = (*file).private_data.cast::<bindings::miscdevice>();
        &*kernel::container_of!(Opaque::cast_from(misc), UringMiscRegistration<T>, inner)
    };
    match T::open(&reg.data) {
        Ok(ptr) => {
            // SAFETY: the file is being opened: its private data is ours from here.
            unsafe { (*file).private_data = ptr.into_foreign().cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `release`: the last reference on the file went.
///
/// # Safety
///
/// Called by the VFS only, once, for a file `open_callback` opened.
unsafe extern "C" fn release_callback<T: UringMiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` came from `into_foreign` in `open_callback`; nothing uses the
    // file any more.
    drop(unsafe { T::Ptr::from_foreign((*file).private_data.cast()) });
    0
}

/// `unlocked_ioctl`.
///
/// # Safety
///
/// Called by the VFS only, for a file `open_callback` opened and not yet released.
unsafe extern "C" fn ioctl_callback<T: UringMiscDevice>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: the file is open: `private_data` came from `into_foreign` and is released only
    // in `release_callback`, which cannot run during the call.
    let (this, writable) = unsafe {
        (
            T::Ptr::borrow((*file).private_data.cast()),
            (*file).f_mode & (1 << 1) != 0, // `FMODE_WRITE`
        )
    };
    match T::ioctl(this, writable, cmd, arg) {
        Ok(v) => v,
        // CAST: an errno fits in a long.
        Err(e) => e.to_errno() as c_long,
    }
}

/// `uring_cmd`.
///
/// # Safety
///
/// Called by io_uring only, for a new command on a file `open_callback` opened.
unsafe extern "C" fn uring_cmd_callback<T: UringMiscDevice>(
    cmd: *mut bindings::io_uring_cmd,
    issue_flags: c_uint,
) -> c_int {
    // SAFETY: a new command on an open file of ours, not completed until we complete it.
    let cmd = unsafe { UringCmd::from_raw(cmd.cast::<RawCmd>()) };
    // SAFETY: the command holds a reference on its file, so the file stays open and its
    // private data (from `into_foreign`) is not released during the call.
    let this = unsafe { T::Ptr::borrow(cmd.file_private().cast()) };
    match T::uring_cmd(this, cmd, IssueFlags(issue_flags)) {
        // CAST: `EIOCBQUEUED` (529) fits in an int.
        Ok(()) => -(bindings::EIOCBQUEUED as c_int),
        Err(e) => e.to_errno(),
    }
}

/// `uring_cmd_iopoll`.
///
/// # Safety
///
/// Called by io_uring only, for a command queued by `uring_cmd_callback` and not yet seen
/// completed, with the completion batch of its poll.
unsafe extern "C" fn uring_cmd_iopoll_callback<T: UringMiscDevice>(
    cmd: *mut bindings::io_uring_cmd,
    iob: *mut bindings::io_comp_batch,
    poll_flags: c_uint,
) -> c_int {
    // SAFETY: a command of ours io_uring still holds (the function's requirements).
    let cmd = unsafe { UringCmd::from_raw(cmd.cast::<RawCmd>()) };
    T::uring_cmd_iopoll(&cmd, PollBatch(iob), poll_flags)
}
