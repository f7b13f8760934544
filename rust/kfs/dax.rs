// SPDX-License-Identifier: GPL-2.0
//! The pmem behind a mounted filesystem, reached through its DAX device.
//!
//! [`DaxDevice`] maps the whole device once (`dax_direct_access`) at mount and
//! is the filesystem's one narrow path to its media:
//!
//! * [`DaxDevice::read`]: machine-check safe copy out of pmem (a poisoned
//!   line becomes `-EIO`, never a crash);
//! * [`DaxDevice::write`]: non-temporal copy into pmem (`memcpy_flushcache`);
//! * [`DaxDevice::flush`]: write back cache lines of a range (for data that
//!   reached pmem through ordinary stores);
//! * [`DaxDevice::fence`]: order every earlier `write`/`flush` before any
//!   later store: the persistence point.
//!
//! Everything that makes metadata durable goes through these four calls, so a
//! crash-state checker can hook them (see docs/consistency.md).

use super::bindings as b;
use core::ffi::c_void;
use kernel::prelude::*;

/// A DAX device claimed for a mounted filesystem, with its whole capacity
/// mapped into the kernel's address space.
///
/// # Invariants
///
/// `dev` is a reference obtained from `fs_dax_get_by_bdev` and released in
/// `drop`; `base` points to `len` bytes of mapped pmem that stay mapped while
/// the reference is held (the block device is held open by the mount).
/// `part_off` is the byte offset of the block device (a partition) on the
/// DAX device, a multiple of the page size.
pub(crate) struct DaxDevice {
    dev: *mut b::dax_device,
    base: *mut u8,
    len: u64,
    part_off: u64,
}

// SAFETY: the DAX device reference and the mapping may be used from any
// thread; the kernel functions used on them are thread-safe, and concurrent
// access to the same bytes is ordered by the filesystem's own locks.
unsafe impl Send for DaxDevice {}
// SAFETY: see `Send`; all methods take `&self` and only copy bytes.
unsafe impl Sync for DaxDevice {}

impl DaxDevice {
    /// Claims the DAX device behind `bdev` and maps `bytes` bytes of it.
    ///
    /// # Safety
    ///
    /// `bdev` must be a valid block device that stays open while the returned
    /// value is alive.
    pub(crate) unsafe fn open(bdev: *mut b::block_device, bytes: u64) -> Result<Self> {
        let mut start_off: u64 = 0;
        // SAFETY: `bdev` is valid (caller); a NULL holder and ops mean "no
        // exclusive holder", as ext4 does.
        let dev = unsafe { b::fs_dax_get_by_bdev(bdev, &mut start_off, core::ptr::null_mut(), core::ptr::null()) };
        if dev.is_null() {
            // Also a partition that does not start and end on a page
            // boundary ("unaligned partition for dax" in the kernel log).
            return Err(EOPNOTSUPP);
        }
        // From here on `drop` releases the reference.
        let mut this = DaxDevice { dev, base: core::ptr::null_mut(), len: 0, part_off: start_off };
        let pages = (bytes >> b::PAGE_SHIFT) as isize;
        let mut kaddr: *mut c_void = core::ptr::null_mut();
        // SAFETY: plain call; returns an SRCU read-lock cookie.
        let id = unsafe { b::dax_read_lock() };
        // SAFETY: `dev` is a live DAX device reference; `kaddr` is a valid
        // out-pointer; a NULL pfn pointer is allowed.  The SRCU read lock is
        // held around the call as `dax_direct_access` requires.
        let avail = unsafe {
            b::dax_direct_access(
                dev,
                (start_off >> b::PAGE_SHIFT) as usize,
                pages,
                b::dax_access_mode_DAX_ACCESS,
                &mut kaddr,
                core::ptr::null_mut(),
            )
        };
        // SAFETY: `id` came from the matching `dax_read_lock` above.
        unsafe { b::dax_read_unlock(id) };
        if avail < 0 {
            return Err(Error::from_errno(avail as i32));
        }
        if avail < pages || kaddr.is_null() {
            return Err(ENXIO);
        }
        this.base = kaddr.cast();
        this.len = bytes;
        Ok(this)
    }

    /// Mapped size in bytes.
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

    fn range(&self, off: u64, len: usize) -> Result<*mut u8> {
        let end = off.checked_add(len as u64).ok_or(EINVAL)?;
        if end > self.len {
            return Err(EINVAL);
        }
        // SAFETY: `off + len <= self.len`, so the pointer stays inside the
        // mapping (type invariant).
        Ok(unsafe { self.base.add(off as usize) })
    }

    /// Copies `buf.len()` bytes at byte offset `off` out of pmem.
    /// A media error (poison) returns `EIO`.
    pub(crate) fn read(&self, off: u64, buf: &mut [u8]) -> Result {
        let src = self.range(off, buf.len())?;
        // SAFETY: `src..src+len` is mapped pmem (checked by `range`), `buf` is
        // a valid exclusive buffer of that length, and they cannot overlap
        // (kernel heap/stack vs the pmem mapping).
        let left = unsafe { b::daxfs_copy_mc(buf.as_mut_ptr().cast(), src.cast(), buf.len()) };
        if left != 0 {
            return Err(EIO);
        }
        Ok(())
    }

    /// Copies `buf` into pmem at byte offset `off` with non-temporal stores.
    /// Durable once [`DaxDevice::fence`] returns.
    #[allow(dead_code)]
    pub(crate) fn write(&self, off: u64, buf: &[u8]) -> Result {
        let dst = self.range(off, buf.len())?;
        // SAFETY: `dst..dst+len` is mapped pmem (checked by `range`) and `buf`
        // is valid for reads of `len` bytes; they do not overlap.
        unsafe { b::daxfs_memcpy_flushcache(dst.cast(), buf.as_ptr().cast(), buf.len()) };
        Ok(())
    }

    /// Writes back the CPU cache lines covering `len` bytes at `off`.
    #[allow(dead_code)]
    pub(crate) fn flush(&self, off: u64, len: usize) -> Result {
        let p = self.range(off, len)?;
        // SAFETY: the range is mapped pmem (checked by `range`).
        unsafe { b::daxfs_pmem_flush(p.cast(), len) };
        Ok(())
    }

    /// Zeroes `len` bytes at `off` (written back; durable after
    /// [`DaxDevice::fence`]).  Used on freshly allocated blocks before they
    /// become visible, so no stale data can be read or mapped.
    pub(crate) fn zero(&self, off: u64, len: u64) -> Result {
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        let p = self.range(off, len)?;
        // SAFETY: the range is mapped pmem (checked by `range`); callers only
        // zero blocks nothing else reads or maps yet.
        unsafe { b::daxfs_pmem_zero(p.cast(), len) };
        Ok(())
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
    }
}

impl Drop for DaxDevice {
    fn drop(&mut self) {
        // SAFETY: `dev` is the reference obtained in `open` with a NULL
        // holder (type invariant); it is released exactly once, here.
        unsafe { b::fs_put_dax(self.dev, core::ptr::null_mut()) };
    }
}
