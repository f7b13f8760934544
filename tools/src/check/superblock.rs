// SPDX-License-Identifier: GPL-2.0
//! Which superblock to trust, and rebuilding one (`fsck -y`) when neither
//! copy validates or the valid one fits nothing on the device: the layouts
//! mkfs could have made are tried against the metadata itself.

use std::io;

use super::{set, BS};
use crate::image::Image;
use crate::*;

/// Stores `sb` as both superblocks.
pub(super) fn put_sbs(img: &mut Image, sb: &SuperBlock) -> io::Result<()> {
    let mut buf = [0u8; SB_SIZE];
    sb.encode(&mut buf);
    img.write(SB_PRIMARY_OFFSET, &buf)?;
    img.write(SB_BACKUP_OFFSET, &buf)
}

/// A superblock for an image whose superblocks both fail validation but
/// decode (their checksums hold), or whose layout does not fit what is on
/// the device: from the fields of either, the layouts mkfs could have made
/// (the recorded areas, values near the recorded ones, the whole device,
/// the default inode and journal sizes); the first whose state block,
/// bitmaps and root directory are where it says.  `None` when none fits.
pub(super) fn rebuild_sb(img: &mut Image) -> io::Result<Option<SuperBlock>> {
    let size = img.device().size();
    let dev_blocks = (size / BS).min(MAX_BLOCKS);
    for offset in [SB_PRIMARY_OFFSET, SB_BACKUP_OFFSET] {
        let mut raw = [0u8; SB_SIZE];
        img.read(offset, &mut raw)?;
        let Ok(old) = SuperBlock::decode(&raw) else {
            continue;
        };
        if old.blocks > dev_blocks {
            // The device is smaller than the filesystem: a partition or
            // device size may be wrong, not the superblock.
            continue;
        }
        let near = |x: u64, unit: u64| {
            vec![x, x.saturating_add(unit), x.saturating_sub(unit), x.saturating_mul(2)]
        };
        let mut blocks = near(old.blocks, 1);
        blocks.extend([old.blocks.saturating_add(DATA_ALIGN_BLOCKS), dev_blocks]);
        let mut journal = near(old.journal_blocks, 1);
        journal.extend([
            old.ibitmap_start.saturating_sub(old.journal_start),
            JOURNAL_BLOCKS_DEFAULT,
            JOURNAL_BLOCKS_MIN,
        ]);
        let mut inodes = near(old.inodes, INODES_PER_BLOCK);
        inodes.extend([old.inodes / 2, old.itable_blocks.saturating_mul(INODES_PER_BLOCK), INODES_PER_BLOCK]);
        // The layouts closest to the recorded fields first.
        let mut tries = Vec::new();
        for &b in &blocks {
            for &i in inodes.iter().chain(&[default_inodes(b)]) {
                for &j in &journal {
                    let changed = usize::from(b != old.blocks)
                        + usize::from(i != old.inodes)
                        + usize::from(j != old.journal_blocks);
                    tries.push((changed, b, i, j));
                }
            }
        }
        tries.sort_by_key(|t| t.0);
        tries.dedup();
        for (_, b, i, j) in tries {
            let Ok(geo) = Geometry::new(b, i, j) else {
                continue;
            };
            let sb = SuperBlock::new(&geo, old.uuid, old.label, old.mkfs_time);
            if sb.validate(size).is_ok() && plausible(img, &geo)? {
                return Ok(Some(sb));
            }
        }
    }
    Ok(None)
}

/// Whether the metadata is all where `geo` says: [`fits`], [`root_fits`],
/// and no inode bitmap bit set past the inode count.
pub(super) fn plausible(img: &mut Image, geo: &Geometry) -> io::Result<bool> {
    if !fits(img, geo)? || !root_fits(img, geo)? {
        return Ok(false);
    }
    // Those bits are all in the last block of the inode bitmap.
    let last = geo.ibitmap_blocks.saturating_sub(1);
    let mut map = vec![0u8; BS as usize];
    img.read((geo.ibitmap_start + last) * BS, &mut map)?;
    let first = last * BITS_PER_BLOCK;
    Ok((geo.inodes.max(first)..first + BITS_PER_BLOCK).all(|b| !set(&map, b - first)))
}

/// Whether the metadata is where `geo` says: the state block's journal
/// header decodes and the block bitmap marks every block before the data
/// area in use (as every valid daxfs block bitmap does).
pub(super) fn fits(img: &mut Image, geo: &Geometry) -> io::Result<bool> {
    let mut state = [0u8; STATE_SIZE];
    img.read(STATE_BLOCK * BS, &mut state)?;
    let end = geo.bbitmap_start.saturating_add(geo.bbitmap_blocks).saturating_mul(BS);
    if end > img.device().size() || geo.data_start > geo.bbitmap_blocks * BITS_PER_BLOCK {
        return Ok(false);
    }
    // The first block of the bitmap, and the one holding the last bit
    // before the data area (that is enough to see a layout shifted).
    let mut marked = true;
    for b in [0, geo.data_start.saturating_sub(1)] {
        let index = b / BITS_PER_BLOCK;
        let mut map = vec![0u8; BS as usize];
        img.read((geo.bbitmap_start + index) * BS, &mut map)?;
        let first = index * BITS_PER_BLOCK;
        let upto = geo.data_start.min(first + BITS_PER_BLOCK);
        marked &= (first..upto).all(|x| set(&map, x - first));
    }
    Ok(StateBlock::decode_header(&state).is_ok() && marked)
}

/// Whether the root inode is a directory whose extents lie in the data
/// area of `geo`.
pub(super) fn root_fits(img: &mut Image, geo: &Geometry) -> io::Result<bool> {
    let Some(at) = geo.inode_offset(ROOT_INO) else {
        return Ok(false);
    };
    if at.saturating_add(INODE_SIZE as u64) > img.device().size() {
        return Ok(false);
    }
    let mut slot = [0u8; INODE_SIZE];
    img.read(at, &mut slot)?;
    let Ok(root) = Inode::decode(&slot) else {
        return Ok(false);
    };
    let extents_fit = (0..root.inline_count())
        .all(|k| matches!(root.inline_extent(k), Some(Ok(e)) if geo.is_data(e.pblk, e.len.into())));
    Ok(root.is_dir() && root.parent == ROOT_INO && extents_fit)
}
