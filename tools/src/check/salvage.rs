// SPDX-License-Identifier: GPL-2.0
//! Salvaging a directory block record by record (`fsck -y`).
//!
//! A record is kept when its header and name can be read: a wrong name hash
//! is recomputed, a file type that is no `DT_*` is set to `DT_REG` (the
//! walk then sets the type its inode has), a record length that does not
//! reach the next readable record is stretched or cut to it.  What cannot
//! be read becomes free space (an unused record) up to the next record that
//! parses whole, found at any 8-byte boundary.  The inodes that lose their
//! name that way are reconnected into `/lost+found` by the link check.

use crate::image::Block;
use crate::*;

const BS: usize = BLOCK_SIZE as usize;

/// One record read leniently.
struct Rec<'a> {
    ino: u64,
    rec_len: usize,
    file_type: u8,
    name: &'a [u8],
    /// The stored hash is `name_hash(name)`.
    hash_ok: bool,
}

fn u16_at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |x| usize::from(u16::from_le_bytes([x[0], x[1]])))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(x) = b.get(at..at + 4) {
        w.copy_from_slice(x);
    }
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(x) = b.get(at..at + 8) {
        w.copy_from_slice(x);
    }
    u64::from_le_bytes(w)
}

/// The record at `pos` as its header says, if its length fits the block
/// (`None` otherwise) and, for a used record, its name is valid (`None`).
fn read(block: &[u8], pos: usize) -> Option<Rec<'_>> {
    let rec_len = u16_at(block, pos + 8);
    let ino = u64_at(block, pos);
    let name_len = usize::from(*block.get(pos + 10)?);
    let fits = |len: usize| len >= DIR_REC_HEADER && len % 8 == 0 && pos + len <= BS;
    if ino == 0 {
        return fits(rec_len).then_some(Rec {
            ino,
            rec_len,
            file_type: DT_UNKNOWN,
            name: &[],
            hash_ok: true,
        });
    }
    let name = block.get(pos + DIR_REC_HEADER..pos + DIR_REC_HEADER + name_len)?;
    if !valid_name(name) {
        return None;
    }
    Some(Rec {
        ino,
        rec_len,
        file_type: *block.get(pos + 11)?,
        name,
        hash_ok: u32_at(block, pos + 12) == name_hash(name),
    })
}

/// Whether a whole, valid used record starts at `pos` (an anchor to resume
/// at after unreadable bytes).
fn anchor(block: &[u8], pos: usize) -> bool {
    read(block, pos).is_some_and(|r| {
        r.ino != 0
            && r.hash_ok
            && valid_dt(r.file_type)
            && r.rec_len >= dir_rec_len(r.name.len())
            && r.rec_len % 8 == 0
            && pos + r.rec_len <= BS
    })
}

/// The records from `q` to the block's end (their offsets), if each reads
/// (a used one with a valid name) with a valid length and the last ends
/// exactly at the block's end.
fn chain(block: &[u8], q: usize) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut pos = q;
    while pos < BS {
        let r = read(block, pos)?;
        // Hashes and types are what the salvage mends: only the lengths
        // must hold.
        let len_ok = r.rec_len >= dir_rec_len(r.name.len()) && r.rec_len % 8 == 0 && pos + r.rec_len <= BS;
        if !len_ok {
            return None;
        }
        out.push(pos);
        pos += r.rec_len;
    }
    (pos == BS).then_some(out)
}

/// Where to resume after unreadable bytes at `pos`: the first record after
/// it from which readable records lead exactly to the block's end (a lone
/// plausible header is not enough), or the block's end.
///
/// A deleted entry stays in the free space of the record before it, with a
/// length leading on into the live records: when that record's length is
/// what was damaged, nothing tells the deleted entry from a live one, and
/// it comes back (as with e2fsck): its inode, if free, loses the entry
/// again, and if in use gets one more link (its count is set to match).
fn resume(block: &[u8], pos: usize) -> usize {
    (pos + 8..BS)
        .step_by(8)
        .find(|&q| anchor(block, q) && chain(block, q).is_some())
        .unwrap_or(BS)
}

/// `block` rebuilt as the module describes it, with one line per fault
/// (offset, what was wrong, what was done); `None` when every record
/// parses.
pub(super) fn dir_block(block: &Block) -> Option<(Box<Block>, Vec<String>)> {
    if dir_records(&block[..]).all(|r| r.is_ok()) {
        return None;
    }
    let mut out = Box::new([0u8; BS]);
    let mut msgs = Vec::new();
    let mut pos = 0;
    while pos < BS {
        let next = || resume(&block[..], pos);
        let (ino, rec_len, file_type, name) = match read(&block[..], pos) {
            // An unused record keeps its length: what it covers was deleted.
            Some(r) if r.ino == 0 => (0, r.rec_len, DT_UNKNOWN, r.name),
            Some(r) => {
                let mut fixes = Vec::new();
                let need = dir_rec_len(r.name.len());
                let rec_len = if r.rec_len >= need && r.rec_len % 8 == 0 && pos + r.rec_len <= BS {
                    r.rec_len
                } else {
                    // Up to the next readable record (or the block's end).
                    fixes.push("bad record length");
                    let end = next();
                    if end - pos < need {
                        msgs.push(format!("offset {pos}: unreadable record; {} bytes made free", end - pos));
                        let _ = encode_dir_record(&mut out[pos..], 0, end - pos, DT_UNKNOWN, &[]);
                        pos = end;
                        continue;
                    }
                    end - pos
                };
                if !r.hash_ok {
                    fixes.push("name hash mismatch");
                }
                let mut file_type = r.file_type;
                if !valid_dt(file_type) {
                    fixes.push("bad file type");
                    file_type = DT_REG;
                }
                if !fixes.is_empty() {
                    msgs.push(format!(
                        "offset {pos}: {}; entry '{}' kept",
                        fixes.join(", "),
                        String::from_utf8_lossy(r.name)
                    ));
                }
                (r.ino, rec_len, file_type, r.name)
            }
            None => {
                let end = next();
                msgs.push(format!(
                    "offset {pos}: unreadable record; {} bytes made free",
                    end - pos
                ));
                (0, end - pos, DT_UNKNOWN, &[][..])
            }
        };
        // Cannot fail: the length fits the block and the name was checked.
        if encode_dir_record(&mut out[pos..], ino, rec_len, file_type, name).is_err() {
            let _ = encode_dir_record(&mut out[pos..], 0, BS - pos, DT_UNKNOWN, &[]);
            break;
        }
        pos += rec_len;
    }
    Some((out, msgs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_with(recs: &[(u64, &[u8])]) -> Box<Block> {
        let mut b = Box::new([0u8; BS]);
        let mut pos = 0;
        for (i, (ino, name)) in recs.iter().enumerate() {
            let len = if i + 1 == recs.len() {
                BS - pos
            } else {
                dir_rec_len(name.len())
            };
            encode_dir_record(&mut b[pos..], *ino, len, DT_REG, name).unwrap();
            pos += len;
        }
        b
    }

    fn names(b: &Block) -> Vec<(u64, Vec<u8>)> {
        dir_records(&b[..])
            .map(|r| r.unwrap())
            .filter(|r| r.ino != 0)
            .map(|r| (r.ino, r.name.to_vec()))
            .collect()
    }

    #[test]
    fn a_valid_block_is_left_alone() {
        assert!(dir_block(&block_with(&[(5, b"a"), (6, b"bb")])).is_none());
    }

    #[test]
    fn a_bad_hash_is_recomputed() {
        let mut b = block_with(&[(5, b"abc"), (6, b"def")]);
        b[12] ^= 1;
        let (out, msgs) = dir_block(&b).unwrap();
        assert_eq!(names(&out), vec![(5, b"abc".to_vec()), (6, b"def".to_vec())]);
        assert!(msgs[0].contains("name hash mismatch"), "{msgs:?}");
    }

    #[test]
    fn a_bad_length_is_cut_to_the_next_record() {
        let mut b = block_with(&[(5, b"abc"), (6, b"def"), (7, b"ghi")]);
        b[8] = 0xff;
        b[9] = 0x0f;
        let (out, _) = dir_block(&b).unwrap();
        assert_eq!(names(&out).len(), 3);
    }

    #[test]
    fn garbage_becomes_free_space_up_to_the_next_record() {
        let mut b = block_with(&[(5, b"abc"), (6, b"def"), (7, b"ghi")]);
        b[..24].fill(0xff);
        let (out, msgs) = dir_block(&b).unwrap();
        assert_eq!(names(&out), vec![(6, b"def".to_vec()), (7, b"ghi".to_vec())]);
        assert!(msgs[0].contains("made free"), "{msgs:?}");
        // Salvaged once, the block parses.
        assert!(dir_block(&out).is_none());
    }

    #[test]
    fn records_after_a_bad_length_are_kept_with_their_own_faults_mended() {
        let mut b = block_with(&[(5, b"abc"), (6, b"def"), (7, b"ghi"), (8, b"jkl")]);
        let second = dir_rec_len(3);
        b[second + 8] = 0xff; // bad length on the 2nd
        b[3 * second + 12] ^= 1; // bad hash on the 4th
        let (out, msgs) = dir_block(&b).unwrap();
        let inos: Vec<u64> = names(&out).iter().map(|r| r.0).collect();
        assert_eq!(inos, vec![5, 6, 7, 8], "{msgs:?}");
    }

    #[test]
    fn a_zeroed_block_becomes_empty() {
        let (out, _) = dir_block(&Box::new([0u8; BS])).unwrap();
        assert!(names(&out).is_empty());
        assert!(dir_block(&out).is_none());
    }
}
