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
#include <linux/badblocks.h>
#include <linux/srcu.h>
#include <linux/pagemap.h>
#include <linux/xarray.h>
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

/* CAP_SYS_ADMIN of the current task (the recorder's ioctls). */
bool daxfs_capable_sys_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* ---- media errors and the DAX holder (rust/kfs/dax.rs, docs/media-errors.md) ---- */

/*
 * Our own table of the DAX devices we hold: dax_device -> super block.
 * notify_failure looks the super block up here, never through
 * dax_holder() (by the time our callback runs the device may have been
 * released and claimed by another filesystem, whose holder is not a
 * super block of ours).  An entry is erased before its super block can
 * go away, then this SRCU is synchronized: a reader that found the entry
 * may use the super block until it unlocks.  (The DAX core's own SRCU is
 * static, and fs_put_dax does not wait for notify_failure calls.)
 */
DEFINE_STATIC_SRCU(daxfs_holder_srcu);
/* Held across each notify_failure call, synchronized only at module exit
 * (never under a lock: the callback freezes super blocks inside it). */
DEFINE_STATIC_SRCU(daxfs_callback_srcu);
static DEFINE_XARRAY(daxfs_holders);

/*
 * The DAX device behind bdev, claimed as holder (with ops) when nobody
 * holds it and memory failures can reach a holder at all; otherwise
 * unclaimed, as ext4 does.  *claimed says which.  Asking with a holder
 * first would leak a reference when the device is already held
 * (fs_dax_get_by_bdev's igrab is not undone), so it asks without one
 * first; a holder that appears in between still leaks that reference,
 * as in the kernel's own callers.
 */
struct dax_device *daxfs_dax_get(struct block_device *bdev, u64 *start_off, void *holder,
				 const struct dax_holder_operations *ops, bool *claimed)
{
	struct dax_device *dev, *held;
	u64 off;

	*claimed = false;
	dev = fs_dax_get_by_bdev(bdev, start_off, NULL, NULL);
	if (!dev || !holder || !IS_ENABLED(CONFIG_MEMORY_FAILURE) || dax_holder(dev))
		return dev;
	/* Published before the claim: a notify_failure for the new holder
	 * finds it (and sees the super block not born yet).  Inserted, never
	 * overwritten: of two mounts of partitions of one device racing here
	 * only one gets the entry, and only its owner erases it. */
	if (xa_insert(&daxfs_holders, (unsigned long)dev, holder, GFP_KERNEL))
		return dev;
	held = fs_dax_get_by_bdev(bdev, &off, holder, ops);
	if (!held) {
		xa_cmpxchg(&daxfs_holders, (unsigned long)dev, holder, NULL, GFP_KERNEL);
		synchronize_srcu(&daxfs_holder_srcu);
		return dev;
	}
	fs_put_dax(dev, NULL);
	*claimed = true;
	return held;
}

/* Releases what daxfs_dax_get returned; after it, no notify_failure call
 * uses the holder any more. */
void daxfs_dax_put(struct dax_device *dev, void *holder)
{
	if (holder)
		xa_cmpxchg(&daxfs_holders, (unsigned long)dev, holder, NULL, GFP_KERNEL);
	fs_put_dax(dev, holder);
	if (holder)
		synchronize_srcu(&daxfs_holder_srcu);
}

struct daxfs_deactivate {
	struct work_struct work;
	struct super_block *sb;
};

static void daxfs_deactivate_fn(struct work_struct *work)
{
	struct daxfs_deactivate *d = container_of(work, struct daxfs_deactivate, work);

	deactivate_super(d->sb);
	kfree(d);
}

/* Runs those work items; made at module init, destroyed (after waiting
 * for them to return) at module exit. */
static struct workqueue_struct *daxfs_wq;

int daxfs_helpers_init(void)
{
	daxfs_wq = alloc_workqueue("daxfs", WQ_UNBOUND, 0);
	return daxfs_wq ? 0 : -ENOMEM;
}

void daxfs_helpers_exit(void)
{
	/* Waits for the work items to return... */
	destroy_workqueue(daxfs_wq);
	/* ...and for notify_failure calls to leave our code. */
	synchronize_srcu(&daxfs_callback_srcu);
}

/*
 * In notify_failure: the holder's super block with an active reference,
 * or NULL when it is not mounted yet or any more.  Either way the caller
 * is inside the callback SRCU (*idx) until daxfs_dax_holder_put (or
 * daxfs_callback_exit for NULL), so that module exit waits for it.
 */
struct super_block *daxfs_dax_holder_get(struct dax_device *dev, int *idx)
{
	struct super_block *sb;
	int id;

	*idx = srcu_read_lock(&daxfs_callback_srcu);
	id = srcu_read_lock(&daxfs_holder_srcu);
	sb = xa_load(&daxfs_holders, (unsigned long)dev);
	if (sb && !(smp_load_acquire(&sb->s_flags) & SB_BORN))
		sb = NULL;
	if (sb && !atomic_inc_not_zero(&sb->s_active))
		sb = NULL;
	srcu_read_unlock(&daxfs_holder_srcu, id);
	return sb;
}

void daxfs_callback_exit(int idx)
{
	srcu_read_unlock(&daxfs_callback_srcu, idx);
}

/*
 * Drops what daxfs_dax_holder_get took.  When the reference is the last
 * one (an unmount ran meanwhile), the unmount it finishes runs from a
 * work item, not inside memory-failure handling (mf_mutex, the DAX SRCU).
 */
void daxfs_dax_holder_put(struct super_block *sb, int idx)
{
	struct daxfs_deactivate *d;

	if (!atomic_add_unless(&sb->s_active, -1, 1)) {
		d = kmalloc(sizeof(*d), GFP_KERNEL | __GFP_NOFAIL);
		INIT_WORK(&d->work, daxfs_deactivate_fn);
		d->sb = sb;
		queue_work(daxfs_wq, &d->work);
	}
	srcu_read_unlock(&daxfs_callback_srcu, idx);
}

/*
 * Calls fn(ctx, inode) for each inode of sb in the inode cache, holding a
 * reference (the drop_pagecache_sb pattern); stops at the first nonzero
 * return and gives it back.
 */
int daxfs_for_each_cached_inode(struct super_block *sb, int (*fn)(void *ctx, struct inode *inode), void *ctx)
{
	struct inode *inode, *toput = NULL;
	int ret = 0;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		spin_lock(&inode->i_lock);
		if (inode_state_read(inode) & (I_FREEING | I_WILL_FREE | I_NEW)) {
			spin_unlock(&inode->i_lock);
			continue;
		}
		__iget(inode);
		spin_unlock(&inode->i_lock);
		spin_unlock(&sb->s_inode_list_lock);
		iput(toput);
		toput = inode;
		ret = fn(ctx, inode);
		cond_resched();
		spin_lock(&sb->s_inode_list_lock);
		if (ret)
			break;
	}
	spin_unlock(&sb->s_inode_list_lock);
	iput(toput);
	return ret;
}

bool daxfs_inode_mapped(struct inode *inode)
{
	return mapping_mapped(inode->i_mapping);
}

/* Unmaps [index, index + count) pages of a DAX file from every process and
 * sends them SIGBUS (memory failure); 0 without CONFIG_MEMORY_FAILURE. */
int daxfs_dax_kill_procs(struct inode *inode, unsigned long index, unsigned long count, int mf_flags)
{
#ifdef CONFIG_MEMORY_FAILURE
	return mf_dax_kill_procs(inode->i_mapping, index, count, mf_flags);
#else
	return 0;
#endif
}

int daxfs_invalidate_mapping(struct inode *inode)
{
	return invalidate_inode_pages2_range(inode->i_mapping, 0, -1);
}

int daxfs_freeze_kernel(struct super_block *sb)
{
	return freeze_super(sb, FREEZE_HOLDER_KERNEL, NULL);
}

/* Thaws the kernel's freeze (if taken) and, since the device is going
 * away, a userspace one too (as XFS). */
void daxfs_thaw_all(struct super_block *sb, bool kernel)
{
	if (kernel)
		thaw_super(sb, FREEZE_HOLDER_KERNEL, NULL);
	thaw_super(sb, FREEZE_HOLDER_USERSPACE, NULL);
}

/* Zeroes one page of the DAX device through the driver, which clears
 * poison first where it can (pmem_do_write); caller holds dax_read_lock. */
int daxfs_dax_zero_page(struct dax_device *dev, unsigned long pgoff)
{
	return dax_zero_page_range(dev, pgoff, 1);
}

/*
 * The first bad range of bdev's disk that overlaps [*sector, end) of the
 * block device (sectors relative to bdev, a partition's start excluded):
 * true with *sector and *count set to it (clipped), false when there is none.
 */
bool daxfs_bdev_next_badblock(struct block_device *bdev, u64 *sector, u64 end, u64 *count)
{
	struct badblocks *bb = bdev->bd_disk->bb;
	sector_t start = get_start_sect(bdev), first;
	sector_t s = *sector, n, bad;

	if (!bb || !READ_ONCE(bb->count))
		return false;
	while (s < end) {
		n = min_t(u64, end - s, 1U << 30);
		if (badblocks_check(bb, start + s, n, &first, &bad) != 0) {
			/* The record found may begin before the range asked
			 * for (even before the partition): clip it first. */
			if (first < start + s) {
				bad -= start + s - first;
				first = start + s;
			}
			first -= start;
			*sector = first;
			*count = min_t(u64, bad, end - first);
			return true;
		}
		s += n;
	}
	return false;
}

void daxfs_cond_resched(void)
{
	cond_resched();
}
