// SPDX-License-Identifier: GPL-2.0
//! Device access shared by the tools: a block device or a regular image file.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{SuperBlock, SB_SIZE};

/// Bytes in a sector of a badblocks list.
const SECTOR: u64 = 512;

/// An open device (or image file) and its size.
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
    size: u64,
    /// Byte ranges whose reads fail as media errors do (a test hook).
    fail: Vec<Range<u64>>,
}

/// Wraps `err` with what was being done to which path.
fn context(what: &str, path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}

/// A read the device failed with `EIO`: on pmem, a bad block (the driver
/// refuses to read a sector on its badblocks list).
#[derive(Debug)]
struct MediaError(String);

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MediaError {}

/// Whether `err` is a read that failed with `EIO` (see [`Device::read_at`]).
pub fn is_media_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<MediaError>())
}

impl Device {
    /// Opens `path` read-only, or read-write when `write` is set.
    ///
    /// A writable open refuses a mounted device: it looks `path` up in
    /// `/proc/self/mounts`, and opens block devices with `O_EXCL`, which the
    /// kernel fails with `EBUSY` while anything (a mount, md, dm...) holds it.
    pub fn open(path: &Path, write: bool) -> io::Result<Self> {
        let meta = fs::metadata(path).map_err(|e| context("cannot open", path, e))?;
        let block = meta.file_type().is_block_device();
        if write {
            if let Some(dir) = mount_point(path)? {
                return Err(busy(path, &format!("is mounted on {}", dir.display())));
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(if write && block { libc::O_EXCL } else { 0 })
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EBUSY) => busy(path, "device is mounted or in use"),
                _ => context("cannot open", path, e),
            })?;
        // Seeking to the end gives the size of block devices and files alike.
        let size = (&file)
            .seek(SeekFrom::End(0))
            .map_err(|e| context("cannot get the size of", path, e))?;
        Ok(Device {
            file,
            path: path.to_owned(),
            size,
            fail: Vec::new(),
        })
    }

    /// Makes the reads that touch any of the byte ranges `bytes` fail with
    /// `EIO`, as reads of a bad block do on pmem: lets the tests exercise
    /// media errors on image files.
    pub fn fail_reads(&mut self, bytes: &[Range<u64>]) {
        self.fail.extend_from_slice(bytes);
    }

    /// The device's bad sectors, as byte ranges of the device: for a block
    /// device, its badblocks list in sysfs (for a partition, the part of
    /// its disk's list inside it); none for a file.
    pub fn bad_ranges(&self) -> io::Result<Vec<Range<u64>>> {
        let meta = self
            .file
            .metadata()
            .map_err(|e| context("cannot stat", &self.path, e))?;
        if !meta.file_type().is_block_device() {
            return Ok(Vec::new());
        }
        let rdev = meta.rdev();
        let dir = format!("/sys/dev/block/{}:{}", libc::major(rdev), libc::minor(rdev));
        sysfs_bad_ranges(Path::new(&dir), self.size)
    }

    /// The path the device was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads into `buf` from byte `offset`, stopping early only at the end of
    /// the device; returns the number of bytes read.  A read that fails
    /// with `EIO` is an error [`is_media_error`] recognizes.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let end = offset.saturating_add(buf.len() as u64);
        if self.fail.iter().any(|r| r.start < end && offset < r.end) {
            return Err(self.media_error(offset, io::Error::from_raw_os_error(libc::EIO)));
        }
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    return Err(self.media_error(offset + done as u64, e))
                }
                Err(e) => return Err(context("cannot read", &self.path, e)),
            }
        }
        Ok(done)
    }

    fn media_error(&self, offset: u64, err: io::Error) -> io::Error {
        let msg = format!(
            "cannot read {} at byte {offset}: {err}",
            self.path.display()
        );
        io::Error::new(err.kind(), MediaError(msg))
    }

    /// Writes all of `buf` at byte `offset`.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| context("cannot write", &self.path, e))
    }

    /// Reads the `SB_SIZE` bytes at `offset` and decodes and validates them
    /// against the device size. Returns the outer error on I/O failure; a
    /// device too small to hold them yields `SbError::Short`.
    pub fn read_sb(&self, offset: u64) -> io::Result<Result<SuperBlock, crate::SbError>> {
        let mut buf = [0u8; SB_SIZE];
        let n = self.read_at(offset, &mut buf)?;
        Ok(SuperBlock::parse(&buf[..n], self.size))
    }

    /// Encodes `sb` and writes it at `offset`.
    pub fn write_sb(&self, offset: u64, sb: &SuperBlock) -> io::Result<()> {
        let mut buf = [0u8; SB_SIZE];
        sb.encode(&mut buf);
        self.write_at(offset, &buf)
    }

    /// Flushes everything written to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| context("cannot sync", &self.path, e))
    }

    /// For a block device, `BLKFLSBUF`: writes back and drops its page
    /// cache, so that this process's next reads see what a DAX mount stored
    /// directly on the media since (and a mount sees what was written here);
    /// `blockdev --flushbufs` in the shell.  Nothing to do for a file.
    pub fn flush_buffers(&self) -> io::Result<()> {
        if !self.file.metadata()?.file_type().is_block_device() {
            return Ok(());
        }
        // _IO(0x12, 97) in linux/fs.h.
        const BLKFLSBUF: libc::Ioctl = 0x1261;
        // SAFETY: BLKFLSBUF takes no argument; the descriptor is open.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), BLKFLSBUF, 0) } != 0 {
            let err = io::Error::last_os_error();
            return Err(context("cannot flush the buffers of", &self.path, err));
        }
        Ok(())
    }
}

fn busy(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ResourceBusy,
        format!("{}: {why}", path.display()),
    )
}

/// Where `path` is mounted, if it is: a mount source in `/proc/self/mounts`
/// names the same file, or (for a block device) the same device number.
pub fn mount_point(path: &Path) -> io::Result<Option<PathBuf>> {
    let canon = fs::canonicalize(path).map_err(|e| context("cannot resolve", path, e))?;
    let meta = fs::metadata(&canon).map_err(|e| context("cannot stat", path, e))?;
    let rdev = meta.file_type().is_block_device().then(|| meta.rdev());
    let mounts = match fs::read("/proc/self/mounts") {
        Ok(m) => m,
        // No procfs (early boot, chroot): rely on O_EXCL alone.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(context("cannot read", Path::new("/proc/self/mounts"), e)),
    };
    let same = |source: &Path| {
        fs::canonicalize(source).is_ok_and(|p| p == canon)
            || rdev.is_some_and(|rdev| {
                fs::metadata(source)
                    .is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == rdev)
            })
    };
    Ok(mounts.split(|&c| c == b'\n').find_map(|line| {
        let mut fields = line.split(|&c| c == b' ');
        let (source, dir) = (unescape(fields.next()?), unescape(fields.next()?));
        (source.is_absolute() && same(&source)).then_some(dir)
    }))
}

/// Undoes the octal escapes (`\040` for a space...) of `/proc/self/mounts`.
fn unescape(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&c) = field.get(i) {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(d) if c == b'\\' => {
                out.push(d.iter().fold(0u8, |v, d| v.wrapping_mul(8) | (d - b'0')));
                i += 4;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

fn invalid(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

/// The bad byte ranges of the block device of `size` bytes whose sysfs
/// directory is `dir` (`/sys/dev/block/MAJ:MIN`, a link to it).  A
/// partition has no list of its own: it shares its disk's, whose sectors
/// count from the start of the disk.  No list: none.
fn sysfs_bad_ranges(dir: &Path, size: u64) -> io::Result<Vec<Range<u64>>> {
    let dir = match fs::canonicalize(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context("cannot resolve", dir, e)),
    };
    let (disk, start) = if dir.join("partition").exists() {
        let file = dir.join("start");
        let text = fs::read_to_string(&file).map_err(|e| context("cannot read", &file, e))?;
        let start = text
            .trim()
            .parse()
            .map_err(|_| invalid(&file, "not a sector number"))?;
        (dir.parent().unwrap_or(&dir), start)
    } else {
        (dir.as_path(), 0)
    };
    let list = disk.join("badblocks");
    match fs::read_to_string(&list) {
        Ok(text) => parse_bad_list(&text, start, size).map_err(|e| invalid(&list, &e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(context("cannot read", &list, e)),
    }
}

/// Reads the bad-sector list `path` (`fsck.daxfs -l`), in the format of
/// a badblocks list in sysfs, relative to a device of `size` bytes.
pub fn read_bad_list(path: &Path, size: u64) -> io::Result<Vec<Range<u64>>> {
    let text = fs::read_to_string(path).map_err(|e| context("cannot read", path, e))?;
    parse_bad_list(&text, 0, size).map_err(|e| invalid(path, &e))
}

/// The byte ranges of a badblocks list (lines `SECTOR [COUNT]` of 512-byte
/// sectors, COUNT 8 if left out as when writing one to sysfs; blank lines
/// and `#` comments skipped) inside the `size` bytes from sector `start`,
/// relative to that sector.
fn parse_bad_list(text: &str, start: u64, size: u64) -> Result<Vec<Range<u64>>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || format!("line {}: {line:?} is not SECTOR [COUNT]", i + 1);
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(sector)), count, None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad());
        };
        let count = match count {
            None => 8,
            Some(Ok(n)) if n > 0 => n,
            Some(_) => return Err(bad()),
        };
        let end = sector.checked_add(count).ok_or_else(bad)?;
        let byte = |s: u64| s.saturating_sub(start).saturating_mul(SECTOR).min(size);
        if byte(sector) < byte(end) {
            out.push(byte(sector)..byte(end));
        }
    }
    Ok(out)
}

/// Reads `N` random bytes from `/dev/urandom`.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut buf = [0u8; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| context("cannot read", Path::new("/dev/urandom"), e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_mounts_fields() {
        assert_eq!(unescape(br"/mnt/a\040b\134c"), Path::new(r"/mnt/a b\c"));
        assert_eq!(unescape(br"/dev/pmem0"), Path::new("/dev/pmem0"));
        assert_eq!(unescape(br"x\089"), Path::new(r"x\089"));
        assert_eq!(unescape(br"x\"), Path::new(r"x\"));
        assert_eq!(unescape(br"\+12\011"), Path::new("\\+12\t"));
    }

    #[test]
    fn bad_lists() {
        let list = "100 8\n\n  7 1 # a comment\n# only a comment\n4000\n";
        // 4000 (8 sectors by default) is past the end.
        assert_eq!(
            parse_bad_list(list, 0, 1 << 20),
            Ok(vec![51200..55296, 3584..4096])
        );
        assert_eq!(
            parse_bad_list(list, 0, 4 << 20).map(|v| v[2].clone()),
            Ok(2048000..2052096)
        );
        // Relative to a partition from sector 16, clipped to its 4096 bytes.
        assert_eq!(
            parse_bad_list("10 8\n20 100\n0 4\n", 16, 4096),
            Ok(vec![0..1024, 2048..4096])
        );
        for bad in ["x 1", "1 0", "1 2 3", "-1 2", "18446744073709551615 1"] {
            assert!(parse_bad_list(bad, 0, 4096).is_err(), "{bad}");
        }
    }

    #[test]
    fn partition_shares_its_disks_list() {
        let root = std::env::temp_dir().join(format!("daxfs-dev-sysfs-{}", std::process::id()));
        let part = root.join("pmem1").join("pmem1p2");
        fs::create_dir_all(&part).unwrap();
        fs::write(root.join("pmem1/badblocks"), "2048 8\n4104 16\n").unwrap();
        fs::write(part.join("partition"), "2\n").unwrap();
        fs::write(part.join("start"), "4096\n").unwrap();
        assert_eq!(sysfs_bad_ranges(&part, 1 << 20).unwrap(), vec![4096..12288]);
        assert_eq!(
            sysfs_bad_ranges(&root.join("pmem1"), 4 << 20).unwrap(),
            vec![1 << 20..(1 << 20) + 4096, 4104 * 512..4120 * 512]
        );
        assert_eq!(sysfs_bad_ranges(&root.join("none"), 4096).unwrap(), vec![]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn failed_reads_are_media_errors() {
        let path = std::env::temp_dir().join(format!("daxfs-dev-eio-{}", std::process::id()));
        fs::write(&path, [7u8; 16384]).unwrap();
        let mut dev = Device::open(&path, false).unwrap();
        dev.fail_reads(&[8192..8193]);
        let mut buf = [0u8; 4096];
        assert_eq!(dev.read_at(4096, &mut buf).unwrap(), 4096);
        let err = dev.read_at(8000, &mut buf).unwrap_err();
        assert!(is_media_error(&err), "{err}");
        assert_eq!(dev.bad_ranges().unwrap(), vec![]);
        let other = Device::open(&path.join("x"), false).unwrap_err();
        assert!(!is_media_error(&other));
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn image_file_size_reads_and_mounts() {
        let path = std::env::temp_dir().join(format!("daxfs-dev-test-{}", std::process::id()));
        fs::write(&path, [0u8; 8192]).unwrap();
        let dev = Device::open(&path, true).unwrap();
        assert_eq!(dev.size(), 8192);
        assert_eq!(mount_point(&path).unwrap(), None);
        let mut buf = [0u8; 100];
        assert_eq!(dev.read_at(8150, &mut buf).unwrap(), 42);
        fs::remove_file(&path).unwrap();
    }
}
