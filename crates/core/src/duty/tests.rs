//! The roster rules as tests, citing SEED-RULES.md (worked examples 12 and 13).

use chrono::{Datelike, NaiveDate, TimeZone, Weekday};

use super::*;
use crate::policy::DutyPolicy;

fn pol() -> DutyPolicy {
    toml::from_str(include_str!("../../../../policies/default/duty.toml")).unwrap()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// The DUTY-02 team with invented usernames: two per branch and the HQ pair.
fn team(p: &DutyPolicy) -> Team {
    Team {
        branches: p
            .rotation
            .branches
            .iter()
            .map(|b| {
                (
                    b.branch.clone(),
                    vec![format!("{}-1", b.branch), format!("{}-2", b.branch)],
                )
            })
            .collect(),
        hq: vec!["hq-1".into(), "hq-2".into()],
    }
}

fn mon_to_fri(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn a(date: NaiveDate, slot: &str, shift: &str, person: &str) -> Assignment {
    Assignment {
        date,
        slot: slot.into(),
        shift: shift.into(),
        person: person.into(),
        region: None,
    }
}

#[test]
fn comp_time_per_shift_worked_example_12_duty_05() {
    let p = pol();
    // 2026-03-07 is a Saturday, 2026-03-08 a Sunday, 03-03 a Tuesday, 03-04 a Wednesday.
    let m = |date, shift| comp_minutes(&p, &a(date, "central", shift, "x"), mon_to_fri(date));
    assert_eq!(m(d(2026, 3, 7), "day"), 9 * 60); // Saturday day shift → 9 h
    assert_eq!(m(d(2026, 3, 8), "evening"), 270); // Sunday evening → 4.5 h
    assert_eq!(m(d(2026, 3, 3), "day"), 90); // Tuesday day shift → 1.5 h
    assert_eq!(m(d(2026, 3, 4), "evening"), 270); // Wednesday evening → 4.5 h
}

#[test]
fn comp_time_holiday_counts_as_weekend_and_makeup_saturday_as_weekday_duty_05() {
    let p = pol();
    // Proposed default: a holiday Monday earns the Sat–Sun value; a 调休 Saturday the Mon–Fri value.
    let holiday_monday = d(2026, 10, 5);
    assert_eq!(
        comp_minutes(&p, &a(holiday_monday, "central", "day", "x"), false),
        540
    );
    let makeup_saturday = d(2026, 9, 26);
    assert_eq!(
        comp_minutes(&p, &a(makeup_saturday, "central", "day", "x"), true),
        90
    );
    // Slots without comp time (DUTY-09 desk duties) earn nothing.
    assert_eq!(
        comp_minutes(
            &p,
            &a(d(2026, 3, 7), "billing_declaration", "day", "x"),
            false
        ),
        0
    );
}

#[test]
fn full_roster_week_earns_82_5_hours_for_a_team_of_16_worked_example_13_duty_02_to_05() {
    let p = pol();
    let t = team(&p);
    assert_eq!(t.size(), 7 * 2 + 2);
    let week = generate(&p, &t, d(2026, 3, 2), d(2026, 3, 8)).unwrap();
    // Day shift 2 people (branch + HQ), evening 1, 7 days.
    assert_eq!(week.len(), 7 * 3);
    for day in d(2026, 3, 2).iter_days().take(7) {
        let on = |shift: &str| {
            week.iter()
                .filter(|x| x.date == day && x.shift == shift)
                .count()
        };
        assert_eq!((on("day"), on("evening")), (2, 1), "{day}");
    }
    let total: i64 = week
        .iter()
        .map(|x| comp_minutes(&p, x, mon_to_fri(x.date)))
        .sum();
    // Weekdays 5 × (2 × 1.5 + 4.5) = 37.5 h; weekend 2 × (2 × 9 + 4.5) = 45 h; total 82.5 h.
    assert_eq!(total, 4950);
    let weekdays: i64 = week
        .iter()
        .filter(|x| mon_to_fri(x.date))
        .map(|x| comp_minutes(&p, x, true))
        .sum();
    assert_eq!(weekdays, 2250);
    assert!(check_coverage(&p, &week, d(2026, 3, 2), d(2026, 3, 8)).is_empty());
}

#[test]
fn each_branch_owns_one_weekday_and_hq_works_days_only_duty_04() {
    let p = pol();
    let t = team(&p);
    let week = generate(&p, &t, d(2026, 3, 2), d(2026, 3, 8)).unwrap();
    // Monday: shenzhen's pair (day, evening) and the first HQ person.
    let monday: Vec<_> = week.iter().filter(|x| x.date == d(2026, 3, 2)).collect();
    assert!(monday
        .iter()
        .any(|x| x.person == "shenzhen-1" && x.shift == "day" && x.slot == "central"));
    assert!(monday
        .iter()
        .any(|x| x.person == "shenzhen-2" && x.shift == "evening"));
    assert!(monday
        .iter()
        .any(|x| x.person == "hq-1" && x.slot == "hq_day"));
    // HQ never on an evening; the second HQ person only at weekends (5 + 2 days).
    assert!(week
        .iter()
        .filter(|x| x.person.starts_with("hq"))
        .all(|x| x.shift == "day"));
    assert_eq!(week.iter().filter(|x| x.person == "hq-1").count(), 5);
    assert_eq!(week.iter().filter(|x| x.person == "hq-2").count(), 2);
    // Each branch person appears once a week.
    assert_eq!(week.iter().filter(|x| x.person == "foshan-2").count(), 1);
}

#[test]
fn rotation_runs_through_holidays_c_2() {
    let p = pol();
    // National Day week: every day staffed; the rotation ignores the working-day calendar.
    let r = generate(&p, &team(&p), d(2026, 10, 1), d(2026, 10, 7)).unwrap();
    assert_eq!(r.len(), 21);
}

#[test]
fn incomplete_team_is_refused_naming_the_branch() {
    let p = pol();
    let mut t = team(&p);
    t.branches.get_mut("foshan").unwrap().pop();
    let e = generate(&p, &t, d(2026, 3, 2), d(2026, 3, 8)).unwrap_err();
    assert_eq!(e.field(), "team.branches.foshan");
    let mut t = team(&p);
    t.branches
        .insert("atlantis".into(), vec!["a".into(), "b".into()]);
    assert_eq!(
        generate(&p, &t, d(2026, 3, 2), d(2026, 3, 8)).unwrap_err(),
        RosterError::UnknownBranch("atlantis".into())
    );
    assert!(generate(&p, &team(&p), d(2026, 3, 8), d(2026, 3, 2)).is_err());
}

#[test]
fn uncovered_and_overlapping_shifts_are_reported_with_day_and_shift() {
    let p = pol();
    let mut week = generate(&p, &team(&p), d(2026, 3, 2), d(2026, 3, 8)).unwrap();
    // Wednesday's evening person is removed: the central evening shift that day is uncovered.
    week.retain(|x| !(x.date == d(2026, 3, 4) && x.shift == "evening"));
    // hq-1 is also put on Tuesday's central day shift: two duties at the same time.
    week.push(a(d(2026, 3, 3), "central", "day", "hq-1"));
    let problems = check_coverage(&p, &week, d(2026, 3, 2), d(2026, 3, 8));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].kind, CoverageKind::Overlap);
    assert_eq!(
        (problems[0].date, problems[0].shift.as_str()),
        (d(2026, 3, 3), "day")
    );
    assert_eq!(problems[0].person.as_deref(), Some("hq-1"));
    assert_eq!(problems[1].kind, CoverageKind::Uncovered);
    assert_eq!(
        problems[1].to_string(),
        "2026-03-04 evening (central): 0 of 1 required people on duty (DUTY-04)"
    );
    // An unknown slot is reported, not silently indexed.
    let bad = check_coverage(
        &p,
        &[a(d(2026, 3, 2), "nope", "day", "x")],
        d(2026, 3, 2),
        d(2026, 3, 1),
    );
    assert_eq!(bad[0].kind, CoverageKind::Unknown);
}

#[test]
fn monthly_statement_sums_a_persons_duties_duty_05() {
    let p = pol();
    let march = generate(&p, &team(&p), d(2026, 3, 1), d(2026, 3, 31)).unwrap();
    // huizhou owns Saturdays: March 2026 has 4 (7, 14, 21, 28), day shifts at 9 h.
    let s = statement(&p, "huizhou-1", 2026, 3, &march, mon_to_fri);
    assert_eq!(s.month, "2026-03");
    assert_eq!(s.lines.len(), 4);
    assert_eq!(s.total_minutes, 4 * 540);
    assert_eq!(s.total_hours, 36.0);
    // hq-1 works 22 weekdays in March 2026 at 1.5 h.
    let s = statement(&p, "hq-1", 2026, 3, &march, mon_to_fri);
    assert_eq!((s.lines.len(), s.total_hours), (22, 33.0));
}

#[test]
fn ics_is_folded_zoned_and_has_stable_uids() {
    let p = pol();
    let x = a(d(2026, 3, 2), "central", "day", "shenzhen-1");
    let summary = "集中值班 · 白班 · 这是一段很长的说明文字用于检查折行是否在字符边界上进行而不会截断多字节字符".to_string();
    let ev = [IcsEvent {
        assignment: &x,
        summary,
    }];
    let stamp = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let ics = render_ics(&p, &ev, stamp);
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
    assert!(
        ics.contains("DTSTART;TZID=Asia/Shanghai:20260302T083000\r\n"),
        "{ics}"
    );
    assert!(ics.contains("DTEND;TZID=Asia/Shanghai:20260302T173000\r\n"));
    assert!(ics.contains("TZOFFSETTO:+0800\r\n"));
    assert!(ics.contains("UID:duty-20260302-central-day-shenzhen-1@tianshu\r\n"));
    for l in ics.split("\r\n") {
        assert!(l.len() <= 75, "{l}");
    }
    assert!(ics.contains("\r\n "), "long summary is folded");
    // Same duty, later stamp → same UID.
    let again = render_ics(&p, &ev, stamp + chrono::Duration::days(3));
    assert!(again.contains("UID:duty-20260302-central-day-shenzhen-1@tianshu"));
}

#[test]
fn index_answers_who_is_on_duty_now() {
    let p = pol();
    let mut week = generate(&p, &team(&p), d(2026, 3, 2), d(2026, 3, 8)).unwrap();
    week.push(Assignment {
        date: d(2026, 3, 5),
        slot: "escalation_a".into(),
        shift: "evening".into(),
        person: "esc-a".into(),
        region: None,
    });
    let idx = DutyIndex::build(&p, &week);
    assert_eq!(idx.len(), 22);
    let tz = time_zone(&p);
    let at = |day, h, m| {
        tz.with_ymd_and_hms(2026, 3, day, h, m, 0)
            .unwrap()
            .timestamp_micros()
    };
    // Thursday 19:42 (journey 1): foshan's evening person on central duty, and the escalation A role.
    let who: Vec<_> = idx
        .on_duty_at(at(5, 19, 42), &OnDutyQuery::default())
        .into_iter()
        .map(|o| o.person.to_string())
        .collect();
    assert_eq!(who, ["foshan-2", "esc-a"]);
    let q = OnDutyQuery {
        slot: Some("central"),
        region: Some("guangzhou"),
        system: Some("crm"),
    };
    let who = idx.on_duty_at(at(5, 19, 42), &q);
    assert_eq!(&*who[0].person, "foshan-2");
    // 17:30 belongs to the evening shift (end is exclusive); 22:00 nobody.
    assert_eq!(
        &*idx.on_duty_at(
            at(5, 17, 30),
            &OnDutyQuery {
                slot: Some("central"),
                ..Default::default()
            }
        )[0]
        .person,
        "foshan-2"
    );
    assert_eq!(
        idx.count_on_duty_at(at(5, 22, 0), &OnDutyQuery::default()),
        0
    );
    // Thursday 09:00: foshan-1 (central) and hq-1 (HQ day).
    assert_eq!(
        idx.count_on_duty_at(at(5, 9, 0), &OnDutyQuery::default()),
        2
    );
}
