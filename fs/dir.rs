// SPDX-License-Identifier: GPL-2.0
//! Directories: records in directory blocks (docs/format-v2.md), found
//! through a DRAM index built on a directory's first use.
//!
//! Records never move: a new entry takes an unused record or the slack at
//! the end of a live one, and a removed entry's space is merged into the
//! record before it.  So a readdir position (block, offset) stays valid
//! across concurrent changes.
//!
//! The index has the name hashes (lookup) and, per block, the largest free
//! span a new record can use, in a tree ordered by that span: an insert
//! finds a block with room (best fit) in O(log n) and reads only that block,
//! whatever the size of the directory.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::format::{self, DirPos};
use crate::inode::{self, DInode, Snap};
use crate::meta::Tx;
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

const BS: u64 = format::BLOCK_SIZE as u64;

/// Where a record is: directory block and byte offset, as one number.
fn slot(lblk: u64, offset: usize) -> u64 {
    lblk * BS + offset as u64
}

/// Name index key: the name hash above the record's slot (any slot of a
/// directory of up to 2^32 blocks).
fn key(hash: u32, slot: u64) -> u128 {
    (u128::from(hash) << 64) | u128::from(slot)
}

fn key_hash(key: u128) -> u32 {
    (key >> 64) as u32
}

fn key_slot(key: u128) -> u64 {
    key as u64
}

/// Free space index key: a block's largest free span above its number.
fn room_key(gap: u16, lblk: u64) -> u64 {
    (u64::from(gap) << 48) | (lblk & LBLK_MASK)
}

const LBLK_MASK: u64 = (1 << 48) - 1;

/// The smallest record: blocks with less free space are not in `room`.
const MIN_REC: usize = format::DIR_REC_HEADER + 8;

/// The largest free span a new record can use in a directory block: the
/// biggest `rec_len - used` of its records.
fn block_gap(block: &[u8]) -> core::result::Result<u16, format::DirError> {
    let mut gap = 0usize;
    for r in format::dir_records(block) {
        let r = r?;
        let used = if r.ino == 0 { 0 } else { format::dir_rec_len(r.name.len()) };
        gap = gap.max(r.rec_len.saturating_sub(used));
    }
    Ok(gap.min(u16::MAX as usize) as u16)
}

/// A directory entry found by [`DirIndex::lookup`].
#[derive(Clone, Copy)]
pub(crate) struct Found {
    pub(crate) ino: u64,
    pub(crate) slot: u64,
}

/// The DRAM index of one directory (behind the directory's `dir` mutex).
pub(crate) struct DirIndex {
    built: bool,
    /// `key(hash, slot)` of every live record.
    names: RBTree<u128, ()>,
    /// Live records.
    count: u64,
    /// Per directory block, its largest free span (`block_gap`).
    gaps: KVVec<u16>,
    /// `room_key` of every block whose free span can hold a record.
    room: RBTree<u64, ()>,
}

/// An index change prepared before a commit and applied after it (so the
/// index never disagrees with pmem, and applying cannot fail).
pub(crate) struct Change {
    name: NameChange,
    room: RoomChange,
}

enum NameChange {
    Add(RBTreeNodeReservation<u128, ()>, u128),
    Remove(u128),
}

/// Block `lblk` now has free span `gap` (`lblk` may be a new last block).
struct RoomChange {
    lblk: u64,
    gap: u16,
    node: RBTreeNodeReservation<u64, ()>,
}

fn corrupt(dir: &DInode, what: &str) -> Error {
    pr_err!("directory {}: {}; run fsck.daxfs\n", dir.ino(), what);
    EUCLEAN
}

impl DirIndex {
    pub(crate) fn new() -> Self {
        DirIndex { built: false, names: RBTree::new(), count: 0, gaps: KVVec::new(), room: RBTree::new() }
    }

    /// Whether the directory has no entries.
    pub(crate) fn is_empty(&mut self, dir: &DInode) -> Result<bool> {
        self.build(dir)?;
        Ok(self.count == 0)
    }

    fn build(&mut self, dir: &DInode) -> Result {
        if self.built {
            return Ok(());
        }
        let dev = &dir.super_block().info().store.dev;
        let mut names = RBTree::new();
        let mut room = RBTree::new();
        let mut gaps = KVVec::new();
        let mut count = 0;
        let mut block = mem::zeroed_kvec(BS as usize)?;
        let nblocks = dir.size() / BS;
        for lblk in 0..nblocks {
            let pblk = block_of(dir, lblk, "hole in directory")?;
            dev.read(pblk * BS, &mut block)?;
            for r in format::dir_records(&block) {
                let r = r.map_err(|e| corrupt(dir, e.describe()))?;
                if r.ino != 0 {
                    names.try_create_and_insert(key(r.hash, slot(lblk, r.offset)), (), GFP_KERNEL)?;
                    count += 1;
                }
            }
            let gap = block_gap(&block).map_err(|e| corrupt(dir, e.describe()))?;
            gaps.push(gap, GFP_KERNEL)?;
            if usize::from(gap) >= MIN_REC {
                room.try_create_and_insert(room_key(gap, lblk), (), GFP_KERNEL)?;
            }
        }
        self.names = names;
        self.room = room;
        self.gaps = gaps;
        self.count = count;
        self.built = true;
        Ok(())
    }

    /// Finds `name` (as committed on pmem).
    pub(crate) fn lookup(&mut self, dir: &DInode, name: &[u8]) -> Result<Option<Found>> {
        self.build(dir)?;
        let hash = format::name_hash(name);
        let info = dir.super_block().info();
        let mut cur = self.names.cursor_lower_bound_mut(&key(hash, 0));
        while let Some(c) = cur {
            let (k, _) = c.current();
            if key_hash(*k) != hash {
                break;
            }
            let s = key_slot(*k);
            let pblk = block_of(dir, s / BS, "index points past the end")?;
            let mut rec = [0u8; format::DIR_REC_HEADER + format::NAME_MAX];
            let off = pblk * BS + s % BS;
            let len = rec.len().min((BS - s % BS) as usize);
            info.store.dev.read(off, &mut rec[..len])?;
            let ino = u64::from_le_bytes([rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], rec[6], rec[7]]);
            let nlen = rec[10] as usize;
            if ino != 0 && rec.get(format::DIR_REC_HEADER..format::DIR_REC_HEADER + nlen) == Some(name) {
                return Ok(Some(Found { ino, slot: s }));
            }
            cur = c.move_next();
        }
        Ok(None)
    }

    /// Logs a new entry `name -> ino` in `tx`, in the block with the least
    /// free space that holds it.  May grow the directory by a block: then
    /// `dst` (the directory's new image, and its logged extent map change)
    /// changes and must be installed after the commit.
    pub(crate) fn add(
        &mut self,
        tx: &mut Tx<'_>,
        dir: &DInode,
        dst: &mut Snap,
        name: &[u8],
        ino: u64,
        dtype: u8,
    ) -> Result<Change> {
        self.build(dir)?;
        let need = format::dir_rec_len(name.len());
        let hash = format::name_hash(name);
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut block = mem::zeroed_kvec(BS as usize)?;
        let nblocks = dst.disk.size / BS;
        let best = self.room.cursor_lower_bound_mut(&room_key(need as u16, 0)).map(|c| *c.current().0 & LBLK_MASK);
        if let Some(lblk) = best.filter(|l| *l < nblocks) {
            let pblk = block_of(dir, lblk, "hole in directory")?;
            tx.read(pblk * BS, &mut block)?;
            let mut fit = None;
            for r in format::dir_records(&block) {
                let r = r.map_err(|e| corrupt(dir, e.describe()))?;
                let used = if r.ino == 0 { 0 } else { format::dir_rec_len(r.name.len()) };
                if r.rec_len.saturating_sub(used) >= need {
                    fit = Some((r.offset, r.rec_len, used));
                    break;
                }
            }
            let (off, rec_len, used) = fit.ok_or_else(|| corrupt(dir, "free space index out of date"))?;
            let at = off + used;
            if used > 0 {
                // Shrink the live record to its name, take its slack.
                block[off + 8..off + 10].copy_from_slice(&(used as u16).to_le_bytes());
            }
            format::encode_dir_record(&mut block[at..], ino, rec_len - used, dtype, name).map_err(|_| EINVAL)?;
            tx.write(pblk * BS + off as u64, &block[off..at + need])?;
            let gap = block_gap(&block).map_err(|e| corrupt(dir, e.describe()))?;
            return Ok(Change {
                name: NameChange::Add(reservation, key(hash, slot(lblk, at))),
                room: RoomChange { lblk, gap, node },
            });
        }
        // No room: a new block at the end of the directory.
        self.gaps.reserve(1, GFP_KERNEL)?;
        let pblk = tx.alloc_block()?;
        format::init_dir_block(&mut block).map_err(|_| EINVAL)?;
        format::encode_dir_record(&mut block, ino, BS as usize, dtype, name).map_err(|_| EINVAL)?;
        tx.write(pblk * BS, &block)?;
        // Only the extent blocks that change are logged (not every one of a
        // long, fragmented directory); `blocks` counts the new one.
        if dst.map.is_some() {
            return Err(EINVAL);
        }
        let change = {
            let mut st = dir.data().state.lock();
            inode::add_block(tx, dir.ino(), &mut st.map, &mut dst.disk, nblocks, pblk)?
        };
        dst.map = Some(change);
        dst.disk.size = dst.disk.size.checked_add(BS).ok_or_else(|| corrupt(dir, "directory size overflows"))?;
        Ok(Change {
            name: NameChange::Add(reservation, key(hash, slot(nblocks, 0))),
            room: RoomChange { lblk: nblocks, gap: (BS as usize - need) as u16, node },
        })
    }

    /// Logs the removal of the record at `s` (found by `lookup`).
    pub(crate) fn remove(&mut self, tx: &mut Tx<'_>, dir: &DInode, s: u64, name: &[u8]) -> Result<Change> {
        let lblk = s / BS;
        let pblk = block_of(dir, lblk, "entry past the end")?;
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut block = mem::zeroed_kvec(BS as usize)?;
        tx.read(pblk * BS, &mut block)?;
        let off = (s % BS) as usize;
        let mut prev = None;
        let mut this = None;
        for r in format::dir_records(&block) {
            let r = r.map_err(|e| corrupt(dir, e.describe()))?;
            if r.offset == off {
                this = Some(r.rec_len);
                break;
            }
            prev = Some(r.offset);
        }
        let rec_len = this.ok_or_else(|| corrupt(dir, "entry not found in its block"))?;
        match prev {
            Some(p) => {
                // Merge into the previous record.
                let plen = u16::from_le_bytes([block[p + 8], block[p + 9]]) as usize + rec_len;
                block[p + 8..p + 10].copy_from_slice(&(plen as u16).to_le_bytes());
                tx.write(pblk * BS + p as u64 + 8, &block[p + 8..p + 10])?;
            }
            None => {
                // First record of the block: make it unused.
                // Only the header is written (encode_dir_record checks
                // rec_len against its buffer, hence the full-length one).
                let mut hdr = mem::zeroed_kvec(rec_len)?;
                format::encode_dir_record(&mut hdr, 0, rec_len, format::DT_UNKNOWN, &[]).map_err(|_| EINVAL)?;
                let h = &hdr[..format::DIR_REC_HEADER];
                block[off..off + format::DIR_REC_HEADER].copy_from_slice(h);
                tx.write(pblk * BS + off as u64, h)?;
            }
        }
        let gap = block_gap(&block).map_err(|e| corrupt(dir, e.describe()))?;
        Ok(Change { name: NameChange::Remove(key(format::name_hash(name), s)), room: RoomChange { lblk, gap, node } })
    }

    /// Logs a change of the inode an existing record points to (rename over
    /// an existing name, exchange).
    pub(crate) fn retarget(tx: &mut Tx<'_>, dir: &DInode, s: u64, ino: u64, dtype: u8) -> Result {
        let pblk = block_of(dir, s / BS, "entry past the end")?;
        let at = pblk * BS + s % BS;
        tx.write(at, &ino.to_le_bytes())?;
        tx.write(at + 11, &[dtype])
    }

    /// Applies a committed change to the index.
    pub(crate) fn apply(&mut self, c: Change) {
        match c.name {
            NameChange::Add(res, k) => {
                self.names.insert(res.into_node(k, ()));
                self.count += 1;
            }
            NameChange::Remove(k) => {
                if self.names.remove(&k).is_some() {
                    self.count -= 1;
                }
            }
        }
        let r = c.room;
        let i = r.lblk as usize;
        match self.gaps.get(i).copied() {
            Some(old) => {
                self.room.remove(&room_key(old, r.lblk));
                self.gaps[i] = r.gap;
            }
            // A new last block (`add` reserved the room for it).
            None if i == self.gaps.len() && self.gaps.push_within_capacity(r.gap).is_ok() => {}
            // Cannot happen; without its gap the block is just not offered
            // for new entries.
            None => return,
        }
        if usize::from(r.gap) >= MIN_REC {
            self.room.insert(r.node.into_node(room_key(r.gap, r.lblk), ()));
        }
    }
}

/// Lists `dir` from `emit.pos()`.
pub(crate) fn readdir(dir: &DInode, emit: &mut crate::kfs::inode::DirEmitter) -> Result {
    if emit.pos() == 0 {
        if !emit.emit(b".", dir.ino(), format::DT_DIR) {
            return Ok(());
        }
        emit.set_pos(1);
    }
    if emit.pos() == 1 {
        let parent = dir.data().state.lock().disk.parent;
        if !emit.emit(b"..", parent, format::DT_DIR) {
            return Ok(());
        }
        emit.set_pos(2);
    }
    let dev = &dir.super_block().info().store.dev;
    let mut block = mem::zeroed_kvec(BS as usize)?;
    loop {
        let Some(DirPos::Record { lblk, offset }) = DirPos::decode(emit.pos() as u64) else {
            return Ok(());
        };
        let lblk = u64::from(lblk);
        let pblk = {
            let st = dir.data().state.lock();
            if lblk >= st.disk.size / BS {
                return Ok(());
            }
            st.map.map_block(lblk).ok_or_else(|| corrupt(dir, "hole in directory"))?
        };
        // Copy the block out so no lock is held while emitting (which
        // copies to user memory and may fault).
        dev.read(pblk * BS, &mut block)?;
        for r in format::dir_records(&block) {
            let r = r.map_err(|e| corrupt(dir, e.describe()))?;
            if r.offset < offset as usize || r.ino == 0 {
                continue;
            }
            let pos = DirPos::Record { lblk: lblk as u32, offset: r.offset as u16 }.encode();
            emit.set_pos(pos as i64);
            if !emit.emit(r.name, r.ino, r.file_type) {
                return Ok(());
            }
            // Past this entry (positions need not be record starts).
            emit.set_pos(pos as i64 + 1);
        }
        // A directory never has 2^32 blocks (file blocks are u32); a size
        // that says so must not wrap the position back to the start.
        let Ok(next) = u32::try_from(lblk + 1) else {
            return Ok(());
        };
        emit.set_pos(DirPos::Record { lblk: next, offset: 0 }.encode() as i64);
    }
}

/// The device block of directory block `lblk` (`what` names the
/// corruption when it is a hole).
fn block_of(dir: &DInode, lblk: u64, what: &str) -> Result<u64> {
    dir.data().state.lock().map.map_block(lblk).ok_or_else(|| corrupt(dir, what))
}
