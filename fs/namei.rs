// SPDX-License-Identifier: GPL-2.0
//! Namespace operations.  Each is one metadata transaction: the DRAM state
//! (inode images, directory indexes, VFS inode fields) changes only after
//! the commit succeeded, so a failed operation leaves nothing behind.
//!
//! Lock order (docs/locking.md): metadata mutex (`Store::begin`) -> one
//! directory index at a time (`with_index`) -> one `InodeState` at a time.
//! Directories being changed have their `i_rwsem` held exclusively by the
//! VFS, so nobody else uses their index between our short holds of it.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::dir::{Change, DirIndex, Found};
use crate::format;
use crate::inode::{self, disk_time, log_inode, log_inode_linked, DInode, IState, Map, Snap};
use crate::kfs::{
    fs::{NewEntry, Rename, RENAME_EXCHANGE, RENAME_WHITEOUT},
    inode::Time,
};
use crate::meta::Tx;
use crate::orphan;
use kernel::{prelude::*, sync::aref::ARef};

const BS: u64 = format::BLOCK_SIZE as u64;
/// Most links an inode may have (as ext4).
const LINK_MAX: u32 = 65000;

/// One more link on an inode image; `EMLINK` at the limit (a count read
/// from pmem may be anything: past the limit counts as at it).
fn inc_link(d: &mut format::Inode) -> Result {
    if d.nlink >= LINK_MAX {
        return Err(EMLINK);
    }
    d.nlink += 1;
    Ok(())
}

/// One link less on an inode image; a count that is already 0 is
/// corruption (`EUCLEAN`), never an overflow.
fn dec_link(d: &mut format::Inode) -> Result {
    d.nlink = d.nlink.checked_sub(1).ok_or_else(|| {
        pr_err!("link count of an inode in use is 0; run fsck.daxfs\n");
        EUCLEAN
    })?;
    Ok(())
}

fn dtype(mode: u32) -> u8 {
    format::dt_from_mode(mode)
}

/// Runs `f` on the name index of directory `dir` (never two at once).
fn with_index<R>(dir: &DInode, f: impl FnOnce(&mut DirIndex) -> R) -> R {
    f(&mut dir.data().dir.lock())
}

/// A copy of an inode's image to modify inside a transaction.
fn snapshot(i: &DInode) -> Result<Snap> {
    Ok(Snap { disk: i.data().state.lock().disk, map: None })
}

/// Installs a committed image (and extent map change).
fn install(i: &DInode, new: Snap) {
    let mut st = i.data().state.lock();
    st.disk = new.disk;
    if let Some(c) = new.map {
        inode::install_map(i.super_block(), i.ino(), &mut st.map, c);
    }
}

/// An empty extent map for a new inode.
fn empty_map() -> Result<Map> {
    Map::new().map_err(|_| ENOMEM)
}

/// `mtime = ctime = now` on a directory image.
fn touch_dir(d: &mut format::Inode, now: Time) {
    d.mtime = disk_time(now);
    d.ctime = disk_time(now);
}

pub(crate) fn create(dir: &DInode, name: Option<&[u8]>, new: &NewEntry<'_>) -> Result<ARef<DInode>> {
    if let Some(t) = new.symlink {
        if t.len() as u64 > format::SYMLINK_MAX || t.is_empty() {
            return Err(ENAMETOOLONG);
        }
    }
    let sb = dir.super_block();
    let store = &sb.info().store;
    let is_dir = new.mode & crate::kfs::inode::S_IFMT == crate::kfs::inode::S_IFDIR;
    if is_dir && dir.nlink() >= LINK_MAX {
        return Err(EMLINK);
    }
    let mut tx = store.begin();
    let mut idx = dir.data().dir.lock();
    if let Some(name) = name {
        if idx.lookup(dir, name)?.is_some() {
            return Err(EEXIST);
        }
    }
    let ino = tx.alloc_inode()?;
    let vnew = sb.new_inode(ino)?;
    let (mode, uid, gid) = vnew.init_owner(dir, new.mode);
    let now = dir.touch_ctime();
    let mut d = format::Inode::new(u32::from(mode), disk_time(now));
    d.uid = uid;
    d.gid = gid;
    d.generation = (ino as u32) ^ (now.nsec << 8);
    let mut link = KVec::new();
    let mut map = empty_map()?;
    match u32::from(mode) & format::S_IFMT {
        format::S_IFDIR => d.parent = dir.ino(),
        format::S_IFLNK => {
            let t = new.symlink.ok_or(EINVAL)?;
            d.size = t.len() as u64;
            if t.len() <= format::FAST_SYMLINK_MAX {
                d.inline[..t.len()].copy_from_slice(t);
            } else {
                let pblk = tx.alloc_block()?;
                let mut block = mem::zeroed_kvec(BS as usize)?;
                block[..t.len()].copy_from_slice(t);
                tx.write(pblk * BS, &block)?;
                // Installed at once: nothing sees the inode before the commit.
                let c = inode::add_block(&mut tx, ino, &mut map, &mut d, 0, pblk)?;
                map.install(c)?;
            }
            link.extend_from_slice(t, GFP_KERNEL)?;
            link.push(0, GFP_KERNEL)?;
        }
        format::S_IFREG | format::S_IFIFO | format::S_IFSOCK => {}
        format::S_IFCHR | format::S_IFBLK => d.rdev = inode::encode_dev(new.rdev),
        _ => return Err(EINVAL),
    }
    let mut dst = snapshot(dir)?;
    let mut change = None;
    match name {
        Some(name) => {
            change = Some(idx.add(&mut tx, dir, &mut dst, name, ino, dtype(d.mode))?);
            touch_dir(&mut dst.disk, now);
            if is_dir {
                inc_link(&mut dst.disk)?;
            }
            log_inode(&mut tx, dir.ino(), &dst.disk)?;
        }
        None => {
            // O_TMPFILE: no name, so an orphan from the start.
            d.nlink = 0;
        }
    }
    if name.is_some() {
        log_inode_linked(&mut tx, ino, &d, 0)?;
    } else {
        orphan::add(&mut tx, ino, &d)?;
    }
    tx.commit()?;

    if let Some(c) = change {
        idx.apply(c);
        dir.touch_mtime_ctime();
        dir.set_size(dst.disk.size);
        dir.set_blocks(dst.disk.blocks);
        dir.set_nlink(dst.disk.nlink);
        install(dir, dst);
    }
    drop(idx);
    let mut p = inode::params(&d);
    if name.is_none() {
        // d_tmpfile() drops the VFS link count from 1 to 0.
        p.nlink = 1;
    }
    vnew.init(&p, inode::new_data_with(IState { disk: d, map }, link))
}

pub(crate) fn link(dir: &DInode, name: &[u8], target: &DInode) -> Result {
    if target.nlink() >= LINK_MAX {
        return Err(EMLINK);
    }
    let store = &dir.super_block().info().store;
    let mut tx = store.begin();
    let mut idx = dir.data().dir.lock();
    if idx.lookup(dir, name)?.is_some() {
        return Err(EEXIST);
    }
    let now = target.touch_ctime();
    let mut t = snapshot(target)?;
    if t.disk.nlink == 0 {
        // linkat() of an O_TMPFILE: it stops being an orphan.
        orphan::remove(&mut tx, target.ino(), &t.disk)?;
    }
    inc_link(&mut t.disk)?;
    t.disk.ctime = disk_time(now);
    let mut dst = snapshot(dir)?;
    let change = idx.add(&mut tx, dir, &mut dst, name, target.ino(), dtype(t.disk.mode))?;
    touch_dir(&mut dst.disk, now);
    log_inode(&mut tx, dir.ino(), &dst.disk)?;
    log_inode(&mut tx, target.ino(), &t.disk)?;
    tx.commit()?;
    idx.apply(change);
    target.set_nlink(t.disk.nlink);
    dir.touch_mtime_ctime();
    dir.set_size(dst.disk.size);
    dir.set_blocks(dst.disk.blocks);
    install(dir, dst);
    install(target, t);
    Ok(())
}

/// Drops one link of `victim` inside `tx` (a directory drops both of its
/// own); at zero it becomes an orphan until eviction frees it.
fn drop_link(tx: &mut Tx<'_>, victim: &DInode, v: &mut Snap, now: Time) -> Result {
    if v.disk.file_type() == format::S_IFDIR {
        v.disk.nlink = 0;
    } else {
        // A count of 0 on a named inode is damage: adding it to the orphan
        // list a second time would corrupt the list.
        dec_link(&mut v.disk)?;
    }
    v.disk.ctime = disk_time(now);
    if v.disk.nlink == 0 {
        orphan::add(tx, victim.ino(), &v.disk)?;
    }
    Ok(())
}

fn found(idx: &mut DirIndex, dir: &DInode, name: &[u8], ino: u64) -> Result<Found> {
    match idx.lookup(dir, name)? {
        Some(f) if f.ino == ino => Ok(f),
        _ => Err(ENOENT),
    }
}

fn remove_entry(dir: &DInode, name: &[u8], victim: &DInode, rmdir: bool) -> Result {
    let store = &dir.super_block().info().store;
    let mut tx = store.begin();
    if rmdir && !with_index(victim, |i| i.is_empty(victim))? {
        return Err(ENOTEMPTY);
    }
    let mut idx = dir.data().dir.lock();
    let f = found(&mut idx, dir, name, victim.ino())?;
    let now = dir.touch_ctime();
    let mut dst = snapshot(dir)?;
    let change = idx.remove(&mut tx, dir, f.slot, name)?;
    touch_dir(&mut dst.disk, now);
    if rmdir {
        dec_link(&mut dst.disk)?;
    }
    let mut v = snapshot(victim)?;
    drop_link(&mut tx, victim, &mut v, now)?;
    log_inode(&mut tx, dir.ino(), &dst.disk)?;
    log_inode(&mut tx, victim.ino(), &v.disk)?;
    tx.commit()?;
    idx.apply(change);
    dir.touch_mtime_ctime();
    // The VFS counts follow the committed images (a count read from a
    // damaged image must not trip the VFS's own checks).
    dir.set_nlink(dst.disk.nlink);
    victim.set_nlink(v.disk.nlink);
    victim.touch_ctime();
    install(dir, dst);
    install(victim, v);
    Ok(())
}

pub(crate) fn unlink(dir: &DInode, name: &[u8], victim: &DInode) -> Result {
    remove_entry(dir, name, victim, false)
}

pub(crate) fn rmdir(dir: &DInode, name: &[u8], victim: &DInode) -> Result {
    remove_entry(dir, name, victim, true)
}

pub(crate) fn rename(r: &Rename<'_, crate::super_block::DaxFs>) -> Result {
    let store = &r.old_dir.super_block().info().store;
    let same = core::ptr::eq(r.old_dir, r.new_dir);
    let mut tx = store.begin();
    let old_f = with_index(r.old_dir, |i| found(i, r.old_dir, r.old_name, r.old.ino()))?;
    let new_f = match r.target {
        Some(t) => Some(with_index(r.new_dir, |i| found(i, r.new_dir, r.new_name, t.ino()))?),
        None => None,
    };
    let old_is_dir = r.old.is_dir();
    let exchange = r.flags & RENAME_EXCHANGE != 0;
    if let (Some(t), false) = (r.target, exchange) {
        if t.is_dir() && !with_index(t, |i| i.is_empty(t))? {
            return Err(ENOTEMPTY);
        }
    }
    if r.flags & RENAME_WHITEOUT != 0 && exchange {
        return Err(EINVAL);
    }
    let now = r.old_dir.touch_ctime();
    let mut od = snapshot(r.old_dir)?;
    let mut nd = if same { None } else { Some(snapshot(r.new_dir)?) };
    let mut o = snapshot(r.old)?;
    let mut tgt = match r.target {
        Some(t) => Some(snapshot(t)?),
        None => None,
    };
    let mut changes: KVec<(bool, Change)> = KVec::new(); // (in new dir?, change)
    let mut whiteout = None;

    if exchange {
        let (t, ts) = match (r.target, tgt.as_mut()) {
            (Some(t), Some(ts)) => (t, ts),
            _ => return Err(EINVAL),
        };
        let new_f = new_f.ok_or(EINVAL)?;
        DirIndex::retarget(&mut tx, r.old_dir, old_f.slot, t.ino(), dtype(ts.disk.mode))?;
        DirIndex::retarget(&mut tx, r.new_dir, new_f.slot, r.old.ino(), dtype(o.disk.mode))?;
        if !same {
            if old_is_dir != t.is_dir() {
                let (from, to) = if old_is_dir { (&mut od, nd.as_mut()) } else { (nd.as_mut().ok_or(EINVAL)?, Some(&mut od)) };
                dec_link(&mut from.disk)?;
                if let Some(to) = to {
                    inc_link(&mut to.disk)?;
                }
            }
            if old_is_dir {
                o.disk.parent = r.new_dir.ino();
            }
            if t.is_dir() {
                ts.disk.parent = r.old_dir.ino();
            }
        }
        ts.disk.ctime = disk_time(now);
    } else {
        // Point the new name at `old` (over the target, or a new record).
        match (new_f, tgt.as_mut(), r.target) {
            (Some(nf), Some(ts), Some(t)) => {
                DirIndex::retarget(&mut tx, r.new_dir, nf.slot, r.old.ino(), dtype(o.disk.mode))?;
                drop_link(&mut tx, t, ts, now)?;
                if t.is_dir() {
                    dec_link(&mut nd.as_mut().unwrap_or(&mut od).disk)?;
                }
            }
            _ => {
                let dst = match nd.as_mut() {
                    Some(n) => n,
                    None => &mut od,
                };
                let ino = r.old.ino();
                let dt = dtype(o.disk.mode);
                let c = with_index(r.new_dir, |i| i.add(&mut tx, r.new_dir, dst, r.new_name, ino, dt))?;
                changes.push((true, c), GFP_KERNEL)?;
            }
        }
        // Remove (or white out) the old name.
        if r.flags & RENAME_WHITEOUT != 0 {
            let wino = tx.alloc_inode()?;
            let wnew = r.old_dir.super_block().new_inode(wino)?;
            let (mode, uid, gid) = wnew.init_owner(r.old_dir, (format::S_IFCHR | 0) as u16);
            let mut w = format::Inode::new(u32::from(mode), disk_time(now));
            w.uid = uid;
            w.gid = gid;
            log_inode(&mut tx, wino, &w)?;
            DirIndex::retarget(&mut tx, r.old_dir, old_f.slot, wino, format::DT_CHR)?;
            whiteout = Some((wnew, w, empty_map()?));
        } else {
            let c = with_index(r.old_dir, |i| i.remove(&mut tx, r.old_dir, old_f.slot, r.old_name))?;
            changes.push((false, c), GFP_KERNEL)?;
        }
        if old_is_dir && !same {
            dec_link(&mut od.disk)?;
            if let Some(n) = nd.as_mut() {
                inc_link(&mut n.disk)?;
            }
            o.disk.parent = r.new_dir.ino();
        }
    }
    o.disk.ctime = disk_time(now);
    touch_dir(&mut od.disk, now);
    if let Some(n) = nd.as_mut() {
        touch_dir(&mut n.disk, now);
    }
    log_inode(&mut tx, r.old_dir.ino(), &od.disk)?;
    if let Some(n) = nd.as_ref() {
        log_inode(&mut tx, r.new_dir.ino(), &n.disk)?;
    }
    log_inode(&mut tx, r.old.ino(), &o.disk)?;
    if let (Some(t), Some(ts)) = (r.target, tgt.as_ref()) {
        log_inode(&mut tx, t.ino(), &ts.disk)?;
    }
    // Exchange moves two names: their index keys (hash, slot) swap owners
    // but not positions, so the index is unchanged.  Plain renames are
    // applied below.
    tx.commit()?;

    for (in_new, c) in changes {
        with_index(if in_new { r.new_dir } else { r.old_dir }, |i| i.apply(c));
    }
    // VFS link counts (from the committed images) and times.
    r.old_dir.set_nlink(od.disk.nlink);
    if let Some(n) = nd.as_ref() {
        r.new_dir.set_nlink(n.disk.nlink);
    }
    if let (Some(t), Some(ts)) = (r.target, tgt.as_ref()) {
        t.set_nlink(ts.disk.nlink);
        t.touch_ctime();
    }
    r.old.touch_ctime();
    r.old_dir.touch_mtime_ctime();
    r.new_dir.touch_mtime_ctime();
    r.old_dir.set_size(od.disk.size);
    r.old_dir.set_blocks(od.disk.blocks);
    install(r.old_dir, od);
    if let Some(n) = nd {
        r.new_dir.set_size(n.disk.size);
        r.new_dir.set_blocks(n.disk.blocks);
        install(r.new_dir, n);
    }
    install(r.old, o);
    if let (Some(t), Some(ts)) = (r.target, tgt) {
        install(t, ts);
    }
    if let Some((wnew, w, map)) = whiteout {
        let p = inode::params(&w);
        // The whiteout is on disk; its VFS inode is just dropped.
        drop(wnew.init(&p, inode::new_data_with(IState { disk: w, map }, KVec::new())));
    }
    Ok(())
}

/// Frees an unlinked inode whose last reference went away.
pub(crate) fn evict(inode: &DInode) {
    if inode.nlink() != 0 {
        return;
    }
    let info = inode.super_block().info();
    let store = &info.store;
    if store.is_shut_down() || info.read_only() {
        // Nothing may be written: it stays on the orphan list, which the
        // next read-write mount processes.
        return;
    }
    let r = (|| -> Result {
        // All but the last bounded piece of its blocks, one transaction at
        // a time; it stays on the orphan list until the last one, so a
        // crash in between leaves it for mount to finish.
        if inode.data().state.lock().disk.nlink != 0 {
            return Ok(());
        }
        crate::data::free_before_evict(inode)?;
        let mut tx = store.begin();
        let mut st = inode.data().state.lock();
        if st.disk.nlink != 0 {
            return Ok(());
        }
        inode::free_all_blocks(&mut tx, &mut st)?;
        orphan::remove(&mut tx, inode.ino(), &st.disk)?;
        let off = tx.geo().inode_offset(inode.ino()).ok_or(EINVAL)?;
        tx.write(off, &[0u8; format::INODE_SIZE])?;
        tx.free_inode(inode.ino())?;
        tx.commit()
    })();
    if let Err(e) = r {
        pr_err!("cannot free inode {}: {:?}; it stays on the orphan list\n", inode.ino(), e);
    }
}
