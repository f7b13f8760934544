// SPDX-License-Identifier: GPL-2.0
//! Inodes: loading them from the inode table, their DRAM state, writing
//! them back inside transactions, and their extent lists.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::dir::DirIndex;
use crate::format::{self, Extent};
use crate::kfs::{
    fs::SuperBlock,
    inode::{Iget, Inode, InodeParams, Time},
};
use crate::meta::Tx;
use crate::super_block::DaxFs;
use kernel::{new_mutex, prelude::*, sync::aref::ARef, sync::Mutex};

const BS: u64 = format::BLOCK_SIZE as u64;

/// The DRAM copy of an inode, kept equal to what is on pmem.
pub(crate) struct IState {
    /// The on-disk inode, as last written.
    pub(crate) disk: format::Inode,
    /// Every extent, sorted by `lblk` (inline ones first, then the chain).
    /// (vmalloc'ed when large: a fragmented file has millions.)
    pub(crate) extents: KVVec<Extent>,
    /// The overflow extent blocks in chain order.
    pub(crate) chain: KVVec<u64>,
}

/// Per-inode data of daxfs (`T::InodeData`).
#[pin_data]
pub(crate) struct DaxInode {
    #[pin]
    pub(crate) state: Mutex<IState>,
    /// Directories: the DRAM name index.
    #[pin]
    pub(crate) dir: Mutex<DirIndex>,
    /// Symlinks: the target, NUL-terminated.
    link: KVec<u8>,
}

impl DaxInode {
    /// A symlink's target.
    pub(crate) fn link(&self) -> Result<&CStr> {
        CStr::from_bytes_with_nul(&self.link).map_err(|_| EINVAL)
    }
}

pub(crate) type DInode = Inode<DaxFs>;

/// Converts a VFS `dev_t` (major << 20 | minor) to the on-disk encoding
/// (`new_encode_dev`) and back.
pub(crate) fn encode_dev(dev: u32) -> u32 {
    let (major, minor) = (dev >> 20, dev & 0xfffff);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

fn decode_dev(dev: u32) -> u32 {
    let major = (dev & 0xfff00) >> 8;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    (major << 20) | minor
}

fn time(t: format::Time) -> Time {
    Time { sec: t.sec, nsec: t.nsec }
}

pub(crate) fn disk_time(t: Time) -> format::Time {
    format::Time { sec: t.sec, nsec: t.nsec }
}

/// The VFS attributes of an on-disk inode.
pub(crate) fn params(d: &format::Inode) -> InodeParams {
    InodeParams {
        mode: d.mode as u16,
        uid: d.uid,
        gid: d.gid,
        nlink: d.nlink,
        size: d.size,
        blocks: d.blocks,
        atime: time(d.atime),
        mtime: time(d.mtime),
        ctime: time(d.ctime),
        rdev: decode_dev(d.rdev),
        generation: d.generation,
    }
}

fn corrupt(sb: &SuperBlock<DaxFs>, ino: u64, what: &str) -> Error {
    pr_err!("{:?}: inode {}: {}; run fsck.daxfs\n", sb.id(), ino, what);
    EUCLEAN
}

/// Reads the extents of `d` (inline, then the overflow chain).
fn read_extents(sb: &SuperBlock<DaxFs>, ino: u64, d: &format::Inode) -> Result<(KVVec<Extent>, KVVec<u64>)> {
    let info = sb.info();
    let geo = &info.store.geo;
    let mut extents = KVVec::new();
    let mut chain = KVVec::new();
    let total = d.nextents as usize;
    // Every extent has a block of its own: a count beyond the data area
    // is corruption, not a reason to allocate gigabytes.
    if total as u64 > geo.data_blocks() {
        return Err(corrupt(sb, ino, "extent count larger than the device"));
    }
    for i in 0..d.inline_count().min(total) {
        let e = d
            .inline_extent(i)
            .ok_or(EUCLEAN)?
            .map_err(|e| corrupt(sb, ino, e.describe()))?;
        extents.push(e, GFP_KERNEL)?;
    }
    let mut next = d.extent_block;
    let mut block = mem::zeroed_kvec(BS as usize)?;
    while next != 0 && extents.len() < total {
        if !geo.is_data(next, 1) || chain.len() > total {
            return Err(corrupt(sb, ino, "extent chain out of range or cyclic"));
        }
        info.store.dev.read(next * BS, &mut block)?;
        let h = format::ExtentBlockHeader::decode(&block).map_err(|e| corrupt(sb, ino, e.describe()))?;
        if h.owner != ino {
            return Err(corrupt(sb, ino, "extent block owned by another inode"));
        }
        for i in 0..h.count as usize {
            let e = format::block_extent(&block, i)
                .ok_or(EUCLEAN)?
                .map_err(|e| corrupt(sb, ino, e.describe()))?;
            extents.push(e, GFP_KERNEL)?;
        }
        chain.push(next, GFP_KERNEL)?;
        next = h.next;
    }
    if extents.len() != total {
        return Err(corrupt(sb, ino, "extent count does not match"));
    }
    for w in extents.windows(2) {
        if w[0].end() > u64::from(w[1].lblk) {
            return Err(corrupt(sb, ino, "extents overlap or are unsorted"));
        }
    }
    for e in extents.iter() {
        if !geo.is_data(e.pblk, u64::from(e.len)) {
            return Err(corrupt(sb, ino, "extent outside the data area"));
        }
    }
    Ok((extents, chain))
}

/// Loads inode `ino` (from the inode cache or pmem).
pub(crate) fn iget(sb: &SuperBlock<DaxFs>, ino: u64) -> Result<ARef<DInode>> {
    let new = match sb.iget(ino)? {
        Iget::Cached(i) => return Ok(i),
        Iget::New(new) => new,
    };
    let info = sb.info();
    let off = info.store.geo.inode_offset(ino).ok_or_else(|| corrupt(sb, ino, "inode number out of range"))?;
    if !info.store.inode_in_use(ino)? {
        return Err(corrupt(sb, ino, "not marked in use in the inode bitmap"));
    }
    let mut buf = [0u8; format::INODE_SIZE];
    info.store.dev.read(off, &mut buf)?;
    let d = format::Inode::decode(&buf).map_err(|e| corrupt(sb, ino, e.describe()))?;
    let (extents, chain) = read_extents(sb, ino, &d)?;
    let mut link = KVec::new();
    if d.file_type() == format::S_IFLNK {
        if d.size > format::SYMLINK_MAX {
            return Err(corrupt(sb, ino, "symlink too long"));
        }
        if let Some(t) = d.fast_symlink() {
            link.extend_from_slice(t, GFP_KERNEL)?;
        } else {
            let e = extents.first().ok_or_else(|| corrupt(sb, ino, "long symlink without a block"))?;
            link = mem::zeroed_kvec(d.size as usize)?;
            info.store.dev.read(e.pblk * BS, &mut link)?;
        }
        if link.contains(&0) {
            return Err(corrupt(sb, ino, "NUL in symlink target"));
        }
        link.push(0, GFP_KERNEL)?;
    }
    let p = params(&d);
    new.init(&p, new_data_with(IState { disk: d, extents, chain }, link))
}

/// The data of an inode, new or read from pmem: the only place the inode
/// state and directory index mutexes are initialised, so each is one lock
/// class (docs/locking.md).
pub(crate) fn new_data_with(st: IState, link: KVec<u8>) -> impl PinInit<DaxInode, Error> {
    kernel::try_pin_init!(DaxInode {
        state <- new_mutex!(st),
        dir <- new_mutex!(DirIndex::new()),
        link,
    })
}

/// The orphan-list link of inode `ino` as this transaction sees pmem (0
/// for a free slot).
pub(crate) fn orphan_next(tx: &Tx<'_>, ino: u64) -> Result<u64> {
    let off = tx.geo().inode_offset(ino).ok_or(EINVAL)?;
    let mut buf = [0u8; format::INODE_SIZE];
    tx.read(off, &mut buf)?;
    Ok(format::Inode::decode(&buf).map_or(0, |d| d.orphan_next))
}

/// Logs the image `d` of inode `ino` with `orphan_next` set explicitly
/// (only the orphan list code does this).
pub(crate) fn log_inode_linked(tx: &mut Tx<'_>, ino: u64, d: &format::Inode, orphan_next: u64) -> Result {
    let off = tx.geo().inode_offset(ino).ok_or(EINVAL)?;
    let mut img = *d;
    img.orphan_next = orphan_next;
    let mut buf = [0u8; format::INODE_SIZE];
    img.encode(&mut buf);
    tx.write(off, &buf)
}

/// Logs the image `d` of inode `ino`.  Its orphan-list link is kept as it
/// is on pmem: the list is changed only by the orphan list code, which
/// rewrites other inodes' links, so a DRAM copy of it could be stale.
pub(crate) fn log_inode(tx: &mut Tx<'_>, ino: u64, d: &format::Inode) -> Result {
    let next = orphan_next(tx, ino)?;
    log_inode_linked(tx, ino, d, next)
}

/// Copies the VFS-visible attributes of `inode` into `d`.
pub(crate) fn sync_from_vfs(inode: &DInode, d: &mut format::Inode) {
    let [a, m, c] = inode.times();
    d.mode = u32::from(inode.mode());
    d.uid = inode.uid();
    d.gid = inode.gid();
    d.nlink = inode.nlink();
    d.atime = disk_time(a);
    d.mtime = disk_time(m);
    d.ctime = disk_time(c);
}

/// Persists the VFS attributes of `inode` (after setattr, link count or
/// time changes made through the VFS).
pub(crate) fn write_inode(inode: &DInode) -> Result {
    let store = &inode.super_block().info().store;
    let mut tx = store.begin();
    let mut st = inode.data().state.lock();
    let mut d = st.disk;
    sync_from_vfs(inode, &mut d);
    if d == st.disk {
        return Ok(());
    }
    log_inode(&mut tx, inode.ino(), &d)?;
    tx.commit()?;
    st.disk = d;
    Ok(())
}

/// Rewrites the extent list of inode `ino` from `extents`: the first
/// `INLINE_EXTENTS` inline in `d`, the rest in the overflow chain `chain`
/// (grown or shrunk as needed; freed chain blocks are freed in `tx`).
/// With `old`, the list `chain` holds on pmem now, only the chain blocks
/// whose contents change are logged (an edit near the end of a long list
/// logs one block, not the whole chain); without it, all of them.
pub(crate) fn log_extents(
    tx: &mut Tx<'_>,
    ino: u64,
    d: &mut format::Inode,
    extents: &[Extent],
    old: Option<&[Extent]>,
    chain: &mut KVVec<u64>,
) -> Result {
    d.inline = [0; format::INLINE_SIZE];
    for (i, e) in extents.iter().take(format::INLINE_EXTENTS).enumerate() {
        d.set_inline_extent(i, e);
    }
    d.nextents = extents.len() as u32;
    let rest = extents.get(format::INLINE_EXTENTS..).unwrap_or(&[]);
    let need = rest.len().div_ceil(format::EXTENTS_PER_BLOCK);
    let had = chain.len();
    // The first chain block that can differ: the one holding the first
    // changed extent or, when the chain grows or shrinks, the last block
    // kept (its `next` link changes).
    let first = old.map_or(0, |o| {
        let diff = o.iter().zip(extents).position(|(a, b)| a != b).unwrap_or(o.len().min(extents.len()));
        let group = diff.saturating_sub(format::INLINE_EXTENTS) / format::EXTENTS_PER_BLOCK;
        if need == had {
            group
        } else {
            group.min(need.min(had).saturating_sub(1))
        }
    });
    while chain.len() < need {
        let b = tx.alloc_block()?;
        chain.push(b, GFP_KERNEL)?;
        d.blocks = d.blocks.checked_add(1).ok_or(EUCLEAN)?;
    }
    while chain.len() > need {
        if let Some(b) = chain.pop() {
            tx.free_blocks(b, 1)?;
            d.blocks = d.blocks.saturating_sub(1);
        }
    }
    let mut block = mem::zeroed_kvec(BS as usize)?;
    for (i, group) in rest.chunks(format::EXTENTS_PER_BLOCK).enumerate().skip(first) {
        block.fill(0);
        for (j, e) in group.iter().enumerate() {
            let at = format::extent_slot(j).ok_or(EINVAL)?;
            block[at..at + format::EXTENT_SIZE].copy_from_slice(&e.encode());
        }
        let h = format::ExtentBlockHeader {
            count: group.len() as u32,
            next: chain.get(i + 1).copied().unwrap_or(0),
            owner: ino,
        };
        h.encode(&mut block).map_err(|_| EINVAL)?;
        tx.write(chain[i] * BS, &block)?;
    }
    d.extent_block = chain.first().copied().unwrap_or(0);
    Ok(())
}

/// A fallible copy of `v` (for working copies of extent lists and chains).
pub(crate) fn copy_vec<T: Copy>(v: &[T]) -> Result<KVVec<T>> {
    let mut out = KVVec::with_capacity(v.len(), GFP_KERNEL)?;
    out.extend_from_slice(v, GFP_KERNEL)?;
    Ok(out)
}

/// The device block holding file block `lblk`, if mapped.
pub(crate) fn map_block(extents: &[Extent], lblk: u64) -> Option<u64> {
    let i = extents.partition_point(|e| u64::from(e.lblk) <= lblk);
    let e = extents.get(i.checked_sub(1)?)?;
    (lblk < e.end()).then(|| e.pblk + (lblk - u64::from(e.lblk)))
}

/// Appends block `pblk` as file block `lblk` (the next one after the last
/// extent), merging with the last extent when contiguous.
pub(crate) fn push_block(extents: &mut KVVec<Extent>, lblk: u64, pblk: u64) -> Result {
    if let Some(last) = extents.last_mut() {
        if last.end() == lblk
            && last.pblk + u64::from(last.len) == pblk
            && last.len < format::EXTENT_MAX_LEN
            && last.unwritten == false
        {
            last.len += 1;
            return Ok(());
        }
    }
    let lblk = u32::try_from(lblk).map_err(|_| EFBIG)?;
    extents.push(Extent { lblk, len: 1, pblk, unwritten: false }, GFP_KERNEL)?;
    Ok(())
}

/// Frees every block of an inode being deleted (data and extent chain).
pub(crate) fn free_all_blocks(tx: &mut Tx<'_>, st: &mut IState) -> Result {
    for e in st.extents.iter() {
        tx.free_blocks(e.pblk, u64::from(e.len))?;
    }
    for b in st.chain.iter() {
        tx.free_blocks(*b, 1)?;
    }
    Ok(())
}
