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
//!
//! Bad blocks (media errors: the device's badblocks list, and blocks whose
//! read fails with `EIO`, see [`Image`]) read as zeroes, so the checks
//! report the damage that follows; inode slots that cannot be read are
//! damaged, not free.  Each range of bad blocks is a problem of its own
//! (a note if it belongs to nothing: free, leaked, padding, past the end),
//! saying what it holds and what is lost (the owners of data blocks come
//! from the extent maps the check walks anyway).  A repair that has to
//! write a bad block is not made at all: nothing is written.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::ops::Range;

use crate::extents;
use crate::image::{chain_len, Fs, Image};
use crate::*;

mod lostfound;
mod media;
mod salvage;
mod superblock;

use superblock::{fits, plausible, put_sbs, rebuild_sb, root_fits};

/// How much a check may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Change nothing (`fsck -n`).
    Check,
    /// The repairs that lose nothing (`fsck -p`): replaying the journal,
    /// finishing the orphan list, the backup superblock, bitmaps, free
    /// counts, link counts, `orphan_next` fields.
    Preen,
    /// Every repair (`fsck -y`): besides those, what clears or drops
    /// damaged metadata (inodes, extents, directory records, the journal)
    /// and reconnects what lost its name into `/lost+found`.
    Yes,
}

/// The longest extent (in blocks) fsck copies when two inodes own its
/// blocks; a longer one is dropped from the second owner.
const MAX_CLONE: u64 = 4096;

/// Passes [`repair`] makes at most: each one repairs what the damage found
/// by the one before left (an inode cleared leaves entries naming it, a
/// directory entry removed leaves an inode to reconnect, ...).
pub const MAX_PASSES: usize = 10;

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

/// Checks the filesystem on `img`, repairing in memory everything it can
/// when `repair` is set (one pass: see [`repair`]); gives the image back
/// for flushing.
pub fn check(img: Image, repair: bool) -> io::Result<(Report, Image)> {
    check_at(img, if repair { Level::Yes } else { Level::Check })
}

/// Checks and repairs at `level` until a pass repairs nothing (at most
/// [`MAX_PASSES`]); the reports of every pass, in order.  The last report
/// lists what is left.
pub fn repair(mut img: Image, level: Level) -> io::Result<(Vec<Report>, Image)> {
    let mut reports = Vec::new();
    for _ in 0..MAX_PASSES {
        let (report, next) = check_at(img, level)?;
        img = next;
        let again = level > Level::Check && report.repaired() && img.dirty_bad().is_empty();
        reports.push(report);
        if !again {
            break;
        }
    }
    if !img.dirty_bad().is_empty() {
        // The last pass refused to write a bad block: nothing is written,
        // so nothing the passes before it did counts either.
        for r in &mut reports {
            for p in &mut r.problems {
                p.fixed = false;
            }
            let changes = std::mem::take(&mut r.changes);
            r.notes.extend(changes.into_iter().map(|c| format!("not done: {c}")));
        }
    }
    Ok((reports, img))
}

/// One pass of the check at `level`.
pub fn check_at(mut img: Image, mut level: Level) -> io::Result<(Report, Image)> {
    let mut report = Report::default();
    let primary = img.read_sb(SB_PRIMARY_OFFSET)?;
    let backup = img.read_sb(SB_BACKUP_OFFSET)?;
    let dev_blocks = img.device().size() / BS;
    let mut trusted = match (&primary, &backup) {
        (Ok(p), Ok(b)) if p == b => Some((*p, None)),
        (Ok(p), Ok(b)) => {
            // Both valid, different: the copy whose layout fits what is on
            // the device (the primary when the layouts are the same, or
            // both or neither fit: see `guess` below).
            if !plausible(&mut img, &p.geometry())? && plausible(&mut img, &b.geometry())? {
                Some((*b, Some(SB_PRIMARY_OFFSET)))
            } else {
                Some((*p, Some(SB_BACKUP_OFFSET)))
            }
        }
        (Ok(p), _) => Some((*p, Some(SB_BACKUP_OFFSET))),
        (Err(_), Ok(b)) => Some((*b, Some(SB_PRIMARY_OFFSET))),
        (Err(_), Err(_)) => None,
    };
    let differ = primary.is_ok() && backup.is_ok() && trusted.is_some_and(|(_, s)| s.is_some());
    // Copies that differ in their layout: which is right is a guess when
    // both fit the metadata (one may only cover a prefix of it) or neither
    // does; fsck makes none, and repairs nothing under a layout that may
    // be wrong.  Otherwise it is -y's to choose (at -p nothing is repaired
    // either).  Copies that differ only in label, UUID or time: the
    // primary is copied over the backup.
    let layouts = match (&primary, &backup) {
        (Ok(p), Ok(b)) if p.geometry() != b.geometry() => {
            Some((plausible(&mut img, &p.geometry())?, plausible(&mut img, &b.geometry())?))
        }
        _ => None,
    };
    let guess = matches!(layouts, Some((a, b)) if a == b);
    if guess || (layouts.is_some() && level == Level::Preen) {
        level = Level::Check;
    }
    let repair = level > Level::Check;
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
    // A filesystem larger than its device: a wrong partition is as likely
    // as a wrong field; e2fsck does not guess either.
    let mut raw = [0u8; SB_SIZE];
    img.read(SB_PRIMARY_OFFSET, &mut raw)?;
    let too_big = match SuperBlock::decode(&raw) {
        Ok(sb) if trusted.is_none() && sb.blocks > dev_blocks => Some(sb.blocks),
        _ => None,
    };
    if let Some(blocks) = too_big {
        report.problems.push(Problem {
            msg: format!(
                "the filesystem has {blocks} blocks, the device {dev_blocks}: the device (or \
                 partition) is too small or the superblocks are wrong; fsck does not guess which"
            ),
            fixed: false,
        });
    } else if trusted.is_none() && level == Level::Yes {
        if let Some(sb) = rebuild_sb(&mut img)? {
            for p in &mut report.problems {
                p.fixed = true;
            }
            report.problems.push(Problem {
                msg: format!(
                    "superblocks: rebuilt from their layout fields ({} blocks, {} inodes, \
                     {} journal blocks), checked against the state block, bitmaps and root",
                    sb.blocks, sb.inodes, sb.journal_blocks
                ),
                fixed: true,
            });
            put_sbs(&mut img, &sb)?;
            trusted = Some((sb, None));
        }
    }
    // A valid superblock whose layout fits nothing on the device: neither
    // the block bitmap and state block nor the root are where it says (a
    // checksum is no proof: a field changed and the areas recomputed).
    // One of them alone can be damage the rest of the check repairs.
    if let Some((sb, _)) = trusted.filter(|_| img.bad_blocks().is_empty()) {
        let geo = sb.geometry();
        if !fits(&mut img, &geo)? && !root_fits(&mut img, &geo)? {
            let msg = "superblock: neither the bitmaps and state block nor the root are where its layout says".to_string();
            match rebuild_sb(&mut img)?.filter(|_| level == Level::Yes) {
                Some(new) if new != sb => {
                    report.problems.push(Problem {
                        msg: format!(
                            "{msg}; rebuilt ({} blocks, {} inodes, {} journal blocks)",
                            new.blocks, new.inodes, new.journal_blocks
                        ),
                        fixed: true,
                    });
                    put_sbs(&mut img, &new)?;
                    trusted = Some((new, None));
                }
                _ => report.problems.push(Problem { msg, fixed: false }),
            }
        }
    }
    let Some((sb, _)) = trusted else {
        for r in img.bad_blocks() {
            report.problems.push(Problem {
                msg: format!(
                    "bad {}: no valid superblock, what it holds is unknown",
                    blocks(&r)
                ),
                fixed: false,
            });
        }
        return Ok((report, img));
    };
    if differ {
        let which = if stale == Some(SB_BACKUP_OFFSET) { "primary" } else { "backup" };
        let msg = match layouts {
            Some(_) if guess => "superblocks differ in their layout and nothing tells which is right \
                 (both or neither fit the metadata); fsck does not guess which"
                .to_string(),
            Some(_) => format!("superblocks differ in their layout (the {which} fits the metadata)"),
            None => "superblocks differ (not in their layout)".to_string(),
        };
        report.problems.push(Problem {
            msg: if repair { format!("{msg}; copied over the other") } else { msg },
            fixed: repair,
        });
    }
    report.sb = Some(sb);
    let mut fs = Fs::new(img, sb);
    fs.salvage = level == Level::Yes;
    let mut c = Checker::new(fs, level, report);
    if let (Some(offset), true) = (stale, repair) {
        if layouts.is_none() || level == Level::Yes {
            let mut buf = [0u8; SB_SIZE];
            sb.encode(&mut buf);
            c.fs.img.write(offset, &buf)?;
        }
    }
    c.run()?;
    Ok((c.report, c.fs.img))
}

struct Checker {
    fs: Fs,
    /// Any repair (`level > Check`).
    repair: bool,
    level: Level,
    report: Report,
    /// The state block, after any replay.
    state: Option<StateBlock>,
    /// Decodable in-use inodes, the fields the walk needs (the whole
    /// inode is read again when it is needed: [`Checker::full`]).
    inodes: BTreeMap<u64, Slim>,
    /// Nonzero slots that do not decode.
    damaged: HashSet<u64>,
    /// Inodes cleared by this pass (entries naming them are removed).
    cleared: HashSet<u64>,
    /// What `-y` lost, by inode: said at the end with the inode's path.
    losses: Vec<(u64, String)>,
    /// Free slots marked in use in the inode bitmap.
    stale_ibits: Vec<u64>,
    /// Extents whose blocks another inode owns (`-y`), to copy.
    dups: Vec<(u64, Extent, String)>,
    /// Some entry names an inode that is not in use and stays (below
    /// `-y`): its slot may have been lost, so its blocks' owner is unknown.
    dangling: bool,
    /// Inodes with a problem of their own (extents, sizes, counts, type).
    flawed: HashSet<u64>,
    /// Inodes whose blocks are not all known to be theirs alone: part of
    /// their extent map is unreadable, or another inode claims a block of
    /// theirs.  Nothing of theirs may be freed.
    lost: HashSet<u64>,
    /// The block bitmap as the inodes' extents and extent blocks say.
    claimed: Vec<u8>,
    /// Claimed runs by first block, to name the owner of a block.
    runs: BTreeMap<u64, Run>,
    /// The longest claimed run.
    longest: u64,
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
    /// The pending journal transaction (sequence number, bytes).
    journal_tx: Option<(u64, u64)>,
    /// Inodes whose path the bad block report needs, besides directories.
    wanted: HashSet<u64>,
    /// Reachable directories and wanted inodes -> (directory, name) of the
    /// first entry naming them.
    names: HashMap<u64, (u64, Vec<u8>)>,
}

/// What the check keeps of each in-use inode (32 bytes, not 256: memory
/// grows with the files, docs/fsck.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slim {
    mode: u32,
    nlink: u32,
    parent: u64,
    orphan_next: u64,
    size: u64,
}

impl Slim {
    fn of(i: &Inode) -> Self {
        Slim {
            mode: i.mode,
            nlink: i.nlink,
            parent: i.parent,
            orphan_next: i.orphan_next,
            size: i.size,
        }
    }

    fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }
}

/// A change to one directory record (`-y`).
#[derive(Clone, Copy, Debug)]
enum Edit {
    /// Make it an unused record.
    Remove,
    /// Set its file type.
    Retype(u8),
}

/// The time now, for inodes fsck makes.
fn now() -> Time {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Time {
        sec: i64::try_from(d.as_secs()).unwrap_or(0),
        nsec: d.subsec_nanos(),
    }
}

/// A run of blocks claimed by an inode.
#[derive(Clone, Copy, Debug)]
struct Run {
    end: u64,
    ino: u64,
    part: Part,
}

/// What a claimed run is to its inode.
#[derive(Clone, Copy, Debug)]
enum Part {
    /// The blocks of its extent at file block `lblk`.
    Extent { lblk: u64, unwritten: bool },
    /// Extent block `index` of its chain.
    ExtentBlock { index: u64 },
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
    fn new(fs: Fs, level: Level, report: Report) -> Self {
        Checker {
            fs,
            repair: level > Level::Check,
            level,
            report,
            state: None,
            inodes: BTreeMap::new(),
            damaged: HashSet::new(),
            cleared: HashSet::new(),
            losses: Vec::new(),
            stale_ibits: Vec::new(),
            dups: Vec::new(),
            dangling: false,
            flawed: HashSet::new(),
            lost: HashSet::new(),
            claimed: Vec::new(),
            runs: BTreeMap::new(),
            longest: 0,
            dir_extents: HashMap::new(),
            owners_known: true,
            dirs_complete: true,
            parent_of: HashMap::new(),
            refs: HashMap::new(),
            subdirs: HashMap::new(),
            orphans: HashSet::new(),
            journal_tx: None,
            wanted: HashSet::new(),
            names: HashMap::new(),
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
        let inos: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in inos {
            let inode = self.full(ino)?;
            self.check_inode(ino, &inode)?;
        }
        self.clone_dups()?;
        self.wanted = self.bad_owners();
        self.wanted.extend(self.losses.iter().map(|&(ino, _)| ino));
        self.walk_tree()?;
        self.check_orphans()?;
        self.clear_stale_ibits()?;
        self.check_links()?;
        self.check_block_bitmap()?;
        self.check_summary()?;
        self.report_bad_blocks()?;
        for (ino, what) in std::mem::take(&mut self.losses) {
            let who = self.who(ino);
            self.report.notes.push(format!("lost: {who}: {what}"));
        }
        self.refuse_bad_writes();
        Ok(())
    }

    /// In-use inode `ino` (in `inodes`: it decodes), whole.
    fn full(&mut self, ino: u64) -> io::Result<Inode> {
        self.fs.inode(ino)?.map_err(|e| {
            io::Error::other(format!("inode {ino} changed under the check: {}", e.describe()))
        })
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

    /// Records a problem whose repair loses something (an inode, a name,
    /// extents, a transaction): repaired at `-y` only; returns whether to
    /// repair it.
    fn mend(&mut self, msg: String) -> bool {
        let fixed = self.level == Level::Yes;
        self.report.problems.push(Problem { msg, fixed });
        fixed
    }

    /// [`Checker::mend`], saying what the repair does (`action`) when it
    /// is made.
    fn mend_to(&mut self, msg: String, action: &str) -> bool {
        if self.level == Level::Yes {
            self.mend(format!("{msg}; {action}"))
        } else {
            self.mend(msg)
        }
    }

    /// Whether `-y` repairs are made.
    fn mending(&self) -> bool {
        self.level == Level::Yes
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
                let msg = format!("state block: {}", e.describe());
                if self.mend_to(msg, "rebuilt (journal and orphan list dropped)") {
                    // Not clean: nothing vouches for free counts.
                    let mut s = StateBlock::new(0, 0);
                    s.clean = false;
                    self.put_state(s)?;
                }
                return Ok(());
            }
        };
        let geo = self.fs.geo;
        if state.committed_seq != state.applied_seq {
            self.journal_tx = Some((state.committed_seq, state.tx_len.into()));
        }
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
            Err(e) => {
                let msg = format!(
                    "journal: {} (committed {}, applied {})",
                    e.describe(),
                    state.committed_seq,
                    state.applied_seq
                );
                if self.mend_to(msg, "transaction discarded") {
                    let applied = STATE_BLOCK * BS + STATE_APPLIED as u64;
                    self.fs.img.write(applied, &state.committed_seq.to_le_bytes())?;
                    self.journal_tx = None;
                }
            }
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
            Err(e) => {
                let msg = format!(
                    "state block{}: {}",
                    if replayed { " after replay" } else { "" },
                    e.describe()
                );
                if self.mend_to(msg, "rebuilt (orphan list dropped)") {
                    let mut s = StateBlock::new(0, 0);
                    s.clean = false;
                    s.committed_seq = state.committed_seq;
                    s.applied_seq = state.committed_seq;
                    (s.tx_len, s.tx_crc) = (state.tx_len, state.tx_crc);
                    self.put_state(s)?;
                }
            }
        }
        Ok(())
    }

    /// Every inode slot against the inode bitmap.
    fn scan_inodes(&mut self) -> io::Result<()> {
        let geo = self.fs.geo;
        let disk = self.fs.inode_bitmap()?;
        let mut want = disk.clone();
        const AHEAD: u64 = 256 * INODES_PER_BLOCK;
        for ino in 1..=geo.inodes {
            if ino % AHEAD == 1 {
                self.fs.load_inodes(ino, AHEAD)?;
            }
            let slot = self.fs.inode_slot(ino)?;
            let marked = set(&disk, ino - 1);
            // A bad bitmap block is reported as one, not bit by bit.
            let bit_lost = self
                .fs
                .img
                .is_bad(geo.ibitmap_start + (ino - 1) / BITS_PER_BLOCK);
            if self.slot_unreadable(ino) {
                // It reads as zeroes: if it was in use, it is lost.
                if marked || bit_lost {
                    self.damaged.insert(ino);
                    self.owners_known = false;
                }
                continue;
            }
            if Inode::is_free_slot(&slot) {
                if marked {
                    // Judged after the walk (`clear_stale_ibits`).
                    self.stale_ibits.push(ino);
                }
                continue;
            }
            match Inode::decode(&slot) {
                Ok(inode) => {
                    if !marked
                        && !bit_lost
                        && self.fixable(format!(
                            "inode {ino}: in use but not marked in the inode bitmap"
                        ))
                    {
                        bitmap_set(&mut want, ino - 1);
                    }
                    self.inodes.insert(ino, Slim::of(&inode));
                }
                Err(e) => {
                    let msg = format!("inode {ino}: {}", e.describe());
                    match Inode::decode_salvaged(&slot) {
                        Ok(inode) if self.mending() => {
                            // Each field makes sense on its own; the other
                            // checks judge the whole.
                            self.mend(format!("{msg}; its fields are valid, kept"));
                            self.fs.put_inode(ino, Some(&inode))?;
                            bitmap_set(&mut want, ino - 1);
                            self.inodes.insert(ino, Slim::of(&inode));
                        }
                        _ if self.mending() => {
                            // What it owned is owned by nothing now: the
                            // next pass frees it.
                            self.mend(format!("{msg}; cleared"));
                            self.losses.push((ino, "cleared (its slot does not decode)".into()));
                            self.fs.put_inode(ino, None)?;
                            bitmap_clear(&mut want, ino - 1);
                            self.owners_known = false;
                            self.cleared.insert(ino);
                        }
                        _ => {
                            self.mend(msg);
                            self.damaged.insert(ino);
                            self.owners_known = false;
                        }
                    }
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

    /// Whether the slot of inode `ino` is in a bad block.
    fn slot_unreadable(&self, ino: u64) -> bool {
        let at = self.fs.geo.inode_offset(ino);
        at.is_some_and(|offset| self.fs.img.is_bad(offset / BS))
    }

    /// Marks `len` blocks from `pblk` as owned by `ino` (as its `part`);
    /// reports (as `what`) those somebody already owns, and then marks both
    /// owners lost.
    fn claim(&mut self, ino: u64, pblk: u64, len: u64, part: Part, what: &str) -> bool {
        let taken: Vec<u64> = (pblk..pblk + len)
            .filter(|&b| bitmap_set(&mut self.claimed, b) == Some(true))
            .collect();
        let owners = self.owners(&taken);
        let end = pblk + len;
        self.runs.insert(pblk, Run { end, ino, part });
        self.longest = self.longest.max(len);
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
            let (end, owner) = self.run_at(b).map_or((b + 1, 0), |(_, r)| (r.end, r.ino));
            out.push(owner);
            upto = end;
        }
        out
    }

    /// The first block and the run of the last claim covering block `b`.
    fn run_at(&self, b: u64) -> Option<(u64, Run)> {
        let from = b.saturating_sub(self.longest);
        let mut runs = self.runs.range(from..=b).rev();
        runs.find(|(_, r)| r.end > b).map(|(&start, &r)| (start, r))
    }

    /// Whether any of `len` blocks from `pblk` is claimed already; the
    /// first such block and its owner (0: the metadata areas).
    fn taken(&self, pblk: u64, len: u64) -> Option<(u64, u64)> {
        let b = (pblk..pblk.saturating_add(len)).find(|&b| set(&self.claimed, b))?;
        Some((b, self.owners(&[b]).first().copied().unwrap_or(0)))
    }

    /// Takes back the claim of `len` blocks from `pblk` (a run claimed by
    /// one inode, which no longer maps them).
    /// Nothing happens unless `ino` claimed exactly that run: a run it
    /// did not claim (a block another inode owns) stays the other's.
    fn unclaim(&mut self, ino: u64, pblk: u64, len: u64) {
        self.unclaim_as(ino, pblk, len, None);
    }

    /// Takes back the claim of extent `e` of `ino` (not a run it claimed
    /// for another extent mapping the same blocks).
    fn unclaim_ext(&mut self, ino: u64, e: &Extent) {
        self.unclaim_as(ino, e.pblk, e.len.into(), Some(e.lblk.into()));
    }

    pub(super) fn unclaim_as(&mut self, ino: u64, pblk: u64, len: u64, lblk: Option<u64>) {
        let end = pblk.saturating_add(len);
        let ours = |r: &Run| {
            r.ino == ino
                && r.end == end
                && match (r.part, lblk) {
                    (Part::Extent { lblk: l, .. }, Some(want)) => l == want,
                    (Part::ExtentBlock { .. }, None) => true,
                    _ => false,
                }
        };
        if !self.runs.get(&pblk).is_some_and(ours) {
            return;
        }
        for b in pblk..end {
            bitmap_clear(&mut self.claimed, b);
        }
        self.runs.remove(&pblk);
    }

    /// One in-use inode: extents, block ownership, block count, size and
    /// type rules.  At `-y` what breaks them is dropped (extents out of
    /// order, out of range or owned already, the chain past a damaged
    /// block) and the map, counts and sizes are rewritten; an inode that
    /// cannot be a valid one of its type is cleared.
    fn check_inode(&mut self, ino: u64, inode: &Inode) -> io::Result<()> {
        let before = self.report.problems.len();
        let map = self.fs.read_map(ino, inode)?;
        // A bad block where the chain stops is still the chain's; what it
        // held is lost, and the media-error rules keep such maps as they are.
        let bad = map.undecoded.filter(|&b| self.fs.img.is_bad(b));
        let mend = self.mending() && bad.is_none();
        let mut rewrite = false;
        for b in &map.resealed {
            let msg = format!("inode {ino}: extent block {b}: extent block checksum mismatch");
            rewrite |= self.mend_if(mend, msg, "its header and extents are valid, kept");
        }
        let mut chain = Vec::new();
        for (index, &b) in map.chain.iter().chain(&bad).enumerate() {
            let what = format!("inode {ino}: extent block {b}");
            if let (true, Some((first, owner))) = (mend, self.taken(b, 1)) {
                self.mend(format!(
                    "{what}: 1 block(s) from {first} already owned by inode {owner}; \
                     left out of the chain"
                ));
                rewrite = true;
                continue;
            }
            let part = Part::ExtentBlock {
                index: index as u64,
            };
            if !self.claim(ino, b, 1, part, &what) {
                self.owners_known = false;
            }
            if Some(b) != bad {
                chain.push(b);
            }
        }
        if map.recorded != u64::from(inode.nextents) {
            let msg = format!(
                "inode {ino}: {} extents recorded, {} found",
                inode.nextents, map.recorded
            );
            rewrite |= self.mend_if(mend, msg, "map rewritten");
        }
        for m in &map.damage {
            if self.mend_if(mend, format!("inode {ino}: {m}"), "the map ends before it") {
                self.losses.push((ino, format!("what its map held past the damage ({m})")));
                rewrite = true;
            } else {
                self.owners_known = false;
                self.lost.insert(ino);
            }
        }
        let geo = self.fs.geo;
        let (mut end, mut mapped, mut valid) = (0, 0, Vec::new());
        for (i, e) in map.extents.iter().enumerate() {
            let at = format!(
                "inode {ino}: extent {}+{} at block {}",
                e.lblk, e.len, e.pblk
            );
            if i > 0 && u64::from(e.lblk) < end {
                let msg = format!("{at}: out of order or overlapping");
                if self.mend_if(mend, msg, "dropped") {
                    self.losses.push((ino, format!("file blocks {}..{} (extent dropped)", e.lblk, e.end())));
                    rewrite = true;
                    continue;
                }
            }
            if !geo.is_data(e.pblk, e.len.into()) {
                let why = if e.pblk < geo.data_start {
                    "overlaps the metadata areas"
                } else {
                    "past the end of the filesystem"
                };
                if self.mend_if(mend, format!("{at}: {why}"), "dropped") {
                    self.losses.push((ino, format!("file blocks {}..{} (extent dropped)", e.lblk, e.end())));
                    rewrite = true;
                } else {
                    self.owners_known = false;
                    self.lost.insert(ino);
                }
                end = e.end();
                mapped += u64::from(e.len);
                continue;
            }
            if let (true, Some((first, owner))) = (mend, self.taken(e.pblk, e.len.into())) {
                // Each owner keeps the data: this one gets a copy once every
                // inode has claimed its blocks (`clone_dups`), as e2fsck's
                // pass 1B does.  Kept in the map meanwhile, not claimed.
                let msg = format!("{at}: block {first} already owned by inode {owner}");
                self.dups.push((ino, *e, msg));
                end = e.end();
                mapped += u64::from(e.len);
                valid.push(*e);
                continue;
            }
            end = e.end();
            mapped += u64::from(e.len);
            let part = Part::Extent {
                lblk: e.lblk.into(),
                unwritten: e.unwritten,
            };
            self.claim(ino, e.pblk, e.len.into(), part, &at);
            valid.push(*e);
        }
        let chain_blocks = map.chain.len() as u64;
        if !mend && inode.blocks != mapped + chain_blocks {
            self.problem(format!(
                "inode {ino}: {} blocks recorded, {} allocated",
                inode.blocks,
                mapped + chain_blocks
            ));
        }
        if mend {
            return self.mend_inode(ino, inode, valid, chain, rewrite, before);
        }
        if let Some(why) = type_problem(inode, &map.extents) {
            self.problem(format!("inode {ino}: {why}"));
        } else if self.symlink_has_nul(inode, &map.extents)? {
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

    /// Gives each extent found in blocks another inode owns a copy of its
    /// own, now that every inode has claimed its blocks (a free run is
    /// then one nobody owns); an extent no free run can hold is dropped.
    fn clone_dups(&mut self) -> io::Result<()> {
        for (ino, e, msg) in std::mem::take(&mut self.dups) {
            if !self.inodes.contains_key(&ino) {
                continue; // cleared meanwhile
            }
            let mut inode = self.full(ino)?;
            let map = self.fs.read_map(ino, &inode)?;
            let mut exts = map.extents;
            let Some(k) = exts.iter().position(|x| *x == e) else {
                continue; // dropped by the rest of the repair
            };
            match self.clone_extent(ino, &e)? {
                Some(copy) => {
                    self.mend(format!("{msg}; copied to blocks from {}", copy.pblk));
                    exts[k] = copy;
                }
                None => {
                    self.mend(format!("{msg}; dropped (no free run to copy it to)"));
                    let what = format!("file blocks {}..{} (extent dropped)", e.lblk, e.end());
                    self.losses.push((ino, what));
                    exts.remove(k);
                }
            }
            let mut chain = map.chain;
            for b in chain.drain(chain_len(exts.len()).min(chain.len())..) {
                self.unclaim(ino, b, 1);
            }
            self.fs.put_extents(ino, &mut inode, &exts, &chain)?;
            self.fs.put_inode(ino, Some(&inode))?;
            self.inodes.insert(ino, Slim::of(&inode));
            if inode.is_dir() {
                // The walk reads the directory where its map now says.
                self.dir_extents.insert(ino, exts);
            }
        }
        Ok(())
    }

    /// A copy of extent `e` of `ino` in free blocks (claimed for it), for
    /// an extent whose blocks another inode owns; `None` when it is longer
    /// than [`MAX_CLONE`] or no free run is that long.
    fn clone_extent(&mut self, ino: u64, e: &Extent) -> io::Result<Option<Extent>> {
        let len = u64::from(e.len);
        if len > MAX_CLONE {
            return Ok(None);
        }
        let part = Part::Extent {
            lblk: e.lblk.into(),
            unwritten: e.unwritten,
        };
        let Some(to) = self.alloc_run(ino, len, part)? else {
            return Ok(None);
        };
        for k in 0..len {
            let block = *self.fs.img.block(e.pblk + k)?;
            self.fs.img.write((to + k) * BS, &block)?;
        }
        Ok(Some(Extent { pblk: to, ..*e }))
    }

    /// Records a problem repaired at `-y` when `mend` (else a problem).
    fn mend_if(&mut self, mend: bool, msg: String, action: &str) -> bool {
        if mend {
            self.mend_to(msg, action)
        } else {
            self.problem(msg);
            false
        }
    }

    /// The `-y` end of [`Checker::check_inode`]: `exts` are the extents
    /// kept (claimed), `chain` the extent blocks kept (claimed); fixes the
    /// size and type rules, and stores the map and the inode if anything
    /// changed (`rewrite`: the map must be).
    fn mend_inode(
        &mut self,
        ino: u64,
        inode: &Inode,
        mut exts: Vec<Extent>,
        mut chain: Vec<u64>,
        mut rewrite: bool,
        before: usize,
    ) -> io::Result<()> {
        let mut new = *inode;
        let bad_type = type_problem(inode, &exts);
        let nul = bad_type.is_none() && self.symlink_has_nul(inode, &exts)?;
        match (inode.file_type(), bad_type) {
            (S_IFLNK, Some(why)) => return self.clear_inode(ino, exts, chain, &why),
            (S_IFLNK, None) if nul => {
                let why = "NUL byte in the symlink target".to_string();
                return self.clear_inode(ino, exts, chain, &why);
            }
            (S_IFDIR, Some(why)) => {
                // Keep the written blocks from block 0 on, as long as they
                // follow one another.
                let mut n = 0u64;
                let keep = exts
                    .iter()
                    .take_while(|e| {
                        let ok = u64::from(e.lblk) == n && !e.unwritten;
                        n += u64::from(e.len) * u64::from(ok);
                        ok
                    })
                    .count();
                for e in exts.drain(keep..) {
                    self.unclaim_ext(ino, &e);
                }
                new.size = n * BS;
                self.mend(format!("inode {ino}: {why}; size set to {}", new.size));
                rewrite = true;
            }
            (S_IFREG, Some(why)) => {
                let last = exts.last().map_or(0, Extent::end);
                new.size = last.saturating_mul(BS).min(MAX_FILE_SIZE);
                self.mend(format!("inode {ino}: {why}; size set to {}", new.size));
            }
            (_, Some(why)) => {
                for e in exts.drain(..) {
                    self.unclaim_ext(ino, &e);
                }
                new.size = 0;
                self.mend(format!("inode {ino}: {why}; size and extents cleared"));
                rewrite = true;
            }
            (_, None) => {}
        }
        if !new.is_dir() && new.parent != 0 {
            self.mend(format!("inode {ino}: parent set on a non-directory"));
            new.parent = 0;
        }
        let blocks = extents::mapped_blocks(&exts) + chain.len() as u64;
        if new.blocks != blocks {
            self.mend(format!(
                "inode {ino}: {} blocks recorded, {blocks} allocated",
                inode.blocks
            ));
            rewrite = true;
        }
        if rewrite {
            // Packed densely: the extents that do not fit the blocks kept
            // are dropped, the blocks not needed freed.
            let capacity = INLINE_EXTENTS + chain.len() * EXTENTS_PER_BLOCK;
            for e in exts.drain(capacity.min(exts.len())..) {
                self.unclaim_ext(ino, &e);
            }
            for b in chain.drain(chain_len(exts.len()).min(chain.len())..) {
                self.unclaim(ino, b, 1);
            }
            self.fs.put_extents(ino, &mut new, &exts, &chain)?;
        }
        if new != *inode {
            self.fs.put_inode(ino, Some(&new))?;
            self.inodes.insert(ino, Slim::of(&new));
        }
        let unfixed = self.report.problems[before..].iter().any(|p| !p.fixed);
        if unfixed {
            self.flawed.insert(ino);
        }
        if new.is_dir() {
            self.dirs_complete &= !unfixed;
            self.dir_extents.insert(ino, exts);
        }
        Ok(())
    }

    /// Clears in-use inode `ino` (`-y`), which cannot be kept (`why`):
    /// its blocks (`exts`, `chain`, claimed) are no longer claimed, so the
    /// block bitmap check frees them; entries naming it are removed.
    fn clear_inode(
        &mut self,
        ino: u64,
        exts: Vec<Extent>,
        chain: Vec<u64>,
        why: &str,
    ) -> io::Result<()> {
        self.mend(format!("inode {ino}: {why}; cleared"));
        self.losses.push((ino, format!("cleared ({why})")));
        for e in exts {
            self.unclaim_ext(ino, &e);
        }
        for b in chain {
            self.unclaim(ino, b, 1);
        }
        self.fs.put_inode(ino, None)?;
        self.fs.set_bit(self.fs.geo.ibitmap_start, ino - 1, false)?;
        self.inodes.remove(&ino);
        self.cleared.insert(ino);
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
    /// At `-y` a root that is not a directory is replaced by a new empty
    /// one (what it held is reconnected by the link check).
    fn walk_tree(&mut self) -> io::Result<()> {
        match self.inodes.get(&ROOT_INO).copied() {
            Some(slim) if slim.is_dir() => {
                if slim.parent != ROOT_INO {
                    let mut root = self.full(ROOT_INO)?;
                    let msg = format!(
                        "root directory: parent is inode {}, expected {ROOT_INO}",
                        root.parent
                    );
                    if self.mend(msg) {
                        root.parent = ROOT_INO;
                        self.fs.put_inode(ROOT_INO, Some(&root))?;
                        self.inodes.insert(ROOT_INO, Slim::of(&root));
                    }
                }
            }
            _ => {
                let msg = "root inode is not an in-use directory".to_string();
                if self.slot_unreadable(ROOT_INO) || !self.mending() {
                    self.problem(msg);
                    self.dirs_complete = false;
                    return Ok(());
                }
                self.mend(format!("{msg}; a new empty root directory made"));
                self.new_root()?;
            }
        }
        self.parent_of.insert(ROOT_INO, ROOT_INO);
        self.walk_from(VecDeque::from([ROOT_INO]))
    }

    /// Walks the directories in `queue` and those they reach.
    fn walk_from(&mut self, mut queue: VecDeque<u64>) -> io::Result<()> {
        while let Some(dir) = queue.pop_front() {
            let mut names = HashSet::new();
            for e in self.dir_extents.get(&dir).cloned().unwrap_or_default() {
                for k in 0..u64::from(e.len) {
                    let (pblk, lblk) = (e.pblk + k, u64::from(e.lblk) + k);
                    let read = *self.fs.img.block(pblk)?;
                    let mut block = read;
                    if self.mending() && !self.fs.img.is_bad(pblk) {
                        if let Some((salvaged, msgs)) = salvage::dir_block(&read) {
                            for m in msgs {
                                self.mend(format!("directory {dir}: block {lblk} {m}"));
                            }
                            block = *salvaged;
                        }
                    }
                    let mut edited = block;
                    let mut recs = dir_records(&block);
                    while let Some(rec) = recs.next() {
                        match rec {
                            Ok(r) if r.ino != 0 => {
                                let edit = self.entry(dir, &r, &mut names, &mut queue)?;
                                let (ino, dt, name) = match edit {
                                    None => continue,
                                    Some(Edit::Remove) => (0, DT_UNKNOWN, &[][..]),
                                    Some(Edit::Retype(dt)) => (r.ino, dt, r.name),
                                };
                                let out = &mut edited[r.offset..];
                                encode_dir_record(out, ino, r.rec_len, dt, name)
                                    .map_err(|e| io::Error::other(e.describe()))?;
                            }
                            Ok(_) => {}
                            Err(err) => {
                                self.problem(format!(
                                    "directory {dir}: block {lblk} offset {}: {}",
                                    recs.offset(),
                                    err.describe()
                                ));
                                self.dirs_complete = false;
                            }
                        }
                    }
                    if edited != read {
                        self.fs.img.write(pblk * BS, &edited)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Replaces the root (`-y`), not an in-use directory, by a new empty
    /// directory; an inode that was there is cleared.
    fn new_root(&mut self) -> io::Result<()> {
        if self.inodes.remove(&ROOT_INO).is_some() {
            let own: Vec<(u64, u64, Option<u64>)> = (self.runs.iter())
                .filter(|(_, r)| r.ino == ROOT_INO)
                .map(|(&start, r)| {
                    let lblk = match r.part {
                        Part::Extent { lblk, .. } => Some(lblk),
                        Part::ExtentBlock { .. } => None,
                    };
                    (start, r.end - start, lblk)
                })
                .collect();
            for (start, len, lblk) in own {
                self.unclaim_as(ROOT_INO, start, len, lblk);
            }
            self.cleared.insert(ROOT_INO);
        }
        self.damaged.remove(&ROOT_INO);
        let mut root = Inode::new(S_IFDIR | 0o755, now());
        root.parent = ROOT_INO;
        self.fs.put_inode(ROOT_INO, Some(&root))?;
        self.fs.set_bit(self.fs.geo.ibitmap_start, ROOT_INO - 1, true)?;
        self.inodes.insert(ROOT_INO, Slim::of(&root));
        self.dir_extents.insert(ROOT_INO, Vec::new());
        Ok(())
    }

    /// One entry of reachable directory `dir`; what to change in its
    /// record (`-y`).
    fn entry(
        &mut self,
        dir: u64,
        rec: &DirRecord,
        names: &mut HashSet<Vec<u8>>,
        queue: &mut VecDeque<u64>,
    ) -> io::Result<Option<Edit>> {
        let at = format!(
            "directory {dir}: entry '{}'",
            String::from_utf8_lossy(rec.name)
        );
        if !names.insert(rec.name.to_vec()) && self.mend_to(format!("{at}: duplicate name"), "entry removed") {
            return Ok(Some(Edit::Remove));
        }
        let target = rec.ino;
        if self.wanted.contains(&target) {
            let name = || (dir, rec.name.to_vec());
            self.names.entry(target).or_insert_with(name);
        }
        let Some(inode) = self.inodes.get(&target).copied() else {
            let why = if self.slot_unreadable(target) {
                "unreadable"
            } else if self.damaged.contains(&target) {
                "damaged"
            } else if target > self.fs.geo.inodes {
                "out-of-range"
            } else if self.cleared.contains(&target) {
                "cleared"
            } else {
                "free"
            };
            let msg = format!("{at}: refers to {why} inode {target}");
            // An unreadable inode is a media error: its entry stays until
            // the bad block is cleared and fsck runs again.
            if why != "unreadable" && self.mend_to(msg.clone(), "entry removed") {
                return Ok(Some(Edit::Remove));
            }
            self.dangling = true;
            self.owners_known = false;
            if why == "unreadable" {
                self.problem(msg);
            }
            return Ok(None);
        };
        let mut edit = None;
        let dt = dt_from_mode(inode.mode);
        if rec.file_type != dt {
            let msg = format!(
                "{at}: file type {} but inode {target} is of type {dt}",
                rec.file_type,
            );
            if self.mend(msg) {
                edit = Some(Edit::Retype(dt));
            }
        }
        if !inode.is_dir() {
            *self.refs.entry(target).or_default() += 1;
            return Ok(edit);
        }
        if let Some(&first) = self.parent_of.get(&target) {
            let msg = if self.is_ancestor(target, dir) {
                format!("{at}: directory {target} contains itself (cycle)")
            } else {
                format!("{at}: directory {target} is already reachable from directory {first}")
            };
            if self.mend_to(msg, "entry removed") {
                return Ok(Some(Edit::Remove));
            }
        } else {
            self.parent_of.insert(target, dir);
            let name = || (dir, rec.name.to_vec());
            self.names.entry(target).or_insert_with(name);
            queue.push_back(target);
            if inode.parent != dir {
                let msg = format!(
                    "directory {target}: parent is inode {}, expected {dir}",
                    inode.parent
                );
                if self.mend(msg) {
                    let mut inode = self.full(target)?;
                    inode.parent = dir;
                    self.fs.put_inode(target, Some(&inode))?;
                    self.inodes.insert(target, Slim::of(&inode));
                }
            }
        }
        *self.refs.entry(target).or_default() += 1;
        *self.subdirs.entry(dir).or_default() += 1;
        Ok(edit)
    }

    /// The inode bitmap bits of free slots: cleared, unless an entry still
    /// names a free inode (a lost slot, whose bit is the one trace left):
    /// then only `-y`, which removes such entries, clears them.
    fn clear_stale_ibits(&mut self) -> io::Result<()> {
        // A walk cut short (a root lost with its inode-table block) may
        // hide entries naming them too.
        let safe = self.mending() || (!self.dangling && self.dirs_complete);
        for ino in std::mem::take(&mut self.stale_ibits) {
            if self.inodes.contains_key(&ino) {
                continue; // made since the scan (a new root, /lost+found)
            }
            let msg = format!("inode {ino}: free but marked in use in the inode bitmap");
            if self.fixable_if(safe, msg) {
                self.fs.set_bit(self.fs.geo.ibitmap_start, ino - 1, false)?;
            } else {
                // Its blocks may be the lost inode's.
                self.owners_known = false;
            }
        }
        Ok(())
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
            let mut inode = self.full(ino)?;
            match self.unfinishable(ino, &inode) {
                None => pending.push((ino, inode)),
                Some(why) => {
                    if self.fixable(format!("orphan list: inode {ino} {why}")) {
                        inode.orphan_next = 0;
                        self.fs.put_inode(ino, Some(&inode))?;
                        self.inodes.insert(ino, Slim::of(&inode));
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
        self.inodes.insert(ino, Slim::of(&inode));
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
        if self.mending() && self.dirs_complete {
            self.reconnect()?;
        }
        let inos: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in inos {
            let Some(slim) = self.inodes.get(&ino).copied() else {
                continue;
            };
            let listed = self.orphans.contains(&ino);
            let clear_next = slim.orphan_next != 0
                && !listed
                && self.fixable(format!(
                    "inode {ino}: orphan_next set but not on the orphan list"
                ));
            let mut nlink = None;
            let (reached, want) = if slim.is_dir() {
                let subdirs = self.subdirs.get(&ino).copied().unwrap_or(0);
                (self.parent_of.contains_key(&ino), subdirs.saturating_add(2))
            } else {
                let refs = self.refs.get(&ino).copied();
                (refs.is_some(), refs.unwrap_or(0))
            };
            if listed && slim.nlink == 0 {
                // Finished (or to be finished) as an orphan.
            } else if !reached && slim.nlink == 0 {
                // An orphan lost from the list: freed, as mount frees orphans.
                let msg = format!(
                    "inode {ino}: lost orphan (no links, in no directory, not on the orphan list)"
                );
                let safe = self.dirs_complete && !self.lost.contains(&ino);
                if self.fixable_if(safe, msg) {
                    let inode = self.full(ino)?;
                    self.free_inode(ino, &inode)?;
                    continue;
                }
            } else if !reached {
                self.problem(format!(
                    "inode {ino}: unreachable (in no directory, not on the orphan list)"
                ));
            } else if slim.nlink != want {
                let msg = format!("inode {ino}: link count {}, expected {want}", slim.nlink);
                if self.fixable_if(self.dirs_complete, msg) {
                    nlink = Some(want);
                }
            }
            if clear_next || nlink.is_some() {
                let mut inode = self.full(ino)?;
                if clear_next {
                    inode.orphan_next = 0;
                }
                inode.nlink = nlink.unwrap_or(inode.nlink);
                self.fs.put_inode(ino, Some(&inode))?;
                self.inodes.insert(ino, Slim::of(&inode));
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

    /// The path of inode `ino`: the first entry naming it, in the first
    /// entry naming its directory... (`None`: not found).
    fn path(&self, ino: u64) -> Option<String> {
        let mut names = Vec::new();
        let mut at = ino;
        while at != ROOT_INO && names.len() <= self.names.len() {
            let (dir, name) = self.names.get(&at)?;
            names.push(String::from_utf8_lossy(name));
            at = *dir;
        }
        if at != ROOT_INO {
            return None;
        }
        if names.is_empty() {
            return Some("/".into());
        }
        Some(names.iter().rev().map(|n| format!("/{n}")).collect())
    }

    /// "inode N (its path)".
    fn who(&self, ino: u64) -> String {
        let path = self.path(ino);
        format!(
            "inode {ino} ({})",
            path.as_deref().unwrap_or("no path found")
        )
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
