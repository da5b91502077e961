//! A small demo reconciliation for the demo organisation: two invented extracts of switchboard customers
//! (REC-01) compared twice, so the console shows counts, differences, a trend and a work item.

use chrono::{Days, NaiveDate};
use tianshu_core::policy::ReconMode;

use super::{execute, schedule, RunSpec};
use crate::{Platform, ServiceError, ServiceResult};

/// A demo run: its day, the right side's status edits, the keys it lacks and how many keys it adds.
type DemoDay<'a> = (NaiveDate, &'a [(usize, &'a str)], &'a [usize], usize);

/// The demo job (REC-01).
pub const JOB: &str = "switchboard_customers_full";

fn extract(n: usize, edits: &[(usize, &str)], drop: &[usize], extra: usize) -> String {
    let mut s = String::from("customer_id,cust_name,status,balance,open_date\n");
    for i in 1..=n {
        if drop.contains(&i) {
            continue;
        }
        let status = edits
            .iter()
            .find(|(k, _)| *k == i)
            .map_or(if i.is_multiple_of(7) { "B" } else { "A" }, |(_, v)| *v);
        s.push_str(&format!(
            "C{i:05},示例客户{i:03},{status},{}.{:02},2024-0{}-1{}\n",
            i * 13 % 500,
            i % 100,
            1 + i % 9,
            i % 10
        ));
    }
    for j in 0..extra {
        s.push_str(&format!("C9{j:04},新增客户{j:02},A,0.00,2026-11-30\n"));
    }
    s
}

/// An invented extract with the given key columns (two equal copies make a clean scheduled run).
fn keyed_extract(key: &[String], n: usize) -> String {
    let mut s = key.join(",");
    s.push_str(",cust_name,status,updated_at\n");
    for i in 1..=n {
        for (j, _) in key.iter().enumerate() {
            s.push_str(&format!("K{j}{i:05},"));
        }
        s.push_str(&format!("示例客户{i:03},A,2026-01-01 00:00:00\n"));
    }
    s
}

/// Puts today's files of every job due today in the inbox (equal on both sides), so the demo's scheduled runs
/// happen instead of REC-08 alerts on the first day.
fn todays_files(p: &Platform) -> ServiceResult<()> {
    use chrono::Datelike;
    let pol = p.policy.current();
    let today = schedule::today(p);
    let inbox = p.recon.inbox();
    for s in pol
        .pack
        .reconciliation
        .schedules
        .iter()
        .filter(|s| s.due_on(today.day()))
    {
        let Some(inp) = &s.inputs else { continue };
        // Demo files only for file sides; a database side reads a registered database.
        for f in [&inp.left, &inp.right].into_iter().flatten() {
            let path = inbox.join(tianshu_core::policy::ScheduleInputs::resolve(f, today));
            if path.exists() {
                continue;
            }
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)
                    .map_err(|e| ServiceError::Internal(format!("{}: {e}", d.display())))?;
            }
            std::fs::write(&path, keyed_extract(&inp.key, 50))
                .map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// Loads the demo runs once (nothing happens when any run exists).
pub async fn load(p: &Platform) -> ServiceResult<bool> {
    if !p.store.recon_runs(None, i64::MAX, 1).await?.is_empty() {
        return Ok(false);
    }
    todays_files(p)?;
    let inbox = p.recon.inbox().join("demo");
    std::fs::create_dir_all(&inbox)
        .map_err(|e| ServiceError::Internal(format!("{}: {e}", inbox.display())))?;
    let today = schedule::today(p);
    let days: [DemoDay; 2] = [
        (
            today.checked_sub_days(Days::new(6)).unwrap_or(today),
            &[(3, "C"), (10, "C"), (11, "X"), (40, "C")],
            &[5, 6],
            2,
        ),
        (today, &[(11, "X")], &[5], 1),
    ];
    for (day, edits, drop, extra) in days {
        let d = day.format("%Y%m%d");
        let left = inbox.join(format!("group_{d}.csv"));
        let right = inbox.join(format!("province_{d}.csv"));
        std::fs::write(&left, extract(200, &[], &[], 0))
            .and_then(|_| std::fs::write(&right, extract(200, edits, drop, extra)))
            .map_err(|e| ServiceError::Internal(format!("demo reconciliation files: {e}")))?;
        execute(
            p,
            RunSpec {
                job_key: JOB.into(),
                mode: ReconMode::Full,
                trigger: "demo".into(),
                started_by: "system:demo".into(),
                as_of: Some(day),
                left: left.into(),
                right: right.into(),
                key: vec!["customer_id".into()],
                delimiter: None,
                encoding: None,
                changed: None,
            },
        )
        .await?;
    }
    Ok(true)
}
