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
        tianshu_core::policy::ScheduleInputs::resolve(&inp.left, day),
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
