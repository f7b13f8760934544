// SPDX-License-Identifier: GPL-2.0
//! daxfs-fuzz on populated image files: every seed changes the image, keeps
//! the checksums it claims to keep, never makes fsck panic, and its undo
//! file gives the image back byte for byte; the same seed does the same.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use common::*;
use daxfs::dev::Device;
use daxfs::fuzz::{self, BlockSet, Mutation, Survey};
use daxfs::image::{Fs, Image as Img};
use daxfs::*;

const FUZZ: &str = env!("CARGO_BIN_EXE_daxfs-fuzz");
const SEEDS: u64 = 200;

/// [`populated`] plus an orphan (a file with no link on the orphan list,
/// as a crash with it open leaves).
fn with_orphan() -> Image {
    let (img, _) = populated();
    let mut t = TestFs::open(&img);
    let ino = t.alloc_inode(&Inode {
        nlink: 0,
        ..Inode::new(S_IFREG | 0o600, t.now)
    });
    let pblk = t.alloc_block();
    t.set_extents(
        ino,
        &[Extent {
            lblk: 0,
            len: 1,
            unwritten: false,
            pblk,
        }],
    );
    t.edit(ino, |i| i.size = 100);
    let mut s = t.fs.state().unwrap().unwrap();
    s.orphan_head = ino;
    s.clean = false;
    t.fs.put_state(&s).unwrap();
    t.finish();
    img
}

/// Mutates `img` with `seed` in process, with its undo file at `undo`.
fn mutate(img: &Image, seed: u64, undo: &Path) -> (Mutation, SuperBlock, usize) {
    let mut fs = Fs::open(img.path(), true).unwrap();
    let sb = fs.sb;
    let m = fuzz::mutate(&mut fs, seed).unwrap();
    let changed = fuzz::write_with_undo(&mut fs.img, undo).unwrap();
    (m, sb, changed)
}

/// Whether the checksums of what `m` touched hold on `img`.
fn checksums_hold(img: &Image, sb: SuperBlock, m: &Mutation) -> bool {
    let dev = Device::open(img.path(), false).unwrap();
    fuzz::verify(&mut Fs::new(Img::new(dev), sb), &m.touched).unwrap()
}

/// Whether `img` holds `bytes` (read into `buf`, to spare an allocation).
fn same(img: &Image, bytes: &[u8], buf: &mut [u8]) -> bool {
    let f = fs::File::open(img.path()).unwrap();
    f.read_exact_at(buf, 0).unwrap();
    buf == bytes
}

/// The kind of a change: its first words, numbers left out.
fn kind(change: &str) -> String {
    let words = change
        .split_whitespace()
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()));
    words.take(3).collect::<Vec<_>>().join(" ")
}

#[test]
fn mutations_keep_their_checksums_and_undo_restores() {
    let img = with_orphan();
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
    let pristine = img.read();
    let mut buf = vec![0; pristine.len()];
    let undo = img.path().with_extension("undo");
    let mut kinds = BTreeSet::new();
    let mut broken = 0;
    for seed in 0..SEEDS {
        let (m, sb, changed) = mutate(&img, seed, &undo);
        assert!(changed > 0, "seed {seed}: nothing changed: {m}");
        assert_eq!(checksums_hold(&img, sb, &m), !m.broken, "seed {seed}: {m}");
        // fsck's check on the mutated image: reports, never panics.
        let dev = Device::open(img.path(), false).unwrap();
        let (report, _) = daxfs::check::check(Img::new(dev), false).unwrap();
        if !m.broken
            && m.changes
                .iter()
                .all(|c| c.contains("nlink") || c.contains("hash"))
        {
            assert!(
                !report.problems.is_empty(),
                "seed {seed}: fsck finds nothing wrong with {m}"
            );
        }
        BlockSet::load(&undo)
            .unwrap()
            .restore(&Device::open(img.path(), true).unwrap())
            .unwrap();
        assert!(
            same(&img, &pristine, &mut buf),
            "seed {seed}: undo did not restore the image: {m}"
        );
        kinds.extend(m.changes.iter().map(|c| kind(c)));
        broken += u32::from(m.broken);
    }
    fs::remove_file(&undo).unwrap();
    let seen = kinds.iter().cloned().collect::<Vec<_>>().join(", ");
    for want in [
        "inode (file) size",
        "inode (dir) nlink",
        "(file) inline",
        "(dir) inline",
        "extent block",
        "directory block offset",
        "state block",
        "orphan_next",
        "journal: transaction committed,",
        "journal: committed_seq",
        "superblock blocks",
        "(symlink)",
        "(fifo)",
    ] {
        assert!(
            seen.contains(want),
            "no {want:?} among {SEEDS} seeds: {seen}"
        );
    }
    assert!(
        broken > 0 && broken < SEEDS as u32 / 5,
        "{broken} broken checksums"
    );
}

#[test]
fn same_seed_same_mutation() {
    let img = with_orphan();
    let undo = img.path().with_extension("undo");
    for seed in [1, 7, 12345] {
        let (first, _, _) = mutate(&img, seed, &undo);
        let after = img.read();
        BlockSet::load(&undo)
            .unwrap()
            .restore(&Device::open(img.path(), true).unwrap())
            .unwrap();
        let (again, _, _) = mutate(&img, seed, &undo);
        assert_eq!(first, again);
        assert!(img.read() == after, "seed {seed}: different bytes");
        BlockSet::load(&undo)
            .unwrap()
            .restore(&Device::open(img.path(), true).unwrap())
            .unwrap();
    }
    fs::remove_file(&undo).unwrap();
}

#[test]
fn survey_finds_the_structures() {
    let img = with_orphan();
    let mut fs = Fs::open(img.path(), false).unwrap();
    let s = Survey::take(&mut fs).unwrap();
    // Root, a, big, sub1, sub2, c, empty, many, target, fast, slow, fifo, null, the orphan.
    assert_eq!(s.inodes.len(), 14);
    assert_eq!(s.orphans.len(), 1);
    assert_eq!(s.chain_blocks().len(), 2, "big's two extent blocks");
    assert!(s.records.len() > 200, "many holds 201 names");
    let meta = s.metadata_blocks();
    assert!(s.dir_blocks.iter().all(|(_, b)| meta.contains(b)));
    assert!(meta.len() as u64 > fs.geo.data_start + 5);
}

#[test]
fn command_line() {
    let img = with_orphan();
    let pristine = img.read();
    let dir = std::env::temp_dir();
    let undo = dir.join(format!("daxfs-fuzz-cli-{}.undo", std::process::id()));
    let saved = dir.join(format!("daxfs-fuzz-cli-{}.saved", std::process::id()));
    let p = img.path().to_str().unwrap();
    let (u, s) = (undo.to_str().unwrap(), saved.to_str().unwrap());
    let out = run(FUZZ, &["save", p, s], None);
    assert_eq!(code(&out), 0, "{out:?}");
    let focus = dir.join(format!("daxfs-fuzz-cli-{}.focus", std::process::id()));
    let f = focus.to_str().unwrap();
    for seed in ["3", "4", "5"] {
        let out = run(
            FUZZ,
            &["mutate", p, "--seed", seed, "--undo", u, "--focus", f],
            None,
        );
        assert_eq!(code(&out), 0, "{out:?}");
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(
            line.starts_with(&format!("seed {seed}: ")) && line.lines().count() == 1,
            "{line}"
        );
        let inos = fs::read_to_string(&focus).unwrap();
        assert!(
            inos.split_whitespace().all(|n| n.parse::<u64>().is_ok()),
            "{inos}"
        );
        let (code, _) = fsck_out(&["-n"], &img);
        assert!(code < 8, "fsck -n exit {code} after {line}");
        assert_eq!(common::code(&run(FUZZ, &["undo", p, u], None)), 0);
        assert!(img.read() == pristine, "undo after {line}");
    }
    // The saved metadata undoes a mutation too (and what a mount would change).
    assert_eq!(
        code(&run(FUZZ, &["mutate", p, "--seed", "9", "--undo", u], None)),
        0
    );
    assert_eq!(code(&run(FUZZ, &["undo", p, s], None)), 0);
    assert!(img.read() == pristine);
    // A damaged undo file is refused as a whole.
    let mut bytes = fs::read(&undo).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 1;
    fs::write(&undo, &bytes).unwrap();
    let out = run(FUZZ, &["undo", p, u], None);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
    assert!(img.read() == pristine);
    assert_eq!(
        code(&run(FUZZ, &["mutate", p, "--undo", u], None)),
        2,
        "--seed is required"
    );
    fs::remove_file(&undo).unwrap();
    fs::remove_file(&saved).unwrap();
    fs::remove_file(&focus).unwrap();
}

#[test]
fn exercise_a_directory_tree() {
    let root = std::env::temp_dir().join(format!("daxfs-fuzz-tree-{}", std::process::id()));
    fs::create_dir_all(root.join("d/e")).unwrap();
    let files: [(&str, &[u8]); 5] = [
        ("a", &[7; 10000]),
        ("a2", b"x"),
        ("d/b", b"bee"),
        ("d/c", b""),
        ("d/f", b"f"),
    ];
    for (name, data) in files {
        fs::write(root.join(name), data).unwrap();
    }
    std::os::unix::fs::symlink("a", root.join("s")).unwrap();
    let log = root.with_extension("log");
    let focus = root.with_extension("focus");
    let d = fs::metadata(root.join("d")).unwrap().ino();
    fs::write(&focus, format!("{d} 123456789\n")).unwrap();
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let args = [
        "exercise",
        &arg(&root),
        "--log",
        &arg(&log),
        "--focus",
        &arg(&focus),
    ];
    let out = run(FUZZ, &args, None);
    assert_eq!(code(&out), 0, "{out:?}");
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("walk ") && line.contains("namespace"),
        "{line}"
    );
    let steps = fs::read_to_string(&log).unwrap();
    assert!(
        steps.contains("rename existing") && steps.contains("unlink entry"),
        "{steps}"
    );
    // The focus directory is emptied and removed; of the files in the
    // root, the second listed is unlinked, the others rewritten with their
    // own bytes.
    assert!(!root.join("d").exists(), "{steps}");
    let left: Vec<_> = files[..2]
        .iter()
        .filter_map(|(name, data)| Some((fs::read(root.join(name)).ok()?, data)))
        .collect();
    assert!(!left.is_empty() && left.iter().all(|(got, want)| got == *want));
    fs::remove_dir_all(&root).unwrap();
    fs::remove_file(&log).unwrap();
    fs::remove_file(&focus).unwrap();
}
