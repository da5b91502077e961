//! Input quirks (issue 6 "Inputs" and "Bad input"): encodings, BOM, CRLF, quoting, gzip, errors.

use std::io::Write;

use tianshu_recon::{BadRowPolicy, ColumnRule, NullPolicy, ReconError};

use crate::{assert_accounted, job, run, write};

const LEFT: &str = "id,name,amt\n1,张三,1.50\n2,李四,2\n3,王五,3\n";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gbk_file_with_pipe_delimiter_matches_utf8_file() {
    // 億 is 0x83 0x7C in GBK: its trail byte is '|', which must not split the field.
    let dir = tempfile::tempdir().unwrap();
    let text = "id|name\n1|億元\n2|张三\n";
    let (gbk, _, bad) = encoding_rs::GBK.encode(text);
    assert!(!bad);
    assert!(gbk.windows(2).any(|w| w == [0x83, 0x7C]));
    let l = write(dir.path(), "l.txt", &gbk);
    let r = write(dir.path(), "r.txt", text.as_bytes());
    let mut j = job(&l, &r, &["id"]);
    j.left.encoding = Some("gbk".into());
    j.left.delimiter = Some("|".into());
    j.right.delimiter = Some("|".into());
    let rep = run(&j).unwrap();
    assert_eq!((rep.identical, rep.changed), (2, 0), "{rep:?}");
}

#[test]
fn gb18030_with_its_bom_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (enc, _, _) =
        encoding_rs::GB18030.encode("\u{FEFF}id,name,amt\n1,张三,1.50\n2,李四,2\n3,王五,3\n");
    assert!(enc.starts_with(&[0x84, 0x31, 0x95, 0x33]));
    let l = write(dir.path(), "l.csv.gz", &gzip(&enc));
    let r = write(dir.path(), "r.csv", LEFT.as_bytes());
    let mut j = job(&l, &r, &["id"]);
    j.left.encoding = Some("gb18030".into());
    let rep = run(&j).unwrap();
    assert_eq!(rep.identical, 3, "{rep:?}");
}

#[test]
fn utf8_bom_crlf_and_column_order_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", LEFT.as_bytes());
    let r = write(
        dir.path(),
        "r.csv",
        "\u{FEFF}amt,id,name\r\n1.50,1,张三\r\n2,2,李四\r\n3,3,王五".as_bytes(),
    );
    let rep = run(&job(&l, &r, &["id"])).unwrap();
    assert_eq!(
        (rep.identical, rep.changed, rep.only_left, rep.only_right),
        (3, 0, 0, 0)
    );
}

#[test]
fn quoted_delimiters_newlines_and_doubled_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(
        dir.path(),
        "l.csv",
        b"id,addr\n1,\"a, b\"\n2,\"line1\nline2\"\n3,\"say \"\"hi\"\"\"\n4,plain\n",
    );
    let r = write(
        dir.path(),
        "r.csv",
        b"id,addr\r\n1,\"a, b\"\r\n2,\"line1\nline2\"\r\n3,\"say \"\"hi\"\"\"\r\n4,\"plain\"\r\n",
    );
    let rep = run(&job(&l, &r, &["id"])).unwrap();
    assert_eq!((rep.identical, rep.changed), (4, 0), "{rep:?}");
}

#[test]
fn ragged_row_is_an_error_with_its_physical_line() {
    let dir = tempfile::tempdir().unwrap();
    // Line 3 holds a quoted line break, so the ragged row starts on line 5.
    let l = write(dir.path(), "l.csv", b"id,v\n1,a\n2,\"x\ny\"\n3\n4,d\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n");
    let err = run(&job(&l, &r, &["id"])).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ReconError::Input { line: 5, .. }), "{msg}");
    assert!(
        msg.contains("l.csv:5:") && msg.contains("expected 2 fields, found 1"),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_and_invalid_gbk_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id,v\n1,a\n2,\xff\xfe\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n");
    let err = run(&job(&l, &r, &["id"])).unwrap_err();
    assert!(matches!(err, ReconError::Input { line: 3, .. }), "{err}");
    // 0x81 0x20 is not a GBK sequence.
    let g = write(dir.path(), "g.csv", b"id,v\n1,a\n2,b\n3,\x81\x20\n");
    let mut j = job(&g, &r, &["id"]);
    j.left.encoding = Some("gbk".into());
    let err = run(&j).unwrap_err();
    assert!(matches!(err, ReconError::Input { line: 4, .. }), "{err}");
}

#[test]
fn missing_key_column_names_the_file_and_header() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id,v\n1,a\n");
    let r = write(dir.path(), "r.csv", b"ident,v\n1,a\n");
    let err = run(&job(&l, &r, &["id"])).unwrap_err().to_string();
    assert!(
        err.contains("r.csv:1:") && err.contains("key column \"id\""),
        "{err}"
    );
    let r2 = write(dir.path(), "r2.csv", b"id,v,extra\n1,a,b\n");
    let err = run(&job(&l, &r2, &["id"])).unwrap_err().to_string();
    assert!(err.contains("\"extra\""), "{err}");
}

#[test]
fn unterminated_quote_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id,v\n1,a\n2,\"open\n3,c\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n");
    let err = run(&job(&l, &r, &["id"])).unwrap_err().to_string();
    assert!(err.contains("unterminated"), "{err}");
}

#[test]
fn reject_policy_writes_bad_rows_aside_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(
        dir.path(),
        "l.csv",
        b"id,v\n1,a\n2\n3,c,extra\n4,\xff\n5,e\n",
    );
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n5,e\n");
    let mut j = job(&l, &r, &["id"]);
    j.bad_rows = BadRowPolicy::Reject;
    j.reject_dir = Some(dir.path().join("rejects"));
    let rep = run(&j).unwrap();
    assert_accounted(&rep);
    assert_eq!((rep.rows_left, rep.rejected_left, rep.identical), (5, 3, 2));
    let rows = std::fs::read(dir.path().join("rejects/left.rejected")).unwrap();
    assert_eq!(rows, b"2\n3,c,extra\n4,\xff\n");
    let log = std::fs::read_to_string(dir.path().join("rejects/left.rejected.log")).unwrap();
    assert!(log.contains("l.csv:3: expected 2 fields, found 1"), "{log}");
    assert!(log.contains("l.csv:5: invalid UTF-8"), "{log}");
}

#[test]
fn duplicates_are_reported_never_collapsed() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id,v\n1,a\n1,a\n1,b\n2,x\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n2,y\n2,y\n");
    let rep = run(&job(&l, &r, &["id"])).unwrap();
    assert_accounted(&rep);
    // The first row per key is compared; the extras are counted.
    assert_eq!(
        (
            rep.identical,
            rep.changed,
            rep.duplicate_keys_left,
            rep.duplicate_keys_right
        ),
        (1, 1, 2, 1)
    );
}

#[test]
fn null_versus_empty_follows_the_declared_policy() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id,v\n1,\n2,\"\"\n3,\\N\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,\"\"\n2,\"\"\n3,\n");
    let rep = run(&job(&l, &r, &["id"])).unwrap();
    // Default (distinct): 1 differs (NULL vs ''), 3 differs ('\N' is text without a null token).
    assert_eq!((rep.identical, rep.changed), (1, 2));
    let mut j = job(&l, &r, &["id"]);
    j.left.null_token = Some("\\N".into());
    let rep = run(&j).unwrap();
    // Left's NULL is now `\N`, so its unquoted empty field is '' (row 1 equal), row 3 is NULL on
    // both sides.
    assert_eq!((rep.identical, rep.changed), (3, 0));
    let mut j = job(&l, &r, &["id"]);
    j.null_policy = NullPolicy::Equal;
    let rep = run(&j).unwrap();
    // NULL = '' (row 1), but the text `\N` still differs from NULL (row 3).
    assert_eq!((rep.identical, rep.changed), (2, 1));
    assert_eq!(rep.sample[0].key, "3");
}

#[test]
fn column_rules_trim_case_scale_dates_and_code_maps() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(
        dir.path(),
        "l.csv",
        "id,name,amt,day,status\n 1 ,  Abc ,001.5,20261201,10\n2,x,2.004,20261202,11\n3,y,3,20261203,99\n".as_bytes(),
    );
    let r = write(
        dir.path(),
        "r.csv",
        "id,name,amt,day,status\n1,ABC,1.50,2026-12-01,A\n2,X,2.00,2026-12-02,B\n3,Y,3.01,2026-12-03,99\n".as_bytes(),
    );
    let text = r#"
key = ["id"]
[normalize.id]
trim = true
[normalize.name]
trim = true
case = "upper"
[normalize.amt]
scale = 2
[normalize.day]
left_date_format = "%Y%m%d"
right_date_format = "%Y-%m-%d"
[normalize.status]
map_left = { "10" = "A", "11" = "B" }
"#;
    let mut j = tianshu_recon::JobSpec::from_toml(text).unwrap();
    j.left.path = Some(l);
    j.right.path = Some(r);
    let rep = run(&j).unwrap();
    assert_eq!((rep.identical, rep.changed), (2, 1), "{rep:?}");
    assert_eq!(rep.per_column["amt"], 1);
    let d = rep
        .sample
        .iter()
        .find(|d| d.column.as_deref() == Some("amt"))
        .unwrap();
    assert_eq!(
        (d.left.as_deref(), d.right.as_deref()),
        (Some("3.00"), Some("3.01"))
    );
    let _ = ColumnRule::default();
}

#[test]
fn bad_job_fields_are_named() {
    let err = tianshu_recon::JobSpec::from_toml("key = [\"id\"]\nbogus = 1\n").unwrap_err();
    assert!(err.to_string().contains("bogus"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", b"id\n1\n");
    let mut j = job(&l, &l, &["id"]);
    j.left.delimiter = Some("||".into());
    assert!(run(&j)
        .unwrap_err()
        .to_string()
        .starts_with("left.delimiter:"));
    let mut j = job(&l, &l, &["id"]);
    j.right.encoding = Some("latin9".into());
    assert!(run(&j)
        .unwrap_err()
        .to_string()
        .starts_with("right.encoding:"));
    let j = job(&l, &l, &[]);
    assert!(run(&j).unwrap_err().to_string().starts_with("key:"));
}

#[test]
fn declared_schema_without_header_and_tab_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.tsv", b"1\ta\n2\tb\n");
    let r = write(dir.path(), "r.csv", b"id,v\n1,a\n2,c\n");
    let mut j = job(&l, &r, &["id"]);
    j.left.header = Some(false);
    j.left.columns = Some(vec!["id".into(), "v".into()]);
    j.left.delimiter = Some("\\t".into());
    let rep = run(&j).unwrap();
    assert_eq!((rep.identical, rep.changed, rep.rows_left), (1, 1, 2));
}

#[test]
fn details_csv_and_xlsx_hold_every_difference() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(
        dir.path(),
        "l.csv",
        "id,v,w\n1,a,x\n2,b,y\n3,c,z\n".as_bytes(),
    );
    let r = write(
        dir.path(),
        "r.csv",
        "id,v,w\n1,a,x\n2,B,Y\n4,d,\n".as_bytes(),
    );
    let j = job(&l, &r, &["id"]);
    let csv = dir.path().join("d.csv");
    let opts = tianshu_recon::RunOptions {
        details: Some(tianshu_recon::details::open(&csv).unwrap()),
        ..Default::default()
    };
    let rep = tianshu_recon::run(&j, opts).unwrap();
    assert_eq!((rep.changed, rep.only_left, rep.only_right), (1, 1, 1));
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines,
        vec![
            "kind,key,column,left,right",
            "changed,2,v,b,B",
            "changed,2,w,y,Y",
            "only_left,3,,,",
            "only_right,4,,,"
        ]
    );
    let xlsx = dir.path().join("d.xlsx");
    let opts = tianshu_recon::RunOptions {
        details: Some(tianshu_recon::details::open(&xlsx).unwrap()),
        ..Default::default()
    };
    tianshu_recon::run(&j, opts).unwrap();
    let bytes = std::fs::read(&xlsx).unwrap();
    assert!(bytes.starts_with(b"PK"), "an xlsx is a zip file");
}

#[test]
fn cancelling_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (dir.path().join("l.csv"), dir.path().join("r.csv"));
    tianshu_recon::testgen::generate(&l, &r, 200_000, 1, 1, 1, 1).unwrap();
    let opts = tianshu_recon::RunOptions::default();
    opts.cancel
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = tianshu_recon::run(&job(&l, &r, &["subscriber_id"]), opts).unwrap_err();
    assert!(matches!(err, ReconError::Cancelled), "{err}");
}

#[test]
fn text_after_a_closing_quote_is_an_error_and_a_stray_quote_is_text() {
    let dir = tempfile::tempdir().unwrap();
    let r = write(dir.path(), "r.csv", b"id,v\n1,ab\"c\n");
    let l = write(dir.path(), "l.csv", b"id,v\n1,ab\"c\n");
    let rep = run(&job(&l, &r, &["id"])).unwrap();
    assert_eq!(rep.identical, 1);
    let bad = write(dir.path(), "b.csv", b"id,v\n1,\"x\ny\"\n2,\"a\"b\n");
    let err = run(&job(&bad, &r, &["id"])).unwrap_err().to_string();
    assert!(
        err.contains("b.csv:4: field 2: unexpected character after a closing quote"),
        "{err}"
    );
}
