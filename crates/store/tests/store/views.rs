// Saved views on SQLite and PostgreSQL: per user and page, a duplicate name is a conflict on `name`, a user
// deletes only their own views.

use tianshu_store::identity::{insert_org, insert_user, NewOrg, NewUser};
use tianshu_store::views as st;
use tianshu_store::StoreError;
use tianshu_testkit::backends;

#[tokio::test]
async fn saved_views_are_per_user_and_page_with_unique_names() {
    for db in backends().await {
        let store = db.store().await;
        let (a, b) = store
            .write(|c| {
                Box::pin(async move {
                    let org = insert_org(
                        c,
                        NewOrg {
                            key: "prov".into(),
                            name: "省中心".into(),
                            kind: "province".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await?;
                    let user = |name: &str| NewUser {
                        username: name.into(),
                        display_name: format!("用户{name}"),
                        org_id: org.id,
                        email: None,
                        phone: None,
                        locale: "zh-CN".into(),
                        province_scope: true,
                        password_hash: None,
                    };
                    let a = insert_user(c, user("a"), 1).await?;
                    let b = insert_user(c, user("b"), 1).await?;
                    Ok((a.id, b.id))
                })
            })
            .await
            .unwrap();
        let save = |user: i64, page: &'static str, name: &'static str, q: &'static str| {
            let store = store.clone();
            async move {
                store
                    .write(move |c| {
                        Box::pin(async move { st::insert(c, user, page, name, q, 10).await })
                    })
                    .await
            }
        };
        let v1 = save(a, "incidents", "我的 FL2", "level=FL2").await.unwrap();
        save(a, "incidents", "超时", "overdue=1").await.unwrap();
        save(a, "alerts", "我的 FL2", "state=firing").await.unwrap();
        save(b, "incidents", "我的 FL2", "level=FL1").await.unwrap();
        match save(a, "incidents", "我的 FL2", "level=general").await {
            Err(StoreError::Conflict { field, .. }) => {
                assert_eq!(field, "name", "{:?}", db.backend)
            }
            other => panic!("{:?}: expected a conflict, got {other:?}", db.backend),
        }
        let mine = store.saved_views(a, "incidents").await.unwrap();
        assert_eq!(
            mine.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["我的 FL2", "超时"],
            "{:?}",
            db.backend
        );
        assert_eq!(mine[0].query, "level=FL2");
        let n = store
            .write(move |c| Box::pin(async move { st::count_in_tx(c, a, "incidents").await }))
            .await
            .unwrap();
        assert_eq!(n, 2);
        // b cannot delete a's view; a can, once.
        let id = v1.id;
        let by_b = store
            .write(move |c| Box::pin(async move { st::delete(c, b, id).await }))
            .await
            .unwrap();
        assert!(!by_b);
        let by_a = store
            .write(move |c| Box::pin(async move { st::delete(c, a, id).await }))
            .await
            .unwrap();
        assert!(by_a);
        assert_eq!(store.saved_views(a, "incidents").await.unwrap().len(), 1);
        assert_eq!(
            store.saved_views(b, "incidents").await.unwrap()[0].query,
            "level=FL1"
        );
    }
}
