// SPDX-License-Identifier: GPL-2.0
//! Directories: records in directory blocks (docs/format-v2.md), found
//! through a DRAM index built on a directory's first use.
//!
//! Records never move: a new entry takes an unused record or the slack at
//! the end of a live one, and a removed entry's space is merged into the
//! record before it.  So a readdir position (block, offset) stays valid
//! across concurrent changes.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::format::{self, DirPos};
use crate::inode::{self, DInode, IState};
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

fn key(hash: u32, slot: u64) -> u64 {
    (u64::from(hash) << 32) | (slot >> 3)
}

fn key_slot(key: u64) -> u64 {
    (key & 0xffff_ffff) << 3
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
    /// `hash << 32 | slot / 8` of every live record.
    names: RBTree<u64, ()>,
    /// Live records.
    count: u64,
}

/// An index change prepared before a commit and applied after it (so the
/// index never disagrees with pmem, and applying cannot fail).
pub(crate) enum Change {
    Add(RBTreeNodeReservation<u64, ()>, u64),
    Remove(u64),
}

fn corrupt(dir: &DInode, what: &str) -> Error {
    pr_err!("directory {}: {}; run fsck.daxfs\n", dir.ino(), what);
    EUCLEAN
}

impl DirIndex {
    pub(crate) fn new() -> Self {
        DirIndex { built: false, names: RBTree::new(), count: 0 }
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
        let mut count = 0;
        let mut block = mem::zeroed_kvec(BS as usize)?;
        let nblocks = dir.size() / BS;
        for lblk in 0..nblocks {
            let pblk = {
                let st = dir.data().state.lock();
                inode::map_block(&st.extents, lblk).ok_or_else(|| corrupt(dir, "hole in directory"))?
            };
            dev.read(pblk * BS, &mut block)?;
            for r in format::dir_records(&block) {
                let r = r.map_err(|e| corrupt(dir, e.describe()))?;
                if r.ino != 0 {
                    names.try_create_and_insert(key(r.hash, slot(lblk, r.offset)), (), GFP_KERNEL)?;
                    count += 1;
                }
            }
        }
        self.names = names;
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
            if k >> 32 != u64::from(hash) {
                break;
            }
            let s = key_slot(*k);
            let pblk = {
                let st = dir.data().state.lock();
                inode::map_block(&st.extents, s / BS).ok_or_else(|| corrupt(dir, "index points past the end"))?
            };
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

    /// Logs a new entry `name -> ino` in `tx`.  May grow the directory by a
    /// block: then `dst`/`extents` (copies of the directory's state) change
    /// and must be stored after the commit.
    pub(crate) fn add(
        &mut self,
        tx: &mut Tx<'_>,
        dir: &DInode,
        dst: &mut IState,
        name: &[u8],
        ino: u64,
        dtype: u8,
    ) -> Result<Change> {
        self.build(dir)?;
        let need = format::dir_rec_len(name.len());
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut block = mem::zeroed_kvec(BS as usize)?;
        let nblocks = dst.disk.size / BS;
        // First fit, newest blocks first (where free space usually is).
        for lblk in (0..nblocks).rev() {
            let pblk = inode::map_block(&dst.extents, lblk).ok_or_else(|| corrupt(dir, "hole in directory"))?;
            tx.read(pblk * BS, &mut block)?;
            let mut fit = None;
            for r in format::dir_records(&block) {
                let r = r.map_err(|e| corrupt(dir, e.describe()))?;
                let used = if r.ino == 0 { 0 } else { format::dir_rec_len(r.name.len()) };
                if r.rec_len - used >= need {
                    fit = Some((r.offset, r.rec_len, used));
                    break;
                }
            }
            if let Some((off, rec_len, used)) = fit {
                let at = off + used;
                if used > 0 {
                    // Shrink the live record to its name, take its slack.
                    block[off + 8..off + 10].copy_from_slice(&(used as u16).to_le_bytes());
                }
                format::encode_dir_record(&mut block[at..], ino, rec_len - used, dtype, name)
                    .map_err(|_| EINVAL)?;
                tx.write(pblk * BS + off as u64, &block[off..at + need])?;
                return Ok(Change::Add(reservation, key(format::name_hash(name), slot(lblk, at))));
            }
        }
        // No room: a new block at the end of the directory.
        let pblk = tx.alloc_block()?;
        format::init_dir_block(&mut block).map_err(|_| EINVAL)?;
        format::encode_dir_record(&mut block, ino, BS as usize, dtype, name).map_err(|_| EINVAL)?;
        tx.write(pblk * BS, &block)?;
        inode::push_block(&mut dst.extents, nblocks, pblk)?;
        let ino_dir = dir.ino();
        inode::log_extents(tx, ino_dir, &mut dst.disk, &dst.extents, None, &mut dst.chain)?;
        dst.disk.size += BS;
        dst.disk.blocks += 1;
        Ok(Change::Add(reservation, key(format::name_hash(name), slot(nblocks, 0))))
    }

    /// Logs the removal of the record at `s` (found by `lookup`).
    pub(crate) fn remove(&mut self, tx: &mut Tx<'_>, dir: &DInode, dst: &IState, s: u64, name: &[u8]) -> Result<Change> {
        let pblk = inode::map_block(&dst.extents, s / BS).ok_or_else(|| corrupt(dir, "entry past the end"))?;
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
                tx.write(pblk * BS + p as u64 + 8, &(plen as u16).to_le_bytes())?;
            }
            None => {
                // First record of the block: make it unused.
                // Only the header is written (encode_dir_record checks
                // rec_len against its buffer, hence the full-length one).
                let mut hdr = mem::zeroed_kvec(rec_len)?;
                format::encode_dir_record(&mut hdr, 0, rec_len, format::DT_UNKNOWN, &[]).map_err(|_| EINVAL)?;
                tx.write(pblk * BS + off as u64, &hdr[..format::DIR_REC_HEADER])?;
            }
        }
        Ok(Change::Remove(key(format::name_hash(name), s)))
    }

    /// Logs a change of the inode an existing record points to (rename over
    /// an existing name, exchange).
    pub(crate) fn retarget(tx: &mut Tx<'_>, dir: &DInode, dst: &IState, s: u64, ino: u64, dtype: u8) -> Result {
        let pblk = inode::map_block(&dst.extents, s / BS).ok_or_else(|| corrupt(dir, "entry past the end"))?;
        let at = pblk * BS + s % BS;
        tx.write(at, &ino.to_le_bytes())?;
        tx.write(at + 11, &[dtype])
    }

    /// Applies a committed change to the index.
    pub(crate) fn apply(&mut self, c: Change) {
        match c {
            Change::Add(res, k) => {
                self.names.insert(res.into_node(k, ()));
                self.count += 1;
            }
            Change::Remove(k) => {
                if self.names.remove(&k).is_some() {
                    self.count -= 1;
                }
            }
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
            inode::map_block(&st.extents, lblk).ok_or_else(|| corrupt(dir, "hole in directory"))?
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
        emit.set_pos(DirPos::Record { lblk: (lblk + 1) as u32, offset: 0 }.encode() as i64);
    }
}
