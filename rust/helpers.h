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
u64 daxfs_bdev_start_bytes(struct block_device *bdev);
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
struct kiocb;
struct iov_iter;
struct vm_fault;
struct vm_area_desc;
struct vm_operations_struct;
struct address_space_operations;
struct dax_device;
void daxfs_pmem_zero(void *addr, size_t len);
void daxfs_inode_lock(struct inode *inode, bool shared);
bool daxfs_inode_trylock(struct inode *inode, bool shared);
void daxfs_inode_unlock(struct inode *inode, bool shared);
void daxfs_invalidate_lock(struct inode *inode, bool shared);
void daxfs_invalidate_unlock(struct inode *inode, bool shared);
int daxfs_break_layouts(struct inode *inode, loff_t start, loff_t end);
void daxfs_set_dax(struct inode *inode, const struct address_space_operations *aops);
struct inode *daxfs_file_inode(const struct file *file);
struct file *daxfs_iocb_file(const struct kiocb *iocb);
bool daxfs_iocb_nowait(const struct kiocb *iocb);
loff_t daxfs_iocb_pos(const struct kiocb *iocb);
size_t daxfs_iov_iter_count(const struct iov_iter *i);
ssize_t daxfs_generic_write_sync(struct kiocb *iocb, ssize_t count);
void daxfs_file_accessed(struct file *file);
bool daxfs_vmf_shared_write(const struct vm_fault *vmf);
struct file *daxfs_vmf_file(const struct vm_fault *vmf);
void daxfs_sb_start_pagefault(struct super_block *sb);
void daxfs_sb_end_pagefault(struct super_block *sb);
int daxfs_dax_mmap_prepare(struct vm_area_desc *desc, struct dax_device *dax_dev,
			   const struct vm_operations_struct *ops);
struct block_device *daxfs_sb_bdev(const struct super_block *sb);
void daxfs_file_set_nowait(struct file *file);
int daxfs_shutdown_ioctl_flags(unsigned int cmd, unsigned long arg);
bool daxfs_capable_sys_admin(void);
int daxfs_bdev_freeze(struct super_block *sb);
int daxfs_bdev_thaw(struct super_block *sb);
bool daxfs_bdev_read_only(struct block_device *bdev);
bool daxfs_fc_read_only(const struct fs_context *fc, const struct super_block *sb);
struct dax_holder_operations;
struct dax_device *daxfs_dax_get(struct block_device *bdev, u64 *start_off, void *holder,
				 const struct dax_holder_operations *ops, bool *claimed);
void daxfs_dax_put(struct dax_device *dev, void *holder);
struct super_block *daxfs_dax_holder_get(struct dax_device *dev, int *idx);
void daxfs_dax_holder_put(struct super_block *sb, int idx);
void daxfs_callback_exit(int idx);
int daxfs_helpers_init(void);
void daxfs_helpers_exit(void);
int daxfs_for_each_cached_inode(struct super_block *sb, int (*fn)(void *ctx, struct inode *inode), void *ctx);
bool daxfs_inode_mapped(struct inode *inode);
int daxfs_dax_kill_procs(struct inode *inode, unsigned long index, unsigned long count, int mf_flags);
int daxfs_invalidate_mapping(struct inode *inode);
int daxfs_freeze_kernel(struct super_block *sb);
void daxfs_thaw_all(struct super_block *sb, bool kernel);
int daxfs_dax_zero_page(struct dax_device *dev, unsigned long pgoff);
bool daxfs_bdev_next_badblock(struct block_device *bdev, u64 *sector, u64 end, u64 *count);
void daxfs_cond_resched(void);
#endif
