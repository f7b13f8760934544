// SPDX-License-Identifier: GPL-2.0
//! daxfs-testutil: a helper for the in-VM shell tests, so that they can check
//! exact errno values and use syscalls that the shell does not have.
//!
//! On success it prints nothing (unless the subcommand reports a result) and
//! exits 0. When a syscall fails it prints the errno name (e.g. `EEXIST`) on
//! stdout and exits 1. Usage errors exit 2.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{CStr, CString};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use libc::{c_int, AT_FDCWD, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY};

#[derive(Parser, Debug)]
#[command(name = "daxfs-testutil", version)]
/// Syscall helper for the daxfs shell tests. A failed syscall prints its errno name and exits 1.
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Perform exactly one syscall.
    Sys {
        #[command(subcommand)]
        op: Op,
    },
    /// open(DIR, O_TMPFILE|O_RDWR, 0600), then optionally write TEXT and link it as DIR/NAME.
    Tmpfile {
        dir: PathBuf,
        #[arg(long, value_name = "NAME")]
        link: Option<String>,
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        write: Option<String>,
    },
    /// Link FILE to FILE.1 .. FILE.COUNT until one fails; prints "<links made> <ERRNO|OK>", exits 0.
    LinkMany { file: PathBuf, count: u64 },
    /// Check telldir/seekdir across directory changes; DIR holds only keep-0 .. keep-<N-1>.
    ReaddirStable { dir: PathBuf },
    /// Create DIR/NAME, fsync and unlink it, print "held", sleep, print what the open fd reads.
    Hold {
        dir: PathBuf,
        name: String,
        #[arg(value_parser = seconds)]
        seconds: Duration,
    },
    /// Random namespace operations in forked processes, checked against a model of each.
    Stress {
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        procs: usize,
        #[arg(long, default_value_t = 1000)]
        ops: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Largest file content written by a create (0: metadata only).
        #[arg(long, default_value_t = 99)]
        max_size: usize,
    },
    /// Create COUNT empty files PREFIX<i>; prints the elapsed seconds.
    Many(ManyArgs),
    /// Stat PREFIX0 .. PREFIX<COUNT-1>; prints the elapsed seconds or "<name> <ERRNO>".
    ManyCheck(ManyArgs),
    /// Unlink PREFIX0 .. PREFIX<COUNT-1>; prints the elapsed seconds.
    ManyUnlink(ManyArgs),
    /// Rename PREFIX<i> to TO<i> for i < COUNT (same directory); prints the elapsed seconds.
    ManyRename {
        #[command(flatten)]
        a: ManyArgs,
        #[arg(long)]
        to: String,
    },
}

#[derive(Args, Debug)]
struct ManyArgs {
    dir: PathBuf,
    count: u64,
    #[arg(long, default_value = "f")]
    prefix: String,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// mkdir(PATH, MODE); MODE is octal (default 777, minus the umask).
    Mkdir {
        path: PathBuf,
        #[arg(value_parser = octal, default_value = "777")]
        mode: u32,
    },
    Rmdir {
        path: PathBuf,
    },
    Unlink {
        path: PathBuf,
    },
    Link {
        old: PathBuf,
        new: PathBuf,
    },
    Symlink {
        target: PathBuf,
        path: PathBuf,
    },
    Rename {
        old: PathBuf,
        new: PathBuf,
    },
    /// renameat2(2); FLAGS is noreplace, exchange, whiteout or 0 (several joined with ',').
    Rename2 {
        #[arg(value_parser = rename_flags)]
        flags: u32,
        old: PathBuf,
        new: PathBuf,
    },
    /// mknod(PATH, TYPE|0644, makedev(MAJOR, MINOR)); TYPE is c, b, p or s.
    Mknod {
        path: PathBuf,
        #[arg(value_parser = node_type)]
        kind: u32,
        #[arg(default_value_t = 0)]
        major: u32,
        #[arg(default_value_t = 0)]
        minor: u32,
    },
    /// open(PATH, O_CREAT|O_EXCL|O_WRONLY, 0644).
    Create {
        path: PathBuf,
    },
    /// open(PATH, O_RDONLY).
    Open {
        path: PathBuf,
    },
    /// open(PATH, O_RDONLY|O_DIRECTORY).
    Opendir {
        path: PathBuf,
    },
    /// chmod(PATH, MODE); MODE is octal.
    Chmod {
        path: PathBuf,
        #[arg(value_parser = octal)]
        mode: u32,
    },
    Chown {
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
    Truncate {
        path: PathBuf,
        #[arg(allow_hyphen_values = true)]
        size: i64,
    },
    /// utimensat(PATH) setting atime and mtime; NSEC may also be "now" or "omit".
    Utimens {
        path: PathBuf,
        sec: i64,
        #[arg(value_parser = nsec)]
        nsec: i64,
    },
    /// ioctl(open(PATH, O_RDONLY), FS_IOC_SHUTDOWN, &FLAGS); FLAGS 0 = sync first,
    /// 1 = flush the log only, 2 = neither.
    Shutdown {
        path: PathBuf,
        flags: u32,
    },
    /// fsync(open(PATH, O_RDONLY)).
    Fsync {
        path: PathBuf,
    },
    /// syncfs(open(PATH, O_RDONLY)).
    Syncfs {
        path: PathBuf,
    },
}

/// FS_IOC_SHUTDOWN = _IOR('X', 125, __u32) (include/uapi/linux/fs.h).
const FS_IOC_SHUTDOWN: u32 = (2 << 30) | (4 << 16) | ((b'X' as u32) << 8) | 125;

fn octal(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).map_err(|_| format!("not an octal mode: {s}"))
}

fn rename_flags(s: &str) -> Result<u32, String> {
    s.split(',').try_fold(0, |acc, f| match f {
        "0" => Ok(acc),
        "noreplace" => Ok(acc | libc::RENAME_NOREPLACE),
        "exchange" => Ok(acc | libc::RENAME_EXCHANGE),
        "whiteout" => Ok(acc | libc::RENAME_WHITEOUT),
        _ => Err(format!("unknown rename flag: {f}")),
    })
}

fn node_type(s: &str) -> Result<u32, String> {
    match s {
        "c" => Ok(libc::S_IFCHR),
        "b" => Ok(libc::S_IFBLK),
        "p" => Ok(libc::S_IFIFO),
        "s" => Ok(libc::S_IFSOCK),
        _ => Err(format!("type must be c, b, p or s: {s}")),
    }
}

fn nsec(s: &str) -> Result<i64, String> {
    match s {
        "now" => Ok(libc::UTIME_NOW),
        "omit" => Ok(libc::UTIME_OMIT),
        _ => s.parse().map_err(|_| format!("not a number: {s}")),
    }
}

fn seconds(s: &str) -> Result<Duration, String> {
    s.parse()
        .ok()
        .and_then(|f| Duration::try_from_secs_f64(f).ok())
        .ok_or(format!("bad SECONDS: {s}"))
}

// ---- errno plumbing ----

/// A syscall result: the error is the errno value.
type Res<T = ()> = Result<T, i32>;

macro_rules! errno_names {
    ($($name:ident)*) => {
        fn errno_name(e: i32) -> String {
            match e {
                $(libc::$name => stringify!($name).into(),)*
                _ => format!("ERRNO{e}"),
            }
        }
    };
}

// Every Linux errno, without the aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP).
errno_names!(
    EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES EFAULT
    ENOTBLK EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG
    ENOSPC ESPIPE EROFS EMLINK EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK ENOSYS ENOTEMPTY
    ELOOP ENOMSG EIDRM ECHRNG EL2NSYNC EL3HLT EL3RST ELNRNG EUNATCH ENOCSI EL2HLT EBADE EBADR
    EXFULL ENOANO EBADRQC EBADSLT EBFONT ENOSTR ENODATA ETIME ENOSR ENONET ENOPKG EREMOTE
    ENOLINK EADV ESRMNT ECOMM EPROTO EMULTIHOP EDOTDOT EBADMSG EOVERFLOW ENOTUNIQ EBADFD EREMCHG
    ELIBACC ELIBBAD ELIBSCN ELIBMAX ELIBEXEC EILSEQ ERESTART ESTRPIPE EUSERS ENOTSOCK
    EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT EOPNOTSUPP
    EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH ENETRESET
    ECONNABORTED ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT
    ECONNREFUSED EHOSTDOWN EHOSTUNREACH EALREADY EINPROGRESS ESTALE EUCLEAN ENOTNAM ENAVAIL
    EISNAM EREMOTEIO EDQUOT ENOMEDIUM EMEDIUMTYPE ECANCELED ENOKEY EKEYEXPIRED EKEYREVOKED
    EKEYREJECTED EOWNERDEAD ENOTRECOVERABLE ERFKILL EHWPOISON
);

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn os(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn check(ret: c_int) -> Res<c_int> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

fn show(r: Res) -> String {
    r.map_or_else(errno_name, |()| "OK".into())
}

/// Prints the errno name of a failure; returns the exit code.
fn report(r: Res) -> u8 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            println!("{}", errno_name(e));
            1
        }
    }
}

/// Prints the message of a finished check; returns the exit code.
fn conclude(r: Result<String, String>) -> u8 {
    let (msg, code) = r.map_or_else(|e| (e, 1), |m| (m, 0));
    println!("{msg}");
    code
}

fn cstr(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).expect("NUL in path")
}

fn open(path: &Path, flags: c_int, mode: libc::mode_t) -> Res<File> {
    let fd = check(unsafe { libc::open(cstr(path).as_ptr(), flags, mode) })?;
    Ok(unsafe { File::from_raw_fd(fd) })
}

// ---- sys, tmpfile, link-many, hold, many ----

fn sys(op: &Op) -> Res {
    let c = cstr;
    let ret = unsafe {
        match op {
            Op::Mkdir { path, mode } => libc::mkdir(c(path).as_ptr(), *mode),
            Op::Rmdir { path } => libc::rmdir(c(path).as_ptr()),
            Op::Unlink { path } => libc::unlink(c(path).as_ptr()),
            Op::Link { old, new } => libc::link(c(old).as_ptr(), c(new).as_ptr()),
            Op::Symlink { target, path } => libc::symlink(c(target).as_ptr(), c(path).as_ptr()),
            Op::Rename { old, new } => libc::rename(c(old).as_ptr(), c(new).as_ptr()),
            Op::Rename2 { flags, old, new } => {
                let (old, new) = (c(old), c(new));
                libc::syscall(
                    libc::SYS_renameat2,
                    AT_FDCWD,
                    old.as_ptr(),
                    AT_FDCWD,
                    new.as_ptr(),
                    *flags,
                ) as c_int
            }
            Op::Mknod {
                path,
                kind,
                major,
                minor,
            } => libc::mknod(
                c(path).as_ptr(),
                kind | 0o644,
                libc::makedev(*major, *minor),
            ),
            Op::Create { path } => return open(path, O_CREAT | O_EXCL | O_WRONLY, 0o644).map(drop),
            Op::Open { path } => return open(path, O_RDONLY, 0).map(drop),
            Op::Opendir { path } => return open(path, O_RDONLY | O_DIRECTORY, 0).map(drop),
            Op::Chmod { path, mode } => libc::chmod(c(path).as_ptr(), *mode),
            Op::Chown { path, uid, gid } => libc::chown(c(path).as_ptr(), *uid, *gid),
            Op::Truncate { path, size } => libc::truncate(c(path).as_ptr(), *size),
            Op::Utimens { path, sec, nsec } => {
                let t = libc::timespec {
                    tv_sec: *sec,
                    tv_nsec: *nsec,
                };
                libc::utimensat(AT_FDCWD, c(path).as_ptr(), [t, t].as_ptr(), 0)
            }
            Op::Shutdown { path, flags } => {
                let f = open(path, O_RDONLY, 0)?;
                libc::ioctl(f.as_raw_fd(), FS_IOC_SHUTDOWN as _, flags as *const u32)
            }
            Op::Fsync { path } => {
                let f = open(path, O_RDONLY, 0)?;
                libc::fsync(f.as_raw_fd())
            }
            Op::Syncfs { path } => {
                let f = open(path, O_RDONLY, 0)?;
                libc::syncfs(f.as_raw_fd())
            }
        }
    };
    check(ret).map(drop)
}

fn tmpfile(dir: &Path, link: Option<&str>, text: Option<&str>) -> u8 {
    let mut f = match open(dir, libc::O_TMPFILE | O_RDWR, 0o600) {
        Ok(f) => f,
        Err(e) => return report(Err(e)),
    };
    let mut code = text.map_or(0, |t| report(f.write_all(t.as_bytes()).map_err(os)));
    if let Some(name) = link {
        let new = cstr(dir.join(name));
        let flags = libc::AT_EMPTY_PATH;
        let ret =
            unsafe { libc::linkat(f.as_raw_fd(), c"".as_ptr(), AT_FDCWD, new.as_ptr(), flags) };
        code = code.max(report(check(ret).map(drop)));
    }
    code
}

fn link_many(file: &Path, count: u64) {
    let old = cstr(file);
    let mut made = 0;
    let mut result = "OK".to_string();
    for i in 1..=count {
        let mut new = file.as_os_str().to_owned();
        new.push(format!(".{i}"));
        if let Err(e) = check(unsafe { libc::link(old.as_ptr(), cstr(&new).as_ptr()) }) {
            result = errno_name(e);
            break;
        }
        made += 1;
    }
    println!("{made} {result}");
}

fn hold(dir: &Path, name: &str, time: Duration) -> Res {
    let path = dir.join(name);
    let mut f = open(&path, O_CREAT | O_TRUNC | O_RDWR, 0o644)?;
    f.write_all(b"held\n").map_err(os)?;
    f.sync_all().map_err(os)?;
    check(unsafe { libc::unlink(cstr(&path).as_ptr()) })?;
    println!("held");
    io::stdout().flush().map_err(os)?;
    std::thread::sleep(time);
    let mut back = Vec::new();
    f.seek(SeekFrom::Start(0)).map_err(os)?;
    f.read_to_end(&mut back).map_err(os)?;
    io::stdout().write_all(&back).map_err(os)
}

#[derive(Clone, Copy)]
enum Many<'a> {
    Create,
    Check,
    Unlink,
    /// To this prefix.
    Rename(&'a str),
}

/// Runs `what` on each of the COUNT names in one directory fd; prints the elapsed time
/// or the first name that failed.
fn many(what: Many<'_>, a: &ManyArgs) -> u8 {
    let dir = match open(&a.dir, O_RDONLY | O_DIRECTORY, 0) {
        Ok(d) => d,
        Err(e) => return report(Err(e)),
    };
    let fd = dir.as_raw_fd();
    let start = Instant::now();
    for i in 0..a.count {
        let name = format!("{}{i}", a.prefix);
        let c = cstr(&name);
        let ret = unsafe {
            match what {
                Many::Create => {
                    let new = libc::openat(fd, c.as_ptr(), O_CREAT | O_EXCL | O_WRONLY, 0o644);
                    if new >= 0 {
                        libc::close(new);
                    }
                    new
                }
                Many::Check => {
                    let mut st: libc::stat = std::mem::zeroed();
                    libc::fstatat(fd, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
                }
                Many::Unlink => libc::unlinkat(fd, c.as_ptr(), 0),
                Many::Rename(to) => {
                    let t = cstr(format!("{to}{i}"));
                    libc::renameat(fd, c.as_ptr(), fd, t.as_ptr())
                }
            }
        };
        if let Err(e) = check(ret) {
            println!("{name} {}", errno_name(e));
            return 1;
        }
    }
    println!("{:.2}", start.elapsed().as_secs_f64());
    0
}

// ---- readdir-stable ----

/// A libc directory stream, for telldir/seekdir.
struct Dir(*mut libc::DIR);

impl Dir {
    fn open(path: &Path) -> Result<Dir, String> {
        let d = unsafe { libc::opendir(cstr(path).as_ptr()) };
        if d.is_null() {
            Err(format!("opendir: {}", errno_name(errno())))
        } else {
            Ok(Dir(d))
        }
    }

    /// The next name other than "." and "..", or None at the end.
    fn next(&mut self) -> Result<Option<String>, String> {
        loop {
            unsafe { *libc::__errno_location() = 0 };
            let e = unsafe { libc::readdir(self.0) };
            if e.is_null() {
                return match errno() {
                    0 => Ok(None),
                    e => Err(format!("readdir: {}", errno_name(e))),
                };
            }
            let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) }.to_string_lossy();
            if name != "." && name != ".." {
                return Ok(Some(name.into_owned()));
            }
        }
    }

    fn rest(&mut self) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        while let Some(n) = self.next()? {
            names.push(n);
        }
        Ok(names)
    }

    fn tell(&self) -> libc::c_long {
        unsafe { libc::telldir(self.0) }
    }

    fn seek(&mut self, pos: libc::c_long) {
        unsafe { libc::seekdir(self.0, pos) }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        unsafe { libc::closedir(self.0) };
    }
}

fn keep_index(name: &str) -> Option<usize> {
    name.strip_prefix("keep-")?.parse().ok()
}

/// Checks that `names` hold every keep-<i>, i < n, exactly once, plus only new-* names.
fn tally<'a>(
    n: usize,
    names: impl IntoIterator<Item = &'a String>,
    what: &str,
) -> Result<(), String> {
    let mut seen = vec![0u32; n];
    for name in names {
        match keep_index(name) {
            Some(i) if i < n => seen[i] += 1,
            _ if name.starts_with("new-") => {}
            _ => return Err(format!("{what}: unexpected entry {name}")),
        }
    }
    let list = |f: fn(u32) -> bool| {
        let bad: Vec<String> = (0..n)
            .filter(|&i| f(seen[i]))
            .map(|i| format!("keep-{i}"))
            .collect();
        let more = if bad.len() > 5 { " ..." } else { "" };
        (
            bad.len(),
            format!("{}{more}", bad[..bad.len().min(5)].join(" ")),
        )
    };
    match (list(|c| c == 0), list(|c| c > 1)) {
        ((0, _), (0, _)) => Ok(()),
        ((lost, l), (dup, d)) => Err(format!("{what}: {lost} lost [{l}], {dup} duplicated [{d}]")),
    }
}

fn readdir_stable(dir: &Path) -> Result<usize, String> {
    let all = Dir::open(dir)?.rest()?;
    let mut n = 0;
    for name in &all {
        let i = keep_index(name).ok_or(format!("initial listing: unexpected entry {name}"))?;
        n = n.max(i + 1);
    }
    tally(n, &all, "initial listing")?;
    let new = |j: usize| dir.join(format!("new-{j}"));
    let touch = |j: usize| {
        let r = open(&new(j), O_CREAT | O_EXCL | O_WRONLY, 0o644).map(drop);
        r.map_err(|e| format!("create new-{j}: {}", errno_name(e)))
    };
    let remove = |j: usize| {
        let r = check(unsafe { libc::unlink(cstr(new(j)).as_ptr()) }).map(drop);
        r.map_err(|e| format!("unlink new-{j}: {}", errno_name(e)))
    };

    let mut d = Dir::open(dir)?;
    let mut first = Vec::new();
    while first.len() < n / 2 {
        first.push(d.next()?.ok_or("second listing ended early")?);
    }
    let pos = d.tell();
    (0..200).try_for_each(touch)?;
    (0..100).try_for_each(remove)?;
    (200..300).try_for_each(touch)?;
    d.seek(pos);
    tally(n, first.iter().chain(&d.rest()?), "after seekdir")?;
    drop(d);
    let mut d = Dir::open(dir)?;
    d.seek(pos);
    tally(
        n,
        first.iter().chain(&d.rest()?),
        "after reopen and seekdir",
    )?;
    (100..300).try_for_each(remove)?;
    Ok(n)
}

// ---- stress ----

/// xorshift64, seeded through an odd multiplier so that close seeds diverge at once.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A link to a regular file, numbered (for `Model::sizes`) as created.
    File(usize),
    Dir,
    Symlink(String),
}

/// One namespace operation, with paths relative to the stress directory.
#[derive(Debug)]
enum Act {
    Create(String, usize),
    Mkdir(String),
    Symlink(String, String),
    Link(String, String),
    Rename(String, String),
    Unlink(String),
    Rmdir(String),
}

impl Act {
    fn run(&self, base: &Path) -> Res {
        let p = |s: &String| cstr(base.join(s));
        let ret = unsafe {
            match self {
                Act::Create(path, size) => {
                    let mut f = open(&base.join(path), O_CREAT | O_EXCL | O_WRONLY, 0o644)?;
                    return f.write_all(&vec![b'x'; *size]).map_err(os);
                }
                Act::Mkdir(path) => libc::mkdir(p(path).as_ptr(), 0o755),
                Act::Symlink(target, path) => {
                    libc::symlink(cstr(target).as_ptr(), p(path).as_ptr())
                }
                Act::Link(old, new) => libc::link(p(old).as_ptr(), p(new).as_ptr()),
                Act::Rename(old, new) => libc::rename(p(old).as_ptr(), p(new).as_ptr()),
                Act::Unlink(path) => libc::unlink(p(path).as_ptr()),
                Act::Rmdir(path) => libc::rmdir(p(path).as_ptr()),
            }
        };
        check(ret).map(drop)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Area {
    /// The process's own directory p<k>.
    Own,
    /// The directory shared by all processes.
    Shared,
    Any,
}

/// Is `path` strictly inside `dir`?
fn under(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// The longest path, relative to the stress directory, that the stress test makes.
const MAX_PATH: usize = 2048;

/// What one process expects: its own directory p<k>, and in "shared" its names p<k>-*
/// (all its names carry that prefix). Paths are relative to the stress directory.
struct Model {
    own: String,
    prefix: String,
    made: usize,
    entries: BTreeMap<String, Node>,
    /// File sizes, indexed by file number.
    sizes: Vec<usize>,
    /// Largest size a create writes.
    max_size: usize,
}

impl Model {
    fn new(k: usize) -> Model {
        Model {
            own: format!("p{k}"),
            prefix: format!("p{k}-"),
            made: 0,
            entries: BTreeMap::new(),
            sizes: Vec::new(),
            max_size: 99,
        }
    }

    fn in_area(&self, path: &str, area: Area) -> bool {
        match area {
            Area::Own => under(path, &self.own),
            Area::Shared => under(path, "shared"),
            Area::Any => true,
        }
    }

    /// The paths strictly inside directory `dir`.
    fn inside<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a String> + 'a {
        let start = format!("{dir}/");
        let keys = self.entries.range(start.clone()..).map(|(k, _)| k);
        keys.take_while(move |k| k.starts_with(&start))
    }

    fn is_empty_dir(&self, dir: &str) -> bool {
        self.inside(dir).next().is_none()
    }

    fn pick(&self, rng: &mut Rng, f: impl Fn(&str, &Node) -> bool) -> Option<String> {
        let all: Vec<&String> = self
            .entries
            .iter()
            .filter(|(k, v)| f(k, v))
            .map(|(k, _)| k)
            .collect();
        (!all.is_empty()).then(|| all[rng.below(all.len())].clone())
    }

    /// A name for a new entry in `area`; with `existing`% chance an entry that exists.
    fn name(&mut self, rng: &mut Rng, area: Area, kind: &str, existing: usize) -> String {
        if rng.chance(existing) {
            if let Some(e) = self.pick(rng, |p, _| self.in_area(p, area)) {
                return e;
            }
        }
        let mut dirs: Vec<&str> = Vec::new();
        if area != Area::Shared {
            dirs.push(&self.own);
        }
        if area != Area::Own {
            dirs.push("shared");
        }
        dirs.extend(
            self.entries
                .iter()
                .filter(|(k, v)| {
                    **v == Node::Dir && self.in_area(k, area) && k.len() < MAX_PATH / 2
                })
                .map(|(k, _)| k.as_str()),
        );
        let dir = dirs[rng.below(dirs.len())].to_string();
        self.made += 1;
        format!("{dir}/{}{kind}{}", self.prefix, self.made)
    }

    /// A random operation; a few on purpose fail (EEXIST, ENOTEMPTY, EISDIR, ...).
    fn choose(&mut self, rng: &mut Rng) -> Act {
        self.choose_but_create(rng)
            .unwrap_or_else(|| Act::Create(self.name(rng, Area::Any, "f", 5), rng.below(100) % (self.max_size + 1)))
    }

    fn choose_but_create(&mut self, rng: &mut Rng) -> Option<Act> {
        let is_dir: fn(&str, &Node) -> bool = |_, n| *n == Node::Dir;
        let not_dir: fn(&str, &Node) -> bool = |_, n| *n != Node::Dir;
        match rng.below(100) {
            0..=17 => None,
            18..=25 => Some(Act::Mkdir(self.name(rng, Area::Any, "d", 5))),
            26..=32 => {
                let target = format!("target{}-{}", rng.next(), "x".repeat(rng.below(150)));
                Some(Act::Symlink(target, self.name(rng, Area::Any, "s", 5)))
            }
            33..=42 => {
                let dir = rng.chance(5);
                let old = self.pick(rng, |_, n| {
                    if dir {
                        *n == Node::Dir
                    } else {
                        matches!(n, Node::File(_))
                    }
                });
                old.map(|old| Act::Link(old, self.name(rng, Area::Any, "l", 5)))
            }
            43..=72 => {
                // Within the own directory, or between it and the shared one.
                let (from, to) = match rng.below(3) {
                    0 => (Area::Own, Area::Own),
                    1 => (Area::Own, Area::Shared),
                    _ => (Area::Shared, Area::Own),
                };
                let old = self.pick(rng, |p, _| self.in_area(p, from))?;
                let new = self.name(rng, to, "r", 30);
                // Keep every path well below PATH_MAX.
                let depth = self
                    .inside(&old)
                    .map(|k| k.len() - old.len())
                    .max()
                    .unwrap_or(0);
                (new.len() + depth < MAX_PATH).then_some(Act::Rename(old, new))
            }
            73..=86 => {
                let which = if rng.chance(5) { is_dir } else { not_dir };
                self.pick(rng, which).map(Act::Unlink)
            }
            _ => match rng.below(100) {
                0..=4 => self.pick(rng, not_dir),
                5..=24 => self.pick(rng, is_dir),
                _ => self.pick(rng, |p, n| *n == Node::Dir && self.is_empty_dir(p)),
            }
            .map(Act::Rmdir),
        }
    }

    fn get(&self, path: &str) -> Res<Node> {
        self.entries.get(path).cloned().ok_or(libc::ENOENT)
    }

    fn add(&mut self, path: &str, node: Node) -> Res {
        if self.entries.contains_key(path) {
            return Err(libc::EEXIST);
        }
        self.entries.insert(path.into(), node);
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Res {
        self.entries.remove(path);
        Ok(())
    }

    /// Applies `act` if it should succeed; returns what the syscall should return.
    fn apply(&mut self, act: &Act) -> Res {
        match act {
            Act::Create(path, size) => {
                self.add(path, Node::File(self.sizes.len()))?;
                self.sizes.push(*size);
                Ok(())
            }
            Act::Mkdir(path) => self.add(path, Node::Dir),
            Act::Symlink(target, path) => self.add(path, Node::Symlink(target.clone())),
            Act::Link(old, new) => match self.get(old)? {
                _ if self.entries.contains_key(new) => Err(libc::EEXIST),
                Node::Dir => Err(libc::EPERM),
                node => self.add(new, node),
            },
            Act::Unlink(path) => match self.get(path)? {
                Node::Dir => Err(libc::EISDIR),
                _ => self.remove(path),
            },
            Act::Rmdir(path) => match self.get(path)? {
                Node::Dir if !self.is_empty_dir(path) => Err(libc::ENOTEMPTY),
                Node::Dir => self.remove(path),
                _ => Err(libc::ENOTDIR),
            },
            Act::Rename(old, new) => self.rename(old, new),
        }
    }

    /// rename(2) as the VFS does it, in the same order of checks.
    fn rename(&mut self, old: &str, new: &str) -> Res {
        let src = self.get(old)?;
        if old == new {
            return Ok(());
        }
        if under(new, old) {
            return Err(libc::EINVAL);
        }
        if under(old, new) {
            return Err(libc::ENOTEMPTY);
        }
        match (&src, self.entries.get(new)) {
            (Node::File(a), Some(Node::File(b))) if a == b => return Ok(()),
            (Node::Dir, Some(Node::Dir)) if !self.is_empty_dir(new) => return Err(libc::ENOTEMPTY),
            (Node::Dir, Some(Node::File(_) | Node::Symlink(_))) => return Err(libc::ENOTDIR),
            (Node::File(_) | Node::Symlink(_), Some(Node::Dir)) => return Err(libc::EISDIR),
            _ => {}
        }
        self.entries.remove(new);
        let inside: Vec<String> = self.inside(old).cloned().collect();
        for k in inside.into_iter().chain([old.to_string()]) {
            let node = self.entries.remove(&k).unwrap();
            self.entries
                .insert(format!("{new}{}", &k[old.len()..]), node);
        }
        Ok(())
    }

    /// Compares the model with the directory listings and lstat of the real tree.
    fn verify(&self, base: &Path) -> Result<(), String> {
        let mut want: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut subdirs: HashMap<&str, u64> = HashMap::new();
        let mut links: HashMap<usize, u64> = HashMap::new();
        want.insert(&self.own, BTreeSet::new());
        want.insert("shared", BTreeSet::new());
        for (path, node) in &self.entries {
            let (parent, name) = path.rsplit_once('/').unwrap();
            want.entry(parent).or_default().insert(name);
            match node {
                Node::Dir => {
                    want.entry(path).or_default();
                    *subdirs.entry(parent).or_default() += 1;
                }
                Node::File(id) => *links.entry(*id).or_default() += 1,
                Node::Symlink(_) => {}
            }
        }
        for (dir, names) in &want {
            let mut real = BTreeSet::new();
            for e in fs::read_dir(base.join(dir))
                .map_err(|e| format!("readdir {dir}: {}", errno_name(os(e))))?
            {
                let name = e
                    .map_err(|e| format!("readdir {dir}: {}", errno_name(os(e))))?
                    .file_name();
                let name = name.to_string_lossy().into_owned();
                if *dir != "shared" || name.starts_with(&self.prefix) {
                    real.insert(name);
                }
            }
            let lost: Vec<_> = names.iter().filter(|n| !real.contains(**n)).collect();
            let extra: Vec<_> = real
                .iter()
                .filter(|n| !names.contains(n.as_str()))
                .collect();
            if !lost.is_empty() || !extra.is_empty() {
                return Err(format!("{dir}: missing {lost:?}, unexpected {extra:?}"));
            }
        }
        let mut inos: HashMap<usize, u64> = HashMap::new();
        let mut files: HashMap<u64, usize> = HashMap::new();
        let own = (self.own.clone(), Node::Dir);
        for (path, node) in self.entries.iter().chain([(&own.0, &own.1)]) {
            let md = fs::symlink_metadata(base.join(path))
                .map_err(|e| format!("lstat {path}: {}", errno_name(os(e))))?;
            let ft = md.file_type();
            let bad = |what: String| Err(format!("{path}: {what}"));
            match node {
                Node::Dir if !ft.is_dir() => return bad(format!("not a directory: {ft:?}")),
                Node::Dir => {
                    let nlink = 2 + subdirs.get(path.as_str()).copied().unwrap_or(0);
                    if md.nlink() != nlink {
                        return bad(format!("directory nlink {}, expected {nlink}", md.nlink()));
                    }
                }
                Node::File(_) if !ft.is_file() => {
                    return bad(format!("not a regular file: {ft:?}"))
                }
                Node::File(id) => {
                    if md.nlink() != links[id] || md.len() != self.sizes[*id] as u64 {
                        return bad(format!(
                            "nlink {} size {}, expected {} {}",
                            md.nlink(),
                            md.len(),
                            links[id],
                            self.sizes[*id]
                        ));
                    }
                    if *inos.entry(*id).or_insert(md.ino()) != md.ino()
                        || *files.entry(md.ino()).or_insert(*id) != *id
                    {
                        return bad(format!("inode {} does not match the other links", md.ino()));
                    }
                }
                Node::Symlink(_) if !ft.is_symlink() => {
                    return bad(format!("not a symlink: {ft:?}"))
                }
                Node::Symlink(target) => {
                    let real = fs::read_link(base.join(path))
                        .map_err(|e| format!("readlink {path}: {}", errno_name(os(e))))?;
                    if real.as_os_str().as_bytes() != target.as_bytes() {
                        return bad(format!("symlink target {real:?}, expected {target:?}"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One stress process: `ops` random operations, each checked as it happens, then the
/// whole model against the real tree.
fn worker(base: &Path, k: usize, ops: u64, seed: u64, max_size: usize) -> Result<(), String> {
    let mut model = Model::new(k);
    model.max_size = max_size;
    let mut rng = Rng::new(seed.wrapping_add(k as u64));
    Act::Mkdir(model.own.clone())
        .run(base)
        .map_err(|e| format!("p{k}: mkdir p{k}: {}", errno_name(e)))?;
    for i in 0..ops {
        let act = model.choose(&mut rng);
        let (want, got) = (model.apply(&act), act.run(base));
        if want != got {
            return Err(format!(
                "p{k}: op {i} {act:?}: expected {}, got {}",
                show(want),
                show(got)
            ));
        }
    }
    model
        .verify(base)
        .map_err(|e| format!("p{k}: after {ops} ops: {e}"))
}

fn stress(dir: &Path, procs: usize, ops: u64, seed: u64, max_size: usize) -> u8 {
    match Act::Mkdir("shared".into()).run(dir) {
        Ok(()) | Err(libc::EEXIST) => {}
        Err(e) => return report(Err(e)),
    }
    let _ = io::stdout().flush();
    let mut pids = Vec::new();
    for k in 0..procs {
        match unsafe { libc::fork() } {
            -1 => return report(Err(errno())),
            0 => {
                let code = match worker(dir, k, ops, seed, max_size) {
                    Ok(()) => 0,
                    Err(e) => conclude(Err(e)),
                };
                let _ = io::stdout().flush();
                unsafe { libc::_exit(code.into()) };
            }
            pid => pids.push(pid),
        }
    }
    let mut failed = 0;
    for (k, pid) in pids.into_iter().enumerate() {
        let mut status = 0;
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFSIGNALED(status) {
            println!("p{k}: killed by signal {}", libc::WTERMSIG(status));
        }
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            failed += 1;
        }
    }
    conclude(match failed {
        0 => Ok(format!("ok {} ops", procs as u64 * ops)),
        _ => Err(format!("{failed} of {procs} processes failed")),
    })
}

fn main() -> ExitCode {
    let code = match Cli::parse().cmd {
        Cmd::Sys { op } => report(sys(&op)),
        Cmd::Tmpfile { dir, link, write } => tmpfile(&dir, link.as_deref(), write.as_deref()),
        Cmd::LinkMany { file, count } => {
            link_many(&file, count);
            0
        }
        Cmd::ReaddirStable { dir } => conclude(readdir_stable(&dir).map(|n| format!("ok {n}"))),
        Cmd::Hold { dir, name, seconds } => report(hold(&dir, &name, seconds)),
        Cmd::Stress {
            dir,
            procs,
            ops,
            seed,
            max_size,
        } => stress(&dir, procs, ops, seed, max_size),
        Cmd::Many(a) => many(Many::Create, &a),
        Cmd::ManyCheck(a) => many(Many::Check, &a),
        Cmd::ManyUnlink(a) => many(Many::Unlink, &a),
        Cmd::ManyRename { a, to } => many(Many::Rename(&to), &a),
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(args: &[&str]) -> Result<Cmd, clap::Error> {
        Cli::try_parse_from(std::iter::once("daxfs-testutil").chain(args.iter().copied()))
            .map(|c| c.cmd)
    }

    fn parse(args: &[&str]) -> String {
        format!(
            "{:?}",
            try_parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
        )
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("daxfs-testutil-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(octal("0750"), Ok(0o750));
        let both = libc::RENAME_NOREPLACE | libc::RENAME_WHITEOUT;
        assert_eq!(rename_flags("noreplace,whiteout"), Ok(both));
        assert_eq!(rename_flags("exchange"), Ok(libc::RENAME_EXCHANGE));
        assert_eq!(rename_flags("0"), Ok(0));
        assert_eq!(node_type("p"), Ok(libc::S_IFIFO));
        assert_eq!(nsec("omit"), Ok(libc::UTIME_OMIT));
        assert_eq!(seconds("0.5"), Ok(Duration::from_millis(500)));
        let cases = [
            (
                &["sys", "mkdir", "d"][..],
                r#"Sys { op: Mkdir { path: "d", mode: 511 } }"#,
            ),
            (
                &["sys", "mknod", "n", "b"],
                r#"Sys { op: Mknod { path: "n", kind: 24576, major: 0, minor: 0 } }"#,
            ),
            (
                &["sys", "truncate", "f", "-1"],
                r#"Sys { op: Truncate { path: "f", size: -1 } }"#,
            ),
            (
                &["sys", "utimens", "f", "5", "7"],
                r#"Sys { op: Utimens { path: "f", sec: 5, nsec: 7 } }"#,
            ),
            (
                &["tmpfile", "d", "--write", "-y", "--link", "x"],
                r#"Tmpfile { dir: "d", link: Some("x"), write: Some("-y") }"#,
            ),
            (
                &["stress", "d", "--procs", "3", "--ops", "10", "--seed", "7"],
                r#"Stress { dir: "d", procs: 3, ops: 10, seed: 7, max_size: 99 }"#,
            ),
            (
                &["many", "d", "9"],
                r#"Many(ManyArgs { dir: "d", count: 9, prefix: "f" })"#,
            ),
            (
                &["many-check", "d", "9", "--prefix", "g"],
                r#"ManyCheck(ManyArgs { dir: "d", count: 9, prefix: "g" })"#,
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args), want);
        }
        let bad: [&[&str]; 6] = [
            &["sys", "rename2", "sideways", "a", "b"],
            &["sys", "mknod", "n", "x"],
            &["sys", "chmod", "f", "9"],
            &["sys", "link", "a"],
            &["bogus"],
            &["hold", "d", "n", "-1"],
        ];
        for args in bad {
            assert_eq!(try_parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn errno_names_cover_linux() {
        assert_eq!(errno_name(libc::EEXIST), "EEXIST");
        assert_eq!(errno_name(libc::EWOULDBLOCK), "EAGAIN");
        assert_eq!(errno_name(524), "ERRNO524");
        // 41 and 58 are unused (EWOULDBLOCK and EDEADLOCK are aliases).
        let unnamed: Vec<i32> = (1..=133)
            .filter(|&e| errno_name(e).starts_with("ERRNO"))
            .collect();
        assert_eq!(unnamed, [41, 58]);
    }

    #[test]
    fn rng_is_deterministic_and_spread() {
        let take = |seed| {
            let mut r = Rng::new(seed);
            (0..4).map(|_| r.next()).collect::<Vec<_>>()
        };
        assert_eq!(take(1), take(1));
        assert_ne!(take(1), take(2));
        assert!(take(0).iter().all(|&x| x != 0));
        let mut r = Rng::new(3);
        let mut hits = [0; 10];
        (0..10_000).for_each(|_| hits[r.below(10)] += 1);
        assert!(hits.iter().all(|&h| (800..1200).contains(&h)), "{hits:?}");
    }

    /// Each step goes through both the model and the real filesystem.
    #[test]
    fn model_matches_rename_rules() {
        use libc::{EEXIST, EINVAL, EISDIR, ENOTDIR, ENOTEMPTY, EPERM};
        let base = scratch("model");
        let s = |x: &str| x.to_string();
        let steps = [
            (Act::Mkdir(s("p0")), Ok(())),
            (Act::Mkdir(s("shared")), Ok(())),
            (Act::Mkdir(s("p0/a")), Ok(())),
            (Act::Mkdir(s("p0/a/b")), Ok(())),
            (Act::Create(s("p0/a/b/f"), 3), Ok(())),
            (Act::Create(s("p0/g"), 0), Ok(())),
            (Act::Link(s("p0/g"), s("p0/h")), Ok(())),
            (Act::Mkdir(s("p0/e")), Ok(())),
            (Act::Create(s("p0/g"), 0), Err(EEXIST)),
            (Act::Rename(s("p0/e"), s("p0/e")), Ok(())),
            (Act::Rename(s("p0/a"), s("p0/a/b/x")), Err(EINVAL)),
            (Act::Rename(s("p0/a/b/f"), s("p0/a")), Err(ENOTEMPTY)),
            (Act::Rename(s("p0/g"), s("p0/h")), Ok(())),
            (Act::Rename(s("p0/g"), s("p0/e")), Err(EISDIR)),
            (Act::Rename(s("p0/e"), s("p0/g")), Err(ENOTDIR)),
            (Act::Rename(s("p0/e"), s("p0/a")), Err(ENOTEMPTY)),
            (Act::Rmdir(s("p0/a")), Err(ENOTEMPTY)),
            (Act::Rmdir(s("p0/g")), Err(ENOTDIR)),
            (Act::Unlink(s("p0/a")), Err(EISDIR)),
            (Act::Link(s("p0/a"), s("p0/z")), Err(EPERM)),
            (Act::Link(s("p0/g"), s("p0/h")), Err(EEXIST)),
            (Act::Rename(s("p0/a"), s("shared/p0-a")), Ok(())),
            (Act::Rename(s("p0/e"), s("shared/p0-a/b")), Err(ENOTEMPTY)),
            (Act::Symlink(s("somewhere"), s("p0/e/l")), Ok(())),
            (Act::Rename(s("p0/h"), s("shared/p0-a/b/f")), Ok(())),
            (Act::Rename(s("shared/p0-a/b"), s("p0/b")), Ok(())),
        ];
        let mut m = Model::new(0);
        for (act, want) in &steps {
            let top = matches!(act, Act::Mkdir(p) if !p.contains('/'));
            let model = if top { Ok(()) } else { m.apply(act) };
            assert_eq!((model, act.run(&base)), (*want, *want), "{act:?}");
        }
        assert_eq!(m.entries.get("p0/b/f"), Some(&Node::File(1)));
        assert!(!m.entries.contains_key("p0/a") && m.entries.contains_key("shared/p0-a"));
        m.verify(&base).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn model_keeps_paths_short() {
        let (mut m, mut rng) = (Model::new(0), Rng::new(5));
        // Two chains of directories, each almost as deep as allowed.
        for chain in ["/p0-a", "/p0-b"] {
            let mut deep = "p0".to_string();
            while deep.len() < MAX_PATH - 50 {
                deep += chain;
                m.apply(&Act::Mkdir(deep.clone())).unwrap();
            }
        }
        // The state does not change: renames of the chains' upper parts into each other's
        // deep parts remain available throughout.
        for _ in 0..3000 {
            if let Act::Rename(old, new) = m.choose(&mut rng) {
                let depth = m
                    .inside(&old)
                    .map(|k| k.len() - old.len())
                    .max()
                    .unwrap_or(0);
                assert!(new.len() + depth < MAX_PATH, "{old} -> {new}");
            }
        }
    }

    #[test]
    fn tally_reports_lost_and_duplicated() {
        let names: Vec<String> = ["keep-0", "new-1", "keep-2", "keep-0"]
            .map(String::from)
            .into();
        assert_eq!(
            tally(3, &names, "x"),
            Err("x: 1 lost [keep-1], 1 duplicated [keep-0]".into())
        );
        assert_eq!(
            tally(3, &names[1..3], "x"),
            Err("x: 2 lost [keep-0 keep-1], 0 duplicated []".into())
        );
        assert_eq!(tally(1, &names[..2], "x"), Ok(()));
        assert_eq!(
            tally(2, &names, "x"),
            Err("x: unexpected entry keep-2".into())
        );
    }

    #[test]
    fn stress_workers_agree_with_the_filesystem() {
        let base = scratch("stress");
        fs::create_dir(base.join("shared")).unwrap();
        for k in 0..3 {
            worker(&base, k, 1500, 42, 99).unwrap();
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn readdir_stable_and_many() {
        let base = scratch("readdir");
        let args = ManyArgs {
            dir: base.clone(),
            count: 300,
            prefix: "keep-".into(),
        };
        assert_eq!(many(Many::Create, &args), 0);
        assert_eq!(many(Many::Check, &args), 0);
        assert_eq!(readdir_stable(&base), Ok(300));
        assert_eq!(fs::read_dir(&base).unwrap().count(), 300);
        assert_eq!(many(Many::Unlink, &args), 0);
        assert_eq!(many(Many::Check, &args), 1);
        fs::remove_dir_all(&base).unwrap();
    }
}
