// SPDX-License-Identifier: GPL-2.0
//! The daxfs on-disk format: the single definition shared by the kernel module
//! (`fs/`, compiled into `dax_fs.ko`) and the userspace tools (`tools/`, through
//! the `daxfs-tools` library, whose `lib.rs` includes this file).
//!
//! Rules for this file: no dependencies, no allocation, no `unsafe`, no panics
//! on any input (every decoder takes a byte slice and returns a `Result`).
//! All integers are little-endian; structures are encoded and decoded field by
//! field, so the in-memory Rust layout never has to match the media.
//!
//! Layout (format version 1, see docs/format.md):
//!
//! | block | contents                                  |
//! |-------|-------------------------------------------|
//! | 0     | primary superblock (first `SB_SIZE` bytes) |
//! | 1     | backup superblock (identical copy)        |
//! | 2..   | reserved for the metadata areas of later format versions |

/// Filesystem block size; equal to PAGE_SIZE on x86-64 as DAX requires.
pub const BLOCK_SIZE: u32 = 4096;
/// log2(BLOCK_SIZE).
pub const BLOCK_SHIFT: u32 = 12;
/// The magic number, "DAXFS" + format family, little-endian at byte 0.
pub const MAGIC: u64 = 0x0000_3153_4658_4144; // b"DAXFS1\0\0" read as LE u64 (with trailing zeroes)
/// statfs f_type / s_magic.
pub const STATFS_MAGIC: u32 = 0xDA8F_5001;
/// Format version this code writes and understands.
pub const VERSION: u32 = 1;
/// Encoded size of the superblock.
pub const SB_SIZE: usize = 512;
/// Byte offset of the primary superblock.
pub const SB_PRIMARY_OFFSET: u64 = 0;
/// Byte offset of the backup superblock.
pub const SB_BACKUP_OFFSET: u64 = BLOCK_SIZE as u64;
/// Blocks the format itself reserves at the start of the device.
pub const RESERVED_BLOCKS: u64 = 16;
/// Smallest filesystem mkfs makes and mount accepts (16 MiB).
pub const MIN_BLOCKS: u64 = 4096;
/// Largest filesystem the format can describe (2^48 bytes = 256 TiB).
pub const MAX_BLOCKS: u64 = 1 << (48 - BLOCK_SHIFT);
/// Inode number of the root directory.
pub const ROOT_INO: u64 = 1;
/// Length of the label field (NUL padded, not necessarily NUL terminated).
pub const LABEL_LEN: usize = 64;
/// Superblock flag: the filesystem was not unmounted cleanly.
pub const SB_FLAG_DIRTY: u32 = 1 << 0;
/// Flags this version knows.
pub const SB_FLAGS_KNOWN: u32 = SB_FLAG_DIRTY;

/// The decoded superblock (native-endian values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuperBlock {
    /// `MAGIC`.
    pub magic: u64,
    /// `VERSION`.
    pub version: u32,
    /// `SB_FLAG_*`.
    pub flags: u32,
    /// `BLOCK_SIZE`.
    pub block_size: u32,
    /// Total blocks in the filesystem (<= device size / BLOCK_SIZE).
    pub blocks: u64,
    /// Blocks reserved for format structures at the start of the device.
    pub reserved_blocks: u64,
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
}

// Field offsets within the encoded superblock.
const O_MAGIC: usize = 0;
const O_VERSION: usize = 8;
const O_FLAGS: usize = 12;
const O_BLOCK_SIZE: usize = 16;
// 20..24: zero padding
const O_BLOCKS: usize = 24;
const O_RESERVED: usize = 32;
const O_INODES: usize = 40;
const O_ROOT_INO: usize = 48;
const O_MKFS_TIME: usize = 56;
const O_UUID: usize = 64;
const O_LABEL: usize = 80;
// 144..508: zero, reserved for later versions (must be zero in version 1)
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
    /// Unknown flag bits, or nonzero reserved bytes.
    BadFlags,
    /// `blocks` is below the minimum, above the format's maximum, or larger
    /// than the device holding it.
    BadSize,
    /// `reserved_blocks`, `inodes` or `root_ino` is out of range.
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

fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

impl SuperBlock {
    /// A fresh superblock for a filesystem of `blocks` blocks.
    pub fn new(blocks: u64, inodes: u64, uuid: [u8; 16], label: [u8; LABEL_LEN], now: u64) -> Self {
        SuperBlock {
            magic: MAGIC,
            version: VERSION,
            flags: 0,
            block_size: BLOCK_SIZE,
            blocks,
            reserved_blocks: RESERVED_BLOCKS,
            inodes,
            root_ino: ROOT_INO,
            mkfs_time: now,
            uuid,
            label,
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
        put_u64(out, O_RESERVED, self.reserved_blocks);
        put_u64(out, O_INODES, self.inodes);
        put_u64(out, O_ROOT_INO, self.root_ino);
        put_u64(out, O_MKFS_TIME, self.mkfs_time);
        out[O_UUID..O_UUID + 16].copy_from_slice(&self.uuid);
        out[O_LABEL..O_LABEL + LABEL_LEN].copy_from_slice(&self.label);
        let sum = crc32c(&out[..O_CHECKSUM]);
        put_u32(out, O_CHECKSUM, sum);
    }

    /// Decodes and checks the magic, checksum and version, but not the
    /// geometry against a device (see [`SuperBlock::validate`]).
    pub fn decode(b: &[u8]) -> Result<Self, SbError> {
        if b.len() < SB_SIZE {
            return Err(SbError::Short);
        }
        let b = &b[..SB_SIZE];
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
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[O_UUID..O_UUID + 16]);
        let mut label = [0u8; LABEL_LEN];
        label.copy_from_slice(&b[O_LABEL..O_LABEL + LABEL_LEN]);
        if get_u32(b, 20) != 0 || b[O_LABEL + LABEL_LEN..O_CHECKSUM].iter().any(|&x| x != 0) {
            return Err(SbError::BadFlags);
        }
        Ok(SuperBlock {
            magic: MAGIC,
            version,
            flags: get_u32(b, O_FLAGS),
            block_size: get_u32(b, O_BLOCK_SIZE),
            blocks: get_u64(b, O_BLOCKS),
            reserved_blocks: get_u64(b, O_RESERVED),
            inodes: get_u64(b, O_INODES),
            root_ino: get_u64(b, O_ROOT_INO),
            mkfs_time: get_u64(b, O_MKFS_TIME),
            uuid,
            label,
        })
    }

    /// Checks every field against the format's rules and the size of the
    /// device that holds it (`device_bytes`).
    pub fn validate(&self, device_bytes: u64) -> Result<(), SbError> {
        if self.block_size != BLOCK_SIZE {
            return Err(SbError::BadBlockSize);
        }
        if self.flags & !SB_FLAGS_KNOWN != 0 {
            return Err(SbError::BadFlags);
        }
        if self.blocks < MIN_BLOCKS
            || self.blocks > MAX_BLOCKS
            || self.blocks > device_bytes / BLOCK_SIZE as u64
        {
            return Err(SbError::BadSize);
        }
        if self.reserved_blocks != RESERVED_BLOCKS
            || self.root_ino != ROOT_INO
            || self.inodes == 0
            || self.inodes > max_inodes(self.blocks)
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

    /// Blocks free for file data (format version 1 has no allocator yet: all
    /// blocks past the reserved area are free).
    pub fn free_blocks(&self) -> u64 {
        self.blocks.saturating_sub(self.reserved_blocks)
    }

    /// The label up to its first NUL, as bytes.
    pub fn label_bytes(&self) -> &[u8] {
        let end = self.label.iter().position(|&c| c == 0).unwrap_or(LABEL_LEN);
        &self.label[..end]
    }
}

/// Smallest inode size a later format may use; bounds `inodes` against `blocks`.
pub const INODE_SIZE_MIN: u64 = 128;

/// Largest inode count a filesystem of `blocks` blocks may declare.
pub fn max_inodes(blocks: u64) -> u64 {
    blocks.saturating_mul(BLOCK_SIZE as u64 / INODE_SIZE_MIN)
}

/// Default inode count for a filesystem of `blocks` blocks: one per 16 KiB.
pub fn default_inodes(blocks: u64) -> u64 {
    let n = blocks / (16384 / BLOCK_SIZE as u64);
    if n < 64 { 64 } else { n }
}

const fn crc32c_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC32C_TABLE: [u32; 256] = crc32c_table();

/// CRC-32C (Castagnoli), as used by ext4/XFS/btrfs metadata checksums.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC32C_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}
