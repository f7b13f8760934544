// SPDX-License-Identifier: GPL-2.0
//! fsck.daxfs: check and repair a daxfs filesystem. Exit codes follow fsck(8).
//!
//! Bad blocks (the device's badblocks list in sysfs, a list given with
//! `-l`, blocks whose read fails with EIO) are problems: each range is
//! reported with what it holds and what is lost (docs/media-errors.md).

use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use daxfs::check::{check, Level, Problem, Report};
use daxfs::cli::{parse_args, Summary};
use daxfs::dev::{read_bad_list, Device};
use daxfs::image::Image;

/// `println!` that does not panic when stdout is closed (`| head`): the
/// work goes on, and the exit status tells the outcome.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

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
    /// Repair every problem: what cannot be saved is cleared, what lost
    /// its name is reconnected in /lost+found.
    #[arg(short = 'y')]
    yes: bool,
    /// Repair automatically only what loses nothing (journal replay, the
    /// orphan list, bitmaps, counts, the backup superblock); anything
    /// else is reported, with exit status 4: run fsck.daxfs -y.
    #[arg(short = 'p', short_alias = 'a')]
    preen: bool,
    /// Check even if the filesystem seems clean (always done).
    #[arg(short = 'f')]
    force: bool,
    /// Describe the filesystem.
    #[arg(short = 'v')]
    verbose: bool,
    /// Bad sectors of the device, besides its badblocks list in sysfs:
    /// lines "SECTOR COUNT" (512-byte sectors from the start of the device
    /// or image), as in /sys/block/*/badblocks.
    #[arg(short = 'l', long = "badblocks", value_name = "FILE")]
    badblocks: Option<PathBuf>,
    /// Progress file descriptor passed by fsck(8); ignored.
    #[arg(short = 'C', hide = true)]
    progress_fd: Option<i32>,
    /// Block device or image file.
    device: PathBuf,
}

fn print(report: &Report, seen: &[Problem]) {
    for p in report.problems.iter().filter(|p| !seen.contains(p)) {
        let fixed = if p.fixed { " (fixed)" } else { "" };
        say!("fsck.daxfs: {}{fixed}", p.msg);
    }
}

/// The passes' reports as one: every problem, change and note once, in
/// the order found; a problem left unfixed by the last pass is unfixed.
/// With `all` (nothing was written: a repair needed a bad block) every
/// problem any pass found is kept.
fn merged(reports: Vec<Report>, all: bool) -> Report {
    let mut out = Report::default();
    let last = reports.len().saturating_sub(1);
    for (i, r) in reports.into_iter().enumerate() {
        out.sb = out.sb.or(r.sb);
        for p in r.problems {
            // Passes before the last repaired what they report, or met it
            // again later.
            if (p.fixed || i == last || all) && !out.problems.contains(&p) {
                out.problems.push(p);
            }
        }
        for c in r.changes {
            if !out.changes.contains(&c) {
                out.changes.push(c);
            }
        }
        for n in r.notes {
            if !out.notes.contains(&n) {
                out.notes.push(n);
            }
        }
    }
    out
}

/// `dev` with its bad blocks `bad` (byte ranges).
fn image(dev: Device, bad: &[Range<u64>]) -> Image {
    let mut img = Image::new(dev);
    img.mark_bad(bad);
    img
}

fn run(args: &Args) -> io::Result<u8> {
    let level = if args.yes {
        Level::Yes
    } else if args.preen {
        Level::Preen
    } else {
        Level::Check
    };
    let repair = level > Level::Check;
    let path = args.device.display();
    let dev = Device::open(&args.device, repair)?;
    let mut bad = dev.bad_ranges()?;
    if let Some(list) = &args.badblocks {
        bad.extend(read_bad_list(list, dev.size())?);
    }
    let (reports, mut img) = daxfs::check::repair(image(dev, &bad), level)?;
    let report = merged(reports, !img.dirty_bad().is_empty());
    print(&report, &[]);
    for change in &report.changes {
        say!("fsck.daxfs: {change}");
    }
    for note in &report.notes {
        say!("fsck.daxfs: {note}");
    }
    let code = match &report.sb {
        None => {
            say!("fsck.daxfs: no valid superblock, nothing can be repaired");
            UNCORRECTED
        }
        Some(sb) => {
            if args.verbose {
                say!("{path}:\n{}", Summary(sb));
            }
            if report.problems.is_empty() && report.changes.is_empty() {
                CLEAN
            } else if !report.repaired() {
                UNCORRECTED
            } else {
                img.flush()?;
                // Check again what is now on the device.
                let (after, _) = check(image(img.into_device(), &bad), false)?;
                // What is left, but for what was printed as left already
                // (a problem printed "(fixed)" and still there is printed
                // again).
                let left: Vec<Problem> = report.problems.iter().filter(|p| !p.fixed).cloned().collect();
                print(&after, &left);
                if after.problems.is_empty() {
                    CORRECTED
                } else {
                    UNCORRECTED
                }
            }
        }
    };
    if level == Level::Preen && code == UNCORRECTED {
        say!("fsck.daxfs: some problems need fsck.daxfs -y, which may clear or drop what cannot be saved");
    }
    let status = match code {
        CLEAN => "clean",
        CORRECTED => "errors corrected",
        _ => "errors left uncorrected",
    };
    say!("{path}: {status}");
    Ok(code)
}

fn main() -> ExitCode {
    let args: Args = parse_args(USAGE);
    ExitCode::from(run(&args).unwrap_or_else(|e| {
        eprintln!("fsck.daxfs: {e}");
        OPERATIONAL
    }))
}
