// SPDX-License-Identifier: GPL-2.0
//! The pmem behind a mounted filesystem, reached through its DAX device.
//!
//! [`DaxDevice`] is the filesystem's one narrow path to its media.  It
//! keeps no mapping: every access asks the driver for just the pages it
//! touches (`dax_direct_access`, under `dax_read_lock`), copies, and lets
//! go, as the DAX API requires.  So a bad block elsewhere on the device
//! does not matter (the driver fails a request only for the pages it
//! covers), a bad block inside a request is an `EIO` rather than a machine
//! check, and a device that is being removed answers `ENXIO` instead of
//! leaving a pointer to memory that is about to be unmapped
//! (docs/media-errors.md):
//!
//! * [`DaxDevice::read`]: machine-check safe copy out of pmem;
//! * [`DaxDevice::write`]: non-temporal copy into pmem (`memcpy_flushcache`);
//! * [`DaxDevice::flush`]: write back cache lines of a range (for data that
//!   reached pmem through ordinary stores);
//! * [`DaxDevice::fence`]: order every earlier `write`/`flush` before any
//!   later store: the persistence point;
//! * [`DaxDevice::zero`]: zero file data blocks, clearing poison where the
//!   platform can.
//!
//! `read`, `write` and `flush` carry metadata: their first failure is kept
//! ([`DaxDevice::failed`]) so that the filesystem can shut down.
//!
//! Everything that makes metadata durable goes through these calls, so a
//! crash-state checker can hook them (see docs/consistency.md).

use super::bindings as b;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
#[cfg(daxfs_record)]
use kernel::alloc::KVVec;

const PAGE: u64 = 1 << b::PAGE_SHIFT;
/// Pages asked for in one `dax_direct_access` call (the pmem driver checks
/// badblocks with a 32-bit sector count).
const MAX_PAGES: u64 = 1 << 18;
/// No failure recorded.
const NONE: u64 = u64::MAX;

/// Why an access failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AccessError {
    /// A bad block (poison) in the range.
    Media,
    /// The device is being removed (or is gone).
    Gone,
    /// Outside the device, or another driver error.
    Other(Error),
}

/// A DAX device claimed for a mounted filesystem.
///
/// # Invariants
///
/// `dev` is a reference obtained from `daxfs_dax_get` (with `holder`, the
/// super block registered as its holder, or null) and released in `drop`;
/// `bdev` is the block device it was found through, open while this value
/// lives; `len` is that block device's size and `part_off` its byte offset
/// on the DAX device, a multiple of the page size.
pub(crate) struct DaxDevice {
    dev: *mut b::dax_device,
    holder: *mut b::super_block,
    bdev: *mut b::block_device,
    len: u64,
    part_off: u64,
    /// Device byte offset (within the block device) of the first failed
    /// metadata access, or `NONE`.
    failed: AtomicU64,
}

// SAFETY: the DAX device reference may be used from any thread; the kernel
// functions used on it are thread-safe, and concurrent access to the same
// bytes is ordered by the filesystem's own locks.
unsafe impl Send for DaxDevice {}
// SAFETY: see `Send`; all methods take `&self` and only copy bytes.
unsafe impl Sync for DaxDevice {}

/// `dax_read_lock` held while alive: a DAX device seen alive under it
/// stays mapped (and its driver's data allocated) until it is dropped;
/// `kill_dax` waits for it after marking the device dead.
struct ReadLock(i32);

impl ReadLock {
    fn new() -> Self {
        // SAFETY: plain call; returns an SRCU read-lock cookie.
        ReadLock(unsafe { b::dax_read_lock() })
    }
}

impl Drop for ReadLock {
    fn drop(&mut self) {
        // SAFETY: the cookie of the matching `dax_read_lock`.
        unsafe { b::dax_read_unlock(self.0) };
    }
}

impl DaxDevice {
    /// Claims the DAX device behind `bdev` (of `bytes` bytes) and, when
    /// `holder` is given and the device has no holder yet, registers it as
    /// the device's holder with those operations (`notify_failure`).
    ///
    /// # Safety
    ///
    /// `bdev` must be a valid block device that stays open while the
    /// returned value is alive; a holder super block must outlive it too,
    /// and its operations must be valid for any DAX device.
    pub(crate) unsafe fn open(
        bdev: *mut b::block_device,
        bytes: u64,
        holder: Option<(*mut b::super_block, &'static b::dax_holder_operations)>,
    ) -> Result<Self> {
        let mut start_off: u64 = 0;
        let mut claimed = false;
        let (h, ops) = holder.map_or((core::ptr::null_mut(), core::ptr::null()), |(h, o)| (h, o as *const _));
        // SAFETY: `bdev` is valid (caller); `ops` is NULL or `'static`.
        let dev = unsafe { b::daxfs_dax_get(bdev, &mut start_off, h.cast(), ops, &mut claimed) };
        if dev.is_null() {
            // Also a partition that does not start and end on a page
            // boundary ("unaligned partition for dax" in the kernel log).
            return Err(EOPNOTSUPP);
        }
        let holder = if claimed { h } else { core::ptr::null_mut() };
        // From here on `drop` releases the reference.
        let this = DaxDevice { dev, holder, bdev, len: bytes, part_off: start_off, failed: AtomicU64::new(NONE) };
        if start_off.checked_add(bytes).is_none() || bytes % PAGE != 0 {
            return Err(EINVAL);
        }
        Ok(this)
    }

    /// Whether this mount is the DAX device's holder (it then hears of
    /// memory failures and removal).  A second filesystem on another
    /// partition of the same device is not: the kernel allows one.
    pub(crate) fn is_holder(&self) -> bool {
        !self.holder.is_null()
    }

    /// Size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Byte offset of the filesystem's block device (a partition, or 0 for
    /// the whole device) on the DAX device.  The DAX engine reads
    /// `iomap->addr` as an offset on the whole DAX device, so every address
    /// handed to it includes this (as ext4's `s_dax_part_off` and XFS's
    /// `bt_dax_part_off`); the filesystem's own offsets never do.
    pub(crate) fn part_off(&self) -> u64 {
        self.part_off
    }

    /// Calls `f(kaddr, done, n)` for consecutive pieces of `[off, off+len)`
    /// (`done` bytes already handled), each mapped at `kaddr` for `n` bytes
    /// while `f` runs.  The mapping never outlives the call.
    fn access(&self, off: u64, len: usize, mut f: impl FnMut(*mut u8, usize, usize)) -> core::result::Result<(), AccessError> {
        let end = off.checked_add(len as u64).ok_or(AccessError::Other(EINVAL))?;
        if end > self.len {
            return Err(AccessError::Other(EINVAL));
        }
        let _lock = ReadLock::new();
        let mut done = 0usize;
        while done < len {
            // No overflow: `part_off + len` fits (checked in `open`).
            let at = self.part_off + off + done as u64;
            let in_page = at % PAGE;
            let want = (len - done) as u64;
            let pages = (in_page + want).div_ceil(PAGE).min(MAX_PAGES);
            let mut kaddr: *mut c_void = core::ptr::null_mut();
            // SAFETY: `dev` is a live reference (type invariant), the SRCU
            // read lock is held as `dax_direct_access` requires, `kaddr` is
            // a valid out-pointer and a NULL pfn pointer is allowed.
            let n = unsafe {
                b::dax_direct_access(self.dev, (at / PAGE) as usize, pages as _, b::dax_access_mode_DAX_ACCESS, &mut kaddr, core::ptr::null_mut())
            };
            if n < 0 {
                return Err(match -(n as i64) {
                    e if e == i64::from(b::EHWPOISON) => AccessError::Media,
                    e if e == i64::from(b::ENXIO) => AccessError::Gone,
                    e => AccessError::Other(Error::from_errno(-(e as i32))),
                });
            }
            if n == 0 || kaddr.is_null() {
                return Err(AccessError::Other(EIO));
            }
            let n = (n as u64).min(pages) * PAGE - in_page;
            let piece = n.min(want) as usize;
            // SAFETY: the driver mapped `n + in_page` bytes at `kaddr` for
            // as long as the read lock is held; `in_page + piece` is within.
            f(unsafe { kaddr.cast::<u8>().add(in_page as usize) }, done, piece);
            done += piece;
        }
        Ok(())
    }

    /// Records the first failed metadata access and turns it into `EIO`.
    fn fail(&self, what: &str, off: u64, len: usize, e: AccessError) -> Error {
        if let AccessError::Other(e) = e {
            if e == EINVAL {
                return e;
            }
        }
        if self.failed.compare_exchange(NONE, off, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            match e {
                AccessError::Gone => pr_err!("pmem device gone while {} metadata at byte {} (+{})\n", what, off, len),
                AccessError::Media => pr_err!("bad block (poison) while {} metadata at byte {} (+{})\n", what, off, len),
                AccessError::Other(e) => pr_err!("error {:?} while {} metadata at byte {} (+{})\n", e, what, off, len),
            }
        }
        EIO
    }

    /// The byte offset of the first metadata access that failed (a media
    /// error, or the device going away), if any.
    pub(crate) fn failed(&self) -> Option<u64> {
        match self.failed.load(Ordering::Acquire) {
            NONE => None,
            off => Some(off),
        }
    }

    /// Copies `buf.len()` bytes at byte offset `off` out of pmem.
    /// A media error (poison) returns `EIO`.
    pub(crate) fn read(&self, off: u64, buf: &mut [u8]) -> Result {
        let mut left = 0usize;
        let len = buf.len();
        let dst = buf.as_mut_ptr();
        self.access(off, len, |src, done, n| {
            if left == 0 {
                // SAFETY: `src` maps `n` bytes of pmem (see `access`),
                // `dst + done .. + n` is inside `buf`, and they cannot
                // overlap (kernel memory vs the pmem mapping).
                left = unsafe { b::daxfs_copy_mc(dst.add(done).cast(), src.cast(), n) } as usize;
            }
        })
        .map_err(|e| self.fail("reading", off, len, e))?;
        if left != 0 {
            return Err(self.fail("reading", off, len, AccessError::Media));
        }
        Ok(())
    }

    /// Copies `buf` into pmem at byte offset `off` with non-temporal stores.
    /// Durable once [`DaxDevice::fence`] returns.
    pub(crate) fn write(&self, off: u64, buf: &[u8]) -> Result {
        let src = buf.as_ptr();
        self.access(off, buf.len(), |dst, done, n| {
            // SAFETY: `dst` maps `n` bytes of pmem (see `access`) and
            // `src + done .. + n` is inside `buf`; they do not overlap.
            unsafe { b::daxfs_memcpy_flushcache(dst.cast(), src.add(done).cast(), n) };
        })
        .map_err(|e| self.fail("writing", off, buf.len(), e))?;
        #[cfg(daxfs_record)]
        super::record::event(self.key(), super::record::WRITE, off, 0, Some(buf));
        Ok(())
    }

    /// Writes back the CPU cache lines covering `len` bytes at `off`.
    #[allow(dead_code)]
    pub(crate) fn flush(&self, off: u64, len: usize) -> Result {
        self.access(off, len, |p, _, n| {
            // SAFETY: `p` maps `n` bytes of pmem (see `access`).
            unsafe { b::daxfs_pmem_flush(p.cast(), n) };
        })
        .map_err(|e| self.fail("flushing", off, len, e))?;
        #[cfg(daxfs_record)]
        super::record::event(self.key(), super::record::FLUSH, off, len as u64, None);
        Ok(())
    }

    /// Zeroes `len` bytes of file data at `off` (written back; durable
    /// after [`DaxDevice::fence`]).  Used on freshly allocated blocks before
    /// they become visible, so no stale data can be read or mapped, and on
    /// the tail of a partial block.  A range with a bad block is zeroed a
    /// page at a time through the driver, which clears the poison where
    /// the platform can; a bad page it cannot clear (or a partial page
    /// over one) gives `EHWPOISON`.  File data: a bad block here is not a
    /// metadata failure (a device going away is: `EIO`, and `failed`).
    pub(crate) fn zero(&self, off: u64, len: u64) -> Result {
        let n = usize::try_from(len).map_err(|_| EINVAL)?;
        let r = self.access(off, n, |p, _, n| {
            // SAFETY: `p` maps `n` bytes of pmem (see `access`); callers
            // only zero blocks nothing else reads or maps yet, or the
            // part of a block past EOF.
            unsafe { b::daxfs_pmem_zero(p.cast(), n) };
        });
        match r {
            Ok(()) => {}
            Err(AccessError::Media) => self.zero_clearing(off, len)?,
            Err(AccessError::Other(e)) => return Err(e),
            // The device is going away: no more allocation either.
            Err(AccessError::Gone) => return Err(self.fail("zeroing", off, n, AccessError::Gone)),
        }
        #[cfg(daxfs_record)]
        super::record::event(self.key(), super::record::ZERO, off, len, None);
        Ok(())
    }

    /// [`DaxDevice::zero`] over a bad block: whole pages through
    /// `dax_zero_page_range` (the pmem driver clears poison first).
    /// `EHWPOISON` when a bad page stays (a partial page over one, or the
    /// platform cannot clear it), `EIO` when the device is going away.
    fn zero_clearing(&self, off: u64, len: u64) -> Result {
        let end = off.checked_add(len).ok_or(EINVAL)?;
        if off % PAGE != 0 || end % PAGE != 0 {
            return Err(EHWPOISON);
        }
        let mut at = off;
        while at < end {
            let _lock = ReadLock::new();
            // SAFETY: `dev` is live (type invariant) and the read lock is
            // held; the page is inside the block device (`end <= len` was
            // checked by the failed `access`).
            let r = unsafe { b::daxfs_dax_zero_page(self.dev, ((self.part_off + at) / PAGE) as _) };
            if r == -(b::ENXIO as i32) {
                return Err(self.fail("zeroing", at, PAGE as usize, AccessError::Gone));
            }
            if r < 0 {
                return Err(EHWPOISON);
            }
            at += PAGE;
        }
        Ok(())
    }

    /// Calls `f(off, len)` for each range of the device's badblocks list
    /// (in bytes, rounded out to pages) that overlaps `[off, off+len)`.
    pub(crate) fn bad_ranges(&self, off: u64, len: u64, mut f: impl FnMut(u64, u64)) {
        let end = off.saturating_add(len).min(self.len) / 512;
        let mut s = off / 512;
        let mut count = 0u64;
        // The list belongs to the pmem driver, which frees it once the
        // device is gone: only while it is alive, under the read lock.
        let _lock = ReadLock::new();
        // SAFETY: `dev` is live (type invariant), the read lock is held.
        if !unsafe { b::dax_alive(self.dev) } {
            return;
        }
        // SAFETY: `bdev` is open (type invariant) and its disk's driver
        // data lives while the DAX device is alive and the read lock held;
        // the out-pointers are valid.
        while s < end && unsafe { b::daxfs_bdev_next_badblock(self.bdev, &mut s, end, &mut count) } {
            let (a, z) = (s * 512 / PAGE * PAGE, (s + count.max(1)) * 512);
            f(a, z.div_ceil(PAGE) * PAGE - a);
            s += count.max(1);
        }
    }

    /// The `struct dax_device` for the kernel's DAX engine.
    pub(crate) fn as_raw(&self) -> *mut b::dax_device {
        self.dev
    }

    /// Persistence barrier: every earlier `write`/`flush` is durable before
    /// any later store becomes visible.
    #[allow(dead_code)]
    pub(crate) fn fence(&self) {
        // SAFETY: a plain store fence.
        unsafe { b::daxfs_pmem_fence() };
        #[cfg(daxfs_record)]
        super::record::event(self.key(), super::record::FENCE, 0, 0, None);
    }

    /// Debug assertion of the recorder's test module: no metadata store is
    /// still unfenced at `at` (a commit point).  Nothing in the release
    /// module.
    #[inline]
    pub(crate) fn assert_fenced(&self, _at: &str) {
        #[cfg(daxfs_record)]
        super::record::assert_fenced(self.key(), _at);
    }

    /// The recorder's name for this device: the DAX device and the
    /// partition on it (two partitions share a DAX device).
    #[cfg(daxfs_record)]
    fn key(&self) -> super::record::Key {
        (self.dev as usize, self.part_off)
    }

    /// Recorder (test module): records `len` bytes at `off` that the DAX
    /// engine stored (file data) as a data event, reading them back.
    #[cfg(daxfs_record)]
    pub(crate) fn record_data(&self, off: u64, len: u64) {
        if len == 0 || !super::record::recording(self.key()) {
            return;
        }
        // A log that misses a store is marked cut (`IOC_READ` then fails).
        let Ok(n) = usize::try_from(len) else { return super::record::lost(self.key()) };
        let Ok(mut buf) = KVVec::from_elem(0u8, n, GFP_KERNEL) else { return super::record::lost(self.key()) };
        match self.read(off, &mut buf) {
            Ok(()) => super::record::event(self.key(), super::record::DATA, off, len, Some(&buf)),
            Err(_) => super::record::lost(self.key()),
        }
    }

    /// Recorder (test module): a recorder `ioctl` on a file of this device's
    /// filesystem (`None`: not a recorder command).
    #[cfg(daxfs_record)]
    pub(crate) fn record_ioctl(&self, cmd: u32, arg: usize) -> Option<Result<i64>> {
        super::record::ioctl(self.key(), cmd, arg)
    }
}

impl Drop for DaxDevice {
    fn drop(&mut self) {
        // SAFETY: `dev` is the reference obtained in `open` with `holder`
        // (type invariant); it is released exactly once, here, and the
        // helper waits for `notify_failure` calls that saw the holder.
        unsafe { b::daxfs_dax_put(self.dev, self.holder.cast()) };
    }
}
