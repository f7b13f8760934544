// SPDX-License-Identifier: GPL-2.0
//! Inodes, new inodes and directory iteration.
//!
//! Every inode of a filesystem `T` is allocated by `alloc_inode` as an
//! [`InodeBox<T>`]: the VFS `struct inode` followed by the filesystem's own
//! `T::InodeData`, which is pin-initialised in place by [`NewInode::init`]
//! and dropped in `free_inode`.  Filesystem code sees inodes only as
//! `&Inode<T>` / `ARef<Inode<T>>` (reference counted with `ihold`/`iput`),
//! and every such inode has completed `init`, so [`Inode::data`] is always
//! initialised.

use super::bindings as b;
use super::fs::{FileSystem, SuperBlock};
use core::{cell::UnsafeCell, marker::PhantomData, mem::MaybeUninit, ptr::NonNull};
use kernel::{
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// File type bits of `i_mode` (same values as the on-disk format's).
pub(crate) const S_IFMT: u16 = 0o170000;
pub(crate) const S_IFDIR: u16 = 0o040000;
pub(crate) const S_IFREG: u16 = 0o100000;
pub(crate) const S_IFLNK: u16 = 0o120000;

/// A timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Time {
    pub(crate) sec: i64,
    pub(crate) nsec: u32,
}

impl Time {
    fn to_raw(self) -> b::timespec64 {
        b::timespec64 { tv_sec: self.sec, tv_nsec: self.nsec as _ }
    }
    fn from_raw(t: b::timespec64) -> Self {
        Time { sec: t.tv_sec, nsec: t.tv_nsec as u32 }
    }
}

/// The attributes a filesystem loads into a new VFS inode.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct InodeParams {
    /// Type and permission bits.
    pub(crate) mode: u16,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) nlink: u32,
    pub(crate) size: u64,
    /// Allocated 4 KiB blocks.
    pub(crate) blocks: u64,
    pub(crate) atime: Time,
    pub(crate) mtime: Time,
    pub(crate) ctime: Time,
    /// Device number for character/block special files (`new_encode_dev`).
    pub(crate) rdev: u32,
    pub(crate) generation: u32,
}

/// The allocation behind every inode of `T`.
#[repr(C)]
pub(crate) struct InodeBox<T: FileSystem> {
    inode: Opaque<b::inode>,
    data: UnsafeCell<MaybeUninit<T::InodeData>>,
    data_init: UnsafeCell<bool>,
}

impl<T: FileSystem> InodeBox<T> {
    /// # Safety
    /// `inode` must belong to a super block of `T` (so it was allocated by
    /// `alloc_inode_cb::<T>`); `inode` is the first field of the `repr(C)` box.
    unsafe fn from_inode(inode: *mut b::inode) -> *mut Self {
        inode.cast()
    }
}

pub(crate) unsafe extern "C" fn alloc_inode_cb<T: FileSystem>(_sb: *mut b::super_block) -> *mut b::inode {
    let bx = KBox::new(
        InodeBox::<T> {
            inode: Opaque::uninit(),
            data: UnsafeCell::new(MaybeUninit::uninit()),
            data_init: UnsafeCell::new(false),
        },
        GFP_KERNEL,
    );
    let Ok(bx) = bx else {
        return core::ptr::null_mut();
    };
    let p = KBox::into_raw(bx);
    // SAFETY: `p` is a fresh allocation; `inode_init_once` initialises the
    // parts of `struct inode` that `inode_init_always` (run by the VFS next)
    // does not.
    unsafe {
        let inode = (*p).inode.get();
        b::inode_init_once(inode);
        inode
    }
}

pub(crate) unsafe extern "C" fn free_inode_cb<T: FileSystem>(inode: *mut b::inode) {
    // SAFETY: called once per inode, after every user is gone (RCU-delayed);
    // the inode came from `alloc_inode_cb::<T>`.  The data is dropped only if
    // `NewInode::init` initialised it.
    unsafe {
        let p = InodeBox::<T>::from_inode(inode);
        if *(*p).data_init.get() {
            core::ptr::drop_in_place((*(*p).data.get()).as_mut_ptr());
        }
        drop(KBox::from_raw(p));
    }
}

/// Whether `NewInode::init` completed for `inode`.
///
/// # Safety
/// `inode` must be a live inode of a super block of `T`.
pub(crate) unsafe fn data_initialised<T: FileSystem>(inode: *mut b::inode) -> bool {
    // SAFETY: per the contract the inode is an `InodeBox<T>`; the flag is
    // written only while the inode is I_NEW and exclusively owned.
    unsafe { *(*InodeBox::<T>::from_inode(inode)).data_init.get() }
}

/// An inode of filesystem `T`.
///
/// # Invariants
/// The inode belongs to a live super block of `T` and its `T::InodeData` is
/// initialised.
#[repr(transparent)]
pub(crate) struct Inode<T: FileSystem>(Opaque<b::inode>, PhantomData<T>);

// SAFETY: inodes are used from any thread; the VFS fields accessed here are
// protected by the VFS's own locking or read racily exactly as C does, and
// `T::InodeData` is `Send + Sync`.
unsafe impl<T: FileSystem> Send for Inode<T> {}
// SAFETY: see `Send`.
unsafe impl<T: FileSystem> Sync for Inode<T> {}

// SAFETY: `ihold`/`iput` maintain the inode's reference count; an inode is
// freed only when the count drops to zero.
unsafe impl<T: FileSystem> AlwaysRefCounted for Inode<T> {
    fn inc_ref(&self) {
        // SAFETY: `self` is a live inode, so taking another reference is valid.
        unsafe { b::ihold(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference, which is given up here.
        unsafe { b::iput(obj.as_ptr().cast()) };
    }
}

impl<T: FileSystem> Inode<T> {
    /// # Safety
    /// `p` must be an initialised inode of `T` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(p: *mut b::inode) -> &'a Self {
        // SAFETY: `repr(transparent)`; validity per the caller.
        unsafe { &*p.cast::<Self>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::inode {
        self.0.get()
    }

    fn raw(&self) -> &b::inode {
        // SAFETY: type invariant: a live inode.  Fields are read as plain
        // values, racily where C reads them racily too.
        unsafe { &*self.0.get() }
    }

    pub(crate) fn ino(&self) -> u64 {
        self.raw().i_ino
    }

    pub(crate) fn mode(&self) -> u16 {
        self.raw().i_mode
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.mode() & S_IFMT == S_IFDIR
    }

    pub(crate) fn is_reg(&self) -> bool {
        self.mode() & S_IFMT == S_IFREG
    }

    pub(crate) fn uid(&self) -> u32 {
        self.raw().i_uid.val
    }

    pub(crate) fn gid(&self) -> u32 {
        self.raw().i_gid.val
    }

    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: `i_nlink` is the union member the VFS uses for reads.
        unsafe { self.raw().__bindgen_anon_1.i_nlink }
    }



    pub(crate) fn size(&self) -> u64 {
        // SAFETY: live inode.
        unsafe { b::daxfs_i_size_read(self.0.get()) as u64 }
    }

    /// Sets `i_size` (callers hold `i_rwsem`, as the VFS requires).
    pub(crate) fn set_size(&self, size: u64) {
        // SAFETY: live inode; the caller serialises size updates.
        unsafe { b::daxfs_i_size_write(self.0.get(), size as i64) };
    }

    /// Sets the allocated size in 4 KiB blocks.
    pub(crate) fn set_blocks(&self, blocks: u64) {
        // SAFETY: live inode; `i_blocks` counts 512-byte sectors.
        unsafe { (*self.0.get()).i_blocks = blocks << 3 };
    }

    /// Sets the link count (to what the filesystem committed; unlike
    /// `inc_nlink`/`drop_nlink` it has no expectations about the old value).
    pub(crate) fn set_nlink(&self, n: u32) {
        // SAFETY: live inode; callers hold the locks the VFS requires.
        unsafe { b::set_nlink(self.0.get(), n) };
    }

    /// atime, mtime, ctime.
    pub(crate) fn times(&self) -> [Time; 3] {
        let mut t = [b::timespec64::default(); 3];
        // SAFETY: live inode; `t` has room for the three times.
        unsafe { b::daxfs_inode_get_times(self.0.get(), t.as_mut_ptr()) };
        t.map(Time::from_raw)
    }

    /// Sets ctime to now and returns it.
    pub(crate) fn touch_ctime(&self) -> Time {
        // SAFETY: live inode.
        Time::from_raw(unsafe { b::inode_set_ctime_current(self.0.get()) })
    }

    /// Sets mtime and ctime to now (a directory's contents changed).
    pub(crate) fn touch_mtime_ctime(&self) {
        let now = self.touch_ctime();
        let [a, _, c] = self.times();
        let t = [a.to_raw(), now.to_raw(), c.to_raw()];
        // SAFETY: live inode; `t` holds three times.
        unsafe { b::daxfs_inode_set_times(self.0.get(), t.as_ptr()) };
    }

    /// The filesystem's per-inode data.
    pub(crate) fn data(&self) -> &T::InodeData {
        // SAFETY: type invariant: the data was initialised by `NewInode::init`
        // and lives until `free_inode`.
        unsafe { (*(*InodeBox::<T>::from_inode(self.0.get())).data.get()).assume_init_ref() }
    }

    /// Whether any process maps this file (`mapping_mapped`).
    pub(crate) fn is_mapped(&self) -> bool {
        // SAFETY: a live inode.
        unsafe { b::daxfs_inode_mapped(self.as_raw()) }
    }

    /// Memory failure: unmaps file pages `[index, index+count)` from every
    /// process mapping them and sends those processes `SIGBUS`
    /// (`mf_dax_kill_procs`, with the failure's `MF_*` flags).
    pub(crate) fn kill_procs(&self, index: u64, count: u64, flags: i32) -> Result {
        let (index, count) = (usize::try_from(index).map_err(|_| EINVAL)?, usize::try_from(count).map_err(|_| EINVAL)?);
        // SAFETY: a live DAX inode; the helper takes the DAX entry locks.
        kernel::error::to_result(unsafe { b::daxfs_dax_kill_procs(self.as_raw(), index as _, count as _, flags) })
    }

    /// Drops every mapping of this file's pages (a device going away).
    pub(crate) fn invalidate_mappings(&self) -> Result {
        // SAFETY: a live inode.
        kernel::error::to_result(unsafe { b::daxfs_invalidate_mapping(self.as_raw()) })
    }

    /// The super block this inode belongs to.
    pub(crate) fn super_block(&self) -> &SuperBlock<T> {
        // SAFETY: an inode keeps its super block alive.
        unsafe { SuperBlock::from_raw(self.raw().i_sb) }
    }
}

/// A locked, not yet initialised inode (`I_NEW`), from
/// [`SuperBlock::iget`] or [`SuperBlock::new_inode`].  Dropping it without
/// [`NewInode::init`] marks it bad and releases it (`iget_failed`).
pub(crate) struct NewInode<T: FileSystem>(NonNull<b::inode>, PhantomData<T>);

impl<T: FileSystem> NewInode<T> {
    /// Fills in the owner and mode of a new file the way the VFS wants it
    /// (`inode_init_owner`: fsuid, setgid directories, idmaps); returns
    /// `(mode, uid, gid)`.
    pub(crate) fn init_owner(&self, dir: &Inode<T>, mode: u16) -> (u16, u32, u32) {
        let p = self.0.as_ptr();
        // SAFETY: `p` is our locked new inode, `dir` a live directory; the
        // filesystem does not set FS_ALLOW_IDMAP, so mounts are never
        // idmapped and the no-op idmap is the right one.
        unsafe {
            b::inode_init_owner(&raw mut b::nop_mnt_idmap, p, dir.as_raw(), mode);
            ((*p).i_mode, (*p).i_uid.val, (*p).i_gid.val)
        }
    }

    /// Initialises the inode with `params` and the filesystem's `data`,
    /// sets its operations by file type and unlocks it.
    pub(crate) fn init(self, params: &InodeParams, data: impl PinInit<T::InodeData, Error>) -> Result<ARef<Inode<T>>> {
        let p = self.0.as_ptr();
        // SAFETY: `p` is our locked I_NEW inode, allocated by
        // `alloc_inode_cb::<T>`; nobody else can use it before
        // `unlock_new_inode`.  The data slot is pinned (the box never moves).
        unsafe {
            let bx = InodeBox::<T>::from_inode(p);
            let slot = (*(*bx).data.get()).as_mut_ptr();
            data.__init(slot)?;
            *(*bx).data_init.get() = true;

            let inode = &mut *p;
            inode.i_mode = params.mode;
            inode.i_uid.val = params.uid;
            inode.i_gid.val = params.gid;
            inode.i_generation = params.generation;
            b::set_nlink(p, params.nlink);
            b::daxfs_i_size_write(p, params.size as i64);
            inode.i_blocks = params.blocks << 3;
            let t = [params.atime.to_raw(), params.mtime.to_raw(), params.ctime.to_raw()];
            b::daxfs_inode_set_times(p, t.as_ptr());
            super::namei::set_inode_ops::<T>(p, params.mode, params.rdev);
            b::unlock_new_inode(p);
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the reference we owned is transferred to the `ARef`; the
        // inode is now initialised (type invariant of `Inode`).
        Ok(unsafe { ARef::from_raw(this.0.cast()) })
    }
}

impl<T: FileSystem> Drop for NewInode<T> {
    fn drop(&mut self) {
        // SAFETY: we own the reference to a locked I_NEW inode that was not
        // initialised; `iget_failed` marks it bad, unlocks and releases it.
        unsafe { b::iget_failed(self.0.as_ptr()) };
    }
}

/// What [`SuperBlock::iget`] found.
pub(crate) enum Iget<T: FileSystem> {
    /// The inode was in the inode cache.
    Cached(ARef<Inode<T>>),
    /// A new inode to load from disk and [`NewInode::init`].
    New(NewInode<T>),
}

impl<T: FileSystem> SuperBlock<T> {
    /// Looks `ino` up in the inode cache, or allocates it locked (`iget_locked`).
    pub(crate) fn iget(&self, ino: u64) -> Result<Iget<T>> {
        // SAFETY: the super block is live.
        let p = unsafe { b::iget_locked(self.as_raw(), ino) };
        let p = NonNull::new(p).ok_or(ENOMEM)?;
        // SAFETY: `p` is a referenced inode of this super block.
        if unsafe { b::daxfs_inode_is_new(p.as_ptr()) } {
            Ok(Iget::New(NewInode(p, PhantomData)))
        } else {
            // SAFETY: not new, so initialised by `init`; we own the reference.
            Ok(Iget::Cached(unsafe { ARef::from_raw(p.cast()) }))
        }
    }

    /// A brand new inode numbered `ino` (just allocated on disk), hashed and
    /// locked.  `EBUSY` if the number is still in the inode cache.
    pub(crate) fn new_inode(&self, ino: u64) -> Result<NewInode<T>> {
        // SAFETY: the super block is live.
        let p = unsafe { b::new_inode(self.as_raw()) };
        let p = NonNull::new(p).ok_or(ENOMEM)?;
        // SAFETY: `p` is a fresh inode only we reference.
        unsafe { (*p.as_ptr()).i_ino = ino };
        // SAFETY: as above; on success the inode is hashed and I_NEW.
        let r = unsafe { b::insert_inode_locked(p.as_ptr()) };
        if r != 0 {
            // SAFETY: not hashed, not I_NEW: a plain reference to drop.
            unsafe {
                b::make_bad_inode(p.as_ptr());
                b::iput(p.as_ptr());
            }
            return Err(Error::from_errno(r));
        }
        Ok(NewInode(p, PhantomData))
    }
}

/// A directory being listed (`struct dir_context`).
pub(crate) struct DirEmitter(*mut b::dir_context);

impl DirEmitter {
    /// # Safety
    /// `ctx` must be valid and exclusively ours for the emitter's lifetime.
    pub(crate) unsafe fn from_raw(ctx: *mut b::dir_context) -> Self {
        DirEmitter(ctx)
    }

    /// The position to continue from.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: valid per `from_raw`.
        unsafe { (*self.0).pos }
    }

    /// Moves the position (to after the last entry emitted).
    pub(crate) fn set_pos(&mut self, pos: i64) {
        // SAFETY: valid per `from_raw`.
        unsafe { (*self.0).pos = pos };
    }

    /// Emits one entry at the current position; `false` when the caller's
    /// buffer is full (stop, and emit this entry again next time).
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, dtype: u8) -> bool {
        // SAFETY: `self.0` is valid; `name` is valid for `name.len()` bytes.
        unsafe { b::daxfs_dir_emit(self.0, name.as_ptr().cast(), name.len() as i32, ino, dtype as u32) }
    }
}

/// A name in a directory, as the VFS passed it in a dentry.
///
/// # Safety
/// `d` must be a live dentry whose name the VFS keeps stable for `'a` (the
/// parent's `i_rwsem` held across the operation, as for every inode
/// operation that passes a dentry).
pub(crate) unsafe fn dentry_name<'a>(d: *mut b::dentry) -> &'a [u8] {
    // SAFETY: per the contract the dentry and its name stay valid and
    // unchanged for `'a`; `name`/`len` describe the name's bytes.
    unsafe {
        let q = &(*d).__bindgen_anon_1.d_name;
        core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
    }
}

