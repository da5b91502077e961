//! Encryption at rest of stored credentials (issue 7): data-operation target and monitored-database passwords
//! are stored `v1:`-sealed under a key file outside the database (created 0600 by the first start) and are never
//! returned or audited; a restart with the same key reads them (a MariaDB account with a password still connects
//! for a monitoring point), plain text left from before is encrypted once at start-up and only once, and a wrong,
//! missing or broken key file stops the start with a message naming the file. On SQLite and PostgreSQL.

use std::path::Path;
use std::str::FromStr;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use tianshu::{build_platform, AppConfig, Application};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::credentials::PREFIX;
use tianshu_services::monitoring::points;
use tianshu_services::{session, Platform};
use tianshu_store::credentials::CredentialColumn;
use tianshu_store::monitoring::DatabaseDef;
use tianshu_testkit::{backends, TestDb};

const DB_PASSWORD: &str = "Points#Test-2026";
const DB_USER: &str = "tianshu_t_points";
const TARGET_PASSWORD: &str = "目标库-口令-0042";
const LEGACY_DB_PASSWORD: &str = "legacy-db-pw-1";
const LEGACY_TARGET_PASSWORD: &str = "legacy-target-pw-2";
const PROBE_PASSWORD: &str = "probe-account-pw-3";
const LEGACY_PROBE_TOKEN: &str = "legacy-probe-token-4";

fn config(db: &TestDb, key_file: &Path) -> AppConfig {
    let mut cfg = AppConfig::new(db.config.clone());
    cfg.demo = true;
    cfg.credentials_key_file = Some(key_file.to_path_buf());
    cfg
}

async fn admin(p: &Platform) -> Principal {
    let u = p.store.user_by_username("admin").await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

/// host, port and database of the MariaDB test database, with an account that has a password and may read it.
async fn maria_account(url: &str) -> (String, u16, String) {
    let o = sqlx::mysql::MySqlConnectOptions::from_str(url).unwrap();
    let database = o.get_database().unwrap().to_string();
    let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
    for q in [
        format!("CREATE USER IF NOT EXISTS '{DB_USER}'@'%' IDENTIFIED BY '{DB_PASSWORD}'"),
        format!("GRANT SELECT ON `{database}`.* TO '{DB_USER}'@'%'"),
    ] {
        c.execute(sqlx::raw_sql(&q)).await.unwrap();
    }
    (o.get_host().to_string(), o.get_port(), database)
}

async fn post(
    client: &Client,
    base: &str,
    csrf: &str,
    path: &str,
    body: Value,
) -> (StatusCode, String) {
    let r = client
        .post(format!("{base}{path}"))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn get(client: &Client, base: &str, path: &str) -> String {
    let r = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

fn assert_no_password(what: &str, text: &str) {
    for pw in [
        DB_PASSWORD,
        TARGET_PASSWORD,
        LEGACY_DB_PASSWORD,
        LEGACY_TARGET_PASSWORD,
        PROBE_PASSWORD,
        LEGACY_PROBE_TOKEN,
    ] {
        assert!(!text.contains(pw), "{what} shows a password");
    }
}

/// The stored text of a credential and the password it opens to with `p`'s key.
async fn stored(p: &Platform, column: CredentialColumn, id: i64) -> (String, String) {
    let s = p
        .store
        .stored_credential(column, id)
        .await
        .unwrap()
        .unwrap();
    let plain = p.credentials.open(column, &s, "test value").unwrap();
    (s, plain)
}

async fn probe_secrets(p: &Platform, id: i64) -> std::collections::BTreeMap<String, String> {
    serde_json::from_str(&p.store.probe_secret_json(id).await.unwrap()).unwrap()
}

#[tokio::test]
async fn stored_passwords_are_encrypted_at_rest_and_need_their_key_file() {
    let maria = tianshu_testkit::mariadb().await;
    for db in backends().await {
        one_backend(&db, maria.as_deref()).await;
    }
}

async fn one_backend(db: &TestDb, maria: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("data").join("credentials.key");
    let cfg = config(db, &key_file);

    // First start: the key file is created, readable by its owner only.
    let app = Application::build(&cfg, "127.0.0.1:0").await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let base = format!("http://{}", app.addr);
    let p = app.platform.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = Client::builder().cookie_store(true).build().unwrap();
    let r = client
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "admin", "password": "tianshu-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    // Registered over HTTP with passwords; no response, list or audit entry carries them.
    let (host, port, database, kind) = match maria {
        Some(url) => {
            let (h, p, d) = maria_account(url).await;
            (h, p, d, "mysql")
        }
        // No MariaDB here: an unreachable registration still shows what is stored.
        None => ("127.0.0.1".to_string(), 1, "x".to_string(), "postgres"),
    };
    let (s, body) = post(
        &client,
        &base,
        &csrf,
        "/api/v1/monitoring/databases",
        json!({
        "name": "计费只读库", "kind": kind, "host": host, "port": port, "database": database,
        "username": DB_USER, "password": DB_PASSWORD}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_no_password("the database registration", &body);
    let db_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, body) = post(&client, &base, &csrf, "/api/v1/data-ops/targets", json!({
        "name": "账务目标库", "kind": "postgres", "host": "127.0.0.1", "port": 1, "database": "acct",
        "username": "fixer", "password": TARGET_PASSWORD, "system": "BOSS"})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_no_password("the target registration", &body);
    let target_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, body) = post(
        &client,
        &base,
        &csrf,
        "/api/v1/probes",
        json!({
        "name": "门户登录拨测", "enabled": false, "secrets": {"password": PROBE_PASSWORD},
        "scenario": {"steps": [{"name": "登录", "method": "POST", "url": "http://127.0.0.1:1/login",
            "form": {"password": "{{password}}"}}]}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_no_password("the probe", &body);
    let probe_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();
    for path in [
        "/api/v1/monitoring/databases",
        "/api/v1/data-ops/targets",
        "/api/v1/probes",
        "/api/v1/audit",
    ] {
        assert_no_password(path, &get(&client, &base, path).await);
    }
    assert_no_password(
        "the console",
        &get(&client, &base, "/monitoring-points").await,
    );
    assert_no_password(
        "the edit form",
        &get(
            &client,
            &base,
            &format!("/monitoring-databases/{db_id}/edit"),
        )
        .await,
    );

    // In the database: sealed, not the password, and it opens with this key.
    let (sealed_db, plain) = stored(&p, CredentialColumn::MonDatabase, db_id).await;
    assert!(
        sealed_db.starts_with(PREFIX) && !sealed_db.contains(DB_PASSWORD),
        "{sealed_db}"
    );
    assert_eq!(plain, DB_PASSWORD);
    let (sealed_target, plain) = stored(&p, CredentialColumn::DataopTarget, target_id).await;
    assert!(sealed_target.starts_with(PREFIX) && !sealed_target.contains(TARGET_PASSWORD));
    assert_eq!(plain, TARGET_PASSWORD);

    // A probe's secret variables: names readable, each value sealed; a run uses the opened value (the step fails
    // on the unreachable port, and its error masks nothing because it never contained the value).
    let secrets = probe_secrets(&p, probe_id).await;
    assert!(secrets["password"].starts_with(PREFIX), "{secrets:?}");
    assert_eq!(
        p.credentials.open_secrets(&secrets, probe_id).unwrap()["password"],
        PROBE_PASSWORD
    );

    // The point connects as the password-protected account: the stored password was decrypted to log in.
    let point_id = if maria.is_some() {
        let (s, body) = post(
            &client,
            &base,
            &csrf,
            "/api/v1/monitoring/points",
            json!({
            "name": "只读账号连通", "owner": "运维一组", "database_id": db_id, "query": "SELECT 1",
            "comparison": "lt", "threshold": 0, "enabled": false}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_i64()
            .unwrap();
        let (s, body) = post(
            &client,
            &base,
            &csrf,
            &format!("/api/v1/monitoring/points/{id}/run"),
            json!({}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["point"]["state"], "ok", "{v}");
        assert_no_password("the point's evaluation", &body);
        Some(id)
    } else {
        None
    };

    // Rows as an older version left them: plain text in the columns.
    let now = p.now_us();
    let (legacy_db, legacy_target, legacy_probe) = p
        .store
        .write(move |c| {
            Box::pin(async move {
                let d = tianshu_store::monitoring::insert_database(
                    c,
                    &DatabaseDef {
                        name: "旧版登记库".into(),
                        kind: "postgres".into(),
                        host: "127.0.0.1".into(),
                        port: 1,
                        database: "old".into(),
                        username: "old".into(),
                        password: Some(LEGACY_DB_PASSWORD.into()),
                    },
                    "test",
                    now,
                )
                .await?;
                let t = tianshu_store::dataops::insert_target(
                    c,
                    &tianshu_store::dataops::NewTarget {
                        name: "旧版目标库".into(),
                        kind: "mysql".into(),
                        host: "127.0.0.1".into(),
                        port: 1,
                        database_name: "old".into(),
                        username: "old".into(),
                        secret: LEGACY_TARGET_PASSWORD.into(),
                        system: String::new(),
                        created_by: "test".into(),
                        now,
                    },
                )
                .await?;
                let pr = tianshu_store::monitoring::insert_probe(
                    c,
                    &tianshu_store::monitoring::ProbeDef {
                        name: "旧版拨测".into(),
                        system: String::new(),
                        region: String::new(),
                        severity: "warning".into(),
                        scenario: "{\"steps\":[]}".into(),
                        secrets: json!({"token": LEGACY_PROBE_TOKEN, "empty": ""}).to_string(),
                        enabled: false,
                    },
                    "test",
                    now,
                    now,
                )
                .await?;
                Ok((d.id, t.id, pr.id))
            })
        })
        .await
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    // Restart with the same key file: the old plain text is now sealed, everything opens, the point connects.
    let p = build_platform(&cfg).await.unwrap();
    let (legacy_sealed_db, plain) = stored(&p, CredentialColumn::MonDatabase, legacy_db).await;
    assert!(legacy_sealed_db.starts_with(PREFIX), "{legacy_sealed_db}");
    assert_eq!(plain, LEGACY_DB_PASSWORD);
    let (legacy_sealed_target, plain) =
        stored(&p, CredentialColumn::DataopTarget, legacy_target).await;
    assert!(legacy_sealed_target.starts_with(PREFIX));
    assert_eq!(plain, LEGACY_TARGET_PASSWORD);
    assert_eq!(
        stored(&p, CredentialColumn::MonDatabase, db_id).await,
        (sealed_db.clone(), DB_PASSWORD.to_string())
    );
    let legacy_secrets = probe_secrets(&p, legacy_probe).await;
    assert!(legacy_secrets["token"].starts_with(PREFIX));
    assert_eq!(legacy_secrets["empty"], "");
    let opened = p
        .credentials
        .open_secrets(&legacy_secrets, legacy_probe)
        .unwrap();
    assert_eq!(opened["token"], LEGACY_PROBE_TOKEN);
    let probe_sealed = probe_secrets(&p, probe_id).await;
    assert_eq!(
        probe_sealed, secrets,
        "already sealed values are left alone"
    );
    let audit = p.store.audit_recent(None, 500).await.unwrap();
    let conversions: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "credentials.encrypted")
        .collect();
    assert_eq!(conversions.len(), 1);
    let after: Value = serde_json::from_str(conversions[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(
        after["encrypted"],
        json!({"dataop_targets.secret": 1, "mon_databases.password": 1, "probes.secrets": 1})
    );
    for e in &audit {
        assert_no_password("the audit trail", &format!("{e:?}"));
    }
    if let Some(id) = point_id {
        let v = points::run_now(&p, &admin(&p).await, id).await.unwrap();
        assert_eq!(v.point.state, "ok", "{:?}", v.point.last_reason);
    }
    p.store.close().await;

    // Once only: a further start changes nothing.
    let p = build_platform(&cfg).await.unwrap();
    assert_eq!(
        p.store
            .stored_credential(CredentialColumn::MonDatabase, legacy_db)
            .await
            .unwrap()
            .unwrap(),
        legacy_sealed_db
    );
    assert_eq!(
        p.store
            .stored_credential(CredentialColumn::DataopTarget, legacy_target)
            .await
            .unwrap()
            .unwrap(),
        legacy_sealed_target
    );
    assert_eq!(probe_secrets(&p, legacy_probe).await, legacy_secrets);
    p.store.close().await;

    // Another key: refused, naming the file.
    let other = dir.path().join("other.key");
    std::fs::write(&other, "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n").unwrap();
    let e = refused(db, &other).await;
    assert!(
        e.contains(&other.display().to_string()) && e.contains("not the key"),
        "{e}"
    );
    // No key file where the database expects one: refused, naming it, and no new key left there.
    let missing = dir.path().join("elsewhere").join("credentials.key");
    let e = refused(db, &missing).await;
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("does not exist"),
        "{e}"
    );
    assert!(!missing.exists());
    // A file that is not a key.
    let broken = dir.path().join("broken.key");
    std::fs::write(&broken, "not a key\n").unwrap();
    let e = refused(db, &broken).await;
    assert!(e.contains(&broken.display().to_string()), "{e}");
    // The original key still works after all that.
    let p = build_platform(&cfg).await.unwrap();
    assert_eq!(
        stored(&p, CredentialColumn::DataopTarget, target_id)
            .await
            .1,
        TARGET_PASSWORD
    );
    p.store.close().await;
}

async fn refused(db: &TestDb, key_file: &Path) -> String {
    match build_platform(&config(db, key_file)).await {
        Ok(p) => {
            p.store.close().await;
            panic!("started with the key file {}", key_file.display())
        }
        Err(e) => e.to_string(),
    }
}

/// Key rotation (`tianshu secrets rotate-key`), on SQLite and PostgreSQL: every stored credential (plain text
/// left from before included) is re-encrypted under key version 2 in one transaction, the key file then holds the
/// new key, the old version is retired and no stored value uses it; an old copy of the key file is refused naming
/// the rotation. Interruptions: a pending key left before the commit is reused (the server still starts on the
/// old key meanwhile); a commit without the key-file swap stops the start and a re-run finishes it without
/// re-encrypting anything.
#[tokio::test]
async fn key_rotation_re_encrypts_every_credential_and_retires_the_old_key() {
    use tianshu_services::credentials::{next_key_file, rotate_key};
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let key_file = data_dir.join("credentials.key");
        let cfg = config(&db, &key_file);
        let p = build_platform(&cfg).await.unwrap();
        let v = p.credentials.clone();
        let now = p.now_us();
        let (sealed_db, sealed_target, sealed_probe) = (
            v.seal(CredentialColumn::MonDatabase, DB_PASSWORD).unwrap(),
            v.seal(CredentialColumn::DataopTarget, TARGET_PASSWORD)
                .unwrap(),
            v.seal(CredentialColumn::ProbeSecret, PROBE_PASSWORD)
                .unwrap(),
        );
        let (db_id, target_id, legacy_id, probe_id) = p
            .store
            .write(move |c| {
                Box::pin(async move {
                    let d = tianshu_store::monitoring::insert_database(
                        c,
                        &DatabaseDef {
                            name: "轮换库".into(),
                            kind: "postgres".into(),
                            host: "127.0.0.1".into(),
                            port: 1,
                            database: "r".into(),
                            username: "r".into(),
                            password: Some(sealed_db),
                        },
                        "test",
                        now,
                    )
                    .await?;
                    let mut ids = Vec::new();
                    for (name, secret) in [
                        ("轮换目标库", sealed_target),
                        ("旧版明文目标库", LEGACY_TARGET_PASSWORD.to_string()),
                    ] {
                        let t = tianshu_store::dataops::insert_target(
                            c,
                            &tianshu_store::dataops::NewTarget {
                                name: name.into(),
                                kind: "mysql".into(),
                                host: "127.0.0.1".into(),
                                port: 1,
                                database_name: "r".into(),
                                username: "r".into(),
                                secret,
                                system: String::new(),
                                created_by: "test".into(),
                                now,
                            },
                        )
                        .await?;
                        ids.push(t.id);
                    }
                    let pr = tianshu_store::monitoring::insert_probe(
                        c,
                        &tianshu_store::monitoring::ProbeDef {
                            name: "轮换拨测".into(),
                            system: String::new(),
                            region: String::new(),
                            severity: "warning".into(),
                            scenario: "{\"steps\":[]}".into(),
                            secrets: json!({"password": sealed_probe, "empty": ""}).to_string(),
                            enabled: false,
                        },
                        "test",
                        now,
                        now,
                    )
                    .await?;
                    Ok((d.id, ids[0], ids[1], pr.id))
                })
            })
            .await
            .unwrap();
        p.store.close().await;
        let v1_copy = dir.path().join("v1-backup.key");
        std::fs::copy(&key_file, &v1_copy).unwrap();

        // The command, as an operator runs it (servers stopped); the CLI has no option for the tests' PostgreSQL
        // schema, so there the same service call runs.
        if db.backend == tianshu_testkit::Backend::Sqlite {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_tianshu"))
                .arg("--database-url")
                .arg(&db.config.url)
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["secrets", "rotate-key"])
                .output()
                .unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
            assert!(
                stdout.contains("key version 2")
                    && stdout.contains("4 stored value(s) re-encrypted")
                    && stdout.contains("key version 1 retired"),
                "{stdout}"
            );
        } else {
            let store = tianshu_store::Store::open(&db.config).await.unwrap();
            let r = rotate_key(&store, &key_file, now).await.unwrap();
            assert_eq!((r.from, r.to, r.re_encrypted, r.resumed), (1, 2, 4, false));
            store.close().await;
        }
        assert!(std::fs::read_to_string(&key_file)
            .unwrap()
            .starts_with("v2:"));
        assert!(!next_key_file(&key_file).exists());

        let check = |p: Platform, version: i64| async move {
            let prefix = format!("v{version}:");
            for (column, id, want) in [
                (CredentialColumn::MonDatabase, db_id, DB_PASSWORD),
                (CredentialColumn::DataopTarget, target_id, TARGET_PASSWORD),
                (
                    CredentialColumn::DataopTarget,
                    legacy_id,
                    LEGACY_TARGET_PASSWORD,
                ),
            ] {
                let (s, plain) = stored(&p, column, id).await;
                assert!(s.starts_with(&prefix), "{s}");
                assert_eq!(plain, want);
            }
            let secrets = probe_secrets(&p, probe_id).await;
            assert!(secrets["password"].starts_with(&prefix), "{secrets:?}");
            assert_eq!(secrets["empty"], "");
            assert_eq!(
                p.credentials.open_secrets(&secrets, probe_id).unwrap()["password"],
                PROBE_PASSWORD
            );
            // No stored value is left under an older version; those versions are retired.
            assert!(p
                .store
                .unencrypted_credentials(&prefix)
                .await
                .unwrap()
                .is_empty());
            let keys = p.store.credential_keys().await.unwrap();
            assert_eq!(keys.last().unwrap().version, version);
            assert!(keys.last().unwrap().retired_at.is_none());
            assert!(
                keys[..keys.len() - 1]
                    .iter()
                    .all(|k| k.retired_at.is_some()),
                "{keys:?}"
            );
            // New values are sealed under the new version.
            assert!(p
                .credentials
                .seal(CredentialColumn::MonDatabase, "x")
                .unwrap()
                .starts_with(&prefix));
            p.store.close().await;
        };
        check(build_platform(&cfg).await.unwrap(), 2).await;

        // An old copy of the key file: refused, naming the rotation.
        let e = refused(&db, &v1_copy).await;
        assert!(
            e.contains("rotate-key") && e.contains("version 2") && e.contains("holds version 1"),
            "{e}"
        );

        // Interrupted after the commit, before the key file was replaced: simulated by putting the old key back
        // and the new one where the rotation leaves it pending.
        let v2_copy = dir.path().join("v2-backup.key");
        std::fs::copy(&key_file, &v2_copy).unwrap();
        let store = tianshu_store::Store::open(&db.config).await.unwrap();
        let r = rotate_key(&store, &key_file, now).await.unwrap();
        assert_eq!((r.from, r.to, r.re_encrypted, r.resumed), (2, 3, 4, false));
        std::fs::rename(&key_file, next_key_file(&key_file)).unwrap();
        std::fs::copy(&v2_copy, &key_file).unwrap();
        store.close().await;
        let e = refused(&db, &key_file).await;
        assert!(e.contains("run `tianshu secrets rotate-key` again"), "{e}");
        let store = tianshu_store::Store::open(&db.config).await.unwrap();
        let r = rotate_key(&store, &key_file, now).await.unwrap();
        assert_eq!((r.from, r.to, r.re_encrypted, r.resumed), (2, 3, 0, true));
        store.close().await;
        check(build_platform(&cfg).await.unwrap(), 3).await;

        // Interrupted before the commit: the pending key is on disk, the database unchanged — the server still
        // runs on version 3, and the re-run uses that pending key.
        let pending = "v4:CgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgo=\n";
        std::fs::write(next_key_file(&key_file), pending).unwrap();
        check(build_platform(&cfg).await.unwrap(), 3).await;
        let store = tianshu_store::Store::open(&db.config).await.unwrap();
        let r = rotate_key(&store, &key_file, now).await.unwrap();
        assert_eq!((r.to, r.re_encrypted), (4, 4));
        store.close().await;
        assert_eq!(std::fs::read_to_string(&key_file).unwrap(), pending);
        let p = build_platform(&cfg).await.unwrap();
        let audit = p.store.audit_recent(None, 500).await.unwrap();
        let rotations: Vec<_> = audit
            .iter()
            .filter(|e| e.action == "credentials.rotated")
            .collect();
        assert_eq!(rotations.len(), 3);
        for e in &audit {
            assert_no_password("the audit trail", &format!("{e:?}"));
        }
        check(p, 4).await;
    }
}
