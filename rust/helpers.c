// SPDX-License-Identifier: GPL-2.0
/* C wrappers for static inline kernel functions (bindgen cannot bind inlines). */
#include <linux/fs.h>
#include <linux/fs_parser.h>
#include <linux/blkdev.h>
#include <linux/libnvdimm.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/dax.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include "helpers.h"

int daxfs_fs_parse(struct fs_context *fc, const struct fs_parameter_spec *desc,
		   struct fs_parameter *param, struct fs_parse_result *result)
{
	return fs_parse(fc, desc, param, result);
}

u64 daxfs_bdev_nr_bytes(struct block_device *bdev)
{
	return bdev_nr_bytes(bdev);
}

/* Byte offset of a partition on its disk (0 for a whole disk). */
u64 daxfs_bdev_start_bytes(struct block_device *bdev)
{
	return (u64)get_start_sect(bdev) << SECTOR_SHIFT;
}

/* Write back the CPU cache lines covering [addr, addr + len) to pmem. */
void daxfs_pmem_flush(void *addr, size_t len)
{
	arch_wb_cache_pmem(addr, len);
}

/* Order all earlier flushes and non-temporal stores before later stores. */
void daxfs_pmem_fence(void)
{
	pmem_wmb();
}

/* Non-temporal copy to pmem; durable after daxfs_pmem_fence(). */
void daxfs_memcpy_flushcache(void *dst, const void *src, size_t len)
{
	memcpy_flushcache(dst, src, len);
}

bool daxfs_sb_rdonly(const struct super_block *sb)
{
	return sb_rdonly(sb);
}

loff_t daxfs_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

void daxfs_i_size_write(struct inode *inode, loff_t size)
{
	i_size_write(inode, size);
}

void daxfs_inode_get_times(const struct inode *inode, struct timespec64 *times)
{
	times[0] = inode_get_atime(inode);
	times[1] = inode_get_mtime(inode);
	times[2] = inode_get_ctime(inode);
}

void daxfs_inode_set_times(struct inode *inode, const struct timespec64 *times)
{
	inode_set_atime_to_ts(inode, times[0]);
	inode_set_mtime_to_ts(inode, times[1]);
	inode_set_ctime_to_ts(inode, times[2]);
}

void daxfs_mark_inode_dirty(struct inode *inode)
{
	mark_inode_dirty(inode);
}

bool daxfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type)
{
	return dir_emit(ctx, name, len, ino, type);
}

bool daxfs_inode_is_new(struct inode *inode)
{
	return inode_state_read_once(inode) & I_NEW;
}

int daxfs_finish_open_simple(struct file *file)
{
	return finish_open_simple(file, 0);
}

/* Machine-check safe read from pmem; returns the number of bytes NOT copied. */
unsigned long daxfs_copy_mc(void *dst, const void *src, size_t len)
{
	return copy_mc_to_kernel(dst, src, len);
}

/* ---- DAX file data path (rust/kfs/file.rs, rust/kfs/iomap.rs) ---- */

/* Zeroes [addr, addr + len) of mapped pmem and writes it back; durable
 * after daxfs_pmem_fence(). */
void daxfs_pmem_zero(void *addr, size_t len)
{
	memset(addr, 0, len);
	arch_wb_cache_pmem(addr, len);
}

void daxfs_inode_lock(struct inode *inode, bool shared)
{
	if (shared)
		inode_lock_shared(inode);
	else
		inode_lock(inode);
}

bool daxfs_inode_trylock(struct inode *inode, bool shared)
{
	return shared ? inode_trylock_shared(inode) : inode_trylock(inode);
}

void daxfs_inode_unlock(struct inode *inode, bool shared)
{
	if (shared)
		inode_unlock_shared(inode);
	else
		inode_unlock(inode);
}

void daxfs_invalidate_lock(struct inode *inode, bool shared)
{
	if (shared)
		filemap_invalidate_lock_shared(inode->i_mapping);
	else
		filemap_invalidate_lock(inode->i_mapping);
}

void daxfs_invalidate_unlock(struct inode *inode, bool shared)
{
	if (shared)
		filemap_invalidate_unlock_shared(inode->i_mapping);
	else
		filemap_invalidate_unlock(inode->i_mapping);
}

/* dax_break_layout() callback: the invalidate lock is held exclusive;
 * drop it while waiting for a pinned DAX page to become idle. */
static void daxfs_wait_dax_page(struct inode *inode)
{
	filemap_invalidate_unlock(inode->i_mapping);
	schedule();
	filemap_invalidate_lock(inode->i_mapping);
}

int daxfs_break_layouts(struct inode *inode, loff_t start, loff_t end)
{
	if (WARN_ON_ONCE(!rwsem_is_locked(&inode->i_mapping->invalidate_lock)))
		return -EINVAL;
	return dax_break_layout(inode, start, end, daxfs_wait_dax_page);
}

void daxfs_set_dax(struct inode *inode, const struct address_space_operations *aops)
{
	inode->i_flags |= S_DAX;
	inode->i_mapping->a_ops = aops;
}

struct inode *daxfs_file_inode(const struct file *file)
{
	return file_inode(file);
}

struct file *daxfs_iocb_file(const struct kiocb *iocb)
{
	return iocb->ki_filp;
}

bool daxfs_iocb_nowait(const struct kiocb *iocb)
{
	return iocb->ki_flags & IOCB_NOWAIT;
}

loff_t daxfs_iocb_pos(const struct kiocb *iocb)
{
	return iocb->ki_pos;
}

size_t daxfs_iov_iter_count(const struct iov_iter *i)
{
	return iov_iter_count(i);
}

ssize_t daxfs_generic_write_sync(struct kiocb *iocb, ssize_t count)
{
	return generic_write_sync(iocb, count);
}

void daxfs_file_accessed(struct file *file)
{
	file_accessed(file);
}

/* A write fault that will change the file (not a private COW fault). */
bool daxfs_vmf_shared_write(const struct vm_fault *vmf)
{
	return (vmf->flags & FAULT_FLAG_WRITE) && (vmf->vma->vm_flags & VM_SHARED);
}

struct file *daxfs_vmf_file(const struct vm_fault *vmf)
{
	return vmf->vma->vm_file;
}

void daxfs_sb_start_pagefault(struct super_block *sb)
{
	sb_start_pagefault(sb);
}

void daxfs_sb_end_pagefault(struct super_block *sb)
{
	sb_end_pagefault(sb);
}

/* ->mmap_prepare of a DAX file: MAP_SYNC only on a synchronous DAX device,
 * huge pages wanted, the filesystem's DAX fault handlers. */
int daxfs_dax_mmap_prepare(struct vm_area_desc *desc, struct dax_device *dax_dev,
			   const struct vm_operations_struct *ops)
{
	struct file *file = desc->file;

	if (!daxdev_mapping_supported(desc, file_inode(file), dax_dev))
		return -EOPNOTSUPP;
	file_accessed(file);
	desc->vm_ops = ops;
	vma_desc_set_flags(desc, VMA_HUGEPAGE_BIT);
	return 0;
}

struct block_device *daxfs_sb_bdev(const struct super_block *sb)
{
	return sb->s_bdev;
}

void daxfs_file_set_nowait(struct file *file)
{
	file->f_mode |= FMODE_NOWAIT;
}

/* FS_IOC_SHUTDOWN's flags (>= 0); -ENOTTY for any other command, -EPERM
 * without CAP_SYS_ADMIN, -EFAULT, -EINVAL for unknown flags (as ext4). */
int daxfs_shutdown_ioctl_flags(unsigned int cmd, unsigned long arg)
{
	u32 flags;

	if (cmd != FS_IOC_SHUTDOWN)
		return -ENOTTY;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (get_user(flags, (__u32 __user *)arg))
		return -EFAULT;
	if (flags > FS_SHUTDOWN_FLAGS_NOLOGFLUSH)
		return -EINVAL;
	return flags;
}

/* Freeze/thaw the filesystem on sb's block device (FS_IOC_SHUTDOWN's
 * default flag, as ext4 and XFS). */
int daxfs_bdev_freeze(struct super_block *sb)
{
	return bdev_freeze(sb->s_bdev);
}

int daxfs_bdev_thaw(struct super_block *sb)
{
	return bdev_thaw(sb->s_bdev);
}

/* The read-only state a reconfiguration asks for: the current one unless
 * ro/rw was given (in sb_flags_mask), as reconfigure_super reads it. */
bool daxfs_fc_read_only(const struct fs_context *fc, const struct super_block *sb)
{
	if (fc->sb_flags_mask & SB_RDONLY)
		return fc->sb_flags & SB_RDONLY;
	return sb_rdonly(sb);
}

bool daxfs_bdev_read_only(struct block_device *bdev)
{
	return bdev_read_only(bdev);
}
