// SPDX-License-Identifier: GPL-2.0
//! Crash-state exploration (docs/testing.md, "Crash states").
//!
//! The guest runs workloads on the recorder module ([`workload::record`]):
//! a log of every persistence event and, after each operation, the tree as
//! the kernel shows it.  [`explore`] replays the log over the image taken
//! before the workload and, at every fence inside a checked operation (and
//! at each operation's end), builds the crash states the in-flight stores
//! allow ([`states`]).  Each state is recovered as mount does (the shared
//! replay in the check), checked by fsck, and compared with the oracle:
//!
//! * the namespace and metadata equal the tree before the operation or the
//!   tree after it (all or nothing), which the guest saw acknowledged;
//! * file data holds, byte by byte, a value some tree of the workload so
//!   far had there (data written without `fsync` may be lost, never
//!   invented), or zero where a tree had no data yet;
//! * at every acknowledged operation no metadata store is still unfenced,
//!   and after `fsync`, `fdatasync` and a `MAP_SYNC` store no store at all;
//! * the tree with every store applied at an operation's end equals what
//!   the kernel showed then.

pub mod log;
pub mod states;
pub mod tree;
pub mod workload;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::unix::fs::FileExt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::check::check;
use crate::dev::Device;
use crate::image::{Fs, Image};
use log::Event;
use states::{Epoch, Rng};
use tree::Tree;

/// One operation the guest ran.
#[derive(Clone, Debug)]
pub struct OpRec {
    pub workload: String,
    pub checked: bool,
    pub result: String,
    pub text: String,
    /// The tree the kernel showed after it (checked operations).
    pub guest: Option<String>,
}

/// Reads `ops.txt`.
pub fn read_ops(path: &Path) -> io::Result<Vec<OpRec>> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut ops = Vec::new();
    let mut cur: Option<(OpRec, String)> = None;
    for line in io::BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if let Some((op, tree)) = cur.as_mut() {
            if line == "end" {
                let (mut op, tree) = cur.take().expect("some");
                if !tree.is_empty() {
                    op.guest = Some(tree);
                }
                ops.push(op);
            } else {
                tree.push_str(&line);
                tree.push('\n');
                let _ = op;
            }
            continue;
        }
        let t: Vec<&str> = line.splitn(6, ' ').collect();
        if t.len() != 6 || t[0] != "op" || t[1].parse::<usize>().ok() != Some(ops.len()) {
            return Err(bad(format!("ops.txt: unexpected line '{line}'")));
        }
        cur = Some((
            OpRec {
                workload: t[2].into(),
                checked: t[3] == "test",
                result: t[4].into(),
                text: t[5].into(),
                guest: None,
            },
            String::new(),
        ));
    }
    Ok(ops)
}

/// How far to explore.
#[derive(Clone, Debug)]
pub struct Options {
    /// Crash states per crash point at most.
    pub budget: usize,
    pub seed: u64,
    /// Keep every `sample`-th distinct state (0: none) as an image for the
    /// kernel to mount, at most `sample_max`.
    pub sample: usize,
    pub sample_max: usize,
    /// Where reproducers and samples go.
    pub out: PathBuf,
    /// Prefix of their names (the recording).
    pub tag: String,
}

/// What an exploration saw.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub workloads: usize,
    pub ops: usize,
    pub fences: usize,
    pub crash_points: usize,
    pub states: usize,
    pub samples: usize,
    pub violations: Vec<String>,
}

/// Metadata only: the rendering without file data digests.
pub fn render_meta(t: &Tree) -> String {
    let mut out = String::new();
    for (p, n) in t {
        let d = if n.kind == 'f' { 0 } else { tree::digest(&n.data) };
        out.push_str(&format!("/{p} {} {:o} {}:{} {} {} {d:016x}\n", n.kind, n.perm, n.uid, n.gid, n.nlink, n.size));
    }
    out
}

/// Whether `s` is `choice` in its metadata.
fn same_meta(s: &Tree, choice: &Tree) -> bool {
    s.len() == choice.len()
        && s.iter().zip(choice.iter()).all(|((p, a), (q, b))| {
            p == q
                && a.kind == b.kind
                && a.perm == b.perm
                && (a.uid, a.gid) == (b.uid, b.gid)
                && a.nlink == b.nlink
                && a.size == b.size
                && (a.kind == 'f' || a.data == b.data)
        })
}

/// The first byte of file data in `st` the oracle does not allow.
///
/// `matched` are the trees whose metadata `st` equals (before and after
/// the operation, when it changed no metadata), `after` the tree after the
/// operation.  A byte must be what one of them has there, unless file
/// data still in flight covers it (`flight`: the state with every in-flight
/// data line persisted, when that differs) or a `MAP_SYNC` store of the
/// operation may not have happened yet (`loose`): then it may also be zero
/// or what any tree of the workload so far (`window`) had there (data
/// written without `fsync` may be lost, never invented or taken from
/// elsewhere).
fn bad_data(
    st: &Tree,
    matched: &[&Tree],
    after: &Tree,
    flight: Option<&Tree>,
    window: &[&Tree],
    loose: Option<&(String, Range<u64>)>,
) -> Option<String> {
    let byte = |t: Option<&tree::Node>, b: usize| t.filter(|n| n.kind == 'f').and_then(|n| n.data.get(b).copied());
    // The file a MAP_SYNC store went to, by inode: any of its hard links.
    let loose = loose.and_then(|(lp, r)| after.get(lp).map(|n| (n.ino, r)));
    for (p, n) in st.iter().filter(|(_, n)| n.kind == 'f') {
        let (mts, at, ft) = (
            matched.iter().map(|m| m.get(p)).collect::<Vec<_>>(),
            after.get(p),
            flight.map(|f| f.get(p)),
        );
        let olds: Vec<Option<&tree::Node>> = window.iter().map(|t| t.get(p)).collect();
        for (b, &v) in n.data.iter().enumerate() {
            if byte(at, b) == Some(v) || mts.iter().any(|&m| byte(m, b) == Some(v)) {
                continue;
            }
            let in_flight = ft.is_some_and(|f| byte(f, b) != Some(v));
            let is_loose = loose.is_some_and(|(ino, r)| ino == n.ino && r.contains(&(b as u64)));
            if (in_flight || is_loose) && (v == 0 || olds.iter().any(|&o| byte(o, b) == Some(v))) {
                continue;
            }
            let why = if in_flight || is_loose {
                "neither zero nor what any tree of the workload had there"
            } else {
                "not in flight, yet neither what the matching tree nor the tree after the operation has there"
            };
            return Some(format!("/{p}: byte {b} is {v:#04x}: {why}"));
        }
    }
    None
}

/// Where a `MAP_SYNC` store of operation `op` of workload `w` may still be
/// missing (the store happens in user space after the faults).
fn loose_range(w: &str, op: &str) -> Option<(String, Range<u64>)> {
    let t: Vec<&str> = op.split_whitespace().collect();
    if t.first() != Some(&"mapwrite") {
        return None;
    }
    let off: u64 = t.get(2)?.parse().ok()?;
    let len: u64 = t.get(3)?.parse().ok()?;
    Some((format!("{w}/{}", t.get(1)?), off..off.checked_add(len)?))
}

/// How the check words a transaction mount will replay.
const REPLAY: &str = "committed but not applied (needs replay)";

/// The image being explored: the durable bytes in memory and in a scratch
/// file the check reads.
struct Scratch {
    durable: Vec<u8>,
    file: File,
    dev: Option<Device>,
    /// What `put` overwrote since the current operation began, to rebuild
    /// the durable image of an earlier crash point ([`Scratch::save`]).
    undo: Vec<(u64, Vec<u8>)>,
}

impl Scratch {
    fn new(base: &Path, path: &Path) -> io::Result<Self> {
        let durable = fs::read(base)?;
        fs::write(path, &durable)?;
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let dev = Some(Device::open(path, false)?);
        Ok(Scratch { durable, file, dev, undo: Vec::new() })
    }

    fn put(&mut self, off: u64, data: &[u8]) -> io::Result<()> {
        let end = off as usize + data.len();
        if end > self.durable.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("store at {off:#x} past the image")));
        }
        self.undo.push((off, self.durable[off as usize..end].to_vec()));
        self.durable[off as usize..end].copy_from_slice(data);
        self.file.write_all_at(data, off)
    }

    /// Recovers and checks the state `words` over the durable image: fsck's
    /// problems, or the tree.
    fn eval(&mut self, words: &[(u64, [u8; 8])]) -> io::Result<Result<Tree, String>> {
        for (off, v) in words {
            self.file.write_all_at(v, *off)?;
        }
        let dev = self.dev.take().expect("device");
        let (report, img) = check(Image::new(dev), false)?;
        // A committed transaction not yet applied is what mount replays
        // (the check replayed it in memory): recovery, not a problem.
        let problems: Vec<&str> = report
            .problems
            .iter()
            .map(|p| p.msg.as_str())
            .filter(|m| !(m.starts_with("journal: transaction ") && m.ends_with(REPLAY)))
            .collect();
        let r = if report.sb.is_none() || !problems.is_empty() {
            Err(format!("fsck: {}", problems.join("; ")))
        } else {
            let sb = report.sb.expect("checked");
            let mut f = Fs::new(img, sb);
            let t = tree::from_image(&mut f).map_err(|e| format!("reading the tree: {e}"));
            self.dev = Some(f.img.into_device());
            for (off, _) in words {
                let o = *off as usize;
                self.file.write_all_at(&self.durable[o..o + 8], *off)?;
            }
            return Ok(t);
        };
        self.dev = Some(img.into_device());
        for (off, _) in words {
            let o = *off as usize;
            self.file.write_all_at(&self.durable[o..o + 8], *off)?;
        }
        Ok(r)
    }

    /// Writes the state `words` over the durable image as it was when
    /// `undo` had `at` entries to `path`.
    fn save(&self, at: usize, words: &[(u64, [u8; 8])], path: &Path) -> io::Result<()> {
        let mut img = self.durable.clone();
        for (off, old) in self.undo[at.min(self.undo.len())..].iter().rev() {
            img[*off as usize..*off as usize + old.len()].copy_from_slice(old);
        }
        for (off, v) in words {
            img[*off as usize..*off as usize + 8].copy_from_slice(v);
        }
        fs::write(path, img)
    }
}

/// A state checked inside an operation, compared once the operation ends.
struct Pending {
    what: String,
    /// `Scratch::undo` entries when it was built.
    at: usize,
    /// The tree with every in-flight data line persisted, if different.
    flight: Option<Tree>,
    words: Vec<(u64, [u8; 8])>,
    tree: Tree,
}

/// Explores the crash states of the run in `run` (`base.img`, `log.bin`,
/// `ops.txt` from the guest).
pub fn explore(run: &Path, opts: &Options) -> io::Result<Summary> {
    let ops = read_ops(&run.join("ops.txt"))?;
    let events = log::parse(&fs::read(run.join("log.bin"))?)?;
    fs::create_dir_all(&opts.out)?;
    // The scratch image is rewritten for every state: in memory (tmpfs)
    // when there is one.
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        shm.join(format!("daxfs-crashstates-{}-{}.img", std::process::id(), opts.tag))
    } else {
        opts.out.join("scratch.img")
    };
    // One shard of the workloads per CPU: each replays the whole log (cheap)
    // and checks its own workloads.
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(16);
    let results: Vec<io::Result<Summary>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|k| {
                let (ops, events, base) = (&ops, &events, run.join("base.img"));
                let path = scratch.with_extension(format!("{k}.img"));
                s.spawn(move || -> io::Result<Summary> {
                    let mut sc = Scratch::new(&base, &path)?;
                    let r = explore_with(&mut sc, ops, events, opts, k, n);
                    let _ = fs::remove_file(&path);
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("an exploring thread panicked"))))
            .collect()
    });
    let mut sum = Summary::default();
    for r in results {
        sum.add(r?);
    }
    Ok(sum)
}

impl Summary {
    /// Adds the counts of `r`.
    pub fn add(&mut self, r: Summary) {
        self.workloads += r.workloads;
        self.ops += r.ops;
        self.fences += r.fences;
        self.crash_points += r.crash_points;
        self.states += r.states;
        self.samples += r.samples;
        self.violations.extend(r.violations);
    }
}

/// The shard of workload `w` ("wN") among `n`.
fn shard_of(w: &str, n: usize) -> usize {
    w.trim_start_matches('w').parse::<usize>().unwrap_or(0) % n.max(1)
}

fn explore_with(
    sc: &mut Scratch,
    ops: &[OpRec],
    events: &[Event],
    opts: &Options,
    shard: usize,
    nshards: usize,
) -> io::Result<Summary> {
    let mut sum = Summary::default();
    // The states of a crash point depend on the seed and the point only
    // (not on the number of threads).
    let rng_at = |point: u64| Rng(opts.seed ^ point.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d);
    // Reproducers kept, at most, per thread and recording.
    let keep = (20 / nshards).max(4);
    let own = |w: &str| shard_of(w, nshards) == shard;
    let sample_max = opts.sample_max.div_ceil(nshards);
    let mut epoch = Epoch::default();
    let mut meta_unfenced = false;
    let mut cur: Option<usize> = None;
    // Host trees at operation ends, for the current workload.
    let mut trees: HashMap<usize, Tree> = HashMap::new();
    let mut window: Vec<Tree> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    let mut fence_no = 0usize;
    let mut sample_n = 0usize;
    let mut wl = String::new();
    let violation = |sum: &mut Summary, sc: &Scratch, msg: String, at: usize, words: &[(u64, [u8; 8])]| -> io::Result<()> {
        let n = sum.violations.len();
        let mut m = msg;
        if n < keep {
            let p = opts.out.join(format!("violation-{}-{shard}-{n}.img", opts.tag));
            sc.save(at, words, &p)?;
            m.push_str(&format!("\n    reproducer: {}", p.display()));
        }
        eprintln!("VIOLATION {}", m.replace('\n', "\n    "));
        sum.violations.push(m);
        Ok(())
    };
    let checked = |i: Option<usize>| i.is_some_and(|i| ops.get(i).is_some_and(|o| o.checked && own(&o.workload)));
    for ev in events {
        match ev {
            Event::Write { off, data } | Event::Data { off, data } => {
                let meta = matches!(ev, Event::Write { .. });
                meta_unfenced |= meta;
                epoch.store(&sc.durable, *off, data, meta);
            }
            Event::Zero { off, len } => {
                meta_unfenced = true;
                if off.checked_add(*len).is_none_or(|end| end > sc.durable.len() as u64) {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("zero of {len} bytes at {off:#x} past the image")));
                }
                epoch.store(&sc.durable, *off, &vec![0u8; *len as usize], true);
            }
            // Written back are stores the log does not have (cached stores
            // to pmem): the model would miss them.  Nothing flushes today.
            Event::Flush { .. } if !own(&wl) => {}
            Event::Flush { off, len } => {
                violation(
                    &mut sum,
                    &*sc,
                    format!("workload {wl}: a flush of {len} bytes at {off:#x}: cached stores the recorder does not see"),
                    sc.undo.len(),
                    &[],
                )?;
            }
            Event::Assert { .. } if !own(&wl) => {}
            Event::Assert { stores, at } => {
                let op = cur.and_then(|i| ops.get(i)).map_or(String::new(), |o| format!(" op '{}'", o.text));
                violation(
                    &mut sum,
                    &*sc,
                    format!("workload {wl}{op}: the module's assertion: {stores} metadata stores not fenced at {at}"),
                    sc.undo.len(),
                    &[],
                )?;
            }
            Event::Fence => {
                fence_no += 1;
                if checked(cur) && !epoch.is_empty() {
                    let i = cur.expect("checked");
                    sum.fences += 1;
                    sum.crash_points += 1;
                    for s in states::states(&epoch, opts.budget, &mut rng_at(fence_no as u64)) {
                        let words = states::words(&epoch, &s, &sc.durable);
                        sum.states += 1;
                        let what = format!(
                            "workload {} op {i} '{}', fence {fence_no}: {}",
                            ops[i].workload,
                            ops[i].text,
                            states::describe(&epoch, &s)
                        );
                        match eval_with_flight(sc, &epoch, &s, &words)? {
                            Ok((tree, flight)) => pending.push(Pending { what, at: sc.undo.len(), flight, words, tree }),
                            Err(e) => violation(&mut sum, &*sc, format!("{what}\n    {e}"), sc.undo.len(), &words)?,
                        }
                    }
                }
                let lines = states::words(&epoch, &states::full(&epoch), &sc.durable);
                for (off, v) in lines {
                    sc.put(off, &v)?;
                }
                epoch = Epoch::default();
                meta_unfenced = false;
            }
            Event::Mark { value, .. } => {
                let i = (*value / 2) as usize;
                let op = ops.get(i).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("marker {value} past ops.txt"))
                })?;
                if value % 2 == 0 {
                    if op.workload != wl {
                        wl = op.workload.clone();
                        sum.workloads += usize::from(own(&wl));
                        trees.clear();
                        window.clear();
                    }
                    cur = Some(i);
                    sc.undo.clear();
                    continue;
                }
                cur = None;
                if !own(&op.workload) {
                    continue;
                }
                let next_checked = checked(Some(i + 1));
                if meta_unfenced {
                    violation(
                        &mut sum,
                        &*sc,
                        format!("workload {} op {i} '{}': returned with metadata stores not fenced", op.workload, op.text),
                        sc.undo.len(),
                        &[],
                    )?;
                }
                let sync = ["fsync", "fdatasync"].iter().any(|s| op.text.starts_with(s));
                if sync && !epoch.is_empty() && op.result == "ok" {
                    violation(
                        &mut sum,
                        &*sc,
                        format!("workload {} op {i} '{}': returned with {} data lines not durable", op.workload, op.text, epoch.lines.len()),
                        sc.undo.len(),
                        &[],
                    )?;
                }
                if !op.checked && !next_checked {
                    continue;
                }
                // The tree with every store so far applied.
                let all = states::words(&epoch, &states::full(&epoch), &sc.durable);
                let t = match sc.eval(&all)? {
                    Ok(t) => t,
                    Err(e) => {
                        violation(&mut sum, &*sc, format!("workload {} op {i} '{}', every store applied: {e}", op.workload, op.text), sc.undo.len(), &all)?;
                        // Nothing to compare the operation's states with.
                        pending.clear();
                        trees.remove(&i);
                        continue;
                    }
                };
                if let Some(g) = &op.guest {
                    let host = tree::render(&t);
                    if &host != g {
                        violation(
                            &mut sum,
                            &*sc,
                            format!(
                                "workload {} op {i} '{}': the image with every store applied differs from what the kernel showed\n--- kernel\n{g}--- image\n{host}",
                                op.workload, op.text
                            ),
                            sc.undo.len(),
                            &all,
                        )?;
                    }
                }
                if op.checked {
                    sum.ops += 1;
                    // States inside the operation: before or after it.
                    let before = trees.get(&(i.wrapping_sub(1)));
                    window.push(t.clone());
                    let win: Vec<&Tree> = window.iter().collect();
                    let loose = loose_range(&op.workload, &op.text);
                    // The exerciser's hundreds of calls in one step: any
                    // state that recovers and checks clean will do.
                    let mix = op.text == "exercise";
                    for p in pending.drain(..).filter(|_| !mix) {
                        let matched: Vec<&Tree> =
                            [Some(&t), before].into_iter().flatten().filter(|m| same_meta(&p.tree, m)).collect();
                        let why = match matched.is_empty() {
                            true => Some(format!(
                                "neither the tree before nor the one after the operation\n--- state\n{}--- after\n{}",
                                render_meta(&p.tree),
                                render_meta(&t)
                            )),
                            false => bad_data(&p.tree, &matched, &t, p.flight.as_ref(), &win, loose.as_ref()),
                        };
                        if let Some(why) = why {
                            violation(&mut sum, &*sc, format!("{}\n    {why}", p.what), p.at, &p.words)?;
                        } else if opts.sample > 0 && sum.samples < sample_max {
                            sample_n += 1;
                            if sample_n % opts.sample == 0 {
                                save_sample(sc, &p, before, &t, &opts.out, &format!("{}-{shard}-{:05}", opts.tag, sum.samples))?;
                                sum.samples += 1;
                            }
                        }
                    }
                    // At the end: data still in flight may go, metadata not.
                    if !epoch.is_empty() {
                        sum.crash_points += 1;
                        for s in states::states(&epoch, opts.budget, &mut rng_at(!(*value))) {
                            let words = states::words(&epoch, &s, &sc.durable);
                            sum.states += 1;
                            let what = format!(
                                "workload {} after op {i} '{}': {}",
                                op.workload,
                                op.text,
                                states::describe(&epoch, &s)
                            );
                            let why = match eval_with_flight(sc, &epoch, &s, &words)? {
                                Err(e) => Some(e),
                                Ok(_) if mix => None,
                                Ok((st, _)) if !same_meta(&st, &t) => Some(format!(
                                    "acknowledged metadata lost\n--- state\n{}--- after\n{}",
                                    render_meta(&st),
                                    render_meta(&t)
                                )),
                                Ok((st, flight)) => bad_data(&st, &[&t], &t, flight.as_ref(), &win, None),
                            };
                            if let Some(why) = why {
                                violation(&mut sum, &*sc, format!("{what}\n    {why}"), sc.undo.len(), &words)?;
                            }
                        }
                    }
                } else {
                    window.push(t.clone());
                }
                trees.insert(i, t);
            }
        }
    }
    Ok(sum)
}

/// Evaluates state `s` (`words`) of `e`, and when it drops file data in
/// flight, also the state with that data persisted (for the data rule).
fn eval_with_flight(
    sc: &mut Scratch,
    e: &Epoch,
    s: &states::State,
    words: &[(u64, [u8; 8])],
) -> io::Result<Result<(Tree, Option<Tree>), String>> {
    let tree = match sc.eval(words)? {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let ws = states::with_data(e, s, &sc.durable);
    if &ws == s {
        return Ok(Ok((tree, None)));
    }
    let wwords = states::words(e, &ws, &sc.durable);
    Ok(match sc.eval(&wwords)? {
        Ok(f) => Ok((tree, Some(f))),
        Err(err) => Err(format!("with the in-flight file data persisted: {err}")),
    })
}

/// Keeps a checked state for the kernel to mount (`daxfs-crashstates
/// mount-check`): the image and the metadata trees it may show.
fn save_sample(sc: &Scratch, p: &Pending, before: Option<&Tree>, after: &Tree, out: &Path, n: &str) -> io::Result<()> {
    let dir = out.join("samples");
    fs::create_dir_all(&dir)?;
    sc.save(p.at, &p.words, &dir.join(format!("{n}.img")))?;
    let mut f = File::create(dir.join(format!("{n}.expect")))?;
    writeln!(f, "# {}", p.what.replace('\n', " "))?;
    for t in before.into_iter().chain([after]) {
        writeln!(f, "choice")?;
        f.write_all(render_meta(t).as_bytes())?;
    }
    Ok(())
}
