//! A reconciliation job: what to read, how to normalise, what to do with bad rows.
//!
//! The job is TOML (`--job job.toml`) or built in code; everything is checked before a byte of
//! data is read, and errors name the field.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ReconError;

/// The job as written (TOML or JSON). Unknown fields are errors.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Free-text name, shown in reports.
    #[serde(default)]
    pub name: Option<String>,
    /// Key columns (by name, after `rename`). Rows are matched on these.
    #[serde(default)]
    pub key: Vec<String>,
    /// The left input.
    #[serde(default)]
    pub left: SideSpec,
    /// The right input.
    #[serde(default)]
    pub right: SideSpec,
    /// Compare only these columns (default: every non-key column, which must then be on both sides).
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Columns to leave out of the comparison.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// NULL versus empty string: `distinct` (default) or `equal`.
    #[serde(default)]
    pub null_policy: NullPolicy,
    /// Per-column normalisation, `[normalize.<column>]`.
    #[serde(default)]
    pub normalize: BTreeMap<String, ColumnRule>,
    /// Bad rows (ragged, invalid encoding): `error` (default) stops with file:line; `reject` writes them
    /// to `reject_dir` and counts them.
    #[serde(default)]
    pub bad_rows: BadRowPolicy,
    /// Where rejected rows go (required with `bad_rows = "reject"`).
    #[serde(default)]
    pub reject_dir: Option<PathBuf>,
    /// Memory for the compact per-row records before they are partitioned to disk (MiB).
    #[serde(default)]
    pub memory_budget_mb: Option<u64>,
    /// Directory for partition files (default: the system temp directory).
    #[serde(default)]
    pub temp_dir: Option<PathBuf>,
    /// How many differences of each kind the report keeps as a sample.
    #[serde(default)]
    pub sample_size: Option<usize>,
    /// `file` (default: both inputs read row by row, files or database queries) or `db`
    /// (database-to-database: checksums of key ranges inside each database, bisected).
    #[serde(default)]
    pub mode: ReconMode,
    /// Tuning of the `db` mode.
    #[serde(default)]
    pub db: Option<DbTuning>,
}

/// How the two inputs are compared.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ReconMode {
    /// Read every row of both inputs (files, or database tables/queries streamed).
    #[default]
    File,
    /// Database to database: checksums of key ranges computed inside each database, bisected down
    /// to the differing rows; only those rows are downloaded.
    Db,
}

/// `[db]`: bisection of the `db` mode.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DbTuning {
    /// Segments per mismatching key range (default 32, 2…1024).
    #[serde(default)]
    pub bisection_factor: Option<u32>,
    /// A mismatching range with at most this many rows on each side is downloaded and compared
    /// row by row (default 1024, 1…1000000).
    #[serde(default)]
    pub download_threshold: Option<u64>,
}

/// One side's file format.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SideSpec {
    /// The file (the CLI's --left/--right override it).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// One byte: `,` (default), `\t`, `|`, …
    #[serde(default)]
    pub delimiter: Option<String>,
    /// One byte; default `"`.
    #[serde(default)]
    pub quote: Option<String>,
    /// `utf-8` (default), `gbk`, `gb18030`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Whether the first record names the columns (default true).
    #[serde(default)]
    pub header: Option<bool>,
    /// Declared schema when `header = false`.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Header name → job name, e.g. `{ CUST_ID = "id" }`.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// An unquoted field equal to this is NULL (default: the unquoted empty field).
    #[serde(default)]
    pub null_token: Option<String>,
    /// A database input: the name of the environment variable holding its URL
    /// (`postgres://…` or `mysql://…`/`mariadb://…`). The URL is never printed.
    #[serde(default)]
    pub url_env: Option<String>,
    /// A database input: a file whose first line is the URL (e.g. a mounted secret).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// A database input: the table (`name` or `schema.name`).
    #[serde(default)]
    pub table: Option<String>,
    /// A database input: a SELECT whose columns are the input's columns (instead of `table`).
    #[serde(default)]
    pub query: Option<String>,
    /// A database input whose connection settings the embedding program holds in memory (the server opens
    /// them from its registry of databases at run time, instead of `url_env` / `url_file`). Never read from or
    /// written to a job file.
    #[serde(skip)]
    pub connect: Option<DbConnect>,
}

impl SideSpec {
    /// Whether this side reads from a database (`url_env`, `url_file` or `connect` set).
    pub fn is_database(&self) -> bool {
        self.url_env.is_some() || self.url_file.is_some() || self.connect.is_some()
    }
}

/// Connection settings of a database input given in code rather than as a URL, so a password never has to
/// be written into a URL, an environment variable or a file. `Debug` hides the password; engine errors
/// replace it with `***` should a driver ever echo it.
#[derive(Clone, PartialEq, Eq)]
pub struct DbConnect {
    /// PostgreSQL or MySQL/MariaDB.
    pub dialect: crate::db::Dialect,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User name.
    pub username: String,
    /// Password (empty: none, e.g. trust authentication).
    pub password: String,
    /// Longest wait for the connection to open (None: the driver's own).
    pub connect_timeout: Option<std::time::Duration>,
    /// Make the session read-only (PostgreSQL `default_transaction_read_only`, MariaDB `SET SESSION
    /// TRANSACTION READ ONLY`): a reconciliation only reads.
    pub read_only: bool,
}

impl std::fmt::Debug for DbConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConnect")
            .field("dialect", &self.dialect)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &"***")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// NULL versus the empty string.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NullPolicy {
    /// NULL and '' are different values (a difference is reported).
    #[default]
    Distinct,
    /// NULL and '' compare equal.
    Equal,
}

/// What to do with a row that cannot be read.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BadRowPolicy {
    /// Stop with file:line.
    #[default]
    Error,
    /// Write the row aside and count it.
    Reject,
}

/// Letter case normalisation.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// Upper-case (Unicode).
    Upper,
    /// Lower-case (Unicode).
    Lower,
}

/// Normalisation of one column, applied in this order: trim, case, code map, numeric scale, date.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// Strip leading and trailing white space.
    #[serde(default)]
    pub trim: bool,
    /// Fold letter case.
    #[serde(default)]
    pub case: Option<Case>,
    /// Round decimals to this many places (half away from zero) and drop leading zeros.
    #[serde(default)]
    pub scale: Option<u32>,
    /// chrono format of the left side's dates, e.g. `%Y%m%d` (values become ISO 8601).
    #[serde(default)]
    pub left_date_format: Option<String>,
    /// chrono format of the right side's dates.
    #[serde(default)]
    pub right_date_format: Option<String>,
    /// Code mapping applied to left values (e.g. province status codes to group codes).
    #[serde(default)]
    pub map_left: BTreeMap<String, String>,
    /// Code mapping applied to right values.
    #[serde(default)]
    pub map_right: BTreeMap<String, String>,
}

impl JobSpec {
    /// Parse a job from TOML; errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, ReconError> {
        toml::from_str(text).map_err(|e| ReconError::Job {
            field: "job".into(),
            msg: e.to_string(),
        })
    }
}

/// Which input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The left input.
    Left,
    /// The right input.
    Right,
}

impl Side {
    /// `left` or `right`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// Checked file format of one side.
#[derive(Debug, Clone)]
pub(crate) struct Format {
    pub path: PathBuf,
    pub delimiter: u8,
    pub quote: u8,
    pub encoding: &'static encoding_rs::Encoding,
    pub header: bool,
    pub columns: Option<Vec<String>>,
    pub rename: BTreeMap<String, String>,
    pub null_token: Vec<u8>,
}

fn one_byte(field: &str, v: Option<&str>, default: u8) -> Result<u8, ReconError> {
    let Some(v) = v else { return Ok(default) };
    let b = match v {
        "\\t" | "tab" => b'\t',
        _ if v.len() == 1 && v.is_ascii() => v.as_bytes()[0],
        _ => {
            return Err(ReconError::Job {
                field: field.into(),
                msg: format!("must be one ASCII character, got {v:?}"),
            })
        }
    };
    if b == b'\n' || b == b'\r' {
        return Err(ReconError::Job {
            field: field.into(),
            msg: "cannot be a line break".into(),
        });
    }
    Ok(b)
}

impl SideSpec {
    pub(crate) fn check(&self, side: Side) -> Result<Format, ReconError> {
        let n = side.name();
        let path = self.path.clone().ok_or_else(|| ReconError::Job {
            field: format!("{n}.path"),
            msg: "no input file".into(),
        })?;
        let delimiter = one_byte(&format!("{n}.delimiter"), self.delimiter.as_deref(), b',')?;
        let quote = one_byte(&format!("{n}.quote"), self.quote.as_deref(), b'"')?;
        if quote == delimiter {
            return Err(ReconError::Job {
                field: format!("{n}.quote"),
                msg: "must differ from the delimiter".into(),
            });
        }
        let encoding = match self
            .encoding
            .as_deref()
            .unwrap_or("utf-8")
            .to_ascii_lowercase()
            .as_str()
        {
            "utf-8" | "utf8" => encoding_rs::UTF_8,
            "gbk" => encoding_rs::GBK,
            "gb18030" => encoding_rs::GB18030,
            other => {
                return Err(ReconError::Job {
                    field: format!("{n}.encoding"),
                    msg: format!("unknown encoding {other:?} (utf-8, gbk, gb18030)"),
                })
            }
        };
        let header = self.header.unwrap_or(true);
        if !header && self.columns.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ReconError::Job {
                field: format!("{n}.columns"),
                msg: "required when header = false".into(),
            });
        }
        if header && self.columns.is_some() {
            return Err(ReconError::Job {
                field: format!("{n}.columns"),
                msg: "only with header = false (use rename to change header names)".into(),
            });
        }
        Ok(Format {
            path,
            delimiter,
            quote,
            encoding,
            header,
            columns: self.columns.clone(),
            rename: self.rename.clone(),
            null_token: self.null_token.clone().unwrap_or_default().into_bytes(),
        })
    }
}
