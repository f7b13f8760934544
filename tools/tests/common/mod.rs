// SPDX-License-Identifier: GPL-2.0
//! Helpers of the integration tests: temporary images, running the tools,
//! and [`TestFs`], which builds filesystems with the format.rs encoders.

// Each test crate uses a different subset.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use daxfs::image::{chain_len, ExtentMap, Fs};
use daxfs::*;

pub const MKFS: &str = env!("CARGO_BIN_EXE_mkfs-daxfs");
pub const FSCK: &str = env!("CARGO_BIN_EXE_fsck-daxfs");
pub const MIB: u64 = 1 << 20;
pub const BS: u64 = BLOCK_SIZE as u64;

/// A sparse image file in the temporary directory, removed on drop.
pub struct Image(PathBuf);

impl Image {
    pub fn new(bytes: u64) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "daxfs-tools-test-{}-{}.img",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        file.set_len(bytes).unwrap();
        Image(path)
    }

    /// A 64 MiB image holding a fresh filesystem.
    pub fn formatted() -> Self {
        let img = Image::new(64 * MIB);
        assert_eq!(mkfs(&["-q", "--"], &img), 0);
        img
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn read(&self) -> Vec<u8> {
        fs::read(&self.0).unwrap()
    }

    pub fn sb(&self, offset: u64) -> SuperBlock {
        let mut buf = [0u8; SB_SIZE];
        fs::File::open(&self.0)
            .unwrap()
            .read_exact_at(&mut buf, offset)
            .unwrap();
        SuperBlock::decode(&buf).unwrap()
    }

    pub fn write_at(&self, offset: u64, data: &[u8]) {
        OpenOptions::new()
            .write(true)
            .open(&self.0)
            .unwrap()
            .write_all_at(data, offset)
            .unwrap();
    }

    pub fn flip(&self, offset: u64) {
        let mut b = [0u8];
        fs::File::open(&self.0)
            .unwrap()
            .read_exact_at(&mut b, offset)
            .unwrap();
        self.write_at(offset, &[b[0] ^ 0x55]);
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

pub fn run(program: &str, args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    if let Some(path) = path {
        cmd.arg(path);
    }
    cmd.output().unwrap()
}

pub fn code(out: &Output) -> i32 {
    out.status.code().expect("killed by a signal")
}

pub fn mkfs(args: &[&str], img: &Image) -> i32 {
    code(&run(MKFS, args, Some(img.path())))
}

pub fn fsck(args: &[&str], img: &Image) -> i32 {
    code(&run(FSCK, args, Some(img.path())))
}

/// fsck with `args`: exit code and stdout.
pub fn fsck_out(args: &[&str], img: &Image) -> (i32, String) {
    let out = run(FSCK, args, Some(img.path()));
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `fsck -n`, which must leave the image untouched: exit code and stdout.
pub fn check_n(img: &Image) -> (i32, String) {
    let before = img.read();
    let out = fsck_out(&["-n"], img);
    assert!(img.read() == before, "fsck -n modified the image");
    out
}

/// Asserts that `fsck -n` reports `what` (exit 4); then, if `repairable`,
/// that `fsck -y` repairs it (exit 1) and `fsck -n` is clean afterwards, else
/// that `fsck -y` leaves it (exit 4).
pub fn expect_problem(img: &Image, what: &str, repairable: bool) {
    let (code, out) = check_n(img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(what), "{what:?} not reported:\n{out}");
    let (code, out) = fsck_out(&["-y"], img);
    if repairable {
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("(fixed)"), "{out}");
        let (code, out) = check_n(img);
        assert_eq!(code, 0, "{out}");
    } else {
        assert_eq!(code, 4, "{out}");
        assert!(out.contains(what), "{out}");
    }
}

/// An extent.
pub fn ext(lblk: u32, len: u32, unwritten: bool, pblk: u64) -> Extent {
    Extent {
        lblk,
        len,
        unwritten,
        pblk,
    }
}

/// Writes filesystem structures through the format.rs encoders.
pub struct TestFs {
    pub fs: Fs,
    pub now: Time,
}

impl TestFs {
    pub fn open(img: &Image) -> Self {
        TestFs {
            fs: Fs::open(img.path(), true).unwrap(),
            now: Time {
                sec: 1_700_000_000,
                nsec: 5,
            },
        }
    }

    fn alloc(&mut self, start: u64, blocks: u64, from: u64, end: u64) -> u64 {
        let map = self.fs.read_area(start, blocks).unwrap();
        let bit = bitmap_find_clear(&map, from, end).expect("bitmap full");
        self.fs.set_bit(start, bit, true).unwrap();
        bit
    }

    /// Allocates a data block.
    pub fn alloc_block(&mut self) -> u64 {
        let g = self.fs.geo;
        self.alloc(g.bbitmap_start, g.bbitmap_blocks, g.data_start, g.blocks)
    }

    /// Allocates `n` consecutive data blocks; returns the first.
    pub fn alloc_run(&mut self, n: u64) -> u64 {
        let first = self.alloc_block();
        for k in 1..n {
            assert_eq!(self.alloc_block(), first + k, "blocks not consecutive");
        }
        first
    }

    /// A free data block, left free.
    pub fn free_block(&mut self) -> u64 {
        let b = self.alloc_block();
        self.fs
            .set_bit(self.fs.geo.bbitmap_start, b, false)
            .unwrap();
        b
    }

    /// Allocates an inode and stores `inode` in it.
    pub fn alloc_inode(&mut self, inode: &Inode) -> u64 {
        let g = self.fs.geo;
        let ino = self.alloc(g.ibitmap_start, g.ibitmap_blocks, 0, g.inodes) + 1;
        self.put(ino, inode);
        ino
    }

    pub fn inode(&mut self, ino: u64) -> Inode {
        self.fs.inode(ino).unwrap().unwrap()
    }

    pub fn put(&mut self, ino: u64, inode: &Inode) {
        self.fs.put_inode(ino, Some(inode)).unwrap();
    }

    pub fn edit(&mut self, ino: u64, f: impl FnOnce(&mut Inode)) {
        let mut inode = self.inode(ino);
        f(&mut inode);
        self.put(ino, &inode);
    }

    /// Gives inode `ino` (which has none) the extents `exts`: inline, then in
    /// a chain of extent blocks allocated here.
    pub fn set_extents(&mut self, ino: u64, exts: &[Extent]) {
        let mut inode = self.inode(ino);
        assert_eq!(inode.extent_block, 0);
        let chain: Vec<u64> = (0..chain_len(exts.len()))
            .map(|_| self.alloc_block())
            .collect();
        self.fs.put_extents(ino, &mut inode, exts, &chain).unwrap();
        self.put(ino, &inode);
    }

    /// The extents and extent blocks of inode `ino`, which must be intact.
    pub fn map(&mut self, ino: u64) -> ExtentMap {
        let inode = self.inode(ino);
        let map = self.fs.read_map(ino, &inode).unwrap();
        assert!(map.damage.is_empty(), "{:?}", map.damage);
        map
    }

    /// The device block holding block `lblk` of directory `dir` (inline
    /// extents only, as this builder makes directories).
    fn dir_block(&mut self, dir: u64, lblk: u64) -> u64 {
        let d = self.inode(dir);
        (0..d.inline_count())
            .map(|i| d.inline_extent(i).unwrap().unwrap())
            .find(|e| (u64::from(e.lblk)..e.end()).contains(&lblk))
            .map(|e| e.pblk + lblk - u64::from(e.lblk))
            .unwrap()
    }

    /// Adds the record `name` -> `ino` of type `dt` to directory `dir`, in
    /// the first record with room (splitting it), or in a new block.
    pub fn add_record(&mut self, dir: u64, name: &[u8], ino: u64, dt: u8) {
        let need = dir_rec_len(name.len());
        for lblk in 0..self.inode(dir).size / BS {
            let pblk = self.dir_block(dir, lblk);
            let mut block = *self.fs.img.block(pblk).unwrap();
            let room = dir_records(&block).map(Result::unwrap).find_map(|r| {
                let used = if r.ino == 0 {
                    0
                } else {
                    dir_rec_len(r.name.len())
                };
                (r.rec_len - used >= need).then_some((r.offset, used, r.rec_len))
            });
            if let Some((off, used, rec_len)) = room {
                if used > 0 {
                    block[off + 8..off + 10].copy_from_slice(&(used as u16).to_le_bytes());
                }
                encode_dir_record(&mut block[off + used..], ino, rec_len - used, dt, name).unwrap();
                self.fs.img.write(pblk * BS, &block).unwrap();
                return;
            }
        }
        let pblk = self.alloc_block();
        let mut block = [0u8; BLOCK_SIZE as usize];
        encode_dir_record(&mut block, ino, BLOCK_SIZE as usize, dt, name).unwrap();
        self.fs.img.write(pblk * BS, &block).unwrap();
        let mut d = self.inode(dir);
        let n = d.nextents as usize;
        match n
            .checked_sub(1)
            .map(|i| d.inline_extent(i).unwrap().unwrap())
        {
            Some(mut last) if last.pblk + u64::from(last.len) == pblk => {
                last.len += 1;
                d.set_inline_extent(n - 1, &last);
            }
            _ => {
                assert!(n < INLINE_EXTENTS);
                let lblk = (d.size / BS) as u32;
                d.set_inline_extent(
                    n,
                    &Extent {
                        lblk,
                        len: 1,
                        unwritten: false,
                        pblk,
                    },
                );
                d.nextents += 1;
            }
        }
        d.size += BS;
        d.blocks += 1;
        self.put(dir, &d);
    }

    /// Adds an entry for `ino`, of its type.
    pub fn add_entry(&mut self, dir: u64, name: &str, ino: u64) {
        let dt = dt_from_mode(self.inode(ino).mode);
        self.add_record(dir, name.as_bytes(), ino, dt);
    }

    /// A regular file of `nblocks` one-block extents at every other file
    /// block (so that none merge), linked as `dir/name`.
    pub fn mkfile(&mut self, dir: u64, name: &str, nblocks: u32) -> u64 {
        let ino = self.alloc_inode(&Inode::new(S_IFREG | 0o644, self.now));
        let exts: Vec<Extent> = (0..nblocks)
            .map(|i| Extent {
                lblk: 2 * i,
                len: 1,
                unwritten: i % 3 == 2,
                pblk: self.alloc_block(),
            })
            .collect();
        self.set_extents(ino, &exts);
        let size = (u64::from(2 * nblocks).saturating_sub(1) * BS).saturating_sub(100);
        self.edit(ino, |i| i.size = size);
        self.add_entry(dir, name, ino);
        ino
    }

    pub fn mkdir(&mut self, parent: u64, name: &str) -> u64 {
        let ino = self.alloc_inode(&Inode {
            parent,
            ..Inode::new(S_IFDIR | 0o755, self.now)
        });
        self.add_entry(parent, name, ino);
        self.edit(parent, |p| p.nlink += 1);
        ino
    }

    pub fn symlink(&mut self, dir: u64, name: &str, target: &[u8]) -> u64 {
        let mut inode = Inode::new(S_IFLNK | 0o777, self.now);
        inode.size = target.len() as u64;
        if target.len() <= FAST_SYMLINK_MAX {
            inode.inline[..target.len()].copy_from_slice(target);
        }
        let ino = self.alloc_inode(&inode);
        if target.len() > FAST_SYMLINK_MAX {
            let pblk = self.alloc_block();
            self.fs.img.write(pblk * BS, target).unwrap();
            self.set_extents(
                ino,
                &[Extent {
                    lblk: 0,
                    len: 1,
                    unwritten: false,
                    pblk,
                }],
            );
        }
        self.add_entry(dir, name, ino);
        ino
    }

    pub fn mknod(&mut self, dir: u64, name: &str, mode: u32) -> u64 {
        let ino = self.alloc_inode(&Inode::new(mode, self.now));
        self.add_entry(dir, name, ino);
        ino
    }

    /// A hard link.
    pub fn link(&mut self, dir: u64, name: &str, ino: u64) {
        self.add_entry(dir, name, ino);
        self.edit(ino, |i| i.nlink += 1);
    }

    /// Free blocks and inodes, as the bitmaps say.
    pub fn free_counts(&mut self) -> (u64, u64) {
        let free = |map: Vec<u8>, n: u64| {
            n - (0..n)
                .filter(|&b| bitmap_test(&map, b) == Some(true))
                .count() as u64
        };
        let g = self.fs.geo;
        (
            free(self.fs.block_bitmap().unwrap(), g.blocks),
            free(self.fs.inode_bitmap().unwrap(), g.inodes),
        )
    }

    /// Sets the free counts of the state block from the bitmaps.
    fn update_counts(&mut self) {
        let mut s = self.fs.state().unwrap().unwrap();
        (s.free_blocks, s.free_inodes) = self.free_counts();
        self.fs.put_state(&s).unwrap();
    }

    /// Puts inode `ino` at the head of the orphan list.
    pub fn push_orphan(&mut self, ino: u64) {
        let mut s = self.fs.state().unwrap().unwrap();
        self.edit(ino, |i| i.orphan_next = s.orphan_head);
        s.orphan_head = ino;
        self.fs.put_state(&s).unwrap();
    }

    /// Writes everything in place.
    pub fn finish(mut self) {
        self.update_counts();
        self.fs.img.flush().unwrap();
    }

    /// Writes everything as one committed but unapplied journal transaction
    /// (what a crash right after the commit point leaves); returns its
    /// sequence number.
    pub fn commit_to_journal(mut self) -> u64 {
        self.update_counts();
        let mut journal = Vec::new();
        for (n, block) in self.fs.img.take_dirty() {
            let skip = if n == STATE_BLOCK { STATE_JOURNALED } else { 0 };
            let data = &block[skip..];
            let mut rec = vec![0u8; record_size(data.len())];
            encode_record(&mut rec, n * BS + skip as u64, data).unwrap();
            journal.extend_from_slice(&rec);
        }
        // The state block was taken out of the cache: this is the one on disk.
        let mut s = self.fs.state().unwrap().unwrap();
        s.committed_seq = s.applied_seq + 1;
        s.tx_len = journal.len() as u32;
        s.tx_crc = tx_crc(s.committed_seq, &journal);
        self.fs
            .img
            .write(self.fs.geo.journal_start * BS, &journal)
            .unwrap();
        self.fs.put_state(&s).unwrap();
        self.fs.img.flush().unwrap();
        s.committed_seq
    }

    /// The inode `name` names in directory `dir`.
    pub fn lookup(&mut self, dir: u64, name: &str) -> Option<u64> {
        (0..self.inode(dir).size / BS).find_map(|lblk| {
            let pblk = self.dir_block(dir, lblk);
            let block = *self.fs.img.block(pblk).unwrap();
            dir_records(&block)
                .map(Result::unwrap)
                .find(|r| r.ino != 0 && r.name == name.as_bytes())
                .map(|r| r.ino)
        })
    }
}

/// Inode numbers of what [`populated`] made.
#[derive(Clone, Copy, Debug)]
pub struct Tree {
    /// /a: 3 blocks; also linked as /a2.
    pub a: u64,
    /// /big: 300 extents, 8 inline and a chain of 2 extent blocks.
    pub big: u64,
    /// /sub1
    pub sub1: u64,
    /// /sub1/sub2
    pub sub2: u64,
    /// /sub1/sub2/c
    pub c: u64,
    /// /many: 200 names (3 blocks) for one file, /many/target.
    pub many: u64,
    pub target: u64,
}

/// A 64 MiB filesystem with files, directories, links, symlinks and special
/// files, written in place.
pub fn populated() -> (Image, Tree) {
    let img = Image::formatted();
    let mut t = TestFs::open(&img);
    let a = t.mkfile(ROOT_INO, "a", 3);
    let big = t.mkfile(ROOT_INO, "big", 300);
    let sub1 = t.mkdir(ROOT_INO, "sub1");
    let sub2 = t.mkdir(sub1, "sub2");
    let c = t.mkfile(sub2, "c", 1);
    t.mkfile(sub2, "empty", 0);
    let many = t.mkdir(ROOT_INO, "many");
    let target = t.mkfile(many, "target", 2);
    for i in 0..200 {
        t.link(many, &format!("a-rather-long-name-number-{i:03}"), target);
    }
    t.link(ROOT_INO, "a2", a);
    t.symlink(ROOT_INO, "fast", b"a");
    t.symlink(sub1, "slow", &[b'x'; 300]);
    t.mknod(ROOT_INO, "fifo", S_IFIFO | 0o600);
    t.mknod(sub1, "null", S_IFCHR | 0o666);
    t.finish();
    let tree = Tree {
        a,
        big,
        sub1,
        sub2,
        c,
        many,
        target,
    };
    (img, tree)
}
