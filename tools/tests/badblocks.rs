// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs and media errors: bad blocks given as a badblocks list (`-l`,
//! what the device's list in sysfs gives on pmem) and reads that fail with
//! EIO.  Each bad range is reported with what it holds and what is lost,
//! the exit status says errors were found, and nothing is written.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use daxfs::check::{check, Report};
use daxfs::dev::Device;
use daxfs::*;

/// A badblocks list next to `img`, removed on drop.
struct BadList(PathBuf);

impl BadList {
    /// Lists the blocks `ranges` (first block, count) as 512-byte sectors.
    fn new(img: &Image, ranges: &[(u64, u64)]) -> Self {
        let path = PathBuf::from(format!("{}.bad", img.path().display()));
        let text: String = ranges
            .iter()
            .map(|&(b, n)| format!("{} {}\n", b * 8, n * 8))
            .collect();
        fs::write(&path, text).unwrap();
        BadList(path)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for BadList {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The `fsck.daxfs:` lines of `out` about bad blocks.
fn bad_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|l| l.strip_prefix("fsck.daxfs: "))
        .filter(|l| l.starts_with("bad block"))
        .collect()
}

/// What the tests damage: the populated tree plus 20 files /x0../x19
/// (inodes 14..33, so that inode table block 1, inodes 17..32, holds
/// nothing else).
struct Damage {
    tree: Tree,
    /// Inodes of /x0../x19.
    x: Vec<u64>,
}

fn damaged() -> (Image, Damage) {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let x = (0..20)
        .map(|i| t.mkfile(ROOT_INO, &format!("x{i}"), 1))
        .collect();
    t.finish();
    (img, Damage { tree, x })
}

#[test]
fn badblocks_list_reports_what_is_lost() {
    let (img, d) = damaged();
    let tree = d.tree;
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    // (a) File data: /many/target's second block (file block 2); /big's
    // 101st extent (file block 200, in its first extent block); /a's third
    // extent (unwritten); /sub1/sub2/c's only block (its path is lost with
    // /sub1's block).
    let target = t.map(tree.target).extents[1];
    assert_eq!((target.lblk, target.unwritten), (2, false));
    let c = t.map(tree.c).extents[0].pblk;
    let big = t.map(tree.big);
    let big100 = big.extents[100];
    assert_eq!((big100.lblk, big100.unwritten), (200, false));
    let a2 = t.map(tree.a).extents[2];
    assert!(a2.unwritten);
    // An extent block: the second of /big's chain.
    let chain1 = big.chain[1];
    // (b) A directory block: /sub1's only one.
    let sub1 = t.map(tree.sub1).extents[0].pblk;
    // (c) The inode table block of inodes 17..32.
    let itable = g.itable_start + 1;
    assert_eq!(&d.x[3..19], &(17..=32).collect::<Vec<_>>()[..]);
    // (d) Two free blocks; and a journal block.
    let free = t.free_block();
    let journal = g.journal_start + 1;
    drop(t);
    let list = BadList::new(
        &img,
        &[
            (target.pblk, 1),
            (c, 1),
            (big100.pblk, 1),
            (a2.pblk, 1),
            (chain1, 1),
            (sub1, 1),
            (itable, 1),
            (free, 2),
            (journal, 1),
        ],
    );
    let before = img.read();
    let (code, out) = fsck_out(&["-n", "-l", list.arg()], &img);
    assert!(img.read() == before, "fsck -n modified the image");
    assert_eq!(code, 4, "{out}");
    let names: Vec<String> = (3..11)
        .map(|i| format!("inode {} (/x{i})", d.x[i]))
        .collect();
    let mut want = vec![
        (
            journal,
            format!("bad block {journal}: journal: no pending transaction in it, nothing lost"),
        ),
        (
            itable,
            format!(
                "bad block {itable}: inode table (inodes 17..32): those inodes are unreadable; \
                 lost: {}, and 8 more",
                names.join(", ")
            ),
        ),
        (
            big100.pblk,
            format!(
                "bad block {}: file data of inode {} (/big), bytes 819200..823296: lost; \
                 rewrite the range to clear it",
                big100.pblk, tree.big
            ),
        ),
        (
            chain1,
            format!(
                "bad block {chain1}: extent block of inode {} (/big): the extents in it and \
                 after it in the chain are lost, with the data they map",
                tree.big
            ),
        ),
        (
            a2.pblk,
            format!(
                "bad block {}: preallocated blocks of inode {} (/a), bytes 16384..20480: \
                 nothing lost (unwritten, they read as zeroes)",
                a2.pblk, tree.a
            ),
        ),
        (
            sub1,
            format!(
                "bad block {sub1}: directory inode {} (/sub1): entries in it lost",
                tree.sub1
            ),
        ),
        (
            c,
            format!(
                "bad block {c}: file data of inode {} (no path found), bytes 0..4096: lost; \
                 rewrite the range to clear it",
                tree.c
            ),
        ),
        (
            target.pblk,
            format!(
                "bad block {}: file data of inode {} (/many/target), bytes 8192..12288: lost; \
                 rewrite the range to clear it",
                target.pblk, tree.target
            ),
        ),
        (
            free,
            format!("bad blocks {free}-{}: free: nothing lost", free + 1),
        ),
    ];
    // One line per range, in block order.
    want.sort();
    let want: Vec<String> = want.into_iter().map(|(_, line)| line).collect();
    assert_eq!(bad_lines(&out), want, "{out}");
    // The damage that follows, as the normal checks see it.
    for what in [
        format!(
            "directory {}: block 0 offset 0: bad record length",
            tree.sub1
        ),
        format!("inode {}: unreachable", tree.sub2),
        format!(
            "directory 1: entry 'x3': refers to unreadable inode {}",
            d.x[3]
        ),
        format!(
            "inode {}: extent block {chain1}: bad extent block magic",
            tree.big
        ),
    ] {
        assert!(out.contains(&what), "{what:?} not reported:\n{out}");
    }
    // Nothing about the inode bitmap: the 16 inodes are damaged, not free.
    assert!(!out.contains("free but marked in use"), "{out}");
    assert!(out.ends_with("errors left uncorrected\n"), "{out}");
}

#[test]
fn bad_metadata_blocks() {
    // A filesystem smaller than its device.
    let img = Image::new(64 * MIB);
    let path = img.path().to_str().unwrap();
    assert_eq!(code(&run(MKFS, &["-q", path, "16000"], None)), 0);
    let g = TestFs::open(&img).fs.geo;
    assert_eq!(g.blocks, 16000);
    let list = BadList::new(
        &img,
        &[
            (1, 2),
            (g.ibitmap_start, 1),
            (g.bbitmap_start, 1),
            (g.blocks, 3),
        ],
    );
    let (code, out) = check_n_with(&img, &list);
    assert_eq!(code, 4, "{out}");
    let bits = BITS_PER_BLOCK;
    assert_eq!(
        bad_lines(&out),
        [
            "bad block 1: backup superblock: lost; the primary is the only copy left".to_string(),
            "bad block 2: state block: lost; mount refuses the filesystem without it".into(),
            format!(
                "bad block {}: inode bitmap (inodes 1..{}): lost; the inode table says which \
                 are in use",
                g.ibitmap_start,
                g.inodes.min(bits)
            ),
            format!(
                "bad block {}: block bitmap (blocks 0..{}): lost; the extent maps say which \
                 are in use",
                g.bbitmap_start,
                g.blocks.min(bits) - 1
            ),
            format!(
                "bad blocks {}-{}: past the end of the filesystem: nothing lost",
                g.blocks,
                g.blocks + 2
            ),
        ],
        "{out}"
    );
    assert!(out.contains("state block: bad state block magic"), "{out}");
}

#[test]
fn bad_blocks_owned_by_nothing_are_no_error() {
    // The module never reads a free bad block and does not allocate it:
    // it is reported, but the filesystem is clean.
    let (img, _) = populated();
    let free = TestFs::open(&img).free_block();
    let list = BadList::new(&img, &[(free, 1)]);
    let (code, out) = check_n_with(&img, &list);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        bad_lines(&out),
        [format!("bad block {free}: free: nothing lost")],
        "{out}"
    );
    assert!(out.ends_with(": clean\n"), "{out}");
    assert_eq!(fsck(&["-y", "-l", list.arg()], &img), 0);
}

/// `fsck -n -l list`, which must leave the image untouched.
fn check_n_with(img: &Image, list: &BadList) -> (i32, String) {
    let before = img.read();
    let out = fsck_out(&["-n", "-l", list.arg()], img);
    assert!(img.read() == before, "fsck -n modified the image");
    out
}

#[test]
fn repair_never_writes_a_bad_block() {
    // The primary superblock is bad: the repair would rewrite it from the
    // backup, so it writes nothing at all, not even the other repair.
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.edit(tree.a, |i| i.nlink = 5);
    t.finish();
    let list = BadList::new(&img, &[(0, 1)]);
    let (code, out) = check_n_with(&img, &list);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("primary superblock: bad magic number"),
        "{out}"
    );
    let before = img.read();
    let (code, out) = fsck_out(&["-y", "-l", list.arg()], &img);
    assert_eq!(code, 4, "{out}");
    assert!(
        img.read() == before,
        "a repair wrote with a bad block to rewrite"
    );
    assert!(!out.contains("(fixed)"), "{out}");
    for what in [
        "bad block 0: primary superblock: lost; mount needs it (the backup is a copy); \
         the repair has to rewrite it",
        "nothing repaired: the repair has to write bad block(s) 0 (primary super block); \
         clear them first",
    ] {
        assert!(out.contains(what), "{what:?} not reported:\n{out}");
    }

    // A bad data block does not keep other repairs from being made; the
    // bad block stays an error.
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.edit(tree.a, |i| i.nlink = 5);
    let c = t.map(tree.c).extents[0].pblk;
    t.finish();
    let list = BadList::new(&img, &[(c, 1)]);
    let (code, out) = fsck_out(&["-y", "-l", list.arg()], &img);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains(&format!(
            "inode {}: link count 5, expected 2 (fixed)",
            tree.a
        )),
        "{out}"
    );
    assert_eq!(bad_lines(&out).len(), 1, "{out}");
    assert_eq!(TestFs::open(&img).inode(tree.a).nlink, 2);
    assert_eq!(fsck(&["-n"], &img), 0);
}

#[test]
fn bad_lists_that_do_not_parse() {
    let img = Image::formatted();
    let list = BadList::new(&img, &[]);
    fs::write(&list.0, "12 x\n").unwrap();
    let out = run(FSCK, &["-n", "-l", list.arg()], Some(img.path()));
    assert_eq!(code(&out), 8);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1: \"12 x\" is not SECTOR [COUNT]"),
        "{err}"
    );
    fs::remove_file(&list.0).unwrap();
    let out = run(FSCK, &["-n", "-l", list.arg()], Some(img.path()));
    assert_eq!(code(&out), 8);
    // An empty list, or one entirely past the device: clean.
    fs::write(&list.0, "\n# none\n").unwrap();
    assert_eq!(fsck(&["-n", "-l", list.arg()], &img), 0);
    fs::write(&list.0, format!("{} 8\n", 64 * MIB / 512)).unwrap();
    assert_eq!(fsck(&["-n", "-l", list.arg()], &img), 0);
}

/// The check on `img` with reads of the blocks `fail` failing with EIO.
fn check_failing(img: &Image, fail: &[u64], repair: bool) -> Report {
    let mut dev = Device::open(img.path(), repair).unwrap();
    let bytes: Vec<_> = fail.iter().map(|&b| b * BS + 100..b * BS + 101).collect();
    dev.fail_reads(&bytes);
    let (report, img) = check(daxfs::image::Image::new(dev), repair).unwrap();
    assert!(!img.is_dirty() || repair);
    report
}

#[test]
fn failed_reads_are_bad_blocks() {
    let (img, d) = damaged();
    let tree = d.tree;
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    let sub1 = t.map(tree.sub1).extents[0].pblk;
    let chain0 = t.map(tree.big).chain[0];
    let itable = g.itable_start + 1;
    drop(t);
    // Inode table and bitmap blocks are read in large reads: the one that
    // fails is read again block by block.
    let report = check_failing(&img, &[itable, sub1, chain0], false);
    let msgs: Vec<&str> = report.problems.iter().map(|p| p.msg.as_str()).collect();
    let all = msgs.join("\n");
    for what in [
        format!(
            "bad block {itable} (read failed): inode table (inodes 17..32): those inodes are \
             unreadable; lost: inode {} (/x3)",
            d.x[3]
        ),
        format!(
            "bad block {chain0} (read failed): extent block of inode {} (/big)",
            tree.big
        ),
        format!(
            "bad block {sub1} (read failed): directory inode {} (/sub1): entries in it lost",
            tree.sub1
        ),
        format!(
            "directory {}: block 0 offset 0: bad record length",
            tree.sub1
        ),
    ] {
        assert!(all.contains(&what), "{what:?} not reported:\n{all}");
    }
    // The blocks next to the failed ones were read.
    assert!(!all.contains(&format!("bad block {}", itable + 1)), "{all}");
    assert!(!all.contains("inode 1:"), "{all}");
    // A repair never writes the failed blocks: /big's blocks look leaked,
    // but their owner is unknown, so none is freed; the unreachable
    // inodes stay.
    let report = check_failing(&img, &[itable, sub1, chain0], true);
    assert!(!report.repaired(), "{:?}", report.problems);
}
