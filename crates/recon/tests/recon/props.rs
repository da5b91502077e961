//! Property: for random tables and random edits, the reported differences equal the edits.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use proptest::prelude::*;

use crate::{assert_accounted, job, run, write};

/// One cell: NULL or a string.
type Cell = Option<String>;

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(String::new())),
        8 => "[a-c ,;|\"\n\r\t张三億元]{1,6}".prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
struct Format {
    delimiter: u8,
    crlf: bool,
    bom: bool,
    gzip: bool,
    gb18030: bool,
}

fn format() -> impl Strategy<Value = Format> {
    (
        prop::sample::select(vec![b',', b'\t', b'|', b';']),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(delimiter, crlf, bom, gzip, gb18030)| Format {
            delimiter,
            crlf,
            bom,
            gzip,
            gb18030,
        })
}

fn render(f: &Format, header: &[String], rows: &[(String, Vec<Cell>)]) -> Vec<u8> {
    let mut text = String::new();
    if f.bom {
        text.push('\u{FEFF}');
    }
    let eol = if f.crlf { "\r\n" } else { "\n" };
    let d = f.delimiter as char;
    let field = |v: &Cell| -> String {
        match v {
            None => String::new(),
            Some(s) => format!("\"{}\"", s.replace('"', "\"\"")),
        }
    };
    text.push_str(&header.join(&d.to_string()));
    text.push_str(eol);
    for (k, cells) in rows {
        text.push_str(k);
        for c in cells {
            text.push(d);
            text.push_str(&field(c));
        }
        text.push_str(eol);
    }
    let bytes = if f.gb18030 {
        encoding_rs::GB18030.encode(&text).0.into_owned()
    } else {
        text.into_bytes()
    };
    if f.gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    } else {
        bytes
    }
}

#[derive(Debug, Clone)]
struct Case {
    ncols: usize,
    rows: Vec<Vec<Cell>>,
    deleted: BTreeSet<usize>,
    /// row → column → new value
    changes: BTreeMap<usize, BTreeMap<usize, Cell>>,
    inserted: Vec<Vec<Cell>>,
    dup_rows: Vec<usize>,
    reverse: bool,
    lf: Format,
    rf: Format,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..5, 0usize..40).prop_flat_map(|(ncols, n)| {
        (
            Just(ncols),
            prop::collection::vec(prop::collection::vec(cell(), ncols), n),
            prop::collection::btree_set(0..n.max(1), 0..=n / 3),
            prop::collection::btree_map(
                0..n.max(1),
                prop::collection::btree_map(0..ncols, cell(), 1..=ncols),
                0..=n / 2,
            ),
            prop::collection::vec(prop::collection::vec(cell(), ncols), 0..5),
            prop::collection::vec(0..n.max(1), 0..3),
            any::<bool>(),
            format(),
            format(),
        )
            .prop_map(
                |(ncols, rows, deleted, changes, inserted, dup_rows, reverse, lf, rf)| {
                    let n = rows.len();
                    Case {
                        ncols,
                        deleted: deleted.into_iter().filter(|&i| i < n).collect(),
                        changes: changes.into_iter().filter(|(i, _)| *i < n).collect(),
                        dup_rows: dup_rows.into_iter().filter(|&i| i < n).collect(),
                        rows,
                        inserted,
                        reverse,
                        lf,
                        rf,
                    }
                },
            )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn reported_differences_equal_the_edits(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let header: Vec<String> =
            std::iter::once("id".to_string()).chain((0..c.ncols).map(|i| format!("c{i}"))).collect();
        let key = |i: usize| format!("k{i}");
        let left: Vec<(String, Vec<Cell>)> =
            c.rows.iter().enumerate().map(|(i, r)| (key(i), r.clone())).collect();
        let mut right = Vec::new();
        let mut changed = 0u64;
        let mut per_column: BTreeMap<String, u64> =
            (0..c.ncols).map(|i| (format!("c{i}"), 0)).collect();
        for (i, r) in c.rows.iter().enumerate() {
            if c.deleted.contains(&i) {
                continue;
            }
            let mut r = r.clone();
            let mut any = false;
            if let Some(ch) = c.changes.get(&i) {
                for (col, v) in ch {
                    if r[*col] != *v {
                        r[*col] = v.clone();
                        any = true;
                        *per_column.get_mut(&format!("c{col}")).unwrap() += 1;
                    }
                }
            }
            changed += u64::from(any);
            right.push((key(i), r));
        }
        if c.reverse {
            right.reverse();
        }
        for (j, r) in c.inserted.iter().enumerate() {
            right.push((format!("new{j}"), r.clone()));
        }
        // Extra rows with keys already present on the right come last, so they are the duplicates.
        let present: Vec<usize> =
            c.dup_rows.iter().copied().filter(|i| !c.deleted.contains(i)).collect();
        for &i in &present {
            right.push((key(i), vec![Some("dup".into()); c.ncols]));
        }
        let ext = |f: &Format| if f.gzip { "csv.gz" } else { "csv" };
        let l = write(dir.path(), &format!("l.{}", ext(&c.lf)), &render(&c.lf, &header, &left));
        let r = write(dir.path(), &format!("r.{}", ext(&c.rf)), &render(&c.rf, &header, &right));
        let mut j = job(&l, &r, &["id"]);
        for (side, f) in [(&mut j.left, &c.lf), (&mut j.right, &c.rf)] {
            side.delimiter = Some(if f.delimiter == b'\t' { "\\t".into() } else { (f.delimiter as char).to_string() });
            side.encoding = Some(if f.gb18030 { "gb18030".into() } else { "utf-8".into() });
        }
        let rep = run(&j).unwrap();
        assert_accounted(&rep);
        prop_assert_eq!(rep.only_left, c.deleted.len() as u64);
        prop_assert_eq!(rep.only_right, c.inserted.len() as u64);
        prop_assert_eq!(rep.changed, changed);
        prop_assert_eq!(rep.identical, (c.rows.len() - c.deleted.len()) as u64 - changed);
        prop_assert_eq!(rep.duplicate_keys_left, 0);
        prop_assert_eq!(rep.duplicate_keys_right, present.len() as u64);
        prop_assert_eq!(&rep.per_column, &per_column);
    }
}
