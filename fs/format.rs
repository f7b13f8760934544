// SPDX-License-Identifier: GPL-2.0
//! The daxfs on-disk format: the single definition shared by the kernel module
//! (`fs/`, compiled into `dax_fs.ko`) and the userspace tools (`tools/`, through
//! the `daxfs-tools` library, whose `lib.rs` includes this file).
//!
//! Rules for this file: no dependencies, no allocation, no `unsafe_code`, no panics
//! on any input (every decoder takes a byte slice and returns a `Result`).
//! All integers are little-endian; structures are encoded and decoded field by
//! field, so the in-memory Rust layout never has to match the media.
//!
//! Layout (format version 2, see docs/format-v2.md), computed by
//! [`Geometry::new`]:
//!
//! | block                 | contents                                   |
//! |-----------------------|--------------------------------------------|
//! | 0                     | primary superblock (first `SB_SIZE` bytes)  |
//! | 1                     | backup superblock (identical copy)         |
//! | 2                     | state block ([`StateBlock`])               |
//! | 3 ..                  | journal (redo records, [`Records`])        |
//! | `ibitmap_start` ..    | inode bitmap                               |
//! | `bbitmap_start` ..    | block bitmap                               |
//! | `itable_start` ..     | inode table ([`Inode`], 256 bytes each)     |
//! | `data_start` ..       | data, directory and extent blocks          |
#![forbid(unsafe_code)]

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// Filesystem block size; equal to PAGE_SIZE on x86-64 as DAX requires.
pub const BLOCK_SIZE: u32 = 4096;
/// log2(BLOCK_SIZE).
pub const BLOCK_SHIFT: u32 = 12;
const BS: usize = BLOCK_SIZE as usize;
const BS64: u64 = BLOCK_SIZE as u64;
/// The magic number, "DAXFS" + format family, little-endian at byte 0.
pub const MAGIC: u64 = 0x0000_3153_4658_4144; // b"DAXFS1\0\0" read as LE u64 (with trailing zeroes)
/// statfs f_type / s_magic.
pub const STATFS_MAGIC: u32 = 0xDA8F_5001;
/// Format version this code writes and understands.
pub const VERSION: u32 = 2;
/// Encoded size of the superblock.
pub const SB_SIZE: usize = 512;
/// Byte offset of the primary superblock.
pub const SB_PRIMARY_OFFSET: u64 = 0;
/// Byte offset of the backup superblock.
pub const SB_BACKUP_OFFSET: u64 = BS64;
/// Block number of the state block.
pub const STATE_BLOCK: u64 = 2;
/// First block of the journal.
pub const JOURNAL_START: u64 = 3;
/// Journal size mkfs uses unless told otherwise (1 MiB).
pub const JOURNAL_BLOCKS_DEFAULT: u64 = 256;
/// Smallest journal.
pub const JOURNAL_BLOCKS_MIN: u64 = 16;
/// Largest journal (2 GiB: a transaction's length is a u32).
pub const JOURNAL_BLOCKS_MAX: u64 = 1 << 19;
/// Encoded size of an inode.
pub const INODE_SIZE: usize = 256;
/// Inodes per inode table block; `inodes` is a multiple of it.
pub const INODES_PER_BLOCK: u64 = BS64 / INODE_SIZE as u64;
/// Bits per bitmap block.
pub const BITS_PER_BLOCK: u64 = 8 * BS64;
/// `data_start` is a multiple of this many blocks (2 MiB, for PMD faults).
pub const DATA_ALIGN_BLOCKS: u64 = 512;
/// Smallest filesystem mkfs makes and mount accepts (16 MiB).
pub const MIN_BLOCKS: u64 = 4096;
/// Largest filesystem the format can describe (2^48 bytes = 256 TiB).
pub const MAX_BLOCKS: u64 = 1 << (48 - BLOCK_SHIFT);
/// Inode number of the root directory.
pub const ROOT_INO: u64 = 1;
/// Length of the label field (NUL padded, not necessarily NUL terminated).
pub const LABEL_LEN: usize = 64;
/// Superblock flags this version knows (none: the superblock is static, the
/// clean-unmount state lives in the state block).
pub const SB_FLAGS_KNOWN: u32 = 0;
/// Feature bits this version knows (none).
pub const FEATURES_KNOWN: u32 = 0;

// ---------------------------------------------------------------------------
// Byte helpers: every access is bounds checked, never panics.
// ---------------------------------------------------------------------------

fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        a.copy_from_slice(s);
    }
    a
}

fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(arr(b, off))
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(s) = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        s.copy_from_slice(v);
    }
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    put(b, off, &v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

/// The first `N` bytes of `b` as an array, if it is that long.
fn prefix<const N: usize>(b: &[u8]) -> Option<&[u8; N]> {
    b.get(..N)?.try_into().ok()
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

fn round8(n: usize) -> usize {
    n.saturating_add(7) & !7
}

// ---------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------

/// Where every area lives, in blocks; a pure function of
/// (`blocks`, `inodes`, `journal_blocks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Total blocks.
    pub blocks: u64,
    /// Inode count (a multiple of `INODES_PER_BLOCK`).
    pub inodes: u64,
    /// First journal block (`JOURNAL_START`).
    pub journal_start: u64,
    /// Journal blocks.
    pub journal_blocks: u64,
    /// First inode bitmap block.
    pub ibitmap_start: u64,
    /// Inode bitmap blocks: ceil(inodes / BITS_PER_BLOCK).
    pub ibitmap_blocks: u64,
    /// First block bitmap block.
    pub bbitmap_start: u64,
    /// Block bitmap blocks: ceil(blocks / BITS_PER_BLOCK).
    pub bbitmap_blocks: u64,
    /// First inode table block.
    pub itable_start: u64,
    /// Inode table blocks: inodes / INODES_PER_BLOCK.
    pub itable_blocks: u64,
    /// First data block: the end of the inode table rounded up to
    /// `DATA_ALIGN_BLOCKS`; blocks `0..data_start` are all metadata.
    pub data_start: u64,
}

/// Why a geometry is impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoError {
    /// `blocks` is outside `MIN_BLOCKS..=MAX_BLOCKS`.
    BadBlocks,
    /// `inodes` is below `INODES_PER_BLOCK` or not a multiple of it.
    BadInodes,
    /// `journal_blocks` is outside `JOURNAL_BLOCKS_MIN..=JOURNAL_BLOCKS_MAX`.
    BadJournal,
    /// The metadata areas leave no data block.
    NoRoom,
}

impl GeoError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            GeoError::BadBlocks => "filesystem size out of range",
            GeoError::BadInodes => "inode count must be a nonzero multiple of 16",
            GeoError::BadJournal => "journal size out of range",
            GeoError::NoRoom => "the metadata areas do not fit in the filesystem",
        }
    }
}

impl Geometry {
    /// Computes the layout; every step is checked, no input panics.
    pub fn new(blocks: u64, inodes: u64, journal_blocks: u64) -> Result<Self, GeoError> {
        if !(MIN_BLOCKS..=MAX_BLOCKS).contains(&blocks) {
            return Err(GeoError::BadBlocks);
        }
        if inodes < INODES_PER_BLOCK || inodes % INODES_PER_BLOCK != 0 {
            return Err(GeoError::BadInodes);
        }
        if !(JOURNAL_BLOCKS_MIN..=JOURNAL_BLOCKS_MAX).contains(&journal_blocks) {
            return Err(GeoError::BadJournal);
        }
        let ibitmap_start = JOURNAL_START + journal_blocks;
        let ibitmap_blocks = inodes.div_ceil(BITS_PER_BLOCK);
        let bbitmap_start = ibitmap_start.checked_add(ibitmap_blocks).ok_or(GeoError::NoRoom)?;
        let bbitmap_blocks = blocks.div_ceil(BITS_PER_BLOCK);
        let itable_start = bbitmap_start.checked_add(bbitmap_blocks).ok_or(GeoError::NoRoom)?;
        let itable_blocks = inodes / INODES_PER_BLOCK;
        let data_start = itable_start
            .checked_add(itable_blocks)
            .and_then(|end| end.checked_next_multiple_of(DATA_ALIGN_BLOCKS))
            .filter(|&d| d < blocks)
            .ok_or(GeoError::NoRoom)?;
        Ok(Geometry {
            blocks,
            inodes,
            journal_start: JOURNAL_START,
            journal_blocks,
            ibitmap_start,
            ibitmap_blocks,
            bbitmap_start,
            bbitmap_blocks,
            itable_start,
            itable_blocks,
            data_start,
        })
    }

    /// Blocks of the data area.
    pub fn data_blocks(&self) -> u64 {
        self.blocks.saturating_sub(self.data_start)
    }

    /// Size of the journal area in bytes.
    pub fn journal_bytes(&self) -> u64 {
        self.journal_blocks.saturating_mul(BS64)
    }

    /// Byte offset on the device of inode `ino` (1-based); `None` when `ino`
    /// is 0 or above `inodes`.
    pub fn inode_offset(&self, ino: u64) -> Option<u64> {
        if ino == 0 || ino > self.inodes {
            return None;
        }
        self.itable_start.checked_mul(BS64)?.checked_add((ino - 1).checked_mul(INODE_SIZE as u64)?)
    }

    /// Which fixed area block `pblk` is in (`"data"` for the data area,
    /// whose blocks hold file data, directories, symlinks and extent
    /// blocks; `"beyond the device"` past the end).
    pub fn area(&self, pblk: u64) -> &'static str {
        let within = |start: u64, n: u64| pblk >= start && pblk - start < n;
        if pblk == SB_PRIMARY_OFFSET / BS64 {
            "primary super block"
        } else if pblk == SB_BACKUP_OFFSET / BS64 {
            "backup super block"
        } else if pblk == STATE_BLOCK {
            "state block"
        } else if within(self.journal_start, self.journal_blocks) {
            "journal"
        } else if within(self.ibitmap_start, self.ibitmap_blocks) {
            "inode bitmap"
        } else if within(self.bbitmap_start, self.bbitmap_blocks) {
            "block bitmap"
        } else if within(self.itable_start, self.itable_blocks) {
            "inode table"
        } else if pblk < self.data_start {
            "padding before the data area"
        } else if pblk < self.blocks {
            "data"
        } else {
            "beyond the device"
        }
    }

    /// Whether blocks `pblk..pblk + count` are all inside the data area.
    pub fn is_data(&self, pblk: u64, count: u64) -> bool {
        pblk >= self.data_start && pblk.checked_add(count).is_some_and(|end| end <= self.blocks)
    }

    /// Whether a journal record may write `len` bytes at byte `dst`: inside
    /// the state block past its journal header (`STATE_JOURNALED..`), inside
    /// one of the bitmaps or the inode table, or inside a single data block.
    pub fn record_target_ok(&self, dst: u64, len: usize) -> bool {
        let Some(end) = dst.checked_add(len as u64) else {
            return false;
        };
        if len == 0 || len > BS {
            return false;
        }
        let within = |from: u64, to: u64| dst >= from && end <= to;
        let area = |start: u64, count: u64| match (
            start.checked_mul(BS64),
            start.checked_add(count).and_then(|e| e.checked_mul(BS64)),
        ) {
            (Some(from), Some(to)) => within(from, to),
            _ => false,
        };
        let state = STATE_BLOCK * BS64;
        within(state + STATE_JOURNALED as u64, state + BS64)
            || area(self.ibitmap_start, self.ibitmap_blocks)
            || area(self.bbitmap_start, self.bbitmap_blocks)
            || area(self.itable_start, self.itable_blocks)
            || (area(self.data_start, self.data_blocks()) && dst / BS64 == (end - 1) / BS64)
    }
}

/// Default inode count for a filesystem of `blocks` blocks: one per 16 KiB,
/// rounded down to a multiple of `INODES_PER_BLOCK`, at least 64.
pub fn default_inodes(blocks: u64) -> u64 {
    let n = blocks / (16384 / BS64) / INODES_PER_BLOCK * INODES_PER_BLOCK;
    if n < 64 {
        64
    } else {
        n
    }
}

// ---------------------------------------------------------------------------
// Superblock
// ---------------------------------------------------------------------------

/// The decoded superblock (native-endian values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuperBlock {
    /// `MAGIC`.
    pub magic: u64,
    /// `VERSION`.
    pub version: u32,
    /// No flag is defined (`SB_FLAGS_KNOWN`).
    pub flags: u32,
    /// `BLOCK_SIZE`.
    pub block_size: u32,
    /// Total blocks in the filesystem (<= device size / BLOCK_SIZE).
    pub blocks: u64,
    /// First data block (the v1 `reserved_blocks` field).
    pub data_start: u64,
    /// Number of inodes the filesystem can hold.
    pub inodes: u64,
    /// Inode number of the root directory.
    pub root_ino: u64,
    /// Creation time, seconds since the epoch.
    pub mkfs_time: u64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Volume label, NUL padded.
    pub label: [u8; LABEL_LEN],
    /// First journal block.
    pub journal_start: u64,
    /// Journal blocks.
    pub journal_blocks: u64,
    /// First inode bitmap block.
    pub ibitmap_start: u64,
    /// Inode bitmap blocks.
    pub ibitmap_blocks: u64,
    /// First block bitmap block.
    pub bbitmap_start: u64,
    /// Block bitmap blocks.
    pub bbitmap_blocks: u64,
    /// First inode table block.
    pub itable_start: u64,
    /// Inode table blocks.
    pub itable_blocks: u64,
    /// `INODE_SIZE`.
    pub inode_size: u32,
    /// Feature bits (`FEATURES_KNOWN`).
    pub features: u32,
}

// Field offsets within the encoded superblock.
const O_MAGIC: usize = 0;
const O_VERSION: usize = 8;
const O_FLAGS: usize = 12;
const O_BLOCK_SIZE: usize = 16;
// 20..24: zero padding
const O_BLOCKS: usize = 24;
const O_DATA_START: usize = 32;
const O_INODES: usize = 40;
const O_ROOT_INO: usize = 48;
const O_MKFS_TIME: usize = 56;
const O_UUID: usize = 64;
const O_LABEL: usize = 80;
const O_JOURNAL_START: usize = 144;
const O_JOURNAL_BLOCKS: usize = 152;
const O_IBITMAP_START: usize = 160;
const O_IBITMAP_BLOCKS: usize = 168;
const O_BBITMAP_START: usize = 176;
const O_BBITMAP_BLOCKS: usize = 184;
const O_ITABLE_START: usize = 192;
const O_ITABLE_BLOCKS: usize = 200;
const O_INODE_SIZE: usize = 208;
const O_FEATURES: usize = 212;
const O_SB_RESERVED: usize = 216;
// 216..508: zero
const O_CHECKSUM: usize = SB_SIZE - 4;

/// Why a superblock was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SbError {
    /// The buffer is shorter than `SB_SIZE`.
    Short,
    /// Not a daxfs superblock at all.
    BadMagic,
    /// The checksum does not match the contents (corruption).
    BadChecksum,
    /// A format version this code does not understand.
    BadVersion,
    /// The block size is not `BLOCK_SIZE`.
    BadBlockSize,
    /// Unknown flag or feature bits, or nonzero reserved bytes.
    BadFlags,
    /// `blocks` is below the minimum, above the format's maximum, or larger
    /// than the device holding it.
    BadSize,
    /// The areas, `inodes`, `root_ino` or `inode_size` do not match the
    /// geometry [`Geometry::new`] computes.
    BadLayout,
}

impl SbError {
    /// Whether this error means "corrupted daxfs" (EUCLEAN) rather than
    /// "not a daxfs / unsupported" (EINVAL).
    pub fn is_corruption(self) -> bool {
        !matches!(self, SbError::BadMagic | SbError::BadVersion | SbError::Short)
    }

    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            SbError::Short => "superblock truncated",
            SbError::BadMagic => "bad magic number (not a daxfs filesystem)",
            SbError::BadChecksum => "superblock checksum mismatch",
            SbError::BadVersion => "unsupported format version",
            SbError::BadBlockSize => "unsupported block size",
            SbError::BadFlags => "unknown flags or nonzero reserved bytes",
            SbError::BadSize => "filesystem size impossible for this device",
            SbError::BadLayout => "layout fields out of range",
        }
    }
}

impl SuperBlock {
    /// A fresh superblock for the filesystem laid out as `geo`.
    pub fn new(geo: &Geometry, uuid: [u8; 16], label: [u8; LABEL_LEN], now: u64) -> Self {
        SuperBlock {
            magic: MAGIC,
            version: VERSION,
            flags: 0,
            block_size: BLOCK_SIZE,
            blocks: geo.blocks,
            data_start: geo.data_start,
            inodes: geo.inodes,
            root_ino: ROOT_INO,
            mkfs_time: now,
            uuid,
            label,
            journal_start: geo.journal_start,
            journal_blocks: geo.journal_blocks,
            ibitmap_start: geo.ibitmap_start,
            ibitmap_blocks: geo.ibitmap_blocks,
            bbitmap_start: geo.bbitmap_start,
            bbitmap_blocks: geo.bbitmap_blocks,
            itable_start: geo.itable_start,
            itable_blocks: geo.itable_blocks,
            inode_size: INODE_SIZE as u32,
            features: 0,
        }
    }

    /// The layout as recorded (equal to the computed one once validated).
    pub fn geometry(&self) -> Geometry {
        Geometry {
            blocks: self.blocks,
            inodes: self.inodes,
            journal_start: self.journal_start,
            journal_blocks: self.journal_blocks,
            ibitmap_start: self.ibitmap_start,
            ibitmap_blocks: self.ibitmap_blocks,
            bbitmap_start: self.bbitmap_start,
            bbitmap_blocks: self.bbitmap_blocks,
            itable_start: self.itable_start,
            itable_blocks: self.itable_blocks,
            data_start: self.data_start,
        }
    }

    /// Encodes into `out` (exactly `SB_SIZE` bytes), checksum included.
    pub fn encode(&self, out: &mut [u8; SB_SIZE]) {
        out.fill(0);
        put_u64(out, O_MAGIC, self.magic);
        put_u32(out, O_VERSION, self.version);
        put_u32(out, O_FLAGS, self.flags);
        put_u32(out, O_BLOCK_SIZE, self.block_size);
        put_u64(out, O_BLOCKS, self.blocks);
        put_u64(out, O_DATA_START, self.data_start);
        put_u64(out, O_INODES, self.inodes);
        put_u64(out, O_ROOT_INO, self.root_ino);
        put_u64(out, O_MKFS_TIME, self.mkfs_time);
        put(out, O_UUID, &self.uuid);
        put(out, O_LABEL, &self.label);
        put_u64(out, O_JOURNAL_START, self.journal_start);
        put_u64(out, O_JOURNAL_BLOCKS, self.journal_blocks);
        put_u64(out, O_IBITMAP_START, self.ibitmap_start);
        put_u64(out, O_IBITMAP_BLOCKS, self.ibitmap_blocks);
        put_u64(out, O_BBITMAP_START, self.bbitmap_start);
        put_u64(out, O_BBITMAP_BLOCKS, self.bbitmap_blocks);
        put_u64(out, O_ITABLE_START, self.itable_start);
        put_u64(out, O_ITABLE_BLOCKS, self.itable_blocks);
        put_u32(out, O_INODE_SIZE, self.inode_size);
        put_u32(out, O_FEATURES, self.features);
        let crc = crc32c(&out[..O_CHECKSUM]);
        put_u32(out, O_CHECKSUM, crc);
    }

    /// Decodes and checks the magic, checksum, version and reserved bytes,
    /// but not the geometry (see [`SuperBlock::validate`]).
    pub fn decode(b: &[u8]) -> Result<Self, SbError> {
        let b: &[u8; SB_SIZE] = prefix(b).ok_or(SbError::Short)?;
        if get_u64(b, O_MAGIC) != MAGIC {
            return Err(SbError::BadMagic);
        }
        if crc32c(&b[..O_CHECKSUM]) != get_u32(b, O_CHECKSUM) {
            return Err(SbError::BadChecksum);
        }
        let version = get_u32(b, O_VERSION);
        if version != VERSION {
            return Err(SbError::BadVersion);
        }
        if get_u32(b, 20) != 0 || !all_zero(&b[O_SB_RESERVED..O_CHECKSUM]) {
            return Err(SbError::BadFlags);
        }
        Ok(SuperBlock {
            magic: MAGIC,
            version,
            flags: get_u32(b, O_FLAGS),
            block_size: get_u32(b, O_BLOCK_SIZE),
            blocks: get_u64(b, O_BLOCKS),
            data_start: get_u64(b, O_DATA_START),
            inodes: get_u64(b, O_INODES),
            root_ino: get_u64(b, O_ROOT_INO),
            mkfs_time: get_u64(b, O_MKFS_TIME),
            uuid: arr(b, O_UUID),
            label: arr(b, O_LABEL),
            journal_start: get_u64(b, O_JOURNAL_START),
            journal_blocks: get_u64(b, O_JOURNAL_BLOCKS),
            ibitmap_start: get_u64(b, O_IBITMAP_START),
            ibitmap_blocks: get_u64(b, O_IBITMAP_BLOCKS),
            bbitmap_start: get_u64(b, O_BBITMAP_START),
            bbitmap_blocks: get_u64(b, O_BBITMAP_BLOCKS),
            itable_start: get_u64(b, O_ITABLE_START),
            itable_blocks: get_u64(b, O_ITABLE_BLOCKS),
            inode_size: get_u32(b, O_INODE_SIZE),
            features: get_u32(b, O_FEATURES),
        })
    }

    /// Checks every field against the format's rules and the size of the
    /// device that holds it (`device_bytes`): the recorded areas must be
    /// exactly those [`Geometry::new`] computes.
    pub fn validate(&self, device_bytes: u64) -> Result<(), SbError> {
        if self.block_size != BLOCK_SIZE {
            return Err(SbError::BadBlockSize);
        }
        if self.flags & !SB_FLAGS_KNOWN != 0 || self.features & !FEATURES_KNOWN != 0 {
            return Err(SbError::BadFlags);
        }
        if self.blocks < MIN_BLOCKS || self.blocks > MAX_BLOCKS || self.blocks > device_bytes / BS64
        {
            return Err(SbError::BadSize);
        }
        let geo = Geometry::new(self.blocks, self.inodes, self.journal_blocks);
        if self.root_ino != ROOT_INO
            || self.inode_size != INODE_SIZE as u32
            || geo != Ok(self.geometry())
        {
            return Err(SbError::BadLayout);
        }
        Ok(())
    }

    /// Decode + validate in one go.
    pub fn parse(b: &[u8], device_bytes: u64) -> Result<Self, SbError> {
        let sb = Self::decode(b)?;
        sb.validate(device_bytes)?;
        Ok(sb)
    }

    /// Blocks of the data area: the free blocks of a freshly made filesystem
    /// (a mounted one counts its block bitmap, or trusts the state block).
    pub fn free_blocks(&self) -> u64 {
        self.blocks.saturating_sub(self.data_start)
    }

    /// The label up to its first NUL, as bytes.
    pub fn label_bytes(&self) -> &[u8] {
        let end = self.label.iter().position(|&c| c == 0).unwrap_or(LABEL_LEN);
        self.label.get(..end).unwrap_or(&[])
    }
}

// ---------------------------------------------------------------------------
// State block
// ---------------------------------------------------------------------------

/// Magic at byte 0 of the state block.
pub const STATE_MAGIC: [u8; 8] = *b"DAXSTATE";
/// Encoded size of the state block (the rest of block 2 is zero).
pub const STATE_SIZE: usize = 68;
/// Offset of `committed_seq` (stored alone, 8 bytes: the commit point).
pub const STATE_COMMITTED: usize = 8;
/// Offset of `applied_seq` (stored alone, 8 bytes).
pub const STATE_APPLIED: usize = 16;
/// Offset of the 8-byte word holding `tx_len` (low half) and `tx_crc`
/// (high half), stored at once: see [`tx_word`].
pub const STATE_TX: usize = 24;
/// Offset of the part of the state block that changes only through journal
/// records (orphan list head, clean flag, free counts, CRC).  Bytes
/// `0..STATE_JOURNALED` are outside the CRC (but for the magic) and never
/// journaled.
pub const STATE_JOURNALED: usize = 32;
const O_ORPHAN: usize = 32;
const O_CLEAN: usize = 40;
const O_FREE_BLOCKS: usize = 48;
const O_FREE_INODES: usize = 56;
const O_STATE_CRC: usize = 64;

/// The state block: journal header, orphan list head, clean-unmount summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateBlock {
    /// The last committed transaction.
    pub committed_seq: u64,
    /// The last transaction written in place.
    pub applied_seq: u64,
    /// Bytes of records of transaction `committed_seq`.
    pub tx_len: u32,
    /// [`tx_crc`] of those bytes.
    pub tx_crc: u32,
    /// First inode of the orphan list (0 = empty).
    pub orphan_head: u64,
    /// Unmounted cleanly: the free counts below are exact.
    pub clean: bool,
    /// Free blocks at clean unmount.
    pub free_blocks: u64,
    /// Free inodes at clean unmount.
    pub free_inodes: u64,
}

/// Why a state block was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// The buffer is shorter than `STATE_SIZE`.
    Short,
    /// No `STATE_MAGIC`.
    BadMagic,
    /// CRC mismatch.
    BadChecksum,
    /// `clean` is neither 0 nor 1, or the padding is not zero.
    BadField,
}

impl StateError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            StateError::Short => "state block truncated",
            StateError::BadMagic => "bad state block magic",
            StateError::BadChecksum => "state block checksum mismatch",
            StateError::BadField => "bad clean flag or nonzero padding",
        }
    }
}

/// The CRC of an encoded state block: bytes 0..64 with the journal header
/// (`STATE_COMMITTED..STATE_JOURNALED`) hashed as zero.
pub fn state_crc(b: &[u8; STATE_SIZE]) -> u32 {
    let c = crc32c_append(crc32c(&b[..STATE_COMMITTED]), &[0; STATE_JOURNALED - STATE_COMMITTED]);
    crc32c_append(c, &b[STATE_JOURNALED..O_STATE_CRC])
}

/// The 8-byte little-endian word at `STATE_TX`: `tx_len` then `tx_crc`.
pub fn tx_word(tx_len: u32, tx_crc: u32) -> u64 {
    u64::from(tx_len) | u64::from(tx_crc) << 32
}

impl StateBlock {
    /// The state of a fresh filesystem: clean, empty journal and orphan list.
    pub fn new(free_blocks: u64, free_inodes: u64) -> Self {
        StateBlock {
            committed_seq: 0,
            applied_seq: 0,
            tx_len: 0,
            tx_crc: 0,
            orphan_head: 0,
            clean: true,
            free_blocks,
            free_inodes,
        }
    }

    /// Encodes into `out`, CRC included.
    pub fn encode(&self, out: &mut [u8; STATE_SIZE]) {
        out.fill(0);
        put(out, 0, &STATE_MAGIC);
        put_u64(out, STATE_COMMITTED, self.committed_seq);
        put_u64(out, STATE_APPLIED, self.applied_seq);
        put_u64(out, STATE_TX, tx_word(self.tx_len, self.tx_crc));
        put_u64(out, O_ORPHAN, self.orphan_head);
        put_u32(out, O_CLEAN, u32::from(self.clean));
        put_u64(out, O_FREE_BLOCKS, self.free_blocks);
        put_u64(out, O_FREE_INODES, self.free_inodes);
        let crc = state_crc(out);
        put_u32(out, O_STATE_CRC, crc);
    }

    /// What replay needs, before the rest is checked: the journal header
    /// (bytes 8..32: 8-byte stores outside the CRC) when the magic is
    /// right, whatever the CRC says.  The journaled part (bytes 32..68) is
    /// rewritten in place after each commit that changes it, across two
    /// cache lines: a power cut can leave it torn, and the committed
    /// transaction's replay rewrites it whole.  So mount and fsck replay
    /// from this, and check the whole block with [`StateBlock::decode`]
    /// after.  Fields past the header are the decoded ones when the block
    /// checks, else zero (and not clean).
    pub fn decode_header(b: &[u8]) -> Result<Self, StateError> {
        match Self::decode(b) {
            Err(StateError::BadChecksum | StateError::BadField) => {
                let b: &[u8; STATE_SIZE] = prefix(b).ok_or(StateError::Short)?;
                Ok(StateBlock {
                    committed_seq: get_u64(b, STATE_COMMITTED),
                    applied_seq: get_u64(b, STATE_APPLIED),
                    tx_len: get_u32(b, STATE_TX),
                    tx_crc: get_u32(b, STATE_TX + 4),
                    orphan_head: 0,
                    clean: false,
                    free_blocks: 0,
                    free_inodes: 0,
                })
            }
            r => r,
        }
    }

    /// Decodes and checks magic, CRC and fields.
    pub fn decode(b: &[u8]) -> Result<Self, StateError> {
        let b: &[u8; STATE_SIZE] = prefix(b).ok_or(StateError::Short)?;
        if b[..8] != STATE_MAGIC {
            return Err(StateError::BadMagic);
        }
        if state_crc(b) != get_u32(b, O_STATE_CRC) {
            return Err(StateError::BadChecksum);
        }
        let clean = match get_u32(b, O_CLEAN) {
            0 => false,
            1 => true,
            _ => return Err(StateError::BadField),
        };
        if get_u32(b, O_CLEAN + 4) != 0 {
            return Err(StateError::BadField);
        }
        Ok(StateBlock {
            committed_seq: get_u64(b, STATE_COMMITTED),
            applied_seq: get_u64(b, STATE_APPLIED),
            tx_len: get_u32(b, STATE_TX),
            tx_crc: get_u32(b, STATE_TX + 4),
            orphan_head: get_u64(b, O_ORPHAN),
            clean,
            free_blocks: get_u64(b, O_FREE_BLOCKS),
            free_inodes: get_u64(b, O_FREE_INODES),
        })
    }

    /// The transaction mount must replay, if any: `None` when
    /// `committed_seq == applied_seq`; the transaction when
    /// `committed_seq == applied_seq + 1` and its length, CRC, every record
    /// and every record's target are valid (nothing must be applied
    /// otherwise).  `journal` is the journal area (at least `tx_len` bytes).
    pub fn pending_transaction<'a>(
        &self,
        journal: &'a [u8],
        geo: &Geometry,
    ) -> Result<Option<Transaction<'a>>, JournalError> {
        if self.committed_seq == self.applied_seq {
            return Ok(None);
        }
        if self.applied_seq.checked_add(1) != Some(self.committed_seq) {
            return Err(JournalError::BadSequence);
        }
        let len = self.tx_len as usize;
        if len % 8 != 0 || len as u64 > geo.journal_bytes() {
            return Err(JournalError::BadTxLen);
        }
        let bytes = journal.get(..len).ok_or(JournalError::Truncated)?;
        if tx_crc(self.committed_seq, bytes) != self.tx_crc {
            return Err(JournalError::BadChecksum);
        }
        let tx = Transaction { seq: self.committed_seq, bytes };
        for r in tx.records() {
            let r = r?;
            if !geo.record_target_ok(r.dst, r.data.len()) {
                return Err(JournalError::BadTarget);
            }
        }
        Ok(Some(tx))
    }
}

// ---------------------------------------------------------------------------
// Journal
// ---------------------------------------------------------------------------

/// Size of a record header.
pub const RECORD_HEADER: usize = 16;
/// Largest record payload.
pub const RECORD_MAX: usize = BS;

/// Why a journal transaction or record was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalError {
    /// A record (or the transaction) runs past the bytes available.
    Truncated,
    /// A record length is 0 or above `RECORD_MAX`.
    BadLength,
    /// Nonzero record pad field or padding.
    BadPadding,
    /// A record writes outside the areas a record may target.
    BadTarget,
    /// `tx_len` is not a multiple of 8 or exceeds the journal.
    BadTxLen,
    /// `tx_crc` does not match the records.
    BadChecksum,
    /// `committed_seq` is neither `applied_seq` nor `applied_seq + 1`.
    BadSequence,
}

impl JournalError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            JournalError::Truncated => "record truncated",
            JournalError::BadLength => "record length out of range",
            JournalError::BadPadding => "nonzero record padding",
            JournalError::BadTarget => "record outside the journaled areas",
            JournalError::BadTxLen => "transaction length out of range",
            JournalError::BadChecksum => "transaction checksum mismatch",
            JournalError::BadSequence => "committed and applied sequence numbers inconsistent",
        }
    }
}

/// A record header: `len` bytes of data follow, to be copied to byte `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Byte offset on the device.
    pub dst: u64,
    /// Payload length (1..=RECORD_MAX).
    pub len: u32,
}

impl RecordHeader {
    /// The 16 encoded bytes.
    pub fn encode(&self) -> [u8; RECORD_HEADER] {
        let mut b = [0u8; RECORD_HEADER];
        put_u64(&mut b, 0, self.dst);
        put_u32(&mut b, 8, self.len);
        b
    }

    /// Decodes and checks the length and pad field.
    pub fn decode(b: &[u8]) -> Result<Self, JournalError> {
        let b: &[u8; RECORD_HEADER] = prefix(b).ok_or(JournalError::Truncated)?;
        let len = get_u32(b, 8);
        if len == 0 || len as usize > RECORD_MAX {
            return Err(JournalError::BadLength);
        }
        if get_u32(b, 12) != 0 {
            return Err(JournalError::BadPadding);
        }
        Ok(RecordHeader { dst: get_u64(b, 0), len })
    }
}

/// Journal bytes a record of `len` payload bytes takes.
pub fn record_size(len: usize) -> usize {
    RECORD_HEADER.saturating_add(round8(len))
}

/// Encodes a record (header, data, zero padding) at the start of `out`;
/// returns the bytes used (`record_size(data.len())`).
pub fn encode_record(out: &mut [u8], dst: u64, data: &[u8]) -> Result<usize, JournalError> {
    if data.is_empty() || data.len() > RECORD_MAX {
        return Err(JournalError::BadLength);
    }
    let size = record_size(data.len());
    let rec = out.get_mut(..size).ok_or(JournalError::Truncated)?;
    rec.fill(0);
    put(rec, 0, &RecordHeader { dst, len: data.len() as u32 }.encode());
    put(rec, RECORD_HEADER, data);
    Ok(size)
}

/// CRC of a transaction: CRC-32C of `seq`'s 8 little-endian bytes followed
/// by the record bytes.
pub fn tx_crc(seq: u64, records: &[u8]) -> u32 {
    crc32c_append(crc32c(&seq.to_le_bytes()), records)
}

/// One journal record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Byte offset on the device.
    pub dst: u64,
    /// The bytes to write there.
    pub data: &'a [u8],
}

/// Iterator over the records packed in a transaction's bytes; yields an
/// error once and stops at the first malformed record.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Walks the records of `tx` (the first `tx_len` bytes of the journal).
pub fn records(tx: &[u8]) -> Records<'_> {
    Records { rest: tx, failed: false }
}

impl<'a> Records<'a> {
    fn parse(&mut self) -> Result<Record<'a>, JournalError> {
        let h = RecordHeader::decode(self.rest)?;
        let len = h.len as usize;
        let size = record_size(len);
        let rec = self.rest.get(..size).ok_or(JournalError::Truncated)?;
        let data = rec.get(RECORD_HEADER..RECORD_HEADER + len).unwrap_or(&[]);
        if !all_zero(rec.get(RECORD_HEADER + len..).unwrap_or(&[])) {
            return Err(JournalError::BadPadding);
        }
        self.rest = self.rest.get(size..).unwrap_or(&[]);
        Ok(Record { dst: h.dst, data })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let r = self.parse();
        self.failed = r.is_err();
        Some(r)
    }
}

/// A committed, not yet applied, validated transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// Its sequence number (`committed_seq`).
    pub seq: u64,
    /// Its record bytes.
    pub bytes: &'a [u8],
}

impl<'a> Transaction<'a> {
    /// Its records, in the order they must be applied.
    pub fn records(&self) -> Records<'a> {
        records(self.bytes)
    }
}

// ---------------------------------------------------------------------------
// File types
// ---------------------------------------------------------------------------

/// File type mask of `mode`.
pub const S_IFMT: u32 = 0o170000;
/// Socket.
pub const S_IFSOCK: u32 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Block device.
pub const S_IFBLK: u32 = 0o060000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;
/// Character device.
pub const S_IFCHR: u32 = 0o020000;
/// FIFO.
pub const S_IFIFO: u32 = 0o010000;

/// Directory entry type: unknown (never stored).
pub const DT_UNKNOWN: u8 = 0;
/// Directory entry type: FIFO.
pub const DT_FIFO: u8 = 1;
/// Directory entry type: character device.
pub const DT_CHR: u8 = 2;
/// Directory entry type: directory.
pub const DT_DIR: u8 = 4;
/// Directory entry type: block device.
pub const DT_BLK: u8 = 6;
/// Directory entry type: regular file.
pub const DT_REG: u8 = 8;
/// Directory entry type: symbolic link.
pub const DT_LNK: u8 = 10;
/// Directory entry type: socket.
pub const DT_SOCK: u8 = 12;

/// The `DT_*` value for a mode (`S_IFMT` bits >> 12, as in Linux).
pub fn dt_from_mode(mode: u32) -> u8 {
    ((mode & S_IFMT) >> 12) as u8
}

/// Whether `dt` is one of the seven file types.
pub fn valid_dt(dt: u8) -> bool {
    matches!(dt, DT_FIFO | DT_CHR | DT_DIR | DT_BLK | DT_REG | DT_LNK | DT_SOCK)
}

// ---------------------------------------------------------------------------
// Inode
// ---------------------------------------------------------------------------

/// Inode flag: append only.
pub const INODE_FLAG_APPEND: u32 = 1 << 0;
/// Inode flag: immutable.
pub const INODE_FLAG_IMMUTABLE: u32 = 1 << 1;
/// Inode flag: DAX.
pub const INODE_FLAG_DAX: u32 = 1 << 2;
/// Inode flags this version knows.
pub const INODE_FLAGS_KNOWN: u32 = INODE_FLAG_APPEND | INODE_FLAG_IMMUTABLE | INODE_FLAG_DAX;
/// Extents held in the inode itself.
pub const INLINE_EXTENTS: usize = 8;
/// Bytes of the inline area.
pub const INLINE_SIZE: usize = INLINE_EXTENTS * EXTENT_SIZE;
/// Longest symlink target stored inline (shorter than `INLINE_SIZE`).
pub const FAST_SYMLINK_MAX: usize = INLINE_SIZE - 1;
/// Longest symlink target (PATH_MAX - 1).
pub const SYMLINK_MAX: u64 = 4095;
/// Largest file size: 2^32 blocks.
pub const MAX_FILE_SIZE: u64 = MAX_FILE_BLOCKS * BS64;
const O_INLINE: usize = 112;
const O_PARENT: usize = 240;
const O_INODE_CRC: usize = 252;

/// A timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds (< 10^9).
    pub nsec: u32,
}

/// A decoded inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inode {
    /// Type and permissions (0 only in a free slot).
    pub mode: u32,
    /// `INODE_FLAG_*`.
    pub flags: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Generation (NFS handles).
    pub generation: u32,
    /// Size in bytes.
    pub size: u64,
    /// Allocated blocks, extent blocks included.
    pub blocks: u64,
    /// Access time.
    pub atime: Time,
    /// Modification time.
    pub mtime: Time,
    /// Change time.
    pub ctime: Time,
    /// Birth time.
    pub btime: Time,
    /// Device number (new_encode_dev) of device files.
    pub rdev: u32,
    /// Extents in use, inline and overflow.
    pub nextents: u32,
    /// First overflow extent block (0 = none).
    pub extent_block: u64,
    /// Next inode on the orphan list (0 = end).
    pub orphan_next: u64,
    /// Inline extents, or a fast symlink's target.
    pub inline: [u8; INLINE_SIZE],
    /// For directories, the parent directory; 0 otherwise.
    pub parent: u64,
}

/// Why an inode was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InodeError {
    /// The buffer is shorter than `INODE_SIZE`.
    Short,
    /// CRC mismatch (an all-zero free slot also fails this way).
    BadChecksum,
    /// Mode 0, unknown file type, or bits above 0o177777.
    BadMode,
    /// Unknown flags.
    BadFlags,
    /// A nanosecond field >= 10^9.
    BadTime,
    /// Nonzero reserved bytes.
    BadReserved,
}

impl InodeError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            InodeError::Short => "inode truncated",
            InodeError::BadChecksum => "inode checksum mismatch",
            InodeError::BadMode => "bad mode",
            InodeError::BadFlags => "unknown inode flags",
            InodeError::BadTime => "bad timestamp",
            InodeError::BadReserved => "nonzero reserved bytes",
        }
    }
}

/// The CRC of an encoded inode (bytes 0..252).
pub fn inode_crc(b: &[u8; INODE_SIZE]) -> u32 {
    crc32c(&b[..O_INODE_CRC])
}

impl Inode {
    /// A new inode of `mode` owned by root, all times `now`, one link (two
    /// for a directory), nothing allocated.
    pub fn new(mode: u32, now: Time) -> Self {
        Inode {
            mode,
            flags: 0,
            uid: 0,
            gid: 0,
            nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
            generation: 0,
            size: 0,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: now,
            rdev: 0,
            nextents: 0,
            extent_block: 0,
            orphan_next: 0,
            inline: [0; INLINE_SIZE],
            parent: 0,
        }
    }

    /// Whether an inode table slot is free (all zero).
    pub fn is_free_slot(b: &[u8]) -> bool {
        all_zero(b)
    }

    /// Encodes into `out`, CRC included.
    pub fn encode(&self, out: &mut [u8; INODE_SIZE]) {
        out.fill(0);
        for (off, v) in [
            (0, self.mode),
            (4, self.flags),
            (8, self.uid),
            (12, self.gid),
            (16, self.nlink),
            (20, self.generation),
            (72, self.atime.nsec),
            (76, self.mtime.nsec),
            (80, self.ctime.nsec),
            (84, self.btime.nsec),
            (88, self.rdev),
            (92, self.nextents),
        ] {
            put_u32(out, off, v);
        }
        for (off, v) in [
            (24, self.size),
            (32, self.blocks),
            (40, self.atime.sec as u64),
            (48, self.mtime.sec as u64),
            (56, self.ctime.sec as u64),
            (64, self.btime.sec as u64),
            (96, self.extent_block),
            (104, self.orphan_next),
            (O_PARENT, self.parent),
        ] {
            put_u64(out, off, v);
        }
        put(out, O_INLINE, &self.inline);
        let crc = inode_crc(out);
        put_u32(out, O_INODE_CRC, crc);
    }

    /// Decodes and checks the CRC and fields.
    pub fn decode(b: &[u8]) -> Result<Self, InodeError> {
        let b: &[u8; INODE_SIZE] = prefix(b).ok_or(InodeError::Short)?;
        if inode_crc(b) != get_u32(b, O_INODE_CRC) {
            return Err(InodeError::BadChecksum);
        }
        let mode = get_u32(b, 0);
        if mode & !0o177777 != 0 || !valid_dt(dt_from_mode(mode)) {
            return Err(InodeError::BadMode);
        }
        let flags = get_u32(b, 4);
        if flags & !INODE_FLAGS_KNOWN != 0 {
            return Err(InodeError::BadFlags);
        }
        let time =
            |sec: usize, nsec: usize| Time { sec: get_u64(b, sec) as i64, nsec: get_u32(b, nsec) };
        let times = [time(40, 72), time(48, 76), time(56, 80), time(64, 84)];
        if times.iter().any(|t| t.nsec >= 1_000_000_000) {
            return Err(InodeError::BadTime);
        }
        if get_u32(b, 248) != 0 {
            return Err(InodeError::BadReserved);
        }
        let [atime, mtime, ctime, btime] = times;
        Ok(Inode {
            mode,
            flags,
            uid: get_u32(b, 8),
            gid: get_u32(b, 12),
            nlink: get_u32(b, 16),
            generation: get_u32(b, 20),
            size: get_u64(b, 24),
            blocks: get_u64(b, 32),
            atime,
            mtime,
            ctime,
            btime,
            rdev: get_u32(b, 88),
            nextents: get_u32(b, 92),
            extent_block: get_u64(b, 96),
            orphan_next: get_u64(b, 104),
            inline: arr(b, O_INLINE),
            parent: get_u64(b, O_PARENT),
        })
    }

    /// What fsck keeps of a slot that [`Inode::decode`] rejects for its
    /// checksum, flags, times or reserved bytes: the fields as stored, with
    /// unknown flags cleared, a bad nanosecond field zeroed and the reserved
    /// bytes ignored (encoding it again zeroes them and sets the CRC).
    /// Fails only for a short buffer or a mode that names no file type:
    /// such a slot cannot be kept.
    pub fn decode_salvaged(b: &[u8]) -> Result<Self, InodeError> {
        let b: &[u8; INODE_SIZE] = prefix(b).ok_or(InodeError::Short)?;
        let mut fixed = *b;
        put_u32(&mut fixed, 4, get_u32(b, 4) & INODE_FLAGS_KNOWN);
        for nsec in [72, 76, 80, 84] {
            if get_u32(b, nsec) >= 1_000_000_000 {
                put_u32(&mut fixed, nsec, 0);
            }
        }
        put_u32(&mut fixed, 248, 0);
        let crc = inode_crc(&fixed);
        put_u32(&mut fixed, O_INODE_CRC, crc);
        Self::decode(&fixed)
    }

    /// `mode & S_IFMT`.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }

    /// Whether this is a symlink whose target is stored inline.
    pub fn is_fast_symlink(&self) -> bool {
        self.file_type() == S_IFLNK && self.size <= FAST_SYMLINK_MAX as u64
    }

    /// A fast symlink's target (`size` bytes of the inline area).
    pub fn fast_symlink(&self) -> Option<&[u8]> {
        if !self.is_fast_symlink() {
            return None;
        }
        self.inline.get(..self.size as usize)
    }

    /// Inline extents in use: `min(nextents, INLINE_EXTENTS)`, or none for a
    /// fast symlink.
    pub fn inline_count(&self) -> usize {
        if self.is_fast_symlink() {
            0
        } else {
            (self.nextents as usize).min(INLINE_EXTENTS)
        }
    }

    /// Inline extent `i` (`None` past `inline_count()`).
    pub fn inline_extent(&self, i: usize) -> Option<Result<Extent, ExtentError>> {
        if i >= self.inline_count() {
            return None;
        }
        Some(Extent::decode(self.inline.get(i * EXTENT_SIZE..)?))
    }

    /// Stores `e` in inline slot `i`; false if `i >= INLINE_EXTENTS`.
    pub fn set_inline_extent(&mut self, i: usize, e: &Extent) -> bool {
        let slot = i
            .checked_mul(EXTENT_SIZE)
            .and_then(|o| self.inline.get_mut(o..o.checked_add(EXTENT_SIZE)?));
        match slot {
            Some(slot) => {
                slot.copy_from_slice(&e.encode());
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------
// Extents
// ---------------------------------------------------------------------------

/// Encoded size of an extent.
pub const EXTENT_SIZE: usize = 16;
/// Bit 31 of the encoded length: the extent is allocated but unwritten.
pub const EXTENT_UNWRITTEN: u32 = 1 << 31;
/// Longest extent.
pub const EXTENT_MAX_LEN: u32 = EXTENT_UNWRITTEN - 1;
/// Logical blocks a file can address (`lblk` is a u32).
pub const MAX_FILE_BLOCKS: u64 = 1 << 32;

/// A run of `len` file blocks from `lblk` mapped to device blocks from `pblk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub lblk: u32,
    /// Blocks (1..=EXTENT_MAX_LEN).
    pub len: u32,
    /// Allocated but reads as zeroes.
    pub unwritten: bool,
    /// First device block.
    pub pblk: u64,
}

/// Why an extent was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentError {
    /// The buffer is shorter than `EXTENT_SIZE`.
    Short,
    /// Zero length.
    BadLength,
    /// `lblk + len` exceeds `MAX_FILE_BLOCKS`.
    BadRange,
}

impl ExtentError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            ExtentError::Short => "extent truncated",
            ExtentError::BadLength => "zero-length extent",
            ExtentError::BadRange => "extent past the largest file offset",
        }
    }
}

impl Extent {
    /// The 16 encoded bytes.
    pub fn encode(&self) -> [u8; EXTENT_SIZE] {
        let mut b = [0u8; EXTENT_SIZE];
        put_u32(&mut b, 0, self.lblk);
        let flag = if self.unwritten { EXTENT_UNWRITTEN } else { 0 };
        put_u32(&mut b, 4, (self.len & EXTENT_MAX_LEN) | flag);
        put_u64(&mut b, 8, self.pblk);
        b
    }

    /// Decodes and checks the length and range.
    pub fn decode(b: &[u8]) -> Result<Self, ExtentError> {
        let b: &[u8; EXTENT_SIZE] = prefix(b).ok_or(ExtentError::Short)?;
        let raw = get_u32(b, 4);
        let e = Extent {
            lblk: get_u32(b, 0),
            len: raw & EXTENT_MAX_LEN,
            unwritten: raw & EXTENT_UNWRITTEN != 0,
            pblk: get_u64(b, 8),
        };
        if e.len == 0 {
            return Err(ExtentError::BadLength);
        }
        if e.end() > MAX_FILE_BLOCKS {
            return Err(ExtentError::BadRange);
        }
        Ok(e)
    }

    /// First file block past the extent.
    pub fn end(&self) -> u64 {
        u64::from(self.lblk) + u64::from(self.len)
    }
}

/// `EXTENT_BLOCK_MAGIC` at byte 0 of an extent block.
pub const EXTENT_BLOCK_MAGIC: u32 = 0xDAE8_7E47;
/// Size of the extent block header; extent `i` is at `32 + 16 * i`.
pub const EXTENT_BLOCK_HEADER: usize = 32;
/// Extents per extent block.
pub const EXTENTS_PER_BLOCK: usize = (BS - EXTENT_BLOCK_HEADER) / EXTENT_SIZE;
const O_EB_CRC: usize = 24;

/// Header of an overflow extent block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtentBlockHeader {
    /// Extents in this block (1..=EXTENTS_PER_BLOCK).
    pub count: u32,
    /// Next extent block (0 = end of the chain).
    pub next: u64,
    /// The inode owning the chain.
    pub owner: u64,
}

/// Why an extent block was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentBlockError {
    /// The buffer is not `BLOCK_SIZE` long.
    Short,
    /// No `EXTENT_BLOCK_MAGIC`.
    BadMagic,
    /// CRC mismatch.
    BadChecksum,
    /// `count` is 0 or above `EXTENTS_PER_BLOCK`.
    BadCount,
    /// Nonzero header padding.
    BadPadding,
}

impl ExtentBlockError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            ExtentBlockError::Short => "extent block truncated",
            ExtentBlockError::BadMagic => "bad extent block magic",
            ExtentBlockError::BadChecksum => "extent block checksum mismatch",
            ExtentBlockError::BadCount => "extent block count out of range",
            ExtentBlockError::BadPadding => "nonzero extent block padding",
        }
    }
}

/// The CRC of an extent block: the whole block with its CRC field as zero.
pub fn extent_block_crc(block: &[u8]) -> u32 {
    let head = block.get(..O_EB_CRC).unwrap_or(block);
    let tail = block.get(O_EB_CRC + 4..).unwrap_or(&[]);
    crc32c_append(crc32c_append(crc32c(head), &[0; 4]), tail)
}

impl ExtentBlockHeader {
    /// Writes the header into `block` (a whole block whose extent slots are
    /// already filled) and seals it with its CRC.
    pub fn encode(&self, block: &mut [u8]) -> Result<(), ExtentBlockError> {
        if block.len() != BS {
            return Err(ExtentBlockError::Short);
        }
        if self.count == 0 || self.count as usize > EXTENTS_PER_BLOCK {
            return Err(ExtentBlockError::BadCount);
        }
        put_u32(block, 0, EXTENT_BLOCK_MAGIC);
        put_u32(block, 4, self.count);
        put_u64(block, 8, self.next);
        put_u64(block, 16, self.owner);
        put_u64(block, O_EB_CRC, 0);
        let crc = extent_block_crc(block);
        put_u32(block, O_EB_CRC, crc);
        Ok(())
    }

    /// What fsck keeps of an extent block whose only fault is its CRC:
    /// the header as [`ExtentBlockHeader::decode`] checks it otherwise.
    pub fn decode_salvaged(block: &[u8]) -> Result<Self, ExtentBlockError> {
        match Self::decode(block) {
            Err(ExtentBlockError::BadChecksum) => Self::fields(block),
            r => r,
        }
    }

    /// Decodes and checks a whole extent block's header and CRC.
    pub fn decode(block: &[u8]) -> Result<Self, ExtentBlockError> {
        if block.len() != BS {
            return Err(ExtentBlockError::Short);
        }
        if get_u32(block, 0) != EXTENT_BLOCK_MAGIC {
            return Err(ExtentBlockError::BadMagic);
        }
        if extent_block_crc(block) != get_u32(block, O_EB_CRC) {
            return Err(ExtentBlockError::BadChecksum);
        }
        Self::fields(block)
    }

    /// The header fields, checked (count, padding).
    fn fields(block: &[u8]) -> Result<Self, ExtentBlockError> {
        let count = get_u32(block, 4);
        if count == 0 || count as usize > EXTENTS_PER_BLOCK {
            return Err(ExtentBlockError::BadCount);
        }
        if get_u32(block, O_EB_CRC + 4) != 0 {
            return Err(ExtentBlockError::BadPadding);
        }
        Ok(ExtentBlockHeader { count, next: get_u64(block, 8), owner: get_u64(block, 16) })
    }
}

/// Byte offset of extent slot `i` in an extent block.
pub fn extent_slot(i: usize) -> Option<usize> {
    (i < EXTENTS_PER_BLOCK).then(|| EXTENT_BLOCK_HEADER + i * EXTENT_SIZE)
}

/// Extent `i` of an extent block (`None` past the block).
pub fn block_extent(block: &[u8], i: usize) -> Option<Result<Extent, ExtentError>> {
    Some(Extent::decode(block.get(extent_slot(i)?..)?))
}

// ---------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------

/// Size of a directory record header; the name follows.
pub const DIR_REC_HEADER: usize = 16;
/// Longest name.
pub const NAME_MAX: usize = 255;

/// Smallest `rec_len` for a name of `name_len` bytes.
pub fn dir_rec_len(name_len: usize) -> usize {
    DIR_REC_HEADER.saturating_add(round8(name_len))
}

/// The name hash stored in directory records: CRC-32C of the name.
pub fn name_hash(name: &[u8]) -> u32 {
    crc32c(name)
}

/// Whether `name` may be stored: 1..=255 bytes, no '/' or NUL, not "." or "..".
pub fn valid_name(name: &[u8]) -> bool {
    (1..=NAME_MAX).contains(&name.len())
        && name != b"."
        && name != b".."
        && !name.iter().any(|&c| c == b'/' || c == 0)
}

/// Why a directory block or record was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirError {
    /// The block is not `BLOCK_SIZE` long (or the output buffer too short).
    Short,
    /// `rec_len` below 16, not a multiple of 8, or crossing the block end.
    BadRecLen,
    /// `name_len` 0, or the name does not fit in `rec_len`.
    BadNameLen,
    /// The name holds '/' or NUL, or is "." or "..".
    BadName,
    /// The hash is not `name_hash(name)`.
    BadHash,
    /// `file_type` is not a `DT_*` file type.
    BadFileType,
}

impl DirError {
    /// A short human readable description.
    pub fn describe(self) -> &'static str {
        match self {
            DirError::Short => "directory block truncated",
            DirError::BadRecLen => "bad record length",
            DirError::BadNameLen => "bad name length",
            DirError::BadName => "invalid name",
            DirError::BadHash => "name hash mismatch",
            DirError::BadFileType => "bad file type",
        }
    }
}

/// One directory record.  Unused records (`ino == 0`) have an empty name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirRecord<'a> {
    /// Byte offset of the record in its block.
    pub offset: usize,
    /// Inode number (0 = unused record).
    pub ino: u64,
    /// Bytes to the next record.
    pub rec_len: usize,
    /// `DT_*`.
    pub file_type: u8,
    /// `name_hash(name)`.
    pub hash: u32,
    /// The name.
    pub name: &'a [u8],
}

/// Iterator over the records of a directory block; yields an error once
/// and stops at the first malformed record.
#[derive(Clone, Debug)]
pub struct DirRecords<'a> {
    block: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Walks the records of a 4096-byte directory block.
pub fn dir_records(block: &[u8]) -> DirRecords<'_> {
    DirRecords { block, pos: 0, failed: false }
}

impl<'a> DirRecords<'a> {
    /// Byte offset of the next record (of the bad one after an error).
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn parse(&mut self) -> Result<DirRecord<'a>, DirError> {
        if self.block.len() != BS {
            return Err(DirError::Short);
        }
        let offset = self.pos;
        let rec = self.block.get(offset..).unwrap_or(&[]);
        let rec_len = get_u16(rec, 8) as usize;
        if rec.len() < DIR_REC_HEADER
            || rec_len < DIR_REC_HEADER
            || rec_len % 8 != 0
            || rec_len > rec.len()
        {
            return Err(DirError::BadRecLen);
        }
        let ino = get_u64(rec, 0);
        let name_len = rec.get(10).copied().unwrap_or(0) as usize;
        let file_type = rec.get(11).copied().unwrap_or(0);
        let hash = get_u32(rec, 12);
        let mut name: &[u8] = &[];
        if ino != 0 {
            if name_len == 0 || dir_rec_len(name_len) > rec_len {
                return Err(DirError::BadNameLen);
            }
            name = rec.get(DIR_REC_HEADER..DIR_REC_HEADER + name_len).unwrap_or(&[]);
            if !valid_name(name) {
                return Err(DirError::BadName);
            }
            if name_hash(name) != hash {
                return Err(DirError::BadHash);
            }
            if !valid_dt(file_type) {
                return Err(DirError::BadFileType);
            }
        }
        self.pos = offset + rec_len;
        Ok(DirRecord { offset, ino, rec_len, file_type, hash, name })
    }
}

impl<'a> Iterator for DirRecords<'a> {
    type Item = Result<DirRecord<'a>, DirError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= BS {
            return None;
        }
        let r = self.parse();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Writes a record at the start of `out` (the rest of its block from the
/// record's offset): header, name and zero padding up to
/// `dir_rec_len(name.len())`; bytes after that up to `rec_len` are left
/// alone.  An unused record (`ino == 0`) takes an empty name and type 0.
pub fn encode_dir_record(
    out: &mut [u8],
    ino: u64,
    rec_len: usize,
    file_type: u8,
    name: &[u8],
) -> Result<(), DirError> {
    if rec_len < DIR_REC_HEADER || rec_len % 8 != 0 || rec_len > BS {
        return Err(DirError::BadRecLen);
    }
    if rec_len > out.len() {
        return Err(DirError::Short);
    }
    if ino == 0 {
        if !name.is_empty() || file_type != DT_UNKNOWN {
            return Err(DirError::BadNameLen);
        }
    } else {
        if name.is_empty() || name.len() > NAME_MAX || dir_rec_len(name.len()) > rec_len {
            return Err(DirError::BadNameLen);
        }
        if !valid_name(name) {
            return Err(DirError::BadName);
        }
        if !valid_dt(file_type) {
            return Err(DirError::BadFileType);
        }
    }
    if let Some(used) = out.get_mut(..dir_rec_len(name.len())) {
        used.fill(0);
    }
    put_u64(out, 0, ino);
    put_u16(out, 8, rec_len as u16);
    put(out, 10, &[name.len() as u8, file_type]);
    put_u32(out, 12, if ino == 0 { 0 } else { name_hash(name) });
    put(out, DIR_REC_HEADER, name);
    Ok(())
}

/// Makes `block` an empty directory block: one unused record covering it.
pub fn init_dir_block(block: &mut [u8]) -> Result<(), DirError> {
    if block.len() != BS {
        return Err(DirError::Short);
    }
    block.fill(0);
    encode_dir_record(block, 0, BS, DT_UNKNOWN, &[])
}

/// A readdir position (`f_pos`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirPos {
    /// 0: ".".
    Dot,
    /// 1: "..".
    DotDot,
    /// `2 + lblk * 4096 + offset`: the record at `offset` (< 4096) of
    /// directory block `lblk`.
    Record {
        /// Directory block.
        lblk: u32,
        /// Byte offset in the block.
        offset: u16,
    },
}

impl DirPos {
    /// The position as `f_pos`.
    pub fn encode(self) -> u64 {
        match self {
            DirPos::Dot => 0,
            DirPos::DotDot => 1,
            DirPos::Record { lblk, offset } => {
                2 + u64::from(lblk) * BS64 + u64::from(offset) % BS64
            }
        }
    }

    /// Splits an `f_pos`; `None` past the largest directory.
    pub fn decode(pos: u64) -> Option<Self> {
        match pos {
            0 => Some(DirPos::Dot),
            1 => Some(DirPos::DotDot),
            _ => Some(DirPos::Record {
                lblk: u32::try_from((pos - 2) / BS64).ok()?,
                offset: ((pos - 2) % BS64) as u16,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Bitmaps: bit `n` is bit `n % 8` (LSB first) of byte `n / 8`, as Linux's
// little-endian bitops (`test_bit_le`, `find_next_zero_bit_le`).
// ---------------------------------------------------------------------------

fn bit_pos(bit: u64) -> Option<(usize, u8)> {
    Some((usize::try_from(bit / 8).ok()?, 1 << (bit % 8)))
}

/// Bit `bit` of `map`; `None` past its end.
pub fn bitmap_test(map: &[u8], bit: u64) -> Option<bool> {
    let (i, mask) = bit_pos(bit)?;
    Some(map.get(i)? & mask != 0)
}

/// Sets bit `bit`; returns its previous value, `None` past the end.
pub fn bitmap_set(map: &mut [u8], bit: u64) -> Option<bool> {
    let (i, mask) = bit_pos(bit)?;
    let byte = map.get_mut(i)?;
    let old = *byte & mask != 0;
    *byte |= mask;
    Some(old)
}

/// Clears bit `bit`; returns its previous value, `None` past the end.
pub fn bitmap_clear(map: &mut [u8], bit: u64) -> Option<bool> {
    let (i, mask) = bit_pos(bit)?;
    let byte = map.get_mut(i)?;
    let old = *byte & mask != 0;
    *byte &= !mask;
    Some(old)
}

/// The first clear bit at or after `from` and before `end` (bits past the
/// map count as set).
pub fn bitmap_find_clear(map: &[u8], from: u64, end: u64) -> Option<u64> {
    let mut bit = from;
    while bit < end {
        let (i, _) = bit_pos(bit)?;
        let byte = *map.get(i)?;
        if byte == 0xff {
            bit = (bit | 7).checked_add(1)?;
        } else if byte & (1 << (bit % 8)) == 0 {
            return Some(bit);
        } else {
            bit += 1;
        }
    }
    None
}

// ---------------------------------------------------------------------------
// CRC-32C
// ---------------------------------------------------------------------------

/// Slicing-by-8 tables: `T[0]` is the classic byte table; `T[k][b]` is the
/// CRC of byte `b` followed by `k` zero bytes, so eight table lookups
/// consume eight input bytes at once.
const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let p = t[k - 1][i];
            t[k][i] = (p >> 8) ^ t[0][(p & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

/// CRC-32C (Castagnoli), as used by ext4/XFS/btrfs metadata checksums.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Continues a CRC-32C: `crc32c_append(crc32c(a), b) == crc32c(a ++ b)`.
///
/// Slicing-by-8: every checksum on the metadata path (journal commits,
/// inodes, directory blocks) goes through here, and a byte-at-a-time loop
/// was a visible share of a mkdir/rmdir profile.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut c = !crc;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) ^ u64::from(c);
        let b = |i: u32| ((w >> (8 * i)) & 0xff) as usize;
        c = t[7][b(0)] ^ t[6][b(1)] ^ t[5][b(2)] ^ t[4][b(3)] ^ t[3][b(4)] ^ t[2][b(5)] ^ t[1][b(6)] ^ t[0][b(7)];
    }
    for &b in words.remainder() {
        c = t[0][((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}
