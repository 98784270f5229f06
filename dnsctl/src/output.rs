//! Human output: aligned tables, relative times, and colour only where it helps
//! (a terminal, and never with `NO_COLOR`).

use std::fmt::Write as _;

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
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell {
            text: text.into(),
            tone,
        }
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
