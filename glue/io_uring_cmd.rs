// SPDX-License-Identifier: GPL-2.0

//! An io_uring command on a file (`struct io_uring_cmd`, `IORING_OP_URING_CMD`): the command
//! bytes of its submission entry, its private area, and its completion, posted directly or
//! from task work. Upstream has no abstraction in 7.3, and its bindings leave the structure
//! opaque (`include/linux/io_uring/cmd.h` is not among their headers): the structure and the
//! exported functions used are declared here, after that header.
//!
//! C header: [`include/linux/io_uring/cmd.h`](srctree/include/linux/io_uring/cmd.h)

use core::{ffi::c_void, marker::PhantomData, mem::size_of, ptr::NonNull};

use kernel::{
    bindings,
    error::to_result,
    ffi::{
        c_int,
        c_uint,
        c_ulong, //
    },
    prelude::*, //
    transmute::FromBytes,
};

use crate::glue::kver;

/// `struct io_uring_cmd` of Linux 7.3 (64 bytes; it overlays the start of the `struct
/// io_kiocb` io_uring allocates for the request).
#[repr(C)]
pub(in crate::glue) struct RawCmd {
    /// `struct file *` (untyped: the lint on foreign types rejects the bindings' `file`).
    file: *mut c_void,
    sqe: *const u8,
    cmd_op: u32,
    flags: u32,
    pdu: [u8; PDU_SIZE],
    unused: [u8; 8],
}

const _: () = assert!(size_of::<RawCmd>() == 64);

/// Bytes of the command's private area (`pdu`).
const PDU_SIZE: usize = 32;

/// Offset of the command bytes in a submission entry (`io_uring_sqe.cmd`).
const SQE_CMD_OFFSET: usize = 48;

/// Command bytes of a 128-byte submission entry (`IO_URING_F_SQE128`).
const SQE128_CMD_LEN: usize = 128 - SQE_CMD_OFFSET;

/// Offset of `ctx` (the ring) in `struct io_kiocb` of Linux 7.3: the 64-byte command union,
/// `opcode`, `iopoll_completed` and `buf_index` (4 bytes, then 4 of padding), `flags` (8 bytes,
/// at 72), `cqe` (16 bytes, at 80), then `ctx`.
const KIOCB_CTX_OFFSET: usize = 96;

/// `IORING_URING_CMD_FIXED`: the buffer is one the ring registered.
const CMD_FIXED: u32 = 1 << 0;

/// `struct io_tw_req`, passed by value to task work.
#[repr(C)]
struct TwReq {
    req: *mut c_void,
}

/// `struct io_tw_state` (`io_tw_token_t`), passed by value to task work.
#[repr(C)]
struct TwToken {
    _cancel: bool,
}

/// `IOU_F_TWQ_LAZY_WAKE`: the task is woken only once enough completions are pending.
const TWQ_LAZY_WAKE: c_uint = 1;

extern "C" {
    fn __io_uring_cmd_done(cmd: *mut RawCmd, ret: i32, res2: u64, issue_flags: c_uint, cqe32: bool);
    fn __io_uring_cmd_do_in_task(
        cmd: *mut RawCmd,
        cb: unsafe extern "C" fn(TwReq, TwToken),
        flags: c_uint,
    );
    fn io_uring_cmd_import_fixed(
        ubuf: u64,
        len: c_ulong,
        rw: c_int,
        iter: *mut bindings::iov_iter,
        cmd: *mut RawCmd,
        issue_flags: c_uint,
    ) -> c_int;
    fn io_uring_cmd_import_fixed_vec(
        cmd: *mut RawCmd,
        uvec: *const c_void,
        uvec_segs: usize,
        ddir: c_int,
        iter: *mut bindings::iov_iter,
        issue_flags: c_uint,
    ) -> c_int;
}

/// The issue flags io_uring passes to `uring_cmd` (`enum io_uring_cmd_flags`), to be handed
/// back unchanged when completing from the same call.
#[derive(Clone, Copy)]
pub(crate) struct IssueFlags(pub(in crate::glue) c_uint);

impl IssueFlags {
    /// `IO_URING_CMD_TASK_WORK_ISSUE_FLAGS`: the flags of a completion from task work.
    const TASK_WORK: Self = Self(1);

    /// `IO_URING_F_NONBLOCK`: the command must not sleep (it is issued again from a worker
    /// that may, when it returns `EAGAIN`).
    pub(crate) fn nonblock(self) -> bool {
        // `IO_URING_F_NONBLOCK` is `INT_MIN`.
        self.0 & (1 << 31) != 0
    }

    /// `IO_URING_F_SQE128 | IO_URING_F_CQE32`: the ring has 128-byte submission and 32-byte
    /// completion entries.
    pub(crate) fn big_entries(self) -> bool {
        const BOTH: c_uint = (1 << 8) | (1 << 9);
        self.0 & BOTH == BOTH
    }

    /// `IO_URING_F_IOPOLL`: the ring polls for completions.
    pub(crate) fn iopoll(self) -> bool {
        self.0 & (1 << 10) != 0
    }
}

/// What a command's private area holds while the command runs.
///
/// # Safety
///
/// The type is at most 32 bytes, aligned to at most 8 bytes (the area's alignment in the
/// command), and has no destructor to be skipped.
pub(in crate::glue) unsafe trait Pdu: Sync {}

/// Task work of a command: runs in the submitting task, where the command can be completed
/// with [`UringCmd::done_from_task`].
pub(in crate::glue) trait TaskWork {
    /// Runs the task work of `cmd`, which it must complete.
    fn run(cmd: UringCmd<'_>);
}

/// An io_uring command the driver was given in `uring_cmd` and has not completed yet.
///
/// # Invariants
///
/// `cmd` points to a live `struct io_uring_cmd` that io_uring issued to this driver's file and
/// that was not completed: io_uring keeps it (and its file) until [`UringCmd::done`] or
/// [`UringCmd::done_from_task`] is called.
pub(crate) struct UringCmd<'a> {
    cmd: NonNull<RawCmd>,
    _life: PhantomData<&'a mut RawCmd>,
}

// SAFETY: the command may be completed from any context; io_uring synchronises its own state.
unsafe impl Send for UringCmd<'_> {}

impl UringCmd<'_> {
    /// Wraps a command given to `uring_cmd`, `uring_cmd_iopoll` or task work.
    ///
    /// # Safety
    ///
    /// `cmd` is a live, uncompleted command issued to this driver (see the type invariant).
    pub(in crate::glue) unsafe fn from_raw(cmd: *mut RawCmd) -> Self {
        // INVARIANT: the caller's guarantee.
        Self {
            // SAFETY: the caller passes a live command.
            cmd: unsafe { NonNull::new_unchecked(cmd) },
            _life: PhantomData,
        }
    }

    /// The raw command, as the handle an ended request finds it by.
    pub(in crate::glue) fn handle(&self) -> UringCmdHandle {
        UringCmdHandle(self.cmd)
    }

    /// The command's operation (`sqe->cmd_op`, e.g. `NVME_URING_CMD_IO`).
    pub(crate) fn cmd_op(&self) -> u32 {
        // SAFETY: live command (type invariant); io_uring set the field at preparation.
        unsafe { (*self.cmd.as_ptr()).cmd_op }
    }

    /// The buffer is one the ring registered (`IORING_URING_CMD_FIXED`).
    pub(crate) fn fixed_buffer(&self) -> bool {
        // SAFETY: as in `cmd_op`.
        unsafe { (*self.cmd.as_ptr()).flags & CMD_FIXED != 0 }
    }

    /// The file's `FMODE_WRITE`: it was opened for writing.
    pub(crate) fn file_writable(&self) -> bool {
        // SAFETY: io_uring holds a reference on the command's file while the command runs.
        unsafe { (*self.file()).f_mode & (1 << 1) != 0 }
    }

    /// The file's private data.
    pub(in crate::glue) fn file_private(&self) -> *mut c_void {
        // SAFETY: as in `file_writable`.
        unsafe { (*self.file()).private_data }
    }

    /// The command's file.
    fn file(&self) -> *mut bindings::file {
        // SAFETY: live command (type invariant); io_uring set the field at preparation.
        unsafe { (*self.cmd.as_ptr()).file.cast() }
    }

    /// Copies the command of the submission entry, once, as a `T`: user space may change a
    /// submission entry still in the ring, so the command is read only from the copy.
    /// `EOPNOTSUPP` unless the ring has 128-byte entries (whose command area holds 80 bytes).
    pub(crate) fn command<T: FromBytes>(&self, issue: IssueFlags) -> Result<T> {
        const { assert!(size_of::<T>() <= SQE128_CMD_LEN && core::mem::align_of::<T>() <= 16) };
        if !issue.big_entries() {
            return Err(kver::eopnotsupp());
        }
        // SAFETY: the entry of a live command is readable for its 128 bytes (the ring has big
        // entries); the command area starts at `SQE_CMD_OFFSET` of the 64-byte aligned entry,
        // so it is aligned for `T`, and holds `size_of::<T>()` bytes (asserted). Every bit
        // pattern is a `T` (`FromBytes`). A volatile read: the memory may be user space's.
        Ok(unsafe {
            core::ptr::read_volatile((*self.cmd.as_ptr()).sqe.add(SQE_CMD_OFFSET).cast::<T>())
        })
    }

    /// Stores `p` in the command's private area.
    pub(in crate::glue) fn init_pdu<P: Pdu>(&mut self, p: P) {
        const { assert!(size_of::<P>() <= PDU_SIZE && core::mem::align_of::<P>() <= 8) };
        // SAFETY: the private area belongs to the driver while the command runs; it holds a
        // `P` (size and alignment asserted: the area is at offset 24 of the 8-byte aligned
        // command).
        unsafe { (&raw mut (*self.cmd.as_ptr()).pdu).cast::<P>().write(p) };
    }

    /// The `P` in the private area, stored by [`UringCmd::init_pdu`].
    ///
    /// # Safety
    ///
    /// A `P` was stored in this command's private area.
    pub(in crate::glue) unsafe fn pdu<P: Pdu>(&self) -> &P {
        // SAFETY: as `UringCmdHandle::pdu`.
        unsafe { self.handle().pdu() }
    }

    /// Imports the ring's registered buffer at `addr` (`len` bytes, or `len` iovecs at `addr`
    /// when `vec`) into `iter`, for data moved to the device when `to_device`.
    pub(in crate::glue) fn import_fixed(
        &self,
        addr: u64,
        len: u32,
        vec: bool,
        to_device: bool,
        issue: IssueFlags,
        iter: &mut IovIter,
    ) -> Result {
        let ddir = c_int::from(to_device); // `ITER_SOURCE` is `WRITE`, 1.
        let iter = iter.0.as_mut_ptr();
        // SAFETY: a live command and its issue flags; `iter` is ours to fill; io_uring checks
        // that the range lies in the registered buffer.
        to_result(unsafe {
            if vec {
                io_uring_cmd_import_fixed_vec(
                    self.cmd.as_ptr(),
                    addr as *const c_void,
                    len as usize,
                    ddir,
                    iter,
                    issue.0,
                )
            } else {
                io_uring_cmd_import_fixed(
                    addr,
                    // CAST: `unsigned long` holds a `u32`.
                    len as c_ulong,
                    ddir,
                    iter,
                    self.cmd.as_ptr(),
                    issue.0,
                )
            }
        })
    }

    /// Completes the command with `ret` and, in the big completion entry, `res2`, from the
    /// `uring_cmd` call that was given `issue`.
    pub(in crate::glue) fn done(self, ret: i32, res2: u64, issue: IssueFlags) {
        // SAFETY: a live, uncompleted command (type invariant), completed once: `self` is
        // consumed.
        unsafe { __io_uring_cmd_done(self.cmd.as_ptr(), ret, res2, issue.0, true) };
    }

    /// As [`UringCmd::done`], from [`TaskWork::run`].
    pub(in crate::glue) fn done_from_task(self, ret: i32, res2: u64) {
        self.done(ret, res2, IssueFlags::TASK_WORK);
    }
}

/// A command handed off to an asynchronous completion (an ended request), to be completed from
/// task work with [`UringCmdHandle::complete_in_task`].
#[derive(Clone, Copy)]
pub(in crate::glue) struct UringCmdHandle(NonNull<RawCmd>);

// SAFETY: a plain handle; its users are `unsafe`.
unsafe impl Send for UringCmdHandle {}

impl UringCmdHandle {
    /// The address, for a request's end-I/O data.
    pub(in crate::glue) fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr().cast()
    }

    /// The handle stored at `p` by [`UringCmdHandle::as_ptr`].
    ///
    /// # Safety
    ///
    /// `p` came from [`UringCmdHandle::as_ptr`].
    pub(in crate::glue) unsafe fn from_ptr(p: *mut c_void) -> Self {
        // SAFETY: non-null, as it came from a handle (the caller's guarantee).
        Self(unsafe { NonNull::new_unchecked(p.cast()) })
    }

    /// The `P` in the command's private area.
    ///
    /// # Safety
    ///
    /// The command is live, and a `P` was stored in its private area by
    /// [`UringCmd::init_pdu`]; the reference is not used after the command completes.
    pub(in crate::glue) unsafe fn pdu<'a, P: Pdu>(self) -> &'a P {
        // SAFETY: a live command holding a `P` (the caller's guarantee); shared access only,
        // `P` is `Sync`.
        unsafe { &*(&raw const (*self.0.as_ptr()).pdu).cast::<P>() }
    }

    /// The ring the command was submitted on (`io_uring_cmd_ctx_handle()`: the `ctx` of the
    /// `struct io_kiocb` the command overlays), to compare with a poll's `poll_ctx`.
    ///
    /// # Safety
    ///
    /// The command is live.
    pub(in crate::glue) unsafe fn ring_ctx(self) -> *mut c_void {
        // SAFETY: a live command overlays the start of its `struct io_kiocb` (type invariant of
        // `UringCmd`), whose `ctx` pointer lies at `KIOCB_CTX_OFFSET`, set at submission and
        // unchanged while the request lives.
        unsafe {
            self.0
                .as_ptr()
                .cast::<u8>()
                .add(KIOCB_CTX_OFFSET)
                .cast::<*mut c_void>()
                .read()
        }
    }

    /// Completes the command in the context of a poll of its own ring, with `ret` and, in the
    /// big completion entry, `res2` (issue flags 0, as C's `nvme_uring_cmd_end_io()`).
    ///
    /// # Safety
    ///
    /// The command is live and not completed, nothing else uses it afterwards, and the caller
    /// runs in a poll of the command's own ring (its `poll_ctx` is [`Self::ring_ctx`]).
    pub(in crate::glue) unsafe fn done_in_poll(self, ret: i32, res2: u64) {
        // SAFETY: the caller's guarantees: completed once, from its ring's own poll.
        unsafe { UringCmd::from_raw(self.0.as_ptr()) }.done(ret, res2, IssueFlags(0));
    }

    /// Runs `W::run` in the submitting task, lazily woken (`io_uring_cmd_do_in_task_lazy()`):
    /// from any context, an interrupt handler included.
    ///
    /// # Safety
    ///
    /// The command is live and not completed, and nothing else uses it until the task work
    /// runs (which takes it over).
    pub(in crate::glue) unsafe fn complete_in_task<W: TaskWork>(self) {
        // SAFETY: a live, uncompleted command (the caller's guarantee); the callback is this
        // module's.
        unsafe {
            __io_uring_cmd_do_in_task(self.0.as_ptr(), task_work_callback::<W>, TWQ_LAZY_WAKE)
        };
    }
}

/// The task work of [`UringCmdHandle::complete_in_task`].
///
/// # Safety
///
/// Called by io_uring only, for a command queued by `complete_in_task::<W>`.
unsafe extern "C" fn task_work_callback<W: TaskWork>(tw: TwReq, _token: TwToken) {
    // `io_uring_cmd_from_tw()`: the command overlays the start of the request.
    // SAFETY: the command queued by `complete_in_task`, live and uncompleted, now the task
    // work's.
    W::run(unsafe { UringCmd::from_raw(tw.req.cast()) });
}

/// An iterator over memory to map into a request (`struct iov_iter`), filled by
/// [`UringCmd::import_fixed`].
pub(in crate::glue) struct IovIter(core::mem::MaybeUninit<bindings::iov_iter>);

impl IovIter {
    /// An iterator to be filled.
    pub(in crate::glue) fn new() -> Self {
        Self(core::mem::MaybeUninit::zeroed())
    }

    /// The iterator, once filled.
    pub(in crate::glue) fn as_ptr(&self) -> *const bindings::iov_iter {
        self.0.as_ptr()
    }

    /// The iterator, to be filled.
    pub(in crate::glue) fn as_mut_ptr(&mut self) -> *mut bindings::iov_iter {
        self.0.as_mut_ptr()
    }

    /// Bytes the filled iterator describes (`iov_iter_count()`).
    pub(in crate::glue) fn count(&self) -> usize {
        // SAFETY: the iterator is filled (zeroed before: a count of 0), and every iterator
        // type keeps its byte count in this member of the union.
        unsafe {
            (*self.0.as_ptr())
                .__bindgen_anon_1
                .__bindgen_anon_1
                .as_ref()
                .count
        }
    }
}
