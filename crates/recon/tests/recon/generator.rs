//! The benchmark's generator against the engine: exact counts (REC-07 consistency inputs).

use tianshu_recon::testgen;

use crate::{assert_accounted, job, run};

#[test]
fn generated_pair_counts_match_the_generators_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (dir.path().join("l.csv"), dir.path().join("r.csv.gz"));
    let t = testgen::generate(&l, &r, 20_000, 42, 7, 5, 30).unwrap();
    assert!(t.deleted > 0 && t.inserted > 0 && t.changed > 0);
    let rep = run(&job(&l, &r, &["subscriber_id"])).unwrap();
    assert_accounted(&rep);
    assert_eq!(rep.rows_left, t.rows_left);
    assert_eq!(rep.rows_right, t.rows_right);
    assert_eq!(rep.only_left, t.deleted);
    assert_eq!(rep.only_right, t.inserted);
    assert_eq!(rep.changed, t.changed);
    assert_eq!(rep.identical, t.rows_left - t.deleted - t.changed);
    assert_eq!(rep.per_column, t.per_column);
    assert_eq!((rep.duplicate_keys_left, rep.duplicate_keys_right), (0, 0));
    let union = t.rows_left + t.inserted;
    assert!((rep.consistency - rep.identical as f64 / union as f64).abs() < 1e-12);
}

#[test]
fn spilling_to_disk_gives_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (l, r) = (dir.path().join("l.csv"), dir.path().join("r.csv"));
    let t = testgen::generate(&l, &r, 40_000, 7, 10, 10, 50).unwrap();
    let mut j = job(&l, &r, &["subscriber_id"]);
    let in_mem = run(&j).unwrap();
    assert!(!in_mem.spilled);
    j.memory_budget_mb = Some(0); // the minimum: 16,384 records per side before spilling
    j.temp_dir = Some(dir.path().to_path_buf());
    let spilled = run(&j).unwrap();
    assert!(spilled.spilled);
    assert_eq!(
        spilled,
        Report {
            spilled: true,
            ..in_mem.clone()
        }
    );
    assert_eq!(in_mem.changed, t.changed);
    assert_eq!(in_mem.per_column, t.per_column);
    // The partition files are gone.
    let left_over: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("tianshu-recon-")
        })
        .collect();
    assert!(left_over.is_empty());
}

use tianshu_recon::Report;
