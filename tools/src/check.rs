// SPDX-License-Identifier: GPL-2.0
//! The consistency check behind fsck.daxfs: every invariant listed under
//! "What fsck checks" in docs/format-v2.md, and the repairs that are safe.
//!
//! The check works on an [`Image`]: repairs (and a pending journal
//! transaction, which is replayed in memory even when not repairing, so that
//! the rest of the check sees what mount will see) change the cached blocks
//! only; the caller flushes them when it repairs.
//!
//! Everything the module refuses at mount is a problem here: a bad primary
//! superblock, state block or journal, a root that is not an allocated,
//! valid directory, and an orphan list that mount cannot finish (it loops,
//! names a free, damaged or out-of-range inode, or a member whose extent
//! map iget refuses).  A pending orphan list that mount can finish is not
//! a problem (a crash or an unmount after a shutdown leaves one): it is
//! noted, and repairing finishes it exactly as mount does (fs/orphan.rs).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::ops::Range;

use crate::extents;
use crate::image::{chain_len, Fs, Image};
use crate::*;

const BS: u64 = BLOCK_SIZE as u64;
/// Bitmap ranges reported one per line before the rest is summed up.
const MAX_RANGES: usize = 20;

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong, one line.
    pub msg: String,
    /// Repaired in the image.
    pub fixed: bool,
}

/// What a check found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Problems, in the order found.
    pub problems: Vec<Problem>,
    /// Changes made in the image that repair no problem (finishing the
    /// orphan list, as mount would).
    pub changes: Vec<String>,
    /// Remarks that are not problems.
    pub notes: Vec<String>,
    /// The superblock the check trusted (`None`: no valid superblock).
    pub sb: Option<SuperBlock>,
}

impl Report {
    /// Whether the image was changed: a problem repaired, or a change made.
    pub fn repaired(&self) -> bool {
        !self.changes.is_empty() || self.problems.iter().any(|p| p.fixed)
    }
}

/// Checks the filesystem on `img`, repairing in memory what is safe when
/// `repair` is set; gives the image back for flushing.
pub fn check(img: Image, repair: bool) -> io::Result<(Report, Image)> {
    let mut report = Report::default();
    let primary = img.device().read_sb(SB_PRIMARY_OFFSET)?;
    let backup = img.device().read_sb(SB_BACKUP_OFFSET)?;
    let trusted = match (&primary, &backup) {
        (Ok(p), Ok(b)) if p == b => Some((*p, None)),
        (Ok(p), _) => Some((*p, Some(SB_BACKUP_OFFSET))),
        (Err(_), Ok(b)) => Some((*b, Some(SB_PRIMARY_OFFSET))),
        (Err(_), Err(_)) => None,
    };
    let stale = trusted.and_then(|(_, stale)| stale);
    for (name, offset, copy) in [
        ("primary", SB_PRIMARY_OFFSET, &primary),
        ("backup", SB_BACKUP_OFFSET, &backup),
    ] {
        if let Err(e) = copy {
            report.problems.push(Problem {
                msg: format!("{name} superblock: {}", e.describe()),
                fixed: repair && stale == Some(offset),
            });
        }
    }
    let Some((sb, _)) = trusted else {
        return Ok((report, img));
    };
    if primary.is_ok() && backup.is_ok() && stale.is_some() {
        report.problems.push(Problem {
            msg: "superblocks differ".into(),
            fixed: repair,
        });
    }
    report.sb = Some(sb);
    let mut c = Checker::new(Fs::new(img, sb), repair, report);
    if let (Some(offset), true) = (stale, repair) {
        let mut buf = [0u8; SB_SIZE];
        sb.encode(&mut buf);
        c.fs.img.write(offset, &buf)?;
    }
    c.run()?;
    Ok((c.report, c.fs.img))
}

struct Checker {
    fs: Fs,
    repair: bool,
    report: Report,
    /// The state block, after any replay.
    state: Option<StateBlock>,
    /// Decodable in-use inodes.
    inodes: BTreeMap<u64, Inode>,
    /// Nonzero slots that do not decode.
    damaged: HashSet<u64>,
    /// Inodes with a problem of their own (extents, sizes, counts, type).
    flawed: HashSet<u64>,
    /// Inodes whose blocks are not all known to be theirs alone: part of
    /// their extent map is unreadable, or another inode claims a block of
    /// theirs.  Nothing of theirs may be freed.
    lost: HashSet<u64>,
    /// The block bitmap as the inodes' extents and extent blocks say.
    claimed: Vec<u8>,
    /// Claimed runs: first block -> (end, owner), to name the owner of a block.
    runs: BTreeMap<u64, (u64, u64)>,
    /// Valid extents of every directory.
    dir_extents: HashMap<u64, Vec<Extent>>,
    /// The owner of every block in use is known (no damaged inode, chain or
    /// extent): clearing bitmap bits and free counts is safe.
    owners_known: bool,
    /// Every reachable directory parsed: link counts are exact.
    dirs_complete: bool,
    /// Reachable directory -> the directory whose entry reached it.
    parent_of: HashMap<u64, u64>,
    /// Entries in reachable directories naming each inode.
    refs: HashMap<u64, u32>,
    /// Entries naming a directory, per reachable directory.
    subdirs: HashMap<u64, u32>,
    /// Inodes on the orphan list (after repairing: none, it was finished).
    orphans: HashSet<u64>,
}

fn blocks(r: &Range<u64>) -> String {
    if r.end - r.start == 1 {
        format!("block {}", r.start)
    } else {
        format!("blocks {}-{}", r.start, r.end - 1)
    }
}

/// The maximal runs of `0..n` where `f` holds.
fn runs(n: u64, f: impl Fn(u64) -> bool) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for b in (0..n).filter(|&b| f(b)) {
        match out.last_mut() {
            Some(r) if r.end == b => r.end += 1,
            _ => out.push(b..b + 1),
        }
    }
    out
}

fn set(map: &[u8], bit: u64) -> bool {
    bitmap_test(map, bit) == Some(true)
}

impl Checker {
    fn new(fs: Fs, repair: bool, report: Report) -> Self {
        Checker {
            fs,
            repair,
            report,
            state: None,
            inodes: BTreeMap::new(),
            damaged: HashSet::new(),
            flawed: HashSet::new(),
            lost: HashSet::new(),
            claimed: Vec::new(),
            runs: BTreeMap::new(),
            dir_extents: HashMap::new(),
            owners_known: true,
            dirs_complete: true,
            parent_of: HashMap::new(),
            refs: HashMap::new(),
            subdirs: HashMap::new(),
            orphans: HashSet::new(),
        }
    }

    fn run(&mut self) -> io::Result<()> {
        self.fs.load_metadata()?;
        self.check_state()?;
        self.scan_inodes()?;
        let geo = self.fs.geo;
        self.claimed = vec![0; (geo.bbitmap_blocks * BS) as usize];
        for b in 0..geo.data_start {
            bitmap_set(&mut self.claimed, b);
        }
        for (ino, inode) in self.inodes.clone() {
            self.check_inode(ino, &inode)?;
        }
        self.walk_tree()?;
        self.check_orphans()?;
        self.check_links()?;
        self.check_block_bitmap()?;
        self.check_summary()
    }

    fn problem(&mut self, msg: String) {
        self.report.problems.push(Problem { msg, fixed: false });
    }

    /// Records a problem that is repaired when repairing; returns whether
    /// to repair it.
    fn fixable(&mut self, msg: String) -> bool {
        self.report.problems.push(Problem {
            msg,
            fixed: self.repair,
        });
        self.repair
    }

    /// A problem whose repair is safe only if `safe`.
    fn fixable_if(&mut self, safe: bool, msg: String) -> bool {
        if safe {
            self.fixable(msg)
        } else {
            self.problem(msg);
            false
        }
    }

    /// State block and journal; replays a committed transaction in memory.
    fn check_state(&mut self) -> io::Result<()> {
        // The journal header first: a pending transaction rewrites a torn
        // journaled part whole (`StateBlock::decode_header`); the whole
        // block is checked after the replay.
        let state = match self.fs.state_header()? {
            Ok(s) => s,
            Err(e) => {
                self.problem(format!("state block: {}", e.describe()));
                return Ok(());
            }
        };
        let geo = self.fs.geo;
        let journal = self.fs.read_area(geo.journal_start, geo.journal_blocks)?;
        let mut replayed = false;
        match state.pending_transaction(&journal, &geo) {
            Ok(None) => {}
            Ok(Some(tx)) => {
                replayed = true;
                self.fixable(format!(
                    "journal: transaction {} committed but not applied (needs replay)",
                    tx.seq
                ));
                for r in tx.records().flatten() {
                    self.fs.img.write(r.dst, r.data)?;
                }
                let applied = STATE_BLOCK * BS + STATE_APPLIED as u64;
                self.fs.img.write(applied, &tx.seq.to_le_bytes())?;
            }
            Err(e) => self.problem(format!(
                "journal: {} (committed {}, applied {})",
                e.describe(),
                state.committed_seq,
                state.applied_seq
            )),
        }
        match self.fs.state()? {
            Ok(s) => {
                if !s.clean {
                    self.report
                        .notes
                        .push("filesystem was not cleanly unmounted".into());
                }
                self.state = Some(s);
            }
            Err(e) => self.problem(format!(
                "state block{}: {}",
                if replayed { " after replay" } else { "" },
                e.describe()
            )),
        }
        Ok(())
    }

    /// Every inode slot against the inode bitmap.
    fn scan_inodes(&mut self) -> io::Result<()> {
        let geo = self.fs.geo;
        let disk = self.fs.inode_bitmap()?;
        let mut want = disk.clone();
        for ino in 1..=geo.inodes {
            let slot = self.fs.inode_slot(ino)?;
            let marked = set(&disk, ino - 1);
            if Inode::is_free_slot(&slot) {
                if marked
                    && self.fixable(format!(
                        "inode {ino}: free but marked in use in the inode bitmap"
                    ))
                {
                    bitmap_clear(&mut want, ino - 1);
                }
                continue;
            }
            match Inode::decode(&slot) {
                Ok(inode) => {
                    if !marked
                        && self.fixable(format!(
                            "inode {ino}: in use but not marked in the inode bitmap"
                        ))
                    {
                        bitmap_set(&mut want, ino - 1);
                    }
                    self.inodes.insert(ino, inode);
                }
                Err(e) => {
                    self.problem(format!("inode {ino}: {}", e.describe()));
                    self.damaged.insert(ino);
                    self.owners_known = false;
                }
            }
        }
        let end = geo.ibitmap_blocks * BITS_PER_BLOCK;
        let past = (geo.inodes..end).filter(|&b| set(&disk, b)).count();
        if past > 0 && self.fixable(format!("inode bitmap: {past} bits set past the last inode")) {
            for b in geo.inodes..end {
                bitmap_clear(&mut want, b);
            }
        }
        if want != disk {
            self.fs.img.write(geo.ibitmap_start * BS, &want)?;
        }
        Ok(())
    }

    /// Marks `len` blocks from `pblk` as owned by `ino`; reports (as `what`)
    /// those somebody already owns, and then marks both owners lost.
    fn claim(&mut self, ino: u64, pblk: u64, len: u64, what: &str) -> bool {
        let taken: Vec<u64> = (pblk..pblk + len)
            .filter(|&b| bitmap_set(&mut self.claimed, b) == Some(true))
            .collect();
        let owners = self.owners(&taken);
        self.runs.insert(pblk, (pblk + len, ino));
        let (Some(&first), Some(&owner)) = (taken.first(), owners.first()) else {
            return true;
        };
        self.problem(format!(
            "{what}: {} block(s) from {first} already owned by inode {owner}",
            taken.len()
        ));
        self.lost.insert(ino);
        self.lost.extend(owners);
        false
    }

    /// The earlier owners of the claimed blocks `taken` (sorted; 0 for the
    /// metadata areas).  Runs that overlap one another were claimed twice,
    /// so their owners are lost already: one covering run per block is
    /// enough.
    fn owners(&self, taken: &[u64]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut upto = 0;
        for &b in taken {
            if b < upto {
                continue;
            }
            let run = self.runs.range(..=b).rev().find(|(_, &(end, _))| end > b);
            let (end, owner) = run.map_or((b + 1, 0), |(_, &r)| r);
            out.push(owner);
            upto = end;
        }
        out
    }

    /// The extents of `ino` (inline, then the chain, whose blocks it claims)
    /// and the number of extent blocks.
    fn extents(&mut self, ino: u64, inode: &Inode) -> io::Result<(Vec<Extent>, u64)> {
        let map = self.fs.read_map(ino, inode)?;
        for &b in &map.chain {
            if !self.claim(ino, b, 1, &format!("inode {ino}: extent block {b}")) {
                self.owners_known = false;
            }
        }
        if map.recorded != u64::from(inode.nextents) {
            self.problem(format!(
                "inode {ino}: {} extents recorded, {} found",
                inode.nextents, map.recorded
            ));
        }
        if !map.damage.is_empty() {
            self.owners_known = false;
            self.lost.insert(ino);
            for m in map.damage {
                self.problem(format!("inode {ino}: {m}"));
            }
        }
        Ok((map.extents, map.chain.len() as u64))
    }

    /// One in-use inode: extents, block ownership, block count, size and
    /// type rules.
    fn check_inode(&mut self, ino: u64, inode: &Inode) -> io::Result<()> {
        let before = self.report.problems.len();
        let (exts, chain) = self.extents(ino, inode)?;
        let geo = self.fs.geo;
        let (mut end, mut mapped, mut valid) = (0, 0, Vec::new());
        for (i, e) in exts.iter().enumerate() {
            let at = format!(
                "inode {ino}: extent {}+{} at block {}",
                e.lblk, e.len, e.pblk
            );
            if i > 0 && u64::from(e.lblk) < end {
                self.problem(format!("{at}: out of order or overlapping"));
            }
            end = e.end();
            mapped += u64::from(e.len);
            if !geo.is_data(e.pblk, e.len.into()) {
                let why = if e.pblk < geo.data_start {
                    "overlaps the metadata areas"
                } else {
                    "past the end of the filesystem"
                };
                self.problem(format!("{at}: {why}"));
                self.owners_known = false;
                self.lost.insert(ino);
                continue;
            }
            self.claim(ino, e.pblk, e.len.into(), &at);
            valid.push(*e);
        }
        if inode.blocks != mapped + chain {
            self.problem(format!(
                "inode {ino}: {} blocks recorded, {} allocated",
                inode.blocks,
                mapped + chain
            ));
        }
        if let Some(why) = type_problem(inode, &exts) {
            self.problem(format!("inode {ino}: {why}"));
        } else if self.symlink_has_nul(inode, &exts)? {
            // iget refuses it (mount too, for the root or an orphan).
            self.problem(format!("inode {ino}: NUL byte in the symlink target"));
        }
        if !inode.is_dir() && inode.parent != 0 {
            self.problem(format!("inode {ino}: parent set on a non-directory"));
        }
        if self.report.problems.len() != before {
            self.flawed.insert(ino);
        }
        if inode.is_dir() {
            if self.report.problems.len() != before {
                self.dirs_complete = false;
            }
            self.dir_extents.insert(ino, valid);
        }
        Ok(())
    }

    /// Whether a symlink (of valid size and map) has a NUL in its target.
    fn symlink_has_nul(&mut self, inode: &Inode, exts: &[Extent]) -> io::Result<bool> {
        if let Some(target) = inode.fast_symlink() {
            return Ok(target.contains(&0));
        }
        match exts.first() {
            Some(e) if inode.file_type() == S_IFLNK && self.fs.geo.is_data(e.pblk, 1) => {
                let mut target = vec![0u8; inode.size.min(SYMLINK_MAX) as usize];
                self.fs.img.read(e.pblk * BS, &mut target)?;
                Ok(target.contains(&0))
            }
            _ => Ok(false),
        }
    }

    /// Directories from the root: records, names, targets, "..", cycles.
    fn walk_tree(&mut self) -> io::Result<()> {
        match self.inodes.get(&ROOT_INO) {
            Some(root) if root.is_dir() => {
                if root.parent != ROOT_INO {
                    self.problem(format!(
                        "root directory: parent is inode {}, expected {ROOT_INO}",
                        root.parent
                    ));
                }
            }
            _ => {
                self.problem("root inode is not an in-use directory".into());
                self.dirs_complete = false;
                return Ok(());
            }
        }
        self.parent_of.insert(ROOT_INO, ROOT_INO);
        let mut queue = VecDeque::from([ROOT_INO]);
        while let Some(dir) = queue.pop_front() {
            let mut names = HashSet::new();
            for e in self.dir_extents.get(&dir).cloned().unwrap_or_default() {
                for k in 0..u64::from(e.len) {
                    let block = *self.fs.img.block(e.pblk + k)?;
                    let mut recs = dir_records(&block);
                    while let Some(rec) = recs.next() {
                        match rec {
                            Ok(r) if r.ino != 0 => self.entry(dir, &r, &mut names, &mut queue),
                            Ok(_) => {}
                            Err(err) => {
                                self.problem(format!(
                                    "directory {dir}: block {} offset {}: {}",
                                    u64::from(e.lblk) + k,
                                    recs.offset(),
                                    err.describe()
                                ));
                                self.dirs_complete = false;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// One entry of reachable directory `dir`.
    fn entry(
        &mut self,
        dir: u64,
        rec: &DirRecord,
        names: &mut HashSet<Vec<u8>>,
        queue: &mut VecDeque<u64>,
    ) {
        let at = format!(
            "directory {dir}: entry '{}'",
            String::from_utf8_lossy(rec.name)
        );
        if !names.insert(rec.name.to_vec()) {
            self.problem(format!("{at}: duplicate name"));
        }
        let target = rec.ino;
        let Some(inode) = self.inodes.get(&target).copied() else {
            let why = if self.damaged.contains(&target) {
                "damaged"
            } else if target > self.fs.geo.inodes {
                "out-of-range"
            } else {
                "free"
            };
            self.problem(format!("{at}: refers to {why} inode {target}"));
            return;
        };
        *self.refs.entry(target).or_default() += 1;
        if rec.file_type != dt_from_mode(inode.mode) {
            self.problem(format!(
                "{at}: file type {} but inode {target} is of type {}",
                rec.file_type,
                dt_from_mode(inode.mode)
            ));
        }
        if !inode.is_dir() {
            return;
        }
        *self.subdirs.entry(dir).or_default() += 1;
        if let Some(&first) = self.parent_of.get(&target) {
            if self.is_ancestor(target, dir) {
                self.problem(format!("{at}: directory {target} contains itself (cycle)"));
            } else {
                self.problem(format!(
                    "{at}: directory {target} is already reachable from directory {first}"
                ));
            }
        } else {
            self.parent_of.insert(target, dir);
            queue.push_back(target);
            if inode.parent != dir {
                self.problem(format!(
                    "directory {target}: parent is inode {}, expected {dir}",
                    inode.parent
                ));
            }
        }
    }

    /// Whether reachable directory `a` is `d` or one of its ancestors.
    fn is_ancestor(&self, a: u64, mut d: u64) -> bool {
        loop {
            if d == a {
                return true;
            }
            match self.parent_of.get(&d) {
                Some(&p) if d != ROOT_INO => d = p,
                _ => return false,
            }
        }
    }

    /// The orphan list: members in list order and, if it cannot be followed
    /// to its end, why (mount refuses such a list).
    fn orphan_list(&self) -> (Vec<u64>, Option<String>) {
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        let mut ino = self.state.map_or(0, |s| s.orphan_head);
        while ino != 0 {
            let why = if !seen.insert(ino) {
                format!("cycle at inode {ino}")
            } else if self.fs.geo.inode_offset(ino).is_none() {
                format!("inode {ino} is out of range")
            } else if self.damaged.contains(&ino) {
                format!("inode {ino} is damaged")
            } else if let Some(inode) = self.inodes.get(&ino) {
                members.push(ino);
                ino = inode.orphan_next;
                continue;
            } else {
                format!("inode {ino} is not in use")
            };
            return (members, Some(why));
        }
        (members, None)
    }

    /// Why mount (or a repair) cannot finish orphan `ino`, if it cannot.
    fn unfinishable(&self, ino: u64, inode: &Inode) -> Option<&'static str> {
        let linked = self.refs.contains_key(&ino) || self.parent_of.contains_key(&ino);
        if self.lost.contains(&ino) {
            Some("has a damaged extent map or shares blocks with another inode")
        } else if inode.nlink == 0 && (linked || ino == ROOT_INO) {
            Some("is in a directory")
        } else if inode.nlink != 0 && self.flawed.contains(&ino) {
            Some("is damaged: its truncate cannot be finished")
        } else {
            None
        }
    }

    /// The orphan list.  Members mount can finish are not a problem; when
    /// repairing they are finished as mount does: nlink 0 frees the inode,
    /// nlink > 0 (a truncate in progress) frees its blocks past EOF.  The
    /// other members are taken off the list and the list is cut where it
    /// cannot be followed; the other checks handle what that leaves (an
    /// unlinked inode no longer on the list is freed by `check_links`).
    fn check_orphans(&mut self) -> io::Result<()> {
        let (members, cut) = self.orphan_list();
        if let Some(why) = cut {
            self.fixable(format!("orphan list: {why}"));
        }
        let mut pending = Vec::new();
        for &ino in &members {
            let mut inode = self.inodes[&ino];
            match self.unfinishable(ino, &inode) {
                None => pending.push((ino, inode)),
                Some(why) => {
                    if self.fixable(format!("orphan list: inode {ino} {why}")) {
                        inode.orphan_next = 0;
                        self.fs.put_inode(ino, Some(&inode))?;
                        self.inodes.insert(ino, inode);
                    }
                }
            }
        }
        if !self.repair {
            let free = pending.iter().filter(|(_, i)| i.nlink == 0).count();
            if !pending.is_empty() {
                self.report.notes.push(format!(
                    "orphan list: {free} inode(s) to free and {} truncate(s) to finish \
                     (the next mount or fsck -y does it)",
                    pending.len() - free
                ));
            }
            self.orphans = members.into_iter().collect();
            return Ok(());
        }
        for (ino, inode) in pending {
            let msg = if inode.nlink == 0 {
                let n = self.free_inode(ino, &inode)?;
                format!("orphan inode {ino}: freed, with {n} block(s)")
            } else {
                let n = self.finish_truncate(ino, inode)?;
                format!("orphan inode {ino}: truncate finished, {n} block(s) past EOF freed")
            };
            self.report.changes.push(msg);
        }
        if let Some(mut state) = self.state.filter(|s| s.orphan_head != 0) {
            state.orphan_head = 0;
            self.put_state(state)?;
        }
        Ok(())
    }

    /// Finishes the truncate of orphan `ino` (image `inode`, nlink > 0,
    /// intact, its blocks all its own) as mount does: frees its blocks at
    /// and past file block ceil(size / 4096) and the extent blocks no
    /// longer needed, and takes it off the list; returns the blocks freed.
    fn finish_truncate(&mut self, ino: u64, mut inode: Inode) -> io::Result<u64> {
        let map = self.fs.read_map(ino, &inode)?;
        let mut exts = map.extents;
        let mut runs = Vec::new();
        let eof = inode.size.div_ceil(BS);
        extents::remove(&mut exts, eof, MAX_FILE_BLOCKS, &mut |b, n| {
            runs.push((b, n));
            Ok(())
        })
        .map_err(|e| io::Error::other(format!("inode {ino}: truncating its extents: {e:?}")))?;
        let keep = chain_len(exts.len()).min(map.chain.len());
        let (kept, dropped) = map.chain.split_at(keep);
        let freed = self.free(runs.into_iter().chain(dropped.iter().map(|&b| (b, 1))))?;
        if freed > 0 {
            self.fs.put_extents(ino, &mut inode, &exts, kept)?;
        }
        inode.orphan_next = 0;
        self.fs.put_inode(ino, Some(&inode))?;
        self.inodes.insert(ino, inode);
        Ok(freed)
    }

    /// Frees inode `ino` (image `inode`, its blocks all its own) with every
    /// block it owns, as eviction does; returns the blocks freed.
    fn free_inode(&mut self, ino: u64, inode: &Inode) -> io::Result<u64> {
        let map = self.fs.read_map(ino, inode)?;
        let runs = map.extents.iter().map(|e| (e.pblk, u64::from(e.len)));
        let freed = self.free(runs.chain(map.chain.iter().map(|&b| (b, 1))))?;
        self.fs.put_inode(ino, None)?;
        self.fs.set_bit(self.fs.geo.ibitmap_start, ino - 1, false)?;
        self.inodes.remove(&ino);
        self.released(0, 1)?;
        Ok(freed)
    }

    /// Frees the runs `(first block, count)` (claimed by one inode only):
    /// clears them in the block bitmap and in the claims; returns the count.
    fn free(&mut self, runs: impl Iterator<Item = (u64, u64)>) -> io::Result<u64> {
        let mut n = 0;
        for (first, len) in runs {
            for b in first..first + len {
                bitmap_clear(&mut self.claimed, b);
                self.fs.set_bit(self.fs.geo.bbitmap_start, b, false)?;
            }
            n += len;
        }
        self.released(n, 0)?;
        Ok(n)
    }

    /// Keeps the free counts of a clean state block exact after freeing
    /// `blocks` blocks and `inodes` inodes (as the module counts frees).
    fn released(&mut self, blocks: u64, inodes: u64) -> io::Result<()> {
        match self.state.filter(|s| s.clean) {
            Some(mut s) if blocks + inodes > 0 => {
                s.free_blocks = s.free_blocks.saturating_add(blocks);
                s.free_inodes = s.free_inodes.saturating_add(inodes);
                self.put_state(s)
            }
            _ => Ok(()),
        }
    }

    /// Stores the state block.
    fn put_state(&mut self, state: StateBlock) -> io::Result<()> {
        self.state = Some(state);
        self.fs.put_state(&state)
    }

    /// Reachability and link counts of every in-use inode.
    fn check_links(&mut self) -> io::Result<()> {
        for (ino, mut inode) in self.inodes.clone() {
            let listed = self.orphans.contains(&ino);
            if inode.orphan_next != 0
                && !listed
                && self.fixable(format!(
                    "inode {ino}: orphan_next set but not on the orphan list"
                ))
            {
                inode.orphan_next = 0;
                self.fs.put_inode(ino, Some(&inode))?;
            }
            if listed && inode.nlink == 0 {
                continue;
            }
            let (reached, want) = if inode.is_dir() {
                let subdirs = self.subdirs.get(&ino).copied().unwrap_or(0);
                (self.parent_of.contains_key(&ino), subdirs.saturating_add(2))
            } else {
                let refs = self.refs.get(&ino).copied();
                (refs.is_some(), refs.unwrap_or(0))
            };
            if !reached && inode.nlink == 0 {
                // An orphan lost from the list: freed, as mount frees orphans.
                let msg = format!(
                    "inode {ino}: lost orphan (no links, in no directory, not on the orphan list)"
                );
                let safe = self.dirs_complete && !self.lost.contains(&ino);
                if self.fixable_if(safe, msg) {
                    self.free_inode(ino, &inode)?;
                }
            } else if !reached {
                self.problem(format!(
                    "inode {ino}: unreachable (in no directory, not on the orphan list)"
                ));
            } else if inode.nlink != want {
                let msg = format!("inode {ino}: link count {}, expected {want}", inode.nlink);
                if self.fixable_if(self.dirs_complete, msg) {
                    inode.nlink = want;
                    self.fs.put_inode(ino, Some(&inode))?;
                }
            }
        }
        Ok(())
    }

    /// The block bitmap against the blocks claimed.
    fn check_block_bitmap(&mut self) -> io::Result<()> {
        let geo = self.fs.geo;
        let disk = self.fs.block_bitmap()?;
        let n = geo.bbitmap_blocks * BITS_PER_BLOCK;
        let missing = runs(n, |b| set(&self.claimed, b) && !set(&disk, b));
        let leaked = runs(n, |b| !set(&self.claimed, b) && set(&disk, b));
        let mut want = disk.clone();
        if self.report_runs(&missing, "in use but marked free", true) {
            for b in missing.into_iter().flatten() {
                bitmap_set(&mut want, b);
            }
        }
        if self.report_runs(
            &leaked,
            "marked in use but owned by nothing",
            self.owners_known,
        ) {
            for b in leaked.into_iter().flatten() {
                bitmap_clear(&mut want, b);
            }
        }
        if want != disk {
            self.fs.img.write(geo.bbitmap_start * BS, &want)?;
        }
        Ok(())
    }

    /// Reports bitmap ranges; returns whether to repair them.
    fn report_runs(&mut self, runs: &[Range<u64>], what: &str, safe: bool) -> bool {
        let mut repair = false;
        for r in runs.iter().take(MAX_RANGES) {
            repair = self.fixable_if(safe, format!("block bitmap: {} {what}", blocks(r)));
        }
        if runs.len() > MAX_RANGES {
            let more = runs.len() - MAX_RANGES;
            repair = self.fixable_if(safe, format!("block bitmap: {more} more ranges {what}"));
        }
        repair
    }

    /// The clean-unmount summary of the state block.
    fn check_summary(&mut self) -> io::Result<()> {
        let Some(mut state) = self.state.filter(|s| s.clean) else {
            return Ok(());
        };
        let geo = self.fs.geo;
        let used: u64 = self.claimed.iter().map(|b| u64::from(b.count_ones())).sum();
        let slots = self.inodes.len() + self.damaged.len();
        let free = (geo.blocks - used, geo.inodes - slots as u64);
        if (state.free_blocks, state.free_inodes) != free {
            let msg = format!(
                "state block: {} free blocks and {} free inodes recorded, {} and {} counted",
                state.free_blocks, state.free_inodes, free.0, free.1
            );
            if self.fixable_if(self.owners_known, msg) {
                (state.free_blocks, state.free_inodes) = free;
                self.put_state(state)?;
            }
        }
        Ok(())
    }
}

/// What is wrong with the size and extents of `inode` for its file type.
fn type_problem(inode: &Inode, exts: &[Extent]) -> Option<String> {
    let size = inode.size;
    let sum: u64 = exts.iter().map(|e| u64::from(e.len)).sum();
    let none = inode.nextents == 0 && inode.extent_block == 0;
    match inode.file_type() {
        S_IFDIR => {
            let n = size / BS;
            let last = exts.last().map_or(0, Extent::end);
            (size % BS != 0 || sum != n || last != n || exts.iter().any(|e| e.unwritten))
                .then(|| format!("directory size {size} does not match its extents"))
        }
        // Written extents past EOF are legal: a crash between a write's
        // block allocation and its size update leaves them, and the module
        // frees them before the size grows over them (fs/data.rs).
        S_IFREG => (size > MAX_FILE_SIZE).then(|| format!("size {size} too large")),
        S_IFLNK if size == 0 || size > SYMLINK_MAX => Some(format!("symlink size {size}")),
        S_IFLNK if inode.is_fast_symlink() => {
            let tail = inode.inline.get(size as usize..).unwrap_or(&[]);
            (!none || tail.iter().any(|&b| b != 0))
                .then(|| "fast symlink with extents or bytes after its target".into())
        }
        S_IFLNK => {
            let one = matches!(exts, [e] if e.lblk == 0 && e.len == 1 && !e.unwritten);
            (!one || inode.nextents != 1).then(|| "symlink target is not one written block".into())
        }
        _ => (size != 0 || !none).then(|| "special file with a size or extents".into()),
    }
}
