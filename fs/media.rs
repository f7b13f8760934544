// SPDX-License-Identifier: GPL-2.0
//! Memory failures the DAX device reports to its holder
//! (docs/media-errors.md): which files own a failed range, killing the
//! processes that map it, shutting down when metadata is lost, and the
//! device's removal.
//!
//! daxfs keeps no reverse map on pmem.  The owner of a block is found by
//! walking the extent maps of the inodes in the inode cache (the only ones
//! a process can map) and then, for blocks still unaccounted for, every
//! inode in use, loaded from pmem (a memory failure is rare; its cost is
//! that of reading the inode table and the extent chains once).
#![forbid(unsafe_code)]

use crate::format::{self, Extent};
use crate::inode::{self, DInode};
use crate::kfs::fs::{MemoryFailure, SuperBlock};
use crate::kfs::mem;
use crate::super_block::DaxFs;
use kernel::{alloc::KVVec, prelude::*};

const BS: u64 = format::BLOCK_SIZE as u64;
/// Pages handed to one `mf_dax_kill_procs` call (it does not reschedule).
const KILL_STEP: u64 = 1 << 16;

/// What the walk found in the failed block range.
struct Walk {
    first: u64,
    end: u64,
    /// Blocks of the range in use, and those whose owner was found.
    used: u64,
    found: u64,
    /// Inodes that own blocks of the range (not scanned twice).
    owners: KVec<u64>,
    /// Metadata (a directory or symlink block, an extent block) was hit.
    metadata: bool,
}

impl Walk {
    fn overlap(&self, pblk: u64, len: u64) -> Option<(u64, u64)> {
        let (a, z) = (pblk.max(self.first), pblk.saturating_add(len).min(self.end));
        (a < z).then_some((a, z))
    }
}

/// `notify_failure` of daxfs.
pub(crate) fn notify_failure(sb: &SuperBlock<DaxFs>, f: MemoryFailure) -> Result {
    if f.pre_remove() {
        return pre_remove(sb, f);
    }
    let store = &sb.info().store;
    let geo = store.geo;
    let first = f.off / BS;
    let end = f.off.saturating_add(f.len).div_ceil(BS).min(geo.blocks);
    if first < geo.data_start {
        pr_crit!(
            "{}: memory failure at byte {} (+{}) in the {}: metadata lost; shutting down (unmount, then fsck.daxfs; docs/media-errors.md)\n",
            store.name(),
            f.off,
            f.len,
            geo.area(first)
        );
        store.shut_down();
        return Err(EUCLEAN);
    }
    let mut w = Walk { first, end, used: 0, found: 0, owners: KVec::new(), metadata: false };
    for b in first..end {
        if store.block_in_use(b) {
            w.used += 1;
        }
    }
    if w.used == 0 {
        store.quarantine(first, end - first);
        pr_warn!(
            "{}: memory failure at byte {} (+{}): free blocks {}..{}; not allocated from now on\n",
            store.name(),
            f.off,
            f.len,
            first,
            end
        );
        return Ok(());
    }
    // The cached inodes: every file a process can have mapped.
    sb.for_each_cached_inode(|i| check(i, &mut w, f))?;
    // The rest, from pmem: owners that are not in memory.
    let mut ino = 1;
    while w.found < w.used && ino <= geo.inodes {
        if !w.owners.contains(&ino) && store.inode_in_use(ino)? {
            match inode::iget(sb, ino) {
                Ok(i) => check(&i, &mut w, f)?,
                Err(e) => pr_warn!("{}: memory failure scan: inode {} unreadable ({:?})\n", store.name(), ino, e),
            }
        }
        if ino % 1024 == 0 {
            mem::cond_resched();
        }
        ino += 1;
    }
    if w.found < w.used {
        pr_warn!(
            "{}: memory failure at byte {} (+{}): {} of {} blocks in use have no owner (run fsck.daxfs)\n",
            store.name(),
            f.off,
            f.len,
            w.used - w.found,
            w.used
        );
    }
    if w.metadata {
        pr_crit!("{}: metadata lost to a memory failure: shutting down (unmount, then fsck.daxfs; docs/media-errors.md)\n", store.name());
        store.shut_down();
        return Err(EUCLEAN);
    }
    Ok(())
}

/// Checks whether inode `i` owns blocks of the walk's range: file data is
/// reported and unmapped from the processes mapping it (`SIGBUS`);
/// directory, symlink and extent blocks are metadata.
fn check(i: &DInode, w: &mut Walk, f: MemoryFailure) -> Result {
    let name = i.super_block().info().store.name();
    // File ranges hit (file block, count, unwritten), collected under the
    // inode's state lock and handled after it.
    let mut hits: KVec<(u64, u64, bool)> = KVec::new();
    let mut leaf_hit = false;
    {
        let st = i.data().state.lock();
        for leaf in st.map.leaves() {
            if leaf.block != 0 && w.overlap(leaf.block, 1).is_some() {
                pr_crit!("{}: memory failure: extent block {} of inode {} lost\n", name, leaf.block, i.ino());
                w.metadata = true;
                w.found += 1;
                leaf_hit = true;
            }
        }
        for e in st.map.iter() {
            let e: &Extent = e;
            if let Some((a, z)) = w.overlap(e.pblk, u64::from(e.len)) {
                hits.push((u64::from(e.lblk) + (a - e.pblk), z - a, e.unwritten), GFP_KERNEL)?;
                w.found += z - a;
            }
        }
    }
    if leaf_hit || !hits.is_empty() {
        w.owners.push(i.ino(), GFP_KERNEL)?;
    }
    for &(lblk, n, unwritten) in hits.iter() {
        let (off, len) = (lblk * BS, n * BS);
        if !i.is_reg() {
            let what = if i.is_dir() { "directory" } else { "symlink" };
            pr_crit!("{}: memory failure: {} inode {} lost bytes {}..{}\n", name, what, i.ino(), off, off + len);
            w.metadata = true;
        } else if unwritten {
            pr_warn!("{}: memory failure: inode {} bytes {}..{} (preallocated, no data lost)\n", name, i.ino(), off, off + len);
        } else {
            pr_err!(
                "{}: memory failure: inode {} lost data at offset {} (+{}); processes mapping it get SIGBUS\n",
                name,
                i.ino(),
                off,
                len
            );
            if let Err(e) = i.kill_procs(lblk, n, f.flags) {
                pr_warn!("{}: inode {}: could not unmap the lost range: {:?}\n", name, i.ino(), e);
            }
        }
    }
    Ok(())
}

/// The device is about to be removed (`MF_MEM_PRE_REMOVE`): freeze (every
/// write and fault in flight finishes, mmap'ed data is written back while
/// the device still works), shut down, unmap every mapped file from the
/// processes mapping it (they get `SIGBUS`), and thaw: from then on
/// everything fails with `EIO` and the filesystem can be unmounted.
fn pre_remove(sb: &SuperBlock<DaxFs>, f: MemoryFailure) -> Result {
    let store = &sb.info().store;
    pr_crit!("{}: the pmem device is being removed: freezing and shutting down; unmount it\n", store.name());
    let frozen = sb.freeze_kernel();
    store.shut_down();
    let r = sb.for_each_cached_inode(|i| {
        if i.is_reg() && i.is_mapped() {
            // Only the blocks it has can be mapped: its extents, not every
            // page of its size (a sparse file may be terabytes long).
            let mut runs: KVVec<(u64, u64)> = KVVec::new();
            for e in i.data().state.lock().map.iter() {
                runs.push((u64::from(e.lblk), u64::from(e.len)), GFP_KERNEL)?;
            }
            for &(lblk, len) in runs.iter() {
                let mut at = lblk;
                while at < lblk + len {
                    let n = (lblk + len - at).min(KILL_STEP);
                    if let Err(e) = i.kill_procs(at, n, f.flags) {
                        pr_warn!("{}: inode {}: could not kill the processes mapping it: {:?}\n", store.name(), i.ino(), e);
                    }
                    at += n;
                    mem::cond_resched();
                }
            }
            if let Err(e) = i.invalidate_mappings() {
                pr_warn!("{}: inode {}: could not unmap it: {:?}\n", store.name(), i.ino(), e);
            }
        }
        Ok(())
    });
    sb.thaw_all(frozen);
    r
}
