// SPDX-License-Identifier: GPL-2.0
//! UUID text form (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).

use core::fmt;

/// Parses a UUID written as 32 hex digits, either plain or in the canonical
/// 8-4-4-4-12 dashed form.
pub fn parse(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    let dashed = s.len() == 36;
    if !dashed && s.len() != 32 {
        return None;
    }
    let mut digits = s.iter().enumerate().filter_map(|(i, &c)| match i {
        8 | 13 | 18 | 23 if dashed => None,
        _ => Some(c),
    });
    if dashed && [8, 13, 18, 23].iter().any(|&i| s[i] != b'-') {
        return None;
    }
    let mut uuid = [0u8; 16];
    for byte in &mut uuid {
        let hi = hex(digits.next()?)?;
        let lo = hex(digits.next()?)?;
        *byte = hi << 4 | lo;
    }
    Some(uuid)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Turns 16 random bytes into a version 4 (random) RFC 4122 UUID.
pub fn v4(mut bytes: [u8; 16]) -> [u8; 16] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

/// Displays a UUID in the canonical dashed lowercase form.
#[derive(Clone, Copy, Debug)]
pub struct Hyphenated<'a>(pub &'a [u8; 16]);

impl fmt::Display for Hyphenated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    const TEXT: &str = "0123abcd-4567-89ef-0123-456789abcdef";

    #[test]
    fn roundtrip() {
        let u = parse(TEXT).unwrap();
        assert_eq!(u[0], 0x01);
        assert_eq!(u[15], 0xef);
        assert_eq!(Hyphenated(&u).to_string(), TEXT);
        assert_eq!(parse(&TEXT.to_uppercase()), Some(u));
        assert_eq!(parse(&TEXT.replace('-', "")), Some(u));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "0123abcd-4567-89ef-0123-456789abcde",
            "0123abcd-4567-89ef-0123-456789abcdeg",
            "0123abcd4-567-89ef-0123-456789abcdef",
            "0123abcd-4567-89ef-0123-456789abcdef0",
            "+123abcd456789ef0123456789abcdef",
            "é123abcd-4567-89ef-0123-456789abcde",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn version_4() {
        let u = v4([0xff; 16]);
        assert_eq!(
            Hyphenated(&u).to_string(),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(v4([0; 16])[6], 0x40);
    }
}
