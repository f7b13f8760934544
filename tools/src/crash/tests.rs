// SPDX-License-Identifier: GPL-2.0
//! Host tests of the crash-state generator and oracle.

use super::states::{self, Epoch, Rng, State};
use super::tree::{Node, Tree};
use super::*;
use std::collections::HashSet;

fn epoch_of(stores: &[(u64, &[u8])], durable: &[u8]) -> Epoch {
    let mut e = Epoch::default();
    for (off, d) in stores {
        e.store(durable, *off, d, true);
    }
    e
}

#[test]
fn stores_merge_per_line_over_the_durable_bytes() {
    let durable: Vec<u8> = (0..=255u8).collect();
    // Two stores to one line (the second over part of the first), one
    // unaligned store spanning two lines.
    let e = epoch_of(&[(8, &[1; 8]), (12, &[2; 2]), (60, &[3; 8])], &durable);
    assert_eq!(e.order, vec![0, 1]);
    let all = states::words(&e, &State::Masks(vec![0xff, 0xff]), &durable);
    let w: HashMap<u64, [u8; 8]> = all.into_iter().collect();
    assert_eq!(w[&8], [1, 1, 1, 1, 2, 2, 1, 1]);
    // A partial word keeps the durable bytes it does not cover.
    assert_eq!(w[&56], [56, 57, 58, 59, 3, 3, 3, 3]);
    assert_eq!(w[&64], [3, 3, 3, 3, 68, 69, 70, 71]);
    assert_eq!(w.len(), 3);
}

#[test]
fn few_lines_give_every_subset_and_torn_lines() {
    let durable = vec![0u8; 4096];
    let stores: Vec<(u64, Vec<u8>)> = (0..4).map(|i| (i * 64, vec![9u8; 64])).collect();
    let refs: Vec<(u64, &[u8])> = stores.iter().map(|(o, d)| (*o, d.as_slice())).collect();
    let e = epoch_of(&refs, &durable);
    let s = states::states(&e, 100_000, &mut Rng(1));
    let set: HashSet<_> = s.iter().cloned().collect();
    assert_eq!(set.len(), s.len(), "no duplicates");
    for bits in 0u32..16 {
        let want: Vec<u8> = (0..4).map(|i| if bits >> i & 1 == 1 { 0xff } else { 0 }).collect();
        assert!(set.contains(&State::Masks(want)), "subset {bits:04b} missing");
    }
    // Every word subset of a line, with the lines before it persisted.
    for x in 1..255u8 {
        assert!(set.contains(&State::Masks(vec![0xff, 0xff, x, 0])), "torn line 2 with words {x:08b} missing");
    }
    // Every prefix of the stores.
    for k in 1..4 {
        assert!(set.contains(&State::Prefix(k)), "prefix {k} missing");
    }
}

#[test]
fn many_lines_stay_within_the_budget() {
    let durable = vec![0u8; 1 << 20];
    let data = vec![7u8; 64 * 1000];
    let e = epoch_of(&[(0, &data)], &durable);
    let s = states::states(&e, 500, &mut Rng(3));
    assert_eq!(s.len(), 500);
    assert!(s.contains(&State::Masks(vec![0; 1000])) && s.contains(&State::Masks(vec![0xff; 1000])));
    // Each kind gets its share: at least a hundred torn states.
    let torn = s
        .iter()
        .filter(|x| matches!(x, State::Masks(m) if m.iter().any(|&w| w != 0 && w != 0xff)))
        .count();
    assert!(torn >= 100, "{torn} torn states");
}

#[test]
fn a_word_stored_twice_shows_its_intermediate_value_in_a_prefix() {
    let durable = vec![0u8; 128];
    let e = epoch_of(&[(0, &[1; 8]), (64, &[5; 8]), (0, &[2; 8])], &durable);
    let w: HashMap<u64, [u8; 8]> = states::words(&e, &State::Prefix(2), &durable).into_iter().collect();
    assert_eq!(w[&0], [1; 8]);
    assert_eq!(w[&64], [5; 8]);
    let w: HashMap<u64, [u8; 8]> = states::words(&e, &states::full(&e), &durable).into_iter().collect();
    assert_eq!(w[&0], [2; 8]);
}

#[test]
fn the_data_lines_of_a_state_persist_in_with_data() {
    let durable = vec![0u8; 256];
    let mut e = Epoch::default();
    e.store(&durable, 0, &[1; 8], true);
    e.store(&durable, 64, &[2; 8], false);
    let s = State::Masks(vec![0, 0]);
    assert_eq!(states::with_data(&e, &s, &durable), State::Masks(vec![0, 1]));
}

fn file(data: &[u8]) -> Node {
    Node::new('f', 0o644, (0, 0), 1, data.len() as u64, data.to_vec(), 7)
}

#[test]
fn the_oracle_takes_old_or_new_data_and_nothing_else() {
    let mut before = Tree::new();
    before.insert("a".into(), file(&[1, 1, 1, 1]));
    let mut after = Tree::new();
    after.insert("a".into(), file(&[2, 2, 2, 2, 2, 2]));
    let win = [&before, &after];
    // The tree after, exactly.
    let mut st = Tree::new();
    st.insert("a".into(), file(&[2, 2, 2, 2, 2, 2]));
    assert!(same_meta(&st, &after) && !same_meta(&st, &before));
    assert_eq!(bad_data(&st, &[&after], &after, None, &win, None), None);
    // Old bytes and zeroes where data in flight was dropped (the state with
    // it persisted differs there).
    st.insert("a".into(), file(&[1, 2, 1, 2, 0, 2]));
    let mut flight = Tree::new();
    flight.insert("a".into(), file(&[2, 2, 2, 2, 2, 2]));
    assert_eq!(bad_data(&st, &[&after], &after, Some(&flight), &win, None), None);
    // The same bytes with nothing in flight: lost or stale data.
    assert!(bad_data(&st, &[&after], &after, None, &win, None).is_some());
    // A byte nobody wrote, even in flight.
    st.insert("a".into(), file(&[1, 2, 1, 5, 0, 2]));
    assert!(bad_data(&st, &[&after], &after, Some(&flight), &win, None).is_some());
    // Before and after with the same metadata: the old bytes are fine.
    let mut old = Tree::new();
    old.insert("a".into(), file(&[1, 1, 1, 1, 1, 1]));
    st.insert("a".into(), file(&[1, 1, 2, 2, 1, 1]));
    assert_eq!(bad_data(&st, &[&after, &old], &after, None, &win, None), None);
    assert!(bad_data(&st, &[&after], &after, None, &win, None).is_some());
    // Where a MAP_SYNC store may not have happened yet: zero is fine.
    st.insert("a".into(), file(&[2, 2, 2, 2, 0, 0]));
    let loose = ("a".to_string(), 4..6);
    assert_eq!(bad_data(&st, &[&after], &after, None, &win, Some(&loose)), None);
    // Metadata: a link count neither tree had.
    let mut odd = after.clone();
    odd.get_mut("a").expect("a").nlink = 2;
    assert!(!same_meta(&odd, &after) && !same_meta(&odd, &before));
}

#[test]
fn ops_and_logs_parse() {
    let dir = std::env::temp_dir().join(format!("daxfs-crash-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join("ops.txt");
    std::fs::write(&p, "op 0 w0 setup ok mkdir w0\nend\nop 1 w0 test err:2 unlink A/x\n/ d 755 2 0 0\nend\n").expect("write");
    let ops = read_ops(&p).expect("parse");
    assert_eq!(ops.len(), 2);
    assert!(!ops[0].checked && ops[1].checked);
    assert_eq!(ops[1].result, "err:2");
    assert_eq!(ops[1].guest.as_deref(), Some("/ d 755 2 0 0\n"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
    let mut b = vec![1u8];
    b.extend(16u64.to_le_bytes());
    b.extend(3u32.to_le_bytes());
    b.extend([7, 8, 9, 4, 5]);
    b.extend(3u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    let ev = log::parse(&b).expect("log");
    assert_eq!(
        ev,
        vec![log::Event::Write { off: 16, data: vec![7, 8, 9] }, log::Event::Fence, log::Event::Mark { value: 3, unfenced: 0 }]
    );
    assert!(log::parse(&b[..b.len() - 1]).is_err(), "a cut record is an error");
}
