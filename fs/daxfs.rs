// SPDX-License-Identifier: GPL-2.0
//! daxfs: a DAX filesystem for persistent memory (module `dax_fs`).
//!
//! Crate root.  The filesystem lives in the modules below, each of which
//! has `#![forbid(unsafe_code)]`; everything that touches C goes through the safe
//! abstractions in `rust/kfs/` (compiled into this module).

#[path = "../rust/kfs/mod.rs"]
mod kfs;

// Shared with the userspace tools: its `pub` items and the encoder serve them.
#[allow(dead_code, unreachable_pub)]
mod format;
#[allow(dead_code, unreachable_pub)]
mod extents;
#[allow(dead_code, unreachable_pub)]
mod extmap;
#[allow(dead_code, unreachable_pub)]
mod alloc;
mod data;
mod dir;
mod inode;
mod media;
mod meta;
mod namei;
mod orphan;
mod super_block;

use kernel::prelude::*;

module! {
    type: DaxFsModule,
    name: "dax_fs",
    authors: ["daxfs developers"],
    description: "daxfs: a DAX filesystem for persistent memory",
    license: "GPL",
    alias: ["fs-daxfs"],
    params: {
        crash_after_commit: u32 {
            default: 0,
            description: "Testing only: after this many journal commits of a mount, stop as if power failed (committed, not applied; later commits fail with EIO)",
        },
    },
}

/// Fault injection for the journal-replay test (0 = off).
pub(crate) fn crash_after_commit() -> u32 {
    module_parameters::crash_after_commit.value()
}

/// The filesystem type, registered as "daxfs".
static DAXFS_TYPE: kfs::fs::FsType<super_block::DaxFs> = kfs::fs::FsType::new();

struct DaxFsModule {
    _fs: kfs::fs::Registration<super_block::DaxFs>,
}

#[cfg(daxfs_record)]
impl Drop for DaxFsModule {
    fn drop(&mut self) {
        kfs::record::exit();
    }
}

impl kernel::Module for DaxFsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        #[cfg(daxfs_record)]
        kfs::record::init();
        let fs = kfs::fs::Registration::register(&DAXFS_TYPE, module)?;
        pr_info!("daxfs registered (on-disk format version {})\n", format::VERSION);
        Ok(DaxFsModule { _fs: fs })
    }
}
