// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs on a large filesystem (docs/fsck.md, "Time and memory"): a
//! sparse 64 GiB image holding 1,000,000 one-block files in 1,000
//! directories, written with the format encoders (sequential inodes and
//! blocks, as a fresh filesystem fills), then `fsck.daxfs -n` and `-y`
//! under `/usr/bin/time -v`.  Ignored by default (it takes minutes and a
//! few GiB of temporary disk for the written metadata); run it with
//!
//! ```text
//! DAXFS_SCALE_DIR=/var/tmp cargo test --release --test scale -- --ignored --nocapture
//! ```
//!
//! It asserts that both exit 0 and that fsck's peak memory stays under
//! 1 GiB, far below the metadata it reads (the inode table alone is 1 GiB).

mod common;

use std::process::Command;

use common::*;
use daxfs::image::Fs;
use daxfs::*;

const DIRS: u64 = 1000;
const PER_DIR: u64 = 1000;
const SIZE: u64 = 64 << 30;

/// (elapsed seconds, peak resident KiB, exit code) of `fsck.daxfs ARG IMG`.
fn timed_fsck(arg: &str, img: &std::path::Path) -> (f64, u64, i32) {
    let out = Command::new("/usr/bin/time")
        .args(["-v", FSCK, arg])
        .arg(img)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let rss = field("Maximum resident set size (kbytes):").parse().unwrap_or(0);
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let secs = wall
        .split(':')
        .fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0));
    (secs, rss, out.status.code().unwrap_or(-1))
}

/// Encodes `records` (name, inode, type) into directory blocks.
fn dir_blocks(records: &[(String, u64, u8)]) -> Vec<[u8; BLOCK_SIZE as usize]> {
    let mut out = Vec::new();
    let mut block = [0u8; BLOCK_SIZE as usize];
    let mut pos = 0usize;
    let mut last = 0usize;
    let bs = BLOCK_SIZE as usize;
    for (name, ino, dt) in records {
        let len = dir_rec_len(name.len());
        if pos + len > bs {
            // Stretch the last record to the block's end.
            block[last + 8..last + 10].copy_from_slice(&((bs - last) as u16).to_le_bytes());
            out.push(block);
            block = [0u8; BLOCK_SIZE as usize];
            pos = 0;
        }
        encode_dir_record(&mut block[pos..], *ino, len, *dt, name.as_bytes()).unwrap();
        last = pos;
        pos += len;
    }
    if pos > 0 {
        block[last + 8..last + 10].copy_from_slice(&((bs - last) as u16).to_le_bytes());
        out.push(block);
    }
    out
}

#[test]
#[ignore]
fn fsck_on_64g_with_a_million_files() {
    let dir = std::env::var("DAXFS_SCALE_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let path = std::path::Path::new(&dir).join(format!("daxfs-scale-{}.img", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(SIZE).unwrap();
    drop(f);
    let out = run(MKFS, &["-q", "--"], Some(&path));
    assert_eq!(code(&out), 0);
    let mut fs = Fs::open(&path, true).unwrap();
    let geo = fs.geo;
    let root = fs.inode(ROOT_INO).unwrap().unwrap();
    assert_eq!(root.size, 0, "mkfs made a root with blocks");
    let now = Time { sec: 1_700_000_000, nsec: 0 };
    let mut next_ino = ROOT_INO + 1;
    let mut next_blk = geo.data_start;
    let mut alloc_blocks = |n: u64| {
        let b = next_blk;
        next_blk += n;
        b
    };
    let mut root_recs = Vec::new();
    for d in 0..DIRS {
        let dino = next_ino;
        next_ino += 1;
        let mut recs = Vec::new();
        for k in 0..PER_DIR {
            let ino = next_ino;
            next_ino += 1;
            let mut file = Inode::new(S_IFREG | 0o644, now);
            file.size = 4096;
            let pblk = alloc_blocks(1);
            let e = Extent { lblk: 0, len: 1, unwritten: false, pblk };
            fs.put_extents(ino, &mut file, &[e], &[]).unwrap();
            fs.put_inode(ino, Some(&file)).unwrap();
            recs.push((format!("file-{k:06}"), ino, DT_REG));
        }
        let blocks = dir_blocks(&recs);
        let first = alloc_blocks(blocks.len() as u64);
        for (i, b) in blocks.iter().enumerate() {
            fs.img.write((first + i as u64) * BS, b).unwrap();
        }
        let mut dir = Inode::new(S_IFDIR | 0o755, now);
        dir.parent = ROOT_INO;
        dir.size = blocks.len() as u64 * BS;
        let e = Extent { lblk: 0, len: blocks.len() as u32, unwritten: false, pblk: first };
        fs.put_extents(dino, &mut dir, &[e], &[]).unwrap();
        fs.put_inode(dino, Some(&dir)).unwrap();
        root_recs.push((format!("dir-{d:04}"), dino, DT_DIR));
        // Write back as it goes: the cache holds what is dirty.
        fs.img.flush().unwrap();
    }
    let blocks = dir_blocks(&root_recs);
    let first = alloc_blocks(blocks.len() as u64);
    for (i, b) in blocks.iter().enumerate() {
        fs.img.write((first + i as u64) * BS, b).unwrap();
    }
    let mut root = root;
    root.size = blocks.len() as u64 * BS;
    root.nlink = 2 + DIRS as u32;
    let e = Extent { lblk: 0, len: blocks.len() as u32, unwritten: false, pblk: first };
    fs.put_extents(ROOT_INO, &mut root, &[e], &[]).unwrap();
    fs.put_inode(ROOT_INO, Some(&root)).unwrap();
    // Bitmaps: inodes 1..next_ino, blocks 0..next_blk in use.
    let mut ibm = vec![0u8; (geo.ibitmap_blocks * BS) as usize];
    (0..next_ino - 1).for_each(|b| {
        bitmap_set(&mut ibm, b);
    });
    fs.img.write(geo.ibitmap_start * BS, &ibm).unwrap();
    let mut bbm = vec![0u8; (geo.bbitmap_blocks * BS) as usize];
    (0..next_blk).for_each(|b| {
        bitmap_set(&mut bbm, b);
    });
    fs.img.write(geo.bbitmap_start * BS, &bbm).unwrap();
    let mut state = fs.state().unwrap().unwrap();
    state.free_blocks = geo.blocks - next_blk;
    state.free_inodes = geo.inodes - (next_ino - 1);
    fs.put_state(&state).unwrap();
    fs.img.flush().unwrap();
    drop(fs);
    let files = DIRS * PER_DIR;
    for arg in ["-n", "-y"] {
        let (secs, rss, code) = timed_fsck(arg, &path);
        println!(
            "scale: fsck.daxfs {arg}: 64 GiB, {} inodes ({files} files, {DIRS} directories): \
             exit {code}, {secs:.1} s, peak {} MiB",
            geo.inodes,
            rss / 1024
        );
        assert_eq!(code, 0);
        assert!(rss < 1 << 20, "fsck used {rss} KiB");
    }
    std::fs::remove_file(&path).unwrap();
}
