//! A small cache that keeps only the most recently used entries, so what
//! the supervisor learns about files (debug info, unwind tables) stays
//! bounded however many processes and binaries a run goes through.

/// At most `capacity` entries; using an entry makes it the most recent,
/// inserting into a full cache drops the least recent.
pub struct Recent<K, V> {
    capacity: usize,
    /// Entries with the tick of their last use.
    entries: Vec<(K, V, u64)>,
    tick: u64,
}

impl<K: PartialEq, V> Recent<K, V> {
    /// An empty cache of at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> Recent<K, V> {
        Recent {
            capacity: capacity.max(1),
            entries: Vec::new(),
            tick: 0,
        }
    }

    /// The value for `key`, made with `make` if it is not there.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.tick += 1;
        let i = match self.entries.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                if self.entries.len() == self.capacity {
                    let oldest = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].2)
                        .unwrap_or(0);
                    self.entries.swap_remove(oldest);
                }
                self.entries.push((key, make(), 0));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[i];
        entry.2 = self.tick;
        &mut entry.1
    }

    /// How many entries it holds.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used() {
        let mut r = Recent::new(2);
        let mut made = 0;
        let mut get = |r: &mut Recent<&str, u32>, k| {
            *r.get_or_insert_with(k, || {
                made += 1;
                made
            })
        };
        assert_eq!(get(&mut r, "a"), 1);
        assert_eq!(get(&mut r, "b"), 2);
        assert_eq!(get(&mut r, "a"), 1, "cached");
        assert_eq!(get(&mut r, "c"), 3, "b, the least recent, goes");
        assert_eq!(r.len(), 2);
        assert_eq!(get(&mut r, "a"), 1);
        assert_eq!(get(&mut r, "b"), 4, "made again");
    }
}
