//! Difference details: one row per difference (kind, key, column, left value, right value).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Difference, ReconError};

/// Receives differences as they are found.
pub trait DetailSink {
    /// One difference.
    fn write(&mut self, d: &Difference) -> Result<(), ReconError>;
    /// Flush and close.
    fn finish(self: Box<Self>) -> Result<(), ReconError>;
}

/// Open a details writer by extension: `.xlsx` → XLSX, anything else → CSV (UTF-8 with BOM so
/// spreadsheet programs show Chinese text correctly).
pub fn open(path: &Path) -> Result<Box<dyn DetailSink + Send>, ReconError> {
    let is_xlsx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    if is_xlsx {
        Ok(Box::new(XlsxDetails::new(path)))
    } else {
        Ok(Box::new(CsvDetails::create(path)?))
    }
}

const HEADER: [&str; 5] = ["kind", "key", "column", "left", "right"];

/// CSV details (RFC 4180 quoting; NULL is an unquoted empty field, '' a quoted one).
pub struct CsvDetails {
    path: PathBuf,
    out: BufWriter<File>,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ReconError + '_ {
    move |e| ReconError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

impl CsvDetails {
    /// Create (truncate) the file and write the header.
    pub fn create(path: &Path) -> Result<Self, ReconError> {
        let f = File::create(path).map_err(io_err(path))?;
        let mut out = BufWriter::with_capacity(1 << 16, f);
        out.write_all(b"\xEF\xBB\xBF").map_err(io_err(path))?;
        out.write_all(HEADER.join(",").as_bytes())
            .and_then(|_| out.write_all(b"\r\n"))
            .map_err(io_err(path))?;
        Ok(CsvDetails {
            path: path.to_path_buf(),
            out,
        })
    }
}

/// Quote a CSV field when needed; None → empty unquoted (NULL), Some("") → `""`.
pub fn csv_field(v: Option<&str>, out: &mut Vec<u8>) {
    match v {
        None => {}
        Some(s) => {
            let needs = s.is_empty() || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
            if needs {
                out.push(b'"');
                for b in s.bytes() {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

impl DetailSink for CsvDetails {
    fn write(&mut self, d: &Difference) -> Result<(), ReconError> {
        let mut line = Vec::with_capacity(128);
        line.extend_from_slice(d.kind.as_str().as_bytes());
        line.push(b',');
        csv_field(Some(&d.key), &mut line);
        line.push(b',');
        csv_field(d.column.as_deref(), &mut line);
        line.push(b',');
        csv_field(d.left.as_deref(), &mut line);
        line.push(b',');
        csv_field(d.right.as_deref(), &mut line);
        line.extend_from_slice(b"\r\n");
        self.out.write_all(&line).map_err(io_err(&self.path))
    }
    fn finish(mut self: Box<Self>) -> Result<(), ReconError> {
        let path = self.path.clone();
        self.out.flush().map_err(io_err(&path))?;
        self.out
            .into_inner()
            .map_err(|e| io_err(&path)(e.into_error()))?
            .sync_all()
            .map_err(io_err(&path))
    }
}

/// XLSX details; a sheet holds at most 1,048,575 data rows, further rows go to new sheets.
pub struct XlsxDetails {
    path: PathBuf,
    book: rust_xlsxwriter::Workbook,
    row: u32,
    sheets: usize,
}

const XLSX_MAX_ROWS: u32 = 1_048_575;

impl XlsxDetails {
    /// A new workbook written to `path` on finish.
    pub fn new(path: &Path) -> Self {
        XlsxDetails {
            path: path.to_path_buf(),
            book: rust_xlsxwriter::Workbook::new(),
            row: XLSX_MAX_ROWS,
            sheets: 0,
        }
    }

    fn xerr(&self, e: rust_xlsxwriter::XlsxError) -> ReconError {
        ReconError::Io {
            path: self.path.display().to_string(),
            source: io::Error::other(e.to_string()),
        }
    }
}

impl DetailSink for XlsxDetails {
    fn write(&mut self, d: &Difference) -> Result<(), ReconError> {
        if self.row >= XLSX_MAX_ROWS {
            self.sheets += 1;
            let name = format!("differences{}", self.sheets);
            let ws = self.book.add_worksheet();
            let r = ws.set_name(&name).map(|_| ()).and_then(|_| {
                for (c, h) in HEADER.iter().enumerate() {
                    ws.write_string(0, c as u16, *h)?;
                }
                Ok(())
            });
            r.map_err(|e| self.xerr(e))?;
            self.row = 0;
        }
        self.row += 1;
        let row = self.row;
        let n = self.book.worksheets_mut().len();
        let ws = &mut self.book.worksheets_mut()[n - 1];
        let vals = [
            Some(d.kind.as_str()),
            Some(d.key.as_str()),
            d.column.as_deref(),
            d.left.as_deref(),
            d.right.as_deref(),
        ];
        let mut res = Ok(());
        for (c, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                if let Err(e) = ws.write_string(row, c as u16, *v) {
                    res = Err(e);
                    break;
                }
            }
        }
        res.map_err(|e| self.xerr(e))
    }
    fn finish(mut self: Box<Self>) -> Result<(), ReconError> {
        if self.sheets == 0 {
            let ws = self.book.add_worksheet();
            let r = ws.set_name("differences1").map(|_| ()).and_then(|_| {
                for (c, h) in HEADER.iter().enumerate() {
                    ws.write_string(0, c as u16, *h)?;
                }
                Ok(())
            });
            r.map_err(|e| self.xerr(e))?;
        }
        let path = self.path.clone();
        self.book.save(&path).map_err(|e| self.xerr(e))
    }
}
