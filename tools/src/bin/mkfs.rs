// SPDX-License-Identifier: GPL-2.0
//! mkfs.daxfs: make a daxfs filesystem on a block device or image file.

use std::error::Error;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use daxfs::cli::{parse_args, Summary};
use daxfs::dev::{random_bytes, Device};
use daxfs::image::{Fs, Image};
use daxfs::*;

/// `println!` that does not panic when stdout is closed (`| head`): the
/// work goes on, and the exit status tells the outcome.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Make a daxfs filesystem. Never prompts; refuses mounted devices.
#[derive(Parser, Debug)]
#[command(name = "mkfs.daxfs", bin_name = "mkfs.daxfs", version)]
struct Args {
    /// Volume label (at most 64 bytes).
    #[arg(short = 'L', long, value_parser = parse_label)]
    label: Option<[u8; LABEL_LEN]>,
    /// Filesystem UUID (default: random).
    #[arg(short = 'U', long, value_parser = parse_uuid)]
    uuid: Option<[u8; 16]>,
    /// Number of inodes, rounded up to a multiple of 16 (default: one per 16 KiB).
    #[arg(short = 'N', long)]
    inodes: Option<u64>,
    /// Journal size in 4 KiB blocks.
    #[arg(short = 'J', long, default_value_t = JOURNAL_BLOCKS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(JOURNAL_BLOCKS_MIN..=JOURNAL_BLOCKS_MAX))]
    journal_blocks: u64,
    /// Accepted for compatibility; mkfs.daxfs never asks for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// Block device or image file.
    device: PathBuf,
    /// Filesystem size in 4 KiB blocks (default: the whole device).
    blocks: Option<u64>,
}

fn parse_label(s: &str) -> Result<[u8; LABEL_LEN], String> {
    let mut label = [0u8; LABEL_LEN];
    label
        .get_mut(..s.len())
        .ok_or(format!(
            "{} bytes long, the maximum is {LABEL_LEN}",
            s.len()
        ))?
        .copy_from_slice(s.as_bytes());
    Ok(label)
}

fn parse_uuid(s: &str) -> Result<[u8; 16], &'static str> {
    uuid::parse(s).ok_or("expected 32 hex digits, as in 01234567-89ab-cdef-0123-456789abcdef")
}

/// The layout from the arguments and the device size.
fn geometry(args: &Args, dev_blocks: u64) -> Result<Geometry, String> {
    let blocks = args.blocks.unwrap_or(dev_blocks);
    let mib = |blocks: u64| blocks >> (20 - BLOCK_SHIFT);
    if blocks > dev_blocks {
        return Err(format!(
            "{blocks} blocks requested but the device has {dev_blocks}"
        ));
    }
    if blocks < MIN_BLOCKS {
        return Err(format!(
            "{blocks} blocks is too small, the minimum is {MIN_BLOCKS} ({} MiB)",
            mib(MIN_BLOCKS)
        ));
    }
    if blocks > MAX_BLOCKS {
        return Err(format!(
            "{blocks} blocks is too large, the maximum is {MAX_BLOCKS} ({} TiB); give BLOCKS",
            mib(MAX_BLOCKS) >> 20
        ));
    }
    // The inode table holds whole blocks of inodes: round up.
    let inodes = match args.inodes {
        None => default_inodes(blocks),
        Some(0) => return Err("0 inodes: there must be at least 1".into()),
        // (Past u64::MAX: the largest multiple, which cannot fit either.)
        Some(n) => n
            .checked_next_multiple_of(INODES_PER_BLOCK)
            .unwrap_or(u64::MAX / INODES_PER_BLOCK * INODES_PER_BLOCK),
    };
    let journal = args.journal_blocks;
    Geometry::new(blocks, inodes, journal).map_err(|e| match e {
        GeoError::NoRoom => {
            format!("{inodes} inodes and a {journal}-block journal do not fit in {blocks} blocks")
        }
        e => e.describe().into(),
    })
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let dev = Device::open(&args.device, true)?;
    let path = args.device.display();
    let dev_blocks = dev.size() / u64::from(BLOCK_SIZE);
    let geo = geometry(args, dev_blocks).map_err(|e| format!("{path}: {e}"))?;
    let uuid = match args.uuid {
        Some(u) => u,
        None => uuid::v4(random_bytes()?),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = Time {
        sec: now.as_secs() as i64,
        nsec: now.subsec_nanos(),
    };
    let label = args.label.unwrap_or([0; LABEL_LEN]);
    let sb = SuperBlock::new(&geo, uuid, label, now.sec as u64);
    sb.validate(dev.size())
        .map_err(|e| format!("internal error: {}", e.describe()))?;
    write_fs(dev, &sb, now)?;

    if !args.quiet {
        say!("{path}: daxfs filesystem created\n{}", Summary(&sb));
    }
    Ok(())
}

/// Zeroes the metadata areas (not the data area), writes the state block,
/// the bitmaps and the root directory and flushes them; then writes the
/// backup superblock and last the primary, so that a crash never leaves a
/// primary without the rest.
fn write_fs(dev: Device, sb: &SuperBlock, now: Time) -> io::Result<()> {
    let geo = sb.geometry();
    let zero = vec![0u8; 1 << 20];
    let end = geo.data_start * u64::from(BLOCK_SIZE);
    for offset in (0..end).step_by(zero.len()) {
        dev.write_at(offset, &zero[..zero.len().min((end - offset) as usize)])?;
    }
    let mut fs = Fs::new(Image::new(dev), *sb);
    fs.put_state(&StateBlock::new(geo.data_blocks(), geo.inodes - 1))?;
    for block in 0..geo.data_start {
        fs.set_bit(geo.bbitmap_start, block, true)?;
    }
    fs.set_bit(geo.ibitmap_start, ROOT_INO - 1, true)?;
    let root = Inode {
        parent: ROOT_INO,
        ..Inode::new(S_IFDIR | 0o755, now)
    };
    fs.put_inode(ROOT_INO, Some(&root))?;
    fs.img.flush()?;
    let dev = fs.img.device();
    dev.write_sb(SB_BACKUP_OFFSET, sb)?;
    dev.write_sb(SB_PRIMARY_OFFSET, sb)?;
    dev.sync()
}

fn main() -> ExitCode {
    match run(&parse_args(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mkfs.daxfs: {msg}");
            ExitCode::FAILURE
        }
    }
}
