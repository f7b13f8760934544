// SPDX-License-Identifier: GPL-2.0
//! Device access shared by the tools: a block device or a regular image file.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::{SuperBlock, SB_SIZE};

/// An open device (or image file) and its size.
#[derive(Debug)]
pub struct Device {
    file: File,
    path: PathBuf,
    size: u64,
}

/// Wraps `err` with what was being done to which path.
fn context(what: &str, path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
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
        })
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
    /// the device; returns the number of bytes read.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(context("cannot read", &self.path, e)),
            }
        }
        Ok(done)
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
