//! Markdown (the subset docs/ uses) to a man page in roff: headings become
//! sections, tables of keys become tagged paragraphs, code becomes bold or
//! literal blocks. Parsed with pulldown-cmark; only the roff is ours.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

pub struct Title<'a> {
    pub name: &'a str,
    pub section: &'a str,
    pub summary: &'a str,
    pub version: &'a str,
}

/// Escapes text for roff: backslashes, hyphens (so they stay hyphens), and
/// non-ASCII characters as `\[uXXXX]`.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            // Any character, whatever the input encoding groff assumes.
            c if !c.is_ascii() => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
            _ => out.push(c),
        }
    }
    out
}

/// Output being built, with the rule that requests start on a new line and
/// text lines never start with a control character.
#[derive(Default)]
struct Roff {
    out: String,
}

impl Roff {
    fn request(&mut self, request: &str) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(request);
        self.out.push('\n');
    }

    fn text(&mut self, text: &str) {
        let at_line_start = self.out.is_empty() || self.out.ends_with('\n');
        if at_line_start && (text.starts_with('.') || text.starts_with('\'')) {
            self.out.push_str("\\&");
        }
        self.out.push_str(text);
    }
}

/// One table being read: the header cells, then rows of cells.
#[derive(Default)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    in_header: bool,
    cell: Option<String>,
}

pub fn to_man_page(markdown: &str, title: &Title<'_>) -> String {
    let mut roff = Roff::default();
    roff.request(&format!(
        ".TH {} {} \"\" \"raftmasq {}\" \"raftmasq manual\"",
        title.name.to_uppercase(),
        title.section,
        title.version
    ));
    roff.request(".SH NAME");
    roff.text(&format!("{} \\- {}\n", escape(title.name), title.summary));
    roff.request(".SH DESCRIPTION");

    let options = Options::ENABLE_TABLES;
    let mut table: Option<Table> = None;
    let mut heading: Option<HeadingLevel> = None;
    let mut heading_text = String::new();
    let mut list_depth = 0usize;
    let mut in_code_block = false;
    let mut link_targets: Vec<String> = Vec::new();
    for event in Parser::new_ext(markdown, options) {
        // Inside a table cell everything is collected as plain-ish text.
        if let Some(t) = table.as_mut()
            && let Some(cell) = t.cell.as_mut()
        {
            match &event {
                Event::Text(text) => cell.push_str(&escape(text)),
                Event::Code(code) => cell.push_str(&format!("\\fB{}\\fR", escape(code))),
                Event::SoftBreak | Event::HardBreak => cell.push(' '),
                Event::End(TagEnd::TableCell) => {
                    let done = t.cell.take().unwrap_or_default();
                    if t.in_header {
                        t.header.push(done);
                    } else if let Some(row) = t.rows.last_mut() {
                        row.push(done);
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some(level);
                heading_text.clear();
            }
            Event::End(TagEnd::Heading(level)) => {
                heading = None;
                match level {
                    // The document title: the page's NAME says it already.
                    HeadingLevel::H1 => {}
                    HeadingLevel::H2 => {
                        roff.request(&format!(".SH \"{}\"", heading_text.to_uppercase()))
                    }
                    _ => roff.request(&format!(".SS \"{heading_text}\"")),
                }
            }
            Event::Text(text) if heading.is_some() => heading_text.push_str(&escape(&text)),
            Event::Code(code) if heading.is_some() => heading_text.push_str(&escape(&code)),
            // In a list item the item's own request starts the paragraph.
            Event::Start(Tag::Paragraph) if list_depth == 0 => roff.request(".PP"),
            Event::End(TagEnd::Paragraph) => roff.text("\n"),
            Event::Start(Tag::List(_)) => {
                list_depth += 1;
                roff.request(".RS");
            }
            Event::End(TagEnd::List(_)) => {
                list_depth = list_depth.saturating_sub(1);
                roff.request(".RE");
            }
            Event::Start(Tag::Item) => roff.request(".IP \\(bu 2"),
            Event::End(TagEnd::Item) => roff.text("\n"),
            Event::Start(Tag::CodeBlock(_)) => {
                in_code_block = true;
                roff.request(".PP");
                roff.request(".RS 4");
                roff.request(".nf");
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code_block = false;
                roff.request(".fi");
                roff.request(".RE");
            }
            Event::Text(text) if in_code_block => {
                for line in text.lines() {
                    roff.text(&escape(line));
                    roff.text("\n");
                }
            }
            Event::Text(text) => roff.text(&escape(&text).replace('\n', " ")),
            Event::Code(code) => roff.text(&format!("\\fB{}\\fR", escape(&code))),
            Event::Start(Tag::Emphasis) => roff.text("\\fI"),
            Event::End(TagEnd::Emphasis) | Event::End(TagEnd::Strong) => roff.text("\\fR"),
            Event::Start(Tag::Strong) => roff.text("\\fB"),
            Event::Start(Tag::Link { dest_url, .. }) => link_targets.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                // Another page of the docs: name it, as a man page would.
                if let Some(target) = link_targets.pop()
                    && !target.starts_with('#')
                    && !target.is_empty()
                {
                    let file = target.split('#').next().unwrap_or(&target);
                    roff.text(&format!(" (\\fI{}\\fR)", escape(file)));
                }
            }
            Event::SoftBreak => roff.text(" "),
            Event::HardBreak => roff.request(".br"),
            Event::Start(Tag::Table(_)) => table = Some(Table::default()),
            Event::Start(Tag::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.in_header = true;
                }
            }
            Event::End(TagEnd::TableHead) => {
                if let Some(t) = table.as_mut() {
                    t.in_header = false;
                }
            }
            Event::Start(Tag::TableRow) => {
                if let Some(t) = table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell) => {
                if let Some(t) = table.as_mut() {
                    t.cell = Some(String::new());
                }
            }
            Event::End(TagEnd::Table) => {
                if let Some(t) = table.take() {
                    render_table(&mut roff, &t);
                }
            }
            Event::Rule => roff.request(".PP"),
            _ => {}
        }
    }
    roff.out
}

/// A table of keys as tagged paragraphs: the first cell as the tag, the
/// middle cells as `header: value` facts, the last cell as the text.
fn render_table(roff: &mut Roff, table: &Table) {
    for row in table.rows.iter().filter(|row| !row.is_empty()) {
        roff.request(".TP");
        roff.text(&row[0]);
        roff.text("\n");
        let last = row.len() - 1;
        if last == 0 {
            continue;
        }
        let facts: Vec<String> = row[1..last]
            .iter()
            .enumerate()
            .filter(|(_, value)| !value.is_empty())
            .map(|(i, value)| match table.header.get(i + 1) {
                Some(name) if !name.is_empty() => format!("{name}: {value}"),
                _ => value.clone(),
            })
            .collect();
        if !facts.is_empty() {
            roff.text(&format!("{}.\n", facts.join("; ")));
            roff.request(".br");
        }
        roff.text(&row[last]);
        roff.text("\n");
    }
}
