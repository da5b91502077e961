//! Policy-pack holiday files, the worked examples of SEED-RULES §21, and calendar properties.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use proptest::prelude::*;
use tianshu_workcal::{
    CalendarSpec, DayRule, DeadlineBasis, HolidayYear, Holidays, Pause, WorkCalendar,
};

const YEARS: [i32; 3] = [2024, 2025, 2026];

fn load_years() -> Vec<HolidayYear> {
    YEARS
        .iter()
        .map(|y| {
            let path = format!(
                "{}/../../policies/default/holidays/cn-{y}.toml",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
        })
        .collect()
}

static CN: LazyLock<Holidays> = LazyLock::new(|| Holidays::validated(&load_years()).unwrap());

fn spec(name: &str, days: DayRule, hours: &[&str]) -> CalendarSpec {
    CalendarSpec {
        name: name.into(),
        title: String::new(),
        time_zone: "Asia/Shanghai".into(),
        days,
        hours: hours.iter().map(|s| s.to_string()).collect(),
    }
}

fn office_with(h: Holidays) -> WorkCalendar {
    WorkCalendar::new(&spec("office", DayRule::WorkingDays, &["09:00-18:00"]), h).unwrap()
}

static OFFICE: LazyLock<WorkCalendar> = LazyLock::new(|| office_with(CN.clone()));
static DAILY: LazyLock<WorkCalendar> = LazyLock::new(|| {
    WorkCalendar::new(
        &spec("daily_0830_2200", DayRule::EveryDay, &["08:30-22:00"]),
        CN.clone(),
    )
    .unwrap()
});
static ALWAYS: LazyLock<WorkCalendar> =
    LazyLock::new(|| WorkCalendar::new(&spec("24x7", DayRule::EveryDay, &[]), CN.clone()).unwrap());

/// Calendar of §21: Mon–Fri, no holidays, Asia/Shanghai.
fn plain() -> WorkCalendar {
    office_with(Holidays::none())
}

fn sh(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, mi, s)
        .unwrap()
        .with_timezone(&Utc)
}

fn eod(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    sh(y, m, d, 23, 59, 59)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn basis(s: &str) -> DeadlineBasis {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- holiday data

#[test]
fn holiday_files_are_valid_and_cover_2024_to_2026() {
    let years = load_years();
    assert!(
        Holidays::validate(&years).is_empty(),
        "{:?}",
        Holidays::validate(&years)
    );
    for (y, file) in YEARS.iter().zip(&years) {
        assert_eq!(file.year, *y);
        assert!(!file.source.is_empty());
    }
    assert_eq!(CN.years(), BTreeSet::from(YEARS));
}

#[test]
fn every_makeup_day_is_a_weekend_day_and_every_holiday_is_named() {
    for y in load_years() {
        for m in &y.workdays {
            assert!(
                matches!(m.date.weekday(), Weekday::Sat | Weekday::Sun),
                "{} is a {}",
                m.date,
                m.date.weekday()
            );
        }
        for h in &y.holidays {
            assert!(
                [
                    "元旦",
                    "春节",
                    "清明节",
                    "劳动节",
                    "端午节",
                    "中秋节",
                    "国庆节",
                    "国庆节、中秋节"
                ]
                .contains(&h.name.as_str()),
                "{}",
                h.name
            );
        }
    }
}

/// The independent `holiday-cn` dataset must agree with our files on every day it covers.
#[test]
fn agrees_with_holiday_cn_dataset_2024_2025() {
    for y in [2024, 2025] {
        for d in date(y, 1, 1).iter_days().take_while(|d| d.year() == y) {
            let theirs = holiday_cn::is_workday(&d.format("%Y-%m-%d").to_string()).unwrap();
            assert_eq!(CN.is_working_day(d), theirs, "{d}");
        }
    }
}

/// `holiday-cn` has no 2026 data yet; check against the notice text (dates with the weekdays it states).
#[test]
fn matches_2026_notice_including_its_weekday_annotations() {
    use Weekday::*;
    let off = [
        ((1, 1), Thu, (1, 3), Sat),
        ((2, 15), Sun, (2, 23), Mon),
        ((4, 4), Sat, (4, 6), Mon),
        ((5, 1), Fri, (5, 5), Tue),
        ((6, 19), Fri, (6, 21), Sun),
        ((9, 25), Fri, (9, 27), Sun),
        ((10, 1), Thu, (10, 7), Wed),
    ];
    let work = [
        ((1, 4), Sun),
        ((2, 14), Sat),
        ((2, 28), Sat),
        ((5, 9), Sat),
        ((9, 20), Sun),
        ((10, 10), Sat),
    ];
    let mut expected_off = BTreeSet::new();
    for ((fm, fd), fw, (tm, td), tw) in off {
        let (from, to) = (date(2026, fm, fd), date(2026, tm, td));
        assert_eq!((from.weekday(), to.weekday()), (fw, tw), "{from}..{to}");
        expected_off.extend(from.iter_days().take_while(|d| *d <= to));
    }
    let mut expected_work = BTreeSet::new();
    for ((m, d), w) in work {
        assert_eq!(date(2026, m, d).weekday(), w);
        expected_work.insert(date(2026, m, d));
    }
    for d in date(2026, 1, 1)
        .iter_days()
        .take_while(|d| d.year() == 2026)
    {
        let weekend = matches!(d.weekday(), Sat | Sun);
        let expected = expected_work.contains(&d) || (!weekend && !expected_off.contains(&d));
        assert_eq!(CN.is_working_day(d), expected, "{d}");
    }
}

// ---------------------------------------------------------------- §21 worked examples

#[test]
fn example_6_esc_03_progress_cadence() {
    let cal = plain();
    // 2024-03-04 is a Monday.
    let first = cal
        .deadline(&basis("30m"), sh(2024, 3, 4, 10, 0, 0), &[])
        .unwrap();
    assert_eq!(first, sh(2024, 3, 4, 10, 30, 0));
    let second = cal.deadline(&basis("30m"), first, &[]).unwrap();
    assert_eq!(second, sh(2024, 3, 4, 11, 0, 0));
    // General fault reported Monday → next report by Thursday (3 calendar days, PD).
    assert_eq!(
        cal.deadline(&basis("3d"), sh(2024, 3, 4, 15, 0, 0), &[])
            .unwrap(),
        eod(2024, 3, 7)
    );
}

#[test]
fn example_7_esc_04_esc_05_timers() {
    let cal = plain();
    let classified = sh(2024, 3, 4, 9, 0, 0);
    assert_eq!(
        cal.deadline(&basis("24h"), classified, &[]).unwrap(),
        sh(2024, 3, 5, 9, 0, 0)
    );
    assert_eq!(
        cal.deadline(&basis("48h"), classified, &[]).unwrap(),
        sh(2024, 3, 6, 9, 0, 0)
    );
    assert_eq!(
        cal.deadline(&basis("1h"), sh(2024, 3, 4, 14, 0, 0), &[])
            .unwrap(),
        sh(2024, 3, 4, 15, 0, 0)
    );
}

#[test]
fn example_8_esc_02_rereport() {
    let cal = plain();
    let t = sh(2024, 3, 4, 9, 0, 0);
    assert_eq!(
        cal.deadline(&basis("1h"), t, &[]).unwrap(),
        sh(2024, 3, 4, 10, 0, 0)
    );
    assert_eq!(
        cal.deadline(&basis("24h"), t, &[]).unwrap(),
        sh(2024, 3, 5, 9, 0, 0)
    );
    assert_eq!(
        cal.deadline(&basis("72h"), t, &[]).unwrap(),
        sh(2024, 3, 7, 9, 0, 0)
    );
}

#[test]
fn example_17_rec_07_reply_and_processing() {
    let cal = plain();
    let received = sh(2024, 3, 4, 16, 20, 0); // Monday
    assert_eq!(
        cal.deadline(&basis("2wd"), received, &[]).unwrap(),
        eod(2024, 3, 6)
    );
    assert_eq!(
        cal.deadline(&basis("10wd"), received, &[]).unwrap(),
        eod(2024, 3, 18)
    );
}

#[test]
fn example_19_chg_03_04_08_before_upgrade() {
    let cal = plain();
    let upgrade = date(2024, 3, 7); // Thursday
    assert_eq!(
        cal.deadline_before(&basis("-3wd"), upgrade).unwrap(),
        eod(2024, 3, 4)
    );
    assert_eq!(
        cal.deadline_before(&basis("-2wd"), upgrade).unwrap(),
        eod(2024, 3, 5)
    );
}

#[test]
fn example_21_cnt_notification_lead_times() {
    let cal = plain();
    let adjustment = date(2024, 3, 11); // Monday
    assert_eq!(
        cal.deadline_before(&basis("-5wd"), adjustment).unwrap(),
        eod(2024, 3, 4)
    );
    assert_eq!(
        cal.deadline_before(&basis("-3wd"), adjustment).unwrap(),
        eod(2024, 3, 6)
    );
    assert_eq!(
        cal.deadline_before(&basis("-2wd"), adjustment).unwrap(),
        eod(2024, 3, 7)
    );
}

// ---------------------------------------------------------------- real holidays

#[test]
fn national_day_2025_working_days() {
    let cal = &*OFFICE;
    // Tue 30 Sep is WD0; 1–8 Oct are off; Thu 9 Oct is WD1, Fri 10 Oct WD2.
    let t = sh(2025, 9, 30, 10, 0, 0);
    assert_eq!(
        cal.deadline(&basis("1wd"), t, &[]).unwrap(),
        eod(2025, 10, 9)
    );
    assert_eq!(
        cal.deadline(&basis("2wd"), t, &[]).unwrap(),
        eod(2025, 10, 10)
    );
    // Sat 11 Oct is a make-up working day.
    assert_eq!(
        cal.deadline(&basis("3wd"), t, &[]).unwrap(),
        eod(2025, 10, 11)
    );
    // From Sat 27 Sep the next working day is the make-up Sunday 28 Sep.
    assert_eq!(
        cal.deadline(&basis("1wd"), sh(2025, 9, 27, 12, 0, 0), &[])
            .unwrap(),
        eod(2025, 9, 28)
    );
    // Calendar days are not affected by holidays.
    assert_eq!(
        cal.deadline(&basis("2d"), t, &[]).unwrap(),
        eod(2025, 10, 2)
    );
}

#[test]
fn national_day_2025_office_hours() {
    let cal = &*OFFICE;
    // 1 h on Tue 30 Sep, then 7 h on Thu 9 Oct.
    assert_eq!(
        cal.deadline(&basis("8h@office"), sh(2025, 9, 30, 17, 0, 0), &[])
            .unwrap(),
        sh(2025, 10, 9, 16, 0, 0)
    );
    // 30 Sep, 9 Oct, 10 Oct and make-up Sat 11 Oct: 4 × 9 h.
    assert_eq!(
        cal.working_time_between(sh(2025, 9, 30, 0, 0, 0), sh(2025, 10, 12, 0, 0, 0), &[]),
        36 * 3600
    );
    assert!(cal.is_open(sh(2025, 9, 28, 10, 0, 0)));
    assert!(!cal.is_open(sh(2025, 10, 8, 10, 0, 0)));
    assert_eq!(
        cal.next_open(sh(2025, 9, 30, 18, 0, 0)).unwrap(),
        sh(2025, 10, 9, 9, 0, 0)
    );
    // The every-day calendar ignores holidays (DUTY-01 style).
    assert!(DAILY.is_open(sh(2025, 10, 1, 9, 0, 0)));
    assert!(!DAILY.is_open(sh(2025, 10, 1, 8, 0, 0)));
}

#[test]
fn spring_festival_2026() {
    let cal = &*OFFICE;
    // Back from Tue 24 Feb: 23..15 Feb off, Sat 14 Feb (make-up) WD1, Fri 13 WD2, Thu 12 WD3.
    assert_eq!(
        cal.deadline_before(&basis("-1wd"), date(2026, 2, 24))
            .unwrap(),
        eod(2026, 2, 14)
    );
    assert_eq!(
        cal.deadline_before(&basis("-3wd"), date(2026, 2, 24))
            .unwrap(),
        eod(2026, 2, 12)
    );
    // Fri 13 Feb 17:00 + 2 h → make-up Saturday 14 Feb 10:00.
    assert_eq!(
        cal.deadline(&basis("2h@office"), sh(2026, 2, 13, 17, 0, 0), &[])
            .unwrap(),
        sh(2026, 2, 14, 10, 0, 0)
    );
    assert!(cal.is_open(sh(2026, 2, 14, 10, 0, 0)));
    assert!(!cal.is_open(sh(2026, 2, 16, 10, 0, 0)));
    // Sat 14 Feb 18:00 + 1 h → Tue 24 Feb 10:00, the festival skipped.
    assert_eq!(
        cal.add_working_time(sh(2026, 2, 14, 18, 0, 0), 3600, &[])
            .unwrap(),
        sh(2026, 2, 24, 10, 0, 0)
    );
    // 3 wd after Fri 13 Feb: Sat 14 (make-up), Tue 24, Wed 25.
    assert_eq!(
        cal.deadline(&basis("3wd"), sh(2026, 2, 13, 9, 0, 0), &[])
            .unwrap(),
        eod(2026, 2, 25)
    );
    // Sat 28 Feb is a make-up working day, Sun 1 Mar is not.
    assert!(CN.is_working_day(date(2026, 2, 28)));
    assert!(!CN.is_working_day(date(2026, 3, 1)));
}

#[test]
fn ten_thousand_working_hours() {
    let t = sh(2024, 1, 2, 9, 0, 0);
    let end = OFFICE.add_working_time(t, 10_000 * 3600, &[]).unwrap();
    assert_eq!(OFFICE.working_time_between(t, end, &[]), 10_000 * 3600);
    assert!(end > sh(2028, 1, 1, 0, 0, 0));
}

// ---------------------------------------------------------------- properties

fn calendars() -> [&'static WorkCalendar; 3] {
    [&*OFFICE, &*DAILY, &*ALWAYS]
}

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = sh(2024, 1, 1, 0, 0, 0).timestamp();
    let hi = sh(2027, 1, 1, 0, 0, 0).timestamp();
    (lo..hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn any_pauses() -> impl Strategy<Value = Vec<(i64, i64)>> {
    // (offset from start, length), both in seconds; up to ~200 days out and ~5 days long.
    prop::collection::vec((-86_400i64..200 * 86_400, 0i64..5 * 86_400), 0..6)
}

fn to_pauses(start: DateTime<Utc>, raw: &[(i64, i64)]) -> Vec<Pause> {
    raw.iter()
        .map(|&(off, len)| {
            let from = start + TimeDelta::seconds(off);
            Pause {
                from,
                to: from + TimeDelta::seconds(len),
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_then_measure_is_identity(
        cal in 0usize..3,
        start in any_instant(),
        d in 0i64..2000 * 3600,
    ) {
        let cal = calendars()[cal];
        let end = cal.add_working_time(start, d, &[]).unwrap();
        prop_assert!(end >= start);
        prop_assert_eq!(cal.working_time_between(start, end, &[]), d);
    }

    #[test]
    fn add_is_monotonic(
        cal in 0usize..3,
        start in any_instant(),
        a in 0i64..2000 * 3600,
        b in 0i64..2000 * 3600,
    ) {
        let cal = calendars()[cal];
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(cal.add_working_time(start, lo, &[]).unwrap()
            <= cal.add_working_time(start, hi, &[]).unwrap());
    }

    #[test]
    fn office_results_are_inside_working_hours(start in any_instant(), d in 1i64..2000 * 3600) {
        let end = OFFICE.add_working_time(start, d, &[]).unwrap();
        let local = end.with_timezone(&chrono_tz::Asia::Shanghai);
        prop_assert!(CN.is_working_day(local.date_naive()), "{} is not a working day", local);
        // The last counted second was open, so the result is in (09:00, 18:00].
        prop_assert!(OFFICE.is_open(end - TimeDelta::seconds(1)), "{}", local);
        prop_assert!(local.time() > NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        prop_assert!(local.time() <= NaiveTime::from_hms_opt(18, 0, 0).unwrap());
    }

    #[test]
    fn identity_holds_with_pauses(
        cal in 0usize..3,
        start in any_instant(),
        d in 0i64..2000 * 3600,
        raw in any_pauses(),
    ) {
        let cal = calendars()[cal];
        let pauses = to_pauses(start, &raw);
        let end = cal.add_working_time(start, d, &pauses).unwrap();
        prop_assert_eq!(cal.working_time_between(start, end, &pauses), d);
        prop_assert!(end >= cal.add_working_time(start, d, &[]).unwrap());
    }

    #[test]
    fn wall_clock_with_pauses_counts_unpaused_seconds(
        start in any_instant(),
        d in 0i64..30 * 86_400,
        raw in any_pauses(),
    ) {
        let pauses = to_pauses(start, &raw);
        let end = tianshu_workcal::add_wall_clock(start, d, &pauses).unwrap();
        // On the 24×7 calendar working time is wall-clock time.
        prop_assert_eq!(ALWAYS.working_time_between(start, end, &pauses), d);
    }

    #[test]
    fn nth_working_day_after_is_a_working_day_and_monotonic(
        event in any_instant(),
        n in 1u32..300,
    ) {
        let a = OFFICE.end_of_nth_working_day_after(event, n).unwrap();
        let b = OFFICE.end_of_nth_working_day_after(event, n + 1).unwrap();
        let local = a.with_timezone(&chrono_tz::Asia::Shanghai);
        prop_assert!(CN.is_working_day(local.date_naive()));
        prop_assert_eq!(local.time(), NaiveTime::from_hms_opt(23, 59, 59).unwrap());
        prop_assert!(local.date_naive() > OFFICE.local_date(event));
        prop_assert!(a < b);
    }

    #[test]
    fn working_day_before_is_a_working_day_and_monotonic(
        day in 0u32..1096,
        n in 1u32..300,
    ) {
        let d = date(2024, 1, 1) + TimeDelta::days(i64::from(day));
        let a = OFFICE.end_of_working_day_before(d, n).unwrap();
        let b = OFFICE.end_of_working_day_before(d, n + 1).unwrap();
        let local = a.with_timezone(&chrono_tz::Asia::Shanghai).date_naive();
        prop_assert!(CN.is_working_day(local));
        prop_assert!(local < d);
        prop_assert!(b < a);
    }
}
