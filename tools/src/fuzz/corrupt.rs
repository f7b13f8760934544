// SPDX-License-Identifier: GPL-2.0
//! Blind damage for the repair corpus (docs/testing.md, "Repair corpus"):
//! one block of a list of metadata blocks gets random byte flips, is
//! zeroed, or has a few aligned fields set to all-ones.  It knows nothing
//! of the format, so the same corruptor damages daxfs and ext4 images
//! alike (the ext4 list comes from `e2image`), and fsck.daxfs and e2fsck
//! are measured against the same damage.  Deterministic for a seed.

use std::io;

use super::Rng;
use crate::dev::Device;
use crate::BLOCK_SIZE;

const BS: usize = BLOCK_SIZE as usize;

/// What [`corrupt`] does to the block it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// 1 to 8 bytes at random offsets XORed with random nonzero values.
    Flip,
    /// The whole block zeroed.
    Zero,
    /// 1 to 3 aligned 4- or 8-byte fields set to all-ones.
    Ones,
}

impl Damage {
    /// Every kind, in the order the corpus cycles through them.
    pub const ALL: [Damage; 3] = [Damage::Flip, Damage::Zero, Damage::Ones];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Damage::Flip => "flip",
            Damage::Zero => "zero",
            Damage::Ones => "ones",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Damages one of `blocks` (4 KiB blocks of `dev`), chosen with `seed`, as
/// `damage` says; one line saying what was done.  Nothing happens when
/// `blocks` is empty.
pub fn corrupt(dev: &Device, blocks: &[u64], seed: u64, damage: Damage) -> io::Result<String> {
    let mut rng = Rng::new(seed);
    let Some(&b) = rng.pick(blocks) else {
        return Ok("no block to damage".into());
    };
    let at = b
        .checked_mul(BS as u64)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "block out of range"))?;
    let mut block = vec![0u8; BS];
    dev.read_at(at, &mut block)?;
    let what = match damage {
        Damage::Flip => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let off = rng.below(BS);
                block[off] ^= 1 + rng.below(255) as u8;
            }
            format!("{n} byte(s) flipped")
        }
        Damage::Zero => {
            block.fill(0);
            "zeroed".to_string()
        }
        Damage::Ones => {
            let n = 1 + rng.below(3);
            let mut offs = Vec::new();
            for _ in 0..n {
                let width = if rng.chance(1, 2) { 4 } else { 8 };
                let off = rng.below(BS / width) * width;
                block[off..off + width].fill(0xff);
                offs.push(format!("{off}+{width}"));
            }
            format!("all-ones at {}", offs.join(", "))
        }
    };
    dev.write_at(at, &block)?;
    Ok(format!("seed {seed}: block {b} {what}"))
}
