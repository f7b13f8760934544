// SPDX-License-Identifier: GPL-2.0
//! daxfs-db on image files: what it prints (text and JSON) against what
//! was written with the format encoders ([`populated`], [`TestFs`]), and
//! damaged and hostile images, on which it reports and never panics.

mod common;

use std::io::{BufRead, BufReader};
use std::ops::Index;
use std::process::{Command, Stdio};

use common::*;
use daxfs::db::{self, Command as DbCommand};
use daxfs::dev::Device;
use daxfs::fuzz;
use daxfs::image::Fs;
use daxfs::*;

const DB: &str = env!("CARGO_BIN_EXE_daxfs-db");

/// daxfs-db on `img` with `args`: exit code, stdout, stderr.
fn db_out(img: &Image, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(DB)
        .arg(img.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (code(&out), text(&out.stdout), text(&out.stderr))
}

/// daxfs-db `--json` on `img`: exit code and the object printed, which
/// must be the only line, with a `damage` list.
fn db_json(img: &Image, args: &[&str]) -> (i32, Json) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = db_out(img, &all);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(out.lines().count(), 1, "{args:?}: {out}");
    let j = Json::parse(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"));
    assert!(matches!(j["damage"], Json::Arr(_)), "{args:?}: {out}");
    (code, j)
}

/// daxfs-db `--json` that must succeed with no damage found.
fn clean(img: &Image, args: &[&str]) -> Json {
    let (code, j) = db_json(img, args);
    assert_eq!(code, 0, "{args:?}: {j:?}");
    assert_eq!(j["damage"].arr().len(), 0, "{args:?}: {j:?}");
    j
}

/// The damage lines of `j`, joined.
fn damage(j: &Json) -> String {
    let lines: Vec<&str> = j["damage"].arr().iter().map(Json::str).collect();
    lines.join("\n")
}

// ---------------------------------------------------------------------------
// A small JSON reader: enough to check that the output parses and to
// look fields up.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(i128),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static NULL: Json = Json::Null;

impl Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        match self {
            Json::Obj(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }
}

impl Index<usize> for Json {
    type Output = Json;
    fn index(&self, i: usize) -> &Json {
        self.arr().get(i).unwrap_or(&NULL)
    }
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: s.trim_end().as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        match p.i == p.s.len() {
            true => Ok(v),
            false => Err(format!("trailing bytes at {}", p.i)),
        }
    }

    fn u64(&self) -> u64 {
        match self {
            Json::Num(n) => u64::try_from(*n).unwrap(),
            j => panic!("not a number: {j:?}"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            j => panic!("not a string: {j:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            j => panic!("not a boolean: {j:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            j => panic!("not a list: {j:?}"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        match self.peek() == Some(c) {
            true => {
                self.i += 1;
                Ok(())
            }
            false => Err(format!("expected {:?} at {}", c as char, self.i)),
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        match self.s[self.i..].starts_with(w.as_bytes()) {
            true => {
                self.i += w.len();
                Ok(v)
            }
            false => Err(format!("bad token at {}", self.i)),
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        match self.peek().ok_or("unexpected end")? {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                while self.peek() != Some(b'}') {
                    if !fields.is_empty() {
                        self.eat(b',')?;
                    }
                    let Json::Str(k) = self.value()? else {
                        return Err(format!("key expected at {}", self.i));
                    };
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                }
                self.i += 1;
                Ok(Json::Obj(fields))
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                while self.peek() != Some(b']') {
                    if !items.is_empty() {
                        self.eat(b',')?;
                    }
                    items.push(self.value()?);
                }
                self.i += 1;
                Ok(Json::Arr(items))
            }
            b'"' => self.string(),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            _ => {
                let start = self.i;
                if self.peek() == Some(b'-') {
                    self.i += 1;
                }
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                text.parse()
                    .map(Json::Num)
                    .map_err(|e| format!("bad number {text:?} at {start}: {e}"))
            }
        }
    }

    fn string(&mut self) -> Result<Json, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
                            out.extend_from_slice(c.to_string().as_bytes());
                            self.i += 4;
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    }
                }
                c if c < 0x20 => return Err(format!("raw control byte at {}", self.i)),
                c => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Json::Str)
            .map_err(|e| e.to_string())
    }
}

#[test]
fn json_reader_reads_what_it_should() {
    let j =
        Json::parse(r#"{"a":[1,-2,{"b":null}],"s":"x\"\\\n\u0001é","t":true,"f":false}"#).unwrap();
    assert_eq!(j["a"][1], Json::Num(-2));
    assert_eq!(j["a"][2]["b"], Json::Null);
    assert_eq!(j["s"].str(), "x\"\\\n\u{1}é");
    assert!(j["t"].bool() && !j["f"].bool());
    for bad in ["{", "[1,]", r#"{"a" 1}"#, "tru", "\"a", "{}x"] {
        assert!(Json::parse(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------
// What it prints
// ---------------------------------------------------------------------------

fn geometry(img: &Image) -> Geometry {
    img.sb(SB_PRIMARY_OFFSET).geometry()
}

#[test]
fn superblock_state_and_journal_of_a_fresh_filesystem() {
    let img = Image::new(64 * MIB);
    let uuid = "01234567-89ab-cdef-0123-456789abcdef";
    assert_eq!(mkfs(&["-q", "-L", "dbtest", "-U", uuid], &img), 0);
    let geo = geometry(&img);
    let sb = clean(&img, &["sb"]);
    assert_eq!(sb["device_bytes"].u64(), 64 * MIB);
    assert!(sb["equal"].bool());
    for copy in ["primary", "backup"] {
        let c = &sb[copy];
        assert!(c["valid"].bool(), "{c:?}");
        assert_eq!(c["blocks"].u64(), 16384);
        assert_eq!(c["inodes"].u64(), geo.inodes);
        assert_eq!(c["data_start"].u64(), geo.data_start);
        assert_eq!(c["itable_start"].u64(), geo.itable_start);
        assert_eq!(c["journal_blocks"].u64(), JOURNAL_BLOCKS_DEFAULT);
        assert_eq!(c["label"].str(), "dbtest");
        assert_eq!(c["uuid"].str(), uuid);
        assert_eq!(c["version"].u64(), u64::from(VERSION));
    }
    let state = clean(&img, &["state"]);
    assert!(state["clean"].bool());
    assert_eq!(state["free_blocks"].u64(), geo.data_blocks());
    assert_eq!(state["free_inodes"].u64(), geo.inodes - 1);
    assert_eq!(state["orphan_head"].u64(), 0);
    assert_eq!(state["orphans"].arr().len(), 0);
    let journal = clean(&img, &["journal"]);
    assert_eq!(journal["status"].str(), "empty");
    assert_eq!(journal["committed_seq"].u64(), 0);
    assert_eq!(journal["records"].arr().len(), 0);

    // The text form holds the same fields.
    let (code, text, _) = db_out(&img, &["sb"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("primary:\n  offset: 0\n  valid: true\n"),
        "{text}"
    );
    assert!(
        text.contains("  label: dbtest\n") && text.contains("equal: true"),
        "{text}"
    );
    assert!(text.ends_with("damage: (none)\n"), "{text}");
    let (_, text, _) = db_out(&img, &["state"]);
    assert!(text.contains("clean: true\n"), "{text}");
}

#[test]
fn inodes_as_written() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    for ino in [
        ROOT_INO,
        tree.a,
        tree.big,
        tree.sub1,
        tree.c,
        tree.many,
        tree.target,
    ] {
        let want = t.inode(ino);
        let j = clean(&img, &["inode", &ino.to_string()]);
        assert_eq!(j["ino"].u64(), ino);
        assert!(!j["free"].bool() && j["in_bitmap"].bool());
        assert_eq!(j["mode"].u64(), u64::from(want.mode));
        assert_eq!(j["nlink"].u64(), u64::from(want.nlink));
        assert_eq!(j["size"].u64(), want.size);
        assert_eq!(j["blocks"].u64(), want.blocks);
        assert_eq!(j["nextents"].u64(), u64::from(want.nextents));
        assert_eq!(j["extent_block"].u64(), want.extent_block);
        assert_eq!(j["parent"].u64(), want.parent);
        assert_eq!(j["mtime"]["sec"], Json::Num(want.mtime.sec.into()));
        let inline = j["inline_extents"].arr();
        assert_eq!(inline.len(), want.inline_count());
        for (i, e) in inline.iter().enumerate() {
            let w = want.inline_extent(i).unwrap().unwrap();
            assert_eq!(e["pblk"].u64(), w.pblk);
            assert_eq!(e["lblk"].u64(), u64::from(w.lblk));
        }
    }
    let a = clean(&img, &["inode", &tree.a.to_string()]);
    assert_eq!(a["type"].str(), "file");
    assert_eq!(a["nlink"].u64(), 2, "a is also linked as a2");
    let root = clean(&img, &["inode", "1"]);
    assert_eq!(
        (root["type"].str(), root["nlink"].u64()),
        ("dir", 4),
        "root holds sub1 and many"
    );
    let target = clean(&img, &["inode", &tree.target.to_string()]);
    assert_eq!(target["nlink"].u64(), 201);
    // Symlinks, fast and slow, and special files.
    let fast = t.lookup(ROOT_INO, "fast").unwrap();
    let slow = t.lookup(tree.sub1, "slow").unwrap();
    let fifo = t.lookup(ROOT_INO, "fifo").unwrap();
    let null = t.lookup(tree.sub1, "null").unwrap();
    let j = clean(&img, &["inode", &fast.to_string()]);
    assert_eq!((j["type"].str(), j["symlink"].str()), ("symlink", "a"));
    let j = clean(&img, &["inode", &slow.to_string()]);
    assert_eq!(j["symlink"].str(), "x".repeat(300));
    assert_eq!(
        clean(&img, &["inode", &fifo.to_string()])["type"].str(),
        "fifo"
    );
    let j = clean(&img, &["inode", &null.to_string()]);
    assert_eq!((j["type"].str(), j["mode"].u64()), ("chardev", 0o20666));
    // A free slot, in hexadecimal too; out of range.
    let geo = geometry(&img);
    let last = format!("{:#x}", geo.inodes);
    let j = clean(&img, &["inode", &last]);
    assert!(j["free"].bool() && !j["in_bitmap"].bool());
    for bad in [0, geo.inodes + 1] {
        let (code, j) = db_json(&img, &["inode", &bad.to_string()]);
        assert_eq!(code, 1);
        assert!(j["error"].str().contains("out of range"), "{j:?}");
    }
    // Text.
    let (code, text, _) = db_out(&img, &["inode", &tree.a.to_string()]);
    assert_eq!(code, 0);
    for line in [
        "type: file\n",
        "mode: 0100644\n",
        "nlink: 2\n",
        "inline_extents: (3)\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[test]
fn directory_records_by_name() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let root = clean(&img, &["dir", "1"]);
    let names: Vec<(&str, u64)> = root["entries"]
        .arr()
        .iter()
        .map(|e| (e["name"].str(), e["ino"].u64()))
        .collect();
    let want = ["a", "big", "sub1", "many", "a2", "fast", "fifo"];
    assert_eq!(names.len(), want.len(), "{names:?}");
    for name in want {
        let ino = t.lookup(ROOT_INO, name).unwrap();
        assert!(names.contains(&(name, ino)), "{name} -> {ino} in {names:?}");
    }
    assert_eq!(root["parent"].u64(), ROOT_INO);
    let sub1 = &root["entries"][2];
    assert_eq!((sub1["name"].str(), sub1["type"].str()), ("sub1", "dir"));
    assert_eq!(sub1["ino"].u64(), tree.sub1);
    // 200 long names and "target" in 3 blocks, each record where its
    // readdir position says.
    let many = clean(&img, &["dir", &tree.many.to_string()]);
    let entries = many["entries"].arr();
    assert_eq!(entries.len(), 201);
    assert_eq!(many["blocks_read"].u64(), 3);
    assert_eq!(many["size"].u64(), 3 * BS);
    assert!(entries.iter().all(|e| e["ino"].u64() == tree.target));
    assert!(entries
        .iter()
        .any(|e| e["name"].str() == "a-rather-long-name-number-199" && e["lblk"].u64() == 2));
    for e in entries {
        let pos = 2 + e["lblk"].u64() * BS + e["offset"].u64();
        assert_eq!(e["pos"].u64(), pos);
    }
    // Not a directory.
    let (code, j) = db_json(&img, &["dir", &tree.a.to_string()]);
    assert_eq!(code, 1);
    assert!(j["error"].str().contains("not a directory"), "{j:?}");
    let (_, text, _) = db_out(&img, &["dir", &tree.sub1.to_string()]);
    assert!(
        text.contains(&format!("name=\"sub2\" ino={} type=\"dir\"", tree.sub2)),
        "{text}"
    );
}

/// The extents of a `daxfs-db extents` object.
fn extents_of(j: &Json) -> Vec<Extent> {
    j["extents"]
        .arr()
        .iter()
        .map(|e| {
            let lblk = u32::try_from(e["lblk"].u64()).unwrap();
            assert_eq!(e["offset"].u64(), u64::from(lblk) * BS);
            ext(
                lblk,
                u32::try_from(e["len"].u64()).unwrap(),
                e["unwritten"].bool(),
                e["pblk"].u64(),
            )
        })
        .collect()
}

/// [`populated`] plus /runs: 20 extents of 1 to 3 blocks (a chain of one
/// extent block); returns its inode and extents.
fn with_runs() -> (Image, Tree, u64, Vec<Extent>) {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let ino = t.alloc_inode(&Inode::new(S_IFREG | 0o600, t.now));
    let exts: Vec<Extent> = (0..20u32)
        .map(|i| {
            let len = 1 + i % 3;
            ext(10 * i, len, i % 4 == 1, t.alloc_run(len.into()))
        })
        .collect();
    t.set_extents(ino, &exts);
    t.edit(ino, |i| i.size = 200 * BS);
    t.add_entry(ROOT_INO, "runs", ino);
    t.finish();
    (img, tree, ino, exts)
}

#[test]
fn extent_maps_as_written() {
    let (img, tree, runs, written) = with_runs();
    let mut t = TestFs::open(&img);
    let j = clean(&img, &["extents", &runs.to_string()]);
    assert_eq!(extents_of(&j), written);
    let map = t.map(runs);
    assert_eq!(map.chain.len(), 1);
    assert_eq!(j["chain"][0]["block"].u64(), map.chain[0]);
    assert_eq!(j["chain"][0]["count"].u64(), 12);
    assert_eq!(j["chain"][0]["owner"].u64(), runs);
    assert_eq!(j["chain"][0]["next"].u64(), 0);
    let mapped: u64 = written.iter().map(|e| u64::from(e.len)).sum();
    assert_eq!(j["mapped_blocks"].u64(), mapped);
    assert_eq!(j["blocks"].u64(), mapped + 1);
    // big: 300 extents, 8 inline and 2 chain blocks.
    let j = clean(&img, &["extents", &tree.big.to_string()]);
    let map = t.map(tree.big);
    assert_eq!(extents_of(&j), map.extents);
    let chain: Vec<u64> = j["chain"].arr().iter().map(|c| c["block"].u64()).collect();
    assert_eq!(chain, map.chain);
    assert_eq!(j["chain"][0]["next"].u64(), map.chain[1]);
    assert_eq!(
        (j["chain"][0]["count"].u64(), j["chain"][1]["count"].u64()),
        (254, 300 - 8 - 254)
    );
    // A file with none.
    let empty = t.lookup(tree.sub2, "empty").unwrap();
    let j = clean(&img, &["extents", &empty.to_string()]);
    assert_eq!(j["extents"].arr().len(), 0);
}

#[test]
fn owner_of_data_chain_and_metadata_blocks() {
    let (img, tree, runs, written) = with_runs();
    let mut t = TestFs::open(&img);
    let geo = geometry(&img);
    // Every block of /runs, at its file offset.
    for e in &written {
        for k in 0..u64::from(e.len) {
            let j = clean(&img, &["owner", &(e.pblk + k).to_string()]);
            assert_eq!((j["area"].str(), j["status"].str()), ("data", "in use"));
            assert!(j["in_bitmap"].bool());
            let owners = j["owners"].arr();
            assert_eq!(owners.len(), 1, "{j:?}");
            let o = &owners[0];
            assert_eq!(o["ino"].u64(), runs);
            assert_eq!(o["what"].str(), "data");
            assert_eq!(o["lblk"].u64(), u64::from(e.lblk) + k);
            assert_eq!(o["offset"].u64(), (u64::from(e.lblk) + k) * BS);
            assert_eq!(o["unwritten"].bool(), e.unwritten);
        }
    }
    // Extent chain blocks.
    let big = t.map(tree.big);
    for (i, &b) in big.chain.iter().enumerate() {
        let j = clean(&img, &["owner", &b.to_string()]);
        let o = &j["owners"][0];
        assert_eq!(
            (o["ino"].u64(), o["what"].str()),
            (tree.big, "extent block")
        );
        assert_eq!(o["index"].u64(), i as u64);
    }
    // A directory block.
    let dir = clean(&img, &["dir", &tree.many.to_string()]);
    let second = dir["entries"]
        .arr()
        .iter()
        .find(|e| e["lblk"].u64() == 1)
        .unwrap();
    let j = clean(&img, &["owner", &second["block"].u64().to_string()]);
    let o = &j["owners"][0];
    assert_eq!(
        (o["ino"].u64(), o["type"].str(), o["lblk"].u64()),
        (tree.many, "dir", 1)
    );
    // The metadata areas.
    for (block, area) in [
        (0, "primary superblock"),
        (1, "backup superblock"),
        (STATE_BLOCK, "state block"),
        (geo.journal_start + 7, "journal"),
        (geo.ibitmap_start, "inode bitmap"),
        (geo.bbitmap_start, "block bitmap"),
        (geo.itable_start + 2, "inode table"),
        (
            geo.data_start - 1,
            "reserved (alignment before the data area)",
        ),
    ] {
        let j = clean(&img, &["owner", &block.to_string()]);
        assert_eq!(
            (j["area"].str(), j["status"].str()),
            (area, "metadata"),
            "{block}"
        );
        assert_eq!(j["owners"].arr().len(), 0);
    }
    let j = clean(&img, &["owner", &(geo.itable_start + 2).to_string()]);
    assert_eq!((j["first_ino"].u64(), j["last_ino"].u64()), (33, 48));
    assert_eq!(
        clean(&img, &["owner", &(geo.journal_start + 7).to_string()])["index"].u64(),
        7
    );
    // A free block; past the end.
    let free = t.free_block();
    let j = clean(&img, &["owner", &free.to_string()]);
    assert_eq!(j["status"].str(), "free");
    assert!(!j["in_bitmap"].bool() && j["owners"].arr().is_empty());
    let (code, j) = db_json(&img, &["owner", &geo.blocks.to_string()]);
    assert_eq!(code, 1);
    assert!(j["error"].str().contains("past the end"), "{j:?}");
    // Text.
    let (_, text, _) = db_out(&img, &["owner", &written[1].pblk.to_string()]);
    assert!(
        text.contains(&format!("  ino={runs} type=\"file\"")),
        "{text}"
    );
    assert!(
        text.contains("what=\"data\" lblk=10 offset=40960 unwritten=true"),
        "{text}"
    );
}

#[test]
fn paths_resolve_to_inodes() {
    let (img, tree) = populated();
    for (path, ino) in [
        ("/", ROOT_INO),
        ("/a", tree.a),
        ("/a2", tree.a),
        ("/sub1/sub2/c", tree.c),
        ("sub1//sub2/./c", tree.c),
        ("/sub1/sub2/..", tree.sub1),
        ("/sub1/../many/target", tree.target),
        ("/..", ROOT_INO),
    ] {
        let j = clean(&img, &["path", path]);
        assert_eq!(j["ino"].u64(), ino, "{path}");
        assert_eq!(j["path"].str(), path);
    }
    let j = clean(&img, &["path", "/sub1/sub2"]);
    let steps: Vec<u64> = j["steps"].arr().iter().map(|s| s["ino"].u64()).collect();
    assert_eq!(steps, [ROOT_INO, tree.sub1, tree.sub2]);
    assert_eq!(j["type"].str(), "dir");
    for (path, why) in [("/nope", "not found"), ("/a/x", "not a directory")] {
        let (code, j) = db_json(&img, &["path", path]);
        assert_eq!(code, 1, "{path}");
        assert!(j["error"].str().contains(why), "{path}: {j:?}");
        assert_eq!(j["ino"], Json::Null);
        let (code, _, err) = db_out(&img, &["path", path]);
        assert_eq!(code, 1);
        assert!(err.starts_with("daxfs-db: ") && err.contains(why), "{err}");
    }
}

#[test]
fn usage_errors_and_a_closed_stdout() {
    let (img, _) = populated();
    for args in [
        &[][..],
        &["inode"],
        &["inode", "x"],
        &["inode", "-1"],
        &["owner", "0xg"],
        &["frobnicate"],
        &["sb", "extra"],
    ] {
        let (code, out, err) = db_out(&img, args);
        assert_eq!(code, 1, "{args:?}: {out}");
        assert!(err.starts_with("daxfs-db: "), "{args:?}: {err}");
    }
    let out = Command::new(DB).arg("--help").output().unwrap();
    assert_eq!(code(&out), 0);
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "sb", "state", "journal", "inode", "dir", "extents", "owner", "path", "--json",
    ] {
        assert!(help.contains(cmd), "{cmd} in {help}");
    }
    let missing = std::env::temp_dir().join("daxfs-db-test-does-not-exist");
    let out = Command::new(DB).arg(&missing).arg("sb").output().unwrap();
    assert_eq!(code(&out), 1);

    // `daxfs-db IMG extents HUGE | head -1`: far more than a pipe holds
    // (3000 extents), the reader leaves after one line; the writer ends
    // quietly.
    let mut t = TestFs::open(&img);
    let huge = t.mkfile(ROOT_INO, "huge", 3000);
    t.finish();
    for json in [false, true] {
        let mut cmd = Command::new(DB);
        cmd.arg(img.path()).args(["extents", &huge.to_string()]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(code(&out), 0, "{out:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            line.starts_with(if json { "{\"ino\":" } else { "ino: " }),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------
// Damage
// ---------------------------------------------------------------------------

#[test]
fn damaged_inode_is_shown_as_stored() {
    let (img, tree) = populated();
    let geo = geometry(&img);
    let size = TestFs::open(&img).inode(tree.a).size;
    let at = geo.inode_offset(tree.a).unwrap();
    // uid (byte 8) changed behind the checksum's back.
    img.write_at(at + 8, &[42]);
    let (code, j) = db_json(&img, &["inode", &tree.a.to_string()]);
    assert_eq!(code, 0, "{j:?}");
    assert!(damage(&j).contains("checksum mismatch"), "{j:?}");
    assert_eq!((j["uid"].u64(), j["size"].u64()), (42, size));
    let (code, text, _) = db_out(&img, &["inode", &tree.a.to_string()]);
    assert_eq!(code, 0);
    assert!(
        text.contains("damage: (1)\n  inode 2: checksum mismatch"),
        "{text}"
    );
    // Its extent map and its owner still show, with the damage.
    let (code, j) = db_json(&img, &["extents", &tree.a.to_string()]);
    assert_eq!((code, j["extents"].arr().len()), (0, 3), "{j:?}");
    assert!(damage(&j).contains("checksum mismatch"));
    let pblk = j["extents"][0]["pblk"].u64().to_string();
    let (code, j) = db_json(&img, &["owner", &pblk]);
    assert_eq!((code, j["owners"][0]["ino"].u64()), (0, tree.a), "{j:?}");
    assert!(j["owners"][0]["bad_checksum"].bool());

    // A mode no file has, under a valid checksum: the slot does not decode.
    let mut t = TestFs::open(&img);
    let mut inode = t.inode(tree.c);
    inode.mode = 0o170644;
    let mut slot = [0u8; INODE_SIZE];
    inode.encode(&mut slot);
    img.write_at(geo.inode_offset(tree.c).unwrap(), &slot);
    let (code, j) = db_json(&img, &["inode", &tree.c.to_string()]);
    assert_eq!(code, 1);
    assert!(j["error"].str().contains("bad mode"), "{j:?}");
    assert_eq!(j["raw"].str().len(), 2 * INODE_SIZE);
    let (code, text, err) = db_out(&img, &["inode", &tree.c.to_string()]);
    assert_eq!(code, 1);
    assert!(
        text.contains("raw: (256 bytes)\n  0000: a4 f1 00 00"),
        "{text}"
    );
    assert!(err.contains("bad mode"), "{err}");
    // The directory naming it says so.
    let (code, j) = db_json(&img, &["dir", &tree.sub2.to_string()]);
    assert_eq!(code, 0);
    assert!(damage(&j).contains("\"c\": inode 6: bad mode"), "{j:?}");
}

#[test]
fn extent_chain_loop_is_reported() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let chain = t.map(tree.big).chain;
    // The second extent block points back at the first.
    let mut block = *t.fs.img.block(chain[1]).unwrap();
    let mut h = ExtentBlockHeader::decode(&block).unwrap();
    h.next = chain[0];
    h.encode(&mut block).unwrap();
    img.write_at(chain[1] * BS, &block);
    let (code, j) = db_json(&img, &["extents", &tree.big.to_string()]);
    assert_eq!(code, 0);
    let d = damage(&j);
    assert!(
        d.contains(&format!("extent block {}: the chain loops", chain[0])),
        "{d}"
    );
    assert_eq!(j["chain"].arr().len(), 2);
    assert_eq!(j["extents"].arr().len(), 300);
    // A chain block that does not decode.
    img.flip(chain[1] * BS + 100);
    let (code, j) = db_json(&img, &["extents", &tree.big.to_string()]);
    assert_eq!(code, 0);
    assert!(
        damage(&j).contains("extent block checksum mismatch"),
        "{j:?}"
    );
    assert_eq!(j["extents"].arr().len(), 8 + 254);
    // Its blocks are not known any more: the owner search says so.
    let lost = t.free_block();
    t.fs.set_bit(t.fs.geo.bbitmap_start, lost, true).unwrap();
    t.fs.img.flush().unwrap();
    let (code, j) = db_json(&img, &["owner", &lost.to_string()]);
    assert_eq!((code, j["status"].str()), (0, "leaked"), "{j:?}");
    assert!(damage(&j).contains("cannot be read"), "{j:?}");
}

#[test]
fn damaged_superblocks_and_state_block() {
    let (img, tree) = populated();
    let geo = geometry(&img);
    // A layout field out of range under a valid checksum.
    let mut sb = img.sb(SB_BACKUP_OFFSET);
    sb.ibitmap_start += 1;
    let mut buf = [0u8; SB_SIZE];
    sb.encode(&mut buf);
    img.write_at(SB_BACKUP_OFFSET, &buf);
    let (code, j) = db_json(&img, &["sb"]);
    assert_eq!(code, 0);
    assert!(!j["backup"]["valid"].bool() && j["primary"]["valid"].bool());
    assert!(!j["equal"].bool());
    let d = damage(&j);
    let want = format!(
        "backup superblock: ibitmap_start {}, expected {}",
        geo.ibitmap_start + 1,
        geo.ibitmap_start
    );
    assert!(d.contains(&want) && d.contains("superblocks differ"), "{d}");
    // A bad primary: fields as stored; the other commands use the backup,
    // which is valid again.
    img.write_at(SB_BACKUP_OFFSET, &img.read()[..SB_SIZE]);
    img.flip(SB_PRIMARY_OFFSET + 30);
    let (code, j) = db_json(&img, &["sb"]);
    assert_eq!(code, 0);
    assert!(!j["primary"]["valid"].bool() && j["backup"]["valid"].bool());
    assert!(
        damage(&j).contains("primary superblock: checksum mismatch"),
        "{j:?}"
    );
    assert!(matches!(j["primary"]["blocks"], Json::Num(_)));
    let (code, j) = db_json(&img, &["inode", &tree.a.to_string()]);
    assert_eq!((code, j["type"].str()), (0, "file"));
    assert!(damage(&j).contains("using the backup"), "{j:?}");
    // Neither decodes.
    img.flip(SB_PRIMARY_OFFSET);
    img.flip(SB_BACKUP_OFFSET);
    let (code, j) = db_json(&img, &["sb"]);
    assert_eq!(code, 1);
    assert_eq!(j["primary"]["raw"].str().len(), 2 * SB_SIZE);
    let (code, j) = db_json(&img, &["inode", "1"]);
    assert_eq!(code, 1);
    assert!(j["error"].str().contains("no valid superblock"), "{j:?}");
    img.flip(SB_PRIMARY_OFFSET);
    img.flip(SB_PRIMARY_OFFSET + 30);
    img.flip(SB_BACKUP_OFFSET);

    // The state block: orphan list out of range, then a bad checksum.
    let mut t = TestFs::open(&img);
    let mut s = t.fs.state().unwrap().unwrap();
    s.orphan_head = tree.a;
    t.fs.put_state(&s).unwrap();
    t.edit(tree.a, |i| i.orphan_next = geo.inodes + 5);
    t.fs.img.flush().unwrap();
    let (code, j) = db_json(&img, &["state"]);
    assert_eq!(code, 0);
    assert_eq!(j["orphans"].arr(), [Json::Num(tree.a.into())]);
    let d = damage(&j);
    assert!(
        d.contains(&format!("inode {}: out of range", geo.inodes + 5)),
        "{d}"
    );
    let (_, j) = db_json(&img, &["inode", &tree.a.to_string()]);
    assert!(damage(&j).contains("orphan_next"), "{j:?}");
    img.flip(STATE_BLOCK * BS + 50);
    let (code, j) = db_json(&img, &["state"]);
    assert_eq!(code, 0);
    assert!(
        damage(&j).contains("state block: checksum mismatch"),
        "{j:?}"
    );
    assert_eq!(j["orphan_head"].u64(), tree.a);
    img.write_at(STATE_BLOCK * BS, b"NOTSTATE");
    let (code, j) = db_json(&img, &["journal"]);
    assert_eq!(code, 1);
    assert!(j["error"].str().contains("bad state block magic"), "{j:?}");
}

#[test]
fn pending_journal_transaction() {
    let (img, tree) = populated();
    let mut t = TestFs::open(&img);
    let d = t.mkdir(tree.sub2, "new");
    t.mkfile(d, "f", 2);
    let seq = t.commit_to_journal();
    let geo = geometry(&img);
    let j = clean(&img, &["journal"]);
    assert_eq!(j["status"].str(), "pending");
    assert_eq!(j["committed_seq"].u64(), seq);
    assert_eq!(j["applied_seq"].u64(), seq - 1);
    assert!(j["crc_ok"].bool());
    assert_eq!(j["tx_crc"], j["computed_crc"]);
    let records = j["records"].arr();
    assert!(records.iter().all(|r| r["allowed"].bool()));
    let areas: Vec<&str> = records.iter().map(|r| r["area"].str()).collect();
    for area in [
        "inode bitmap",
        "block bitmap",
        "inode table",
        "state block",
        "data",
    ] {
        assert!(areas.contains(&area), "{area} in {areas:?}");
    }
    // The record of the new directory's inode table block names the inodes.
    let itable = records
        .iter()
        .find(|r| r["block"].u64() == geo.itable_start + (d - 1) / INODES_PER_BLOCK)
        .unwrap();
    let first = (d - 1) / INODES_PER_BLOCK * INODES_PER_BLOCK + 1;
    assert_eq!(itable["ino"].u64(), first);
    assert_eq!(itable["last_ino"].u64(), first + INODES_PER_BLOCK - 1);
    let mut at = 0;
    for r in records {
        assert_eq!(r["journal_offset"].u64(), at);
        at += record_size(r["len"].u64() as usize) as u64;
    }
    assert_eq!(at, j["tx_len"].u64());
    // A transaction that does not match its checksum.
    img.flip(geo.journal_start * BS + 20);
    let (code, j) = db_json(&img, &["journal"]);
    assert_eq!((code, j["status"].str()), (0, "corrupt"));
    assert!(
        damage(&j).contains("transaction checksum mismatch"),
        "{j:?}"
    );
}

/// Every command on `path`, in process: none may panic; returns how many
/// failed to show their item.
fn every_command(path: &std::path::Path, inodes: u64, blocks: &[u64]) -> usize {
    let mut cmds = vec![DbCommand::Sb, DbCommand::State, DbCommand::Journal];
    for ino in 0..=inodes {
        cmds.extend([
            DbCommand::Inode(ino),
            DbCommand::Dir(ino),
            DbCommand::Extents(ino),
        ]);
    }
    cmds.extend(blocks.iter().map(|&b| DbCommand::Owner(b)));
    for p in [
        "/",
        "/a",
        "/sub1/sub2/c",
        "/many/target",
        "/sub1/slow",
        "/x/..",
    ] {
        cmds.push(DbCommand::Path(p.into()));
    }
    let mut failed = 0;
    for cmd in &cmds {
        let out = db::run(path, cmd);
        assert!(Json::parse(&out.json()).is_ok(), "{cmd:?}: {}", out.json());
        let _ = out.text();
        failed += usize::from(out.error.is_some());
    }
    failed
}

#[test]
fn hostile_images_never_make_it_panic() {
    let (img, tree) = populated();
    let undo = img.path().with_extension("undo");
    let mut t = TestFs::open(&img);
    let mut blocks: Vec<u64> = vec![0, 2, t.fs.geo.data_start, t.fs.geo.blocks - 1];
    blocks.extend(t.map(tree.big).chain);
    blocks.push(t.map(tree.many).extents[0].pblk);
    drop(t);
    // Inodes 1-13 are in use, 14-20 free; 1, 4, 5 and 8 are directories.
    // Failures: inode 0 for inode, dir and extents; dir of the 9 others in
    // use and the 7 free; extents of the 7 free; the path /x/.. .
    assert_eq!(every_command(img.path(), 20, &blocks), 3 + 16 + 7 + 1);
    for seed in 0..60 {
        let mut fs = Fs::open(img.path(), true).unwrap();
        let m = fuzz::mutate(&mut fs, seed).unwrap();
        fuzz::write_with_undo(&mut fs.img, &undo).unwrap();
        drop(fs);
        every_command(img.path(), 20, &blocks);
        // And through the binary, with --json.
        for args in [&["inode", "3"][..], &["dir", "1"], &["journal"], &["sb"]] {
            let (code, _) = db_json(&img, args);
            assert!(code == 0 || code == 1, "seed {seed}: {m}: {args:?}");
        }
        fuzz::BlockSet::load(&undo)
            .unwrap()
            .restore(&Device::open(img.path(), true).unwrap())
            .unwrap();
    }
    std::fs::remove_file(&undo).unwrap();
}
