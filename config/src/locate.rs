//! Maps byte offsets in the TOML text to key paths (`dhcp.range`) and back to
//! line:column.
//!
//! toml's deserializer errors carry only a byte span, and validation errors only
//! a key path; both are more useful to an operator as `file:line:col: key`. The
//! document is parsed a second time into toml's spanned `DeTable` for this, only
//! when there is something to report or locate, so the happy path stays one parse.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Renders segments as `dhcp.option[2].code`.
fn render(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(index) => {
                out.push_str(&format!("[{index}]"));
            }
        }
    }
    out
}

/// Splits `dhcp.option[2].code` back into segments.
pub(crate) fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            segments.push(Segment::Key(rest[..open].to_string()));
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(index) = rest[1..close].parse() {
                    segments.push(Segment::Index(index));
                }
                rest = &rest[close + 1..];
            }
        } else {
            segments.push(Segment::Key(rest.to_string()));
        }
    }
    segments
}

/// The TOML text plus its spanned parse, when the text is syntactically valid.
pub(crate) struct Locator<'i> {
    text: &'i str,
    table: Option<DeTable<'i>>,
}

impl<'i> Locator<'i> {
    pub(crate) fn new(text: &'i str) -> Self {
        let table = DeTable::parse(text).ok().map(|t| t.into_inner());
        Locator { text, table }
    }

    /// 1-based line and column of a byte offset (column counts characters).
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// The deepest key path whose key or value covers `offset`, e.g. `dhcp.range`.
    pub(crate) fn path_at(&self, offset: usize) -> Option<String> {
        let table = self.table.as_ref()?;
        let mut path = Vec::new();
        find_in_table(table, offset, &mut path).then(|| render(&path))
    }

    /// Where the value of `path` (or, failing that, its closest present parent)
    /// starts, as line and column.
    pub(crate) fn locate(&self, path: &str) -> Option<(usize, usize)> {
        let table = self.table.as_ref()?;
        let segments = parse_path(path);
        let mut span: Option<Range<usize>> = None;
        let mut current: Option<&DeValue<'_>> = None;
        for (depth, segment) in segments.iter().enumerate() {
            let next = match (segment, depth, current) {
                (Segment::Key(key), 0, _) => table.get(key.as_str()),
                (Segment::Key(key), _, Some(DeValue::Table(t))) => t.get(key.as_str()),
                (Segment::Index(i), _, Some(DeValue::Array(a))) => a.get(*i),
                _ => None,
            };
            match next {
                Some(value) => {
                    span = Some(value.span());
                    current = Some(value.get_ref());
                }
                None => break,
            }
        }
        span.map(|s| self.line_col(s.start))
    }
}

fn covers(span: &Range<usize>, offset: usize) -> bool {
    // An empty span (end of input) still "covers" its own start.
    span.start <= offset && (offset < span.end || span.is_empty() && offset == span.start)
}

/// Depth-first search; standard `[table]` headers have a span covering only the
/// header, so every table is searched whether or not its span covers `offset`.
fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if find_in_value(value.get_ref(), offset, path)
            || covers(&key.span(), offset)
            || covers(&value.span(), offset)
        {
            return true;
        }
        path.pop();
    }
    false
}

fn find_in_value(value: &DeValue<'_>, offset: usize, path: &mut Vec<Segment>) -> bool {
    match value {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                path.push(Segment::Index(index));
                if find_in_value(item.get_ref(), offset, path) || covers(&item.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[node]\nid = 1\n\n[dhcp]\nrange = \"a-b\"\n\n[[dhcp.option]]\ncode = 3\n\n[[dhcp.option]]\ncode = 300\n";

    #[test]
    fn offsets_map_to_the_deepest_key() {
        let locator = Locator::new(DOC);
        let at = |needle: &str| DOC.find(needle).unwrap();
        assert_eq!(
            locator.path_at(at("\"a-b\"")).as_deref(),
            Some("dhcp.range")
        );
        assert_eq!(
            locator.path_at(at("300")).as_deref(),
            Some("dhcp.option[1].code")
        );
        assert_eq!(locator.path_at(at("id")).as_deref(), Some("node.id"));
        assert_eq!(locator.path_at(at("[node]")).as_deref(), Some("node"));
    }

    #[test]
    fn paths_map_back_to_line_and_column() {
        let locator = Locator::new(DOC);
        assert_eq!(locator.locate("dhcp.range"), Some((5, 9)));
        assert_eq!(locator.locate("dhcp.option[1].code"), Some((11, 8)));
        // A missing key falls back to its parent table's header.
        assert_eq!(locator.locate("node.data_dir"), Some((1, 1)));
        assert_eq!(locator.locate("nowhere"), None);
    }

    #[test]
    fn line_and_column_count_characters() {
        let locator = Locator::new("a = \"é\"\nb = 1\n");
        assert_eq!(locator.line_col(0), (1, 1));
        assert_eq!(locator.line_col("a = \"é\"\nb".len()), (2, 2));
    }
}
