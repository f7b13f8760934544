// SPDX-License-Identifier: GPL-2.0
//! Runs the built mkfs.daxfs and fsck.daxfs on temporary image files.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::thread;

use common::*;
use daxfs::{BLOCK_SIZE, SB_BACKUP_OFFSET, SB_PRIMARY_OFFSET, SB_SIZE};

#[test]
fn mkfs_then_fsck_is_clean() {
    let img = Image::new(64 * MIB);
    let out = run(MKFS, &[], Some(img.path()));
    assert_eq!(code(&out), 0, "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("16384 blocks"));
    assert_eq!(fsck(&["-n"], &img), 0);
    assert_eq!(fsck(&[], &img), 0);
    assert_eq!(fsck(&["-fy"], &img), 0);
    assert_eq!(fsck(&["-p", "-v"], &img), 0);
    assert_eq!(fsck(&["-a", "-C0"], &img), 0);
    let sb = img.sb(SB_PRIMARY_OFFSET);
    assert_eq!(sb, img.sb(SB_BACKUP_OFFSET));
    assert_eq!(sb.blocks, 64 * MIB / u64::from(BLOCK_SIZE));
    assert_eq!(sb.inodes, daxfs::default_inodes(sb.blocks));
    assert_eq!(sb.label_bytes(), b"");
    assert_ne!(sb.uuid, [0; 16]);
}

#[test]
fn mkfs_sets_label_uuid_inodes_and_size() {
    let img = Image::new(64 * MIB + 123);
    let uuid = "01234567-89ab-cdef-0123-456789abcdef";
    let args = ["-q", "-L", "my volume", "-U", uuid, "-N", "1000", "--force"];
    assert_eq!(code(&run(MKFS, &args, Some(img.path()))), 0);
    let sb = img.sb(SB_PRIMARY_OFFSET);
    assert_eq!(sb.label_bytes(), b"my volume");
    assert_eq!(Some(sb.uuid), daxfs::uuid::parse(uuid));
    assert_eq!(sb.inodes, 1008, "rounded up to whole inode table blocks");
    assert_eq!(sb.blocks, 16384);
    assert_eq!(sb.journal_blocks, daxfs::JOURNAL_BLOCKS_DEFAULT);

    let mut cmd = Command::new(MKFS);
    let out = cmd
        .args(["-q", "--label=x"])
        .arg(img.path())
        .arg("5000")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert_eq!(img.sb(SB_BACKUP_OFFSET).blocks, 5000);
    assert_eq!(img.sb(SB_BACKUP_OFFSET).label_bytes(), b"x");
    assert_eq!(fsck(&["-n"], &img), 0);

    for (arg, journal) in [("-J16", 16), ("--journal-blocks=3000", 3000)] {
        assert_eq!(mkfs(&["-q", arg], &img), 0);
        let sb = img.sb(SB_PRIMARY_OFFSET);
        assert_eq!(sb.journal_blocks, journal);
        assert_eq!(sb.ibitmap_start, 3 + journal);
        assert_eq!(fsck(&["-n"], &img), 0);
    }
}

#[test]
fn mkfs_2gib_zeroes_only_metadata() {
    let img = Image::new(2048 * MIB);
    // Garbage in the data area must survive (mkfs does not zero it).
    img.write_at(100 * MIB, b"data");
    assert_eq!(mkfs(&["-q"], &img), 0);
    let sb = img.sb(SB_PRIMARY_OFFSET);
    assert_eq!(
        (sb.blocks, sb.inodes, sb.data_start),
        (524_288, 131_072, 8704)
    );
    let (code, out) = check_n(&img);
    assert_eq!(code, 0, "{out}");
    let mut buf = [0u8; 4];
    fs::File::open(img.path())
        .unwrap()
        .read_exact_at(&mut buf, 100 * MIB)
        .unwrap();
    assert_eq!(&buf, b"data");
}

#[test]
fn mkfs_rejects_bad_arguments() {
    let img = Image::new(64 * MIB);
    let long_label = "x".repeat(65);
    for args in [
        &["-L", long_label.as_str()][..],
        &["-U", "0123"],
        &["-U", "01234567-89ab-cdef-0123-456789abcdeg"],
        &["-N", "0"],
        &["-N", "99999999999"],
        &["-N", "18446744073709551615"],
        &["-J", "15"],
        &["-J", "0"],
        &["-J", "x"],
        &["-J", "16000"], // does not fit in 64 MiB
        &["--bogus"],
    ] {
        let out = run(MKFS, args, Some(img.path()));
        assert_eq!(code(&out), 1, "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("mkfs.daxfs: "),
            "{out:?}"
        );
    }
    assert_eq!(code(&run(MKFS, &[], None)), 1);
    assert_eq!(code(&run(MKFS, &["--help"], None)), 0);
    // Nothing was written.
    assert!(img.read().iter().all(|&b| b == 0));
}

#[test]
fn mkfs_rejects_too_small_and_oversized() {
    let small = Image::new(16 * MIB - 1);
    let out = run(MKFS, &[], Some(small.path()));
    assert_eq!(code(&out), 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("too small"),
        "{out:?}"
    );

    let img = Image::new(64 * MIB);
    for blocks in ["16385", "4095", "0"] {
        let out = Command::new(MKFS)
            .arg(img.path())
            .arg(blocks)
            .output()
            .unwrap();
        assert_eq!(code(&out), 1, "{blocks}");
    }
    assert!(img.read().iter().all(|&b| b == 0));
}

#[test]
fn mkfs_ignores_yes_on_stdin() {
    let img = Image::new(64 * MIB);
    let mut child = Command::new(MKFS)
        .args(["--", img.path().to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Like `yes`: write until mkfs exits and the pipe breaks.
    let yes = thread::spawn(move || while stdin.write_all(b"y\n").is_ok() {});
    assert!(child.wait().unwrap().success());
    yes.join().unwrap();
    assert_eq!(fsck(&["-n"], &img), 0);
}

#[test]
fn bad_primary_is_reported_then_repaired() {
    let img = Image::formatted();
    img.flip(SB_PRIMARY_OFFSET);
    let before = img.read();
    let out = run(FSCK, &["-n"], Some(img.path()));
    assert_eq!(code(&out), 4);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fsck.daxfs: primary superblock: bad magic")
    );
    assert_eq!(fsck(&[], &img), 4);
    assert!(img.read() == before, "fsck -n modified the image");
    assert_eq!(fsck(&["-y"], &img), 1);
    assert_eq!(fsck(&["-n"], &img), 0);
    assert_eq!(img.sb(SB_PRIMARY_OFFSET), img.sb(SB_BACKUP_OFFSET));
}

#[test]
fn bad_backup_is_reported_then_repaired() {
    let img = Image::formatted();
    img.flip(SB_BACKUP_OFFSET + 100);
    assert_eq!(fsck(&["-n"], &img), 4);
    assert_eq!(fsck(&["-p"], &img), 1);
    assert_eq!(fsck(&["-n"], &img), 0);
}

#[test]
fn differing_superblocks_are_repaired_from_the_primary() {
    let img = Image::formatted();
    let mut backup = img.sb(SB_BACKUP_OFFSET);
    backup.label[0] = b'Z';
    let mut buf = [0u8; SB_SIZE];
    backup.encode(&mut buf);
    img.write_at(SB_BACKUP_OFFSET, &buf);
    let out = run(FSCK, &["-n"], Some(img.path()));
    assert_eq!(code(&out), 4);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fsck.daxfs: superblocks differ"));
    assert_eq!(fsck(&["-y"], &img), 1);
    assert_eq!(fsck(&["-n"], &img), 0);
    assert_eq!(img.sb(SB_BACKUP_OFFSET), img.sb(SB_PRIMARY_OFFSET));
}

#[test]
fn both_superblocks_bad_cannot_be_repaired() {
    let img = Image::formatted();
    img.flip(SB_PRIMARY_OFFSET + 3);
    img.flip(SB_BACKUP_OFFSET + 200);
    let before = img.read();
    assert_eq!(fsck(&["-y"], &img), 4);
    assert_eq!(fsck(&["-n"], &img), 4);
    assert!(img.read() == before);
}

#[test]
fn shrunk_device_is_detected() {
    let img = Image::formatted();
    fs::OpenOptions::new()
        .write(true)
        .open(img.path())
        .unwrap()
        .set_len(32 * MIB)
        .unwrap();
    assert_eq!(fsck(&["-n"], &img), 4);
    assert_eq!(fsck(&["-y"], &img), 4);
    // A device too small to hold the backup: its read comes back short.
    fs::OpenOptions::new()
        .write(true)
        .open(img.path())
        .unwrap()
        .set_len(100)
        .unwrap();
    assert_eq!(fsck(&["-n"], &img), 4);
}

#[test]
fn fsck_operational_and_usage_errors() {
    let missing = std::env::temp_dir().join("daxfs-tools-test-does-not-exist");
    assert_eq!(code(&run(FSCK, &["-n"], Some(&missing))), 8);
    let img = Image::formatted();
    assert_eq!(fsck(&["--bogus"], &img), 16);
    assert_eq!(fsck(&["-n", "-y"], &img), 16);
    assert_eq!(fsck(&["-y", "-p"], &img), 16);
    assert_eq!(code(&run(FSCK, &[], None)), 16);
    assert_eq!(code(&run(FSCK, &["--help"], None)), 0);
}
