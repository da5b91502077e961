//! Maps byte offsets to dotted field paths and back, using toml_edit's spans.

use std::ops::Range;

use toml_edit::{ImDocument, InlineTable, Item, Table, Value};

/// Every located key and value of one TOML document, with its dotted path.
#[derive(Debug, Default)]
pub(crate) struct SpanIndex {
    entries: Vec<(Range<usize>, String)>,
    line_starts: Vec<usize>,
    text: String,
}

impl SpanIndex {
    /// Indexes `text`; a document that does not parse yields an index that can still convert offsets to lines.
    pub(crate) fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut idx = SpanIndex {
            entries: Vec::new(),
            line_starts,
            text: text.to_string(),
        };
        if let Ok(doc) = ImDocument::parse(text) {
            idx.walk_table(doc.as_table(), "");
        }
        idx
    }

    fn push(&mut self, span: Option<Range<usize>>, path: &str) {
        if let Some(s) = span {
            self.entries.push((s, path.to_string()));
        }
    }

    fn walk_table(&mut self, t: &Table, prefix: &str) {
        for (k, _) in t.iter() {
            if let Some((key, item)) = t.get_key_value(k) {
                let path = join(prefix, k);
                self.push(key.span(), &path);
                self.walk_item(item, &path);
            }
        }
    }

    fn walk_inline(&mut self, t: &InlineTable, prefix: &str) {
        for (k, _) in t.iter() {
            if let Some((key, item)) = t.get_key_value(k) {
                let path = join(prefix, k);
                self.push(key.span(), &path);
                self.walk_item(item, &path);
            }
        }
    }

    fn walk_item(&mut self, item: &Item, path: &str) {
        match item {
            Item::None => {}
            Item::Value(v) => self.walk_value(v, path),
            Item::Table(t) => {
                self.push(t.span(), path);
                self.walk_table(t, path);
            }
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.push(t.span(), &p);
                    self.walk_table(t, &p);
                }
            }
        }
    }

    fn walk_value(&mut self, v: &Value, path: &str) {
        self.push(v.span(), path);
        match v {
            Value::Array(a) => {
                for (i, e) in a.iter().enumerate() {
                    self.walk_value(e, &format!("{path}[{i}]"));
                }
            }
            Value::InlineTable(t) => self.walk_inline(t, path),
            _ => {}
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, column)
    }

    /// The innermost path whose key or value covers `offset`, else the nearest one before it.
    pub(crate) fn path_at(&self, offset: usize) -> Option<&str> {
        let covering = self
            .entries
            .iter()
            .filter(|(r, _)| r.start <= offset && (offset < r.end || r.start == r.end))
            .min_by_key(|(r, _)| r.end - r.start);
        covering
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|(r, _)| r.start <= offset)
                    .max_by_key(|(r, _)| r.start)
            })
            .map(|(_, p)| p.as_str())
    }

    /// Start offset of `path`, or of its nearest existing ancestor (a missing field is reported at its parent).
    pub(crate) fn offset_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            let hit = self
                .entries
                .iter()
                .filter(|(_, q)| q == p)
                .map(|(r, _)| r.start)
                .min();
            if hit.is_some() {
                return hit;
            }
            p = parent(p)?;
        }
    }
}

/// Appends a key to a dotted path, quoting nothing: pack keys are plain identifiers.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The path without its last `.key` or `[i]` component.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if let Some(stripped) = path.strip_suffix(']') {
        return stripped.rfind('[').map(|i| &path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a = 1\n[fl1]\nusers = { min = 50, max = 500 }\n\n[[role]]\nkey = \"x\"\npermissions = [\"a\",\n  \"b\"]\n";

    #[test]
    fn paths_map_to_lines() {
        let idx = SpanIndex::new(DOC);
        let line = |p: &str| idx.offset_of(p).map(|o| idx.line_col(o).0);
        assert_eq!(line("a"), Some(1));
        assert_eq!(line("fl1.users.min"), Some(3));
        assert_eq!(line("role[0].permissions[1]"), Some(8));
        assert_eq!(line("role[0].missing"), Some(5));
        assert_eq!(line("nowhere"), None);
    }

    #[test]
    fn offsets_map_to_innermost_path() {
        let idx = SpanIndex::new(DOC);
        let off = DOC.find("500").unwrap();
        assert_eq!(idx.path_at(off), Some("fl1.users.max"));
        assert_eq!(
            idx.line_col(off),
            (3, DOC.lines().nth(2).unwrap().find("500").unwrap() + 1)
        );
    }

    #[test]
    fn parent_strips_one_component() {
        assert_eq!(parent("a.b[3]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
