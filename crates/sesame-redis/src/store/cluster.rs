//! Redis Cluster: the connection, the slot-tagged key layout, and the operations that span two
//! slots.
//!
//! A script runs on one node and may only touch keys of one hash slot. The layout therefore
//! puts everything one script must change together under one hash tag:
//!
//! - **a user's slot**, tag `{u:<user id>}`: the records of the user's sessions and remember-me
//!   tokens, their two per-user indexes and the slot's expiry indexes. Logging out everywhere,
//!   revoking the other sessions and theft revocation are each one script there, as on one
//!   server.
//! - **a bucket's slot**, tag `{a:<bucket>}` (256 buckets, by a hash of the session's store key
//!   or the token's selector): the session's or token's *home* key, the one a lookup by key
//!   finds. An anonymous session's record is its home key itself; a user's session or token
//!   has a pointer there (a hash with the field `h`, the user id) to the user's slot.
//!
//! So a load by key is one `HMGET` for an anonymous session, two for a logged-in one (home,
//! then record). Writes within one slot are one script; writes that move a record between
//! slots (a session logging in or out without a new key) are two or three steps ordered so that
//! a crash in between loses the session rather than resurrecting or duplicating it.

use std::future::Future;
use std::pin::Pin;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use sesame::StoreError;
use sesame::record::MAX_REMEMBER_RECORD;
use sesame::store::Update;

use super::{Family, RedisStore, Stored, cas_outcome, corrupt, loaded};
use crate::error::Unexpected;
use crate::scripts;

/// The store's connection: to one server (a reconnecting
/// [`ConnectionManager`](redis::aio::ConnectionManager)) or to a cluster
/// ([`ClusterConnection`], which routes each command to the node serving its key's slot). Both
/// run commands through [`redis::aio::ConnectionLike`] (and so
/// [`redis::AsyncCommands`]); clones share the connection.
#[derive(Clone)]
#[non_exhaustive]
pub enum Connection {
    /// One server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "Connection::Single",
            Self::Cluster(_) => "Connection::Cluster",
        })
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The two kinds of records kept under a key of their own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Sessions,
    Remember,
}

/// Number of buckets the home keys are spread over (one hash tag each).
const BUCKETS: u16 = 256;

/// Users re-scored per purge batch.
const REGISTRY_BATCH: usize = 100;

/// What a home key holds.
enum Home {
    None,
    /// An anonymous session's record.
    Anonymous,
    /// A pointer to the user's slot.
    User(String),
}

/// The bucket of a key or selector: FNV-1a, folded to a byte.
fn bucket(id: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    u16::try_from(h % u32::from(BUCKETS)).unwrap_or(0)
}

impl Kind {
    fn names(self) -> [&'static str; 4] {
        match self {
            Self::Sessions => ["s:", "ui:", "x", "uix"],
            Self::Remember => ["r:", "rui:", "rx", "ruix"],
        }
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

impl RedisStore {
    fn limit(&self, kind: Kind) -> usize {
        match kind {
            Kind::Sessions => self.inner.max_record_bytes,
            Kind::Remember => MAX_REMEMBER_RECORD,
        }
    }

    /// The key names of a user's records: on one server the store's own; on a cluster tagged
    /// `{u:<user>}`, so that all of them share the user's slot.
    pub(super) fn user_family(&self, kind: Kind, user: &str) -> Family {
        let prefix = if self.is_cluster() {
            format!("{}{{u:{user}}}:", self.inner.prefix)
        } else {
            self.inner.prefix.clone()
        };
        Family::new(&prefix, kind.names(), self.limit(kind))
    }

    /// The key names of a bucket's slot (cluster only).
    fn bucket_family(&self, kind: Kind, bucket: u16) -> Family {
        let prefix = format!("{}{{a:{bucket:02x}}}:", self.inner.prefix);
        Family::new(&prefix, kind.names(), self.limit(kind))
    }

    /// The family holding `id`'s home key.
    fn home_family(&self, kind: Kind, id: &str) -> Family {
        self.bucket_family(kind, bucket(id))
    }

    /// The registry of users with records, scored by (at most) their earliest expiry.
    fn registry(&self) -> String {
        format!("{}{{reg}}:users", self.inner.prefix)
    }

    /// Files `user` in the registry with `expires_at`, unless it is there with an earlier one.
    /// Done before the write it announces, so that the registry always covers the users'
    /// records.
    async fn register(&self, user: &str, expires_at: i64) -> Result<(), StoreError> {
        let registry = self.registry();
        let user = user.to_owned();
        self.run("register", move |mut c| async move {
            redis::cmd("ZADD")
                .arg(registry)
                .arg("LT")
                .arg(expires_at)
                .arg(user)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// What `id`'s home key holds.
    async fn locate(&self, kind: Kind, id: &str) -> Result<Home, StoreError> {
        let home = self.home_family(kind, id).record_key(id);
        let (version, user): (Option<String>, Option<String>) = self
            .run("locate", move |mut c| async move {
                redis::cmd("HMGET")
                    .arg(home)
                    .arg("v")
                    .arg("h")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        match (version, user) {
            (None, None) => Ok(Home::None),
            (Some(_), None) => Ok(Home::Anonymous),
            (None, Some(user)) => Ok(Home::User(user)),
            (Some(_), Some(_)) => Err(corrupt(Unexpected("a home key is record and pointer"))),
        }
    }

    /// Runs a one-key home script with string arguments; its integer reply.
    async fn home_script(
        &self,
        script: &'static redis::Script,
        home: String,
        args: Vec<String>,
    ) -> Result<i64, StoreError> {
        self.run("home", move |mut c| async move {
            let mut call = script.key(home);
            for a in args {
                call.arg(a);
            }
            call.invoke_async(&mut c).await
        })
        .await
    }

    /// Writes a record into `family` whatever was there (a leftover of an interrupted move).
    async fn put_in<R: Stored>(
        &self,
        family: &Family,
        id: String,
        record: &R,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        if !self
            .create_in(family, id.clone(), record, bytes.clone())
            .await?
        {
            self.delete_in(family, id.clone()).await?;
            self.create_in(family, id, record, bytes).await?;
        }
        Ok(())
    }

    pub(super) async fn c_create<R: Stored>(
        &self,
        kind: Kind,
        id: String,
        record: &R,
        bytes: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let home = self.home_family(kind, &id);
        let Some(user) = record.user_id() else {
            return self.create_in(&home, id, record, bytes).await;
        };
        let user = user.to_owned();
        let expires_at = record.expires_at();
        // The home key is the point of uniqueness: claim it, then write the record.
        let claimed = self
            .home_script(
                &scripts::HOME_CLAIM,
                home.record_key(&id),
                vec![user.clone(), expires_at.to_string()],
            )
            .await?;
        if claimed != 1 {
            return Ok(false);
        }
        self.register(&user, expires_at).await?;
        self.put_in(&self.user_family(kind, &user), id, record, bytes)
            .await?;
        Ok(true)
    }

    pub(super) async fn c_load<R: Stored>(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<R>, StoreError> {
        let family = self.home_family(kind, id);
        let home = family.record_key(id);
        type Fields = (
            Option<String>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let (version, bytes, expires_at, last_seen, user): Fields = self
            .run("load", move |mut c| async move {
                redis::cmd("HMGET")
                    .arg(home)
                    .arg("v")
                    .arg("d")
                    .arg("e")
                    .arg("l")
                    .arg("h")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        match user {
            None => loaded(&family, version, bytes, expires_at, last_seen),
            Some(user) => {
                let record: Option<R> = self.load_from(&self.user_family(kind, &user), id).await?;
                // A record filed under another user than its pointer names is not this one.
                Ok(record.filter(|r| r.user_id() == Some(user.as_str())))
            }
        }
    }

    pub(super) fn c_update<'a, R: Stored + Send + Sync + 'a>(
        &'a self,
        kind: Kind,
        id: String,
        record: &'a R,
        bytes: Vec<u8>,
        expected_version: u64,
    ) -> BoxFut<'a, Update<R>> {
        Box::pin(async move {
            let new_user = record.user_id().map(str::to_owned);
            let expires_at = record.expires_at();
            let home = self.home_family(kind, &id);
            let home_key = home.record_key(&id);
            // The common case first: the record stays where it is (a user's session saved for
            // the same user, an anonymous one saved anonymous). A compare-and-swap that finds
            // the record at that place with the expected version is correct whatever the home
            // key says, since a move deletes the record from its place first; anything else
            // (missing, or a pointer where an anonymous record was expected) goes the long way.
            let (guess, guess_key) = match &new_user {
                Some(user) => (self.user_family(kind, user), None),
                None => (self.home_family(kind, &id), Some(())),
            };
            let anonymous = guess_key.is_some();
            let fast = self
                .update_in(&guess, id.clone(), record, bytes.clone(), expected_version)
                .await;
            match fast {
                Ok(Update::Saved) => {
                    if let (Some(user), false) = (&new_user, anonymous) {
                        self.home_script(
                            &scripts::HOME_EXTEND,
                            home_key,
                            vec![user.clone(), expires_at.to_string()],
                        )
                        .await?;
                    }
                    return Ok(Update::Saved);
                }
                Ok(Update::Conflict(current)) => return Ok(Update::Conflict(current)),
                // Missing there, or (anonymous guess) a pointer in the home key.
                Ok(Update::Missing) | Err(StoreError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
            match (self.locate(kind, &id).await?, new_user) {
                (Home::None, _) => Ok(Update::Missing),
                (Home::Anonymous, None) => {
                    self.update_in(&home, id, record, bytes, expected_version)
                        .await
                }
                (Home::User(old), Some(new)) if old == new => {
                    self.register(&new, expires_at).await?;
                    let family = self.user_family(kind, &new);
                    let outcome = self
                        .update_in(&family, id, record, bytes, expected_version)
                        .await?;
                    if matches!(outcome, Update::Saved) {
                        self.home_script(
                            &scripts::HOME_EXTEND,
                            home_key,
                            vec![new, expires_at.to_string()],
                        )
                        .await?;
                    }
                    Ok(outcome)
                }
                (Home::User(old), new) => {
                    // Leaving a user's slot: compare-and-delete there first (the
                    // linearisation point), then re-point the home key and write the record
                    // at its new place. In between, a load finds nothing.
                    let outcome: Update<R> = self
                        .delete_version_in(
                            &self.user_family(kind, &old),
                            id.clone(),
                            expected_version,
                        )
                        .await?;
                    if !matches!(outcome, Update::Saved) {
                        return Ok(outcome);
                    }
                    match new {
                        None => {
                            self.home_script(&scripts::HOME_DROP, home_key, vec![old])
                                .await?;
                            self.put_in(&home, id, record, bytes).await?;
                        }
                        Some(new) => {
                            self.home_script(
                                &scripts::HOME_REPOINT,
                                home_key,
                                vec![old, new.clone(), expires_at.to_string()],
                            )
                            .await?;
                            self.register(&new, expires_at).await?;
                            self.put_in(&self.user_family(kind, &new), id, record, bytes)
                                .await?;
                        }
                    }
                    Ok(Update::Saved)
                }
                (Home::Anonymous, Some(new)) => {
                    // Compare-and-swap the anonymous record for a pointer (the linearisation
                    // point), then write the record in the user's slot.
                    let expiry = home.expiry.clone();
                    let args = (expected_version, new.clone(), expires_at, id.clone());
                    let reply: Value = self
                        .run("update", move |mut c| async move {
                            let mut call = scripts::HOME_POINT.key(home_key);
                            call.key(expiry)
                                .arg(args.0)
                                .arg(args.1)
                                .arg(args.2)
                                .arg(args.3);
                            call.invoke_async(&mut c).await
                        })
                        .await?;
                    if let Value::Array(items) = &reply
                        && matches!(items.first(), Some(Value::Int(4)))
                    {
                        return Err(StoreError::unavailable(Unexpected(
                            "the session moved during the update; retry",
                        )));
                    }
                    let outcome: Update<R> = cas_outcome(reply, home.limit)?;
                    if !matches!(outcome, Update::Saved) {
                        return Ok(outcome);
                    }
                    self.register(&new, expires_at).await?;
                    self.put_in(&self.user_family(kind, &new), id, record, bytes)
                        .await?;
                    Ok(Update::Saved)
                }
            }
        })
    }

    pub(super) async fn c_delete(&self, kind: Kind, id: String) -> Result<bool, StoreError> {
        let home = self.home_family(kind, &id);
        match self.locate(kind, &id).await? {
            Home::None => Ok(false),
            Home::Anonymous => self.delete_in(&home, id).await,
            Home::User(user) => {
                let deleted = self
                    .delete_in(&self.user_family(kind, &user), id.clone())
                    .await?;
                self.home_script(&scripts::HOME_DROP, home.record_key(&id), vec![user])
                    .await?;
                Ok(deleted)
            }
        }
    }

    pub(super) async fn c_delete_version<R: Stored>(
        &self,
        kind: Kind,
        id: String,
        expected_version: u64,
    ) -> Result<Update<R>, StoreError> {
        let home = self.home_family(kind, &id);
        match self.locate(kind, &id).await? {
            Home::None => Ok(Update::Missing),
            Home::Anonymous => self.delete_version_in(&home, id, expected_version).await,
            Home::User(user) => {
                let outcome = self
                    .delete_version_in(&self.user_family(kind, &user), id.clone(), expected_version)
                    .await?;
                if matches!(outcome, Update::Saved) {
                    self.home_script(&scripts::HOME_DROP, home.record_key(&id), vec![user])
                        .await?;
                }
                Ok(outcome)
            }
        }
    }

    pub(super) async fn c_touch(
        &self,
        id: String,
        last_seen: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let kind = Kind::Sessions;
        let home = self.home_family(kind, &id);
        match self.locate(kind, &id).await? {
            Home::None => Ok(false),
            Home::Anonymous => self.touch_in(&home, id, last_seen, expires_at).await,
            Home::User(user) => {
                let touched = self
                    .touch_in(
                        &self.user_family(kind, &user),
                        id.clone(),
                        last_seen,
                        expires_at,
                    )
                    .await?;
                if touched {
                    self.home_script(
                        &scripts::HOME_EXTEND,
                        home.record_key(&id),
                        vec![user, expires_at.to_string()],
                    )
                    .await?;
                }
                Ok(touched)
            }
        }
    }

    /// Purges the 256 buckets of one kind concurrently (they are spread over the masters, and
    /// the cluster connection multiplexes); each bucket's batches are bounded by the timeout.
    async fn purge_buckets(&self, kind: Kind, now: i64) -> Result<usize, StoreError> {
        let mut tasks = tokio::task::JoinSet::new();
        for b in 0..BUCKETS {
            let store = self.clone();
            tasks.spawn(async move {
                let family = store.bucket_family(kind, b);
                store.purge_passes(&family, now, false).await
            });
        }
        let mut total = 0usize;
        let mut failed = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(n)) => total = total.saturating_add(n),
                Ok(Err(e)) => failed = Some(e),
                Err(e) => failed = Some(StoreError::backend(e)),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    /// Purges every bucket (anonymous sessions), then the users of the registry whose earliest
    /// expiry has passed. Returns the sessions and the remember-me tokens deleted.
    pub(super) async fn c_purge(&self, now: i64) -> Result<(usize, usize), StoreError> {
        let (sessions, remember) = tokio::join!(
            self.purge_buckets(Kind::Sessions, now),
            self.purge_buckets(Kind::Remember, now)
        );
        let (mut sessions, mut remember) = (sessions?, remember?);
        let registry = self.registry();
        // Every visited user is re-scored after `now` or removed; a concurrent write may file
        // a user again, so the walk is bounded.
        for _ in 0..1000 {
            let key = registry.clone();
            let due: Vec<(String, String)> = self
                .run("purge", move |mut c| async move {
                    redis::cmd("ZRANGEBYSCORE")
                        .arg(key)
                        .arg("-inf")
                        .arg(now)
                        .arg("WITHSCORES")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(REGISTRY_BATCH)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            for (user, old) in &due {
                let mut next: Option<String> = None;
                for kind in [Kind::Sessions, Kind::Remember] {
                    let family = self.user_family(kind, user);
                    let n = self.purge_in(&family, now).await?;
                    match kind {
                        Kind::Sessions => sessions += n,
                        Kind::Remember => remember += n,
                    }
                    let index = family.user_key(user);
                    let first: Vec<(String, String)> = self
                        .run("purge", move |mut c| async move {
                            redis::cmd("ZRANGEBYSCORE")
                                .arg(index)
                                .arg(format!("({now}"))
                                .arg("+inf")
                                .arg("WITHSCORES")
                                .arg("LIMIT")
                                .arg(0)
                                .arg(1)
                                .query_async(&mut c)
                                .await
                        })
                        .await?;
                    if let Some((_, score)) = first.into_iter().next() {
                        let earlier = match &next {
                            Some(cur) => {
                                score.parse::<f64>().unwrap_or(f64::MAX)
                                    < cur.parse::<f64>().unwrap_or(f64::MAX)
                            }
                            None => true,
                        };
                        if earlier {
                            next = Some(score);
                        }
                    }
                }
                self.home_script(
                    &scripts::REGISTRY_SET,
                    registry.clone(),
                    vec![user.clone(), old.clone(), next.unwrap_or_default()],
                )
                .await?;
            }
            if due.len() < REGISTRY_BATCH {
                break;
            }
        }
        if sessions + remember > 0 {
            tracing::debug!(sessions, remember, "purged the cluster");
        }
        Ok((sessions, remember))
    }
}
