// SPDX-License-Identifier: GPL-2.0
//! The repair corpus (docs/testing.md, "Repair corpus"): a fixed-seed
//! batch of damaged copies of a populated image, damaged blindly (byte
//! flips, a zeroed block, fields set to all-ones, in the live metadata
//! blocks: `daxfs::fuzz::corrupt`) and structure-aware (`daxfs::fuzz::
//! mutate`, checksums valid).  For each: `fsck -n` exits 0 or 4 and changes
//! nothing; when it reports something, `-y` repairs everything (exit 1),
//! `-n` is then clean, a second `-y` changes no byte, and the tree walks
//! from the root with every inode and extent map intact; `-p` on another
//! copy either repairs (then `-n` is clean) or leaves exit 4 and says that
//! `-y` is needed.  The one report `-y` may leave is a filesystem larger
//! than its device (both superblocks agree on a size the device does not
//! have): a wrong partition is as likely as a wrong field, and fsck, like
//! e2fsck, does not guess.  The rates are printed (`cargo test --
//! --nocapture`).

mod common;

use std::collections::{HashSet, VecDeque};
use std::os::unix::fs::FileExt;

use common::*;
use daxfs::dev::Device;
use daxfs::fuzz::corrupt::{corrupt, Damage};
use daxfs::fuzz::{self, Survey};
use daxfs::image::Fs;
use daxfs::*;

/// Images per damage kind (flip, zero, ones, field).
const PER_KIND: u64 = 50;

/// A copy of `base` (the nonzero blocks of a 64 MiB image).
fn copy(base: &[(u64, Vec<u8>)]) -> Image {
    let img = Image::new(64 * MIB);
    let f = std::fs::OpenOptions::new().write(true).open(img.path()).unwrap();
    for (at, block) in base {
        f.write_all_at(block, *at).unwrap();
    }
    img
}

/// Walks the tree from the root: every entry names an in-use inode that
/// decodes, every extent map reads whole; the number of inodes reached.
fn walk(img: &Image) -> usize {
    let mut fs = Fs::open(img.path(), false).unwrap();
    let mut seen = HashSet::from([ROOT_INO]);
    let mut queue = VecDeque::from([ROOT_INO]);
    while let Some(dir) = queue.pop_front() {
        let inode = fs.inode(dir).unwrap().unwrap();
        let map = fs.read_map(dir, &inode).unwrap();
        assert!(map.damage.is_empty(), "directory {dir}: {:?}", map.damage);
        for e in map.extents {
            for k in 0..u64::from(e.len) {
                let block = *fs.img.block(e.pblk + k).unwrap();
                for r in dir_records(&block) {
                    let r = r.unwrap();
                    if r.ino == 0 || !seen.insert(r.ino) {
                        continue;
                    }
                    let child = fs.inode(r.ino).unwrap().unwrap();
                    let map = fs.read_map(r.ino, &child).unwrap();
                    assert!(map.damage.is_empty(), "inode {}: {:?}", r.ino, map.damage);
                    if child.is_dir() {
                        queue.push_back(r.ino);
                    }
                }
            }
        }
    }
    seen.len()
}

/// Damages a copy of `base` with `seed` as `kind` says (`None`: a
/// structure-aware mutation); what was done.
fn damage(img: &Image, seed: u64, kind: Option<Damage>) -> String {
    match kind {
        Some(kind) => {
            let mut fs = Fs::open(img.path(), false).unwrap();
            let blocks: Vec<u64> = Survey::take(&mut fs)
                .unwrap()
                .live_metadata_blocks()
                .into_iter()
                .collect();
            let dev = Device::open(img.path(), true).unwrap();
            corrupt(&dev, &blocks, seed, kind).unwrap()
        }
        None => {
            let mut fs = Fs::open(img.path(), true).unwrap();
            let m = fuzz::mutate(&mut fs, seed).unwrap();
            fs.img.flush().unwrap();
            format!("seed {seed}: {m}")
        }
    }
}

#[test]
fn repair_corpus() {
    let (img, _) = populated();
    let bytes = img.read();
    let base: Vec<(u64, Vec<u8>)> = bytes
        .chunks(BS as usize)
        .enumerate()
        .filter(|(_, b)| b.iter().any(|&x| x != 0))
        .map(|(i, b)| (i as u64 * BS, b.to_vec()))
        .collect();
    let full = walk(&img);
    let kinds: Vec<Option<Damage>> = Damage::ALL.into_iter().map(Some).chain([None]).collect();
    let mut lines = Vec::new();
    for kind in kinds {
        let name = kind.map_or("field", Damage::name);
        let (mut detected, mut preened, mut whole, mut refused) = (0, 0, 0, 0);
        for seed in 0..PER_KIND {
            let img = copy(&base);
            let what = damage(&img, seed, kind);
            let (code, out) = check_n(&img);
            assert!(code == 0 || code == 4, "{name} {what}: fsck -n exit {code}\n{out}");
            if code == 0 {
                continue;
            }
            detected += 1;
            // -p on a copy of the damaged image.
            let preen = copy(&base);
            std::fs::copy(img.path(), preen.path()).unwrap();
            let (code, out) = fsck_out(&["-p"], &preen);
            match code {
                1 => {
                    preened += 1;
                    let (code, after) = check_n(&preen);
                    assert_eq!(code, 0, "{name} {what}: -p then -n\n{out}\n{after}");
                    // -p loses nothing: every inode is still reachable.
                    assert!(walk(&preen) >= full, "{name} {what}: -p lost an inode\n{out}");
                }
                4 => assert!(out.contains("need fsck.daxfs -y"), "{name} {what}: -p\n{out}"),
                _ => panic!("{name} {what}: fsck -p exit {code}\n{out}"),
            }
            let (code, out) = fsck_out(&["-y"], &img);
            if code == 4 && out.contains("fsck does not guess which") {
                // A filesystem larger than its device: e2fsck refuses too.
                refused += 1;
                continue;
            }
            assert_eq!(code, 1, "{name} {what}: fsck -y\n{out}");
            let (code, after) = check_n(&img);
            assert_eq!(code, 0, "{name} {what}: -n after -y\n{out}\n{after}");
            let before = img.read();
            let (code, again) = fsck_out(&["-y"], &img);
            assert_eq!(code, 0, "{name} {what}: second -y\n{again}");
            assert!(img.read() == before, "{name} {what}: a second -y changed the image\n{again}");
            // Every inode still reachable (by its name or in /lost+found)?
            whole += u32::from(walk(&img) >= full);
        }
        assert!(detected * 2 > PER_KIND, "{name}: only {detected} of {PER_KIND} reported");
        lines.push(format!(
            "{name}: {PER_KIND} images, {detected} reported by -n, {} repaired by -y \
             ({preened} by -p alone), {refused} refused (larger than the device); after -y \
             every inode is reachable in {whole}",
            detected - refused
        ));
    }
    for l in &lines {
        println!("repair corpus: {l}");
    }
}
