// SPDX-License-Identifier: GPL-2.0
//! Host tests of the extent-map editing rules (fs/extents.rs).

use crate::extents::{self, EditError, ExtentList, Lookup};
use crate::format::Extent;

struct V(Vec<Extent>);

impl ExtentList for V {
    fn exts(&self) -> &[Extent] {
        &self.0
    }
    fn exts_mut(&mut self) -> &mut [Extent] {
        &mut self.0
    }
    fn insert_at(&mut self, i: usize, e: Extent) -> Result<(), ()> {
        self.0.insert(i, e);
        Ok(())
    }
    fn remove_at(&mut self, i: usize) {
        self.0.remove(i);
    }
}

fn e(lblk: u32, len: u32, pblk: u64, unwritten: bool) -> Extent {
    Extent { lblk, len, pblk, unwritten }
}

/// File block -> (device block, unwritten) for blocks 0..n.
fn flat(l: &V, n: u64) -> Vec<Option<(u64, bool)>> {
    (0..n)
        .map(|b| match extents::lookup(l.exts(), b) {
            Lookup::Mapped { index } => {
                let x = l.0[index];
                Some((x.pblk + b - u64::from(x.lblk), x.unwritten))
            }
            Lookup::Hole { .. } => None,
        })
        .collect()
}

fn check_invariants(l: &V) {
    for w in l.0.windows(2) {
        assert!(w[0].end() <= u64::from(w[1].lblk), "sorted, disjoint: {:?}", l.0);
        assert!(
            !(w[0].end() == u64::from(w[1].lblk)
                && w[0].pblk + u64::from(w[0].len) == w[1].pblk
                && w[0].unwritten == w[1].unwritten),
            "mergeable neighbours left unmerged: {:?}",
            l.0
        );
    }
    assert!(l.0.iter().all(|x| x.len > 0));
}

#[test]
fn insert_merges_and_refuses_overlap() {
    let mut l = V(vec![]);
    extents::insert(&mut l, e(0, 4, 100, false)).unwrap();
    extents::insert(&mut l, e(4, 4, 104, false)).unwrap();
    assert_eq!(l.0, vec![e(0, 8, 100, false)]);
    extents::insert(&mut l, e(10, 2, 200, false)).unwrap();
    extents::insert(&mut l, e(8, 2, 108, false)).unwrap();
    // 8..10 joins the left run but not the right one (device gap).
    assert_eq!(l.0, vec![e(0, 10, 100, false), e(10, 2, 200, false)]);
    assert_eq!(extents::insert(&mut l, e(9, 2, 500, false)), Err(EditError::Invalid));
    assert_eq!(extents::insert(&mut l, e(11, 1, 500, false)), Err(EditError::Invalid));
    check_invariants(&l);
}

#[test]
fn remove_splits_and_reports_freed_runs() {
    let mut l = V(vec![e(0, 10, 100, false), e(20, 10, 300, true)]);
    let mut freed = vec![];
    extents::remove(&mut l, 5, 25, &mut |b, n| {
        freed.push((b, n));
        Ok(())
    })
    .unwrap();
    assert_eq!(freed, vec![(105, 5), (300, 5)]);
    assert_eq!(l.0, vec![e(0, 5, 100, false), e(25, 5, 305, true)]);
    // A hole in the middle of one extent.
    let mut l = V(vec![e(0, 10, 100, false)]);
    extents::remove(&mut l, 3, 4, &mut |_, _| Ok(())).unwrap();
    assert_eq!(l.0, vec![e(0, 3, 100, false), e(4, 6, 104, false)]);
    // To the end of the file space.
    extents::remove(&mut l, 2, crate::format::MAX_FILE_BLOCKS, &mut |_, _| Ok(())).unwrap();
    assert_eq!(l.0, vec![e(0, 2, 100, false)]);
    check_invariants(&l);
}

#[test]
fn set_written_splits_unwritten() {
    let mut l = V(vec![e(0, 10, 100, true)]);
    assert_eq!(extents::set_written(&mut l, 4, 6).unwrap(), 2);
    assert_eq!(l.0, vec![e(0, 4, 100, true), e(4, 2, 104, false), e(6, 4, 106, true)]);
    assert_eq!(extents::set_written(&mut l, 0, 10).unwrap(), 8);
    assert_eq!(l.0, vec![e(0, 10, 100, false)]);
    assert_eq!(extents::set_written(&mut l, 9, 11), Err(EditError::Invalid));
    check_invariants(&l);
}

#[test]
fn shift_left_and_right() {
    let mut l = V(vec![e(0, 4, 100, false), e(8, 4, 104, false)]);
    // Collapse the 4..8 hole: the runs become contiguous and merge.
    extents::shift(&mut l, 8, -4).unwrap();
    assert_eq!(l.0, vec![e(0, 8, 100, false)]);
    // Insert range at 4: split first, then move right.
    assert_eq!(extents::shift(&mut l, 4, 2), Err(EditError::Invalid));
    extents::split_at(&mut l, 4).unwrap();
    extents::shift(&mut l, 4, 2).unwrap();
    assert_eq!(l.0, vec![e(0, 4, 100, false), e(6, 4, 104, false)]);
    // A left move may not overlap what is before.
    assert_eq!(extents::shift(&mut l, 6, -3), Err(EditError::Invalid));
    check_invariants(&l);
}

/// Random edits against a flat block model.
#[test]
fn random_edits_match_a_model() {
    let n = 64u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _round in 0..200 {
        let mut l = V(vec![]);
        let mut model: Vec<Option<(u64, bool)>> = vec![None; n as usize];
        let mut next_p = 1000u64;
        for _ in 0..40 {
            let a = rnd(n);
            let b = (a + 1 + rnd(8)).min(n);
            match rnd(4) {
                0 => {
                    // Fill the holes of a..b with fresh runs.
                    for blk in a..b {
                        if model[blk as usize].is_none() {
                            let uw = rnd(2) == 0;
                            extents::insert(&mut l, e(blk as u32, 1, next_p, uw)).unwrap();
                            model[blk as usize] = Some((next_p, uw));
                        }
                        next_p += 1;
                    }
                }
                1 => {
                    let mut freed = 0;
                    extents::remove(&mut l, a, b, &mut |_, k| {
                        freed += k;
                        Ok(())
                    })
                    .unwrap();
                    let expect = (a..b).filter(|x| model[*x as usize].is_some()).count() as u64;
                    assert_eq!(freed, expect);
                    for x in a..b {
                        model[x as usize] = None;
                    }
                }
                2 => {
                    if (a..b).all(|x| model[x as usize].is_some()) {
                        extents::set_written(&mut l, a, b).unwrap();
                        for x in a..b {
                            if let Some(m) = model[x as usize].as_mut() {
                                m.1 = false;
                            }
                        }
                    }
                }
                _ => {
                    // Insert-range style shift right by 1 at a (if room).
                    if model[n as usize - 1].is_none() {
                        extents::split_at(&mut l, a).unwrap();
                        extents::shift(&mut l, a, 1).unwrap();
                        model.insert(a as usize, None);
                        model.pop();
                    }
                }
            }
            check_invariants(&l);
            assert_eq!(flat(&l, n), model);
        }
    }
}
