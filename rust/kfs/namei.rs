// SPDX-License-Identifier: GPL-2.0
//! `inode_operations` / `file_operations` tables and their callbacks: the
//! bridge between the VFS's namespace calls and [`FileSystem`]'s methods.
//!
//! The VFS holds the locks it documents (Documentation/filesystems/locking.rst):
//! the parent's `i_rwsem` exclusive for create/link/unlink/rmdir/mkdir/mknod/
//! symlink, both parents' for rename, shared for lookup and readdir.

use super::bindings as b;
use super::file;
use super::fs::{FileSystem, NewEntry, Rename, SuperBlock};
use super::inode::{dentry_name, DirEmitter, Inode, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use core::{ffi::c_int, marker::PhantomData, ptr};
use kernel::{error::from_result, prelude::*, sync::aref::ARef};

/// Longest name a directory entry can hold.
pub(crate) const NAME_MAX: usize = 255;

struct Tables<T: FileSystem>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const DIR_INODE_OPS: b::inode_operations = {
        // SAFETY: all-zeroes is a valid `inode_operations`.
        let mut o: b::inode_operations = unsafe { core::mem::zeroed() };
        // Only what `T` implements: the rest stays NULL, which the VFS
        // turns into EPERM/ENOTDIR/EOPNOTSUPP as documented.
        if T::HAS_LOOKUP {
            o.lookup = Some(lookup_cb::<T>);
        }
        if T::HAS_CREATE {
            o.create = Some(create_cb::<T>);
            o.symlink = Some(symlink_cb::<T>);
            o.mkdir = Some(mkdir_cb::<T>);
            o.mknod = Some(mknod_cb::<T>);
            o.tmpfile = Some(tmpfile_cb::<T>);
        }
        if T::HAS_LINK {
            o.link = Some(link_cb::<T>);
        }
        if T::HAS_UNLINK {
            o.unlink = Some(unlink_cb::<T>);
        }
        if T::HAS_RMDIR {
            o.rmdir = Some(rmdir_cb::<T>);
        }
        if T::HAS_RENAME {
            o.rename = Some(rename_cb::<T>);
        }
        o.setattr = Some(setattr_cb::<T>);
        o.getattr = Some(getattr_cb::<T>);
        o.fileattr_get = Some(fileattr_get_cb);
        o
    };

    const DIR_FILE_OPS: b::file_operations = {
        // SAFETY: all-zeroes is a valid `file_operations`.
        let mut o: b::file_operations = unsafe { core::mem::zeroed() };
        o.llseek = Some(b::generic_file_llseek);
        o.read = Some(b::generic_read_dir);
        if T::HAS_READDIR {
            o.iterate_shared = Some(iterate_shared_cb::<T>);
        }
        o.fsync = Some(b::noop_fsync);
        if T::HAS_SHUTDOWN {
            o.fsync = Some(dir_fsync_cb::<T>);
            o.unlocked_ioctl = Some(super::fs::ioctl_cb::<T>);
            o.compat_ioctl = Some(b::compat_ptr_ioctl);
        }
        o
    };

    const FILE_INODE_OPS: b::inode_operations = {
        // SAFETY: all-zeroes is a valid `inode_operations`.
        let mut o: b::inode_operations = unsafe { core::mem::zeroed() };
        o.setattr = Some(setattr_cb::<T>);
        o.getattr = Some(getattr_cb::<T>);
        o
    };

    const DAX_FILE_INODE_OPS: b::inode_operations = {
        // SAFETY: all-zeroes is a valid `inode_operations`.
        let mut o: b::inode_operations = unsafe { core::mem::zeroed() };
        o.setattr = Some(setattr_cb::<T>);
        o.getattr = Some(getattr_cb::<T>);
        o.fiemap = Some(file::fiemap_cb::<T>);
        o.fileattr_get = Some(fileattr_get_cb);
        o
    };

    const FILE_OPS: b::file_operations = {
        // SAFETY: all-zeroes is a valid `file_operations`.
        let mut o: b::file_operations = unsafe { core::mem::zeroed() };
        o.llseek = Some(b::generic_file_llseek);
        o.open = Some(b::generic_file_open);
        o.fsync = Some(b::noop_fsync);
        o
    };

    const SYMLINK_INODE_OPS: b::inode_operations = {
        // SAFETY: all-zeroes is a valid `inode_operations`.
        let mut o: b::inode_operations = unsafe { core::mem::zeroed() };
        if T::HAS_GET_LINK {
            o.get_link = Some(get_link_cb::<T>);
        }
        o.setattr = Some(setattr_cb::<T>);
        o.getattr = Some(getattr_cb::<T>);
        o
    };
}

/// Sets the operations of a new inode by its file type.
///
/// # Safety
/// `inode` must be a locked new inode of `T`, exclusively ours.
pub(crate) unsafe fn set_inode_ops<T: FileSystem>(inode: *mut b::inode, mode: u16, rdev: u32) {
    // SAFETY: per the contract; the tables are promoted `'static` constants.
    unsafe {
        match mode & S_IFMT {
            S_IFDIR => {
                (*inode).i_op = &Tables::<T>::DIR_INODE_OPS;
                (*inode).__bindgen_anon_3.i_fop = &Tables::<T>::DIR_FILE_OPS;
            }
            S_IFREG if T::HAS_IOMAP_BEGIN => {
                (*inode).i_op = &Tables::<T>::DAX_FILE_INODE_OPS;
                (*inode).__bindgen_anon_3.i_fop = &file::Tables::<T>::FILE_OPS;
                file::set_dax::<T>(inode);
            }
            S_IFREG => {
                (*inode).i_op = &Tables::<T>::FILE_INODE_OPS;
                (*inode).__bindgen_anon_3.i_fop = &Tables::<T>::FILE_OPS;
            }
            S_IFLNK => {
                (*inode).i_op = &Tables::<T>::SYMLINK_INODE_OPS;
            }
            _ => {
                (*inode).i_op = &Tables::<T>::FILE_INODE_OPS;
                b::init_special_inode(inode, mode, rdev);
            }
        }
    }
}

/// # Safety
/// `p` must be a live, initialised inode of `T` for `'a`.
unsafe fn inode<'a, T: FileSystem>(p: *mut b::inode) -> &'a Inode<T> {
    // SAFETY: per the contract.
    unsafe { Inode::from_raw(p) }
}

/// # Safety
/// `d` must be a positive dentry whose inode is an initialised inode of `T`.
unsafe fn d_inode<'a, T: FileSystem>(d: *mut b::dentry) -> &'a Inode<T> {
    // SAFETY: per the contract.
    unsafe { Inode::from_raw((*d).d_inode) }
}

fn check_name(name: &[u8]) -> Result {
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

fn err_ptr<P>(e: Error) -> *mut P {
    e.to_errno() as isize as *mut P
}

unsafe extern "C" fn lookup_cb<T: FileSystem>(dir: *mut b::inode, dentry: *mut b::dentry, _flags: u32) -> *mut b::dentry {
    // SAFETY: `->lookup` gets a dentry of `dir`, whose `i_rwsem` is held.
    let name = unsafe { dentry_name(dentry) };
    if let Err(e) = check_name(name) {
        return err_ptr(e);
    }
    // SAFETY: the VFS passes a live directory of `T`.
    match T::lookup(unsafe { inode::<T>(dir) }, name) {
        // SAFETY: `d_splice_alias` takes over the inode reference (or NULL
        // for a negative entry) and returns the dentry to use or an error.
        Ok(found) => unsafe {
            b::d_splice_alias(found.map_or(ptr::null_mut(), |i| ARef::into_raw(i).as_ptr().cast()), dentry)
        },
        Err(e) => err_ptr(e),
    }
}

/// Creates through `T::create` and instantiates `dentry` with the result.
///
/// # Safety
/// `dir` is a live directory of `T` whose `i_rwsem` the VFS holds; `dentry`
/// a negative dentry in it.
unsafe fn do_create<T: FileSystem>(dir: *mut b::inode, dentry: *mut b::dentry, new: &NewEntry<'_>) -> Result {
    // SAFETY: per the contract (the parent's `i_rwsem` is held).
    let name = unsafe { dentry_name(dentry) };
    check_name(name)?;
    // SAFETY: per the contract.
    let created = T::create(unsafe { inode::<T>(dir) }, Some(name), new)?;
    // SAFETY: `d_instantiate` takes over the new inode's reference.
    unsafe { b::d_instantiate(dentry, ARef::into_raw(created).as_ptr().cast()) };
    Ok(())
}

unsafe extern "C" fn create_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    dir: *mut b::inode,
    dentry: *mut b::dentry,
    mode: u16,
) -> c_int {
    let new = NewEntry { mode: (mode & !S_IFMT) | S_IFREG, rdev: 0, symlink: None };
    // SAFETY: VFS contract for `->create`.
    from_result(|| unsafe { do_create::<T>(dir, dentry, &new) }.map(|()| 0))
}

unsafe extern "C" fn mknod_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    dir: *mut b::inode,
    dentry: *mut b::dentry,
    mode: u16,
    rdev: u32,
) -> c_int {
    let new = NewEntry { mode, rdev, symlink: None };
    // SAFETY: VFS contract for `->mknod`.
    from_result(|| unsafe { do_create::<T>(dir, dentry, &new) }.map(|()| 0))
}

unsafe extern "C" fn symlink_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    dir: *mut b::inode,
    dentry: *mut b::dentry,
    target: *const u8,
) -> c_int {
    // SAFETY: the VFS passes a NUL-terminated target.
    let target = unsafe { core::ffi::CStr::from_ptr(target.cast()) }.to_bytes();
    let new = NewEntry { mode: S_IFLNK | 0o777, rdev: 0, symlink: Some(target) };
    // SAFETY: VFS contract for `->symlink`.
    from_result(|| unsafe { do_create::<T>(dir, dentry, &new) }.map(|()| 0))
}

unsafe extern "C" fn mkdir_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    dir: *mut b::inode,
    dentry: *mut b::dentry,
    mode: u16,
) -> *mut b::dentry {
    let new = NewEntry { mode: (mode & !S_IFMT) | S_IFDIR, rdev: 0, symlink: None };
    // SAFETY: VFS contract for `->mkdir` (NULL = "use the dentry passed in").
    match unsafe { do_create::<T>(dir, dentry, &new) } {
        Ok(()) => ptr::null_mut(),
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn tmpfile_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    dir: *mut b::inode,
    file: *mut b::file,
    mode: u16,
) -> c_int {
    from_result(|| {
        let new = NewEntry { mode: (mode & !S_IFMT) | S_IFREG, rdev: 0, symlink: None };
        // SAFETY: VFS contract for `->tmpfile`: `dir` is a live directory.
        let created = T::create(unsafe { inode::<T>(dir) }, None, &new)?;
        // SAFETY: `d_tmpfile` instantiates the file's dentry with the inode
        // (taking over our reference) and drops its link count from 1 to 0;
        // then the file is opened.
        unsafe {
            b::d_tmpfile(file, ARef::into_raw(created).as_ptr().cast());
            Ok(b::daxfs_finish_open_simple(file))
        }
    })
}

unsafe extern "C" fn link_cb<T: FileSystem>(old: *mut b::dentry, dir: *mut b::inode, dentry: *mut b::dentry) -> c_int {
    from_result(|| {
        // SAFETY: `->link` gets a negative dentry of `dir`, which is locked.
        let name = unsafe { dentry_name(dentry) };
        check_name(name)?;
        // SAFETY: VFS contract for `->link`: `old` is positive, `dir` locked.
        let (target, d) = unsafe { (d_inode::<T>(old), inode::<T>(dir)) };
        T::link(d, name, target)?;
        // SAFETY: the new dentry gets its own reference to the inode.
        unsafe {
            b::ihold(target.as_raw());
            b::d_instantiate(dentry, target.as_raw());
        }
        Ok(0)
    })
}

unsafe extern "C" fn unlink_cb<T: FileSystem>(dir: *mut b::inode, dentry: *mut b::dentry) -> c_int {
    // SAFETY: VFS contract for `->unlink`: `dentry` is positive in `dir`.
    from_result(|| unsafe { T::unlink(inode::<T>(dir), dentry_name(dentry), d_inode::<T>(dentry)) }.map(|()| 0))
}

unsafe extern "C" fn rmdir_cb<T: FileSystem>(dir: *mut b::inode, dentry: *mut b::dentry) -> c_int {
    // SAFETY: VFS contract for `->rmdir`: `dentry` is a positive directory.
    from_result(|| unsafe { T::rmdir(inode::<T>(dir), dentry_name(dentry), d_inode::<T>(dentry)) }.map(|()| 0))
}

unsafe extern "C" fn rename_cb<T: FileSystem>(
    _idmap: *mut b::mnt_idmap,
    old_dir: *mut b::inode,
    old_dentry: *mut b::dentry,
    new_dir: *mut b::inode,
    new_dentry: *mut b::dentry,
    flags: u32,
) -> c_int {
    from_result(|| {
        // SAFETY: `->rename` holds both directories' `i_rwsem`.
        let new_name = unsafe { dentry_name(new_dentry) };
        check_name(new_name)?;
        // SAFETY: VFS contract for `->rename`: both directories locked,
        // `old_dentry` positive, `new_dentry` positive or negative.
        let r = unsafe {
            Rename {
                old_dir: inode::<T>(old_dir),
                old_name: dentry_name(old_dentry),
                old: d_inode::<T>(old_dentry),
                new_dir: inode::<T>(new_dir),
                new_name,
                target: if (*new_dentry).d_inode.is_null() { None } else { Some(d_inode::<T>(new_dentry)) },
                flags,
            }
        };
        T::rename(&r)?;
        Ok(0)
    })
}

unsafe extern "C" fn iterate_shared_cb<T: FileSystem>(file: *mut b::file, ctx: *mut b::dir_context) -> c_int {
    // SAFETY: the VFS passes an open directory file and its context, and
    // holds the directory's `i_rwsem` shared.
    from_result(|| unsafe {
        let dir = inode::<T>((*file).f_inode);
        let mut emit = DirEmitter::from_raw(ctx);
        T::readdir(dir, &mut emit).map(|()| 0)
    })
}

unsafe extern "C" fn get_link_cb<T: FileSystem>(
    _dentry: *mut b::dentry,
    link: *mut b::inode,
    _done: *mut b::delayed_call,
) -> *const u8 {
    // SAFETY: the VFS passes a live symlink inode of `T` and keeps it alive
    // while it uses the returned string (which lives in the inode's data);
    // no sleeping here, so RCU walks (`dentry == NULL`) are fine too.
    match T::get_link(unsafe { inode::<T>(link) }) {
        Ok(s) => s.as_ptr().cast(),
        Err(e) => err_ptr::<u8>(e),
    }
}

unsafe extern "C" fn setattr_cb<T: FileSystem>(
    idmap: *mut b::mnt_idmap,
    dentry: *mut b::dentry,
    attr: *mut b::iattr,
) -> c_int {
    from_result(|| {
        // SAFETY: VFS contract for `->setattr`: `dentry` is positive and its
        // inode's `i_rwsem` is held.
        unsafe {
            kernel::error::to_result(b::setattr_prepare(idmap, dentry, attr))?;
            let inode = d_inode::<T>(dentry);
            if (*attr).ia_valid & b::ATTR_SIZE != 0 && (*attr).ia_size as u64 != inode.size() {
                if !T::HAS_SET_SIZE || !T::HAS_IOMAP_BEGIN || inode.mode() & S_IFMT != S_IFREG {
                    return Err(EOPNOTSUPP);
                }
                file::truncate(inode, (*attr).ia_size as u64)?;
            }
            b::setattr_copy(idmap, inode.as_raw(), attr);
            if T::HAS_WRITE_INODE {
                T::write_inode(inode)?;
            }
        }
        Ok(0)
    })
}

unsafe extern "C" fn getattr_cb<T: FileSystem>(
    idmap: *mut b::mnt_idmap,
    path: *const b::path,
    stat: *mut b::kstat,
    request_mask: u32,
    _flags: u32,
) -> c_int {
    // SAFETY: VFS contract for `->getattr`: `path` is valid and positive,
    // `stat` ours to fill.
    unsafe {
        let inode = d_inode::<T>((*path).dentry);
        b::generic_fillattr(idmap, request_mask, inode.as_raw(), stat);
        if T::HAS_BTIME {
            if let Some(t) = T::btime(inode) {
                (*stat).btime = b::timespec64 { tv_sec: t.sec, tv_nsec: t.nsec as _ };
                (*stat).result_mask |= b::STATX_BTIME;
            }
        }
    }
    0
}

/// Directory `fsync`: every change was durable when it returned, so
/// nothing to do, except `EIO` once shut down (as ext4).
unsafe extern "C" fn dir_fsync_cb<T: FileSystem>(file: *mut b::file, _start: i64, _end: i64, _datasync: c_int) -> c_int {
    // SAFETY: the VFS passes an open directory of ours, which pins the
    // inode and its super block.
    let sb = unsafe { SuperBlock::<T>::from_raw((*b::daxfs_file_inode(file)).i_sb) };
    if T::is_shut_down(sb) {
        EIO.to_errno()
    } else {
        0
    }
}

unsafe extern "C" fn fileattr_get_cb(_dentry: *mut b::dentry, fa: *mut b::file_kattr) -> c_int {
    // SAFETY: the VFS passes a kattr to fill.  No per-file flags exist
    // (every file is DAX by the mount), so the flags are all clear.
    unsafe { b::fileattr_fill_flags(fa, 0) };
    0
}
