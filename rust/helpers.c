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

/* Machine-check safe read from pmem; returns the number of bytes NOT copied. */
unsigned long daxfs_copy_mc(void *dst, const void *src, size_t len)
{
	return copy_mc_to_kernel(dst, src, len);
}
