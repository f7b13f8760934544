// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs on populated filesystems: clean ones, then one violation of
//! each invariant at a time, reported by `-n` and repaired by `-y` where
//! that is safe.

mod common;

use common::*;
use daxfs::*;

#[test]
fn mkfs_writes_the_v2_layout() {
    let img = Image::formatted();
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    assert_eq!(t.fs.sb, img.sb(SB_BACKUP_OFFSET));
    let s = t.fs.state().unwrap().unwrap();
    assert_eq!(s, StateBlock::new(g.blocks - g.data_start, g.inodes - 1));
    let root = t.inode(ROOT_INO);
    assert_eq!(
        (root.mode, root.uid, root.gid, root.nlink, root.size),
        (S_IFDIR | 0o755, 0, 0, 2, 0)
    );
    assert_eq!(
        (
            root.parent,
            root.nextents,
            root.extent_block,
            root.generation
        ),
        (1, 0, 0, 0)
    );
    assert!(root.mtime.sec > 1_700_000_000 && root.btime == root.ctime);
    let ibits = t.fs.inode_bitmap().unwrap();
    assert_eq!(ibits[0], 1);
    assert!(ibits[1..].iter().all(|&b| b == 0));
    let bbits = t.fs.block_bitmap().unwrap();
    let set: Vec<u64> = (0..g.bbitmap_blocks * BITS_PER_BLOCK)
        .filter(|&b| bitmap_test(&bbits, b) == Some(true))
        .collect();
    assert_eq!(set, (0..g.data_start).collect::<Vec<_>>());
    assert!((2..=g.inodes).all(|ino| Inode::is_free_slot(&t.fs.inode_slot(ino).unwrap())));
    let journal = t.fs.read_area(g.journal_start, g.journal_blocks).unwrap();
    assert!(journal.iter().all(|&b| b == 0));
}

#[test]
fn populated_filesystem_is_clean() {
    let (img, tree) = populated();
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
    let before = img.read();
    assert_eq!(fsck_out(&["-y"], &img).0, 0);
    assert!(img.read() == before, "fsck -y changed a clean filesystem");

    let mut t = TestFs::open(&img);
    assert_eq!(t.lookup(ROOT_INO, "a2"), Some(tree.a));
    assert_eq!(t.lookup(tree.sub2, "c"), Some(tree.c));
    assert_eq!(t.inode(tree.target).nlink, 201);
    assert_eq!((t.inode(ROOT_INO).nlink, t.inode(tree.sub1).nlink), (4, 3));
    let big = t.inode(tree.big);
    assert_eq!((big.nextents, big.blocks), (300, 302));
    assert_ne!(big.extent_block, 0);
    assert_eq!(t.inode(tree.many).size, 3 * BS);
}

#[test]
fn block_owned_twice() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let stolen = t.inode(tree.a).inline_extent(1).unwrap().unwrap().pblk;
    let ino = t.alloc_inode(&Inode::new(S_IFREG | 0o644, t.now));
    t.set_extents(
        ino,
        &[Extent {
            lblk: 0,
            len: 1,
            unwritten: false,
            pblk: stolen,
        }],
    );
    t.edit(ino, |i| i.size = 1);
    t.add_entry(ROOT_INO, "thief", ino);
    t.finish();
    expect_problem(
        &img,
        &format!("1 block(s) from {stolen} already owned by inode {}", tree.a),
        true,
    );
}

#[test]
fn leaked_block() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let b = t.alloc_block();
    t.finish();
    expect_problem(
        &img,
        &format!("block bitmap: block {b} marked in use but owned by nothing"),
        true,
    );
}

#[test]
fn block_bitmap_bit_missing() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let e = t.inode(tree.c).inline_extent(0).unwrap().unwrap();
    let start = t.fs.geo.bbitmap_start;
    t.fs.set_bit(start, e.pblk, false).unwrap();
    t.fs.set_bit(start, 3, false).unwrap(); // a journal block
    t.finish();
    let what = format!("block bitmap: block {} in use but marked free", e.pblk);
    expect_problem(&img, &what, true);
}

#[test]
fn inode_bitmap_mismatches() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let start = t.fs.geo.ibitmap_start;
    t.fs.set_bit(start, tree.c - 1, false).unwrap();
    t.fs.set_bit(start, 1000, true).unwrap();
    t.finish();
    let (_, out) = check_n(&img);
    assert!(out.contains("inode 1001: free but marked in use"), "{out}");
    expect_problem(
        &img,
        &format!("inode {}: in use but not marked", tree.c),
        true,
    );
}

/// A populated image whose state block counts one free inode too many.
fn wrong_free_count() -> Image {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let mut s = t.fs.state().unwrap().unwrap();
    s.free_inodes += 1;
    t.fs.put_state(&s).unwrap();
    t.fs.img.flush().unwrap();
    drop(t);
    img
}

#[test]
fn free_counts_wrong() {
    let img = wrong_free_count();
    expect_problem(&img, "state block: ", true);
}

#[test]
fn bad_inode_checksum() {
    let (img, tree) = populated();
    let t = TestFs::open(&img);
    let offset = t.fs.geo.inode_offset(tree.c).unwrap();
    drop(t);
    img.flip(offset + 30);
    expect_problem(
        &img,
        &format!("inode {}: inode checksum mismatch", tree.c),
        true,
    );
}

#[test]
fn entry_to_free_inode() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    t.add_record(ROOT_INO, b"ghost", 3000, DT_REG);
    t.add_record(ROOT_INO, b"nowhere", 1 << 40, DT_REG);
    t.finish();
    let (_, out) = check_n(&img);
    assert!(
        out.contains("entry 'nowhere': refers to out-of-range inode"),
        "{out}"
    );
    expect_problem(
        &img,
        "directory 1: entry 'ghost': refers to free inode 3000",
        true,
    );
}

#[test]
fn wrong_link_counts() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.edit(tree.a, |i| i.nlink = 5);
    t.edit(tree.sub1, |i| i.nlink = 2);
    t.edit(tree.target, |i| i.nlink = 1);
    t.finish();
    expect_problem(
        &img,
        &format!("inode {}: link count 5, expected 2", tree.a),
        true,
    );
    let mut t = TestFs::open(&img);
    assert_eq!(t.inode(tree.a).nlink, 2);
    assert_eq!(t.inode(tree.sub1).nlink, 3);
    assert_eq!(t.inode(tree.target).nlink, 201);
}

#[test]
fn directory_cycle() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.add_entry(tree.sub2, "loop", tree.sub1);
    t.finish();
    expect_problem(
        &img,
        &format!("directory {} contains itself (cycle)", tree.sub1),
        true,
    );
}

#[test]
fn root_in_a_subdirectory() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.add_entry(tree.sub2, "root", ROOT_INO);
    t.finish();
    expect_problem(&img, "directory 1 contains itself (cycle)", true);
}

#[test]
fn directory_reachable_twice() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.add_entry(ROOT_INO, "again", tree.sub2);
    t.finish();
    // Whichever entry is met first wins; the other is the problem.
    expect_problem(
        &img,
        &format!(
            "directory {} is already reachable from directory",
            tree.sub2
        ),
        true,
    );
}

#[test]
fn wrong_parent() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.edit(tree.sub2, |i| i.parent = ROOT_INO);
    t.finish();
    let what = format!(
        "directory {}: parent is inode 1, expected {}",
        tree.sub2, tree.sub1
    );
    expect_problem(&img, &what, true);
}

#[test]
fn unreachable_inode() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let lost = t.alloc_inode(&Inode::new(S_IFREG | 0o644, t.now));
    let dir = t.alloc_inode(&Inode {
        parent: ROOT_INO,
        ..Inode::new(S_IFDIR | 0o755, t.now)
    });
    t.finish();
    let (_, out) = check_n(&img);
    assert!(out.contains(&format!("inode {dir}: unreachable")), "{out}");
    expect_problem(&img, &format!("inode {lost}: unreachable"), true);
}

#[test]
fn extent_overlapping_metadata() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let itable = t.fs.geo.itable_start;
    let ino = t.alloc_inode(&Inode::new(S_IFREG | 0o644, t.now));
    t.set_extents(
        ino,
        &[Extent {
            lblk: 0,
            len: 2,
            unwritten: false,
            pblk: itable,
        }],
    );
    t.edit(ino, |i| i.size = 2 * BS);
    t.add_entry(ROOT_INO, "meta", ino);
    t.finish();
    expect_problem(
        &img,
        &format!("inode {ino}: extent 0+2 at block {itable}: overlaps the metadata areas"),
        true,
    );
}

#[test]
fn extent_problems() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let mut a = t.inode(tree.a);
    let e0 = a.inline_extent(0).unwrap().unwrap();
    a.set_inline_extent(1, &Extent { lblk: 0, ..e0 }); // overlaps extent 0
    a.size = 0; // extents past the end of file are legal (crash leftovers)
    t.put(tree.a, &a);
    t.edit(tree.c, |i| i.blocks = 7);
    t.edit(tree.sub1, |i| i.size += BS);
    t.finish();
    let (code, out) = check_n(&img);
    assert_eq!(code, 4);
    for what in [
        format!("inode {}: extent 0+1", tree.a),
        "out of order or overlapping".into(),
        format!("inode {}: 7 blocks recorded, 1 allocated", tree.c),
        format!("inode {}: directory size", tree.sub1),
    ] {
        assert!(out.contains(&what), "{what}\n{out}");
    }
}

#[test]
fn extent_chain_damage() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let chain = t.inode(tree.big).extent_block;
    drop(t);
    img.flip(chain * BS + 2000);
    // The chain's second block and the extents it held are now unknown:
    // their blocks look leaked but must not be freed.
    let (code, out) = check_n(&img);
    assert_eq!(code, 4);
    assert!(
        out.contains(&format!(
            "inode {}: extent block {chain}: extent block checksum mismatch",
            tree.big
        )),
        "{out}"
    );
    // fsck -y keeps the block (its header and extents are valid), sealed again.
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("its header and extents are valid, kept (fixed)"), "{out}");
    assert!(!out.contains("freed"), "{out}");
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn bad_directory_record() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let root = t.inode(ROOT_INO).inline_extent(0).unwrap().unwrap().pblk;
    drop(t);
    img.write_at(root * BS + 8, &13u16.to_le_bytes());
    expect_problem(
        &img,
        "directory 1: block 0 offset 0: bad record length",
        true,
    );
}

#[test]
fn bad_name_hash_and_type() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.add_record(tree.sub1, b"typo", tree.c, DT_DIR);
    let pblk = t.inode(tree.many).inline_extent(0).unwrap().unwrap().pblk;
    t.finish();
    img.flip(pblk * BS + 12);
    let (code, out) = check_n(&img);
    assert_eq!(code, 4);
    assert!(
        out.contains(&format!(
            "directory {}: block 0 offset 0: name hash mismatch",
            tree.many
        )),
        "{out}"
    );
    assert!(out.contains("entry 'typo': file type 4 but inode"), "{out}");
}

#[test]
fn committed_journal_is_replayed() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let new = t.mkfile(tree.sub2, "new", 2);
    t.link(ROOT_INO, "new-link", new);
    let seq = t.commit_to_journal();
    assert_eq!(seq, 1);
    // Nothing is in place yet: the old filesystem is intact.
    assert_eq!(TestFs::open(&img).lookup(tree.sub2, "new"), None);
    let what = format!("journal: transaction {seq} committed but not applied (needs replay)");
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert_eq!(
        out.matches("fsck.daxfs: ").count(),
        1,
        "only the replay is reported:\n{out}"
    );
    assert!(out.contains(&what), "{out}");
    expect_problem(&img, &what, true);
    let mut t = TestFs::open(&img);
    assert_eq!(t.lookup(tree.sub2, "new"), Some(new));
    assert_eq!(t.inode(new).nlink, 2);
    let s = t.fs.state().unwrap().unwrap();
    assert_eq!((s.committed_seq, s.applied_seq), (1, 1));
}

/// Issue 12: the state block's journaled part (bytes 32..68) is updated in
/// place after a commit, across two cache lines; a power cut can persist
/// one line and not the other.  The committed transaction rewrites it
/// whole, so the replay must come before the state block's CRC is checked.
#[test]
fn torn_state_block_under_a_pending_transaction_is_replayed() {
    for torn in [32u64, 64] {
        let (img, tree) = populated();
        let mut t = TestFs::open(&img);
        let new = t.mkfile(tree.sub2, "new", 2);
        let seq = t.commit_to_journal();
        // One line of the in-place update persisted: the orphan head (line
        // 0) or the CRC (line 1) holds another value.
        img.flip(STATE_BLOCK * BS + torn);
        let what = format!("journal: transaction {seq} committed but not applied (needs replay)");
        let (code, out) = check_n(&img);
        assert_eq!(code, 4, "{out}");
        assert!(out.contains(&what), "torn at {torn}: {out}");
        assert!(!out.contains("state block"), "torn at {torn}: {out}");
        expect_problem(&img, &what, true);
        assert_eq!(TestFs::open(&img).lookup(tree.sub2, "new"), Some(new));
    }
}

#[test]
fn corrupt_journal_is_discarded() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    t.mkfile(tree.sub2, "new", 1);
    t.commit_to_journal();
    let journal = TestFs::open(&img).fs.geo.journal_start * BS;
    img.flip(journal + 100);
    expect_problem(
        &img,
        "journal: transaction checksum mismatch (committed 1, applied 0)",
        true,
    );
}

#[test]
fn journal_sequence_gap() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let mut s = t.fs.state().unwrap().unwrap();
    s.committed_seq = 5;
    t.fs.put_state(&s).unwrap();
    t.fs.img.flush().unwrap();
    expect_problem(
        &img,
        "journal: committed and applied sequence numbers inconsistent",
        true,
    );
}

#[test]
fn damaged_state_block() {
    let img = Image::formatted();
    img.flip(STATE_BLOCK * BS + 50);
    expect_problem(&img, "state block: state block checksum mismatch", true);
}

#[test]
fn damaged_root() {
    let img = Image::formatted();
    let t = TestFs::open(&img);
    let root = t.fs.geo.inode_offset(ROOT_INO).unwrap();
    drop(t);
    img.flip(root);
    let (code, out) = check_n(&img);
    assert_eq!(code, 4);
    assert!(
        out.contains("root inode is not an in-use directory"),
        "{out}"
    );
}

#[test]
fn many_problems_at_once_are_bounded() {
    let (img, _) = populated();
    let t = TestFs::open(&img);
    let bbitmap = t.fs.geo.bbitmap_start * BS;
    drop(t);
    // Every other block of the data area marked in use: thousands of runs.
    img.write_at(bbitmap + 1024, &[0x55; 1024]);
    let (code, out) = check_n(&img);
    assert_eq!(code, 4);
    assert!(out.lines().count() < 30, "{out}");
    assert!(
        out.contains("more ranges marked in use but owned by nothing"),
        "{out}"
    );
    assert_eq!(fsck(&["-p"], &img), 1);
    assert_eq!(check_n(&img).0, 0);
}

/// `fsck.daxfs -y IMAGE | head`: a closed stdout neither stops the repair
/// nor panics (it exited 101 before).
#[test]
fn closed_stdout_still_repairs() {
    use std::process::{Command, Stdio};
    let img = wrong_free_count();
    use std::os::fd::{FromRawFd, OwnedFd};
    // A pipe whose reading end is closed before fsck starts: every write
    // to stdout fails with EPIPE (std::io::pipe needs Rust 1.87; the
    // chroot has 1.85).
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) returns.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both are ours, just made; each is owned exactly once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(r);
    let status = Command::new(FSCK)
        .arg("-y")
        .arg(img.path())
        .stdin(Stdio::null())
        .stdout(w)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "fsck -y with stdout closed: {status:?}");
    assert_eq!(fsck(&["-n"], &img), 0, "fsck -n after the repair");
}

/// An in-use inode `ino` named `/high`, on a clean filesystem.
fn high_inode(img: &Image, ino: u64) {
    let mut t = TestFs::open(img);
    let g = t.fs.geo;
    let inode = Inode::new(S_IFREG | 0o644, t.now);
    t.put(ino, &inode);
    t.fs.set_bit(g.ibitmap_start, ino - 1, true).unwrap();
    t.add_entry(ROOT_INO, "high", ino);
    t.finish();
    assert_eq!(check_n(img).0, 0, "{}", check_n(img).1);
}

/// One metadata bit cleared in the block bitmap is a bitmap repair, not a
/// reason to doubt a valid superblock (a rebuild once halved the inodes).
#[test]
fn a_cleared_metadata_bit_keeps_the_superblock() {
    let img = Image::formatted();
    high_inode(&img, 3000);
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    t.fs.set_bit(g.bbitmap_start, g.data_start - 1, false).unwrap();
    t.fs.img.flush().unwrap();
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 1, "{out}");
    assert_eq!(img.sb(SB_PRIMARY_OFFSET).inodes, g.inodes, "{out}");
    assert_eq!(TestFs::open(&img).lookup(ROOT_INO, "high"), Some(3000));
    assert_eq!(check_n(&img).0, 0);
}

/// Rewrites the primary superblock (valid) with half the inodes; the
/// superblock it had.
fn halve_primary_inodes(img: &Image) -> SuperBlock {
    let sb = img.sb(SB_PRIMARY_OFFSET);
    let g = sb.geometry();
    let geo = Geometry::new(g.blocks, g.inodes / 2, g.journal_blocks).unwrap();
    let half = SuperBlock::new(&geo, sb.uuid, sb.label, sb.mkfs_time);
    let mut buf = [0u8; SB_SIZE];
    half.encode(&mut buf);
    img.write_at(SB_PRIMARY_OFFSET, &buf);
    sb
}

/// Superblocks that differ: -p changes nothing (which copy is right is
/// -y's call); -y keeps the copy that fits the metadata (here the backup:
/// the primary's inode count leaves an in-use inode out).
#[test]
fn differing_superblocks_keep_the_one_that_fits() {
    let img = Image::formatted();
    high_inode(&img, 3000);
    let sb = halve_primary_inodes(&img);
    let before = img.read();
    let (code, out) = fsck_out(&["-p"], &img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("need fsck.daxfs -y"), "{out}");
    assert!(img.read() == before, "-p changed the image:\n{out}");
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 1, "{out}");
    assert_eq!(img.sb(SB_PRIMARY_OFFSET), sb, "{out}");
    assert_eq!(TestFs::open(&img).lookup(ROOT_INO, "high"), Some(3000));
}

/// A device a little smaller than the filesystem: reported, never shrunk.
#[test]
fn a_short_device_is_not_guessed_at() {
    let img = Image::formatted();
    high_inode(&img, 5);
    let blocks = img.sb(SB_PRIMARY_OFFSET).blocks;
    let f = std::fs::OpenOptions::new().write(true).open(img.path()).unwrap();
    f.set_len(64 * MIB - 16 * BS).unwrap();
    for arg in ["-n", "-y"] {
        let (code, out) = fsck_out(&[arg], &img);
        assert_eq!(code, 4, "{out}");
        assert!(out.contains("fsck does not guess which"), "{out}");
    }
    assert_eq!(img.sb(SB_PRIMARY_OFFSET).blocks, blocks);
}

/// A block two inodes map: the copy goes to a block nobody owns, found
/// after every inode claimed its blocks (not to one whose bitmap bit
/// happens to be clear, here inode z's).
#[test]
fn block_copies_avoid_blocks_of_later_inodes() {
    let img = Image::formatted();
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    let new = |t: &mut TestFs| t.alloc_inode(&Inode::new(S_IFREG | 0o644, t.now));
    let (x, y, z) = (new(&mut t), new(&mut t), new(&mut t));
    let p = t.alloc_block();
    let q = t.alloc_block();
    t.set_extents(x, &[ext(0, 1, false, p)]);
    t.set_extents(y, &[ext(0, 1, false, p)]);
    t.set_extents(z, &[ext(0, 1, false, q)]);
    for (i, n) in [(x, "x"), (y, "y"), (z, "z")] {
        t.edit(i, |v| v.size = BS);
        t.add_entry(ROOT_INO, n, i);
    }
    t.fs.img.write(p * BS, &[b'X'; 4096]).unwrap();
    t.fs.img.write(q * BS, &[b'Z'; 4096]).unwrap();
    t.fs.set_bit(g.bbitmap_start, q, false).unwrap();
    t.finish();
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 1, "{out}");
    let mut t = TestFs::open(&img);
    let (xb, yb, zb) = (t.map(x).extents[0].pblk, t.map(y).extents[0].pblk, t.map(z).extents[0].pblk);
    assert_eq!((xb, zb), (p, q), "{out}");
    assert!(yb != p && yb != q, "{out}");
    for (b, c) in [(xb, b'X'), (yb, b'X'), (zb, b'Z')] {
        assert!(t.fs.img.block(b).unwrap().iter().all(|&v| v == c), "block {b}\n{out}");
    }
    assert_eq!(check_n(&img).0, 0);
}

/// A zeroed inode-table block: -p must not free what the lost inodes
/// owned (entries still name them), nor clear their inode bits.
#[test]
fn preen_keeps_the_blocks_of_lost_inodes() {
    let img = Image::formatted();
    let mut t = TestFs::open(&img);
    let g = t.fs.geo;
    let inos: Vec<u64> = (0..20).map(|i| t.mkfile(ROOT_INO, &format!("f{i}"), 4)).collect();
    t.finish();
    let mut t = TestFs::open(&img);
    let victim = *inos.iter().find(|&&i| i >= 17).unwrap();
    let blocks: Vec<u64> = t.map(victim).extents.iter().map(|e| e.pblk).collect();
    drop(t);
    img.write_at((g.itable_start + 1) * BS, &[0u8; 4096]);
    let (code, out) = fsck_out(&["-p"], &img);
    assert_eq!(code, 4, "{out}");
    let mut t = TestFs::open(&img);
    for b in blocks {
        assert!(t.fs.bit(g.bbitmap_start, b).unwrap(), "block {b} freed by -p\n{out}");
    }
    assert!(t.fs.bit(g.ibitmap_start, victim - 1).unwrap(), "{out}");
}

/// A file and a directory map one block: the directory gets the copy, and
/// everything afterwards (walk, record edits) uses the copy, never the
/// file's block.
#[test]
fn a_directory_sharing_a_block_walks_its_copy() {
    let img = Image::formatted();
    let mut t = TestFs::open(&img);
    let file = t.mkfile(ROOT_INO, "file", 1);
    let dir = t.mkdir(ROOT_INO, "dir");
    let sub = t.mkfile(dir, "inside", 1);
    let shared = t.map(dir).extents[0].pblk;
    let fblk = t.map(file).extents[0].pblk;
    t.fs.img.write(fblk * BS, &[b'F'; 4096]).unwrap();
    // The file now maps the directory's block as well (its only block).
    let mut inode = t.inode(file);
    let e = ext(0, 1, false, shared);
    t.fs.put_extents(file, &mut inode, &[e], &[]).unwrap();
    t.put(file, &inode);
    t.fs.set_bit(t.fs.geo.bbitmap_start, fblk, false).unwrap();
    t.finish();
    let dir_before = *TestFs::open(&img).fs.img.block(shared).unwrap();
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 1, "{out}");
    assert_eq!(check_n(&img).0, 0, "{}", check_n(&img).1);
    let mut t = TestFs::open(&img);
    assert_eq!(t.lookup(dir, "inside"), Some(sub), "{out}");
    // The lower inode (the file) kept the shared block, untouched by any
    // directory repair; the directory reads its copy.
    assert!(*t.fs.img.block(shared).unwrap() == dir_before, "{out}");
    assert_ne!(t.map(dir).extents[0].pblk, shared);
}

/// The root's inode-table block zeroed: the walk cannot start, so -p may
/// not free anything the lost inodes owned.
#[test]
fn preen_with_the_root_lost_frees_nothing() {
    let (img, _) = populated();
    let g = TestFs::open(&img).fs.geo;
    let bitmap = |img: &Image| {
        let mut t = TestFs::open(img);
        t.fs.read_area(g.bbitmap_start, g.bbitmap_blocks).unwrap()
    };
    let before = bitmap(&img);
    img.write_at(g.itable_start * BS, &[0u8; 4096]);
    let (code, out) = fsck_out(&["-p"], &img);
    assert_eq!(code, 4, "{out}");
    assert!(bitmap(&img) == before, "-p freed blocks:\n{out}");
}

/// Superblocks whose layouts differ and both fit (one covers a prefix of
/// the other): fsck does not guess, even at -y, and changes nothing.
#[test]
fn superblocks_that_both_fit_are_not_guessed_at() {
    let img = Image::formatted();
    halve_primary_inodes(&img);
    let before = img.read();
    let (code, out) = fsck_out(&["-y"], &img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("fsck does not guess which"), "{out}");
    assert!(img.read() == before, "{out}");
}

/// Superblocks that differ only in their label: -p copies the primary.
#[test]
fn superblocks_differing_in_label_are_preened() {
    let img = Image::formatted();
    let mut sb = img.sb(SB_BACKUP_OFFSET);
    sb.label[0] = b'z';
    let mut buf = [0u8; SB_SIZE];
    sb.encode(&mut buf);
    img.write_at(SB_BACKUP_OFFSET, &buf);
    let (code, out) = fsck_out(&["-p"], &img);
    assert_eq!(code, 1, "{out}");
    assert_eq!(img.sb(SB_BACKUP_OFFSET), img.sb(SB_PRIMARY_OFFSET));
}
