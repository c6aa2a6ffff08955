// SPDX-License-Identifier: GPL-2.0

//! Capability checks of the calling task (`capable()`).
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h)

use kernel::{
    bindings,
    prelude::*, //
};

/// Fails with `EACCES` unless the caller has `CAP_SYS_ADMIN` (admin passthrough and reset).
pub(crate) fn require_sys_admin() -> Result {
    // CAST: capability numbers are small constants.
    // SAFETY: `capable` only looks at the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EACCES)
    }
}
