// SPDX-License-Identifier: GPL-2.0
//! Mount: options, super block validation, the `FileSystem` vtable (which
//! dispatches to `namei`, `dir` and `inode`), statfs and show_options.
#![forbid(unsafe_code)]

use crate::format;
use crate::inode::{self, DInode, DaxInode};
use crate::kfs::{
    dax::DaxDevice,
    file::Falloc,
    iomap::{Mapping, Request},
    fs::{FileSystem, MemoryFailure, NewEntry, NewSuperBlock, Rename, StatFs, SuperBlock},
    inode::{DirEmitter, Time},
    param::{Constant, Param, Spec},
    seq::SeqFile,
};
use crate::meta::Store;
use crate::{data, dir, namei, orphan};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{prelude::*, sync::aref::ARef};

/// The daxfs filesystem type.
pub(crate) struct DaxFs;

/// How file data is accessed, as the `dax=` mount option selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum DaxMode {
    /// Every regular file uses DAX (`dax`, `dax=always`, and the default:
    /// daxfs has no page-cache I/O path at all).
    #[default]
    Always,
}

/// Parsed mount options.
#[derive(Default)]
pub(crate) struct MountOptions {
    dax: DaxMode,
}

/// A mounted daxfs.
pub(crate) struct SbInfo {
    pub(crate) store: Store,
    sb: format::SuperBlock,
    opts_dax: DaxMode,
    /// Mounted read-only now (changes with `mount -o remount,ro|rw`).
    read_only: AtomicBool,
}

impl SbInfo {
    /// Whether the filesystem is read-only now: nothing may be written.
    pub(crate) fn read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }
}

const OPT_DAX: u8 = 0;
const OPT_DAX_MODE: u8 = 1;

const DAX_ALWAYS: i32 = 0;
const DAX_NEVER: i32 = 1;
const DAX_INODE: i32 = 2;

static DAX_MODES: [Constant; 4] = [
    Constant::new(c"always", DAX_ALWAYS),
    Constant::new(c"never", DAX_NEVER),
    Constant::new(c"inode", DAX_INODE),
    Constant::END,
];

static PARAMS: [Spec; 3] = [
    Spec::flag(c"dax", OPT_DAX),
    Spec::enumerated(c"dax", OPT_DAX_MODE, &DAX_MODES),
    Spec::END,
];

fn sb_error(id: &CStr, e: format::SbError) -> Error {
    pr_err!("{:?}: {}; run fsck.daxfs\n", id, e.describe());
    if e.is_corruption() {
        EUCLEAN
    } else {
        EINVAL
    }
}

#[vtable]
impl FileSystem for DaxFs {
    const NAME: &'static CStr = c"daxfs";
    const MAGIC: u32 = format::STATFS_MAGIC;
    const BLOCK_SIZE: u32 = format::BLOCK_SIZE;
    const PARAMS: &'static [Spec] = &PARAMS;
    const MAX_BYTES: u64 = format::MAX_FILE_SIZE;

    type Options = MountOptions;
    type Info = SbInfo;
    type InodeData = DaxInode;

    fn parse_param(opts: &mut MountOptions, param: Param) -> Result {
        match (param.opt, param.value as i32) {
            (OPT_DAX, _) | (OPT_DAX_MODE, DAX_ALWAYS) => {
                opts.dax = DaxMode::Always;
                Ok(())
            }
            (OPT_DAX_MODE, DAX_NEVER) => {
                pr_err!("dax=never is not supported: daxfs has no page-cache I/O path, every file is DAX\n");
                Err(EINVAL)
            }
            (OPT_DAX_MODE, DAX_INODE) => {
                pr_err!("dax=inode is not supported: every daxfs file is DAX (use dax or dax=always)\n");
                Err(EINVAL)
            }
            _ => Err(EINVAL),
        }
    }

    fn fill_super(sb: &NewSuperBlock<'_, Self>, opts: &MountOptions) -> Result<SbInfo> {
        let (start, bytes) = (sb.device_start(), sb.device_bytes());
        if start % u64::from(format::BLOCK_SIZE) != 0 || bytes % u64::from(format::BLOCK_SIZE) != 0 {
            pr_err!(
                "{:?}: the partition (byte {}, {} bytes) does not start and end on a 4 KiB boundary: DAX cannot map it; align the partition (2 MiB for huge pages)\n",
                sb.id(),
                start,
                bytes
            );
            return Err(EINVAL);
        }
        let dev = sb.dax_device().inspect_err(|e| {
            pr_err!("{:?}: cannot use the device for DAX ({:?}); daxfs needs a pmem/fsdax device\n", sb.id(), e);
        })?;
        if dev.part_off() % (format::DATA_ALIGN_BLOCKS * u64::from(format::BLOCK_SIZE)) != 0 {
            pr_warn!(
                "{:?}: the partition starts {} KiB into the pmem device, not on a 2 MiB boundary: file data cannot be mapped with 2 MiB (PMD) pages\n",
                sb.id(),
                dev.part_off() >> 10
            );
        }
        let mut buf = [0u8; format::SB_SIZE];
        dev.read(format::SB_PRIMARY_OFFSET, &mut buf).inspect_err(|_| {
            pr_err!("{:?}: media error reading the superblock\n", sb.id());
        })?;
        let dsb = format::SuperBlock::parse(&buf, dev.len()).map_err(|e| sb_error(sb.id(), e))?;
        let read_only = sb.read_only();
        let store = Store::open(dev, dsb.geometry(), sb.id(), read_only, sb.device_read_only())?;
        pr_info!(
            "{:?}: mounted daxfs: {} blocks, {} inodes, dax=always{}\n",
            sb.id(),
            dsb.blocks,
            dsb.inodes,
            if read_only { ", read-only" } else { "" }
        );
        if !store.dev.is_holder() {
            pr_warn!(
                "{:?}: not the holder of the pmem device (another filesystem on it is): memory failures and the device's removal are not reported to this mount (docs/media-errors.md)\n",
                sb.id()
            );
        }
        Ok(SbInfo { store, sb: dsb, opts_dax: opts.dax, read_only: AtomicBool::new(read_only) })
    }

    fn root(sb: &SuperBlock<Self>) -> Result<ARef<DInode>> {
        if !sb.info().read_only() {
            orphan::process(sb)?;
        }
        let root = inode::iget(sb, format::ROOT_INO)?;
        if !root.is_dir() {
            pr_err!("{:?}: the root inode is not a directory; run fsck.daxfs\n", sb.id());
            return Err(EUCLEAN);
        }
        Ok(root)
    }

    fn lookup(dir: &DInode, name: &[u8]) -> Result<Option<ARef<DInode>>> {
        // After a shutdown nothing is read from the device (as XFS).
        if dir.super_block().info().store.is_shut_down() {
            return Err(EIO);
        }
        let found = dir.data().dir.lock().lookup(dir, name)?;
        match found {
            Some(f) => Ok(Some(inode::iget(dir.super_block(), f.ino)?)),
            None => Ok(None),
        }
    }

    fn create(dir: &DInode, name: Option<&[u8]>, new: &NewEntry<'_>) -> Result<ARef<DInode>> {
        namei::create(dir, name, new)
    }

    fn link(dir: &DInode, name: &[u8], target: &DInode) -> Result {
        namei::link(dir, name, target)
    }

    fn unlink(dir: &DInode, name: &[u8], victim: &DInode) -> Result {
        namei::unlink(dir, name, victim)
    }

    fn rmdir(dir: &DInode, name: &[u8], victim: &DInode) -> Result {
        namei::rmdir(dir, name, victim)
    }

    fn rename(r: &Rename<'_, Self>) -> Result {
        namei::rename(r)
    }

    fn readdir(d: &DInode, emit: &mut DirEmitter) -> Result {
        if d.super_block().info().store.is_shut_down() {
            return Err(EIO);
        }
        dir::readdir(d, emit)
    }

    fn get_link(i: &DInode) -> Result<&CStr> {
        i.data().link()
    }

    fn write_inode(i: &DInode) -> Result {
        inode::write_inode(i)
    }

    fn btime(i: &DInode) -> Option<Time> {
        let b = i.data().state.lock().disk.btime;
        Some(Time { sec: b.sec, nsec: b.nsec })
    }

    fn set_size(i: &DInode, size: u64) -> Result {
        data::set_size(i, size)
    }

    fn dax_device(sb: &SuperBlock<Self>) -> &DaxDevice {
        &sb.info().store.dev
    }

    fn iomap_begin(i: &DInode, pos: u64, len: u64, req: Request) -> Result<Mapping> {
        data::iomap_begin(i, pos, len, req)
    }

    fn iomap_end(i: &DInode, pos: u64, len: u64, written: u64, map: &Mapping) -> Result {
        data::iomap_end(i, pos, len, written, map)
    }

    fn prepare_extend(i: &DInode, old_size: u64) -> Result {
        data::drop_stale(i, old_size)
    }

    fn write_size(i: &DInode, size: u64) -> Result {
        data::write_size(i, size)
    }

    fn fallocate(i: &DInode, op: Falloc, off: u64, len: u64) -> Result {
        data::fallocate(i, op, off, len)
    }

    fn evict_inode(i: &DInode) {
        namei::evict(i)
    }

    fn reconfigure(sb: &SuperBlock<Self>, opts: &MountOptions, read_only: bool) -> Result {
        // The only option is the DAX mode, and it can only be `always`.
        match opts.dax {
            DaxMode::Always => {}
        }
        let info = sb.info();
        if read_only == info.read_only() {
            return Ok(());
        }
        if info.store.is_shut_down() {
            // (kfs refuses this already, as ext4 does.)
            return Err(EROFS);
        }
        if read_only {
            // rw -> ro: nothing is open for writing and all is synced (the
            // VFS checked, kfs synced).  From now on nothing is written (an
            // unlinked file closed while read-only stays on the orphan
            // list for the next read-write mount), so record a clean
            // state now, as a clean unmount does.
            info.read_only.store(true, Ordering::Release);
            info.store.set_clean(true).inspect_err(|_| info.read_only.store(false, Ordering::Release))
        } else {
            // ro -> rw: what a read-write mount does (the journal was
            // already replayed when it was mounted).  Eviction frees the
            // orphans only when not read-only; if that fails, the fs stays
            // read-only (the VFS keeps it so).
            info.store.set_clean(false)?;
            info.read_only.store(false, Ordering::Release);
            orphan::process(sb).inspect_err(|_| info.read_only.store(true, Ordering::Release))
        }
    }

    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs> {
        let info = sb.info();
        let d = &info.sb;
        let (bfree, ffree) = info.store.free_counts();
        let u = &d.uuid;
        let fsid = u64::from_le_bytes([u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]])
            ^ u64::from_le_bytes([u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]]);
        Ok(StatFs { blocks: d.blocks, bfree, bavail: bfree, files: d.inodes, ffree, namelen: 255, fsid })
    }

    fn shutdown(sb: &SuperBlock<Self>) -> bool {
        sb.info().store.shut_down()
    }

    fn notify_failure(sb: &SuperBlock<Self>, f: MemoryFailure) -> Result {
        crate::media::notify_failure(sb, f)
    }

    fn is_shut_down(sb: &SuperBlock<Self>) -> bool {
        sb.info().store.is_shut_down()
    }

    fn unmount(sb: &SuperBlock<Self>) {
        // Every inode is evicted by now (orphans freed): record a clean
        // unmount with exact free counts (not after a shutdown: the state
        // stays "not clean", so the next mount checks the orphan list).
        // A mount that failed never gets here and so writes nothing.
        let info = sb.info();
        if !info.read_only() && !info.store.is_shut_down() {
            if let Err(e) = info.store.set_clean(true) {
                pr_err!("{:?}: cannot mark the filesystem clean: {:?}\n", sb.id(), e);
            }
        }
    }

    fn show_options(sb: &SuperBlock<Self>, seq: &mut SeqFile) -> Result {
        match sb.info().opts_dax {
            DaxMode::Always => seq.write_str(",dax=always").map_err(|_| EINVAL),
        }
    }
}
