// SPDX-License-Identifier: GPL-2.0
//! A structure-aware fuzzer for daxfs images (`daxfs-fuzz`).
//!
//! [`mutate`] finds the real metadata of a filesystem with the shared format
//! code ([`Survey`]) and changes one or a few field values in it (inode
//! sizes, counts, link counts, types, flags, extents and extent chains,
//! directory records, the orphan list, the state block, a hostile committed
//! journal transaction, superblock layout fields), choosing values at the
//! edges (0, 1, maxima, just past the device or the inode count, pointers
//! into metadata or to other inodes' blocks, loops), and recomputes every
//! checksum it touched, so that the image still passes its checksums and
//! the kernel has to cope with the values themselves.  Everything is
//! deterministic for a given seed and image.
//!
//! Mutations change the cached blocks of an [`Fs`] only; [`write_with_undo`]
//! writes them to the device after saving what they replace, and
//! [`BlockSet::restore`] puts that back.  [`verify`] checks afterwards that
//! the checksums hold where the mutation says they do.

pub mod corrupt;
mod journal;
mod mutate;
mod survey;
mod undo;

pub mod exercise;

use std::fmt;
use std::io;

use crate::image::Fs;
use crate::*;

pub use mutate::mutate;
pub use survey::{InodeInfo, RecordRef, Survey};
pub use undo::{write_with_undo, BlockSet};

const BS: u64 = BLOCK_SIZE as u64;

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 => 0,
            n => (self.next_u64() % n as u64) as usize,
        }
    }

    /// True `num` times out of `den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den.max(1) < num
    }

    /// A random element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }

    /// A random element of `items` other than `old`; `old` itself when no
    /// other is offered.
    pub fn pick_new<T: Copy + PartialEq>(&mut self, old: T, items: &[T]) -> T {
        let other: Vec<T> = items.iter().copied().filter(|&v| v != old).collect();
        self.pick(&other).copied().unwrap_or(old)
    }
}

/// A structure a mutation changed, whose checksum [`verify`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touched {
    /// The superblock at this byte offset.
    Superblock(u64),
    /// The state block (its journaled part; the journal header is outside
    /// its CRC).
    State,
    /// The committed transaction: its CRC, and it is replayed (in memory)
    /// before the other structures are checked when it is well formed.
    Journal,
    /// An inode.
    Inode(u64),
    /// An extent chain block.
    ExtentBlock(u64),
    /// A directory record (block, offset): its name hash.
    DirRecord(u64, usize),
}

/// What a mutation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mutation {
    /// One line per field changed.
    pub changes: Vec<String>,
    /// The structures changed.
    pub touched: Vec<Touched>,
    /// A checksum was left wrong on purpose (otherwise every touched
    /// structure passes its checksum, after the pending transaction when
    /// there is one).
    pub broken: bool,
    /// The inodes the change concerns (changed, or named by a changed
    /// record or extent block, before and after): the workload's targets.
    pub focus: Vec<u64>,
}

impl Mutation {
    /// Records `change` of `touched`, which concerns inodes `focus`.
    fn note(&mut self, change: String, touched: Touched, focus: &[u64]) {
        self.changes.push(change);
        if !self.touched.contains(&touched) {
            self.touched.push(touched);
        }
        for &ino in focus {
            if ino != 0 && !self.focus.contains(&ino) {
                self.focus.push(ino);
            }
        }
    }
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.changes.join("; "))?;
        let sums = if self.broken {
            "checksum broken on purpose"
        } else {
            "checksums valid"
        };
        write!(f, " [{sums}]")
    }
}

/// Whether every structure in `touched` passes its checksum in `fs` (read
/// with the layout from before the mutation).  A well-formed committed
/// transaction is replayed into the cache first, as mount would.
pub fn verify(fs: &mut Fs, touched: &[Touched]) -> io::Result<bool> {
    if touched.contains(&Touched::Journal) && !journal::verify_and_replay(fs)? {
        return Ok(false);
    }
    for t in touched {
        if !checksum_ok(fs, *t)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn checksum_ok(fs: &mut Fs, t: Touched) -> io::Result<bool> {
    Ok(match t {
        Touched::Superblock(offset) => {
            let mut buf = [0u8; SB_SIZE];
            fs.img.read(offset, &mut buf)?;
            !matches!(
                SuperBlock::decode(&buf),
                Err(SbError::BadChecksum | SbError::BadMagic)
            )
        }
        Touched::State => !matches!(
            fs.state()?,
            Err(StateError::BadChecksum | StateError::BadMagic)
        ),
        Touched::Journal => true,
        Touched::Inode(ino) => !matches!(fs.inode(ino)?, Err(InodeError::BadChecksum)),
        Touched::ExtentBlock(b) => {
            let block = fs.img.block(b)?;
            mutate::stored_crc(block) == extent_block_crc(block)
        }
        Touched::DirRecord(b, offset) => mutate::record_hash_ok(fs.img.block(b)?, offset),
    })
}

/// Byte offset of block `n`, saturating (only used on blocks that exist).
fn at(n: u64) -> u64 {
    n.saturating_mul(BS)
}
