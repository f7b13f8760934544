// SPDX-License-Identifier: GPL-2.0
//! Editing a file's extent map: the sorted list of [`Extent`]s that maps file
//! blocks to device blocks.  Shared by the kernel module (`fs/data.rs`) and
//! the userspace tools' tests (`tools/src/lib.rs` includes this file), so the
//! splitting and merging rules are unit-tested on the host.
//!
//! Same rules as `format.rs`: no dependencies, no `unsafe_code`, no panics; the
//! only allocation is behind [`ExtentList::insert_at`], which may fail.
//!
//! Invariants every function keeps (and `fsck.daxfs` checks): extents are
//! sorted by `lblk`, never overlap, have `1..=EXTENT_MAX_LEN` blocks and end
//! at or below `MAX_FILE_BLOCKS`.  Neighbours that are contiguous in both
//! file and device space with the same written state are merged.
#![forbid(unsafe_code)]

use super::format::{Extent, EXTENT_MAX_LEN, MAX_FILE_BLOCKS};

/// A growable list of extents (a `KVec` in the kernel, a `Vec` on the host).
pub trait ExtentList {
    /// The extents.
    fn exts(&self) -> &[Extent];
    /// The extents, mutable.
    fn exts_mut(&mut self) -> &mut [Extent];
    /// Inserts `e` at index `i` (`i <= len`); fails only on allocation.
    fn insert_at(&mut self, i: usize, e: Extent) -> Result<(), ()>;
    /// Removes the extent at index `i`.
    fn remove_at(&mut self, i: usize);
}

/// Why an edit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditError {
    /// Out of memory.
    NoMemory,
    /// The edit would overlap existing extents or leave the file's range.
    Invalid,
    /// The callback failed.
    Callback,
}

/// What covers a file block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Extent `index` covers the block.
    Mapped { index: usize },
    /// Nothing covers it; the next extent starts at `next` (or
    /// `MAX_FILE_BLOCKS` when none follows), the previous one is `prev`.
    Hole { next: u64, prev: Option<usize> },
}

/// Finds what covers file block `lblk`.
pub fn lookup(exts: &[Extent], lblk: u64) -> Lookup {
    let i = exts.partition_point(|e| u64::from(e.lblk) <= lblk);
    if i > 0 && lblk < exts[i - 1].end() {
        return Lookup::Mapped { index: i - 1 };
    }
    let next = exts.get(i).map_or(MAX_FILE_BLOCKS, |e| u64::from(e.lblk));
    Lookup::Hole { next, prev: i.checked_sub(1) }
}

fn can_merge(a: &Extent, b: &Extent) -> bool {
    a.end() == u64::from(b.lblk)
        && a.pblk + u64::from(a.len) == b.pblk
        && a.unwritten == b.unwritten
        && u64::from(a.len) + u64::from(b.len) <= u64::from(EXTENT_MAX_LEN)
}

/// Merges neighbours around index `i` (after an insert or a state change).
fn merge_around<L: ExtentList + ?Sized>(l: &mut L, i: usize) {
    let mut i = i;
    if i > 0 && i < l.exts().len() && can_merge(&l.exts()[i - 1], &l.exts()[i]) {
        let len = l.exts()[i].len;
        l.exts_mut()[i - 1].len += len;
        l.remove_at(i);
        i -= 1;
    }
    if i + 1 < l.exts().len() && can_merge(&l.exts()[i], &l.exts()[i + 1]) {
        let len = l.exts()[i + 1].len;
        l.exts_mut()[i].len += len;
        l.remove_at(i + 1);
    }
}

/// Inserts `e`, which must cover only unmapped file blocks, merging it with
/// its neighbours.
pub fn insert<L: ExtentList + ?Sized>(l: &mut L, e: Extent) -> Result<(), EditError> {
    if e.len == 0 || e.len > EXTENT_MAX_LEN || e.end() > MAX_FILE_BLOCKS {
        return Err(EditError::Invalid);
    }
    let i = l.exts().partition_point(|x| x.lblk < e.lblk);
    let overlaps_prev = i > 0 && l.exts()[i - 1].end() > u64::from(e.lblk);
    let overlaps_next = l.exts().get(i).is_some_and(|n| u64::from(n.lblk) < e.end());
    if overlaps_prev || overlaps_next {
        return Err(EditError::Invalid);
    }
    l.insert_at(i, e).map_err(|()| EditError::NoMemory)?;
    merge_around(l, i);
    Ok(())
}

/// Makes file block `at` start an extent (splitting the one covering it).
pub fn split_at<L: ExtentList + ?Sized>(l: &mut L, at: u64) -> Result<(), EditError> {
    if let Lookup::Mapped { index } = lookup(l.exts(), at) {
        let e = l.exts()[index];
        let head = (at - u64::from(e.lblk)) as u32;
        if head == 0 {
            return Ok(());
        }
        let tail = Extent { lblk: at as u32, len: e.len - head, pblk: e.pblk + u64::from(head), unwritten: e.unwritten };
        l.insert_at(index + 1, tail).map_err(|()| EditError::NoMemory)?;
        l.exts_mut()[index].len = head;
    }
    Ok(())
}

/// Unmaps file blocks `start..end`, calling `freed(pblk, len)` for every
/// device run that leaves the map.  On an error nothing was changed, except
/// that a callback error may come after earlier callbacks succeeded.
pub fn remove<L: ExtentList + ?Sized>(
    l: &mut L,
    start: u64,
    end: u64,
    freed: &mut dyn FnMut(u64, u64) -> Result<(), ()>,
) -> Result<(), EditError> {
    if start >= end {
        return Ok(());
    }
    // Splitting needs at most one insert (an extent cut in the middle);
    // do the splits first so the removal itself cannot fail half way.
    split_at(l, start)?;
    if end < MAX_FILE_BLOCKS {
        if let Err(e) = split_at(l, end) {
            merge_around(l, l.exts().partition_point(|x| u64::from(x.lblk) < start));
            return Err(e);
        }
    }
    let first = l.exts().partition_point(|x| u64::from(x.lblk) < start);
    let i = first;
    while i < l.exts().len() && u64::from(l.exts()[i].lblk) < end {
        let e = l.exts()[i];
        freed(e.pblk, u64::from(e.len)).map_err(|()| EditError::Callback)?;
        l.remove_at(i);
    }
    Ok(())
}

/// Marks file blocks `start..end` (all mapped) written, splitting unwritten
/// extents at the edges; returns how many blocks changed state.
pub fn set_written<L: ExtentList + ?Sized>(l: &mut L, start: u64, end: u64) -> Result<u64, EditError> {
    set_state(l, start, end, false)
}

/// Marks file blocks `start..end` (all mapped) unwritten again (a short
/// write gives back the preallocated blocks it converted but did not
/// fill); returns how many blocks changed state.
pub fn set_unwritten<L: ExtentList + ?Sized>(l: &mut L, start: u64, end: u64) -> Result<u64, EditError> {
    set_state(l, start, end, true)
}

fn set_state<L: ExtentList + ?Sized>(l: &mut L, start: u64, end: u64, unwritten: bool) -> Result<u64, EditError> {
    let mut changed = 0;
    let mut pos = start;
    while pos < end {
        let index = match lookup(l.exts(), pos) {
            Lookup::Mapped { index } => index,
            Lookup::Hole { .. } => return Err(EditError::Invalid),
        };
        let e = l.exts()[index];
        let stop = end.min(e.end());
        if e.unwritten != unwritten {
            split_at(l, pos)?;
            split_at(l, stop)?;
            let i = l.exts().partition_point(|x| u64::from(x.lblk) < pos);
            l.exts_mut()[i].unwritten = unwritten;
            changed += stop - pos;
            merge_around(l, i);
        }
        pos = stop;
    }
    Ok(changed)
}

/// Moves every extent at or after file block `from` by `delta` blocks
/// (negative: towards the start).  A move left must land past the end of
/// the extents before `from` (collapse range removes that span first); a
/// move right must stay below `MAX_FILE_BLOCKS`.  `from` must not be inside
/// an extent (split there first).
pub fn shift<L: ExtentList + ?Sized>(l: &mut L, from: u64, delta: i64) -> Result<(), EditError> {
    shift_range(l, from, MAX_FILE_BLOCKS, delta)
}

/// Moves the extents starting in `from..until` by `delta` blocks (as
/// [`shift`]; a move right must end at or before the next extent).
pub fn shift_range<L: ExtentList + ?Sized>(l: &mut L, from: u64, until: u64, delta: i64) -> Result<(), EditError> {
    let first = l.exts().partition_point(|x| u64::from(x.lblk) < from);
    if first > 0 && l.exts()[first - 1].end() > from {
        return Err(EditError::Invalid);
    }
    let stop = l.exts().partition_point(|x| u64::from(x.lblk) < until);
    if first >= stop {
        return Ok(());
    }
    let moved = delta.unsigned_abs();
    if delta < 0 {
        let floor = if first > 0 { l.exts()[first - 1].end() } else { 0 };
        if u64::from(l.exts()[first].lblk) < floor.saturating_add(moved) {
            return Err(EditError::Invalid);
        }
    } else {
        let ceiling = l.exts().get(stop).map_or(MAX_FILE_BLOCKS, |e| u64::from(e.lblk));
        if l.exts()[stop - 1].end().saturating_add(moved) > ceiling {
            return Err(EditError::Invalid);
        }
    }
    for e in l.exts_mut()[first..stop].iter_mut() {
        e.lblk = (i64::from(e.lblk) + delta) as u32;
    }
    if stop < l.exts().len() {
        merge_around(l, stop);
    }
    merge_around(l, first);
    Ok(())
}

/// Blocks mapped in total.
pub fn mapped_blocks(exts: &[Extent]) -> u64 {
    exts.iter().map(|e| u64::from(e.len)).sum()
}
