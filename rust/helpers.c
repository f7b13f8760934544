// SPDX-License-Identifier: GPL-2.0
/* C wrappers for static inline kernel functions (bindgen cannot bind inlines). */
#include <linux/fs.h>
#include <linux/fs_parser.h>
#include <linux/blkdev.h>
#include <linux/libnvdimm.h>
#include <linux/string.h>
#include <linux/uaccess.h>
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
