// CNT-06 key-communications assurance (重保) plans in the service layer, on SQLite and PostgreSQL: every part the
// rule requires is checked naming its field; draft → active → archived, archiving refused before the period ends;
// an incident reported during an active plan's period whose system or region is in scope queues one report to the
// network department through the outbox, and nothing outside the period or the scope.

use chrono::{TimeZone, Utc};
use serde_json::Value;
use tianshu_core::change::WeakSection;
use tianshu_services::assurance_plans::{self as plans, PlanInput};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::incidents::{self, FactsInput, NewIncident};
use tianshu_services::{demo, session, Platform, ServiceError};
use tianshu_testkit::backends;

use super::platform;

fn at(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn principal(p: &Platform, username: &str) -> Principal {
    let u = p.store.user_by_username(username).await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

fn invalid(e: ServiceError) -> (String, String) {
    match e {
        ServiceError::Invalid { field, message, .. } => (field, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn plan() -> PlanInput {
    PlanInput {
        name: "元旦重要通信保障".into(),
        starts_at: at(2026, 12, 31, 0).to_rfc3339(),
        ends_at: at(2027, 1, 3, 0).to_rfc3339(),
        scope_systems: vec!["billing".into()],
        scope_regions: vec!["guangzhou".into()],
        measures: "封网；重点系统双人值守；每 2 小时巡检".into(),
        contingency: "计费主备切换预案；CRM 降级受理预案".into(),
        escalation: "故障 10 分钟内报值班长，30 分钟内报网络部".into(),
        contacts: "值班长 演示甲 分机 8001；网络部 演示乙 分机 8002".into(),
        weak_sections: vec![WeakSection {
            section: "广州—深圳 单路由传输段".into(),
            contingency: "临时租用备用电路".into(),
            improvement: "一季度建设第二路由".into(),
        }],
    }
}

async fn incident(p: &Platform, actor: &Principal, org: &str, system: &str) -> i64 {
    let facts: FactsInput =
        serde_json::from_value(serde_json::json!({"affected_users": 20})).unwrap();
    incidents::create(
        p,
        actor,
        NewIncident {
            title: format!("{system} 受理失败（{org}）"),
            symptom: "坐席无法提交".into(),
            symptom_category: None,
            source_channel: "hotline".into(),
            reporter: "坐席（测试）".into(),
            reporter_contact: None,
            org_key: org.into(),
            system_key: Some(system.into()),
            business: None,
            customer: None,
            owning_org_key: None,
            facts,
            leased_line: None,
        },
        None,
    )
    .await
    .unwrap()
    .incident
    .id
}

async fn reports(p: &Platform) -> Vec<(String, String, String)> {
    p.store
        .write(move |c| {
            Box::pin(async move {
                Ok(tianshu_store::on_conn!(c, c => sqlx::query_as::<_, (String, String, String)>(
                "SELECT idempotency_key, recipients, context FROM outbox WHERE template = 'cnt_assurance_fault' ORDER BY id")
                .fetch_all(&mut **c).await)?)
            })
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn assurance_plan_lifecycle_and_faults_reported_to_the_network_department_cnt_06() {
    for db in backends().await {
        let (p, clock) = platform(&db, at(2026, 12, 1, 10)).await;
        demo::load(&p).await.unwrap();
        let dba = principal(&p, "dba").await;
        let pre = principal(&p, "preproc").await;

        // Every part of the plan is required, named with CNT-06.
        type Spoil = fn(&mut PlanInput);
        let cases: [(&str, Spoil); 9] = [
            ("name", |i| i.name = " ".into()),
            ("measures", |i| i.measures.clear()),
            ("contingency", |i| i.contingency.clear()),
            ("escalation", |i| i.escalation.clear()),
            ("contacts", |i| i.contacts.clear()),
            ("ends_at", |i| i.ends_at = i.starts_at.clone()),
            ("scope_systems", |i| {
                i.scope_systems.clear();
                i.scope_regions.clear()
            }),
            ("weak_sections", |i| i.weak_sections.clear()),
            ("weak_sections[0].improvement", |i| {
                i.weak_sections[0].improvement.clear()
            }),
        ];
        for (want, spoil) in cases {
            let mut i = plan();
            spoil(&mut i);
            let (field, msg) = invalid(plans::create(&p, &dba, i).await.unwrap_err());
            assert_eq!(field, want, "{msg}");
            assert!(msg.starts_with("CNT-06: "), "{msg}");
        }
        let mut unknown = plan();
        unknown.scope_systems = vec!["billing".into(), "no-such".into()];
        assert!(matches!(
            plans::create(&p, &dba, unknown).await.unwrap_err(),
            ServiceError::UnknownReference { field, .. } if field == "scope_systems[1]"
        ));
        let mut not_branch = plan();
        not_branch.scope_regions = vec!["prov-it".into()];
        assert!(matches!(
            plans::create(&p, &dba, not_branch).await.unwrap_err(),
            ServiceError::UnknownReference { .. }
        ));
        assert!(plans::list_plans(&p, &dba).await.unwrap().is_empty());

        let d = plans::create(&p, &dba, plan()).await.unwrap();
        assert_eq!(d.state, "draft");
        assert_eq!(d.weak_sections[0].improvement, "一季度建设第二路由");
        // Archive a draft: refused naming state; activate; archive before the end: refused naming ends_at.
        assert_eq!(
            invalid(
                plans::act(&p, &dba, d.id, "archive", d.version)
                    .await
                    .unwrap_err()
            )
            .0,
            "state"
        );
        let a = plans::act(&p, &dba, d.id, "activate", d.version)
            .await
            .unwrap();
        assert_eq!(
            (a.state.as_str(), a.activated_by.as_deref()),
            ("active", Some("dba"))
        );
        assert!(!a.in_period);

        // Before the period: a billing fault is not reported.
        incident(&p, &pre, "shenzhen", "billing").await;
        assert!(reports(&p).await.is_empty());

        // During the period: in scope by system (billing, Shenzhen) and by region (CRM, Guangzhou); CRM in
        // Shenzhen is outside the scope.
        clock.set(at(2026, 12, 31, 10));
        let (field, msg) = invalid(
            plans::act(&p, &dba, d.id, "archive", a.version)
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "ends_at");
        assert!(
            msg.starts_with("CNT-06: ") && msg.contains("after the assurance period"),
            "{msg}"
        );
        let by_system = incident(&p, &pre, "shenzhen", "billing").await;
        let by_region = incident(&p, &pre, "guangzhou", "crm").await;
        incident(&p, &pre, "shenzhen", "crm").await;
        let queued = reports(&p).await;
        assert_eq!(queued.len(), 2, "{queued:?}");
        assert_eq!(
            queued[0].0,
            format!("assurance:{}:incident:{by_system}", d.id)
        );
        assert_eq!(
            queued[1].0,
            format!("assurance:{}:incident:{by_region}", d.id)
        );
        let to: Value = serde_json::from_str(&queued[0].1).unwrap();
        assert_eq!(to, serde_json::json!({"roles": ["network_dept"]}));
        let ctx: Value = serde_json::from_str(&queued[1].2).unwrap();
        assert_eq!(ctx["plan"], "元旦重要通信保障");
        assert_eq!(ctx["region"], "guangzhou");
        assert!(ctx["escalation"].as_str().unwrap().contains("网络部"));
        let g = plans::get(&p, &dba, d.id).await.unwrap();
        assert!(g.in_period);
        assert_eq!(
            g.fault_reports
                .iter()
                .map(|r| r.incident_id)
                .collect::<Vec<_>>(),
            vec![by_system, by_region]
        );

        // After the period: nothing more is reported; the plan is archived; a plan whose period is over cannot
        // be activated any more.
        clock.set(at(2027, 1, 3, 1));
        incident(&p, &pre, "guangzhou", "billing").await;
        assert_eq!(reports(&p).await.len(), 2);
        let done = plans::act(&p, &dba, d.id, "archive", g.version)
            .await
            .unwrap();
        assert_eq!(
            (done.state.as_str(), done.archived_by.as_deref()),
            ("archived", Some("dba"))
        );
        let late = plans::create(&p, &dba, plan()).await.unwrap();
        let (field, msg) = invalid(
            plans::act(&p, &dba, late.id, "activate", late.version)
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "ends_at");
        assert!(msg.starts_with("CNT-06: "), "{msg}");
        let audit = p.store.audit_recent(None, 300).await.unwrap();
        for action in [
            "assurance_plan.create",
            "assurance_plan.activate",
            "assurance_plan.archive",
        ] {
            assert!(audit.iter().any(|e| e.action == action), "{action}");
        }
    }
}
