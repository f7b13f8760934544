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
struct inode;
struct timespec64;
struct dir_context;
loff_t daxfs_i_size_read(const struct inode *inode);
void daxfs_i_size_write(struct inode *inode, loff_t size);
/* times[0..3] = atime, mtime, ctime */
void daxfs_inode_get_times(const struct inode *inode, struct timespec64 *times);
void daxfs_inode_set_times(struct inode *inode, const struct timespec64 *times);
void daxfs_mark_inode_dirty(struct inode *inode);
bool daxfs_dir_emit(struct dir_context *ctx, const char *name, int len, u64 ino, unsigned int type);
bool daxfs_inode_is_new(struct inode *inode);
struct file;
int daxfs_finish_open_simple(struct file *file);
#endif
