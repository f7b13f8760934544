// SPDX-License-Identifier: GPL-2.0
//! daxfs-db: a read-only debugger for daxfs images (`daxfs::db`), as
//! debugfs and xfs_db are for ext4 and XFS.
//!
//! ```text
//! daxfs-db [--json] IMAGE sb | state | journal | inode INO | dir INO
//!                         | extents INO | owner BLOCK | path PATH
//! ```
//!
//! Prints `name: value` lines, or with `--json` one JSON object on one
//! line.  Damage found on the way (bad checksums, fields out of range,
//! records that do not parse, chains that loop) is listed under `damage`;
//! it does not change the exit status.  Exit status 0 when the item was
//! shown, 1 on a usage error or when it could not be (not found, out of
//! range, does not decode, device unreadable): the reason goes to stderr
//! (and to the `error` field with `--json`).  A closed stdout (`| head`)
//! ends it quietly with status 0.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use daxfs::cli::parse_args;
use daxfs::db::{self, Command};

/// Print the metadata of a daxfs image (read-only; works on damaged images).
#[derive(Parser, Debug)]
#[command(name = "daxfs-db", bin_name = "daxfs-db", version)]
#[command(
    after_help = "Exit status: 0 when the item was shown (damage found is listed \
    under `damage`), 1 on a usage error or when the item could not be shown. \
    Numbers may be given in decimal or as 0x... hexadecimal."
)]
struct Cli {
    /// Print one JSON object (one line) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Image file or block device (opened read-only; never written).
    image: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Both superblocks, each field, and which are out of range.
    Sb,
    /// The state block (clean flag, free counts, orphan list head) and the
    /// orphan list.
    State,
    /// The journal header (committed/applied sequence, tx_len, tx_crc), the
    /// transaction's status (empty, applied, pending, corrupt) and its
    /// records with the area each one writes.
    Journal,
    /// Inode INO: every field, inline extents or symlink target.
    Inode {
        /// Inode number (1 is the root).
        #[arg(value_parser = number)]
        ino: u64,
    },
    /// The records of directory INO (name, inode, type, block, offset).
    Dir {
        /// Inode number (1 is the root).
        #[arg(value_parser = number)]
        ino: u64,
    },
    /// The extent map of inode INO and its chain of extent blocks.
    Extents {
        /// Inode number (1 is the root).
        #[arg(value_parser = number)]
        ino: u64,
    },
    /// What BLOCK belongs to (metadata area, inode + file offset, extent
    /// chain block, free); scans every inode.
    ///
    /// Reads the whole inode table and every extent chain: slow on a large
    /// filesystem.
    Owner {
        /// Block number (of 4 KiB).
        #[arg(value_parser = number)]
        block: u64,
    },
    /// The inode PATH names, from the root ("." and ".." as the directories
    /// say; symlinks are not followed).
    Path {
        /// Absolute or relative to the root.
        path: PathBuf,
    },
}

/// A number, in decimal or `0x` hexadecimal.
fn number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

fn main() -> ExitCode {
    let cli: Cli = parse_args(1);
    let cmd = match cli.cmd {
        Cmd::Sb => Command::Sb,
        Cmd::State => Command::State,
        Cmd::Journal => Command::Journal,
        Cmd::Inode { ino } => Command::Inode(ino),
        Cmd::Dir { ino } => Command::Dir(ino),
        Cmd::Extents { ino } => Command::Extents(ino),
        Cmd::Owner { block } => Command::Owner(block),
        Cmd::Path { path } => Command::Path(path.as_os_str().as_bytes().to_vec()),
    };
    let out = db::run(&cli.image, &cmd);
    let text = if cli.json { out.json() } else { out.text() };
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "daxfs-db: stdout: {e}");
            return ExitCode::FAILURE;
        }
    }
    match out.error {
        None => ExitCode::SUCCESS,
        Some(e) => {
            let _ = writeln!(io::stderr(), "daxfs-db: {e}");
            ExitCode::FAILURE
        }
    }
}
