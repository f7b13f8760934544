// SPDX-License-Identifier: GPL-2.0
//! The debugger behind `daxfs-db`: prints the metadata of a daxfs image
//! (superblocks, state block, journal, an inode, a directory's records, a
//! file's extent map and chain blocks, the owner of a block, the inode a
//! path names) as text or as one JSON object.
//!
//! Read-only, and made for damaged images: every structure is decoded with
//! the shared format code (`fs/format.rs`, [`Fs::read_map`]); what does not
//! decode is said, with why, in the `damage` list of the output, and values
//! out of range are named there too.  A structure whose checksum alone is
//! wrong is shown as stored (decoded from a copy whose checksum field is
//! made right), with the mismatch in `damage`.  Walks are bounded (chains
//! stop at loops, directories at [`MAX_DIR_BLOCKS`] blocks) and every value
//! read from the image is range-checked before use, so no image makes it
//! panic.

mod value;

use std::collections::HashSet;
use std::io;
use std::path::Path;

use crate::dev::Device;
use crate::extents::mapped_blocks;
use crate::image::{ExtentMap, Fs, Image};
use crate::uuid::Hyphenated;
use crate::*;

pub use value::{Obj, Value};

const BS: u64 = BLOCK_SIZE as u64;
/// Most directory blocks one command reads.
pub const MAX_DIR_BLOCKS: u64 = 1 << 20;

/// What to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Both superblocks.
    Sb,
    /// The state block and the orphan list.
    State,
    /// The journal header and the records of the last transaction.
    Journal,
    /// An inode.
    Inode(u64),
    /// A directory's records.
    Dir(u64),
    /// A file's extent map and extent chain blocks.
    Extents(u64),
    /// What a block belongs to.
    Owner(u64),
    /// The inode a path names.
    Path(Vec<u8>),
}

/// What a command found.
#[derive(Clone, Debug)]
pub struct Out {
    /// Its fields, `damage` last (then `error`, in JSON, when it failed).
    pub obj: Obj,
    /// Why the item could not be shown (not found, out of range, does not
    /// decode, unreadable device); the fields hold what could be shown.
    pub error: Option<String>,
}

impl Out {
    /// One JSON object, on one line.
    pub fn json(&self) -> String {
        let mut obj = self.obj.clone();
        if let Some(e) = &self.error {
            obj.set("error", e.as_str());
        }
        obj.to_json() + "\n"
    }

    /// `name: value` lines.
    pub fn text(&self) -> String {
        self.obj.to_text()
    }
}

/// Why a command could not show its item.
#[derive(Debug)]
struct Fail(String);

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail(e.to_string())
    }
}

fn fail<T>(msg: String) -> Result<T, Fail> {
    Err(Fail(msg))
}

/// Runs `cmd` on the image or device at `path`, read-only.
pub fn run(path: &Path, cmd: &Command) -> Out {
    let mut obj = Obj::new();
    let mut damage = Vec::new();
    let error = exec(path, cmd, &mut obj, &mut damage).err().map(|f| f.0);
    obj.set("damage", damage);
    Out { obj, error }
}

fn exec(path: &Path, cmd: &Command, obj: &mut Obj, damage: &mut Vec<String>) -> Result<(), Fail> {
    let dev = Device::open(path, false)?;
    // A block device: see what a DAX mount stored (needs root; a file or
    // an unprivileged reader has nothing to flush or must do without).
    let _ = dev.flush_buffers();
    if *cmd == Command::Sb {
        return superblocks(&dev, obj, damage);
    }
    let fs = open_fs(dev, damage)?;
    let mut db = Db { fs, obj, damage };
    match cmd {
        Command::Sb => Ok(()),
        Command::State => db.state(),
        Command::Journal => db.journal(),
        Command::Inode(ino) => db.inode(*ino),
        Command::Dir(ino) => db.dir(*ino),
        Command::Extents(ino) => db.extents(*ino),
        Command::Owner(block) => db.owner(*block),
        Command::Path(p) => db.path(p),
    }
}

/// The filesystem laid out as the primary superblock says, or the backup
/// when the primary is not valid (noted in `damage`).
fn open_fs(dev: Device, damage: &mut Vec<String>) -> Result<Fs, Fail> {
    let primary = dev.read_sb(SB_PRIMARY_OFFSET)?;
    let sb = match primary {
        Ok(sb) => sb,
        Err(p) => match dev.read_sb(SB_BACKUP_OFFSET)? {
            Ok(sb) => {
                damage.push(format!(
                    "primary superblock: {}; using the backup",
                    p.describe()
                ));
                sb
            }
            Err(b) => {
                return fail(format!(
                    "no valid superblock (primary: {}, backup: {})",
                    p.describe(),
                    b.describe()
                ))
            }
        },
    };
    Ok(Fs::new(Image::new(dev), sb))
}

/// Decodes `bytes` with `decode`.  When that fails on the checksum alone
/// (`crc_err`), decodes a copy whose checksum field (the 4 bytes at `at`)
/// holds the checksum computed by `crc`, so that the fields can be shown;
/// the second value then describes the mismatch.
fn resealed<T, E>(
    bytes: &[u8],
    at: usize,
    crc: impl Fn(&[u8]) -> u32,
    decode: impl Fn(&[u8]) -> Result<T, E>,
    crc_err: E,
) -> (Result<T, E>, Option<String>)
where
    E: PartialEq,
{
    let r = decode(bytes);
    if r.as_ref().err() != Some(&crc_err) {
        return (r, None);
    }
    let mut copy = bytes.to_vec();
    let Some(field) = at.checked_add(4).and_then(|end| copy.get_mut(at..end)) else {
        return (r, None);
    };
    let mut stored = [0u8; 4];
    stored.copy_from_slice(field);
    let computed = crc(bytes);
    field.copy_from_slice(&computed.to_le_bytes());
    let msg = format!(
        "checksum mismatch: stored {:#010x}, computed {computed:#010x} (fields shown as stored)",
        u32::from_le_bytes(stored)
    );
    (decode(&copy), Some(msg))
}

/// The name of a file type (`mode & S_IFMT`).
fn type_name(mode: u32) -> &'static str {
    match mode & S_IFMT {
        S_IFREG => "file",
        S_IFDIR => "dir",
        S_IFLNK => "symlink",
        S_IFCHR => "chardev",
        S_IFBLK => "blockdev",
        S_IFIFO => "fifo",
        S_IFSOCK => "socket",
        _ => "unknown",
    }
}

fn time_obj(t: Time) -> Obj {
    Obj::new().with("sec", t.sec).with("nsec", t.nsec)
}

fn extent_obj(e: &Extent) -> Obj {
    Obj::new()
        .with("lblk", e.lblk)
        .with("len", e.len)
        .with("pblk", e.pblk)
        .with("unwritten", e.unwritten)
}

/// The area holding `block` and the block's index in it (0 outside the
/// metadata areas).
fn area_of(geo: &Geometry, block: u64) -> (&'static str, u64) {
    let areas = [
        ("primary superblock", SB_PRIMARY_OFFSET / BS, 1),
        ("backup superblock", SB_BACKUP_OFFSET / BS, 1),
        ("state block", STATE_BLOCK, 1),
        ("journal", geo.journal_start, geo.journal_blocks),
        ("inode bitmap", geo.ibitmap_start, geo.ibitmap_blocks),
        ("block bitmap", geo.bbitmap_start, geo.bbitmap_blocks),
        ("inode table", geo.itable_start, geo.itable_blocks),
    ];
    for (name, start, count) in areas {
        if let Some(index) = block.checked_sub(start).filter(|&i| i < count) {
            return (name, index);
        }
    }
    let name = if block < geo.data_start {
        "reserved (alignment before the data area)"
    } else if block < geo.blocks {
        "data"
    } else {
        "past the end"
    };
    (name, 0)
}

/// The area holding `block`, with what the block holds of it.
fn locate(geo: &Geometry, block: u64) -> Obj {
    let (area, index) = area_of(geo, block);
    let mut o = Obj::new().with("area", area);
    let bits = index.saturating_mul(BITS_PER_BLOCK);
    let last_bit = bits.saturating_add(BITS_PER_BLOCK - 1);
    if matches!(
        area,
        "journal" | "inode bitmap" | "block bitmap" | "inode table"
    ) {
        o.set("index", index);
    }
    match area {
        "inode bitmap" => {
            o.set("first_ino", bits.saturating_add(1));
            o.set("last_ino", last_bit.saturating_add(1).min(geo.inodes));
        }
        "block bitmap" => {
            o.set("first_block", bits);
            o.set("last_block", last_bit.min(geo.blocks.saturating_sub(1)));
        }
        "inode table" => {
            let first = index.saturating_mul(INODES_PER_BLOCK).saturating_add(1);
            o.set("first_ino", first);
            o.set("last_ino", first.saturating_add(INODES_PER_BLOCK - 1));
        }
        _ => {}
    }
    o
}

/// Both superblocks (needs no valid one).
fn superblocks(dev: &Device, obj: &mut Obj, damage: &mut Vec<String>) -> Result<(), Fail> {
    obj.set("device_bytes", dev.size());
    let mut decoded = Vec::new();
    for (name, offset) in [("primary", SB_PRIMARY_OFFSET), ("backup", SB_BACKUP_OFFSET)] {
        let mut buf = [0u8; SB_SIZE];
        let n = dev.read_at(offset, &mut buf)?;
        let bytes = &buf[..n];
        let crc = |b: &[u8]| crc32c(b.get(..SB_SIZE - 4).unwrap_or(b));
        let (sb, mismatch) = resealed(
            bytes,
            SB_SIZE - 4,
            crc,
            SuperBlock::decode,
            SbError::BadChecksum,
        );
        let mut copy = Obj::new().with("offset", offset);
        let mut problems = Vec::new();
        problems.extend(mismatch);
        match sb {
            Ok(sb) => {
                problems.extend(sb_layout_problems(&sb, dev.size()));
                copy.set("valid", problems.is_empty());
                sb_fields(&sb, &mut copy);
                decoded.push(sb);
            }
            Err(e) => {
                problems.push(e.describe().into());
                copy.set("valid", false);
                copy.set("raw", Value::Bytes(bytes.to_vec()));
            }
        }
        damage.extend(problems.iter().map(|p| format!("{name} superblock: {p}")));
        obj.set(name, copy);
    }
    let equal = matches!(decoded[..], [p, b] if p == b);
    obj.set("equal", equal);
    if decoded.len() == 2 && !equal {
        damage.push("the superblocks differ".into());
    }
    if decoded.is_empty() {
        return fail("neither superblock decodes".into());
    }
    Ok(())
}

fn sb_fields(sb: &SuperBlock, o: &mut Obj) {
    o.set("magic", Value::Hex(sb.magic))
        .set("version", sb.version)
        .set("flags", Value::Hex(sb.flags.into()))
        .set("block_size", sb.block_size)
        .set("blocks", sb.blocks)
        .set("data_start", sb.data_start)
        .set("inodes", sb.inodes)
        .set("root_ino", sb.root_ino)
        .set("mkfs_time", sb.mkfs_time)
        .set("uuid", Hyphenated(&sb.uuid).to_string())
        .set(
            "label",
            String::from_utf8_lossy(sb.label_bytes()).into_owned(),
        )
        .set("journal_start", sb.journal_start)
        .set("journal_blocks", sb.journal_blocks)
        .set("ibitmap_start", sb.ibitmap_start)
        .set("ibitmap_blocks", sb.ibitmap_blocks)
        .set("bbitmap_start", sb.bbitmap_start)
        .set("bbitmap_blocks", sb.bbitmap_blocks)
        .set("itable_start", sb.itable_start)
        .set("itable_blocks", sb.itable_blocks)
        .set("inode_size", sb.inode_size)
        .set("features", Value::Hex(sb.features.into()));
}

/// Why a decoded superblock is not valid, field by field.
fn sb_layout_problems(sb: &SuperBlock, device_bytes: u64) -> Vec<String> {
    let Err(e) = sb.validate(device_bytes) else {
        return Vec::new();
    };
    let mut out = vec![e.describe().to_string()];
    if sb.blocks > device_bytes / BS {
        out.push(format!(
            "blocks {} but the device holds {}",
            sb.blocks,
            device_bytes / BS
        ));
    }
    if sb.root_ino != ROOT_INO {
        out.push(format!("root_ino {}, expected {ROOT_INO}", sb.root_ino));
    }
    if sb.inode_size != INODE_SIZE as u32 {
        out.push(format!(
            "inode_size {}, expected {INODE_SIZE}",
            sb.inode_size
        ));
    }
    let want = match Geometry::new(sb.blocks, sb.inodes, sb.journal_blocks) {
        Ok(g) => g,
        Err(g) => {
            out.push(g.describe().into());
            return out;
        }
    };
    let have = sb.geometry();
    for (name, h, w) in [
        ("data_start", have.data_start, want.data_start),
        ("journal_start", have.journal_start, want.journal_start),
        ("ibitmap_start", have.ibitmap_start, want.ibitmap_start),
        ("ibitmap_blocks", have.ibitmap_blocks, want.ibitmap_blocks),
        ("bbitmap_start", have.bbitmap_start, want.bbitmap_start),
        ("bbitmap_blocks", have.bbitmap_blocks, want.bbitmap_blocks),
        ("itable_start", have.itable_start, want.itable_start),
        ("itable_blocks", have.itable_blocks, want.itable_blocks),
    ] {
        if h != w {
            out.push(format!("{name} {h}, expected {w}"));
        }
    }
    out
}

/// A directory record.
struct Entry {
    name: Vec<u8>,
    ino: u64,
    file_type: u8,
    lblk: u64,
    pblk: u64,
    offset: usize,
    rec_len: usize,
}

/// The records of a directory, as far as they parse.
#[derive(Default)]
struct Listing {
    entries: Vec<Entry>,
    unused: u64,
    blocks: u64,
}

struct Db<'a> {
    fs: Fs,
    obj: &'a mut Obj,
    damage: &'a mut Vec<String>,
}

impl Db<'_> {
    fn geo(&self) -> Geometry {
        self.fs.geo
    }

    /// The slot of inode `ino`, which must be in range.
    fn slot(&mut self, ino: u64) -> Result<[u8; INODE_SIZE], Fail> {
        if self.geo().inode_offset(ino).is_none() {
            return fail(format!(
                "inode {ino} out of range (1..={})",
                self.geo().inodes
            ));
        }
        Ok(self.fs.inode_slot(ino)?)
    }

    /// Inode `ino`, in use; decoded as stored when only its checksum is
    /// wrong (the damage says so).
    fn load_inode(&mut self, ino: u64) -> Result<Inode, Fail> {
        let slot = self.slot(ino)?;
        if Inode::is_free_slot(&slot) {
            return fail(format!("inode {ino} is free"));
        }
        let (inode, mismatch) = decode_inode(&slot);
        self.damage
            .extend(mismatch.map(|m| format!("inode {ino}: {m}")));
        inode.or_else(|e| fail(format!("inode {ino}: {}", e.describe())))
    }

    fn state(&mut self) -> Result<(), Fail> {
        let geo = self.geo();
        self.obj.set("block", STATE_BLOCK);
        let (s, buf) = self.read_state()?;
        self.obj
            .set("committed_seq", s.committed_seq)
            .set("applied_seq", s.applied_seq)
            .set("tx_len", s.tx_len)
            .set("tx_crc", Value::Hex(s.tx_crc.into()))
            .set("orphan_head", s.orphan_head)
            .set("clean", s.clean)
            .set("free_blocks", s.free_blocks)
            .set("free_inodes", s.free_inodes);
        if buf[STATE_SIZE..].iter().any(|&b| b != 0) {
            self.damage
                .push("state block: nonzero bytes after its fields".into());
        }
        if s.free_blocks > geo.data_blocks() {
            self.damage.push(format!(
                "state block: free_blocks {} above the {} data blocks",
                s.free_blocks,
                geo.data_blocks()
            ));
        }
        if s.free_inodes >= geo.inodes {
            self.damage.push(format!(
                "state block: free_inodes {} but there are {} inodes, the root included",
                s.free_inodes, geo.inodes
            ));
        }
        let list = self.orphan_list(s.orphan_head)?;
        self.obj.set("orphans", list);
        Ok(())
    }

    /// The state block, decoded as stored when only its checksum is
    /// wrong, and the whole block 2.
    fn read_state(&mut self) -> Result<(StateBlock, Vec<u8>), Fail> {
        let buf = self.fs.read_area(STATE_BLOCK, 1)?;
        let crc = |b: &[u8]| {
            b.get(..STATE_SIZE)
                .and_then(|b| b.try_into().ok())
                .map_or(0, state_crc)
        };
        let (s, mismatch) = resealed(
            &buf,
            STATE_SIZE - 4,
            crc,
            StateBlock::decode,
            StateError::BadChecksum,
        );
        self.damage
            .extend(mismatch.map(|m| format!("state block: {m}")));
        match s {
            Ok(s) => Ok((s, buf)),
            Err(e) => {
                self.obj
                    .set("raw", Value::Bytes(buf[..STATE_SIZE].to_vec()));
                fail(format!("state block: {}", e.describe()))
            }
        }
    }

    /// The orphan list from `head`, up to where it cannot be followed.
    fn orphan_list(&mut self, head: u64) -> Result<Vec<u64>, Fail> {
        let mut list = Vec::new();
        let mut seen = HashSet::new();
        let mut ino = head;
        while ino != 0 {
            let why = if !seen.insert(ino) {
                "loops back to it".to_string()
            } else if self.geo().inode_offset(ino).is_none() {
                "out of range".to_string()
            } else {
                let slot = self.fs.inode_slot(ino)?;
                match Inode::decode(&slot) {
                    _ if Inode::is_free_slot(&slot) => "free".to_string(),
                    Err(e) => e.describe().to_string(),
                    Ok(inode) => {
                        list.push(ino);
                        ino = inode.orphan_next;
                        continue;
                    }
                }
            };
            self.damage.push(format!("orphan list: inode {ino}: {why}"));
            break;
        }
        Ok(list)
    }

    fn journal(&mut self) -> Result<(), Fail> {
        let geo = self.geo();
        let (s, _) = self.read_state()?;
        self.obj
            .set("journal_start", geo.journal_start)
            .set("journal_blocks", geo.journal_blocks)
            .set("committed_seq", s.committed_seq)
            .set("applied_seq", s.applied_seq)
            .set("tx_len", s.tx_len)
            .set("tx_crc", Value::Hex(s.tx_crc.into()));
        let len = u64::from(s.tx_len);
        if len % 8 != 0 || len > geo.journal_bytes() {
            self.obj.set("computed_crc", Value::Null);
            let status = if s.committed_seq == s.applied_seq {
                "applied"
            } else {
                "corrupt"
            };
            self.obj.set("status", status).set("crc_ok", Value::Null);
            self.damage.push(format!(
                "journal: tx_len {len} is not a multiple of 8 within the {} journal bytes",
                geo.journal_bytes()
            ));
            self.obj.set("records", Vec::<Value>::new());
            return Ok(());
        }
        let mut tx = vec![0u8; len as usize];
        self.fs.img.read(geo.journal_start * BS, &mut tx)?;
        let computed = tx_crc(s.committed_seq, &tx);
        self.obj.set("computed_crc", Value::Hex(computed.into()));
        let status = if s.committed_seq == s.applied_seq {
            if s.committed_seq == 0 && len == 0 {
                "empty"
            } else {
                "applied"
            }
        } else {
            match s.pending_transaction(&tx, &geo) {
                Ok(_) => "pending",
                Err(e) => {
                    self.damage.push(format!(
                        "journal: {} (committed {}, applied {})",
                        e.describe(),
                        s.committed_seq,
                        s.applied_seq
                    ));
                    "corrupt"
                }
            }
        };
        self.obj.set("status", status);
        // An applied transaction's records may have been overwritten by a
        // commit that did not reach its commit point: not damage.
        let crc_ok = computed == s.tx_crc;
        let show = crc_ok || status != "applied";
        self.obj.set(
            "crc_ok",
            if status == "empty" {
                None
            } else {
                Some(crc_ok)
            },
        );
        let records = if show { self.records(&tx) } else { Vec::new() };
        self.obj.set("records", records);
        Ok(())
    }

    /// The records packed in `tx`, each with what it writes.
    fn records(&mut self, tx: &[u8]) -> Vec<Obj> {
        let geo = self.geo();
        let mut out = Vec::new();
        let mut at = 0usize;
        for (i, r) in records(tx).enumerate() {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    self.damage.push(format!(
                        "journal: record {i} at byte {at}: {}",
                        e.describe()
                    ));
                    break;
                }
            };
            let block = r.dst / BS;
            let mut o = Obj::new()
                .with("index", i)
                .with("journal_offset", at)
                .with("dst", r.dst)
                .with("len", r.data.len())
                .with("block", block)
                .with("area", area_of(&geo, block).0);
            let itable = geo.itable_start.saturating_mul(BS);
            let in_itable = area_of(&geo, block).0 == "inode table";
            if let Some(rel) = r.dst.checked_sub(itable).filter(|_| in_itable) {
                let last = rel.saturating_add((r.data.len() as u64).saturating_sub(1));
                o.set("ino", rel / INODE_SIZE as u64 + 1);
                o.set("last_ino", last / INODE_SIZE as u64 + 1);
                o.set("inode_offset", rel % INODE_SIZE as u64);
            }
            let allowed = geo.record_target_ok(r.dst, r.data.len());
            o.set("allowed", allowed);
            if !allowed {
                self.damage.push(format!(
                    "journal: record {i} writes {} bytes at {}, outside the journaled areas",
                    r.data.len(),
                    r.dst
                ));
            }
            out.push(o);
            at = at.saturating_add(record_size(r.data.len()));
        }
        out
    }

    fn inode(&mut self, ino: u64) -> Result<(), Fail> {
        let geo = self.geo();
        let slot = self.slot(ino)?;
        let offset = geo.inode_offset(ino).unwrap_or(0);
        let in_bitmap = self.fs.bit(geo.ibitmap_start, ino - 1)?;
        self.obj
            .set("ino", ino)
            .set("offset", offset)
            .set("itable_block", offset / BS)
            .set("in_bitmap", in_bitmap);
        if Inode::is_free_slot(&slot) {
            self.obj.set("free", true);
            if in_bitmap {
                self.damage.push(format!(
                    "inode {ino}: free slot marked in use in the inode bitmap"
                ));
            }
            return Ok(());
        }
        self.obj.set("free", false);
        if !in_bitmap {
            self.damage
                .push(format!("inode {ino}: in use but clear in the inode bitmap"));
        }
        let inode = match self.load_inode(ino) {
            Ok(i) => i,
            Err(f) => {
                self.obj.set("raw", Value::Bytes(slot.to_vec()));
                return Err(f);
            }
        };
        self.inode_fields(ino, &inode)
    }

    fn inode_fields(&mut self, ino: u64, inode: &Inode) -> Result<(), Fail> {
        let geo = self.geo();
        let flags: Vec<&str> = [
            (INODE_FLAG_APPEND, "append"),
            (INODE_FLAG_IMMUTABLE, "immutable"),
            (INODE_FLAG_DAX, "dax"),
        ]
        .iter()
        .filter(|(f, _)| inode.flags & f != 0)
        .map(|&(_, n)| n)
        .collect();
        self.obj
            .set("mode", Value::Oct(inode.mode.into()))
            .set("type", type_name(inode.mode))
            .set("flags", Value::Hex(inode.flags.into()))
            .set("flag_names", flags)
            .set("uid", inode.uid)
            .set("gid", inode.gid)
            .set("nlink", inode.nlink)
            .set("generation", inode.generation)
            .set("size", inode.size)
            .set("blocks", inode.blocks)
            .set("atime", time_obj(inode.atime))
            .set("mtime", time_obj(inode.mtime))
            .set("ctime", time_obj(inode.ctime))
            .set("btime", time_obj(inode.btime))
            .set("rdev", Value::Hex(inode.rdev.into()));
        if matches!(inode.file_type(), S_IFCHR | S_IFBLK) {
            // new_encode_dev: minor low 8 bits, major, then the high minor bits.
            let major = (inode.rdev & 0xfff00) >> 8;
            let minor = (inode.rdev & 0xff) | ((inode.rdev >> 12) & 0xfff00);
            self.obj.set("major", major).set("minor", minor);
        }
        self.obj
            .set("nextents", inode.nextents)
            .set("extent_block", inode.extent_block)
            .set("orphan_next", inode.orphan_next)
            .set("parent", inode.parent);
        let at = format!("inode {ino}");
        if let Some(target) = inode.fast_symlink() {
            self.obj
                .set("symlink", String::from_utf8_lossy(target).into_owned());
        } else {
            let mut inline = Vec::new();
            for i in 0..inode.inline_count() {
                match inode.inline_extent(i) {
                    Some(Ok(e)) => {
                        if !geo.is_data(e.pblk, e.len.into()) {
                            self.damage.push(format!(
                                "{at}: inline extent {i} (blocks {}+{}) outside the data area",
                                e.pblk, e.len
                            ));
                        }
                        inline.push(extent_obj(&e));
                    }
                    Some(Err(e)) => self
                        .damage
                        .push(format!("{at}: inline extent {i}: {}", e.describe())),
                    None => {}
                }
            }
            self.obj.set("inline_extents", inline);
            if inode.file_type() == S_IFLNK {
                let target = self.slow_symlink(inode)?;
                self.obj.set("symlink", target);
            }
        }
        let chained = inode.nextents as usize > INLINE_EXTENTS && !inode.is_fast_symlink();
        if chained != (inode.extent_block != 0) {
            self.damage.push(format!(
                "{at}: nextents {} but extent_block {}",
                inode.nextents, inode.extent_block
            ));
        }
        if inode.extent_block != 0 && !geo.is_data(inode.extent_block, 1) {
            self.damage.push(format!(
                "{at}: extent_block {} outside the data area",
                inode.extent_block
            ));
        }
        if inode.orphan_next > geo.inodes {
            self.damage.push(format!(
                "{at}: orphan_next {} out of range",
                inode.orphan_next
            ));
        }
        match (inode.is_dir(), inode.parent) {
            (true, p) if p == 0 || p > geo.inodes => {
                self.damage.push(format!("{at}: parent {p} out of range"))
            }
            (false, p) if p != 0 => self
                .damage
                .push(format!("{at}: parent {p} set on a non-directory")),
            _ => {}
        }
        Ok(())
    }

    /// A long symlink's target: `size` bytes of the block its first extent
    /// maps, if that is possible.
    fn slow_symlink(&mut self, inode: &Inode) -> Result<Option<String>, Fail> {
        let Some(Ok(e)) = inode.inline_extent(0) else {
            return Ok(None);
        };
        if inode.size > SYMLINK_MAX || !self.geo().is_data(e.pblk, 1) {
            return Ok(None);
        }
        let mut target = vec![0u8; inode.size as usize];
        self.fs.img.read(e.pblk * BS, &mut target)?;
        Ok(Some(String::from_utf8_lossy(&target).into_owned()))
    }

    /// The extent map of in-use inode `ino` (`inode`), its damage noted.
    fn map(&mut self, ino: u64, inode: &Inode) -> Result<ExtentMap, Fail> {
        let map = self.fs.read_map(ino, inode)?;
        self.damage
            .extend(map.damage.iter().map(|d| format!("inode {ino}: {d}")));
        Ok(map)
    }

    fn extents(&mut self, ino: u64) -> Result<(), Fail> {
        let inode = self.load_inode(ino)?;
        let geo = self.geo();
        let map = self.map(ino, &inode)?;
        let mapped = mapped_blocks(&map.extents);
        let chain = map.chain.len() as u64;
        self.obj
            .set("ino", ino)
            .set("type", type_name(inode.mode))
            .set("size", inode.size)
            .set("blocks", inode.blocks)
            .set("nextents", inode.nextents)
            .set("extent_block", inode.extent_block)
            .set("mapped_blocks", mapped)
            .set("chain_blocks", chain);
        let at = format!("inode {ino}");
        let mut exts = Vec::new();
        let mut end = 0;
        for (i, e) in map.extents.iter().enumerate() {
            if !geo.is_data(e.pblk, e.len.into()) {
                self.damage.push(format!(
                    "{at}: extent {i} (blocks {}+{}) outside the data area",
                    e.pblk, e.len
                ));
            }
            if i > 0 && u64::from(e.lblk) < end {
                self.damage
                    .push(format!("{at}: extent {i} out of order or overlapping"));
            }
            end = e.end();
            exts.push(extent_obj(e).with("offset", u64::from(e.lblk) * BS));
        }
        self.obj.set("extents", exts);
        let mut blocks = Vec::new();
        for (k, &b) in map.chain.iter().enumerate() {
            let header = ExtentBlockHeader::decode(&self.fs.img.block(b)?[..]);
            let mut o = Obj::new().with("index", k).with("block", b);
            if let Ok(h) = header {
                o.set("count", h.count)
                    .set("next", h.next)
                    .set("owner", h.owner);
            }
            blocks.push(o);
        }
        self.obj.set("chain", blocks);
        if map.damage.is_empty() && map.recorded != u64::from(inode.nextents) {
            self.damage.push(format!(
                "{at}: nextents {} but the inode and its chain hold {}",
                inode.nextents, map.recorded
            ));
        }
        if inode.blocks != mapped.saturating_add(chain) {
            self.damage.push(format!(
                "{at}: blocks {} but {mapped} mapped and {chain} extent blocks",
                inode.blocks
            ));
        }
        Ok(())
    }

    /// The records of directory `ino` (`inode`), its damage noted.
    fn list(&mut self, ino: u64, inode: &Inode) -> Result<Listing, Fail> {
        let geo = self.geo();
        let at = format!("directory {ino}");
        let map = self.map(ino, inode)?;
        let nblocks = inode.size / BS;
        if inode.size % BS != 0 {
            self.damage
                .push(format!("{at}: size {} not a multiple of {BS}", inode.size));
        }
        let mut l = Listing::default();
        let mut block = [0u8; BLOCK_SIZE as usize];
        'walk: for e in &map.extents {
            let what = format!("{at}: extent at file block {}", e.lblk);
            if e.unwritten {
                self.damage.push(format!("{what}: unwritten"));
                continue;
            }
            if !geo.is_data(e.pblk, e.len.into()) {
                self.damage.push(format!("{what}: outside the data area"));
                continue;
            }
            for k in 0..u64::from(e.len) {
                let lblk = u64::from(e.lblk) + k;
                if lblk >= nblocks {
                    self.damage
                        .push(format!("{what}: maps blocks past the size"));
                    break;
                }
                if l.blocks == MAX_DIR_BLOCKS {
                    self.damage
                        .push(format!("{at}: stopped after {MAX_DIR_BLOCKS} blocks"));
                    break 'walk;
                }
                l.blocks += 1;
                let pblk = e.pblk + k;
                // Read past the cache: a large directory is read once.
                self.fs.img.device().read_at(pblk * BS, &mut block)?;
                let mut recs = dir_records(&block);
                while let Some(r) = recs.next() {
                    match r {
                        Ok(r) if r.ino == 0 => l.unused += 1,
                        Ok(r) => l.entries.push(Entry {
                            name: r.name.to_vec(),
                            ino: r.ino,
                            file_type: r.file_type,
                            lblk,
                            pblk,
                            offset: r.offset,
                            rec_len: r.rec_len,
                        }),
                        Err(err) => self.damage.push(format!(
                            "{at}: block {lblk} (device block {pblk}) offset {}: {}",
                            recs.offset(),
                            err.describe()
                        )),
                    }
                }
            }
        }
        if l.blocks < nblocks && l.blocks < MAX_DIR_BLOCKS {
            self.damage.push(format!(
                "{at}: size is {nblocks} blocks but {} are mapped",
                l.blocks
            ));
        }
        Ok(l)
    }

    /// In-use directory `ino`.
    fn load_dir(&mut self, ino: u64) -> Result<Inode, Fail> {
        let inode = self.load_inode(ino)?;
        if !inode.is_dir() {
            return fail(format!(
                "inode {ino} is not a directory ({})",
                type_name(inode.mode)
            ));
        }
        Ok(inode)
    }

    fn dir(&mut self, ino: u64) -> Result<(), Fail> {
        let inode = self.load_dir(ino)?;
        let geo = self.geo();
        let l = self.list(ino, &inode)?;
        self.obj
            .set("ino", ino)
            .set("size", inode.size)
            .set("parent", inode.parent)
            .set("blocks_read", l.blocks)
            .set("unused_records", l.unused);
        let mut entries = Vec::new();
        for e in &l.entries {
            let name = String::from_utf8_lossy(&e.name).into_owned();
            let pos = u32::try_from(e.lblk).ok().map(|lblk| {
                DirPos::Record {
                    lblk,
                    offset: e.offset as u16,
                }
                .encode()
            });
            entries.push(
                Obj::new()
                    .with("name", name.as_str())
                    .with("ino", e.ino)
                    .with("type", type_name(u32::from(e.file_type) << 12))
                    .with("lblk", e.lblk)
                    .with("block", e.pblk)
                    .with("offset", e.offset)
                    .with("rec_len", e.rec_len)
                    .with("pos", pos),
            );
            let at = format!("directory {ino}: entry {name:?}");
            if geo.inode_offset(e.ino).is_none() {
                self.damage
                    .push(format!("{at}: inode {} out of range", e.ino));
                continue;
            }
            let slot = self.fs.inode_slot(e.ino)?;
            match Inode::decode(&slot) {
                _ if Inode::is_free_slot(&slot) => {
                    self.damage.push(format!("{at}: inode {} is free", e.ino))
                }
                Err(err) => self
                    .damage
                    .push(format!("{at}: inode {}: {}", e.ino, err.describe())),
                Ok(i) if dt_from_mode(i.mode) != e.file_type => self.damage.push(format!(
                    "{at}: type {} but inode {} is a {}",
                    type_name(u32::from(e.file_type) << 12),
                    e.ino,
                    type_name(i.mode)
                )),
                Ok(_) => {}
            }
        }
        self.obj.set("entries", entries);
        Ok(())
    }

    fn owner(&mut self, block: u64) -> Result<(), Fail> {
        let geo = self.geo();
        if block >= geo.blocks {
            return fail(format!(
                "block {block} past the end of the filesystem ({} blocks)",
                geo.blocks
            ));
        }
        let in_bitmap = self.fs.bit(geo.bbitmap_start, block)?;
        self.obj.set("block", block);
        for (k, v) in locate(&geo, block).0 {
            self.obj.set(k, v);
        }
        self.obj.set("in_bitmap", in_bitmap);
        let (owners, scanned, unknown) = self.scan_owners(block)?;
        self.obj.set("scanned_inodes", scanned);
        let metadata = block < geo.data_start;
        let status = match owners.len() {
            _ if metadata => "metadata",
            0 if in_bitmap => "leaked",
            0 => "free",
            1 => "in use",
            _ => "shared",
        };
        self.obj.set("status", status);
        if metadata && !owners.is_empty() {
            self.damage.push(format!(
                "block {block}: a metadata block mapped by an inode"
            ));
        } else if owners.len() > 1 {
            self.damage
                .push(format!("block {block}: owned {} times", owners.len()));
        } else if owners.len() == 1 && !in_bitmap {
            self.damage.push(format!(
                "block {block}: in use but marked free in the block bitmap"
            ));
        } else if status == "leaked" {
            let why = if unknown > 0 {
                format!(
                    " (or owned by one of the {unknown} inodes whose extent map cannot be read)"
                )
            } else {
                String::new()
            };
            self.damage.push(format!(
                "block {block}: marked in use but no inode owns it{why}"
            ));
        }
        self.obj.set("owners", owners);
        Ok(())
    }

    /// Every inode slot that maps `block`: in an extent, or as an extent
    /// chain block; the number of slots in use, and of those whose map is
    /// unknown or incomplete.
    fn scan_owners(&mut self, block: u64) -> Result<(Vec<Obj>, u64, u64), Fail> {
        let geo = self.geo();
        self.fs
            .img
            .load(geo.itable_start..geo.itable_start.saturating_add(geo.itable_blocks))?;
        let mut owners = Vec::new();
        let (mut scanned, mut unknown) = (0u64, 0u64);
        for ino in 1..=geo.inodes {
            let slot = self.fs.inode_slot(ino)?;
            if Inode::is_free_slot(&slot) {
                continue;
            }
            scanned += 1;
            let (inode, mismatch) = decode_inode(&slot);
            let Ok(inode) = inode else {
                unknown += 1;
                continue;
            };
            let map = self.fs.read_map(ino, &inode)?;
            if !map.damage.is_empty() {
                unknown += 1;
            }
            let base = Obj::new()
                .with("ino", ino)
                .with("type", type_name(inode.mode))
                .with("bad_checksum", mismatch.is_some());
            for e in &map.extents {
                let k = match block.checked_sub(e.pblk) {
                    Some(k) if k < u64::from(e.len) => k,
                    _ => continue,
                };
                let lblk = u64::from(e.lblk) + k;
                owners.push(
                    base.clone()
                        .with("what", "data")
                        .with("lblk", lblk)
                        .with("offset", lblk * BS)
                        .with("unwritten", e.unwritten),
                );
            }
            for (index, _) in map.chain.iter().enumerate().filter(|(_, &b)| b == block) {
                owners.push(
                    base.clone()
                        .with("what", "extent block")
                        .with("index", index),
                );
            }
        }
        Ok((owners, scanned, unknown))
    }

    fn path(&mut self, path: &[u8]) -> Result<(), Fail> {
        let root = self.fs.sb.root_ino;
        let shown = String::from_utf8_lossy(path).into_owned();
        self.obj
            .set("path", shown.as_str())
            .set("ino", Value::Null)
            .set("type", Value::Null);
        let mut steps = vec![Obj::new().with("name", "/").with("ino", root)];
        let mut ino = root;
        let result = self.resolve(path, &mut ino, &mut steps);
        self.obj.set("steps", steps);
        result?;
        let inode = self.load_inode(ino)?;
        self.obj.set("ino", ino).set("type", type_name(inode.mode));
        Ok(())
    }

    /// Walks `path` from `*ino`, one step per component (symlinks are not
    /// followed).
    fn resolve(&mut self, path: &[u8], ino: &mut u64, steps: &mut Vec<Obj>) -> Result<(), Fail> {
        for name in path
            .split(|&c| c == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            let shown = String::from_utf8_lossy(name).into_owned();
            let dir = self.load_dir(*ino)?;
            *ino = if name == b".." {
                dir.parent
            } else {
                let l = self.list(*ino, &dir)?;
                match l.entries.iter().find(|e| e.name == name) {
                    Some(e) => e.ino,
                    None => return fail(format!("{shown:?} not found in directory {ino}")),
                }
            };
            steps.push(Obj::new().with("name", shown).with("ino", *ino));
        }
        Ok(())
    }
}

/// An inode slot, decoded as stored when only its checksum is wrong.
fn decode_inode(slot: &[u8; INODE_SIZE]) -> (Result<Inode, InodeError>, Option<String>) {
    let crc = |b: &[u8]| b.try_into().map_or(0, inode_crc);
    resealed(
        slot,
        INODE_SIZE - 4,
        crc,
        Inode::decode,
        InodeError::BadChecksum,
    )
}
