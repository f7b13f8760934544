// SPDX-License-Identifier: GPL-2.0
//! The daxfs on-disk format, shared with the kernel module, plus the helpers
//! the userspace tools have in common.
//!
//! The format is `fs/format.rs`, included as is: this crate never redefines it.
//! Without the default `std` feature the crate is `no_std`, exactly like the
//! kernel build of that file.

#![cfg_attr(not(feature = "std"), no_std)]

#[path = "../../fs/format.rs"]
mod format;
pub use format::*;

/// Editing extent maps (`fs/extents.rs`, shared with the module).
#[path = "../../fs/extents.rs"]
pub mod extents;

/// Extent maps as leaves (`fs/extmap.rs`, shared with the module).
#[path = "../../fs/extmap.rs"]
pub mod extmap;

/// Block placement (`fs/alloc.rs`, shared with the module).
#[path = "../../fs/alloc.rs"]
pub mod alloc;

pub mod uuid;

#[cfg(feature = "std")]
pub mod check;
#[cfg(feature = "std")]
pub mod cli;
#[cfg(feature = "std")]
pub mod crash;
#[cfg(feature = "std")]
pub mod db;
#[cfg(feature = "std")]
pub mod dev;
#[cfg(feature = "std")]
pub mod fuzz;
#[cfg(feature = "std")]
pub mod image;

#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod extents_tests;
#[cfg(test)]
mod alloc_tests;
#[cfg(test)]
mod extmap_tests;
