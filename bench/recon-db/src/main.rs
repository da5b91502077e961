//! Runs one reconciliation job through `tianshu_recon::db::run_any` — the same call
//! `tianshu recon run` makes — and prints the eight-field JSON on stdout and the db-mode
//! statistics on stderr. Usage:
//!
//! ```text
//! tianshu-bench-recon-db --mode db|file --key id \
//!     --left-url-env VAR --left-table schema.t --right-url-env VAR --right-table t \
//!     [--bisection-factor N] [--download-threshold N]
//! ```

use tianshu_recon::{DbTuning, JobSpec, ReconMode, RunOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut job = JobSpec {
        mode: ReconMode::Db,
        ..Default::default()
    };
    let mut tuning = DbTuning::default();
    let mut i = 0;
    while i + 1 < args.len() {
        let v = args[i + 1].clone();
        match args[i].as_str() {
            "--mode" => job.mode = if v == "file" { ReconMode::File } else { ReconMode::Db },
            "--key" => job.key = v.split(',').map(str::to_string).collect(),
            "--left-url-env" => job.left.url_env = Some(v),
            "--right-url-env" => job.right.url_env = Some(v),
            "--left-table" => job.left.table = Some(v),
            "--right-table" => job.right.table = Some(v),
            "--bisection-factor" => tuning.bisection_factor = v.parse().ok(),
            "--download-threshold" => tuning.download_threshold = v.parse().ok(),
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    job.db = Some(tuning);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let started = std::time::Instant::now();
    match rt.block_on(tianshu_recon::db::run_any(&job, RunOptions::default())) {
        Ok((report, stats)) => {
            println!("{}", report.summary_json());
            eprintln!(
                "{} + {} rows in {:.2} s",
                report.rows_left,
                report.rows_right,
                started.elapsed().as_secs_f64()
            );
            if let Some(st) = stats {
                eprintln!(
                    "db mode: {} checksum queries per side, {} checksum rows and {} table rows transferred, {} bisection levels",
                    st.checksum_queries, st.checksum_rows, st.rows_downloaded, st.levels
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
