//! Deterministic generator of a left/right file pair with known differences (benchmark and tests).
//!
//! Twenty-two columns of mixed types: an integer key, invented Chinese names and addresses (some
//! with commas, so quoted), status codes, decimals, dates, timestamps, NULLs (unquoted empty
//! fields) and empty strings (`""`). The right file drops some left rows, inserts new keys and
//! changes one to three fields of some rows; the truth is returned.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Column names of the generated files.
pub const COLUMNS: [&str; 22] = [
    "subscriber_id",
    "cust_name",
    "cust_type",
    "id_doc_type",
    "id_doc_no",
    "account_id",
    "acct_balance",
    "product_code",
    "product_name",
    "status",
    "status_date",
    "open_time",
    "province",
    "city",
    "address",
    "offer_id",
    "offer_name",
    "monthly_fee",
    "credit_level",
    "channel",
    "remark",
    "updated_at",
];

/// What the generator did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// Data rows in the left file.
    pub rows_left: u64,
    /// Data rows in the right file.
    pub rows_right: u64,
    /// Left rows left out of the right file.
    pub deleted: u64,
    /// New keys in the right file.
    pub inserted: u64,
    /// Rows with at least one changed field.
    pub changed: u64,
    /// Column → changed rows where it differs.
    pub per_column: BTreeMap<String, u64>,
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SURNAMES: [&str; 12] = [
    "赵", "钱", "孙", "李", "周", "吴", "郑", "王", "冯", "陈", "褚", "卫",
];
const GIVEN: [&str; 12] = [
    "一", "二", "三", "思", "文", "明", "华", "强", "静", "敏", "磊", "洋",
];
const PROVINCES: [&str; 8] = [
    "甲省", "乙省", "丙省", "丁省", "戊省", "己省", "庚省", "辛省",
];
const OFFERS: [&str; 6] = [
    "畅享套餐A",
    "畅享套餐B",
    "宽带融合包",
    "流量月包",
    "亲情号码",
    "校园卡",
];

/// Render field `c` of row `id` (values are a function of seed, id and a variant number, so a
/// changed field is re-rendered with another variant).
fn field(seed: u64, id: u64, c: usize, variant: u64, out: &mut Vec<u8>) {
    let mut r = Rng(seed ^ id.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ ((c as u64) << 56) ^ variant);
    r.next();
    let x = r.next();
    // About 3 % NULLs and 1 % empty strings in the optional columns.
    let optional = matches!(c, 3 | 4 | 13 | 14 | 16 | 18 | 19 | 20);
    if optional && x % 100 < 3 {
        return;
    }
    if optional && x % 100 == 3 {
        out.extend_from_slice(b"\"\"");
        return;
    }
    match c {
        0 => write!(out, "{id}"),
        1 => write!(
            out,
            "{}{}{}",
            SURNAMES[(x % 12) as usize],
            GIVEN[((x >> 8) % 12) as usize],
            GIVEN[((x >> 16) % 12) as usize]
        ),
        2 => write!(out, "{}", ["个人", "政企", "家庭"][(x % 3) as usize]),
        3 => write!(out, "{}", x % 9 + 1),
        4 => write!(out, "ID{:016}", x % 10_000_000_000_000_000),
        5 => write!(out, "{}", 8_000_000_000 + id * 3 + x % 3),
        6 => write!(out, "{}.{:02}", x % 100_000, (x >> 20) % 100),
        7 => write!(out, "P{:05}", x % 50_000),
        8 => write!(out, "{}", OFFERS[(x % 6) as usize]),
        9 => write!(out, "{}", ["10", "11", "12", "20", "90"][(x % 5) as usize]),
        10 => write!(
            out,
            "20{:02}-{:02}-{:02}",
            10 + x % 16,
            1 + (x >> 8) % 12,
            1 + (x >> 16) % 28
        ),
        11 => write!(
            out,
            "20{:02}-{:02}-{:02} {:02}:{:02}:{:02}",
            10 + x % 16,
            1 + (x >> 8) % 12,
            1 + (x >> 16) % 28,
            (x >> 24) % 24,
            (x >> 32) % 60,
            (x >> 40) % 60
        ),
        12 => write!(out, "{}", PROVINCES[(x % 8) as usize]),
        13 => write!(out, "{}市", GIVEN[(x % 12) as usize]),
        14 => write!(
            out,
            "\"{}路{}号, {}栋\"",
            GIVEN[(x % 12) as usize],
            x % 999,
            (x >> 12) % 30
        ),
        15 => write!(out, "{}", 100_000 + x % 900_000),
        16 => write!(out, "{}", OFFERS[((x >> 4) % 6) as usize]),
        17 => write!(out, "{}.{:02}", x % 500, (x >> 10) % 100),
        18 => write!(out, "{}", ["A", "B", "C", "D"][(x % 4) as usize]),
        19 => write!(
            out,
            "{}",
            ["营业厅", "网上", "电话", "代理"][(x % 4) as usize]
        ),
        20 => write!(out, "备注{}", x % 1000),
        _ => write!(
            out,
            "2026-11-{:02} {:02}:{:02}:00",
            1 + x % 30,
            (x >> 8) % 24,
            (x >> 16) % 60
        ),
    }
    .unwrap_or(());
}

fn open(path: &Path) -> io::Result<Box<dyn Write>> {
    let f = std::fs::File::create(path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(flate2::write::GzEncoder::new(
            BufWriter::with_capacity(1 << 20, f),
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(BufWriter::with_capacity(1 << 20, f))
    })
}

/// Write `rows` left rows and the right file derived from them; per mille rates of deleted,
/// inserted and changed rows. Files ending in `.gz` are gzip-compressed.
pub fn generate(
    left: &Path,
    right: &Path,
    rows: u64,
    seed: u64,
    deleted_pm: u64,
    inserted_pm: u64,
    changed_pm: u64,
) -> io::Result<Truth> {
    let mut lw = open(left)?;
    let mut rw = open(right)?;
    let header = COLUMNS.join(",");
    writeln!(lw, "{header}")?;
    writeln!(rw, "{header}")?;
    let mut t = Truth {
        per_column: COLUMNS[1..].iter().map(|c| (c.to_string(), 0)).collect(),
        ..Default::default()
    };
    let mut rng = Rng(seed);
    let mut line = Vec::with_capacity(512);
    let mut changed_cols = [false; 22];
    let mut next_new = rows * 2 + 1;
    for id in 1..=rows {
        let roll = rng.below(1000);
        // Left row.
        line.clear();
        for c in 0..22 {
            if c > 0 {
                line.push(b',');
            }
            field(seed, id, c, 0, &mut line);
        }
        line.push(b'\n');
        lw.write_all(&line)?;
        t.rows_left += 1;
        if roll < deleted_pm {
            t.deleted += 1;
        } else {
            changed_cols.fill(false);
            if roll < deleted_pm + changed_pm {
                let n = 1 + rng.below(3);
                for _ in 0..n {
                    changed_cols[1 + rng.below(21) as usize] = true;
                }
            }
            line.clear();
            let mut any = false;
            for c in 0..22 {
                if c > 0 {
                    line.push(b',');
                }
                let start = line.len();
                field(seed, id, c, 0, &mut line);
                if changed_cols[c] {
                    let old = line[start..].to_vec();
                    // Re-render with other variants until the value really differs.
                    let mut v = 1;
                    loop {
                        line.truncate(start);
                        field(seed, id, c, v, &mut line);
                        if line[start..] != old[..] {
                            break;
                        }
                        v += 1;
                        if v > 50 {
                            line.truncate(start);
                            line.extend_from_slice(b"X");
                            line.extend_from_slice(&old);
                            break;
                        }
                    }
                    if let Some(n) = t.per_column.get_mut(COLUMNS[c]) {
                        *n += 1;
                    }
                    any = true;
                }
            }
            line.push(b'\n');
            rw.write_all(&line)?;
            t.rows_right += 1;
            if any {
                t.changed += 1;
            }
        }
        if rng.below(1000) < inserted_pm {
            line.clear();
            let nid = next_new;
            next_new += 1;
            for c in 0..22 {
                if c > 0 {
                    line.push(b',');
                }
                field(seed, nid, c, 0, &mut line);
            }
            line.push(b'\n');
            rw.write_all(&line)?;
            t.rows_right += 1;
            t.inserted += 1;
        }
    }
    lw.flush()?;
    rw.flush()?;
    drop(lw);
    drop(rw);
    Ok(t)
}
