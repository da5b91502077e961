// Problem storage on SQLite and PostgreSQL (migration 0012): a report round-trips every form field, saves are
// version-checked, review actions close once, links are unique and findable from the incident side, history
// lists in order, and the monthly query takes the reporting window half-open.

use serde_json::json;
use tianshu_store::problems::{self as st, NewProblem, ProblemFilter};
use tianshu_store::StoreError;
use tianshu_testkit::backends;

fn report(title: &str, level: &str, at: i64) -> NewProblem {
    NewProblem {
        title: title.into(),
        level: level.into(),
        category: "database".into(),
        source: "值班发现".into(),
        discovered_at: at - 600,
        reported_at: at,
        reporter: "duty01".into(),
        symptom: "话单入库延迟".into(),
        impact: "无用户影响".into(),
        on_site_data: "队列积压 1.2 万".into(),
        cause_analysis: String::new(),
        org_id: None,
        region_id: None,
        vendor_org_id: None,
        now: at,
    }
}

#[tokio::test]
async fn problems_round_trip_with_versions_actions_links_and_history() {
    for db in backends().await {
        let store = db.store().await;
        let p = store
            .write(|c| {
                Box::pin(async move {
                    let p = st::insert_problem(c, &report("入库延迟", "P1", 1_000)).await?;
                    st::insert_problem_event(
                        c,
                        p.id,
                        1_000,
                        "reported",
                        "duty01",
                        &json!({"level": "P1"}),
                    )
                    .await?;
                    Ok(p)
                })
            })
            .await
            .unwrap();
        assert_eq!(
            (p.state.as_str(), p.version),
            ("reported", 1),
            "{:?}",
            db.backend
        );
        assert_eq!(p.on_site_data, "队列积压 1.2 万");
        assert_eq!(p.discovered_at, 400);

        // Dispatch: a save with the current version wins, the same save again is stale.
        let mut d = p.clone();
        d.state = "dispatched".into();
        d.dispatcher = Some("coord1".into());
        d.dispatched_at = Some(1_500);
        d.handler = Some("dba1".into());
        let saved = store
            .write(move |c| Box::pin(async move { st::save_problem(c, &d, 1_500).await }))
            .await
            .unwrap();
        assert_eq!(saved.version, 2);
        assert_eq!(saved.handler.as_deref(), Some("dba1"));
        let mut again = p.clone();
        again.state = "resolved".into();
        let stale = store
            .write(move |c| Box::pin(async move { st::save_problem(c, &again, 1_600).await }))
            .await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(
            store.problem(p.id).await.unwrap().unwrap().state,
            "dispatched"
        );

        // Review actions: close once; the count of open ones follows.
        let id = p.id;
        let (a1, open) = store
            .write(move |c| {
                Box::pin(async move {
                    let a1 = st::insert_action(
                        c,
                        id,
                        "增加入库队列监控",
                        "dba1",
                        9_000,
                        "coord1",
                        2_000,
                    )
                    .await?;
                    st::insert_action(c, id, "评审同类隐患", "coord1", 9_000, "coord1", 2_000)
                        .await?;
                    let open = st::open_action_count(c, id).await?;
                    Ok((a1, open))
                })
            })
            .await
            .unwrap();
        assert_eq!(open, 2);
        let closed = store
            .write(move |c| {
                Box::pin(async move {
                    st::close_action(c, id, a1.id, a1.version, "已上线", "dba1", 3_000).await
                })
            })
            .await
            .unwrap();
        assert_eq!(closed.closed_at, Some(3_000));
        let twice = store
            .write(move |c| {
                Box::pin(async move {
                    st::close_action(c, id, a1.id, closed.version, "again", "dba1", 3_100).await
                })
            })
            .await;
        assert!(matches!(twice, Err(StoreError::Stale(_))));
        let open = store
            .write(move |c| Box::pin(async move { st::open_action_count(c, id).await }))
            .await
            .unwrap();
        assert_eq!(open, 1);
        assert_eq!(store.problem_actions(id).await.unwrap().len(), 2);

        // Links are unique and findable from the incident.
        let added = store
            .write(move |c| {
                Box::pin(async move {
                    let a = st::insert_link(c, id, "incident", "42", "coord1", 2_100).await?;
                    let b = st::insert_link(c, id, "incident", "42", "coord1", 2_200).await?;
                    let d = st::insert_link(c, id, "change", "CHG-7", "coord1", 2_300).await?;
                    Ok((a, b, d))
                })
            })
            .await
            .unwrap();
        assert_eq!(added, (true, false, true));
        assert_eq!(store.problem_links(id).await.unwrap().len(), 2);
        assert_eq!(
            store.problems_linked_to("incident", "42").await.unwrap(),
            vec![id]
        );
        assert_eq!(store.problem_events(id).await.unwrap()[0].kind, "reported");
    }
}

#[tokio::test]
async fn problem_list_filters_and_monthly_window() {
    for db in backends().await {
        let store = db.store().await;
        store
            .write(|c| {
                Box::pin(async move {
                    st::insert_problem(c, &report("a", "P1", 100)).await?;
                    st::insert_problem(c, &report("b", "P3", 200)).await?;
                    st::insert_problem(c, &report("c", "P3", 300)).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
        let p3 = ProblemFilter {
            level: Some("P3".into()),
            ..ProblemFilter::default()
        };
        let page = store.problems_page(i64::MAX, 10, &p3).await.unwrap();
        let titles: Vec<&str> = page.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["c", "b"], "{:?}", db.backend);
        let all = store
            .problems_page(i64::MAX, 2, &ProblemFilter::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        let month = store.problems_reported_between(100, 300).await.unwrap();
        let titles: Vec<&str> = month.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["a", "b"]);
    }
}
