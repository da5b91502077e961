// The message list follows ticket visibility on SQLite and PostgreSQL: province staff see every message, a
// branch-scoped reader only the messages about its region's tickets (the same rule as a ticket's delivery log).

use tianshu_core::Permission;
use tianshu_services::authz::{AuthVia, Principal, Scope};
use tianshu_services::incidents::{self, FactsInput, NewIncident};
use tianshu_services::{demo, notify, session, Platform};
use tianshu_testkit::backends;

use super::{monday_10, platform};

async fn principal(p: &Platform, username: &str) -> Principal {
    let u = p.store.user_by_username(username).await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

async fn fl2(p: &Platform, actor: &Principal, org: &str) -> i64 {
    let facts: FactsInput =
        serde_json::from_value(serde_json::json!({"affected_users": 620})).unwrap();
    incidents::create(
        p,
        actor,
        NewIncident {
            title: "CRM 订单提交失败".into(),
            symptom: "坐席无法提交订单".into(),
            symptom_category: None,
            source_channel: "hotline".into(),
            reporter: "坐席（测试）".into(),
            reporter_contact: None,
            org_key: org.into(),
            system_key: Some("crm".into()),
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

#[tokio::test]
async fn branch_readers_list_only_messages_about_their_regions_tickets() {
    for db in backends().await {
        let (p, _clock) = platform(&db, monday_10()).await;
        demo::load(&p).await.unwrap();
        let pre = principal(&p, "preproc").await;
        let gz = fl2(&p, &pre, "guangzhou").await;
        let sz = fl2(&p, &pre, "shenzhen").await;

        let mut province = pre.clone();
        province.permissions.insert(Permission::NotificationDraft);
        let all = notify::list(&p, &province, None, 200, None).await.unwrap();
        let about = |ms: &[tianshu_store::notify::Message], id: i64| {
            ms.iter()
                .filter(|m| m.subject_kind == "incident" && m.subject_id == id.to_string())
                .count()
        };
        assert!(
            about(&all, gz) > 0 && about(&all, sz) > 0,
            "{:?}",
            db.backend
        );

        let region = p.store.org_by_key("guangzhou").await.unwrap().unwrap().id;
        let mut branch = province.clone();
        branch.scope = Scope::Region(region);
        let mine = notify::list(&p, &branch, None, 200, None).await.unwrap();
        assert_eq!(about(&mine, gz), about(&all, gz), "{:?}", db.backend);
        assert_eq!(about(&mine, sz), 0);
        assert!(mine
            .iter()
            .all(|m| m.subject_kind == "incident" && m.subject_id == gz.to_string()));
    }
}
