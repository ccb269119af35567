use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{Durability, SessionStore, Update};
use crate::error::StoreError;
use crate::id::StoreKey;
use crate::record::{Record, RememberRecord, ThrottleRecord};

/// An in-memory store, for tests and single short-lived processes.
///
/// Nothing survives a restart. Expired records are dropped lazily and by
/// [`SessionStore::purge_expired`], which walks an expiry index.
///
/// ```
/// use sesame::store::MemoryStore;
/// let store = MemoryStore::new();
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<StoreKey, Arc<Record>>,
    users: HashMap<String, HashSet<StoreKey>>,
    expiry: BTreeSet<(i64, StoreKey)>,
    remember: HashMap<String, RememberRecord>,
    user_remember: HashMap<String, HashSet<String>>,
    throttle: HashMap<String, ThrottleRecord>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Inner {
    fn unindex(&mut self, key: &StoreKey, old: &Record) {
        self.expiry.remove(&(old.expires_at, *key));
        if let Some(uid) = old.user_id()
            && let Some(set) = self.users.get_mut(uid)
        {
            set.remove(key);
            if set.is_empty() {
                self.users.remove(uid);
            }
        }
    }

    fn index(&mut self, key: &StoreKey, new: &Record) {
        self.expiry.insert((new.expires_at, *key));
        if let Some(uid) = new.user_id() {
            self.users.entry(uid.to_owned()).or_default().insert(*key);
        }
    }

    fn remove(&mut self, key: &StoreKey) -> bool {
        match self.sessions.remove(key) {
            Some(old) => {
                self.unindex(key, &old);
                true
            }
            None => false,
        }
    }

    fn remove_remember(&mut self, selector: &str) -> bool {
        match self.remember.remove(selector) {
            Some(old) => {
                if let Some(set) = self.user_remember.get_mut(&old.user_id) {
                    set.remove(selector);
                    if set.is_empty() {
                        self.user_remember.remove(&old.user_id);
                    }
                }
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create(
        &self,
        key: &StoreKey,
        record: &Record,
        _: Durability,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        if inner.sessions.contains_key(key) {
            return Ok(false);
        }
        inner.index(key, record);
        inner.sessions.insert(*key, Arc::new(record.clone()));
        Ok(true)
    }

    async fn load(&self, key: &StoreKey) -> Result<Option<Record>, StoreError> {
        Ok(self
            .inner
            .lock()
            .sessions
            .get(key)
            .map(|r| Record::clone(r)))
    }

    async fn load_shared(&self, key: &StoreKey) -> Result<Option<Arc<Record>>, StoreError> {
        Ok(self.inner.lock().sessions.get(key).cloned())
    }

    fn load_cached(&self, key: &StoreKey) -> Option<Arc<Record>> {
        self.inner.lock().sessions.get(key).cloned()
    }

    async fn update(
        &self,
        key: &StoreKey,
        record: &Record,
        expected_version: u64,
        _: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let mut inner = self.inner.lock();
        let Some(current) = inner.sessions.get(key) else {
            return Ok(Update::Missing);
        };
        if current.version != expected_version {
            return Ok(Update::Conflict(Record::clone(current)));
        }
        let old = Arc::clone(current);
        inner.unindex(key, &old);
        inner.index(key, record);
        inner.sessions.insert(*key, Arc::new(record.clone()));
        Ok(Update::Saved)
    }

    async fn delete(&self, key: &StoreKey, _: Durability) -> Result<bool, StoreError> {
        Ok(self.inner.lock().remove(key))
    }

    async fn delete_version(
        &self,
        key: &StoreKey,
        expected_version: u64,
        _: Durability,
    ) -> Result<Update<Record>, StoreError> {
        let mut inner = self.inner.lock();
        match inner.sessions.get(key) {
            None => Ok(Update::Missing),
            Some(current) if current.version != expected_version => {
                Ok(Update::Conflict(Record::clone(current)))
            }
            Some(_) => {
                inner.remove(key);
                Ok(Update::Saved)
            }
        }
    }

    async fn touch(
        &self,
        key: &StoreKey,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        let Some(current) = inner.sessions.get_mut(key) else {
            return Ok(false);
        };
        let old_expiry = current.expires_at;
        if last_seen <= current.last_seen && expires_at <= old_expiry {
            return Ok(true);
        }
        let record = Arc::make_mut(current);
        record.last_seen = record.last_seen.max(last_seen);
        record.expires_at = old_expiry.max(expires_at);
        let new_expiry = record.expires_at;
        inner.expiry.remove(&(old_expiry, *key));
        inner.expiry.insert((new_expiry, *key));
        Ok(true)
    }

    async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<(StoreKey, Record)>, StoreError> {
        let inner = self.inner.lock();
        let Some(keys) = inner.users.get(user_id) else {
            return Ok(Vec::new());
        };
        Ok(keys
            .iter()
            .filter_map(|k| inner.sessions.get(k).map(|r| (*k, Record::clone(r))))
            .filter(|(_, r)| r.expires_at > now)
            .collect())
    }

    async fn count_user_sessions(&self, user_id: &str) -> Result<usize, StoreError> {
        Ok(self
            .inner
            .lock()
            .users
            .get(user_id)
            .map_or(0, |keys| keys.len()))
    }

    async fn delete_user_sessions(
        &self,
        user_id: &str,
        except: Option<&StoreKey>,
    ) -> Result<usize, StoreError> {
        let mut inner = self.inner.lock();
        let keys: Vec<StoreKey> = inner
            .users
            .get(user_id)
            .map(|s| s.iter().copied().filter(|k| Some(k) != except).collect())
            .unwrap_or_default();
        let mut n = 0;
        for k in keys {
            if inner.remove(&k) {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn purge_expired(&self, now: i64) -> Result<usize, StoreError> {
        let mut inner = self.inner.lock();
        let expired: Vec<StoreKey> = inner
            .expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, k)| *k)
            .collect();
        let mut n = 0;
        for k in expired {
            if inner.remove(&k) {
                n += 1;
            }
        }
        inner.remember.retain(|_, r| r.expires_at > now);
        inner.throttle.retain(|_, r| r.expires_at > now);
        let live: HashSet<String> = inner.remember.keys().cloned().collect();
        inner.user_remember.retain(|_, set| {
            set.retain(|s| live.contains(s));
            !set.is_empty()
        });
        Ok(n)
    }

    /// Exact: the records in the map (expired ones not purged yet included).
    async fn count_sessions(&self) -> Result<Option<u64>, StoreError> {
        Ok(u64::try_from(self.inner.lock().sessions.len()).ok())
    }

    async fn create_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        if inner.remember.contains_key(selector) {
            return Ok(false);
        }
        inner.remember.insert(selector.to_owned(), record.clone());
        inner
            .user_remember
            .entry(record.user_id.clone())
            .or_default()
            .insert(selector.to_owned());
        Ok(true)
    }

    async fn load_remember(&self, selector: &str) -> Result<Option<RememberRecord>, StoreError> {
        Ok(self.inner.lock().remember.get(selector).cloned())
    }

    async fn update_remember(
        &self,
        selector: &str,
        record: &RememberRecord,
        expected_version: u64,
    ) -> Result<Update<RememberRecord>, StoreError> {
        let mut inner = self.inner.lock();
        let Some(current) = inner.remember.get_mut(selector) else {
            return Ok(Update::Missing);
        };
        if current.version != expected_version {
            return Ok(Update::Conflict(current.clone()));
        }
        *current = record.clone();
        Ok(Update::Saved)
    }

    async fn delete_remember(&self, selector: &str) -> Result<bool, StoreError> {
        Ok(self.inner.lock().remove_remember(selector))
    }

    async fn delete_user_remember(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut inner = self.inner.lock();
        let selectors: Vec<String> = inner
            .user_remember
            .get(user_id)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let mut n = 0;
        for s in selectors {
            if inner.remove_remember(&s) {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn load_throttle(&self, key: &str) -> Result<Option<ThrottleRecord>, StoreError> {
        Ok(self.inner.lock().throttle.get(key).cloned())
    }

    async fn save_throttle(
        &self,
        key: &str,
        record: &ThrottleRecord,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        let current = inner.throttle.get(key).map_or(0, |r| r.version);
        if current != expected_version {
            return Ok(false);
        }
        inner.throttle.insert(key.to_owned(), record.clone());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    crate::store_suite!(super::MemoryStore::new());
}
