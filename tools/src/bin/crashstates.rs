// SPDX-License-Identifier: GPL-2.0
//! daxfs-crashstates: crash-state exploration (docs/testing.md, "Crash
//! states").
//!
//!   record       (guest) run the workloads on the recorder module's mount
//!   explore      (host) build and check every crash state of a recorded run
//!   mount-check  (guest) mount sampled crash states with the kernel

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use daxfs::crash::{self, tree, workload, Options};
use daxfs::dev::Device;

#[derive(Parser, Debug)]
#[command(name = "daxfs-crashstates", version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the workloads on the recorder module's filesystem at MNT.
    Record {
        #[arg(long)]
        mnt: PathBuf,
        /// The mounted device: its image is taken before each recording.
        #[arg(long)]
        dev: PathBuf,
        /// Filesystem size in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        bytes: usize,
        #[arg(long)]
        out: PathBuf,
        /// Workloads per recording (the module keeps at most 256 MiB of log).
        #[arg(long, default_value_t = 150)]
        chunk: usize,
        /// Also every PAIRS-th ordered pair of operations (0: none, 1: all),
        /// from the FIRST-th.
        #[arg(long, default_value_t = 0)]
        pairs: usize,
        #[arg(long, default_value_t = 0)]
        first: usize,
    },
    /// Explore the crash states of a recorded run in RUN.
    Explore {
        run: PathBuf,
        /// Crash states per crash point at most.
        #[arg(long, default_value_t = 64)]
        budget: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep every SAMPLE-th checked state as an image to mount.
        #[arg(long, default_value_t = 0)]
        sample: usize,
        #[arg(long, default_value_t = 40)]
        sample_max: usize,
        /// Reproducers, samples and the scratch image (default RUN/explore).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Mount each sampled state in DIR from DEV and compare.
    MountCheck {
        dir: PathBuf,
        #[arg(long)]
        dev: PathBuf,
        #[arg(long)]
        mnt: PathBuf,
    },
}

fn run(args: Args) -> Result<bool, String> {
    match args.cmd {
        Cmd::Record { mnt, dev, bytes, out, chunk, pairs, first } => {
            let singles = workload::catalog(false).len();
            let picked: Vec<Vec<String>> = workload::catalog(pairs > 0)
                .into_iter()
                .enumerate()
                .filter(|(k, _)| *k < singles || (k - singles >= first && (k - singles - first) % pairs.max(1) == 0))
                .map(|(_, w)| w)
                .collect();
            println!("crashstates: recording {} workloads", picked.len());
            workload::record(&mnt, &dev, bytes, &out, &picked, chunk).map_err(|e| format!("record: {e}"))?;
            Ok(true)
        }
        Cmd::Explore { run, budget, seed, sample, sample_max, out } => {
            let out = out.unwrap_or_else(|| run.join("explore"));
            let mut chunks: Vec<PathBuf> = std::fs::read_dir(&run)
                .map_err(|e| format!("{}: {e}", run.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("log.bin").is_file())
                .collect();
            chunks.sort();
            if chunks.is_empty() {
                return Err(format!("{}: no recording (cNNN/log.bin)", run.display()));
            }
            let mut s = crash::Summary::default();
            for c in &chunks {
                let tag = c.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
                let left = sample_max.saturating_sub(s.samples);
                let opts = Options { budget, seed, sample, sample_max: left, out: out.clone(), tag };
                let r = crash::explore(c, &opts).map_err(|e| format!("explore {}: {e}", c.display()))?;
                s.add(r);
            }
            println!(
                "crashstates: {} workloads, {} checked operations, {} fences, {} crash points, {} crash states, {} samples to mount, {} violations",
                s.workloads,
                s.ops,
                s.fences,
                s.crash_points,
                s.states,
                s.samples,
                s.violations.len()
            );
            Ok(s.violations.is_empty())
        }
        Cmd::MountCheck { dir, dev, mnt } => mount_check(&dir, &dev, &mnt),
    }
}

fn sh(cmd: &str, args: &[&str]) -> Result<String, String> {
    let o = Command::new(cmd).args(args).output().map_err(|e| format!("{cmd}: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    if o.status.success() {
        Ok(text)
    } else {
        Err(format!("{cmd} {}: {}", args.join(" "), text.trim()))
    }
}

fn mount_check(dir: &Path, dev: &Path, mnt: &Path) -> Result<bool, String> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("{}: no sampled states to mount", dir.display()));
    }
    let (mut pass, mut fail) = (0, 0);
    let d = dev.to_str().ok_or("device path")?;
    let m = mnt.to_str().ok_or("mount point")?;
    for img in &names {
        let expect = fs::read_to_string(img.with_extension("expect")).map_err(|e| e.to_string())?;
        let choices: Vec<String> = expect.split("choice\n").skip(1).map(str::to_string).collect();
        let data = fs::read(img).map_err(|e| e.to_string())?;
        {
            let f = OpenOptions::new().write(true).open(dev).map_err(|e| e.to_string())?;
            f.write_all_at(&data, 0).map_err(|e| e.to_string())?;
            f.sync_all().map_err(|e| e.to_string())?;
        }
        Device::open(dev, false).and_then(|d| d.flush_buffers()).map_err(|e| e.to_string())?;
        let r = (|| -> Result<(), String> {
            sh("mount", &["-t", "daxfs", "-o", "dax", d, m])?;
            let t = tree::from_dir(mnt).map_err(|e| format!("reading the tree: {e}"));
            sh("umount", &[m])?;
            let t = crash::render_meta(&t?);
            if !choices.contains(&t) {
                return Err(format!("the kernel shows neither allowed tree:\n{t}--- allowed\n{}", choices.join("--- or\n")));
            }
            Device::open(dev, false).and_then(|d| d.flush_buffers()).map_err(|e| e.to_string())?;
            sh("fsck.daxfs", &["-n", d])?;
            Ok(())
        })();
        match r {
            Ok(()) => pass += 1,
            Err(e) => {
                fail += 1;
                let first = expect.lines().next().unwrap_or("");
                println!("FAIL {}: {first}\n    {}", img.display(), e.replace('\n', "\n    "));
                let _ = Command::new("umount").arg(m).output();
            }
        }
    }
    println!("crashstates mount-check: {pass} mounted and matched, {fail} failed");
    let _ = std::io::stdout().flush();
    Ok(fail == 0)
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("daxfs-crashstates: {e}");
            ExitCode::from(2)
        }
    }
}
