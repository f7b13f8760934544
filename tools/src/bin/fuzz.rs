// SPDX-License-Identifier: GPL-2.0
//! daxfs-fuzz: a structure-aware fuzzer for daxfs images (`daxfs::fuzz`).
//!
//! ```text
//! daxfs-fuzz mutate DEV --seed N --undo FILE [--focus FILE]
//!                                   change a few fields, checksums recomputed
//! daxfs-fuzz undo DEV FILE...       write back what undo files saved
//! daxfs-fuzz save DEV FILE          save every metadata block (an undo file)
//! daxfs-fuzz corrupt DEV --seed N --damage flip|zero|ones|field [--blocks FILE]
//!                                   damage one metadata block blindly (or,
//!                                   `field`, mutate), for the repair corpus
//! daxfs-fuzz exercise DIR [--log FILE] [--focus FILE]
//!                                   the workload for a mounted image
//! ```
//!
//! `mutate` prints one line: `seed N: <what changed> [checksums valid]`,
//! and writes the inode numbers the change concerns to the focus file,
//! whose entries `exercise` then gives every operation.
//! The device must not be mounted.  Block devices are flushed (`BLKFLSBUF`)
//! before reading and after writing, so a DAX mount and these commands see
//! each other's stores.  Exit status 0, 1 on an error, 2 on a usage error.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use daxfs::cli::parse_args;
use daxfs::dev::Device;
use daxfs::fuzz::corrupt::Damage;
use daxfs::fuzz::{self, BlockSet, Survey};
use daxfs::image::{Fs, Image};
use daxfs::SB_PRIMARY_OFFSET;

/// Structure-aware fuzzer for daxfs images.
#[derive(Parser, Debug)]
#[command(name = "daxfs-fuzz", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Change one or a few metadata fields of DEV (in place), recomputing
    /// the checksums; save the blocks changed to UNDO first.
    Mutate {
        device: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long, value_name = "FILE")]
        undo: PathBuf,
        /// Write the inode numbers the change concerns to FILE.
        #[arg(long, value_name = "FILE")]
        focus: Option<PathBuf>,
    },
    /// Write back the blocks saved in each FILE, in order.
    Undo {
        device: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Save every metadata block of DEV (fixed areas, directory and extent
    /// blocks, long symlink targets) to FILE, to be restored with `undo`.
    Save { device: PathBuf, file: PathBuf },
    /// Damage DEV for the repair corpus: one metadata block gets random
    /// byte flips, is zeroed or has fields set to all-ones (blind: the
    /// blocks are daxfs's live metadata, or those listed in --blocks, one
    /// 4 KiB block number per line, for any filesystem); `field` is
    /// `mutate` without an undo file.
    Corrupt {
        device: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long, value_name = "flip|zero|ones|field")]
        damage: String,
        /// The blocks to choose from (4 KiB block numbers, one per line).
        #[arg(long, value_name = "FILE")]
        blocks: Option<PathBuf>,
    },
    /// Walk, read, write and change the namespace of the mounted tree DIR.
    Exercise {
        dir: PathBuf,
        /// Log each step to FILE (to know where a hang happened).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Give every operation to the entries of the inodes listed in FILE.
        #[arg(long, value_name = "FILE")]
        focus: Option<PathBuf>,
    },
}

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Opens `path` (read-write if `write`), drops stale cached blocks and
/// reads its primary superblock, which must be valid.
fn open_fs(path: &Path, write: bool) -> Result<Fs> {
    let dev = Device::open(path, write)?;
    dev.flush_buffers()?;
    let sb = dev
        .read_sb(SB_PRIMARY_OFFSET)?
        .map_err(|e| format!("{}: {}", path.display(), e.describe()))?;
    Ok(Fs::new(Image::new(dev), sb))
}

fn mutate(path: &Path, seed: u64, undo: &Path, focus: Option<&Path>) -> Result<()> {
    let mut fs = open_fs(path, true)?;
    let sb = fs.sb;
    let m = fuzz::mutate(&mut fs, seed)?;
    fuzz::write_with_undo(&mut fs.img, undo)?;
    println!("seed {seed}: {m}");
    if let Some(focus) = focus {
        let list: Vec<String> = m.focus.iter().map(u64::to_string).collect();
        fs::write(focus, list.join(" ") + "\n")?;
    }
    // Read back what reached the device, with the layout from before.
    let dev = fs.img.into_device();
    let mut after = Fs::new(Image::new(dev), sb);
    if fuzz::verify(&mut after, &m.touched)? == m.broken {
        return Err("internal error: the checksums do not hold as the mutation says".into());
    }
    Ok(())
}

fn undo(path: &Path, files: &[PathBuf]) -> Result<()> {
    let sets = files
        .iter()
        .map(|f| BlockSet::load(f))
        .collect::<std::io::Result<Vec<_>>>()?;
    let dev = Device::open(path, true)?;
    for set in sets {
        set.restore(&dev)?;
    }
    Ok(())
}

/// The inode numbers in the focus file `path` (none without one).
fn read_focus(path: Option<&Path>) -> Result<Vec<u64>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let text = fs::read_to_string(path)?;
    let list = text
        .split_whitespace()
        .map(str::parse)
        .collect::<std::result::Result<_, _>>();
    Ok(list.map_err(|e| format!("{}: {e}", path.display()))?)
}

fn save(path: &Path, file: &Path) -> Result<()> {
    let mut fs = open_fs(path, false)?;
    let blocks = Survey::take(&mut fs)?.metadata_blocks();
    BlockSet::read(fs.img.device(), blocks)?.save(file)?;
    Ok(())
}

fn corrupt(path: &Path, seed: u64, damage: &str, blocks: Option<&Path>) -> Result<()> {
    if damage == "field" {
        let mut fs = open_fs(path, true)?;
        let m = fuzz::mutate(&mut fs, seed)?;
        fs.img.flush()?;
        println!("seed {seed}: {m}");
        return Ok(());
    }
    let kind = Damage::parse(damage).ok_or_else(|| format!("unknown damage {damage:?}"))?;
    let list: Vec<u64> = match blocks {
        Some(file) => {
            let text = fs::read_to_string(file)?;
            let list: std::result::Result<Vec<u64>, _> = text.split_whitespace().map(str::parse).collect();
            list.map_err(|e| format!("{}: {e}", file.display()))?
        }
        None => {
            let mut fs = open_fs(path, false)?;
            Survey::take(&mut fs)?.live_metadata_blocks().into_iter().collect()
        }
    };
    let dev = Device::open(path, true)?;
    dev.flush_buffers()?;
    println!("{}", fuzz::corrupt::corrupt(&dev, &list, seed, kind)?);
    dev.sync()?;
    dev.flush_buffers()?;
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Mutate {
            device,
            seed,
            undo: file,
            focus,
        } => mutate(&device, seed, &file, focus.as_deref()),
        Cmd::Undo { device, files } => undo(&device, &files),
        Cmd::Save { device, file } => save(&device, &file),
        Cmd::Corrupt {
            device,
            seed,
            damage,
            blocks,
        } => corrupt(&device, seed, &damage, blocks.as_deref()),
        Cmd::Exercise { dir, log, focus } => {
            let focus = read_focus(focus.as_deref())?;
            println!("{}", fuzz::exercise::run(&dir, log.as_deref(), &focus)?);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(parse_args(2)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("daxfs-fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}
