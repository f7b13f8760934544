// SPDX-License-Identifier: GPL-2.0
//! The consistency check behind fsck.daxfs: every invariant listed under
//! "What fsck checks" in docs/format-v2.md, and the repairs that are safe.
//!
//! The check works on an [`Image`]: repairs (and a pending journal
//! transaction, which is replayed in memory even when not repairing, so that
//! the rest of the check sees what mount will see) change the cached blocks
//! only; the caller flushes them when it repairs.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::ops::Range;

use crate::image::{Fs, Image};
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
    /// Remarks that are not problems.
    pub notes: Vec<String>,
    /// The superblock the check trusted (`None`: no valid superblock).
    pub sb: Option<SuperBlock>,
}

impl Report {
    /// Whether some problem was repaired in the image.
    pub fn repaired(&self) -> bool {
        self.problems.iter().any(|p| p.fixed)
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
    /// Inodes on the orphan list.
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
        self.check_orphans();
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
        let state = match self.fs.state()? {
            Ok(s) => s,
            Err(e) => {
                self.problem(format!("state block: {}", e.describe()));
                return Ok(());
            }
        };
        let geo = self.fs.geo;
        let journal = self.fs.read_area(geo.journal_start, geo.journal_blocks)?;
        match state.pending_transaction(&journal, &geo) {
            Ok(None) => {}
            Ok(Some(tx)) => {
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
            Err(e) => self.problem(format!("state block after replay: {}", e.describe())),
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
    /// those somebody already owns.
    fn claim(&mut self, ino: u64, pblk: u64, len: u64, what: &str) -> bool {
        let taken: Vec<u64> = (pblk..pblk + len)
            .filter(|&b| bitmap_set(&mut self.claimed, b) == Some(true))
            .collect();
        if let Some(&first) = taken.first() {
            let owner = self
                .runs
                .range(..=first)
                .rev()
                .find(|(_, &(end, _))| end > first)
                .map_or(0, |(_, &(_, owner))| owner);
            self.problem(format!(
                "{what}: {} block(s) from {first} already owned by inode {owner}",
                taken.len()
            ));
        }
        self.runs.insert(pblk, (pblk + len, ino));
        taken.is_empty()
    }

    /// The extents of `ino` (inline, then the chain, whose blocks it claims)
    /// and the number of extent blocks.
    fn extents(&mut self, ino: u64, inode: &Inode) -> io::Result<(Vec<Extent>, u64)> {
        let mut exts = Vec::new();
        let mut bad = Vec::new();
        for i in 0..inode.inline_count() {
            match inode.inline_extent(i) {
                Some(Ok(e)) => exts.push(e),
                Some(Err(e)) => {
                    bad.push(format!("inode {ino}: inline extent {i}: {}", e.describe()))
                }
                None => {}
            }
        }
        let (mut next, mut found, mut chain) = (inode.extent_block, 0, 0);
        while next != 0 {
            let at = format!("inode {ino}: extent block {next}");
            if !self.fs.geo.is_data(next, 1) {
                bad.push(format!("{at}: outside the data area"));
                break;
            }
            if !self.claim(ino, next, 1, &at) {
                self.owners_known = false;
                break;
            }
            chain += 1;
            let block = *self.fs.img.block(next)?;
            let header = match ExtentBlockHeader::decode(&block) {
                Ok(h) => h,
                Err(e) => {
                    bad.push(format!("{at}: {}", e.describe()));
                    break;
                }
            };
            if header.owner != ino {
                self.problem(format!("{at}: owner is inode {}", header.owner));
            }
            for i in 0..header.count as usize {
                match block_extent(&block, i) {
                    Some(Ok(e)) => exts.push(e),
                    Some(Err(e)) => bad.push(format!("{at}: extent {i}: {}", e.describe())),
                    None => {}
                }
            }
            found += header.count as usize;
            next = header.next;
        }
        if found != (inode.nextents as usize).saturating_sub(INLINE_EXTENTS) {
            self.problem(format!(
                "inode {ino}: {} extents recorded, {} found",
                inode.nextents,
                inode.inline_count() + found
            ));
        }
        if !bad.is_empty() {
            self.owners_known = false;
            bad.into_iter().for_each(|m| self.problem(m));
        }
        Ok((exts, chain))
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
        }
        if !inode.is_dir() && inode.parent != 0 {
            self.problem(format!("inode {ino}: parent set on a non-directory"));
        }
        if inode.is_dir() {
            if self.report.problems.len() != before {
                self.dirs_complete = false;
            }
            self.dir_extents.insert(ino, valid);
        }
        Ok(())
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

    fn check_orphans(&mut self) {
        let Some(state) = self.state else { return };
        let mut ino = state.orphan_head;
        while ino != 0 {
            if !self.orphans.insert(ino) {
                self.problem(format!("orphan list: cycle at inode {ino}"));
                return;
            }
            let Some(inode) = self.inodes.get(&ino).copied() else {
                self.problem(format!("orphan list: inode {ino} is not in use"));
                return;
            };
            if inode.nlink != 0 {
                self.problem(format!(
                    "orphan list: inode {ino} has {} links",
                    inode.nlink
                ));
            }
            if self.refs.contains_key(&ino) || self.parent_of.contains_key(&ino) {
                self.problem(format!("orphan list: inode {ino} is in a directory"));
            }
            ino = inode.orphan_next;
        }
    }

    /// Reachability and link counts of every in-use inode.
    fn check_links(&mut self) -> io::Result<()> {
        for (ino, mut inode) in self.inodes.clone() {
            if self.orphans.contains(&ino) {
                continue;
            }
            if inode.orphan_next != 0 {
                self.problem(format!(
                    "inode {ino}: orphan_next set but not on the orphan list"
                ));
            }
            let (reached, want) = if inode.is_dir() {
                let subdirs = self.subdirs.get(&ino).copied().unwrap_or(0);
                (self.parent_of.contains_key(&ino), subdirs.saturating_add(2))
            } else {
                let refs = self.refs.get(&ino).copied();
                (refs.is_some(), refs.unwrap_or(0))
            };
            if !reached {
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
                self.fs.put_state(&state)?;
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
