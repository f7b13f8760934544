// SPDX-License-Identifier: GPL-2.0
//! Memory failures the DAX device reports to its holder
//! (docs/media-errors.md): which files own a failed range, killing the
//! processes that map it, shutting down when metadata is lost, and the
//! device's removal.
//!
//! daxfs keeps no reverse map on pmem.  The owner of a block is found by
//! walking the extent maps of the inodes in the inode cache (the only ones
//! a process can map) and then, for blocks still unaccounted for, every
//! inode in use, read from pmem without entering the inode cache (a memory
//! failure is rare; its cost is that of reading the inode table and the
//! extent chains once).
#![forbid(unsafe_code)]

use crate::alloc::{set_bit, test_bit};
use crate::format::{self, Extent};
use crate::inode::{self, DInode, Map};
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
    if first >= end {
        // Past the filesystem's end (inside its partition): not ours.
        return Err(EOPNOTSUPP);
    }
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
    // Remembered either way: free blocks are kept out of allocation now,
    // blocks in use once their file frees them.  If that fails, the
    // kernel's generic handler unmaps the page from whoever maps it.
    let used = store.poisoned(first, end).map_err(|_| EOPNOTSUPP)?;
    let mut w = Walk { first, end, used, found: 0, owners: KVec::new(), metadata: false };
    if w.used == 0 {
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
    let r = walk(sb, &mut w, f);
    if w.found < w.used {
        // Blocks freed since they were counted are no loss.
        let now = store.in_use(first, end).unwrap_or(w.used);
        if w.found < now {
            pr_warn!(
                "{}: memory failure at byte {} (+{}): {} of {} blocks in use have no owner (run fsck.daxfs)\n",
                store.name(),
                f.off,
                f.len,
                now - w.found,
                now
            );
        }
    }
    if w.metadata {
        pr_crit!("{}: metadata lost to a memory failure: shutting down (unmount, then fsck.daxfs; docs/media-errors.md)\n", store.name());
        store.shut_down();
        return Err(EUCLEAN);
    }
    r
}

/// Finds the owners of the walk's blocks and reports what they lost.
fn walk(sb: &SuperBlock<DaxFs>, w: &mut Walk, f: MemoryFailure) -> Result {
    let store = &sb.info().store;
    // The cached inodes: every file a process can have mapped.  On an
    // error (out of memory) the kernel's generic handler still unmaps the
    // page from whoever maps it.
    // One bit per inode number: which ones the cached walk saw.
    let words = usize::try_from(store.geo.inodes.div_ceil(64)).map_err(|_| EOPNOTSUPP)?;
    let mut cached: KVVec<u64> = KVVec::from_elem(0u64, words, GFP_KERNEL).map_err(|_| EOPNOTSUPP)?;
    sb.for_each_cached_inode(|i| {
        if let Some(n) = i.ino().checked_sub(1) {
            set_bit(&mut cached, n, true);
        }
        let hits = {
            let st = i.data().state.lock();
            scan(&st.map, i.ino(), w, name_of(i))?
        };
        report(store.name(), i.ino(), kind(i.is_reg(), i.is_dir()), &hits, w, Some((i, f.flags)))
    })
    .map_err(|_| EOPNOTSUPP)?;
    // The rest: owners nobody has open (so nobody maps them), read from
    // pmem without loading them into the inode cache, each under the
    // metadata mutex (pmem then holds applied transactions only).
    let mut ino = 1;
    while w.found < w.used && ino <= store.geo.inodes && !store.is_shut_down() {
        if !test_bit(&cached, ino - 1) && !w.owners.contains(&ino) {
            let got = store.with_meta_lock(|| -> Result<Option<(format::Inode, Map)>> {
                if !store.inode_in_use(ino)? {
                    return Ok(None);
                }
                inode::read_on_pmem(sb, ino).map(Some)
            });
            match got {
                Ok(Some((d, map))) => {
                    let hits = scan(&map, ino, w, store.name())?;
                    let t = d.file_type();
                    report(store.name(), ino, kind(t == format::S_IFREG, t == format::S_IFDIR), &hits, w, None)?;
                }
                Ok(None) => {}
                Err(e) => pr_warn!("{}: memory failure scan: inode {} unreadable ({:?})\n", store.name(), ino, e),
            }
        }
        if ino % 1024 == 0 {
            mem::cond_resched();
        }
        ino += 1;
    }
    Ok(())
}

fn name_of(i: &DInode) -> &str {
    i.super_block().info().store.name()
}

/// What an inode is, for what losing its blocks means.
#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
}

fn kind(reg: bool, dir: bool) -> Kind {
    if reg {
        Kind::File
    } else if dir {
        Kind::Dir
    } else {
        Kind::Symlink
    }
}

/// A file range hit: file block, count, unwritten.
type Hits = KVec<(u64, u64, bool)>;

/// The blocks of the walk's range that `map` (of inode `ino`) owns: extent
/// blocks (metadata, reported here) and the file ranges hit.
fn scan(map: &Map, ino: u64, w: &mut Walk, name: &str) -> Result<Hits> {
    let mut hits = KVec::new();
    for leaf in map.leaves() {
        if leaf.block != 0 && w.overlap(leaf.block, 1).is_some() {
            pr_crit!("{}: memory failure: extent block {} of inode {} lost\n", name, leaf.block, ino);
            w.metadata = true;
            w.found += 1;
            if !w.owners.contains(&ino) {
                w.owners.push(ino, GFP_KERNEL)?;
            }
        }
    }
    for e in map.iter() {
        let e: &Extent = e;
        if let Some((a, z)) = w.overlap(e.pblk, u64::from(e.len)) {
            hits.push((u64::from(e.lblk) + (a - e.pblk), z - a, e.unwritten), GFP_KERNEL)?;
            w.found += z - a;
        }
    }
    Ok(hits)
}

/// Reports what inode `ino` lost: file data is logged and unmapped from
/// the processes mapping it (`SIGBUS`; `mapped` is the cached inode and
/// the failure's flags, `None` for an inode nobody has open); directory
/// and symlink blocks are metadata.
fn report(name: &str, ino: u64, k: Kind, hits: &Hits, w: &mut Walk, mapped: Option<(&DInode, i32)>) -> Result {
    if !hits.is_empty() && !w.owners.contains(&ino) {
        w.owners.push(ino, GFP_KERNEL)?;
    }
    for &(lblk, n, unwritten) in hits.iter() {
        let (off, len) = (lblk * BS, n * BS);
        match k {
            Kind::Dir | Kind::Symlink => {
                let what = if matches!(k, Kind::Dir) { "directory" } else { "symlink" };
                pr_crit!("{}: memory failure: {} inode {} lost bytes {}..{}\n", name, what, ino, off, off + len);
                w.metadata = true;
            }
            Kind::File if unwritten => {
                pr_warn!("{}: memory failure: inode {} bytes {}..{} (preallocated, no data lost)\n", name, ino, off, off + len);
            }
            Kind::File => {
                pr_err!(
                    "{}: memory failure: inode {} lost data at offset {} (+{}); processes mapping it get SIGBUS\n",
                    name,
                    ino,
                    off,
                    len
                );
                if let Some((i, flags)) = mapped {
                    kill_range(i, lblk, n, flags);
                }
            }
        }
    }
    Ok(())
}

/// Unmaps file blocks `[lblk, lblk+n)` of `i` from every process mapping
/// them (`SIGBUS`), in steps (`mf_dax_kill_procs` does not reschedule).
fn kill_range(i: &DInode, lblk: u64, n: u64, flags: i32) {
    let mut at = lblk;
    while at < lblk + n {
        let k = (lblk + n - at).min(KILL_STEP);
        if let Err(e) = i.kill_procs(at, k, flags) {
            pr_warn!("{}: inode {}: could not unmap blocks {}..{}: {:?}\n", name_of(i), i.ino(), at, at + k, e);
        }
        at += k;
        mem::cond_resched();
    }
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
        if !i.is_reg() {
            return Ok(());
        }
        // Under the invalidate lock: a read fault (the freeze does not
        // wait for those) that looked its blocks up before the shutdown
        // has mapped them before this runs; later ones see the shutdown.
        i.with_invalidate_lock(|| {
            if !i.is_mapped() {
                return Ok(());
            }
            // Only the blocks it has can be mapped: its extents, not every
            // page of its size (a sparse file may be terabytes long).
            let mut runs: KVVec<(u64, u64)> = KVVec::new();
            for e in i.data().state.lock().map.iter() {
                runs.push((u64::from(e.lblk), u64::from(e.len)), GFP_KERNEL)?;
            }
            for &(lblk, len) in runs.iter() {
                kill_range(i, lblk, len, f.flags);
            }
            if let Err(e) = i.invalidate_mappings() {
                pr_warn!("{}: inode {}: could not unmap it: {:?}\n", store.name(), i.ino(), e);
            }
            Ok(())
        })
    });
    sb.thaw_all(frozen);
    r
}
