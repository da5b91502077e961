//! KPI scorecards from the records of a period (issue 8, KPI-01..KPI-15) with the records behind every point
//! lost, and the group customers whose tier the scorecards read (SLA-01/SLA-02).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tianshu_core::kpi::Points;
use tianshu_services::customers::{self, NewCustomerInput};
use tianshu_services::kpi::{self, Scorecards};
use tianshu_store::kpi::GroupCustomerRow;
use utoipa::{IntoParams, ToSchema};

use crate::api::assessments::KpiAssessmentOut;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::state::AppState;

/// Which scorecards.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScorecardQuery {
    /// Local month `YYYY-MM` (default: this month).
    pub period: Option<String>,
    /// Indicator set key of kpi.toml (default: the first, `group_customer_support`).
    pub set: Option<String>,
    /// `branch` (default), `province` or `vendor`.
    pub by: Option<String>,
    /// One unit's key: its drill-down only.
    pub unit: Option<String>,
}

/// A record behind lost points.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiRecordOut {
    /// Record kind (`incident`).
    pub kind: String,
    /// Its id (ticket number).
    pub id: String,
    pub label: String,
    /// Console page of the record.
    pub href: String,
}

/// Points lost on one record (or a record that missed a rate).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiLossOut {
    pub record: KpiRecordOut,
    /// Points this record cost; null for a rate, where only the total loss is defined.
    pub points: Option<f64>,
    /// Why, citing the rule.
    pub reason: String,
}

/// One indicator's result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiIndicatorOut {
    pub key: String,
    pub rule: String,
    pub group: String,
    pub name_zh: String,
    pub max: f64,
    /// Null when not scored.
    pub score: Option<f64>,
    /// Measured value (rate, units over, flag).
    pub value: String,
    pub losses: Vec<KpiLossOut>,
    /// Why the indicator is not scored: the measure the records cannot provide yet.
    pub unavailable: Option<String>,
    /// For an `assessed` indicator: the evaluator's assessment it was scored from (who, when, why; KPI-13).
    pub assessment: Option<KpiAssessmentOut>,
}

/// A group of points the seed gives no rules for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiNotScoredOut {
    pub group: String,
    pub points: f64,
    pub why: String,
}

/// One unit's scorecard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiCardOut {
    pub unit: String,
    pub unit_name: String,
    /// Sum of scored indicators.
    pub total: f64,
    /// Sum of the maxima of scored indicators.
    pub max: f64,
    /// KPI-14: total / max on the 100-point scale; null when nothing is scored.
    pub percent: Option<f64>,
    pub indicators: Vec<KpiIndicatorOut>,
    pub not_scored: Vec<KpiNotScoredOut>,
}

/// A unit's place (KPI-15).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiRankOut {
    pub unit: String,
    pub total: f64,
    /// Competition rank (1, 2, 2, 4).
    pub rank: u32,
    /// Among the lowest ranked (KPI-15 special analysis).
    pub laggard: bool,
}

/// A measure the records cannot provide yet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiUnavailableOut {
    pub measure: String,
    pub why: String,
}

/// The scorecards of a set, a month and a unit kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiScorecardsOut {
    /// `YYYY-MM`.
    pub period: String,
    /// Period start and end (exclusive), Unix microseconds UTC.
    pub from: i64,
    pub to: i64,
    pub set: String,
    pub set_name_zh: String,
    pub set_rule: String,
    /// `branch`, `province` or `vendor`.
    pub by: String,
    pub conversion_rule: String,
    pub ranking_rule: String,
    pub laggards: u32,
    pub cards: Vec<KpiCardOut>,
    pub ranking: Vec<KpiRankOut>,
    pub unavailable: Vec<KpiUnavailableOut>,
}

fn f(p: Points) -> f64 {
    p.as_f64()
}

/// The JSON shape of the scorecards (also used by the console's download).
pub fn scorecards_out(s: Scorecards) -> KpiScorecardsOut {
    KpiScorecardsOut {
        period: s.period.key,
        from: s.period.from,
        to: s.period.to,
        set: s.set,
        set_name_zh: s.set_name_zh,
        set_rule: s.set_rule,
        by: s.by.as_str().into(),
        conversion_rule: s.conversion_rule,
        ranking_rule: s.ranking_rule,
        laggards: s.laggards,
        cards: s
            .cards
            .into_iter()
            .map(|u| KpiCardOut {
                unit: u.unit,
                unit_name: u.unit_name,
                total: f(u.card.total),
                max: f(u.card.max),
                percent: u.card.percent.map(f),
                indicators: u
                    .card
                    .indicators
                    .into_iter()
                    .map(|i| KpiIndicatorOut {
                        assessment: u.assessments.get(&i.key).cloned().map(Into::into),
                        key: i.key,
                        rule: i.rule,
                        group: i.group,
                        name_zh: i.name_zh,
                        max: f(i.max),
                        score: i.score.map(f),
                        value: i.value,
                        losses: i
                            .losses
                            .into_iter()
                            .map(|l| {
                                let k = format!("{}:{}", l.record.kind, l.record.id);
                                let link = u.records.get(&k);
                                KpiLossOut {
                                    record: KpiRecordOut {
                                        label: link
                                            .map(|r| r.label.clone())
                                            .unwrap_or_else(|| l.record.id.clone()),
                                        href: link.map(|r| r.href.clone()).unwrap_or_default(),
                                        kind: l.record.kind,
                                        id: l.record.id,
                                    },
                                    points: l.points.map(f),
                                    reason: l.reason,
                                }
                            })
                            .collect(),
                        unavailable: i.unavailable,
                    })
                    .collect(),
                not_scored: u
                    .card
                    .not_scored
                    .into_iter()
                    .map(|(group, points, why)| KpiNotScoredOut {
                        group,
                        points: f(points),
                        why,
                    })
                    .collect(),
            })
            .collect(),
        ranking: s
            .ranking
            .into_iter()
            .map(|r| KpiRankOut {
                unit: r.unit,
                total: f(r.total),
                rank: r.rank,
                laggard: r.laggard,
            })
            .collect(),
        unavailable: s
            .unavailable
            .into_iter()
            .map(|(measure, why)| KpiUnavailableOut { measure, why })
            .collect(),
    }
}

/// Scorecards per branch, province or vendor for a month, with the records behind every point lost.
#[utoipa::path(get, path = "/api/v1/kpi/scorecards", tag = "kpi", params(ScorecardQuery),
    responses((status = 200, description = "scorecards and ranking", body = KpiScorecardsOut)))]
pub async fn scorecards(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ScorecardQuery>,
) -> ApiResult<Json<KpiScorecardsOut>> {
    let s = kpi::scorecards(
        &st.platform,
        &p,
        q.period.as_deref(),
        q.set.as_deref(),
        q.by.as_deref(),
        q.unit.as_deref(),
    )
    .await?;
    Ok(Json(scorecards_out(s)))
}

/// The scorecards as XLSX (评分表, 扣分明细, 未计分).
#[utoipa::path(get, path = "/api/v1/kpi/scorecards.xlsx", tag = "kpi", params(ScorecardQuery),
    responses((status = 200, description = "workbook", body = crate::api::incidents::BinaryFile,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn scorecards_xlsx(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<ScorecardQuery>,
) -> ApiResult<axum::response::Response> {
    let s = kpi::scorecards(
        &st.platform,
        &p,
        q.period.as_deref(),
        q.set.as_deref(),
        q.by.as_deref(),
        q.unit.as_deref(),
    )
    .await?;
    let bytes = kpi::scorecards_xlsx(&s)?;
    let name = format!("kpi-{}-{}-{}.xlsx", s.set, s.by.as_str(), s.period.key);
    Ok(xlsx_response(bytes, &name))
}

/// A group customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerOut {
    pub id: i64,
    pub key: String,
    pub name: String,
    /// `key_assurance`, `diamond`, `gold`, `silver` or `bronze` (SLA-01).
    pub tier: String,
    pub org_id: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl From<GroupCustomerRow> for CustomerOut {
    fn from(r: GroupCustomerRow) -> Self {
        CustomerOut {
            id: r.id,
            key: r.key,
            name: r.name,
            tier: r.tier,
            org_id: r.org_id,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// One tier's SLA-02 quota line.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerQuotaOut {
    pub tier: String,
    pub count: u64,
    /// Largest count allowed; null when the tier has no quota.
    pub max: Option<u64>,
    pub max_percent: Option<u32>,
}

/// The customers and the SLA-02 quota report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerListOut {
    pub customers: Vec<CustomerOut>,
    pub total: u64,
    pub quotas: Vec<CustomerQuotaOut>,
}

/// A new group customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerBody {
    /// Stable key (a–z, 0–9, '-', '_'); an incident's `customer` naming it is this customer's fault.
    pub key: String,
    pub name: String,
    /// `key_assurance`, `diamond`, `gold`, `silver` or `bronze`; over its SLA-02 quota → 422.
    pub tier: String,
    /// Key of the branch serving the customer.
    pub org_key: Option<String>,
}

/// A tier change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerTierBody {
    pub version: i64,
    pub tier: String,
}

/// Group customers with the SLA-02 quota report.
#[utoipa::path(get, path = "/api/v1/customers", tag = "kpi",
    responses((status = 200, description = "customers", body = CustomerListOut)))]
pub async fn list_customers(
    State(st): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<Json<CustomerListOut>> {
    let l = customers::list(&st.platform, &p).await?;
    Ok(Json(CustomerListOut {
        customers: l.customers.into_iter().map(Into::into).collect(),
        total: l.quotas.total,
        quotas: l
            .quotas
            .lines
            .into_iter()
            .map(|q| CustomerQuotaOut {
                tier: q.tier.as_str().into(),
                count: q.count,
                max: q.max,
                max_percent: q.max_percent,
            })
            .collect(),
    }))
}

/// Registers a group customer; a tier over its SLA-02 quota is refused naming the rule.
#[utoipa::path(post, path = "/api/v1/customers", tag = "kpi", request_body = CustomerBody,
    responses((status = 201, description = "registered", body = CustomerOut)))]
pub async fn create_customer(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiJson(b): ApiJson<CustomerBody>,
) -> ApiResult<(StatusCode, Json<CustomerOut>)> {
    let row = customers::create(
        &st.platform,
        &p,
        NewCustomerInput {
            key: b.key,
            name: b.name,
            tier: b.tier,
            org_key: b.org_key,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Moves a customer to another tier (SLA-02 checked; stale version → 412).
#[utoipa::path(put, path = "/api/v1/customers/{key}/tier", tag = "kpi", request_body = CustomerTierBody,
    params(("key" = String, Path, description = "customer key")),
    responses((status = 200, description = "changed", body = CustomerOut)))]
pub async fn set_customer_tier(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<CustomerTierBody>,
) -> ApiResult<Json<CustomerOut>> {
    let row = customers::set_tier(&st.platform, &p, &key, b.version, &b.tier).await?;
    Ok(Json(row.into()))
}

// ---------------------------------------------------------------- report pack (RPT)

/// Which report pack.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PackQuery {
    /// `weekly` or `monthly` (default).
    pub kind: Option<String>,
    /// `2026-11` (monthly) or `2026-W48` (weekly); default the current one.
    pub period: Option<String>,
}

/// A frequent fault and the rules that put it in the report (RPT-03).
#[derive(Debug, Serialize, ToSchema)]
pub struct PackFrequentOut {
    pub fault_key: String,
    pub occurrences: u32,
    pub complaints: u64,
    /// `RULE detail` per fired trigger.
    pub fired: Vec<String>,
}

/// An FL1/FL2 ticket of the period (RPT-04).
#[derive(Debug, Serialize, ToSchema)]
pub struct PackMajorOut {
    pub id: i64,
    pub number: String,
    pub title: String,
    pub fault_level: String,
    pub state: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

/// A BUG record of the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackBugOut {
    pub id: i64,
    pub number: String,
    pub incident_id: i64,
    pub incident_number: String,
    pub urgency: String,
    pub state: String,
    pub created_at: i64,
}

/// Deadline clocks of one rule that ended in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackSlaOut {
    pub subject_kind: String,
    pub rule: String,
    pub met: i64,
    pub breached: i64,
    pub rate: Option<f64>,
}

/// Duty of one slot and shift.
#[derive(Debug, Serialize, ToSchema)]
pub struct PackDutyOut {
    pub slot: String,
    pub shift: String,
    pub assignments: i64,
    pub reports: i64,
}

/// The weekly or monthly report pack.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPackOut {
    /// `weekly` or `monthly`.
    pub kind: String,
    pub period: String,
    pub start: String,
    pub end: String,
    pub frequent: Vec<PackFrequentOut>,
    pub major: Vec<PackMajorOut>,
    pub bugs: Vec<PackBugOut>,
    pub sla: Vec<PackSlaOut>,
    pub duty: Vec<PackDutyOut>,
    /// Stored reconciliation runs of the period (none are stored yet: "no runs").
    pub recon_runs: Vec<String>,
    /// Monthly: KPI scorecards and ranking.
    pub kpi: Option<KpiScorecardsOut>,
}

/// The JSON shape of a pack.
pub fn pack_out(p: tianshu_services::report_pack::ReportPack) -> ReportPackOut {
    ReportPackOut {
        kind: p.kind.as_str().into(),
        period: p.period,
        start: p.start,
        end: p.end,
        frequent: p
            .frequent
            .into_iter()
            .map(|f| PackFrequentOut {
                fault_key: f.fault_key,
                occurrences: f.occurrences,
                complaints: f.complaints,
                fired: f
                    .fired
                    .into_iter()
                    .map(|t| format!("{} {}", t.rule, t.detail))
                    .collect(),
            })
            .collect(),
        major: p
            .major
            .into_iter()
            .map(|m| PackMajorOut {
                id: m.id,
                number: m.number,
                title: m.title,
                fault_level: m.fault_level,
                state: m.state,
                created_at: m.created_at,
                resolved_at: m.resolved_at,
            })
            .collect(),
        bugs: p
            .bugs
            .into_iter()
            .map(|b| PackBugOut {
                id: b.id,
                number: b.number,
                incident_id: b.incident_id,
                incident_number: b.incident_number,
                urgency: b.urgency,
                state: b.state,
                created_at: b.created_at,
            })
            .collect(),
        sla: p
            .sla
            .into_iter()
            .map(|l| PackSlaOut {
                subject_kind: l.subject_kind,
                rule: l.rule,
                met: l.met,
                breached: l.breached,
                rate: l.rate,
            })
            .collect(),
        duty: p
            .duty
            .into_iter()
            .map(|d| PackDutyOut {
                slot: d.slot,
                shift: d.shift,
                assignments: d.assignments,
                reports: d.reports,
            })
            .collect(),
        recon_runs: p.recon_runs,
        kpi: p.kpi.map(scorecards_out),
    }
}

async fn load_pack(
    st: &AppState,
    p: &tianshu_services::authz::Principal,
    q: &PackQuery,
) -> ApiResult<tianshu_services::report_pack::ReportPack> {
    use tianshu_services::report_pack::{self as rp, PackKind};
    let kind = match q.kind.as_deref() {
        Some(k) => PackKind::parse(k)?,
        None => PackKind::Monthly,
    };
    Ok(rp::build(&st.platform, p, kind, q.period.as_deref()).await?)
}

/// The weekly or monthly report pack (RPT-01..08, KPI scorecard monthly).
#[utoipa::path(get, path = "/api/v1/reports/pack", tag = "reports", params(PackQuery),
    responses((status = 200, description = "report pack", body = ReportPackOut)))]
pub async fn pack(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PackQuery>,
) -> ApiResult<Json<ReportPackOut>> {
    Ok(Json(pack_out(load_pack(&st, &p, &q).await?)))
}

/// The report pack as XLSX, one sheet per section.
#[utoipa::path(get, path = "/api/v1/reports/pack.xlsx", tag = "reports", params(PackQuery),
    responses((status = 200, description = "workbook", body = crate::api::incidents::BinaryFile,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))]
pub async fn pack_xlsx(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PackQuery>,
) -> ApiResult<axum::response::Response> {
    let pack = load_pack(&st, &p, &q).await?;
    let bytes = tianshu_services::report_pack::pack_xlsx(&pack, st.platform.time_zone())?;
    let name = format!("report-{}-{}.xlsx", pack.kind.as_str(), pack.period);
    Ok(xlsx_response(bytes, &name))
}

fn xlsx_response(bytes: Vec<u8>, name: &str) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// One leased line of a customer over the year to date (KPI-09).
#[derive(Debug, Serialize, ToSchema)]
pub struct LeasedLineOut {
    pub line: String,
    /// SLA-03 level the line is judged at (the highest among its faults).
    pub level: String,
    /// Faults reported this year.
    pub faults: u32,
    /// Of those, repeats (`[network_quality] repeat_count`).
    pub repeats: u32,
    /// Interruption this year, seconds (clipped to the year and to now).
    pub interruption_seconds: i64,
    /// The standard, when sla.toml has one.
    pub max_repeat_faults: Option<u32>,
    pub max_interruption_seconds: Option<i64>,
    pub repeat_exceeded: bool,
    pub interruption_exceeded: bool,
    /// Ticket numbers the caller may see (others are counted, not named).
    pub incidents: Vec<String>,
}

/// A customer's leased lines this year.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerLeasedLinesOut {
    pub year: String,
    /// Why the lines are counted but not judged, if so (no network-quality standard in sla.toml).
    pub unjudged: Option<String>,
    pub lines: Vec<LeasedLineOut>,
}

/// The leased lines of a group customer this year: faults, repeats and interruption against the network-quality
/// standard of their SLA-03 level (KPI-09).
#[utoipa::path(get, path = "/api/v1/customers/{key}/leased-lines", tag = "kpi",
    params(("key" = String, Path, description = "customer key")),
    responses((status = 200, description = "lines", body = CustomerLeasedLinesOut)))]
pub async fn customer_leased_lines(
    State(st): State<AppState>,
    Auth(p): Auth,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<CustomerLeasedLinesOut>> {
    let v = kpi::customer_lines(&st.platform, &p, &key).await?;
    Ok(Json(CustomerLeasedLinesOut {
        year: v.year,
        unjudged: v.unjudged,
        lines: v
            .lines
            .into_iter()
            .map(|l| LeasedLineOut {
                line: l.line,
                level: l.level.as_str().to_string(),
                faults: l.faults,
                repeats: l.repeats,
                interruption_seconds: l.interruption_seconds,
                max_repeat_faults: l.max_repeat_faults,
                max_interruption_seconds: l.max_interruption_seconds,
                repeat_exceeded: l.repeat_exceeded,
                interruption_exceeded: l.interruption_exceeded,
                incidents: l.records.into_iter().flatten().map(|r| r.id).collect(),
            })
            .collect(),
    }))
}
