// SPDX-License-Identifier: GPL-2.0
//! `kfs`: safe Rust abstractions over the kernel's VFS, fs_context/fs_parser
//! and DAX interfaces, built the way `rust/kernel/block/mq` is: one `#[vtable]`
//! trait per C operations table, typed handles, and every `unsafe` block in this
//! directory carrying a `// SAFETY:` comment.  The filesystem in `fs/` uses
//! only these safe interfaces (`#![forbid(unsafe_code)]` there).
//!
//! The abstractions are compiled into the module against a pristine kernel
//! tree; their C types come from the module's own bindgen run (see `Kbuild`
//! and `docs/build.md`).

pub(crate) mod bindings;
pub(crate) mod dax;
pub(crate) mod file;
pub(crate) mod fs;
pub(crate) mod inode;
pub(crate) mod iomap;
pub(crate) mod mem;
pub(crate) mod namei;
pub(crate) mod param;
pub(crate) mod seq;
#[cfg(daxfs_record)]
pub(crate) mod record;
