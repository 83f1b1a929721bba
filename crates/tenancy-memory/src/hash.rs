//! A keyed, fast hasher for the store's hash maps that are keyed by ids and dense indexes.
//!
//! The maps of the in-memory store are keyed by user, org, membership and invitation ids
//! (16-byte UUIDs), by dense `u32` row indexes, and by pairs of those indexes. User ids are
//! chosen by the adopter and may come from untrusted input, so the maps must resist hash
//! flooding: an attacker who can pick many keys must not be able to make them collide, or
//! every insert and lookup would degrade to a scan of one long probe sequence.
//!
//! std's default hasher, SipHash-1-3, resists that by being a keyed pseudo-random function: even
//! an attacker who sees its outputs cannot recover the key. That is more than these maps need,
//! and it costs about a fifth of the instructions of a `create_org`. An attacker here never sees
//! a hash value or a map's iteration order (every listing the store returns comes from an
//! ordered index or is sorted first), so what matters is that, without the keys, nobody can
//! construct two inputs that collide. This module provides that more cheaply with the folded
//! multiply used by wyhash, rapidhash and foldhash: multiply two 64-bit values to 128 bits and
//! XOR the two halves. Each step folds a pair of input words after XORing one of them with the
//! running accumulator (which starts at a per-map secret seed) and the other with a per-map
//! secret key, so every product has secret operands: the structural collisions one could build
//! against an unkeyed multiply (swapping the factors, moving a factor of two from one operand to
//! the other, making an operand zero) each need the attacker to know a key. The result then goes
//! through one more fold with a third secret key. That step is for bucket spread rather than
//! secrecy: an integer is folded with a fixed factor, and for some keys a single fold leaves the
//! low bits, which pick the bucket, badly distributed (in a trial over 2,000 random keys, 10,000
//! ids differing only in their last four bytes fell into as few as 72 of 1,024 buckets; with the
//! final fold, never fewer than 1,021). The keys are drawn for every map from [`RandomState`],
//! which is seeded from the operating system's random source, so two maps (and two processes)
//! hash differently.
//!
//! Byte strings are hashed as their length followed by 16-byte chunks, the last chunk read so
//! that it ends at the last byte (overlapping the one before it when the length is not a
//! multiple of 16, and shorter inputs read with overlapping 8- and 4-byte loads). For a given
//! length this reading is injective, and the length is absorbed as its own word first, so two
//! different byte strings always feed different word sequences into the keyed steps. The
//! integer writes are one step each, before the final fold that every hash gets.
//!
//! The natural-key index of explicit tuples uses this hasher too: its keys hold two ids and
//! three short validated strings (entity types of 2 to 6 bytes, relations of 2 to 32), which go
//! through the byte path above (a `str` hashes as its bytes and then a `0xff` byte), and its
//! SipHash cost a measurable share of `accept_invitation`. What remains on std's hasher is the
//! slug index: it is off the hot write paths (only a create or update that sets a slug touches
//! it), and keeping it on SipHash keeps the strongest protection where the saving is least.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A hash map keyed by ids, dense indexes, or keys built from those and short validated
/// names, hashed with [`KeyedState`].
pub(crate) type IdMap<K, V> = HashMap<K, V, KeyedState>;

/// Multiplies `a` and `b` to 128 bits and XORs the high half into the low half, so the low bits
/// of the result (which pick a bucket) depend on the high bits of the inputs too.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The little-endian `u64` at `bytes[at..at + 8]`; callers check the length first.
#[inline(always)]
fn read8(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The little-endian `u32` at `bytes[at..at + 4]`, widened; callers check the length first.
#[inline(always)]
fn read4(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(word))
}

/// Builds [`KeyedHasher`]s with secret keys drawn once per map, when the map is made.
#[derive(Clone)]
pub(crate) struct KeyedState {
    /// The accumulator every hash starts from.
    seed: u64,
    /// XORed into one operand of every folded multiply.
    key: u64,
    /// The factor of the final fold.
    out: u64,
}

impl KeyedState {
    /// Fresh secret keys, derived from a new [`RandomState`] (which differs for every call) by
    /// hashing two distinct constants with it.
    pub(crate) fn new() -> Self {
        let random = RandomState::new();
        Self {
            seed: random.hash_one(0_u64),
            key: random.hash_one(1_u64),
            out: random.hash_one(2_u64),
        }
    }
}

impl Default for KeyedState {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for KeyedState {
    // The keys are secrets: a debug print of the store must not reveal them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedState").finish_non_exhaustive()
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;

    #[inline]
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            acc: self.seed,
            key: self.key,
            out: self.out,
        }
    }
}

/// The hasher of [`KeyedState`]: one keyed folded multiply per integer or 16-byte chunk, and
/// one more to finish.
pub(crate) struct KeyedHasher {
    /// The running state; starts at the map's secret seed.
    acc: u64,
    /// The map's secret key for the absorbing steps.
    key: u64,
    /// The map's secret factor for the final fold.
    out: u64,
}

impl KeyedHasher {
    /// Absorbs two words in one keyed step.
    #[inline(always)]
    fn absorb(&mut self, a: u64, b: u64) {
        self.acc = fold(a ^ self.acc, b ^ self.key);
    }
}

impl Hasher for KeyedHasher {
    #[inline]
    fn finish(&self) -> u64 {
        fold(self.acc, self.out)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let len = bytes.len();
        // The length first, so that inputs of different lengths whose chunks read alike (a
        // short input's overlapping loads, or zero padding) still differ.
        self.absorb(len as u64, 0);
        if len <= 16 {
            let (lo, hi) = if len >= 8 {
                (read8(bytes, 0), read8(bytes, len - 8))
            } else if len >= 4 {
                (read4(bytes, 0), read4(bytes, len - 4))
            } else if len > 0 {
                // One to three bytes: the first, middle and last cover them all.
                (
                    u64::from(bytes[0]) | (u64::from(bytes[len / 2]) << 8),
                    u64::from(bytes[len - 1]),
                )
            } else {
                (0, 0)
            };
            self.absorb(lo, hi);
        } else {
            let mut rest = bytes;
            while rest.len() > 16 {
                self.absorb(read8(rest, 0), read8(rest, 8));
                rest = &rest[16..];
            }
            // The last 16 bytes, overlapping the previous chunk unless the length is a
            // multiple of 16.
            self.absorb(read8(bytes, len - 16), read8(bytes, len - 8));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.absorb(i, 0);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.absorb(i as u64, (i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use flametrench_ids::MemId;
    use uuid::Uuid;

    use super::*;

    fn hash_bytes(state: &KeyedState, bytes: &[u8]) -> u64 {
        let mut hasher = state.build_hasher();
        hasher.write(bytes);
        hasher.finish()
    }

    /// The number of `buckets` that `n` uniformly random hashes are expected to occupy.
    fn expected_occupied(n: usize, buckets: usize) -> f64 {
        buckets as f64 * (1.0 - (-(n as f64) / buckets as f64).exp())
    }

    /// Checks that `hashes` of distinct keys occupy about as many of 1,024 buckets (their low
    /// 10 bits, a table's index) and of 128 control tags (their top 7 bits, which hashbrown
    /// compares before the keys) as uniform hashes would. The margins are about eight standard
    /// deviations or more for the batch sizes used here, so a sound hasher does not trip them,
    /// while a hash that keeps the shared pattern in those bits fills a small fraction.
    fn assert_spread(what: &str, hashes: &[u64]) {
        let distinct: HashSet<u64> = hashes.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            hashes.len(),
            "{what}: distinct keys collide"
        );
        let low = hashes
            .iter()
            .map(|hash| hash & 0x3ff)
            .collect::<HashSet<_>>();
        let top = hashes.iter().map(|hash| hash >> 57).collect::<HashSet<_>>();
        let (want_low, want_top) = (
            expected_occupied(hashes.len(), 1_024) - 32.0,
            expected_occupied(hashes.len(), 128) - 8.0,
        );
        assert!(
            low.len() as f64 >= want_low,
            "{what}: only {} of 1024 low-bit buckets used, want {want_low:.0}",
            low.len()
        );
        assert!(
            top.len() as f64 >= want_top,
            "{what}: only {} of 128 control tags used, want {want_top:.0}",
            top.len()
        );
    }

    #[test]
    fn equal_inputs_hash_equal_within_one_builder() {
        let state = KeyedState::new();
        let mem = MemId::new();
        let copy = MemId::try_from_uuid(mem.as_uuid()).expect("a fresh id is valid");
        assert_eq!(state.hash_one(mem), state.hash_one(copy));
        assert_eq!(state.hash_one(7_u32), state.hash_one(7_u32));
        assert_eq!(
            state.hash_one((3_u32, 9_u32)),
            state.hash_one((3_u32, 9_u32))
        );
        assert_eq!(
            hash_bytes(&state, b"the same bytes"),
            hash_bytes(&state, b"the same bytes")
        );
        // A clone hashes like the original: it must, or a cloned map could not find its keys.
        assert_eq!(state.clone().hash_one(mem), state.hash_one(mem));
    }

    #[test]
    fn different_builders_hash_differently() {
        let (one, two) = (KeyedState::new(), KeyedState::new());
        let ids: Vec<MemId> = (0..1_000).map(|_| MemId::new()).collect();
        let agree = ids
            .iter()
            .filter(|id| one.hash_one(id) == two.hash_one(id))
            .count();
        // Independent keys agree on a 64-bit hash with probability about 2^-64 per id.
        assert!(
            agree < 10,
            "{agree} of 1000 ids hash alike under two builders"
        );
        let agree = (0..1_000_u32)
            .filter(|ix| one.hash_one(ix) == two.hash_one(ix))
            .count();
        assert!(
            agree < 10,
            "{agree} of 1000 indexes hash alike under two builders"
        );
    }

    #[test]
    fn ids_sharing_a_fixed_pattern_spread_over_buckets() {
        let state = KeyedState::new();
        let prefix = Uuid::now_v7().into_bytes();
        // The same 12 leading bytes with a counter in the last four, the same 12 trailing bytes
        // with a counter in the first four, and a counter in each byte position of 16 zero
        // bytes but one: the patterns a multiply without keys or with weak mixing gets wrong.
        let mut batches: Vec<Vec<[u8; 16]>> = Vec::new();
        batches.push(
            (0..10_000_u32)
                .map(|n| {
                    let mut bytes = prefix;
                    bytes[12..].copy_from_slice(&n.to_be_bytes());
                    bytes
                })
                .collect(),
        );
        batches.push(
            (0..10_000_u32)
                .map(|n| {
                    let mut bytes = prefix;
                    bytes[..4].copy_from_slice(&n.to_le_bytes());
                    bytes
                })
                .collect(),
        );
        batches.push(
            (0..16)
                .flat_map(|at| {
                    (0..=255_u8).map(move |byte| {
                        let mut bytes = [0; 16];
                        bytes[at] = byte;
                        bytes
                    })
                })
                .collect(),
        );
        for (n, batch) in batches.iter().enumerate() {
            // The single-byte batch holds the all-zero id 16 times; hash each id once.
            let ids: HashSet<[u8; 16]> = batch.iter().copied().collect();
            let hashes: Vec<u64> = ids
                .iter()
                .map(|bytes| state.hash_one(Uuid::from_bytes(*bytes)))
                .collect();
            assert_spread(&format!("batch {n}"), &hashes);
        }
    }

    #[test]
    fn dense_indexes_and_pairs_spread_over_buckets() {
        let state = KeyedState::new();
        let single: Vec<u64> = (0..10_000_u32).map(|ix| state.hash_one(ix)).collect();
        let first: Vec<u64> = (0..10_000_u32)
            .map(|ix| state.hash_one((ix, 0_u32)))
            .collect();
        let second: Vec<u64> = (0..10_000_u32)
            .map(|ix| state.hash_one((0_u32, ix)))
            .collect();
        assert_spread("indexes", &single);
        assert_spread("(index, 0) pairs", &first);
        assert_spread("(0, index) pairs", &second);
        // A pair and its swap are different keys.
        assert_ne!(
            state.hash_one((1_u32, 2_u32)),
            state.hash_one((2_u32, 1_u32))
        );
    }

    #[test]
    fn tuple_keys_differing_in_one_id_spread_over_buckets() {
        // The shape of the natural-key index's keys: strings and ids, with only the object id
        // varying, and only in its last four bytes.
        let state = KeyedState::new();
        let subject = Uuid::now_v7();
        let object = Uuid::now_v7().into_bytes();
        let hashes: Vec<u64> = (0..10_000_u32)
            .map(|n| {
                let mut bytes = object;
                bytes[12..].copy_from_slice(&n.to_be_bytes());
                state.hash_one(("usr", subject, "viewer", "proj", Uuid::from_bytes(bytes)))
            })
            .collect();
        assert_spread("tuple keys", &hashes);
        // The same strings split differently are different keys.
        assert_ne!(
            state.hash_one(("usr", subject, "viewer", "proj", subject)),
            state.hash_one(("usrv", subject, "iewer", "proj", subject))
        );
    }

    #[test]
    fn writes_of_any_length_distinguish_one_byte_and_length() {
        let state = KeyedState::new();
        let mut seen = HashSet::new();
        for len in 0..40_usize {
            let bytes: Vec<u8> = (0..len).map(|at| (at as u8).wrapping_mul(37)).collect();
            let hash = hash_bytes(&state, &bytes);
            assert!(seen.insert(hash), "length {len} repeats an earlier hash");
            for at in 0..len {
                for flip in [0x01, 0x80, 0xff] {
                    let mut changed = bytes.clone();
                    changed[at] ^= flip;
                    assert_ne!(
                        hash_bytes(&state, &changed),
                        hash,
                        "length {len}: flipping byte {at} by {flip:#x} left the hash alone"
                    );
                }
            }
        }
        // Runs of one byte value differ only in their length; zero padding is the classic way
        // to make a length-blind hash collide.
        for fill in [0x00, 0x01, 0xff] {
            let hashes: HashSet<u64> = (0..40)
                .map(|len| hash_bytes(&state, &vec![fill; len]))
                .collect();
            assert_eq!(hashes.len(), 40, "runs of {fill:#x} collide across lengths");
        }
        // Eight bytes X read as (X, X), and nine bytes read as (X, X ^ 1) since their last
        // eight bytes are X with the first byte flipped: if the length (8 or 9) were merely
        // XORed into the second word, both would feed (X, X ^ 8) and collide for every key.
        let nine = [0, 1, 1, 1, 1, 1, 1, 1, 1];
        assert_ne!(hash_bytes(&state, &nine[..8]), hash_bytes(&state, &nine));
    }

    #[test]
    fn uuids_hash_through_the_byte_path() {
        // Uuid's Hash writes its 16 bytes, so this documents (and checks) which path the ids
        // take: if uuid changed that, the fast path for ids would need revisiting.
        let state = KeyedState::new();
        let id = Uuid::now_v7();
        assert_eq!(state.hash_one(id), hash_bytes(&state, id.as_bytes()));
    }
}
