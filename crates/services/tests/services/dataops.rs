// Back-end data operations end to end in the service layer (issue 7 items 4–5): the DATA-13 chain, DATA-10
// maker-checker, DATA-12/17 approvals, and guarded execution against the machine's real PostgreSQL (a fresh
// schema) and MariaDB (a fresh database): success with an exact before-image (decimals, timestamps, NULL,
// Chinese text), a row-count mismatch rolls back every step, DDL and a second statement are refused.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use tianshu_services::authz::{AuthVia, Principal};
use tianshu_services::dataops::{self, RequestInput, StepInput, TargetInput};
use tianshu_services::{demo, session, Platform, ServiceError};
use tianshu_testkit::{backends, mariadb, postgres_url, TestDb};

use super::platform;

/// Local Asia/Shanghai time on Tuesday 2026-12-01.
fn local(h: u32, m: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 12, 1, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn principal(p: &Platform, username: &str) -> Principal {
    let u = p.store.user_by_username(username).await.unwrap().unwrap();
    session::principal_of_user(p, u.id, AuthVia::Cli)
        .await
        .unwrap()
}

/// A target database prepared for one test.
struct Target {
    kind: &'static str,
    input: TargetInput,
    /// Table name as steps write it.
    table: String,
    url: String,
}

const PG_SETUP: &str = "CREATE TABLE {t} (id INT PRIMARY KEY, amount NUMERIC(16,2), paid_at TIMESTAMP(6), region TEXT, note TEXT);
INSERT INTO {t} VALUES (1, 12345678901234.56, '2026-11-30 23:59:59.123456', NULL, '退费·测试甲'),
 (2, -0.01, '2026-01-01 00:00:00', 'gz', '话费返还'), (3, 0.00, NULL, 'sz', NULL), (4, 7.10, '2026-06-15 12:00:00', 'fs', 'plain');";

const MY_SETUP: &str = "CREATE TABLE {t} (id INT PRIMARY KEY, amount DECIMAL(16,2), paid_at DATETIME(6), region VARCHAR(20), note VARCHAR(100)) CHARACTER SET utf8mb4;
INSERT INTO {t} VALUES (1, 12345678901234.56, '2026-11-30 23:59:59.123456', NULL, '退费·测试甲'),
 (2, -0.01, '2026-01-01 00:00:00', 'gz', '话费返还'), (3, 0.00, NULL, 'sz', NULL), (4, 7.10, '2026-06-15 12:00:00', 'fs', 'plain');";

async fn pg_target() -> Option<Target> {
    let url = postgres_url()?;
    let schema = format!(
        "{}{}_dataop_{}",
        tianshu_testkit::SCHEMA_PREFIX,
        Utc::now().timestamp(),
        uuid_like()
    );
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let table = format!("{schema}.acct_balance");
    c.execute(sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema}; {}",
        PG_SETUP.replace("{t}", &table)
    )))
    .await
    .unwrap();
    let o = sqlx::postgres::PgConnectOptions::from_str(&url).unwrap();
    Some(Target {
        kind: "postgres",
        input: TargetInput {
            name: format!("crm-pg-{}", uuid_like()),
            kind: "postgres".into(),
            host: o.get_host().into(),
            port: o.get_port(),
            database: o.get_database().unwrap_or("postgres").into(),
            username: o.get_username().into(),
            password: String::new(),
            system: "CRM".into(),
        },
        table,
        url,
    })
}

async fn my_target() -> Option<Target> {
    let url = mariadb().await?;
    let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
    for stmt in MY_SETUP.replace("{t}", "acct_balance").split(";\n") {
        c.execute(sqlx::raw_sql(stmt)).await.unwrap();
    }
    let o = sqlx::mysql::MySqlConnectOptions::from_str(&url).unwrap();
    let database = o.get_database().unwrap_or("test").to_string();
    // The executor logs in as an account with a password, so every MariaDB test here also proves the password
    // stored encrypted (v1:…) is decrypted to connect. One account for all test databases, granted each one.
    c.execute(sqlx::raw_sql(&format!(
        "CREATE USER IF NOT EXISTS '{MY_USER}'@'%' IDENTIFIED BY '{MY_PASSWORD}'"
    )))
    .await
    .unwrap();
    c.execute(sqlx::raw_sql(&format!(
        "GRANT ALL PRIVILEGES ON `{database}`.* TO '{MY_USER}'@'%'"
    )))
    .await
    .unwrap();
    Some(Target {
        kind: "mysql",
        input: TargetInput {
            name: format!("billing-maria-{}", uuid_like()),
            kind: "mysql".into(),
            host: o.get_host().into(),
            port: o.get_port(),
            database,
            username: MY_USER.into(),
            password: MY_PASSWORD.into(),
            system: "BOSS".into(),
        },
        table: "acct_balance".into(),
        url,
    })
}

/// The MariaDB account the executor uses in these tests.
const MY_USER: &str = "tianshu_t_dataop";
const MY_PASSWORD: &str = "Dataop#Test-2026";

fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    h.finish()
}

/// One row of the test table as text.
type TextRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The rows of the test table as text (NULL → null), by id.
async fn rows(t: &Target) -> Vec<Value> {
    let sql = format!(
        "SELECT id, amount, paid_at, region, note FROM {} ORDER BY id",
        t.table
    );
    let mut out = Vec::new();
    if t.kind == "postgres" {
        let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
        let sql = format!(
            "SELECT id::text, amount::text, paid_at::text, region, note FROM {} ORDER BY id",
            t.table
        );
        let rs: Vec<TextRow> = sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap();
        for r in rs {
            out.push(json!([r.0, r.1, r.2, r.3, r.4]));
        }
    } else {
        let mut c = sqlx::MySqlConnection::connect(&t.url).await.unwrap();
        let sql = sql.replace(
            "SELECT id, amount, paid_at, region, note",
            "SELECT CAST(id AS CHAR), CAST(amount AS CHAR), CAST(paid_at AS CHAR), region, note",
        );
        let rs: Vec<TextRow> = sqlx::query_as(&sql).fetch_all(&mut c).await.unwrap();
        for r in rs {
            out.push(json!([r.0, r.1, r.2, r.3, r.4]));
        }
    }
    out
}

async fn setup(db: &TestDb, t: &Target) -> (Platform, i64) {
    let (p, _clock) = platform(db, local(20, 0)).await;
    demo::load(&p).await.unwrap();
    let admin = principal(&p, "admin").await;
    let target = dataops::register_target(&p, &admin, t.input.clone())
        .await
        .unwrap();
    let stored = p
        .store
        .dataop_target_secret(target.id)
        .await
        .unwrap()
        .unwrap();
    if t.input.password.is_empty() {
        assert_eq!(stored, "");
    } else {
        assert!(
            stored.starts_with("v1:") && !stored.contains(&t.input.password),
            "the target password is stored encrypted"
        );
    }
    (p, target.id)
}

fn modification(target_id: i64, steps: Vec<(&str, u64)>) -> RequestInput {
    RequestInput {
        kind: "modification".into(),
        target_id,
        title: "订单补录后账户余额修正".into(),
        ticket_type: "ams_data_modification".into(),
        ticket_ref: "AMS-DEMO-0001".into(),
        impact: "影响两个测试账户余额，不影响报表".into(),
        purpose: String::new(),
        fields: String::new(),
        declared_rows: None,
        amount_diff_yuan: None,
        inventory_error: None,
        estimated_minutes: Some(1),
        sensitive_classes: Vec::new(),
        vendor_mode: "company".into(),
        processor: "datafix".into(),
        reviewer: "dba".into(),
        steps: steps
            .into_iter()
            .map(|(sql, n)| StepInput {
                sql: sql.into(),
                expected_rows: n,
            })
            .collect(),
        query: None,
    }
}

async fn approve(p: &Platform, id: i64) -> i64 {
    let mgr = principal(p, "room-mgr").await;
    let v = dataops::get(p, &mgr, id).await.unwrap().request.version;
    let v = dataops::act(p, &mgr, id, "approve_business", v, None)
        .await
        .unwrap()
        .request
        .version;
    // DATA-09: business and technical approval may be the same person.
    dataops::act(
        p,
        &mgr,
        id,
        "approve_technical",
        v,
        Some("脚本已核对".into()),
    )
    .await
    .unwrap()
    .request
    .version
}

fn invalid(e: ServiceError) -> (String, String) {
    match e {
        ServiceError::Invalid { field, message, .. } => (field, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn each_target() -> Vec<Target> {
    let mut v = Vec::new();
    if let Some(t) = pg_target().await {
        v.push(t);
    }
    if let Some(t) = my_target().await {
        v.push(t);
    }
    v
}

#[tokio::test]
async fn guarded_execution_commits_and_keeps_the_exact_before_image_data_05_data_08() {
    // Tianshu's own store on SQLite and PostgreSQL, each against both kinds of target.
    for db in backends().await {
        for t in each_target().await {
            let (p, target_id) = setup(&db, &t).await;
            let original = rows(&t).await;
            let preproc = principal(&p, "preproc").await;
            let upd = format!(
                "UPDATE {} SET amount = amount + 1, note = '已修正' WHERE id IN (1, 2)",
                t.table
            );
            let del = format!("DELETE FROM {} WHERE id = 3", t.table);
            let v = dataops::submit(
                &p,
                &preproc,
                modification(target_id, vec![(&upd, 2), (&del, 1)]),
            )
            .await
            .unwrap();
            let id = v.request.id;
            // acct_balance is an important table (DATA-10 PD): processor and reviewer must differ.
            assert!(
                v.request.important && v.request.separation_required,
                "{:?}",
                v.request
            );
            assert_eq!(v.request.declared_rows, 3);
            let version = approve(&p, id).await;
            let datafix = principal(&p, "datafix").await;
            let out = dataops::execute(&p, &datafix, id, version).await.unwrap();
            assert_eq!(out.execution.outcome, "committed", "{}", t.kind);
            assert_eq!(out.request.request.state, "executed");
            // The before-image holds the original rows exactly as the database rendered them.
            let before = &out.execution.before_image;
            let step1 = before[0]["rows"].as_array().unwrap();
            assert_eq!(step1.len(), 2);
            assert_eq!(step1[0]["id"], "1");
            assert_eq!(step1[0]["amount"], "12345678901234.56", "{}", t.kind);
            assert_eq!(step1[0]["region"], Value::Null);
            assert_eq!(step1[0]["note"], "退费·测试甲");
            let paid = step1[0]["paid_at"].as_str().unwrap();
            assert!(
                paid.starts_with("2026-11-30") && paid.ends_with("23:59:59.123456"),
                "{paid}"
            );
            assert_eq!(step1[1]["amount"], "-0.01");
            assert_eq!(step1[1]["note"], "话费返还");
            let step2 = before[1]["rows"].as_array().unwrap();
            assert_eq!(step2.len(), 1);
            assert_eq!(step2[0]["id"], "3");
            assert_eq!(step2[0]["paid_at"], Value::Null);
            assert_eq!(step2[0]["note"], Value::Null);
            // Each before-image row is the original row, value for value.
            for (img, orig) in step1.iter().chain(step2.iter()).zip(original.iter()) {
                assert_eq!(img["id"], orig[0]);
                assert_eq!(img["amount"], orig[1]);
                assert_eq!(img["region"], orig[3]);
                assert_eq!(img["note"], orig[4]);
            }
            let after = rows(&t).await;
            assert_eq!(after.len(), 3);
            assert_eq!(after[0][1], "12345678901235.56");
            assert_eq!(after[1][4], "已修正");
            // DATA-10: the executor cannot review an important change; another person can.
            let v = out.request.request.version;
            let (field, msg) = invalid(
                dataops::act(&p, &datafix, id, "review", v, None)
                    .await
                    .unwrap_err(),
            );
            assert_eq!(field, "reviewer");
            assert!(msg.starts_with("DATA-10"), "{msg}");
            let dba = principal(&p, "dba").await;
            let done = dataops::act(&p, &dba, id, "review", v, Some("抽查通过".into()))
                .await
                .unwrap();
            assert_eq!(done.request.state, "reviewed");
            let kinds: Vec<&str> = done.events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(
                kinds,
                [
                    "submitted",
                    "biz_approved",
                    "tech_approved",
                    "executed",
                    "reviewed"
                ]
            );
            // Every execution is in the audit trail.
            let audit = p
                .store
                .audit_page(0, 500, Some(("dataop", &id.to_string())))
                .await
                .unwrap();
            assert!(audit
                .iter()
                .any(|a| a.action == "dataop.executed" && a.object_id == id.to_string()));
        }
    }
}

#[tokio::test]
async fn row_count_mismatch_rolls_back_every_step_data_05() {
    for t in each_target().await {
        let db = TestDb::sqlite();
        let (p, target_id) = setup(&db, &t).await;
        let original = rows(&t).await;
        let preproc = principal(&p, "preproc").await;
        // Step 1 alone is fine; step 2 covers 2 rows where 1 is declared: step 1 must be undone too.
        let s1 = format!("UPDATE {} SET note = 'changed' WHERE id = 4", t.table);
        let s2 = format!("DELETE FROM {} WHERE id IN (2, 3)", t.table);
        let v = dataops::submit(
            &p,
            &preproc,
            modification(target_id, vec![(&s1, 1), (&s2, 1)]),
        )
        .await
        .unwrap();
        let id = v.request.id;
        let version = approve(&p, id).await;
        let datafix = principal(&p, "datafix").await;
        let (field, msg) = invalid(
            dataops::execute(&p, &datafix, id, version)
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "steps[1].expected_rows", "{}", t.kind);
        assert!(
            msg.starts_with("DATA-05: step 2") && msg.contains("rolled back"),
            "{msg}"
        );
        assert_eq!(rows(&t).await, original, "{}: nothing may change", t.kind);
        let v = dataops::get(&p, &datafix, id).await.unwrap();
        assert_eq!(v.request.state, "tech_approved");
        assert_eq!(v.executions.len(), 1);
        assert_eq!(v.executions[0].outcome, "rolled_back");
        // An UPDATE whose affected count differs (declared 3, predicate covers 2) is refused the same way.
        let s = format!("UPDATE {} SET note = 'x' WHERE id IN (1, 2)", t.table);
        let v = dataops::submit(&p, &preproc, modification(target_id, vec![(&s, 3)]))
            .await
            .unwrap();
        let version = approve(&p, v.request.id).await;
        let (_, msg) = invalid(
            dataops::execute(&p, &datafix, v.request.id, version)
                .await
                .unwrap_err(),
        );
        assert!(msg.contains("covers 2 rows, 3 declared"), "{msg}");
        assert_eq!(rows(&t).await, original);
    }
}

#[tokio::test]
async fn ddl_second_statement_and_keyless_steps_are_refused_at_submission_data_05() {
    let db = TestDb::sqlite();
    let (p, _clock) = platform(&db, local(20, 0)).await;
    demo::load(&p).await.unwrap();
    let admin = principal(&p, "admin").await;
    let target = dataops::register_target(
        &p,
        &admin,
        TargetInput {
            name: "crm".into(),
            kind: "postgres".into(),
            host: "127.0.0.1".into(),
            port: 5432,
            database: "crm".into(),
            username: "ops".into(),
            password: "s3cret-pass".into(),
            system: "CRM".into(),
        },
    )
    .await
    .unwrap();
    // The password never leaves the server.
    let listed = serde_json::to_string(&dataops::targets(&p, &admin).await.unwrap()).unwrap();
    assert!(!listed.contains("s3cret-pass"));
    let preproc = principal(&p, "preproc").await;
    for (sql, needle) in [
        ("DROP TABLE acct_balance", "DROP"),
        ("TRUNCATE acct_balance", "TRUNCATE"),
        (
            "UPDATE acct_balance SET amount = 0 WHERE id = 1; DELETE FROM acct_balance WHERE id = 2",
            "second statement",
        ),
        ("UPDATE acct_balance SET amount = 0", "WHERE"),
        ("DELETE FROM acct_balance WHERE amount > 0", "pin rows"),
    ] {
        let (field, msg) = invalid(
            dataops::submit(&p, &preproc, modification(target.id, vec![(sql, 1)]))
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "steps[0].sql");
        assert!(msg.starts_with("DATA-05") && msg.contains(needle), "{sql}: {msg}");
    }
    assert!(p
        .store
        .dataop_requests(&Default::default(), i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn maker_equal_to_checker_and_skipped_steps_are_refused_worked_example_22_data_02_data_10_data_13(
) {
    let db = TestDb::sqlite();
    let (p, _clock) = platform(&db, local(20, 0)).await;
    demo::load(&p).await.unwrap();
    let admin = principal(&p, "admin").await;
    let target = dataops::register_target(
        &p,
        &admin,
        TargetInput {
            name: "boss".into(),
            kind: "mysql".into(),
            host: "127.0.0.1".into(),
            port: 3306,
            database: "boss".into(),
            username: "ops".into(),
            password: String::new(),
            system: "BOSS".into(),
        },
    )
    .await
    .unwrap();
    let preproc = principal(&p, "preproc").await;
    // 1500 records → batch: processor ≠ reviewer required.
    let mut r = modification(
        target.id,
        vec![("UPDATE cust_order SET flag = 1 WHERE region = 'gz'", 1500)],
    );
    r.reviewer = "datafix".into();
    let (field, msg) = invalid(dataops::submit(&p, &preproc, r.clone()).await.unwrap_err());
    assert_eq!(field, "reviewer");
    assert!(msg.starts_with("DATA-10"), "{msg}");
    // 999 records, no amount or inventory trigger → single: the same person may process and review.
    let mut single = r.clone();
    single.steps[0].expected_rows = 999;
    let v = dataops::submit(&p, &preproc, single).await.unwrap();
    assert!(!v.request.batch && !v.request.separation_required);
    // A report correction with a 120,000-yuan difference → batch.
    let mut money = r.clone();
    money.steps[0].expected_rows = 10;
    money.amount_diff_yuan = Some(120_000.0);
    let e = dataops::submit(&p, &preproc, money).await.unwrap_err();
    assert!(invalid(e).1.contains("amount difference"));
    // DATA-13: execution before the approvals is refused.
    let datafix = principal(&p, "datafix").await;
    let e = dataops::execute(&p, &datafix, v.request.id, v.request.version)
        .await
        .unwrap_err();
    assert!(invalid(e).1.starts_with("DATA-13"));
    let mgr = principal(&p, "room-mgr").await;
    let e = dataops::act(
        &p,
        &mgr,
        v.request.id,
        "approve_technical",
        v.request.version,
        None,
    )
    .await
    .unwrap_err();
    assert!(invalid(e).1.starts_with("DATA-13"));
    // DATA-04: a requirement ticket is not a data-modification ticket.
    let mut wrong = r.clone();
    wrong.ticket_type = "ams_requirement".into();
    wrong.reviewer = "dba".into();
    let (field, msg) = invalid(dataops::submit(&p, &preproc, wrong).await.unwrap_err());
    assert_eq!(field, "ticket_type");
    assert!(msg.starts_with("DATA-04"));
}

#[tokio::test]
async fn sensitive_data_needs_on_site_staff_and_manager_approval_worked_example_23_data_12() {
    let db = TestDb::sqlite();
    let (p, _clock) = platform(&db, local(20, 0)).await;
    demo::load(&p).await.unwrap();
    let admin = principal(&p, "admin").await;
    let target = dataops::register_target(
        &p,
        &admin,
        TargetInput {
            name: "cdr".into(),
            kind: "postgres".into(),
            host: "127.0.0.1".into(),
            port: 5432,
            database: "cdr".into(),
            username: "ops".into(),
            password: String::new(),
            system: "BOSS".into(),
        },
    )
    .await
    .unwrap();
    let preproc = principal(&p, "preproc").await;
    let mut r = modification(
        target.id,
        vec![("UPDATE call_detail SET duration = 60 WHERE id = 7", 1)],
    );
    r.sensitive_classes = vec!["call_detail".into()];
    r.vendor_mode = "remote_vendor".into();
    let (field, msg) = invalid(dataops::submit(&p, &preproc, r.clone()).await.unwrap_err());
    assert_eq!(field, "vendor_mode");
    assert!(msg.starts_with("DATA-12"), "{msg}");
    r.vendor_mode = "onsite_vendor".into();
    let v = dataops::submit(&p, &preproc, r.clone()).await.unwrap();
    let mgr = principal(&p, "room-mgr").await;
    let id = v.request.id;
    let v1 = dataops::act(&p, &mgr, id, "approve_business", v.request.version, None)
        .await
        .unwrap();
    let e = dataops::act(&p, &mgr, id, "approve_technical", v1.request.version, None)
        .await
        .unwrap_err();
    assert!(invalid(e).1.starts_with("DATA-12"));
    let v2 = dataops::act(
        &p,
        &mgr,
        id,
        "approve_sensitive",
        v1.request.version,
        Some("敏感数据访问审批表 #12".into()),
    )
    .await
    .unwrap();
    let v3 = dataops::act(&p, &mgr, id, "approve_technical", v2.request.version, None)
        .await
        .unwrap();
    assert_eq!(v3.request.state, "tech_approved");
    // A batch change of level-1 data also needs the room manager's batch approval; a duty officer cannot give it.
    let mut b = r.clone();
    b.steps[0].expected_rows = 2000;
    let vb = dataops::submit(&p, &preproc, b).await.unwrap();
    let datafix = principal(&p, "datafix").await;
    let e = dataops::act(
        &p,
        &datafix,
        vb.request.id,
        "approve_sensitive_batch",
        vb.request.version,
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ServiceError::Transition { .. }));
    let vb = dataops::act(
        &p,
        &mgr,
        vb.request.id,
        "approve_business",
        vb.request.version,
        None,
    )
    .await
    .unwrap();
    let vb = dataops::act(
        &p,
        &mgr,
        vb.request.id,
        "approve_sensitive",
        vb.request.version,
        None,
    )
    .await
    .unwrap();
    let e = dataops::act(
        &p,
        &mgr,
        vb.request.id,
        "approve_technical",
        vb.request.version,
        None,
    )
    .await
    .unwrap_err();
    assert!(invalid(e).1.contains("batch approval"));
}

#[tokio::test]
async fn large_extraction_in_peak_hours_needs_an_exception_data_17() {
    let Some(t) = my_target().await else {
        return;
    };
    let db = TestDb::sqlite();
    let (p, clock) = platform(&db, local(10, 0)).await;
    demo::load(&p).await.unwrap();
    let admin = principal(&p, "admin").await;
    let target = dataops::register_target(&p, &admin, t.input.clone())
        .await
        .unwrap();
    let preproc = principal(&p, "preproc").await;
    let r = RequestInput {
        kind: "extraction".into(),
        target_id: target.id,
        title: "欠费用户清单提取".into(),
        ticket_type: "cmcp_it_collaboration".into(),
        ticket_ref: String::new(),
        impact: String::new(),
        purpose: "月度欠费分析".into(),
        fields: "id, amount, note".into(),
        declared_rows: Some(60_000),
        amount_diff_yuan: None,
        inventory_error: None,
        estimated_minutes: Some(2),
        sensitive_classes: Vec::new(),
        vendor_mode: "company".into(),
        processor: "datafix".into(),
        reviewer: "dba".into(),
        steps: Vec::new(),
        query: Some(format!(
            "SELECT id, amount, note FROM {} WHERE id <= 3 ORDER BY id -- 注释",
            t.table
        )),
    };
    // DATA-10: an extraction is always processed and reviewed by different people.
    let mut same = r.clone();
    same.reviewer = "datafix".into();
    assert!(
        invalid(dataops::submit(&p, &preproc, same).await.unwrap_err())
            .1
            .starts_with("DATA-10")
    );
    let v = dataops::submit(&p, &preproc, r).await.unwrap();
    let version = approve(&p, v.request.id).await;
    let datafix = principal(&p, "datafix").await;
    let (field, msg) = invalid(
        dataops::execute(&p, &datafix, v.request.id, version)
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "declared_rows");
    assert!(
        msg.starts_with("DATA-17") && msg.contains("09:00–12:00"),
        "{msg}"
    );
    // 12:30 is outside both windows.
    clock.set(local(12, 30));
    let out = dataops::execute(&p, &datafix, v.request.id, version)
        .await
        .unwrap();
    assert_eq!(out.execution.result_rows, Some(3));
    let res = out.execution.result.unwrap();
    assert_eq!(res[0]["note"], "退费·测试甲");
    assert_eq!(res[1]["amount"], "-0.01");
    assert_eq!(res[2]["note"], Value::Null);
}

/// Issue 7 item 5: Tianshu killed (kill -9) between saving the before-image (`running`) and the target's COMMIT.
/// The process death is reproduced by its two observable effects: the target transaction is left open with the
/// step applied and then its connection closes without COMMIT (the database rolls it back), and Tianshu's store
/// holds a `running` execution. At start-up the execution is marked `unknown` with an audit entry, never re-run;
/// the request refuses a new execution until someone settles it by hand.
#[tokio::test]
async fn execution_interrupted_by_a_crash_is_marked_unknown_and_never_rerun_data_05() {
    for t in each_target().await {
        for (n, db) in backends().await.into_iter().enumerate() {
            let (p, target_id) = setup(&db, &t).await;
            let original = rows(&t).await;
            let preproc = principal(&p, "preproc").await;
            let s1 = format!("UPDATE {} SET note = 'crash{n}' WHERE id = 4", t.table);
            let v = dataops::submit(&p, &preproc, modification(target_id, vec![(&s1, 1)]))
                .await
                .unwrap();
            let id = v.request.id;
            let version = approve(&p, id).await;
            // The executor's transaction on the target: the step ran, no COMMIT yet.
            let before =
                json!([{"step": 1, "table": t.table, "verb": "update", "rows": [{"id": "4"}]}]);
            if t.kind == "postgres" {
                let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
                c.execute("BEGIN").await.unwrap();
                c.execute(sqlx::raw_sql(&s1)).await.unwrap();
                drop(c); // the process dies: the socket closes, PostgreSQL rolls back
            } else {
                let mut c = sqlx::MySqlConnection::connect(&t.url).await.unwrap();
                c.execute("START TRANSACTION").await.unwrap();
                c.execute(sqlx::raw_sql(&s1)).await.unwrap();
                drop(c);
            }
            let now = p.now_us();
            let b = before.clone();
            let exec_id = p
                .store
                .write(move |c| {
                    Box::pin(async move {
                        tianshu_store::dataops::insert_execution(
                            c,
                            id,
                            "datafix",
                            now,
                            &b,
                            &json!([]),
                        )
                        .await
                    })
                })
                .await
                .unwrap();
            // The bounded sweep of a running server leaves a young execution alone…
            assert!(dataops::recover_interrupted(&p, false, "recovery job")
                .await
                .unwrap()
                .is_empty());
            // …the start-up sweep (or the bound passing) marks it unknown.
            if p.store.kind() == tianshu_store::BackendKind::Postgres {
                assert!(
                    dataops::recover_interrupted(&p, true, "start-up")
                        .await
                        .unwrap()
                        == vec![exec_id]
                );
            } else {
                dataops::recover_at_start(&p).await;
            }
            // The target rolled the open transaction back: nothing changed.
            let mut after = Vec::new();
            for _ in 0..50 {
                after = rows(&t).await;
                if after == original {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(after, original, "{}: the target rolled back", t.kind);
            let datafix = principal(&p, "datafix").await;
            let v = dataops::get(&p, &datafix, id).await.unwrap();
            let x = v.executions.iter().find(|x| x.id == exec_id).unwrap();
            assert_eq!(x.outcome, "unknown");
            assert!(x.message.contains("never re-run"), "{}", x.message);
            assert_eq!(v.request.state, "tech_approved");
            let audit = p.store.write(move |c| Box::pin(async move {
                Ok(tianshu_store::on_conn!(c, c => sqlx::query_scalar::<_, String>(
                    "SELECT actor FROM audit_log WHERE action = 'dataop.execution_unknown' AND object_id = $1")
                    .bind(id.to_string()).fetch_all(&mut **c).await)?)
            })).await.unwrap();
            assert_eq!(audit, ["system:dataops-recovery"]);
            // Running the sweep again changes nothing; a new execution is refused until it is settled.
            assert!(dataops::recover_interrupted(&p, true, "start-up")
                .await
                .unwrap()
                .is_empty());
            let e = dataops::execute(&p, &datafix, id, version)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("settled by hand"), "{e}");
            assert_eq!(rows(&t).await, original);
            // Settled (needs approve + execute, and a note): nothing was applied → the request may run again.
            let admin = principal(&p, "admin").await;
            let (field, _) = invalid(
                dataops::settle(&p, &admin, id, exec_id, false, " ")
                    .await
                    .unwrap_err(),
            );
            assert_eq!(field, "note");
            let v = dataops::settle(&p, &admin, id, exec_id, false, "核对目标库：id=4 未修改")
                .await
                .unwrap();
            assert_eq!(
                v.executions
                    .iter()
                    .find(|x| x.id == exec_id)
                    .unwrap()
                    .outcome,
                "rolled_back"
            );
            let r = dataops::execute(&p, &datafix, id, v.request.version)
                .await
                .unwrap();
            assert_eq!(r.execution.outcome, "committed");
        }
    }
}
