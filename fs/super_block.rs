// SPDX-License-Identifier: GPL-2.0
//! Mount: options, super block validation, statfs and show_options.
#![forbid(unsafe_code)]

use crate::format;
use crate::kfs::{
    dax::DaxDevice,
    fs::{FileSystem, NewSuperBlock, StatFs, SuperBlock},
    inode::{DirEmitter, Iget, Inode, InodeParams, Time, S_IFDIR},
    param::{Constant, Param, Spec},
    seq::SeqFile,
};
use kernel::sync::aref::ARef;
use core::fmt::Write;
use kernel::prelude::*;

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

/// Per-inode state (grows with the namespace code).
pub(crate) struct DaxInode {
    parent: u64,
}

const DT_DIR: u8 = 4;

/// A mounted daxfs.
pub(crate) struct SbInfo {
    dev: DaxDevice,
    sb: format::SuperBlock,
    opts_dax: DaxMode,
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

    type Options = MountOptions;
    type Info = SbInfo;
    type InodeData = DaxInode;

    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>> {
        match sb.iget(format::ROOT_INO)? {
            Iget::Cached(i) => Ok(i),
            Iget::New(new) => {
                let t = Time { sec: sb.info().sb.mkfs_time as i64, nsec: 0 };
                let params = InodeParams {
                    mode: S_IFDIR | 0o755,
                    nlink: 2,
                    atime: t,
                    mtime: t,
                    ctime: t,
                    ..Default::default()
                };
                new.init(&params, Ok::<_, Error>(DaxInode { parent: format::ROOT_INO }))
            }
        }
    }

    fn lookup(_dir: &Inode<Self>, _name: &[u8]) -> Result<Option<ARef<Inode<Self>>>> {
        Ok(None)
    }

    fn readdir(dir: &Inode<Self>, emit: &mut DirEmitter) -> Result {
        if emit.pos() == 0 {
            if !emit.emit(b".", dir.ino(), DT_DIR) {
                return Ok(());
            }
            emit.set_pos(1);
        }
        if emit.pos() == 1 {
            if !emit.emit(b"..", dir.data().parent, DT_DIR) {
                return Ok(());
            }
            emit.set_pos(2);
        }
        Ok(())
    }

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
        let dev = sb.dax_device().inspect_err(|e| {
            pr_err!("{:?}: cannot use the device for DAX ({:?}); daxfs needs a pmem/fsdax device\n", sb.id(), e);
        })?;
        let mut buf = [0u8; format::SB_SIZE];
        dev.read(format::SB_PRIMARY_OFFSET, &mut buf).inspect_err(|_| {
            pr_err!("{:?}: media error reading the superblock\n", sb.id());
        })?;
        let dsb = format::SuperBlock::parse(&buf, dev.len()).map_err(|e| sb_error(sb.id(), e))?;
        pr_info!(
            "{:?}: mounted daxfs: {} blocks of {} bytes, dax=always\n",
            sb.id(),
            dsb.blocks,
            format::BLOCK_SIZE
        );
        Ok(SbInfo { dev, sb: dsb, opts_dax: opts.dax })
    }

    fn reconfigure(_sb: &SuperBlock<Self>, opts: &MountOptions) -> Result {
        // The only option is the DAX mode, and it can only be `always`.
        match opts.dax {
            DaxMode::Always => Ok(()),
        }
    }

    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs> {
        let info = sb.info();
        let d = &info.sb;
        let free = d.free_blocks();
        let u = &d.uuid;
        let fsid = u64::from_le_bytes([u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]])
            ^ u64::from_le_bytes([u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]]);
        let _ = info.dev.len();
        Ok(StatFs {
            blocks: d.blocks,
            bfree: free,
            bavail: free,
            files: d.inodes,
            ffree: d.inodes.saturating_sub(1),
            namelen: 255,
            fsid,
        })
    }

    fn show_options(sb: &SuperBlock<Self>, seq: &mut SeqFile) -> Result {
        match sb.info().opts_dax {
            DaxMode::Always => seq.write_str(",dax=always").map_err(|_| EINVAL),
        }
    }
}
