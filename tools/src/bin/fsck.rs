// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs: check and repair a daxfs filesystem. Exit codes follow fsck(8).

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use daxfs::check::{check, Problem, Report};
use daxfs::cli::{parse_args, Summary};
use daxfs::dev::Device;
use daxfs::image::Image;

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

fn print(report: &Report, seen: &[Problem]) {
    for p in report.problems.iter().filter(|p| !seen.contains(p)) {
        let fixed = if p.fixed { " (fixed)" } else { "" };
        println!("fsck.daxfs: {}{fixed}", p.msg);
    }
}

fn run(args: &Args) -> io::Result<u8> {
    let repair = args.yes || args.preen;
    let path = args.device.display();
    let dev = Device::open(&args.device, repair)?;
    let (report, mut img) = check(Image::new(dev), repair)?;
    print(&report, &[]);
    for change in &report.changes {
        println!("fsck.daxfs: {change}");
    }
    for note in &report.notes {
        println!("fsck.daxfs: {note}");
    }
    let code = match &report.sb {
        None => {
            println!("fsck.daxfs: no valid superblock, nothing can be repaired");
            UNCORRECTED
        }
        Some(sb) => {
            if args.verbose {
                println!("{path}:\n{}", Summary(sb));
            }
            if report.problems.is_empty() && report.changes.is_empty() {
                CLEAN
            } else if !report.repaired() {
                UNCORRECTED
            } else {
                img.flush()?;
                // Check again what is now on the device.
                let (after, _) = check(Image::new(img.into_device()), false)?;
                let fixed: Vec<Problem> = report
                    .problems
                    .iter()
                    .map(|p| Problem {
                        fixed: false,
                        ..p.clone()
                    })
                    .collect();
                print(&after, &fixed);
                if after.problems.is_empty() {
                    CORRECTED
                } else {
                    UNCORRECTED
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
