// SPDX-License-Identifier: GPL-2.0
//! Reconnecting what lost its name (`fsck -y`): in-use inodes with links
//! that no directory names get an entry `#INO` in `/lost+found`, which fsck
//! makes (mode 0700, as e2fsck does) when the root has none.  mkfs does not
//! make it: the module needs no reserved blocks to add entries, and a
//! missing `/lost+found` costs nothing until fsck needs one.
//!
//! Directories go first, each the top of what it reaches, and their
//! subtrees are walked at once, so a file named in a reconnected directory
//! keeps that name; the files no directory names go after.

use std::collections::VecDeque;
use std::io;

use super::{Checker, Part, Slim, BS};
use crate::image::chain_len;
use crate::*;

/// The name fsck gives the directory it reconnects into.
pub const LOST_FOUND: &[u8] = b"lost+found";

impl Checker {
    /// Whether in-use inode `ino` is named by no directory walked.
    fn unnamed(&self, ino: u64, inode: &Slim) -> bool {
        if inode.is_dir() {
            !self.parent_of.contains_key(&ino)
        } else {
            !self.refs.contains_key(&ino)
        }
    }

    /// Reconnects every in-use inode with links that no directory names
    /// (not an orphan being freed) into `/lost+found`.
    pub(super) fn reconnect(&mut self) -> io::Result<()> {
        let lost = |c: &Self, ino: u64, i: &Slim| {
            i.nlink != 0 && c.unnamed(ino, i) && !c.lost.contains(&ino)
        };
        let dirs: Vec<u64> = (self.inodes.iter())
            .filter(|(&ino, i)| i.is_dir() && lost(self, ino, i))
            .map(|(&ino, _)| ino)
            .collect();
        for ino in dirs {
            let Some(&inode) = self.inodes.get(&ino) else {
                continue;
            };
            if !lost(self, ino, &inode) {
                continue; // reached meanwhile, through one reconnected
            }
            let top = self.top(ino);
            if !self.reconnect_one(top)? {
                return Ok(());
            }
            self.walk_from(VecDeque::from([top]))?;
        }
        let files: Vec<u64> = (self.inodes.iter())
            .filter(|(&ino, i)| !i.is_dir() && lost(self, ino, i))
            .map(|(&ino, _)| ino)
            .collect();
        for ino in files {
            if !self.reconnect_one(ino)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The topmost unnamed directory above unnamed directory `ino`, by the
    /// parent fields (the smallest inode of a loop of them).
    fn top(&self, ino: u64) -> u64 {
        let mut seen = vec![ino];
        let mut at = ino;
        loop {
            let parent = self.inodes.get(&at).map_or(0, |i| i.parent);
            match self.inodes.get(&parent) {
                Some(p) if p.is_dir() && self.unnamed(parent, p) && parent != at => {
                    if seen.contains(&parent) {
                        return seen.into_iter().min().unwrap_or(ino);
                    }
                    seen.push(parent);
                    at = parent;
                }
                _ => return at,
            }
        }
    }

    /// Gives `ino` the entry `#ino` in `/lost+found`; false (and a problem)
    /// when there is no room for it.
    fn reconnect_one(&mut self, ino: u64) -> io::Result<bool> {
        if !self.inodes.contains_key(&ino) {
            return Ok(true);
        }
        let mut inode = self.full(ino)?;
        let msg = format!("inode {ino}: unreachable (in no directory, not on the orphan list)");
        let Some(lf) = self.lost_found()? else {
            self.problem(format!("{msg}; no /lost+found to reconnect it in (no room, or the name is taken)"));
            return Ok(false);
        };
        // "#INO", or "#INO.N" if that name is taken.
        let mut name = format!("#{ino}");
        let mut n = 0;
        while self.lookup(lf, name.as_bytes())?.is_some() {
            n += 1;
            name = format!("#{ino}.{n}");
        }
        if !self.add_entry(lf, name.as_bytes(), ino, dt_from_mode(inode.mode))? {
            self.problem(format!("{msg}; no room to reconnect it in /lost+found"));
            return Ok(false);
        }
        self.mend(format!("{msg}; reconnected as /lost+found/{name}"));
        *self.refs.entry(ino).or_default() += 1;
        if inode.is_dir() {
            self.parent_of.insert(ino, lf);
            *self.subdirs.entry(lf).or_default() += 1;
            inode.parent = lf;
            self.fs.put_inode(ino, Some(&inode))?;
            self.inodes.insert(ino, Slim::of(&inode));
        }
        Ok(true)
    }

    /// `/lost+found`, made if the root has none (`None`: no room).
    fn lost_found(&mut self) -> io::Result<Option<u64>> {
        if let Some(ino) = self.lookup(ROOT_INO, LOST_FOUND)? {
            if self.inodes.get(&ino).is_some_and(Slim::is_dir) {
                return Ok(Some(ino));
            }
            return Ok(None); // the name is taken by something else
        }
        let Some(ino) = self.free_inode_slot()? else {
            return Ok(None);
        };
        let mut dir = Inode::new(S_IFDIR | 0o700, super::now());
        dir.parent = ROOT_INO;
        self.fs.put_inode(ino, Some(&dir))?;
        self.fs.set_bit(self.fs.geo.ibitmap_start, ino - 1, true)?;
        self.inodes.insert(ino, Slim::of(&dir));
        self.dir_extents.insert(ino, Vec::new());
        if !self.add_entry(ROOT_INO, LOST_FOUND, ino, DT_DIR)? {
            self.fs.put_inode(ino, None)?;
            self.fs.set_bit(self.fs.geo.ibitmap_start, ino - 1, false)?;
            self.inodes.remove(&ino);
            return Ok(None);
        }
        self.taken_from_free(0, 1)?;
        self.mend("/lost+found: missing; made".into());
        self.parent_of.insert(ino, ROOT_INO);
        *self.refs.entry(ino).or_default() += 1;
        *self.subdirs.entry(ROOT_INO).or_default() += 1;
        Ok(Some(ino))
    }

    /// The inode `name` names in directory `dir` (walked: its records parse).
    fn lookup(&mut self, dir: u64, name: &[u8]) -> io::Result<Option<u64>> {
        for e in self.dir_extents.get(&dir).cloned().unwrap_or_default() {
            for k in 0..u64::from(e.len) {
                let block = *self.fs.img.block(e.pblk + k)?;
                let found = dir_records(&block[..])
                    .flatten()
                    .find(|r| r.ino != 0 && r.name == name);
                if let Some(r) = found {
                    return Ok(Some(r.ino));
                }
            }
        }
        Ok(None)
    }

    /// The first free inode slot: clear in the bitmap, zero, readable.
    fn free_inode_slot(&mut self) -> io::Result<Option<u64>> {
        let geo = self.fs.geo;
        for ino in ROOT_INO + 1..=geo.inodes {
            if self.inodes.contains_key(&ino)
                || self.damaged.contains(&ino)
                || self.cleared.contains(&ino)
                || self.slot_unreadable(ino)
                || self.fs.bit(geo.ibitmap_start, ino - 1)?
            {
                continue;
            }
            if Inode::is_free_slot(&self.fs.inode_slot(ino)?) {
                return Ok(Some(ino));
            }
        }
        Ok(None)
    }

    /// A free block, claimed for `ino` (see [`Checker::alloc_run`]).
    fn alloc_block(&mut self, ino: u64, part: Part) -> io::Result<Option<u64>> {
        self.alloc_run(ino, 1, part)
    }

    /// The first run of `len` free blocks (owned by nothing, clear in the
    /// block bitmap, not bad), claimed for `ino` (as `part`) and marked in
    /// use.
    pub(super) fn alloc_run(&mut self, ino: u64, len: u64, part: Part) -> io::Result<Option<u64>> {
        let geo = self.fs.geo;
        let mut start = geo.data_start;
        let mut b = start;
        while b < geo.blocks && b - start < len {
            if super::set(&self.claimed, b) || self.fs.img.is_bad(b) || self.fs.bit(geo.bbitmap_start, b)? {
                start = b + 1;
            }
            b += 1;
        }
        if b - start < len || len == 0 {
            return Ok(None);
        }
        self.claim(ino, start, len, part, "new blocks");
        for x in start..start + len {
            self.fs.set_bit(geo.bbitmap_start, x, true)?;
        }
        self.taken_from_free(len, 0)?;
        Ok(Some(start))
    }

    /// Adds the entry `name` -> `ino` (of type `dt`) to walked directory
    /// `dir`: in a record with room, else in a new block; false when no
    /// block is free.
    pub(super) fn add_entry(&mut self, dir: u64, name: &[u8], ino: u64, dt: u8) -> io::Result<bool> {
        let need = dir_rec_len(name.len());
        let bad = |e: DirError| io::Error::other(e.describe());
        for e in self.dir_extents.get(&dir).cloned().unwrap_or_default() {
            for k in 0..u64::from(e.len) {
                let pblk = e.pblk + k;
                let mut block = *self.fs.img.block(pblk)?;
                let room = dir_records(&block[..]).flatten().find_map(|r| {
                    let used = if r.ino == 0 { 0 } else { dir_rec_len(r.name.len()) };
                    (r.rec_len - used >= need).then_some((r.offset, used, r.rec_len, r.ino))
                });
                let Some((offset, used, rec_len, owner)) = room else {
                    continue;
                };
                if used > 0 {
                    let kept = dir_records(&block[offset..]).next();
                    let Some(Ok(r)) = kept else { continue };
                    let (file_type, kept_name) = (r.file_type, r.name.to_vec());
                    encode_dir_record(&mut block[offset..], owner, used, file_type, &kept_name)
                        .map_err(bad)?;
                }
                let at = offset + used;
                encode_dir_record(&mut block[at..], ino, rec_len - used, dt, name).map_err(bad)?;
                self.fs.img.write(pblk * BS, &block)?;
                return Ok(true);
            }
        }
        self.grow_dir(dir, name, ino, dt)
    }

    /// Adds a block holding the one entry `name` -> `ino` at the end of
    /// directory `dir`.
    fn grow_dir(&mut self, dir: u64, name: &[u8], ino: u64, dt: u8) -> io::Result<bool> {
        if !self.inodes.contains_key(&dir) {
            return Ok(false);
        }
        let mut inode = self.full(dir)?;
        let map = self.fs.read_map(dir, &inode)?;
        let mut exts = self.dir_extents.get(&dir).cloned().unwrap_or_default();
        let mut chain = map.chain;
        let lblk = inode.size / BS;
        let Ok(lblk32) = u32::try_from(lblk) else {
            return Ok(false);
        };
        let part = Part::Extent {
            lblk,
            unwritten: false,
        };
        let Some(b) = self.alloc_block(dir, part)? else {
            return Ok(false);
        };
        match exts.last_mut() {
            Some(last) if last.pblk + u64::from(last.len) == b && last.end() == lblk && last.len < EXTENT_MAX_LEN => {
                last.len += 1
            }
            _ => exts.push(Extent {
                lblk: lblk32,
                len: 1,
                unwritten: false,
                pblk: b,
            }),
        }
        let had = chain.len();
        while chain.len() < chain_len(exts.len()) {
            let index = chain.len() as u64;
            let Some(c) = self.alloc_block(dir, Part::ExtentBlock { index })? else {
                // Give back what was taken for this entry.
                let taken: Vec<u64> = chain.drain(had..).collect();
                for &x in &taken {
                    self.unclaim(dir, x, 1);
                }
                self.unclaim_as(dir, b, 1, Some(lblk));
                for x in taken.into_iter().chain([b]) {
                    self.fs.set_bit(self.fs.geo.bbitmap_start, x, false)?;
                    self.released(1, 0)?;
                }
                return Ok(false);
            };
            chain.push(c);
        }
        let mut block = [0u8; BLOCK_SIZE as usize];
        encode_dir_record(&mut block, ino, BLOCK_SIZE as usize, dt, name)
            .map_err(|e| io::Error::other(e.describe()))?;
        self.fs.img.write(b * BS, &block)?;
        // A chain packed by the module may hold more blocks than needed:
        // kept as they are (put_extents packs into exactly chain_len).
        let keep = chain_len(exts.len());
        for &c in &chain[keep..] {
            self.unclaim(dir, c, 1);
            self.fs.set_bit(self.fs.geo.bbitmap_start, c, false)?;
            self.released(1, 0)?;
        }
        self.fs.put_extents(dir, &mut inode, &exts, &chain[..keep])?;
        inode.size += BS;
        self.fs.put_inode(dir, Some(&inode))?;
        self.inodes.insert(dir, Slim::of(&inode));
        self.dir_extents.insert(dir, exts);
        Ok(true)
    }

    /// Keeps the free counts of a clean state block exact after taking
    /// `blocks` blocks and `inodes` inodes.
    fn taken_from_free(&mut self, blocks: u64, inodes: u64) -> io::Result<()> {
        match self.state.filter(|s| s.clean) {
            Some(mut s) => {
                s.free_blocks = s.free_blocks.saturating_sub(blocks);
                s.free_inodes = s.free_inodes.saturating_sub(inodes);
                self.put_state(s)
            }
            None => Ok(()),
        }
    }
}
