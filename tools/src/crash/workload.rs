// SPDX-License-Identifier: GPL-2.0
//! Crash-state workloads: ACE-style sequences of one and two operations
//! over a small tree, and the guest side that runs them on the recorder
//! module (`daxfs-crashstates record`).
//!
//! Each workload gets a directory `wN` with the same starting tree (set up
//! by operations that are recorded but not checked), then its operations
//! (checked), then is removed again (not checked).  Before each operation
//! the runner sets marker `2i`, after it `2i + 1`, and writes the tree as
//! the kernel shows it then.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::tree;

/// Recorder ioctls (rust/kfs/record.rs).
pub const IOC_START: libc::c_ulong = 0xDA01;
pub const IOC_STOP: libc::c_ulong = 0xDA02;
pub const IOC_MARK: libc::c_ulong = 0xDA03;
pub const IOC_READ: libc::c_ulong = 0xDA04;
pub const IOC_CAPTURE: libc::c_ulong = 0xDA05;

/// The starting tree of every workload (paths relative to its directory).
pub const SETUP: &[&str] = &[
    "mkdir A",
    "mkdir B",
    "mkdir A/C",
    "create A/foo",
    "write A/foo 0 8192 1",
    "create A/bar",
    "write A/bar 0 100 2",
    "create B/big",
    "write B/big 0 65536 3",
    "symlink ../A/foo B/sl",
    "link A/bar B/barlink",
];

/// The single operations; a workload is one of them or a pair.
pub const OPS: &[&str] = &[
    "create A/new",
    "create B/new",
    "mkdir A/newd",
    "mkdir B/newd",
    "link A/foo A/foolink",
    "link A/foo B/foolink",
    "unlink A/foo",
    "unlink A/bar",
    "unlink B/sl",
    "rmdir A/C",
    "rename A/foo A/foo2",
    "rename A/foo B/foo",
    "rename A/foo A/bar",
    "rename A/foo B/big",
    "rename A/C B/C",
    "rename A/C A/C2",
    "rename-exchange A/foo B/big",
    "rename-exchange A/C B",
    "rename-noreplace A/bar A/bar2",
    "rename-whiteout A/foo B/foo",
    "symlink target A/sym",
    "symlink 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef A/longsym",
    "chmod A/foo 600",
    "chmod A/C 700",
    "chown A/foo 1000 100",
    "truncate A/foo 0",
    "truncate A/foo 100",
    "truncate A/foo 20000",
    "truncate B/big 10000",
    "fallocate A/foo keep 8192 8192",
    "fallocate A/foo 0 0 40960",
    "fallocate B/big punch 4096 8192",
    "fallocate B/big punch 100 5000",
    "fallocate B/big zero 1000 10000",
    "fallocate B/big zero-keep 60000 20000",
    "fallocate B/big collapse 4096 8192",
    "fallocate B/big insert 4096 4096",
    "write A/foo 0 100 7",
    "write A/foo 8192 4096 8",
    "write A/foo 100000 100 9",
    "write B/big 4096 4096 10",
    "write A/bar 0 20000 11",
    "write A/bar 50 5000 12",
    "fsync A/foo",
    "fdatasync B/big",
    "mapwrite A/foo 0 4096 13",
    "mapwrite A/foo 4000 8000 14",
    "hold A/foo",
    "release",
    "remount",
];

/// Random mixes: this many workloads of [`MIX_LEN`] operations each.
pub const MIXES: u64 = 24;
pub const MIX_LEN: usize = 6;

/// The workloads: each single operation, then each ordered pair (`pairs`),
/// every `stride`-th one of them from `first` (to bound a run).
pub fn catalog(pairs: bool) -> Vec<Vec<String>> {
    let mut w: Vec<Vec<String>> = OPS.iter().map(|o| vec![o.to_string()]).collect();
    // An open file unlinked (an orphan), then closed (freed at eviction).
    w.push(vec!["hold A/foo".into(), "unlink A/foo".into(), "release".into()]);
    w.push(vec!["hold B/big".into(), "rename A/foo B/big".into(), "release".into()]);
    // The fuzzer's exerciser (tools/src/fuzz/exercise.rs): hundreds of
    // system calls as one step, checked for recovery and fsck only.
    w.push(vec!["exercise".into()]);
    // Random sequences of the operations above.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..MIXES {
        w.push(
            (0..MIX_LEN)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    OPS[(x % OPS.len() as u64) as usize].to_string()
                })
                .collect(),
        );
    }
    if pairs {
        for a in OPS {
            for b in OPS {
                w.push(vec![a.to_string(), b.to_string()]);
            }
        }
    }
    w
}

fn err(m: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, m)
}

fn num(s: Option<&&str>) -> io::Result<u64> {
    s.and_then(|s| s.parse().ok()).ok_or_else(|| err("expected a number".into()))
}

/// Deterministic bytes for `write`/`mapwrite` with `seed`.
pub fn pattern(seed: u64, off: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| {
            let x = (off + i).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            (x >> 29) as u8 | 1
        })
        .collect()
}

/// Runs operations in a workload directory; keeps the held file open.
pub struct Runner {
    pub dir: PathBuf,
    held: Option<File>,
    /// Mixed into the data patterns (workload and step), so that stale
    /// bytes from another workload or step never look right.
    pub salt: u64,
}

fn renameat2(a: &Path, b: &Path, flags: libc::c_uint) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; AT_FDCWD.
    let r = unsafe {
        libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), flags)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Runner {
    pub fn new(dir: PathBuf) -> Self {
        Runner { dir, held: None, salt: 0 }
    }

    /// Runs one operation; its error is the operation's result, not a
    /// failure of the run.
    pub fn run(&mut self, op: &str) -> io::Result<()> {
        let t: Vec<&str> = op.split_whitespace().collect();
        let p = |i: usize| -> io::Result<PathBuf> {
            Ok(self.dir.join(t.get(i).ok_or_else(|| err(format!("{op}: missing path")))?))
        };
        match t.first().copied().unwrap_or("") {
            "create" => {
                OpenOptions::new().write(true).create_new(true).open(p(1)?)?;
            }
            "mkdir" => fs::create_dir(p(1)?)?,
            "link" => fs::hard_link(p(1)?, p(2)?)?,
            "unlink" => fs::remove_file(p(1)?)?,
            "rmdir" => fs::remove_dir(p(1)?)?,
            "rmtree" => fs::remove_dir_all(p(1)?)?,
            "rename" => fs::rename(p(1)?, p(2)?)?,
            "rename-exchange" => renameat2(&p(1)?, &p(2)?, libc::RENAME_EXCHANGE)?,
            "rename-noreplace" => renameat2(&p(1)?, &p(2)?, libc::RENAME_NOREPLACE)?,
            "rename-whiteout" => renameat2(&p(1)?, &p(2)?, libc::RENAME_WHITEOUT)?,
            "chown" => std::os::unix::fs::lchown(p(1)?, Some(num(t.get(2))? as u32), Some(num(t.get(3))? as u32))?,
            "exercise" => {
                crate::fuzz::exercise::run(&self.dir, None, &[])?;
            }
            "symlink" => std::os::unix::fs::symlink(t.get(1).ok_or_else(|| err("target".into()))?, p(2)?)?,
            "chmod" => {
                let mode = u32::from_str_radix(t.get(2).ok_or_else(|| err("mode".into()))?, 8)
                    .map_err(|_| err("mode".into()))?;
                fs::set_permissions(p(1)?, fs::Permissions::from_mode(mode))?
            }
            "truncate" => OpenOptions::new().write(true).open(p(1)?)?.set_len(num(t.get(2))?)?,
            "fallocate" => {
                let f = OpenOptions::new().write(true).open(p(1)?)?;
                let mode = match t.get(2).copied().unwrap_or("") {
                    "0" => 0,
                    "keep" => libc::FALLOC_FL_KEEP_SIZE,
                    "punch" => libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    "zero" => libc::FALLOC_FL_ZERO_RANGE,
                    "zero-keep" => libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                    "collapse" => libc::FALLOC_FL_COLLAPSE_RANGE,
                    "insert" => libc::FALLOC_FL_INSERT_RANGE,
                    m => return Err(err(format!("fallocate mode {m}"))),
                };
                let (off, len) = (num(t.get(3))?, num(t.get(4))?);
                // SAFETY: a valid open descriptor.
                if unsafe { libc::fallocate(f.as_raw_fd(), mode, off as i64, len as i64) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            "write" => {
                let f = OpenOptions::new().write(true).open(p(1)?)?;
                let (off, len, seed) = (num(t.get(2))?, num(t.get(3))?, num(t.get(4))?);
                f.write_all_at(&pattern(seed ^ self.salt, off, len as usize), off)?;
            }
            "fsync" => File::open(p(1)?)?.sync_all()?,
            "fdatasync" => File::open(p(1)?)?.sync_data()?,
            "mapwrite" => self.mapwrite(&p(1)?, num(t.get(2))?, num(t.get(3))?, num(t.get(4))?)?,
            "hold" => self.held = Some(File::open(p(1)?)?),
            "release" => self.held = None,
            o => return Err(err(format!("unknown operation '{o}'"))),
        }
        Ok(())
    }

    /// A `MAP_SYNC` store of `len` bytes at `off` (the file grows to cover
    /// it first), flushed and fenced by this process, then handed to the
    /// recorder (which cannot see user stores).
    fn mapwrite(&self, path: &Path, off: u64, len: u64, seed: u64) -> io::Result<()> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        let end = off + len;
        if f.metadata()?.len() < end {
            f.set_len(end)?;
        }
        let page = 4096u64;
        let moff = off / page * page;
        let mlen = (end - moff) as usize;
        // SAFETY: a fresh shared mapping of a file range that exists; MAP_SYNC
        // needs MAP_SHARED_VALIDATE.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mlen,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC,
                f.as_raw_fd(),
                moff as i64,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let data = pattern(seed ^ self.salt, off, len as usize);
        // SAFETY: the mapping covers `moff..end`; `off - moff + len <= mlen`.
        unsafe {
            let dst = (p as *mut u8).add((off - moff) as usize);
            std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            flush_and_fence(dst, data.len());
            libc::munmap(p, mlen);
        }
        let range: [u64; 2] = [off, len];
        // SAFETY: a valid descriptor and a 16-byte argument.
        if unsafe { libc::ioctl(f.as_raw_fd(), IOC_CAPTURE, range.as_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// What a `MAP_SYNC` writer does to make its stores durable: write back
/// their cache lines and fence.
///
/// # Safety
///
/// `p..p+len` must be mapped.
#[cfg(target_arch = "x86_64")]
unsafe fn flush_and_fence(p: *const u8, len: usize) {
    let mut a = p as usize & !63;
    while a < p as usize + len {
        // SAFETY: within the mapping (caller).
        unsafe { core::arch::x86_64::_mm_clflush(a as *const u8) };
        a += 64;
    }
    // SAFETY: a store fence.
    unsafe { core::arch::x86_64::_mm_sfence() };
}

/// Elsewhere: `msync` (the recorder only runs on x86-64 pmem anyway).
///
/// # Safety
///
/// `p..p+len` must be mapped.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn flush_and_fence(p: *const u8, len: usize) {
    let a = p as usize & !4095;
    // SAFETY: a range of the caller's mapping.
    unsafe { libc::msync(a as *mut libc::c_void, len + (p as usize - a), libc::MS_SYNC) };
}

fn ioctl(fd: &File, cmd: libc::c_ulong, arg: libc::c_ulong) -> io::Result<i64> {
    // SAFETY: recorder ioctls take an integer or a pointer to a buffer the
    // caller owns for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd, arg) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as i64)
}

/// Reads the whole recorder log.
fn read_log(fd: &File) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let req: [u64; 3] = [out.len() as u64, buf.len() as u64, buf.as_mut_ptr() as u64];
        let n = ioctl(fd, IOC_READ, req.as_ptr() as libc::c_ulong)? as usize;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Reads the first `len` bytes of `dev` past its page cache (`O_DIRECT`):
/// the media as a DAX mount left it.
fn read_direct(dev: &Path, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(dev)?;
    const ALIGN: usize = 4096;
    let mut raw = vec![0u8; len + ALIGN];
    let skip = (ALIGN - raw.as_ptr() as usize % ALIGN) % ALIGN;
    let buf = &mut raw[skip..skip + len];
    let mut done = 0;
    while done < len {
        let n = f.read_at(&mut buf[done..], done as u64)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "device shorter than the filesystem"));
        }
        done += n;
    }
    Ok(buf.to_vec())
}

/// The guest side: runs `workloads` on the recorder module's filesystem
/// mounted at `mnt` from `dev` (`bytes` long), `chunk` workloads per
/// recording: each in `out/cNNN` with the image it starts from
/// (`base.img`), `ops.txt` and `log.bin`.
pub fn record(mnt: &Path, dev: &Path, bytes: usize, out: &Path, workloads: &[Vec<String>], chunk: usize) -> io::Result<()> {
    for (c, part) in workloads.chunks(chunk.max(1)).enumerate() {
        let dir = out.join(format!("c{c:03}"));
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("base.img"), read_direct(dev, bytes)?)?;
        record_chunk(mnt, dev, &dir, part, c * chunk.max(1))?;
    }
    Ok(())
}

/// Unmounts and mounts again (recorded: the recorder follows the DAX
/// device, not the mount), closing what the workload held open.
fn remount(root: &mut File, r: &mut Runner, mnt: &Path, dev: &Path) -> io::Result<()> {
    use std::process::Command;
    r.held = None;
    // Closes the descriptor the markers use: nothing may hold the mount.
    *root = File::open("/")?;
    let um = Command::new("umount").arg(mnt).status()?;
    if um.success() {
        let m = Command::new("mount").args(["-t", "daxfs", "-o", "dax,noatime"]).arg(dev).arg(mnt).status()?;
        if !m.success() {
            return Err(io::Error::other(format!("mount {}: {m}", dev.display())));
        }
    }
    *root = File::open(mnt)?;
    if !um.success() {
        return Err(io::Error::from_raw_os_error(libc::EBUSY));
    }
    Ok(())
}

/// One recording: workloads `first..` of the catalogue.
fn record_chunk(mnt: &Path, dev: &Path, out: &Path, workloads: &[Vec<String>], first: usize) -> io::Result<()> {
    let mut ops = io::BufWriter::new(File::create(out.join("ops.txt"))?);
    let mut root = File::open(mnt)?;
    ioctl(&root, IOC_START, 0)?;
    let mut i = 0u64;
    for (k, w) in workloads.iter().enumerate() {
        let name = format!("w{}", first + k);
        let mut r = Runner::new(mnt.join(&name));
        let mut steps: Vec<(&str, String)> = vec![("setup", format!("mkdir {name}"))];
        let mut r0 = Runner::new(mnt.to_path_buf());
        steps.extend(SETUP.iter().map(|s| ("setup", s.to_string())));
        steps.extend(w.iter().map(|s| ("test", s.clone())));
        steps.push(("setup", "release".into()));
        steps.push(("setup", format!("rmtree {name}")));
        for (n, (kind, op)) in steps.iter().enumerate() {
            r.salt = ((first + k) as u64) << 16 | n as u64;
            ioctl(&root, IOC_MARK, 2 * i)?;
            // The first and last steps run in the mount's root.
            let res = if op == "remount" {
                remount(&mut root, &mut r, mnt, dev)
            } else if n == 0 || n + 1 == steps.len() {
                r0.run(op)
            } else {
                r.run(op)
            };
            ioctl(&root, IOC_MARK, 2 * i + 1)?;
            if *kind == "setup" {
                if let Err(e) = &res {
                    return Err(io::Error::new(e.kind(), format!("workload {name}: setup step '{op}': {e}")));
                }
            }
            let result = match res {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("err:{}", e.raw_os_error().unwrap_or(0)),
            };
            writeln!(ops, "op {i} {name} {kind} {result} {op}")?;
            if *kind == "test" {
                // The tree after every checked step, as the kernel shows it.
                write!(ops, "{}", tree::render(&tree::from_dir(mnt)?))?;
            }
            writeln!(ops, "end")?;
            i += 1;
        }
    }
    ioctl(&root, IOC_STOP, 0)?;
    fs::write(out.join("log.bin"), read_log(&root)?)?;
    ops.flush()
}
