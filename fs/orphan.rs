// SPDX-License-Identifier: GPL-2.0
//! The orphan list (docs/consistency.md): inodes whose on-pmem state is
//! not final and that mount must finish after a crash.
//!
//! * nlink 0: unlinked while open (or an `O_TMPFILE`), or being freed in
//!   bounded steps by eviction: mount frees it entirely.
//! * nlink > 0: a truncate that frees more than one transaction can was in
//!   progress (its size is already the new one): mount frees every block
//!   past the block holding EOF and takes it off the list.
//!
//! The list starts at the state block's `orphan_head` and is chained
//! through each inode's `orphan_next`, changed only inside transactions.
#![forbid(unsafe_code)]

use crate::format;
use crate::inode::{self, log_inode_linked};
use crate::kfs::fs::SuperBlock;
use crate::meta::Tx;
use crate::super_block::DaxFs;
use kernel::prelude::*;

/// Puts inode `ino` (image `d`) on the orphan list.
pub(crate) fn add(tx: &mut Tx<'_>, ino: u64, d: &format::Inode) -> Result {
    let head = tx.orphan_head();
    log_inode_linked(tx, ino, d, head)?;
    tx.set_orphan_head(ino);
    Ok(())
}

/// Takes inode `ino` (image `d`) off the orphan list, walking it on pmem.
pub(crate) fn remove(tx: &mut Tx<'_>, ino: u64, d: &format::Inode) -> Result {
    let next = inode::orphan_next(tx, ino)?;
    log_inode_linked(tx, ino, d, 0)?;
    if tx.orphan_head() == ino {
        tx.set_orphan_head(next);
        return Ok(());
    }
    let mut cur = tx.orphan_head();
    let mut steps = 0u64;
    while cur != 0 {
        let off = tx.geo().inode_offset(cur).ok_or(EUCLEAN)?;
        let mut buf = [0u8; format::INODE_SIZE];
        tx.read(off, &mut buf)?;
        let c = format::Inode::decode(&buf).map_err(|_| EUCLEAN)?;
        if c.orphan_next == ino {
            return log_inode_linked(tx, cur, &c, next);
        }
        cur = c.orphan_next;
        steps += 1;
        if steps > tx.geo().inodes {
            break;
        }
    }
    pr_err!("inode {} missing from the orphan list\n", ino);
    Err(EUCLEAN)
}

/// The orphan link of inode `ino` on pmem, for `check`: `None` when the
/// number is out of range or the slot does not decode.
fn next_of(sb: &SuperBlock<DaxFs>, ino: u64) -> Option<u64> {
    let store = &sb.info().store;
    let off = store.geo.inode_offset(ino)?;
    let mut buf = [0u8; format::INODE_SIZE];
    store.dev.read(off, &mut buf).ok()?;
    format::Inode::decode(&buf).ok().map(|d| d.orphan_next)
}

/// Walks the list before anything is changed (tortoise and hare, no
/// memory): a loop or a member that cannot be read refuses the mount with
/// nothing freed, as fsck reports it.
fn check(sb: &SuperBlock<DaxFs>, head: u64) -> Result {
    let bad = |what: &str, ino: u64| {
        pr_err!("{:?}: orphan list: {} at inode {}; run fsck.daxfs\n", sb.id(), what, ino);
        EUCLEAN
    };
    let (mut slow, mut fast) = (head, head);
    loop {
        for _ in 0..2 {
            if fast == 0 {
                return Ok(());
            }
            fast = next_of(sb, fast).ok_or_else(|| bad("unreadable member", fast))?;
        }
        slow = next_of(sb, slow).ok_or_else(|| bad("unreadable member", slow))?;
        if slow != 0 && slow == fast {
            return Err(bad("loop", slow));
        }
    }
}

/// Finishes every inode left on the orphan list by a crash (mount time):
/// frees the unlinked ones, completes the truncates of the linked ones.
pub(crate) fn process(sb: &SuperBlock<DaxFs>) -> Result {
    let store = &sb.info().store;
    check(sb, store.orphan_head())?;
    let (mut freed, mut truncated) = (0u64, 0u64);
    loop {
        let head = store.orphan_head();
        if head == 0 {
            break;
        }
        if freed + truncated >= store.geo.inodes {
            pr_err!("{:?}: orphan list does not end; run fsck.daxfs\n", sb.id());
            return Err(EUCLEAN);
        }
        let i = inode::iget(sb, head)?;
        if i.nlink() != 0 && i.is_reg() {
            crate::data::finish_truncate(&i, true)?;
            truncated += 1;
        } else if i.nlink() != 0 {
            // Only a regular file is ever truncated: nothing to finish
            // (only a damaged image has such a member); as fsck does.
            let mut tx = store.begin();
            let d = i.data().state.lock().disk;
            remove(&mut tx, head, &d)?;
            tx.commit()?;
        } else {
            // Dropping the last reference evicts it: nlink is 0.
            freed += 1;
        }
        drop(i);
        if store.orphan_head() == head {
            pr_err!("{:?}: cannot finish orphan inode {}; run fsck.daxfs\n", sb.id(), head);
            return Err(EUCLEAN);
        }
    }
    if freed + truncated > 0 {
        pr_info!("{:?}: freed {} orphan inode(s), finished {} truncate(s)\n", sb.id(), freed, truncated);
    }
    Ok(())
}
