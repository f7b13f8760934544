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

use crate::extents::{self, Lookup};
use crate::extmap::Found;
use crate::format::{self, Extent, MAX_FILE_BLOCKS};
use crate::inode::{self, DInode, IState, Map, MapWindow};
use crate::kfs::file::Falloc;
use crate::kfs::iomap::{Kind, Mapping, Purpose, Request};
use crate::extmap::SHIFT_LEAVES;
use crate::meta::{Tx, STEP_BLOCKS, STEP_EXTENTS};
use crate::orphan;
use kernel::prelude::*;

const BS: u64 = format::BLOCK_SIZE as u64;
/// Blocks per 2 MiB (a PMD mapping).
const PMD_BLOCKS: u64 = format::DATA_ALIGN_BLOCKS;

/// The window of the extent map an edit opened (`open`), if any.
type Opened = Option<MapWindow>;

/// Opens the window of `map` for an edit of file blocks `lo..hi` (once per
/// transaction) and returns its extents.
fn open<'w>(w: &'w mut Opened, map: &Map, lo: u64, hi: u64) -> Result<&'w mut KVVec<Extent>> {
    if w.is_some() {
        return Err(EINVAL);
    }
    Ok(&mut w.insert(map.window(lo, hi)?).exts)
}

/// What an edit of an extent map did.
enum Edit {
    /// Nothing: no transaction is committed.
    Unchanged,
    /// The extents changed.
    Changed,
    /// The extents (if a window was opened) and the size changed.
    Resized(u64),
}

/// One change of `inode`'s extent map as one transaction: `edit` sees the
/// current state, allocates or frees in `tx` and edits the extents of the
/// window it opens (`open`); the leaves that changed are logged with the
/// inode, committed, and spliced into the map.
/// Takes the metadata mutex, then the inode state (docs/locking.md).
fn change_map(inode: &DInode, edit: impl FnOnce(&mut Tx<'_>, &IState, &mut Opened) -> Result<Edit>) -> Result {
    let mut tx = inode.super_block().info().store.begin();
    let mut st = inode.data().state.lock();
    let mut w = None;
    let size = match edit(&mut tx, &st, &mut w)? {
        Edit::Unchanged => return Ok(()),
        Edit::Changed => None,
        Edit::Resized(s) => Some(s),
    };
    let mut d = st.disk;
    inode::sync_from_vfs(inode, &mut d);
    if let Some(s) = size {
        d.size = s;
    }
    let change = match w {
        Some(w) => Some(inode::log_window(&mut tx, inode.ino(), &mut st.map, w, &mut d)?),
        None => None,
    };
    inode::log_inode(&mut tx, inode.ino(), &d)?;
    tx.commit()?;
    st.disk = d;
    if let Some(c) = change {
        inode::install_map(inode.super_block(), inode.ino(), &mut st.map, c);
    }
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
        converted: false,
    }
}

/// Where to continue file block `lblk`'s previous run in device space,
/// if the gap keeps the 2 MiB colour cheap to honour.
fn goal(prev: Option<Extent>, lblk: u64) -> Option<u64> {
    let p = prev?;
    (lblk.checked_sub(p.end())? < PMD_BLOCKS).then(|| p.pblk + (lblk - u64::from(p.lblk)))
}

/// `iomap_begin`: what backs the file at `pos`, allocating (or converting
/// unwritten blocks) for writes.
pub(crate) fn iomap_begin(inode: &DInode, pos: u64, len: u64, req: Request) -> Result<Mapping> {
    let info = inode.super_block().info();
    // After a shutdown no data moves (reads, writes, faults, as XFS/ext4).
    if info.store.is_shut_down() {
        return Err(EIO);
    }
    let first = pos / BS;
    if first >= MAX_FILE_BLOCKS {
        return Err(EFBIG);
    }
    let end = pos.saturating_add(len).div_ceil(BS).min(MAX_FILE_BLOCKS);
    let write = req.purpose == Purpose::Write;
    {
        let st = inode.data().state.lock();
        match st.map.lookup(first) {
            Found::Mapped(e) => {
                if !(write && e.unwritten) {
                    return Ok(mapping_of(&e, first));
                }
            }
            Found::Hole { next, .. } if !write => {
                return Ok(Mapping { kind: Kind::Hole, offset: first * BS, length: (next - first) * BS, addr: 0, new: false, converted: false });
            }
            Found::Hole { .. } => {}
        }
    }
    if req.nowait {
        return Err(EAGAIN);
    }
    if info.read_only() {
        return Err(EROFS);
    }
    let dev = &info.store.dev;
    // Fresh blocks must be zeroed before anything can map or read them,
    // except blocks that a write(2) overwrites entirely and that lie past
    // EOF: no read or fault reaches past EOF (reads, truncate and fallocate
    // wait for i_rwsem, which this write holds; faults there get SIGBUS),
    // the size grows over them only after the copy (write_size, whose
    // commit fences the data first), and a short copy zeroes the rest of
    // its last block in iomap_end and frees the blocks after it.  After a
    // crash they are blocks past EOF, which are freed before the size
    // grows over them (drop_stale).  That halves the pmem traffic of
    // appends and sequential writes.
    let skip = if req.fault { 0..0 } else { unzeroed(pos, len, inode.size()) };
    let zero = |p: u64, lblk: u64, n: u64| -> Result {
        // Zero around the skipped part (which may be empty).
        let a = skip.start.clamp(lblk, lblk + n);
        let z = skip.end.clamp(a, lblk + n);
        if a > lblk {
            dev.zero(p * BS, (a - lblk) * BS)?;
        }
        if z < lblk + n {
            dev.zero((p + (z - lblk)) * BS, (lblk + n - z) * BS)?;
        }
        Ok(())
    };
    // A fresh block on the badblocks list whose poison the platform
    // cannot clear fails to zero: keep every free block on the list out
    // of allocation and try again (while that finds new ones: the list
    // may grow meanwhile).
    let bad = core::cell::Cell::new(None);
    for _ in 0..4 {
        match alloc_mapping(inode, first, end, &zero, &bad) {
            Err(e) if e == EHWPOISON => {
                // (Users see EIO for a bad block, as for any media error.)
                let Some((p, n)) = bad.take() else { return Err(EIO) };
                let geo = &info.store.geo;
                let q = info.store.quarantine_bad(geo.data_start, geo.data_blocks());
                if q == 0 {
                    return Err(EIO);
                }
                pr_warn!(
                    "{}: fresh blocks {}..{} could not be zeroed (badblocks list): {} bad free blocks are not allocated from now on; retrying\n",
                    info.store.name(),
                    p,
                    p + n,
                    q
                );
            }
            r => return r,
        }
    }
    Err(EIO)
}

/// The allocating part of [`iomap_begin`]: maps `first` for a write,
/// allocating or converting up to `end`, zeroing with `zero`; fresh blocks
/// that failed to zero are left in `bad`.
fn alloc_mapping(
    inode: &DInode,
    first: u64,
    end: u64,
    zero: &dyn Fn(u64, u64, u64) -> Result,
    bad: &core::cell::Cell<Option<(u64, u64)>>,
) -> Result<Mapping> {
    let mut out = None;
    change_map(inode, |tx, st, w| {
        // Look again: another writer or fault may have allocated meanwhile.
        let (pblk, count, converted) = match st.map.lookup(first) {
            Found::Mapped(e) => {
                if !e.unwritten {
                    out = Some(mapping_of(&e, first));
                    return Ok(Edit::Unchanged);
                }
                let stop = end.min(e.end()).max(first + 1);
                let p = e.pblk + (first - u64::from(e.lblk));
                zero(p, first, stop - first)?;
                extents::set_written(open(w, &st.map, first, stop)?, first, stop)?;
                (p, stop - first, true)
            }
            Found::Hole { next, prev } => {
                let want = end.min(next).max(first + 1) - first;
                let (p, n) = tx.alloc_data(goal(prev, first), first, want)?;
                zero(p, first, n).inspect_err(|_| bad.set(Some((p, n))))?;
                let e = Extent { lblk: first as u32, len: n as u32, pblk: p, unwritten: false };
                extents::insert(open(w, &st.map, first, first + n)?, e)?;
                (p, n, false)
            }
        };
        // The zeroes are durable before the commit makes the blocks
        // reachable (the commit starts with a fence).
        out = Some(Mapping {
            kind: Kind::Mapped,
            offset: first * BS,
            length: count * BS,
            addr: pblk * BS,
            new: true,
            converted,
        });
        Ok(Edit::Changed)
    })?;
    out.ok_or(EIO)
}

/// For zeroing past EOF: a bad block there (`EHWPOISON` from
/// `DaxDevice::zero`) holds nothing anyone can read, so it is no error.
fn past_eof(e: Error) -> Result {
    if e == EHWPOISON {
        Ok(())
    } else {
        Err(e)
    }
}

/// File blocks of a `write(2)` of `pos..pos+len` (not a fault) that
/// `iomap_begin` does not zero when it allocates or converts them: those
/// past EOF that the copy overwrites entirely (see there).
fn unzeroed(pos: u64, len: u64, size: u64) -> core::ops::Range<u64> {
    pos.div_ceil(BS).max(size.div_ceil(BS))..pos.saturating_add(len) / BS
}

/// `iomap_end` of writes: a short write leaves fresh blocks past EOF that
/// nothing uses; free them, or give converted preallocated blocks back to
/// unwritten (nothing can map them: faults stop at EOF).  The block it
/// stopped in may not have been zeroed (see `unzeroed`): zero its rest,
/// which lies past the new EOF but would show through an mmap of the last
/// page.  A block that was zeroed is left alone: inside EOF a racing mmap
/// store may have written there.
pub(crate) fn iomap_end(inode: &DInode, pos: u64, len: u64, written: u64, map: &Mapping) -> Result {
    if !map.new || map.kind != Kind::Mapped {
        return Ok(());
    }
    let stop = pos + written;
    if written < len
        && stop % BS != 0
        && stop >= map.offset
        && stop < map.offset + map.length
        && unzeroed(pos, len, inode.size()).contains(&(stop / BS))
    {
        let dev = &inode.super_block().info().store.dev;
        // Past the new EOF: a bad page there exposes nothing.
        dev.zero(map.addr + (stop - map.offset), BS - stop % BS).or_else(past_eof)?;
        dev.fence();
    }
    let used_end = (pos + written).div_ceil(BS);
    let eof = inode.size().div_ceil(BS);
    let from = used_end.max(eof).max(map.offset / BS);
    let to = (map.offset + map.length) / BS;
    if from >= to {
        return Ok(());
    }
    change_map(inode, |tx, st, w| {
        let exts = open(w, &st.map, from, to)?;
        if map.converted {
            extents::set_unwritten(exts, from, to)?;
        } else {
            remove_blocks(tx, exts, from, to)?;
        }
        Ok(Edit::Changed)
    })
}

/// Unmaps file blocks `from..to` in `exts`, freeing them in `tx`.
fn remove_blocks(tx: &mut Tx<'_>, exts: &mut KVVec<Extent>, from: u64, to: u64) -> Result {
    let mut err = None;
    extents::remove(exts, from, to, &mut |b, n| {
        tx.free_blocks(b, n).map_err(|e| {
            err = Some(e);
        })
    })
    .map_err(|e| err.take().unwrap_or_else(|| Error::from(e)))
}

/// The first written extent ending past file block `eof`, from the end.
fn stale_extent(map: &Map, eof: u64) -> Option<Extent> {
    map.iter().rev().take_while(|e| e.end() > eof).find(|e| !e.unwritten).copied()
}

/// Written blocks past the block holding EOF are stale: a crash between a
/// write's allocation and its size update, or a failed trim, leaves them.
/// Before the size grows over them they are freed (unwritten
/// preallocations stay), so they can never show through.  Unmapped at
/// this point: nothing maps a file past EOF.  One bounded piece (the end
/// of the last stale extent) per call.
fn remove_stale(tx: &mut Tx<'_>, st: &IState, w: &mut Opened, old_size: u64) -> Result<Edit> {
    let eof = old_size.div_ceil(BS);
    let Some(e) = stale_extent(&st.map, eof) else {
        return Ok(Edit::Unchanged);
    };
    let end = e.end();
    let start = u64::from(e.lblk).max(eof).max(end.saturating_sub(STEP_BLOCKS));
    remove_blocks(tx, open(w, &st.map, start, end)?, start, end)?;
    Ok(Edit::Changed)
}

/// Frees stale written blocks past `old_size` (see `remove_stale`), one
/// bounded transaction at a time.
pub(crate) fn drop_stale(inode: &DInode, old_size: u64) -> Result {
    while stale_extent(&inode.data().state.lock().map, old_size.div_ceil(BS)).is_some() {
        change_map(inode, |tx, st, w| remove_stale(tx, st, w, old_size))?;
    }
    Ok(())
}

/// Where the last bounded piece of removing file blocks `from..to` starts:
/// removing `start..to` frees at most `STEP_BLOCKS` blocks of at most
/// `STEP_EXTENTS` extents.  `from` when all of it fits one transaction.
fn step_start(map: &Map, from: u64, to: u64) -> u64 {
    let (mut blocks, mut n) = (0u64, 0usize);
    for e in map.rev_before(to) {
        let end = e.end().min(to);
        if end <= from {
            break;
        }
        if n == STEP_EXTENTS {
            return end;
        }
        let len = end - u64::from(e.lblk).max(from);
        let room = STEP_BLOCKS - blocks;
        if len > room {
            return end - room;
        }
        blocks += len;
        n += 1;
    }
    from
}

/// Frees file blocks `from..to` one bounded transaction at a time, from
/// the end, until what is left of the range fits one transaction (which
/// the caller commits with whatever else must change atomically with it).
fn remove_tail_steps(inode: &DInode, from: u64, to: u64) -> Result {
    let mut to = to;
    loop {
        let mut cut = from;
        change_map(inode, |tx, st, w| {
            cut = step_start(&st.map, from, to);
            if cut <= from {
                return Ok(Edit::Unchanged);
            }
            remove_blocks(tx, open(w, &st.map, cut, to)?, cut, to)?;
            Ok(Edit::Changed)
        })?;
        if cut <= from {
            return Ok(());
        }
        to = cut;
    }
}

/// Frees file blocks `from..to`, in as many bounded transactions as needed.
fn remove_range(inode: &DInode, from: u64, to: u64) -> Result {
    remove_tail_steps(inode, from, to)?;
    change_map(inode, |tx, st, w| {
        remove_blocks(tx, open(w, &st.map, from, to)?, from, to)?;
        Ok(Edit::Changed)
    })
}

/// Before eviction frees an unlinked inode in one transaction: frees all
/// but the last bounded piece of its blocks (the inode stays on the orphan
/// list meanwhile, so mount finishes the job after a crash).
pub(crate) fn free_before_evict(inode: &DInode) -> Result {
    remove_tail_steps(inode, 0, MAX_FILE_BLOCKS)
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
/// block past the new end, including preallocated ones; growing frees
/// stale written blocks past the old end.  The size is persisted by the
/// first transaction; when that fails, nothing changed and `i_size` is
/// restored.  A shrink that frees more than one transaction can puts a
/// linked inode on the orphan list in that first transaction and takes it
/// off with the last, so a crash in between leaves mount to finish it (an
/// unlinked one is there already).
pub(crate) fn set_size(inode: &DInode, size: u64) -> Result {
    let old = inode.data().state.lock().disk.size;
    let from = size.div_ceil(BS);
    let (mut more, mut on_list) = (false, false);
    let first = (|| {
        if size >= old {
            drop_stale(inode, old)?;
        }
        change_map(inode, |tx, st, w| {
            if size < st.disk.size {
                more = step_start(&st.map, from, MAX_FILE_BLOCKS) > from;
                if !more {
                    remove_blocks(tx, open(w, &st.map, from, MAX_FILE_BLOCKS)?, from, MAX_FILE_BLOCKS)?;
                } else if st.disk.nlink != 0 {
                    orphan::add(tx, inode.ino(), &st.disk)?;
                    on_list = true;
                }
            }
            Ok(Edit::Resized(size))
        })
    })();
    if let Err(e) = first {
        inode.set_size(old);
        return Err(e);
    }
    if !more {
        return Ok(());
    }
    finish_truncate(inode, on_list)
}

/// Frees every block past the block holding EOF (the persisted size), in
/// bounded transactions; `on_list`: the inode is on the orphan list for
/// this truncate (nlink > 0) and leaves it with the last one.  If that
/// fails the filesystem shuts down: the inode must not stay on the list
/// in DRAM while a later unlink could add it again; the next mount
/// finishes the truncate.
pub(crate) fn finish_truncate(inode: &DInode, on_list: bool) -> Result {
    let size = inode.data().state.lock().disk.size;
    let from = size.div_ceil(BS);
    let dev = &inode.super_block().info().store.dev;
    let r = remove_tail_steps(inode, from, MAX_FILE_BLOCKS).and_then(|()| {
        change_map(inode, |tx, st, w| {
            let exts = open(w, &st.map, from, MAX_FILE_BLOCKS)?;
            remove_blocks(tx, exts, from, MAX_FILE_BLOCKS)?;
            if on_list {
                // The rest of the block holding EOF reads as zeroes before
                // the inode leaves the list (a crash before the caller's own
                // zeroing would leave it to show through mmap); the
                // commit's first fence orders it.
                if let (true, Lookup::Mapped { index }) = (size % BS != 0, extents::lookup(exts, size / BS)) {
                    let e = exts[index];
                    if !e.unwritten {
                        dev.zero((e.pblk + (size / BS - u64::from(e.lblk))) * BS + size % BS, BS - size % BS)
                            .or_else(past_eof)?;
                    }
                }
                orphan::remove(tx, inode.ino(), &st.disk)?;
            }
            Ok(Edit::Changed)
        })
    });
    if let Err(e) = r {
        if on_list && inode.super_block().info().store.shut_down() {
            pr_err!(
                "{:?}: cannot finish truncating inode {} ({:?}): shut down; the next mount finishes it\n",
                inode.super_block().id(),
                inode.ino(),
                e
            );
        }
        return Err(e);
    }
    Ok(())
}

/// Maps every hole of file blocks `from..to` with fresh unwritten blocks,
/// one transaction per allocated run.  Stops at the first error (ENOSPC),
/// keeping what was allocated, as ext4 and XFS do.
fn allocate_unwritten(inode: &DInode, from: u64, to: u64) -> Result {
    let mut b = from;
    while b < to {
        let mut next = b;
        change_map(inode, |tx, st, w| match st.map.lookup(b) {
            Found::Mapped(e) => {
                next = e.end();
                Ok(Edit::Unchanged)
            }
            Found::Hole { next: hole_end, prev } => {
                let want = (hole_end.min(to) - b).min(u64::from(format::EXTENT_MAX_LEN));
                let (p, n) = tx.alloc_data(goal(prev, b), b, want)?;
                let e = Extent { lblk: b as u32, len: n as u32, pblk: p, unwritten: true };
                extents::insert(open(w, &st.map, b, b + n)?, e)?;
                next = b + n;
                Ok(Edit::Changed)
            }
        })?;
        b = next;
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
/// layout changes, layouts are broken and the range is unmapped.
pub(crate) fn fallocate(inode: &DInode, op: Falloc, off: u64, len: u64) -> Result {
    if inode.super_block().info().read_only() {
        return Err(EROFS);
    }
    let end = off.checked_add(len).ok_or(EFBIG)?;
    let max = MAX_FILE_BLOCKS * BS;
    let size = inode.size();
    match op {
        Falloc::Allocate { keep_size } | Falloc::ZeroRange { keep_size } => {
            if end > max {
                return Err(EFBIG);
            }
            if !keep_size && end > size {
                drop_stale(inode, size)?;
                // The tail of the old last block may hold bytes written
                // through mmap past EOF: zeroes once inside the file (as
                // write and truncate do).
                inode.dax_zero_range(size, end.min(size.next_multiple_of(BS)) - size)?;
            }
            if matches!(op, Falloc::Allocate { .. }) {
                allocate_unwritten(inode, off / BS, end.div_ceil(BS))?;
            } else {
                // Edges: zero the bytes; whole blocks: drop and map unwritten.
                punch(inode, off, end)?;
                let (a, z) = (off.div_ceil(BS), end / BS);
                if a < z {
                    allocate_unwritten(inode, a, z)?;
                }
            }
            if !keep_size {
                extend_to(inode, end)?;
            }
            Ok(())
        }
        Falloc::PunchHole => punch(inode, off, end.min(max)),
        Falloc::CollapseRange | Falloc::InsertRange => {
            if off % BS != 0 || len % BS != 0 || len == 0 || off >= size {
                return Err(EINVAL);
            }
            let new_size = if op == Falloc::CollapseRange {
                if end >= size {
                    return Err(EINVAL);
                }
                size - len
            } else {
                size.checked_add(len).filter(|s| *s <= max).ok_or(EFBIG)?
            };
            let (from, blocks) = (off / BS, len / BS);
            if op == Falloc::CollapseRange {
                collapse(inode, from, blocks, new_size)
            } else {
                insert_space(inode, from, blocks, new_size)
            }
        }
    }
}

/// Extent blocks one step of a collapse or insert range may move: as many
/// as half the journal holds, less room for the rest of the transaction,
/// at most `SHIFT_LEAVES` (64 with the default 1 MiB journal, 4 with the
/// smallest, 64 KiB).
fn shift_leaves(inode: &DInode) -> usize {
    let journal = inode.super_block().info().store.geo.journal_bytes();
    ((journal / 2 / (BS + 64)).saturating_sub(3) as usize).clamp(1, SHIFT_LEAVES)
}

/// A step after the first of a collapse or insert range failed (no memory,
/// a media error): the file is consistent but half shifted, and a retry of
/// the same call would lose data, so the filesystem shuts down (as a
/// failed truncate does) with a message naming the inode.
fn shift_failed(inode: &DInode, what: &str, e: Error) -> Error {
    if inode.super_block().info().store.shut_down() {
        pr_err!(
            "{:?}: {} of inode {} failed half way ({:?}); shut down: the file is consistent but only partly shifted\n",
            inode.super_block().id(),
            what,
            inode.ino(),
            e
        );
    }
    e
}

/// Collapse range: frees file blocks `from..from + blocks` and moves
/// every later extent left, `shift_leaves` extent blocks per transaction
/// from the first on, setting the size with the last.  A file whose later
/// extents fit one step (16,000 extents) collapses in one transaction,
/// after any freeing that does not fit one (`remove_tail_steps`).  A crash
/// between the steps of a longer one leaves a consistent file whose range
/// is punched and whose first extents moved (XFS and ext4 shift in steps
/// too); a failed step shuts down (`shift_failed`).
fn collapse(inode: &DInode, from: u64, blocks: u64, new_size: u64) -> Result {
    let end = from + blocks;
    let leaves = shift_leaves(inode);
    remove_tail_steps(inode, from, end)?;
    let mut c = Some(end);
    let mut first = true;
    while let Some(at) = c {
        let r = change_map(inode, |tx, st, w| {
            let lo = if first { from } else { at };
            let (win, next) = st.map.shift_left_window(lo, at, leaves)?;
            let exts = &mut w.insert(win).exts;
            remove_blocks(tx, exts, lo, at)?;
            extents::shift(exts, at, -(blocks as i64))?;
            c = next;
            Ok(if next.is_none() { Edit::Resized(new_size) } else { Edit::Changed })
        });
        match r {
            Err(e) if !first => return Err(shift_failed(inode, "collapse range", e)),
            r => r?,
        }
        first = false;
    }
    inode.set_size(new_size);
    Ok(())
}

/// Insert range: the extent at `from` is split and every extent from there
/// on moves right by `blocks`, in one transaction with the size when they
/// fit one step (`shift_leaves` extent blocks).  Otherwise the size grows
/// first (so no extent is ever past EOF), then they move, one step per
/// transaction from the last back; a crash in between leaves a consistent
/// file whose last extents moved (as on XFS); a failed step shuts down
/// (`shift_failed`).  Either way the size grows: blocks and bytes past the
/// old EOF are cleared first, as when a write or fallocate extends a file.
fn insert_space(inode: &DInode, from: u64, blocks: u64, new_size: u64) -> Result {
    let last = inode.data().state.lock().map.last().map_or(0, |e| e.end());
    if last.checked_add(blocks).map_or(true, |e| e > MAX_FILE_BLOCKS) {
        return Err(EFBIG);
    }
    let size = inode.size();
    drop_stale(inode, size)?;
    inode.dax_zero_range(size, size.next_multiple_of(BS) - size)?;
    let leaves = shift_leaves(inode);
    let mut c = None;
    change_map(inode, |_, st, w| {
        let (win, next) = st.map.shift_right_window(from, MAX_FILE_BLOCKS, leaves)?;
        if next.is_some() {
            // More than one step: the split and the size first.
            extents::split_at(open(w, &st.map, from, from + 1)?, from)?;
            c = Some(MAX_FILE_BLOCKS);
        } else {
            let exts = &mut w.insert(win).exts;
            extents::split_at(exts, from)?;
            extents::shift_range(exts, from, MAX_FILE_BLOCKS, blocks as i64)?;
        }
        Ok(Edit::Resized(new_size))
    })?;
    inode.set_size(new_size);
    while let Some(until) = c {
        change_map(inode, |_, st, w| {
            let (win, next) = st.map.shift_right_window(from, until, leaves)?;
            extents::shift_range(&mut w.insert(win).exts, from, until, blocks as i64)?;
            c = next;
            Ok(Edit::Changed)
        })
        .map_err(|e| shift_failed(inode, "insert range", e))?;
    }
    Ok(())
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
    remove_range(inode, a, z)
}
