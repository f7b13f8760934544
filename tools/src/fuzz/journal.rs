// SPDX-License-Identifier: GPL-2.0
//! Hostile journals: `committed_seq = applied_seq + 1` and a valid `tx_crc`
//! (the word at `STATE_TX`, [`tx_word`]) over records whose targets,
//! lengths or contents are hostile, or sequence numbers at their edges.
//! Mount must refuse the transaction without applying any of it, or replay
//! it and then cope with what it wrote.

use std::io;
use std::ops::Range;

use super::mutate::Ctx;
use super::{at, Touched};
use crate::image::Fs;
use crate::*;

const BS: u64 = BLOCK_SIZE as u64;
const STATE: u64 = STATE_BLOCK * BS;

/// Appends a record to `tx`: a header saying `dst` and `len` (which need not
/// be `data.len()`), `data`, zero padding to a multiple of 8.
fn push_record(tx: &mut Vec<u8>, dst: u64, len: u32, data: &[u8]) {
    tx.extend_from_slice(&RecordHeader { dst, len }.encode());
    tx.extend_from_slice(data);
    tx.resize(tx.len().next_multiple_of(8), 0);
}

/// The bytes where `a` and `b` differ, first to last.
fn diff(a: &[u8], b: &[u8]) -> Option<Range<usize>> {
    let first = a.iter().zip(b).position(|(x, y)| x != y)?;
    let last = a.iter().zip(b).rposition(|(x, y)| x != y)?;
    Some(first..last + 1)
}

/// The first `tx_len` bytes of the journal; `None` past its end.
fn tx_bytes(fs: &mut Fs, tx_len: u32) -> io::Result<Option<Vec<u8>>> {
    if u64::from(tx_len) > fs.geo.journal_bytes() {
        return Ok(None);
    }
    let mut bytes = vec![0; tx_len as usize];
    fs.img.read(at(fs.geo.journal_start), &mut bytes)?;
    Ok(Some(bytes))
}

/// Checks the committed transaction's CRC and, when it is one mount would
/// replay, replays it into the cache of `fs`.  False when the CRC does not
/// match (or cannot, `tx_len` being past the journal).
pub(super) fn verify_and_replay(fs: &mut Fs) -> io::Result<bool> {
    let Ok(state) = fs.state()? else {
        return Ok(false);
    };
    let geo = fs.geo;
    let Some(bytes) = tx_bytes(fs, state.tx_len)? else {
        return Ok(false);
    };
    if tx_crc(state.committed_seq, &bytes) != state.tx_crc {
        return Ok(false);
    }
    if let Ok(Some(tx)) = state.pending_transaction(&bytes, &geo) {
        for r in tx.records().flatten() {
            fs.img.write(r.dst, r.data)?;
        }
    }
    Ok(true)
}

impl Ctx<'_> {
    /// One hostile journal; false when the state block does not decode.
    pub(super) fn journal(&mut self) -> io::Result<bool> {
        let Ok(state) = self.fs.state()? else {
            return Ok(false);
        };
        let applied = state.applied_seq;
        match self.rng.below(10) {
            0..=2 => self.replay(applied, false),
            3 => self.replay(applied, true),
            4 | 5 => self.bad_target(applied),
            6 => self.bad_record(applied),
            7 => self.bad_tx_len(applied),
            8 => self.flood(applied),
            _ => self.sequence(applied),
        }
    }

    /// Writes the journal header words: the sequence numbers and the
    /// transaction word.
    fn header(&mut self, committed: u64, applied: u64, tx_len: u32, crc: u32) -> io::Result<()> {
        self.fs
            .img
            .write(STATE + STATE_COMMITTED as u64, &committed.to_le_bytes())?;
        self.fs
            .img
            .write(STATE + STATE_APPLIED as u64, &applied.to_le_bytes())?;
        self.fs
            .img
            .write(STATE + STATE_TX as u64, &tx_word(tx_len, crc).to_le_bytes())
    }

    /// Commits `tx` (as much as the journal holds) as transaction
    /// `applied + 1`, saying it is `tx_len` bytes long, with the CRC of
    /// that many journal bytes; a random one (noted as broken) when they
    /// are past the journal.
    fn commit(&mut self, applied: u64, tx: &[u8], tx_len: u32, what: String) -> io::Result<bool> {
        let geo = self.s.geo;
        let room = geo.journal_bytes() as usize;
        self.fs
            .img
            .write(at(geo.journal_start), tx.get(..room).unwrap_or(tx))?;
        let seq = applied.wrapping_add(1);
        let crc = match tx_bytes(self.fs, tx_len)? {
            Some(bytes) => tx_crc(seq, &bytes),
            None => {
                self.m.broken = true;
                self.rng.next_u64() as u32
            }
        };
        self.header(seq, applied, tx_len, crc)?;
        self.m
            .changes
            .insert(0, format!("journal: transaction {seq} committed, {what}"));
        self.m.touched.insert(0, Touched::Journal);
        Ok(true)
    }

    /// A structure mutation logged as a committed transaction (valid
    /// targets, hostile contents) instead of written in place; `torn` adds
    /// a last record that overwrites part of a mutated inode, so that its
    /// CRC fails once replayed.
    fn replay(&mut self, applied: u64, torn: bool) -> io::Result<bool> {
        if !self.retry(Self::structure)? {
            return Ok(false);
        }
        let changed = self.fs.img.take_dirty();
        let mut tx = Vec::new();
        for (n, new) in &changed {
            // Taken out of the cache: this reads what the device holds.
            let old = *self.fs.img.block(*n)?;
            if let Some(r) = diff(&old[..], &new[..]) {
                push_record(&mut tx, at(*n) + r.start as u64, r.len() as u32, &new[r]);
            }
        }
        let mut what = "replaying the change below".to_string();
        let inode = self.m.touched.iter().find_map(|t| match t {
            Touched::Inode(ino) => self.s.geo.inode_offset(*ino),
            _ => None,
        });
        if let (true, Some(offset)) = (torn, inode) {
            // The inode's size field as the record above leaves it,
            // inverted: the record is valid, the inode it leaves is not.
            let size_at = offset + 24;
            let block = changed.iter().find(|(n, _)| *n == size_at / BS);
            let pos = (size_at % BS) as usize;
            let size: [u8; 8] = block.map_or([0; 8], |(_, b)| {
                b.get(pos..pos + 8)
                    .and_then(|s| s.try_into().ok())
                    .unwrap_or([0; 8])
            });
            push_record(&mut tx, size_at, 8, &size.map(|b| !b));
            self.m.broken = true;
            what += ", then a record tearing its inode";
        }
        self.commit(applied, &tx, tx.len() as u32, what)
    }

    /// A record the format forbids (a superblock, the journal header or the
    /// journal itself, straddling two areas or a data block boundary, past
    /// the device, wrapping around), before or after a harmless one.
    fn bad_target(&mut self, applied: u64) -> io::Result<bool> {
        let g = self.s.geo;
        let targets: [(&str, u64, u32); 14] = [
            ("primary superblock", 0, 8),
            ("backup superblock", BS, 8),
            ("state journal header", STATE + STATE_COMMITTED as u64, 8),
            ("state tx word", STATE + STATE_TX as u64, 8),
            ("state header/body straddle", STATE + STATE_TX as u64 + 4, 8),
            ("journal area", at(g.journal_start), 16),
            ("inode/block bitmap straddle", at(g.bbitmap_start) - 4, 8),
            (
                "inode table end",
                at(g.itable_start + g.itable_blocks) - 8,
                16,
            ),
            ("data area start", at(g.data_start) - 8, 16),
            ("data block boundary", at(g.data_start) + BS - 8, 16),
            ("device end", at(g.blocks) - 8, 16),
            ("past the device", at(g.blocks), 8),
            ("wrapping", u64::MAX - 7, 8),
            ("last byte", u64::MAX, 1),
        ];
        let Some(&(name, dst, len)) = self.rng.pick(&targets) else {
            return Ok(false);
        };
        let data = vec![0xa5; len as usize];
        let mut tx = Vec::new();
        let harmless = self.harmless_record()?;
        let first = self.rng.chance(1, 2);
        if !first {
            push_record(&mut tx, harmless.0, 8, &harmless.1);
        }
        push_record(&mut tx, dst, len, &data);
        if first {
            push_record(&mut tx, harmless.0, 8, &harmless.1);
        }
        let what = format!("{len} bytes at {dst} ({name})");
        self.commit(applied, &tx, tx.len() as u32, what)
    }

    /// A record that rewrites 8 bytes of the inode bitmap as they are.
    fn harmless_record(&mut self) -> io::Result<(u64, [u8; 8])> {
        let dst = at(self.s.geo.ibitmap_start);
        let mut data = [0u8; 8];
        self.fs.img.read(dst, &mut data)?;
        Ok((dst, data))
    }

    /// A malformed record: length 0, past the maximum, past the
    /// transaction, nonzero pad field or padding.
    fn bad_record(&mut self, applied: u64) -> io::Result<bool> {
        let (dst, data) = self.harmless_record()?;
        let mut tx = Vec::new();
        let mut tx_len = None;
        let what = match self.rng.below(6) {
            0 => {
                push_record(&mut tx, dst, 0, &[]);
                "a record of length 0"
            }
            1 => {
                push_record(
                    &mut tx,
                    dst,
                    RECORD_MAX as u32 + 1,
                    &vec![0; RECORD_MAX + 1],
                );
                "a record one byte longer than a block"
            }
            2 => {
                push_record(&mut tx, dst, u32::MAX, &data);
                "a record of length 2^32-1"
            }
            3 => {
                push_record(&mut tx, dst, 16, &data);
                "a record running past the transaction"
            }
            4 => {
                push_record(&mut tx, dst, 8, &data);
                tx[12] = 1;
                "a record with a nonzero pad field"
            }
            _ => {
                push_record(&mut tx, dst, 5, &data[..5]);
                tx[RECORD_HEADER + 6] = 0xff;
                tx_len = Some(tx.len() as u32);
                "a record with nonzero padding"
            }
        };
        let tx_len = tx_len.unwrap_or(tx.len() as u32);
        self.commit(applied, &tx, tx_len, what.into())
    }

    /// A well-formed record with `tx_len` at an edge: 0 (an empty
    /// transaction), not a multiple of 8, cutting the record, running into
    /// stale journal bytes, the whole journal, past it.
    fn bad_tx_len(&mut self, applied: u64) -> io::Result<bool> {
        let (dst, data) = self.harmless_record()?;
        let mut tx = Vec::new();
        push_record(&mut tx, dst, 8, &data);
        let journal = self.s.geo.journal_bytes().min(u32::MAX.into()) as u32;
        let n = tx.len() as u32;
        let v = [
            0,
            4,
            n - 8,
            n + 8,
            journal,
            journal.wrapping_add(8),
            !7,
            u32::MAX,
        ];
        let tx_len = self.rng.pick_new(n, &v);
        self.commit(
            applied,
            &tx,
            tx_len,
            format!("tx_len {tx_len} for {n} bytes of records"),
        )
    }

    /// Up to a journal full of one-byte records, each rewriting a byte of
    /// the inode bitmap as it is (replay cost, nothing else).
    fn flood(&mut self, applied: u64) -> io::Result<bool> {
        let g = self.s.geo;
        let max = (g.journal_bytes() / record_size(1) as u64).min(100_000) as usize;
        let count = self.rng.pick_new(0, &[1000, 10_000, max]).min(max);
        let bitmap = self.fs.read_area(g.ibitmap_start, g.ibitmap_blocks)?;
        let mut tx = Vec::with_capacity(count * record_size(1));
        for (i, byte) in bitmap.iter().cycle().take(count).enumerate() {
            let offset = (i % bitmap.len()) as u64;
            push_record(&mut tx, at(g.ibitmap_start) + offset, 1, &[*byte]);
        }
        self.commit(
            applied,
            &tx,
            tx.len() as u32,
            format!("{count} one-byte records"),
        )
    }

    /// Sequence numbers at their edges: both at the largest value (the next
    /// commit overflows), a gap, committed behind applied, committed
    /// wrapping to 0, a pending transaction numbered 2^64-1.
    fn sequence(&mut self, applied: u64) -> io::Result<bool> {
        let options = [
            (u64::MAX, u64::MAX),
            (u64::MAX - 1, u64::MAX - 1),
            (applied.wrapping_add(2), applied),
            (applied.wrapping_sub(1), applied),
            (0, u64::MAX),
        ];
        let pick = self.rng.below(options.len() + 1);
        let Some(&(committed, new_applied)) = options.get(pick) else {
            let (dst, data) = self.harmless_record()?;
            let mut tx = Vec::new();
            push_record(&mut tx, dst, 8, &data);
            return self.commit(u64::MAX - 1, &tx, tx.len() as u32, "applied 2^64-2".into());
        };
        self.header(committed, new_applied, 0, 0)?;
        self.m.changes.push(format!(
            "journal: committed_seq {committed}, applied_seq {new_applied} (was {applied}), no records"
        ));
        self.m.touched.push(Touched::State);
        Ok(true)
    }
}
