//! Scheduled reconciliations reading registered databases (issue 6), against the machine's real PostgreSQL and
//! MariaDB (skipped when either is not configured), with the store on SQLite and PostgreSQL: a database-to-database
//! job (PostgreSQL vs MariaDB) runs at its `at` time with no upload and no REC-08 alert and stores the right counts
//! and work item; a PostgreSQL table is compared with an uploaded file; an unreachable or unregistered database
//! fails the run with a clear stored error that never holds the password, and the scheduler carries on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use sqlx::{Connection, Executor};
use tianshu_core::{Clock, ManualClock};
use tianshu_services::authz::Principal;
use tianshu_services::monitoring::points::{self, DatabaseInput};
use tianshu_services::policy::{PackSource, PolicyHandle};
use tianshu_services::recon::{self, schedule, RunNowInput};
use tianshu_services::{Platform, ServiceError};
use tianshu_testkit::{backends, TestDb};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The parts of a test server URL `scheme://user[:password]@host[:port]/database`.
struct Server {
    host: String,
    port: Option<i64>,
    database: String,
    username: String,
    password: Option<String>,
}

fn server(url: &str) -> Server {
    let rest = url.split_once("://").unwrap().1;
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
    let database = database.split('?').next().unwrap_or("").to_string();
    let (username, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_string(), Some(p.to_string())),
        None => (auth.to_string(), None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()),
        None => (hostport.to_string(), None),
    };
    Server {
        host,
        port,
        database,
        username,
        password,
    }
}

/// Source tables on both servers: (PostgreSQL schema, MariaDB URL), or None to skip.
async fn sources() -> Option<(String, String)> {
    let pg_url = tianshu_testkit::postgres_url()?;
    let my_url = tianshu_testkit::mariadb().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let schema = format!(
        "{}{now}_reconsvc{}_{}",
        tianshu_testkit::SCHEMA_PREFIX,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let mut c = sqlx::PgConnection::connect(&pg_url).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.customers (customer_id varchar(20) PRIMARY KEY, name text, status varchar(4),
           balance numeric(12,2));
         INSERT INTO {schema}.customers VALUES
           ('C1', '甲', 'A', 10.50), ('C2', '乙', 'A', 0), ('C3', '丙', 'A', 3), ('C4', '丁', 'A', NULL),
           ('C5', '戊', 'S', 7.25);"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let mut m = sqlx::MySqlConnection::connect(&my_url).await.unwrap();
    // C2 changed (status), C4 missing, C6 extra; 10.5 vs 10.50 and 0 vs 0.00 are equal values.
    m.execute(
        "CREATE TABLE customers (customer_id VARCHAR(20) PRIMARY KEY, name TEXT, status VARCHAR(4),
           balance DECIMAL(12,4)) CHARACTER SET utf8mb4",
    )
    .await
    .unwrap();
    m.execute(
        "INSERT INTO customers VALUES ('C1', '甲', 'A', 10.5), ('C2', '乙', 'B', 0.0000), ('C3', '丙', 'A', 3),
           ('C5', '戊', 'S', 7.2500), ('C6', '己', 'A', 1)",
    )
    .await
    .unwrap();
    Some((schema, my_url))
}

const JOBS: &str = r#"
[[schedule]]
key = "crm_billing_db"
rule = "REC-10"
name_zh = "省CRM—省计费库对库稽核"
name_en = "Provincial CRM vs billing (database to database)"
mode = "db"
days = [21]
at = "02:00"

[schedule.inputs]
left_db = "pg_crm"
left_table = "{schema}.customers"
right_db = "my_billing"
right_table = "customers"
key = ["customer_id"]

[[schedule]]
key = "crm_table_vs_file"
rule = "REC-10"
name_zh = "省CRM表—计费上传文件稽核"
name_en = "Provincial CRM table vs billing upload"
mode = "full"
days = [21]

[schedule.inputs]
left_db = "pg_crm"
left_query = "SELECT customer_id, status FROM {schema}.customers"
right = "billing/status_{date}.csv"
key = ["customer_id"]

[[schedule]]
key = "down_db"
rule = "REC-10"
name_zh = "不可达数据库"
name_en = "Unreachable database"
mode = "db"
days = [22]

[schedule.inputs]
left_db = "pg_crm"
left_table = "{schema}.customers"
right_db = "down"
right_table = "customers"
key = ["customer_id"]

[[schedule]]
key = "unregistered_db"
rule = "REC-10"
name_zh = "未登记数据库"
name_en = "Unregistered database"
mode = "db"
days = [22]

[schedule.inputs]
left_db = "nobody"
left_table = "customers"
right_db = "pg_crm"
right_table = "{schema}.customers"
key = ["customer_id"]
"#;

/// A platform whose pack is the default one plus [`JOBS`], with the three databases registered.
async fn platform(
    db: &TestDb,
    schema: &str,
    my_url: &str,
    pack: &std::path::Path,
    start: chrono::DateTime<Utc>,
) -> (Platform, Arc<ManualClock>) {
    for (name, content) in tianshu_services::policy::embedded_files() {
        let p = pack.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let content = if name == "reconciliation.toml" {
            format!("{content}\n{}", JOBS.replace("{schema}", schema))
        } else {
            content
        };
        std::fs::write(p, content).unwrap();
    }
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(start));
    let policy = PolicyHandle::bootstrap(
        &store,
        &PackSource::Dir(pack.to_path_buf()),
        clock.now().timestamp_micros(),
        "test",
    )
    .await
    .unwrap();
    let p = Platform::new(store, Arc::new(policy), clock.clone());
    let admin = Principal::cli_admin();
    let pg = server(&tianshu_testkit::postgres_url().unwrap());
    let my = server(my_url);
    for (name, kind, s) in [("pg_crm", "postgres", pg), ("my_billing", "mysql", my)] {
        points::create_database(
            &p,
            &admin,
            DatabaseInput {
                name: name.into(),
                kind: kind.into(),
                host: s.host,
                port: s.port,
                database: s.database,
                username: s.username,
                password: s.password,
                version: None,
            },
        )
        .await
        .unwrap();
    }
    // Nothing listens on port 1: connecting is refused at once.
    points::create_database(
        &p,
        &admin,
        DatabaseInput {
            name: "down".into(),
            kind: "postgres".into(),
            host: "127.0.0.1".into(),
            port: Some(1),
            database: "billing".into(),
            username: "recon".into(),
            password: Some("Sekret-Pw-4711".into()),
            version: None,
        },
    )
    .await
    .unwrap();
    (p, clock)
}

/// Local Asia/Shanghai time on 2026-11-`day` as UTC.
fn local(day: u32, h: u32, m: u32) -> chrono::DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn scheduled_jobs_read_registered_databases() {
    let Some((schema, my_url)) = sources().await else {
        return;
    };
    for db in backends().await {
        let pack = tempfile::tempdir().unwrap();
        // Saturday 2026-11-21 01:30: the database job's day, before its 02:00.
        let (p, clock) = platform(&db, &schema, &my_url, pack.path(), local(21, 1, 30)).await;
        let admin = Principal::cli_admin();
        let out = schedule::tick(&p).await.unwrap();
        assert_eq!(out, schedule::TickOutcome::default(), "before 02:00");
        let day = p
            .store
            .recon_day("crm_billing_db", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(day.state, "waiting");
        let jobs = recon::jobs(&p, &admin).await.unwrap();
        let j = jobs.iter().find(|j| j.key == "crm_billing_db").unwrap();
        assert_eq!(j.run_at.as_deref(), Some("02:00"));
        let l = j.left_input.as_ref().unwrap();
        assert_eq!(
            (l.kind.as_str(), l.db.as_deref(), l.db_kind.as_deref()),
            ("db", Some("pg_crm"), Some("postgres"))
        );
        assert_eq!(
            j.right_input.as_ref().unwrap().db_kind.as_deref(),
            Some("mysql")
        );

        // 02:00: the database job runs (no file to wait for); the file job still waits for its upload.
        clock.set(local(21, 2, 0));
        let out = schedule::tick(&p).await.unwrap();
        assert_eq!(out.runs.len(), 1, "{out:?}");
        assert!(out.alerted.is_empty());
        let run = p.store.recon_run(out.runs[0]).await.unwrap().unwrap();
        assert_eq!(run.error, None);
        assert_eq!(
            (
                run.job_key.as_str(),
                run.mode.as_str(),
                run.trigger.as_str(),
                run.status.as_str(),
                run.as_of.as_deref()
            ),
            (
                "crm_billing_db",
                "db",
                "schedule",
                "succeeded",
                Some("2026-11-21")
            )
        );
        assert_eq!(
            (
                run.rows_left,
                run.rows_right,
                run.only_left,
                run.only_right,
                run.changed,
                run.identical
            ),
            (Some(5), Some(5), Some(1), Some(1), Some(1), Some(3))
        );
        // The inputs' fingerprint: the registered name and table, never a URL.
        assert_eq!(run.left_path, format!("db:pg_crm/{schema}.customers"));
        assert_eq!(run.right_path, "db:my_billing/customers");
        assert_eq!((run.left_size, run.left_sha256.len()), (0, 64));
        let item = p.store.recon_item_of_run(run.id).await.unwrap().unwrap();
        assert_eq!(item.differences, 3);
        let day = p
            .store
            .recon_day("crm_billing_db", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (day.state.as_str(), day.upload.as_deref(), day.run_id),
            ("done", None, Some(run.id))
        );
        assert!(
            schedule::tick(&p).await.unwrap().runs.is_empty(),
            "once a day"
        );

        // The file arrives: the table-vs-file job runs (its upload on time), C2's status and C4/C6 differ.
        let f = p.recon.inbox().join("billing/status_20261121.csv");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "customer_id,status\nC1,A\nC2,B\nC3,A\nC5,S\nC6,A\n").unwrap();
        clock.set(local(21, 8, 0));
        let out = schedule::tick(&p).await.unwrap();
        assert_eq!(out.runs.len(), 1, "{out:?}");
        let run = p.store.recon_run(out.runs[0]).await.unwrap().unwrap();
        assert_eq!(run.error, None);
        assert_eq!(
            (
                run.job_key.as_str(),
                run.mode.as_str(),
                run.only_left,
                run.only_right,
                run.changed,
                run.identical
            ),
            (
                "crm_table_vs_file",
                "full",
                Some(1),
                Some(1),
                Some(1),
                Some(3)
            )
        );
        assert!(run
            .left_path
            .starts_with("db:pg_crm/(SELECT customer_id, status FROM"));
        assert!(run.right_path.ends_with("billing/status_20261121.csv"));
        let day = p
            .store
            .recon_day("crm_table_vs_file", "2026-11-21")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(day.upload.as_deref(), Some("on_time"));

        // Run by hand (e.g. to retry after a failure): the job's databases, no files accepted in db mode.
        let again = recon::run_now(
            &p,
            &admin,
            RunNowInput {
                job: Some("crm_billing_db".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            (again.mode.as_str(), again.trigger.as_str(), again.changed),
            ("db", "api", Some(1))
        );
        let err = recon::run_now(
            &p,
            &admin,
            RunNowInput {
                job: Some("crm_billing_db".into()),
                left: Some("billing/status_20261121.csv".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Invalid { field, .. } if field == "left"),
            "{err:?}"
        );
        // A registration the pack reads cannot be deleted from under it.
        let reg = p.store.mon_databases().await.unwrap();
        let crm = reg.iter().find(|d| d.name == "pg_crm").unwrap();
        let err = points::delete_database(&p, &admin, crm.id, crm.version)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Conflict { message, .. } if message.contains("crm_billing_db")),
            "{err:?}"
        );
        p.store.close().await;
    }
}

#[tokio::test]
async fn an_unreachable_or_unregistered_database_fails_the_run_without_the_password() {
    let Some((schema, my_url)) = sources().await else {
        return;
    };
    for db in backends().await {
        let pack = tempfile::tempdir().unwrap();
        // Sunday 2026-11-22 00:00: both jobs run at the REC-08 cut-off (no `at`).
        let (p, _clock) = platform(&db, &schema, &my_url, pack.path(), local(22, 0, 0)).await;
        let out = schedule::tick(&p).await.expect("the scheduler carries on");
        assert_eq!(out.runs.len(), 2, "{out:?}");
        for id in out.runs {
            let run = p.store.recon_run(id).await.unwrap().unwrap();
            assert_eq!(run.status, "failed", "{run:?}");
            let err = run.error.clone().unwrap_or_default();
            match run.job_key.as_str() {
                "down_db" => assert!(err.starts_with("right_db 'down': cannot connect:"), "{err}"),
                "unregistered_db" => assert!(
                    err.starts_with("left_db 'nobody': no database is registered under this name"),
                    "{err}"
                ),
                other => panic!("{other}"),
            }
            assert!(!err.contains("Sekret-Pw-4711"), "{err}");
            let day = p
                .store
                .recon_day(&run.job_key, "2026-11-22")
                .await
                .unwrap()
                .unwrap();
            assert_eq!((day.state.as_str(), day.run_id), ("done", Some(run.id)));
        }
        let audit = format!("{:?}", p.store.audit_recent(None, 200).await.unwrap());
        assert!(!audit.contains("Sekret-Pw-4711"));
        p.store.close().await;
    }
}
