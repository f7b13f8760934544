// SPDX-License-Identifier: GPL-2.0
//! daxfs-datatest: data-path exercisers for the in-VM tests.
//!
//! * `fsx`: an fsx-style random operation exerciser (write, mapwrite, read,
//!   mapread, truncate, punch, zero, collapse, insert, fallocate, fsync)
//!   checking the file against an in-memory model after every operation.
//! * `stress`: a generic/074-like multi-process data-integrity stress:
//!   every process runs random read/write/mmap-write/truncate/punch on its
//!   own file and writes its own region of one shared file, verifying all.
//! * `touch`: mmap a file and touch every page (PMD fault counting).
//! * `pin`: pin the first page of a DAX mapping with vmsplice (a pipe holds
//!   a page reference, as O_DIRECT or RDMA would) for a while.
//! * `stale`: fill a file system with a pattern, delete it, then allocate
//!   through every path and check that only zeroes or new data appear.
//! * `mapsync-write`/`check`: write through a MAP_SYNC mapping for the
//!   power-cut test, and verify afterwards.
//!
//! Everything is deterministic for a given `--seed`.  Exit status: 0 when
//! every check passed, 1 on the first mismatch or unexpected error (with a
//! description of the operation log tail on stderr), 2 on usage errors.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

const BS: u64 = 4096;
const PATTERN: u8 = 0xa5;

#[derive(Parser, Debug)]
#[command(name = "daxfs-datatest", version)]
/// Data-path exercisers for daxfs tests.
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Random operations on FILE checked against a model after each one.
    Fsx {
        file: PathBuf,
        #[arg(long, default_value_t = 2000)]
        ops: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Largest file size the exerciser aims for.
        #[arg(long, default_value_t = 1 << 20)]
        max_size: u64,
        /// Largest single operation.
        #[arg(long, default_value_t = 64 << 10)]
        max_len: u64,
        /// Run for this many seconds instead of --ops operations (long mode).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Several processes doing read/write/mmap-write/truncate on their own
    /// files and on disjoint regions of a shared file, verifying contents.
    Stress {
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        procs: u64,
        #[arg(long, default_value_t = 500)]
        ops: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1 << 20)]
        max_size: u64,
    },
    /// mmap FILE shared and touch every page (write one byte with --write).
    Touch {
        file: PathBuf,
        #[arg(long)]
        write: bool,
    },
    /// Pin FILE's first page via vmsplice for SECONDS, then check the page
    /// still held the data it had ("pinned" and "released <ok|changed>").
    Pin { file: PathBuf, seconds: u64 },
    /// Read the byte at OFF of a shared mapping of FILE in a child
    /// process; print "ok" or "SIGBUS <si_code>" (4 = BUS_MCEERR_AR, a
    /// media error; 2 = BUS_ADRERR).
    MmapRead { file: PathBuf, off: u64 },
    /// madvise(MADV_HWPOISON) the page at OFF of a shared mapping of FILE
    /// (a simulated memory failure of that pmem page) in a child process;
    /// print what the child got ("ok" or "SIGBUS <si_code>").
    Hwpoison { file: PathBuf, off: u64 },
    /// Print the page frame number of FILE's byte OFF (read through a
    /// shared mapping; /proc/self/pagemap, root only).
    Pfn { file: PathBuf, off: u64 },
    /// Map FILE shared, read every page, print "mapped", then read them
    /// again every 100 ms for SECONDS: "survived" (exit 0), or on SIGBUS
    /// exit with status 10 + si_code (5 = BUS_MCEERR_AO: the kernel
    /// unmapped a failed page this process maps).
    Hold { file: PathBuf, seconds: u64 },
    /// Fill DIR with a pattern until ENOSPC, delete it, allocate through
    /// write, fallocate, mmap faults, truncate up and insert range, and
    /// check that no byte of the pattern is ever seen.
    Stale { dir: PathBuf },
    /// Write SIZE bytes of a seed pattern through a MAP_SYNC mapping of a
    /// new FILE, print "done", then wait to be killed.
    MapsyncWrite {
        file: PathBuf,
        size: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write SIZE bytes of the seed pattern to a new FILE with write(2), fsync.
    Fill {
        file: PathBuf,
        size: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Append COUNT 64-byte records "ID:SEQ:..." to FILE with O_APPEND.
    Append { file: PathBuf, id: u64, count: u64 },
    /// Check FILE holds exactly COUNT records, in order, of each of IDS writers.
    AppendCheck { file: PathBuf, ids: u64, count: u64 },
    /// Metadata benchmark in DIR: prints "create-fsync-unlink <files/s>",
    /// "mkdir-rmdir <dirs/s>" and "stat <stats/s>" lines.
    MetaBench {
        dir: PathBuf,
        /// Files created (4 KiB write + fsync each) and unlinked.
        #[arg(long, default_value_t = 10000)]
        files: u64,
        /// Directories in the mkdir/rmdir tree (fan-out 10).
        #[arg(long, default_value_t = 1000)]
        dirs: u64,
        /// Files in one directory to stat.
        #[arg(long, default_value_t = 100000)]
        stats: u64,
    },
    /// Age DIR: ROUNDS times fill to FILL% of the filesystem with files of
    /// random sizes, then delete a random half (seeded).
    Age {
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        rounds: u64,
        #[arg(long, default_value_t = 80)]
        fill: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Build a file of EXTENTS extents: write 2*EXTENTS blocks (each
    /// stamped with its block number), then punch every odd block, one
    /// fallocate per block; prints the seconds of each tenth of the punches.
    FragBuild { file: PathBuf, extents: u64 },
    /// Check a `frag-build` file through read(2) and through mmap: even
    /// blocks below the size and outside every HOLE (A:B, blocks A..B) hold
    /// their stamp, everything else reads zero.
    /// With --stride S, only every S-th run of 256 blocks is checked (and
    /// the first and last 16 runs).
    FragCheck {
        file: PathBuf,
        #[arg(long = "hole", value_parser = block_range)]
        holes: Vec<(u64, u64)>,
        #[arg(long, default_value_t = 1)]
        stride: u64,
    },
    /// Check FILE has SIZE bytes of the `mapsync-write` pattern.
    MapsyncCheck {
        file: PathBuf,
        size: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

type Res<T = ()> = Result<T, String>;

fn block_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once(':').ok_or("A:B")?;
    Ok((a.parse().map_err(|_| "A")?, b.parse().map_err(|_| "B")?))
}

/// xorshift64*: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sys_err(what: &str) -> String {
    format!("{what}: {}", io::Error::last_os_error())
}

/// A shared mapping of a file, unmapped on drop.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(f: &File, len: u64, extra_flags: i32) -> Res<Map> {
        let len = len as usize;
        // SAFETY: mmap of an open file; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | extra_flags,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(sys_err("mmap"));
        }
        Ok(Map { ptr: p.cast(), len })
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: a live shared mapping of `len` bytes; only this process
        // region is accessed while the file is at least that long.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    fn sync(&self) -> Res {
        // SAFETY: our mapping.
        if unsafe { libc::msync(self.ptr.cast(), self.len, libc::MS_SYNC) } != 0 {
            return Err(sys_err("msync"));
        }
        Ok(())
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our mapping.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn fallocate(f: &File, mode: i32, off: u64, len: u64) -> Result<(), i32> {
    // SAFETY: plain syscall on an open fd.
    if unsafe { libc::fallocate(f.as_raw_fd(), mode, off as i64, len as i64) } != 0 {
        return Err(errno());
    }
    Ok(())
}

fn size_of(f: &File) -> Res<u64> {
    f.metadata().map(|m| m.len()).map_err(|e| format!("fstat: {e}"))
}

fn read_at(f: &File, off: u64, len: usize) -> Res<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match f.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return Err(format!("pread {off}+{len}: {e}")),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// The file model and the operations of the exerciser.
struct Fsx {
    f: File,
    model: Vec<u8>,
    rng: Rng,
    max_size: u64,
    max_len: u64,
    log: Vec<String>,
    counts: [u64; 12],
}

const OP_NAMES: [&str; 12] = [
    "write", "mapwrite", "read", "mapread", "truncate", "punch", "zero", "collapse", "insert", "falloc", "fsync",
    "skipped",
];

impl Fsx {
    fn note(&mut self, s: String) {
        if self.log.len() >= 32 {
            self.log.remove(0);
        }
        self.log.push(s);
    }

    fn range(&mut self, cap: u64) -> (u64, u64) {
        let off = self.rng.below(cap.max(1));
        let len = 1 + self.rng.below(self.max_len);
        (off, len)
    }

    fn check_size(&self) -> Res {
        let s = size_of(&self.f)?;
        if s != self.model.len() as u64 {
            return Err(format!("size {s}, model {}", self.model.len()));
        }
        Ok(())
    }

    fn check_range(&self, off: u64, len: u64) -> Res {
        let end = (off + len).min(self.model.len() as u64);
        if off >= end {
            return Ok(());
        }
        let got = read_at(&self.f, off, (end - off) as usize)?;
        let want = &self.model[off as usize..end as usize];
        if let Some(i) = first_diff(&got, want) {
            return Err(format!(
                "data mismatch at {} (read {:#04x?}, model {:#04x?}), {} bytes read",
                off + i as u64,
                got.get(i),
                want.get(i),
                got.len()
            ));
        }
        Ok(())
    }

    fn op(&mut self) -> Res {
        let size = self.model.len() as u64;
        let which = self.rng.below(11) as usize;
        let mut kind = which;
        match which {
            0 => {
                let (off, len) = self.range(self.max_size);
                let len = len.min(self.max_size.saturating_sub(off)).max(1);
                let mut data = vec![0u8; len as usize];
                self.rng.fill(&mut data);
                self.note(format!("write {off:#x} {len:#x}"));
                self.f.write_all_at(&data, off).map_err(|e| format!("pwrite: {e}"))?;
                let end = (off + len) as usize;
                if end > self.model.len() {
                    self.model.resize(end, 0);
                }
                self.model[off as usize..end].copy_from_slice(&data);
                self.check_range(off, len)?;
            }
            1 => {
                let (off, len) = self.range(self.max_size);
                let len = len.min(self.max_size.saturating_sub(off)).max(1);
                let end = off + len;
                self.note(format!("mapwrite {off:#x} {len:#x}"));
                if end > size {
                    self.f.set_len(end).map_err(|e| format!("ftruncate: {e}"))?;
                    self.model.resize(end as usize, 0);
                }
                let mut data = vec![0u8; len as usize];
                self.rng.fill(&mut data);
                let mut m = Map::new(&self.f, end, 0)?;
                m.bytes()[off as usize..end as usize].copy_from_slice(&data);
                if self.rng.below(4) == 0 {
                    m.sync()?;
                }
                drop(m);
                self.model[off as usize..end as usize].copy_from_slice(&data);
                self.check_range(off, len)?;
            }
            2 => {
                let (off, len) = self.range(size + 1);
                self.note(format!("read {off:#x} {len:#x}"));
                self.check_range(off, len)?;
            }
            3 => {
                if size == 0 {
                    kind = 11;
                } else {
                    let (off, len) = self.range(size);
                    let end = (off + len).min(size);
                    self.note(format!("mapread {off:#x} {:#x}", end - off));
                    let mut m = Map::new(&self.f, size, 0)?;
                    let got = m.bytes()[off as usize..end as usize].to_vec();
                    if let Some(i) = first_diff(&got, &self.model[off as usize..end as usize]) {
                        return Err(format!("mmap data mismatch at {}", off + i as u64));
                    }
                }
            }
            4 => {
                let n = self.rng.below(self.max_size);
                self.note(format!("truncate {n:#x}"));
                self.f.set_len(n).map_err(|e| format!("ftruncate: {e}"))?;
                self.model.resize(n as usize, 0);
            }
            5 => {
                let (off, len) = self.range(size.max(1));
                self.note(format!("punch {off:#x} {len:#x}"));
                fallocate(&self.f, libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, off, len)
                    .map_err(|e| format!("punch: errno {e}"))?;
                let end = (off + len).min(size);
                if off < end {
                    self.model[off as usize..end as usize].fill(0);
                }
                self.check_range(off.saturating_sub(BS), len + 2 * BS)?;
            }
            6 => {
                let (off, len) = self.range(self.max_size);
                let len = len.min(self.max_size.saturating_sub(off)).max(1);
                let keep = self.rng.below(2) == 0;
                self.note(format!("zero {off:#x} {len:#x} keep={keep}"));
                let mode = libc::FALLOC_FL_ZERO_RANGE | if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                fallocate(&self.f, mode, off, len).map_err(|e| format!("zero range: errno {e}"))?;
                let end = off + len;
                if !keep && end > size {
                    self.model.resize(end as usize, 0);
                }
                let mend = end.min(self.model.len() as u64);
                if off < mend {
                    self.model[off as usize..mend as usize].fill(0);
                }
                self.check_range(off.saturating_sub(BS), len + 2 * BS)?;
            }
            7 => {
                let blocks = size / BS;
                if blocks < 2 {
                    kind = 11;
                } else {
                    let off = self.rng.below(blocks - 1) * BS;
                    let len = (1 + self.rng.below((blocks - off / BS - 1).min(self.max_len / BS).max(1))) * BS;
                    if off + len >= size {
                        kind = 11;
                    } else {
                        self.note(format!("collapse {off:#x} {len:#x}"));
                        fallocate(&self.f, libc::FALLOC_FL_COLLAPSE_RANGE, off, len)
                            .map_err(|e| format!("collapse: errno {e}"))?;
                        self.model.drain(off as usize..(off + len) as usize);
                        self.check_range(off.saturating_sub(BS), 2 * BS)?;
                    }
                }
            }
            8 => {
                let blocks = size / BS;
                let len = (1 + self.rng.below(self.max_len / BS)) * BS;
                if blocks == 0 || size + len > self.max_size {
                    kind = 11;
                } else {
                    let off = self.rng.below(blocks) * BS;
                    self.note(format!("insert {off:#x} {len:#x}"));
                    fallocate(&self.f, libc::FALLOC_FL_INSERT_RANGE, off, len)
                        .map_err(|e| format!("insert: errno {e}"))?;
                    let tail = self.model.split_off(off as usize);
                    self.model.resize((off + len) as usize, 0);
                    self.model.extend_from_slice(&tail);
                    self.check_range(off.saturating_sub(BS), len + 2 * BS)?;
                }
            }
            9 => {
                let (off, len) = self.range(self.max_size);
                let len = len.min(self.max_size.saturating_sub(off)).max(1);
                let keep = self.rng.below(2) == 0;
                self.note(format!("falloc {off:#x} {len:#x} keep={keep}"));
                let mode = if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                fallocate(&self.f, mode, off, len).map_err(|e| format!("fallocate: errno {e}"))?;
                if !keep && off + len > size {
                    self.model.resize((off + len) as usize, 0);
                }
                self.check_range(off.saturating_sub(BS), len + 2 * BS)?;
            }
            _ => {
                self.note("fsync".into());
                self.f.sync_all().map_err(|e| format!("fsync: {e}"))?;
            }
        }
        self.counts[kind] += 1;
        self.check_size()
    }

    fn check_all(&self) -> Res {
        self.check_size()?;
        self.check_range(0, self.model.len() as u64)
    }
}

fn fsx(file: &Path, ops: u64, seed: u64, max_size: u64, max_len: u64, seconds: Option<u64>) -> Res<String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(file)
        .map_err(|e| format!("open {}: {e}", file.display()))?;
    let mut x = Fsx {
        f,
        model: Vec::new(),
        rng: Rng::new(seed),
        max_size: max_size.max(2 * BS),
        max_len: max_len.max(BS),
        log: Vec::new(),
        counts: [0; 12],
    };
    let start = Instant::now();
    let deadline = seconds.map(|s| start + Duration::from_secs(s));
    let mut n = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if n >= ops => break,
            _ => {}
        }
        let r = x.op().and_then(|()| if n % 64 == 63 { x.check_all() } else { Ok(()) });
        if let Err(e) = r {
            return Err(format!("op {n} (seed {seed}): {e}\nlast operations:\n  {}", x.log.join("\n  ")));
        }
        n += 1;
    }
    x.check_all()
        .map_err(|e| format!("final check (seed {seed}): {e}\nlast operations:\n  {}", x.log.join("\n  ")))?;
    let summary: Vec<String> =
        OP_NAMES.iter().zip(x.counts.iter()).map(|(name, c)| format!("{name}={c}")).collect();
    Ok(format!("fsx: {n} ops OK in {:.1}s, final size {} ({})", start.elapsed().as_secs_f64(), x.model.len(), summary.join(" ")))
}

/// One stress worker: fsx-style ops on its own file, plus writes of its
/// region of the shared file through write(2) and mmap, verified.
fn stress_worker(dir: &Path, id: u64, procs: u64, ops: u64, seed: u64, max_size: u64) -> Res {
    let own = dir.join(format!("own.{id}"));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&own)
        .map_err(|e| format!("open {}: {e}", own.display()))?;
    let shared = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("shared"))
        .map_err(|e| format!("open shared: {e}"))?;
    let region = max_size / procs / BS * BS;
    let base = id * region;
    let mut mine = vec![0u8; region as usize];
    let mut x = Fsx {
        f,
        model: Vec::new(),
        rng: Rng::new(seed ^ (id + 1).wrapping_mul(0x1234_5678_9abc_def1)),
        max_size,
        max_len: 64 << 10,
        log: Vec::new(),
        counts: [0; 12],
    };
    for n in 0..ops {
        let r = if x.rng.below(3) == 0 {
            // The shared file: only this worker's region.
            let off = x.rng.below(region);
            let len = (1 + x.rng.below(16 << 10)).min(region - off);
            let mut data = vec![0u8; len as usize];
            x.rng.fill(&mut data);
            let how = x.rng.below(2);
            x.note(format!("shared {} {off:#x} {len:#x}", if how == 0 { "write" } else { "mapwrite" }));
            (|| -> Res {
                if how == 0 {
                    shared.write_all_at(&data, base + off).map_err(|e| format!("pwrite shared: {e}"))?;
                } else {
                    let mut m = Map::new(&shared, region * procs, 0)?;
                    m.bytes()[(base + off) as usize..(base + off + len) as usize].copy_from_slice(&data);
                }
                mine[off as usize..(off + len) as usize].copy_from_slice(&data);
                let got = read_at(&shared, base, region as usize)?;
                if let Some(i) = first_diff(&got, &mine) {
                    return Err(format!("shared file mismatch at {}", base + i as u64));
                }
                Ok(())
            })()
        } else {
            x.op()
        };
        if let Err(e) = r.and_then(|()| if n % 50 == 49 { x.check_all() } else { Ok(()) }) {
            return Err(format!("worker {id} op {n}: {e}\nlast operations:\n  {}", x.log.join("\n  ")));
        }
    }
    x.check_all().map_err(|e| format!("worker {id} final: {e}"))
}

fn stress(dir: &Path, procs: u64, ops: u64, seed: u64, max_size: u64) -> Res<String> {
    let start = Instant::now();
    let region = max_size / procs / BS * BS;
    if region == 0 {
        return Err("max-size too small for the process count".into());
    }
    let shared = File::create(dir.join("shared")).map_err(|e| format!("create shared: {e}"))?;
    shared.set_len(region * procs).map_err(|e| format!("size shared: {e}"))?;
    drop(shared);
    let mut kids = Vec::new();
    for id in 0..procs {
        // SAFETY: single-threaded program; the child only runs Rust code
        // that does not depend on other threads, then exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(sys_err("fork"));
        }
        if pid == 0 {
            let code = match stress_worker(dir, id, procs, ops, seed, max_size) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            };
            // SAFETY: leave the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        kids.push(pid);
    }
    let mut failed = 0;
    for pid in kids {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        if !libc::WIFEXITED(st) || libc::WEXITSTATUS(st) != 0 {
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {procs} workers failed"));
    }
    Ok(format!("stress: {procs} procs x {ops} ops OK in {:.1}s", start.elapsed().as_secs_f64()))
}

fn touch(file: &Path, write: bool) -> Res<String> {
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    let size = size_of(&f)?;
    let mut m = Map::new(&f, size, 0)?;
    let b = m.bytes();
    let mut sum = 0u64;
    for off in (0..size as usize).step_by(BS as usize) {
        if write {
            b[off] = b[off].wrapping_add(1);
        } else {
            sum = sum.wrapping_add(u64::from(b[off]));
        }
    }
    std::hint::black_box(sum);
    Ok(format!("touched {} pages", size / BS))
}

fn pin(file: &Path, seconds: u64) -> Res<String> {
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    let mut m = Map::new(&f, BS, 0)?;
    let before = m.bytes().to_vec();
    let mut fds = [0; 2];
    // SAFETY: pipe(2) into a local array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(sys_err("pipe"));
    }
    let iov = libc::iovec { iov_base: m.ptr.cast(), iov_len: BS as usize };
    // SAFETY: the iovec describes our live mapping; without SPLICE_F_GIFT
    // the pipe takes references to the mapped (DAX) page.
    let n = unsafe { libc::vmsplice(fds[1], &iov, 1, 0) };
    if n != BS as isize {
        return Err(sys_err("vmsplice"));
    }
    // Only the pipe's page reference remains: no mapping, no open file
    // (so unlinking the file evicts it while the page is still held).
    drop(m);
    drop(f);
    println!("pinned");
    io::stdout().flush().ok();
    std::thread::sleep(Duration::from_secs(seconds));
    let mut out = vec![0u8; BS as usize];
    // SAFETY: read(2) into a local buffer from our pipe.
    let got = unsafe { libc::read(fds[0], out.as_mut_ptr().cast(), out.len()) };
    // SAFETY: closing our pipe ends the pin.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    if got != BS as isize {
        return Err(sys_err("read pipe"));
    }
    Ok(format!("released {}", if out == before { "ok" } else { "changed" }))
}

/// SIGBUS handler of the media-error commands: exits with 10 + si_code.
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler;
    // _exit is async-signal-safe.
    unsafe { libc::_exit(10 + (*info).si_code) }
}

fn catch_sigbus() -> Res {
    // SAFETY: a zeroed sigaction with our handler and SA_SIGINFO.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigbus as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        if libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut()) != 0 {
            return Err(sys_err("sigaction"));
        }
    }
    Ok(())
}

/// Runs `f` in a child process and describes how it ended: "ok", "SIGBUS
/// <si_code>", or its error.
fn in_child(f: impl FnOnce() -> Res) -> Res<String> {
    io::stdout().flush().ok();
    // SAFETY: fork(2) in a single-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(sys_err("fork"));
    }
    if pid == 0 {
        let code = match catch_sigbus().and_then(|()| f()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
        // SAFETY: leave the child without running the parent's exit path.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: waiting for our child.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(sys_err("waitpid"));
    }
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok("ok".into()),
        (true, c) if c >= 10 => Ok(format!("SIGBUS {}", c - 10)),
        (true, c) => Err(format!("child failed ({c})")),
        _ => Ok(format!("killed by signal {}", libc::WTERMSIG(status))),
    }
}

/// Maps FILE, reads the byte at `off` (and poisons its page first with
/// `poison`).
fn mmap_touch(file: &Path, off: u64, poison: bool) -> Res {
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    let len = f.metadata().map_err(|e| format!("stat: {e}"))?.len();
    if off >= len {
        return Err(format!("offset {off} past the end ({len})"));
    }
    let mut m = Map::new(&f, len, 0)?;
    let page = off / BS * BS;
    let v = std::hint::black_box(m.bytes()[off as usize]);
    if poison {
        // SAFETY: our mapping; MADV_HWPOISON (100) needs CAP_SYS_ADMIN.
        if unsafe { libc::madvise(m.ptr.add(page as usize).cast(), BS as usize, libc::MADV_HWPOISON) } != 0 {
            return Err(sys_err("madvise(MADV_HWPOISON)"));
        }
        std::hint::black_box(m.bytes()[off as usize]);
    }
    let _ = v;
    Ok(())
}

/// See `Cmd::Pfn`.
fn pfn(file: &Path, off: u64) -> Res<String> {
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    let len = f.metadata().map_err(|e| format!("stat: {e}"))?.len();
    if off >= len {
        return Err(format!("offset {off} past the end ({len})"));
    }
    let mut m = Map::new(&f, len, 0)?;
    std::hint::black_box(m.bytes()[off as usize]);
    let vpage = (m.ptr as u64 + off) / BS;
    let pm = File::open("/proc/self/pagemap").map_err(|e| format!("open pagemap: {e}"))?;
    let mut e = [0u8; 8];
    pm.read_exact_at(&mut e, vpage * 8).map_err(|e| format!("read pagemap: {e}"))?;
    let e = u64::from_le_bytes(e);
    if e >> 63 == 0 || e & ((1 << 55) - 1) == 0 {
        return Err(format!("page not present or no pfn (pagemap entry {e:#x}; root only)"));
    }
    Ok(format!("{}", e & ((1 << 55) - 1)))
}

/// See `Cmd::Hold`.
fn hold(file: &Path, seconds: u64) -> Res<String> {
    let f = OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    let len = f.metadata().map_err(|e| format!("stat: {e}"))?.len();
    let mut m = Map::new(&f, len, 0)?;
    catch_sigbus()?;
    let touch = |m: &mut Map| {
        let mut x = 0u8;
        for i in (0..len as usize).step_by(BS as usize) {
            x ^= std::hint::black_box(m.bytes()[i]);
        }
        x
    };
    touch(&mut m);
    println!("mapped");
    io::stdout().flush().ok();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        touch(&mut m);
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok("survived".into())
}

fn no_pattern(what: &str, data: &[u8], allowed_nonzero: Option<u8>) -> Res {
    if let Some(i) = data.iter().position(|b| *b == PATTERN || (*b != 0 && Some(*b) != allowed_nonzero)) {
        return Err(format!("{what}: byte {:#04x} at {i}: stale data exposed", data[i]));
    }
    Ok(())
}

fn stale(dir: &Path) -> Res<String> {
    // 1. Fill the file system with the pattern.
    let fill = dir.join("fill");
    let mut f = File::create(&fill).map_err(|e| format!("create: {e}"))?;
    let chunk = vec![PATTERN; 1 << 20];
    let mut total = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => return Err(format!("fill: {e}")),
        }
    }
    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    drop(f);
    std::fs::remove_file(&fill).map_err(|e| format!("unlink: {e}"))?;
    let span = (total / 8).max(BS) / BS * BS;
    // 2. Allocate through every path; only zeroes or our 0x11 may appear.
    let open = |name: &str| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(name))
            .map_err(|e| format!("create {name}: {e}"))
    };
    let w = open("w")?;
    for off in (0..span).step_by(1 << 20) {
        w.write_all_at(&[0x11], off + 100).map_err(|e| format!("pwrite: {e}"))?;
    }
    no_pattern("write", &read_at(&w, 0, span as usize)?, Some(0x11))?;
    let fa = open("falloc")?;
    fallocate(&fa, 0, 0, span).map_err(|e| format!("fallocate errno {e}"))?;
    no_pattern("fallocate read", &read_at(&fa, 0, span as usize)?, None)?;
    no_pattern("fallocate mmap", Map::new(&fa, span, 0)?.bytes(), None)?;
    let mm = open("mmap")?;
    mm.set_len(span).map_err(|e| format!("ftruncate: {e}"))?;
    {
        let mut m = Map::new(&mm, span, 0)?;
        let b = m.bytes();
        for off in (0..span as usize).step_by(BS as usize * 3) {
            b[off] = 0x11;
        }
        no_pattern("mmap write fault", b, Some(0x11))?;
    }
    no_pattern("mmap write fault, read", &read_at(&mm, 0, span as usize)?, Some(0x11))?;
    let tr = open("trunc")?;
    tr.write_all_at(&[0x11; 10], 0).map_err(|e| format!("pwrite: {e}"))?;
    tr.set_len(span).map_err(|e| format!("truncate up: {e}"))?;
    no_pattern("truncate up", &read_at(&tr, 0, span as usize)?, Some(0x11))?;
    let ins = open("insert")?;
    ins.write_all_at(&vec![0x11; (2 * BS) as usize], 0).map_err(|e| format!("pwrite: {e}"))?;
    fallocate(&ins, libc::FALLOC_FL_INSERT_RANGE, BS, span).map_err(|e| format!("insert errno {e}"))?;
    no_pattern("insert range", &read_at(&ins, 0, (span + 2 * BS) as usize)?, Some(0x11))?;
    let z = open("zero")?;
    z.write_all_at(&vec![0x11; span as usize], 0).map_err(|e| format!("pwrite: {e}"))?;
    fallocate(&z, libc::FALLOC_FL_ZERO_RANGE, 100, span - 200).map_err(|e| format!("zero errno {e}"))?;
    no_pattern("zero range", &read_at(&z, 0, span as usize)?, Some(0x11))?;
    // Appends of whole blocks past EOF skip zeroing (the copy overwrites
    // them): they must read back exactly.
    let ap = open("append")?;
    let blk = vec![0x11u8; 64 << 10];
    for off in (0..span).step_by(blk.len()) {
        ap.write_all_at(&blk, off).map_err(|e| format!("append: {e}"))?;
    }
    if read_at(&ap, 0, span as usize)?.iter().any(|b| *b != 0x11) {
        return Err("append: data read back differs".into());
    }
    short_write(&open("short")?, false)?;
    short_write(&open("short-prealloc")?, true)?;
    mmap_tail_then_fallocate(&open("tail")?)?;
    Ok(format!("stale: filled {} MiB, checked {} MiB per path: no stale data", total >> 20, span >> 20))
}

/// A write(2) whose source buffer faults after 2 KiB copies part of a
/// fresh block past EOF (a block the write meant to overwrite whole, so it
/// was not zeroed): the rest of that block must read and map as zeroes,
/// now and after the file is extended over it.  With `prealloc` the range
/// was preallocated first (fallocate, keep size): the blocks the write
/// converted but did not fill stay allocated (unwritten again), not freed.
fn short_write(f: &File, prealloc: bool) -> Res {
    let pg = BS as usize;
    let prealloc_blocks = 16u64;
    if prealloc {
        fallocate(f, libc::FALLOC_FL_KEEP_SIZE, 0, prealloc_blocks * BS).map_err(|e| format!("fallocate errno {e}"))?;
    }
    // SAFETY: anonymous private mapping of two pages, checked below.
    let base = unsafe {
        libc::mmap(std::ptr::null_mut(), 2 * pg, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if base == libc::MAP_FAILED {
        return Err(sys_err("mmap"));
    }
    let base = base.cast::<u8>();
    // SAFETY: our mapping: fill the first page, make the second
    // inaccessible, write from its middle.
    let n = unsafe {
        std::ptr::write_bytes(base, 0x11, pg);
        if libc::mprotect(base.add(pg).cast(), pg, libc::PROT_NONE) != 0 {
            return Err(sys_err("mprotect"));
        }
        libc::pwrite(f.as_raw_fd(), base.add(pg / 2).cast(), 3 * pg, 0)
    };
    // SAFETY: our mapping, unmapped once.
    unsafe { libc::munmap(base.cast(), 2 * pg) };
    if n <= 0 || n as usize >= 3 * pg {
        return Err(format!("short write: pwrite returned {n}, expected a short count"));
    }
    let n = n as usize;
    if size_of(f)? != n as u64 {
        return Err(format!("short write: size {} after writing {n} bytes", size_of(f)?));
    }
    {
        let mut m = Map::new(f, BS, 0)?;
        let page = m.bytes();
        no_pattern("short write, mmap past EOF", &page[n.min(pg)..], None)?;
        if page[..n.min(pg)].iter().any(|b| *b != 0x11) {
            return Err("short write: written bytes differ".into());
        }
    }
    if prealloc {
        let sectors = f.metadata().map(|m| m.blocks()).map_err(|e| format!("fstat: {e}"))?;
        if sectors < prealloc_blocks * BS / 512 {
            return Err(format!(
                "short write into a preallocated range: {sectors} sectors left of {} preallocated",
                prealloc_blocks * BS / 512
            ));
        }
    }
    f.set_len(3 * BS).map_err(|e| format!("truncate up: {e}"))?;
    no_pattern("short write, extended", &read_at(f, 0, 3 * pg)?[n..], None)?;
    Ok(())
}

/// Bytes stored through mmap past EOF in the last page must read as
/// zeroes once fallocate grows the file over them (as after a write or a
/// truncate up).
fn mmap_tail_then_fallocate(f: &File) -> Res {
    f.write_all_at(&[0x11; 100], 0).map_err(|e| format!("pwrite: {e}"))?;
    {
        let mut m = Map::new(f, BS, 0)?;
        m.bytes()[200..300].fill(0x22);
    }
    fallocate(f, 0, 0, 4 * BS).map_err(|e| format!("fallocate errno {e}"))?;
    no_pattern("fallocate after an mmap store past EOF", &read_at(f, 0, (4 * BS) as usize)?[100..], None)
}

fn mapsync_pattern(seed: u64, size: u64) -> Vec<u8> {
    let mut v = vec![0u8; size as usize];
    Rng::new(seed).fill(&mut v);
    v
}

fn mapsync_write(file: &Path, size: u64, seed: u64) -> Res<String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(0)
        .open(file)
        .map_err(|e| format!("create: {e}"))?;
    f.set_len(size).map_err(|e| format!("ftruncate: {e}"))?;
    // The size change itself is durable (synchronous metadata); the data
    // and block allocations below must be too, without msync/fsync.
    let mut m = Map::new(&f, size, libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC)?;
    let data = mapsync_pattern(seed, size);
    // MAP_SYNC guarantees the mapping is durable once the fault returns;
    // the data itself still needs a CPU cache flush, as on real pmem.
    m.bytes().copy_from_slice(&data);
    for off in (0..size as usize).step_by(64) {
        // SAFETY: a cache-line write-back of our own mapping.
        unsafe { std::arch::x86_64::_mm_clflush(m.ptr.add(off)) };
    }
    // SAFETY: a store fence.
    unsafe { std::arch::x86_64::_mm_sfence() };
    println!("done");
    io::stdout().flush().ok();
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn mapsync_check(file: &Path, size: u64, seed: u64) -> Res<String> {
    let mut f = File::open(file).map_err(|e| format!("open: {e}"))?;
    let s = size_of(&f)?;
    if s != size {
        return Err(format!("size {s}, expected {size}"));
    }
    let mut got = Vec::new();
    f.read_to_end(&mut got).map_err(|e| format!("read: {e}"))?;
    if let Some(i) = first_diff(&got, &mapsync_pattern(seed, size)) {
        return Err(format!("data differs at {i}"));
    }
    Ok(format!("mapsync: {size} bytes intact"))
}

fn fill(file: &Path, size: u64, seed: u64) -> Res<String> {
    let mut f = File::create(file).map_err(|e| format!("create: {e}"))?;
    f.write_all(&mapsync_pattern(seed, size)).map_err(|e| format!("write: {e}"))?;
    f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    Ok(format!("filled {size}"))
}

const REC: usize = 64;

fn record(id: u64, seq: u64) -> Vec<u8> {
    let mut r = format!("{id}:{seq:08}:").into_bytes();
    r.resize(REC - 1, b'.');
    r.push(b'\n');
    r
}

fn append(file: &Path, id: u64, count: u64) -> Res<String> {
    let f = OpenOptions::new().append(true).create(true).open(file).map_err(|e| format!("open: {e}"))?;
    for seq in 0..count {
        let n = (&f).write(&record(id, seq)).map_err(|e| format!("write: {e}"))?;
        if n != REC {
            return Err(format!("short append: {n}"));
        }
    }
    Ok(format!("appended {count}"))
}

fn append_check(file: &Path, ids: u64, count: u64) -> Res<String> {
    let data = std::fs::read(file).map_err(|e| format!("read: {e}"))?;
    if data.len() as u64 != ids * count * REC as u64 {
        return Err(format!("size {}, expected {}", data.len(), ids * count * REC as u64));
    }
    let mut next = vec![0u64; ids as usize];
    for (i, r) in data.chunks(REC).enumerate() {
        let text = String::from_utf8_lossy(r);
        let mut parts = text.split(':');
        let id: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or(format!("record {i} garbled: {text:?}"))?;
        let seq: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or(format!("record {i} garbled: {text:?}"))?;
        if id >= ids || next[id as usize] != seq || r != record(id, seq).as_slice() {
            return Err(format!("record {i} out of order or torn: {text:?}"));
        }
        next[id as usize] += 1;
    }
    Ok(format!("append: {} records intact", ids * count))
}

fn per_sec(n: u64, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64().max(1e-9)
}

fn meta_bench(dir: &Path, files: u64, dirs: u64, stats: u64) -> Res<String> {
    let mut out = String::new();
    // create + 4 KiB write + fsync, then unlink.
    let block = vec![0x42u8; BS as usize];
    let t = Instant::now();
    for i in 0..files {
        let p = dir.join(format!("c{i}"));
        let mut f = File::create(&p).map_err(|e| format!("create: {e}"))?;
        f.write_all(&block).map_err(|e| format!("write: {e}"))?;
        f.sync_all().map_err(|e| format!("fsync: {e}"))?;
    }
    for i in 0..files {
        std::fs::remove_file(dir.join(format!("c{i}"))).map_err(|e| format!("unlink: {e}"))?;
    }
    out += &format!("create-fsync-unlink {:.1}\n", per_sec(files, t));
    // mkdir/rmdir tree, fan-out 10.
    let t = Instant::now();
    let mut made = Vec::new();
    let root = dir.join("tree");
    std::fs::create_dir(&root).map_err(|e| format!("mkdir: {e}"))?;
    made.push(root.clone());
    let mut i = 0;
    while (made.len() as u64) < dirs {
        let parent = made[i / 10].clone();
        let d = parent.join(format!("d{i}"));
        std::fs::create_dir(&d).map_err(|e| format!("mkdir: {e}"))?;
        made.push(d);
        i += 1;
    }
    for d in made.iter().rev() {
        std::fs::remove_dir(d).map_err(|e| format!("rmdir: {e}"))?;
    }
    out += &format!("mkdir-rmdir {:.1}\n", per_sec(2 * made.len() as u64, t));
    // stat of many files in one directory (creation not timed).
    let sd = dir.join("many");
    std::fs::create_dir(&sd).map_err(|e| format!("mkdir: {e}"))?;
    for i in 0..stats {
        File::create(sd.join(format!("f{i}"))).map_err(|e| format!("create: {e}"))?;
    }
    // Cold: the dentry and inode caches dropped (as root; otherwise warm),
    // so the filesystem's lookup and inode loading are measured.  Warm:
    // the same again, served by the VFS caches.
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
    for what in ["stat-cold", "stat"] {
        let t = Instant::now();
        for i in 0..stats {
            std::fs::metadata(sd.join(format!("f{i}"))).map_err(|e| format!("stat: {e}"))?;
        }
        out += &format!("{what} {:.1}\n", per_sec(stats, t));
    }
    out.pop();
    Ok(out)
}

fn statvfs(dir: &Path) -> Res<(u64, u64)> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| "path".to_string())?;
    // SAFETY: statvfs into a zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(sys_err("statvfs"));
    }
    Ok((st.f_blocks as u64 * st.f_frsize as u64, st.f_bavail as u64 * st.f_frsize as u64))
}

fn age(dir: &Path, rounds: u64, fill: u64, seed: u64) -> Res<String> {
    let mut rng = Rng::new(seed);
    let mut live: Vec<PathBuf> = Vec::new();
    let chunk = vec![0x33u8; 1 << 20];
    let mut n = 0u64;
    for _ in 0..rounds {
        loop {
            let (total, avail) = statvfs(dir)?;
            if (total - avail) * 100 >= total * fill {
                break;
            }
            // Sizes from 4 KiB to 8 MiB, skewed small.
            let size = BS << rng.below(12);
            let size = size + rng.below(size);
            let p = dir.join(format!("a{n}"));
            n += 1;
            let mut f = File::create(&p).map_err(|e| format!("create: {e}"))?;
            let mut left = size;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                if let Err(e) = f.write_all(&chunk[..k]) {
                    if e.raw_os_error() == Some(libc::ENOSPC) {
                        break;
                    }
                    return Err(format!("write: {e}"));
                }
                left -= k as u64;
            }
            live.push(p);
        }
        let mut keep = Vec::new();
        for p in live.drain(..) {
            if rng.below(2) == 0 {
                std::fs::remove_file(&p).map_err(|e| format!("unlink: {e}"))?;
            } else {
                keep.push(p);
            }
        }
        live = keep;
    }
    let (total, avail) = statvfs(dir)?;
    Ok(format!("aged: {rounds} rounds, {} files left, {}% used", live.len(), (total - avail) * 100 / total))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Fsx { file, ops, seed, max_size, max_len, seconds } => fsx(&file, ops, seed, max_size, max_len, seconds),
        Cmd::Stress { dir, procs, ops, seed, max_size } => stress(&dir, procs, ops, seed, max_size),
        Cmd::Touch { file, write } => touch(&file, write),
        Cmd::Pin { file, seconds } => pin(&file, seconds),
        Cmd::MmapRead { file, off } => in_child(|| mmap_touch(&file, off, false)),
        Cmd::Hwpoison { file, off } => in_child(|| mmap_touch(&file, off, true)),
        Cmd::Hold { file, seconds } => hold(&file, seconds),
        Cmd::Pfn { file, off } => pfn(&file, off),
        Cmd::Stale { dir } => stale(&dir),
        Cmd::MapsyncWrite { file, size, seed } => mapsync_write(&file, size, seed),
        Cmd::MapsyncCheck { file, size, seed } => mapsync_check(&file, size, seed),
        Cmd::FragBuild { file, extents } => frag_build(&file, extents),
        Cmd::FragCheck { file, holes, stride } => frag_check(&file, &holes, stride),
        Cmd::Fill { file, size, seed } => fill(&file, size, seed),
        Cmd::MetaBench { dir, files, dirs, stats } => meta_bench(&dir, files, dirs, stats),
        Cmd::Age { dir, rounds, fill, seed } => age(&dir, rounds, fill, seed),
        Cmd::Append { file, id, count } => append(&file, id, count),
        Cmd::AppendCheck { file, ids, count } => append_check(&file, ids, count),
    };
    match r {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// The stamp of block `b` of a `frag-build` file: its number in every word.
fn frag_stamp(b: u64, out: &mut [u8]) {
    for (i, w) in out.chunks_mut(8).enumerate() {
        w.copy_from_slice(&(b ^ ((i as u64) << 40)).to_le_bytes()[..w.len()]);
    }
}

fn frag_build(file: &Path, extents: u64) -> Res<String> {
    let f = std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(file).map_err(|e| format!("create: {e}"))?;
    let blocks = extents * 2;
    let start = Instant::now();
    let chunk = 256u64; // blocks per write
    let mut buf = vec![0u8; (chunk * BS) as usize];
    let mut b = 0;
    while b < blocks {
        let n = chunk.min(blocks - b);
        for k in 0..n {
            frag_stamp(b + k, &mut buf[(k * BS) as usize..((k + 1) * BS) as usize]);
        }
        f.write_all_at(&buf[..(n * BS) as usize], b * BS).map_err(|e| format!("write block {b}: {e}"))?;
        b += n;
    }
    let wrote = start.elapsed().as_secs_f64();
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    let mut tenths = Vec::new();
    let mut t = Instant::now();
    for i in 0..extents {
        fallocate(&f, mode, (2 * i + 1) * BS, BS).map_err(|e| format!("punch block {}: errno {e}", 2 * i + 1))?;
        if (i + 1) % (extents / 10).max(1) == 0 && tenths.len() < 10 {
            tenths.push(format!("{:.2}", t.elapsed().as_secs_f64()));
            t = Instant::now();
        }
    }
    Ok(format!("wrote {} MiB in {wrote:.1}s; punch seconds per tenth: {}", blocks * BS >> 20, tenths.join(" ")))
}

fn frag_check(file: &Path, holes: &[(u64, u64)], stride: u64) -> Res<String> {
    let f = File::open(file).map_err(|e| format!("open: {e}"))?;
    let size = size_of(&f)?;
    let blocks = size.div_ceil(BS);
    let want = |b: u64, out: &mut [u8]| {
        if b % 2 == 0 && !holes.iter().any(|&(a, z)| (a..z).contains(&b)) {
            frag_stamp(b, out);
        } else {
            out.fill(0);
        }
    };
    let mut expect = vec![0u8; BS as usize];
    let chunk = 256u64;
    let runs = blocks.div_ceil(chunk);
    let checked = |b: u64| {
        let run = b / chunk;
        run % stride.max(1) == 0 || run < 16 || run + 16 >= runs
    };
    let mut b = 0;
    let mut seen = 0;
    while b < blocks {
        let n = chunk.min(blocks - b);
        if !checked(b) {
            b += n;
            continue;
        }
        seen += n;
        let got = read_at(&f, b * BS, (n * BS) as usize)?;
        for (k, blk) in got.chunks(BS as usize).enumerate() {
            let at = b + k as u64;
            want(at, &mut expect);
            if blk != &expect[..blk.len()] {
                return Err(format!("read: block {at} differs"));
            }
        }
        b += n;
    }
    let rw = std::fs::OpenOptions::new().read(true).write(true).open(file).map_err(|e| format!("open: {e}"))?;
    if size > 0 {
        let mut m = Map::new(&rw, size, 0)?;
        let bytes = m.bytes();
        for (at, blk) in bytes.chunks(BS as usize).enumerate() {
            if !checked(at as u64) {
                continue;
            }
            want(at as u64, &mut expect);
            if blk != &expect[..blk.len()] {
                return Err(format!("mmap: block {at} differs"));
            }
        }
    }
    Ok(format!("ok {seen} of {blocks} blocks"))
}
