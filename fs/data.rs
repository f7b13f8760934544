// SPDX-License-Identifier: GPL-2.0
//! File data: mapping file ranges to pmem blocks for the DAX engine
//! (`iomap_begin`/`iomap_end`), allocation, truncate and fallocate.
//!
//! Rules (docs/data-path.md):
//! * Blocks are zeroed on pmem before the transaction that maps them
//!   commits, so no read, fault or crash can show stale data.  fallocate
//!   maps blocks *unwritten* instead (they read as zeroes); a write or write
//!   fault converts them, zeroing first.
//! * Every change of the extent map is one journal transaction, durable
//!   when the call returns (so MAP_SYNC faults need no fsync).
//! * Lock order: metadata mutex (`Store::begin`) before the inode state.
//!   Lookups that find what they need take only the inode state lock.
#![forbid(unsafe_code)]

use crate::extents::{self, EditError, ExtentList, Lookup};
use crate::format::{self, Extent, MAX_FILE_BLOCKS};
use crate::inode::{self, DInode, IState};
use crate::kfs::file::Falloc;
use crate::kfs::iomap::{Kind, Mapping, Purpose, Request};
use crate::meta::Tx;
use kernel::prelude::*;

const BS: u64 = format::BLOCK_SIZE as u64;
/// Blocks per 2 MiB (a PMD mapping).
const PMD_BLOCKS: u64 = format::DATA_ALIGN_BLOCKS;

/// The extent list of an inode, as `fs/extents.rs` edits it.
pub(crate) struct Exts(pub(crate) KVec<Extent>);

impl ExtentList for Exts {
    fn exts(&self) -> &[Extent] {
        &self.0
    }
    fn exts_mut(&mut self) -> &mut [Extent] {
        &mut self.0
    }
    fn insert_at(&mut self, i: usize, e: Extent) -> Result<(), ()> {
        self.0.reserve(1, GFP_KERNEL).map_err(|_| ())?;
        self.0.insert_within_capacity(i, e).map_err(|_| ())
    }
    fn remove_at(&mut self, i: usize) {
        let _ = self.0.remove(i);
    }
}

fn edit_err(e: EditError) -> Error {
    match e {
        EditError::NoMemory => ENOMEM,
        EditError::Invalid => EINVAL,
        EditError::Callback => EIO,
    }
}

fn copy_vec<T: Copy>(v: &[T]) -> Result<KVec<T>> {
    let mut out = KVec::with_capacity(v.len(), GFP_KERNEL)?;
    out.extend_from_slice(v, GFP_KERNEL)?;
    Ok(out)
}

/// Logs `exts` (and `size`, if given) as inode `inode`'s new state in
/// `tx`, commits, and installs the result in `st`.
fn commit_map(inode: &DInode, mut tx: Tx<'_>, st: &mut IState, exts: KVec<Extent>, size: Option<u64>) -> Result {
    let mut d = st.disk;
    inode::sync_from_vfs(inode, &mut d);
    if let Some(s) = size {
        d.size = s;
    }
    let mut chain = copy_vec(&st.chain)?;
    inode::log_extents(&mut tx, inode.ino(), &mut d, &exts, &mut chain)?;
    d.blocks = extents::mapped_blocks(&exts) + chain.len() as u64;
    inode::log_inode(&mut tx, inode.ino(), &d)?;
    tx.commit()?;
    st.disk = d;
    st.extents = exts;
    st.chain = chain;
    inode.set_blocks(d.blocks);
    Ok(())
}

fn mapping_of(e: &Extent, lblk: u64) -> Mapping {
    let skip = lblk - u64::from(e.lblk);
    Mapping {
        kind: if e.unwritten { Kind::Unwritten } else { Kind::Mapped },
        offset: lblk * BS,
        length: (u64::from(e.len) - skip) * BS,
        addr: (e.pblk + skip) * BS,
        new: false,
    }
}

/// `iomap_begin`: what backs the file at `pos`, allocating (or converting
/// unwritten blocks) for writes.
pub(crate) fn iomap_begin(inode: &DInode, pos: u64, len: u64, req: Request) -> Result<Mapping> {
    let first = pos / BS;
    if first >= MAX_FILE_BLOCKS {
        return Err(EFBIG);
    }
    let end = pos.saturating_add(len).div_ceil(BS).min(MAX_FILE_BLOCKS);
    let write = req.purpose == Purpose::Write;
    {
        let st = inode.data().state.lock();
        match extents::lookup(&st.extents, first) {
            Lookup::Mapped { index } => {
                let e = st.extents[index];
                if !(write && e.unwritten) {
                    return Ok(mapping_of(&e, first));
                }
            }
            Lookup::Hole { next, .. } if !write => {
                return Ok(Mapping { kind: Kind::Hole, offset: first * BS, length: (next - first) * BS, addr: 0, new: false });
            }
            Lookup::Hole { .. } => {}
        }
    }
    if req.nowait {
        return Err(EAGAIN);
    }
    let info = inode.super_block().info();
    if info.read_only {
        return Err(EROFS);
    }
    let store = &info.store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    // Look again: another writer or fault may have allocated meanwhile.
    let (start, stop, convert, goal) = match extents::lookup(&st.extents, first) {
        Lookup::Mapped { index } => {
            let e = st.extents[index];
            if !e.unwritten {
                return Ok(mapping_of(&e, first));
            }
            (first, end.min(e.end()).max(first + 1), Some(e), None)
        }
        Lookup::Hole { next, prev } => {
            let goal = prev.map(|i| st.extents[i]).and_then(|p| {
                // Continue the previous run if the gap keeps the colour.
                let g = p.pblk + (first - u64::from(p.lblk));
                (first - p.end() < PMD_BLOCKS).then_some(g)
            });
            (first, end.min(next).max(first + 1), None, goal)
        }
    };
    let mut exts = Exts(copy_vec(&st.extents)?);
    let (pblk, count) = match convert {
        Some(e) => {
            let p = e.pblk + (start - u64::from(e.lblk));
            let n = stop - start;
            store.dev.zero(p * BS, n * BS)?;
            extents::set_written(&mut exts, start, stop).map_err(edit_err)?;
            (p, n)
        }
        None => {
            let (p, n) = tx.alloc_data(goal, stop - start, start % PMD_BLOCKS)?;
            store.dev.zero(p * BS, n * BS)?;
            let e = Extent { lblk: start as u32, len: n as u32, pblk: p, unwritten: false };
            extents::insert(&mut exts, e).map_err(edit_err)?;
            (p, n)
        }
    };
    // The zeroes are durable before the commit makes the blocks reachable
    // (the commit starts with a fence).
    commit_map(inode, tx, &mut st, exts.0, None)?;
    Ok(Mapping { kind: Kind::Mapped, offset: start * BS, length: count * BS, addr: pblk * BS, new: true })
}

/// `iomap_end` of writes: a short write leaves fresh blocks past EOF that
/// nothing uses; free them (nothing can map them: faults stop at EOF).
pub(crate) fn iomap_end(inode: &DInode, pos: u64, _len: u64, written: u64, map: &Mapping) -> Result {
    if !map.new || map.kind != Kind::Mapped {
        return Ok(());
    }
    let used_end = (pos + written).div_ceil(BS);
    let eof = inode.size().div_ceil(BS);
    let from = used_end.max(eof).max(map.offset / BS);
    let to = (map.offset + map.length) / BS;
    if from >= to {
        return Ok(());
    }
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut exts = Exts(copy_vec(&st.extents)?);
    remove_blocks(&mut tx, &mut exts, from, to)?;
    commit_map(inode, tx, &mut st, exts.0, None)
}

/// Unmaps file blocks `from..to` in `exts`, freeing them in `tx`.
fn remove_blocks(tx: &mut Tx<'_>, exts: &mut Exts, from: u64, to: u64) -> Result {
    let mut err = None;
    extents::remove(exts, from, to, &mut |b, n| {
        tx.free_blocks(b, n).map_err(|e| {
            err = Some(e);
        })
    })
    .map_err(|e| err.take().unwrap_or_else(|| edit_err(e)))
}

/// Written blocks past the block holding EOF are stale: a crash between a
/// write's allocation and its size update, or a failed trim, leaves them.
/// Before the size grows over them they are freed (unwritten
/// preallocations stay), so they can never show through.  Unmapped at
/// this point: nothing maps a file past EOF.
fn remove_stale(tx: &mut Tx<'_>, exts: &mut Exts, old_size: u64) -> Result<bool> {
    let eof = old_size.div_ceil(BS);
    let mut any = false;
    loop {
        let stale = exts.0.iter().rev().take_while(|e| e.end() > eof).find(|e| !e.unwritten).copied();
        let Some(e) = stale else { break };
        remove_blocks(tx, exts, u64::from(e.lblk).max(eof), e.end())?;
        any = true;
    }
    Ok(any)
}

/// Frees stale written blocks past `old_size` (see `remove_stale`).
pub(crate) fn drop_stale(inode: &DInode, old_size: u64) -> Result {
    let eof = old_size.div_ceil(BS);
    {
        let st = inode.data().state.lock();
        if !st.extents.iter().rev().take_while(|e| e.end() > eof).any(|e| !e.unwritten) {
            return Ok(());
        }
    }
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut exts = Exts(copy_vec(&st.extents)?);
    if !remove_stale(&mut tx, &mut exts, old_size)? {
        return Ok(());
    }
    commit_map(inode, tx, &mut st, exts.0, None)
}

/// Persists a size grown by a write.
pub(crate) fn write_size(inode: &DInode, size: u64) -> Result {
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut d = st.disk;
    inode::sync_from_vfs(inode, &mut d);
    d.size = size;
    inode::log_inode(&mut tx, inode.ino(), &d)?;
    tx.commit()?;
    st.disk = d;
    Ok(())
}

/// Truncate (i_size is already `size`, nothing maps past it): frees every
/// block past the new end, including preallocated ones.
pub(crate) fn set_size(inode: &DInode, size: u64) -> Result {
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut exts = Exts(copy_vec(&st.extents)?);
    if size < st.disk.size {
        remove_blocks(&mut tx, &mut exts, size.div_ceil(BS), MAX_FILE_BLOCKS)?;
    } else {
        remove_stale(&mut tx, &mut exts, st.disk.size)?;
    }
    commit_map(inode, tx, &mut st, exts.0, Some(size))
}

/// Maps every hole of file blocks `from..to` with fresh unwritten blocks,
/// one transaction per allocated run.  Stops at the first error (ENOSPC),
/// keeping what was allocated, as ext4 and XFS do.
fn allocate_unwritten(inode: &DInode, from: u64, to: u64) -> Result {
    let store = &inode.super_block().info().store;
    let mut b = from;
    while b < to {
        let mut tx = store.begin();
        let mut st = inode.data().state.lock();
        let (hole_end, goal) = match extents::lookup(&st.extents, b) {
            Lookup::Mapped { index } => {
                b = st.extents[index].end();
                continue;
            }
            Lookup::Hole { next, prev } => {
                let goal = prev.map(|i| st.extents[i]).and_then(|p| {
                    let g = p.pblk + (b - u64::from(p.lblk));
                    (b - p.end() < PMD_BLOCKS).then_some(g)
                });
                (next.min(to), goal)
            }
        };
        let want = (hole_end - b).min(u64::from(format::EXTENT_MAX_LEN));
        let (p, n) = tx.alloc_data(goal, want, b % PMD_BLOCKS)?;
        let mut exts = Exts(copy_vec(&st.extents)?);
        extents::insert(&mut exts, Extent { lblk: b as u32, len: n as u32, pblk: p, unwritten: true })
            .map_err(edit_err)?;
        commit_map(inode, tx, &mut st, exts.0, None)?;
        b += n;
    }
    Ok(())
}

/// Grows the size to `end` if smaller (persisted).
fn extend_to(inode: &DInode, end: u64) -> Result {
    if end > inode.size() {
        write_size(inode, end)?;
        inode.set_size(end);
    }
    Ok(())
}

/// `fallocate(2)` (see `kfs::file::Falloc`); the locks are held and, for
/// layout changes, layouts are broken.
pub(crate) fn fallocate(inode: &DInode, op: Falloc, off: u64, len: u64) -> Result {
    if inode.super_block().info().read_only {
        return Err(EROFS);
    }
    let end = off.checked_add(len).ok_or(EFBIG)?;
    let max = MAX_FILE_BLOCKS * BS;
    let size = inode.size();
    match op {
        Falloc::Allocate { keep_size } => {
            if end > max {
                return Err(EFBIG);
            }
            if !keep_size && end > size {
                drop_stale(inode, size)?;
            }
            allocate_unwritten(inode, off / BS, end.div_ceil(BS))?;
            if !keep_size {
                extend_to(inode, end)?;
            }
            Ok(())
        }
        Falloc::PunchHole => {
            let end = end.min(max);
            punch(inode, off, end)
        }
        Falloc::ZeroRange { keep_size } => {
            if end > max {
                return Err(EFBIG);
            }
            if !keep_size && end > size {
                drop_stale(inode, size)?;
            }
            // Edges: zero the bytes; whole blocks: drop and map unwritten.
            punch(inode, off, end)?;
            let (a, z) = (off.div_ceil(BS), end / BS);
            if a < z {
                allocate_unwritten(inode, a, z)?;
            }
            if !keep_size {
                extend_to(inode, end)?;
            }
            Ok(())
        }
        Falloc::CollapseRange => {
            if off % BS != 0 || len % BS != 0 || len == 0 {
                return Err(EINVAL);
            }
            if end >= size {
                return Err(EINVAL);
            }
            inode.unmap_range(off, u64::MAX);
            let store = &inode.super_block().info().store;
            let mut tx = store.begin();
            let mut st = inode.data().state.lock();
            let mut exts = Exts(copy_vec(&st.extents)?);
            remove_blocks(&mut tx, &mut exts, off / BS, end / BS)?;
            extents::shift(&mut exts, end / BS, -((len / BS) as i64)).map_err(edit_err)?;
            commit_map(inode, tx, &mut st, exts.0, Some(size - len))?;
            drop(st);
            inode.set_size(size - len);
            Ok(())
        }
        Falloc::InsertRange => {
            if off % BS != 0 || len % BS != 0 || len == 0 {
                return Err(EINVAL);
            }
            if off >= size {
                return Err(EINVAL);
            }
            if size.checked_add(len).is_none_or(|s| s > max) {
                return Err(EFBIG);
            }
            inode.unmap_range(off, u64::MAX);
            let store = &inode.super_block().info().store;
            let tx = store.begin();
            let mut st = inode.data().state.lock();
            let mut exts = Exts(copy_vec(&st.extents)?);
            extents::split_at(&mut exts, off / BS).map_err(edit_err)?;
            extents::shift(&mut exts, off / BS, (len / BS) as i64).map_err(|e| match e {
                EditError::Invalid => EFBIG,
                e => edit_err(e),
            })?;
            commit_map(inode, tx, &mut st, exts.0, Some(size + len))?;
            drop(st);
            inode.set_size(size + len);
            Ok(())
        }
    }
}

/// Makes bytes `off..end` read as zeroes and frees the whole blocks there.
fn punch(inode: &DInode, off: u64, end: u64) -> Result {
    if off >= end {
        return Ok(());
    }
    let (a, z) = (off.div_ceil(BS), end / BS);
    if a > z {
        // Inside one block.
        return inode.dax_zero_range(off, end - off);
    }
    inode.dax_zero_range(off, a * BS - off)?;
    inode.dax_zero_range(z * BS, end - z * BS)?;
    if a == z {
        return Ok(());
    }
    inode.unmap_range(a * BS, z * BS - 1);
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut exts = Exts(copy_vec(&st.extents)?);
    remove_blocks(&mut tx, &mut exts, a, z)?;
    commit_map(inode, tx, &mut st, exts.0, None)
}
