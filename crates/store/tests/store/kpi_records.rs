// Complaints and evaluator assessments on SQLite and PostgreSQL (migration 0027): a complaint is closed once
// (version-checked, a second close is a conflict on `state`), the schema refuses a deadline not after receipt,
// the KPI-08 query takes closures in a half-open window; a re-assessment supersedes the current one and both rows
// stay, with one current row per (set, indicator, unit, period).

use tianshu_store::assessments::{record_assessment, NewAssessment};
use tianshu_store::complaints::{self as cm, NewComplaint};
use tianshu_store::identity::{insert_org, NewOrg};
use tianshu_store::kpi::{insert_customer, NewGroupCustomer};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn complaint(customer_id: i64, received_at: i64, due_at: i64) -> NewComplaint {
    NewComplaint {
        customer_id,
        received_at,
        due_at,
        cs_level: Some(2),
        incident_id: None,
        summary: "专线中断（虚构）".into(),
        created_by: "user:admin".into(),
        now: received_at,
    }
}

#[tokio::test]
async fn complaints_close_once_and_the_kpi_08_window_is_half_open() {
    for db in backends().await {
        let store = db.store().await;
        let (a, b) = store
            .write(|c| {
                Box::pin(async move {
                    let g = insert_customer(
                        c,
                        &NewGroupCustomer {
                            key: "cp-1".into(),
                            name: "临江物流集团（虚构）".into(),
                            tier: "bronze".into(),
                            org_id: None,
                            created_by: "user:admin".into(),
                            now: 1,
                        },
                    )
                    .await?;
                    let a = cm::insert_complaint(c, &complaint(g.id, 10, 100)).await?;
                    let b = cm::insert_complaint(c, &complaint(g.id, 20, 200)).await?;
                    Ok((a, b))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (
                a.customer_key.as_str(),
                a.state.as_str(),
                a.cs_level,
                a.version
            ),
            ("cp-1", "open", Some(2), 1),
            "{:?}",
            db.backend
        );
        let of = store.complaints_of(a.customer_id).await.unwrap();
        assert_eq!(
            of.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![b.id, a.id]
        );

        let (ia, ib) = (a.id, b.id);
        let closed = store
            .write(move |c| {
                Box::pin(async move {
                    cm::close_complaint(c, ia, 1, 100, "user:admin", "已处理", 100).await
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (closed.state.as_str(), closed.closed_at, closed.version),
            ("closed", Some(100), 2)
        );
        let again = store
            .write(move |c| {
                Box::pin(async move {
                    cm::close_complaint(c, ia, 2, 150, "user:admin", "再次", 150).await
                })
            })
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict { ref field, .. }) if field == "state"),
            "{again:?}"
        );
        let stale = store
            .write(move |c| {
                Box::pin(async move {
                    cm::close_complaint(c, ib, 7, 300, "user:admin", "已处理", 300).await
                })
            })
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        // [from, to): closed at 100 is in [100, 101), not in [0, 100).
        assert_eq!(
            store
                .complaints_closed_between(100, 101)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(store
            .complaints_closed_between(0, 100)
            .await
            .unwrap()
            .is_empty());
        // The schema refuses a deadline not after receipt.
        let cid = a.customer_id;
        let bad = store
            .write(move |c| {
                Box::pin(async move { cm::insert_complaint(c, &complaint(cid, 50, 50)).await })
            })
            .await;
        assert!(bad.is_err(), "{bad:?}");
    }
}

fn assessment(org_id: i64, points: i64, at: i64) -> NewAssessment {
    NewAssessment {
        set_key: "agent_portal_branch".into(),
        indicator_key: "branch_assurance_team".into(),
        org_id,
        period: "2026-11".into(),
        points,
        max_points: 400,
        rule: "KPI-13".into(),
        reason: "按月评定".into(),
        assessed_by: "user:room-mgr".into(),
        assessed_at: at,
    }
}

#[tokio::test]
async fn a_reassessment_supersedes_the_current_one_and_both_are_kept() {
    for db in backends().await {
        let store = db.store().await;
        let org = store
            .write(|c| {
                Box::pin(async move {
                    insert_org(
                        c,
                        NewOrg {
                            key: "gz".into(),
                            name: "广州分部".into(),
                            kind: "branch".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let oid = org.id;
        let (first, none) = store
            .write(move |c| {
                Box::pin(async move { record_assessment(c, &assessment(oid, 350, 10)).await })
            })
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(
            (first.unit.as_str(), first.points, first.superseded_at),
            ("gz", 350, None),
            "{:?}",
            db.backend
        );
        let (second, old) = store
            .write(move |c| {
                Box::pin(async move { record_assessment(c, &assessment(oid, 300, 20)).await })
            })
            .await
            .unwrap();
        let old = old.unwrap();
        assert_eq!(
            (old.id, old.superseded_by, old.superseded_at),
            (first.id, Some(second.id), Some(20))
        );
        assert_eq!(second.supersedes, Some(first.id));
        let current = store
            .current_assessments("agent_portal_branch", "2026-11")
            .await
            .unwrap();
        assert_eq!(
            current.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![second.id]
        );
        let all = store
            .assessment_history("agent_portal_branch", "2026-11", Some(oid))
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![second.id, first.id]
        );
        assert!(store
            .assessment_history("agent_portal_branch", "2026-10", None)
            .await
            .unwrap()
            .is_empty());
        // Points above the maximum stored with them are refused by the schema.
        let bad = store
            .write(move |c| {
                Box::pin(async move { record_assessment(c, &assessment(oid, 500, 30)).await })
            })
            .await;
        assert!(bad.is_err(), "{bad:?}");
        assert_eq!(
            store
                .current_assessments("agent_portal_branch", "2026-11")
                .await
                .unwrap()[0]
                .id,
            second.id,
            "the failed write changed nothing"
        );
    }
}
