//! From text to the raw, typed file: every unknown key and every value of
//! the wrong type at once, not only the first one serde meets.
//!
//! serde stops at the first bad key. So each bad key is reported, taken out
//! of a copy of the document, and the copy read again, until it reads
//! cleanly or the next problem is one that cannot be taken out (a syntax
//! error, a missing key). Validation then runs on what was read, so its
//! problems join the list too. Positions always refer to the original text.

use crate::error::{self, Problem};
use crate::locate::{Locator, Segment, parse_path};
use crate::raw::RawConfig;

/// More problems than this in one file is not worth reading further.
const MAX_TYPE_PROBLEMS: usize = 64;

/// The raw configuration with the problems met on the way, or, when nothing
/// usable could be read, only the problems.
pub(crate) fn raw_config(
    text: &str,
    locator: &Locator<'_>,
) -> Result<(RawConfig, Vec<Problem>), Vec<Problem>> {
    let first = match toml::from_str::<RawConfig>(text) {
        Ok(raw) => return Ok((raw, Vec::new())),
        Err(error) => error::from_toml(&error, locator),
    };
    // Only a syntactically valid document can be edited and read again.
    let Ok(mut document) = toml::from_str::<toml::Table>(text) else {
        return Err(vec![first]);
    };
    let mut problems = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut problem = first;
    for _ in 0..MAX_TYPE_PROBLEMS {
        let missing = problem.reason.starts_with("missing key");
        if missing && removed.contains(&problem.key) {
            // We took out a value of the wrong type; it is already reported.
            return Err(problems);
        }
        if missing || problem.key.is_empty() || !remove(&mut document, &problem.key) {
            problems.push(problem);
            return Err(problems);
        }
        removed.push(problem.key.clone());
        problems.push(problem);
        let Ok(edited) = toml::to_string(&document) else {
            return Err(problems);
        };
        match toml::from_str::<RawConfig>(&edited) {
            Ok(raw) => return Ok((raw, problems)),
            Err(error) => {
                let mut next = error::from_toml(&error, &Locator::new(&edited));
                next.position = locator.locate(&next.key);
                problem = next;
            }
        }
    }
    Err(problems)
}

/// Takes `path` (`dhcp.option[1].code`) out of `document`; false if absent.
fn remove(document: &mut toml::Table, path: &str) -> bool {
    remove_in_table(document, &parse_path(path))
}

fn remove_in_table(table: &mut toml::Table, path: &[Segment]) -> bool {
    match path {
        [Segment::Key(key)] => table.remove(key.as_str()).is_some(),
        [Segment::Key(key), rest @ ..] => table
            .get_mut(key.as_str())
            .is_some_and(|value| remove_in_value(value, rest)),
        _ => false,
    }
}

fn remove_in_value(value: &mut toml::Value, path: &[Segment]) -> bool {
    match (value, path) {
        (toml::Value::Table(table), path) => remove_in_table(table, path),
        (toml::Value::Array(items), [Segment::Index(index)]) if *index < items.len() => {
            items.remove(*index);
            true
        }
        (toml::Value::Array(items), [Segment::Index(index), rest @ ..]) => items
            .get_mut(*index)
            .is_some_and(|item| remove_in_value(item, rest)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_and_array_items_are_removed() {
        let mut document: toml::Table = toml::from_str(
            "[dhcp]\nport = 67\n[[dhcp.option]]\ncode = 1\n[[dhcp.option]]\ncode = 2\nbad = 3\n",
        )
        .unwrap();
        assert!(remove(&mut document, "dhcp.option[1].bad"));
        assert!(remove(&mut document, "dhcp.port"));
        assert!(!remove(&mut document, "dhcp.port"));
        assert!(!remove(&mut document, "dns.listen"));
        assert_eq!(
            toml::to_string(&document).unwrap(),
            "[[dhcp.option]]\ncode = 1\n\n[[dhcp.option]]\ncode = 2\n"
        );
    }
}
