// SPDX-License-Identifier: GPL-2.0
//! Regular files on DAX: `file_operations`, `vm_operations_struct` and
//! `address_space_operations` that plug a [`FileSystem`]'s iomap callbacks
//! into the kernel's DAX engine.  No page cache is used anywhere: data moves
//! between user memory and pmem by `dax_iomap_rw`, and mmap maps pmem pages
//! (PTE or 2 MiB PMD) through `dax_iomap_fault`.
//!
//! Locking (as ext4/XFS, see docs/locking.md):
//! * `read_iter` holds `i_rwsem` shared; `write_iter`, `fallocate` and
//!   truncate hold it exclusive.
//! * Faults hold the mapping's `invalidate_lock` shared across "look up or
//!   allocate blocks + insert the page table entry".
//! * Anything that removes or moves blocks (truncate down, punch, zero,
//!   collapse and insert range) takes `invalidate_lock` exclusive and calls
//!   `dax_break_layout` first, which waits until no DAX page of the range is
//!   pinned (e.g. by O_DIRECT or vmsplice), then unmaps the range; eviction
//!   calls `dax_break_layout_final`.

use super::bindings as b;
use super::fs::FileSystem;
use super::inode::Inode;
use super::iomap::Ops;
use core::{ffi::c_int, marker::PhantomData, ptr};
use kernel::{error::to_result, prelude::*};

/// `FOP_*` (include/linux/fs.h; `__force` casts bindgen cannot see).
/// RASYNC/WASYNC: reads and writes honour IOCB_NOWAIT (trylock, `EAGAIN`
/// instead of allocating), as XFS declares for its DAX files.
const FOP_BUFFER_RASYNC: u32 = 1 << 0;
const FOP_BUFFER_WASYNC: u32 = 1 << 1;
const FOP_MMAP_SYNC: u32 = 1 << 2;
/// `VM_FAULT_SIGBUS`, `VM_FAULT_NEEDDSYNC` (enum vm_fault_reason).
const VM_FAULT_SIGBUS: u32 = 0x000002;
const VM_FAULT_NEEDDSYNC: u32 = 0x002000;
const LLONG_MAX: i64 = i64::MAX;

/// What `fallocate(2)` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Falloc {
    /// Allocate (unwritten, reads as zeroes); extend the size unless `keep_size`.
    Allocate { keep_size: bool },
    /// Free the blocks of the range (size unchanged).
    PunchHole,
    /// Make the range read as zeroes, allocated; extend unless `keep_size`.
    ZeroRange { keep_size: bool },
    /// Remove the range and shift the rest of the file down.
    CollapseRange,
    /// Insert a hole at the offset, shifting the rest of the file up.
    InsertRange,
}

impl Falloc {
    fn from_mode(mode: i32) -> Result<Self> {
        let m = mode as u32;
        let keep = m & b::FALLOC_FL_KEEP_SIZE != 0;
        let op = m & !b::FALLOC_FL_KEEP_SIZE;
        Ok(match op {
            0 => Falloc::Allocate { keep_size: keep },
            b::FALLOC_FL_PUNCH_HOLE if keep => Falloc::PunchHole,
            b::FALLOC_FL_ZERO_RANGE => Falloc::ZeroRange { keep_size: keep },
            b::FALLOC_FL_COLLAPSE_RANGE if !keep => Falloc::CollapseRange,
            b::FALLOC_FL_INSERT_RANGE if !keep => Falloc::InsertRange,
            _ => return Err(EOPNOTSUPP),
        })
    }

    /// Whether blocks of the file may be freed or moved.
    fn changes_layout(self) -> bool {
        !matches!(self, Falloc::Allocate { .. })
    }
}

pub(crate) struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    pub(crate) const FILE_OPS: b::file_operations = {
        // SAFETY: all-zeroes is a valid `file_operations`.
        let mut o: b::file_operations = unsafe { core::mem::zeroed() };
        o.llseek = Some(llseek_cb::<T>);
        o.read_iter = Some(read_iter_cb::<T>);
        o.write_iter = Some(write_iter_cb::<T>);
        o.mmap_prepare = Some(mmap_prepare_cb::<T>);
        o.open = Some(open_cb);
        o.fsync = Some(fsync_cb::<T>);
        o.get_unmapped_area = Some(b::thp_get_unmapped_area);
        o.splice_read = Some(b::copy_splice_read);
        o.splice_write = Some(b::iter_file_splice_write);
        o.fallocate = Some(fallocate_cb::<T>);
        if T::HAS_SHUTDOWN {
            o.unlocked_ioctl = Some(super::fs::ioctl_cb::<T>);
            o.compat_ioctl = Some(b::compat_ptr_ioctl);
        }
        o.fop_flags = FOP_MMAP_SYNC | FOP_BUFFER_RASYNC | FOP_BUFFER_WASYNC;
        o
    };

    const VM_OPS: b::vm_operations_struct = {
        // SAFETY: all-zeroes is a valid `vm_operations_struct`.
        let mut o: b::vm_operations_struct = unsafe { core::mem::zeroed() };
        o.fault = Some(fault_cb::<T>);
        o.huge_fault = Some(huge_fault_cb::<T>);
        o.page_mkwrite = Some(fault_cb::<T>);
        o.pfn_mkwrite = Some(fault_cb::<T>);
        o
    };

    pub(crate) const AOPS: b::address_space_operations = {
        // SAFETY: all-zeroes is a valid `address_space_operations`.
        let mut o: b::address_space_operations = unsafe { core::mem::zeroed() };
        o.writepages = Some(writepages_cb::<T>);
        o.dirty_folio = Some(b::noop_dirty_folio);
        // Lets O_DIRECT opens succeed; DAX I/O is direct anyway.
        o.direct_IO = Some(b::noop_direct_IO);
        o
    };
}

/// Marks a new regular-file inode as DAX (`S_DAX`, DAX address space ops).
///
/// # Safety
/// `inode` must be a new inode of `T`, exclusively ours.
pub(crate) unsafe fn set_dax<T: FileSystem>(inode: *mut b::inode) {
    // SAFETY: per the contract; the table is a promoted `'static` constant.
    unsafe { b::daxfs_set_dax(inode, &Tables::<T>::AOPS) };
}

/// `i_rwsem` held for the guard's life.
struct InodeLock {
    inode: *mut b::inode,
    shared: bool,
}

impl InodeLock {
    /// # Safety
    /// `inode` must stay alive for the guard's life.
    unsafe fn new(inode: *mut b::inode, shared: bool, nowait: bool) -> Result<Self> {
        // SAFETY: per the contract.
        unsafe {
            if nowait {
                if !b::daxfs_inode_trylock(inode, shared) {
                    return Err(EAGAIN);
                }
            } else {
                b::daxfs_inode_lock(inode, shared);
            }
        }
        Ok(InodeLock { inode, shared })
    }
}

impl Drop for InodeLock {
    fn drop(&mut self) {
        // SAFETY: locked in `new`, the inode is alive (type invariant).
        unsafe { b::daxfs_inode_unlock(self.inode, self.shared) };
    }
}

/// The mapping's `invalidate_lock`, held for the guard's life.
struct InvalidateLock {
    inode: *mut b::inode,
    shared: bool,
}

impl InvalidateLock {
    /// # Safety
    /// `inode` must stay alive for the guard's life.
    unsafe fn new(inode: *mut b::inode, shared: bool) -> Self {
        // SAFETY: per the contract.
        unsafe { b::daxfs_invalidate_lock(inode, shared) };
        InvalidateLock { inode, shared }
    }
}

impl Drop for InvalidateLock {
    fn drop(&mut self) {
        // SAFETY: locked in `new`; the inode outlives the guard (contract
        // of `new`).
        unsafe { b::daxfs_invalidate_unlock(self.inode, self.shared) };
    }
}

impl<T: FileSystem> Inode<T> {
    /// Runs `f` with the mapping's `invalidate_lock` held exclusive: no
    /// fault is between looking up its blocks and mapping them.
    pub(crate) fn with_invalidate_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: `self` is a live inode for the whole call.
        let _il = unsafe { InvalidateLock::new(self.as_raw(), false) };
        f()
    }

    /// Zeroes `[pos, pos + len)` where it is backed by written blocks
    /// (holes and unwritten blocks already read as zeroes).
    pub(crate) fn dax_zero_range(&self, pos: u64, len: u64) -> Result {
        if len == 0 {
            return Ok(());
        }
        // SAFETY: live inode of `T`; the ZERO table maps through `T`.
        to_result(unsafe {
            b::dax_zero_range(self.as_raw(), pos as i64, len as i64, ptr::null_mut(), &Ops::<T>::ZERO)
        })
    }
}

/// Waits until no DAX page of bytes `[start, end)` is pinned and removes
/// their entries (the invalidate lock must be held exclusive).
fn break_layouts(inode: *mut b::inode, start: u64, end: u64) -> Result {
    if start >= end || start > LLONG_MAX as u64 {
        return Ok(());
    }
    // `dax_break_layout` takes an inclusive last byte (LLONG_MAX: to EOF).
    let last = (end - 1).min(LLONG_MAX as u64) as i64;
    // SAFETY: callers pass a live inode with the invalidate lock held.
    to_result(unsafe { b::daxfs_break_layouts(inode, start as i64, last) })
}

/// Unmaps bytes `[start, end)` from every page table and drops their DAX
/// entries, after `break_layouts`, so the filesystem may free or move the
/// blocks there.  Faults cannot map them again while the invalidate lock
/// is held exclusive.
fn unmap_range(inode: *mut b::inode, start: u64, end: u64) {
    let last = end.saturating_sub(1).min(LLONG_MAX as u64) as i64;
    // SAFETY: callers pass a live inode with the invalidate lock held.
    unsafe { b::truncate_pagecache_range(inode, start as i64, last) };
}

/// # Safety
/// `p` must be a live inode of `T`.
unsafe fn inode<'a, T: FileSystem>(p: *mut b::inode) -> &'a Inode<T> {
    // SAFETY: per the contract.
    unsafe { Inode::from_raw(p) }
}

unsafe extern "C" fn open_cb(inode: *mut b::inode, file: *mut b::file) -> c_int {
    // SAFETY: the VFS passes the inode and the file being opened.  Our I/O
    // paths honour IOCB_NOWAIT (trylock, no allocation), so RWF_NOWAIT works.
    unsafe {
        b::daxfs_file_set_nowait(file);
        b::generic_file_open(inode, file)
    }
}

unsafe extern "C" fn read_iter_cb<T: FileSystem>(iocb: *mut b::kiocb, to: *mut b::iov_iter) -> isize {
    // SAFETY: the VFS passes a live kiocb of an open file of ours.
    unsafe {
        if b::daxfs_iov_iter_count(to) == 0 {
            return 0;
        }
        let file = b::daxfs_iocb_file(iocb);
        let inode = b::daxfs_file_inode(file);
        let ret = {
            let _l = match InodeLock::new(inode, true, b::daxfs_iocb_nowait(iocb)) {
                Ok(l) => l,
                Err(e) => return e.to_errno() as isize,
            };
            b::dax_iomap_rw(iocb, to, &Ops::<T>::READ)
        };
        b::daxfs_file_accessed(file);
        ret
    }
}

unsafe extern "C" fn write_iter_cb<T: FileSystem>(iocb: *mut b::kiocb, from: *mut b::iov_iter) -> isize {
    // SAFETY: the VFS passes a live kiocb of an open file of ours.
    let ret = unsafe { do_write::<T>(iocb, from) };
    match ret {
        // SAFETY: as above; O_SYNC/O_DSYNC/RWF_SYNC handling.
        Ok(n) if n > 0 => unsafe { b::daxfs_generic_write_sync(iocb, n) },
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
/// `iocb` is a live kiocb of an open regular file of `T`; `from` its data.
unsafe fn do_write<T: FileSystem>(iocb: *mut b::kiocb, from: *mut b::iov_iter) -> Result<isize> {
    // SAFETY: per the contract.
    unsafe {
        let file = b::daxfs_iocb_file(iocb);
        let raw = b::daxfs_file_inode(file);
        let inode = inode::<T>(raw);
        let _l = InodeLock::new(raw, false, b::daxfs_iocb_nowait(iocb))?;
        let n = b::generic_write_checks(iocb, from);
        if n <= 0 {
            return Ok(n);
        }
        to_result(b::file_modified(file))?;
        let pos = b::daxfs_iocb_pos(iocb) as u64;
        let old = inode.size();
        if T::HAS_PREPARE_EXTEND && pos + b::daxfs_iov_iter_count(from) as u64 > old {
            T::prepare_extend(inode, old)?;
        }
        if pos > old {
            // The tail of the old last block may hold bytes written through
            // mmap past EOF: they must read as zeroes once inside the file.
            let bs = u64::from(T::BLOCK_SIZE);
            inode.dax_zero_range(old, pos.min(old.next_multiple_of(bs)) - old)?;
        }
        let done = b::dax_iomap_rw(iocb, from, &Ops::<T>::WRITE);
        if done > 0 {
            let end = pos + done as u64;
            if end > inode.size() {
                // Persist the new size before reporting the bytes written.
                T::write_size(inode, end)?;
                inode.set_size(end);
            }
        }
        Ok(done)
    }
}

unsafe extern "C" fn mmap_prepare_cb<T: FileSystem>(desc: *mut b::vm_area_desc) -> c_int {
    // SAFETY: the VFS passes the descriptor of a new mapping of our file.
    unsafe {
        let inode = inode::<T>(b::daxfs_file_inode((*desc).file));
        let dax = T::dax_device(inode.super_block()).as_raw();
        b::daxfs_dax_mmap_prepare(desc, dax, &Tables::<T>::VM_OPS)
    }
}

unsafe extern "C" fn huge_fault_cb<T: FileSystem>(vmf: *mut b::vm_fault, order: u32) -> u32 {
    // SAFETY: the MM passes a live fault on a VMA of our file, which holds a
    // reference to the file (and so the inode and super block).
    unsafe {
        let file = b::daxfs_vmf_file(vmf);
        let raw = b::daxfs_file_inode(file);
        let sb = (*raw).i_sb;
        let write = b::daxfs_vmf_shared_write(vmf);
        let mut pfn: usize = 0;
        let mut err: c_int = 0;
        if write {
            b::daxfs_sb_start_pagefault(sb);
            b::file_update_time(file);
        }
        let mut ret = {
            let _il = InvalidateLock::new(raw, true);
            let ops = if write { &Ops::<T>::WRITE } else { &Ops::<T>::READ };
            let mut r = b::dax_iomap_fault(vmf, order, &mut pfn, &mut err, ops);
            if write && r & VM_FAULT_NEEDDSYNC != 0 {
                r = b::dax_finish_sync_fault(vmf, order, pfn);
            }
            r
        };
        if write {
            b::daxfs_sb_end_pagefault(sb);
        }
        if ret == 0 && err != 0 {
            ret = VM_FAULT_SIGBUS;
        }
        ret
    }
}

unsafe extern "C" fn fault_cb<T: FileSystem>(vmf: *mut b::vm_fault) -> u32 {
    // SAFETY: same contract as `huge_fault_cb`.
    unsafe { huge_fault_cb::<T>(vmf, 0) }
}

unsafe extern "C" fn writepages_cb<T: FileSystem>(
    mapping: *mut b::address_space,
    wbc: *mut b::writeback_control,
) -> c_int {
    // SAFETY: writeback passes a live mapping of one of our inodes.
    unsafe {
        let inode = inode::<T>((*mapping).host);
        let dax = T::dax_device(inode.super_block()).as_raw();
        b::dax_writeback_mapping_range(mapping, dax, wbc)
    }
}

unsafe extern "C" fn fsync_cb<T: FileSystem>(file: *mut b::file, start: i64, end: i64, _datasync: c_int) -> c_int {
    // SAFETY: the VFS passes an open file of ours.
    unsafe {
        let raw = b::daxfs_file_inode(file);
        if T::is_shut_down(inode::<T>(raw).super_block()) {
            return EIO.to_errno();
        }
        // Write back (flush CPU caches of) pmem pages dirtied through mmap.
        // Metadata needs nothing more: every allocation, size change and
        // inode update was committed to the journal before it returned.
        let r = b::file_write_and_wait_range(file, start, end);
        // write(2) stored data with non-temporal stores: order them (and
        // the flushes above) before fsync returns.  Through the device, so
        // the crash-state recorder sees it.
        T::dax_device(inode::<T>(raw).super_block()).fence();
        r
    }
}

unsafe extern "C" fn llseek_cb<T: FileSystem>(file: *mut b::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: the VFS passes an open file of ours.
    unsafe {
        let raw = b::daxfs_file_inode(file);
        let maxbytes = (*(*raw).i_sb).s_maxbytes;
        let whence_u = whence as u32;
        if whence_u != b::SEEK_HOLE && whence_u != b::SEEK_DATA {
            return b::generic_file_llseek_size(file, offset, whence, maxbytes, b::daxfs_i_size_read(raw));
        }
        let pos = {
            let _l = match InodeLock::new(raw, true, false) {
                Ok(l) => l,
                Err(e) => return e.to_errno() as i64,
            };
            if whence_u == b::SEEK_HOLE {
                b::iomap_seek_hole(raw, offset, &Ops::<T>::REPORT)
            } else {
                b::iomap_seek_data(raw, offset, &Ops::<T>::REPORT)
            }
        };
        if pos < 0 {
            return pos;
        }
        b::vfs_setpos(file, pos, maxbytes)
    }
}

/// `->fiemap` of regular files.
pub(crate) unsafe extern "C" fn fiemap_cb<T: FileSystem>(
    raw: *mut b::inode,
    info: *mut b::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    // SAFETY: the VFS passes a live inode of ours and the request.
    unsafe {
        let _l = match InodeLock::new(raw, true, false) {
            Ok(l) => l,
            Err(e) => return e.to_errno(),
        };
        b::iomap_fiemap(raw, info, start, len, &Ops::<T>::REPORT)
    }
}

unsafe extern "C" fn fallocate_cb<T: FileSystem>(file: *mut b::file, mode: c_int, offset: i64, len: i64) -> isize {
    let r = (|| -> Result {
        let op = Falloc::from_mode(mode)?;
        if !T::HAS_FALLOCATE {
            return Err(EOPNOTSUPP);
        }
        // SAFETY: the VFS passes an open file of ours (rw_verify_area and
        // the mode/size checks of vfs_fallocate already ran).
        unsafe {
            let raw = b::daxfs_file_inode(file);
            let inode = inode::<T>(raw);
            let _l = InodeLock::new(raw, false, false)?;
            to_result(b::file_modified(file))?;
            let (off, len) = (offset as u64, len as u64);
            if op.changes_layout() {
                let _il = InvalidateLock::new(raw, false);
                let end = match op {
                    Falloc::CollapseRange | Falloc::InsertRange => u64::MAX,
                    _ => off.saturating_add(len),
                };
                break_layouts(raw, off, end)?;
                unmap_range(raw, off, end);
                T::fallocate(inode, op, off, len)
            } else {
                T::fallocate(inode, op, off, len)
            }
        }
    })();
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno() as isize,
    }
}

/// Changes the size of a regular file (`setattr` with `ATTR_SIZE`; the VFS
/// holds `i_rwsem`).  Shrinking: break layouts and unmap past the new end,
/// set `i_size`, let `T` free the blocks and persist the size, and only
/// then zero the rest of the new last block, so that a truncate that fails
/// (`T::set_size` restores `i_size` when it changed nothing) destroys no
/// data.  Growing: zero the tail of the old last block first (bytes past
/// EOF that mmap may have written), then the same.
pub(crate) fn truncate<T: FileSystem>(inode: &Inode<T>, new: u64) -> Result {
    let raw = inode.as_raw();
    // SAFETY: `inode` is borrowed for longer than the guard lives.
    let _il = unsafe { InvalidateLock::new(raw, false) };
    let bs = u64::from(T::BLOCK_SIZE);
    let old = inode.size();
    if new < old {
        break_layouts(raw, new & !(bs - 1), u64::MAX)?;
    } else {
        inode.dax_zero_range(old, new.min(old.next_multiple_of(bs)) - old)?;
    }
    // SAFETY: live inode, `i_rwsem` and the invalidate lock held; sets
    // `i_size` and unmaps everything past it.
    unsafe { b::truncate_setsize(raw, new as i64) };
    T::set_size(inode, new)?;
    if new < old && new % bs != 0 {
        // SAFETY: as above; zeroes `new` to the end of its block, which
        // `set_size` kept.
        to_result(unsafe { b::dax_truncate_page(raw, new as i64, ptr::null_mut(), &Ops::<T>::ZERO) })?;
    }
    Ok(())
}

/// Before a DAX inode leaves memory: wait for pinned pages, drop entries.
///
/// # Safety
/// `inode` is being evicted.
pub(crate) unsafe fn evict_dax(inode: *mut b::inode) {
    // SAFETY: per the contract (no-op for non-DAX mappings).
    unsafe { b::dax_break_layout_final(inode) };
}
