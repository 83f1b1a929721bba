//! [`Sorted`]: an ordered map of small `Copy` entries in sorted chunks, found by binary search.
//!
//! The store's ordered indexes hold one group each (an org's rows of one status and role, an
//! org's tuples of one role, the orgs of one status) and answer three things: insert, remove,
//! and "every entry after this key, in order". `std`'s `BTreeMap` does all three in O(log n),
//! but its nodes are searched linearly, key by key: an insert at the end of a large group (the
//! newest membership of a big org, since ids grow with time) compares against every key of
//! every node on its path, about 60 comparisons at a million entries against a handful for a
//! group of ten. Here the entries sit in sorted chunks of at most [`CHUNK`] entries: a lookup
//! binary-searches the chunks' first keys (kept in an array of their own), then the chunk, so it compares
//! `log2(groups' chunks) + log2(CHUNK)` keys, about 20 at a million and 4 at ten; an append
//! at the end of the last chunk moves nothing, and an insert elsewhere moves at most a chunk's
//! entries. Chunks are filled to the brim by appends (a full last chunk starts a new one) and
//! split in two by an insert into a full chunk elsewhere; a chunk emptied by removals is
//! dropped, and one under a quarter full is merged into its successor when they fit in one.

/// Entries per chunk, at most.
pub(crate) const CHUNK: usize = 128;

/// An ordered set of `Copy` entries in sorted chunks (see the module's documentation), ordered
/// by a key `K` each method is told how to read (`key_of`): an entry may be a row's position,
/// ordered by the id of the row there, so that the index holds 4 bytes an entry and moves 4
/// bytes an entry when a chunk shifts. The first key of each chunk is kept beside the chunks,
/// so that finding the chunk compares keys in one contiguous array. Every chunk holds at least
/// one entry, and every key of a chunk is below every key of the next; `key_of` must give each
/// entry the key it had when it was inserted, for as long as it is in.
#[derive(Debug, Clone)]
pub(crate) struct Sorted<K, E> {
    chunks: Vec<Vec<E>>,
    /// The key of the first entry of each chunk but the first (a group of one chunk, as most
    /// are, allocates nothing here): chunk `i + 1` starts at `firsts[i]`.
    firsts: Vec<K>,
}

impl<K, E> Default for Sorted<K, E> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            firsts: Vec::new(),
        }
    }
}

impl<K: Ord + Copy, E: Copy> Sorted<K, E> {
    /// Whether no entry is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The chunk where `key` is or would go: the last whose first key is at most `key`, or
    /// the first.
    fn chunk_of(&self, key: &K) -> usize {
        self.firsts.partition_point(|first| first <= key)
    }

    /// Adds `entry` under its key; replaces (and returns) an entry with the same key.
    pub(crate) fn insert(&mut self, entry: E, key_of: impl Fn(E) -> K) -> Option<E> {
        let key = key_of(entry);
        let at = self.chunk_of(&key);
        let last = self.chunks.len().saturating_sub(1);
        let Some(chunk) = self.chunks.get_mut(at) else {
            // The first chunk of the group: room for it alone.
            self.chunks.reserve_exact(1);
            self.chunks.push(vec![entry]);
            return None;
        };
        let slot = match chunk.binary_search_by(|found| key_of(*found).cmp(&key)) {
            Ok(slot) => return Some(std::mem::replace(&mut chunk[slot], entry)),
            Err(slot) => slot,
        };
        if chunk.len() < CHUNK {
            chunk.insert(slot, entry);
        } else if at == last && slot == chunk.len() {
            // An append to a full last chunk: a new chunk, so that appends fill chunks whole.
            let mut fresh = Vec::with_capacity(CHUNK);
            fresh.push(entry);
            self.chunks.push(fresh);
            self.firsts.push(key);
            return None;
        } else {
            let mut upper = Vec::with_capacity(CHUNK);
            upper.extend_from_slice(&chunk[CHUNK / 2..]);
            chunk.truncate(CHUNK / 2);
            if slot <= CHUNK / 2 {
                chunk.insert(slot, entry);
            } else {
                upper.insert(slot - CHUNK / 2, entry);
            }
            let upper_first = key_of(upper[0]);
            self.chunks.insert(at + 1, upper);
            self.firsts.insert(at, upper_first);
        }
        // A new first entry of a chunk: below every key of the chunk, so only the first chunk
        // (whose start no key bounds) can get one.
        if let (0, Some(first)) = (slot, at.checked_sub(1).and_then(|i| self.firsts.get_mut(i))) {
            *first = key;
        }
        None
    }

    /// Removes the entry whose key is `key`; returns it.
    pub(crate) fn remove(&mut self, key: &K, key_of: impl Fn(E) -> K) -> Option<E> {
        let at = self.chunk_of(key);
        let chunk = self.chunks.get_mut(at)?;
        let slot = chunk
            .binary_search_by(|found| key_of(*found).cmp(key))
            .ok()?;
        let entry = chunk.remove(slot);
        if let Some(first) = chunk.first() {
            if let (0, Some(start)) = (slot, at.checked_sub(1).and_then(|i| self.firsts.get_mut(i)))
            {
                *start = key_of(*first);
            }
            // Merge a sparse chunk with its successor when both fit in one.
            let fits = chunk.len() < CHUNK / 4
                && self
                    .chunks
                    .get(at + 1)
                    .is_some_and(|next| next.len() + self.chunks[at].len() <= CHUNK);
            if fits {
                let next = self.chunks.remove(at + 1);
                self.firsts.remove(at);
                self.chunks[at].extend_from_slice(&next);
            }
        } else {
            self.chunks.remove(at);
            // The chunk's start goes with it; for the first chunk, the next one's start (the
            // first chunk has none).
            if !self.firsts.is_empty() {
                self.firsts.remove(at.saturating_sub(1));
            }
        }
        Some(entry)
    }

    /// Every entry with a key above `after` (every entry for `None`), in key order. Opening
    /// it costs two binary searches; each entry after that is a step.
    pub(crate) fn after(
        &self,
        after: Option<K>,
        key_of: impl Fn(E) -> K,
    ) -> impl Iterator<Item = E> + '_ {
        let (at, slot) = match after {
            None => (0, 0),
            Some(after) => {
                let at = self.chunk_of(&after);
                let slot = self.chunks.get(at).map_or(0, |chunk| {
                    chunk.partition_point(|entry| key_of(*entry) <= after)
                });
                (at, slot)
            }
        };
        self.chunks
            .get(at..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(n, chunk)| {
                chunk
                    .get(if n == 0 { slot } else { 0 }..)
                    .unwrap_or_default()
            })
            .copied()
    }

    /// How many entries there are (a walk over the chunks).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// The key of a test entry: its first half.
    fn entry_key(entry: (u32, u32)) -> u32 {
        entry.0
    }

    /// Checks the chunks' own invariants: none empty, none over [`CHUNK`], keys strictly
    /// ascending across all of them.
    fn well_formed(sorted: &Sorted<u32, (u32, u32)>) -> bool {
        sorted.firsts.len() + 1 == sorted.chunks.len().max(1)
            && sorted
                .chunks
                .iter()
                .skip(1)
                .zip(&sorted.firsts)
                .all(|(chunk, first)| {
                    !chunk.is_empty() && chunk.len() <= CHUNK && chunk[0].0 == *first
                })
            && sorted
                .after(None, entry_key)
                .zip(sorted.after(None, entry_key).skip(1))
                .all(|((a, _), (b, _))| a < b)
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u32, u32),
        Remove(u32),
        Range(Option<u32>),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        // Keys from a small range, so that inserts collide and removes hit; ascending runs,
        // so that appends fill and split chunks.
        let step = prop_oneof![
            4 => (0..2_000_u32, any::<u32>()).prop_map(|(key, value)| Step::Insert(key, value)),
            2 => (0..2_000_u32).prop_map(Step::Remove),
            1 => proptest::option::of(0..2_100_u32).prop_map(Step::Range),
        ];
        proptest::collection::vec(step, 0..3_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every operation answers as `BTreeMap` does, and the chunks stay well formed.
        #[test]
        fn behaves_as_a_btree_map(steps in steps(), ascending in 0..3_000_u32, stride in any::<u32>()) {
            let mut sorted = Sorted::default();
            let mut model = BTreeMap::new();
            for key in 0..ascending {
                prop_assert_eq!(sorted.insert((key * 2, key), entry_key).map(|e| e.1), model.insert(key * 2, key));
            }
            for (n, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Insert(key, value) => {
                        prop_assert_eq!(sorted.insert((key, value), entry_key).map(|e| e.1), model.insert(key, value));
                    }
                    Step::Remove(key) => prop_assert_eq!(sorted.remove(&key, entry_key).map(|e| e.1), model.remove(&key)),
                    Step::Range(after) => {
                        let expected: Vec<(u32, u32)> = match after {
                            None => model.iter().map(|(k, v)| (*k, *v)).collect(),
                            Some(after) => model
                                .range(after + 1..)
                                .map(|(k, v)| (*k, *v))
                                .collect(),
                        };
                        prop_assert_eq!(sorted.after(after, entry_key).collect::<Vec<_>>(), expected);
                    }
                }
                if n % 97 == 0 {
                    prop_assert!(well_formed(&sorted));
                }
            }
            prop_assert!(well_formed(&sorted));
            prop_assert_eq!(sorted.len(), model.len());
            prop_assert_eq!(sorted.is_empty(), model.is_empty());
            // Empty it in a scattered order, so that chunks thin out, merge and go.
            let mut keys: Vec<u32> = model.keys().copied().collect();
            keys.sort_by_key(|key| key.wrapping_mul(2_654_435_761) ^ stride);
            for (n, key) in keys.iter().enumerate() {
                prop_assert_eq!(sorted.remove(key, entry_key).map(|e| e.1), model.remove(key));
                if n % 37 == 0 {
                    prop_assert!(well_formed(&sorted));
                    let expected: Vec<(u32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                    prop_assert_eq!(sorted.after(None, entry_key).collect::<Vec<_>>(), expected);
                }
            }
            prop_assert!(sorted.is_empty());
            prop_assert!(well_formed(&sorted));
        }
    }

    #[test]
    fn appends_fill_chunks_whole_and_a_full_chunk_splits() {
        let mut sorted = Sorted::default();
        for key in 0..(10 * CHUNK as u32) {
            sorted.insert((key * 2, key), entry_key);
        }
        assert_eq!(sorted.chunks.len(), 10);
        assert!(sorted.chunks.iter().all(|chunk| chunk.len() == CHUNK));
        // An insert into a full chunk other than at the end splits it in two.
        sorted.insert((3, 0), entry_key);
        assert_eq!(sorted.chunks.len(), 11);
        assert_eq!(sorted.chunks[0].len(), CHUNK / 2 + 1);
        // An append past a full last chunk starts a new one.
        sorted.insert((u32::MAX, 0), entry_key);
        assert_eq!(sorted.chunks.len(), 12);
        assert!(well_formed(&sorted));
    }
}
