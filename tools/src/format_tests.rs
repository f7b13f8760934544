// SPDX-License-Identifier: GPL-2.0
//! Unit tests of the on-disk format (`fs/format.rs`).

extern crate std;

use std::vec::Vec;

use crate::*;

const BS: usize = BLOCK_SIZE as usize;
const BS64: u64 = BLOCK_SIZE as u64;
const DEV_BLOCKS: u64 = 16384;
const DEV_BYTES: u64 = DEV_BLOCKS * BS64;
const MIB: u64 = 1 << 20;

/// xorshift64: deterministic pseudo-random input for the no-panic loops.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn fill(&mut self, b: &mut [u8]) {
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let mut v = std::vec![0u8; self.below(max as u64 + 1) as usize];
        self.fill(&mut v);
        v
    }

    /// Flips a few random bytes.
    fn mutate(&mut self, b: &mut [u8]) {
        for _ in 0..1 + self.below(4) {
            if !b.is_empty() {
                let i = self.below(b.len() as u64) as usize;
                b[i] ^= 1 << self.below(8);
            }
        }
    }
}

fn geo() -> Geometry {
    Geometry::new(
        DEV_BLOCKS,
        default_inodes(DEV_BLOCKS),
        JOURNAL_BLOCKS_DEFAULT,
    )
    .unwrap()
}

// ---------------------------------------------------------------- superblock

fn sample() -> SuperBlock {
    let mut label = [0u8; LABEL_LEN];
    label[..4].copy_from_slice(b"test");
    SuperBlock::new(&geo(), [7; 16], label, 1_700_000_000)
}

fn encode(sb: &SuperBlock) -> [u8; SB_SIZE] {
    let mut buf = [0u8; SB_SIZE];
    sb.encode(&mut buf);
    buf
}

/// Recomputes the checksum after raw edits, as a corruption that kept the
/// checksum consistent (or a buggy writer) would.
fn reseal(buf: &mut [u8; SB_SIZE]) {
    let sum = crc32c(&buf[..SB_SIZE - 4]);
    buf[SB_SIZE - 4..].copy_from_slice(&sum.to_le_bytes());
}

/// Encodes `sb` as is (even if invalid) and parses it back.
fn parse_modified(f: impl FnOnce(&mut SuperBlock)) -> Result<SuperBlock, SbError> {
    let mut sb = sample();
    f(&mut sb);
    SuperBlock::parse(&encode(&sb), DEV_BYTES)
}

#[test]
fn crc32c_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(b""), 0);
    assert_eq!(
        crc32c_append(crc32c(b"1234"), b"56789"),
        crc32c(b"123456789")
    );
    assert_eq!(crc32c_append(0, b"123456789"), crc32c(b"123456789"));
}

/// The slicing-by-8 CRC against a bit-at-a-time definition, for every
/// length 0..200 (whole words, remainders), seeds and start offsets.
#[test]
fn crc32c_matches_bitwise_definition() {
    fn bitwise(crc: u32, data: &[u8]) -> u32 {
        let mut c = !crc;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            }
        }
        !c
    }
    let data: Vec<u8> = (0..211u32).map(|i| (i.wrapping_mul(97) ^ (i >> 3)) as u8).collect();
    for start in 0..8 {
        for len in 0..200 {
            let d = &data[start..start + len];
            for seed in [0, 0xdead_beef, crc32c(b"seed")] {
                assert_eq!(crc32c_append(seed, d), bitwise(seed, d), "start {start} len {len} seed {seed:#x}");
            }
        }
    }
}

#[test]
fn sb_roundtrip_and_v1_offsets() {
    let sb = sample();
    let buf = encode(&sb);
    assert_eq!(&buf[..8], b"DAXFS1\0\0");
    assert_eq!(buf[8], 2);
    assert_eq!(
        u64::from_le_bytes(buf[24..32].try_into().unwrap()),
        DEV_BLOCKS
    );
    assert_eq!(
        u64::from_le_bytes(buf[32..40].try_into().unwrap()),
        sb.data_start
    );
    assert_eq!(
        u64::from_le_bytes(buf[40..48].try_into().unwrap()),
        sb.inodes
    );
    assert_eq!(
        u64::from_le_bytes(buf[48..56].try_into().unwrap()),
        ROOT_INO
    );
    assert_eq!(&buf[64..80], &[7; 16]);
    assert_eq!(&buf[80..84], b"test");
    assert_eq!(
        u64::from_le_bytes(buf[144..152].try_into().unwrap()),
        JOURNAL_START
    );
    assert_eq!(u32::from_le_bytes(buf[208..212].try_into().unwrap()), 256);
    assert_eq!(SuperBlock::decode(&buf), Ok(sb));
    assert_eq!(SuperBlock::parse(&buf, DEV_BYTES), Ok(sb));
    assert_eq!(sb.geometry(), geo());
    // A longer buffer (a whole block) decodes the same.
    let mut block = [0xffu8; BS];
    block[..SB_SIZE].copy_from_slice(&buf);
    assert_eq!(SuperBlock::decode(&block), Ok(sb));
}

#[test]
fn sb_accessors() {
    let sb = sample();
    assert_eq!(sb.label_bytes(), b"test");
    assert_eq!(sb.free_blocks(), DEV_BLOCKS - sb.data_start);
    let full = SuperBlock {
        label: [b'x'; LABEL_LEN],
        ..sb
    };
    assert_eq!(full.label_bytes().len(), LABEL_LEN);
    assert_eq!(default_inodes(MIN_BLOCKS), MIN_BLOCKS / 4);
    assert_eq!(default_inodes(5000), 1248);
    assert_eq!(default_inodes(0), 64);
    assert_eq!(default_inodes(u64::MAX) % INODES_PER_BLOCK, 0);
}

#[test]
fn sb_short() {
    let buf = encode(&sample());
    assert_eq!(SuperBlock::decode(&buf[..SB_SIZE - 1]), Err(SbError::Short));
    assert_eq!(SuperBlock::decode(&[]), Err(SbError::Short));
}

#[test]
fn sb_bad_magic() {
    let mut buf = encode(&sample());
    buf[0] ^= 1;
    assert_eq!(SuperBlock::decode(&buf), Err(SbError::BadMagic));
    assert_eq!(SuperBlock::decode(&[0; SB_SIZE]), Err(SbError::BadMagic));
}

#[test]
fn sb_bad_checksum() {
    for offset in [8, 24, 100, 150, 300, SB_SIZE - 1] {
        let mut buf = encode(&sample());
        buf[offset] ^= 0x10;
        assert_eq!(
            SuperBlock::decode(&buf),
            Err(SbError::BadChecksum),
            "byte {offset}"
        );
    }
}

#[test]
fn sb_bad_version() {
    assert_eq!(
        parse_modified(|sb| sb.version = 1),
        Err(SbError::BadVersion)
    );
    assert_eq!(
        parse_modified(|sb| sb.version = 3),
        Err(SbError::BadVersion)
    );
}

#[test]
fn sb_bad_block_size() {
    assert_eq!(
        parse_modified(|sb| sb.block_size = 8192),
        Err(SbError::BadBlockSize)
    );
}

#[test]
fn sb_flags_and_features() {
    assert_eq!(parse_modified(|sb| sb.flags = 1), Err(SbError::BadFlags));
    assert_eq!(parse_modified(|sb| sb.flags = !0), Err(SbError::BadFlags));
    assert_eq!(parse_modified(|sb| sb.features = 1), Err(SbError::BadFlags));
}

#[test]
fn sb_nonzero_reserved_bytes() {
    for offset in [20, 23, 216, 300, SB_SIZE - 5] {
        let mut buf = encode(&sample());
        buf[offset] = 1;
        reseal(&mut buf);
        assert_eq!(
            SuperBlock::decode(&buf),
            Err(SbError::BadFlags),
            "byte {offset}"
        );
    }
}

#[test]
fn sb_bad_size() {
    assert_eq!(
        parse_modified(|sb| sb.blocks = MIN_BLOCKS - 1),
        Err(SbError::BadSize)
    );
    assert_eq!(parse_modified(|sb| sb.blocks = 0), Err(SbError::BadSize));
    assert_eq!(
        parse_modified(|sb| sb.blocks = DEV_BLOCKS + 1),
        Err(SbError::BadSize)
    );
    let mut sb = sample();
    assert_eq!(sb.validate(DEV_BYTES - 1), Err(SbError::BadSize));
    assert_eq!(sb.validate(0), Err(SbError::BadSize));
    sb.blocks = MAX_BLOCKS + 1;
    assert_eq!(sb.validate(u64::MAX), Err(SbError::BadSize));
    sb.blocks = u64::MAX;
    assert_eq!(sb.validate(u64::MAX), Err(SbError::BadSize));
}

#[test]
fn sb_size_limits_accepted() {
    for blocks in [MIN_BLOCKS, MAX_BLOCKS] {
        let g = Geometry::new(blocks, default_inodes(blocks), JOURNAL_BLOCKS_DEFAULT).unwrap();
        let sb = SuperBlock::new(&g, [0; 16], [0; LABEL_LEN], 0);
        assert_eq!(sb.validate(blocks * BS64), Ok(()));
        assert_eq!(sb.validate(blocks * BS64 - 1), Err(SbError::BadSize));
    }
}

#[test]
fn sb_bad_layout() {
    let cases: [fn(&mut SuperBlock); 14] = [
        |sb| sb.data_start += DATA_ALIGN_BLOCKS,
        |sb| sb.data_start -= 1,
        |sb| sb.root_ino = ROOT_INO + 1,
        |sb| sb.inodes = 0,
        |sb| sb.inodes += 1,
        |sb| sb.inodes += 16, // valid count, but the areas no longer match it
        |sb| sb.inode_size = 128,
        |sb| sb.journal_start = 4,
        |sb| sb.journal_blocks = JOURNAL_BLOCKS_MIN - 1,
        |sb| sb.ibitmap_start += 1,
        |sb| sb.ibitmap_blocks += 1,
        |sb| sb.bbitmap_start -= 1,
        |sb| sb.bbitmap_blocks = 0,
        |sb| sb.itable_blocks += 1,
    ];
    for (i, case) in cases.into_iter().enumerate() {
        assert_eq!(parse_modified(case), Err(SbError::BadLayout), "case {i}");
    }
    assert_eq!(
        parse_modified(|sb| sb.itable_start += 1),
        Err(SbError::BadLayout)
    );
}

#[test]
fn sb_error_classes() {
    use SbError::*;
    for e in [Short, BadMagic, BadVersion] {
        assert!(!e.is_corruption(), "{e:?}");
    }
    for e in [BadChecksum, BadBlockSize, BadFlags, BadSize, BadLayout] {
        assert!(e.is_corruption(), "{e:?}");
        assert!(!e.describe().is_empty());
    }
}

#[test]
fn sb_garbage_never_panics() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let valid = encode(&sample());
    let mut decoded = 0;
    for round in 0..20_000 {
        let mut buf = [0u8; SB_SIZE];
        let dense = if round % 2 == 0 { 216 } else { SB_SIZE };
        rng.fill(&mut buf[..dense]);
        let _ = SuperBlock::parse(&buf, rng.next());
        buf[..8].copy_from_slice(&MAGIC.to_le_bytes());
        buf[8..12].copy_from_slice(&VERSION.to_le_bytes());
        buf[20..24].fill(0);
        if round % 4 < 2 {
            buf = valid;
            rng.mutate(&mut buf[..216]);
        }
        reseal(&mut buf);
        if let Ok(sb) = SuperBlock::decode(&buf) {
            assert_eq!(encode(&sb), buf);
            let _ = sb.validate(rng.next());
            let _ = sb.validate(DEV_BYTES);
            decoded += 1;
        }
        let cut = rng.below(SB_SIZE as u64) as usize;
        assert_eq!(SuperBlock::decode(&buf[..cut]), Err(SbError::Short));
    }
    assert!(decoded >= 5_000, "{decoded}");
}

// ------------------------------------------------------------------ geometry

fn assert_sane(g: &Geometry) {
    assert_eq!(g.journal_start, JOURNAL_START);
    assert_eq!(g.ibitmap_start, g.journal_start + g.journal_blocks);
    assert_eq!(g.bbitmap_start, g.ibitmap_start + g.ibitmap_blocks);
    assert_eq!(g.itable_start, g.bbitmap_start + g.bbitmap_blocks);
    assert!(g.ibitmap_blocks * BITS_PER_BLOCK >= g.inodes);
    assert!((g.ibitmap_blocks - 1) * BITS_PER_BLOCK < g.inodes);
    assert!(g.bbitmap_blocks * BITS_PER_BLOCK >= g.blocks);
    assert!((g.bbitmap_blocks - 1) * BITS_PER_BLOCK < g.blocks);
    assert_eq!(g.itable_blocks * INODES_PER_BLOCK, g.inodes);
    let end = g.itable_start + g.itable_blocks;
    assert_eq!(g.data_start % DATA_ALIGN_BLOCKS, 0);
    assert!(g.data_start >= end && g.data_start - end < DATA_ALIGN_BLOCKS);
    assert!(g.data_start < g.blocks);
    assert_eq!(g.data_blocks(), g.blocks - g.data_start);
}

#[test]
fn geometry_sizes() {
    for bytes in [
        16 * MIB,
        64 * MIB,
        1 << 30,
        2 << 30,
        1 << 40,
        MAX_BLOCKS * BS64,
    ] {
        let blocks = bytes / BS64;
        for journal in [
            JOURNAL_BLOCKS_MIN,
            JOURNAL_BLOCKS_DEFAULT,
            (blocks / 8).min(JOURNAL_BLOCKS_MAX),
        ] {
            let g = Geometry::new(blocks, default_inodes(blocks), journal).unwrap();
            assert_sane(&g);
            let sb = SuperBlock::new(&g, [0; 16], [0; LABEL_LEN], 0);
            assert_eq!(sb.validate(bytes), Ok(()), "{bytes} {journal}");
        }
    }
    let g = Geometry::new(
        MIN_BLOCKS,
        default_inodes(MIN_BLOCKS),
        JOURNAL_BLOCKS_DEFAULT,
    )
    .unwrap();
    assert_eq!(
        (g.ibitmap_start, g.bbitmap_start, g.itable_start),
        (259, 260, 261)
    );
    assert_eq!((g.itable_blocks, g.data_start), (64, 512));
    // 2 GiB: 131072 inodes, 4 + 16 bitmap blocks, 8192 inode table blocks.
    let g = Geometry::new(1 << 19, default_inodes(1 << 19), JOURNAL_BLOCKS_DEFAULT).unwrap();
    assert_eq!(
        (g.inodes, g.ibitmap_blocks, g.bbitmap_blocks),
        (131072, 4, 16)
    );
    assert_eq!((g.itable_blocks, g.data_start), (8192, 8704));
    // 1 TiB.
    let g = Geometry::new(1 << 28, default_inodes(1 << 28), JOURNAL_BLOCKS_DEFAULT).unwrap();
    assert_eq!(
        (g.ibitmap_blocks, g.bbitmap_blocks, g.itable_blocks),
        (2048, 8192, 1 << 22)
    );
    assert_eq!(g.data_start, 4_205_056); // 3 + 256 + 2048 + 8192 + 2^22 = 4_204_803, rounded up
                                         // The fewest inodes, the largest journal that fits the smallest size.
    assert_sane(&Geometry::new(MIN_BLOCKS, 16, JOURNAL_BLOCKS_DEFAULT).unwrap());
    assert_sane(&Geometry::new(MIN_BLOCKS, 16, MIN_BLOCKS - 512 - 6).unwrap());
}

#[test]
fn geometry_errors() {
    use GeoError::*;
    let j = JOURNAL_BLOCKS_DEFAULT;
    assert_eq!(Geometry::new(MIN_BLOCKS - 1, 64, j), Err(BadBlocks));
    assert_eq!(Geometry::new(MAX_BLOCKS + 1, 64, j), Err(BadBlocks));
    assert_eq!(Geometry::new(0, 64, j), Err(BadBlocks));
    for inodes in [0, 1, 15, 17, 1000] {
        assert_eq!(
            Geometry::new(MIN_BLOCKS, inodes, j),
            Err(BadInodes),
            "{inodes}"
        );
    }
    for journal in [0, JOURNAL_BLOCKS_MIN - 1, JOURNAL_BLOCKS_MAX + 1, u64::MAX] {
        assert_eq!(Geometry::new(MIN_BLOCKS, 64, journal), Err(BadJournal));
    }
    assert_eq!(
        Geometry::new(MIN_BLOCKS, 16, MIN_BLOCKS - 512 - 5),
        Err(NoRoom)
    );
    assert_eq!(Geometry::new(MIN_BLOCKS, MIN_BLOCKS * 16, j), Err(NoRoom));
    assert_eq!(
        Geometry::new(MAX_BLOCKS, u64::MAX / 16 * 16, j),
        Err(NoRoom)
    );
    assert_eq!(
        Geometry::new(MAX_BLOCKS, u64::MAX - 15, JOURNAL_BLOCKS_MAX),
        Err(NoRoom)
    );
    for e in [BadBlocks, BadInodes, BadJournal, NoRoom] {
        assert!(!e.describe().is_empty());
    }
}

#[test]
fn geometry_inode_offsets_and_data() {
    let g = geo();
    let table = g.itable_start * BS64;
    assert_eq!(g.inode_offset(0), None);
    assert_eq!(g.inode_offset(1), Some(table));
    assert_eq!(g.inode_offset(17), Some(table + BS64));
    assert_eq!(g.inode_offset(g.inodes), Some(table + (g.inodes - 1) * 256));
    assert_eq!(g.inode_offset(g.inodes + 1), None);
    assert_eq!(g.inode_offset(u64::MAX), None);
    assert!(g.is_data(g.data_start, g.data_blocks()));
    assert!(!g.is_data(g.data_start - 1, 1));
    assert!(!g.is_data(g.blocks - 1, 2));
    assert!(!g.is_data(g.data_start, u64::MAX));
    assert!(!g.is_data(u64::MAX, 1));
}

#[test]
fn record_targets() {
    let g = geo();
    let state = STATE_BLOCK * BS64;
    let ok = |dst: u64, len: usize| g.record_target_ok(dst, len);
    assert!(ok(
        state + STATE_JOURNALED as u64,
        STATE_SIZE - STATE_JOURNALED
    ));
    assert!(ok(state + 32, BS - 32));
    assert!(!ok(state + 24, 8), "journal header");
    assert!(!ok(state, 8), "state magic");
    assert!(!ok(state + 32, BS - 31), "past the state block");
    assert!(!ok(0, 8) && !ok(SB_BACKUP_OFFSET, 8), "superblocks");
    assert!(!ok(g.journal_start * BS64, 8), "journal");
    assert!(ok(g.ibitmap_start * BS64, 1));
    assert!(ok(g.bbitmap_start * BS64, 4096));
    assert!(
        !ok(g.bbitmap_start * BS64 + 100, 4096),
        "one bitmap block here"
    );
    assert!(ok(g.itable_start * BS64, 256));
    assert!(ok((g.itable_start + g.itable_blocks) * BS64 - 256, 256));
    assert!(!ok((g.itable_start + g.itable_blocks) * BS64 - 256, 257));
    assert!(ok(g.data_start * BS64, BS));
    assert!(ok((g.blocks - 1) * BS64 + 4000, 96));
    assert!(!ok((g.blocks - 1) * BS64 + 4000, 97), "past the end");
    assert!(!ok(g.data_start * BS64 + 8, BS), "crosses a data block");
    assert!(!ok(g.data_start * BS64, 0));
    assert!(!ok(g.data_start * BS64, BS + 1));
    assert!(!ok(u64::MAX - 3, 8));
}

// --------------------------------------------------------------------- state

fn state_sample() -> StateBlock {
    StateBlock {
        committed_seq: 7,
        applied_seq: 6,
        tx_len: 48,
        tx_crc: 0x1234_5678,
        orphan_head: 9,
        clean: false,
        free_blocks: 1000,
        free_inodes: 99,
    }
}

fn encode_state(s: &StateBlock) -> [u8; STATE_SIZE] {
    let mut b = [0u8; STATE_SIZE];
    s.encode(&mut b);
    b
}

fn reseal_state(b: &mut [u8; STATE_SIZE]) {
    let crc = state_crc(b);
    b[64..68].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn state_roundtrip() {
    let s = state_sample();
    let b = encode_state(&s);
    assert_eq!(&b[..8], b"DAXSTATE");
    assert_eq!(StateBlock::decode(&b), Ok(s));
    assert_eq!(
        u64::from_le_bytes(b[24..32].try_into().unwrap()),
        tx_word(48, 0x1234_5678)
    );
    let fresh = StateBlock::new(5, 6);
    assert!(fresh.clean && fresh.committed_seq == 0 && fresh.orphan_head == 0);
    assert_eq!(StateBlock::decode(&encode_state(&fresh)), Ok(fresh));
    // A whole block decodes the same.
    let mut block = [0u8; BS];
    block[..STATE_SIZE].copy_from_slice(&b);
    assert_eq!(StateBlock::decode(&block), Ok(s));
}

#[test]
fn state_crc_skips_the_journal_header() {
    let mut b = encode_state(&state_sample());
    // Sequence numbers and the tx word are stored alone, without the CRC.
    b[8..32].copy_from_slice(&[0xAB; 24]);
    let s = StateBlock::decode(&b).unwrap();
    assert_eq!(s.committed_seq, 0xABAB_ABAB_ABAB_ABAB);
    assert_eq!(s.tx_len, 0xABAB_ABAB);
    for offset in [0, 32, 40, 48, 56, 63] {
        let mut b = encode_state(&state_sample());
        b[offset] ^= 4;
        let want = if offset == 0 {
            StateError::BadMagic
        } else {
            StateError::BadChecksum
        };
        assert_eq!(StateBlock::decode(&b), Err(want), "{offset}");
    }
}

#[test]
fn state_errors() {
    let b = encode_state(&state_sample());
    assert_eq!(
        StateBlock::decode(&b[..STATE_SIZE - 1]),
        Err(StateError::Short)
    );
    assert_eq!(
        StateBlock::decode(&[0; STATE_SIZE]),
        Err(StateError::BadMagic)
    );
    for (offset, value) in [(40, 2u8), (44, 1)] {
        let mut b = b;
        b[offset] = value;
        reseal_state(&mut b);
        assert_eq!(
            StateBlock::decode(&b),
            Err(StateError::BadField),
            "{offset}"
        );
    }
    for e in [
        StateError::Short,
        StateError::BadMagic,
        StateError::BadChecksum,
        StateError::BadField,
    ] {
        assert!(!e.describe().is_empty());
    }
}

// ------------------------------------------------------------------- journal

/// Packs `recs` into a journal area and returns it with the state that
/// commits them as transaction `applied + 1`.
fn transaction(recs: &[(u64, &[u8])], applied: u64) -> (Vec<u8>, StateBlock) {
    let mut journal = std::vec![0u8; (JOURNAL_BLOCKS_DEFAULT * BS64) as usize];
    let mut len = 0;
    for (dst, data) in recs {
        len += encode_record(&mut journal[len..], *dst, data).unwrap();
    }
    let seq = applied + 1;
    let state = StateBlock {
        committed_seq: seq,
        applied_seq: applied,
        tx_len: len as u32,
        tx_crc: tx_crc(seq, &journal[..len]),
        ..StateBlock::new(0, 0)
    };
    (journal, state)
}

#[test]
fn records_roundtrip() {
    let g = geo();
    let itable = g.itable_start * BS64;
    let big = [0x5Au8; BS];
    let recs: [(u64, &[u8]); 3] = [
        (itable, b"abc"),
        (itable + 256, &big),
        (STATE_BLOCK * BS64 + 32, &[1; 8]),
    ];
    let (journal, state) = transaction(&recs, 41);
    assert_eq!(
        state.tx_len as usize,
        record_size(3) + record_size(BS) + record_size(8)
    );
    assert_eq!(
        (record_size(1), record_size(8), record_size(9)),
        (24, 24, 32)
    );
    let tx = state.pending_transaction(&journal, &g).unwrap().unwrap();
    assert_eq!(tx.seq, 42);
    let got: Vec<(u64, &[u8])> = tx
        .records()
        .map(|r| r.map(|r| (r.dst, r.data)).unwrap())
        .collect();
    assert_eq!(got, recs);
    // The CRC is over the sequence number then the record bytes.
    let mut seeded = 42u64.to_le_bytes().to_vec();
    seeded.extend_from_slice(tx.bytes);
    assert_eq!(tx_crc(42, tx.bytes), crc32c(&seeded));
    // Nothing pending once applied.
    let done = StateBlock {
        applied_seq: 42,
        ..state
    };
    assert_eq!(done.pending_transaction(&journal, &g), Ok(None));
    // An empty transaction is valid.
    let (journal, state) = transaction(&[], 0);
    assert_eq!(
        state
            .pending_transaction(&journal, &g)
            .unwrap()
            .unwrap()
            .records()
            .count(),
        0
    );
}

#[test]
fn record_errors() {
    use JournalError::*;
    let mut buf = [0u8; 64];
    assert_eq!(encode_record(&mut buf, 0, &[]), Err(BadLength));
    assert_eq!(encode_record(&mut buf, 0, &[0; BS + 1]), Err(BadLength));
    assert_eq!(encode_record(&mut buf, 0, &[0; 49]), Err(Truncated));
    let n = encode_record(&mut buf, 8192, &[9; 5]).unwrap();
    assert_eq!(n, 24);
    assert_eq!(
        RecordHeader::decode(&buf),
        Ok(RecordHeader { dst: 8192, len: 5 })
    );
    assert_eq!(RecordHeader::decode(&buf[..15]), Err(Truncated));
    let header = RecordHeader { dst: 1, len: 7 }.encode();
    assert_eq!(RecordHeader::decode(&header).unwrap().len, 7);

    let first = |b: &[u8]| records(b).next().unwrap().map(|r| r.dst);
    assert_eq!(first(&buf[..n]), Ok(8192));
    assert_eq!(first(&buf[..n - 8]), Err(Truncated));
    assert_eq!(first(&buf[..10]), Err(Truncated));
    let mut bad = buf;
    bad[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(first(&bad), Err(BadLength));
    bad[8..12].copy_from_slice(&4097u32.to_le_bytes());
    assert_eq!(first(&bad), Err(BadLength));
    let mut bad = buf;
    bad[12] = 1;
    assert_eq!(first(&bad), Err(BadPadding));
    let mut bad = buf;
    bad[16 + 5] = 1;
    assert_eq!(first(&bad), Err(BadPadding));
    // The walk stops after the first error.
    let mut two = [0u8; 48];
    encode_record(&mut two, 1, &[1]).unwrap();
    encode_record(&mut two[24..], 2, &[2]).unwrap();
    two[24 + 12] = 1;
    let all: Vec<_> = records(&two).collect();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], Err(BadPadding));
    for e in [
        Truncated,
        BadLength,
        BadPadding,
        BadTarget,
        BadTxLen,
        BadChecksum,
        BadSequence,
    ] {
        assert!(!e.describe().is_empty());
    }
}

#[test]
fn pending_transaction_errors() {
    use JournalError::*;
    let g = geo();
    let dst = g.itable_start * BS64;
    let (journal, state) = transaction(&[(dst, b"x")], 10);
    let pending = |s: StateBlock, j: &[u8]| s.pending_transaction(j, &g).map(|t| t.map(|t| t.seq));
    assert_eq!(pending(state, &journal), Ok(Some(11)));
    assert_eq!(
        pending(
            StateBlock {
                committed_seq: 9,
                ..state
            },
            &journal
        ),
        Err(BadSequence)
    );
    assert_eq!(
        pending(
            StateBlock {
                committed_seq: 12,
                ..state
            },
            &journal
        ),
        Err(BadSequence)
    );
    let max = StateBlock {
        applied_seq: u64::MAX,
        committed_seq: 0,
        ..state
    };
    assert_eq!(pending(max, &journal), Err(BadSequence));
    assert_eq!(
        pending(
            StateBlock {
                tx_len: 20,
                ..state
            },
            &journal
        ),
        Err(BadTxLen)
    );
    let huge = StateBlock {
        tx_len: (g.journal_bytes() + 8) as u32,
        ..state
    };
    assert_eq!(pending(huge, &journal), Err(BadTxLen));
    assert_eq!(pending(state, &journal[..16]), Err(Truncated));
    assert_eq!(
        pending(
            StateBlock {
                tx_crc: !state.tx_crc,
                ..state
            },
            &journal
        ),
        Err(BadChecksum)
    );
    let (j, s) = transaction(&[(dst, b"x"), (SB_PRIMARY_OFFSET, b"evil")], 10);
    assert_eq!(pending(s, &j), Err(BadTarget));
    // A malformed record inside a transaction whose CRC matches.
    let (mut j, mut s) = transaction(&[(dst, b"x")], 10);
    j[12] = 1;
    s.tx_crc = tx_crc(11, &j[..s.tx_len as usize]);
    assert_eq!(pending(s, &j), Err(BadPadding));
}

// --------------------------------------------------------------------- inode

fn inode_sample() -> Inode {
    let mut i = Inode::new(
        S_IFREG | 0o644,
        Time {
            sec: -5,
            nsec: 999_999_999,
        },
    );
    i.flags = INODE_FLAG_DAX | INODE_FLAG_APPEND;
    i.uid = 1000;
    i.gid = 100;
    i.nlink = 3;
    i.generation = 77;
    i.size = 123_456;
    i.blocks = 31;
    i.mtime = Time {
        sec: 1 << 40,
        nsec: 1,
    };
    i.rdev = 0x0801;
    i.nextents = 9;
    i.extent_block = 5000;
    i.orphan_next = 12;
    i.parent = 0;
    i.set_inline_extent(
        0,
        &Extent {
            lblk: 0,
            len: 30,
            unwritten: true,
            pblk: 600,
        },
    );
    i
}

fn encode_inode(i: &Inode) -> [u8; INODE_SIZE] {
    let mut b = [0u8; INODE_SIZE];
    i.encode(&mut b);
    b
}

fn reseal_inode(b: &mut [u8; INODE_SIZE]) {
    let crc = inode_crc(b);
    b[252..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn inode_roundtrip() {
    let i = inode_sample();
    let b = encode_inode(&i);
    assert_eq!(Inode::decode(&b), Ok(i));
    assert_eq!(
        u32::from_le_bytes(b[0..4].try_into().unwrap()),
        S_IFREG | 0o644
    );
    assert_eq!(u64::from_le_bytes(b[40..48].try_into().unwrap()) as i64, -5);
    assert_eq!(u64::from_le_bytes(b[96..104].try_into().unwrap()), 5000);
    assert!(!Inode::is_free_slot(&b));
    assert!(Inode::is_free_slot(&[0; INODE_SIZE]));
    assert_eq!(
        Inode::decode(&[0; INODE_SIZE]),
        Err(InodeError::BadChecksum)
    );
    let dir = Inode::new(S_IFDIR | 0o755, Time::default());
    assert!(dir.is_dir() && dir.nlink == 2 && dir.file_type() == S_IFDIR);
    assert_eq!(Inode::new(S_IFIFO, Time::default()).nlink, 1);
}

#[test]
fn inode_extents_and_symlinks() {
    let mut i = inode_sample();
    assert_eq!(i.inline_count(), INLINE_EXTENTS);
    assert_eq!(
        i.inline_extent(0),
        Some(Ok(Extent {
            lblk: 0,
            len: 30,
            unwritten: true,
            pblk: 600
        }))
    );
    assert_eq!(i.inline_extent(1), Some(Err(ExtentError::BadLength)));
    assert_eq!(i.inline_extent(INLINE_EXTENTS), None);
    let e = Extent {
        lblk: 40,
        len: 2,
        unwritten: false,
        pblk: 900,
    };
    assert!(i.set_inline_extent(7, &e));
    assert!(!i.set_inline_extent(8, &e));
    assert!(!i.set_inline_extent(usize::MAX, &e));
    assert_eq!(
        Inode::decode(&encode_inode(&i)).unwrap().inline_extent(7),
        Some(Ok(e))
    );
    i.nextents = 2;
    assert_eq!(i.inline_count(), 2);
    assert_eq!(i.fast_symlink(), None);

    let mut l = Inode::new(S_IFLNK | 0o777, Time::default());
    l.inline[..6].copy_from_slice(b"target");
    l.size = 6;
    assert_eq!(l.fast_symlink(), Some(&b"target"[..]));
    assert_eq!(l.inline_count(), 0);
    l.size = FAST_SYMLINK_MAX as u64 + 1;
    assert!(!l.is_fast_symlink());
    assert_eq!(l.fast_symlink(), None);
}

#[test]
fn inode_errors() {
    use InodeError::*;
    let b = encode_inode(&inode_sample());
    assert_eq!(Inode::decode(&b[..INODE_SIZE - 1]), Err(Short));
    let mut c = b;
    c[100] ^= 1;
    assert_eq!(Inode::decode(&c), Err(BadChecksum));
    let edit = |off: usize, bytes: &[u8]| {
        let mut c = b;
        c[off..off + bytes.len()].copy_from_slice(bytes);
        reseal_inode(&mut c);
        Inode::decode(&c)
    };
    assert_eq!(edit(0, &0u32.to_le_bytes()), Err(BadMode));
    assert_eq!(edit(0, &0o030644u32.to_le_bytes()), Err(BadMode));
    assert_eq!(
        edit(0, &(S_IFREG | 0o1_000_000).to_le_bytes()),
        Err(BadMode)
    );
    assert_eq!(edit(4, &8u32.to_le_bytes()), Err(BadFlags));
    assert_eq!(edit(84, &1_000_000_000u32.to_le_bytes()), Err(BadTime));
    assert_eq!(edit(248, &[1]), Err(BadReserved));
    for mode in [
        S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO,
    ] {
        assert!(edit(0, &(mode | 0o7777).to_le_bytes()).is_ok());
    }
    for e in [Short, BadChecksum, BadMode, BadFlags, BadTime, BadReserved] {
        assert!(!e.describe().is_empty());
    }
}

// ------------------------------------------------------------------- extents

#[test]
fn extent_codec() {
    use ExtentError::*;
    for e in [
        Extent {
            lblk: 0,
            len: 1,
            unwritten: false,
            pblk: 512,
        },
        Extent {
            lblk: u32::MAX,
            len: 1,
            unwritten: true,
            pblk: u64::MAX,
        },
        Extent {
            lblk: 0,
            len: EXTENT_MAX_LEN,
            unwritten: true,
            pblk: 1,
        },
    ] {
        assert_eq!(Extent::decode(&e.encode()), Ok(e));
    }
    let b = Extent {
        lblk: 3,
        len: 4,
        unwritten: true,
        pblk: 9,
    }
    .encode();
    assert_eq!(
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        4 | EXTENT_UNWRITTEN
    );
    assert_eq!(Extent::decode(&b[..15]), Err(Short));
    assert_eq!(Extent::decode(&[0; 16]), Err(BadLength));
    let mut z = b;
    z[4..8].copy_from_slice(&EXTENT_UNWRITTEN.to_le_bytes());
    assert_eq!(Extent::decode(&z), Err(BadLength));
    let past = Extent {
        lblk: u32::MAX,
        len: 2,
        unwritten: false,
        pblk: 1,
    };
    assert_eq!(past.end(), MAX_FILE_BLOCKS + 1);
    assert_eq!(Extent::decode(&past.encode()), Err(BadRange));
    for e in [Short, BadLength, BadRange] {
        assert!(!e.describe().is_empty());
    }
}

fn extent_block(count: usize) -> [u8; BS] {
    let mut block = [0u8; BS];
    for i in 0..count {
        let e = Extent {
            lblk: 10 * i as u32,
            len: 2,
            unwritten: i % 2 == 1,
            pblk: 1000 + i as u64,
        };
        let o = extent_slot(i).unwrap();
        block[o..o + EXTENT_SIZE].copy_from_slice(&e.encode());
    }
    ExtentBlockHeader {
        count: count as u32,
        next: 777,
        owner: 5,
    }
    .encode(&mut block)
    .unwrap();
    block
}

#[test]
fn extent_block_codec() {
    use ExtentBlockError::*;
    let block = extent_block(EXTENTS_PER_BLOCK);
    assert_eq!(EXTENTS_PER_BLOCK, 254);
    let h = ExtentBlockHeader::decode(&block).unwrap();
    assert_eq!(
        h,
        ExtentBlockHeader {
            count: 254,
            next: 777,
            owner: 5
        }
    );
    assert_eq!(
        u32::from_le_bytes(block[..4].try_into().unwrap()),
        0xDAE8_7E47
    );
    assert_eq!(
        u32::from_le_bytes(block[24..28].try_into().unwrap()),
        extent_block_crc(&block)
    );
    assert_eq!(block_extent(&block, 253).unwrap().unwrap().pblk, 1253);
    assert!(block_extent(&block, 254).is_none());
    assert_eq!((extent_slot(0), extent_slot(254)), (Some(32), None));

    let mut bad = block;
    assert_eq!(ExtentBlockHeader::decode(&bad[..BS - 1]), Err(Short));
    assert_eq!(h.encode(&mut bad[..100]), Err(Short));
    bad[0] ^= 1;
    assert_eq!(ExtentBlockHeader::decode(&bad), Err(BadMagic));
    let mut bad = block;
    bad[4000] ^= 1; // an extent slot: covered by the CRC
    assert_eq!(ExtentBlockHeader::decode(&bad), Err(BadChecksum));
    let mut bad = block;
    for count in [0u32, 255] {
        assert_eq!(
            ExtentBlockHeader { count, ..h }.encode(&mut bad),
            Err(BadCount)
        );
        bad[4..8].copy_from_slice(&count.to_le_bytes());
        let crc = extent_block_crc(&bad);
        bad[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(ExtentBlockHeader::decode(&bad), Err(BadCount));
    }
    let mut bad = block;
    bad[29] = 1;
    let crc = extent_block_crc(&bad);
    bad[24..28].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(ExtentBlockHeader::decode(&bad), Err(BadPadding));
    for e in [Short, BadMagic, BadChecksum, BadCount, BadPadding] {
        assert!(!e.describe().is_empty());
    }
}

// --------------------------------------------------------------- directories

/// A directory block holding `names` (inode numbers from 10) and a free tail.
fn dir_block(names: &[&[u8]]) -> [u8; BS] {
    let mut block = [0u8; BS];
    init_dir_block(&mut block).unwrap();
    let mut off = 0;
    for (i, name) in names.iter().enumerate() {
        let len = dir_rec_len(name.len());
        encode_dir_record(&mut block[off..], 10 + i as u64, len, DT_REG, name).unwrap();
        off += len;
    }
    encode_dir_record(&mut block[off..], 0, BS - off, DT_UNKNOWN, b"").unwrap();
    block
}

#[test]
fn dir_records_roundtrip() {
    let mut empty = [0xffu8; BS];
    init_dir_block(&mut empty).unwrap();
    let recs: Vec<_> = dir_records(&empty).collect();
    assert_eq!(recs.len(), 1);
    let r = recs[0].unwrap();
    assert_eq!((r.ino, r.rec_len, r.offset, r.name), (0, BS, 0, &b""[..]));

    let long = [b'x'; NAME_MAX];
    let names: [&[u8]; 4] = [b"a", b"hello.txt", &long, "é".as_bytes()];
    let block = dir_block(&names);
    let recs: Vec<_> = dir_records(&block).map(Result::unwrap).collect();
    assert_eq!(recs.len(), 5);
    let mut off = 0;
    for (i, name) in names.iter().enumerate() {
        let r = recs[i];
        assert_eq!(
            (r.ino, r.name, r.offset, r.file_type),
            (10 + i as u64, *name, off, DT_REG)
        );
        assert_eq!(r.hash, crc32c(name));
        assert_eq!(r.hash, name_hash(name));
        off += r.rec_len;
    }
    assert_eq!(recs[4].ino, 0);
    assert_eq!(recs[4].offset + recs[4].rec_len, BS);
    assert_eq!(
        (
            dir_rec_len(1),
            dir_rec_len(8),
            dir_rec_len(9),
            dir_rec_len(255)
        ),
        (24, 24, 32, 272)
    );
    // A record with slack after its name.
    let mut b = [0u8; BS];
    encode_dir_record(&mut b, 3, BS, DT_DIR, b"d").unwrap();
    let r = dir_records(&b).next().unwrap().unwrap();
    assert_eq!((r.ino, r.rec_len, r.file_type), (3, BS, DT_DIR));
}

#[test]
fn dir_record_errors() {
    use DirError::*;
    let block = dir_block(&[b"first", b"second"]);
    let second = dir_rec_len(5); // offset of the second record
    let first_err = |b: &[u8]| dir_records(b).find_map(Result::err);
    assert_eq!(first_err(&block), None);
    assert_eq!(first_err(&block[..BS - 1]), Some(Short));
    let edit = |off: usize, bytes: &[u8]| {
        let mut b = block;
        b[off..off + bytes.len()].copy_from_slice(bytes);
        first_err(&b)
    };
    for rec_len in [0u16, 8, 12, 26, 4096] {
        assert_eq!(
            edit(second + 8, &rec_len.to_le_bytes()),
            Some(BadRecLen),
            "{rec_len}"
        );
    }
    assert_eq!(
        edit(8, &16u16.to_le_bytes()),
        Some(BadNameLen),
        "name does not fit"
    );
    assert_eq!(edit(10, &[0]), Some(BadNameLen));
    assert_eq!(edit(16, b"/"), Some(BadName));
    assert_eq!(edit(16 + 2, &[0]), Some(BadName));
    assert_eq!(edit(12, &[0; 4]), Some(BadHash));
    assert_eq!(edit(11, &[DT_UNKNOWN]), Some(BadFileType));
    assert_eq!(edit(11, &[3]), Some(BadFileType));
    // "." and "..", hashes right.
    let mut b = [0u8; BS];
    b[..16].copy_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 16, 1, DT_DIR, 0, 0, 0, 0]);
    b[8..10].copy_from_slice(&4096u16.to_le_bytes());
    b[12..16].copy_from_slice(&crc32c(b".").to_le_bytes());
    b[16] = b'.';
    assert_eq!(first_err(&b), Some(BadName));
    // An unused record ignores its name fields.
    assert_eq!(edit(second + 24 + 10, &[200]), None);
    // The walk stops after an error; offset() names the bad record.
    let mut b = block;
    b[second + 8] = 3;
    let mut it = dir_records(&b);
    assert!(it.next().unwrap().is_ok());
    assert_eq!(it.next(), Some(Err(BadRecLen)));
    assert_eq!(it.offset(), second);
    assert_eq!(it.next(), None);

    let mut out = [0u8; 64];
    assert_eq!(
        encode_dir_record(&mut out, 1, 12, DT_REG, b"a"),
        Err(BadRecLen)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 30, DT_REG, b"a"),
        Err(BadRecLen)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 4104, DT_REG, b"a"),
        Err(BadRecLen)
    );
    assert_eq!(encode_dir_record(&mut out, 1, 72, DT_REG, b"a"), Err(Short));
    assert_eq!(
        encode_dir_record(&mut out, 1, 24, DT_REG, b""),
        Err(BadNameLen)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 24, DT_REG, b"123456789"),
        Err(BadNameLen)
    );
    assert_eq!(
        encode_dir_record(&mut out, 0, 24, DT_UNKNOWN, b"a"),
        Err(BadNameLen)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 24, DT_REG, b".."),
        Err(BadName)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 24, DT_REG, b"a\0"),
        Err(BadName)
    );
    assert_eq!(
        encode_dir_record(&mut out, 1, 24, 5, b"a"),
        Err(BadFileType)
    );
    assert_eq!(init_dir_block(&mut out), Err(Short));
    assert!(!valid_name(&[b'x'; 256]) && valid_name(&[b'x'; 255]));
    for e in [Short, BadRecLen, BadNameLen, BadName, BadHash, BadFileType] {
        assert!(!e.describe().is_empty());
    }
}

#[test]
fn readdir_positions() {
    assert_eq!(DirPos::Dot.encode(), 0);
    assert_eq!(DirPos::DotDot.encode(), 1);
    assert_eq!(DirPos::decode(0), Some(DirPos::Dot));
    assert_eq!(DirPos::decode(1), Some(DirPos::DotDot));
    let p = DirPos::Record {
        lblk: 3,
        offset: 40,
    };
    assert_eq!(p.encode(), 2 + 3 * 4096 + 40);
    for p in [
        DirPos::Record { lblk: 0, offset: 0 },
        DirPos::Record {
            lblk: 0,
            offset: 4088,
        },
        DirPos::Record {
            lblk: u32::MAX,
            offset: 4095,
        },
    ] {
        assert_eq!(DirPos::decode(p.encode()), Some(p));
    }
    assert_eq!(DirPos::decode(2 + (1 << 32) * 4096), None);
    assert_eq!(DirPos::decode(u64::MAX), None);
}

#[test]
fn file_types() {
    for (mode, dt) in [
        (S_IFIFO, DT_FIFO),
        (S_IFCHR, DT_CHR),
        (S_IFDIR, DT_DIR),
        (S_IFBLK, DT_BLK),
        (S_IFREG, DT_REG),
        (S_IFLNK, DT_LNK),
        (S_IFSOCK, DT_SOCK),
    ] {
        assert_eq!(dt_from_mode(mode | 0o755), dt);
        assert!(valid_dt(dt));
    }
    assert!(!valid_dt(DT_UNKNOWN) && !valid_dt(3) && !valid_dt(14) && !valid_dt(255));
}

#[test]
fn bitmaps() {
    let mut map = [0u8; 4];
    assert_eq!(bitmap_set(&mut map, 0), Some(false));
    assert_eq!(bitmap_set(&mut map, 0), Some(true));
    assert_eq!(bitmap_set(&mut map, 9), Some(false));
    assert_eq!(map, [0x01, 0x02, 0, 0], "LSB first");
    assert_eq!(bitmap_test(&map, 9), Some(true));
    assert_eq!(bitmap_test(&map, 10), Some(false));
    assert_eq!(bitmap_test(&map, 32), None);
    assert_eq!(bitmap_set(&mut map, 32), None);
    assert_eq!(bitmap_clear(&mut map, u64::MAX), None);
    assert_eq!(bitmap_clear(&mut map, 9), Some(true));
    assert_eq!(bitmap_clear(&mut map, 9), Some(false));
    assert_eq!(bitmap_find_clear(&map, 0, 32), Some(1));
    let mut full = [0xffu8; 4];
    assert_eq!(bitmap_find_clear(&full, 0, 32), None);
    assert_eq!(bitmap_find_clear(&full, 0, 100), None);
    bitmap_clear(&mut full, 27);
    assert_eq!(bitmap_find_clear(&full, 3, 32), Some(27));
    assert_eq!(bitmap_find_clear(&full, 28, 32), None);
    assert_eq!(bitmap_find_clear(&full, 0, 27), None);
}

// ------------------------------------------------------------ no-panic loops

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let g = geo();
    for _ in 0..20_000 {
        let b = rng.bytes(BS + 100);
        let _ = StateBlock::decode(&b);
        let _ = RecordHeader::decode(&b);
        let _ = records(&b).count();
        let _ = Extent::decode(&b);
        let _ = ExtentBlockHeader::decode(&b);
        let _ = (0..EXTENTS_PER_BLOCK + 2)
            .filter_map(|i| block_extent(&b, i))
            .count();
        let _ = dir_records(&b).count();
        if let Ok(i) = Inode::decode(&b) {
            let _ = (0..10).filter_map(|k| i.inline_extent(k)).count();
            let _ = i.fast_symlink();
        }
        let _ = DirPos::decode(rng.next());
        let _ = bitmap_test(&b, rng.next() % 80_000);
        let _ = bitmap_find_clear(&b, rng.next() % 40_000, rng.next() % 80_000);
        let _ = g.record_target_ok(rng.next() % (g.blocks * BS64 * 2), rng.below(5000) as usize);
        let _ = g.inode_offset(rng.next() % (2 * g.inodes));
        let _ = g.is_data(rng.next() % (2 * g.blocks), rng.next() % 100);
        let r = |rng: &mut Rng| match rng.below(3) {
            0 => rng.next(),
            1 => rng.below(1 << 20),
            _ => rng.below(64) * 16,
        };
        let (blocks, inodes, journal) = (r(&mut rng), r(&mut rng), r(&mut rng));
        if let Ok(g) = Geometry::new(blocks, inodes, journal) {
            assert_sane(&g);
        }
    }
}

#[test]
fn mutated_encodings_never_panic() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let g = geo();
    let state = encode_state(&state_sample());
    let inode = encode_inode(&inode_sample());
    let eb = extent_block(100);
    let dir = dir_block(&[b"one", b"two", b"three", &[b'z'; 200]]);
    let (journal, tx_state) = transaction(
        &[
            (g.itable_start * BS64, &[1; 300]),
            (g.data_start * BS64, b"dir"),
            (g.bbitmap_start * BS64, &[0xff; 8]),
        ],
        0,
    );
    let (mut dir_ok, mut tx_ok) = (0, 0);
    for round in 0..20_000 {
        let mut s = state;
        rng.mutate(&mut s);
        let _ = StateBlock::decode(&s[..rng.below(STATE_SIZE as u64 + 1) as usize]);
        let mut i = inode;
        rng.mutate(&mut i);
        reseal_inode(&mut i);
        if let Ok(i) = Inode::decode(&i) {
            let _ = (0..9).filter_map(|k| i.inline_extent(k)).count();
            let _ = i.fast_symlink();
        }
        let mut e = eb;
        rng.mutate(&mut e[..40 + (round % 2) * 3000]);
        let crc = extent_block_crc(&e);
        e[24..28].copy_from_slice(&crc.to_le_bytes());
        if let Ok(h) = ExtentBlockHeader::decode(&e) {
            let _ = (0..h.count as usize)
                .filter_map(|k| block_extent(&e, k))
                .count();
        }
        let mut d = dir;
        rng.mutate(&mut d[..600]);
        let cut = if round % 8 == 0 {
            rng.below(BS as u64) as usize
        } else {
            BS
        };
        if dir_records(&d[..cut]).all(|r| r.is_ok()) {
            dir_ok += 1;
        }
        let mut j = journal.clone();
        let len = tx_state.tx_len as usize;
        rng.mutate(&mut j[..len]);
        let mut st = tx_state;
        if round % 2 == 0 {
            st.tx_crc = tx_crc(st.committed_seq, &j[..len]);
        }
        if round % 5 == 0 {
            st.tx_len = rng.next() as u32;
        }
        if let Ok(Some(tx)) = st.pending_transaction(&j[..rng.below(j.len() as u64) as usize], &g) {
            assert!(tx
                .records()
                .all(|r| r.is_ok_and(|r| g.record_target_ok(r.dst, r.data.len()))));
            tx_ok += 1;
        }
        let _ = records(&j[..len]).count();
    }
    // Not vacuous: some mutations keep the structures valid.
    assert!(dir_ok > 100 && tx_ok > 100, "{dir_ok} {tx_ok}");
}
