// SPDX-License-Identifier: GPL-2.0

//! Host test crate for the pure NVMe protocol module.
//!
//! The kernel module and this crate compile the very same `nvme/` sources:
//! here they are pulled in with `#[path]` so that their `pub(crate)` items
//! are visible to the unit tests below, which run on the build host with
//! plain `cargo test` and need no kernel, device or emulator.

#[path = "../../../nvme/mod.rs"]
mod nvme;

#[cfg(test)]
mod prop;
#[cfg(test)]
mod rng;
#[cfg(test)]
mod test_aen;
#[cfg(test)]
mod test_cmd;
#[cfg(test)]
mod test_fdp;
#[cfg(test)]
mod test_hwmon;
#[cfg(test)]
mod test_ident;
#[cfg(test)]
mod test_meta;
#[cfg(test)]
mod test_mpath;
#[cfg(test)]
mod test_nsids;
#[cfg(test)]
mod test_prop_cqe;
#[cfg(test)]
mod test_prop_ident;
#[cfg(test)]
mod test_prop_log;
#[cfg(test)]
mod test_prp;
#[cfg(test)]
mod test_regs;
#[cfg(test)]
mod test_ring;
#[cfg(test)]
mod test_sgl;
#[cfg(test)]
mod test_status;
#[cfg(test)]
mod test_uapi;
#[cfg(test)]
mod test_zns;
