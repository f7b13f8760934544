// SPDX-License-Identifier: GPL-2.0
//! The persistence recorder of the crash-state test module (built with
//! `--cfg daxfs_record`, `scripts/module.sh record`; never in the release
//! module).
//!
//! While recording is on for one mounted filesystem, every persistence
//! event on its DAX device is appended, in order, to a log in kernel memory:
//!
//! * the metadata stores made through [`DaxDevice`](super::dax::DaxDevice)
//!   (`write` with its bytes, `zero`, `flush`) and its `fence`s;
//! * file data the DAX engine copied into pmem for `write(2)` and zeroed for
//!   `dax_zero_range`/`dax_truncate_page`: recorded by reading the range
//!   back in `iomap_end`, which runs after the copy and before any later
//!   fence of ours, so it takes its place in the order exactly;
//! * markers the workload sets between its operations (an `ioctl`), after
//!   each acknowledged system call.
//!
//! Stores made by user space through an mmap are invisible to the kernel
//! and are not recorded (docs/testing.md, "Crash states").
//!
//! The workload drives it with `ioctl`s on any file of the filesystem
//! (`CAP_SYS_ADMIN`): [`IOC_START`] (clears the log, records this
//! filesystem), [`IOC_MARK`] (arg: the marker's value), [`IOC_STOP`],
//! [`IOC_READ`] (arg: pointer to `{u64 off, u64 len, u64 buf}`; copies log
//! bytes `off..off+len` to `buf`, returns how many).
//!
//! Log records (little endian), one byte of kind first:
//!
//! | kind | record |
//! |------|--------|
//! | 1 `W` write | `u64 off, u32 len, len bytes` |
//! | 2 `Z` zero | `u64 off, u64 len` |
//! | 3 `F` flush | `u64 off, u64 len` |
//! | 4 `S` fence | — |
//! | 5 `M` marker | `u64 value, u64 unfenced` (stores since the last fence) |
//! | 6 `D` data | `u64 off, u32 len, len bytes` |
//! | 7 `A` failed assertion | `u64 stores, u32 len, len bytes of where` |
//!
//! The assertion: at every journal commit point and at every marker (a
//! system call returned), no metadata store may be unfenced.  A violation
//! is logged (`pr_err`) and recorded; the host checker reports it.
//!
//! Offsets are the filesystem's own (partition-relative) byte offsets.  A
//! log that outgrows [`CAP`] stops growing and [`IOC_READ`] fails with
//! `EFBIG`, so a cut log is never mistaken for a whole one.

use super::bindings as b;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

/// `_IO(0xDA, 1)`: start recording this filesystem (clears the log).
pub(crate) const IOC_START: u32 = 0xDA01;
/// `_IO(0xDA, 2)`: stop recording (the log stays readable).
pub(crate) const IOC_STOP: u32 = 0xDA02;
/// `_IO(0xDA, 3)`: append a marker whose value is the argument.
pub(crate) const IOC_MARK: u32 = 0xDA03;
/// `_IO(0xDA, 4)`: copy part of the log out (see the module comment).
pub(crate) const IOC_READ: u32 = 0xDA04;

/// `_IO(0xDA, 5)` on a regular file: record its written blocks in a range
/// as data (see `iomap::record_capture`).
pub(crate) const IOC_CAPTURE: u32 = 0xDA05;

/// Largest log kept, bytes.
const CAP: usize = 256 << 20;

pub(crate) const WRITE: u8 = 1;
pub(crate) const ZERO: u8 = 2;
pub(crate) const FLUSH: u8 = 3;
pub(crate) const FENCE: u8 = 4;
pub(crate) const MARK: u8 = 5;
pub(crate) const DATA: u8 = 6;
pub(crate) const ASSERT: u8 = 7;

/// A recorded device: its `struct dax_device` (address) and the byte
/// offset of the filesystem's partition on it.  The same across unmount and
/// mount, so a remount is recorded too.
pub(crate) type Key = (usize, u64);

/// Nothing recorded.
const OFF: Key = (0, 0);

struct Rec {
    /// The device being recorded ([`OFF`]: none).
    dev: Key,
    log: KVVec<u8>,
    overflow: bool,
    /// Stores recorded since the last fence.
    unfenced: u64,
    /// Of which metadata (`DaxDevice` writes, zeroes, flushes).
    unfenced_meta: u64,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called from the module initialiser before anything
    // can mount a filesystem (and so reach the recorder).
    unsafe(uninit) static REC: Mutex<Rec> = Rec { dev: OFF, log: KVVec::new(), overflow: false, unfenced: 0, unfenced_meta: 0 };
}

/// Initialises the recorder; call once, from the module initialiser.
pub(crate) fn init() {
    // SAFETY: called exactly once, before first use (see `REC`).
    unsafe { REC.init() };
    pr_info!("daxfs: crash-state recorder built in (test module)\n");
}

impl Rec {
    fn put(&mut self, parts: &[&[u8]]) {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if self.overflow || self.log.len() + n > self.log.capacity() {
            self.overflow = true;
            return;
        }
        for p in parts {
            // Within capacity: no allocation.
            if self.log.extend_from_slice(p, GFP_KERNEL).is_err() {
                self.overflow = true;
                return;
            }
        }
    }
}

/// Records event `kind` of the DAX device `key`, if it is recorded.
/// `data` is the stored bytes (write, data), `len` the length otherwise.
pub(crate) fn event(key: Key, kind: u8, off: u64, len: u64, data: Option<&[u8]>) {
    let mut r = REC.lock();
    if r.dev == OFF || r.dev != key {
        return;
    }
    match (kind, data) {
        (FENCE, _) => {
            r.unfenced = 0;
            r.unfenced_meta = 0;
            r.put(&[&[kind]]);
        }
        (_, Some(d)) if d.len() > u32::MAX as usize => r.overflow = true,
        (_, Some(d)) => {
            r.unfenced += 1;
            if kind != DATA {
                r.unfenced_meta += 1;
            }
            let l = d.len() as u32;
            r.put(&[&[kind], &off.to_le_bytes(), &l.to_le_bytes(), d]);
        }
        (_, None) => {
            r.unfenced += 1;
            r.unfenced_meta += 1;
            r.put(&[&[kind], &off.to_le_bytes(), &len.to_le_bytes()]);
        }
    }
}

/// The debug assertion: no metadata store to the DAX device `key`
/// is unfenced at `at` (a commit point, a system call's return).
pub(crate) fn assert_fenced(key: Key, at: &str) {
    let mut r = REC.lock();
    if r.dev != OFF && r.dev == key && r.unfenced_meta > 0 {
        let n = r.unfenced_meta;
        pr_err!("daxfs recorder: {} metadata stores not fenced at {}\n", n, at);
        let l = at.len() as u32;
        r.put(&[&[ASSERT], &n.to_le_bytes(), &l.to_le_bytes(), at.as_bytes()]);
    }
}

/// A store of the DAX device `key` could not be recorded: the log is
/// incomplete and reads fail from now on.
pub(crate) fn lost(key: Key) {
    let mut r = REC.lock();
    if r.dev != OFF && r.dev == key {
        r.overflow = true;
    }
}

/// Whether the DAX device `key` is being recorded.
pub(crate) fn recording(key: Key) -> bool {
    let dev = REC.lock().dev;
    dev != OFF && dev == key
}

/// Handles a recorder `ioctl` on a file of the filesystem whose device is
/// `key` (its address); `None` when `cmd` is not one.
pub(crate) fn ioctl(key: Key, cmd: u32, arg: usize) -> Option<Result<i64>> {
    if !matches!(cmd, IOC_START | IOC_STOP | IOC_MARK | IOC_READ) {
        return None;
    }
    if !permitted() {
        return Some(Err(EPERM));
    }
    Some(match cmd {
        IOC_START => start(key),
        IOC_STOP => {
            REC.lock().dev = OFF;
            Ok(0)
        }
        IOC_MARK => {
            assert_fenced(key, "system call return");
            let mut r = REC.lock();
            if r.dev != key {
                Err(EINVAL)
            } else {
                let u = r.unfenced;
                r.put(&[&[MARK], &(arg as u64).to_le_bytes(), &u.to_le_bytes()]);
                Ok(0)
            }
        }
        _ => read(arg),
    })
}

/// Module exit: stops recording and frees the log.
pub(crate) fn exit() {
    let mut r = REC.lock();
    r.dev = OFF;
    r.log = KVVec::new();
}

/// Whether the current task may use the recorder (`CAP_SYS_ADMIN`).
pub(crate) fn permitted() -> bool {
    // SAFETY: plain capability check of the current task.
    unsafe { b::daxfs_capable_sys_admin() }
}

fn start(key: Key) -> Result<i64> {
    // Allocated before taking the lock: `event` never allocates.
    let log = KVVec::with_capacity(CAP, GFP_KERNEL)?;
    let mut r = REC.lock();
    r.log = log;
    r.overflow = false;
    r.unfenced = 0;
    r.unfenced_meta = 0;
    r.dev = key;
    Ok(0)
}

fn read(arg: usize) -> Result<i64> {
    let mut req = UserSlice::new(UserPtr::from_addr(arg as usize), 24).reader();
    let off: u64 = req.read()?;
    let len: u64 = req.read()?;
    let buf: u64 = req.read()?;
    let chunk = usize::try_from(len.min(1 << 20)).map_err(|_| EINVAL)?;
    let mut tmp = KVVec::<u8>::with_capacity(chunk, GFP_KERNEL)?;
    {
        let r = REC.lock();
        if r.overflow {
            return Err(EFBIG);
        }
        let start = usize::try_from(off).map_err(|_| EINVAL)?.min(r.log.len());
        let end = start + chunk.min(r.log.len() - start);
        tmp.extend_from_slice(&r.log[start..end], GFP_KERNEL)?;
    }
    UserSlice::new(UserPtr::from_addr(buf as usize), tmp.len()).writer().write_slice(&tmp)?;
    Ok(tmp.len() as i64)
}
