// SPDX-License-Identifier: GPL-2.0
//! Host tests of extent maps as leaves (fs/extmap.rs): random edits against
//! a flat list edited by the same rules, with the on-disk chain written
//! through a fake transaction and read back after every edit.

use std::collections::HashMap;

use crate::extents::{self, EditError};
use crate::fuzz::Rng;
use crate::extmap::{ExtMap, Found, Leaf, LeafIo, Window, SHIFT_LEAVES};
use crate::format::{Extent, Inode, Time, EXTENTS_PER_BLOCK, INLINE_EXTENTS, MAX_FILE_BLOCKS, S_IFREG};

type Map = ExtMap<Vec<Leaf<Vec<Extent>>>, Vec<Extent>>;

/// A device of extent blocks: block -> (extents, next).
#[derive(Default)]
struct Disk {
    blocks: HashMap<u64, (Vec<Extent>, u64)>,
    next_free: u64,
    writes: usize,
    allocs: usize,
    frees: usize,
}

#[derive(Debug)]
#[allow(dead_code)] // read by Debug in failure messages
struct IoErr(EditError);

impl From<EditError> for IoErr {
    fn from(e: EditError) -> Self {
        IoErr(e)
    }
}

impl LeafIo for Disk {
    type Error = IoErr;
    fn alloc(&mut self) -> Result<u64, IoErr> {
        self.next_free += 1;
        self.allocs += 1;
        Ok(self.next_free)
    }
    fn free(&mut self, block: u64) -> Result<(), IoErr> {
        assert!(self.blocks.remove(&block).is_some() || block == self.next_free, "freeing unknown block {block}");
        self.frees += 1;
        Ok(())
    }
    fn write(&mut self, block: u64, exts: &[Extent], next: u64) -> Result<(), IoErr> {
        assert!((1..=EXTENTS_PER_BLOCK).contains(&exts.len()), "leaf of {} extents", exts.len());
        self.blocks.insert(block, (exts.to_vec(), next));
        self.writes += 1;
        Ok(())
    }
}

/// A number below `n` from the fuzzer's generator.
fn below(r: &mut Rng, n: u64) -> u64 {
    r.next_u64() % n.max(1)
}

/// A map, its flat model, the inode and the disk, checked after each edit.
struct T {
    map: Map,
    flat: Vec<Extent>,
    inode: Inode,
    disk: Disk,
}

impl T {
    fn new() -> Self {
        T {
            map: Map::new().unwrap(),
            flat: vec![],
            inode: Inode::new(S_IFREG | 0o644, Time { sec: 0, nsec: 0 }),
            disk: Disk::default(),
        }
    }

    /// A map of the extents `flat`, built by appending them one at a time.
    fn from_flat(flat: Vec<Extent>) -> Self {
        let mut t = T::new();
        for x in &flat {
            let mut w = t.map.window(u64::from(x.lblk), x.end()).unwrap();
            extents::insert(&mut w.exts, *x).unwrap();
            t.commit(w);
        }
        t.flat = flat;
        t.check();
        t
    }

    /// Commits and installs window `w`.
    fn commit(&mut self, w: Window<Vec<Extent>>) {
        let p = self.map.commit(w, &mut self.disk).unwrap();
        p.apply(&mut self.inode).unwrap();
        self.map.install(p).unwrap();
    }

    /// The same edit on the map (through a window of `lo..hi`) and the model.
    fn edit(&mut self, lo: u64, hi: u64, f: impl Fn(&mut Vec<Extent>) -> Result<(), EditError>) -> Result<(), EditError> {
        let mut model = self.flat.clone();
        let r = f(&mut model);
        let mut w = self.map.window(lo, hi).unwrap();
        assert_eq!(f(&mut w.exts), r, "window and whole list disagree on {lo}..{hi}");
        if r.is_ok() {
            self.commit(w);
            self.flat = model;
        }
        self.check();
        r
    }

    /// Everything the map says equals the model and what is on "disk".
    fn check(&self) {
        let all: Vec<Extent> = self.map.iter().copied().collect();
        assert_eq!(all, self.flat);
        assert_eq!(self.map.len(), self.flat.len() as u64);
        assert_eq!(self.map.mapped(), extents::mapped_blocks(&self.flat));
        let leaves = self.map.leaves();
        assert_eq!(leaves[0].block, 0);
        if leaves.len() > 1 {
            assert_eq!(leaves[0].exts.len(), INLINE_EXTENTS, "inline leaf full when a chain follows");
        }
        for l in &leaves[1..] {
            assert!((1..=EXTENTS_PER_BLOCK).contains(&l.exts.len()));
        }
        // The inode and the chain on "disk" hold the same extents.
        assert_eq!(self.inode.nextents as usize, self.flat.len());
        assert_eq!(self.inode.blocks, self.map.mapped() + self.map.chain_len());
        let mut disk: Vec<Extent> = (0..self.inode.inline_count()).map(|i| self.inode.inline_extent(i).unwrap().unwrap()).collect();
        let mut next = self.inode.extent_block;
        let mut seen = 0;
        while next != 0 {
            let (e, n) = self.disk.blocks.get(&next).unwrap_or_else(|| panic!("chain block {next} never written"));
            assert_eq!(leaves[1 + seen].block, next);
            disk.extend_from_slice(e);
            next = *n;
            seen += 1;
            assert!(seen <= self.disk.blocks.len(), "chain loops");
        }
        assert_eq!(seen, leaves.len() - 1, "chain length");
        assert_eq!(disk, self.flat, "chain on disk");
        assert_eq!(self.disk.blocks.len(), leaves.len() - 1, "leaked leaf blocks");
        // Lookups agree with the model.
        for e in self.flat.iter().step_by(97) {
            assert_eq!(self.map.lookup(u64::from(e.lblk)), Found::Mapped(*e));
        }
    }

    fn insert(&mut self, e: Extent) -> Result<(), EditError> {
        self.edit(u64::from(e.lblk), e.end(), |l| extents::insert(l, e))
    }

    fn remove(&mut self, lo: u64, hi: u64) -> Result<(), EditError> {
        self.edit(lo, hi, |l| extents::remove(l, lo, hi, &mut |_, _| Ok(())))
    }

    /// Collapse range in steps, as fs/data.rs does; returns the steps.
    fn collapse(&mut self, from: u64, blocks: u64) -> usize {
        let mut c = Some(from + blocks);
        let mut steps = 0;
        while let Some(at) = c {
            // The first step removes the range too.
            let lo = if steps == 0 { from } else { at };
            let (mut w, next) = self.map.shift_left_window(lo, at, SHIFT_LEAVES).unwrap();
            extents::remove(&mut w.exts, lo, at, &mut |_, _| Ok(())).unwrap();
            extents::shift(&mut w.exts, at, -(blocks as i64)).unwrap();
            self.commit(w);
            c = next;
            steps += 1;
        }
        extents::remove(&mut self.flat, from, from + blocks, &mut |_, _| Ok(())).unwrap();
        extents::shift(&mut self.flat, from + blocks, -(blocks as i64)).unwrap();
        assert!(steps <= self.map.leaves().len() / SHIFT_LEAVES + 2);
        self.check();
        steps
    }

    /// Insert range as fs/data.rs does: one window when it holds every
    /// extent ending after `from`, else the split first, then steps from
    /// the end; returns the commits.
    fn insert_range(&mut self, from: u64, blocks: u64) -> usize {
        let (mut w, next) = self.map.shift_right_window(from, MAX_FILE_BLOCKS, SHIFT_LEAVES).unwrap();
        let mut commits = 1;
        let mut c = None;
        if next.is_none() {
            extents::split_at(&mut w.exts, from).unwrap();
            extents::shift_range(&mut w.exts, from, MAX_FILE_BLOCKS, blocks as i64).unwrap();
            self.commit(w);
        } else {
            self.edit(from, from + 1, |l| extents::split_at(l, from)).unwrap();
            c = Some(MAX_FILE_BLOCKS);
        }
        while let Some(until) = c {
            let (mut w, next) = self.map.shift_right_window(from, until, SHIFT_LEAVES).unwrap();
            extents::shift_range(&mut w.exts, from, until, blocks as i64).unwrap();
            self.commit(w);
            commits += 1;
            c = next;
        }
        extents::split_at(&mut self.flat, from).unwrap();
        extents::shift(&mut self.flat, from, blocks as i64).unwrap();
        self.check();
        commits
    }
}

fn e(lblk: u64, len: u32, pblk: u64, unwritten: bool) -> Extent {
    Extent { lblk: lblk as u32, len, pblk, unwritten }
}

#[test]
fn appends_fill_leaves_and_log_one_block() {
    let mut t = T::new();
    for i in 0..3000u64 {
        let before = t.disk.writes;
        t.insert(e(2 * i, 1, 10_000 + 2 * i, false)).unwrap();
        assert!(t.disk.writes - before <= 2, "append {i} wrote {} leaves", t.disk.writes - before);
    }
    // Dense: 8 inline, then full blocks.
    assert_eq!(t.map.chain_len() as usize, (3000 - INLINE_EXTENTS).div_ceil(EXTENTS_PER_BLOCK));
}

#[test]
fn edits_near_the_start_of_a_long_map_stay_local() {
    let mut t = T::from_flat((0..20_000u64).map(|i| e(2 * i, 1, 100_000 + 2 * i, false)).collect());
    for i in 0..50u64 {
        let before = (t.disk.writes, t.disk.allocs);
        t.insert(e(2 * i + 1, 1, 900_000 + 2 * i, false)).unwrap();
        let (w, a) = (t.disk.writes - before.0, t.disk.allocs - before.1);
        assert!(w <= 4 && a <= 1, "insert near the start wrote {w} leaves, allocated {a}");
        let before = t.disk.writes;
        t.remove(2 * i + 1000, 2 * i + 1001).unwrap();
        assert!(t.disk.writes - before <= 3);
    }
}

#[test]
fn random_edits_match_the_flat_model() {
    for seed in 1..=6u64 {
        let mut r = Rng::new(seed);
        let mut t = T::new();
        let space = 40_000u64;
        let mut pblk = 1_000_000u64;
        for step in 0..3000 {
            match below(&mut r, 10) {
                0..=4 => {
                    let lblk = below(&mut r, space);
                    let len = 1 + below(&mut r, 4) as u32;
                    // Sometimes device-contiguous with the file block (mergeable).
                    let p = if below(&mut r, 3) == 0 { 2_000_000 + lblk } else { pblk };
                    pblk += 16;
                    let _ = t.insert(e(lblk, len, p, below(&mut r, 2) == 0));
                }
                5 | 6 => {
                    let lo = below(&mut r, space);
                    let span = if below(&mut r, 20) == 0 { below(&mut r, 5000) } else { below(&mut r, 8) };
                    t.remove(lo, lo + 1 + span).unwrap();
                }
                7 => {
                    if let Some(x) = t.flat.get(below(&mut r, t.flat.len() as u64 + 1) as usize).copied() {
                        let (lo, hi) = (u64::from(x.lblk), x.end());
                        let a = lo + below(&mut r, hi - lo);
                        let b = a + 1 + below(&mut r, hi - a);
                        let un = !x.unwritten;
                        t.edit(a, b, |l| {
                            if un {
                                extents::set_unwritten(l, a, b).map(|_| ())
                            } else {
                                extents::set_written(l, a, b).map(|_| ())
                            }
                        })
                        .unwrap();
                    }
                }
                8 => {
                    let from = below(&mut r, space);
                    let blocks = 1 + below(&mut r, 50);
                    let _ = t.collapse(from, blocks);
                }
                _ => {
                    let from = below(&mut r, space);
                    let blocks = 1 + below(&mut r, 50);
                    if t.flat.last().map_or(0, |x| x.end()) + blocks < space * 2 {
                        let _ = t.insert_range(from, blocks);
                    }
                }
            }
            if step % 500 == 0 {
                t.check();
            }
        }
        assert!(t.map.chain_len() > 2, "seed {seed}: the map should span several leaves");
    }
}

#[test]
fn shifting_a_long_map_takes_bounded_steps() {
    let n = SHIFT_LEAVES as u64 * 3 * EXTENTS_PER_BLOCK as u64;
    let mut t = T::from_flat((0..n).map(|i| e(3 * i + 10, 2, 100 + 3 * i, false)).collect());
    assert!(t.collapse(5, 5) >= 3, "a collapse over 3 * SHIFT_LEAVES leaves takes several steps");
    assert!(t.insert_range(0, 7) > 2);
    t.insert_range(600, 1);
    t.collapse(600, 1);
    // A collapsed range spanning more than SHIFT_LEAVES leaves: its
    // extents all go in the first step, then the rest moves.
    let span = 3 * (SHIFT_LEAVES as u64 + 10) * EXTENTS_PER_BLOCK as u64;
    t.collapse(100, span);
    let _ = t.insert_range(50, span);
}

#[test]
fn insert_range_is_one_transaction_when_it_fits_a_step() {
    // 8 inline + 66 full leaves: from leaf 3 on, 64 leaves fit one step.
    let n = (INLINE_EXTENTS + 66 * EXTENTS_PER_BLOCK) as u64;
    let mut t = T::from_flat((0..n).map(|i| e(2 * i, 1, 100 + 2 * i, false)).collect());
    let leaf3 = u64::from(t.map.leaves()[3].exts[0].lblk);
    assert_eq!(t.insert_range(leaf3, 3), 1, "64 leaves from leaf 3: one transaction");
    // From inside leaf 2: 65 leaves to move, more than one step.
    let leaf2 = u64::from(t.map.leaves()[2].exts[0].lblk);
    assert!(t.insert_range(leaf2 - 1, 2) > 1);
}

#[test]
fn leaves_refill_as_extents_go() {
    let n = (INLINE_EXTENTS + 40 * EXTENTS_PER_BLOCK) as u64;
    let mut t = T::from_flat((0..n).map(|i| e(2 * i, 1, 100 + 2 * i, false)).collect());
    // Punch all but the first extent of every leaf, from the last leaf back.
    for li in (1..t.map.leaves().len()).rev() {
        let l = &t.map.leaves()[li].exts;
        let (a, z) = (u64::from(l[1].lblk), l[l.len() - 1].end());
        t.remove(a, z).unwrap();
    }
    let per_leaf = t.map.len() as f64 / t.map.chain_len().max(1) as f64;
    assert!(per_leaf > 4.0, "leaves stay filled: {} extents in {} leaves", t.map.len(), t.map.chain_len());
}

#[test]
fn loading_refuses_bad_leaves() {
    use crate::extmap::LoadError;
    let full: Vec<Extent> = (0..8).map(|i| e(i * 2, 1, 50 + i * 2, false)).collect();
    let mut m = Map::from_inline(full.clone()).unwrap();
    assert_eq!(m.push_leaf(7, vec![]), Err(LoadError::BadCount));
    assert_eq!(m.push_leaf(7, vec![e(3, 1, 9, false)]), Err(LoadError::Unsorted));
    assert_eq!(m.push_leaf(0, vec![e(30, 1, 9, false)]), Err(LoadError::BadCount));
    m.push_leaf(7, vec![e(30, 1, 9, false)]).unwrap();
    assert_eq!(m.len(), 9);
    let mut short = Map::from_inline(full[..3].to_vec()).unwrap();
    assert_eq!(short.push_leaf(7, vec![e(30, 1, 9, false)]), Err(LoadError::BadCount));
    assert!(Map::from_inline(vec![e(4, 2, 1, false), e(5, 1, 9, false)]).is_err());
    assert!(Map::from_inline((0..9).map(|i| e(i, 1, i, false)).collect()).is_err());
    assert_eq!(m.lookup(20), Found::Hole { next: 30, prev: Some(full[7]) });
    assert_eq!(m.lookup(31), Found::Hole { next: MAX_FILE_BLOCKS, prev: Some(e(30, 1, 9, false)) });
    assert_eq!(m.map_block(30), Some(9));
    let back: Vec<u64> = m.rev_before(14).map(|x| u64::from(x.lblk)).collect();
    assert_eq!(back, vec![12, 10, 8, 6, 4, 2, 0]);
}
