//! What a data-operation script may contain (DATA-05, DATA-07): each modification step is exactly one
//! UPDATE, DELETE or INSERT … VALUES on one table, with a key predicate for UPDATE and DELETE; an extraction is
//! exactly one SELECT. Anything else — DDL, a second statement, a sub-query, a join, an unknown function — is
//! refused before anyone approves it, so what is approved is what can run.

use std::fmt;

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget,
    ObjectName, ObjectNamePart, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

/// The SQL dialect of a target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

/// The statement a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Update,
    Delete,
    Insert,
}

impl Verb {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::Insert => "insert",
        }
    }
}

/// A validated modification step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedStep {
    pub verb: Verb,
    /// The table as written (may be schema-qualified, quotes kept).
    pub table: String,
    /// The last part of the table name as written (quotes kept): the row reference for the before-image.
    pub table_ref: String,
    /// The bare table name, lower-case, for the "important table" check.
    pub table_name: String,
    /// The WHERE clause (UPDATE/DELETE), rendered back to SQL.
    pub predicate: Option<String>,
    /// Rows an INSERT … VALUES adds.
    pub insert_rows: Option<u64>,
}

/// Why a script was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError(pub String);

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(m: impl Into<String>) -> Result<T, ScriptError> {
    Err(ScriptError(m.into()))
}

/// Functions a step may call in values and predicates: deterministic, side-effect free and present in both
/// dialects. Everything else (sleep, pg_terminate_backend, load_file, dblink …) is refused.
const SAFE_FUNCTIONS: &[&str] = &[
    "now",
    "current_timestamp",
    "current_date",
    "localtimestamp",
    "upper",
    "lower",
    "trim",
    "ltrim",
    "rtrim",
    "concat",
    "coalesce",
    "nullif",
    "round",
    "abs",
    "length",
    "char_length",
    "substring",
    "replace",
];

fn parse_one(dialect: SqlDialect, sql: &str) -> Result<Statement, ScriptError> {
    let stmts = match dialect {
        SqlDialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
        SqlDialect::MySql => Parser::parse_sql(&MySqlDialect {}, sql),
    }
    .map_err(|e| ScriptError(format!("not valid SQL: {e}")))?;
    let mut it = stmts.into_iter();
    match (it.next(), it.next()) {
        (None, _) => err("the step is empty"),
        (Some(_), Some(_)) => err("a step is exactly one statement; a second statement is refused"),
        (Some(s), None) => Ok(s),
    }
}

/// Validates one modification step.
pub fn parse_step(dialect: SqlDialect, sql: &str) -> Result<ParsedStep, ScriptError> {
    match parse_one(dialect, sql)? {
        Statement::Update(u) => {
            if u.from.is_some() {
                return err("UPDATE … FROM (a second table) is refused: one table per step");
            }
            if u.returning.is_some() || u.output.is_some() {
                return err("RETURNING is not allowed in a step");
            }
            if u.limit.is_some() || !u.order_by.is_empty() {
                return err(
                    "ORDER BY / LIMIT are not allowed: the predicate alone selects the rows",
                );
            }
            let (table, table_ref) = single_table(&u.table)?;
            for a in &u.assignments {
                if let AssignmentTarget::Tuple(_) = a.target {
                    return err("tuple assignments are not allowed");
                }
                check_expr(&a.value)?;
            }
            let predicate = key_predicate(u.selection.as_ref())?;
            Ok(ParsedStep {
                verb: Verb::Update,
                table_name: bare(&table_ref),
                table,
                table_ref,
                predicate: Some(predicate),
                insert_rows: None,
            })
        }
        Statement::Delete(d) => {
            if !d.tables.is_empty() || d.using.is_some() {
                return err("multi-table DELETE / USING is refused: one table per step");
            }
            if d.returning.is_some() || d.output.is_some() {
                return err("RETURNING is not allowed in a step");
            }
            if d.limit.is_some() || !d.order_by.is_empty() {
                return err(
                    "ORDER BY / LIMIT are not allowed: the predicate alone selects the rows",
                );
            }
            let from = match &d.from {
                FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
            };
            let [t] = from.as_slice() else {
                return err("DELETE must name exactly one table");
            };
            let (table, table_ref) = single_table(t)?;
            let predicate = key_predicate(d.selection.as_ref())?;
            Ok(ParsedStep {
                verb: Verb::Delete,
                table_name: bare(&table_ref),
                table,
                table_ref,
                predicate: Some(predicate),
                insert_rows: None,
            })
        }
        Statement::Insert(i) => {
            if i.on.is_some() || i.replace_into || i.ignore || i.or.is_some() {
                return err("INSERT with ON CONFLICT / ON DUPLICATE KEY / REPLACE / IGNORE is refused: it would change rows it does not declare");
            }
            if i.returning.is_some() || i.output.is_some() || i.table_alias.is_some() {
                return err("RETURNING and aliases are not allowed in a step");
            }
            if i.columns.is_empty() {
                return err("name the columns of the INSERT");
            }
            let TableObject::TableName(name) = &i.table else {
                return err("INSERT must name a table");
            };
            let (table, table_ref) = object_name(name)?;
            let Some(src) = &i.source else {
                return err("INSERT must have VALUES");
            };
            if src.with.is_some() || src.order_by.is_some() || src.limit_clause.is_some() {
                return err("INSERT takes plain VALUES only");
            }
            let SetExpr::Values(v) = src.body.as_ref() else {
                return err("INSERT … SELECT is refused: give the rows as VALUES");
            };
            for row in &v.rows {
                if row.len() != i.columns.len() {
                    return err("each VALUES row must have one value per column");
                }
                for e in row.iter() {
                    check_expr(e)?;
                }
            }
            Ok(ParsedStep {
                verb: Verb::Insert,
                table_name: bare(&table_ref),
                table,
                table_ref,
                predicate: None,
                insert_rows: Some(v.rows.len() as u64),
            })
        }
        Statement::Query(_) => {
            err("a modification step must be UPDATE, DELETE or INSERT (a SELECT changes nothing)")
        }
        other => {
            let word = other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_uppercase();
            err(format!(
                "only UPDATE, DELETE and INSERT are allowed; {word} (DDL, DCL or session commands) is refused"
            ))
        }
    }
}

/// Validates an extraction query: exactly one plain SELECT, without locking clauses or INTO.
/// Returns the query rendered back to SQL (comments and a trailing `;` gone), ready to wrap.
pub fn parse_extraction(dialect: SqlDialect, sql: &str) -> Result<String, ScriptError> {
    match parse_one(dialect, sql)? {
        Statement::Query(q) => {
            if !q.locks.is_empty() || q.for_clause.is_some() {
                return err("an extraction must not lock rows (FOR UPDATE / FOR SHARE)");
            }
            if let SetExpr::Select(s) = q.body.as_ref() {
                if s.into.is_some() {
                    return err("SELECT … INTO is refused: an extraction only reads");
                }
            }
            if !matches!(
                q.body.as_ref(),
                SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::SetOperation { .. }
            ) {
                return err("an extraction is one SELECT");
            }
            Ok(q.to_string())
        }
        _ => err("an extraction is exactly one SELECT statement"),
    }
}

fn single_table(t: &TableWithJoins) -> Result<(String, String), ScriptError> {
    if !t.joins.is_empty() {
        return err("joins are refused: one table per step");
    }
    match &t.relation {
        TableFactor::Table {
            name,
            alias,
            args,
            with_hints,
            ..
        } => {
            if alias.is_some() {
                return err("table aliases are not allowed in a step");
            }
            if args.is_some() || !with_hints.is_empty() {
                return err("the step must name a plain table");
            }
            object_name(name)
        }
        _ => err("the step must name a plain table"),
    }
}

fn object_name(n: &ObjectName) -> Result<(String, String), ScriptError> {
    let mut last = None;
    for part in &n.0 {
        match part {
            ObjectNamePart::Identifier(i) => last = Some(i.to_string()),
            ObjectNamePart::Function(_) => return err("the step must name a plain table"),
        }
    }
    match last {
        Some(l) if n.0.len() <= 2 => Ok((n.to_string(), l)),
        _ => err("name the table as table or schema.table"),
    }
}

fn bare(table_ref: &str) -> String {
    table_ref
        .trim_matches(|c| c == '"' || c == '`')
        .to_lowercase()
}

/// The predicate must exist, be made of safe expressions, and pin rows by key: every branch of it must compare
/// a column with `=` or `IN (…)` against literals (so `1 = 1`, `id = id` or `amount > 0` alone are refused).
fn key_predicate(sel: Option<&Expr>) -> Result<String, ScriptError> {
    let Some(e) = sel else {
        return err(
            "a WHERE clause with a key predicate is required (a step never touches a whole table)",
        );
    };
    check_expr(e)?;
    if !pins_key(e) {
        return err("the WHERE clause must pin rows by key: compare a column with = or IN (…) against literal values on every OR branch");
    }
    Ok(e.to_string())
}

fn is_column(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::UnaryOp { expr, .. } => is_literal(expr),
        Expr::Nested(x) => is_literal(x),
        Expr::Cast { expr, .. } => is_literal(expr),
        _ => false,
    }
}

fn pins_key(e: &Expr) -> bool {
    use sqlparser::ast::BinaryOperator as Op;
    match e {
        Expr::Nested(x) => pins_key(x),
        Expr::BinaryOp {
            left,
            op: Op::And,
            right,
        } => pins_key(left) || pins_key(right),
        Expr::BinaryOp {
            left,
            op: Op::Or,
            right,
        } => pins_key(left) && pins_key(right),
        Expr::BinaryOp {
            left,
            op: Op::Eq,
            right,
        } => (is_column(left) && is_literal(right)) || (is_literal(left) && is_column(right)),
        Expr::In {
            expr,
            target: InTarget::List(l),
            negated: false,
            ..
        } => is_column(expr) && !l.is_empty() && l.iter().all(is_literal),
        _ => false,
    }
}

/// Refuses sub-queries, unknown functions and exotic syntax anywhere in an expression.
fn check_expr(e: &Expr) -> Result<(), ScriptError> {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::Value(_) | Expr::TypedString(_) => {
            Ok(())
        }
        Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotTrue(x)
        | Expr::IsNotFalse(x)
        | Expr::Nested(x) => check_expr(x),
        Expr::UnaryOp { expr, .. } | Expr::Cast { expr, .. } => check_expr(expr),
        Expr::BinaryOp { left, right, .. } => {
            check_expr(left)?;
            check_expr(right)
        }
        Expr::In { expr, target, .. } => {
            check_expr(expr)?;
            match target {
                InTarget::List(l) => l.iter().try_for_each(check_expr),
                _ => err("sub-queries are refused in a step"),
            }
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            check_expr(expr)?;
            check_expr(low)?;
            check_expr(high)
        }
        Expr::Like {
            expr,
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            expr,
            pattern,
            escape_char,
            ..
        } => {
            check_expr(expr)?;
            check_expr(pattern)?;
            escape_char.as_deref().map_or(Ok(()), check_expr)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            if let Some(o) = operand {
                check_expr(o)?;
            }
            for c in conditions {
                check_expr(&c.condition)?;
                check_expr(&c.result)?;
            }
            else_result.as_deref().map_or(Ok(()), check_expr)
        }
        Expr::Function(f) => {
            let name = f.name.to_string().to_lowercase();
            if !SAFE_FUNCTIONS.contains(&name.as_str()) {
                return err(format!(
                    "function {name}() is not allowed in a step (allowed: {})",
                    SAFE_FUNCTIONS.join(", ")
                ));
            }
            if f.filter.is_some() || f.over.is_some() {
                return err(format!("{name}() may not use FILTER or OVER here"));
            }
            match &f.args {
                FunctionArguments::None => Ok(()),
                FunctionArguments::Subquery(_) => err("sub-queries are refused in a step"),
                FunctionArguments::List(l) => l.args.iter().try_for_each(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => check_expr(x),
                    _ => err(format!("{name}() takes plain arguments only")),
                }),
            }
        }
        Expr::Subquery(_) | Expr::Exists { .. } => err("sub-queries are refused in a step"),
        other => err(format!(
            "the expression `{other}` is not allowed in a step (use literals, columns, arithmetic, comparisons and simple functions)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_with_key_predicate_is_accepted() {
        let s = parse_step(
            SqlDialect::Postgres,
            "UPDATE acct_balance SET amount = 12.50, note = '退费' WHERE id IN (1, 2)",
        )
        .unwrap();
        assert_eq!(s.verb, Verb::Update);
        assert_eq!(s.table_name, "acct_balance");
        assert_eq!(s.predicate.as_deref(), Some("id IN (1, 2)"));
    }

    #[test]
    fn refusals() {
        for (sql, why) in [
            ("DROP TABLE t", "DDL"),
            (
                "UPDATE t SET a = 1 WHERE id = 1; DELETE FROM t WHERE id = 2",
                "second statement",
            ),
            ("UPDATE t SET a = 1", "WHERE"),
            ("UPDATE t SET a = 1 WHERE 1 = 1", "pin rows"),
            ("UPDATE t SET a = 1 WHERE id = 1 OR a > 0", "pin rows"),
            (
                "DELETE FROM t WHERE id IN (SELECT id FROM u)",
                "sub-queries",
            ),
            ("UPDATE t SET a = (SELECT 1) WHERE id = 1", "sub-queries"),
            ("UPDATE t SET a = pg_sleep(10) WHERE id = 1", "not allowed"),
            ("INSERT INTO t (a) SELECT a FROM u", "VALUES"),
            ("SELECT * FROM t", "SELECT changes nothing"),
        ] {
            let e = parse_step(SqlDialect::Postgres, sql).unwrap_err();
            assert!(e.0.contains(why), "{sql}: {e}");
        }
        let e = parse_step(SqlDialect::MySql, "ALTER TABLE t ADD COLUMN b INT").unwrap_err();
        assert!(e.0.contains("ALTER"), "{e}");
    }

    #[test]
    fn extraction_is_one_plain_select() {
        parse_extraction(
            SqlDialect::MySql,
            "SELECT id, name FROM t WHERE region = 'gz'",
        )
        .unwrap();
        assert!(parse_extraction(SqlDialect::Postgres, "SELECT * FROM t FOR UPDATE").is_err());
        assert!(parse_extraction(SqlDialect::Postgres, "DELETE FROM t WHERE id = 1").is_err());
        assert!(parse_extraction(SqlDialect::Postgres, "SELECT 1; SELECT 2").is_err());
    }
}
