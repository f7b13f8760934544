// SPDX-License-Identifier: GPL-2.0
//! Bad blocks in the report: each range of them is a problem of its own (a
//! note if it belongs to nothing), saying what it holds and what is lost;
//! and a repair that has to write a bad block is not made at all.

use std::collections::HashSet;
use std::io;
use std::ops::Range;

use super::{blocks, Checker, Part, BS, MAX_RANGES};
use crate::*;

/// Bad block ranges reported one per line before the rest is summed up.
const MAX_BAD_RANGES: usize = 200;
/// Unreadable in-use inodes named per inode table range.
const MAX_LOST_NAMED: usize = 8;

/// What a bad block holds, for the report.  Each block also has a span
/// (its part of the numbers the variant names); consecutive bad blocks of
/// one variant with consecutive spans make one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Held {
    PrimarySb,
    BackupSb,
    State,
    /// Span: bytes of the journal.
    Journal,
    /// Span: inode numbers.
    InodeBitmap,
    /// Span: block numbers.
    BlockBitmap,
    /// Span: inode numbers.
    InodeTable,
    /// Unused blocks before the data area.
    Padding,
    /// Blocks of an extent of `ino`; span: bytes of the file.
    Data {
        ino: u64,
        unwritten: bool,
    },
    /// Span: positions in the extent chain of `ino`.
    ExtentBlock {
        ino: u64,
    },
    /// Owned by nothing, marked free in the block bitmap.
    Free,
    /// Owned by nothing, marked in use.
    Leaked,
    /// Marked in use, owned by nothing known while some owners are unknown.
    Unknown,
    /// Past the end of the filesystem.
    Beyond,
}

impl Held {
    /// Whether the blocks belong to nothing: the module never reads them
    /// and does not allocate the bad ones, so they are no error (a note).
    fn harmless(self) -> bool {
        matches!(
            self,
            Held::Free | Held::Leaked | Held::Padding | Held::Beyond
        )
    }
}

/// Consecutive bad blocks holding consecutive parts of one thing.
pub(super) struct BadRange {
    blocks: Range<u64>,
    held: Held,
    span: Range<u64>,
    /// Some of them were found by a failed read (they are not listed).
    read_failed: bool,
}

impl Checker {
    /// The inodes the bad block report names: the owners of bad blocks
    /// and the unreadable inodes (directories are named anyway).
    pub(super) fn bad_owners(&self) -> HashSet<u64> {
        let end = self.fs.geo.blocks;
        let mut out: HashSet<u64> = self.damaged.iter().copied().collect();
        for r in self.fs.img.bad_blocks() {
            for b in r.start..r.end.min(end) {
                out.extend(self.run_at(b).map(|(_, run)| run.ino));
            }
        }
        out
    }

    /// What block `b` (of the filesystem) holds, and its span.
    fn held_at(&mut self, b: u64) -> io::Result<(Held, Range<u64>)> {
        let geo = self.fs.geo;
        let index = |start: u64, count: u64| b.checked_sub(start).filter(|&i| i < count);
        // The bits of bitmap block `i`, of `n` in all.
        let bits = |i: u64, n: u64| {
            let first = i.saturating_mul(BITS_PER_BLOCK);
            first..first.saturating_add(BITS_PER_BLOCK).min(n).max(first)
        };
        let held = if b == SB_PRIMARY_OFFSET / BS {
            Held::PrimarySb
        } else if b == SB_BACKUP_OFFSET / BS {
            Held::BackupSb
        } else if b == STATE_BLOCK {
            Held::State
        } else if let Some(i) = index(geo.journal_start, geo.journal_blocks) {
            return Ok((Held::Journal, i * BS..(i + 1) * BS));
        } else if let Some(i) = index(geo.ibitmap_start, geo.ibitmap_blocks) {
            let r = bits(i, geo.inodes);
            return Ok((Held::InodeBitmap, r.start + 1..r.end + 1));
        } else if let Some(i) = index(geo.bbitmap_start, geo.bbitmap_blocks) {
            return Ok((Held::BlockBitmap, bits(i, geo.blocks)));
        } else if let Some(i) = index(geo.itable_start, geo.itable_blocks) {
            let first = i * INODES_PER_BLOCK + 1;
            return Ok((Held::InodeTable, first..first + INODES_PER_BLOCK));
        } else if b < geo.data_start {
            Held::Padding
        } else if let Some((start, run)) = self.run_at(b) {
            return Ok(match run.part {
                Part::Extent { lblk, unwritten } => {
                    let at = lblk.saturating_add(b - start).saturating_mul(BS);
                    let held = Held::Data {
                        ino: run.ino,
                        unwritten,
                    };
                    (held, at..at.saturating_add(BS))
                }
                Part::ExtentBlock { index } => {
                    (Held::ExtentBlock { ino: run.ino }, index..index + 1)
                }
            });
        } else {
            let marked = self.fs.bit(geo.bbitmap_start, b)?;
            let bit_lost = self.fs.img.is_bad(geo.bbitmap_start + b / BITS_PER_BLOCK);
            if !self.owners_known && (marked || bit_lost) {
                Held::Unknown
            } else if marked {
                Held::Leaked
            } else {
                Held::Free
            }
        };
        Ok((held, b..b + 1))
    }

    /// What is lost with bad blocks holding `r.held`.
    fn describe(&self, r: &BadRange) -> String {
        let (a, z) = (r.span.start, r.span.end);
        match r.held {
            Held::PrimarySb => "primary superblock: lost; mount needs it (the backup is a copy)".into(),
            Held::BackupSb => "backup superblock: lost; the primary is the only copy left".into(),
            Held::State => "state block: lost; mount refuses the filesystem without it".into(),
            Held::Journal => match self.journal_tx {
                Some((seq, len)) if a < len => format!(
                    "journal: committed transaction {seq} is lost (it cannot be replayed)"
                ),
                _ => "journal: no pending transaction in it, nothing lost".into(),
            },
            Held::InodeBitmap => format!(
                "inode bitmap (inodes {a}..{}): lost; the inode table says which are in use",
                z - 1
            ),
            Held::BlockBitmap => format!(
                "block bitmap (blocks {a}..{}): lost; the extent maps say which are in use",
                z - 1
            ),
            Held::InodeTable => {
                let lost: Vec<u64> = (a..z)
                    .filter(|i| self.damaged.contains(i) && self.slot_unreadable(*i))
                    .collect();
                let table = format!("inode table (inodes {a}..{}): those inodes are unreadable", z - 1);
                if lost.is_empty() {
                    return format!("{table}; none was in use, nothing lost");
                }
                let mut named: Vec<String> = lost.iter().take(MAX_LOST_NAMED).map(|&i| self.who(i)).collect();
                if lost.len() > MAX_LOST_NAMED {
                    named.push(format!("and {} more", lost.len() - MAX_LOST_NAMED));
                }
                format!("{table}; lost: {}", named.join(", "))
            }
            Held::Padding => "unused (before the data area): nothing lost".into(),
            Held::Data { ino, unwritten } => {
                let who = self.who(ino);
                match self.inodes.get(&ino) {
                    None => format!("blocks of {who}, freed by the repair: nothing lost"),
                    Some(i) if i.is_dir() => format!("directory {who}: entries in it lost"),
                    Some(i) if i.file_type() == S_IFLNK => format!("symlink {who}: its target is lost"),
                    _ if unwritten => format!(
                        "preallocated blocks of {who}, bytes {a}..{z}: nothing lost (unwritten, they read as zeroes)"
                    ),
                    Some(i) if a >= i.size => format!(
                        "file data of {who}, bytes {a}..{z}: past the end of the file, nothing lost"
                    ),
                    Some(_) => format!(
                        "file data of {who}, bytes {a}..{z}: lost; rewrite the range to clear it"
                    ),
                }
            }
            Held::ExtentBlock { ino } => format!(
                "extent block of {}: the extents in it and after it in the chain are lost, with the data they map",
                self.who(ino)
            ),
            Held::Free => "free: nothing lost".into(),
            Held::Leaked => "marked in use but owned by nothing: nothing lost".into(),
            Held::Unknown => {
                "marked in use, owner unknown (inodes or extent maps are unreadable): what it held may be lost".into()
            }
            Held::Beyond => "past the end of the filesystem: nothing lost".into(),
        }
    }

    /// One problem per range of bad blocks holding one thing: what it
    /// holds and what is lost.
    pub(super) fn report_bad_blocks(&mut self) -> io::Result<()> {
        let end = self.fs.geo.blocks;
        let mut found: Vec<BadRange> = Vec::new();
        for r in self.fs.img.bad_blocks() {
            for b in r.start.min(end)..r.end.min(end) {
                let (held, span) = self.held_at(b)?;
                let read_failed = self.fs.img.read_failed(b);
                match found.last_mut() {
                    Some(last)
                        if last.held == held
                            && last.blocks.end == b
                            && last.span.end == span.start =>
                    {
                        last.blocks.end = b + 1;
                        last.span.end = span.end;
                        last.read_failed |= read_failed;
                    }
                    _ => found.push(BadRange {
                        blocks: b..b + 1,
                        held,
                        span,
                        read_failed,
                    }),
                }
            }
            if r.end > end {
                let beyond = r.start.max(end)..r.end;
                found.push(BadRange {
                    blocks: beyond.clone(),
                    held: Held::Beyond,
                    span: beyond,
                    read_failed: false,
                });
            }
        }
        let rewrite = if self.repair {
            self.fs.img.dirty_bad()
        } else {
            Vec::new()
        };
        for r in found.iter().take(MAX_BAD_RANGES) {
            let how = if r.read_failed { " (read failed)" } else { "" };
            let mut msg = format!("bad {}{how}: {}", blocks(&r.blocks), self.describe(r));
            if rewrite.iter().any(|b| r.blocks.contains(b)) {
                msg.push_str("; the repair has to rewrite it");
            }
            if r.held.harmless() {
                self.report.notes.push(msg);
            } else {
                self.problem(msg);
            }
        }
        if let Some(rest) = found.get(MAX_BAD_RANGES..).filter(|r| !r.is_empty()) {
            let msg = format!("{} more ranges of bad blocks", rest.len());
            if rest.iter().all(|r| r.held.harmless()) {
                self.report.notes.push(msg);
            } else {
                self.problem(msg);
            }
        }
        Ok(())
    }

    /// A repair that has to write a bad block is not made at all (its
    /// parts must land together, and writing may clear the error without
    /// restoring what was there): nothing is fixed, nothing changed.
    pub(super) fn refuse_bad_writes(&mut self) {
        let bad = self.fs.img.dirty_bad();
        if !self.repair || bad.is_empty() {
            return;
        }
        for p in &mut self.report.problems {
            p.fixed = false;
        }
        let changes = std::mem::take(&mut self.report.changes);
        let undone = changes.into_iter().map(|c| format!("not done: {c}"));
        self.report.notes.extend(undone);
        let geo = self.fs.geo;
        let mut list: Vec<String> = bad
            .iter()
            .take(MAX_RANGES)
            .map(|&b| format!("{b} ({})", geo.area(b)))
            .collect();
        if bad.len() > MAX_RANGES {
            list.push(format!("and {} more", bad.len() - MAX_RANGES));
        }
        self.problem(format!(
            "nothing repaired: the repair has to write bad block(s) {}; clear them first \
             (ndctl clear-errors, or write over them), then run fsck again",
            list.join(", ")
        ));
    }
}
