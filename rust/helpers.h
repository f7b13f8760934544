/* SPDX-License-Identifier: GPL-2.0 */
/* C wrappers for static inline kernel functions the Rust side calls. */
#ifndef DAXFS_HELPERS_H
#define DAXFS_HELPERS_H
#include <linux/types.h>
struct fs_context;
struct fs_parameter_spec;
struct fs_parameter;
struct fs_parse_result;
struct block_device;

int daxfs_fs_parse(struct fs_context *fc, const struct fs_parameter_spec *desc,
		   struct fs_parameter *param, struct fs_parse_result *result);
u64 daxfs_bdev_nr_bytes(struct block_device *bdev);
void daxfs_pmem_flush(void *addr, size_t len);
void daxfs_pmem_fence(void);
void daxfs_memcpy_flushcache(void *dst, const void *src, size_t len);
unsigned long daxfs_copy_mc(void *dst, const void *src, size_t len);
struct super_block;
bool daxfs_sb_rdonly(const struct super_block *sb);
#endif
