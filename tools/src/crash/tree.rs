// SPDX-License-Identifier: GPL-2.0
//! The namespace as the crash-state oracle compares it: every path with its
//! type, permission bits, link count, size and contents (file data, symlink
//! target).  Built from a mounted filesystem in the guest ([`from_dir`]) and
//! from an image on the host ([`from_image`]); rendered the same way
//! ([`render`]) so the two can be compared line by line.
//!
//! Times, inode numbers and block counts are left out: they are not part
//! of what an operation promises.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::image::Fs;
use crate::*;

/// One object at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// `d`, `f`, `l` (symlink) or `o` (any other type).
    pub kind: char,
    /// Permission bits (`mode & 0o7777`).
    pub perm: u32,
    /// Owner and group.
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    /// Size in bytes (files and symlinks; 0 for directories, whose size is
    /// the filesystem's business).
    pub size: u64,
    /// File data (`size` bytes) or symlink target.
    pub data: Vec<u8>,
    /// Inode number: which paths are one file (hard links); neither
    /// rendered nor compared.
    pub ino: u64,
}

impl Node {
    pub fn new(kind: char, perm: u32, (uid, gid): (u32, u32), nlink: u32, size: u64, data: Vec<u8>, ino: u64) -> Self {
        Node { kind, perm, uid, gid, nlink, size, data, ino }
    }
}

/// Path (relative, `/`-separated; the root is "") -> object.
pub type Tree = BTreeMap<String, Node>;

/// FNV-1a, 64 bits: a content digest for the rendering.
pub fn digest(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// One line per path: `path kind perm uid:gid nlink size digest`.
pub fn render(tree: &Tree) -> String {
    let mut out = String::new();
    for (p, n) in tree {
        out.push_str(&format!(
            "/{p} {} {:o} {}:{} {} {} {:016x}\n",
            n.kind,
            n.perm,
            n.uid,
            n.gid,
            n.nlink,
            n.size,
            digest(&n.data)
        ));
    }
    out
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The tree under `root` as the kernel shows it (the guest side).
pub fn from_dir(root: &Path) -> io::Result<Tree> {
    let mut tree = Tree::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let (kind, size, data) = if ft.is_dir() {
            for e in std::fs::read_dir(&path)? {
                let e = e?;
                todo.push(join(&rel, &e.file_name().to_string_lossy()));
            }
            ('d', 0, Vec::new())
        } else if ft.is_file() {
            ('f', meta.len(), std::fs::read(&path)?)
        } else if ft.is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            let t = std::fs::read_link(&path)?;
            ('l', meta.len(), t.as_os_str().as_bytes().to_vec())
        } else {
            ('o', 0, Vec::new())
        };
        let perm = meta.permissions().mode() & 0o7777;
        let owner = (meta.uid(), meta.gid());
        tree.insert(rel, Node::new(kind, perm, owner, meta.nlink() as u32, size, data, meta.ino()));
    }
    Ok(tree)
}

/// Largest file whose data the host reads into a tree.
const MAX_DATA: u64 = 64 << 20;

/// Reads `size` bytes of the data of `inode` (holes and unwritten
/// extents read as zeroes).
pub fn read_data(fs: &mut Fs, ino: u64, inode: &Inode, size: u64) -> io::Result<Vec<u8>> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    if size > MAX_DATA {
        return Err(bad(format!("inode {ino}: size {size} too large to compare")));
    }
    let mut data = vec![0u8; size as usize];
    let map = fs.read_map(ino, inode)?;
    if let Some(d) = map.damage.first() {
        return Err(bad(format!("inode {ino}: {d}")));
    }
    let bs = u64::from(BLOCK_SIZE);
    for e in &map.extents {
        if e.unwritten {
            continue;
        }
        for k in 0..u64::from(e.len) {
            let at = (u64::from(e.lblk) + k) * bs;
            if at >= size {
                break;
            }
            let block = fs.img.block(e.pblk + k)?;
            let n = (size - at).min(bs) as usize;
            data[at as usize..at as usize + n].copy_from_slice(&block[..n]);
        }
    }
    Ok(data)
}

/// The tree of the filesystem in `fs` (the host side), read as mount would
/// see it.  An inconsistency that fsck would report is an error here.
pub fn from_image(fs: &mut Fs) -> io::Result<Tree> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let mut tree = Tree::new();
    let mut todo = vec![(String::new(), ROOT_INO)];
    let mut seen = 0usize;
    while let Some((rel, ino)) = todo.pop() {
        seen += 1;
        if seen > 1 << 20 {
            return Err(bad("more than 2^20 paths".into()));
        }
        let inode = fs
            .inode(ino)?
            .map_err(|e| bad(format!("inode {ino}: {e:?}")))?;
        let ft = inode.mode & 0o170000;
        let (kind, size, data) = if inode.is_dir() {
            let map = fs.read_map(ino, &inode)?;
            if let Some(d) = map.damage.first() {
                return Err(bad(format!("directory {ino}: {d}")));
            }
            for e in &map.extents {
                for k in 0..u64::from(e.len) {
                    let block = *fs.img.block(e.pblk + k)?;
                    for r in dir_records(&block) {
                        let r = r.map_err(|e| bad(format!("directory {ino}: {e:?}")))?;
                        if r.ino != 0 {
                            let name = String::from_utf8_lossy(r.name).into_owned();
                            todo.push((join(&rel, &name), r.ino));
                        }
                    }
                }
            }
            ('d', 0, Vec::new())
        } else if ft == S_IFLNK {
            let target = match inode.fast_symlink() {
                Some(t) => t.to_vec(),
                None => read_data(fs, ino, &inode, inode.size)?,
            };
            ('l', inode.size, target)
        } else if ft == S_IFREG {
            ('f', inode.size, read_data(fs, ino, &inode, inode.size)?)
        } else {
            ('o', 0, Vec::new())
        };
        let owner = (inode.uid, inode.gid);
        tree.insert(rel, Node::new(kind, inode.mode & 0o7777, owner, inode.nlink, size, data, ino));
    }
    Ok(tree)
}
