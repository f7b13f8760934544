// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs: check and repair a daxfs filesystem. Exit codes follow fsck(8).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use daxfs::cli::{parse_args, Summary};
use daxfs::dev::Device;
use daxfs::*;

const CLEAN: u8 = 0;
const CORRECTED: u8 = 1;
const UNCORRECTED: u8 = 4;
const OPERATIONAL: u8 = 8;
const USAGE: u8 = 16;

/// Check a daxfs filesystem. Never prompts: without -y or -p it only checks.
#[derive(Parser, Debug)]
#[command(name = "fsck.daxfs", bin_name = "fsck.daxfs", version)]
#[command(group(ArgGroup::new("mode").args(["no", "yes", "preen"])))]
struct Args {
    /// Check only: open the device read-only and change nothing.
    #[arg(short = 'n')]
    no: bool,
    /// Repair every problem that can be repaired safely.
    #[arg(short = 'y')]
    yes: bool,
    /// Repair automatically what is safe (same as -y in this version).
    #[arg(short = 'p', short_alias = 'a')]
    preen: bool,
    /// Check even if the filesystem seems clean (always done).
    #[arg(short = 'f')]
    force: bool,
    /// Describe the filesystem.
    #[arg(short = 'v')]
    verbose: bool,
    /// Progress file descriptor passed by fsck(8); ignored.
    #[arg(short = 'C', hide = true)]
    progress_fd: Option<i32>,
    /// Block device or image file.
    device: PathBuf,
}

/// What was found on the device.
struct Check {
    primary: Result<SuperBlock, SbError>,
    backup: Result<SuperBlock, SbError>,
}

impl Check {
    fn read(dev: &Device) -> io::Result<Self> {
        Ok(Check {
            primary: dev.read_sb(SB_PRIMARY_OFFSET)?,
            backup: dev.read_sb(SB_BACKUP_OFFSET)?,
        })
    }

    /// One line per problem.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, sb) in [("primary", &self.primary), ("backup", &self.backup)] {
            if let Err(e) = sb {
                out.push(format!("{name} superblock: {}", e.describe()));
            }
        }
        if matches!((&self.primary, &self.backup), (Ok(p), Ok(b)) if p != b) {
            out.push("superblocks differ".into());
        }
        out
    }

    /// The superblock to trust (the primary when valid) and, if the other
    /// copy needs rewriting from it, that copy's offset and name.
    fn repair(&self) -> Option<(&SuperBlock, Option<(u64, &'static str)>)> {
        match (&self.primary, &self.backup) {
            (Ok(p), Ok(b)) if p == b => Some((p, None)),
            (Ok(p), _) => Some((p, Some((SB_BACKUP_OFFSET, "backup")))),
            (Err(_), Ok(b)) => Some((b, Some((SB_PRIMARY_OFFSET, "primary")))),
            (Err(_), Err(_)) => None,
        }
    }
}

fn report(check: &Check) -> bool {
    let problems = check.problems();
    for p in &problems {
        println!("fsck.daxfs: {p}");
    }
    problems.is_empty()
}

fn run(args: &Args) -> io::Result<u8> {
    let repair = args.yes || args.preen;
    let dev = Device::open(&args.device, repair)?;
    let path = args.device.display();
    let check = Check::read(&dev)?;
    report(&check);
    let code = match check.repair() {
        None => {
            println!("fsck.daxfs: no valid superblock, nothing can be repaired");
            UNCORRECTED
        }
        Some((sb, fix)) => {
            if sb.flags & SB_FLAG_DIRTY != 0 {
                println!("fsck.daxfs: filesystem was not cleanly unmounted");
            }
            if args.verbose {
                println!("{path}:\n{}", Summary(sb));
            }
            match fix {
                None => CLEAN,
                Some(_) if !repair => UNCORRECTED,
                Some((offset, which)) => {
                    dev.write_sb(offset, sb)?;
                    dev.sync()?;
                    println!("fsck.daxfs: {which} superblock rewritten");
                    if report(&Check::read(&dev)?) {
                        CORRECTED
                    } else {
                        UNCORRECTED
                    }
                }
            }
        }
    };
    let status = match code {
        CLEAN => "clean",
        CORRECTED => "errors corrected",
        _ => "errors left uncorrected",
    };
    println!("{path}: {status}");
    Ok(code)
}

fn main() -> ExitCode {
    let args: Args = parse_args(USAGE);
    ExitCode::from(run(&args).unwrap_or_else(|e| {
        eprintln!("fsck.daxfs: {e}");
        OPERATIONAL
    }))
}
