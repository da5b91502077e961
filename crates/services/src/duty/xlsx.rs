//! Rosters and comp-time statements as spreadsheets: centres keep rosters in XLSX (JOURNEYS §4). Import reads
//! with a real XLSX reader (calamine) and refuses the whole file, naming sheet, row and column of every bad
//! cell, before anything is stored; export writes with rust_xlsxwriter in the same layout, so an exported
//! roster imports back unchanged.

use std::collections::BTreeSet;
use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use tianshu_core::duty::Assignment;
use tianshu_core::Permission;

use super::{day, publish_or_preview, RosterResult};
use crate::authz::Principal;
use crate::{Platform, ServiceError, ServiceResult};

/// Roster columns: (key, Chinese header, English header). Headers are matched in either language.
const COLUMNS: [(&str, &str, &str); 5] = [
    ("date", "日期", "date"),
    ("shift", "班次", "shift"),
    ("slot", "值班岗位", "slot"),
    ("person", "值班人", "person"),
    ("region", "所属单位", "region"),
];
/// Name of the roster sheet written by export.
pub const ROSTER_SHEET: &str = "排班";
/// Most problems listed in one refusal.
const MAX_LISTED: usize = 20;
/// Largest spreadsheet accepted (bytes).
pub const MAX_XLSX_BYTES: usize = 5 * 1024 * 1024;

/// One bad cell of an imported file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CellProblem {
    pub sheet: String,
    /// 1-based row as the spreadsheet shows it.
    pub row: u32,
    /// Column letter.
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}!{}{}: {}",
            self.sheet, self.column, self.row, self.message
        )
    }
}

fn col_letter(c: u32) -> String {
    let mut n = c + 1;
    let mut s = Vec::new();
    while n > 0 {
        let r = (n - 1) % 26;
        s.push(b'A' + r as u8);
        n = (n - 1) / 26;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn cell_text(d: &Data) -> String {
    match d {
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::DateTime(d) => d.as_f64().to_string(),
        Data::Error(e) => format!("#{e:?}"),
        Data::Empty => String::new(),
    }
}

/// A date cell: text `YYYY-MM-DD` (or `YYYY/MM/DD`), or an Excel date serial (1900 system).
fn cell_date(d: &Data) -> Option<NaiveDate> {
    let serial = match d {
        Data::DateTime(x) => Some(x.as_f64()),
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        _ => None,
    };
    if let Some(s) = serial {
        // Excel's day 0 is 1899-12-30 once its fictitious 1900-02-29 is accounted for.
        if !(1.0..=2_958_465.0).contains(&s) {
            return None;
        }
        return NaiveDate::from_ymd_opt(1899, 12, 30)?
            .checked_add_signed(Duration::days(s.floor() as i64));
    }
    let t = cell_text(d);
    let t = t.get(..10).unwrap_or(&t).replace('/', "-");
    NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok()
}

/// Reads a roster workbook (first sheet, or the one called [`ROSTER_SHEET`]) into assignments; every bad cell is
/// reported and nothing is returned when there is any.
pub async fn parse_roster(p: &Platform, bytes: &[u8]) -> ServiceResult<Vec<Assignment>> {
    let refuse = |problems: Vec<CellProblem>| {
        let n = problems.len();
        let listed: Vec<String> = problems
            .iter()
            .take(MAX_LISTED)
            .map(|x| x.to_string())
            .collect();
        let more = if n > MAX_LISTED {
            format!(" (and {} more)", n - MAX_LISTED)
        } else {
            String::new()
        };
        ServiceError::invalid_zh(
            "file",
            format!(
                "{n} bad cell(s), nothing imported: {}{more}",
                listed.join("; ")
            ),
            format!("{n} 处错误,未导入任何数据:{}{more}", listed.join(";")),
        )
    };
    if bytes.len() > MAX_XLSX_BYTES {
        return Err(ServiceError::invalid(
            "file",
            format!("larger than {MAX_XLSX_BYTES} bytes"),
        ));
    }
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| {
        ServiceError::invalid_zh(
            "file",
            format!("not a readable XLSX workbook: {e}"),
            "不是可读取的 XLSX 文件",
        )
    })?;
    let names = wb.sheet_names();
    let sheet = names
        .iter()
        .find(|n| n.as_str() == ROSTER_SHEET)
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| ServiceError::invalid("file", "the workbook has no sheet"))?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| ServiceError::invalid("file", format!("sheet {sheet}: {e}")))?;
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let mut rows = range.rows();
    let Some(header) = rows.next() else {
        return Err(refuse(vec![CellProblem {
            sheet,
            row: 1,
            column: "A".into(),
            message: "empty sheet: expected a header row 日期/班次/值班岗位/值班人/所属单位".into(),
        }]));
    };
    let mut problems = Vec::new();
    let mut idx = [usize::MAX; 5];
    for (i, (key, zh, en)) in COLUMNS.iter().enumerate() {
        match header.iter().position(|h| {
            let t = cell_text(h);
            t == *zh || t.eq_ignore_ascii_case(en)
        }) {
            Some(c) => idx[i] = c,
            None if *key == "region" => {}
            None => problems.push(CellProblem {
                sheet: sheet.clone(),
                row: row0 + 1,
                column: col_letter(col0 + header.len() as u32),
                message: format!("missing column {zh} ({en})"),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    let pol = p.policy.current();
    let duty = &pol.pack.duty;
    let mut users_ok: std::collections::HashMap<String, bool> = Default::default();
    let mut orgs_ok: std::collections::HashMap<String, bool> = Default::default();
    let mut out = Vec::new();
    for (r, cells) in rows.enumerate() {
        let row = row0 + r as u32 + 2;
        let get = |i: usize| cells.get(idx[i]).cloned().unwrap_or(Data::Empty);
        if cells.iter().all(|c| cell_text(c).is_empty()) {
            continue; // blank line between weeks
        }
        let mut bad = |i: usize, message: String| {
            problems.push(CellProblem {
                sheet: sheet.clone(),
                row,
                column: col_letter(col0 + idx[i] as u32),
                message,
            })
        };
        let date = cell_date(&get(0));
        if date.is_none() {
            bad(
                0,
                format!("'{}' is not a date (YYYY-MM-DD)", cell_text(&get(0))),
            );
        }
        let shift_t = cell_text(&get(1));
        let shift = duty
            .shifts
            .iter()
            .find(|s| {
                s.key == shift_t || s.name_zh == shift_t || s.name_en.eq_ignore_ascii_case(&shift_t)
            })
            .map(|s| s.key.clone());
        if shift.is_none() {
            bad(1, format!("unknown shift '{shift_t}'"));
        }
        let slot_t = cell_text(&get(2));
        let slot = duty.slots.iter().find(|s| {
            s.key == slot_t || s.name_zh == slot_t || s.name_en.eq_ignore_ascii_case(&slot_t)
        });
        match (slot, &shift) {
            (None, _) => bad(2, format!("unknown duty slot '{slot_t}'")),
            (Some(s), Some(sh)) if !s.shifts.contains(sh) => bad(
                2,
                format!("slot '{}' is not staffed on shift '{sh}'", s.key),
            ),
            _ => {}
        }
        let person = cell_text(&get(3));
        let known = match users_ok.get(&person) {
            Some(k) => *k,
            None => {
                let k = !person.is_empty()
                    && p.store
                        .user_by_username(&person)
                        .await?
                        .is_some_and(|u| u.active);
                users_ok.insert(person.clone(), k);
                k
            }
        };
        if !known {
            bad(3, format!("no active user '{person}'"));
        }
        let region = if idx[4] == usize::MAX {
            String::new()
        } else {
            cell_text(&get(4))
        };
        if !region.is_empty() {
            let known = match orgs_ok.get(&region) {
                Some(k) => *k,
                None => {
                    let k = p.store.org_by_key(&region).await?.is_some();
                    orgs_ok.insert(region.clone(), k);
                    k
                }
            };
            if !known {
                bad(4, format!("no organisation '{region}'"));
            }
        }
        if let (Some(date), Some(shift), Some(slot)) = (date, shift, slot) {
            out.push(Assignment {
                date,
                slot: slot.key.clone(),
                shift,
                person,
                region: (!region.is_empty()).then_some(region),
            });
        }
    }
    if !problems.is_empty() {
        return Err(refuse(problems));
    }
    if out.is_empty() {
        return Err(ServiceError::invalid(
            "file",
            "the sheet holds no roster rows",
        ));
    }
    let mut seen = BTreeSet::new();
    for a in &out {
        if !seen.insert((a.date, &a.slot, &a.shift, &a.person)) {
            return Err(ServiceError::invalid(
                "file",
                format!(
                    "{} {} {} {} appears twice",
                    a.date, a.slot, a.shift, a.person
                ),
            ));
        }
    }
    Ok(out)
}

/// Imports a roster spreadsheet: the range is its first to last date, the replaced slots those it names.
/// `publish = false` only checks (bad cells and coverage problems), storing nothing.
pub async fn import_roster(
    p: &Platform,
    actor: &Principal,
    bytes: &[u8],
    publish: bool,
) -> ServiceResult<RosterResult> {
    actor.require(Permission::DutyManage)?;
    let rows = parse_roster(p, bytes).await?;
    let from = rows.iter().map(|a| a.date).min().unwrap_or_default();
    let to = rows.iter().map(|a| a.date).max().unwrap_or_default();
    if (to - from).num_days() >= tianshu_core::duty::MAX_RANGE_DAYS {
        return Err(ServiceError::invalid(
            "file",
            "the roster spans more than 400 days",
        ));
    }
    let slots: Vec<String> = rows
        .iter()
        .map(|a| a.slot.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    publish_or_preview(p, actor, from, to, "import", slots, rows, publish).await
}

fn xlsx_err(e: XlsxError) -> ServiceError {
    ServiceError::Internal(format!("writing XLSX: {e}"))
}

/// The stored roster of `from..=to` as a workbook in the import layout.
pub async fn export_roster(
    p: &Platform,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> ServiceResult<Vec<u8>> {
    let rows = super::roster(p, actor, from, to).await?;
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name(ROSTER_SHEET).map_err(xlsx_err)?;
    for (c, (_, zh, _)) in COLUMNS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *zh, &bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, 16).map_err(xlsx_err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, v) in [
            r.date.as_str(),
            r.shift.as_str(),
            r.slot.as_str(),
            r.person.as_str(),
            r.region.as_deref().unwrap_or(""),
        ]
        .into_iter()
        .enumerate()
        {
            ws.write_string(row, c as u16, v).map_err(xlsx_err)?;
        }
    }
    wb.save_to_buffer().map_err(xlsx_err)
}

/// Everyone's comp time of a month (DUTY-05): a summary sheet and one line per duty.
pub async fn export_comp_time(
    p: &Platform,
    actor: &Principal,
    month: &str,
) -> ServiceResult<Vec<u8>> {
    let all = super::comp_time_all(p, actor, month).await?;
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("补休汇总").map_err(xlsx_err)?;
    for (c, h) in ["值班人", "月份", "值班次数", "补休小时"]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, 14).map_err(xlsx_err)?;
    }
    for (i, s) in all.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write_string(row, 0, &s.person).map_err(xlsx_err)?;
        ws.write_string(row, 1, &s.month).map_err(xlsx_err)?;
        ws.write_number(row, 2, s.lines.len() as f64)
            .map_err(xlsx_err)?;
        ws.write_number(row, 3, s.total_hours).map_err(xlsx_err)?;
    }
    let ws = wb.add_worksheet();
    ws.set_name("补休明细").map_err(xlsx_err)?;
    for (c, h) in ["值班人", "日期", "值班岗位", "班次", "工作日", "补休小时"]
        .iter()
        .enumerate()
    {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xlsx_err)?;
        ws.set_column_width(c as u16, 14).map_err(xlsx_err)?;
    }
    let mut row = 1;
    for s in &all {
        for l in &s.lines {
            ws.write_string(row, 0, &s.person).map_err(xlsx_err)?;
            ws.write_string(row, 1, day(l.date)).map_err(xlsx_err)?;
            ws.write_string(row, 2, &l.slot).map_err(xlsx_err)?;
            ws.write_string(row, 3, &l.shift).map_err(xlsx_err)?;
            ws.write_string(row, 4, if l.working_day { "是" } else { "否" })
                .map_err(xlsx_err)?;
            ws.write_number(row, 5, l.minutes as f64 / 60.0)
                .map_err(xlsx_err)?;
            row += 1;
        }
    }
    wb.save_to_buffer().map_err(xlsx_err)
}
