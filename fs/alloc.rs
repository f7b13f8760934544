// SPDX-License-Identifier: GPL-2.0
//! Where new blocks go: the placement policy over the block bitmap, shared
//! by the kernel module (`fs/meta.rs` claims what this chooses) and the
//! userspace tools' tests (`tools/src/lib.rs` includes this file), which
//! age a simulated filesystem and check how many 2 MiB ranges of a new
//! file can still be mapped with PMD faults.
//!
//! A PMD fault needs a file's 2 MiB range backed by one aligned, fully
//! owned 2 MiB *region* of the device.  So the policy keeps whole regions
//! for data that can use them and packs everything else together:
//!
//! * **large** requests (at least half a region, or at a file offset of
//!   2 MiB or more) take fully free regions, with the device block's
//!   position in its region equal to the file block's ("colour"), searched
//!   upwards from the bottom of the device;
//! * **small** requests (the first 2 MiB of a file, under 1 MiB at a time;
//!   directory and extent-chain blocks) first-fit into regions that are
//!   already partly used, and open a new region from the top of the device
//!   when none has room, so small files never break up free regions;
//! * a file's next blocks continue its previous run (the `goal`) when that
//!   keeps the colour or stays inside a partly used region.
//!
//! Only when that finds nothing does any free run do (full filesystems).
//! Same rules as `format.rs`: no dependencies, no `unsafe_code`, no panics.
#![forbid(unsafe_code)]

/// Blocks per 2 MiB region (the data area starts at a multiple of it).
pub const REGION: u64 = super::format::DATA_ALIGN_BLOCKS;
const REGION_WORDS: usize = (REGION / 64) as usize;

/// Where the searches resume (DRAM only; any value is valid).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hints {
    /// Region index where the last large allocation was made.
    pub large: u64,
    /// Block after the last small allocation.
    pub small: u64,
}

/// The block bitmap as the policy sees it: bit set = in use; bits past
/// `end` count as used.
#[derive(Clone, Copy)]
pub struct Bitmap<'a> {
    /// One bit per device block.
    pub bits: &'a [u64],
    /// First data block (a multiple of [`REGION`]; below `end`, as every
    /// `Geometry` guarantees, so the `clamp`s below cannot panic).
    pub start: u64,
    /// Number of device blocks.
    pub end: u64,
}

impl Bitmap<'_> {
    /// Whether block `n` is in use.
    pub fn used(&self, n: u64) -> bool {
        n < self.start || n >= self.end || (n / 64) as usize >= self.bits.len() || test_bit(self.bits, n)
    }

    /// Free blocks from `b` on, at most `want`.
    pub fn run_len(&self, b: u64, want: u64) -> u64 {
        let mut len = 0;
        while len < want && !self.used(b + len) {
            let n = b + len;
            // Whole free words at once.
            if n % 64 == 0 && want - len >= 64 && n + 64 <= self.end && self.bits.get((n / 64) as usize) == Some(&0) {
                len += 64;
            } else {
                len += 1;
            }
        }
        len
    }

    /// Free blocks from `b` on, at most `want`; a run that crosses into a
    /// region it cannot fill stops at that region's start, so the rest of
    /// the request can start a whole free region.
    pub fn whole_regions(&self, b: u64, want: u64) -> u64 {
        let len = self.run_len(b, want);
        let stop = b + len;
        if len == want || stop % REGION == 0 || stop - stop % REGION <= b {
            return len;
        }
        stop - stop % REGION - b
    }

    /// Whether region `r` (blocks `r*REGION..`) is entirely free.
    pub fn region_free(&self, r: u64) -> bool {
        let b = r * REGION;
        if b < self.start || b + REGION > self.end {
            return false;
        }
        let w = (b / 64) as usize;
        self.bits.get(w..w + REGION_WORDS).is_some_and(|ws| ws.iter().all(|x| *x == 0))
    }

    /// Whether region `r` is entirely in use.
    fn region_full(&self, r: u64) -> bool {
        let b = r * REGION;
        if b + REGION > self.end || b < self.start {
            return (b..(b + REGION)).all(|n| self.used(n));
        }
        let w = (b / 64) as usize;
        self.bits.get(w..w + REGION_WORDS).is_none_or(|ws| ws.iter().all(|x| *x == !0))
    }

    /// The first free block in `b..z`, skipping whole used words.
    fn next_free(&self, mut b: u64, z: u64) -> Option<u64> {
        while b < z {
            if !self.used(b) {
                return Some(b);
            }
            b = if self.bits.get((b / 64) as usize) == Some(&!0) { (b / 64 + 1) * 64 } else { b + 1 };
        }
        None
    }

    fn regions(&self) -> (u64, u64) {
        (self.start / REGION, self.end.div_ceil(REGION))
    }
}

/// Whether a request for `want` blocks at file block `lblk` is large.
pub fn is_large(lblk: u64, want: u64) -> bool {
    want >= REGION / 2 || lblk >= REGION
}

/// Chooses up to `want` free blocks (`want > 0`) for file block `lblk`
/// (`None`: metadata), continuing at `goal` when that is good.  Returns
/// `(first block, count)`, `count >= 1`, or `None` when no block is free.
///
/// `small` has one bit per region, set for the regions small requests
/// opened (DRAM only: after a remount no region is marked, and small
/// requests open new ones).
pub fn place(bm: &Bitmap<'_>, hints: &mut Hints, small: &mut [u64], goal: Option<u64>, lblk: Option<u64>, want: u64) -> Option<(u64, u64)> {
    let colour = lblk.map(|l| l % REGION);
    let large = lblk.is_some_and(|l| is_large(l, want));
    let mut late_goal = None;
    if let Some(g) = goal.filter(|g| !bm.used(*g)) {
        let aligned = colour == Some(g % REGION);
        // Continuing inside a partly used region breaks no free region;
        // continuing into a free one off-colour would.
        if aligned {
            return Some((g, bm.whole_regions(g, want)));
        }
        if !bm.region_free(g / REGION) {
            // Off colour: stay inside this region.
            return Some((g, bm.run_len(g, want.min(REGION - g % REGION))));
        }
        late_goal = Some(g);
    }
    if large {
        if let Some(r) = place_large(bm, hints, small, colour.unwrap_or(0), want) {
            return Some(r);
        }
    }
    if let Some(r) = place_small(bm, hints, small, want) {
        return Some(r);
    }
    if let Some(g) = late_goal {
        return Some((g, bm.run_len(g, want)));
    }
    any_run(bm, want)
}

/// A fully free region, at `colour` inside it, from the bottom up.
fn place_large(bm: &Bitmap<'_>, hints: &mut Hints, small: &mut [u64], colour: u64, want: u64) -> Option<(u64, u64)> {
    let (lo, hi) = bm.regions();
    let from = hints.large.clamp(lo, hi);
    for (a, z) in [(from, hi), (lo, from)] {
        for r in a..z {
            if bm.region_free(r) {
                let b = r * REGION + colour;
                hints.large = r;
                set_bit(small, r, false);
                return Some((b, bm.whole_regions(b, want)));
            }
        }
    }
    None
}

/// First fit for the whole request in a partly used region (from the last
/// small allocation on), else the start of the highest free region.
fn place_small(bm: &Bitmap<'_>, hints: &mut Hints, small: &mut [u64], want: u64) -> Option<(u64, u64)> {
    let want = want.min(REGION);
    let (lo, hi) = bm.regions();
    let from = hints.small.clamp(bm.start, bm.end);
    for (a, z) in [(from, bm.end), (bm.start, from)] {
        let mut b = a;
        while b < z {
            let r = b / REGION;
            if !test_bit(small, r) || bm.region_free(r) || bm.region_full(r) {
                b = (r + 1) * REGION;
                continue;
            }
            let Some(f) = bm.next_free(b, (r + 1) * REGION) else {
                b = (r + 1) * REGION;
                continue;
            };
            b = f;
            // A free run, kept inside this region.
            let room = (r + 1) * REGION - b;
            let len = bm.run_len(b, want.min(room));
            if len == want {
                hints.small = b + len;
                return Some((b, len));
            }
            b += len.max(1);
        }
    }
    for r in (lo..hi).rev() {
        if bm.region_free(r) {
            let b = r * REGION;
            hints.small = b + want;
            set_bit(small, r, true);
            return Some((b, want));
        }
    }
    None
}

/// Bit `n` of a bitmap (false past its end).
pub fn test_bit(bits: &[u64], n: u64) -> bool {
    bits.get((n / 64) as usize).is_some_and(|w| w & (1 << (n % 64)) != 0)
}

/// Sets or clears bit `n` of a bitmap (nothing past its end).
pub fn set_bit(bits: &mut [u64], n: u64, on: bool) {
    if let Some(w) = bits.get_mut((n / 64) as usize) {
        if on {
            *w |= 1 << (n % 64);
        } else {
            *w &= !(1 << (n % 64));
        }
    }
}

/// Any free run, first fit from the start of the data area.
fn any_run(bm: &Bitmap<'_>, want: u64) -> Option<(u64, u64)> {
    let b = bm.next_free(bm.start, bm.end)?;
    Some((b, bm.run_len(b, want)))
}
