//! The crate's error: every problem names the file, the key and the reason.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::locate::Locator;

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path as written in the file, e.g. `dhcp.range` or `dhcp.option[1].code`;
    /// empty for TOML syntax errors that precede any key.
    pub key: String,
    /// 1-based line and column of the offending value, when known.
    pub position: Option<(usize, usize)>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration (or its token file is unusable).
    #[error("{}", Listing { file, problems })]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The individual problems (empty for `Read`).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            ConfigError::Read { .. } => &[],
        }
    }

    pub(crate) fn single(
        file: &Path,
        key: &str,
        position: Option<(usize, usize)>,
        reason: String,
    ) -> Self {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            problems: vec![Problem {
                key: key.to_string(),
                position,
                reason,
            }],
        }
    }
}

/// `FILE:LINE:COL: KEY: reason`, one problem per line, like a compiler.
struct Listing<'a> {
    file: &'a Path,
    problems: &'a [Problem],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some((line, column)) = problem.position {
                write!(f, ":{line}:{column}")?;
            }
            if !problem.key.is_empty() {
                write!(f, ": {}", problem.key)?;
            }
            write!(f, ": {}", problem.reason)?;
        }
        Ok(())
    }
}

/// Collects problems during validation, locating each key in the text.
pub(crate) struct Problems<'a> {
    locator: &'a Locator<'a>,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(locator: &'a Locator<'a>) -> Self {
        Problems {
            locator,
            list: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, key: &str, reason: impl Into<String>) {
        self.list.push(Problem {
            key: key.to_string(),
            position: self.locator.locate(key),
            reason: reason.into(),
        });
    }

    /// Problems found before validation (unknown keys, wrong types).
    pub(crate) fn extend(&mut self, problems: Vec<Problem>) {
        self.list.extend(problems);
    }

    pub(crate) fn locate(&self, key: &str) -> Option<(usize, usize)> {
        self.locator.locate(key)
    }

    pub(crate) fn into_result<T>(self, file: &Path, value: T) -> Result<T, ConfigError> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                problems: self.list,
            })
        }
    }
}

/// Turns toml's error (a message and a byte span) into a located, keyed problem,
/// rewording serde's "field" as the operator's "key".
pub(crate) fn from_toml(error: &toml::de::Error, locator: &Locator<'_>) -> Problem {
    let offset = error.span().map(|span| span.start);
    let position = offset.map(|offset| locator.line_col(offset));
    let located = offset
        .and_then(|offset| locator.path_at(offset))
        .unwrap_or_default();
    let message = error.message().trim_end();

    if let Some((name, expected)) = field_message(message, "unknown field `") {
        // The span is the unknown key itself, so its parent is the table.
        let parent = located
            .strip_suffix(name)
            .map(|p| p.trim_end_matches('.'))
            .unwrap_or("");
        let expected = expected
            .map(|e| format!("; expected {e}"))
            .unwrap_or_default();
        let key = if located.is_empty() {
            name.to_string()
        } else {
            located.clone()
        };
        return Problem {
            key,
            position,
            reason: format!("unknown key `{name}` {}{expected}", table_name(parent)),
        };
    }
    if let Some((name, _)) = field_message(message, "missing field `") {
        // The span is the header of the table that lacks the key, or empty
        // (0..0) when the document's top level lacks it.
        let top_level = error.span().is_none_or(|span| span.is_empty());
        let located = if top_level { String::new() } else { located };
        let key = if located.is_empty() {
            name.to_string()
        } else {
            format!("{located}.{name}")
        };
        return Problem {
            key,
            position,
            reason: format!("missing key `{name}` {}", table_name(&located)),
        };
    }
    Problem {
        key: located,
        position,
        reason: message.to_string(),
    }
}

/// Splits "unknown field `x`, expected `a` or `b`" into ("x", Some("`a` or `b`")).
fn field_message<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, Option<&'m str>)> {
    let rest = message.strip_prefix(prefix)?;
    let (name, rest) = rest.split_once('`')?;
    let expected = rest.strip_prefix(", expected ").filter(|e| !e.is_empty());
    Some((name, expected))
}

fn table_name(path: &str) -> String {
    if path.is_empty() {
        "at the top level".to_string()
    } else if path.contains('[') {
        format!("in {path}")
    } else {
        format!("in [{path}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_puts_file_position_key_and_reason_on_one_line() {
        let error = ConfigError::Invalid {
            file: "lxd1.toml".into(),
            problems: vec![
                Problem {
                    key: "dhcp.range".into(),
                    position: Some((17, 9)),
                    reason: "bad".into(),
                },
                Problem {
                    key: "cluster.token_file".into(),
                    position: None,
                    reason: "missing".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "lxd1.toml:17:9: dhcp.range: bad\nlxd1.toml: cluster.token_file: missing"
        );
    }

    #[test]
    fn field_messages_split() {
        assert_eq!(
            field_message("unknown field `x`, expected `a` or `b`", "unknown field `"),
            Some(("x", Some("`a` or `b`")))
        );
        assert_eq!(
            field_message("missing field `id`", "missing field `"),
            Some(("id", None))
        );
        assert_eq!(field_message("invalid type", "missing field `"), None);
    }
}
