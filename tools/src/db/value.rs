// SPDX-License-Identifier: GPL-2.0
//! What daxfs-db prints: a tree of named values, written either as one
//! JSON object (`--json`) or as indented `name: value` text.  Every command
//! builds one [`Obj`]; both forms come from it, so they always hold the
//! same fields under the same names.

use std::fmt::Write as _;

/// Longest object written on one line as a field of another.
const INLINE_MAX: usize = 72;

/// One value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No value (JSON `null`, text `-`).
    Null,
    /// A boolean.
    Bool(bool),
    /// An unsigned number.
    U(u64),
    /// A signed number.
    I(i64),
    /// An unsigned number shown in octal in text (a JSON number).
    Oct(u64),
    /// An unsigned number shown in hexadecimal in text (a JSON number).
    Hex(u64),
    /// A string.
    Str(String),
    /// Raw bytes: a hex string in JSON, a hex dump in text.
    Bytes(Vec<u8>),
    /// A list.
    Arr(Vec<Value>),
    /// An object.
    Obj(Obj),
}

/// An object: fields in the order they were set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Obj(pub Vec<(&'static str, Value)>);

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Obj(Vec::new())
    }

    /// Sets field `key` (replacing it if set already).
    pub fn set(&mut self, key: &'static str, v: impl Into<Value>) -> &mut Self {
        let v = v.into();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => *old = v,
            None => self.0.push((key, v)),
        }
        self
    }

    /// `self` with field `key` set.
    pub fn with(mut self, key: &'static str, v: impl Into<Value>) -> Self {
        self.set(key, v);
        self
    }

    /// Field `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether no field holds an object, a list or bytes (the object can
    /// then be written on one line of text).
    fn is_flat(&self) -> bool {
        self.0.iter().all(|(_, v)| v.is_scalar())
    }

    /// Whether the object, as a field of another, is written on one line:
    /// flat and short.
    fn is_inline(&self) -> bool {
        self.is_flat() && Value::Obj(self.clone()).line_text().len() <= INLINE_MAX
    }

    /// The object as JSON, on one line.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        Value::json_obj(self, &mut out);
        out
    }

    /// The object as text: one `name: value` line per field, nested
    /// objects indented, flat objects as `name=value` pairs on one line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.text(0, &mut out);
        out
    }

    fn text(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        for (k, v) in &self.0 {
            match v {
                Value::Obj(o) if !o.is_inline() => {
                    let _ = writeln!(out, "{pad}{k}:");
                    o.text(indent + 2, out);
                }
                Value::Arr(a) if a.is_empty() => {
                    let _ = writeln!(out, "{pad}{k}: (none)");
                }
                Value::Arr(a) if a.iter().all(|v| matches!(v, Value::U(_) | Value::I(_))) => {
                    let items: Vec<String> = a.iter().map(Value::scalar_text).collect();
                    let _ = writeln!(out, "{pad}{k}: {}", items.join(", "));
                }
                Value::Arr(a) => {
                    let _ = writeln!(out, "{pad}{k}: ({})", a.len());
                    for v in a {
                        match v {
                            Value::Obj(o) if !o.is_flat() => {
                                let _ = writeln!(out, "{pad}  -");
                                o.text(indent + 4, out);
                            }
                            v => {
                                let _ = writeln!(out, "{pad}  {}", v.line_text());
                            }
                        }
                    }
                }
                Value::Bytes(b) => {
                    let _ = writeln!(out, "{pad}{k}: ({} bytes)", b.len());
                    hexdump(b, &pad, out);
                }
                v => {
                    let _ = writeln!(out, "{pad}{k}: {}", v.line_text());
                }
            }
        }
    }
}

/// 16 bytes a line, with their offset.
fn hexdump(b: &[u8], pad: &str, out: &mut String) {
    for (i, line) in b.chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|c| format!("{c:02x}")).collect();
        let _ = writeln!(out, "{pad}  {:04x}: {}", i * 16, hex.join(" "));
    }
}

impl Value {
    fn is_scalar(&self) -> bool {
        !matches!(self, Value::Arr(_) | Value::Obj(_) | Value::Bytes(_))
    }

    /// A scalar as text (strings unquoted, but for the empty one).
    fn scalar_text(&self) -> String {
        match self {
            Value::Null => "-".into(),
            Value::Bool(b) => b.to_string(),
            Value::U(n) => n.to_string(),
            Value::I(n) => n.to_string(),
            Value::Oct(n) => format!("0{n:o}"),
            Value::Hex(n) => format!("{n:#x}"),
            Value::Str(s) if s.is_empty() => "\"\"".into(),
            Value::Str(s) => s.escape_debug().to_string(),
            Value::Bytes(b) => b.iter().map(|c| format!("{c:02x}")).collect(),
            Value::Arr(_) | Value::Obj(_) => String::new(),
        }
    }

    /// A value on one line: flat objects as `name=value` pairs (strings
    /// quoted), anything else as a scalar.
    fn line_text(&self) -> String {
        match self {
            Value::Obj(o) => {
                let pairs: Vec<String> =
                    o.0.iter()
                        .map(|(k, v)| match v {
                            Value::Str(s) => format!("{k}={s:?}"),
                            v => format!("{k}={}", v.scalar_text()),
                        })
                        .collect();
                pairs.join(" ")
            }
            v => v.scalar_text(),
        }
    }

    fn json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::U(n) | Value::Oct(n) | Value::Hex(n) => {
                let _ = write!(out, "{n}");
            }
            Value::I(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => json_str(s, out),
            Value::Bytes(_) => json_str(&self.scalar_text(), out),
            Value::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.json(out);
                }
                out.push(']');
            }
            Value::Obj(o) => Value::json_obj(o, out),
        }
    }

    fn json_obj(o: &Obj, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in o.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(k, out);
            out.push(':');
            v.json(out);
        }
        out.push('}');
    }
}

/// `s` as a JSON string.
fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::U(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::U(v.into())
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::U(v as u64)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<Obj> for Value {
    fn from(v: Obj) -> Self {
        Value::Obj(v)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Arr(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_text() {
        let o = Obj::new()
            .with("n", 5u64)
            .with("s", "a\"b\\c\n\u{1}")
            .with("e", "")
            .with("mode", Value::Oct(0o100644))
            .with("crc", Value::Hex(0xab))
            .with("t", Obj::new().with("sec", -1i64).with("nsec", 2u32))
            .with("list", vec![1u64, 2])
            .with("none", Vec::<Value>::new())
            .with("x", Option::<u64>::None)
            .with("raw", Value::Bytes(vec![0, 255]))
            .with(
                "recs",
                vec![Obj::new().with("name", "a b").with("ino", 3u64)],
            );
        assert_eq!(
            o.to_json(),
            r#"{"n":5,"s":"a\"b\\c\n\u0001","e":"","mode":33188,"crc":171,"t":{"sec":-1,"nsec":2},"list":[1,2],"none":[],"x":null,"raw":"00ff","recs":[{"name":"a b","ino":3}]}"#
        );
        assert_eq!(
            o.to_text(),
            "n: 5\ns: a\\\"b\\\\c\\n\\u{1}\ne: \"\"\nmode: 0100644\ncrc: 0xab\nt: sec=-1 nsec=2\n\
             list: 1, 2\nnone: (none)\nx: -\nraw: (2 bytes)\n  0000: 00 ff\n\
             recs: (1)\n  name=\"a b\" ino=3\n"
        );
    }
}
