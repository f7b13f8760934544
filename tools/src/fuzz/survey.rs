// SPDX-License-Identifier: GPL-2.0
//! What a filesystem holds: the structures the mutators aim at, found with
//! the shared format decoders and [`Fs::read_map`].  Every in-use inode (the inode bitmap's set
//! bits: the tree from the root plus the orphan list), its extents and extent
//! chain blocks, every directory block and record, the orphan list.
//!
//! The walk trusts nothing it reads: chains stop at loops, at blocks outside
//! the data area and at headers that do not decode; directories stop at
//! holes; nothing here can panic on a hostile image.

use std::collections::BTreeSet;
use std::io;

use crate::image::Fs;
use crate::*;

const BS: u64 = BLOCK_SIZE as u64;
/// Most directory blocks read per directory.
const MAX_WALK: usize = 1 << 16;

/// One in-use inode that decodes.
#[derive(Clone, Debug)]
pub struct InodeInfo {
    /// Its number.
    pub ino: u64,
    /// As decoded.
    pub inode: Inode,
    /// Its extents that decode: inline, then the chain's.
    pub extents: Vec<Extent>,
    /// Its extent chain blocks, in chain order.
    pub chain: Vec<u64>,
}

/// Where one directory record is.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef {
    /// The directory holding it.
    pub dir: u64,
    /// The directory block.
    pub pblk: u64,
    /// Byte offset of the record in the block.
    pub offset: usize,
    /// The inode it names (0: an unused record).
    pub ino: u64,
}

/// The structures of a filesystem, in a deterministic order (inode number,
/// then file block, then offset).
#[derive(Clone, Debug)]
pub struct Survey {
    /// The layout.
    pub geo: Geometry,
    /// The state block, if it decodes.
    pub state: Option<StateBlock>,
    /// In-use inodes that decode.
    pub inodes: Vec<InodeInfo>,
    /// Directory blocks: (directory, device block).
    pub dir_blocks: Vec<(u64, u64)>,
    /// Every record of every directory block that parses.
    pub records: Vec<RecordRef>,
    /// The orphan list, in order (stops at a loop or a free inode).
    pub orphans: Vec<u64>,
    /// The first free inode.
    pub free_ino: Option<u64>,
    /// The first free data block.
    pub free_block: Option<u64>,
}

impl Survey {
    /// Walks the filesystem in `fs`.
    pub fn take(fs: &mut Fs) -> io::Result<Self> {
        fs.load_metadata()?;
        let geo = fs.geo;
        let mut s = Survey {
            geo,
            state: fs.state()?.ok(),
            inodes: Vec::new(),
            dir_blocks: Vec::new(),
            records: Vec::new(),
            orphans: Vec::new(),
            free_ino: None,
            free_block: None,
        };
        let ibitmap = fs.inode_bitmap()?;
        for ino in 1..=geo.inodes {
            if bitmap_test(&ibitmap, ino - 1) != Some(true) {
                s.free_ino = s.free_ino.or(Some(ino));
                continue;
            }
            let Ok(inode) = fs.inode(ino)? else { continue };
            let map = fs.read_map(ino, &inode)?;
            let (extents, chain) = (map.extents, map.chain);
            if inode.is_dir() {
                s.scan_dir(fs, ino, &inode, &extents)?;
            }
            s.inodes.push(InodeInfo {
                ino,
                inode,
                extents,
                chain,
            });
        }
        s.orphans = s.orphan_list();
        s.free_block = bitmap_find_clear(&fs.block_bitmap()?, geo.data_start, geo.blocks);
        Ok(s)
    }

    /// Records the blocks and records of directory `dir`.
    fn scan_dir(
        &mut self,
        fs: &mut Fs,
        dir: u64,
        inode: &Inode,
        exts: &[Extent],
    ) -> io::Result<()> {
        let nblocks = (inode.size / BS).min(MAX_WALK as u64);
        for lblk in 0..nblocks {
            let Some(pblk) = map_block(exts, lblk).filter(|&p| self.geo.is_data(p, 1)) else {
                break;
            };
            self.dir_blocks.push((dir, pblk));
            let block = *fs.img.block(pblk)?;
            for rec in dir_records(&block).map_while(Result::ok) {
                self.records.push(RecordRef {
                    dir,
                    pblk,
                    offset: rec.offset,
                    ino: rec.ino,
                });
            }
        }
        Ok(())
    }

    /// The orphan list from the state block, as far as it goes.
    fn orphan_list(&self) -> Vec<u64> {
        let (mut list, mut seen) = (Vec::new(), BTreeSet::new());
        let mut next = self.state.map_or(0, |s| s.orphan_head);
        while let Some(info) = self.inode(next) {
            if !seen.insert(next) {
                break;
            }
            list.push(next);
            next = info.inode.orphan_next;
        }
        list
    }

    /// In-use inode `ino`, if it decodes.
    pub fn inode(&self, ino: u64) -> Option<&InodeInfo> {
        self.inodes
            .binary_search_by_key(&ino, |i| i.ino)
            .ok()
            .and_then(|i| self.inodes.get(i))
    }

    /// Every extent chain block, with its owner.
    pub fn chain_blocks(&self) -> Vec<(u64, u64)> {
        self.inodes
            .iter()
            .flat_map(|i| i.chain.iter().map(move |&b| (i.ino, b)))
            .collect()
    }

    /// Every block a metadata structure lives in: the areas before the data
    /// area, directory blocks, extent chain blocks and the blocks of long
    /// symlinks.  Saving and restoring them gives back the filesystem as it
    /// was, whatever a mount changed since (file data excepted).
    /// The metadata blocks that hold something: the superblocks, the
    /// state block, the journal's first block, both bitmaps, the inode
    /// table blocks holding an in-use inode, and the directory, extent and
    /// symlink blocks (what the repair corpus damages).
    pub fn live_metadata_blocks(&self) -> BTreeSet<u64> {
        let geo = self.geo;
        let mut set = self.metadata_blocks();
        set.retain(|&b| b >= geo.data_start);
        set.extend([0, 1, 2, geo.journal_start]);
        set.extend(geo.ibitmap_start..geo.ibitmap_start + geo.ibitmap_blocks);
        set.extend(geo.bbitmap_start..geo.bbitmap_start + geo.bbitmap_blocks);
        for info in &self.inodes {
            if let Some(at) = geo.inode_offset(info.ino) {
                set.insert(at / BLOCK_SIZE as u64);
            }
        }
        set
    }

    pub fn metadata_blocks(&self) -> BTreeSet<u64> {
        let mut set: BTreeSet<u64> = (0..self.geo.data_start).collect();
        set.extend(self.dir_blocks.iter().map(|&(_, b)| b));
        for info in &self.inodes {
            set.extend(&info.chain);
            if info.inode.file_type() == S_IFLNK {
                let blocks = info
                    .extents
                    .iter()
                    .filter(|e| e.len == 1 && self.geo.is_data(e.pblk, 1));
                set.extend(blocks.map(|e| e.pblk));
            }
        }
        set
    }
}

/// The device block mapping file block `lblk`, if an extent maps it.
fn map_block(exts: &[Extent], lblk: u64) -> Option<u64> {
    let e = exts
        .iter()
        .find(|e| (u64::from(e.lblk)..e.end()).contains(&lblk))?;
    e.pblk.checked_add(lblk - u64::from(e.lblk))
}
