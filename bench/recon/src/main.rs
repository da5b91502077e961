//! `tianshu-bench-recon-gen --rows N --seed S --out DIR [--gzip] [--deleted PM --inserted PM --changed PM]`
//! writes DIR/left.csv, DIR/right.csv (or .csv.gz) and DIR/truth.json (the generator's truth).

use std::path::PathBuf;

fn main() {
    // `--compare LEFT RIGHT KEY`: the engine in-process (for profiling without the full binary).
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--compare") && argv.len() == 5 {
        let mut job = tianshu_recon::JobSpec {
            key: vec![argv[4].clone()],
            ..Default::default()
        };
        job.left.path = Some(PathBuf::from(&argv[2]));
        job.right.path = Some(PathBuf::from(&argv[3]));
        let t = std::time::Instant::now();
        let r = tianshu_recon::run(&job, Default::default()).expect("run");
        eprintln!("{:.2} s", t.elapsed().as_secs_f64());
        println!("{}", r.summary_json());
        return;
    }
    let mut rows = 1_000_000u64;
    let mut seed = 1u64;
    let mut out = PathBuf::from(".");
    let mut gzip = false;
    let (mut deleted, mut inserted, mut changed) = (5u64, 5u64, 20u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--rows" => rows = val().parse().expect("--rows"),
            "--seed" => seed = val().parse().expect("--seed"),
            "--out" => out = PathBuf::from(val()),
            "--deleted" => deleted = val().parse().expect("--deleted"),
            "--inserted" => inserted = val().parse().expect("--inserted"),
            "--changed" => changed = val().parse().expect("--changed"),
            "--gzip" => gzip = true,
            other => panic!("unknown argument {other}"),
        }
    }
    std::fs::create_dir_all(&out).expect("create --out");
    let ext = if gzip { "csv.gz" } else { "csv" };
    let (l, r) = (
        out.join(format!("left.{ext}")),
        out.join(format!("right.{ext}")),
    );
    let t = tianshu_recon::testgen::generate(&l, &r, rows, seed, deleted, inserted, changed)
        .expect("generate");
    let truth = serde_json::json!({
        "rows_left": t.rows_left,
        "rows_right": t.rows_right,
        "only_left": t.deleted,
        "only_right": t.inserted,
        "changed": t.changed,
        "identical": t.rows_left - t.deleted - t.changed,
        "duplicate_keys_left": 0,
        "duplicate_keys_right": 0,
        "per_column": t.per_column,
        "left": l,
        "right": r,
    });
    std::fs::write(
        out.join("truth.json"),
        serde_json::to_vec_pretty(&truth).unwrap(),
    )
    .unwrap();
    println!("{truth}");
}
