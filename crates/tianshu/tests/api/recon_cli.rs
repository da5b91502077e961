//! `tianshu recon run` (issue 6): the JSON contract, the exit status, details files and file:line errors.

use std::process::Command;

use serde_json::Value;

fn recon(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tianshu"))
        .arg("recon")
        .arg("run")
        .args(args)
        .env_remove("TIANSHU_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn recon_run_json_prints_exactly_the_eight_fields() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l.csv");
    let r = dir.path().join("r.csv");
    std::fs::write(
        &l,
        "id,name,fee\n1,张三,1.5\n2,李四,2\n2,李四,2\n3,王五,3\n",
    )
    .unwrap();
    std::fs::write(
        &r,
        "\u{feff}id,fee,name\r\n1,1.5,张三\r\n2,2.5,李四\r\n4,4,赵六\r\n",
    )
    .unwrap();
    let details = dir.path().join("d.csv");
    let out = recon(&[
        "--left",
        l.to_str().unwrap(),
        "--right",
        r.to_str().unwrap(),
        "--key",
        "id",
        "--output",
        "json",
        "--details",
        details.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "differences → exit 1: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "changed",
            "consistency",
            "duplicate_keys_left",
            "duplicate_keys_right",
            "identical",
            "only_left",
            "only_right",
            "per_column"
        ]
    );
    assert_eq!(v["identical"], 1);
    assert_eq!(v["changed"], 1);
    assert_eq!(v["only_left"], 1);
    assert_eq!(v["only_right"], 1);
    assert_eq!(v["duplicate_keys_left"], 1);
    assert_eq!(v["duplicate_keys_right"], 0);
    assert_eq!(v["per_column"]["fee"], 1);
    assert_eq!(v["per_column"]["name"], 0);
    assert_eq!(v["consistency"], 0.25);
    let d = std::fs::read_to_string(&details).unwrap();
    assert!(d.contains("changed,2,fee,2,2.5"), "{d}");

    // The table form and identical files → exit 0.
    let out = recon(&[
        "--left",
        l.to_str().unwrap(),
        "--right",
        l.to_str().unwrap(),
        "--key",
        "id",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the duplicate row still counts as a difference"
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("consistency") && table.contains("100.0000%"),
        "{table}"
    );
}

#[test]
fn recon_run_bad_input_names_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("l.csv");
    std::fs::write(&l, "id,v\n1,a\n2,b,c\n").unwrap();
    let out = recon(&[
        "--left",
        l.to_str().unwrap(),
        "--right",
        l.to_str().unwrap(),
        "--key",
        "id",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("l.csv:3: expected 2 fields, found 3"), "{err}");
    let out = recon(&[
        "--left",
        l.to_str().unwrap(),
        "--right",
        l.to_str().unwrap(),
        "--key",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("key column \"nope\""));
}

/// `--database-schema` puts Tianshu's tables in a PostgreSQL schema of their own (created if missing), so a
/// centre can share one database; on a SQLite URL, or with an unusable name, the CLI names the setting and
/// exits 2 without touching anything.
#[tokio::test]
async fn database_schema_option_keeps_the_tables_in_that_schema() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tianshu"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env_remove("TIANSHU_CONFIG")
            .env_remove("TIANSHU_DATABASE_URL")
            .env_remove("TIANSHU_DATABASE_SCHEMA")
            .output()
            .unwrap()
    };
    let out = run(&["--database-schema", "tianshu_x", "migrate"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database_schema") && err.contains("PostgreSQL"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing created on refusal"
    );

    let Some(url) = tianshu_testkit::postgres_url() else {
        return; // PostgreSQL not configured (TIANSHU_TEST_DATABASE_URL, or CI=true): the SQLite half above ran
    };
    let out = run(&[
        "--database-url",
        &url,
        "--database-schema",
        "bad-name;",
        "migrate",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database_schema") && err.contains("bad-name;"),
        "{err}"
    );

    // Named like testkit's per-test schemas, so its sweep drops it if this test dies before the DROP below.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let schema = format!(
        "{}{}_cli{}_{}",
        tianshu_testkit::SCHEMA_PREFIX,
        now.as_secs(),
        std::process::id(),
        now.subsec_nanos()
    );
    let out = run(&[
        "--database-url",
        &url,
        "--database-schema",
        &schema,
        "migrate",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('_sqlx_migrations', 'incidents', 'alerts')",
    )
    .bind(&schema)
    .fetch_one(&mut c)
    .await
    .unwrap();
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&mut c)
        .await
        .unwrap();
    assert_eq!(tables, 3, "Tianshu's tables in schema {schema}");
}
