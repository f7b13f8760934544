// SPDX-License-Identifier: GPL-2.0
//! The mutators.  Each picks a target from the [`Survey`], changes one field
//! (or a few related ones: an orphan list) to an edge value, reseals what it
//! changed (inode and extent block CRCs through the format encoders, the
//! name hash of a directory record) and notes it in the [`Mutation`].

use std::fmt::Display;
use std::io;

use super::{at, Mutation, RecordRef, Rng, Survey, Touched};
use crate::image::{Block, Fs};
use crate::*;

// Extent block header fields (docs/format-v2.md, "Extent").
const EB_COUNT: usize = 4;
const EB_NEXT: usize = 8;
const EB_OWNER: usize = 16;
const EB_CRC: usize = 24;
// Directory record fields (docs/format-v2.md, "Directory").
const DE_INO: usize = 0;
const DE_REC_LEN: usize = 8;
const DE_NAME_LEN: usize = 10;
const DE_TYPE: usize = 11;
const DE_HASH: usize = 12;

const BS: u64 = BLOCK_SIZE as u64;
const BSZ: usize = BLOCK_SIZE as usize;

/// `N` bytes of `b` at `off` (zeroes past its end).
fn get<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        a.copy_from_slice(s);
    }
    a
}

/// Stores `v` at `off` of `b` (nothing past its end).
fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(s) = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        s.copy_from_slice(v);
    }
}

/// The CRC stored in an extent block.
pub(super) fn stored_crc(block: &[u8]) -> u32 {
    u32::from_le_bytes(get(block, EB_CRC))
}

/// Recomputes an extent block's CRC.
fn seal_extent_block(block: &mut [u8]) {
    let crc = extent_block_crc(block);
    put(block, EB_CRC, &crc.to_le_bytes());
}

/// The name of the record at `off`, if it lies inside the block.
fn record_name(block: &[u8], off: usize) -> Option<&[u8]> {
    let len = usize::from(*block.get(off.checked_add(DE_NAME_LEN)?)?);
    let start = off.checked_add(DIR_REC_HEADER)?;
    block.get(start..start.checked_add(len)?)
}

/// Whether the record at `off` is unused or carries the hash of its name.
pub(super) fn record_hash_ok(block: &[u8], off: usize) -> bool {
    let ino = u64::from_le_bytes(get(block, off.saturating_add(DE_INO)));
    let hash = u32::from_le_bytes(get(block, off.saturating_add(DE_HASH)));
    ino == 0 || record_name(block, off).is_some_and(|name| name_hash(name) == hash)
}

/// "`name` `old` -> `new`", after storing `new` in `slot`.
fn change<T: Copy + Display>(name: &str, slot: &mut T, new: T) -> String {
    let old = std::mem::replace(slot, new);
    format!("{name} {old} -> {new}")
}

/// Short name of the file type of `mode`.
fn type_name(mode: u32) -> &'static str {
    match mode & S_IFMT {
        S_IFREG => "file",
        S_IFDIR => "dir",
        S_IFLNK => "symlink",
        S_IFCHR => "chr",
        S_IFBLK => "blk",
        S_IFIFO => "fifo",
        S_IFSOCK => "sock",
        _ => "?",
    }
}

/// Edge values around `cur` for a u32 field.
fn u32_edges(cur: u32) -> Vec<u32> {
    vec![
        0,
        1,
        2,
        cur.wrapping_sub(1),
        cur.wrapping_add(1),
        cur.wrapping_mul(2),
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX - 1,
        u32::MAX,
    ]
}

/// Edge values around `cur` for a u64 field.
fn u64_edges(cur: u64) -> Vec<u64> {
    vec![
        0,
        1,
        cur.wrapping_sub(1),
        cur.wrapping_add(1),
        cur.wrapping_mul(2),
        u32::MAX.into(),
        1 << 32,
        i64::MAX as u64,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ]
}

/// An inode field the mutators change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Size,
    Nlink,
    Blocks,
    Nextents,
    Mode,
    Flags,
    ExtentBlock,
    OrphanNext,
    Parent,
    Owner,
    Time,
    Rdev,
}

/// The fields, repeated by weight.
const FIELDS: [Field; 20] = [
    Field::Size,
    Field::Size,
    Field::Size,
    Field::Nlink,
    Field::Nlink,
    Field::Nlink,
    Field::Blocks,
    Field::Blocks,
    Field::Nextents,
    Field::Nextents,
    Field::Mode,
    Field::Mode,
    Field::Flags,
    Field::ExtentBlock,
    Field::ExtentBlock,
    Field::OrphanNext,
    Field::Parent,
    Field::Owner,
    Field::Time,
    Field::Rdev,
];

/// A mutation in progress.
pub(super) struct Ctx<'a> {
    pub(super) fs: &'a mut Fs,
    pub(super) s: &'a Survey,
    pub(super) rng: Rng,
    pub(super) m: Mutation,
}

/// Mutates the filesystem cached in `fs` as `seed` says: one to three
/// structure fields, or a hostile journal transaction, or the superblock.
/// Changes only the cache (see [`super::write_with_undo`]).
pub fn mutate(fs: &mut Fs, seed: u64) -> io::Result<Mutation> {
    let s = Survey::take(fs)?;
    let mut c = Ctx {
        fs,
        s: &s,
        rng: Rng::new(seed),
        m: Mutation::default(),
    };
    c.run()?;
    Ok(c.m)
}

impl Ctx<'_> {
    fn run(&mut self) -> io::Result<()> {
        // A transaction or a superblock comes alone: a transaction logs the
        // blocks a structure mutation changed, a new layout moves them.
        match self.rng.below(100) {
            0..=11 => {
                self.retry(Self::journal)?;
            }
            12..=16 => {
                self.superblock()?;
            }
            _ => {
                let n = *self.rng.pick(&[1, 1, 1, 1, 1, 1, 1, 2, 2, 3]).unwrap_or(&1);
                for _ in 0..n {
                    self.retry(Self::structure)?;
                }
            }
        }
        // Whatever happened, something changes.
        if !self.fs.img.is_dirty() {
            self.superblock()?;
        }
        Ok(())
    }

    /// Tries `f` (which picks its target at random) until it finds one.
    pub(super) fn retry(&mut self, f: impl Fn(&mut Self) -> io::Result<bool>) -> io::Result<bool> {
        for _ in 0..32 {
            if f(self)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One change to an inode, extent, directory record, the state block
    /// or the orphan list; false when the kind chosen found no target.
    pub(super) fn structure(&mut self) -> io::Result<bool> {
        match self.rng.below(100) {
            0..=33 => self.inode_field(),
            34..=45 => self.inline_extent(),
            46..=51 => self.chain_header(),
            52..=57 => self.chain_extent(),
            58..=81 => self.dirent(),
            82..=90 => self.state_field(),
            _ => self.orphan_list(),
        }
    }

    fn dev_blocks(&self) -> u64 {
        self.fs.img.device().size() / BS
    }

    // --- values -----------------------------------------------------------

    /// A block number: an edge of the layout or the device, or a block some
    /// structure uses.
    fn block_ptr(&mut self, old: u64) -> u64 {
        if self.rng.chance(1, 2) {
            if let Some(b) = self.used_block(old) {
                return b;
            }
        }
        let g = self.s.geo;
        let edges = [
            0,
            1,
            STATE_BLOCK,
            g.journal_start,
            g.ibitmap_start,
            g.bbitmap_start,
            g.itable_start,
            g.data_start.saturating_sub(1),
            g.data_start,
            g.blocks.saturating_sub(1),
            g.blocks,
            g.blocks.saturating_add(1),
            self.dev_blocks(),
            u32::MAX.into(),
            MAX_BLOCKS,
            u64::MAX / BS + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        self.rng.pick_new(old, &edges)
    }

    /// A block in use by another structure (a file's data, a directory
    /// block, an extent block) or a free one.
    fn used_block(&mut self, old: u64) -> Option<u64> {
        let s = self.s;
        let mut used: Vec<u64> = s.chain_blocks().into_iter().map(|(_, b)| b).collect();
        used.extend(s.dir_blocks.iter().map(|&(_, b)| b));
        for info in &s.inodes {
            for e in &info.extents {
                used.extend([e.pblk, e.pblk.saturating_add(u64::from(e.len) - 1)]);
            }
        }
        used.extend(s.free_block);
        let b = self.rng.pick_new(old, &used);
        (b != old).then_some(b)
    }

    /// An inode number other than `old`: an edge (0, the root, `own`
    /// (a loop), the last, just past it, huge), a free one, or one in use.
    fn ino_value(&mut self, own: u64, old: u64) -> u64 {
        let s = self.s;
        let inodes = s.geo.inodes;
        let mut v = vec![
            0,
            ROOT_INO,
            own,
            inodes,
            inodes.saturating_add(1),
            u32::MAX.into(),
            1 << 32,
            u64::MAX,
        ];
        v.extend(s.free_ino);
        v.extend(self.rng.pick(&s.inodes).map(|i| i.ino));
        let dirs: Vec<u64> = s
            .inodes
            .iter()
            .filter(|i| i.inode.is_dir())
            .map(|i| i.ino)
            .collect();
        v.extend(self.rng.pick(&dirs));
        self.rng.pick_new(old, &v)
    }

    fn size_value(&mut self, cur: u64) -> u64 {
        let mut v = u64_edges(cur);
        v.extend([
            4095,
            4096,
            4097,
            cur.wrapping_add(BS),
            cur.wrapping_sub(BS),
            MAX_FILE_SIZE - 1,
            MAX_FILE_SIZE,
            MAX_FILE_SIZE + 1,
            self.dev_blocks().saturating_mul(BS),
            FAST_SYMLINK_MAX as u64,
            FAST_SYMLINK_MAX as u64 + 1,
            SYMLINK_MAX,
            SYMLINK_MAX + 1,
        ]);
        self.rng.pick_new(cur, &v)
    }

    // --- inodes -----------------------------------------------------------

    /// Applies `f` to inode `ino` as it is now, stores it with its CRC
    /// recomputed and notes what `f` says it changed.  False when the inode
    /// no longer decodes (an earlier mutation) or `f` changed nothing.
    fn edit_inode(
        &mut self,
        ino: u64,
        f: impl FnOnce(&mut Self, &mut Inode) -> Option<String>,
    ) -> io::Result<bool> {
        let Ok(mut inode) = self.fs.inode(ino)? else {
            return Ok(false);
        };
        let kind = type_name(inode.mode);
        let Some(what) = f(self, &mut inode) else {
            return Ok(false);
        };
        self.fs.put_inode(ino, Some(&inode))?;
        let what = format!("inode {ino} ({kind}) {what}");
        self.m.note(what, Touched::Inode(ino), &[ino]);
        Ok(true)
    }

    /// An in-use inode, now and then one on the orphan list.
    fn pick_inode(&mut self) -> Option<u64> {
        let s = self.s;
        if self.rng.chance(1, 4) {
            if let Some(&ino) = self.rng.pick(&s.orphans) {
                return Some(ino);
            }
        }
        self.rng.pick(&s.inodes).map(|i| i.ino)
    }

    fn inode_field(&mut self) -> io::Result<bool> {
        let Some(ino) = self.pick_inode() else {
            return Ok(false);
        };
        let field = *self.rng.pick(&FIELDS).unwrap_or(&Field::Size);
        self.edit_inode(ino, |c, i| c.set_field(ino, i, field))
    }

    fn set_field(&mut self, ino: u64, i: &mut Inode, field: Field) -> Option<String> {
        let g = self.s.geo;
        Some(match field {
            Field::Size => {
                let v = self.size_value(i.size);
                change("size", &mut i.size, v)
            }
            Field::Nlink => {
                let mut v = u32_edges(i.nlink);
                v.extend([65000, 65001]);
                let v = self.rng.pick_new(i.nlink, &v);
                change("nlink", &mut i.nlink, v)
            }
            Field::Blocks => {
                let mut v = u64_edges(i.blocks);
                v.extend([g.blocks, g.blocks.saturating_add(1)]);
                let v = self.rng.pick_new(i.blocks, &v);
                change("blocks", &mut i.blocks, v)
            }
            Field::Nextents => {
                let mut v = u32_edges(i.nextents);
                let per = EXTENTS_PER_BLOCK as u32;
                v.extend([
                    7,
                    8,
                    9,
                    8 + per,
                    9 + per,
                    8 + 2 * per,
                    i.nextents.wrapping_add(per),
                ]);
                let v = self.rng.pick_new(i.nextents, &v);
                change("nextents", &mut i.nextents, v)
            }
            Field::Mode => {
                let v = self.mode_value(i.mode);
                let old = std::mem::replace(&mut i.mode, v);
                format!("mode {old:o} -> {v:o}")
            }
            Field::Flags => {
                let known = [INODE_FLAG_APPEND, INODE_FLAG_IMMUTABLE, INODE_FLAG_DAX];
                let v = [
                    0,
                    known[0],
                    known[1],
                    known[2],
                    known[0] | known[1],
                    INODE_FLAGS_KNOWN,
                    1 << 3,
                    u32::MAX,
                ];
                let v = self.rng.pick_new(i.flags, &v);
                change("flags", &mut i.flags, v)
            }
            Field::ExtentBlock => {
                let v = self.block_ptr(i.extent_block);
                change("extent_block", &mut i.extent_block, v)
            }
            Field::OrphanNext => {
                let v = self.ino_value(ino, i.orphan_next);
                change("orphan_next", &mut i.orphan_next, v)
            }
            Field::Parent => {
                let v = self.ino_value(ino, i.parent);
                change("parent", &mut i.parent, v)
            }
            Field::Owner => {
                let ids = [0, 65534, u32::MAX - 1, u32::MAX];
                if self.rng.chance(1, 2) {
                    let v = self.rng.pick_new(i.uid, &ids);
                    change("uid", &mut i.uid, v)
                } else {
                    let v = self.rng.pick_new(i.gid, &ids);
                    change("gid", &mut i.gid, v)
                }
            }
            Field::Time => self.time_value(i),
            Field::Rdev => {
                let v = [0, 1, 0xfff0_0000, 0x000f_ffff, u32::MAX];
                let v = self.rng.pick_new(i.rdev, &v);
                change("rdev", &mut i.rdev, v)
            }
        })
    }

    /// Another file type with the same permissions, odd permission bits, or
    /// a mode the decoder refuses.
    fn mode_value(&mut self, mode: u32) -> u32 {
        let perm = mode & !S_IFMT;
        let mut v: Vec<u32> = [
            S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK,
        ]
        .iter()
        .map(|t| t | perm)
        .collect();
        v.extend([mode | 0o7000, mode & S_IFMT, S_IFMT | perm]);
        self.rng.pick_new(mode, &v)
    }

    /// A timestamp at the edges of time (or a nanosecond count the decoder
    /// refuses).
    fn time_value(&mut self, i: &mut Inode) -> String {
        let (name, t) = match self.rng.below(4) {
            0 => ("atime", &mut i.atime),
            1 => ("mtime", &mut i.mtime),
            2 => ("ctime", &mut i.ctime),
            _ => ("btime", &mut i.btime),
        };
        if self.rng.chance(1, 5) {
            let v = self
                .rng
                .pick_new(t.nsec, &[999_999_999, 1_000_000_000, u32::MAX]);
            return change(&format!("{name}.nsec"), &mut t.nsec, v);
        }
        let v = [i64::MIN, i64::MIN + 1, -1, 0, 1 << 33, -(1 << 33), i64::MAX];
        let v = self.rng.pick_new(t.sec, &v);
        change(&format!("{name}.sec"), &mut t.sec, v)
    }

    // --- extents ----------------------------------------------------------

    /// Changes one field of `e`, one of the extents `all` of its file, and
    /// says what it did.
    fn mutate_extent(&mut self, e: &mut Extent, all: &[Extent]) -> String {
        let max = EXTENT_MAX_LEN;
        match self.rng.below(4) {
            0 => {
                let mut v = vec![
                    0,
                    1,
                    e.lblk.wrapping_sub(1),
                    e.lblk.wrapping_add(1),
                    u32::MAX,
                    1 << 31,
                ];
                // Ending exactly at 2^32 blocks, and one past.
                v.extend([0u32.wrapping_sub(e.len), 1u32.wrapping_sub(e.len)]);
                v.extend(
                    all.iter()
                        .flat_map(|o| [o.lblk, o.end() as u32, o.lblk.wrapping_add(1)]),
                );
                let v = self.rng.pick_new(e.lblk, &v);
                change("lblk", &mut e.lblk, v)
            }
            1 => {
                let room = (MAX_FILE_BLOCKS - u64::from(e.lblk)) as u32;
                let to_end = self.s.geo.blocks.wrapping_sub(e.pblk) as u32;
                let v = [
                    0,
                    1,
                    e.len.wrapping_sub(1),
                    e.len.wrapping_add(1),
                    max,
                    room,
                    room.wrapping_add(1),
                    to_end,
                    to_end.wrapping_add(1),
                    1 << 20,
                ];
                let v = self.rng.pick_new(e.len, &v.map(|l| l & max));
                change("len", &mut e.len, v)
            }
            2 => {
                let v = match self.rng.below(3) {
                    0 => {
                        let mut v = vec![e.pblk.wrapping_sub(1), e.pblk.wrapping_add(1)];
                        v.extend(all.iter().map(|o| o.pblk));
                        self.rng.pick_new(e.pblk, &v)
                    }
                    _ => self.block_ptr(e.pblk),
                };
                change("pblk", &mut e.pblk, v)
            }
            _ => {
                let v = !e.unwritten;
                change("unwritten", &mut e.unwritten, v)
            }
        }
    }

    fn inline_extent(&mut self) -> io::Result<bool> {
        let s = self.s;
        let files: Vec<_> = s
            .inodes
            .iter()
            .filter(|i| i.inode.inline_count() > 0)
            .collect();
        let Some(&info) = self.rng.pick(&files) else {
            return Ok(false);
        };
        let idx = self.rng.below(info.inode.inline_count());
        self.edit_inode(info.ino, |c, inode| {
            let mut e = inode.inline_extent(idx)?.ok()?;
            let what = c.mutate_extent(&mut e, &info.extents);
            inode.set_inline_extent(idx, &e);
            Some(format!("inline extent {idx} {what}"))
        })
    }

    /// An extent chain block, its owner and contents.
    fn pick_chain_block(&mut self) -> io::Result<Option<(u64, u64, Block)>> {
        let chains = self.s.chain_blocks();
        let Some(&(owner, b)) = self.rng.pick(&chains) else {
            return Ok(None);
        };
        Ok(Some((owner, b, *self.fs.img.block(b)?)))
    }

    /// Reseals and stores extent block `b` and notes `what`.
    fn put_extent_block(
        &mut self,
        owner: u64,
        b: u64,
        block: &mut Block,
        what: String,
    ) -> io::Result<bool> {
        seal_extent_block(block);
        self.fs.img.write(at(b), &block[..])?;
        let what = format!("extent block {b} (inode {owner}) {what}");
        self.m.note(what, Touched::ExtentBlock(b), &[owner]);
        Ok(true)
    }

    fn chain_header(&mut self) -> io::Result<bool> {
        let Some((owner, b, mut block)) = self.pick_chain_block()? else {
            return Ok(false);
        };
        let what = match self.rng.below(3) {
            0 => {
                let old = u32::from_le_bytes(get(&block, EB_COUNT));
                let per = EXTENTS_PER_BLOCK as u32;
                let mut v = u32_edges(old);
                v.extend([per - 1, per, per + 1]);
                let v = self.rng.pick_new(old, &v);
                put(&mut block, EB_COUNT, &v.to_le_bytes());
                format!("count {old} -> {v}")
            }
            1 => {
                let old = u64::from_le_bytes(get(&block, EB_NEXT));
                let first = self.s.inode(owner).and_then(|i| i.chain.first().copied());
                // Itself, the start of its chain (loops), or anything else.
                let v = match self.rng.below(3) {
                    0 => b,
                    1 => first.unwrap_or(b),
                    _ => self.block_ptr(old),
                };
                put(&mut block, EB_NEXT, &v.to_le_bytes());
                format!("next {old} -> {v}")
            }
            _ => {
                let old = u64::from_le_bytes(get(&block, EB_OWNER));
                let v = self.ino_value(owner, old);
                put(&mut block, EB_OWNER, &v.to_le_bytes());
                format!("owner {old} -> {v}")
            }
        };
        self.put_extent_block(owner, b, &mut block, what)
    }

    fn chain_extent(&mut self) -> io::Result<bool> {
        let Some((owner, b, mut block)) = self.pick_chain_block()? else {
            return Ok(false);
        };
        let count = u32::from_le_bytes(get(&block, EB_COUNT)) as usize;
        let idx = self.rng.below(count.min(EXTENTS_PER_BLOCK));
        let (Some(Ok(mut e)), Some(slot)) = (block_extent(&block, idx), extent_slot(idx)) else {
            return Ok(false);
        };
        let all = self
            .s
            .inode(owner)
            .map(|i| i.extents.clone())
            .unwrap_or_default();
        let what = self.mutate_extent(&mut e, &all);
        put(&mut block, slot, &e.encode());
        self.put_extent_block(owner, b, &mut block, format!("extent {idx} {what}"))
    }

    // --- directories --------------------------------------------------------

    /// A directory record: of a directory chosen first (so that a big one
    /// does not take every turn), in use nine times out of ten.
    fn pick_record(&mut self) -> Option<RecordRef> {
        let s = self.s;
        let mut dirs: Vec<u64> = s.records.iter().map(|r| r.dir).collect();
        dirs.dedup();
        let dir = *self.rng.pick(&dirs)?;
        let live = self.rng.chance(9, 10);
        let records: Vec<_> = s
            .records
            .iter()
            .filter(|r| r.dir == dir && (r.ino != 0 || !live))
            .collect();
        self.rng.pick(&records).map(|r| **r)
    }

    fn dirent(&mut self) -> io::Result<bool> {
        let Some(r) = self.pick_record() else {
            return Ok(false);
        };
        let mut block = *self.fs.img.block(r.pblk)?;
        let off = r.offset;
        let rec_len = u16::from_le_bytes(get(&block, off + DE_REC_LEN));
        let name_len = get::<1>(&block, off + DE_NAME_LEN)[0];
        let mut rehash = true;
        let what = match self.rng.below(6) {
            0 => {
                let v = self.ino_value(r.dir, r.ino);
                put(&mut block, off + DE_INO, &v.to_le_bytes());
                format!("ino {} -> {v}", r.ino)
            }
            1 => {
                let end = BSZ.saturating_sub(off) as u16;
                let v = [
                    0,
                    8,
                    16,
                    rec_len.wrapping_sub(8),
                    rec_len.wrapping_add(8),
                    rec_len.wrapping_add(1),
                    end,
                    end.wrapping_add(8),
                    0xfff8,
                    0xffff,
                ];
                let v = self.rng.pick_new(rec_len, &v);
                put(&mut block, off + DE_REC_LEN, &v.to_le_bytes());
                format!("rec_len {rec_len} -> {v}")
            }
            2 => {
                let fit = rec_len.saturating_sub(DIR_REC_HEADER as u16).min(255) as u8;
                let v = [
                    0,
                    1,
                    name_len.wrapping_sub(1),
                    name_len.wrapping_add(1),
                    255,
                    fit,
                ];
                let v = self.rng.pick_new(name_len, &v);
                put(&mut block, off + DE_NAME_LEN, &[v]);
                format!("name_len {name_len} -> {v}")
            }
            3 => {
                let old = get::<1>(&block, off + DE_TYPE)[0];
                let v = [
                    0, DT_FIFO, DT_CHR, 3, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK, 14, 15, 255,
                ];
                let v = self.rng.pick_new(old, &v);
                put(&mut block, off + DE_TYPE, &[v]);
                format!("file_type {old} -> {v}")
            }
            4 => {
                rehash = false;
                self.m.broken = true;
                let old = u32::from_le_bytes(get(&block, off + DE_HASH));
                put(&mut block, off + DE_HASH, &(old ^ 1).to_le_bytes());
                format!("hash {old:#x} -> {:#x}", old ^ 1)
            }
            _ => match self.rename_record(&mut block, &r, usize::from(rec_len)) {
                Some(what) => what,
                None => return Ok(false),
            },
        };
        if rehash && !self.rehash(&mut block, off) {
            self.m.broken = true;
        }
        self.fs.img.write(at(r.pblk), &block[..])?;
        let at = format!("directory {} block {} offset {off}", r.dir, r.pblk);
        let target = u64::from_le_bytes(get(&block, off + DE_INO));
        let focus = [r.dir, r.ino, target];
        self.m.note(
            format!("{at} {what}"),
            Touched::DirRecord(r.pblk, off),
            &focus,
        );
        Ok(true)
    }

    /// Stores the hash of the record's name; false when its name runs
    /// past the block (no hash can match it).
    fn rehash(&self, block: &mut Block, off: usize) -> bool {
        if u64::from_le_bytes(get(block, off + DE_INO)) == 0 {
            return true;
        }
        let Some(hash) = record_name(block, off).map(name_hash) else {
            return false;
        };
        put(block, off + DE_HASH, &hash.to_le_bytes());
        true
    }

    /// Gives the record a hostile name that fits in it: ".", "..", one with
    /// '/' or NUL, a sibling's (a duplicate), the longest that fits; `None`
    /// when none fits.
    fn rename_record(
        &mut self,
        block: &mut Block,
        r: &RecordRef,
        rec_len: usize,
    ) -> Option<String> {
        let in_block = BSZ.saturating_sub(r.offset + DIR_REC_HEADER);
        let room = rec_len
            .saturating_sub(DIR_REC_HEADER)
            .min(NAME_MAX)
            .min(in_block);
        let old = record_name(block, r.offset).unwrap_or(&[]).to_vec();
        let mut names: Vec<Vec<u8>> = vec![
            b".".to_vec(),
            b"..".to_vec(),
            b"a/b".to_vec(),
            b"x\0y".to_vec(),
        ];
        names.push(vec![b'n'; room]);
        let s = self.s;
        let siblings: Vec<_> = s
            .records
            .iter()
            .filter(|o| o.dir == r.dir && o.ino != 0)
            .collect();
        if let Some(o) = self.rng.pick(&siblings) {
            let sib = self
                .fs
                .img
                .block(o.pblk)
                .ok()
                .and_then(|b| record_name(b, o.offset).map(<[u8]>::to_vec));
            names.extend(sib);
        }
        names.retain(|n| n.len() <= room && *n != old);
        let name = self.rng.pick(&names)?.clone();
        let start = r.offset + DIR_REC_HEADER;
        let clear = old.len().max(name.len()).min(room);
        put(block, start, &vec![0; clear]);
        put(block, start, &name);
        put(block, r.offset + DE_NAME_LEN, &[name.len() as u8]);
        let lossy = String::from_utf8_lossy;
        Some(format!("name {:?} -> {:?}", lossy(&old), lossy(&name)))
    }

    // --- state block and orphan list ------------------------------------------

    fn state_field(&mut self) -> io::Result<bool> {
        let Ok(mut st) = self.fs.state()? else {
            return Ok(false);
        };
        let g = self.s.geo;
        let head = st.orphan_head;
        let mut what = match self.rng.below(4) {
            0 => {
                let v = self.ino_value(0, head);
                change("orphan_head", &mut st.orphan_head, v)
            }
            1 => {
                let mut v = u64_edges(st.free_blocks);
                let data = g.data_blocks();
                v.extend([
                    g.blocks,
                    g.blocks.saturating_add(1),
                    data,
                    data.saturating_add(1),
                ]);
                let v = self.rng.pick_new(st.free_blocks, &v);
                change("free_blocks", &mut st.free_blocks, v)
            }
            2 => {
                let mut v = u64_edges(st.free_inodes);
                v.extend([g.inodes, g.inodes.saturating_add(1)]);
                let v = self.rng.pick_new(st.free_inodes, &v);
                change("free_inodes", &mut st.free_inodes, v)
            }
            _ => {
                let v = !st.clean;
                let what = change("clean", &mut st.clean, v);
                return self.put_state(&st, what);
            }
        };
        // Free counts are trusted only after a clean unmount.
        if !st.clean && self.rng.chance(2, 3) {
            what.push_str(", clean false -> true");
            st.clean = true;
        }
        self.put_state(&st, what)
    }

    /// Stores the state block and notes `what`; the orphan list heads, old
    /// and new, are the workload's targets.
    fn put_state(&mut self, st: &StateBlock, what: String) -> io::Result<bool> {
        let old = self.fs.state()?.map_or(0, |s| s.orphan_head);
        self.fs.put_state(st)?;
        let focus = [old, st.orphan_head];
        self.m
            .note(format!("state block {what}"), Touched::State, &focus);
        Ok(true)
    }

    /// Links one to three in-use inodes (of any type, directories and the
    /// root included) into the orphan list, ending it in a loop or a bad
    /// pointer now and then, with their link counts zeroed or left.
    fn orphan_list(&mut self) -> io::Result<bool> {
        let Ok(mut st) = self.fs.state()? else {
            return Ok(false);
        };
        let mut members: Vec<u64> = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let ino = self.pick_inode();
            members.extend(ino.filter(|i| !members.contains(i)));
        }
        let (Some(&first), Some(&last)) = (members.first(), members.last()) else {
            return Ok(false);
        };
        let g = self.s.geo;
        let mut ends = vec![0, 0, first, last, g.inodes.saturating_add(1), u64::MAX];
        ends.extend(self.s.free_ino);
        let end = self.rng.pick_new(1, &ends);
        let unlink = self.rng.chance(1, 2);
        let old = change("orphan_head", &mut st.orphan_head, first);
        self.put_state(&st, old)?;
        for (k, &ino) in members.iter().enumerate() {
            let next = members.get(k + 1).copied().unwrap_or(end);
            self.edit_inode(ino, |_, i| {
                let mut what = change("orphan_next", &mut i.orphan_next, next);
                if unlink && i.nlink != 0 {
                    what += &format!(", {}", change("nlink", &mut i.nlink, 0));
                }
                Some(what)
            })?;
        }
        Ok(true)
    }

    // --- superblock -----------------------------------------------------------

    /// A new layout (areas recomputed, so that it validates when it fits
    /// the device) or one raw field, checksum recomputed; the primary, and
    /// the backup too now and then.
    fn superblock(&mut self) -> io::Result<bool> {
        let mut sb = self.fs.sb;
        let what = match self.rng.chance(2, 3) {
            true => self.sb_layout(&mut sb),
            false => self.sb_field(&mut sb),
        };
        let mut buf = [0u8; SB_SIZE];
        sb.encode(&mut buf);
        self.fs.img.write(SB_PRIMARY_OFFSET, &buf)?;
        let what = format!("superblock {what}");
        self.m
            .note(what, Touched::Superblock(SB_PRIMARY_OFFSET), &[]);
        if self.rng.chance(1, 2) {
            self.fs.img.write(SB_BACKUP_OFFSET, &buf)?;
            let what = "backup superblock the same".into();
            self.m
                .note(what, Touched::Superblock(SB_BACKUP_OFFSET), &[]);
        }
        Ok(true)
    }

    fn sb_layout(&mut self, sb: &mut SuperBlock) -> String {
        let (b, i, j) = (sb.blocks, sb.inodes, sb.journal_blocks);
        let dev = self.dev_blocks();
        let options = [
            (b.saturating_sub(1), i, j),
            (b.saturating_sub(DATA_ALIGN_BLOCKS), i, j),
            (b / 2, i, j),
            (sb.data_start.saturating_add(1), i, j),
            (MIN_BLOCKS, i, j),
            (b.saturating_add(1), i, j),
            (dev, i, j),
            (b, i.saturating_sub(INODES_PER_BLOCK), j),
            (b, i.saturating_add(INODES_PER_BLOCK), j),
            (b, i.saturating_mul(2), j),
            (b, INODES_PER_BLOCK, j),
            (b, i, j.saturating_sub(1)),
            (b, i, j.saturating_add(1)),
            (b, i, JOURNAL_BLOCKS_MIN),
        ];
        let (nb, ni, nj) = self.rng.pick_new((b, i, j), &options);
        let what = [
            ("blocks", b, nb),
            ("inodes", i, ni),
            ("journal_blocks", j, nj),
        ]
        .iter()
        .filter(|(_, old, new)| old != new)
        .map(|(name, old, new)| format!("{name} {old} -> {new}"))
        .collect::<Vec<_>>()
        .join(", ");
        match Geometry::new(nb, ni, nj) {
            Ok(geo) => {
                *sb = SuperBlock::new(&geo, sb.uuid, sb.label, sb.mkfs_time);
                what + " (areas recomputed)"
            }
            Err(e) => {
                (sb.blocks, sb.inodes, sb.journal_blocks) = (nb, ni, nj);
                format!("{what} ({})", e.describe())
            }
        }
    }

    fn sb_field(&mut self, sb: &mut SuperBlock) -> String {
        let k = self.rng.below(17);
        if let Some((name, slot)) = sb_u32(sb, k) {
            let mut v = u32_edges(*slot);
            v.extend([3, 128, 512, 2048, 8192]);
            let v = self.rng.pick_new(*slot, &v);
            return change(name, slot, v);
        }
        let (name, slot) = sb_u64(sb, k);
        let v = u64_edges(*slot);
        let v = self.rng.pick_new(*slot, &v);
        change(name, slot, v)
    }
}

/// Superblock u32 field `k` (0..5).
fn sb_u32(sb: &mut SuperBlock, k: usize) -> Option<(&'static str, &mut u32)> {
    Some(match k {
        0 => ("version", &mut sb.version),
        1 => ("flags", &mut sb.flags),
        2 => ("block_size", &mut sb.block_size),
        3 => ("inode_size", &mut sb.inode_size),
        4 => ("features", &mut sb.features),
        _ => return None,
    })
}

/// Superblock u64 layout field `k` (5..17; others wrap around).
fn sb_u64(sb: &mut SuperBlock, k: usize) -> (&'static str, &mut u64) {
    match k % 12 {
        0 => ("blocks", &mut sb.blocks),
        1 => ("data_start", &mut sb.data_start),
        2 => ("inodes", &mut sb.inodes),
        3 => ("root_ino", &mut sb.root_ino),
        4 => ("journal_start", &mut sb.journal_start),
        5 => ("journal_blocks", &mut sb.journal_blocks),
        6 => ("ibitmap_start", &mut sb.ibitmap_start),
        7 => ("ibitmap_blocks", &mut sb.ibitmap_blocks),
        8 => ("bbitmap_start", &mut sb.bbitmap_start),
        9 => ("bbitmap_blocks", &mut sb.bbitmap_blocks),
        10 => ("itable_start", &mut sb.itable_start),
        _ => ("itable_blocks", &mut sb.itable_blocks),
    }
}
