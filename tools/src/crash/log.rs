// SPDX-License-Identifier: GPL-2.0
//! The recorder's log (rust/kfs/record.rs): the persistence events of the
//! recorded filesystem, in order.

use std::io;

/// One persistence event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Metadata bytes stored with non-temporal stores (`DaxDevice::write`).
    Write { off: u64, data: Vec<u8> },
    /// Bytes zeroed and written back (`DaxDevice::zero`).
    Zero { off: u64, len: u64 },
    /// Cache lines written back (`DaxDevice::flush`).
    Flush { off: u64, len: u64 },
    /// Store fence: everything before it is durable.
    Fence,
    /// A marker from the workload, with the stores not yet fenced then.
    Mark { value: u64, unfenced: u64 },
    /// File data the DAX engine stored (`write(2)`, zeroing).
    Data { off: u64, data: Vec<u8> },
    /// The module's debug assertion failed: `stores` metadata stores were
    /// not fenced at `at`.
    Assert { stores: u64, at: String },
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "recorder log: truncated record")
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let s = self.b.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
}

/// Decodes a whole log.
pub fn parse(b: &[u8]) -> io::Result<Vec<Event>> {
    let mut r = Reader { b, pos: 0 };
    let mut out = Vec::new();
    while r.pos < b.len() {
        let kind = r.take(1)?[0];
        out.push(match kind {
            1 | 6 => {
                let off = r.u64()?;
                let len = r.u32()? as usize;
                let data = r.take(len)?.to_vec();
                if kind == 1 {
                    Event::Write { off, data }
                } else {
                    Event::Data { off, data }
                }
            }
            2 => Event::Zero { off: r.u64()?, len: r.u64()? },
            3 => Event::Flush { off: r.u64()?, len: r.u64()? },
            4 => Event::Fence,
            7 => {
                let stores = r.u64()?;
                let len = r.u32()? as usize;
                let at = String::from_utf8_lossy(r.take(len)?).into_owned();
                Event::Assert { stores, at }
            }
            5 => Event::Mark { value: r.u64()?, unfenced: r.u64()? },
            k => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("recorder log: unknown record kind {k} at byte {}", r.pos - 1),
                ))
            }
        });
    }
    Ok(out)
}
