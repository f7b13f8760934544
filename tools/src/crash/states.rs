// SPDX-License-Identifier: GPL-2.0
//! Crash states: what a power cut can leave of the stores in flight.
//!
//! Stores since the last fence are in flight.  On x86 pmem with ADR a store
//! reaches the persistence domain a cache line at a time, but a line can
//! reach it in parts (8-byte words) when the write-combining buffer or the
//! cache evicts it mid-update, and lines persist in any order.  So the
//! states at a crash point are: everything fenced, plus any subset of the
//! in-flight lines, each persisted whole or as a subset of its words.
//!
//! [`states`] gives each kind of state a share of the budget: nothing and
//! everything; prefixes of the stores in program order (whole stores, so
//! a word stored twice shows its intermediate value); subsets of lines
//! (every one while they fit the share, else random ones); torn lines
//! (word subsets of each line, metadata lines first, with the lines
//! before it or with all others); then random subsets with a torn line.
//! Subset and torn states use each word's final value in the epoch.
//! Duplicates are dropped.

use std::collections::{BTreeMap, HashSet};

/// Words of 8 bytes in a 64-byte line.
pub const WORDS: usize = 8;
/// Lines up to which every subset of lines is generated.
pub const EXHAUSTIVE_LINES: usize = 10;

/// The in-flight contents of one line: the final value of each word stored
/// to since the last fence.
#[derive(Clone, Debug, Default)]
pub struct Line {
    pub words: [Option<[u8; 8]>; WORDS],
    /// What stored to it first (an index into the epoch's stores).
    pub first: usize,
    /// A metadata store (not file data) touched it.
    pub meta: bool,
}

/// The stores in flight, by line address (byte offset / 64).
#[derive(Clone, Debug, Default)]
pub struct Epoch {
    pub lines: BTreeMap<u64, Line>,
    /// Lines in the order they were first stored to.
    pub order: Vec<u64>,
    /// The stores, in order: offset, bytes, metadata.
    pub stores: Vec<(u64, Vec<u8>, bool)>,
}

impl Epoch {
    /// Adds a store of `data` at `off` (file data unless `meta`), over
    /// `durable` (the image as fenced).
    pub fn store(&mut self, durable: &[u8], off: u64, data: &[u8], meta: bool) {
        self.stores.push((off, data.to_vec(), meta));
        self.apply(durable, off, data, meta);
    }

    fn apply(&mut self, durable: &[u8], off: u64, data: &[u8], meta: bool) {
        let idx = self.stores.len().saturating_sub(1);
        let end = off + data.len() as u64;
        let mut w = off / 8;
        while w * 8 < end {
            let line = w / WORDS as u64;
            let slot = (w % WORDS as u64) as usize;
            let l = self.lines.entry(line).or_insert_with(|| {
                self.order.push(line);
                Line { first: idx, ..Line::default() }
            });
            l.meta |= meta;
            // The word as it will be: its earlier in-flight value or the
            // durable one, with this store's bytes over it.
            let mut v = l.words[slot].unwrap_or_else(|| {
                let a = (w * 8) as usize;
                durable.get(a..a + 8).map_or([0; 8], |s| s.try_into().expect("8"))
            });
            for (k, b) in v.iter_mut().enumerate() {
                let a = w * 8 + k as u64;
                if a >= off && a < end {
                    *b = data[(a - off) as usize];
                }
            }
            l.words[slot] = Some(v);
            w += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// One crash state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// For each line (by index into `Epoch::order`), the mask of its words
    /// that persisted (with their final values).
    Masks(Vec<u8>),
    /// The first `k` stores persisted whole, in program order.
    Prefix(usize),
}

/// A small deterministic generator (xorshift*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// The words of each line that were stored to.
fn full_masks(e: &Epoch) -> Vec<u8> {
    e.order
        .iter()
        .map(|l| {
            let line = &e.lines[l];
            (0..WORDS).filter(|&k| line.words[k].is_some()).fold(0u8, |m, k| m | 1 << k)
        })
        .collect()
}

/// Up to `budget` distinct crash states of `e` (see the module comment).
pub fn states(e: &Epoch, budget: usize, rng: &mut Rng) -> Vec<State> {
    let full = full_masks(e);
    let n = full.len();
    let mut seen: HashSet<State> = HashSet::new();
    let mut out = Vec::new();
    let mut add = |s: State, out: &mut Vec<State>, cap: usize| {
        if out.len() < cap.min(budget) && seen.insert(s.clone()) {
            out.push(s);
            true
        } else {
            false
        }
    };
    add(State::Masks(vec![0; n]), &mut out, budget);
    add(State::Masks(full.clone()), &mut out, budget);
    let share = (budget / 4).max(1);
    // Store prefixes, evenly spaced when there are more than the share.
    let stores = e.stores.len();
    let cap = out.len() + share;
    let step = stores.div_ceil(share).max(1);
    for k in (1..stores).step_by(step) {
        add(State::Prefix(k), &mut out, cap);
    }
    // Subsets of lines: all of them when they fit the share.
    let cap = out.len() + share;
    if n < 20 && (1usize << n) <= share {
        for bits in 0u32..1 << n {
            let s = (0..n).map(|i| if bits >> i & 1 == 1 { full[i] } else { 0 }).collect();
            add(State::Masks(s), &mut out, cap);
        }
    } else {
        for _ in 0..share * 2 {
            let s = (0..n).map(|i| if rng.below(2) == 1 { full[i] } else { 0 }).collect();
            add(State::Masks(s), &mut out, cap);
        }
    }
    // Torn lines, metadata lines first, round robin.
    let cap = out.len() + share;
    let mut torn: Vec<usize> = (0..n).filter(|&i| full[i].count_ones() >= 2).collect();
    torn.sort_by_key(|&i| !e.lines[&e.order[i]].meta);
    let small = torn.len() * 254 * 2 <= share;
    for round in 0..254usize {
        if out.len() >= cap || torn.is_empty() {
            break;
        }
        for &i in &torn {
            let m = full[i];
            // A proper, non-empty subset of the line's words.
            let x = if small { (round as u8).wrapping_add(1) } else { rng.below(256) as u8 } & m;
            if x == 0 || x == m {
                continue;
            }
            let mut before = vec![0; n];
            before[..i].copy_from_slice(&full[..i]);
            before[i] = x;
            add(State::Masks(before), &mut out, cap);
            let mut others = full.clone();
            others[i] = x;
            add(State::Masks(others), &mut out, cap);
        }
    }
    // Random subsets, some with a torn line, to the budget.
    let mut tries = 0;
    while out.len() < budget && tries < budget * 4 && n > 0 {
        tries += 1;
        let mut s: Vec<u8> = (0..n).map(|i| if rng.below(2) == 1 { full[i] } else { 0 }).collect();
        if rng.below(2) == 1 {
            let i = rng.below(n as u64) as usize;
            s[i] = full[i] & rng.below(256) as u8;
        }
        add(State::Masks(s), &mut out, budget);
    }
    out
}

/// Every in-flight word persisted.
pub fn full(e: &Epoch) -> State {
    State::Masks(full_masks(e))
}

/// Only the file-data lines persisted (metadata lines as in `s`).
pub fn with_data(e: &Epoch, s: &State, durable: &[u8]) -> State {
    let full = full_masks(e);
    let base = match s {
        State::Masks(m) => m.clone(),
        State::Prefix(k) => {
            // The prefix as masks (final values stand for intermediate
            // ones: only the data lines matter here).
            let mut p = Epoch::default();
            for (off, d, meta) in &e.stores[..*k] {
                p.store(durable, *off, d, *meta);
            }
            e.order
                .iter()
                .map(|l| p.lines.get(l).map_or(0, |pl| (0..WORDS).filter(|&k| pl.words[k].is_some()).fold(0u8, |m, k| m | 1 << k)))
                .collect()
        }
    };
    State::Masks(
        e.order
            .iter()
            .enumerate()
            .map(|(i, l)| if e.lines[l].meta { base[i] } else { full[i] })
            .collect(),
    )
}

/// The bytes state `s` of `e` changes over `durable`: (offset, 8 bytes)
/// per persisted word.
pub fn words(e: &Epoch, s: &State, durable: &[u8]) -> Vec<(u64, [u8; 8])> {
    let mut out = Vec::new();
    match s {
        State::Masks(m) => {
            for (i, line) in e.order.iter().enumerate() {
                let l = &e.lines[line];
                for k in 0..WORDS {
                    if m[i] >> k & 1 == 1 {
                        if let Some(v) = l.words[k] {
                            out.push(((line * WORDS as u64 + k as u64) * 8, v));
                        }
                    }
                }
            }
        }
        State::Prefix(k) => {
            let mut p = Epoch::default();
            for (off, d, meta) in &e.stores[..*k] {
                p.store(durable, *off, d, *meta);
            }
            let all = full_masks(&p);
            return words(&p, &State::Masks(all), durable);
        }
    }
    out
}

/// Describes a state for a report: which in-flight lines were dropped or torn.
pub fn describe(e: &Epoch, s: &State) -> String {
    let m = match s {
        State::Prefix(k) => {
            return format!("{} in-flight stores ({} lines); the first {k} persisted, in order", e.stores.len(), e.order.len())
        }
        State::Masks(m) => m,
    };
    let full = full_masks(e);
    let mut dropped = Vec::new();
    let mut torn = Vec::new();
    for (i, line) in e.order.iter().enumerate() {
        let at = line * 64;
        if m[i] == 0 {
            dropped.push(format!("{at:#x}"));
        } else if m[i] != full[i] {
            torn.push(format!("{at:#x} (words {:08b} of {:08b})", m[i], full[i]));
        }
    }
    let list = |v: &[String]| {
        if v.len() > 12 {
            format!("{} … ({} lines)", v[..12].join(" "), v.len())
        } else {
            v.join(" ")
        }
    };
    format!(
        "{} in-flight lines; dropped: [{}]; torn: [{}]",
        full.len(),
        list(&dropped),
        list(&torn)
    )
}
