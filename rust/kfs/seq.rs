// SPDX-License-Identifier: GPL-2.0
//! `struct seq_file` as a `core::fmt::Write` sink (for `show_options`).

use super::bindings as b;
use kernel::types::Opaque;

/// A `seq_file` being filled by a `->show_*` callback.
#[repr(transparent)]
pub(crate) struct SeqFile(Opaque<b::seq_file>);

impl SeqFile {
    /// # Safety
    ///
    /// `ptr` must point to a valid `seq_file` that stays valid and is not
    /// accessed by anyone else for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut b::seq_file) -> &'a mut SeqFile {
        // SAFETY: `SeqFile` is `repr(transparent)` over `Opaque<seq_file>`,
        // and the caller guarantees validity and exclusivity for `'a`.
        unsafe { &mut *ptr.cast::<SeqFile>() }
    }
}

impl core::fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `self.0.get()` is a valid `seq_file` (type invariant) and
        // `s` is valid for reads of `s.len()` bytes.  `seq_write` copies the
        // bytes (or marks the seq_file as overflowed, which the seq_file core
        // handles by retrying with a larger buffer), so its result is ignored
        // here as every other `->show_options` does.
        unsafe { b::seq_write(self.0.get(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}
