// Duty rosters end to end in the service layer on SQLite and PostgreSQL: the demo team's rotation answers "who
// is on duty now" (DUTY-04), overrides and swaps move people at once, a missing daily report is reminded and
// escalated through the durable timers while a filed one is not (DUTY-06), comp time (DUTY-05), ICS, and "the
// duty officer now" as a message recipient.

use chrono::{TimeZone, Utc};
use tianshu_core::duty::Team;
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::duty::{
    self, GenerateRequest, OnDutyQuery, OverrideRequest, SwapDecision, SwapRequest,
};
use tianshu_services::notify::recipients::{resolve, OnDutyRecipient, RecipientSpec};
use tianshu_services::{demo, scheduler, session, Platform, ServiceError};
use tianshu_testkit::backends;

use super::platform;

/// Local Asia/Shanghai time of March 2026 as UTC.
fn local(day: u32, h: u32, m: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 3, day, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn who(p: &Platform, q: &OnDutyQuery<'_>) -> Vec<String> {
    duty::on_duty_at(p, p.clock.now(), q)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.person)
        .collect()
}

async fn principal(p: &Platform, username: &str) -> Principal {
    let u = p.store.user_by_username(username).await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

async fn assignment_id(p: &Platform, day: &str, slot: &str, shift: &str) -> (i64, i64) {
    let rows = p.store.duty_assignments(day, day).await.unwrap();
    let r = rows
        .iter()
        .find(|r| r.slot == slot && r.shift == shift)
        .unwrap();
    (r.id, r.version)
}

#[tokio::test]
async fn rotation_on_duty_overrides_swaps_reports_and_comp_time() {
    for db in backends().await {
        // Monday 2026-03-02 10:00: the demo loads its team and the rotation of the current weeks.
        let (p, clock) = platform(&db, local(2, 10, 0)).await;
        assert!(demo::load(&p).await.unwrap());
        assert_eq!(demo::duty_team().branches.len(), 7);
        assert_eq!(tianshu_core::duty::Team::size(&demo::duty_team()), 16);

        // DUTY-04: Monday belongs to Shenzhen (day person) and the first HQ person.
        assert_eq!(
            who(&p, &OnDutyQuery::default()).await,
            ["duty-sz-1", "duty-hq-1"]
        );
        let central = OnDutyQuery {
            slot: Some("central"),
            region: Some("guangzhou"),
            system: Some("crm"),
        };
        assert_eq!(who(&p, &central).await, ["duty-sz-1"]);

        // "The duty officer now" resolves to the rostered person at send time.
        let pol = p.policy.current();
        let spec = RecipientSpec {
            on_duty: vec![OnDutyRecipient {
                slot: Some("central".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (targets, missing) = resolve(&p, &pol.pack.notifications, &spec).await.unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].mobile.as_deref(), Some("138-0000-0101"));

        // DUTY-06: Monday's day-shift reports are due; at 18:01 both officers are reminded.
        clock.set(local(2, 18, 1));
        scheduler::tick(&p, "t", 100).await.unwrap();
        let sz = "2026-03-02/central/day/duty-sz-1";
        let out = p.store.outbox_of("duty", sz).await.unwrap();
        assert_eq!(out.len(), 1, "{:?}", db.backend);
        assert_eq!(out[0].template, "duty.report_missing");
        assert!(
            out[0].recipients.contains("duty-sz-1"),
            "{}",
            out[0].recipients
        );
        // Shenzhen's officer files the report; the HQ officer does not.
        let sz1 = principal(&p, "duty-sz-1").await;
        let (aid, _) = assignment_id(&p, "2026-03-02", "central", "day").await;
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("monitoring_checked".to_string(), serde_json::json!(true));
        fields.insert("anomalies".to_string(), serde_json::json!("无"));
        fields.insert("im_groups".to_string(), serde_json::json!("答复 3 条"));
        let bad = duty::file_report(
            &p,
            &sz1,
            duty::ReportRequest {
                assignment_id: aid,
                fields: fields.clone(),
            },
        )
        .await;
        assert!(
            matches!(bad, Err(ServiceError::Invalid { ref field, .. }) if field == "fields.itsm_tickets"),
            "{bad:?}"
        );
        fields.insert("itsm_tickets".to_string(), serde_json::json!(4));
        duty::file_report(
            &p,
            &sz1,
            duty::ReportRequest {
                assignment_id: aid,
                fields,
            },
        )
        .await
        .unwrap();
        clock.set(local(2, 19, 31));
        scheduler::tick(&p, "t", 100).await.unwrap();
        assert_eq!(
            p.store.outbox_of("duty", sz).await.unwrap().len(),
            1,
            "no escalation after the report"
        );
        let hq = p
            .store
            .outbox_of("duty", "2026-03-02/hq_day/day/duty-hq-1")
            .await
            .unwrap();
        let templates: Vec<_> = hq.iter().map(|m| m.template.as_str()).collect();
        assert_eq!(templates, ["duty.report_missing", "duty.report_escalation"]);
        assert!(hq[1].recipients.contains("room_manager"));

        // A duty that has not begun cannot be reported yet.
        let (later, _) = assignment_id(&p, "2026-03-09", "central", "day").await;
        let early = duty::file_report(
            &p,
            &principal(&p, "duty-sz-1").await,
            duty::ReportRequest {
                assignment_id: later,
                fields: Default::default(),
            },
        )
        .await;
        assert!(
            matches!(early, Err(ServiceError::Invalid { ref field, .. }) if field == "assignment_id"),
            "{early:?}"
        );

        // Thursday 19:42 (journey 1): Foshan's evening person.
        clock.set(local(5, 19, 42));
        assert_eq!(who(&p, &central).await, ["duty-fs-2"]);
        // An override (duty.manage) takes effect at once; a duty officer may not override.
        let lead = principal(&p, "fault-lead").await;
        let (eid, ver) = assignment_id(&p, "2026-03-05", "central", "evening").await;
        let req = |person: &str, version| OverrideRequest {
            person: person.into(),
            reason: "病假".into(),
            version,
        };
        assert!(matches!(
            duty::override_assignment(&p, &sz1, eid, req("duty-fs-1", ver)).await,
            Err(ServiceError::Forbidden(_))
        ));
        let unknown = duty::override_assignment(&p, &lead, eid, req("ghost", ver)).await;
        assert!(
            matches!(unknown, Err(ServiceError::UnknownReference { ref field, .. }) if field == "person"),
            "{unknown:?}"
        );
        duty::override_assignment(&p, &lead, eid, req("duty-fs-1", ver))
            .await
            .unwrap();
        assert_eq!(who(&p, &central).await, ["duty-fs-1"]);
        // Stale version → refused.
        assert!(matches!(
            duty::override_assignment(&p, &lead, eid, req("duty-fs-2", ver)).await,
            Err(ServiceError::Stale(_))
        ));

        // Putting someone on a duty overlapping one they already hold is refused (no overlaps by override).
        let (mon_day, mv) = assignment_id(&p, "2026-03-09", "central", "day").await;
        let clash = duty::override_assignment(&p, &lead, mon_day, req("duty-hq-1", mv)).await;
        assert!(
            matches!(clash, Err(ServiceError::Conflict { ref field, .. }) if field == "person"),
            "{clash:?}"
        );

        // Swap: Guangzhou's day person (Tue 03-10) swaps with Dongguan's (Wed 03-11); approved by the lead.
        let gz1 = principal(&p, "duty-gz-1").await;
        let (tue, _) = assignment_id(&p, "2026-03-10", "central", "day").await;
        let (wed, _) = assignment_id(&p, "2026-03-11", "central", "day").await;
        let s = duty::request_swap(
            &p,
            &gz1,
            SwapRequest {
                assignment_id: tue,
                counterpart: "duty-dg-1".into(),
                counter_assignment_id: Some(wed),
                reason: "家中有事".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(s.state, "requested");
        assert!(matches!(
            duty::decide_swap(
                &p,
                &gz1,
                s.id,
                true,
                SwapDecision {
                    note: None,
                    version: s.version
                }
            )
            .await,
            Err(ServiceError::Forbidden(_))
        ));
        let done = duty::decide_swap(
            &p,
            &lead,
            s.id,
            true,
            SwapDecision {
                note: Some("同意".into()),
                version: s.version,
            },
        )
        .await
        .unwrap();
        assert_eq!(done.state, "approved");
        let tue_row = p.store.duty_assignment(tue).await.unwrap().unwrap();
        let wed_row = p.store.duty_assignment(wed).await.unwrap().unwrap();
        assert_eq!(
            (tue_row.username.as_str(), wed_row.username.as_str()),
            ("duty-dg-1", "duty-gz-1")
        );
        // A duty manager cannot decide a swap they requested themselves.
        let (fri, fv) = assignment_id(&p, "2026-03-13", "hq_day", "day").await;
        duty::override_assignment(&p, &lead, fri, req("fault-lead", fv))
            .await
            .unwrap();
        let own = duty::request_swap(
            &p,
            &lead,
            SwapRequest {
                assignment_id: fri,
                counterpart: "duty-hq-2".into(),
                counter_assignment_id: None,
                reason: "出差".into(),
            },
        )
        .await
        .unwrap();
        let refused = duty::decide_swap(
            &p,
            &lead,
            own.id,
            true,
            SwapDecision {
                note: None,
                version: own.version,
            },
        )
        .await;
        assert!(
            matches!(refused, Err(ServiceError::Conflict { ref field, .. }) if field == "approver"),
            "{refused:?}"
        );

        // DUTY-05: Huizhou's day person works the four Saturdays of March at 9 h each.
        let st = duty::comp_time(&p, &lead, "duty-hz-1", "2026-03")
            .await
            .unwrap();
        assert_eq!((st.lines.len(), st.total_hours), (4, 36.0));
        assert!(matches!(
            duty::comp_time(&p, &lead, "duty-hz-1", "2026-13").await,
            Err(ServiceError::Invalid { .. })
        ));
        let all = duty::comp_time_all(&p, &lead, "2026-03").await.unwrap();
        assert!(all.len() >= 16);

        // ICS: the person's duties with stable UIDs.
        let ics = duty::ics(&p, &sz1, "duty-sz-1").await.unwrap();
        assert!(
            ics.contains("UID:duty-20260309-central-day-duty-sz-1@tianshu"),
            "{ics}"
        );

        // A preview with a short team names the branch; an unknown person names the field.
        let mut team: Team = demo::duty_team();
        team.branches.get_mut("foshan").unwrap().pop();
        let req = GenerateRequest {
            from: "2026-04-06".into(),
            to: "2026-04-12".into(),
            team,
            publish: false,
        };
        let e = duty::generate(&p, &lead, req).await.unwrap_err();
        assert_eq!(e.field(), Some("team.branches.foshan"), "{e:?}");
        let mut team = demo::duty_team();
        team.hq[1] = "nobody".into();
        let req = GenerateRequest {
            from: "2026-04-06".into(),
            to: "2026-04-12".into(),
            team,
            publish: true,
        };
        let e = duty::generate(&p, &lead, req).await.unwrap_err();
        assert!(
            matches!(e, ServiceError::UnknownReference { ref field, .. } if field == "team.hq[1]"),
            "{e:?}"
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn xlsx_roster_round_trips_and_bad_rows_are_refused_with_sheet_row_column() {
    for db in backends().await {
        let (p, _clock) = platform(&db, local(2, 10, 0)).await;
        demo::load(&p).await.unwrap();
        let lead = principal(&p, "fault-lead").await;
        let (from, to) = (
            chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 15).unwrap(),
        );
        let bytes = duty::xlsx::export_roster(&p, &lead, from, to)
            .await
            .unwrap();
        assert_eq!(&bytes[..2], b"PK");
        let checked = duty::xlsx::import_roster(&p, &lead, &bytes, false)
            .await
            .unwrap();
        assert_eq!(checked.assignments.len(), 21);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        let published = duty::xlsx::import_roster(&p, &lead, &bytes, true)
            .await
            .unwrap();
        assert_eq!(published.roster.unwrap().source, "import");

        // A sheet with an unknown shift (B3) and an unknown person (D4): refused, nothing stored.
        let rosters_before = p.store.duty_rosters(100).await.unwrap().len();
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.set_name("排班").unwrap();
        let rows = [
            ["日期", "班次", "值班岗位", "值班人", "所属单位"],
            ["2026-03-16", "白班", "集中值班", "duty-sz-1", "shenzhen"],
            ["2026-03-16", "夜班", "集中值班", "duty-sz-2", "shenzhen"],
            ["2026-03-16", "day", "hq_day", "nobody", ""],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32, c as u16, *v).unwrap();
            }
        }
        let bad = wb.save_to_buffer().unwrap();
        let e = duty::xlsx::import_roster(&p, &lead, &bad, true)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("排班!B3: unknown shift '夜班'"), "{msg}");
        assert!(msg.contains("排班!D4: no active user 'nobody'"), "{msg}");
        assert_eq!(
            p.store.duty_rosters(100).await.unwrap().len(),
            rosters_before
        );
        // Not a workbook at all.
        assert!(matches!(
            duty::xlsx::import_roster(&p, &lead, b"hello", false).await,
            Err(ServiceError::Invalid { .. })
        ));
        // Comp-time export has both sheets.
        let x = duty::xlsx::export_comp_time(&p, &lead, "2026-03")
            .await
            .unwrap();
        assert_eq!(&x[..2], b"PK");
        p.store.close().await;
    }
}

#[tokio::test]
async fn a_year_of_rotation_publishes_in_one_write_and_answers_at_once() {
    for db in backends().await {
        let (p, _clock) = platform(&db, local(2, 10, 0)).await;
        demo::load(&p).await.unwrap();
        let lead = principal(&p, "fault-lead").await;
        let started = std::time::Instant::now();
        let r = duty::generate(
            &p,
            &lead,
            GenerateRequest {
                from: "2026-04-01".into(),
                to: "2027-03-31".into(),
                team: demo::duty_team(),
                publish: true,
            },
        )
        .await
        .unwrap();
        let took = started.elapsed();
        eprintln!(
            "{:?}: published {} assignments (with their DUTY-06 clocks) in {took:?}",
            db.backend,
            r.assignments.len()
        );
        assert_eq!(r.assignments.len(), 365 * 3);
        let at = local(2, 10, 0) + chrono::Duration::days(300);
        assert_eq!(
            duty::on_duty_at(&p, at, &OnDutyQuery::default())
                .await
                .unwrap()
                .len(),
            2
        );
        // More than 400 days is refused, naming `to`.
        let e = duty::generate(
            &p,
            &lead,
            GenerateRequest {
                from: "2026-04-01".into(),
                to: "2027-06-01".into(),
                team: demo::duty_team(),
                publish: false,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(e.field(), Some("to"));
        p.store.close().await;
    }
}
