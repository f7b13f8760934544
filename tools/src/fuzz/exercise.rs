// SPDX-License-Identifier: GPL-2.0
//! The workload `daxfs-fuzz exercise DIR` runs on a mounted, possibly
//! hostile, filesystem, in one process (a fork costs ~0.3 s under TCG):
//! a tree walk (readdir, lstat, stat, readlink), every regular file read
//! (bounded), rewrites, appends, truncates and fallocates of a few files,
//! namespace operations in a few directories (create, link, rename within
//! and across directories, RENAME_EXCHANGE, symlink, mkfifo, unlink, mkdir,
//! rmdir, on new and existing entries), a second walk, and mmap faults
//! (read and write) of a few files, copied through a pipe so that a
//! fault the kernel refuses is an EFAULT rather than a SIGBUS.  The entries
//! whose inode the mutation concerns (`--focus`) get every operation:
//! renamed, linked, read, written, mapped, filled and emptied, then
//! truncated, punched and removed.
//!
//! Every failure is expected on a hostile image and only counted; what
//! must not happen (an oops, a hang) is for the caller to see.  Writes put
//! back the bytes they read, so that file contents stay as they were on an
//! image that behaves.  Each step is logged (one line, written at once) to
//! an optional file, so that the step a hang happened in is known.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PAGE: usize = 4096;
/// Entries walked, at most (a hostile directory can be huge or cyclic).
const MAX_ENTRIES: usize = 20_000;
/// Deepest directory walked.
const MAX_DEPTH: usize = 32;
/// Bytes read from one file, and from all.
const READ_FILE: u64 = 8 << 20;
const READ_TOTAL: u64 = 64 << 20;
/// Files rewritten, mapped; directories given namespace operations.
const WRITE_FILES: usize = 4;
const MAP_FILES: usize = 4;
const NS_DIRS: usize = 6;
/// Entries of focus inodes given every operation, at most.
const MAX_TARGETS: usize = 16;

/// Successes and failures of one kind of operation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that failed.
    pub failed: u64,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ok, self.ok + self.failed)
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// readdir, lstat, stat, readlink.
    pub walk: Tally,
    /// Reads (and seeks for data and holes).
    pub read: Tally,
    /// Bytes read.
    pub bytes: u64,
    /// Rewrites, appends, truncates, fallocates, fsyncs.
    pub write: Tally,
    /// Namespace operations.
    pub ns: Tally,
    /// mmap faults.
    pub map: Tally,
    /// Operations on the entries of focus inodes.
    pub aim: Tally,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "walk {} read {} ({} KiB) write {} namespace {} mmap {} aim {} (succeeded/tried)",
            self.walk,
            self.read,
            self.bytes >> 10,
            self.write,
            self.ns,
            self.map,
            self.aim
        )
    }
}

/// A directory found by the walk, with a few of its entries.
#[derive(Clone, Debug, Default)]
struct Dir {
    path: PathBuf,
    /// Its first two entries that are not directories.
    files: Vec<PathBuf>,
    /// Its first subdirectory.
    subdir: Option<PathBuf>,
}

/// Which tally an operation counts in.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Walk,
    Read,
    Write,
    Ns,
    Map,
    Aim,
}

/// What a focus entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Dir,
    File,
    Symlink,
    Other,
}

/// An entry whose inode the mutation concerns.
#[derive(Clone, Debug)]
struct Target {
    path: PathBuf,
    kind: Type,
    size: u64,
}

struct Exerciser {
    root: PathBuf,
    log: Option<File>,
    report: Report,
    /// Regular files found by the first walk, with their sizes.
    files: Vec<(PathBuf, u64)>,
    dirs: Vec<Dir>,
    /// The inodes the mutation concerns, and their entries found.
    focus: BTreeSet<u64>,
    targets: Vec<Target>,
    /// A pipe that mapped pages are copied through.
    pipe: (OwnedFd, OwnedFd),
}

/// Runs the workload on the tree at `root`, logging each step to `log`;
/// the entries of the inodes in `focus` get every operation.
pub fn run(root: &Path, log: Option<&Path>, focus: &[u64]) -> io::Result<Report> {
    let log = log.map(File::create).transpose()?;
    let mut x = Exerciser {
        root: root.to_owned(),
        log,
        report: Report::default(),
        files: Vec::new(),
        dirs: Vec::new(),
        focus: focus.iter().copied().collect(),
        targets: Vec::new(),
        pipe: pipe()?,
    };
    x.walk(true);
    x.read_files();
    x.write_files();
    let dirs: Vec<Dir> = x.dirs.iter().take(NS_DIRS).cloned().collect();
    for dir in &dirs {
        x.namespace(&dir.path);
    }
    x.map_files();
    let targets = x.targets.clone();
    for t in &targets {
        x.probe(t);
    }
    // Last, so that no new file reuses the blocks of one removed here.
    for dir in &dirs {
        x.existing_entries(dir);
    }
    for t in &targets {
        x.destroy(t);
    }
    x.walk(false);
    Ok(x.report)
}

/// A pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }.into())?;
    // SAFETY: both were just opened and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// A libc return value as a result.
fn check(ret: i64) -> io::Result<i64> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl Exerciser {
    /// Logs `what` on `path`, runs `f` and counts its result in `kind`.
    fn op<T>(
        &mut self,
        kind: Kind,
        what: &str,
        path: &Path,
        f: impl FnOnce() -> io::Result<T>,
    ) -> Option<T> {
        if let Some(log) = &mut self.log {
            let mut line = format!("{what} ").into_bytes();
            line.extend_from_slice(path.as_os_str().as_bytes());
            line.push(b'\n');
            let _ = log.write_all(&line);
        }
        let r = f();
        let t = match kind {
            Kind::Walk => &mut self.report.walk,
            Kind::Read => &mut self.report.read,
            Kind::Write => &mut self.report.write,
            Kind::Ns => &mut self.report.ns,
            Kind::Map => &mut self.report.map,
            Kind::Aim => &mut self.report.aim,
        };
        match r {
            Ok(v) => {
                t.ok += 1;
                Some(v)
            }
            Err(_) => {
                t.failed += 1;
                None
            }
        }
    }

    /// Walks the tree breadth first (each directory once, by device and
    /// inode number); the first walk records the files and directories.
    fn walk(&mut self, record: bool) {
        if record {
            if let Ok(meta) = fs::symlink_metadata(&self.root) {
                let root = self.root.clone();
                self.aim_at(&root, &meta);
            }
        }
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([(self.root.clone(), 0)]);
        let mut entries = 0;
        while let Some((path, depth)) = queue.pop_front() {
            let mut dir = Dir {
                path: path.clone(),
                ..Dir::default()
            };
            let list = self.op(Kind::Walk, "readdir", &path, || read_dir(&path));
            for p in list.unwrap_or_default() {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return;
                }
                let Some(meta) = self.op(Kind::Walk, "lstat", &p, || fs::symlink_metadata(&p))
                else {
                    continue;
                };
                if record {
                    self.aim_at(&p, &meta);
                }
                let ft = meta.file_type();
                if ft.is_symlink() {
                    self.op(Kind::Walk, "readlink", &p, || fs::read_link(&p));
                    self.op(Kind::Walk, "stat", &p, || fs::metadata(&p));
                } else if ft.is_dir() {
                    if dir.subdir.is_none() {
                        dir.subdir = Some(p.clone());
                    }
                    if depth < MAX_DEPTH && seen.insert((meta.dev(), meta.ino())) {
                        queue.push_back((p, depth + 1));
                    }
                    continue;
                } else if ft.is_file() && record {
                    self.files.push((p.clone(), meta.len()));
                }
                if dir.files.len() < 2 {
                    dir.files.push(p);
                }
            }
            if record {
                self.dirs.push(dir);
            }
        }
    }

    /// Reads every regular file found, up to `READ_FILE` bytes from its
    /// start and its last page; seeks for data and holes.
    fn read_files(&mut self) {
        let mut buf = vec![0u8; 1 << 20];
        for (path, size) in self.files.clone() {
            if self.report.bytes >= READ_TOTAL {
                break;
            }
            let Some(mut f) = self.op(Kind::Read, "open", &path, || File::open(&path)) else {
                continue;
            };
            let mut total = 0;
            let read = self.op(Kind::Read, "read", &path, || {
                while total < READ_FILE {
                    match f.read(&mut buf)? {
                        0 => break,
                        n => total += n as u64,
                    }
                }
                Ok(())
            });
            self.report.bytes += total;
            if read.is_some() && size > total {
                let last = size.saturating_sub(1) & !(PAGE as u64 - 1);
                self.op(Kind::Read, "pread last page", &path, || {
                    f.read_at(&mut buf[..PAGE], last)
                });
            }
            // (Past the end of an empty file there is no data to seek.)
            let seeks = [
                ("SEEK_DATA", libc::SEEK_DATA),
                ("SEEK_HOLE", libc::SEEK_HOLE),
            ];
            for (what, whence) in seeks.into_iter().filter(|_| size > 0) {
                // SAFETY: lseek on a descriptor `f` owns.
                self.op(Kind::Read, what, &path, || {
                    check(unsafe { libc::lseek(f.as_raw_fd(), 0, whence) })
                });
            }
        }
    }

    /// Rewrites the first page of a few files with its own bytes, appends
    /// and truncates back, preallocates past the end, fsyncs.
    fn write_files(&mut self) {
        for (path, size) in self.files.clone().into_iter().take(WRITE_FILES) {
            let open = || OpenOptions::new().read(true).write(true).open(&path);
            let Some(f) = self.op(Kind::Write, "open rw", &path, open) else {
                continue;
            };
            let mut page = vec![0u8; PAGE];
            if let Some(n) = self.op(Kind::Write, "read page 0", &path, || {
                f.read_at(&mut page, 0)
            }) {
                self.op(Kind::Write, "rewrite page 0", &path, || {
                    f.write_all_at(&page[..n], 0)
                });
            }
            self.op(Kind::Write, "append", &path, || {
                f.write_all_at(b"daxfs-fuzz append\n", size)
            });
            self.op(Kind::Write, "truncate back", &path, || f.set_len(size));
            let fd = f.as_raw_fd();
            let offset = i64::try_from(size).unwrap_or(i64::MAX);
            self.op(Kind::Write, "fallocate keep size", &path, || {
                // SAFETY: fallocate on a descriptor `f` owns.
                check(
                    unsafe { libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, offset, 8192) }.into(),
                )
            });
            self.op(Kind::Write, "fsync", &path, || f.sync_all());
        }
    }

    /// Namespace operations on new names in directory `d`.
    fn namespace(&mut self, d: &Path) {
        let (file, link, moved) = (d.join(".fz-file"), d.join(".fz-link"), d.join(".fz-moved"));
        let created = self.op(Kind::Ns, "create", &file, || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)?
                .write_all(b"fuzz\n")
        });
        if created.is_some() {
            self.op(Kind::Ns, "link", &link, || fs::hard_link(&file, &link));
            self.op(Kind::Ns, "rename", &link, || fs::rename(&link, &moved));
            let cross = self.root.join(".fz-cross");
            if self
                .op(Kind::Ns, "rename across", &file, || {
                    fs::rename(&file, &cross)
                })
                .is_some()
            {
                self.op(Kind::Ns, "rename back", &cross, || {
                    fs::rename(&cross, &file)
                });
            }
            self.op(Kind::Ns, "unlink", &moved, || fs::remove_file(&moved));
            self.op(Kind::Ns, "unlink", &file, || fs::remove_file(&file));
        }
        let (sub, sub2) = (d.join(".fz-dir"), d.join(".fz-dir2"));
        if self
            .op(Kind::Ns, "mkdir", &sub, || fs::create_dir(&sub))
            .is_some()
        {
            self.op(Kind::Ns, "mkdir", &sub, || fs::create_dir(sub.join("in")));
            self.op(Kind::Ns, "rename dir", &sub, || fs::rename(&sub, &sub2));
            self.op(Kind::Ns, "rmdir", &sub2, || fs::remove_dir(sub2.join("in")));
            self.op(Kind::Ns, "rmdir", &sub2, || fs::remove_dir(&sub2));
        }
        let sym = d.join(".fz-sym");
        if self
            .op(Kind::Ns, "symlink", &sym, || {
                symlink("daxfs-fuzz-target", &sym)
            })
            .is_some()
        {
            self.op(Kind::Ns, "unlink", &sym, || fs::remove_file(&sym));
        }
        let fifo = d.join(".fz-fifo");
        // SAFETY: mkfifo with a NUL-terminated path.
        let made = self.op(Kind::Ns, "mkfifo", &fifo, || {
            check(unsafe { libc::mkfifo(cstr(&fifo)?.as_ptr(), 0o600) }.into())
        });
        if made.is_some() {
            self.op(Kind::Ns, "unlink", &fifo, || fs::remove_file(&fifo));
        }
    }

    /// Namespace operations on the entries `dir` already had: renamed and
    /// back, linked, exchanged with its first subdirectory, which is
    /// renamed and back and removed if empty; its second file unlinked.
    fn existing_entries(&mut self, dir: &Dir) {
        let d = &dir.path;
        if let Some(e) = dir.files.first() {
            let tmp = d.join(".fz-renamed");
            if self
                .op(Kind::Ns, "rename existing", e, || fs::rename(e, &tmp))
                .is_some()
            {
                self.op(Kind::Ns, "rename back", &tmp, || fs::rename(&tmp, e));
            }
            let hard = d.join(".fz-hard");
            if self
                .op(Kind::Ns, "link existing", e, || fs::hard_link(e, &hard))
                .is_some()
            {
                self.op(Kind::Ns, "unlink", &hard, || fs::remove_file(&hard));
            }
            if let Some(s) = &dir.subdir {
                if self
                    .op(Kind::Ns, "exchange", e, || exchange(e, s))
                    .is_some()
                {
                    self.op(Kind::Ns, "exchange back", e, || exchange(e, s));
                }
            }
        }
        if let Some(s) = &dir.subdir {
            let tmp = d.join(".fz-subdir");
            if self
                .op(Kind::Ns, "rename subdir", s, || fs::rename(s, &tmp))
                .is_some()
            {
                self.op(Kind::Ns, "rename back", &tmp, || fs::rename(&tmp, s));
            }
            self.op(Kind::Ns, "rmdir existing", s, || fs::remove_dir(s));
        }
        if let Some(e) = dir.files.get(1) {
            self.op(Kind::Ns, "unlink existing", e, || fs::remove_file(e));
        }
    }

    /// Faults in the first and last page of a few files through a shared
    /// mapping: read, and written with the bytes just read.
    fn map_files(&mut self) {
        let mapped: Vec<_> = self
            .files
            .iter()
            .filter(|(_, size)| *size > 0)
            .take(MAP_FILES)
            .cloned()
            .collect();
        for (path, size) in mapped {
            self.map_file(Kind::Map, &path, size);
        }
    }

    /// Faults in the first and the last page of the file at `path`.
    fn map_file(&mut self, kind: Kind, path: &Path, size: u64) {
        let open = || OpenOptions::new().read(true).write(true).open(path);
        let Some(f) = self.op(kind, "open rw", path, open) else {
            return;
        };
        let last = size.saturating_sub(1) & !(PAGE as u64 - 1);
        for offset in [0, last] {
            let (rd, wr) = (self.pipe.0.as_raw_fd(), self.pipe.1.as_raw_fd());
            self.op(kind, "mmap fault", path, || fault_page(&f, offset, rd, wr));
        }
    }

    /// Records `p` as a target if the mutation concerns its inode.
    fn aim_at(&mut self, p: &Path, meta: &fs::Metadata) {
        if !self.focus.contains(&meta.ino()) || self.targets.len() >= MAX_TARGETS {
            return;
        }
        let ft = meta.file_type();
        let kind = match () {
            _ if ft.is_dir() => Type::Dir,
            _ if ft.is_file() => Type::File,
            _ if ft.is_symlink() => Type::Symlink,
            _ => Type::Other,
        };
        self.targets.push(Target {
            path: p.to_owned(),
            kind,
            size: meta.len(),
        });
    }

    /// The operations that keep a target: renamed and back, linked, its
    /// times and mode set; a directory filled and emptied, a file read,
    /// rewritten, appended to and truncated back, mapped.
    fn probe(&mut self, t: &Target) {
        let p = &t.path;
        let k = Kind::Aim;
        let tmp = sibling(p, ".fz-aim");
        if self.op(k, "rename", p, || fs::rename(p, &tmp)).is_some() {
            self.op(k, "rename back", &tmp, || fs::rename(&tmp, p));
        }
        self.op(k, "utimensat", p, || touch(p));
        match t.kind {
            Type::Dir => self.fill_dir(p),
            Type::File => {
                self.op(k, "chmod", p, || {
                    fs::set_permissions(p, fs::Permissions::from_mode(0o644))
                });
                self.link_and_unlink(p, &tmp);
                self.rewrite(p, t.size);
                self.map_file(k, p, t.size);
            }
            Type::Symlink => {
                self.op(k, "readlink", p, || fs::read_link(p));
                self.link_and_unlink(p, &tmp);
            }
            Type::Other => self.link_and_unlink(p, &tmp),
        }
    }

    fn link_and_unlink(&mut self, p: &Path, link: &Path) {
        if self
            .op(Kind::Aim, "link", p, || fs::hard_link(p, link))
            .is_some()
        {
            self.op(Kind::Aim, "unlink link", link, || fs::remove_file(link));
        }
    }

    /// Reads the file `p` (bounded), rewrites its first page with its own
    /// bytes, appends and truncates back to `size`, fsyncs.
    fn rewrite(&mut self, p: &Path, size: u64) {
        let k = Kind::Aim;
        let open = || OpenOptions::new().read(true).write(true).open(p);
        let Some(mut f) = self.op(k, "open rw", p, open) else {
            return;
        };
        let mut data = Vec::new();
        self.op(k, "read", p, || {
            (&mut f).take(READ_FILE).read_to_end(&mut data)
        });
        let page = &data[..data.len().min(PAGE)];
        self.op(k, "rewrite page 0", p, || f.write_all_at(page, 0));
        self.op(k, "append", p, || f.write_all_at(b"daxfs-fuzz\n", size));
        self.op(k, "truncate back", p, || f.set_len(size));
        self.op(k, "fsync", p, || f.sync_all());
    }

    /// Creates, renames and removes entries in directory `d`; fsyncs it.
    fn fill_dir(&mut self, d: &Path) {
        let k = Kind::Aim;
        let (file, sub) = (d.join(".fz-in"), d.join(".fz-sub"));
        self.op(k, "readdir", d, || read_dir(d));
        let create = || OpenOptions::new().write(true).create_new(true).open(&file);
        if let Some(mut f) = self.op(k, "create in", &file, create) {
            self.op(k, "write", &file, || f.write_all(b"fuzz\n"));
        }
        if self
            .op(k, "mkdir in", &sub, || fs::create_dir(&sub))
            .is_some()
        {
            let moved = sub.join("in");
            if self
                .op(k, "rename into", &file, || fs::rename(&file, &moved))
                .is_some()
            {
                self.op(k, "unlink", &moved, || fs::remove_file(&moved));
            }
            self.op(k, "rmdir", &sub, || fs::remove_dir(&sub));
        }
        self.op(k, "unlink", &file, || fs::remove_file(&file));
        self.op(k, "fsync dir", d, || File::open(d)?.sync_all());
    }

    /// Removes a target: a file truncated, punched and unlinked; a
    /// directory emptied (its entries unlinked or removed if empty) and
    /// removed; anything else unlinked.
    fn destroy(&mut self, t: &Target) {
        let (p, k) = (&t.path, Kind::Aim);
        match t.kind {
            Type::Dir => {
                for e in self.op(k, "readdir", p, || read_dir(p)).unwrap_or_default() {
                    let dir = fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir());
                    match dir {
                        true => self.op(k, "rmdir entry", &e, || fs::remove_dir(&e)),
                        false => self.op(k, "unlink entry", &e, || fs::remove_file(&e)),
                    };
                }
                self.op(k, "rmdir", p, || fs::remove_dir(p));
            }
            Type::File => {
                let open = || OpenOptions::new().write(true).open(p);
                if let Some(f) = self.op(k, "open w", p, open) {
                    self.op(k, "truncate half", p, || f.set_len(t.size / 2));
                    self.op(k, "punch", p, || punch(&f, 0, 2 * PAGE as i64));
                    self.op(k, "truncate 0", p, || f.set_len(0));
                }
                self.op(k, "unlink", p, || fs::remove_file(p));
            }
            Type::Symlink | Type::Other => {
                self.op(k, "unlink", p, || fs::remove_file(p));
            }
        }
    }
}

/// `p` with `suffix` added to its name.
fn sibling(p: &Path, suffix: &str) -> PathBuf {
    let mut name = p.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    p.with_file_name(name)
}

/// utimensat(p, now), not following a symlink (and not opening a fifo).
fn touch(p: &Path) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: a NUL-terminated path; NULL times means now.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            std::ptr::null(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(r.into()).map(drop)
}

/// fallocate(PUNCH_HOLE | KEEP_SIZE) of `len` bytes at `offset`.
fn punch(f: &File, offset: i64, len: i64) -> io::Result<()> {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: fallocate on a descriptor `f` owns.
    check(unsafe { libc::fallocate(f.as_raw_fd(), mode, offset, len) }.into()).map(drop)
}

/// The entries of directory `path` (at most `MAX_ENTRIES`); an error when
/// reading it fails, even part way.
fn read_dir(path: &Path) -> io::Result<Vec<PathBuf>> {
    fs::read_dir(path)?
        .take(MAX_ENTRIES)
        .map(|e| Ok(e?.path()))
        .collect()
}

/// renameat2(a, b, RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    let (a, b) = (cstr(a)?, cstr(b)?);
    // SAFETY: NUL-terminated paths relative to the current directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    check(r.into()).map(drop)
}

/// Maps the page of `f` at `offset` shared and writable, copies it into
/// the pipe (a read fault) and back from it (a write fault of the same
/// bytes).  A fault the kernel refuses fails the copy with EFAULT.
fn fault_page(f: &File, offset: u64, rd: RawFd, wr: RawFd) -> io::Result<()> {
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: a new mapping of one page of an open file; unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            prot,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            off,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel copies from/to the mapped page (faulting it in);
    // the pipe holds one page, so neither call blocks.
    let r = unsafe {
        check(libc::write(wr, p, PAGE) as i64)
            .and_then(|n| check(libc::read(rd, p, n as usize) as i64))
    };
    if r.is_err() {
        // Drain what the write put in the pipe, if the read failed.
        let mut sink = [0u8; PAGE];
        // SAFETY: a non-blocking probe of our own pipe.
        unsafe {
            let mut pfd = libc::pollfd {
                fd: rd,
                events: libc::POLLIN,
                revents: 0,
            };
            if libc::poll(&mut pfd, 1, 0) > 0 {
                libc::read(rd, sink.as_mut_ptr().cast(), PAGE);
            }
        }
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, PAGE) };
    r.map(drop)
}
