// SPDX-License-Identifier: GPL-2.0

//! The harness of the property tests (`test_prop_*.rs`): it runs a property
//! on many random inputs and builds those inputs, with a bias towards the
//! values that break parsers of device data (all zeroes, all ones, field
//! boundaries) rather than only uniform random bytes.
//!
//! Each parser runs `RNVME_PROP_ITERS` inputs (default [`DEFAULT_ITERS`],
//! which keeps the debug `cargo test` short; `make proptest` runs a million
//! in release mode with overflow checks on). Input `i` of a property comes
//! from its own generator, seeded from the property's base seed and `i`; a
//! failure prints that case seed, and `RNVME_PROP_SEED=<case seed>
//! RNVME_PROP_ITERS=1` replays exactly that input as input 0.

use crate::rng::XorShift;
use std::panic::{
    catch_unwind,
    resume_unwind,
    AssertUnwindSafe, //
};
use std::time::Instant;

/// Inputs per property in a plain `cargo test` run.
pub(crate) const DEFAULT_ITERS: u64 = 20_000;

/// Step between the seeds of consecutive inputs (the 64-bit golden ratio).
const SEED_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// A `u64` from the environment variable `var`, decimal or `0x` hex.
fn env_u64(var: &str) -> Option<u64> {
    let s = std::env::var(var).ok()?;
    let t = s.trim().replace('_', "");
    let v = match t.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    match v {
        Ok(v) => Some(v),
        Err(_) => panic!("{var}={s:?} is not a number: set it to a decimal or 0x hex count"),
    }
}

/// Inputs per property: `RNVME_PROP_ITERS`, or [`DEFAULT_ITERS`].
pub(crate) fn iters() -> u64 {
    env_u64("RNVME_PROP_ITERS").unwrap_or(DEFAULT_ITERS)
}

/// The splitmix64 finaliser: spreads a seed over all 64 bits, so that
/// neighbouring case seeds start unrelated xorshift sequences.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The default base seed of property `name` (FNV-1a of the name), so that
/// each property sees its own input sequence.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs `prop` on [`iters`] inputs, each drawn by `prop` from a generator of
/// its own, then prints how many inputs ran and how long they took (shown by
/// `cargo test -- --nocapture`). A panic in `prop` (a failed assertion, an
/// index out of range, an arithmetic overflow) fails the test after printing
/// the seed that replays the input.
pub(crate) fn run(name: &str, mut prop: impl FnMut(&mut XorShift)) {
    let n = iters();
    let base = env_u64("RNVME_PROP_SEED").unwrap_or_else(|| name_seed(name));
    let start = Instant::now();
    for i in 0..n {
        let case = base.wrapping_add(i.wrapping_mul(SEED_STEP));
        let mut rng = XorShift::new(mix(case));
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| prop(&mut rng))) {
            eprintln!(
                "prop {name}: input {i} of {n} failed; replay it with \
                 RNVME_PROP_SEED={case:#x} RNVME_PROP_ITERS=1"
            );
            resume_unwind(e);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("prop {name:<22} {n:>9} inputs in {secs:>7.2} s");
}

/// A value of `bits` bits (1..=64) that is usually a boundary: 0, 1, 2, the
/// largest value and its neighbour, the top bit alone or minus one, a power
/// of two or its neighbours; otherwise uniform.
pub(crate) fn edge(rng: &mut XorShift, bits: u32) -> u64 {
    let max = u64::MAX >> (64 - bits);
    let top = 1u64 << (bits - 1);
    let pow = 1u64 << rng.range(0, u64::from(bits) - 1);
    let v = match rng.range(0, 11) {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => max,
        4 => max - 1,
        5 => top,
        6 => top - 1,
        7 => pow,
        8 => pow.wrapping_sub(1),
        9 => pow.wrapping_add(1),
        // Small values, where counts and sizes usually live.
        10 => rng.range(0, 64),
        _ => rng.next_u64(),
    };
    v & max
}

/// An 8-bit [`edge`] value.
pub(crate) fn edge8(rng: &mut XorShift) -> u8 {
    // CAST: edge() returns at most 8 bits here.
    edge(rng, 8) as u8
}

/// A 16-bit [`edge`] value.
pub(crate) fn edge16(rng: &mut XorShift) -> u16 {
    // CAST: edge() returns at most 16 bits here.
    edge(rng, 16) as u16
}

/// A 32-bit [`edge`] value.
pub(crate) fn edge32(rng: &mut XorShift) -> u32 {
    // CAST: edge() returns at most 32 bits here.
    edge(rng, 32) as u32
}

/// A 64-bit [`edge`] value.
pub(crate) fn edge64(rng: &mut XorShift) -> u64 {
    edge(rng, 64)
}

/// A random byte.
pub(crate) fn byte(rng: &mut XorShift) -> u8 {
    // CAST: keeps the low 8 bits on purpose.
    rng.next_u64() as u8
}

/// Fills `b` with uniform random bytes.
pub(crate) fn random_bytes(rng: &mut XorShift, b: &mut [u8]) {
    let mut chunks = b.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let rest = chunks.into_remainder();
    let last = rng.next_u64().to_le_bytes();
    rest.copy_from_slice(&last[..rest.len()]);
}

/// Fills `b` with one background pattern: all zeroes, all ones, one repeated
/// byte, uniform bytes, zeroes or ones with a few random bytes, or bytes from
/// a small set of boundary values.
pub(crate) fn fill(rng: &mut XorShift, b: &mut [u8]) {
    match rng.range(0, 7) {
        0 => b.fill(0),
        1 => b.fill(0xff),
        2 => b.fill(byte(rng)),
        3 | 4 => random_bytes(rng, b),
        5 | 6 => {
            b.fill(if rng.chance(1, 2) { 0 } else { 0xff });
            if !b.is_empty() {
                for _ in 0..rng.range(1, 32) {
                    // CAST: an index into `b`, a slice.
                    let i = rng.range(0, b.len() as u64 - 1) as usize;
                    b[i] = byte(rng);
                }
            }
        }
        _ => {
            for x in b.iter_mut() {
                *x = rng.pick(&[0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff]);
            }
        }
    }
}

/// Writes `v` little-endian at `off`.
pub(crate) fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes `v` little-endian at `off`.
pub(crate) fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes `v` little-endian at `off`.
pub(crate) fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The little-endian `u16` at `off` (a reference reader, independent of the
/// parsers under test).
pub(crate) fn get16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// The little-endian `u32` at `off`.
pub(crate) fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// The little-endian `u64` at `off`.
pub(crate) fn get64(b: &[u8], off: usize) -> u64 {
    u64::from(get32(b, off)) | (u64::from(get32(b, off + 4)) << 32)
}

/// The dwords of `b` up to (not including) the first zero, little-endian.
pub(crate) fn dwords_to_zero(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .take_while(|&v| v != 0)
        .collect()
}

/// Writes an NSID list into `b` as a device would and returns the ids: a
/// strictly ascending run (when `ascending`) or arbitrary values, of a length
/// that is often 0, 1 or as long as `b` holds, then usually a zero terminator
/// followed by nonzero garbage that readers must ignore.
pub(crate) fn nsid_list(rng: &mut XorShift, b: &mut [u8], ascending: bool) -> Vec<u32> {
    let cap = b.len() / 4;
    // CAST: `cap` is a slice length over 4, and back.
    let n = match rng.range(0, 5) {
        0 => 0,
        1 => 1.min(cap),
        2 => cap,
        3 => cap.saturating_sub(1),
        _ => rng.range(0, cap as u64) as usize,
    };
    let mut ids = Vec::with_capacity(n);
    let mut id = if rng.chance(1, 2) { 1 } else { edge32(rng) };
    for _ in 0..n {
        let v = if ascending {
            if id == 0 {
                id = 1;
            }
            id
        } else {
            match rng.range(0, 3) {
                0 => u32::MAX,
                1 => edge32(rng) | 1,
                // CAST: in 1..=u32::MAX.
                _ => rng.range(1, u64::from(u32::MAX)) as u32,
            }
        };
        ids.push(v);
        if ascending {
            let step = if rng.chance(3, 4) {
                1
            } else {
                edge32(rng).max(1)
            };
            match id.checked_add(step) {
                Some(next) => id = next,
                // No id above u32::MAX: the list ends here.
                None => break,
            }
        }
    }
    for (i, v) in ids.iter().enumerate() {
        put32(b, 4 * i, *v);
    }
    let end = 4 * ids.len();
    if end + 4 <= b.len() {
        put32(b, end, 0);
        // Nonzero entries after the terminator, a device's leftovers: right
        // after it and at a few places further on.
        let (first, last) = (ids.len() + 1, b.len() / 4 - 1);
        if first <= last {
            for _ in 0..rng.range(1, 8) {
                let i = if rng.chance(1, 2) {
                    first
                } else {
                    // CAST: dword indexes into `b`, a slice, and back.
                    rng.range(first as u64, last as u64) as usize
                };
                // CAST: in 1..=u32::MAX.
                put32(b, 4 * i, rng.range(1, u64::from(u32::MAX)) as u32);
            }
        }
    }
    ids
}
