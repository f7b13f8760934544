// SPDX-License-Identifier: GPL-2.0
//! A filesystem image in memory: a block cache over a [`Device`] ([`Image`])
//! and typed access to the version 2 metadata ([`Fs`]).  mkfs writes through
//! it, fsck reads, checks and repairs through it, and the tests build
//! filesystems with it.  Nothing reaches the device before [`Image::flush`].
//!
//! Bad blocks (media errors): the blocks of the device's badblocks list
//! ([`Image::mark_bad`]) are never read or written, and a block whose read
//! fails with `EIO` is remembered as unreadable; both read as zeroes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::ops::Range;

use crate::dev::{is_media_error, Device};
use crate::*;

const BS: u64 = BLOCK_SIZE as u64;

/// One block.
pub type Block = [u8; BLOCK_SIZE as usize];

/// Blocks kept in memory that are not dirty, at most (64 MiB): past it the
/// clean ones are dropped (they are read again when needed), so that a
/// check's memory does not grow with the metadata it reads.
const MAX_CLEAN: usize = 16384;

/// Blocks read from a device on first use, kept in memory (the clean ones
/// up to [`MAX_CLEAN`]), and written back (only those changed) by
/// [`Image::flush`].
#[derive(Debug)]
pub struct Image {
    dev: Device,
    cache: HashMap<u64, Box<Block>>,
    dirty: BTreeSet<u64>,
    /// Bad blocks as the device lists them: first block -> end (disjoint).
    bad: BTreeMap<u64, u64>,
    /// Blocks whose read failed with a media error.
    unreadable: BTreeSet<u64>,
}

fn out_of_range(what: &str, n: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {n} out of range"),
    )
}

fn byte_offset(block: u64) -> io::Result<u64> {
    block
        .checked_mul(BS)
        .ok_or_else(|| out_of_range("block", block))
}

/// `ranges` sorted, with those that overlap or touch merged.
fn merged(mut ranges: Vec<Range<u64>>) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::new();
    for r in ranges.into_iter().filter(|r| r.start < r.end) {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

impl Image {
    /// An empty cache over `dev`.
    pub fn new(dev: Device) -> Self {
        Image {
            dev,
            cache: HashMap::new(),
            dirty: BTreeSet::new(),
            bad: BTreeMap::new(),
            unreadable: BTreeSet::new(),
        }
    }

    /// Adds the blocks holding any byte of the ranges `bytes` (as
    /// [`Device::bad_ranges`] gives them) to the bad blocks: they are not
    /// read from now on but read as zeroes, and never written.
    pub fn mark_bad(&mut self, bytes: &[Range<u64>]) {
        let blocks = bytes.iter().map(|r| r.start / BS..r.end.div_ceil(BS));
        let old = self.bad.iter().map(|(&start, &end)| start..end);
        self.bad = merged(old.chain(blocks).collect())
            .into_iter()
            .map(|r| (r.start, r.end))
            .collect();
        let cached = std::mem::take(&mut self.cache);
        self.cache = cached
            .into_iter()
            .filter(|(n, _)| !self.is_bad(*n))
            .collect();
    }

    /// Whether block `n` is bad: listed, or its read failed.
    pub fn is_bad(&self, n: u64) -> bool {
        self.listed(n) || self.unreadable.contains(&n)
    }

    fn listed(&self, n: u64) -> bool {
        self.bad
            .range(..=n)
            .next_back()
            .is_some_and(|(_, &end)| end > n)
    }

    /// Whether block `n` is bad because its read failed (it is not listed).
    pub fn read_failed(&self, n: u64) -> bool {
        self.unreadable.contains(&n) && !self.listed(n)
    }

    /// The bad blocks, listed or unreadable, as sorted disjoint ranges.
    pub fn bad_blocks(&self) -> Vec<Range<u64>> {
        let listed = self.bad.iter().map(|(&start, &end)| start..end);
        merged(
            listed
                .chain(self.unreadable.iter().map(|&n| n..n + 1))
                .collect(),
        )
    }

    /// The changed blocks that are bad ([`Image::flush`] refuses them).
    pub fn dirty_bad(&self) -> Vec<u64> {
        self.dirty
            .iter()
            .copied()
            .filter(|&n| self.is_bad(n))
            .collect()
    }

    /// Reads block `n` into `b` (zeroes): left zero if it is bad or its
    /// read fails with a media error (it is then unreadable).
    fn read_block(&mut self, n: u64, b: &mut Block) -> io::Result<()> {
        if self.is_bad(n) {
            return Ok(());
        }
        // Past the end of the device reads as zeroes.
        match self.dev.read_at(byte_offset(n)?, &mut b[..]) {
            Err(e) if is_media_error(&e) => {
                b.fill(0);
                self.unreadable.insert(n);
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Gives the device back, dropping the cache (changes not flushed are lost).
    pub fn into_device(self) -> Device {
        self.dev
    }

    /// Reads the blocks of `range` not cached yet, in large reads (block
    /// by block where a block is bad or a read fails with a media error).
    pub fn load(&mut self, range: Range<u64>) -> io::Result<()> {
        const CHUNK: u64 = 256;
        let mut buf = vec![0u8; (CHUNK * BS) as usize];
        let mut start = range.start;
        while start < range.end {
            self.trim();
            let n = CHUNK.min(range.end - start);
            let bytes = &mut buf[..(n * BS) as usize];
            bytes.fill(0);
            let whole = if (start..start + n).any(|b| self.is_bad(b)) {
                false
            } else {
                match self.dev.read_at(byte_offset(start)?, bytes) {
                    Ok(_) => true,
                    Err(e) if is_media_error(&e) => false,
                    Err(e) => return Err(e),
                }
            };
            for (i, chunk) in bytes.chunks_exact(BS as usize).enumerate() {
                let b = start + i as u64;
                if whole {
                    self.cache
                        .entry(b)
                        .or_insert_with(|| Box::new(chunk.try_into().expect("one block")));
                } else {
                    self.entry(b)?;
                }
            }
            start += n;
        }
        Ok(())
    }

    /// Drops the clean blocks when there are too many.
    fn trim(&mut self) {
        if self.cache.len() >= MAX_CLEAN + self.dirty.len() {
            let dirty = &self.dirty;
            self.cache.retain(|n, _| dirty.contains(n));
        }
    }

    fn entry(&mut self, n: u64) -> io::Result<&mut Block> {
        if !self.cache.contains_key(&n) {
            self.trim();
            let mut b = Box::new([0u8; BLOCK_SIZE as usize]);
            self.read_block(n, &mut b)?;
            self.cache.insert(n, b);
        }
        Ok(self.cache.get_mut(&n).expect("just inserted"))
    }

    /// Block `n`.
    pub fn block(&mut self, n: u64) -> io::Result<&Block> {
        Ok(self.entry(n)?)
    }

    /// Block `n`, to be changed (it will be written back).
    pub fn block_mut(&mut self, n: u64) -> io::Result<&mut Block> {
        self.dirty.insert(n);
        self.entry(n)
    }

    /// Reads `buf.len()` bytes from byte `offset`.
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let at = (pos % BS) as usize;
            let n = (BS as usize - at).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&self.block(pos / BS)?[at..at + n]);
            done += n;
        }
        Ok(())
    }

    /// Writes `data` at byte `offset`; blocks whose contents do not change
    /// are not marked dirty.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let at = (pos % BS) as usize;
            let n = (BS as usize - at).min(data.len() - done);
            let src = &data[done..done + n];
            if &self.block(pos / BS)?[at..at + n] != src {
                self.block_mut(pos / BS)?[at..at + n].copy_from_slice(src);
            }
            done += n;
        }
        Ok(())
    }

    /// Reads the `SB_SIZE` bytes at `offset` (as the blocks hold them) and
    /// decodes and validates them against the device size, as
    /// [`Device::read_sb`] does.
    pub fn read_sb(&mut self, offset: u64) -> io::Result<Result<SuperBlock, SbError>> {
        let mut buf = [0u8; SB_SIZE];
        self.read(offset, &mut buf)?;
        let size = self.dev.size();
        let n = size.saturating_sub(offset).min(SB_SIZE as u64) as usize;
        Ok(SuperBlock::parse(&buf[..n], size))
    }

    /// Whether anything changed since the last flush.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Removes the changed blocks from the cache and returns them, in block
    /// order, without writing them.
    pub fn take_dirty(&mut self) -> Vec<(u64, Box<Block>)> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|n| Some((n, self.cache.remove(&n)?)))
            .collect()
    }

    /// Writes the changed blocks in block order and syncs the device.
    /// Writes nothing if a changed block is bad (see [`Image::dirty_bad`]).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(n) = self.dirty_bad().first() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("block {n} is bad: not writing it"),
            ));
        }
        for n in std::mem::take(&mut self.dirty) {
            if let Some(block) = self.cache.get(&n) {
                self.dev.write_at(byte_offset(n)?, &block[..])?;
            }
        }
        self.dev.sync()
    }
}

/// An extent map as [`Fs::read_map`] found it.
#[derive(Clone, Debug, Default)]
pub struct ExtentMap {
    /// The extents that decode: inline ones, then the chain's, in order.
    pub extents: Vec<Extent>,
    /// The extent blocks of the chain that were read, in chain order.
    pub chain: Vec<u64>,
    /// Extent slots the inode and its chain hold (`nextents` if intact).
    pub recorded: u64,
    /// Each part that could not be read (the map is then incomplete: the
    /// blocks those parts map are unknown).
    pub damage: Vec<String>,
    /// The block of the data area where the chain stopped because it does
    /// not decode as an extent block (a bad block reads as zeroes).
    pub undecoded: Option<u64>,
    /// Chain blocks read although their CRC is wrong (only with
    /// [`Fs::salvage`]): the rest of each decoded; they must be sealed
    /// again.
    pub resealed: Vec<u64>,
}

/// The extent blocks a map of `n` extents needs.
pub fn chain_len(n: usize) -> usize {
    n.saturating_sub(INLINE_EXTENTS).div_ceil(EXTENTS_PER_BLOCK)
}

/// Extent maps as leaves (`fs/extmap.rs`) keep their items in `Vec`s here.
impl<T> crate::extmap::Buf<T> for Vec<T> {
    fn items(&self) -> &[T] {
        self
    }
    fn items_mut(&mut self) -> &mut [T] {
        self
    }
    fn reserve_more(&mut self, extra: usize) -> Result<(), ()> {
        self.try_reserve(extra).map_err(|_| ())
    }
    fn insert_in(&mut self, i: usize, x: T) -> Result<(), ()> {
        if i > self.len() || self.len() == self.capacity() {
            return Err(());
        }
        self.insert(i, x);
        Ok(())
    }
    fn take(&mut self, i: usize) -> Option<T> {
        (i < self.len()).then(|| self.remove(i))
    }
}

/// Extent maps are edited with `fs/extents.rs`, as in the module.
impl crate::extents::ExtentList for Vec<Extent> {
    fn exts(&self) -> &[Extent] {
        self
    }
    fn exts_mut(&mut self) -> &mut [Extent] {
        self
    }
    fn insert_at(&mut self, i: usize, e: Extent) -> Result<(), ()> {
        self.insert(i, e);
        Ok(())
    }
    fn remove_at(&mut self, i: usize) {
        self.remove(i);
    }
}

/// An image with its (trusted) superblock: typed access to the metadata.
#[derive(Debug)]
pub struct Fs {
    /// The blocks.
    pub img: Image,
    /// The superblock the layout comes from.
    pub sb: SuperBlock,
    /// `sb.geometry()`.
    pub geo: Geometry,
    /// [`Fs::read_map`] reads on through an extent block whose only fault
    /// is its CRC (`fsck -y`).
    pub salvage: bool,
}

impl Fs {
    /// Wraps `img`, laid out as `sb` says.
    pub fn new(img: Image, sb: SuperBlock) -> Self {
        Fs {
            img,
            geo: sb.geometry(),
            sb,
            salvage: false,
        }
    }

    /// Opens the device at `path` (read-write if `write`) with its primary
    /// superblock, which must be valid.
    pub fn open(path: &std::path::Path, write: bool) -> io::Result<Self> {
        let dev = Device::open(path, write)?;
        let sb = dev
            .read_sb(SB_PRIMARY_OFFSET)?
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.describe()))?;
        Ok(Fs::new(Image::new(dev), sb))
    }

    /// Reads the metadata blocks before the inode table (superblocks,
    /// state block, journal, bitmaps) into the cache, in large reads; the
    /// inode table is read as it is used ([`Fs::load_inodes`]).
    pub fn load_metadata(&mut self) -> io::Result<()> {
        self.img.load(0..self.geo.itable_start)
    }

    /// Reads the inode table blocks holding inodes `first..first + n` into
    /// the cache, in large reads.
    pub fn load_inodes(&mut self, first: u64, n: u64) -> io::Result<()> {
        let geo = self.geo;
        let start = geo.itable_start + first.saturating_sub(1) / INODES_PER_BLOCK;
        let end = (geo.itable_start + (first.saturating_add(n)).div_ceil(INODES_PER_BLOCK))
            .min(geo.itable_start + geo.itable_blocks);
        self.img.load(start..end.max(start))
    }

    /// `count` blocks from block `start`, as one buffer.
    pub fn read_area(&mut self, start: u64, count: u64) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; (count * BS) as usize];
        self.img.read(byte_offset(start)?, &mut buf)?;
        Ok(buf)
    }

    /// The inode bitmap.
    pub fn inode_bitmap(&mut self) -> io::Result<Vec<u8>> {
        self.read_area(self.geo.ibitmap_start, self.geo.ibitmap_blocks)
    }

    /// The block bitmap.
    pub fn block_bitmap(&mut self) -> io::Result<Vec<u8>> {
        self.read_area(self.geo.bbitmap_start, self.geo.bbitmap_blocks)
    }

    fn bit_location(start: u64, bit: u64) -> (u64, u64) {
        (start + bit / BITS_PER_BLOCK, bit % BITS_PER_BLOCK)
    }

    /// Bit `bit` of the bitmap area starting at block `start`.
    pub fn bit(&mut self, start: u64, bit: u64) -> io::Result<bool> {
        let (block, bit) = Self::bit_location(start, bit);
        Ok(bitmap_test(&self.img.block(block)?[..], bit) == Some(true))
    }

    /// Sets or clears bit `bit` of the bitmap area starting at block `start`.
    pub fn set_bit(&mut self, start: u64, bit: u64, value: bool) -> io::Result<()> {
        if self.bit(start, bit)? != value {
            let (block, bit) = Self::bit_location(start, bit);
            let map = &mut self.img.block_mut(block)?[..];
            if value {
                bitmap_set(map, bit);
            } else {
                bitmap_clear(map, bit);
            }
        }
        Ok(())
    }

    /// The raw slot of inode `ino`.
    pub fn inode_slot(&mut self, ino: u64) -> io::Result<[u8; INODE_SIZE]> {
        let offset = self
            .geo
            .inode_offset(ino)
            .ok_or_else(|| out_of_range("inode", ino))?;
        let mut slot = [0u8; INODE_SIZE];
        self.img.read(offset, &mut slot)?;
        Ok(slot)
    }

    /// Inode `ino`, decoded.
    pub fn inode(&mut self, ino: u64) -> io::Result<Result<Inode, InodeError>> {
        Ok(Inode::decode(&self.inode_slot(ino)?))
    }

    /// Stores inode `ino` (`None`: zeroes the slot).
    pub fn put_inode(&mut self, ino: u64, inode: Option<&Inode>) -> io::Result<()> {
        let offset = self
            .geo
            .inode_offset(ino)
            .ok_or_else(|| out_of_range("inode", ino))?;
        let mut slot = [0u8; INODE_SIZE];
        if let Some(inode) = inode {
            inode.encode(&mut slot);
        }
        self.img.write(offset, &slot)
    }

    /// The extent map of inode `ino` (image `inode`): its inline extents,
    /// then its chain of extent blocks.  The walk stops at the first chain
    /// block outside the data area, seen before in this chain, that does
    /// not decode or that another inode owns.
    pub fn read_map(&mut self, ino: u64, inode: &Inode) -> io::Result<ExtentMap> {
        let mut m = ExtentMap {
            recorded: inode.inline_count() as u64,
            ..ExtentMap::default()
        };
        for i in 0..inode.inline_count() {
            match inode.inline_extent(i) {
                Some(Ok(e)) => m.extents.push(e),
                Some(Err(e)) => m
                    .damage
                    .push(format!("inline extent {i}: {}", e.describe())),
                None => {}
            }
        }
        let mut seen = HashSet::new();
        let mut next = inode.extent_block;
        while next != 0 {
            let at = format!("extent block {next}");
            if !self.geo.is_data(next, 1) {
                m.damage.push(format!("{at}: outside the data area"));
                break;
            }
            if !seen.insert(next) {
                m.damage.push(format!("{at}: the chain loops"));
                break;
            }
            let block = self.img.block(next)?;
            let decoded = match ExtentBlockHeader::decode(&block[..]) {
                Err(ExtentBlockError::BadChecksum) if self.salvage => {
                    let h = ExtentBlockHeader::decode_salvaged(&block[..]);
                    if h.is_ok() {
                        m.resealed.push(next);
                    }
                    h
                }
                r => r,
            };
            let header = match decoded {
                Ok(h) if h.owner == ino => h,
                Ok(h) => {
                    m.damage.push(format!("{at}: owner is inode {}", h.owner));
                    break;
                }
                Err(e) => {
                    m.damage.push(format!("{at}: {}", e.describe()));
                    m.undecoded = Some(next);
                    break;
                }
            };
            for i in 0..header.count as usize {
                match block_extent(&block[..], i) {
                    Some(Ok(e)) => m.extents.push(e),
                    Some(Err(e)) => m.damage.push(format!("{at}: extent {i}: {}", e.describe())),
                    None => {}
                }
            }
            m.chain.push(next);
            m.recorded += u64::from(header.count);
            next = header.next;
        }
        Ok(m)
    }

    /// Stores the extent map `exts` of inode `ino`: the first
    /// `INLINE_EXTENTS` in `inode`, the rest in the extent blocks `chain`
    /// (exactly [`chain_len`] of them, in chain order); sets the extent
    /// fields and the block count of `inode`, which the caller stores.
    /// Packs the chain densely (the module packs only the blocks an edit
    /// touches, `fs/extmap.rs`; both are valid: 1..=254 extents a block).
    pub fn put_extents(
        &mut self,
        ino: u64,
        inode: &mut Inode,
        exts: &[Extent],
        chain: &[u64],
    ) -> io::Result<()> {
        let nextents = u32::try_from(exts.len()).ok();
        let (Some(nextents), true) = (nextents, chain.len() == chain_len(exts.len())) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} extents do not fit {} extent blocks",
                    exts.len(),
                    chain.len()
                ),
            ));
        };
        inode.inline = [0; INLINE_SIZE];
        for (i, e) in exts.iter().take(INLINE_EXTENTS).enumerate() {
            inode.set_inline_extent(i, e);
        }
        let rest = exts.get(INLINE_EXTENTS..).unwrap_or(&[]);
        for ((k, group), &at) in rest.chunks(EXTENTS_PER_BLOCK).enumerate().zip(chain) {
            let mut block = [0u8; BLOCK_SIZE as usize];
            for (slot, e) in (EXTENT_BLOCK_HEADER..).step_by(EXTENT_SIZE).zip(group) {
                block[slot..slot + EXTENT_SIZE].copy_from_slice(&e.encode());
            }
            let header = ExtentBlockHeader {
                count: group.len() as u32,
                next: chain.get(k + 1).copied().unwrap_or(0),
                owner: ino,
            };
            header
                .encode(&mut block)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.describe()))?;
            self.img.write(byte_offset(at)?, &block)?;
        }
        inode.nextents = nextents;
        inode.extent_block = chain.first().copied().unwrap_or(0);
        inode.blocks = crate::extents::mapped_blocks(exts) + chain.len() as u64;
        Ok(())
    }

    /// The state block, decoded.
    pub fn state(&mut self) -> io::Result<Result<StateBlock, StateError>> {
        let mut buf = [0u8; STATE_SIZE];
        self.img.read(STATE_BLOCK * BS, &mut buf)?;
        Ok(StateBlock::decode(&buf))
    }

    /// The state block's journal header (see `StateBlock::decode_header`).
    pub fn state_header(&mut self) -> io::Result<Result<StateBlock, StateError>> {
        let mut buf = [0u8; STATE_SIZE];
        self.img.read(STATE_BLOCK * BS, &mut buf)?;
        Ok(StateBlock::decode_header(&buf))
    }

    /// Stores the state block.
    pub fn put_state(&mut self, state: &StateBlock) -> io::Result<()> {
        let mut buf = [0u8; STATE_SIZE];
        state.encode(&mut buf);
        self.img.write(STATE_BLOCK * BS, &buf)
    }
}
