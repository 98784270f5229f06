//! Human output: aligned tables, relative times, and colour only where it helps
//! (a terminal, and never with `NO_COLOR`); and [`terminal_safe`], which every
//! byte dnsctl prints passes through.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` made safe to print on a terminal: every control character but
/// newline and tab (C0, DEL, C1, so every ESC sequence) and every bidi
/// override is written as a `\u00XX` escape. Hostnames come from DHCP clients
/// (option 12 is any bytes a container sends), so without this `dnsctl
/// leases` would run an attacker's escape sequences in the operator's
/// terminal (retitle it, move the cursor, hide lines). The escape is JSON's
/// own, so JSON output stays valid JSON with the same meaning (serde_json
/// leaves DEL and C1 raw). With `colour`, the colour codes [`table`] writes
/// itself are kept; data cannot carry one, since each [`Cell`] is made safe
/// before it is painted.
pub fn terminal_safe(text: &str, colour: bool) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if colour
            && let Some(code) = OWN_COLOUR_CODES
                .iter()
                .find(|code| rest.starts_with(**code))
        {
            out.push_str(code);
            rest = &rest[code.len()..];
            continue;
        }
        if is_unsafe(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// The SGR sequences [`paint`] writes: reset, dim, red, green, yellow.
const OWN_COLOUR_CODES: [&str; 5] = ["\x1b[0m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m"];

fn is_unsafe(c: char) -> bool {
    let bidi_override = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    (c.is_control() && c != '\n' && c != '\t') || bidi_override
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn use_colour(is_tty: bool, no_color: Option<&str>) -> bool {
    is_tty && no_color.is_none_or(str::is_empty)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
    Dim,
}

/// A cell's text and how to colour it; the width ignores the colour codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    /// A cell of `text`, made [`terminal_safe`] (no colour of its own) so
    /// that widths count what is printed and nothing in it is painted over.
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        let text: String = text.into();
        let text = match terminal_safe(&text, false) {
            Cow::Borrowed(_) => text,
            Cow::Owned(safe) => safe,
        };
        Cell { text, tone }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text, Tone::Plain)
    }
}

/// Renders rows under `headers`, each column as wide as its widest cell, two
/// spaces apart, no trailing spaces.
pub fn table(headers: &[&str], rows: &[Vec<Cell>], colour: bool) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.text.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<Cell> = headers
        .iter()
        .map(|h| Cell::new(h.to_uppercase(), Tone::Dim))
        .collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().take(columns).enumerate() {
            let last = index + 1 == columns.min(row.len());
            line.push_str(&paint(&cell.text, cell.tone, colour));
            if !last {
                let pad = widths[index] - cell.text.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn paint(text: &str, tone: Tone, colour: bool) -> String {
    let code = match tone {
        _ if !colour => return text.to_string(),
        Tone::Plain => return text.to_string(),
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "31",
        Tone::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A duration from now in the largest unit that keeps it short: `42s`, `42m`,
/// `3h12m`, `2d4h`; in the past, `ended 5m ago`.
pub fn relative(from_now_ms: i128) -> String {
    if from_now_ms < 0 {
        return format!("ended {} ago", compact((-from_now_ms) as u128 / 1000));
    }
    // Round up: a lease with 0.4 s left has not ended.
    compact((from_now_ms as u128).div_ceil(1000))
}

fn compact(secs: u128) -> String {
    const MIN: u128 = 60;
    const HOUR: u128 = 60 * MIN;
    const DAY: u128 = 24 * HOUR;
    match secs {
        s if s < MIN => format!("{s}s"),
        s if s < HOUR => format!("{}m", s / MIN),
        s if s < DAY => match (s % HOUR) / MIN {
            0 => format!("{}h", s / HOUR),
            m => format!("{}h{m}m", s / HOUR),
        },
        s => match (s % DAY) / HOUR {
            0 => format!("{}d", s / DAY),
            h => format!("{}d{h}h", s / DAY),
        },
    }
}

/// `-` for an absent value.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escape_sequences_are_escaped() {
        let hostname = "evil\x1b]0;pwned\x07\x1b[2J\r\u{9b}31m\x7f\u{202e}txt";
        let safe = terminal_safe(hostname, false);
        assert_eq!(
            safe,
            "evil\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u009b31m\\u007f\\u202etxt"
        );
        assert!(!safe.chars().any(|c| c.is_control()));
        assert!(matches!(
            terminal_safe("web-1\tok\n", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(terminal_safe("ünïcode ✓", true), "ünïcode ✓");
    }

    #[test]
    fn only_our_own_colour_codes_survive_and_only_with_colour() {
        let painted = paint("bound", Tone::Good, true);
        assert_eq!(terminal_safe(&painted, true), painted);
        assert_eq!(terminal_safe(&painted, false), "\\u001b[32mbound\\u001b[0m");
        // Other SGR codes are not ours: concealed text, blinking.
        assert_eq!(terminal_safe("\x1b[8mx", true), "\\u001b[8mx");
    }

    #[test]
    fn escaped_json_stays_valid_json_with_the_same_value() {
        let value = serde_json::json!({ "requested_hostname": "a\u{7f}b\u{9b}c\x1bd" });
        let text = serde_json::to_string(&value).unwrap();
        let safe = terminal_safe(&text, false);
        assert!(!safe.chars().any(|c| c.is_control()));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn table_cells_carry_no_control_characters_and_align_on_what_is_printed() {
        let rows = vec![vec![Cell::from("a\x1b[2Jb"), Cell::from("x")]];
        let text = table(&["name", "other"], &rows, true);
        assert!(text.contains("a\\u001b[2Jb  x"), "{text}");
        assert!(!text.contains("\x1b[2J"));
    }

    #[test]
    fn relative_times_are_short_and_round_up() {
        assert_eq!(relative(400), "1s");
        assert_eq!(relative(42_000), "42s");
        assert_eq!(relative(42 * 60_000), "42m");
        assert_eq!(relative(3_600_000), "1h");
        assert_eq!(relative(3 * 3_600_000 + 12 * 60_000), "3h12m");
        assert_eq!(relative(2 * 86_400_000 + 4 * 3_600_000 + 1), "2d4h");
        assert_eq!(relative(86_400_000), "1d");
        assert_eq!(relative(0), "0s");
        assert_eq!(relative(-300_000), "ended 5m ago");
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let rows = vec![
            vec![Cell::from("10.0.0.10"), Cell::from("web"), Cell::from("")],
            vec![
                Cell::from("10.0.0.9"),
                Cell::from("database"),
                Cell::from("x"),
            ],
        ];
        let text = table(&["address", "name", "note"], &rows, false);
        assert_eq!(
            text,
            "ADDRESS    NAME      NOTE\n\
             10.0.0.10  web\n\
             10.0.0.9   database  x\n"
        );
    }

    #[test]
    fn colour_codes_do_not_break_alignment() {
        let rows = vec![
            vec![Cell::new("up", Tone::Good), Cell::from("a")],
            vec![Cell::new("down", Tone::Bad), Cell::from("b")],
        ];
        let text = table(&["s", "x"], &rows, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "\x1b[32mup\x1b[0m    a");
        assert_eq!(lines[2], "\x1b[31mdown\x1b[0m  b");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("")));
        assert!(!use_colour(true, Some("1")));
        assert!(!use_colour(false, None));
    }
}
