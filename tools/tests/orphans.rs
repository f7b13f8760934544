// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs and the orphan list.  A list mount can finish is no problem
//! for `-n` (exit 0, a note); `-y` finishes it exactly as mount does
//! (fs/orphan.rs): nlink 0 frees the inode and all its blocks, nlink > 0 (a
//! truncate in progress) frees its blocks past EOF.  A list mount refuses is
//! a problem (exit 4) that `-y` repairs by cutting the list.

mod common;

use common::*;
use daxfs::*;

/// `n` one-block extents at every other file block from `lblk`, every
/// third one unwritten.
fn scattered(t: &mut TestFs, lblk: u32, n: u32) -> Vec<Extent> {
    (0..n)
        .map(|i| ext(lblk + 2 * i, 1, i % 3 == 2, t.alloc_block()))
        .collect()
}

/// A regular file with `nlink` links (not made here), `size` and `exts`,
/// put at the head of the orphan list.
fn orphan(t: &mut TestFs, nlink: u32, size: u64, exts: &[Extent]) -> u64 {
    let ino = t.alloc_inode(&Inode {
        nlink,
        ..Inode::new(S_IFREG | 0o600, t.now)
    });
    t.set_extents(ino, exts);
    t.edit(ino, |i| i.size = size);
    t.push_orphan(ino);
    ino
}

/// Free blocks and inodes as the bitmaps say, and the orphan list head;
/// on a clean filesystem the state block's counts must agree.
fn counts(img: &Image) -> ((u64, u64), u64) {
    let mut t = TestFs::open(img);
    let s = t.fs.state().unwrap().unwrap();
    let free = t.free_counts();
    if s.clean {
        assert_eq!((s.free_blocks, s.free_inodes), free);
    }
    (free, s.orphan_head)
}

/// `fsck -y` must exit with `code` (1: all repaired, 4: something left)
/// and print each of `what`; then `-n` exits 0 (or 4 if something was
/// left) without mentioning the orphan list, and a second `-y` changes
/// nothing.
fn repair(img: &Image, code: i32, what: &[String]) {
    let (c, out) = fsck_out(&["-y"], img);
    assert_eq!(c, code, "{out}");
    for w in what {
        assert!(out.contains(w.as_str()), "{w:?} not reported:\n{out}");
    }
    let left = if code == 1 { 0 } else { 4 };
    let (c, out) = check_n(img);
    assert_eq!(c, left, "{out}");
    assert!(!out.contains("orphan list:"), "{out}");
    let before = img.read();
    let (c, out) = fsck_out(&["-y"], img);
    assert_eq!(c, left, "{out}");
    assert!(
        img.read() == before,
        "a second fsck -y changed the image:\n{out}"
    );
}

#[test]
fn unlinked_orphans_are_freed() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let r = t.alloc_run(3);
    let small = orphan(
        &mut t,
        0,
        2 * BS + 1,
        &[ext(0, 2, false, r), ext(2, 1, true, r + 2)],
    );
    let exts = scattered(&mut t, 0, 300);
    let big = orphan(&mut t, 0, 10, &exts);
    assert_eq!(t.map(big).chain.len(), 2);
    t.finish();
    let (before, head) = counts(&img);
    assert_eq!(head, big);
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("orphan list: 2 inode(s) to free and 0 truncate(s) to finish"),
        "{out}"
    );
    repair(
        &img,
        1,
        &[
            format!("orphan inode {small}: freed, with 3 block(s)"),
            format!("orphan inode {big}: freed, with 302 block(s)"),
        ],
    );
    assert_eq!(counts(&img), ((before.0 + 305, before.1 + 2), 0));
    let mut t = TestFs::open(&img);
    for ino in [small, big] {
        assert!(Inode::is_free_slot(&t.fs.inode_slot(ino).unwrap()));
    }
}

#[test]
fn truncate_in_progress_is_finished() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    // EOF in an inline extent: it is split; the rest, written and
    // unwritten, inline and in two extent blocks, is freed.
    let r = t.alloc_run(8);
    let mut exts = vec![ext(0, 4, false, r), ext(4, 4, false, r + 4)];
    exts.push(ext(10, 2, true, t.alloc_run(2)));
    exts.extend(scattered(&mut t, 20, 297));
    let a = orphan(&mut t, 1, 6 * BS - 100, &exts);
    t.add_entry(ROOT_INO, "a-truncating", a);
    assert_eq!(t.map(a).chain.len(), 2);
    // EOF in the first extent block: the second one goes.
    let b = t.mkfile(ROOT_INO, "b-truncating", 300);
    let old_b = t.map(b);
    t.edit(b, |i| i.size = 199 * BS - 5);
    t.push_orphan(b);
    // Nothing past EOF.
    t.push_orphan(tree.c);
    let c = t.inode(tree.c);
    // After a power cut: not clean.
    let mut s = t.fs.state().unwrap().unwrap();
    s.clean = false;
    t.fs.put_state(&s).unwrap();
    t.fs.img.flush().unwrap();
    let (before, _) = counts(&img);
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("orphan list: 0 inode(s) to free and 3 truncate(s) to finish"),
        "{out}"
    );
    let done =
        |ino, n| format!("orphan inode {ino}: truncate finished, {n} block(s) past EOF freed");
    repair(&img, 1, &[done(a, 303), done(b, 201), done(tree.c, 0)]);
    assert_eq!(counts(&img), ((before.0 + 504, before.1), 0));

    let mut t = TestFs::open(&img);
    let map = t.map(a);
    assert_eq!(map.extents, [ext(0, 4, false, r), ext(4, 2, false, r + 4)]);
    assert!(map.chain.is_empty());
    let ia = t.inode(a);
    assert_eq!(
        (
            ia.nlink,
            ia.size,
            ia.nextents,
            ia.blocks,
            ia.extent_block,
            ia.orphan_next
        ),
        (1, 6 * BS - 100, 2, 6, 0, 0)
    );
    let map = t.map(b);
    assert_eq!(map.extents, old_b.extents[..100]);
    assert_eq!(map.chain, old_b.chain[..1]);
    let ib = t.inode(b);
    assert_eq!(
        (ib.nlink, ib.nextents, ib.blocks, ib.orphan_next),
        (1, 100, 101, 0)
    );
    assert_eq!(
        t.inode(tree.c),
        Inode {
            orphan_next: 0,
            ..c
        }
    );
}

#[test]
fn looping_orphan_list() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let exts = scattered(&mut t, 0, 2);
    let x = orphan(&mut t, 0, BS, &exts);
    let exts = scattered(&mut t, 0, 3);
    let y = orphan(&mut t, 0, BS, &exts);
    t.edit(x, |i| i.orphan_next = y);
    t.finish();
    let (before, _) = counts(&img);
    let cycle = format!("orphan list: cycle at inode {y}");
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(&cycle), "{out}");
    repair(
        &img,
        1,
        &[
            format!("{cycle} (fixed)"),
            format!("orphan inode {x}: freed, with 2 block(s)"),
            format!("orphan inode {y}: freed, with 3 block(s)"),
        ],
    );
    assert_eq!(counts(&img), ((before.0 + 5, before.1 + 2), 0));
}

/// Unlinked inodes the list no longer reaches (here: a loop skips them)
/// are freed as mount would have freed them.
#[test]
fn lost_orphans_are_freed() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let mut list = Vec::new();
    for n in [1, 2, 300] {
        let exts = scattered(&mut t, 0, n);
        list.push(orphan(&mut t, 0, BS, &exts));
    }
    let [e, d, c] = list[..] else { unreachable!() };
    t.edit(c, |i| i.orphan_next = c);
    t.finish();
    let (before, _) = counts(&img);
    let lost = |ino| {
        format!("inode {ino}: lost orphan (no links, in no directory, not on the orphan list)")
    };
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    for what in [format!("orphan list: cycle at inode {c}"), lost(d), lost(e)] {
        assert!(out.contains(&what), "{what:?} not in:\n{out}");
    }
    repair(
        &img,
        1,
        &[
            format!("orphan inode {c}: freed, with 302 block(s)"),
            format!("{} (fixed)", lost(d)),
            format!("{} (fixed)", lost(e)),
        ],
    );
    assert_eq!(counts(&img), ((before.0 + 305, before.1 + 3), 0));
}

/// An orphan list leading to inode `bad` after one good member: mount
/// refuses it; `-y` frees the good one and cuts the list.
fn bad_link(bad: impl FnOnce(&mut TestFs) -> u64, why: &str, freed: (u64, u64)) {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let target = bad(&mut t);
    let exts = scattered(&mut t, 0, 2);
    let good = orphan(&mut t, 0, BS, &exts);
    t.edit(good, |i| i.orphan_next = target);
    t.finish();
    let (before, _) = counts(&img);
    let what = format!("orphan list: inode {target} {why}");
    let (code_n, out) = check_n(&img);
    assert_eq!(code_n, 4, "{out}");
    assert!(out.contains(&what), "{out}");
    repair(
        &img,
        1,
        &[format!("orphan inode {good}: freed, with 2 block(s)")],
    );
    assert_eq!(counts(&img), ((before.0 + freed.0, before.1 + freed.1), 0));
}

#[test]
fn orphan_not_in_use() {
    bad_link(|_| 3000, "is not in use", (2, 1));
    bad_link(|t| t.fs.geo.inodes + 1, "is out of range", (2, 1));
    // A damaged inode whose fields are valid is kept (its checksum set),
    // and then freed as the orphan it is.
    bad_link(
        |t| {
            let ino = t.alloc_inode(&Inode {
                nlink: 0,
                ..Inode::new(S_IFREG | 0o600, t.now)
            });
            let at = t.fs.geo.inode_offset(ino).unwrap();
            t.fs.img.write(at + 20, &[0x55]).unwrap();
            ino
        },
        "is damaged",
        (2, 2),
    );
}

#[test]
fn orphan_not_in_use_at_the_head() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let mut s = t.fs.state().unwrap().unwrap();
    s.orphan_head = 3000;
    t.fs.put_state(&s).unwrap();
    t.finish();
    let (before, _) = counts(&img);
    expect_problem(&img, "orphan list: inode 3000 is not in use", true);
    assert_eq!(counts(&img), (before, 0));
}

#[test]
fn unlinked_orphan_in_a_directory() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let exts = scattered(&mut t, 0, 1);
    let ino = orphan(&mut t, 0, BS, &exts);
    t.add_entry(ROOT_INO, "named", ino);
    t.finish();
    let what = format!("orphan list: inode {ino} is in a directory");
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(&what), "{out}");
    // Off the list, it keeps its name: its link count is repaired.
    repair(
        &img,
        1,
        &[
            format!("{what} (fixed)"),
            format!("inode {ino}: link count 0, expected 1 (fixed)"),
        ],
    );
    let mut t = TestFs::open(&img);
    assert_eq!(t.lookup(ROOT_INO, "named"), Some(ino));
    assert_eq!(t.inode(ino).blocks, 1);
}

/// Orphans mount cannot finish because iget refuses them: reported; `-y`
/// takes them off the list and frees nothing it does not know to be theirs.
#[test]
fn orphan_with_a_damaged_extent_map() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let meta = t.fs.geo.itable_start;
    let r = t.alloc_block();
    let ino = orphan(
        &mut t,
        0,
        BS,
        &[ext(0, 1, false, r), ext(1, 1, false, meta)],
    );
    t.finish();
    let (before, _) = counts(&img);
    let what = format!("orphan list: inode {ino} has a damaged extent map");
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(&what), "{out}");
    assert!(out.contains("overlaps the metadata areas"), "{out}");
    // -y drops the extent in the metadata and then frees the orphan with
    // the block that was its own.
    repair(
        &img,
        1,
        &[
            "overlaps the metadata areas; dropped (fixed)".into(),
            format!("orphan inode {ino}: freed, with 1 block(s)"),
        ],
    );
    assert_eq!(counts(&img), ((before.0 + 1, before.1 + 1), 0));
}

#[test]
fn orphan_sharing_a_block() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let shared = t.alloc_block();
    let o = orphan(&mut t, 0, BS, &[ext(0, 1, false, shared)]);
    let thief = t.alloc_inode(&Inode::new(S_IFREG | 0o644, t.now));
    t.set_extents(thief, &[ext(0, 1, false, shared)]);
    t.edit(thief, |i| i.size = 1);
    t.add_entry(ROOT_INO, "thief", thief);
    t.finish();
    let (before, _) = counts(&img);
    let what = format!("orphan list: inode {o} has a damaged extent map or shares blocks");
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains(&what), "{out}");
    assert!(
        out.contains(&format!("already owned by inode {o}")),
        "{out}"
    );
    // The thief gets a copy of the block; the orphan is freed with its own.
    repair(
        &img,
        1,
        &[
            format!("already owned by inode {o}; copied to blocks from"),
            format!("orphan inode {o}: freed, with 1 block(s)"),
        ],
    );
    assert_eq!(counts(&img), ((before.0, before.1 + 1), 0));
    let mut t = TestFs::open(&img);
    let copy = t.map(thief).extents[0].pblk;
    assert_ne!(copy, shared);
    let a = *t.fs.img.block(copy).unwrap();
    assert!(a == *t.fs.img.block(shared).unwrap());
}

/// iget refuses a symlink with a NUL in its target, so mount refuses such
/// an orphan; freeing it is safe.
#[test]
fn orphan_symlink_with_a_nul() {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let pblk = t.alloc_block();
    t.fs.img.write(pblk * BS, b"a\0b").unwrap();
    let ino = t.alloc_inode(&Inode {
        nlink: 0,
        size: 200,
        ..Inode::new(S_IFLNK | 0o777, t.now)
    });
    t.set_extents(ino, &[ext(0, 1, false, pblk)]);
    t.push_orphan(ino);
    t.finish();
    let (before, _) = counts(&img);
    let (code, out) = check_n(&img);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains(&format!("inode {ino}: NUL byte in the symlink target")),
        "{out}"
    );
    // -y clears it (a symlink that cannot be valid) and frees its block.
    repair(
        &img,
        1,
        &[format!("inode {ino}: NUL byte in the symlink target; cleared (fixed)")],
    );
    assert_eq!(counts(&img), ((before.0 + 1, before.1 + 1), 0));
}
