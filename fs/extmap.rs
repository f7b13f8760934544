// SPDX-License-Identifier: GPL-2.0
//! A file's extent map in DRAM, shaped like its on-disk form (a list of
//! leaves: the inode's inline extents, then one leaf per extent block of the
//! chain), so that a change rewrites only the leaves it touches.  Shared by
//! the kernel module (`fs/data.rs`, `fs/dir.rs`) and the userspace tools'
//! tests (`tools/src/lib.rs` includes this file).
//!
//! Cost (n extents in L leaves, L >= n / 254):
//! * lookup: two binary searches, O(log n);
//! * an edit of file blocks `lo..hi` copies the few leaves around that range
//!   into a [`Window`], edits the copy with `fs/extents.rs`, packs it back
//!   into as many leaves as it needs (reusing the window's extent blocks in
//!   order, taking in the next leaf when it fits the last one, so leaves
//!   refill as extents go), logs only the leaves whose contents changed,
//!   and after the commit splices the new leaves in: O(window), plus one
//!   move of the later leaf handles (32 bytes each) when the number of
//!   leaves changes;
//! * collapse and insert range move every later extent: in steps of at
//!   most [`SHIFT_LEAVES`] leaves each (see `fs/data.rs`).
//!
//! Invariants (checked when loading, kept by every edit): leaf 0 is the
//! inline leaf (block 0, at most `INLINE_EXTENTS`, exactly that many when a
//! chain follows); every later leaf is one extent block with
//! `1..=EXTENTS_PER_BLOCK` extents; all extents sorted and disjoint.
//!
//! Same rules as `format.rs`: no dependencies, no `unsafe_code`, no panics,
//! every allocation may fail.
#![forbid(unsafe_code)]

use super::extents::{EditError, ExtentList};
use super::format::{
    Extent, ExtentBlockHeader, Inode, EXTENTS_PER_BLOCK, EXTENT_SIZE, INLINE_EXTENTS, INLINE_SIZE, MAX_FILE_BLOCKS,
};
use core::marker::PhantomData;

/// Leaves one step of a collapse or insert range moves at most (the
/// module takes fewer when the journal is small: each is a 4 KiB record).
pub const SHIFT_LEAVES: usize = 64;

/// A growable array (`KVVec` in the kernel, `Vec` on the host).
pub trait Buf<T>: Default {
    /// The items.
    fn items(&self) -> &[T];
    /// The items, mutable.
    fn items_mut(&mut self) -> &mut [T];
    /// Makes room for `extra` more items; fails only on allocation.
    fn reserve_more(&mut self, extra: usize) -> Result<(), ()>;
    /// Inserts `x` at `i` (`i <= len`) within the capacity reserved before;
    /// fails (doing nothing) when there is none.
    fn insert_in(&mut self, i: usize, x: T) -> Result<(), ()>;
    /// Removes the item at `i`.
    fn take(&mut self, i: usize) -> Option<T>;
}

/// One leaf: the inline extents (`block` 0) or one extent block.
pub struct Leaf<E> {
    /// The extent block (0 for the inline leaf).
    pub block: u64,
    /// Its extents, sorted.
    pub exts: E,
}

/// What covers a file block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// This extent covers it.
    Mapped(Extent),
    /// Nothing does; the next extent starts at `next` (`MAX_FILE_BLOCKS`
    /// when none follows); `prev` is the extent before.
    Hole {
        /// Where the next extent starts.
        next: u64,
        /// The extent before the hole.
        prev: Option<Extent>,
    },
}

/// Why a map read from disk was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// An empty or overfull leaf, or a chain after a partial inline leaf.
    BadCount,
    /// Extents overlap or are not sorted.
    Unsorted,
    /// More extents or blocks than fit the counters.
    Overflow,
    /// Out of memory.
    NoMemory,
}

impl LoadError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            LoadError::BadCount => "extent leaf count out of range",
            LoadError::Unsorted => "extents overlap or are unsorted",
            LoadError::Overflow => "extent counts overflow",
            LoadError::NoMemory => "out of memory",
        }
    }
}

/// The storage a committed window needs: extent blocks allocated, freed and
/// written in the caller's transaction.
pub trait LeafIo {
    /// The caller's error.
    type Error: From<EditError>;
    /// A fresh block for a new leaf.
    fn alloc(&mut self) -> Result<u64, Self::Error>;
    /// A leaf's block is no longer used.
    fn free(&mut self, block: u64) -> Result<(), Self::Error>;
    /// Writes leaf `block` holding `exts`, followed by `next` (0 = end).
    fn write(&mut self, block: u64, exts: &[Extent], next: u64) -> Result<(), Self::Error>;
}

/// An extent map as a list of leaves.
pub struct ExtMap<L, E> {
    leaves: L,
    count: u64,
    mapped: u64,
    _e: PhantomData<E>,
}

/// A copy of the extents of leaves `a..b` being edited.
pub struct Window<E> {
    a: usize,
    b: usize,
    /// The extents, for `fs/extents.rs` to edit.
    pub exts: E,
}

/// A committed window: the leaves that replace `a..b` and the map's new
/// totals.  [`ExtMap::install`] it once the transaction committed.
pub struct Pending<L, E> {
    a: usize,
    b: usize,
    new: L,
    count: u64,
    mapped: u64,
    chain: u64,
    first_block: u64,
    _e: PhantomData<E>,
}

fn lblk_of(e: &Extent) -> u64 {
    u64::from(e.lblk)
}

fn mapped_of(exts: &[Extent]) -> Option<u64> {
    exts.iter().try_fold(0u64, |s, e| s.checked_add(u64::from(e.len)))
}

/// `exts` sorted and disjoint, each starting at or after `floor`.
fn sorted_from(floor: u64, exts: &[Extent]) -> bool {
    let mut end = floor;
    for e in exts {
        if e.len == 0 || lblk_of(e) < end {
            return false;
        }
        end = e.end();
    }
    end <= MAX_FILE_BLOCKS
}

fn push<T, B: Buf<T>>(b: &mut B, x: T) -> Result<(), EditError> {
    b.reserve_more(1).map_err(|()| EditError::NoMemory)?;
    let at = b.items().len();
    b.insert_in(at, x).map_err(|()| EditError::NoMemory)
}

fn copy_into<E: Buf<Extent>>(out: &mut E, exts: &[Extent]) -> Result<(), EditError> {
    out.reserve_more(exts.len()).map_err(|()| EditError::NoMemory)?;
    for e in exts {
        let at = out.items().len();
        out.insert_in(at, *e).map_err(|()| EditError::NoMemory)?;
    }
    Ok(())
}

impl<L: Buf<Leaf<E>>, E: Buf<Extent> + ExtentList> ExtMap<L, E> {
    /// A map whose extents are `inline` (the inode's), before its chain's
    /// leaves are added with [`ExtMap::push_leaf`].
    pub fn from_inline(inline: E) -> Result<Self, LoadError> {
        let s = inline.items();
        if s.len() > INLINE_EXTENTS {
            return Err(LoadError::BadCount);
        }
        if !sorted_from(0, s) {
            return Err(LoadError::Unsorted);
        }
        let mapped = mapped_of(s).ok_or(LoadError::Overflow)?;
        let count = s.len() as u64;
        let mut leaves = L::default();
        push(&mut leaves, Leaf { block: 0, exts: inline }).map_err(|_| LoadError::NoMemory)?;
        Ok(Self { leaves, count, mapped, _e: PhantomData })
    }

    /// An empty map.
    pub fn new() -> Result<Self, LoadError> {
        Self::from_inline(E::default())
    }

    /// Appends the next extent block of the chain, `block` holding `exts`.
    pub fn push_leaf(&mut self, block: u64, exts: E) -> Result<(), LoadError> {
        let s = exts.items();
        if block == 0 || s.is_empty() || s.len() > EXTENTS_PER_BLOCK || self.inline().len() != INLINE_EXTENTS {
            return Err(LoadError::BadCount);
        }
        if !sorted_from(self.last().map_or(0, |e| e.end()), s) {
            return Err(LoadError::Unsorted);
        }
        let mapped = mapped_of(s).and_then(|m| m.checked_add(self.mapped)).ok_or(LoadError::Overflow)?;
        let count = self.count.checked_add(s.len() as u64).ok_or(LoadError::Overflow)?;
        push(&mut self.leaves, Leaf { block, exts }).map_err(|_| LoadError::NoMemory)?;
        self.count = count;
        self.mapped = mapped;
        Ok(())
    }

    /// Extents in the map.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether the map has no extent.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Blocks the extents map.
    pub fn mapped(&self) -> u64 {
        self.mapped
    }

    /// The leaves: the inline one, then the chain's in order.
    pub fn leaves(&self) -> &[Leaf<E>] {
        self.leaves.items()
    }

    /// Extent blocks in the chain.
    pub fn chain_len(&self) -> u64 {
        self.leaves().len().saturating_sub(1) as u64
    }

    /// The chain's first extent block (0 = none).
    pub fn first_block(&self) -> u64 {
        self.leaves().get(1).map_or(0, |l| l.block)
    }

    /// The inline extents.
    pub fn inline(&self) -> &[Extent] {
        self.leaves().first().map_or(&[], |l| l.exts.items())
    }

    /// Every extent, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Extent> + '_ {
        self.leaves().iter().flat_map(|l| l.exts.items().iter())
    }

    /// The last extent.
    pub fn last(&self) -> Option<Extent> {
        self.leaves().last().and_then(|l| l.exts.items().last()).copied()
    }

    /// The leaf holding the last extent starting at or before `lblk` (the
    /// inline leaf when none does).
    fn leaf_of(&self, lblk: u64) -> usize {
        self.leaves()
            .get(1..)
            .map_or(0, |chain| chain.partition_point(|l| l.exts.items().first().is_some_and(|e| lblk_of(e) <= lblk)))
    }

    /// What covers file block `lblk`.
    pub fn lookup(&self, lblk: u64) -> Found {
        let ls = self.leaves();
        let li = self.leaf_of(lblk);
        let s = ls.get(li).map_or(&[][..], |l| l.exts.items());
        let j = s.partition_point(|e| lblk_of(e) <= lblk);
        let prev = match j.checked_sub(1) {
            Some(p) => s.get(p).copied(),
            None => li.checked_sub(1).and_then(|p| ls.get(p)).and_then(|l| l.exts.items().last()).copied(),
        };
        if let Some(p) = prev.filter(|p| lblk < p.end()) {
            return Found::Mapped(p);
        }
        let next = s
            .get(j)
            .or_else(|| ls.get(li + 1).and_then(|l| l.exts.items().first()))
            .map_or(MAX_FILE_BLOCKS, lblk_of);
        Found::Hole { next, prev }
    }

    /// The device block holding file block `lblk`, if mapped.
    pub fn map_block(&self, lblk: u64) -> Option<u64> {
        match self.lookup(lblk) {
            Found::Mapped(e) => Some(e.pblk + (lblk - lblk_of(&e))),
            Found::Hole { .. } => None,
        }
    }

    /// The extents starting before file block `to`, from the last back.
    pub fn rev_before(&self, to: u64) -> impl Iterator<Item = &Extent> + '_ {
        let ls = self.leaves();
        let (part, earlier): (&[Extent], &[Leaf<E>]) = match to.checked_sub(1) {
            None => (&[], &[]),
            Some(x) => {
                let li = self.leaf_of(x);
                let s = ls.get(li).map_or(&[][..], |l| l.exts.items());
                (&s[..s.partition_point(|e| lblk_of(e) < to)], ls.get(..li).unwrap_or(&[]))
            }
        };
        part.iter().rev().chain(earlier.iter().rev().flat_map(|l| l.exts.items().iter().rev()))
    }

    /// A copy of leaves `a..b` to edit.
    pub fn window_leaves(&self, a: usize, b: usize) -> Result<Window<E>, EditError> {
        let ls = self.leaves().get(a..b).ok_or(EditError::Invalid)?;
        let mut exts = E::default();
        exts.reserve_more(ls.iter().map(|l| l.exts.items().len()).sum()).map_err(|()| EditError::NoMemory)?;
        for l in ls {
            copy_into(&mut exts, l.exts.items())?;
        }
        Ok(Window { a, b, exts })
    }

    /// The window for an edit of file blocks `lo..hi`: the leaves holding
    /// the extent before `lo`, every extent of the range and the one after
    /// it (so `fs/extents.rs` sees every neighbour it may merge with or
    /// must not overlap), and one more leaf to the right to share extents
    /// with when a leaf overflows.
    pub fn window(&self, lo: u64, hi: u64) -> Result<Window<E>, EditError> {
        let a = self.leaf_of(lo.saturating_sub(1));
        let b = self.leaf_of(hi.max(lo)).saturating_add(2).min(self.leaves().len());
        self.window_leaves(a, b)
    }

    /// One step of a collapse (a move left): the window of `leaves` leaves
    /// from the one holding file block `c` on, where every extent at
    /// or after `c` is still to move, and where the next step starts
    /// (`None`: this one reaches the end).
    /// `lo` (at most `c`) widens the window down to the extent before file
    /// block `lo`, so the first step can also remove `lo..c`.
    pub fn shift_left_window(&self, lo: u64, c: u64, leaves: usize) -> Result<(Window<E>, Option<u64>), EditError> {
        let a = self.leaf_of(lo.min(c).saturating_sub(1)).min(self.leaf_of(c));
        let b = self.leaf_of(c).saturating_add(leaves.max(1)).min(self.leaves().len());
        let next = self.leaves().get(b).and_then(|l| l.exts.items().first()).map(lblk_of);
        Ok((self.window_leaves(a, b)?, next))
    }

    /// One step of an insert range (a move right, from the end): the
    /// window of the last `leaves` leaves holding extents in `from..c`
    /// (those still to move), and where the next step stops (`None`: the
    /// window holds every extent ending after `from`, the one to split
    /// there included).
    pub fn shift_right_window(&self, from: u64, c: u64, leaves: usize) -> Result<(Window<E>, Option<u64>), EditError> {
        let b = self.leaf_of(c.saturating_sub(1)).saturating_add(1).min(self.leaves().len());
        let a = b.saturating_sub(leaves.max(1));
        let w = self.window_leaves(a, b)?;
        let before = a.checked_sub(1).and_then(|p| self.leaves().get(p)).and_then(|l| l.exts.items().last());
        let next = match (before, w.exts.items().first()) {
            (Some(p), Some(e)) if p.end() > from => Some(lblk_of(e)),
            _ => None,
        };
        Ok((w, next))
    }

    /// Packs the edited window `w` back into leaves (the first
    /// `INLINE_EXTENTS` inline when the window starts there, then full
    /// extent blocks, reusing the window's blocks in order), logs through
    /// `io` each leaf whose contents or link changed and frees the blocks
    /// left over.  Nothing in the map changes: [`ExtMap::install`] the
    /// result once the transaction committed (the room it needs is
    /// reserved here, so that cannot fail for memory).
    pub fn commit<I: LeafIo>(&mut self, mut w: Window<E>, io: &mut I) -> Result<Pending<L, E>, I::Error> {
        let n = self.leaves().len();
        if w.a > w.b || w.b > n {
            return Err(EditError::Invalid.into());
        }
        // A chain needs a full inline leaf, and a leaf that fits into the
        // window's last one is taken in rather than left short (so leaves
        // stay full as extents go): take in later leaves, unchanged.
        loop {
            let more = self.leaves().get(w.b).map_or(&[][..], |l| l.exts.items());
            let len = w.exts.items().len();
            let tail = if w.a == 0 { len.saturating_sub(INLINE_EXTENTS) } else { len } % EXTENTS_PER_BLOCK;
            let short_inline = w.a == 0 && len < INLINE_EXTENTS;
            if more.is_empty() || !(short_inline || (tail != 0 && tail + more.len() <= EXTENTS_PER_BLOCK)) {
                break;
            }
            copy_into(&mut w.exts, more)?;
            w.b += 1;
        }
        let ls = self.leaves();
        let s = w.exts.items();
        let floor = w.a.checked_sub(1).and_then(|p| ls.get(p)).and_then(|l| l.exts.items().last()).map_or(0, |e| e.end());
        let ceiling = ls.get(w.b).and_then(|l| l.exts.items().first()).map_or(MAX_FILE_BLOCKS, lblk_of);
        if !sorted_from(floor, s) || s.last().is_some_and(|e| e.end() > ceiling) {
            return Err(EditError::Invalid.into());
        }
        let old = ls.get(w.a..w.b).ok_or(EditError::Invalid)?;
        let old_count = old.iter().map(|l| l.exts.items().len() as u64).sum::<u64>();
        let old_mapped = old.iter().try_fold(0u64, |t, l| t.checked_add(mapped_of(l.exts.items())?));
        let new_mapped = mapped_of(s);
        let (Some(old_mapped), Some(new_mapped)) = (old_mapped, new_mapped) else {
            return Err(EditError::Invalid.into());
        };
        let mapped = (self.mapped.checked_sub(old_mapped))
            .and_then(|m| m.checked_add(new_mapped))
            .ok_or(EditError::Invalid)?;
        let count = (self.count.checked_sub(old_count))
            .and_then(|c| c.checked_add(s.len() as u64))
            .ok_or(EditError::Invalid)?;
        // The window's chain leaves (all but the inline one).
        let old_chain = old.get(usize::from(w.a == 0)..).unwrap_or(&[]);
        let inline = if w.a == 0 { s.len().min(INLINE_EXTENTS) } else { 0 };
        let rest = s.get(inline..).unwrap_or(&[]);
        let need = rest.len().div_ceil(EXTENTS_PER_BLOCK);
        let after = ls.get(w.b).map_or(0, |l| l.block);

        let mut new = L::default();
        new.reserve_more(need + usize::from(w.a == 0)).map_err(|()| EditError::NoMemory)?;
        if w.a == 0 {
            let mut e = E::default();
            copy_into(&mut e, s.get(..inline).unwrap_or(&[]))?;
            new.insert_in(0, Leaf { block: 0, exts: e }).map_err(|()| EditError::NoMemory)?;
        }
        for (i, group) in rest.chunks(EXTENTS_PER_BLOCK).enumerate() {
            let block = match old_chain.get(i) {
                Some(l) => l.block,
                None => io.alloc()?,
            };
            let mut e = E::default();
            copy_into(&mut e, group)?;
            let at = new.items().len();
            new.insert_in(at, Leaf { block, exts: e }).map_err(|()| EditError::NoMemory)?;
        }
        // Log what changed: a leaf whose extents and successor are those of
        // the old leaf in its block is left alone.
        let new_chain = new.items().get(usize::from(w.a == 0)..).unwrap_or(&[]);
        for (i, l) in new_chain.iter().enumerate() {
            let next = new_chain.get(i + 1).map_or(after, |x| x.block);
            let same = old_chain.get(i).is_some_and(|o| {
                let old_next = old_chain.get(i + 1).map_or(after, |x| x.block);
                o.block == l.block && old_next == next && o.exts.items() == l.exts.items()
            });
            if !same {
                io.write(l.block, l.exts.items(), next)?;
            }
        }
        for l in old_chain.get(need..).unwrap_or(&[]) {
            io.free(l.block)?;
        }
        // The chain lost the window's leaves: the leaf before links past it
        // (the inline one through the inode's `extent_block`).
        let first_moved = new_chain.first().map_or(after, |l| l.block) != old_chain.first().map_or(after, |l| l.block);
        if first_moved && w.a >= 2 {
            if let Some(p) = ls.get(w.a - 1) {
                let first = new_chain.first().map_or(after, |l| l.block);
                io.write(p.block, p.exts.items(), first)?;
            }
        }
        let first_block = if w.a <= 1 { new_chain.first().map_or(after, |l| l.block) } else { self.first_block() };
        let chain = (self.chain_len().checked_sub(old_chain.len() as u64))
            .and_then(|c| c.checked_add(new_chain.len() as u64))
            .ok_or(EditError::Invalid)?;
        let grow = new.items().len().saturating_sub(w.b - w.a);
        self.leaves.reserve_more(grow).map_err(|()| EditError::NoMemory)?;
        Ok(Pending { a: w.a, b: w.b, new, count, mapped, chain, first_block, _e: PhantomData })
    }

    /// Splices a committed window in (after its transaction committed).
    /// Fails only if the room [`ExtMap::commit`] reserved was used by
    /// something else in between (a locking bug).
    pub fn install(&mut self, p: Pending<L, E>) -> Result<(), EditError> {
        let Pending { a, b, mut new, count, mapped, .. } = p;
        let old = b.checked_sub(a).ok_or(EditError::Invalid)?;
        let k = new.items().len();
        let common = old.min(k);
        let (ls, ns) = (self.leaves.items_mut().get_mut(a..a + common), new.items_mut().get_mut(..common));
        let (Some(ls), Some(ns)) = (ls, ns) else {
            return Err(EditError::Invalid);
        };
        for (x, y) in ls.iter_mut().zip(ns.iter_mut()) {
            core::mem::swap(x, y);
        }
        // One move of the later leaves however many come or go: more
        // leaves are appended and rotated into place, fewer are rotated
        // to the end and dropped.
        if k > old {
            for _ in old..k {
                let l = new.take(common).ok_or(EditError::Invalid)?;
                let at = self.leaves.items().len();
                self.leaves.insert_in(at, l).map_err(|()| EditError::NoMemory)?;
            }
            self.leaves.items_mut().get_mut(a + old..).ok_or(EditError::Invalid)?.rotate_right(k - old);
        } else if old > k {
            self.leaves.items_mut().get_mut(a + k..).ok_or(EditError::Invalid)?.rotate_left(old - k);
            for _ in k..old {
                let last = self.leaves.items().len().checked_sub(1).ok_or(EditError::Invalid)?;
                self.leaves.take(last).ok_or(EditError::Invalid)?;
            }
        }
        self.count = count;
        self.mapped = mapped;
        Ok(())
    }
}

impl<L: Buf<Leaf<E>>, E: Buf<Extent>> Pending<L, E> {
    /// The inline extents after the change, when they change.
    pub fn inline(&self) -> Option<&[Extent]> {
        (self.a == 0).then(|| self.new.items().first().map_or(&[][..], |l| l.exts.items()))
    }

    /// The inode's extent fields after the change: `nextents`,
    /// `extent_block`, `blocks` (mapped + extent blocks) and, when they
    /// change, the inline extents.
    pub fn apply(&self, d: &mut Inode) -> Result<(), EditError> {
        if let Some(inline) = self.inline() {
            d.inline = [0; INLINE_SIZE];
            for (i, e) in inline.iter().enumerate() {
                d.set_inline_extent(i, e);
            }
        }
        d.nextents = u32::try_from(self.count).map_err(|_| EditError::Invalid)?;
        d.extent_block = self.first_block;
        d.blocks = self.mapped.checked_add(self.chain).ok_or(EditError::Invalid)?;
        Ok(())
    }
}

/// Encodes an extent block: `exts` (1..=`EXTENTS_PER_BLOCK`) followed by
/// `next`, owned by inode `owner`, into `block` (one whole block).
pub fn encode_leaf(block: &mut [u8], exts: &[Extent], next: u64, owner: u64) -> Result<(), EditError> {
    block.fill(0);
    for (j, e) in exts.iter().enumerate() {
        let at = super::format::extent_slot(j).ok_or(EditError::Invalid)?;
        block.get_mut(at..at + EXTENT_SIZE).ok_or(EditError::Invalid)?.copy_from_slice(&e.encode());
    }
    let h = ExtentBlockHeader { count: exts.len() as u32, next, owner };
    h.encode(block).map_err(|_| EditError::Invalid)
}
