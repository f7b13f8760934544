// SPDX-License-Identifier: GPL-2.0
//! Inodes: loading them from the inode table, their DRAM state, writing
//! them back inside transactions, and their extent lists.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::dir::DirIndex;
use crate::extents::{EditError, ExtentList};
use crate::extmap::{self, Buf, ExtMap, Leaf, LeafIo, Pending, Window};
use crate::format::{self, Extent};
use crate::kfs::{
    fs::SuperBlock,
    inode::{Iget, Inode, InodeParams, Time},
};
use crate::meta::Tx;
use crate::super_block::DaxFs;
use kernel::{new_mutex, prelude::*, sync::aref::ARef, sync::Mutex};

const BS: u64 = format::BLOCK_SIZE as u64;

/// An inode's extent map (`fs/extmap.rs`): its leaves, inline and one per
/// extent block, in vmalloc-backed vectors (a fragmented file has
/// millions of extents).
pub(crate) type Map = ExtMap<KVVec<Leaf<KVVec<Extent>>>, KVVec<Extent>>;
/// A change of a [`Map`] logged in a transaction, to install after it.
pub(crate) type MapChange = Pending<KVVec<Leaf<KVVec<Extent>>>, KVVec<Extent>>;
/// The extents of part of a [`Map`] being edited.
pub(crate) type MapWindow = Window<KVVec<Extent>>;

impl<T> Buf<T> for KVVec<T> {
    fn items(&self) -> &[T] {
        self
    }
    fn items_mut(&mut self) -> &mut [T] {
        self
    }
    fn reserve_more(&mut self, extra: usize) -> core::result::Result<(), ()> {
        self.reserve(extra, GFP_KERNEL).map_err(|_| ())
    }
    fn insert_in(&mut self, i: usize, x: T) -> core::result::Result<(), ()> {
        self.insert_within_capacity(i, x).map_err(|_| ())
    }
    fn take(&mut self, i: usize) -> Option<T> {
        self.remove(i).ok()
    }
}

impl ExtentList for KVVec<Extent> {
    fn exts(&self) -> &[Extent] {
        self
    }
    fn exts_mut(&mut self) -> &mut [Extent] {
        self
    }
    fn insert_at(&mut self, i: usize, e: Extent) -> core::result::Result<(), ()> {
        self.reserve(1, GFP_KERNEL).map_err(|_| ())?;
        self.insert_within_capacity(i, e).map_err(|_| ())
    }
    fn remove_at(&mut self, i: usize) {
        let _ = self.remove(i);
    }
}

impl From<EditError> for Error {
    fn from(e: EditError) -> Error {
        match e {
            EditError::NoMemory => ENOMEM,
            EditError::Invalid => EINVAL,
            EditError::Callback => EIO,
        }
    }
}

/// The DRAM copy of an inode, kept equal to what is on pmem.
pub(crate) struct IState {
    /// The on-disk inode, as last written.
    pub(crate) disk: format::Inode,
    /// The extents (inline, then the chain's leaves).
    pub(crate) map: Map,
}

/// A copy of an inode's image to change inside a transaction, with the
/// change of its extent map logged there (directory growth).
pub(crate) struct Snap {
    /// The new image.
    pub(crate) disk: format::Inode,
    /// The logged change of the extent map.
    pub(crate) map: Option<MapChange>,
}

/// The extent blocks of inode `ino`, allocated, freed and written in `tx`.
struct TxLeaves<'a, 'b> {
    tx: &'a mut Tx<'b>,
    ino: u64,
    buf: KVec<u8>,
}

impl LeafIo for TxLeaves<'_, '_> {
    type Error = Error;
    fn alloc(&mut self) -> Result<u64> {
        self.tx.alloc_block()
    }
    fn free(&mut self, block: u64) -> Result {
        self.tx.free_blocks(block, 1)
    }
    fn write(&mut self, block: u64, exts: &[Extent], next: u64) -> Result {
        extmap::encode_leaf(&mut self.buf, exts, next, self.ino)?;
        self.tx.write(block.checked_mul(BS).ok_or(EINVAL)?, &self.buf)
    }
}

/// Logs the edited window `w` of inode `ino`'s `map` in `tx`: the extent
/// blocks that change, and the extent fields of its image `d` (which the
/// caller logs).  Install the result after the commit.
pub(crate) fn log_window(tx: &mut Tx<'_>, ino: u64, map: &mut Map, w: MapWindow, d: &mut format::Inode) -> Result<MapChange> {
    let mut io = TxLeaves { tx, ino, buf: mem::zeroed_kvec(BS as usize)? };
    let change = map.commit(w, &mut io)?;
    change.apply(d)?;
    Ok(change)
}

/// Installs a committed map change.  It cannot fail for memory (the room
/// was reserved before the commit); if it fails anyway DRAM no longer
/// matches pmem: shut down.
pub(crate) fn install_map(sb: &SuperBlock<DaxFs>, ino: u64, map: &mut Map, change: MapChange) {
    if let Err(e) = map.install(change) {
        pr_err!("{:?}: inode {}: extent map out of step with pmem ({:?}); shutting down\n", sb.id(), ino, e);
        let _ = sb.info().store.shut_down();
    }
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

/// Reads the extent map of `d` (inline, then the overflow chain).
fn read_extents(sb: &SuperBlock<DaxFs>, ino: u64, d: &format::Inode) -> Result<Map> {
    let info = sb.info();
    let geo = &info.store.geo;
    let total = u64::from(d.nextents);
    // Every extent has a block of its own: a count beyond the data area
    // is corruption, not a reason to allocate gigabytes.
    if total > geo.data_blocks() {
        return Err(corrupt(sb, ino, "extent count larger than the device"));
    }
    let load = |e: extmap::LoadError| match e {
        extmap::LoadError::NoMemory => ENOMEM,
        e => corrupt(sb, ino, e.describe()),
    };
    let mut inline = KVVec::new();
    for i in 0..d.inline_count().min(total as usize) {
        let e = d
            .inline_extent(i)
            .ok_or(EUCLEAN)?
            .map_err(|e| corrupt(sb, ino, e.describe()))?;
        inline.push(e, GFP_KERNEL)?;
    }
    let mut map = Map::from_inline(inline).map_err(load)?;
    let mut next = d.extent_block;
    let mut block = mem::zeroed_kvec(BS as usize)?;
    while next != 0 && map.len() < total {
        if !geo.is_data(next, 1) || map.chain_len() >= total {
            return Err(corrupt(sb, ino, "extent chain out of range or cyclic"));
        }
        info.store.dev.read(next * BS, &mut block)?;
        let h = format::ExtentBlockHeader::decode(&block).map_err(|e| corrupt(sb, ino, e.describe()))?;
        if h.owner != ino {
            return Err(corrupt(sb, ino, "extent block owned by another inode"));
        }
        let mut leaf = KVVec::with_capacity(h.count as usize, GFP_KERNEL)?;
        for i in 0..h.count as usize {
            let e = format::block_extent(&block, i)
                .ok_or(EUCLEAN)?
                .map_err(|e| corrupt(sb, ino, e.describe()))?;
            leaf.push(e, GFP_KERNEL)?;
        }
        map.push_leaf(next, leaf).map_err(load)?;
        next = h.next;
    }
    if map.len() != total {
        return Err(corrupt(sb, ino, "extent count does not match"));
    }
    for e in map.iter() {
        if !geo.is_data(e.pblk, u64::from(e.len)) {
            return Err(corrupt(sb, ino, "extent outside the data area"));
        }
    }
    Ok(map)
}

/// Reads inode `ino` and its extent map from pmem without loading it into
/// the inode cache (the memory-failure owner scan, fs/media.rs).
pub(crate) fn read_on_pmem(sb: &SuperBlock<DaxFs>, ino: u64) -> Result<(format::Inode, Map)> {
    let off = sb.info().store.geo.inode_offset(ino).ok_or(EINVAL)?;
    let mut buf = [0u8; format::INODE_SIZE];
    sb.info().store.dev.read(off, &mut buf)?;
    let d = format::Inode::decode(&buf).map_err(|e| corrupt(sb, ino, e.describe()))?;
    let map = read_extents(sb, ino, &d)?;
    Ok((d, map))
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
    let map = read_extents(sb, ino, &d)?;
    let mut link = KVec::new();
    if d.file_type() == format::S_IFLNK {
        if d.size > format::SYMLINK_MAX {
            return Err(corrupt(sb, ino, "symlink too long"));
        }
        if let Some(t) = d.fast_symlink() {
            link.extend_from_slice(t, GFP_KERNEL)?;
        } else {
            let e = map.iter().next().ok_or_else(|| corrupt(sb, ino, "long symlink without a block"))?;
            link = mem::zeroed_kvec(d.size as usize)?;
            info.store.dev.read(e.pblk * BS, &mut link)?;
        }
        if link.contains(&0) {
            return Err(corrupt(sb, ino, "NUL in symlink target"));
        }
        link.push(0, GFP_KERNEL)?;
    }
    let p = params(&d);
    new.init(&p, new_data_with(IState { disk: d, map }, link))
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

/// Maps block `pblk` as file block `lblk` of inode `ino` (a hole),
/// merging with a contiguous neighbour, logged in `tx` with the extent
/// fields of `d`; install the result after the commit.
pub(crate) fn add_block(tx: &mut Tx<'_>, ino: u64, map: &mut Map, d: &mut format::Inode, lblk: u64, pblk: u64) -> Result<MapChange> {
    let lblk32 = u32::try_from(lblk).map_err(|_| EFBIG)?;
    let mut w = map.window(lblk, lblk + 1)?;
    crate::extents::insert(&mut w.exts, Extent { lblk: lblk32, len: 1, pblk, unwritten: false })?;
    log_window(tx, ino, map, w, d)
}

/// Frees every block of an inode being deleted (data and extent chain).
pub(crate) fn free_all_blocks(tx: &mut Tx<'_>, st: &mut IState) -> Result {
    for e in st.map.iter() {
        tx.free_blocks(e.pblk, u64::from(e.len))?;
    }
    for l in st.map.leaves().iter().skip(1) {
        tx.free_blocks(l.block, 1)?;
    }
    Ok(())
}
