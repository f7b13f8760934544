// SPDX-License-Identifier: GPL-2.0
//! Mount parameter tables (`struct fs_parameter_spec`, `struct constant_table`)
//! built in `const` context, so a filesystem declares them as plain statics:
//!
//! ```ignore
//! static DAX_MODES: [Constant; 4] = [
//!     Constant::new(c"always", 0), Constant::new(c"never", 1),
//!     Constant::new(c"inode", 2), Constant::END,
//! ];
//! static PARAMS: [Spec; 3] = [
//!     Spec::flag(c"dax", 0), Spec::enumerated(c"dax", 1, &DAX_MODES), Spec::END,
//! ];
//! ```

use super::bindings as b;
use core::ffi::CStr;

/// One entry of an enumeration table for [`Spec::enumerated`].
#[repr(transparent)]
pub(crate) struct Constant(b::constant_table);

// SAFETY: a `Constant` only holds a pointer to a `'static` NUL-terminated
// string and an integer; it is never mutated, so sharing it is sound.
unsafe impl Sync for Constant {}

impl Constant {
    /// `name` maps to `value`.
    pub(crate) const fn new(name: &'static CStr, value: i32) -> Self {
        Constant(b::constant_table { name: name.as_ptr().cast(), value })
    }

    /// The terminating entry every table must end with.
    pub(crate) const END: Self = Constant(b::constant_table { name: core::ptr::null(), value: 0 });
}

/// One mount parameter.
#[repr(transparent)]
pub(crate) struct Spec(b::fs_parameter_spec);

// SAFETY: a `Spec` only holds pointers to `'static` immutable data (the name
// and, for enumerations, a `'static` table of `Constant`s) and a pointer to a
// kernel function; it is never mutated, so sharing it is sound.
unsafe impl Sync for Spec {}

impl Spec {
    const fn raw(name: &'static CStr, opt: u8, ty: b::fs_param_type, data: *const core::ffi::c_void) -> Self {
        let name = name.as_ptr().cast();
        Spec(b::fs_parameter_spec { name, type_: ty, opt, flags: 0, data })
    }

    /// A flag without a value (`-o NAME`).
    pub(crate) const fn flag(name: &'static CStr, opt: u8) -> Self {
        Self::raw(name, opt, None, core::ptr::null())
    }

    /// `-o NAME=VALUE` where VALUE is one of the names in `table`
    /// (which must end with [`Constant::END`]).
    pub(crate) const fn enumerated(name: &'static CStr, opt: u8, table: &'static [Constant]) -> Self {
        Self::raw(name, opt, Some(b::fs_param_is_enum), table.as_ptr().cast())
    }

    /// The terminating entry every parameter table must end with.
    pub(crate) const END: Self = Spec(b::fs_parameter_spec {
        name: core::ptr::null(),
        type_: None,
        opt: 0,
        flags: 0,
        data: core::ptr::null(),
    });

    pub(crate) fn is_end(&self) -> bool {
        self.0.name.is_null()
    }
}

/// A parsed mount parameter, as `fs_parse()` returns it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Param {
    /// The `opt` number of the matching [`Spec`].
    pub(crate) opt: u8,
    /// For enumerations: the value of the matching [`Constant`].
    pub(crate) value: u32,
}
