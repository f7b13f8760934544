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
use daxfs::*;

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
    /// Number of inodes (default: one per 16 KiB).
    #[arg(short = 'N', long)]
    inodes: Option<u64>,
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

/// The filesystem size in blocks and its inode count.
fn geometry(args: &Args, dev_blocks: u64) -> Result<(u64, u64), String> {
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
    let inodes = args.inodes.unwrap_or_else(|| default_inodes(blocks));
    let max = max_inodes(blocks);
    if !(1..=max).contains(&inodes) {
        return Err(format!("{inodes} inodes: must be between 1 and {max}"));
    }
    Ok((blocks, inodes))
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let dev = Device::open(&args.device, true)?;
    let path = args.device.display();
    let dev_blocks = dev.size() / u64::from(BLOCK_SIZE);
    let (blocks, inodes) = geometry(args, dev_blocks).map_err(|e| format!("{path}: {e}"))?;
    let uuid = match args.uuid {
        Some(u) => u,
        None => uuid::v4(random_bytes()?),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sb = SuperBlock::new(
        blocks,
        inodes,
        uuid,
        args.label.unwrap_or([0; LABEL_LEN]),
        now,
    );
    sb.validate(dev.size())
        .map_err(|e| format!("internal error: {}", e.describe()))?;
    write_fs(&dev, &sb)?;

    if !args.quiet {
        println!("{path}: daxfs filesystem created\n{}", Summary(&sb));
    }
    Ok(())
}

/// Zeroes the reserved area, then writes the backup superblock before the
/// primary (so that a crash never leaves a primary without its backup), then
/// flushes.
fn write_fs(dev: &Device, sb: &SuperBlock) -> io::Result<()> {
    let zero = vec![0u8; (RESERVED_BLOCKS * u64::from(BLOCK_SIZE)) as usize];
    dev.write_at(0, &zero)?;
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
