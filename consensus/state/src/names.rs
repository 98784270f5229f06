//! Hostnames: normalisation of what clients send, and the index that finds the
//! first free `name-N` suffix in O(log n).

use std::borrow::Cow;
use std::collections::BTreeMap;

use compact_str::CompactString;

use crate::pool::IntervalSet;

/// Longest DNS label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// The DNS label a client's hostname becomes: its first label, lowercased.
/// `None` if that label is not a valid hostname label (RFC 952/1123: 1–63
/// letters, digits and hyphens, not starting or ending with a hyphen); such a
/// client is granted no name, as dnsmasq does.
pub fn normalize_hostname(raw: &str) -> Option<String> {
    let label = raw.split('.').next().unwrap_or_default();
    is_valid_label(label).then(|| label.to_ascii_lowercase())
}

/// A hostname label: 1–63 ASCII letters, digits or hyphens, no hyphen at either end.
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// The name an integration gives a machine (`NameMac`): one label, or two
/// for LXD's `NAME.PROJECT` (an instance outside the default project, named
/// as LXD's own DNS names it), lowercased. `None` unless every label is a
/// valid hostname label.
pub fn normalize_machine_name(raw: &str) -> Option<String> {
    let mut labels = raw.split('.');
    let first = labels.next()?;
    let second = labels.next();
    if labels.next().is_some()
        || !is_valid_label(first)
        || second.is_some_and(|l| !is_valid_label(l))
    {
        return None;
    }
    Some(raw.to_ascii_lowercase())
}

/// A granted name: a label, or `label.label` (see [`normalize_machine_name`]).
pub fn is_valid_host_name(name: &str) -> bool {
    normalize_machine_name(name).is_some_and(|normal| normal == name)
}

/// `c1.web` → (`c1`, `.web`); `c1` → (`c1`, ``). The policy suffixes the
/// first label: `c1-2.web`.
fn split_first_label(name: &str) -> (&str, &str) {
    match name.find('.') {
        Some(dot) => name.split_at(dot),
        None => (name, ""),
    }
}

/// `name` as the lowercase key the name indexes use. DNS looks names up on
/// every query, almost always in lowercase already: copy only for a capital.
pub(crate) fn lowercase_key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// `base-n`, with `base` trimmed so the label stays within 63 characters
/// (`label-n.project` for a two-label name).
pub(crate) fn suffixed(base: &str, n: u32) -> String {
    let (label, rest) = split_first_label(base);
    format!("{}-{n}{rest}", trimmed_base(label, digits(n)))
}

/// The key the suffix index files `desired`'s width-`digits` suffixes under:
/// its first label trimmed for them, and the rest.
fn suffix_key(desired: &str, digits: usize) -> Cow<'_, str> {
    let (label, rest) = split_first_label(desired);
    let trimmed = trimmed_base(label, digits);
    if rest.is_empty() {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(format!("{trimmed}{rest}"))
    }
}

fn trimmed_base(base: &str, digits: usize) -> &str {
    // Labels are ASCII (checked by `is_valid_label`), so any byte index is a
    // char boundary.
    let keep = MAX_LABEL_LEN - 1 - digits;
    base.get(..keep.min(base.len())).unwrap_or(base)
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Splits `c1-12` into `("c1", 12)` and `c1-12.web` into `("c1.web", 12)`:
/// only suffixes the policy could have made (a decimal `>= 2` without
/// leading zeros, at the end of the first label).
fn split_suffix(name: &str) -> Option<(Cow<'_, str>, u32)> {
    let (label, rest) = split_first_label(name);
    let (base, n) = split_label_suffix(label)?;
    if rest.is_empty() {
        Some((Cow::Borrowed(base), n))
    } else {
        Some((Cow::Owned(format!("{base}{rest}")), n))
    }
}

fn split_label_suffix(label: &str) -> Option<(&str, u32)> {
    let (base, number) = label.rsplit_once('-')?;
    if base.is_empty() || number.is_empty() || number.starts_with('0') {
        return None;
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = number.parse().ok()?;
    (n >= 2).then_some((base, n))
}

/// Whether `name` is `desired` or one of the suffixed names the policy could
/// have granted for it: a client holding `c1-2` that asks for `c1` again keeps
/// `c1-2`.
pub(crate) fn is_variant_of(name: &str, desired: &str) -> bool {
    name == desired
        || split_suffix(name).is_some_and(|(base, n)| base == suffix_key(desired, digits(n)))
}

/// Every name in use (granted to a bound lease or reserved), with a count
/// because one name may be both, plus for each base the set of suffix numbers
/// in use, so the first free `base-N` is a lookup rather than a probe loop (a
/// thousand containers all called `ubuntu` must not cost a thousand probes each).
/// Names of up to 24 bytes are kept in the key itself: a `String` key was a
/// third heap copy of every lease's name (docs/benchmarks.md, "Memory").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NameIndex {
    refs: BTreeMap<CompactString, u32>,
    suffixes: BTreeMap<String, IntervalSet>,
}

impl NameIndex {
    pub(crate) fn add(&mut self, name: &str) {
        let count = self.refs.entry(CompactString::from(name)).or_insert(0);
        *count += 1;
        if *count == 1
            && let Some((base, n)) = split_suffix(name)
        {
            self.suffixes
                .entry(base.into_owned())
                .or_default()
                .insert(n);
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        let Some(count) = self.refs.get_mut(name) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        self.refs.remove(name);
        if let Some((base, n)) = split_suffix(name)
            && let Some(used) = self.suffixes.get_mut(base.as_ref())
        {
            used.remove(n);
            if used.len() == 0 {
                self.suffixes.remove(base.as_ref());
            }
        }
    }

    /// The first `desired-N` (N = 2, 3, ...) not in use. Suffixes with the same
    /// number of digits share one trimmed base, so each digit count is one
    /// interval lookup.
    pub(crate) fn first_free_suffixed(&self, desired: &str) -> Option<String> {
        let mut low: u32 = 2;
        for width in 1..=10usize {
            let high = 10u64.pow(width as u32) - 1;
            let high = u32::try_from(high).unwrap_or(u32::MAX);
            let base = suffix_key(desired, width);
            let n = match self.suffixes.get(base.as_ref()) {
                Some(used) => used.first_absent_at_or_after(low)?,
                None => low,
            };
            if n <= high {
                return Some(suffixed(desired, n));
            }
            low = high.checked_add(1)?;
        }
        None
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.refs.contains_key(name)
    }

    /// How many distinct names are in use.
    pub(crate) fn len(&self) -> usize {
        self.refs.len()
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> BTreeMap<String, u32> {
        self.refs
            .iter()
            .map(|(name, &count)| (name.to_string(), count))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_keys_copy_only_names_with_a_capital() {
        assert!(matches!(lowercase_key("c1-2"), Cow::Borrowed("c1-2")));
        assert_eq!(lowercase_key("Www.LXD"), "www.lxd");
        assert!(matches!(lowercase_key("C1"), Cow::Owned(_)));
    }

    #[test]
    fn normalisation_takes_the_first_label_lowercased() {
        assert_eq!(normalize_hostname("C1.example.org").as_deref(), Some("c1"));
        assert_eq!(normalize_hostname("web-01").as_deref(), Some("web-01"));
        assert_eq!(normalize_hostname("-bad"), None);
        assert_eq!(normalize_hostname("bad-"), None);
        assert_eq!(normalize_hostname("under_score"), None);
        assert_eq!(normalize_hostname(""), None);
        assert_eq!(normalize_hostname(".lxd"), None);
        assert_eq!(normalize_hostname("héllo"), None);
        assert_eq!(
            normalize_hostname(&"a".repeat(63)).map(|n| n.len()),
            Some(63)
        );
        assert_eq!(normalize_hostname(&"a".repeat(64)), None);
    }

    #[test]
    fn suffixes_keep_the_label_within_63_characters() {
        let long = "x".repeat(63);
        let name = suffixed(&long, 2);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("x-2"));
        assert!(is_valid_label(&name));
        assert!(is_variant_of(&name, &long));
        assert_eq!(suffixed(&long, 10).len(), 63);
        assert!(is_variant_of(&suffixed(&long, 10), &long));
        assert_eq!(suffixed("c1", 3), "c1-3");
    }

    #[test]
    fn machine_names_are_one_label_or_name_dot_project() {
        assert_eq!(normalize_machine_name("C1").as_deref(), Some("c1"));
        assert_eq!(normalize_machine_name("c1.Web").as_deref(), Some("c1.web"));
        assert_eq!(normalize_machine_name("c1.web.x"), None);
        assert_eq!(normalize_machine_name("c1."), None);
        assert_eq!(normalize_machine_name(".web"), None);
        assert_eq!(normalize_machine_name("c_1.web"), None);
        assert!(is_valid_host_name("c1-2.web"));
        assert!(!is_valid_host_name("C1.web"));
    }

    #[test]
    fn two_label_names_are_suffixed_in_their_first_label() {
        assert_eq!(suffixed("c1.web", 2), "c1-2.web");
        assert!(is_variant_of("c1-2.web", "c1.web"));
        assert!(!is_variant_of("c1-2.db", "c1.web"));
        assert!(!is_variant_of("c1.web-2", "c1.web"));
        assert!(!is_variant_of("c1-2", "c1.web"));
        let long = format!("{}.web", "z".repeat(63));
        let name = suffixed(&long, 12);
        assert!(is_valid_host_name(&name), "{name}");
        assert!(is_variant_of(&name, &long));
        let mut index = NameIndex::default();
        for name in ["c1.web", "c1-2.web", "c1", "c1-3"] {
            index.add(name);
        }
        assert_eq!(
            index.first_free_suffixed("c1.web").as_deref(),
            Some("c1-3.web")
        );
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-2"));
        index.remove("c1-2.web");
        assert_eq!(
            index.first_free_suffixed("c1.web").as_deref(),
            Some("c1-2.web")
        );
    }

    #[test]
    fn variants_are_only_policy_suffixes() {
        assert!(is_variant_of("c1", "c1"));
        assert!(is_variant_of("c1-2", "c1"));
        assert!(is_variant_of("c1-17", "c1"));
        assert!(!is_variant_of("c1-1", "c1"));
        assert!(!is_variant_of("c1-02", "c1"));
        assert!(!is_variant_of("c1-x", "c1"));
        assert!(!is_variant_of("c2-2", "c1"));
    }

    #[test]
    fn first_free_suffix_skips_used_numbers_and_fills_gaps() {
        let mut index = NameIndex::default();
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-2"));
        for name in ["c1", "c1-2", "c1-3", "c1-5"] {
            index.add(name);
        }
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-4"));
        index.add("c1-4");
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-6"));
        index.add("c1-3"); // a second holder (a reservation) of the same name
        index.remove("c1-3");
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-6"));
        index.remove("c1-3");
        assert_eq!(index.first_free_suffixed("c1").as_deref(), Some("c1-3"));
    }

    #[test]
    fn first_free_suffix_crosses_into_two_digits() {
        let mut index = NameIndex::default();
        for n in 2..=9 {
            index.add(&format!("web-{n}"));
        }
        assert_eq!(index.first_free_suffixed("web").as_deref(), Some("web-10"));
        let long = "y".repeat(63);
        for n in 2..=9 {
            index.add(&suffixed(&long, n));
        }
        assert_eq!(index.first_free_suffixed(&long), Some(suffixed(&long, 10)));
    }
}
