//! Database inputs and the database-to-database mode against the machine's real PostgreSQL and
//! MariaDB (skipped with one line when they are not configured; mandatory under CI=true).

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{Connection, Executor};
use tianshu_recon::{JobSpec, NullPolicy, ReconError, ReconMode, Report, RunOptions};

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh PostgreSQL schema: (server URL, schema name).
async fn pg() -> Option<(String, String)> {
    let url = tianshu_testkit::postgres_url()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let schema = format!(
        "{}{now}_recondb{}_{}",
        tianshu_testkit::SCHEMA_PREFIX,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let mut c = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    c.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    Some((url, schema))
}

async fn pg_exec(url: &str, sql: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

async fn my_exec(url: &str, sql: &str) {
    let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sql)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
}

/// Both servers, or None (skip) when either is not configured.
async fn both() -> Option<((String, String), String)> {
    let p = pg().await?;
    let m = tianshu_testkit::mariadb().await?;
    Some((p, m))
}

/// A job comparing two database tables. The URLs go into files (`url_file`, like mounted
/// secrets); the returned directory must outlive the run.
fn db_job(
    tag: &str,
    lurl: &str,
    ltable: &str,
    rurl: &str,
    rtable: &str,
    mode: ReconMode,
) -> (JobSpec, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let lf = crate::write(
        dir.path(),
        &format!("{tag}-left.url"),
        format!("{lurl}\n").as_bytes(),
    );
    let rf = crate::write(dir.path(), &format!("{tag}-right.url"), rurl.as_bytes());
    let mut j = JobSpec {
        key: vec!["id".into()],
        mode,
        ..Default::default()
    };
    j.left.url_file = Some(lf);
    j.left.table = Some(ltable.into());
    j.right.url_file = Some(rf);
    j.right.table = Some(rtable.into());
    (j, dir)
}

async fn run(j: &JobSpec) -> Result<Report, ReconError> {
    tianshu_recon::db::run_any(j, RunOptions::default())
        .await
        .map(|(r, _)| r)
}

const AWKWARD_PG: &str = "
CREATE TABLE {s}.aw (id bigint PRIMARY KEY, d1 numeric(12,2), d2 numeric(30,6), ts timestamp(6),
  ts0 timestamp(0), tz timestamptz, t text, vc varchar(20), big bigint, b boolean, dt date, bin bytea,
  ch char(5));
INSERT INTO {s}.aw VALUES
 (1, 1.50, 0, '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05', '2026-01-02 03:04:05.5+08:00',
  '', NULL, 9223372036854775807, true, '2026-02-28', '\\x00ff', 'ab'),
 (2, -0.10, 123456789.123456, '1999-12-31 23:59:59.000001', '1999-12-31 23:59:59', NULL,
  '中文字符 天枢', '天枢', -9223372036854775808, false, '2000-02-29', '\\x', NULL),
 (3, 100, -0.000001, '2026-06-01 00:00:00', '2026-06-01 00:00:00', '2026-06-01 00:00:00+00',
  NULL, '', 0, NULL, NULL, NULL, 'x'),
 (4, 0.00, 1e6, '2026-06-01 12:00:00.5', '2026-06-01 12:00:01', '2026-05-31 20:00:00-04:00',
  NULL, 'a''b\"c|d', 42, true, '1970-01-01', '\\x27', ''),
 (5, 7.00, 7, '2026-06-01 12:00:00.5', '2026-06-01 12:00:01', NULL, '€ 𝄞 emoji ok', 'x', 1, true,
  NULL, NULL, NULL);";

const AWKWARD_MY: &str = "
SET time_zone = '+08:00';
CREATE TABLE aw (id BIGINT PRIMARY KEY, d1 DECIMAL(12,4), d2 DECIMAL(40,10), ts DATETIME(6),
  ts0 DATETIME, tz TIMESTAMP(6) NULL DEFAULT NULL, t TEXT, vc VARCHAR(20), big BIGINT, b BOOLEAN,
  dt DATE, bin VARBINARY(10), ch CHAR(5)) CHARACTER SET utf8mb4;
INSERT INTO aw VALUES
 (1, 1.5, 0.0000000000, '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05',
  '2026-01-02 03:04:05.5', '', NULL, 9223372036854775807, 1, '2026-02-28', X'00FF', 'ab'),
 (2, -0.1000, 123456789.1234560000, '1999-12-31 23:59:59.000001', '1999-12-31 23:59:59', NULL,
  '中文字符 天枢', '天枢', -9223372036854775808, 0, '2000-02-29', X'', NULL),
 (3, 100.0000, -0.000001, '2026-06-01 00:00:00.000000', '2026-06-01 00:00:00',
  '2026-06-01 08:00:00', '', '', 0, NULL, NULL, NULL, 'x'),
 (4, 0, 1000000, '2026-06-01 12:00:00.500000', '2026-06-01 12:00:01', '2026-06-01 08:00:00',
  NULL, 'a''b\"c|d', 42, 1, '1970-01-01', X'27', ''),
 (5, 7, 7.0000000001, '2026-06-01 12:00:00.5', '2026-06-01 12:00:01', NULL, '€ 𝄞 emoji ok', 'x', 1,
  1, NULL, NULL, NULL);";

/// Equal values written differently on each server (scales, zones, booleans, bytes, Chinese
/// text) hash and compare equal; NULL versus '' and a sub-scale decimal difference do not.
#[tokio::test]
async fn awkward_values_compare_equal_across_postgres_and_mariadb() {
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    pg_exec(&purl, &AWKWARD_PG.replace("{s}", &s)).await;
    my_exec(&murl, AWKWARD_MY).await;
    let table = format!("{s}.aw");
    // Row 3: t is NULL on the left and '' on the right; row 5: d2 7 vs 7.0000000001.
    for mode in [ReconMode::Db, ReconMode::File] {
        let (j, _d) = db_job("AWK", &purl, &table, &murl, "aw", mode);
        let r = run(&j).await.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(
            (r.only_left, r.only_right, r.changed, r.identical),
            (0, 0, 2, 3),
            "{mode:?}: {:?}",
            r.sample
        );
        assert_eq!(r.per_column["t"], 1, "{mode:?}");
        assert_eq!(r.per_column["d2"], 1, "{mode:?}");
        assert_eq!(r.per_column.values().sum::<u64>(), 2, "{mode:?}");
        crate::assert_accounted(&r);
        // NULL and '' equal by policy: row 3 becomes identical.
        let mut j = j.clone();
        j.null_policy = NullPolicy::Equal;
        let r = run(&j).await.unwrap();
        assert_eq!(
            (r.changed, r.identical),
            (1, 4),
            "{mode:?} null_policy=equal"
        );
    }
    // Reversed sides, and a declared scale makes 7 and 7.0000000001 equal.
    let (mut j, _d) = db_job("AWK2", &murl, "aw", &purl, &table, ReconMode::Db);
    j.normalize.insert(
        "d2".into(),
        tianshu_recon::ColumnRule {
            scale: Some(6),
            ..Default::default()
        },
    );
    let r = run(&j).await.unwrap();
    assert_eq!((r.changed, r.identical), (1, 4), "{:?}", r.sample);
    assert_eq!(r.per_column["t"], 1);
    let d = r
        .sample
        .iter()
        .find(|d| d.column.as_deref() == Some("t"))
        .unwrap();
    assert_eq!(
        (d.key.as_str(), d.left.as_deref(), d.right.as_deref()),
        ("3", Some(""), None)
    );
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const HAN: &[&str] = &["天", "枢", "客", "户", "账", "号", "省", "集", "团", "数"];

#[derive(Clone, PartialEq, Debug)]
struct Row {
    id: i64,
    name: String,
    amount: i64, // cents
    ts: String,
    flag: bool,
    note: Option<String>,
}

fn random_row(g: &mut Rng, id: i64) -> Row {
    let name: String = (0..1 + g.below(5))
        .map(|_| HAN[g.below(HAN.len() as u64) as usize])
        .collect();
    let note = match g.below(4) {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("n{}", g.below(1000))),
    };
    Row {
        id,
        name,
        amount: g.below(2_000_000) as i64 - 1_000_000,
        ts: format!(
            "2026-{:02}-{:02} {:02}:{:02}:{:02}{}",
            1 + g.below(12),
            1 + g.below(28),
            g.below(24),
            g.below(60),
            g.below(60),
            if g.below(2) == 0 {
                String::new()
            } else {
                format!(".{:06}", g.below(1_000_000))
            }
        ),
        flag: g.below(2) == 0,
        note,
    }
}

fn lit(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

fn inserts(table: &str, rows: &[Row], pg: bool) -> String {
    let mut sql = String::new();
    for chunk in rows.chunks(500) {
        sql.push_str(&format!("INSERT INTO {table} VALUES "));
        let vals: Vec<String> = chunk
            .iter()
            .map(|r| {
                let sign = if r.amount < 0 { "-" } else { "" };
                format!(
                    "({}, '{}', {sign}{}.{:02}, '{}', {}, {})",
                    r.id,
                    r.name,
                    r.amount.abs() / 100,
                    r.amount.abs() % 100,
                    r.ts,
                    if pg {
                        r.flag.to_string()
                    } else {
                        u8::from(r.flag).to_string()
                    },
                    lit(&r.note)
                )
            })
            .collect();
        sql.push_str(&vals.join(", "));
        sql.push_str(";\n");
    }
    sql
}

/// Two tables of random rows and random edits of the second, with the counts the edits make.
struct Pair {
    left: Vec<Row>,
    right: Vec<Row>,
    only_left: u64,
    only_right: u64,
    changed: u64,
    per: std::collections::BTreeMap<String, u64>,
}

fn random_pair(seed: u64) -> Pair {
    let mut g = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 1000 + g.below(2000) as usize;
    let mut left = Vec::with_capacity(n);
    let mut id = -(g.below(1000) as i64) * 1_000_000;
    for _ in 0..n {
        // Even steps: left keys share a parity, right-only keys take the other one.
        let gap = if g.below(10) == 0 { 100_000 } else { 3 };
        id += 2 + 2 * g.below(gap) as i64;
        left.push(random_row(&mut g, id));
    }
    let mut right = Vec::with_capacity(n);
    let (mut ol, mut or, mut ch) = (0u64, 0u64, 0u64);
    let mut per = std::collections::BTreeMap::from([
        ("amount".to_string(), 0u64),
        ("flag".to_string(), 0),
        ("name".to_string(), 0),
        ("note".to_string(), 0),
        ("ts".to_string(), 0),
    ]);
    for r in &left {
        match g.below(200) {
            0 => ol += 1, // deleted on the right
            1 | 2 => {
                let mut e = r.clone();
                let mut cols = 0;
                if g.below(2) == 0 {
                    e.amount += 1;
                    *per.get_mut("amount").unwrap() += 1;
                    cols += 1;
                }
                if g.below(3) == 0 {
                    e.flag = !e.flag;
                    *per.get_mut("flag").unwrap() += 1;
                    cols += 1;
                }
                if g.below(3) == 0 {
                    e.name.push('改');
                    *per.get_mut("name").unwrap() += 1;
                    cols += 1;
                }
                if g.below(3) == 0 || cols == 0 {
                    e.note = match &e.note {
                        None => Some(String::new()),
                        Some(s) if s.is_empty() => None,
                        Some(s) => Some(format!("{s}x")),
                    };
                    *per.get_mut("note").unwrap() += 1;
                }
                if g.below(4) == 0 {
                    e.ts = format!("{}.000001", &e.ts[..19]);
                    if e.ts != r.ts {
                        *per.get_mut("ts").unwrap() += 1;
                    }
                }
                ch += 1;
                right.push(e);
            }
            _ => right.push(r.clone()),
        }
        if g.below(200) == 0 {
            // Inserted on the right only: a key no left row has.
            let k = r.id + 1;
            right.push(random_row(&mut g, k));
            or += 1;
        }
    }
    right.sort_by_key(|r| r.id);
    Pair {
        left,
        right,
        only_left: ol,
        only_right: or,
        changed: ch,
        per,
    }
}

/// Random tables and random edits: the reported differences equal the edits, per column too,
/// on PostgreSQL → MariaDB and MariaDB → PostgreSQL, with deep bisection (small factor and
/// threshold) and the defaults; file mode over the same tables agrees.
#[tokio::test]
async fn random_edits_are_found_exactly_in_both_directions() {
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    for seed in [3u64, 11, 2026] {
        let Pair {
            left,
            right,
            only_left: ol,
            only_right: or,
            changed: ch,
            per,
        } = random_pair(seed);
        let t = format!("{s}.p{seed}");
        pg_exec(
            &purl,
            &format!(
                "CREATE TABLE {t} (id bigint PRIMARY KEY, name varchar(40), amount numeric(12,2), \
                 ts timestamp(6), flag boolean, note text);\n{}",
                inserts(&t, &left, true)
            ),
        )
        .await;
        my_exec(
            &murl,
            &format!(
                "CREATE TABLE p{seed} (id BIGINT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(14,3), \
                 ts DATETIME(6), flag TINYINT(1), note TEXT) CHARACTER SET utf8mb4;\n{}",
                inserts(&format!("p{seed}"), &right, false)
            ),
        )
        .await;
        let identical = left.len() as u64 - ol - ch;
        let tag = format!("P{seed}");
        let configs: &[(u32, u64)] = if seed == 3 {
            &[(2, 1), (32, 1024)]
        } else {
            &[(5, 8), (32, 64)]
        };
        for &(factor, threshold) in configs {
            let (mut j, _d) = db_job(&tag, &purl, &t, &murl, &format!("p{seed}"), ReconMode::Db);
            j.db = Some(tianshu_recon::DbTuning {
                bisection_factor: Some(factor),
                download_threshold: Some(threshold),
            });
            let (r, st) = tianshu_recon::db::run_any(&j, RunOptions::default())
                .await
                .unwrap();
            let st = st.unwrap();
            let what = format!("seed {seed} factor {factor} threshold {threshold}: {st:?}");
            assert_eq!(
                (r.only_left, r.only_right, r.changed, r.identical),
                (ol, or, ch, identical),
                "{what}: {:?}",
                r.sample
                    .iter()
                    .filter(|d| d.kind != tianshu_recon::DiffKind::Changed)
                    .collect::<Vec<_>>()
            );
            assert_eq!(r.per_column, per, "{what}");
            assert_eq!(
                (r.rows_left, r.rows_right),
                (left.len() as u64, right.len() as u64)
            );
            crate::assert_accounted(&r);
            // Only mismatching segments are downloaded: each holds a difference and at most
            // `threshold` rows per side.
            assert!(
                st.rows_downloaded <= (ol + or + ch) * 2 * threshold,
                "{what}"
            );
            // The other direction reports the mirror image.
            let (mut j, _d) = db_job(
                &format!("{tag}R"),
                &murl,
                &format!("p{seed}"),
                &purl,
                &t,
                ReconMode::Db,
            );
            j.db = Some(tianshu_recon::DbTuning {
                bisection_factor: Some(factor),
                download_threshold: Some(threshold),
            });
            let r2 = run(&j).await.unwrap();
            assert_eq!(
                (r2.only_left, r2.only_right, r2.changed, r2.identical),
                (or, ol, ch, identical),
                "reversed {what}"
            );
        }
        let (j, _d) = db_job(&tag, &purl, &t, &murl, &format!("p{seed}"), ReconMode::File);
        let r = run(&j).await.unwrap();
        assert_eq!(
            (
                r.only_left,
                r.only_right,
                r.changed,
                r.identical,
                &r.per_column
            ),
            (ol, or, ch, identical, &per),
            "file mode, seed {seed}"
        );
    }
}

/// Text and composite keys: ranges split at sampled key values in byte order on both servers, so
/// keys that MariaDB's default collation calls equal or orders differently ('C' and 'c', 'b' and
/// 'b ', 'é', Chinese) still land in the same segments; the differences equal the edits in both
/// directions, with deep and default bisection, and only small mismatching ranges are downloaded.
#[tokio::test]
async fn text_and_composite_keys_are_bisected_at_sampled_key_values() {
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    for seed in [5u64, 2027] {
        let Pair {
            left,
            right,
            only_left: ol,
            only_right: or,
            changed: ch,
            per,
        } = random_pair(seed);
        let t = format!("{s}.t{seed}");
        // The text key `tk` and the composite key (`code`, `id`) are derived from the id the same way
        // on both servers; `code` takes values the collations disagree about.
        pg_exec(
            &purl,
            &format!(
                "CREATE TABLE {t} (id bigint NOT NULL, name varchar(40), amount numeric(12,2), \
                 ts timestamp(6), flag boolean, note text);\n{}\
                 ALTER TABLE {t} ADD COLUMN code text, ADD COLUMN tk text;
                 UPDATE {t} SET code = (ARRAY['客户', 'C', 'c', 'Z', 'é', 'b ', 'b'])[1 + abs(id) % 7];
                 UPDATE {t} SET tk = code || '-' || id;",
                inserts(&t, &left, true)
            ),
        )
        .await;
        my_exec(
            &murl,
            &format!(
                "CREATE TABLE t{seed} (id BIGINT NOT NULL, name VARCHAR(40), amount DECIMAL(14,3), \
                 ts DATETIME(6), flag TINYINT(1), note TEXT, code VARCHAR(10), tk VARCHAR(40)) \
                 CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;\n{}\
                 UPDATE t{seed} SET code = ELT(1 + ABS(id) % 7, '客户', 'C', 'c', 'Z', 'é', 'b ', 'b');
                 UPDATE t{seed} SET tk = CONCAT(code, '-', id);",
                inserts(&format!("t{seed} (id, name, amount, ts, flag, note)"), &right, false)
            ),
        )
        .await;
        let identical = left.len() as u64 - ol - ch;
        for key in [vec!["tk"], vec!["code", "id"]] {
            for (factor, threshold) in [(3u32, 4u64), (32, 1024)] {
                let what = format!("seed {seed} key {key:?} factor {factor} threshold {threshold}");
                for reversed in [false, true] {
                    let (lu, lt, ru, rt) = if reversed {
                        (&murl, format!("t{seed}"), &purl, t.clone())
                    } else {
                        (&purl, t.clone(), &murl, format!("t{seed}"))
                    };
                    let (mut j, _d) = db_job(&format!("T{seed}"), lu, &lt, ru, &rt, ReconMode::Db);
                    j.key = key.iter().map(|k| k.to_string()).collect();
                    j.db = Some(tianshu_recon::DbTuning {
                        bisection_factor: Some(factor),
                        download_threshold: Some(threshold),
                    });
                    let (r, st) = tianshu_recon::db::run_any(&j, RunOptions::default())
                        .await
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    let st = st.unwrap();
                    let expect = if reversed {
                        (or, ol, ch, identical)
                    } else {
                        (ol, or, ch, identical)
                    };
                    assert_eq!(
                        (r.only_left, r.only_right, r.changed, r.identical),
                        expect,
                        "{what} reversed {reversed}: {st:?} {:?}",
                        r.sample
                    );
                    let mut expect_per = per.clone();
                    // The key's other columns are compared too, and equal.
                    for c in ["code", "id", "tk"].iter().filter(|c| !key.contains(c)) {
                        expect_per.insert(c.to_string(), 0);
                    }
                    assert_eq!(r.per_column, expect_per, "{what}");
                    crate::assert_accounted(&r);
                    assert!(
                        st.rows_downloaded
                            <= (ol + or + ch) * 2 * threshold.max(u64::from(factor)) * 2,
                        "{what}: {st:?}"
                    );
                    assert!(
                        st.checksum_queries > 0,
                        "{what}: bisected, not downloaded whole"
                    );
                    if let Some(d) = r
                        .sample
                        .iter()
                        .find(|d| d.kind == tianshu_recon::DiffKind::OnlyLeft)
                    {
                        if key.len() == 2 {
                            assert!(
                                d.key.contains('|'),
                                "composite keys shown joined: {}",
                                d.key
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Duplicate keys (no unique index) are counted, not collapsed; rows are still accounted for.
#[tokio::test]
async fn duplicate_keys_without_a_unique_index_are_counted() {
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    pg_exec(
        &purl,
        &format!(
            "CREATE TABLE {s}.d (id int NOT NULL, v text);
             INSERT INTO {s}.d VALUES (1,'a'),(1,'a'),(2,'b'),(3,'c'),(3,'c'),(3,'c'),(4,'d');"
        ),
    )
    .await;
    my_exec(
        &murl,
        "CREATE TABLE d (id INT NOT NULL, v TEXT, KEY (id));
         INSERT INTO d VALUES (1,'a'),(2,'b'),(2,'b'),(3,'x'),(5,'e');",
    )
    .await;
    let (j, _d) = db_job("DUP", &purl, &format!("{s}.d"), &murl, "d", ReconMode::Db);
    let r = run(&j).await.unwrap();
    assert_eq!(
        (
            r.only_left,
            r.only_right,
            r.changed,
            r.identical,
            r.duplicate_keys_left,
            r.duplicate_keys_right
        ),
        (1, 1, 1, 2, 3, 1),
        "{r:?}"
    );
    crate::assert_accounted(&r);
}

/// Errors name the field or column; nothing falls back to downloading every row; credentials
/// never appear in messages.
#[tokio::test]
async fn db_mode_errors_name_the_problem() {
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    pg_exec(
        &purl,
        &format!(
            "CREATE TABLE {s}.f (id bigint PRIMARY KEY, price double precision, note text);
             CREATE TABLE {s}.k (id text PRIMARY KEY, v int);
             CREATE TABLE {s}.n (id int, v int); INSERT INTO {s}.n VALUES (1, 1), (NULL, 2);"
        ),
    )
    .await;
    my_exec(
        &murl,
        "CREATE TABLE f (id BIGINT PRIMARY KEY, price DOUBLE, note TEXT);
         CREATE TABLE n (id INT, v INT);",
    )
    .await;
    let err = |r: Result<Report, ReconError>| r.expect_err("must fail").to_string();
    // Floating point has no canonical form: an error naming the column, not a download.
    let (j, _d) = db_job("E1", &purl, &format!("{s}.f"), &murl, "f", ReconMode::Db);
    let e = err(run(&j).await);
    assert!(e.contains("price") && e.contains("canonical"), "{e}");
    // A key that is text on one side and an integer on the other has no common order.
    let (j, _d) = db_job("E2", &purl, &format!("{s}.k"), &murl, "f", ReconMode::Db);
    let e = err(run(&j).await);
    assert!(e.starts_with("key:") && e.contains("same kind"), "{e}");
    // NULL keys would fall outside every key range.
    let (j, _d) = db_job("E3", &purl, &format!("{s}.n"), &murl, "n", ReconMode::Db);
    let e = err(run(&j).await);
    assert!(e.contains("NULL key"), "{e}");
    // Rules that have no SQL form in db mode.
    let (mut j, _d) = db_job("E4", &purl, &format!("{s}.f"), &murl, "f", ReconMode::Db);
    j.normalize.insert(
        "note".into(),
        tianshu_recon::ColumnRule {
            trim: true,
            ..Default::default()
        },
    );
    assert!(err(run(&j).await).starts_with("normalize.note.trim:"));
    // Missing URL variable, unknown table, no URL at all.
    let (mut j, _d) = db_job("E5", &purl, &format!("{s}.f"), &murl, "f", ReconMode::Db);
    j.left.url_file = None;
    j.left.url_env = Some("TIANSHU_RECONDB_SURELY_UNSET".into());
    let e = err(run(&j).await);
    assert!(
        e.starts_with("left.url_env:") && e.contains("TIANSHU_RECONDB_SURELY_UNSET"),
        "{e}"
    );
    let (j, _d) = db_job("E6", &purl, &format!("{s}.nope"), &murl, "f", ReconMode::Db);
    let e = err(run(&j).await);
    assert!(e.starts_with("left:") && e.contains("nope"), "{e}");
    let (mut j, _d) = db_job("E7", &purl, &format!("{s}.f"), &murl, "f", ReconMode::Db);
    j.right.url_file = None;
    assert!(err(run(&j).await).starts_with("right.url_env:"));
    // A wrong password is reported without the password or the URL's secret.
    let secret = "S3cr3t-pw-recondb";
    let bad = purl.replacen("postgres@", &format!("postgres:{secret}@nobody_"), 1);
    let bad = if bad == purl {
        purl.replacen("://", &format!("://nobody:{secret}@"), 1)
    } else {
        bad
    };
    let (j, _d) = db_job("E8", &bad, &format!("{s}.f"), &murl, "f", ReconMode::Db);
    let e = err(run(&j).await);
    assert!(!e.contains(secret), "{e}");
    assert!(e.starts_with("left:"), "{e}");
    // A URL that is no database URL.
    let (j, _d) = db_job(
        "E9",
        "http://example.invalid/",
        "t",
        &murl,
        "f",
        ReconMode::Db,
    );
    assert!(err(run(&j).await).starts_with("left.url_file:"));
}

/// A query (instead of a table) as a file-mode input, against a CSV file on the other side.
#[tokio::test]
async fn query_input_against_a_file() {
    let Some((purl, s)) = pg().await else {
        return;
    };
    pg_exec(
        &purl,
        &format!(
            "CREATE TABLE {s}.q (id int PRIMARY KEY, name text, amount numeric(10,3));
             INSERT INTO {s}.q VALUES (1, '张三丰', 1.500), (2, NULL, 2), (3, '', 3.250);"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f = crate::write(
        dir.path(),
        "r.csv",
        "ID,name,amount\n1,张三丰,1.5\n2,,2\n3,x,3.25\n4,y,1\n".as_bytes(),
    );
    let mut j = JobSpec {
        key: vec!["id".into()],
        ..Default::default()
    };
    j.left.url_file = Some(crate::write(dir.path(), "l.url", purl.as_bytes()));
    j.left.query = Some(format!("SELECT id, name, amount FROM {s}.q WHERE id < 10"));
    j.right.path = Some(f);
    j.right.rename.insert("ID".into(), "id".into());
    let r = run(&j).await.unwrap();
    assert_eq!(
        (r.only_left, r.only_right, r.changed, r.identical),
        (0, 1, 1, 2),
        "{:?}",
        r.sample
    );
    assert_eq!(r.per_column["name"], 1);
}

/// The connection settings of a `postgres://user[:pw]@host[:port]/db` or `mysql://…` URL, given in code.
fn connect_of(url: &str, dialect: tianshu_recon::db::Dialect) -> tianshu_recon::DbConnect {
    let rest = url.split_once("://").unwrap().1;
    let (auth, rest) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, pw) = auth.split_once(':').unwrap_or((auth, ""));
    let default_port = match dialect {
        tianshu_recon::db::Dialect::Postgres => 5432,
        tianshu_recon::db::Dialect::MariaDb => 3306,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap()),
        None => (hostport, default_port),
    };
    tianshu_recon::DbConnect {
        dialect,
        host: host.into(),
        port,
        database: database.split('?').next().unwrap().into(),
        username: user.into(),
        password: pw.into(),
        connect_timeout: Some(std::time::Duration::from_secs(5)),
        read_only: true,
    }
}

/// Sides whose connection is given in code (the server's registered databases): they compare like URL sides,
/// the session is read-only, and neither a refused connection nor a bad URL-less setup shows the password.
#[tokio::test]
async fn sides_given_by_connection_settings() {
    use tianshu_recon::db::Dialect;
    let Some(((purl, s), murl)) = both().await else {
        return;
    };
    pg_exec(
        &purl,
        &format!(
            "CREATE TABLE {s}.c (id bigint PRIMARY KEY, v text);
             INSERT INTO {s}.c VALUES (1, 'a'), (2, 'b'), (3, 'c');"
        ),
    )
    .await;
    my_exec(
        &murl,
        "CREATE TABLE c (id BIGINT PRIMARY KEY, v TEXT);
         INSERT INTO c VALUES (1, 'a'), (2, 'x'), (4, 'd');",
    )
    .await;
    let job = |mode| {
        let mut j = JobSpec {
            key: vec!["id".into()],
            mode,
            ..Default::default()
        };
        j.left.connect = Some(connect_of(&purl, Dialect::Postgres));
        j.left.table = Some(format!("{s}.c"));
        j.right.connect = Some(connect_of(&murl, Dialect::MariaDb));
        j.right.table = Some("c".into());
        j
    };
    for mode in [ReconMode::Db, ReconMode::File] {
        let r = run(&job(mode)).await.unwrap();
        assert_eq!(
            (r.only_left, r.only_right, r.changed, r.identical),
            (1, 1, 1, 1),
            "{mode:?}"
        );
    }
    // Read-only session: a query that writes (a sequence's nextval) is refused by the server.
    pg_exec(&purl, &format!("CREATE SEQUENCE {s}.sq")).await;
    let mut j = job(ReconMode::File);
    j.left.table = None;
    j.left.query = Some(format!("SELECT id, v, nextval('{s}.sq') AS n FROM {s}.c"));
    let e = run(&j)
        .await
        .map(|_| ())
        .expect_err("read-only")
        .to_string();
    assert!(e.starts_with("left:") && e.contains("read-only"), "{e}");
    // Refused connection: the password never appears; the engine's own checks name the field.
    let secret = "Pw-given-in-code-9921";
    let mut j = job(ReconMode::Db);
    let mut c = connect_of(&purl, Dialect::Postgres);
    c.port = 1;
    c.password = secret.into();
    j.left.connect = Some(c);
    let e = run(&j).await.map(|_| ()).expect_err("refused").to_string();
    assert!(
        e.starts_with("left: cannot connect") && !e.contains(secret),
        "{e}"
    );
    assert!(!format!("{:?}", j.left).contains(secret), "Debug hides it");
    let mut j = job(ReconMode::Db);
    j.left.url_env = Some("X".into());
    let e = run(&j).await.map(|_| ()).expect_err("both").to_string();
    assert!(e.starts_with("left.url_env:"), "{e}");
}
