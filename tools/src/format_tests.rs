// SPDX-License-Identifier: GPL-2.0
//! Unit tests of the on-disk format (`fs/format.rs`).

extern crate std;

use crate::*;

const DEV_BLOCKS: u64 = 16384;
const DEV_BYTES: u64 = DEV_BLOCKS * BLOCK_SIZE as u64;

fn sample() -> SuperBlock {
    let mut label = [0u8; LABEL_LEN];
    label[..4].copy_from_slice(b"test");
    SuperBlock::new(
        DEV_BLOCKS,
        default_inodes(DEV_BLOCKS),
        [7; 16],
        label,
        1_700_000_000,
    )
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
}

#[test]
fn roundtrip() {
    let sb = sample();
    let buf = encode(&sb);
    assert_eq!(&buf[..8], b"DAXFS1\0\0");
    assert_eq!(SuperBlock::decode(&buf), Ok(sb));
    assert_eq!(SuperBlock::parse(&buf, DEV_BYTES), Ok(sb));
    // A longer buffer (a whole block) decodes the same.
    let mut block = [0xffu8; BLOCK_SIZE as usize];
    block[..SB_SIZE].copy_from_slice(&buf);
    assert_eq!(SuperBlock::decode(&block), Ok(sb));
}

#[test]
fn accessors() {
    let sb = sample();
    assert_eq!(sb.label_bytes(), b"test");
    assert_eq!(sb.free_blocks(), DEV_BLOCKS - RESERVED_BLOCKS);
    let full = SuperBlock {
        label: [b'x'; LABEL_LEN],
        ..sb
    };
    assert_eq!(full.label_bytes().len(), LABEL_LEN);
    assert_eq!(default_inodes(MIN_BLOCKS), MIN_BLOCKS / 4);
    assert_eq!(default_inodes(0), 64);
    assert_eq!(default_inodes(u64::MAX), u64::MAX / 4);
    assert_eq!(max_inodes(u64::MAX), u64::MAX);
}

#[test]
fn short() {
    let buf = encode(&sample());
    assert_eq!(SuperBlock::decode(&buf[..SB_SIZE - 1]), Err(SbError::Short));
    assert_eq!(SuperBlock::decode(&[]), Err(SbError::Short));
}

#[test]
fn bad_magic() {
    let mut buf = encode(&sample());
    buf[0] ^= 1;
    assert_eq!(SuperBlock::decode(&buf), Err(SbError::BadMagic));
    assert_eq!(SuperBlock::decode(&[0; SB_SIZE]), Err(SbError::BadMagic));
}

#[test]
fn bad_checksum() {
    for offset in [8, 24, 100, 300, SB_SIZE - 1] {
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
fn bad_version() {
    assert_eq!(
        parse_modified(|sb| sb.version = VERSION + 1),
        Err(SbError::BadVersion)
    );
    assert_eq!(
        parse_modified(|sb| sb.version = 0),
        Err(SbError::BadVersion)
    );
}

#[test]
fn bad_block_size() {
    assert_eq!(
        parse_modified(|sb| sb.block_size = 8192),
        Err(SbError::BadBlockSize)
    );
}

#[test]
fn flags() {
    assert_eq!(
        parse_modified(|sb| sb.flags = 1 << 1),
        Err(SbError::BadFlags)
    );
    assert_eq!(parse_modified(|sb| sb.flags = !0), Err(SbError::BadFlags));
    assert!(parse_modified(|sb| sb.flags = SB_FLAG_DIRTY).is_ok());
}

#[test]
fn nonzero_reserved_bytes() {
    // The padding after block_size and every byte between the label and the
    // checksum must be zero.
    for offset in [20, 23, 144, 300, SB_SIZE - 5] {
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
fn bad_size() {
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
fn size_limits_accepted() {
    let mut sb = sample();
    sb.blocks = MIN_BLOCKS;
    assert_eq!(sb.validate(MIN_BLOCKS * BLOCK_SIZE as u64), Ok(()));
    sb.blocks = MAX_BLOCKS;
    assert_eq!(sb.validate(u64::MAX), Ok(()));
    sb.inodes = max_inodes(MAX_BLOCKS);
    assert_eq!(sb.validate(u64::MAX), Ok(()));
}

#[test]
fn bad_layout() {
    let cases: [fn(&mut SuperBlock); 5] = [
        |sb| sb.reserved_blocks = RESERVED_BLOCKS - 1,
        |sb| sb.reserved_blocks = 0,
        |sb| sb.root_ino = ROOT_INO + 1,
        |sb| sb.inodes = 0,
        |sb| sb.inodes = max_inodes(sb.blocks) + 1,
    ];
    for (i, case) in cases.into_iter().enumerate() {
        assert_eq!(parse_modified(case), Err(SbError::BadLayout), "case {i}");
    }
    assert!(parse_modified(|sb| sb.inodes = max_inodes(sb.blocks)).is_ok());
    assert!(parse_modified(|sb| sb.inodes = 1).is_ok());
}

#[test]
fn error_classes() {
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
fn garbage_never_panics() {
    // xorshift64: deterministic pseudo-random superblocks, both raw and with
    // a valid magic and checksum so that the field checks are reached.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for round in 0..20_000 {
        let mut buf = [0u8; SB_SIZE];
        let dense = 160 - (round % 2) * 16; // sometimes leave the reserved bytes zero
        for chunk in buf[..dense].chunks_mut(8) {
            chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
        }
        let _ = SuperBlock::parse(&buf, next());
        buf[..8].copy_from_slice(&MAGIC.to_le_bytes());
        buf[8..12].copy_from_slice(&VERSION.to_le_bytes());
        if round % 4 < 2 {
            // Make the geometry plausible now and then.
            buf[16..24].copy_from_slice(&u64::from(BLOCK_SIZE).to_le_bytes());
            buf[24..32].copy_from_slice(&(next() % (2 * MAX_BLOCKS)).to_le_bytes());
        }
        reseal(&mut buf);
        if let Ok(sb) = SuperBlock::decode(&buf) {
            assert_eq!(encode(&sb), buf);
            let _ = sb.validate(next());
            decoded += 1;
        }
    }
    // Not vacuous: a quarter of the rounds reach validate.
    assert!(decoded >= 5_000, "{decoded}");
}
