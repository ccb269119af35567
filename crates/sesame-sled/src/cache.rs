//! A cache of decoded session records in front of the sessions tree.
//!
//! An authenticated request loads its session record: from sled that is a tree lookup plus a
//! decode, about a tenth of a small request's CPU time. The cache keeps decoded records so
//! that a load is a hash lookup and a reference count (the core copies a record only to change
//! it).
//!
//! # Coherence
//!
//! Every write to a session record goes through a [`crate::SledStore`] and *invalidates* the key
//! after the sled write (whether it succeeded or not); the cache never holds a record that a
//! write has replaced or deleted:
//!
//! * A load that misses notes its shard's generation, reads sled, and inserts what it read only
//!   if the generation has not moved meanwhile. Every invalidation bumps the generation under
//!   the shard lock, so a record read before a concurrent write completed is never inserted
//!   after that write's invalidation; one inserted before it is removed by it.
//! * Writers only remove entries, never insert: two racing writers cannot leave the older
//!   record behind.
//! * All the stores of a process over one sessions tree share one cache (a process-wide
//!   registry keyed by the tree), so a second `SledStore` on the same database and prefix
//!   invalidates for the first. Writing the session trees other than through a store is not
//!   supported (it always was: the indexes would go stale too).
//!
//! The cache is bounded (an arbitrary entry of the shard is evicted when it is full) and holds
//! exactly what sled holds, so expiry and session protection, which the core checks on every
//! load, behave the same with and without it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;
use sesame::Record;

const SHARDS: usize = 16;

/// The default number of session records kept in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 16 * 1024;

pub(crate) struct RecordCache {
    /// The sessions tree's identity in the registry.
    id: usize,
    per_shard: usize,
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Default)]
struct Shard {
    generation: u64,
    records: HashMap<Key, Arc<Record>, BuildHasherDefault<KeyHasher>>,
}

/// A store key in the cache. Store keys are SHA-256 outputs of random session ids, so 8 of
/// their bytes are already a uniform hash: the map uses them as they are instead of running
/// SipHash over all 32 on every request. (No one can choose keys to make them collide: a key
/// is only looked up after its cookie's MAC verified, and written for a freshly drawn id.)
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u8; 32]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Bytes 8..16: independent of byte 0, which picks the shard.
        let [_, _, _, _, _, _, _, _, a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// Passes [`Key`]'s 64 bits through.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; kept correct for any other input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A miss: where to put what is read, if nothing was written meanwhile.
pub(crate) struct Miss {
    shard: usize,
    generation: u64,
}

type Registry = HashMap<usize, (sled::Tree, Weak<RecordCache>)>;

/// The caches in use, by sessions tree. An entry holds a handle to its tree so that the tree's
/// address cannot be reused while the entry exists; it is removed when its cache is dropped.
static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

impl RecordCache {
    /// The cache of `tree`, shared with every other live store over it. The first store's
    /// capacity wins; a capacity of zero keeps nothing, but its stores still take part in the
    /// invalidations, so that stores with and without a cache over one tree stay coherent.
    pub(crate) fn for_tree(tree: &sled::Tree, capacity: usize) -> Arc<Self> {
        // The address of the tree's shared inner state: the same for every handle on it.
        let id = std::ptr::from_ref(&**tree).cast::<()>() as usize;
        let mut registry = REGISTRY.lock();
        if let Some(cache) = registry.get(&id).and_then(|(_, weak)| weak.upgrade()) {
            return cache;
        }
        let cache = Arc::new(Self {
            id,
            per_shard: capacity.div_ceil(SHARDS),
            shards: Default::default(),
        });
        let replaced = registry.insert(id, (tree.clone(), Arc::downgrade(&cache)));
        drop(registry);
        drop(replaced);
        cache
    }

    fn shard(key: &[u8; 32]) -> usize {
        // Store keys are BLAKE2b outputs: any byte is uniformly distributed.
        usize::from(key[0]) % SHARDS
    }

    /// The cached record, or a [`Miss`] to complete with [`RecordCache::fill`].
    pub(crate) fn get(&self, key: &[u8; 32]) -> Result<Arc<Record>, Miss> {
        let shard = Self::shard(key);
        let guard = self.shards[shard].lock();
        match guard.records.get(&Key(*key)) {
            Some(record) => Ok(Arc::clone(record)),
            None => Err(Miss {
                shard,
                generation: guard.generation,
            }),
        }
    }

    /// Keeps `record`, read from sled after `miss`, unless the key's shard was written since.
    pub(crate) fn fill(&self, miss: Miss, key: [u8; 32], record: &Arc<Record>) {
        let mut guard = self.shards[miss.shard].lock();
        if guard.generation != miss.generation || self.per_shard == 0 {
            return;
        }
        if guard.records.len() >= self.per_shard
            && let Some(victim) = guard.records.keys().next().copied()
        {
            guard.records.remove(&victim);
        }
        guard.records.insert(Key(key), Arc::clone(record));
    }

    /// Forgets `key`: called after every write to its record.
    pub(crate) fn invalidate(&self, key: &[u8]) {
        let Ok(key) = <&[u8; 32]>::try_from(key) else {
            return;
        };
        let mut guard = self.shards[Self::shard(key)].lock();
        guard.generation += 1;
        guard.records.remove(&Key(*key));
    }

    /// Forgets everything (after a purge, which deletes records it does not list).
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut guard = shard.lock();
            guard.generation += 1;
            guard.records.clear();
        }
    }
}

impl Drop for RecordCache {
    fn drop(&mut self) {
        let mut registry = REGISTRY.lock();
        let dead = registry
            .get(&self.id)
            .is_some_and(|(_, weak)| weak.strong_count() == 0);
        let entry = if dead {
            registry.remove(&self.id)
        } else {
            None
        };
        drop(registry);
        // The tree handle (maybe the database's last) is dropped outside the lock.
        drop(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: u64) -> Arc<Record> {
        let mut r = sesame::store::suite::record(Some("u"), i64::MAX);
        r.version = version;
        Arc::new(r)
    }

    #[test]
    fn a_fill_after_an_invalidation_is_dropped() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let cache = RecordCache::for_tree(&db.open_tree("s").unwrap(), 64);
        let key = [7u8; 32];
        let Err(miss) = cache.get(&key) else {
            panic!("empty cache hit")
        };
        cache.invalidate(&key);
        cache.fill(miss, key, &record(1));
        assert!(cache.get(&key).is_err(), "stale read was cached");
        let Err(miss) = cache.get(&key) else {
            panic!("hit")
        };
        cache.fill(miss, key, &record(2));
        assert_eq!(cache.get(&key).ok().map(|r| r.version), Some(2));
        cache.invalidate(&key);
        assert!(cache.get(&key).is_err());
    }

    #[test]
    fn stores_over_one_tree_share_a_cache_and_capacity_is_bounded() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("s").unwrap();
        let a = RecordCache::for_tree(&tree, 32);
        let b = RecordCache::for_tree(&db.open_tree("s").unwrap(), 1000);
        assert!(Arc::ptr_eq(&a, &b));
        let other = RecordCache::for_tree(&db.open_tree("t").unwrap(), 32);
        assert!(!Arc::ptr_eq(&a, &other));
        // A store without a cache shares the invalidations of the one that has it.
        assert!(Arc::ptr_eq(&a, &RecordCache::for_tree(&tree, 0)));
        // Without a cache, nothing is kept.
        let none = RecordCache::for_tree(&db.open_tree("u").unwrap(), 0);
        if let Err(miss) = none.get(&[1; 32]) {
            none.fill(miss, [1; 32], &record(1));
        }
        assert!(none.get(&[1; 32]).is_err());
        for i in 0..=255u8 {
            let key = [i; 32];
            if let Err(miss) = a.get(&key) {
                a.fill(miss, key, &record(1));
            }
        }
        let kept: usize = a.shards.iter().map(|s| s.lock().records.len()).sum();
        assert!(kept <= 32, "{kept} records kept");
        let id = a.id;
        drop((a, b));
        assert!(
            !REGISTRY.lock().contains_key(&id),
            "the registry forgets a tree without stores"
        );
    }
}
