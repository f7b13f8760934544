// SPDX-License-Identifier: GPL-2.0
//! Metadata transactions: the redo journal, the block and inode allocators
//! and the orphan list head, all behind one per-filesystem mutex
//! (docs/consistency.md, docs/locking.md).
//!
//! An operation calls [`Store::begin`], reads and logs changes through the
//! returned [`Tx`], and calls [`Tx::commit`]: when that returns the change
//! is durable and applied in place.  Dropping a `Tx` without committing
//! releases what it allocated in DRAM; nothing reached pmem.
#![forbid(unsafe_code)]

use crate::kfs::mem;
use crate::alloc::{self, set_bit, test_bit, Bitmap, Hints};
use crate::format::{self, Geometry, StateBlock};
use crate::kfs::dax::DaxDevice;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Mutex, MutexGuard},
};

const BS: u64 = format::BLOCK_SIZE as u64;

/// DRAM state guarded by the metadata mutex.
pub(crate) struct Meta {
    applied_seq: u64,
    /// Block bitmap (bit set = in use), mirrors pmem plus the allocations of
    /// the transaction in flight.
    bbits: KVVec<u64>,
    /// Inode bitmap, likewise; bit `ino - 1`.
    ibits: KVVec<u64>,
    /// Every `ibits` word below this one is full (where the inode search
    /// starts).
    ihint: usize,
    free_blocks: u64,
    free_inodes: u64,
    /// Block placement state (fs/alloc.rs): search hints and, one bit per
    /// 2 MiB region, the regions opened for small allocations.
    hints: Hints,
    small_regions: KVVec<u64>,
    /// First inode of the orphan list (0 = empty), as committed.
    pub(crate) orphan_head: u64,
    /// Whether the state block says "clean" on pmem.
    clean: bool,
    /// Commits so far, and the fault-injection limit (0 = none).
    commits: u32,
    crash_after: u32,
    /// Set once a simulated power failure or a shutdown happened: nothing
    /// more is written.
    dead: bool,
    /// Buffers of the last transaction, kept (emptied) for the next one so
    /// that a commit does not grow fresh vectors from nothing.
    spare: Spare,
    /// Block ranges `[a, z)` known bad while mounted (a memory failure, or
    /// the device's badblocks list), sorted and disjoint: their free blocks
    /// are kept out of allocation now, and their blocks in use when a file
    /// frees them (in DRAM only; docs/media-errors.md).
    poison: KVVec<(u64, u64)>,
    /// Blocks kept out of allocation that are free on pmem (counted in
    /// `free_blocks`, which the state block records, but not offered by
    /// statfs or the allocator).
    kept_out: u64,
}

/// A transaction's buffers, between transactions.
#[derive(Default)]
struct Spare {
    recs: KVVec<u8>,
    bitbuf: KVec<u8>,
    allocs: KVec<Range>,
    frees: KVec<Range>,
}

/// Buffers larger than this are not kept.
const SPARE_MAX: usize = 64 << 10;

/// Bounded transactions (docs/consistency.md): one transaction allocates
/// at most this many blocks in one run and frees at most this many (the
/// callers in fs/data.rs split larger requests), so its bitmap records take
/// at most 16 KiB of journal however large the operation.
pub(crate) const STEP_BLOCKS: u64 = 1 << 17;
/// ... and frees at most this many extents (each may touch its own bitmap
/// words: 256 * 24 bytes) plus the extent-chain blocks that hold them.
pub(crate) const STEP_EXTENTS: usize = 256;

/// The mounted device and everything immutable about it.
pub(crate) struct Store {
    pub(crate) dev: DaxDevice,
    pub(crate) geo: Geometry,
    meta: Pin<KBox<Mutex<Meta>>>,
    /// Set by [`Store::shut_down`], or once a metadata access failed
    /// (media error, device gone): data I/O and commits fail with `EIO`.
    /// (Read without the mutex on the I/O paths; `Meta::dead` is the
    /// commit path's copy.)
    shut_down: AtomicBool,
    /// The device name, for messages.
    id: KVec<u8>,
}

fn load_bitmap(dev: &DaxDevice, start: u64, bits: u64) -> Result<(KVVec<u64>, u64)> {
    let words = bits.div_ceil(64) as usize;
    let mut bytes = mem::zeroed_kvvec(words * 8)?;
    dev.read(start * BS, &mut bytes)?;
    let mut out = KVVec::with_capacity(words, GFP_KERNEL)?;
    let mut used = 0u64;
    for (i, c) in bytes.chunks_exact(8).enumerate() {
        let mut w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Bits past the end of the area do not exist: count them as used.
        let first = i as u64 * 64;
        if first + 64 > bits {
            w |= !0u64 << (bits - first);
        }
        used += u64::from(w.count_ones());
        out.push(w, GFP_KERNEL)?;
    }
    Ok((out, words as u64 * 64 - used))
}

/// Calls `f(word, mask)` for each 64-bit word of a bitmap that bits
/// `[a, z)` touch, `mask` being the range's bits in it; reschedules now and
/// then (a bad range may cover gigabytes of blocks).
fn for_words(a: u64, z: u64, mut f: impl FnMut(u64, u64) -> Result) -> Result {
    let mut at = a;
    while at < z {
        let hi = z.min((at / 64 + 1) * 64);
        f(at / 64, range_mask(at % 64, hi - at))?;
        if at / 64 % 4096 == 4095 {
            mem::cond_resched();
        }
        at = hi;
    }
    Ok(())
}

/// Sets bits `[a, z)` of `bits` (none past its end); returns how many were
/// clear.
fn set_range(bits: &mut [u64], a: u64, z: u64) -> u64 {
    let mut n = 0;
    let _ = for_words(a, z, |word, mask| {
        if let Some(w) = bits.get_mut(word as usize) {
            n += u64::from((mask & !*w).count_ones());
            *w |= mask;
        }
        Ok(())
    });
    n
}

/// `len` bits from bit `lo` of a word (`lo + len <= 64`).
fn range_mask(lo: u64, len: u64) -> u64 {
    if len >= 64 { !0 } else { ((1u64 << len) - 1) << lo }
}

/// Adds `[a, z)` to the sorted, disjoint range list `v`, merging ranges
/// that overlap or touch it.
fn add_range(v: &mut KVVec<(u64, u64)>, a: u64, z: u64) -> Result {
    // First range that ends at or after `a`, and the first that starts
    // after `z`: those in between merge with `[a, z)`.
    let i = v.iter().position(|&(_, pz)| pz >= a).unwrap_or(v.len());
    let j = v.iter().position(|&(pa, _)| pa > z).unwrap_or(v.len());
    if i == j {
        v.reserve(1, GFP_KERNEL)?;
        return v.insert_within_capacity(i, (a, z)).map_err(|_| EINVAL);
    }
    v[i] = (a.min(v[i].0), z.max(v[j - 1].1));
    let mut k = 0;
    v.retain(|_| {
        let keep = k <= i || k >= j;
        k += 1;
        keep
    });
    Ok(())
}

fn persist_u64(dev: &DaxDevice, off: u64, v: u64) -> Result {
    dev.write(off, &v.to_le_bytes())?;
    dev.fence();
    Ok(())
}

const STATE_OFF: u64 = format::STATE_BLOCK * BS;

impl Meta {
    /// Makes a range allocatable again in DRAM.
    fn release(&mut self, r: Range) {
        match r {
            Range::Blocks(b, l) => {
                for n in b..b + l {
                    set_bit(&mut self.bbits, n, false);
                }
                self.free_blocks += l;
                // Freed blocks known to be bad stay out of allocation.
                let end = b + l;
                for &(pa, pz) in self.poison.iter() {
                    if pa >= end {
                        break;
                    }
                    self.kept_out += set_range(&mut self.bbits, pa.max(b), pz.min(end));
                }
            }
            Range::Inode(ino) => {
                set_bit(&mut self.ibits, ino - 1, false);
                self.ihint = self.ihint.min(((ino - 1) / 64) as usize);
                self.free_inodes += 1;
            }
        }
    }
}

impl Store {
    /// Opens the metadata of a mounted filesystem: replays a committed
    /// journal transaction (even for a read-only mount, as ext4 and XFS do,
    /// but never on a read-only device), loads the bitmaps, and (read-write)
    /// marks the filesystem not clean until unmount.
    pub(crate) fn open(dev: DaxDevice, geo: Geometry, id: &CStr, read_only: bool, device_ro: bool) -> Result<Self> {
        let mut sbuf = [0u8; format::STATE_SIZE];
        dev.read(STATE_OFF, &mut sbuf)?;
        let bad = |e: format::StateError| {
            pr_err!("{:?}: {}; run fsck.daxfs\n", id, e.describe());
            EUCLEAN
        };
        // The journal header first: a pending transaction is replayed
        // before the rest of the block is checked (a power cut may have
        // torn its in-place update, which the replay rewrites whole).
        let mut st = StateBlock::decode_header(&sbuf).map_err(bad)?;
        if st.committed_seq == st.applied_seq {
            st = StateBlock::decode(&sbuf).map_err(bad)?;
        } else {
            if device_ro {
                pr_err!("{:?}: the journal needs replaying but the device is read-only; mount it writable once\n", id);
                return Err(EROFS);
            }
            replay(&dev, &geo, &st, id)?;
            // The transaction may have changed the orphan head, the clean
            // flag or the counts: continue from the state it left.
            dev.read(STATE_OFF, &mut sbuf)?;
            st = StateBlock::decode(&sbuf).map_err(|e| {
                pr_err!("{:?}: after journal replay: {}; run fsck.daxfs\n", id, e.describe());
                EUCLEAN
            })?;
        }
        let (bbits, free_blocks) = load_bitmap(&dev, geo.bbitmap_start, geo.blocks)?;
        let (ibits, free_inodes) = load_bitmap(&dev, geo.ibitmap_start, geo.inodes)?;
        if !test_bit(&ibits, format::ROOT_INO - 1) {
            pr_err!("{:?}: the root inode is not allocated; run fsck.daxfs\n", id);
            return Err(EUCLEAN);
        }
        let meta = Meta {
            applied_seq: st.committed_seq,
            bbits,
            ibits,
            ihint: 0,
            free_blocks,
            free_inodes,
            hints: Hints::default(),
            small_regions: KVVec::from_elem(0u64, geo.blocks.div_ceil(alloc::REGION * 64) as usize, GFP_KERNEL)?,
            orphan_head: st.orphan_head,
            clean: st.clean,
            commits: 0,
            crash_after: crate::crash_after_commit(),
            dead: false,
            spare: Spare::default(),
            poison: KVVec::new(),
            kept_out: 0,
        };
        let mut name = KVec::new();
        name.extend_from_slice(id.to_bytes(), GFP_KERNEL)?;
        let store = Store {
            dev,
            geo,
            meta: KBox::pin_init(new_mutex!(meta), GFP_KERNEL)?,
            shut_down: AtomicBool::new(false),
            id: name,
        };
        // Blocks the device lists as bad are never allocated (they stay
        // free on pmem: fsck and the free counts do not change).
        let bad = store.quarantine_bad(geo.data_start, geo.data_blocks());
        if bad != 0 {
            pr_warn!("{:?}: {} free blocks are on the device's badblocks list; they will not be allocated (docs/media-errors.md)\n", id, bad);
        }
        if !read_only {
            store.set_clean(false)?;
        }
        Ok(store)
    }

    /// Starts a transaction (takes the metadata mutex until commit or drop).
    pub(crate) fn begin(&self) -> Tx<'_> {
        let mut meta = self.meta.lock();
        let spare = core::mem::take(&mut meta.spare);
        Tx {
            meta,
            store: self,
            recs: spare.recs,
            bitbuf: spare.bitbuf,
            allocs: spare.allocs,
            frees: spare.frees,
            state_dirty: false,
            orphan_before: None,
            done: false,
        }
    }

    /// The committed orphan list head.
    pub(crate) fn orphan_head(&self) -> u64 {
        self.meta.lock().orphan_head
    }

    /// Whether inode `ino` is marked in use in the inode bitmap on pmem
    /// (an inode read from pmem whose bit is clear is a damaged image:
    /// freeing it again would count it free twice).  Reads pmem, not the
    /// DRAM bitmap: no metadata mutex (lookups never take it, and `iget`
    /// holds an I_NEW inode that a transaction creating that number would
    /// wait for); only committed inodes are reachable by name.
    pub(crate) fn inode_in_use(&self, ino: u64) -> Result<bool> {
        if ino == 0 || ino > self.geo.inodes {
            return Ok(false);
        }
        let off = self.geo.ibitmap_start * BS + (ino - 1) / 64 * 8;
        let mut w = [0u8; 8];
        self.dev.read(off, &mut w)?;
        Ok(u64::from_le_bytes(w) & (1 << ((ino - 1) % 64)) != 0)
    }

    /// Free blocks and inodes, for statfs (blocks kept out of allocation
    /// are not offered).
    pub(crate) fn free_counts(&self) -> (u64, u64) {
        let m = self.meta.lock();
        (m.free_blocks.saturating_sub(m.kept_out), m.free_inodes)
    }

    /// Shuts the filesystem down (`FS_IOC_SHUTDOWN`, or the device going
    /// away): every later commit, and data I/O, fails with `EIO`.  What was
    /// committed stays (each commit was durable when it returned); a mount
    /// after unmounting finds it, replaying the journal if need be.
    /// Returns false if it was already shut down.
    pub(crate) fn shut_down(&self) -> bool {
        let mut m = self.meta.lock();
        m.dead = true;
        !self.shut_down.swap(true, Ordering::AcqRel)
    }

    /// Whether [`Store::shut_down`] happened, or a metadata access failed
    /// (then it happens now: nothing is trusted or written any more).
    pub(crate) fn is_shut_down(&self) -> bool {
        if self.shut_down.load(Ordering::Acquire) {
            return true;
        }
        let Some(off) = self.dev.failed() else { return false };
        if !self.shut_down.swap(true, Ordering::AcqRel) {
            pr_err!(
                "{}: metadata I/O error at byte {} ({}): shut down; changes and data I/O fail with EIO until unmount; then run fsck.daxfs (docs/media-errors.md)\n",
                self.name(),
                off,
                self.geo.area(off / BS)
            );
        }
        true
    }

    /// The device name, for messages.
    pub(crate) fn name(&self) -> &str {
        core::str::from_utf8(&self.id).unwrap_or("daxfs")
    }

    /// Keeps the free blocks in `[b, b+len)` that are on the device's
    /// badblocks list out of allocation (in DRAM only); returns how many.
    pub(crate) fn quarantine_bad(&self, b: u64, len: u64) -> u64 {
        let mut m = self.meta.lock();
        let mut n = 0;
        let mut nomem = false;
        let (lo, hi) = (self.geo.data_start, self.geo.blocks);
        self.dev.bad_ranges(b.saturating_mul(BS), len.saturating_mul(BS), |off, l| {
            let (a, z) = ((off / BS).max(lo), off.saturating_add(l).div_ceil(BS).min(hi));
            if a < z {
                // Blocks in use on the list stay out once their file frees them.
                match self.remember(&mut m, a, z) {
                    Ok(k) => n += k,
                    Err(_) => {
                        nomem = true;
                        n += self.keep_out(&mut m, a, z);
                    }
                }
            }
        });
        if nomem {
            pr_warn!("{}: out of memory recording bad blocks; some may be allocated again once freed\n", self.name());
        }
        n
    }

    /// Sets the DRAM bits of the free data blocks in `[b, end)`; returns
    /// how many were free.  A word at a time (a bad range may be
    /// gigabytes long).
    fn keep_out(&self, m: &mut Meta, b: u64, end: u64) -> u64 {
        let n = set_range(&mut m.bbits, b.max(self.geo.data_start), end.min(self.geo.blocks));
        m.kept_out += n;
        n
    }

    /// Remembers blocks `[b, end)` as bad (a memory failure reported on
    /// them): the free ones are kept out of allocation now, the ones in
    /// use when they are freed (in DRAM only: the list lasts until
    /// unmount).  Returns how many are in use, by the committed block
    /// bitmap on pmem (blocks kept out are free there).  Under the
    /// metadata mutex: no transaction is between allocating a block and
    /// committing it.
    pub(crate) fn poisoned(&self, b: u64, end: u64) -> Result<u64> {
        let (b, end) = (b.max(self.geo.data_start), end.min(self.geo.blocks));
        if b >= end {
            return Ok(0);
        }
        let mut m = self.meta.lock();
        let used = self.count_in_use(b, end)?;
        self.remember(&mut m, b, end)?;
        Ok(used)
    }

    /// Adds `[b, end)` to the bad ranges and keeps its free blocks out of
    /// allocation; returns how many were free.
    fn remember(&self, m: &mut Meta, b: u64, end: u64) -> Result<u64> {
        add_range(&mut m.poison, b, end)?;
        Ok(self.keep_out(m, b, end))
    }

    /// How many of blocks `[b, end)` are in use by the committed block
    /// bitmap on pmem (under the metadata mutex, taken here).
    pub(crate) fn in_use(&self, b: u64, end: u64) -> Result<u64> {
        let (b, end) = (b.max(self.geo.data_start), end.min(self.geo.blocks));
        let _m = self.meta.lock();
        self.count_in_use(b, end)
    }

    /// Runs `f` with the metadata mutex held: pmem then holds only
    /// committed and applied metadata (the memory-failure scan reads
    /// inodes from pmem under it).
    pub(crate) fn with_meta_lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let _m = self.meta.lock();
        f()
    }

    fn count_in_use(&self, b: u64, end: u64) -> Result<u64> {
        let mut used = 0;
        for_words(b, end, |word, mask| {
            let mut w = [0u8; 8];
            self.dev.read(self.geo.bbitmap_start * BS + word * 8, &mut w)?;
            used += u64::from((u64::from_le_bytes(w) & mask).count_ones());
            Ok(())
        })?;
        Ok(used)
    }

    /// Records in the state block whether the filesystem is clean (with
    /// exact free counts when it is).
    pub(crate) fn set_clean(&self, clean: bool) -> Result {
        let mut tx = self.begin();
        tx.meta.clean = clean;
        tx.state_dirty = true;
        tx.commit()
    }
}

fn replay(dev: &DaxDevice, geo: &Geometry, st: &StateBlock, id: &CStr) -> Result {
    let len = (st.tx_len as u64).min(geo.journal_bytes()) as usize;
    let mut jbuf = mem::zeroed_kvvec(len)?;
    dev.read(geo.journal_start * BS, &mut jbuf)?;
    let bad = |e: format::JournalError| {
        pr_err!("{:?}: journal: {}; run fsck.daxfs\n", id, e.describe());
        EUCLEAN
    };
    let tx = st.pending_transaction(&jbuf, geo).map_err(bad)?.ok_or(EUCLEAN)?;
    let mut n = 0u32;
    for r in tx.records() {
        let r = r.map_err(bad)?;
        dev.write(r.dst, r.data)?;
        n += 1;
    }
    dev.fence();
    persist_u64(dev, STATE_OFF + format::STATE_APPLIED as u64, tx.seq)?;
    pr_info!("{:?}: journal: replayed transaction {} ({} records)\n", id, tx.seq, n);
    Ok(())
}

/// What a transaction allocated or freed, applied to the pmem bitmaps at
/// commit (and, for frees, to the DRAM bitmaps after it).
#[derive(Clone, Copy)]
enum Range {
    Blocks(u64, u64),
    Inode(u64),
}

/// One metadata transaction.  Holds the metadata mutex.
pub(crate) struct Tx<'a> {
    meta: MutexGuard<'a, Meta>,
    store: &'a Store,
    /// Encoded journal records, in order (vmalloc'ed when large: a
    /// transaction may be as large as the journal).
    recs: KVVec<u8>,
    /// Scratch space for bitmap words (`log_bits`).
    bitbuf: KVec<u8>,
    allocs: KVec<Range>,
    frees: KVec<Range>,
    state_dirty: bool,
    /// The orphan head before this transaction changed it (for rollback).
    orphan_before: Option<u64>,
    done: bool,
}

impl Tx<'_> {
    pub(crate) fn geo(&self) -> &Geometry {
        &self.store.geo
    }

    /// Logs `data` to be written at device byte offset `dst`.
    pub(crate) fn write(&mut self, dst: u64, data: &[u8]) -> Result {
        for (i, chunk) in data.chunks(format::RECORD_MAX).enumerate() {
            let off = dst + (i * format::RECORD_MAX) as u64;
            if !self.store.geo.record_target_ok(off, chunk.len()) {
                pr_err!("bug: journal record for {}+{} outside the metadata areas\n", off, chunk.len());
                return Err(EINVAL);
            }
            let at = self.recs.len();
            mem::extend_zeroed(&mut self.recs, format::record_size(chunk.len()), GFP_KERNEL)?;
            format::encode_record(&mut self.recs[at..], off, chunk).map_err(|_| EINVAL)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `off` as they are with this transaction's
    /// records so far applied.
    pub(crate) fn read(&self, off: u64, buf: &mut [u8]) -> Result {
        self.store.dev.read(off, buf)?;
        let end = off + buf.len() as u64;
        for r in format::records(&self.recs) {
            let r = r.map_err(|_| EINVAL)?;
            let r_end = r.dst + r.data.len() as u64;
            if r.dst >= end || r_end <= off {
                continue;
            }
            let (from, to) = (r.dst.max(off), r_end.min(end));
            buf[(from - off) as usize..(to - off) as usize]
                .copy_from_slice(&r.data[(from - r.dst) as usize..(to - r.dst) as usize]);
        }
        Ok(())
    }

    /// Allocates an inode number.
    pub(crate) fn alloc_inode(&mut self) -> Result<u64> {
        let m = &mut *self.meta;
        let n = self.store.geo.inodes;
        let from = m.ihint.min(m.ibits.len());
        let word = from + m.ibits[from..].iter().position(|w| *w != !0u64).ok_or(ENOSPC)?;
        m.ihint = word;
        let bit = (!m.ibits[word]).trailing_zeros() as u64;
        let idx = word as u64 * 64 + bit;
        if idx >= n {
            return Err(ENOSPC);
        }
        self.allocs.push(Range::Inode(idx + 1), GFP_KERNEL)?;
        set_bit(&mut m.ibits, idx, true);
        m.free_inodes -= 1;
        Ok(idx + 1)
    }

    /// Frees inode `ino` (in DRAM once committed).
    pub(crate) fn free_inode(&mut self, ino: u64) -> Result {
        self.frees.push(Range::Inode(ino), GFP_KERNEL)?;
        Ok(())
    }

    /// Allocates one metadata block (directory, extent chain): packed with
    /// other small allocations (fs/alloc.rs).
    pub(crate) fn alloc_block(&mut self) -> Result<u64> {
        Ok(self.place(None, None, 1)?.0)
    }

    /// Allocates one run of up to `want` blocks for file block `lblk`,
    /// continuing at `goal` (the device block after the file's previous
    /// run) when that keeps the 2 MiB colour; fs/alloc.rs has the policy
    /// that keeps whole 2 MiB regions for PMD mappings.
    /// At most [`STEP_BLOCKS`] per call: callers loop for more.
    pub(crate) fn alloc_data(&mut self, goal: Option<u64>, lblk: u64, want: u64) -> Result<(u64, u64)> {
        self.place(goal, Some(lblk), want.min(STEP_BLOCKS))
    }

    fn place(&mut self, goal: Option<u64>, lblk: Option<u64>, want: u64) -> Result<(u64, u64)> {
        let geo = self.store.geo;
        let m = &mut *self.meta;
        if m.free_blocks <= m.kept_out || want == 0 {
            return Err(ENOSPC);
        }
        let bm = Bitmap { bits: &m.bbits, start: geo.data_start, end: geo.blocks };
        let (b, len) = alloc::place(&bm, &mut m.hints, &mut m.small_regions, goal, lblk, want).ok_or(ENOSPC)?;
        if len == 0 || !geo.is_data(b, len) {
            pr_err!("bug: block placement chose {}+{}\n", b, len);
            return Err(EIO);
        }
        self.claim(b, len)
    }

    /// Takes the free blocks `b..b+len` for this transaction.
    fn claim(&mut self, b: u64, len: u64) -> Result<(u64, u64)> {
        self.allocs.push(Range::Blocks(b, len), GFP_KERNEL)?;
        let m = &mut *self.meta;
        for i in b..b + len {
            set_bit(&mut m.bbits, i, true);
        }
        m.free_blocks -= len;
        Ok((b, len))
    }

    /// Frees blocks `b..b+len` (in DRAM once committed).
    pub(crate) fn free_blocks(&mut self, b: u64, len: u64) -> Result {
        if !self.store.geo.is_data(b, len) {
            pr_err!("refusing to free metadata blocks {}+{}\n", b, len);
            return Err(EUCLEAN);
        }
        self.frees.push(Range::Blocks(b, len), GFP_KERNEL)?;
        Ok(())
    }

    /// The orphan list head as this transaction sees it.
    pub(crate) fn orphan_head(&self) -> u64 {
        self.meta.orphan_head
    }

    /// Changes the orphan list head (logged at commit).
    pub(crate) fn set_orphan_head(&mut self, ino: u64) {
        self.orphan_before.get_or_insert(self.meta.orphan_head);
        self.meta.orphan_head = ino;
        self.state_dirty = true;
    }

    /// Logs the pmem bitmap words covering `first..first+count` of the
    /// bitmap at block `start` with those bits set or cleared: one record
    /// per run of up to `RECORD_MAX` bytes of words, each read once (a
    /// record per word cost 24 bytes of journal per 64 blocks and a scan of
    /// the transaction per word).
    fn log_bits(&mut self, start: u64, first: u64, count: u64, on: bool) -> Result {
        const RUN_WORDS: u64 = (format::RECORD_MAX / 8) as u64;
        let end = first.checked_add(count).ok_or(EINVAL)?;
        let bitmap = start;
        let mut buf = core::mem::take(&mut self.bitbuf);
        let r = (|| -> Result {
            let mut n = first;
            while n < end {
                let w0 = n / 64;
                let w1 = end.div_ceil(64).min(w0 + RUN_WORDS);
                let off = start * BS + w0 * 8;
                buf.clear();
                mem::extend_zeroed(&mut buf, ((w1 - w0) * 8) as usize, GFP_KERNEL)?;
                self.read(off, &mut buf)?;
                for (i, c) in buf.chunks_exact_mut(8).enumerate() {
                    let base = (w0 + i as u64) * 64;
                    let lo = n.max(base) - base;
                    let hi = end.min(base + 64) - base;
                    let mask = if hi - lo == 64 { !0u64 } else { ((1u64 << (hi - lo)) - 1) << lo };
                    let mut w = [0u8; 8];
                    w.copy_from_slice(c);
                    let v = u64::from_le_bytes(w);
                    if !on && v & mask != mask {
                        // Freeing a free block: extents of two inodes
                        // overlap (a damaged image with valid checksums).
                        pr_err!(
                            "freeing bits of bitmap block {} that are already clear (word {}); run fsck.daxfs\n",
                            bitmap,
                            w0 + i as u64
                        );
                        return Err(EUCLEAN);
                    }
                    c.copy_from_slice(&(if on { v | mask } else { v & !mask }).to_le_bytes());
                }
                self.write(off, &buf)?;
                n = end.min(w1 * 64);
            }
            Ok(())
        })();
        self.bitbuf = buf;
        r
    }

    /// Makes the transaction durable and applies it in place.  The
    /// metadata mutex stays held until the `Tx` is dropped: callers
    /// install the committed state in DRAM (inode state, directory index,
    /// VFS fields) before anyone else can start a transaction, so nobody
    /// logs an image built from DRAM that is older than pmem.
    pub(crate) fn commit(&mut self) -> Result {
        let geo = self.store.geo;
        // Bitmap words, computed now that nothing else can change them.
        for i in 0..self.allocs.len() {
            match self.allocs[i] {
                Range::Blocks(b, l) => self.log_bits(geo.bbitmap_start, b, l, true)?,
                Range::Inode(ino) => self.log_bits(geo.ibitmap_start, ino - 1, 1, true)?,
            }
        }
        for i in 0..self.frees.len() {
            match self.frees[i] {
                Range::Blocks(b, l) => self.log_bits(geo.bbitmap_start, b, l, false)?,
                Range::Inode(ino) => self.log_bits(geo.ibitmap_start, ino - 1, 1, false)?,
            }
        }
        if self.state_dirty {
            let m = &*self.meta;
            let mut st = StateBlock::new(m.free_blocks, m.free_inodes);
            st.orphan_head = m.orphan_head;
            st.clean = m.clean;
            let mut sbuf = [0u8; format::STATE_SIZE];
            st.encode(&mut sbuf);
            let j = format::STATE_JOURNALED;
            self.write(STATE_OFF + j as u64, &sbuf[j..])?;
        }
        if self.recs.is_empty() {
            self.done = true;
            return Ok(());
        }
        let len = self.recs.len() as u64;
        if len > geo.journal_bytes() {
            pr_err!("transaction of {} bytes exceeds the journal\n", len);
            return Err(E2BIG);
        }
        if self.meta.dead || self.store.is_shut_down() {
            return Err(EIO);
        }
        let dev = &self.store.dev;
        // The sequence comes from the state block: a hostile image may put
        // it at the end of the range.
        let seq = self.meta.applied_seq.checked_add(1).ok_or_else(|| {
            pr_err!("journal sequence number exhausted; run fsck.daxfs\n");
            EUCLEAN
        })?;
        // 1. records, 2. length + CRC, 3. the commit point.
        dev.write(geo.journal_start * BS, &self.recs)?;
        dev.fence();
        // The test module's assertion: nothing is in flight at a store
        // that makes earlier ones count (here the records, then the length
        // and CRC, then the in-place writes must be durable).
        dev.assert_fenced("the journal's length and CRC store");
        let word = format::tx_word(len as u32, format::tx_crc(seq, &self.recs));
        persist_u64(dev, STATE_OFF + format::STATE_TX as u64, word)?;
        dev.assert_fenced("the commit store");
        persist_u64(dev, STATE_OFF + format::STATE_COMMITTED as u64, seq)?;
        // Committed: from here the change survives a crash.
        self.done = true;
        self.meta.commits = self.meta.commits.saturating_add(1);
        if self.meta.crash_after != 0 && self.meta.commits >= self.meta.crash_after {
            pr_warn!("simulated power failure after commit {} (crash_after_commit)\n", seq);
            self.meta.dead = true;
            return Ok(());
        }
        // 4. apply in place, 5. mark applied.
        for r in format::records(&self.recs) {
            let r = r.map_err(|_| EINVAL)?;
            dev.write(r.dst, r.data)?;
        }
        dev.fence();
        dev.assert_fenced("the applied store");
        persist_u64(dev, STATE_OFF + format::STATE_APPLIED as u64, seq)?;
        self.meta.applied_seq = seq;
        // Freed space becomes allocatable only now.
        for r in self.frees.iter() {
            self.meta.release(*r);
        }
        Ok(())
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Not committed: give back what was taken in DRAM.
            if let Some(head) = self.orphan_before {
                self.meta.orphan_head = head;
            }
            for r in self.allocs.iter() {
                self.meta.release(*r);
            }
        }
        let mut spare = Spare {
            recs: core::mem::take(&mut self.recs),
            bitbuf: core::mem::take(&mut self.bitbuf),
            allocs: core::mem::take(&mut self.allocs),
            frees: core::mem::take(&mut self.frees),
        };
        if spare.recs.capacity() > SPARE_MAX {
            spare.recs = KVVec::new();
        }
        if spare.allocs.capacity() * core::mem::size_of::<Range>() > SPARE_MAX {
            spare.allocs = KVec::new();
        }
        if spare.frees.capacity() * core::mem::size_of::<Range>() > SPARE_MAX {
            spare.frees = KVec::new();
        }
        spare.recs.clear();
        spare.allocs.clear();
        spare.frees.clear();
        self.meta.spare = spare;
    }
}
