//! A set of `u32` stored as disjoint, non-adjacent runs.
//!
//! The free-address pool of a /8 would be 16M entries as a plain set; as runs
//! it is one entry per hole punched by a lease, reservation or quarantine. Every
//! operation is O(log r) for r runs. The representation is canonical (runs never
//! touch or overlap), so two sets holding the same members compare equal: a
//! table rebuilt from a snapshot equals the one that was saved.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IntervalSet {
    /// start -> end, both inclusive.
    runs: BTreeMap<u32, u32>,
    len: u64,
}

impl IntervalSet {
    /// Number of members.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn contains(&self, value: u32) -> bool {
        self.run_containing(value).is_some()
    }

    fn run_containing(&self, value: u32) -> Option<(u32, u32)> {
        self.runs
            .range(..=value)
            .next_back()
            .filter(|&(_, &end)| value <= end)
            .map(|(&start, &end)| (start, end))
    }

    /// The smallest member `>= value`.
    pub(crate) fn first_at_or_after(&self, value: u32) -> Option<u32> {
        if self.contains(value) {
            return Some(value);
        }
        self.runs.range(value..).next().map(|(&start, _)| start)
    }

    /// The smallest non-member `>= value`, if any fits in a `u32`.
    pub(crate) fn first_absent_at_or_after(&self, value: u32) -> Option<u32> {
        match self.run_containing(value) {
            Some((_, end)) => end.checked_add(1),
            None => Some(value),
        }
    }

    /// Adds `start..=end` (merging with neighbouring runs).
    pub(crate) fn insert_range(&mut self, start: u32, end: u32) {
        debug_assert!(start <= end);
        let (mut start, mut end) = (start, end);
        if let Some((&prev_start, &prev_end)) = self.runs.range(..start).next_back()
            && u64::from(prev_end) + 1 >= u64::from(start)
        {
            self.runs.remove(&prev_start);
            self.len -= run_len(prev_start, prev_end);
            start = prev_start;
            end = end.max(prev_end);
        }
        while let Some((&next_start, &next_end)) = self.runs.range(start..).next() {
            if u64::from(next_start) > u64::from(end) + 1 {
                break;
            }
            self.runs.remove(&next_start);
            self.len -= run_len(next_start, next_end);
            end = end.max(next_end);
        }
        self.runs.insert(start, end);
        self.len += run_len(start, end);
    }

    /// Adds `value`; returns whether it was absent.
    pub(crate) fn insert(&mut self, value: u32) -> bool {
        if self.contains(value) {
            return false;
        }
        self.insert_range(value, value);
        true
    }

    /// Removes `value` (splitting its run); returns whether it was present.
    pub(crate) fn remove(&mut self, value: u32) -> bool {
        let Some((start, end)) = self.run_containing(value) else {
            return false;
        };
        self.runs.remove(&start);
        if start < value {
            self.runs.insert(start, value - 1);
        }
        if value < end {
            self.runs.insert(value + 1, end);
        }
        self.len -= 1;
        true
    }

    /// Members in ascending order (tests and brute-force checks).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.runs.iter().flat_map(|(&start, &end)| start..=end)
    }
}

fn run_len(start: u32, end: u32) -> u64 {
    u64::from(end) - u64::from(start) + 1
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn remove_splits_and_insert_merges_back() {
        let mut set = IntervalSet::default();
        set.insert_range(10, 20);
        assert!(set.remove(15));
        assert!(!set.remove(15));
        assert_eq!(set.len(), 10);
        assert_eq!(set.first_at_or_after(15), Some(16));
        assert_eq!(set.first_absent_at_or_after(10), Some(15));
        assert!(set.insert(15));
        let mut whole = IntervalSet::default();
        whole.insert_range(10, 20);
        assert_eq!(set, whole);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut set = IntervalSet::default();
        set.insert_range(u32::MAX - 1, u32::MAX);
        set.insert(0);
        assert_eq!(set.len(), 3);
        assert_eq!(set.first_absent_at_or_after(u32::MAX - 1), None);
        assert!(set.remove(u32::MAX));
        assert_eq!(set.first_absent_at_or_after(u32::MAX - 1), Some(u32::MAX));
    }

    proptest! {
        #[test]
        fn agrees_with_a_plain_set(ops in proptest::collection::vec((any::<bool>(), 0u32..64, 0u32..8), 0..200)) {
            let mut set = IntervalSet::default();
            let mut model = BTreeSet::new();
            for (add, value, width) in ops {
                if add {
                    set.insert_range(value, value + width);
                    model.extend(value..=value + width);
                } else {
                    prop_assert_eq!(set.remove(value), model.remove(&value));
                }
                prop_assert_eq!(set.len(), model.len() as u64);
                prop_assert_eq!(set.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
                // canonical: rebuilding from members gives the same runs
                let mut rebuilt = IntervalSet::default();
                for &member in &model {
                    rebuilt.insert(member);
                }
                prop_assert_eq!(&rebuilt, &set);
                for probe in 0..80 {
                    prop_assert_eq!(set.first_at_or_after(probe), model.range(probe..).next().copied());
                    prop_assert_eq!(set.first_absent_at_or_after(probe), (probe..).find(|v| !model.contains(v)));
                }
            }
        }
    }
}
