//! The in-memory directory of organisations and systems: a key read once is answered from memory, a key not
//! found is looked up again (it may be added later, by this or another instance), on both backends.

use tianshu_store::identity::{insert_org, insert_system, NewOrg};
use tianshu_testkit::backends;

use super::platform;

#[tokio::test]
async fn directory_remembers_hits_and_never_misses() {
    for db in backends().await {
        let (p, _) = platform(&db, super::monday_10()).await;
        let d = &p.directory;
        assert!(d.org_by_key(&p.store, "dir-x").await.unwrap().is_none());
        assert!(d
            .system_by_key(&p.store, "dir-sys")
            .await
            .unwrap()
            .is_none());
        // Added after the misses (as another instance might): found now.
        let (org, sys) = p
            .store
            .write(|c| {
                Box::pin(async move {
                    let o = insert_org(
                        c,
                        NewOrg {
                            key: "dir-x".into(),
                            name: "目录测试单位".into(),
                            kind: "team".into(),
                            parent_id: None,
                        },
                        1,
                    )
                    .await?;
                    let s =
                        insert_system(c, "dir-sys", "目录测试系统", Some(o.id), None, 1).await?;
                    Ok((o, s))
                })
            })
            .await
            .unwrap();
        assert_eq!(
            d.org_by_key(&p.store, "dir-x").await.unwrap(),
            Some(org.clone())
        );
        assert_eq!(
            d.system_by_key(&p.store, "dir-sys").await.unwrap(),
            Some(sys.clone())
        );
        // Answered from memory: the same rows even with the store closed underneath.
        p.store.close().await;
        assert_eq!(d.org_by_key(&p.store, "dir-x").await.unwrap(), Some(org));
        assert_eq!(
            d.system_by_key(&p.store, "dir-sys").await.unwrap(),
            Some(sys)
        );
        assert!(
            d.org_by_key(&p.store, "dir-other").await.is_err(),
            "a miss reads"
        );
    }
}
