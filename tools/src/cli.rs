// SPDX-License-Identifier: GPL-2.0
//! Command line and output helpers shared by the tools.

use std::fmt;
use std::process;

use crate::uuid::Hyphenated;
use crate::{SuperBlock, BLOCK_SHIFT};

/// Parses the command line into `T`. `--help` and `--version` print and exit
/// with 0; a usage error is printed on stderr, prefixed with the program
/// name, and exits with `usage_code`.
pub fn parse_args<T: clap::Parser>(usage_code: u8) -> T {
    T::try_parse().unwrap_or_else(|e| {
        if !e.use_stderr() {
            let _ = e.print();
            process::exit(0);
        }
        eprint!("{}: {e}", T::command().get_name());
        process::exit(usage_code.into())
    })
}

/// Human readable description of a superblock, one `key: value` per line.
pub struct Summary<'a>(pub &'a SuperBlock);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sb = self.0;
        let mib = sb.blocks >> (20 - BLOCK_SHIFT);
        writeln!(
            f,
            "size:   {} blocks of {} bytes ({mib} MiB)",
            sb.blocks, sb.block_size
        )?;
        writeln!(f, "free:   {} blocks", sb.free_blocks())?;
        writeln!(f, "inodes: {}", sb.inodes)?;
        writeln!(f, "journal: {} blocks", sb.journal_blocks)?;
        writeln!(f, "uuid:   {}", Hyphenated(&sb.uuid))?;
        write!(f, "label:  {:?}", String::from_utf8_lossy(sb.label_bytes()))
    }
}
