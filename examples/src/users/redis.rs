//! The user table in the Redis server (or Redis Cluster) that holds the sessions, shared by
//! every process on it.
//!
//! Keys (after the prefix): `user:<id>` → the user as JSON; `name:<lower-case username>` → the
//! id, claimed with `SET NX`; `token:<hex SHA-256>` → a [`TokenRecord`] as JSON; `next-id`, the
//! id counter; `ids`, the set of user ids; `passkey:<credential id>` → the id of the passkey's
//! user, claimed with `SET NX`. Updates are compare-and-swap scripts.
//!
//! **Redis Cluster.** A script, and `MGET`, may only touch keys of one hash slot: a
//! registration's script touches the name key, the user key and `ids`, and the admin page's
//! list reads every user key in one `MGET`. So on a cluster the prefix carries a hash tag (the
//! demo's is `sesame-demo:{users}:`, see [`crate::REDIS_USERS_PREFIX`]) and every key of the
//! table lives in that one slot, on one node: the table is small beside the sessions (which the
//! store spreads over the cluster), and one slot keeps its scripts atomic exactly as on one
//! server, where the tag changes nothing. Commands go through the store's
//! [`Connection`], which routes them to the slot's node on a cluster.

use std::fmt;
use std::sync::LazyLock;

use async_trait::async_trait;
use sesame_redis::Connection;
use sesame_redis::RedisStore;
use sesame_redis::redis;

use super::{
    CreateError, DemoUser, TokenHash, TokenRecord, UserChange, UserStoreError, UserTable, changed,
    decode_user,
};

/// Claims the name (`SET NX`) and, only then, writes the user and adds its id: one atomic step.
/// KEYS: name, user, ids. ARGV: id, user JSON. Returns 1 when created, 0 when the name is taken.
static CREATE_USER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
",
    )
});

/// Compare-and-swap of a user record. KEYS: user. ARGV: expected, new. Returns 1 when swapped.
static SWAP_USER: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
",
    )
});

/// The user table in Redis, on a session store's connection and bounded by its timeout. Cheap
/// to clone.
#[derive(Clone)]
pub struct RedisUsers {
    store: RedisStore,
    prefix: String,
}

impl fmt::Debug for RedisUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUsers")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisUsers {
    /// The user table on `store`'s server, under keys starting with `prefix` (which must not
    /// start the store's prefix, nor the other way round). On a Redis Cluster the prefix must
    /// hold a hash tag (`app:{users}:`), which puts every key of the table in one slot; without
    /// one, a registration would fail with a cross-slot error (a warning says so at once).
    pub fn new(store: &RedisStore, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        if store.is_cluster() && hash_tag(&prefix).is_none() {
            tracing::warn!(
                %prefix,
                "the Redis user table is on a cluster but its prefix has no hash tag like {{users}}: its scripts will fail across slots"
            );
        }
        Self {
            store: store.clone(),
            prefix,
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}{name}", self.prefix)
    }

    fn token_key(&self, hash: &TokenHash) -> String {
        self.key("token:", &hex::encode(hash))
    }

    /// Runs one command or script on the store's connection, bounded by the store's timeout.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, UserStoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let timeout = self.store.timeout();
        match tokio::time::timeout(timeout, f(self.store.connection())).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(UserStoreError::Timeout(timeout)),
        }
    }

    async fn get_bytes(&self, key: String) -> Result<Option<Vec<u8>>, UserStoreError> {
        self.run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await
    }
}

/// The hash tag of a key as Redis Cluster reads it: what is between the first `{` and the next
/// `}`, if not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let tag = &rest[..rest.find('}')?];
    (!tag.is_empty()).then_some(tag)
}

#[async_trait]
impl UserTable for RedisUsers {
    async fn get(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError> {
        self.get_bytes(self.key("user:", id))
            .await?
            .map(|bytes| decode_user(&bytes))
            .transpose()
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<DemoUser>, UserStoreError> {
        let name = self.key("name:", &username.to_lowercase());
        match self.get_bytes(name).await? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    async fn count(&self) -> Result<usize, UserStoreError> {
        let ids = self.key("ids", "");
        self.run(|mut c| async move { redis::cmd("SCARD").arg(ids).query_async(&mut c).await })
            .await
    }

    /// Every id from the `ids` set, their users in one `MGET`, sorted by lower-case name.
    /// (The whole table is read: fine for the demo's admin page, not for millions of users.)
    async fn list(&self, limit: usize) -> Result<Vec<DemoUser>, UserStoreError> {
        let ids = self.key("ids", "");
        let ids: Vec<String> = self
            .run(|mut c| async move { redis::cmd("SMEMBERS").arg(ids).query_async(&mut c).await })
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key("user:", id)).collect();
        let records: Vec<Option<Vec<u8>>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        let mut users = records
            .into_iter()
            .flatten()
            .map(|bytes| decode_user(&bytes))
            .collect::<Result<Vec<_>, _>>()?;
        users.sort_by_cached_key(|u| u.username.to_lowercase());
        users.truncate(limit);
        Ok(users)
    }

    async fn next_id(&self) -> Result<String, UserStoreError> {
        let counter = self.key("next-id", "");
        let id: u64 = self
            .run(|mut c| async move { redis::cmd("INCR").arg(counter).query_async(&mut c).await })
            .await?;
        Ok(id.to_string())
    }

    async fn insert(&self, user: &DemoUser) -> Result<(), CreateError> {
        let bytes = serde_json::to_vec(user).map_err(UserStoreError::from)?;
        let keys = [
            self.key("name:", &user.username.to_lowercase()),
            self.key("user:", &user.id),
            self.key("ids", ""),
        ];
        let id = user.id.clone();
        let created: i64 = self
            .run(|mut c| async move {
                CREATE_USER
                    .key(&keys[..])
                    .arg(&id)
                    .arg(bytes)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if created != 1 {
            return Err(CreateError::UsernameTaken);
        }
        Ok(())
    }

    async fn update(
        &self,
        id: &str,
        change: &UserChange<'_>,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        let key = self.key("user:", id);
        loop {
            let Some(old) = self.get_bytes(key.clone()).await? else {
                return Ok(None);
            };
            let (user, new) = changed(&old, change)?;
            let key = key.clone();
            let swapped: i64 = self
                .run(|mut c| async move {
                    SWAP_USER
                        .key(key)
                        .arg(old)
                        .arg(new)
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            if swapped == 1 {
                return Ok(Some(user));
            }
        }
    }

    async fn insert_token(
        &self,
        hash: &TokenHash,
        record: &TokenRecord,
    ) -> Result<(), UserStoreError> {
        let key = self.token_key(hash);
        let record = serde_json::to_vec(record)?;
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(record)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, UserStoreError> {
        Ok(self
            .get_bytes(self.token_key(hash))
            .await?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()?)
    }

    async fn remove_token(&self, hash: &TokenHash) -> Result<(), UserStoreError> {
        let key = self.token_key(hash);
        self.run(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await })
            .await
    }

    async fn claim_passkey(
        &self,
        credential_id: &str,
        user_id: &str,
    ) -> Result<bool, UserStoreError> {
        let key = self.key("passkey:", credential_id);
        let user_id = user_id.to_owned();
        let set: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(user_id)
                    .arg("NX")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    async fn passkey_owner(&self, credential_id: &str) -> Result<Option<String>, UserStoreError> {
        Ok(self
            .get_bytes(self.key("passkey:", credential_id))
            .await?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    async fn release_passkey(&self, credential_id: &str) -> Result<(), UserStoreError> {
        let key = self.key("passkey:", credential_id);
        self.run(|mut c| async move { redis::cmd("DEL").arg(key).query_async::<()>(&mut c).await })
            .await
    }

    /// Durability is the Redis server's configuration: nothing to do.
    async fn flush(&self) -> Result<(), UserStoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::hash_tag;

    #[test]
    fn every_key_of_the_demo_table_shares_one_hash_tag() {
        assert_eq!(hash_tag(crate::REDIS_USERS_PREFIX), Some("users"));
        for kind in [
            "user:7",
            "name:alice",
            "ids",
            "next-id",
            "token:ab12",
            "passkey:AbC-_1",
        ] {
            let key = format!("{}{kind}", crate::REDIS_USERS_PREFIX);
            assert_eq!(hash_tag(&key), Some("users"), "{key}");
        }
        assert_eq!(hash_tag("sesame-demo:"), None);
        assert_eq!(
            hash_tag("a:{}:{users}"),
            None,
            "an empty first tag is no tag"
        );
        assert_eq!(hash_tag("a:{users"), None);
    }
}
