//! reconciliation.toml against SEED-RULES §21 worked examples 15–17 (REC-01..05, REC-07, REC-08) and its
//! validation errors.

use chrono::{NaiveDate, TimeZone, Utc};
use tianshu_core::policy::UploadStatus;
use tianshu_workcal::{Holidays, WorkCalendar};

use super::policy_pack::{errors, load_with, pack};

fn rules_due(day: u32) -> Vec<String> {
    let p = pack();
    let mut r: Vec<String> = p
        .reconciliation
        .due_on(day)
        .iter()
        .map(|s| s.rule.clone())
        .filter(|r| r.as_str() <= "REC-05")
        .collect();
    r.sort();
    r.dedup();
    r
}

#[test]
fn worked_example_15_rec_01_to_05_jobs_due_by_day_of_month() {
    assert_eq!(rules_due(1), ["REC-01", "REC-02", "REC-03", "REC-04"]);
    assert_eq!(rules_due(15), ["REC-01", "REC-03", "REC-04"]);
    assert_eq!(rules_due(21), ["REC-01", "REC-02", "REC-04"]);
    assert_eq!(rules_due(10), ["REC-04", "REC-05"]);
    assert_eq!(rules_due(11), ["REC-02", "REC-04"]);
    assert_eq!(rules_due(7), ["REC-01", "REC-04"]);
    // The proposed defaults of REC-06 (days 1 and 15) and REC-07 (day 1) come on top.
    let p = pack();
    let on_1: Vec<&str> = p
        .reconciliation
        .due_on(1)
        .iter()
        .map(|s| s.rule.as_str())
        .collect();
    assert!(on_1.contains(&"REC-06") && on_1.contains(&"REC-07"));
}

#[test]
fn worked_example_16_rec_08_cut_off_day_21_and_upload_at_0905_is_late() {
    let p = pack();
    let day = NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
    assert_eq!(
        p.reconciliation.data_as_of(day),
        day.and_hms_opt(0, 0, 0).unwrap()
    );
    assert_eq!(
        p.reconciliation.upload_deadline(day),
        day.and_hms_opt(9, 0, 0).unwrap()
    );
    let at = |h, m| day.and_hms_opt(h, m, 0).unwrap();
    assert_eq!(
        p.reconciliation.upload_status(day, at(9, 5)),
        UploadStatus::Late
    );
    assert_eq!(
        p.reconciliation.upload_status(day, at(9, 0)),
        UploadStatus::Late
    );
    assert_eq!(
        p.reconciliation.upload_status(day, at(8, 59)),
        UploadStatus::OnTime
    );
}

#[test]
fn worked_example_17_rec_07_reply_in_2_and_fix_in_10_working_days() {
    let p = pack();
    let spec = p.calendars.get(&p.reconciliation.calendar).unwrap();
    let cal = WorkCalendar::new(spec, Holidays::none()).unwrap();
    // Received Monday 2024-03-04 10:00 Asia/Shanghai.
    let received = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 3, 4, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let local = |t: chrono::DateTime<Utc>| t.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
    let f = &p.reconciliation.follow_up;
    let reply = cal
        .end_of_nth_working_day_after(received, f.reply_working_days)
        .unwrap();
    assert_eq!(
        local(reply),
        NaiveDate::from_ymd_opt(2024, 3, 6).unwrap(),
        "Wednesday"
    );
    let fix = cal
        .end_of_nth_working_day_after(received, f.fix_working_days)
        .unwrap();
    assert_eq!(
        local(fix),
        NaiveDate::from_ymd_opt(2024, 3, 18).unwrap(),
        "Monday two weeks later"
    );
}

#[test]
fn rec_07_consistency_target_is_99_9_percent() {
    let p = pack();
    assert!(p.reconciliation.meets_target(0.999));
    assert!(p.reconciliation.meets_target(0.9995));
    assert!(!p.reconciliation.meets_target(0.9989));
    assert_eq!(
        p.reconciliation.engine.null_policy,
        tianshu_core::policy::NullDefault::Distinct
    );
}

#[test]
fn reconciliation_file_errors_name_file_line_and_field() {
    let e = errors(load_with("reconciliation.toml", |c| {
        c.replace("days = [10, 20]", "days = [10, 32]")
            .replace("deadline = \"09:00\"", "deadline = \"9 am\"")
            .replace("calendar = \"office\"", "calendar = \"nope\"")
            .replace("\"rec_item_overdue\"", "\"rec_nope\"")
            .replace("notify_roles = [\"dba\", ", "notify_roles = [\"dbaa\", ")
    }));
    let joined = e.join("\n");
    assert!(
        joined.contains("reconciliation.toml:")
            && joined.contains("schedule[4].days[1]: 32 is not a day"),
        "{joined}"
    );
    assert!(
        joined.contains("upload.deadline: expected local time HH:MM"),
        "{joined}"
    );
    assert!(
        joined.contains("calendar: 'nope' is not a calendar"),
        "{joined}"
    );
    // REC-07 follow-up: the overdue notice's template and roles must exist in the other files.
    assert!(
        joined.contains("follow_up.overdue_template: no [[template]] with id 'rec_nope'"),
        "{joined}"
    );
    assert!(joined.contains("follow_up.notify_roles[0]"), "{joined}");
}

#[test]
fn schedule_inputs_are_declared_and_checked_with_file_line_and_field() {
    let p = pack();
    let rec01 = p
        .reconciliation
        .schedule("switchboard_customers_full")
        .unwrap();
    let inp = rec01.inputs.as_ref().expect("REC-01 declares its files");
    assert_eq!(inp.key, ["customer_id"]);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    assert_eq!(
        tianshu_core::policy::ScheduleInputs::resolve(inp.left.as_deref().unwrap(), day),
        "group/switchboard_customers_20261121.csv"
    );
    let rec04 = p
        .reconciliation
        .schedule("two_level_customers_incremental")
        .unwrap();
    assert_eq!(
        rec04.inputs.as_ref().unwrap().updated_at.as_deref(),
        Some("updated_at")
    );

    let e = errors(load_with("reconciliation.toml", |c| {
        c.replacen(
            "left = \"group/switchboard_customers_{date}.csv\"",
            "left = \"../etc/passwd\"",
            1,
        )
        .replace("key = [\"imsi\"]", "key = []")
        .replace("updated_at = \"updated_at\"\n", "")
    }));
    let joined = e.join("\n");
    assert!(
        joined.contains("reconciliation.toml:")
            && joined.contains("schedule[0].inputs.left: must be a relative path"),
        "{joined}"
    );
    assert!(
        joined.contains("schedule[4].inputs.key: name at least one key column"),
        "{joined}"
    );
    assert!(
        joined.contains("schedule[3].inputs: an incremental job needs updated_at"),
        "{joined}"
    );
}

/// The default reconciliation.toml with one more job appended (schedule[7]).
fn with_job(job: &str) -> String {
    let base = super::policy_pack::default_files()
        .into_iter()
        .find(|(n, _)| n == "reconciliation.toml")
        .unwrap()
        .1;
    format!("{base}\n{job}")
}

const DB_JOB: &str = r#"[[schedule]]
key = "crm_billing_db"
rule = "REC-10"
name_zh = "省CRM—省计费库对库稽核"
name_en = "Provincial CRM vs billing (database to database)"
mode = "db"
days = [1]
at = "02:00"

[schedule.inputs]
left_db = "province_crm"
left_table = "crm.customers_{date}"
right_db = "province_billing"
right_query = "SELECT cust_id AS customer_id, status FROM billing.customer WHERE day = '{date}'"
key = ["customer_id"]
"#;

#[test]
fn a_job_may_read_registered_databases_and_runs_at_its_time() {
    let text = with_job(DB_JOB);
    let p = load_with("reconciliation.toml", |_| text.clone()).unwrap();
    let rp = &p.reconciliation;
    let s = rp.schedule("crm_billing_db").unwrap();
    assert_eq!(s.mode, tianshu_core::policy::ReconMode::Db);
    assert!(s.databases_only());
    let inp = s.inputs.as_ref().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    assert_eq!(
        inp.left_source().unwrap().on(day),
        tianshu_core::policy::InputSource::Db {
            db: "province_crm".into(),
            table: Some("crm.customers_20261201".into()),
            query: None
        }
    );
    match inp.right_source().unwrap().on(day) {
        tianshu_core::policy::InputSource::Db { db, query, .. } => {
            assert_eq!(db, "province_billing");
            assert!(query.unwrap().ends_with("day = '20261201'"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rp.run_at(s, day), day.and_hms_opt(2, 0, 0).unwrap());
    // Without `at`: the REC-08 cut-off (00:00), the moment the data is as of.
    let text = with_job(&DB_JOB.replace("at = \"02:00\"\n", ""));
    let p = load_with("reconciliation.toml", |_| text.clone()).unwrap();
    let s = p.reconciliation.schedule("crm_billing_db").unwrap();
    assert_eq!(
        p.reconciliation.run_at(s, day),
        day.and_hms_opt(0, 0, 0).unwrap()
    );
    // A table against an uploaded file (full mode): the file side still waits for its upload.
    let mixed = DB_JOB
        .replace("mode = \"db\"", "mode = \"full\"")
        .replace("at = \"02:00\"\n", "")
        .replace(
            "right_db = \"province_billing\"\nright_query = \"SELECT cust_id AS customer_id, status FROM billing.customer WHERE day = '{date}'\"",
            "right = \"billing/customers_{date}.csv\"",
        );
    let text = with_job(&mixed);
    let p = load_with("reconciliation.toml", |_| text.clone()).unwrap();
    let s = p.reconciliation.schedule("crm_billing_db").unwrap();
    assert!(!s.databases_only());
    assert!(s.inputs.as_ref().unwrap().uses_database());
}

#[test]
fn database_inputs_are_checked_with_file_line_and_field() {
    // One mistake per case: (edit of DB_JOB, line holding the reported key, field, message start).
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        (
            "left_db = \"province_crm\"",
            "left_db = \"province_crm\"\nleft = \"crm/customers.csv\"",
            "left_db = ",
            "schedule[7].inputs.left_db",
            "give left (a file) or left_db (a registered database), not both",
        ),
        (
            "right_db = \"province_billing\"",
            "right = \"billing/customers_{date}.csv\"",
            "right = ",
            "schedule[7].inputs.right",
            "mode = \"db\" compares two databases: name right_db instead of a file",
        ),
        (
            "left_table = ",
            "left_tabel = ",
            "left_tabel = ",
            "schedule[7].inputs.left_tabel",
            "unknown field `left_tabel`",
        ),
        (
            "left_table = \"crm.customers_{date}\"",
            "left_table = \"crm.customers_{date}\"\nleft_query = \"SELECT 1\"",
            "left_query = ",
            "schedule[7].inputs.left_query",
            "give left_table or left_query, not both",
        ),
        (
            "left_db = \"province_crm\"",
            "left_db = \"postgres://u:secret@db/crm\"",
            "left_db = ",
            "schedule[7].inputs.left_db",
            "the name a database is registered under, not a URL",
        ),
        (
            "at = \"02:00\"",
            "at = \"2 am\"",
            "at = ",
            "schedule[7].at",
            "expected local time HH:MM",
        ),
        (
            "mode = \"db\"",
            "mode = \"incremental\"",
            "left_db = ",
            "schedule[7].inputs.left_db",
            "incremental jobs compare files",
        ),
        (
            "right_query = \"SELECT cust_id",
            "right_query = \"DELETE FROM x; SELECT cust_id",
            "right_query = ",
            "schedule[7].inputs.right_query",
            "must be one SELECT",
        ),
    ];
    for (from, to, line_key, field, msg) in cases {
        let job = DB_JOB.replace(from, to);
        assert_ne!(job, DB_JOB, "edit {from:?} applies");
        let text = with_job(&job);
        let line = super::policy_pack::line_of(&text, "key = \"crm_billing_db\"", line_key);
        let e = errors(load_with("reconciliation.toml", |_| text.clone()));
        let want = format!("reconciliation.toml:{line}:{field}: {msg}");
        assert!(
            e.iter().any(|l| l.starts_with(&want)),
            "{want}\nnot in:\n{}",
            e.join("\n")
        );
    }
    // `at` belongs to jobs without files: a file job waits for its uploads instead.
    let e = errors(load_with("reconciliation.toml", |c| {
        c.replacen(
            "days = [1, 7, 15, 21, 27]",
            "days = [1, 7, 15, 21, 27]\nat = \"02:00\"",
            1,
        )
    }));
    assert!(
        e.iter()
            .any(|l| l.contains("schedule[0].at: only for a job whose inputs are both databases")),
        "{e:?}"
    );
}
