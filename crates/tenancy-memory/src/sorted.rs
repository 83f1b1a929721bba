//! [`Sorted`]: an ordered map of small `Copy` entries in sorted chunks, found by binary search.
//!
//! The store's ordered indexes hold one group each (an org's rows of one status and role, an
//! org's tuples of one role, the orgs of one status) and answer three things: insert, remove,
//! and "every entry after this key, in order". `std`'s `BTreeMap` does all three in O(log n),
//! but its nodes are searched linearly, key by key: an insert at the end of a large group (the
//! newest membership of a big org, since ids grow with time) compares against every key of
//! every node on its path, about 60 comparisons at a million entries against a handful for a
//! group of ten. Here the entries sit in sorted chunks of at most [`CHUNK`] entries: a lookup
//! binary-searches the chunks' first keys (kept in an array of their own), then the chunk, so it
//! compares `log2(groups' chunks) + log2(CHUNK)` keys, about 20 at a million and 4 at ten; an
//! append at the end of the last chunk moves nothing, and an insert elsewhere moves at most a
//! chunk's entries. Chunks are filled to the brim by appends (a full last chunk starts a new
//! one) and split in two by an insert into a full chunk elsewhere; a chunk emptied by removals
//! is dropped, and one under a quarter full is merged into its successor when they fit in one.
//!
//! # Where an entry is
//!
//! A chunk keeps an id for as long as it lives, and an entry's owner may record the id of the
//! chunk that holds it ([`Places::place`], told on every insert and every move). A removal
//! given that id searches that chunk alone: `log2(CHUNK)` comparisons at most, however large
//! the group, where a search from the top also compares `log2(chunks)` first keys (13 more at
//! a million entries). The ids cost the owner 4 bytes an entry; entries whose owner records
//! nothing ([`Keyed`]) are removed by a search from the top. Ids move only with entries: a
//! split moves the upper half of a chunk to a new id, a merge moves a sparse chunk's entries
//! into its successor, and a dropped chunk's id goes to the chunk with the highest id (whose
//! entries are told). So an insert or removal tells at most a chunk's entries, and only when it
//! splits, merges or drops a chunk.

/// Entries per chunk, at most.
pub(crate) const CHUNK: usize = 128;

/// Where the entries of a [`Sorted`] get their keys, and where they record the chunk that
/// holds them (see the module's documentation).
pub(crate) trait Places<E, K> {
    /// The key of `entry`: the key it had when it was inserted, for as long as it is in.
    fn key(&self, entry: E) -> K;

    /// `entry` now sits in the chunk with id `chunk`: the hint its removal may be given.
    fn place(&mut self, entry: E, chunk: u32);
}

/// [`Places`] for entries whose owner records no chunk: their key read by a function.
pub(crate) struct Keyed<F>(pub(crate) F);

impl<E, K, F: Fn(E) -> K> Places<E, K> for Keyed<F> {
    fn key(&self, entry: E) -> K {
        (self.0)(entry)
    }

    fn place(&mut self, _: E, _: u32) {}
}

/// An ordered set of `Copy` entries in sorted chunks (see the module's documentation), ordered
/// by a key `K` each method is told how to read ([`Places::key`], or a function for a read):
/// an entry may be a row's position, ordered by the id of the row there, so that the index
/// holds 4 bytes an entry and moves 4 bytes an entry when a chunk shifts. The first key of each
/// chunk but the first is kept beside the chunks, so that finding the chunk compares keys in
/// one contiguous array. Every chunk holds at least one entry, and every key of a chunk is
/// below every key of the next in key order.
///
/// A group of one chunk, as most are (the store keeps several groups per org, and most orgs
/// are small), is that chunk and an empty pointer: four words and one allocation.
#[derive(Debug, Clone)]
pub(crate) struct Sorted<K, E> {
    /// The chunk with id 0: empty only when the group is.
    first: Vec<E>,
    /// The other chunks and the chunks' order, once there are two or more.
    more: Option<Box<More<K, E>>>,
}

/// The chunks of a [`Sorted`] past its first, and their order.
#[derive(Debug, Clone)]
struct More<K, E> {
    /// The chunks with ids 1, 2, ...
    chunks: Vec<Vec<E>>,
    /// Every chunk's id in key order.
    ids: Vec<u32>,
    /// The first key of each chunk but the first, in key order: the chunk at position `i + 1`
    /// starts at `firsts[i]`.
    firsts: Vec<K>,
}

impl<K, E> Default for Sorted<K, E> {
    fn default() -> Self {
        Self {
            first: Vec::new(),
            more: None,
        }
    }
}

/// A chunk id as its owner records it. A group has at most one chunk per entry, and the store
/// indexes its rows by `u32`, so the id fits.
fn chunk_id(id: usize) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

impl<K: Ord + Copy, E: Copy> Sorted<K, E> {
    /// Whether no entry is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// How many chunks there are.
    fn count(&self) -> usize {
        match &self.more {
            _ if self.first.is_empty() => 0,
            Some(more) => 1 + more.chunks.len(),
            None => 1,
        }
    }

    /// The chunk with id `id`.
    fn chunk(&self, id: usize) -> Option<&Vec<E>> {
        match id.checked_sub(1) {
            None => Some(&self.first).filter(|chunk| !chunk.is_empty()),
            Some(at) => self.more.as_ref()?.chunks.get(at),
        }
    }

    /// The chunk with id `id`, to change.
    fn chunk_mut(&mut self, id: usize) -> Option<&mut Vec<E>> {
        match id.checked_sub(1) {
            None => Some(&mut self.first).filter(|chunk| !chunk.is_empty()),
            Some(at) => self.more.as_mut()?.chunks.get_mut(at),
        }
    }

    /// The position (in key order) of the chunk where `key` is or would go: the last whose
    /// first key is at most `key`, or the first.
    fn chunk_of(&self, key: &K) -> usize {
        self.firsts().partition_point(|first| first <= key)
    }

    /// The first key of each chunk but the first, in key order.
    fn firsts(&self) -> &[K] {
        self.more.as_ref().map_or(&[], |more| &more.firsts)
    }

    /// The id of the chunk at position `at` (an id past the chunks when there is none).
    fn id_at(&self, at: usize) -> usize {
        match &self.more {
            Some(more) => more.ids.get(at).map_or(usize::MAX, |id| *id as usize),
            None => at,
        }
    }

    /// Adds `chunk`, starting at `first`, at position `at` (past the first, and at most the
    /// chunks' count); its id.
    fn add_chunk(&mut self, at: usize, chunk: Vec<E>, first: K) -> usize {
        let more = self.more.get_or_insert_with(|| {
            Box::new(More {
                chunks: Vec::new(),
                ids: vec![0],
                firsts: Vec::new(),
            })
        });
        more.chunks.push(chunk);
        let id = more.chunks.len();
        more.ids.insert(at, chunk_id(id));
        more.firsts.insert(at - 1, first);
        id
    }

    /// Tells every entry of the chunk `id` that it sits there.
    fn place_all(&self, id: usize, places: &mut impl Places<E, K>) {
        for entry in self.chunk(id).into_iter().flatten() {
            places.place(*entry, chunk_id(id));
        }
    }

    /// Adds `entry` under its key; replaces (and returns) an entry with the same key.
    pub(crate) fn insert(&mut self, entry: E, places: &mut impl Places<E, K>) -> Option<E> {
        let key = places.key(entry);
        let at = self.chunk_of(&key);
        let id = self.id_at(at);
        let last = self.count().saturating_sub(1);
        let Some(chunk) = self.chunk_mut(id) else {
            // The first chunk of the group: room for it alone.
            self.first.reserve_exact(1);
            self.first.push(entry);
            places.place(entry, 0);
            return None;
        };
        let slot = match chunk.binary_search_by(|found| places.key(*found).cmp(&key)) {
            Ok(slot) => {
                places.place(entry, chunk_id(id));
                return Some(std::mem::replace(&mut chunk[slot], entry));
            }
            Err(slot) => slot,
        };
        // No new first key: at a position past the first, `key` is above the chunk's first
        // key (`chunk_of`), so `slot` is past 0; the first chunk's start is not kept.
        if chunk.len() < CHUNK {
            chunk.insert(slot, entry);
            places.place(entry, chunk_id(id));
        } else if at == last && slot == chunk.len() {
            // An append to a full last chunk: a new chunk, so that appends fill chunks whole.
            let mut fresh = Vec::with_capacity(CHUNK);
            fresh.push(entry);
            let fresh = self.add_chunk(at + 1, fresh, key);
            places.place(entry, chunk_id(fresh));
        } else {
            // A split: the upper half goes to a new chunk, after this one.
            let mut upper = Vec::with_capacity(CHUNK);
            upper.extend_from_slice(&chunk[CHUNK / 2..]);
            chunk.truncate(CHUNK / 2);
            if slot <= CHUNK / 2 {
                chunk.insert(slot, entry);
                places.place(entry, chunk_id(id));
            } else {
                upper.insert(slot - CHUNK / 2, entry);
            }
            let upper_first = places.key(upper[0]);
            let fresh = self.add_chunk(at + 1, upper, upper_first);
            self.place_all(fresh, places);
        }
        None
    }

    /// Removes the entry whose key is `key`; returns it. `hint` is the id of the chunk the
    /// entry was last placed in ([`Places::place`]): that chunk alone is searched, and the
    /// group from the top only when the hint is absent or does not hold the key.
    pub(crate) fn remove(
        &mut self,
        key: &K,
        hint: Option<u32>,
        places: &mut impl Places<E, K>,
    ) -> Option<E> {
        let search = |chunk: &Vec<E>| {
            chunk
                .binary_search_by(|found| places.key(*found).cmp(key))
                .ok()
        };
        let hinted = hint.and_then(|id| {
            let id = id as usize;
            Some((id, search(self.chunk(id)?)?))
        });
        let (id, slot) = match hinted {
            Some(found) => found,
            None => {
                let id = self.id_at(self.chunk_of(key));
                (id, search(self.chunk(id)?)?)
            }
        };
        let chunk = self.chunk_mut(id)?;
        let entry = chunk.remove(slot);
        let (len, first) = (chunk.len(), chunk.first().copied());
        if slot != 0 && len >= CHUNK / 4 {
            // Neither the chunk's start nor its size changed what the order knows.
            return Some(entry);
        }
        // The chunk's position: the key was in it, so the search from the top finds it.
        let at = self.chunk_of(key);
        debug_assert_eq!(self.id_at(at), id, "the chunk held the key");
        match first {
            None => {
                // An emptied chunk goes, with its start (for the first chunk, the next one's:
                // the first chunk's start is not kept).
                if let Some(more) = self.more.as_deref_mut() {
                    more.ids.remove(at);
                    more.firsts.remove(at.saturating_sub(1));
                }
                self.drop_chunk(id, places);
            }
            Some(first) => {
                let start = at.checked_sub(1).filter(|_| slot == 0);
                let more = self.more.as_deref_mut();
                if let Some(start) = start.and_then(|start| more?.firsts.get_mut(start)) {
                    *start = places.key(first);
                }
                // Merge a sparse chunk into its successor when both fit in one: its entries
                // (under a quarter of a chunk) move, and the successor keeps its id.
                let next = self.id_at(at + 1);
                let fits = len < CHUNK / 4
                    && self
                        .chunk(next)
                        .is_some_and(|successor| successor.len() + len <= CHUNK);
                if let (true, Some(more)) = (fits, self.more.as_deref_mut()) {
                    // The successor now starts where the sparse chunk did, at its position.
                    more.ids.remove(at);
                    more.firsts.remove(at);
                    let sparse = self.chunk_mut(id).map(std::mem::take).unwrap_or_default();
                    if let Some(successor) = self.chunk_mut(next) {
                        successor.splice(0..0, sparse.iter().copied());
                    }
                    for moved in sparse {
                        places.place(moved, chunk_id(next));
                    }
                    self.drop_chunk(id, places);
                }
            }
        }
        Some(entry)
    }

    /// Drops the chunk `id`, empty and already taken out of the order: the chunk with the
    /// highest id takes its id, and its entries are told.
    fn drop_chunk(&mut self, id: usize, places: &mut impl Places<E, K>) {
        let Some(more) = self.more.as_deref_mut() else {
            // The only chunk: the group is empty.
            self.first = Vec::new();
            return;
        };
        let last = more.chunks.pop().unwrap_or_default();
        if id <= more.chunks.len() {
            // Not the last chunk itself: the last takes its id and its place in the order.
            match id.checked_sub(1) {
                None => self.first = last,
                Some(at) => more.chunks[at] = last,
            }
            self.place_all(id, places);
            let position = self
                .chunk(id)
                .and_then(|moved| moved.first())
                .map(|first| self.chunk_of(&places.key(*first)));
            let more = self.more.as_deref_mut();
            if let Some(slot) = position.and_then(|at| more?.ids.get_mut(at)) {
                *slot = chunk_id(id);
            }
        }
        if self
            .more
            .as_ref()
            .is_some_and(|more| more.chunks.is_empty())
        {
            // One chunk left (at id 0): no order to keep.
            self.more = None;
        }
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
                let slot = self.chunk(self.id_at(at)).map_or(0, |chunk| {
                    chunk.partition_point(|entry| key_of(*entry) <= after)
                });
                (at, slot)
            }
        };
        (at..self.count())
            .filter_map(move |position| self.chunk(self.id_at(position)))
            .enumerate()
            .flat_map(move |(n, chunk)| {
                chunk
                    .get(if n == 0 { slot } else { 0 }..)
                    .unwrap_or_default()
            })
            .copied()
    }

    /// The id of the chunk that holds `entry`, found by its key from the top.
    #[cfg(test)]
    pub(crate) fn chunk_holding(&self, entry: E, key_of: impl Fn(E) -> K) -> Option<u32>
    where
        E: PartialEq,
    {
        let id = self.id_at(self.chunk_of(&key_of(entry)));
        let chunk = self.chunk(id)?;
        chunk.contains(&entry).then(|| chunk_id(id))
    }

    /// How many entries there are (a walk over the chunks).
    #[cfg(test)]
    fn len(&self) -> usize {
        (0..self.count())
            .filter_map(|id| self.chunk(id))
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;

    use super::*;

    /// The key of a test entry: its first half.
    fn entry_key(entry: (u32, u32)) -> u32 {
        entry.0
    }

    /// Test entries' owner: records the chunk each key was last placed in.
    #[derive(Default)]
    struct Recorded(HashMap<u32, u32>);

    impl Places<(u32, u32), u32> for Recorded {
        fn key(&self, entry: (u32, u32)) -> u32 {
            entry.0
        }

        fn place(&mut self, entry: (u32, u32), chunk: u32) {
            self.0.insert(entry.0, chunk);
        }
    }

    /// The chunks in key order.
    fn in_order(sorted: &Sorted<u32, (u32, u32)>) -> Vec<&Vec<(u32, u32)>> {
        (0..sorted.count())
            .filter_map(|at| sorted.chunk(sorted.id_at(at)))
            .collect()
    }

    /// Checks the chunks' own invariants: none empty, none over [`CHUNK`], keys strictly
    /// ascending across all of them in order, the order a permutation of the ids (or none for
    /// one chunk), the first keys those of the chunks, and (when `places` is given) every
    /// entry placed in the chunk that holds it.
    fn well_formed(sorted: &Sorted<u32, (u32, u32)>, places: Option<&Recorded>) -> bool {
        let count = sorted.count();
        let order_ok = match &sorted.more {
            None => count <= 1,
            Some(more) => {
                let mut ids = more.ids.clone();
                ids.sort_unstable();
                count >= 2 && ids == (0..count as u32).collect::<Vec<_>>()
            }
        };
        let chunks = in_order(sorted);
        order_ok
            && in_order(sorted).len() == count
            && sorted.firsts().len() + 1 == count.max(1)
            && chunks
                .iter()
                .all(|chunk| !chunk.is_empty() && chunk.len() <= CHUNK)
            && chunks
                .iter()
                .skip(1)
                .zip(sorted.firsts())
                .all(|(chunk, first)| chunk[0].0 == *first)
            && sorted
                .after(None, entry_key)
                .zip(sorted.after(None, entry_key).skip(1))
                .all(|((a, _), (b, _))| a < b)
            && places.is_none_or(|places| {
                (0..count).all(|id| {
                    sorted.chunk(id).is_some_and(|chunk| {
                        chunk
                            .iter()
                            .all(|entry| places.0.get(&entry.0) == Some(&(id as u32)))
                    })
                })
            })
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u32, u32),
        /// A removal: with the recorded hint, a wrong one, or none.
        Remove(u32, Hint),
        Range(Option<u32>),
    }

    #[derive(Debug, Clone, Copy)]
    enum Hint {
        Recorded,
        Wrong(u32),
        None,
    }

    fn hint() -> impl Strategy<Value = Hint> {
        prop_oneof![
            4 => Just(Hint::Recorded),
            1 => any::<u32>().prop_map(Hint::Wrong),
            1 => Just(Hint::None),
        ]
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        // Keys from a small range, so that inserts collide and removes hit; ascending runs,
        // so that appends fill and split chunks.
        let step = prop_oneof![
            4 => (0..2_000_u32, any::<u32>()).prop_map(|(key, value)| Step::Insert(key, value)),
            2 => (0..2_000_u32, hint()).prop_map(|(key, hint)| Step::Remove(key, hint)),
            1 => proptest::option::of(0..2_100_u32).prop_map(Step::Range),
        ];
        proptest::collection::vec(step, 0..3_000)
    }

    /// Removes `key` with the hint `hint` asks for; the removed entry's value.
    fn remove(
        sorted: &mut Sorted<u32, (u32, u32)>,
        places: &mut Recorded,
        key: u32,
        hint: Hint,
    ) -> Option<u32> {
        let hint = match hint {
            Hint::Recorded => places.0.get(&key).copied(),
            Hint::Wrong(id) => Some(id % (sorted.count() as u32 + 2)),
            Hint::None => None,
        };
        let removed = sorted.remove(&key, hint, places).map(|entry| entry.1);
        if removed.is_some() {
            places.0.remove(&key);
        }
        removed
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every operation answers as `BTreeMap` does, the chunks stay well formed, and every
        /// entry is placed where it is, whatever hint its removal is given.
        #[test]
        fn behaves_as_a_btree_map(steps in steps(), ascending in 0..3_000_u32, stride in any::<u32>()) {
            let mut sorted = Sorted::default();
            let mut places = Recorded::default();
            let mut model = BTreeMap::new();
            for key in 0..ascending {
                prop_assert_eq!(sorted.insert((key * 2, key), &mut places).map(|e| e.1), model.insert(key * 2, key));
            }
            for (n, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Insert(key, value) => {
                        prop_assert_eq!(sorted.insert((key, value), &mut places).map(|e| e.1), model.insert(key, value));
                    }
                    Step::Remove(key, hint) => {
                        prop_assert_eq!(remove(&mut sorted, &mut places, key, hint), model.remove(&key));
                    }
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
                    prop_assert!(well_formed(&sorted, Some(&places)));
                }
            }
            prop_assert!(well_formed(&sorted, Some(&places)));
            prop_assert_eq!(sorted.len(), model.len());
            prop_assert_eq!(sorted.is_empty(), model.is_empty());
            // Empty it in a scattered order, so that chunks thin out, merge and go.
            let mut keys: Vec<u32> = model.keys().copied().collect();
            keys.sort_by_key(|key| key.wrapping_mul(2_654_435_761) ^ stride);
            for (n, key) in keys.iter().enumerate() {
                prop_assert_eq!(remove(&mut sorted, &mut places, *key, Hint::Recorded), model.remove(key));
                if n % 37 == 0 {
                    prop_assert!(well_formed(&sorted, Some(&places)));
                    let expected: Vec<(u32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                    prop_assert_eq!(sorted.after(None, entry_key).collect::<Vec<_>>(), expected);
                }
            }
            prop_assert!(sorted.is_empty());
            prop_assert!(well_formed(&sorted, Some(&places)));
        }

        /// Entries whose owner records nothing ([`Keyed`]) are inserted and removed by a
        /// search from the top, as before chunks had ids.
        #[test]
        fn keyed_entries_need_no_hint(keys in proptest::collection::vec(0..5_000_u32, 0..2_000)) {
            let mut sorted = Sorted::default();
            let mut model = BTreeMap::new();
            for key in &keys {
                prop_assert_eq!(sorted.insert((*key, 0), &mut Keyed(entry_key)).is_some(), model.insert(*key, 0).is_some());
            }
            prop_assert!(well_formed(&sorted, None));
            for key in keys.iter().rev().step_by(2) {
                prop_assert_eq!(sorted.remove(key, None, &mut Keyed(entry_key)).is_some(), model.remove(key).is_some());
            }
            prop_assert!(well_formed(&sorted, None));
            prop_assert_eq!(sorted.after(None, entry_key).map(|e| e.0).collect::<Vec<_>>(), model.into_keys().collect::<Vec<_>>());
        }
    }

    #[test]
    fn appends_fill_chunks_whole_and_a_full_chunk_splits() {
        let mut sorted = Sorted::default();
        let mut places = Recorded::default();
        for key in 0..(10 * CHUNK as u32) {
            sorted.insert((key * 2, key), &mut places);
        }
        assert_eq!(sorted.count(), 10);
        assert!(in_order(&sorted).iter().all(|chunk| chunk.len() == CHUNK));
        // An insert into a full chunk other than at the end splits it in two: the upper half
        // moves to a new chunk, and its entries are told.
        sorted.insert((3, 0), &mut places);
        assert_eq!(sorted.count(), 11);
        assert_eq!(in_order(&sorted)[0].len(), CHUNK / 2 + 1);
        assert_eq!(
            places.0[&(CHUNK as u32)],
            10,
            "the upper half's first entry moved"
        );
        // An append past a full last chunk starts a new one.
        sorted.insert((u32::MAX, 0), &mut places);
        assert_eq!(sorted.count(), 12);
        assert!(well_formed(&sorted, Some(&places)));
    }

    /// The first keys of a group of several chunks.
    fn firsts(sorted: &mut Sorted<u32, (u32, u32)>) -> &mut Vec<u32> {
        &mut sorted.more.as_mut().expect("several chunks").firsts
    }

    #[test]
    fn a_removal_with_its_hint_searches_that_chunk_alone() {
        let mut sorted = Sorted::default();
        let mut places = Recorded::default();
        for key in 0..(10 * CHUNK as u32) {
            sorted.insert((key, key), &mut places);
        }
        // Corrupt the first keys: a search from the top would now look in the wrong chunk,
        // so only the hint can find the key.
        let key = 5 * CHUNK as u32 + 7;
        let saved = firsts(&mut sorted).clone();
        firsts(&mut sorted)
            .iter_mut()
            .for_each(|first| *first = u32::MAX);
        let hint = places.0.get(&key).copied();
        assert_eq!(sorted.remove(&key, hint, &mut places), Some((key, key)));
        *firsts(&mut sorted) = saved;
        assert!(well_formed(&sorted, Some(&places)));
        // Without its hint, the same corruption leaves it unfound.
        let key = 6 * CHUNK as u32 + 7;
        firsts(&mut sorted)
            .iter_mut()
            .for_each(|first| *first = u32::MAX);
        assert_eq!(sorted.remove(&key, None, &mut places), None);
    }
}
