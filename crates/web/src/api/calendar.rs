//! Working-day calendars: list, deadline arithmetic, holiday data.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tianshu_core::Permission;
use tianshu_workcal::{DeadlineBasis, HolidayYear};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, RequestId};
use crate::state::AppState;

/// A named business-hour calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarOut {
    pub name: String,
    pub title: String,
    pub time_zone: String,
}

/// Calendars.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarList {
    pub items: Vec<CalendarOut>,
    pub default_calendar: String,
}

/// Deadline question.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeadlineQuery {
    /// Basis: `30m`, `24h`, `8h@office`, `3d`, `2wd` (from `from`) or `-3wd`, `-2d` (before `date`).
    pub basis: String,
    /// Event instant (RFC 3339) for forward bases.
    pub from: Option<String>,
    /// Target date (YYYY-MM-DD) for backward bases.
    pub date: Option<String>,
}

/// A computed deadline.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineOut {
    pub basis: String,
    /// The due instant, RFC 3339 UTC.
    pub due: String,
    /// The due instant in the calendar's time zone.
    pub due_local: String,
}

/// Working-time question.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SpanQuery {
    /// Start instant (RFC 3339).
    pub from: String,
    /// End instant (RFC 3339).
    pub to: String,
}

/// Working time between two instants.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpanOut {
    pub seconds: i64,
}

/// Stored holiday year with its edit version.
#[derive(Debug, Serialize, ToSchema)]
pub struct HolidayYearOut {
    pub year: i32,
    pub source: String,
    pub holidays: Vec<HolidayRangeOut>,
    pub workdays: Vec<MakeupDayOut>,
}

/// Days off.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayRangeOut {
    pub name: String,
    /// First day off (YYYY-MM-DD).
    pub from: String,
    /// Last day off (YYYY-MM-DD).
    pub to: String,
}

/// A make-up working day (调休).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MakeupDayOut {
    /// YYYY-MM-DD
    pub date: String,
    #[serde(default)]
    pub name: String,
}

/// New content of a holiday year.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayYearIn {
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub holidays: Vec<HolidayRangeOut>,
    #[serde(default)]
    pub workdays: Vec<MakeupDayOut>,
}

/// Result of a holiday edit.
#[derive(Debug, Serialize, ToSchema)]
pub struct HolidayPutOut {
    pub year: i32,
    pub version: i64,
}

fn parse_instant(field: &str, s: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| ApiError::bad_field(field, format!("{field}: not an RFC 3339 instant ({e})")))
}

fn parse_date(field: &str, s: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_field(field, format!("{field}: expected YYYY-MM-DD")))
}

/// Calendars of the active policy.
#[utoipa::path(get, path = "/api/v1/calendars", tag = "calendar", responses((status = 200, description = "calendars", body = CalendarList)))]
pub async fn list(State(st): State<AppState>, Auth(p): Auth) -> ApiResult<Json<CalendarList>> {
    p.require(Permission::CalendarRead)?;
    let pol = st.platform.policy.current();
    let items = pol
        .calendars
        .list()
        .into_iter()
        .map(|c| CalendarOut {
            name: c.name,
            title: c.title,
            time_zone: c.time_zone,
        })
        .collect();
    Ok(Json(CalendarList {
        items,
        default_calendar: pol.pack.calendars.default_calendar.clone(),
    }))
}

/// Compute a deadline on a calendar (C-3/C-4 conventions).
#[utoipa::path(get, path = "/api/v1/calendars/{name}/deadline", tag = "calendar",
    params(("name" = String, Path, description = "calendar name"), DeadlineQuery),
    responses((status = 200, description = "the due instant", body = DeadlineOut)))]
pub async fn deadline(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeadlineQuery>,
) -> ApiResult<Json<DeadlineOut>> {
    p.require(Permission::CalendarRead)?;
    let pol = st.platform.policy.current();
    let cal = pol.calendars.get(&name)?;
    let basis: DeadlineBasis =
        q.basis
            .parse()
            .map_err(|e: tianshu_workcal::DeadlineParseError| {
                ApiError::bad_field("basis", e.to_string())
            })?;
    let backward = matches!(
        basis,
        DeadlineBasis::WorkingDaysBefore { .. } | DeadlineBasis::CalendarDaysBefore { .. }
    );
    let due = if backward {
        let d = q
            .date
            .as_deref()
            .ok_or_else(|| ApiError::bad_field("date", "a backward basis needs date=YYYY-MM-DD"))?;
        cal.deadline_before(&basis, parse_date("date", d)?)
    } else {
        let f = q.from.as_deref().ok_or_else(|| {
            ApiError::bad_field("from", "a forward basis needs from=<RFC 3339 instant>")
        })?;
        cal.deadline(&basis, parse_instant("from", f)?, &[])
    }
    .map_err(|e| {
        let mut a = ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            e.to_string(),
        );
        a.field = Some("basis".into());
        a
    })?;
    Ok(Json(DeadlineOut {
        basis: basis.to_string(),
        due: due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        due_local: due
            .with_timezone(&cal.time_zone())
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    }))
}

/// Working time between two instants on a calendar.
#[utoipa::path(get, path = "/api/v1/calendars/{name}/working-time", tag = "calendar",
    params(("name" = String, Path, description = "calendar name"), SpanQuery),
    responses((status = 200, description = "seconds of open time", body = SpanOut)))]
pub async fn working_time(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<SpanQuery>,
) -> ApiResult<Json<SpanOut>> {
    p.require(Permission::CalendarRead)?;
    let pol = st.platform.policy.current();
    let cal = pol.calendars.get(&name)?;
    let (a, b) = (parse_instant("from", &q.from)?, parse_instant("to", &q.to)?);
    if (b - a).num_days().abs() > 366 * 20 {
        return Err(ApiError::bad_field("to", "span longer than 20 years"));
    }
    Ok(Json(SpanOut {
        seconds: cal.working_time_between(a, b, &[]),
    }))
}

fn year_out(y: &HolidayYear) -> HolidayYearOut {
    HolidayYearOut {
        year: y.year,
        source: y.source.clone(),
        holidays: y
            .holidays
            .iter()
            .map(|h| HolidayRangeOut {
                name: h.name.clone(),
                from: h.from.to_string(),
                to: h.to.to_string(),
            })
            .collect(),
        workdays: y
            .workdays
            .iter()
            .map(|w| MakeupDayOut {
                date: w.date.to_string(),
                name: w.name.clone(),
            })
            .collect(),
    }
}

/// Public holidays and make-up days of a year.
#[utoipa::path(get, path = "/api/v1/holidays/{year}", tag = "calendar", params(("year" = i32, Path, description = "year")),
    responses((status = 200, description = "the year", body = HolidayYearOut)))]
pub async fn get_year(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(year): ApiPath<i32>,
) -> ApiResult<Json<HolidayYearOut>> {
    p.require(Permission::CalendarRead)?;
    let pol = st.platform.policy.current();
    let y = pol
        .calendars
        .year(year)
        .ok_or_else(|| ApiError::not_found(format!("no holiday data for {year}")))?;
    Ok(Json(year_out(y)))
}

/// Replace a year's holidays (validated; versioned and audited).
#[utoipa::path(put, path = "/api/v1/holidays/{year}", tag = "calendar", params(("year" = i32, Path, description = "year")), request_body = HolidayYearIn,
    responses((status = 200, description = "stored", body = HolidayPutOut)))]
pub async fn put_year(
    State(st): State<AppState>,
    Auth(p): Auth,
    RequestId(rid): RequestId,
    ApiPath(year): ApiPath<i32>,
    ApiJson(b): ApiJson<HolidayYearIn>,
) -> ApiResult<Json<HolidayPutOut>> {
    p.require(Permission::CalendarManage)?;
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::bad_field(
            "year",
            "year must be between 2000 and 2100",
        ));
    }
    let mut holidays = Vec::new();
    for (i, h) in b.holidays.iter().enumerate() {
        holidays.push(tianshu_workcal::HolidayRange {
            name: h.name.clone(),
            from: parse_date(&format!("holidays[{i}].from"), &h.from)?,
            to: parse_date(&format!("holidays[{i}].to"), &h.to)?,
        });
    }
    let mut workdays = Vec::new();
    for (i, w) in b.workdays.iter().enumerate() {
        workdays.push(tianshu_workcal::MakeupDay {
            date: parse_date(&format!("workdays[{i}].date"), &w.date)?,
            name: w.name.clone(),
        });
    }
    let y = HolidayYear {
        year,
        source: b.source,
        holidays,
        workdays,
    };
    let now = st.platform.now_us();
    let version = st
        .platform
        .policy
        .put_holidays(&st.platform.store, y, now, &p.actor(), rid)
        .await?;
    Ok(Json(HolidayPutOut { year, version }))
}
