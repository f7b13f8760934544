// SPDX-License-Identifier: GPL-2.0
//! iomap: how the kernel's DAX engine (fs/dax.c) and the iomap helpers
//! (seek, fiemap, zeroing) ask a filesystem where file data lives.
//!
//! As in XFS (fs/xfs/xfs_iomap.c) there is one `struct iomap_ops` per
//! purpose, all calling [`FileSystem::iomap_begin`] with the [`Purpose`]
//! spelled out, so the filesystem never guesses from flag combinations:
//!
//! | table    | used by                                    | `iomap_end` |
//! |----------|--------------------------------------------|-------------|
//! | `READ`   | `read(2)`, read faults                     | no          |
//! | `WRITE`  | `write(2)`, shared write faults            | yes         |
//! | `ZERO`   | `dax_zero_range`/`dax_truncate_page`       | no          |
//! | `REPORT` | `SEEK_HOLE`/`SEEK_DATA`, `FIEMAP`          | no          |
//!
//! A [`Mapping`] says what covers `pos`: a hole, written blocks, or
//! allocated-but-unwritten blocks (read as zeroes).  For `Purpose::Write`
//! the filesystem must return written blocks (allocating and zeroing, or
//! converting unwritten ones), marking fresh ones `new` so the DAX engine
//! drops zero-page mappings of the former hole.

use super::bindings as b;
use super::fs::{FileSystem, SuperBlock};
use super::inode::Inode;
use core::{ffi::c_int, marker::PhantomData};
use kernel::prelude::*;

/// Why a range is being mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Reading data (read(2), read faults): never allocate.
    Read,
    /// Writing data (write(2), shared write faults): allocate or convert.
    Write,
    /// Zeroing part of a block (truncate, punch edges): never allocate;
    /// holes and unwritten blocks need no zeroing.
    Zero,
    /// Reporting the layout (seek, fiemap).
    Report,
}

/// A mapping request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub(crate) purpose: Purpose,
    /// The caller cannot sleep for allocation (`IOMAP_NOWAIT`): return
    /// `EAGAIN` instead of allocating.
    pub(crate) nowait: bool,
    /// A page fault (`IOMAP_FAULT`): the blocks are mapped into user space
    /// as soon as this returns, so fresh ones must be zeroed now.  Otherwise
    /// a `write(2)` with `i_rwsem` held copies its data in next.
    pub(crate) fault: bool,
}

/// What covers a file range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// No blocks: reads see zeroes.
    Hole,
    /// Written blocks at device byte `addr`.
    Mapped,
    /// Allocated blocks at `addr` that read as zeroes.
    Unwritten,
}

/// The answer to a [`Request`]: `[offset, offset + length)` of the file,
/// which must contain the requested position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapping {
    pub(crate) kind: Kind,
    /// File byte offset, block aligned.
    pub(crate) offset: u64,
    /// Bytes, a multiple of the block size.
    pub(crate) length: u64,
    /// Device byte offset (ignored for holes).
    pub(crate) addr: u64,
    /// Blocks allocated or converted by this request (`IOMAP_F_NEW`).
    pub(crate) new: bool,
    /// With `new`: the blocks were preallocated (unwritten) and converted
    /// by this request, not freshly allocated (kept in `IOMAP_F_PRIVATE`
    /// for `iomap_end`).
    pub(crate) converted: bool,
}

/// The per-purpose operation tables of filesystem `T`.
pub(crate) struct Ops<T: FileSystem>(PhantomData<T>);

const P_READ: u8 = 0;
const P_WRITE: u8 = 1;
const P_ZERO: u8 = 2;
const P_REPORT: u8 = 3;

impl<T: FileSystem> Ops<T> {
    pub(crate) const READ: b::iomap_ops = Self::table::<P_READ>(false);
    pub(crate) const WRITE: b::iomap_ops = Self::table::<P_WRITE>(true);
    #[cfg(not(daxfs_record))]
    pub(crate) const ZERO: b::iomap_ops = Self::table::<P_ZERO>(false);
    /// The recorder (test module) reads back what the DAX engine zeroed.
    #[cfg(daxfs_record)]
    pub(crate) const ZERO: b::iomap_ops =
        b::iomap_ops { iomap_begin: Some(begin_cb::<T, P_ZERO>), iomap_end: Some(end_cb::<T, P_ZERO>), iomap_next: None };
    pub(crate) const REPORT: b::iomap_ops = Self::table::<P_REPORT>(false);

    const fn table<const P: u8>(with_end: bool) -> b::iomap_ops {
        b::iomap_ops {
            iomap_begin: Some(begin_cb::<T, P>),
            iomap_end: if with_end && T::HAS_IOMAP_END { Some(end_cb::<T, P>) } else { None },
            iomap_next: None,
        }
    }
}

fn purpose(p: u8) -> Purpose {
    match p {
        P_WRITE => Purpose::Write,
        P_ZERO => Purpose::Zero,
        P_REPORT => Purpose::Report,
        _ => Purpose::Read,
    }
}

fn kind_to_raw(k: Kind) -> u16 {
    (match k {
        Kind::Hole => b::IOMAP_HOLE,
        Kind::Mapped => b::IOMAP_MAPPED,
        Kind::Unwritten => b::IOMAP_UNWRITTEN,
    }) as u16
}

unsafe extern "C" fn begin_cb<T: FileSystem, const P: u8>(
    inode: *mut b::inode,
    pos: i64,
    length: i64,
    flags: u32,
    iomap: *mut b::iomap,
    _srcmap: *mut b::iomap,
) -> c_int {
    // SAFETY: iomap calls this with a live inode of `T` (only our file
    // operations pass these tables) and an iomap to fill.
    let inode = unsafe { Inode::<T>::from_raw(inode) };
    let req = Request {
        purpose: purpose(P),
        nowait: flags & b::IOMAP_NOWAIT != 0,
        fault: flags & b::IOMAP_FAULT != 0,
    };
    if pos < 0 || length <= 0 {
        return EINVAL.to_errno();
    }
    let m = match T::iomap_begin(inode, pos as u64, length as u64, req) {
        Ok(m) => m,
        Err(e) => return e.to_errno(),
    };
    if m.offset > pos as u64 || m.offset + m.length <= pos as u64 {
        pr_err!("bug: iomap_begin({}, {}) returned {:?}\n", pos, length, m);
        return EIO.to_errno();
    }
    let sb: &SuperBlock<T> = inode.super_block();
    let dax = T::dax_device(sb);
    // The DAX engine (`IOMAP_DAX`) addresses the whole DAX device, on which
    // a partition starts `part_off` bytes in; everyone else (FIEMAP, seek)
    // gets offsets on the block device, as from ext4 and XFS.
    let addr = if m.kind == Kind::Hole {
        b::IOMAP_NULL_ADDR as u64
    } else if flags & b::IOMAP_DAX != 0 {
        match m.addr.checked_add(dax.part_off()) {
            Some(a) => a,
            None => return EIO.to_errno(),
        }
    } else {
        m.addr
    };
    // SAFETY: `iomap` is ours to fill; the DAX device and block device stay
    // valid while the super block is mounted (which the inode proves).
    unsafe {
        let io = &mut *iomap;
        io.addr = addr;
        io.offset = m.offset as i64;
        io.length = m.length;
        io.type_ = kind_to_raw(m.kind);
        io.flags = if m.new { b::IOMAP_F_NEW as u16 } else { 0 }
            | if m.converted { b::IOMAP_F_PRIVATE as u16 } else { 0 };
        io.bdev = b::daxfs_sb_bdev(sb.as_raw());
        io.dax_dev = dax.as_raw();
    }
    0
}

/// `iomap_end` of the `WRITE` table (and, in the recorder's test module,
/// of `ZERO`, only to record what was zeroed).
unsafe extern "C" fn end_cb<T: FileSystem, const P: u8>(
    inode: *mut b::inode,
    pos: i64,
    length: i64,
    written: isize,
    flags: u32,
    iomap: *mut b::iomap,
) -> c_int {
    // SAFETY: as in `begin_cb`; `iomap` is the mapping our begin returned.
    let (inode, io) = unsafe { (Inode::<T>::from_raw(inode), &*iomap) };
    let kind = match io.type_ as u32 {
        b::IOMAP_MAPPED => Kind::Mapped,
        b::IOMAP_UNWRITTEN => Kind::Unwritten,
        _ => Kind::Hole,
    };
    // Back to the filesystem's own device offsets (see `begin_cb`).
    let part_off = if flags & b::IOMAP_DAX != 0 { T::dax_device(inode.super_block()).part_off() } else { 0 };
    let addr = if kind == Kind::Hole { 0 } else { io.addr.wrapping_sub(part_off) };
    let m = Mapping {
        kind,
        offset: io.offset as u64,
        length: io.length,
        addr,
        new: io.flags & b::IOMAP_F_NEW as u16 != 0,
        converted: io.flags & b::IOMAP_F_PRIVATE as u16 != 0,
    };
    let written = written.max(0) as u64;
    // The recorder (test module): file data `write(2)` just copied in, or
    // `dax_zero_range`/`dax_truncate_page` just zeroed.
    #[cfg(daxfs_record)]
    if kind == Kind::Mapped && flags & (b::IOMAP_DAX | b::IOMAP_FAULT) == b::IOMAP_DAX {
        record_data::<T>(inode, pos as u64, written, &m);
    }
    if P == P_ZERO {
        return 0;
    }
    match T::iomap_end(inode, pos as u64, length as u64, written, &m) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Recorder (test module): records the `written` bytes at file position
/// `pos` of mapping `m` as file data stored by the DAX engine.
#[cfg(daxfs_record)]
fn record_data<T: FileSystem>(inode: &Inode<T>, pos: u64, written: u64, m: &Mapping) {
    if let Some(off) = pos.checked_sub(m.offset).and_then(|d| m.addr.checked_add(d)) {
        T::dax_device(inode.super_block()).record_data(off, written);
    }
}

/// Recorder (test module): `IOC_CAPTURE` on a file: records the written
/// blocks of file bytes `off..off+len` (arg: pointer to `{u64 off, u64 len}`)
/// as data events followed by a fence.  For stores user space made through a
/// `MAP_SYNC` mapping and flushed itself, which the kernel cannot see: the
/// workload calls it after its own flush and fence.
#[cfg(daxfs_record)]
pub(crate) fn record_capture<T: FileSystem>(inode: &Inode<T>, arg: usize) -> Result<i64> {
    use kernel::uaccess::{UserPtr, UserSlice};
    let mut req = UserSlice::new(UserPtr::from_addr(arg), 16).reader();
    let off: u64 = req.read()?;
    let len: u64 = req.read()?;
    let end = off.checked_add(len).ok_or(EINVAL)?;
    let dev = T::dax_device(inode.super_block());
    let mut pos = off;
    while pos < end {
        let r = Request { purpose: Purpose::Report, nowait: false, fault: false };
        let m = T::iomap_begin(inode, pos, end - pos, r)?;
        let stop = m.offset.checked_add(m.length).ok_or(EIO)?.min(end);
        if stop <= pos {
            return Err(EIO);
        }
        if m.kind == Kind::Mapped {
            record_data::<T>(inode, pos, stop - pos, &m);
        }
        pos = stop;
    }
    dev.fence();
    Ok(0)
}
