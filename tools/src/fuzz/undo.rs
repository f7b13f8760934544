// SPDX-License-Identifier: GPL-2.0
//! Undo files: the previous contents of a set of blocks, saved before they
//! are overwritten and written back by `daxfs-fuzz undo`.  Much cheaper than
//! copying a whole pmem device per fuzzed image.
//!
//! Format: magic `"DAXFUNDO"`, the block count (u64 LE), then per block its
//! number (u64 LE) and its 4096 bytes, then the CRC-32C of everything before
//! (u32 LE).  A truncated or damaged file is refused as a whole: nothing is
//! restored from it.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::dev::Device;
use crate::image::{Block, Image};
use crate::*;

const MAGIC: &[u8; 8] = b"DAXFUNDO";
const BS: u64 = BLOCK_SIZE as u64;
const ENTRY: usize = 8 + BLOCK_SIZE as usize;

/// Blocks and their contents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockSet {
    /// (block number, contents), in the order they are written back.
    pub blocks: Vec<(u64, Box<Block>)>,
}

fn bad(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

fn byte_offset(block: u64) -> io::Result<u64> {
    block.checked_mul(BS).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("block {block} out of range"),
        )
    })
}

impl BlockSet {
    /// Reads `blocks` from `dev` as they are now.
    pub fn read(dev: &Device, blocks: impl IntoIterator<Item = u64>) -> io::Result<Self> {
        let mut set = BlockSet::default();
        for n in blocks {
            let mut b = Box::new([0u8; BLOCK_SIZE as usize]);
            dev.read_at(byte_offset(n)?, &mut b[..])?;
            set.blocks.push((n, b));
        }
        Ok(set)
    }

    /// The encoded file.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.blocks.len() * ENTRY);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for (n, b) in &self.blocks {
            out.extend_from_slice(&n.to_le_bytes());
            out.extend_from_slice(&b[..]);
        }
        let crc = crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Writes the undo file `path` (replacing it) and syncs it.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut f = File::create(path)?;
        f.write_all(&self.encode())?;
        f.sync_all()
    }

    /// Reads the undo file `path`; refuses one that is damaged.
    pub fn load(path: &Path) -> io::Result<Self> {
        let data = fs::read(path)?;
        let (body, crc) = data
            .split_last_chunk::<4>()
            .ok_or_else(|| bad(path, "too short for an undo file"))?;
        if body.get(..8) != Some(&MAGIC[..]) {
            return Err(bad(path, "not an undo file"));
        }
        if crc32c(body) != u32::from_le_bytes(*crc) {
            return Err(bad(path, "undo file checksum mismatch"));
        }
        let entries = body.get(16..).unwrap_or(&[]);
        let count = body
            .get(8..16)
            .and_then(|c| c.try_into().ok())
            .map(u64::from_le_bytes);
        if count != Some((entries.len() / ENTRY) as u64) || entries.len() % ENTRY != 0 {
            return Err(bad(path, "undo file length does not match its block count"));
        }
        let blocks = entries
            .chunks_exact(ENTRY)
            .map(|e| {
                let (n, b) = e.split_at(8);
                let n = u64::from_le_bytes(n.try_into().unwrap_or_default());
                Ok((
                    n,
                    Box::new(b.try_into().map_err(|_| bad(path, "short block"))?),
                ))
            })
            .collect::<io::Result<_>>()?;
        Ok(BlockSet { blocks })
    }

    /// Writes every block back to `dev`, then syncs it and drops its caches.
    pub fn restore(&self, dev: &Device) -> io::Result<()> {
        for (n, b) in &self.blocks {
            dev.write_at(byte_offset(*n)?, &b[..])?;
        }
        dev.sync()?;
        dev.flush_buffers()
    }
}

/// Writes the blocks changed in `img` to its device, after saving their
/// previous contents to the undo file `undo`; syncs and drops the device's
/// caches.  Returns how many blocks changed.
pub fn write_with_undo(img: &mut Image, undo: &Path) -> io::Result<usize> {
    let changed = BlockSet {
        blocks: img.take_dirty(),
    };
    let dev = img.device();
    BlockSet::read(dev, changed.blocks.iter().map(|&(n, _)| n))?.save(undo)?;
    changed.restore(dev)?;
    Ok(changed.blocks.len())
}
