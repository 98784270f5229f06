//! A bounded FIFO that keeps the newest items: the storage of every rolling
//! history on the dashboard, so memory stays fixed however long a node runs.

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// A ring that holds at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Ring<T> {
        let capacity = capacity.max(1);
        Ring {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends `item`, dropping the oldest when full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn keeps_the_newest_items_in_order() {
        let mut ring = Ring::new(3);
        for item in 1..=5 {
            ring.push(item);
        }
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(ring.iter().len(), 3);
        assert_eq!(ring.iter().next_back(), Some(&5));
    }

    #[test]
    fn a_partly_filled_ring_holds_everything() {
        let mut ring = Ring::new(10);
        ring.push("a");
        ring.push("b");
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_zero_capacity_still_keeps_the_newest() {
        let mut ring = Ring::new(0);
        ring.push(1);
        ring.push(2);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [2]);
    }
}
