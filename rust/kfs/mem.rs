// SPDX-License-Identifier: GPL-2.0
//! Zeroed byte buffers at `memset` speed.
//!
//! `Vec::from_elem(0u8, n)` and `Vec::resize` store the bytes one at a time
//! (the kernel's `extend_with` clones element by element): zeroing 4 KiB
//! block buffers that way was 9% of a mkdir/rmdir profile (16% of the busy
//! time).

use kernel::alloc::{Allocator, Flags};
use kernel::prelude::*;

/// Appends `n` zero bytes to `v`.
pub(crate) fn extend_zeroed<A: Allocator>(v: &mut Vec<u8, A>, n: usize, flags: Flags) -> Result {
    v.reserve(n, flags)?;
    let len = v.len();
    // SAFETY: `reserve` made room for `n` more bytes after `len`, so the
    // `write_bytes` stays inside the allocation; the bytes are initialised
    // (zero, a valid `u8`) before the length covers them.
    unsafe {
        core::ptr::write_bytes(v.as_mut_ptr().add(len), 0, n);
        v.inc_len(n);
    }
    Ok(())
}

/// A new `KVec` of `n` zero bytes (`GFP_KERNEL`).
pub(crate) fn zeroed_kvec(n: usize) -> Result<KVec<u8>> {
    let mut v = KVec::new();
    extend_zeroed(&mut v, n, GFP_KERNEL)?;
    Ok(v)
}

/// A new `KVVec` of `n` zero bytes (`GFP_KERNEL`; vmalloc when large).
pub(crate) fn zeroed_kvvec(n: usize) -> Result<KVVec<u8>> {
    let mut v = KVVec::new();
    extend_zeroed(&mut v, n, GFP_KERNEL)?;
    Ok(v)
}

/// Lets the scheduler run something else (`cond_resched`) in a long loop.
pub(crate) fn cond_resched() {
    // SAFETY: plain call; the callers hold no spinlock.
    unsafe { super::bindings::daxfs_cond_resched() };
}
