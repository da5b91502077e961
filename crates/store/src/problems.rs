//! Problem records (issue 8, PRB-01..PRB-13): the report form and work order, milestones, review actions,
//! links to incidents / bugs / changes and the history. Saves are version-checked like every ticket.

use serde::Serialize;
use serde_json::Value;

use crate::{on_conn, on_pool, Conn, Store, StoreError, StoreResult};

/// A stored problem.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProblemRow {
    pub id: i64,
    pub title: String,
    /// `P1`..`P5`.
    pub level: String,
    pub category: String,
    pub source: String,
    /// `reported`, `dispatched`, `resolved` or `closed`.
    pub state: String,
    pub discovered_at: i64,
    pub reported_at: i64,
    pub reporter: String,
    pub symptom: String,
    pub impact: String,
    pub on_site_data: String,
    pub cause_analysis: String,
    pub coordinator: Option<String>,
    pub responded_at: Option<i64>,
    pub managers_told_at: Option<i64>,
    pub dispatcher: Option<String>,
    pub dispatched_at: Option<i64>,
    pub handler: Option<String>,
    pub handled_at: Option<i64>,
    pub result: Option<String>,
    pub method: Option<String>,
    pub improvement: Option<String>,
    pub resolved_at: Option<i64>,
    pub analysis_report: Option<String>,
    pub analysis_at: Option<i64>,
    pub meeting_minutes: Option<String>,
    pub meeting_at: Option<i64>,
    pub archived_by: Option<String>,
    pub archived_at: Option<i64>,
    pub retain_until: Option<i64>,
    pub other_department: Option<String>,
    pub letter_at: Option<i64>,
    pub reply_due: Option<i64>,
    pub replied_at: Option<i64>,
    pub reply: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organisation the problem concerns (report form), if any.
    pub org_id: Option<i64>,
    /// Its branch (region): branch-scoped readers see only their branch's problems. None: the centre's own.
    pub region_id: Option<i64>,
    /// The vendor organisation it is dispatched to: that vendor's users see it.
    pub vendor_org_id: Option<i64>,
    /// CHG-21: the fix needs a system change, so it is resolved only with a change linked.
    pub needs_change: bool,
}

/// What a report creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProblem {
    pub title: String,
    pub level: String,
    pub category: String,
    pub source: String,
    pub discovered_at: i64,
    pub reported_at: i64,
    pub reporter: String,
    pub symptom: String,
    pub impact: String,
    pub on_site_data: String,
    pub cause_analysis: String,
    pub org_id: Option<i64>,
    pub region_id: Option<i64>,
    pub vendor_org_id: Option<i64>,
    pub now: i64,
}

/// A review action (PRB-09).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProblemActionRow {
    pub id: i64,
    pub problem_id: i64,
    pub text: String,
    pub owner: String,
    pub due_at: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub outcome: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub version: i64,
}

/// A link to an incident, bug or change.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProblemLinkRow {
    pub problem_id: i64,
    pub kind: String,
    pub target: String,
    pub created_by: String,
    pub created_at: i64,
}

/// One history entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ProblemEventRow {
    pub id: i64,
    pub problem_id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    /// JSON.
    pub data: String,
}

/// Filters of the problem list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProblemFilter {
    pub state: Option<String>,
    pub level: Option<String>,
    pub category: Option<String>,
    /// Only problems of this branch (region) — the scope of a branch-scoped reader.
    pub region_id: Option<i64>,
    /// Only problems dispatched to this vendor organisation — the scope of a vendor's reader.
    pub vendor_org_id: Option<i64>,
}

const COLS: &str = "id, title, level, category, source, state, discovered_at, reported_at, reporter, symptom, impact, on_site_data, cause_analysis, coordinator, responded_at, managers_told_at, dispatcher, dispatched_at, handler, handled_at, result, method, improvement, resolved_at, analysis_report, analysis_at, meeting_minutes, meeting_at, archived_by, archived_at, retain_until, other_department, letter_at, reply_due, replied_at, reply, version, created_at, updated_at, org_id, region_id, vendor_org_id, needs_change";
const ACTION_COLS: &str = "id, problem_id, text, owner, due_at, closed_by, closed_at, outcome, created_by, created_at, version";

/// Inserts a reported problem.
pub async fn insert_problem(conn: &mut Conn<'_>, p: &NewProblem) -> StoreResult<ProblemRow> {
    let sql = format!(
        "INSERT INTO problems (title, level, category, source, discovered_at, reported_at, reporter, symptom, impact,
           on_site_data, cause_analysis, created_at, updated_at, org_id, region_id, vendor_org_id)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$12,$13,$14,$15) RETURNING {COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&p.title).bind(&p.level).bind(&p.category).bind(&p.source).bind(p.discovered_at)
        .bind(p.reported_at).bind(&p.reporter).bind(&p.symptom).bind(&p.impact).bind(&p.on_site_data)
        .bind(&p.cause_analysis).bind(p.now).bind(p.org_id).bind(p.region_id).bind(p.vendor_org_id)
        .fetch_one(&mut **c).await)?)
}

/// The problem `id`, locked for the rest of the write on PostgreSQL.
pub async fn problem_for_update(conn: &mut Conn<'_>, id: i64) -> StoreResult<Option<ProblemRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!("SELECT {COLS} FROM problems WHERE id = $1{lock}");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?)
}

/// Saves the mutable columns of `p` if its version is still `p.version`; returns the row with the new version.
pub async fn save_problem(
    conn: &mut Conn<'_>,
    p: &ProblemRow,
    now: i64,
) -> StoreResult<ProblemRow> {
    let sql = format!(
        "UPDATE problems SET title=$1, level=$2, category=$3, source=$4, state=$5, symptom=$6, impact=$7,
           on_site_data=$8, cause_analysis=$9, coordinator=$10, responded_at=$11, managers_told_at=$12,
           dispatcher=$13, dispatched_at=$14, handler=$15, handled_at=$16, result=$17, method=$18, improvement=$19,
           resolved_at=$20, analysis_report=$21, analysis_at=$22, meeting_minutes=$23, meeting_at=$24,
           archived_by=$25, archived_at=$26, retain_until=$27, other_department=$28, letter_at=$29, reply_due=$30,
           replied_at=$31, reply=$32, version=version+1, updated_at=$33, vendor_org_id=$36, needs_change=$37
         WHERE id=$34 AND version=$35 RETURNING {COLS}"
    );
    let row: Option<ProblemRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(&p.title).bind(&p.level).bind(&p.category).bind(&p.source).bind(&p.state).bind(&p.symptom)
        .bind(&p.impact).bind(&p.on_site_data).bind(&p.cause_analysis).bind(&p.coordinator).bind(p.responded_at)
        .bind(p.managers_told_at).bind(&p.dispatcher).bind(p.dispatched_at).bind(&p.handler).bind(p.handled_at)
        .bind(&p.result).bind(&p.method).bind(&p.improvement).bind(p.resolved_at).bind(&p.analysis_report)
        .bind(p.analysis_at).bind(&p.meeting_minutes).bind(p.meeting_at).bind(&p.archived_by).bind(p.archived_at)
        .bind(p.retain_until).bind(&p.other_department).bind(p.letter_at).bind(p.reply_due).bind(p.replied_at)
        .bind(&p.reply).bind(now).bind(p.id).bind(p.version).bind(p.vendor_org_id).bind(p.needs_change)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("problem {}", p.id)))
}

/// Appends a history entry.
pub async fn insert_problem_event(
    conn: &mut Conn<'_>,
    problem_id: i64,
    at: i64,
    kind: &str,
    actor: &str,
    data: &Value,
) -> StoreResult<i64> {
    let data = crate::audit::canonical_json(data);
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO problem_events (problem_id, at, kind, actor, data) VALUES ($1,$2,$3,$4,$5) RETURNING id")
        .bind(problem_id).bind(at).bind(kind).bind(actor).bind(&data)
        .fetch_one(&mut **c).await)?)
}

/// Adds a review action.
pub async fn insert_action(
    conn: &mut Conn<'_>,
    problem_id: i64,
    text: &str,
    owner: &str,
    due_at: i64,
    by: &str,
    now: i64,
) -> StoreResult<ProblemActionRow> {
    let sql = format!(
        "INSERT INTO problem_actions (problem_id, text, owner, due_at, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6) RETURNING {ACTION_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(problem_id).bind(text).bind(owner).bind(due_at).bind(by).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// Closes an open action of `problem_id` if its version is still `version`.
pub async fn close_action(
    conn: &mut Conn<'_>,
    problem_id: i64,
    id: i64,
    version: i64,
    outcome: &str,
    by: &str,
    now: i64,
) -> StoreResult<ProblemActionRow> {
    let sql = format!(
        "UPDATE problem_actions SET closed_by=$1, closed_at=$2, outcome=$3, version=version+1
         WHERE id=$4 AND problem_id=$5 AND version=$6 AND closed_at IS NULL RETURNING {ACTION_COLS}"
    );
    let row: Option<ProblemActionRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(by).bind(now).bind(outcome).bind(id).bind(problem_id).bind(version)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("problem action {id}")))
}

/// Open actions of a problem, inside a write.
pub async fn open_action_count(conn: &mut Conn<'_>, problem_id: i64) -> StoreResult<i64> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM problem_actions WHERE problem_id = $1 AND closed_at IS NULL")
        .bind(problem_id).fetch_one(&mut **c).await)?)
}

/// Links a problem to an incident, bug or change; `false` when the link already existed.
pub async fn insert_link(
    conn: &mut Conn<'_>,
    problem_id: i64,
    kind: &str,
    target: &str,
    by: &str,
    now: i64,
) -> StoreResult<bool> {
    let n = on_conn!(conn, c => sqlx::query(
        "INSERT INTO problem_links (problem_id, kind, target, created_by, created_at) VALUES ($1,$2,$3,$4,$5)
         ON CONFLICT (problem_id, kind, target) DO NOTHING")
        .bind(problem_id).bind(kind).bind(target).bind(by).bind(now)
        .execute(&mut **c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// How many links of `kind` problem `problem_id` has, inside a write (CHG-21: a change linked before resolving).
pub async fn link_count(conn: &mut Conn<'_>, problem_id: i64, kind: &str) -> StoreResult<i64> {
    Ok(on_conn!(conn, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM problem_links WHERE problem_id = $1 AND kind = $2")
        .bind(problem_id).bind(kind).fetch_one(&mut **c).await)?)
}

/// Problems reported in `[from, to)`, oldest first, inside a write (the monthly report's scheduled e-mail).
pub async fn problems_reported_between_in(
    conn: &mut Conn<'_>,
    from: i64,
    to: i64,
) -> StoreResult<Vec<ProblemRow>> {
    let sql = format!(
        "SELECT {COLS} FROM problems WHERE reported_at >= $1 AND reported_at < $2 ORDER BY reported_at, id"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(&mut **c).await)?)
}

impl Store {
    /// Problems matching `filter` with id below `before`, newest first.
    pub async fn problems_page(
        &self,
        before: i64,
        limit: i64,
        filter: &ProblemFilter,
    ) -> StoreResult<Vec<ProblemRow>> {
        let sql = format!(
            "SELECT {COLS} FROM problems WHERE id < $1
               AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR level = $3) AND ($4 IS NULL OR category = $4)
               AND ($6 IS NULL OR region_id = $6) AND ($7 IS NULL OR vendor_org_id = $7)
             ORDER BY id DESC LIMIT $5"
        );
        Ok(
            on_pool!(self, p => sqlx::query_as(&sql).bind(before).bind(&filter.state).bind(&filter.level)
            .bind(&filter.category).bind(limit).bind(filter.region_id).bind(filter.vendor_org_id)
            .fetch_all(p).await)?,
        )
    }

    /// Problems reported in `[from, to)`, oldest first (monthly report, PRB-09).
    pub async fn problems_reported_between(
        &self,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<ProblemRow>> {
        let sql = format!(
            "SELECT {COLS} FROM problems WHERE reported_at >= $1 AND reported_at < $2 ORDER BY reported_at, id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(from).bind(to).fetch_all(p).await)?)
    }

    /// One problem.
    pub async fn problem(&self, id: i64) -> StoreResult<Option<ProblemRow>> {
        let sql = format!("SELECT {COLS} FROM problems WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// A problem's history, oldest first.
    pub async fn problem_events(&self, problem_id: i64) -> StoreResult<Vec<ProblemEventRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT id, problem_id, at, kind, actor, data FROM problem_events WHERE problem_id = $1 ORDER BY at, id")
            .bind(problem_id).fetch_all(p).await)?)
    }

    /// A problem's review actions, oldest first.
    pub async fn problem_actions(&self, problem_id: i64) -> StoreResult<Vec<ProblemActionRow>> {
        let sql =
            format!("SELECT {ACTION_COLS} FROM problem_actions WHERE problem_id = $1 ORDER BY id");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(problem_id).fetch_all(p).await)?)
    }

    /// A problem's links.
    pub async fn problem_links(&self, problem_id: i64) -> StoreResult<Vec<ProblemLinkRow>> {
        Ok(on_pool!(self, p => sqlx::query_as(
            "SELECT problem_id, kind, target, created_by, created_at FROM problem_links WHERE problem_id = $1 ORDER BY kind, target")
            .bind(problem_id).fetch_all(p).await)?)
    }

    /// Problems linked to `kind` `target` (e.g. the problems of an incident).
    pub async fn problems_linked_to(&self, kind: &str, target: &str) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, p => sqlx::query_scalar(
            "SELECT problem_id FROM problem_links WHERE kind = $1 AND target = $2 ORDER BY problem_id")
            .bind(kind).bind(target).fetch_all(p).await)?)
    }
}

// ---------------------------------------------------------------- PRB-13 monthly meetings

/// A monthly problem meeting (PRB-13).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct MeetingRow {
    pub id: i64,
    /// `YYYY-MM` of `held_at` in the centre's time zone; one meeting per month.
    pub month: String,
    pub held_at: i64,
    /// JSON array of names.
    pub attendees: String,
    pub minutes: String,
    pub created_by: String,
    pub created_at: i64,
}

/// An action decided at a monthly meeting, open until closed with a note.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct MeetingActionRow {
    pub id: i64,
    pub meeting_id: i64,
    pub text: String,
    pub owner: String,
    pub due_at: i64,
    pub closed_by: Option<String>,
    pub closed_at: Option<i64>,
    pub note: Option<String>,
    pub created_at: i64,
    pub version: i64,
}

const MEETING_COLS: &str = "id, month, held_at, attendees, minutes, created_by, created_at";
const MEETING_ACTION_COLS: &str =
    "id, meeting_id, text, owner, due_at, closed_by, closed_at, note, created_at, version";

/// The meeting of `month`, inside a write.
pub async fn meeting_of_month(conn: &mut Conn<'_>, month: &str) -> StoreResult<Option<MeetingRow>> {
    let sql = format!("SELECT {MEETING_COLS} FROM problem_meetings WHERE month = $1");
    Ok(on_conn!(conn, c => sqlx::query_as(&sql).bind(month).fetch_optional(&mut **c).await)?)
}

/// Records a monthly meeting.
#[allow(clippy::too_many_arguments)]
pub async fn insert_meeting(
    conn: &mut Conn<'_>,
    month: &str,
    held_at: i64,
    attendees: &str,
    minutes: &str,
    by: &str,
    now: i64,
) -> StoreResult<MeetingRow> {
    let sql = format!(
        "INSERT INTO problem_meetings (month, held_at, attendees, minutes, created_by, created_at)
         VALUES ($1,$2,$3,$4,$5,$6) RETURNING {MEETING_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(month).bind(held_at).bind(attendees).bind(minutes).bind(by).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// Adds an action to a meeting.
pub async fn insert_meeting_action(
    conn: &mut Conn<'_>,
    meeting_id: i64,
    text: &str,
    owner: &str,
    due_at: i64,
    now: i64,
) -> StoreResult<MeetingActionRow> {
    let sql = format!(
        "INSERT INTO problem_meeting_actions (meeting_id, text, owner, due_at, created_at)
         VALUES ($1,$2,$3,$4,$5) RETURNING {MEETING_ACTION_COLS}"
    );
    Ok(on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(meeting_id).bind(text).bind(owner).bind(due_at).bind(now)
        .fetch_one(&mut **c).await)?)
}

/// Action `id` of meeting `meeting_id`, locked for the rest of the write on PostgreSQL.
pub async fn meeting_action_for_update(
    conn: &mut Conn<'_>,
    meeting_id: i64,
    id: i64,
) -> StoreResult<Option<MeetingActionRow>> {
    let lock = if conn.is_postgres() {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {MEETING_ACTION_COLS} FROM problem_meeting_actions WHERE id = $1 AND meeting_id = $2{lock}"
    );
    Ok(
        on_conn!(conn, c => sqlx::query_as(&sql).bind(id).bind(meeting_id).fetch_optional(&mut **c).await)?,
    )
}

/// Closes an open meeting action if its version is still `version`.
pub async fn close_meeting_action(
    conn: &mut Conn<'_>,
    id: i64,
    version: i64,
    note: &str,
    by: &str,
    now: i64,
) -> StoreResult<MeetingActionRow> {
    let sql = format!(
        "UPDATE problem_meeting_actions SET closed_by=$1, closed_at=$2, note=$3, version=version+1
         WHERE id=$4 AND version=$5 AND closed_at IS NULL RETURNING {MEETING_ACTION_COLS}"
    );
    let row: Option<MeetingActionRow> = on_conn!(conn, c => sqlx::query_as(&sql)
        .bind(by).bind(now).bind(note).bind(id).bind(version)
        .fetch_optional(&mut **c).await)?;
    row.ok_or_else(|| StoreError::Stale(format!("meeting action {id}")))
}

impl Store {
    /// Monthly meetings, latest month first.
    pub async fn problem_meetings(&self, limit: i64) -> StoreResult<Vec<MeetingRow>> {
        let sql = format!(
            "SELECT {MEETING_COLS} FROM problem_meetings ORDER BY month DESC, id DESC LIMIT $1"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(limit).fetch_all(p).await)?)
    }

    /// One monthly meeting.
    pub async fn problem_meeting(&self, id: i64) -> StoreResult<Option<MeetingRow>> {
        let sql = format!("SELECT {MEETING_COLS} FROM problem_meetings WHERE id = $1");
        Ok(on_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await)?)
    }

    /// The actions of the given meetings, by meeting then id.
    pub async fn problem_meeting_actions(
        &self,
        meeting_ids: &[i64],
    ) -> StoreResult<Vec<MeetingActionRow>> {
        if meeting_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids are integers from our own rows, so inlining them is safe and portable across both backends.
        let ids = meeting_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT {MEETING_ACTION_COLS} FROM problem_meeting_actions WHERE meeting_id IN ({ids})
             ORDER BY meeting_id, id"
        );
        Ok(on_pool!(self, p => sqlx::query_as(&sql).fetch_all(p).await)?)
    }
}
