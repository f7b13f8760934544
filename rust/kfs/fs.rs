// SPDX-License-Identifier: GPL-2.0
//! Filesystem types, mount contexts and super blocks.
//!
//! A filesystem implements [`FileSystem`] (a `#[vtable]` trait standing for
//! `struct file_system_type`, `struct fs_context_operations` and `struct
//! super_operations`), declares one `static` [`FsType`] and registers it from
//! its module's `init` with [`Registration::register`].
//!
//! Lifetimes, as the VFS defines them:
//! * `init_fs_context` allocates `T::Options` (`fc->fs_private`); each mount
//!   parameter goes to [`FileSystem::parse_param`]; `free` drops the options.
//! * `get_tree` opens the block device (`get_tree_bdev`) and calls
//!   [`FileSystem::fill_super`] with a [`NewSuperBlock`]; the `T::Info` it
//!   returns becomes `sb->s_fs_info`, reachable as [`SuperBlock::info`].
//! * `put_super` (unmount, after every inode was evicted, while the block
//!   device is still open) calls [`FileSystem::unmount`] and drops
//!   `T::Info`; `kill_sb` then releases the block device
//!   (`kill_block_super`).  When `fill_super` failed half way there is no
//!   `put_super`: `kill_sb` drops the `T::Info` without `unmount`, before
//!   it releases the device.  So nothing of `T` outlives the block device,
//!   and a mount that failed writes nothing at the end.

use super::bindings as b;
use super::dax::DaxDevice;
use super::file::{self, Falloc};
use super::iomap::{Mapping, Request};
use super::inode::{self, DirEmitter, Inode, Time};
use super::param::{Param, Spec};
use super::seq::SeqFile;
use core::{cell::UnsafeCell, ffi::c_int, ffi::c_void, ffi::CStr, marker::PhantomData, ptr};
use kernel::{
    ffi::{c_long, c_uint, c_ulong},
    error::{from_result, VTABLE_DEFAULT_ERROR},
    prelude::*,
    types::Opaque,
    sync::aref::ARef,
    ThisModule,
};

/// The values `statfs(2)` reports.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StatFs {
    pub(crate) blocks: u64,
    pub(crate) bfree: u64,
    pub(crate) bavail: u64,
    pub(crate) files: u64,
    pub(crate) ffree: u64,
    pub(crate) namelen: u64,
    pub(crate) fsid: u64,
}

/// A filesystem implementation.
#[vtable]
pub(crate) trait FileSystem: Sized + Send + Sync + 'static {
    /// The type name (`mount -t NAME`, /proc/filesystems).
    const NAME: &'static CStr;
    /// `s_magic` and statfs `f_type`.
    const MAGIC: u32;
    /// Block size, set on the super block before `fill_super` runs.
    const BLOCK_SIZE: u32;
    /// Mount parameters; must end with [`Spec::END`].
    const PARAMS: &'static [Spec];
    /// Largest file size (`s_maxbytes`).
    const MAX_BYTES: u64 = i64::MAX as u64;

    /// Mount options collected while parsing parameters.
    type Options: Default + Send;
    /// Per-super-block state, `sb->s_fs_info`.
    type Info: Send + Sync;
    /// Per-inode state, stored next to the VFS inode.
    type InodeData: Send + Sync;

    /// Applies one parsed mount parameter to `opts`.
    fn parse_param(opts: &mut Self::Options, param: Param) -> Result;

    /// Reads and validates the on-disk super block; returns the mounted state.
    fn fill_super(sb: &NewSuperBlock<'_, Self>, opts: &Self::Options) -> Result<Self::Info>;

    /// The root directory, once `sb.info()` is available.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>>;

    /// Finds `name` in `dir`.
    fn lookup(_dir: &Inode<Self>, _name: &[u8]) -> Result<Option<ARef<Inode<Self>>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Creates `name` in `dir` (regular file, directory, symlink, device,
    /// fifo or socket, as `new.mode` says), or an unnamed `O_TMPFILE` inode
    /// when `name` is `None`.
    fn create(_dir: &Inode<Self>, _name: Option<&[u8]>, _new: &NewEntry<'_>) -> Result<ARef<Inode<Self>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Adds a hard link `name` in `dir` to `inode`.
    fn link(_dir: &Inode<Self>, _name: &[u8], _inode: &Inode<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Removes `name` (a non-directory `inode`) from `dir`.
    fn unlink(_dir: &Inode<Self>, _name: &[u8], _inode: &Inode<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Removes the empty directory `name` (`inode`) from `dir`.
    fn rmdir(_dir: &Inode<Self>, _name: &[u8], _inode: &Inode<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Renames; `flags` are `RENAME_NOREPLACE`/`EXCHANGE`/`WHITEOUT`.
    fn rename(_r: &Rename<'_, Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Lists `dir` from `emit.pos()`.
    fn readdir(_dir: &Inode<Self>, _emit: &mut DirEmitter) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A symlink's target.
    fn get_link(_inode: &Inode<Self>) -> Result<&CStr> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Persists the VFS-visible attributes of `inode` (mode, owner, nlink,
    /// times, flags) after the VFS changed them.
    fn write_inode(_inode: &Inode<Self>) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Truncate: `i_size` is already `size` and nothing maps the file past
    /// it (see [`file::truncate`]); frees the blocks past it and persists
    /// the size.  On an error that changed nothing, restores `i_size` to
    /// the old size; after the size was persisted, leaves it.
    fn set_size(_inode: &Inode<Self>, _size: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The DAX device file data lives on (required with `iomap_begin`).
    fn dax_device(_sb: &SuperBlock<Self>) -> &DaxDevice {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Maps a file range for the DAX engine (see [`iomap`]).  Implementing
    /// it makes regular files DAX files.
    fn iomap_begin(_inode: &Inode<Self>, _pos: u64, _len: u64, _req: Request) -> Result<Mapping> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// After a write through `map` (from `iomap_begin` with
    /// `Purpose::Write`) copied `written` of `len` bytes from `pos`.
    fn iomap_end(_inode: &Inode<Self>, _pos: u64, _len: u64, _written: u64, _map: &Mapping) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A write is about to extend the file past `old_size` (`i_rwsem`
    /// held): blocks past the old end must read as zeroes once inside it.
    fn prepare_extend(_inode: &Inode<Self>, _old_size: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A write extended the file to `size` bytes: persist it (called with
    /// `i_rwsem` held, before `i_size` changes).
    fn write_size(_inode: &Inode<Self>, _size: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `fallocate(2)`; called with `i_rwsem` held and, for operations that
    /// free or move blocks, the invalidate lock held, layouts broken and the
    /// affected range (to EOF for collapse and insert) unmapped.
    fn fallocate(_inode: &Inode<Self>, _op: Falloc, _offset: u64, _len: u64) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The birth time, for statx.
    fn btime(_inode: &Inode<Self>) -> Option<Time> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// The last reference to `inode` is gone (frees it if unlinked).
    fn evict_inode(_inode: &Inode<Self>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `mount -o remount`: checks/applies new options on a mounted fs;
    /// `read_only` is the state asked for (the super block still shows the
    /// old one; the filesystem is synced, and for rw -> ro nothing is open
    /// for writing).
    fn reconfigure(_sb: &SuperBlock<Self>, _opts: &Self::Options, _read_only: bool) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// `statfs(2)`.
    fn statfs(_sb: &SuperBlock<Self>) -> Result<StatFs> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Mount options as shown in /proc/mounts (each written as `,name[=value]`).
    fn show_options(_sb: &SuperBlock<Self>, _seq: &mut SeqFile) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Shuts the filesystem down: `FS_IOC_SHUTDOWN` (after syncing, for
    /// the default flag) or `->shutdown` (the device is going away).  From
    /// then on changes and data I/O fail with `EIO` until it is unmounted.
    /// Returns false if it was already shut down.  Implementing it adds
    /// the ioctl to regular files and directories.
    fn shutdown(_sb: &SuperBlock<Self>) -> bool {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// A memory failure on the filesystem's part of its DAX device, or
    /// the device about to be removed (`notify_failure`; only when this
    /// mount is the device's holder, see [`MemoryFailure`] and
    /// docs/media-errors.md).  `EOPNOTSUPP` lets the kernel fall back to
    /// killing the processes that map the page now.
    fn notify_failure(_sb: &SuperBlock<Self>, _f: MemoryFailure) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Whether [`FileSystem::shutdown`] happened (`fsync` then fails).
    fn is_shut_down(_sb: &SuperBlock<Self>) -> bool {
        false
    }

    /// Unmount (`put_super`): every inode is evicted and the block device
    /// is still open; `T::Info` is dropped right after.  Not called when
    /// `fill_super` failed.
    fn unmount(_sb: &SuperBlock<Self>) {}
}

/// A memory failure reported to the holder of a DAX device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MemoryFailure {
    /// Byte range on the filesystem's block device (a partition's start
    /// already taken off, clipped to its size).
    pub(crate) off: u64,
    pub(crate) len: u64,
    /// `MF_*` flags, passed on to [`Inode::kill_procs`].
    pub(crate) flags: i32,
}

impl MemoryFailure {
    /// The device is about to be removed (the range is all of it).
    pub(crate) fn pre_remove(&self) -> bool {
        self.flags as u32 & b::mf_flags_MF_MEM_PRE_REMOVE != 0
    }
}

/// What to create, for [`FileSystem::create`].
pub(crate) struct NewEntry<'a> {
    /// Type and permission bits as requested (before `init_owner`).
    pub(crate) mode: u16,
    /// Device number (`dev_t`) for device nodes.
    pub(crate) rdev: u32,
    /// The target, for symlinks.
    pub(crate) symlink: Option<&'a [u8]>,
}

/// One rename, for [`FileSystem::rename`].
pub(crate) struct Rename<'a, T: FileSystem> {
    pub(crate) old_dir: &'a Inode<T>,
    pub(crate) old_name: &'a [u8],
    pub(crate) old: &'a Inode<T>,
    pub(crate) new_dir: &'a Inode<T>,
    pub(crate) new_name: &'a [u8],
    /// The inode `new_name` refers to now, if any.
    pub(crate) target: Option<&'a Inode<T>>,
    pub(crate) flags: u32,
}

/// `RENAME_*` flags.
pub(crate) const RENAME_EXCHANGE: u32 = b::RENAME_EXCHANGE;
pub(crate) const RENAME_WHITEOUT: u32 = b::RENAME_WHITEOUT;

/// A super block being set up by [`FileSystem::fill_super`].
pub(crate) struct NewSuperBlock<'a, T: FileSystem> {
    sb: *mut b::super_block,
    _p: PhantomData<&'a T>,
}

impl<T: FileSystem> NewSuperBlock<'_, T> {
    /// The device name, for messages (`sb->s_id`).
    pub(crate) fn id(&self) -> &CStr {
        // SAFETY: `self.sb` is valid during `fill_super` and `s_id` is a
        // NUL-terminated string set by `get_tree_bdev`.
        unsafe { sb_id(self.sb) }
    }

    /// Size of the underlying block device in bytes.
    pub(crate) fn device_bytes(&self) -> u64 {
        // SAFETY: `s_bdev` is the open block device during `fill_super`.
        unsafe { b::daxfs_bdev_nr_bytes((*self.sb).s_bdev) }
    }

    /// Byte offset of the block device on its disk: a partition's start,
    /// 0 for a whole device.
    pub(crate) fn device_start(&self) -> u64 {
        // SAFETY: `s_bdev` is the open block device during `fill_super`.
        unsafe { b::daxfs_bdev_start_bytes((*self.sb).s_bdev) }
    }

    /// Whether the mount is read-only.
    pub(crate) fn read_only(&self) -> bool {
        // SAFETY: `self.sb` is valid during `fill_super`.
        unsafe { b::daxfs_sb_rdonly(self.sb) }
    }

    /// Whether the block device itself is read-only (`blockdev --setro`,
    /// a write-protected disk): then nothing may be written through DAX
    /// either, not even a journal replay.
    pub(crate) fn device_read_only(&self) -> bool {
        // SAFETY: `s_bdev` is the open block device during `fill_super`.
        unsafe { b::daxfs_bdev_read_only((*self.sb).s_bdev) }
    }

    /// Claims the DAX device behind the block device, as its holder when
    /// `T` handles memory failures and nobody holds it yet.
    /// `EOPNOTSUPP` when the device cannot do DAX.
    pub(crate) fn dax_device(&self) -> Result<DaxDevice> {
        let holder = T::HAS_NOTIFY_FAILURE.then_some((self.sb, &Tables::<T>::HOLDER_OPS));
        // SAFETY: `s_bdev` is open for as long as the super block exists, and
        // `T::Info` (which owns the `DaxDevice`) is dropped in `put_super`
        // or, after a failed `fill_super`, in `kill_sb` before
        // `kill_block_super` releases the block device and before the
        // super block is freed; `HOLDER_OPS` is a `'static` table whose
        // callback checks that the holder is a mounted `T` super block.
        unsafe { DaxDevice::open((*self.sb).s_bdev, self.device_bytes(), holder) }
    }
}

/// A mounted super block of filesystem `T`.
#[repr(transparent)]
pub(crate) struct SuperBlock<T: FileSystem>(Opaque<b::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `sb` must be a live super block of type `T` whose `s_fs_info` holds a
    /// `T::Info` (set by `fill_super_cb`), valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(sb: *mut b::super_block) -> &'a Self {
        // SAFETY: `repr(transparent)` over `Opaque<super_block>`; the caller
        // guarantees validity for `'a`.
        unsafe { &*sb.cast::<Self>() }
    }

    pub(crate) fn as_raw(&self) -> *mut b::super_block {
        self.0.get()
    }

    /// The filesystem's per-super-block state.
    pub(crate) fn info(&self) -> &T::Info {
        // SAFETY: by the type invariant `s_fs_info` is a `T::Info` allocated
        // by `fill_super_cb` and freed in `put_super` (after every inode
        // was evicted, with `s_umount` held exclusively: no VFS path that
        // reaches a `SuperBlock` runs after it) or, when `fill_super`
        // failed, in `kill_sb`.
        unsafe { &*((*self.0.get()).s_fs_info as *const T::Info) }
    }

    /// Calls `f` for every inode of this super block in the inode cache
    /// (each held by a reference while `f` runs); stops at the first error
    /// and returns it.
    pub(crate) fn for_each_cached_inode<F: FnMut(&Inode<T>) -> Result>(&self, mut f: F) -> Result {
        unsafe extern "C" fn tramp<T: FileSystem, F: FnMut(&Inode<T>) -> Result>(ctx: *mut c_void, inode: *mut b::inode) -> c_int {
            // SAFETY: `ctx` is the `F` passed below, alive for the call.
            let f = unsafe { &mut *ctx.cast::<F>() };
            // SAFETY: the helper holds a reference to `inode`, an inode of a
            // live `T` super block that is not new or being freed.
            if !unsafe { inode::data_initialised::<T>(inode) } {
                return 0;
            }
            // SAFETY: as above; initialised, so its data is a `T::InodeData`.
            match f(unsafe { Inode::from_raw(inode) }) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            }
        }
        // SAFETY: the super block is live; `tramp` matches the callback
        // type and `f` outlives the call.
        let r = unsafe { b::daxfs_for_each_cached_inode(self.as_raw(), Some(tramp::<T, F>), (&raw mut f).cast()) };
        kernel::error::to_result(r)
    }

    /// Freezes the filesystem for the kernel (`FREEZE_HOLDER_KERNEL`):
    /// waits for writes and faults in flight and syncs.  Returns whether it
    /// froze it (thaw with [`SuperBlock::thaw_all`]).
    pub(crate) fn freeze_kernel(&self) -> bool {
        // SAFETY: a live, active super block; no lock of ours is held.
        unsafe { b::daxfs_freeze_kernel(self.as_raw()) == 0 }
    }

    /// Thaws the kernel's freeze (if `kernel`) and a userspace one.
    pub(crate) fn thaw_all(&self, kernel: bool) {
        // SAFETY: a live, active super block.
        unsafe { b::daxfs_thaw_all(self.as_raw(), kernel) };
    }

    /// The device name, for messages.
    #[allow(dead_code)]
    pub(crate) fn id(&self) -> &CStr {
        // SAFETY: the super block is live and `s_id` is NUL-terminated.
        unsafe { sb_id(self.0.get()) }
    }
}

/// # Safety
/// `sb` must be valid for `'a` and its `s_id` NUL-terminated.
unsafe fn sb_id<'a>(sb: *mut b::super_block) -> &'a CStr {
    // SAFETY: per the function's contract.
    unsafe { CStr::from_ptr((*sb).s_id.as_ptr().cast()) }
}

/// The `struct file_system_type` of filesystem `T`; lives in a `static`
/// (lockdep requires its lock class keys to be static).
pub(crate) struct FsType<T: FileSystem> {
    inner: UnsafeCell<b::file_system_type>,
    _p: PhantomData<T>,
}

// SAFETY: the C struct is written only in `Registration::register` before
// `register_filesystem` publishes it (and registration happens once, from
// module init); afterwards only the VFS touches it, under its own locks.
unsafe impl<T: FileSystem> Sync for FsType<T> {}

impl<T: FileSystem> FsType<T> {
    /// A file system type for `T`, to be placed in a `static`.
    pub(crate) const fn new() -> Self {
        // SAFETY: `file_system_type` is a C struct for which all-zeroes is a
        // valid (empty) value.
        let mut fst: b::file_system_type = unsafe { core::mem::zeroed() };
        fst.name = T::NAME.as_ptr().cast();
        fst.fs_flags = b::FS_REQUIRES_DEV as c_int;
        fst.init_fs_context = Some(init_fs_context_cb::<T>);
        fst.parameters = T::PARAMS.as_ptr().cast();
        fst.kill_sb = Some(kill_sb_cb::<T>);
        FsType { inner: UnsafeCell::new(fst), _p: PhantomData }
    }
}

/// A registered filesystem type; unregisters on drop (module exit).
pub(crate) struct Registration<T: FileSystem> {
    fst: &'static FsType<T>,
}

impl<T: FileSystem> Registration<T> {
    /// Registers `fst` with the VFS.
    pub(crate) fn register(fst: &'static FsType<T>, module: &'static ThisModule) -> Result<Self> {
        if !T::PARAMS.last().is_some_and(Spec::is_end) {
            pr_err!("{:?}: parameter table lacks its END entry\n", T::NAME);
            return Err(EINVAL);
        }
        let raw = fst.inner.get();
        // SAFETY: `raw` points to a `'static` struct that nobody else touches
        // until `register_filesystem` publishes it (see `impl Sync`).
        unsafe { (*raw).owner = module.as_ptr().cast() };
        // SAFETY: called once, at module init, before anything uses the
        // helpers' work queue.
        kernel::error::to_result(unsafe { b::daxfs_helpers_init() })?;
        // SAFETY: `raw` is a fully initialised, `'static` file_system_type.
        if let Err(e) = kernel::error::to_result(unsafe { b::register_filesystem(raw) }) {
            // SAFETY: initialised above; nothing was queued (no mount).
            unsafe { b::daxfs_helpers_exit() };
            return Err(e);
        }
        Ok(Registration { fst })
    }
}

impl<T: FileSystem> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: the type was registered in `register`; unregistering waits
        // for nothing but removes it from the list, and module unload cannot
        // happen while a super block of this type exists (it pins the module).
        unsafe { b::unregister_filesystem(self.fst.inner.get()) };
        // SAFETY: initialised in `register`; no super block of ours is
        // left, so nothing queues more work; this waits for queued work
        // (a deferred last `deactivate_super`) to return, and for
        // `notify_failure` calls inside the module's code.
        unsafe { b::daxfs_helpers_exit() };
    }
}

/// Operation tables for `T`, in statics built at compile time.
struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const HOLDER_OPS: b::dax_holder_operations = b::dax_holder_operations { notify_failure: Some(notify_failure_cb::<T>) };

    const CONTEXT_OPS: b::fs_context_operations = b::fs_context_operations {
        free: Some(fc_free_cb::<T>),
        dup: None,
        parse_param: Some(parse_param_cb::<T>),
        parse_monolithic: None,
        get_tree: Some(get_tree_cb::<T>),
        reconfigure: Some(reconfigure_cb::<T>),
    };

    const SUPER_OPS: b::super_operations = {
        // SAFETY: all-zeroes is a valid `super_operations` (no callbacks).
        let mut ops: b::super_operations = unsafe { core::mem::zeroed() };
        ops.alloc_inode = Some(inode::alloc_inode_cb::<T>);
        ops.free_inode = Some(inode::free_inode_cb::<T>);
        ops.evict_inode = Some(evict_inode_cb::<T>);
        ops.put_super = Some(put_super_cb::<T>);
        if T::HAS_WRITE_INODE {
            ops.dirty_inode = Some(dirty_inode_cb::<T>);
        }
        if T::HAS_STATFS {
            ops.statfs = Some(statfs_cb::<T>);
        }
        if T::HAS_SHOW_OPTIONS {
            ops.show_options = Some(show_options_cb::<T>);
        }
        if T::HAS_SHUTDOWN {
            ops.shutdown = Some(shutdown_cb::<T>);
            ops.sync_fs = Some(sync_fs_cb::<T>);
        }
        ops
    };
}

unsafe extern "C" fn init_fs_context_cb<T: FileSystem>(fc: *mut b::fs_context) -> c_int {
    from_result(|| {
        let opts = KBox::new(T::Options::default(), GFP_KERNEL)?;
        // SAFETY: `fc` is the context being initialised, exclusively ours in
        // this callback; the ops table is a `'static` promoted constant.
        unsafe {
            (*fc).fs_private = KBox::into_raw(opts).cast();
            (*fc).ops = &Tables::<T>::CONTEXT_OPS;
        }
        Ok(0)
    })
}

/// # Safety
/// `fc` must be a context initialised by `init_fs_context_cb::<T>`.
unsafe fn fc_options<'a, T: FileSystem>(fc: *mut b::fs_context) -> &'a mut T::Options {
    // SAFETY: `fs_private` holds the `KBox<T::Options>` allocated in
    // `init_fs_context_cb` and the VFS serialises calls on one context.
    unsafe { &mut *((*fc).fs_private as *mut T::Options) }
}

unsafe extern "C" fn fc_free_cb<T: FileSystem>(fc: *mut b::fs_context) {
    // SAFETY: `fc` is being freed; `fs_private` is NULL or our `KBox`.
    unsafe {
        let p = (*fc).fs_private as *mut T::Options;
        if !p.is_null() {
            drop(KBox::from_raw(p));
            (*fc).fs_private = ptr::null_mut();
        }
    }
}

unsafe extern "C" fn parse_param_cb<T: FileSystem>(fc: *mut b::fs_context, param: *mut b::fs_parameter) -> c_int {
    let mut result = b::fs_parse_result::default();
    // SAFETY: `fc` and `param` are valid for this callback; `T::PARAMS` is a
    // terminated `'static` table (checked at registration).
    let opt = unsafe { b::daxfs_fs_parse(fc, T::PARAMS.as_ptr().cast(), param, &mut result) };
    if opt < 0 {
        // -ENOPARAM lets the VFS handle "source" or report "Unknown parameter".
        return opt;
    }
    // SAFETY: for enumerations `fs_parse` stored the value in `uint_32`; for
    // flags the union is still zero-initialised, so the read is defined.
    let value = unsafe { result.__bindgen_anon_1.uint_32 };
    // SAFETY: `fc` was initialised by `init_fs_context_cb::<T>`.
    let opts = unsafe { fc_options::<T>(fc) };
    from_result(|| T::parse_param(opts, Param { opt: opt as u8, value }).map(|()| 0))
}

unsafe extern "C" fn get_tree_cb<T: FileSystem>(fc: *mut b::fs_context) -> c_int {
    // SAFETY: `fc` is valid; `fill_super_cb::<T>` matches the callback type.
    unsafe { b::get_tree_bdev(fc, Some(fill_super_cb::<T>)) }
}

unsafe extern "C" fn reconfigure_cb<T: FileSystem>(fc: *mut b::fs_context) -> c_int {
    from_result(|| {
        // SAFETY: on reconfigure `fc->root` is the mounted root dentry, whose
        // super block is a live `T` super block with `s_fs_info` set.
        let raw = unsafe { (*(*fc).root).d_sb };
        // SAFETY: see above; `fc` was initialised by our init callback.
        let (sb, opts) = unsafe { (SuperBlock::<T>::from_raw(raw), fc_options::<T>(fc)) };
        // SAFETY: `fc` is the live context of this reconfiguration and
        // `sb` its super block.
        let read_only = unsafe { b::daxfs_fc_read_only(fc, raw) };
        // SAFETY: `raw` is live (see above).
        let changes = read_only != unsafe { b::daxfs_sb_rdonly(raw) };
        if T::is_shut_down(sb) {
            // Nothing can be written or synced: ro <-> rw is refused, as
            // ext4 does; other options may still change.
            if changes {
                return Err(EROFS);
            }
        } else {
            // SAFETY: `raw` is live (see above).
            kernel::error::to_result(unsafe { b::sync_filesystem(raw) })?;
        }
        if T::HAS_RECONFIGURE {
            T::reconfigure(sb, opts, read_only)?;
        }
        Ok(0)
    })
}

unsafe extern "C" fn fill_super_cb<T: FileSystem>(sb: *mut b::super_block, fc: *mut b::fs_context) -> c_int {
    from_result(|| {
        // SAFETY: `sb` is the new, locked super block, exclusively ours until
        // this callback returns; `fc` is the mount's context.
        unsafe {
            (*sb).s_magic = T::MAGIC as _;
            (*sb).s_op = &Tables::<T>::SUPER_OPS;
            (*sb).s_maxbytes = T::MAX_BYTES.min(i64::MAX as u64) as i64;
            (*sb).s_time_gran = 1;
            if b::sb_set_blocksize(sb, T::BLOCK_SIZE as c_int) == 0 {
                pr_err!("{:?}: cannot use block size {}\n", sb_id(sb), T::BLOCK_SIZE);
                return Err(EINVAL);
            }
        }
        let new = NewSuperBlock::<T> { sb, _p: PhantomData };
        // SAFETY: `fc` was initialised by `init_fs_context_cb::<T>`.
        let opts = unsafe { fc_options::<T>(fc) };
        let info = KBox::new(T::fill_super(&new, opts)?, GFP_KERNEL)?;
        // SAFETY: see above; from here `kill_sb_cb` owns and frees the info,
        // also if the rest of this function fails.
        unsafe { (*sb).s_fs_info = KBox::into_raw(info).cast() };
        // SAFETY: `sb` is valid and now carries its `T::Info`.
        let root = T::root(unsafe { SuperBlock::<T>::from_raw(sb) })?;
        // SAFETY: `d_make_root` takes over our inode reference (and drops it
        // on failure); `sb` is exclusively ours during fill_super.
        unsafe {
            let dentry = b::d_make_root(ARef::into_raw(root).as_ptr().cast());
            if dentry.is_null() {
                return Err(ENOMEM);
            }
            (*sb).s_root = dentry;
        }
        Ok(0)
    })
}

/// Takes `T::Info` out of `sb` and drops it (nothing if already gone).
///
/// # Safety
/// `sb` is a super block of `T` that no VFS path uses any more except to
/// shut it down: no inode, file or mapping of it is live.
unsafe fn drop_info<T: FileSystem>(sb: *mut b::super_block) {
    // SAFETY: per the contract nothing else reads `s_fs_info` now; it is
    // NULL or the `KBox` stored by `fill_super_cb`.
    unsafe {
        let info = (*sb).s_fs_info as *mut T::Info;
        if !info.is_null() {
            (*sb).s_fs_info = ptr::null_mut();
            drop(KBox::from_raw(info));
        }
    }
}

unsafe extern "C" fn put_super_cb<T: FileSystem>(sb: *mut b::super_block) {
    // SAFETY: `generic_shutdown_super` calls this once, for a super block
    // whose `fill_super` succeeded (it has a root), after evicting every
    // inode and before the block device is released: the info is set and
    // no other VFS path uses it any more.
    unsafe {
        T::unmount(SuperBlock::<T>::from_raw(sb));
        drop_info::<T>(sb);
    }
}

unsafe extern "C" fn kill_sb_cb<T: FileSystem>(sb: *mut b::super_block) {
    // SAFETY: `sb` is a super block of our type being destroyed.  Without
    // a root, `fill_super` failed and there will be no `put_super`: every
    // inode it read was evicted when released (the super block never
    // became active) and nothing else uses the info, so it is dropped
    // here, while the block device is still open.  With a root,
    // `kill_block_super` syncs, evicts and calls `put_super`, which drops
    // it; the last `drop_info` finds nothing then.
    unsafe {
        if (*sb).s_root.is_null() {
            drop_info::<T>(sb);
        }
        b::kill_block_super(sb);
        drop_info::<T>(sb);
    }
}

unsafe extern "C" fn statfs_cb<T: FileSystem>(dentry: *mut b::dentry, buf: *mut b::kstatfs) -> c_int {
    from_result(|| {
        // SAFETY: `dentry` belongs to a mounted `T` super block.
        let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
        let st = T::statfs(sb)?;
        // SAFETY: `buf` is a valid, exclusively ours `kstatfs`.
        let buf = unsafe { &mut *buf };
        buf.f_type = T::MAGIC as _;
        buf.f_bsize = T::BLOCK_SIZE as _;
        buf.f_frsize = T::BLOCK_SIZE as _;
        buf.f_blocks = st.blocks;
        buf.f_bfree = st.bfree;
        buf.f_bavail = st.bavail;
        buf.f_files = st.files;
        buf.f_ffree = st.ffree;
        buf.f_namelen = st.namelen as _;
        buf.f_fsid.val = [st.fsid as i32, (st.fsid >> 32) as i32];
        Ok(0)
    })
}

unsafe extern "C" fn show_options_cb<T: FileSystem>(seq: *mut b::seq_file, root: *mut b::dentry) -> c_int {
    from_result(|| {
        // SAFETY: `root` is the root of a mounted `T` super block; `seq` is
        // the seq_file being filled, exclusively ours during this callback.
        let (sb, seq) = unsafe { (SuperBlock::<T>::from_raw((*root).d_sb), SeqFile::from_raw(seq)) };
        T::show_options(sb, seq)?;
        Ok(0)
    })
}

unsafe extern "C" fn shutdown_cb<T: FileSystem>(sb: *mut b::super_block) {
    // SAFETY: the VFS passes a mounted super block of `T` (s_umount held,
    // so `fill_super` completed and `info` is set).
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    if T::shutdown(sb) {
        pr_warn!("{:?}: shut down: the device is going away\n", sb.id());
    }
}

/// `dax_holder_operations.notify_failure`: `off`/`len` are on the DAX
/// device; called under the DAX core's SRCU read lock, from memory
/// failure handling or from `kill_dax` (`MF_MEM_PRE_REMOVE`, `(0,
/// U64_MAX)`).
unsafe extern "C" fn notify_failure_cb<T: FileSystem>(dev: *mut b::dax_device, off: u64, len: u64, flags: c_int) -> c_int {
    // SAFETY: `dev` is the live DAX device the kernel reports on; the
    // helper returns the super block that holds it only while it is
    // mounted (born), with an active reference; either way inside the
    // callback SRCU section that module exit waits for, left below.
    let mut idx: c_int = 0;
    let raw = unsafe { b::daxfs_dax_holder_get(dev, &mut idx) };
    if raw.is_null() {
        // SAFETY: leaves the callback section `daxfs_dax_holder_get` entered.
        unsafe { b::daxfs_callback_exit(idx) };
        // Mounting or unmounting: the generic handler kills the mappers.
        return EOPNOTSUPP.to_errno();
    }
    // SAFETY: the helper finds the super block in the table of devices
    // daxfs holds, filled only by `NewSuperBlock::dax_device::<T>` (one
    // filesystem type, `T`, registers these ops); it is born, so
    // `fill_super` set its info, and the active reference keeps it
    // mounted.
    let sb = unsafe { SuperBlock::<T>::from_raw(raw) };
    let d = T::dax_device(sb);
    let mut f = MemoryFailure { off: 0, len: d.len(), flags };
    let r = if f.pre_remove() {
        T::notify_failure(sb, f)
    } else {
        // As xfs_dax_translate_range: clip to this partition.
        let (start, end) = (d.part_off(), d.part_off().saturating_add(d.len()));
        let last = off.saturating_add(len.max(1) - 1);
        if off >= end || last < start {
            // Another partition's: the kernel's generic handler kills
            // whatever maps it.
            Err(EOPNOTSUPP)
        } else {
            f.off = off.max(start) - start;
            f.len = last.min(end - 1) + 1 - start - f.off;
            T::notify_failure(sb, f)
        }
    };
    // SAFETY: what `daxfs_dax_holder_get` took; `sb` is not used after.
    unsafe { b::daxfs_dax_holder_put(raw, idx) };
    r.map_or_else(|e| e.to_errno(), |()| 0)
}

/// `FS_IOC_SHUTDOWN` on any file or directory of `T` (other commands:
/// `ENOTTY`).  The default flag freezes the filesystem first, as ext4 and
/// XFS do (waits for writes and faults in flight, writes back mmap'ed
/// pages), shuts down, then thaws; `LOGFLUSH` and `NOLOGFLUSH` shut down at
/// once (a `T` whose every change is durable when its call returns has no
/// log to flush).  Already shut down: 0 at once.
pub(crate) unsafe extern "C" fn ioctl_cb<T: FileSystem>(file: *mut b::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // The crash-state recorder's commands (test module only).
    #[cfg(daxfs_record)]
    {
        // SAFETY: an open file pins its inode (one of ours) and the super block.
        let inode = unsafe { super::inode::Inode::<T>::from_raw(b::daxfs_file_inode(file)) };
        let r = if cmd != super::record::IOC_CAPTURE {
            T::dax_device(inode.super_block()).record_ioctl(cmd, arg as usize)
        } else if !super::record::permitted() {
            Some(Err(EPERM))
        } else if !inode.is_reg() {
            Some(Err(EINVAL))
        } else {
            Some(super::iomap::record_capture(inode, arg as usize))
        };
        if let Some(r) = r {
            return r.map_or_else(|e| e.to_errno() as c_long, |v| v as c_long);
        }
    }
    // SAFETY: the VFS passes an open file; the helper checks the command,
    // CAP_SYS_ADMIN and copies the flags from user memory.
    let flags = unsafe { b::daxfs_shutdown_ioctl_flags(cmd, arg) };
    if flags < 0 {
        return flags as c_long;
    }
    // SAFETY: an open file of ours pins its inode and the super block.
    let sb = unsafe { SuperBlock::<T>::from_raw((*b::daxfs_file_inode(file)).i_sb) };
    if T::is_shut_down(sb) {
        return 0;
    }
    let freeze = flags as u32 == b::FS_SHUTDOWN_FLAGS_DEFAULT;
    if freeze {
        // SAFETY: as above; no lock of ours is held (freezing takes
        // s_umount and waits for writers, as bdev_freeze does for ext4).
        let r = unsafe { b::daxfs_bdev_freeze(sb.as_raw()) };
        if r < 0 {
            return r as c_long;
        }
    }
    if T::shutdown(sb) {
        pr_warn!("{:?}: shut down by FS_IOC_SHUTDOWN (flags {}): changes and data I/O fail with EIO until unmount\n", sb.id(), flags);
    }
    if freeze {
        // SAFETY: frozen above.
        unsafe { b::daxfs_bdev_thaw(sb.as_raw()) };
    }
    0
}

/// `->sync_fs` (syncfs(2), sync(2), unmount): `EIO` once shut down, as on
/// ext4; otherwise orders earlier non-temporal stores (metadata is already
/// durable: every transaction was when it returned).
unsafe extern "C" fn sync_fs_cb<T: FileSystem>(sb: *mut b::super_block, _wait: c_int) -> c_int {
    // SAFETY: the VFS passes a mounted super block of `T` (s_umount held).
    let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
    if T::is_shut_down(sb) {
        return EIO.to_errno();
    }
    // Through the device, so the crash-state recorder sees it.
    T::dax_device(sb).fence();
    0
}

unsafe extern "C" fn evict_inode_cb<T: FileSystem>(inode: *mut b::inode) {
    // SAFETY: being evicted; waits for pinned DAX pages (no-op if not DAX).
    unsafe { file::evict_dax(inode) };
    // SAFETY: the VFS calls this once, with the last reference gone; the
    // page cache of a DAX inode is empty but must still be finalised.
    unsafe { b::truncate_inode_pages_final(&raw mut (*inode).i_data) };
    // SAFETY: only inodes whose data was initialised are handed to `T`
    // (a failed `iget` leaves a bad inode without data).
    if T::HAS_EVICT_INODE && unsafe { inode::data_initialised::<T>(inode) } {
        // SAFETY: initialised inode of `T`, alive during eviction.
        T::evict_inode(unsafe { Inode::from_raw(inode) });
    }
    // SAFETY: the inode is being evicted; `clear_inode` is the required last step.
    unsafe { b::clear_inode(inode) };
}

unsafe extern "C" fn dirty_inode_cb<T: FileSystem>(inode: *mut b::inode, _flags: c_int) {
    // SAFETY: the VFS passes a live inode; only initialised inodes are dirtied
    // (a bad inode is never marked dirty by the VFS paths we enable).
    if !unsafe { inode::data_initialised::<T>(inode) } {
        return;
    }
    // SAFETY: as above.
    let i = unsafe { Inode::<T>::from_raw(inode) };
    // After a shutdown nothing can be written (and saying so for every
    // atime update would flood the log).
    if T::is_shut_down(i.super_block()) {
        return;
    }
    if let Err(e) = T::write_inode(i) {
        pr_err!("cannot write inode {}: {:?}\n", i.ino(), e);
    }
}
