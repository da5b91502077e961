//! A plain file scanned in parallel chunks gives exactly what one sequential scan gives (issue 6 item 5,
//! "all cores used"): chunk boundaries inside quoted line breaks, duplicates in different chunks, and the
//! line number of an error in a later chunk.

use tianshu_recon::{ReconError, Report, RunOptions};

use crate::{assert_accounted, job, write};

fn run_in(j: &tianshu_recon::JobSpec, chunks: usize) -> Result<Report, ReconError> {
    tianshu_recon::run(
        j,
        RunOptions {
            scan_chunks: Some(chunks),
            ..Default::default()
        },
    )
}

/// Rows of `id,name,note`. Every 7th note is quoted and spans lines whose text looks like records of
/// the same shape, so a chunk starting inside one parses it without error — only the check of the
/// chunk's start can tell.
fn file(rows: u32, edit: impl Fn(u32) -> Option<String>, dup_every: u32) -> Vec<u8> {
    let mut out = b"id,name,note\n".to_vec();
    for i in 0..rows {
        let name = edit(i).unwrap_or_else(|| format!("客户{i}"));
        let note = if i % 7 == 0 {
            format!(
                "\"line one\n{},fake,row\n{},\"\"quoted\"\",x\nend\"",
                i + 100_000,
                i + 200_000
            )
        } else {
            format!("note {i}")
        };
        out.extend_from_slice(format!("{i},{name},{note}\n").as_bytes());
        if dup_every > 0 && i % dup_every == dup_every - 1 {
            out.extend_from_slice(format!("{},dup,again\n", i / 2).as_bytes());
        }
    }
    out
}

#[test]
fn rec_chunked_scan_equals_the_sequential_scan() {
    let dir = tempfile::tempdir().unwrap();
    let l = write(dir.path(), "l.csv", &file(6000, |_| None, 0));
    let r = write(
        dir.path(),
        "r.csv",
        &file(6000, |i| (i % 13 == 0).then(|| format!("改{i}")), 997),
    );
    let j = job(&l, &r, &["id"]);
    let one = run_in(&j, 1).unwrap();
    assert_accounted(&one);
    assert!(one.changed > 400 && one.duplicate_keys_right > 0, "{one:?}");
    for chunks in [2, 3, 5, 8, 13, 29] {
        let got = run_in(&j, chunks).unwrap();
        assert_eq!(got, one, "{chunks} chunks");
    }
}

#[test]
fn rec_error_in_a_later_chunk_names_its_line_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = file(6000, |_| None, 0);
    let good = write(dir.path(), "good.csv", &bytes);
    // A ragged row near the end: the last chunk finds it.
    bytes.extend_from_slice(b"777777,only-two-fields\n");
    let lines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    let bad = write(dir.path(), "bad.csv", &bytes);
    let j = job(&good, &bad, &["id"]);
    for chunks in [1, 4, 9] {
        match run_in(&j, chunks) {
            Err(ReconError::Input { line, msg, .. }) => {
                assert_eq!(line, lines, "{chunks} chunks: {msg}");
                assert!(msg.contains("expected 3 fields"), "{msg}");
            }
            other => panic!("{chunks} chunks: {other:?}"),
        }
    }
}
