//! The per-request session handle and the framework-neutral request lifecycle.
//!
//! An adapter calls [`crate::Sesame::begin`] with what it read off the request, hands the
//! resulting handles to the application, and calls [`Session::finish`] on the response. In
//! between, the session is lazy: nothing is read from the store until a handler asks, and nothing
//! is written unless something changed (or the touch interval elapsed).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::config::{Config, Protection};
use crate::cookies::{self, IncomingCookies};
use crate::error::{DataError, SessionError, StoreError};
use crate::events::{Event, Events};
use crate::id::{SessionId, StoreKey, random_token};
use crate::record::{AuthRecord, Flash, Record};
use crate::remember::RememberToken;
use crate::request::RequestInfo;
use crate::response::{Finish, Rejection};
use crate::store::{Durability, SessionStore, Update};

/// How many times a save is re-applied on compare-and-swap conflicts before giving up.
const MAX_CAS_ATTEMPTS: usize = 64;

/// The framework-neutral part shared by every request: configuration, store, events.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) events: Events,
}

/// A change a request made to its session, kept so that it can be re-applied on top of a record
/// another request saved in the meantime.
#[derive(Debug, Clone)]
enum Op {
    Insert(String, serde_json::Value),
    Push(String, serde_json::Value),
    Remove(String),
    Clear,
    Flash(Flash),
    TakeFlashes(Vec<Flash>),
}

impl Op {
    fn apply(&self, r: &mut Record) {
        match self {
            Op::Insert(k, v) => {
                r.data.insert(k.clone(), v.clone());
            }
            Op::Push(k, v) => match r.data.get_mut(k) {
                Some(serde_json::Value::Array(items)) => items.push(v.clone()),
                _ => {
                    r.data
                        .insert(k.clone(), serde_json::Value::Array(vec![v.clone()]));
                }
            },
            Op::Remove(k) => {
                r.data.remove(k);
            }
            Op::Clear => r.data.clear(),
            Op::Flash(f) => r.flashes.push(f.clone()),
            Op::TakeFlashes(taken) => {
                for t in taken {
                    if let Some(i) = r.flashes.iter().position(|f| f == t) {
                        r.flashes.remove(i);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    loaded: bool,
    /// The id the record lives under, once it exists in the store.
    pub(crate) id: Option<SessionId>,
    /// The current record: as loaded, as created, or pending creation (`id` is `None`).
    pub(crate) record: Option<Arc<Record>>,
    /// The version the record had when loaded or last saved.
    base_version: u64,
    ops: Vec<Op>,
    /// Cookie decisions.
    set_session_cookie: bool,
    clear_session_cookie: bool,
    pub(crate) set_remember: Option<(RememberToken, i64)>,
    pub(crate) clear_remember: bool,
    set_csrf: Option<String>,
    /// A device cookie to send (a successful password check: [`crate::throttle`]).
    pub(crate) set_device: Option<cookies::DeviceCookie>,
    /// Flashes of a visitor without a session, kept in the flash cookie instead of the store.
    cookie_flashes: Vec<Flash>,
    /// The incoming flash cookie was read (its messages were taken or moved into the session).
    flash_cookie_consumed: bool,
    flash_cookie_changed: bool,
    /// The response depends on the session.
    read: bool,
    finished: bool,
    /// A store failure that leaves the session in an unknown state (e.g. a protected session
    /// that could not be deleted): the request must not be answered as if it had succeeded.
    failed: Option<StoreError>,
}

impl State {
    /// The record, to change: copied first if the store still shares it (copy on write).
    pub(crate) fn record_mut(&mut self) -> Option<&mut Record> {
        self.record.as_mut().map(Arc::make_mut)
    }
}

pub(crate) struct Inner {
    pub(crate) core: Arc<Core>,
    pub(crate) request: RequestInfo,
    pub(crate) incoming: IncomingCookies,
    pub(crate) state: Mutex<State>,
}

/// The per-request session handle (cheap to clone; all clones share one state).
///
/// Handlers use it for session data, flash messages and the CSRF token; adapters call
/// [`Session::finish`] when the response is ready.
///
/// ```
/// # tokio_test_block_on(async {
/// use sesame::{Config, Sesame, RequestInfo, testing::TestBackend};
///
/// let sesame = Sesame::builder(Config::builder(&[1u8; 64]).build()?, TestBackend::default()).build();
/// let (session, _auth) = sesame.begin(RequestInfo::new("GET", "/"), [].into_iter());
/// session.insert("theme", "dark").await?;
/// assert_eq!(session.get::<String>("theme").await?.as_deref(), Some("dark"));
/// let finish = session.finish(200).await;
/// assert_eq!(finish.set_cookies.len(), 1); // a new session cookie
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("path", &self.inner.request.path_and_query)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(core: Arc<Core>, request: RequestInfo, incoming: IncomingCookies) -> Self {
        Self {
            inner: Arc::new(Inner {
                core,
                request,
                incoming,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn config(&self) -> &Config {
        &self.inner.core.config
    }

    fn store(&self) -> &dyn SessionStore {
        &*self.inner.core.store
    }

    /// What the adapter read off the request.
    pub fn request(&self) -> &RequestInfo {
        &self.inner.request
    }

    pub(crate) async fn lock(&self) -> Result<tokio::sync::MutexGuard<'_, State>, SessionError> {
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Err(SessionError::Finished);
        }
        if !st.loaded {
            self.load(&mut st).await?;
        }
        Ok(st)
    }

    /// Loads the record named by the cookie, if any, and checks expiry and session protection.
    async fn load(&self, st: &mut State) -> Result<(), SessionError> {
        st.read = true;
        let Some(id) = self.inner.incoming.session.clone() else {
            st.loaded = true;
            st.clear_session_cookie = self.inner.incoming.session_present;
            return Ok(());
        };
        let key = id.store_key();
        // A record the store holds decoded in memory first: no boxed future on a cache hit.
        let cached = self.store().load_cached(&key);
        let loaded = match cached {
            Some(hit) => Ok(Some(hit)),
            None => self.store().load_shared(&key).await,
        };
        let record = match loaded {
            Ok(r) => r,
            Err(StoreError::Corrupt(e)) => {
                tracing::warn!(error = %e, "sesame: corrupt session record; treating the session as invalid");
                let _ = self.store().delete(&key, Durability::Lazy).await;
                None
            }
            Err(e) => return Err(e.into()),
        };
        st.loaded = true;
        let now = self.config().now();
        let record = match record {
            Some(r) if !self.expired(&r, now) => r,
            Some(_) => {
                // Expired: never served; removed lazily.
                if let Err(e) = self.store().delete(&key, Durability::Lazy).await {
                    tracing::debug!(error = %e, "sesame: lazy delete of an expired session failed");
                }
                st.clear_session_cookie = true;
                return Ok(());
            }
            None => {
                st.clear_session_cookie = true;
                return Ok(());
            }
        };
        st.base_version = record.version;
        st.id = Some(id);
        st.record = Some(record);
        if self.protection_passes(st) {
            return Ok(());
        }
        // Cold (a new client address or agent): boxed, to keep every request's future small.
        Box::pin(self.protect(st)).await
    }

    /// Whether a freshly loaded record needs no session-protection action: protection is off,
    /// the session is anonymous, or the client's fingerprint matches.
    fn protection_passes(&self, st: &State) -> bool {
        if self.config().protection == Protection::Off {
            return true;
        }
        let Some(record) = st.record.as_ref() else {
            return true;
        };
        if record.auth.is_none() && record.pending.is_none() {
            return true;
        }
        record.fingerprint.as_deref() == Some(self.inner.request.fingerprint().as_str())
    }

    pub(crate) fn expired(&self, r: &Record, now: i64) -> bool {
        let c = self.config();
        now >= r.expires_at || now >= r.absolute_deadline || now - r.last_seen >= c.idle_timeout
    }

    /// Session protection (Flask-Login's semantics) on a freshly loaded, logged-in record whose
    /// fingerprint is not the client's ([`Session::protection_passes`] said no).
    ///
    /// A login pending its second factor is protected as a non-fresh login: strong mode ends
    /// it, basic mode has nothing to take away.
    async fn protect(&self, st: &mut State) -> Result<(), SessionError> {
        let Some((user_id, fresh)) = st.record.as_ref().and_then(|r| {
            r.auth
                .as_ref()
                .map(|a| (a.user_id.clone(), a.fresh))
                .or_else(|| r.pending.as_ref().map(|p| (p.user_id.clone(), false)))
        }) else {
            return Ok(());
        };
        match self.config().protection {
            Protection::Off => {}
            Protection::Strong => {
                self.inner.core.events.emit(Event::SessionProtected {
                    user_id,
                    logged_out: true,
                });
                // No remember-me restore for this request, whatever the store answers below.
                st.clear_remember = true;
                self.destroy_locked(st).await?;
                // The remember-me token presented with it is revoked too, so that a copied
                // cookie cannot immediately log the session back in.
                if let Some(t) = self.inner.incoming.remember.as_ref() {
                    self.store().delete_remember(t.selector()).await?;
                }
            }
            _ if fresh => {
                self.inner.core.events.emit(Event::SessionProtected {
                    user_id,
                    logged_out: false,
                });
                if let Some(a) = st.record_mut().and_then(|r| r.auth.as_mut()) {
                    a.fresh = false;
                }
                self.save_now(st).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Gets a value, decoded with serde; `None` when absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let st = self.lock().await?;
        let Some(v) = st.record.as_ref().and_then(|r| r.data.get(key)) else {
            return Ok(None);
        };
        T::deserialize(v).map(Some).map_err(|source| {
            DataError::Decode {
                key: key.to_owned(),
                source,
            }
            .into()
        })
    }

    /// Inserts a value (serde-encoded), replacing any previous one.
    pub async fn insert<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), SessionError> {
        let v = serde_json::to_value(value).map_err(|source| DataError::Encode {
            key: key.to_owned(),
            source,
        })?;
        let mut st = self.lock().await?;
        self.apply(&mut st, Op::Insert(key.to_owned(), v));
        Ok(())
    }

    /// Appends a value to the list stored under `key` (creating it; a non-list value there is
    /// replaced by a one-item list).
    ///
    /// Unlike a `get` followed by an `insert`, concurrent appends from parallel requests on one
    /// session are all kept: each request's append is re-applied on top of the others' saves.
    pub async fn push<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), SessionError> {
        let v = serde_json::to_value(value).map_err(|source| DataError::Encode {
            key: key.to_owned(),
            source,
        })?;
        let mut st = self.lock().await?;
        self.apply(&mut st, Op::Push(key.to_owned(), v));
        Ok(())
    }

    /// Removes a value, returning it decoded.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut st = self.lock().await?;
        let Some(old) = st.record.as_ref().and_then(|r| r.data.get(key)).cloned() else {
            return Ok(None);
        };
        self.apply(&mut st, Op::Remove(key.to_owned()));
        T::deserialize(old).map(Some).map_err(|source| {
            DataError::Decode {
                key: key.to_owned(),
                source,
            }
            .into()
        })
    }

    /// Removes every value (the login state and flashes are kept).
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut st = self.lock().await?;
        if st.record.as_ref().is_some_and(|r| !r.data.is_empty()) {
            self.apply(&mut st, Op::Clear);
        }
        Ok(())
    }

    /// Flashes a message for the next page (Flask's `flash`).
    ///
    /// A visitor without a session gets the message in a signed cookie rather than a new store
    /// record, so that anonymous requests never write to the store.
    pub async fn flash(&self, category: &str, message: &str) -> Result<(), SessionError> {
        let mut st = self.lock().await?;
        let flash = Flash {
            category: category.to_owned(),
            message: message.to_owned(),
        };
        if st.record.is_none() {
            st.cookie_flashes.push(flash);
            st.flash_cookie_changed = true;
        } else {
            self.apply(&mut st, Op::Flash(flash));
        }
        Ok(())
    }

    /// Takes the pending flashed messages (Flask's `get_flashed_messages`); they are consumed.
    pub async fn take_flashes(&self) -> Result<Vec<Flash>, SessionError> {
        let mut st = self.lock().await?;
        let mut taken = Vec::new();
        if !st.flash_cookie_consumed && !self.inner.incoming.flashes.is_empty() {
            taken.extend(self.inner.incoming.flashes.iter().cloned());
        }
        if self.inner.incoming.flash_present {
            st.flash_cookie_consumed = true;
            st.flash_cookie_changed = true;
        }
        if !st.cookie_flashes.is_empty() {
            taken.append(&mut st.cookie_flashes);
            st.flash_cookie_changed = true;
        }
        let stored = st
            .record
            .as_ref()
            .map(|r| r.flashes.clone())
            .unwrap_or_default();
        if !stored.is_empty() {
            self.apply(&mut st, Op::TakeFlashes(stored.clone()));
            taken.extend(stored);
        }
        Ok(taken)
    }

    fn apply(&self, st: &mut State, op: Op) {
        if st.record.is_none() {
            st.record = Some(Arc::new(self.new_record(None)));
        }
        if let Some(r) = st.record_mut() {
            op.apply(r);
        }
        st.ops.push(op);
    }

    /// A fresh record for this request, optionally logged in.
    pub(crate) fn new_record(&self, auth: Option<AuthRecord>) -> Record {
        let c = self.config();
        let now = c.now();
        let absolute_deadline = now.saturating_add(c.absolute_timeout);
        Record {
            version: 1,
            created_at: now,
            last_seen: now,
            absolute_deadline,
            expires_at: now.saturating_add(c.idle_timeout).min(absolute_deadline),
            auth,
            pending: None,
            csrf: random_token::<32>(),
            fingerprint: Some(self.inner.request.fingerprint().as_str().to_owned()),
            user_agent: self.inner.request.user_agent.clone(),
            data: BTreeMap::new(),
            flashes: Vec::new(),
        }
    }

    /// The CSRF token to put in forms: the session's own when logged in, otherwise a signed
    /// double-submit token in a cookie, so that showing a form creates no store record.
    pub async fn csrf_token(&self) -> Result<String, SessionError> {
        let mut st = self.lock().await?;
        if let Some(r) = st.record.as_ref().filter(|r| r.auth.is_some()) {
            return Ok(r.csrf.clone());
        }
        if let Some(t) = &st.set_csrf {
            return Ok(t.clone());
        }
        if let Some(t) = &self.inner.incoming.csrf {
            return Ok(t.clone());
        }
        let t = random_token::<32>();
        st.set_csrf = Some(t.clone());
        Ok(t)
    }

    /// Checks a submitted CSRF token in constant time; `Err` is the `403` to answer with.
    pub async fn verify_csrf(&self, submitted: &str) -> Result<(), Rejection> {
        let st = self.lock().await?;
        let expected: Option<&str> = match st.record.as_ref().filter(|r| r.auth.is_some()) {
            Some(r) => Some(r.csrf.as_str()),
            None => self.inner.incoming.csrf.as_deref(),
        };
        let ok = expected.is_some_and(|e| {
            e.len() == submitted.len() && bool::from(e.as_bytes().ct_eq(submitted.as_bytes()))
        });
        if ok {
            Ok(())
        } else {
            tracing::info!(path = %self.inner.request.path_and_query, "sesame: CSRF check failed");
            Err(Rejection::csrf(self.inner.request.wants_json()))
        }
    }

    /// Cycles the session id (privilege change): the record moves to a new id, the old one is
    /// deleted, and a new cookie is sent. Durable before it returns.
    pub async fn cycle_id(&self) -> Result<(), SessionError> {
        let mut st = self.lock().await?;
        if st.record.is_some() {
            self.rotate_locked(&mut st, |latest| latest).await?;
        }
        Ok(())
    }

    /// Ends the session: deletes its record (durably) and the cookie.
    pub async fn destroy(&self) -> Result<(), SessionError> {
        let mut st = self.lock().await?;
        self.destroy_locked(&mut st).await
    }

    pub(crate) async fn destroy_locked(&self, st: &mut State) -> Result<(), SessionError> {
        // Forget the record before deleting it: whatever the store answers, this request goes
        // on as anonymous and can never write the record back (SECURITY.md 46).
        let id = st.id.take();
        st.record = None;
        st.ops.clear();
        st.set_session_cookie = false;
        st.set_remember = None;
        if let Some(id) = id {
            if let Err(e) = self
                .store()
                .delete(&id.store_key(), Durability::Flush)
                .await
            {
                // The record may live on: answer 503, and leave the cookie alone so that the
                // next request retries the deletion.
                st.clear_session_cookie = false;
                st.failed = Some(StoreError::backend(std::io::Error::other(
                    "deleting a session failed",
                )));
                return Err(e.into());
            }
            tracing::info!("sesame: session destroyed");
        }
        st.clear_session_cookie = self.inner.incoming.session_present;
        Ok(())
    }

    /// Moves the session to a new id (login, `cycle_id`, `confirm_login`, a password change).
    /// Durable.
    ///
    /// `build` makes the record to store under the new id from the *latest* stored record (with
    /// this request's changes re-applied), not from the snapshot this request loaded, so that
    /// writes concurrent requests saved meanwhile move too (SECURITY.md 45); `None` as its
    /// argument means the session is gone (logged out or rotated by a concurrent request), and
    /// `None` as its answer means there is nothing to move. The old record is deleted only at
    /// the version the new one was built from; a write that lands in between is carried over
    /// by building again.
    pub(crate) async fn rotate_locked(
        &self,
        st: &mut State,
        build: impl Fn(Option<Record>) -> Option<Record> + Send + Sync,
    ) -> Result<(), SessionError> {
        let old = st.id.clone();
        let (mut base, mut base_version) = match &old {
            None => (st.record.as_deref().cloned(), 0),
            Some(id) => self.latest(st, &id.store_key()).await?,
        };
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(mut record) = build(base.clone()) else {
                return self.vanished(st, old.is_some());
            };
            record.version = 1;
            let now = self.config().now();
            record.last_seen = now;
            record.expires_at = now
                .saturating_add(self.config().idle_timeout)
                .min(record.absolute_deadline);
            let id = self.create_record(&record).await?;
            if let Some(old) = &old {
                let deleted = self
                    .store()
                    .delete_version(&old.store_key(), base_version, Durability::Flush)
                    .await;
                let outcome = match deleted {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        self.discard(&id).await;
                        return Err(e.into());
                    }
                };
                match outcome {
                    Update::Saved => {}
                    // Gone meanwhile: only a record that does not depend on the old one (a
                    // login) may stand; a concurrent logout wins over anything else.
                    Update::Missing if base.is_some() && build(None).is_none() => {
                        self.discard(&id).await;
                        return self.vanished(st, true);
                    }
                    Update::Missing => {}
                    Update::Conflict(current) => {
                        // Saved meanwhile: build again from that record.
                        self.discard(&id).await;
                        base_version = current.version;
                        base = (!self.expired(&current, self.config().now()))
                            .then(|| self.reapply(st, current));
                        continue;
                    }
                }
            }
            st.id = Some(id);
            st.record = Some(Arc::new(record));
            st.base_version = 1;
            st.ops.clear();
            st.set_session_cookie = true;
            st.clear_session_cookie = false;
            self.inner.core.events.emit(Event::SessionRotated);
            return Ok(());
        }
        Err(StoreError::backend(std::io::Error::other(
            "too many concurrent writes to one session",
        ))
        .into())
    }

    /// The latest stored record under `key` with this request's changes re-applied (`None`
    /// when it is gone or expired), and its stored version (`0` when gone), so that an expired
    /// record is deleted too.
    async fn latest(
        &self,
        st: &State,
        key: &StoreKey,
    ) -> Result<(Option<Record>, u64), SessionError> {
        let current = match self.store().load(key).await {
            Ok(r) => r,
            Err(StoreError::Corrupt(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(match current {
            Some(r) if self.expired(&r, self.config().now()) => (None, r.version),
            Some(r) => {
                let version = r.version;
                (Some(self.reapply(st, r)), version)
            }
            None => (None, 0),
        })
    }

    /// `current` with this request's changes applied on top.
    fn reapply(&self, st: &State, mut current: Record) -> Record {
        for op in &st.ops {
            op.apply(&mut current);
        }
        current
    }

    /// The session vanished under this request (a concurrent logout or rotation): it goes on
    /// as anonymous.
    fn vanished(&self, st: &mut State, was_stored: bool) -> Result<(), SessionError> {
        st.record = None;
        st.ops.clear();
        if was_stored {
            st.id = None;
            st.set_session_cookie = false;
            st.clear_session_cookie = self.inner.incoming.session_present;
        }
        Ok(())
    }

    /// Deletes a record this request created but will not use (its cookie was never sent).
    async fn discard(&self, id: &SessionId) {
        if let Err(e) = self.store().delete(&id.store_key(), Durability::Lazy).await {
            tracing::warn!(error = %e, "sesame: could not delete an unused session record");
        }
    }

    /// Inserts `record` under a fresh id; a collision (never in practice) draws another id.
    async fn create_record(&self, record: &Record) -> Result<SessionId, SessionError> {
        self.check_size(record)?;
        loop {
            let id = SessionId::generate();
            if self
                .store()
                .create(&id.store_key(), record, Durability::Flush)
                .await?
            {
                return Ok(id);
            }
            tracing::warn!("sesame: session id collision; drawing another");
        }
    }

    fn check_size(&self, record: &Record) -> Result<(), SessionError> {
        let limit = self.config().max_record_bytes;
        let size = record.encode()?.len();
        if size > limit {
            return Err(DataError::TooLarge { limit }.into());
        }
        Ok(())
    }

    /// Writes the record now with compare-and-swap, re-applying this request's changes over any
    /// concurrent save. A record deleted meanwhile (logout, rotation) stays deleted.
    pub(crate) async fn save_now(&self, st: &mut State) -> Result<(), SessionError> {
        let Some(id) = st.id.clone() else {
            return Ok(());
        };
        let key = id.store_key();
        let Some(mut record) = st.record.as_deref().cloned() else {
            return Ok(());
        };
        let now = self.config().now();
        let mut expected = st.base_version;
        for _ in 0..MAX_CAS_ATTEMPTS {
            record.version = expected + 1;
            record.last_seen = now;
            record.expires_at = now
                .saturating_add(self.config().idle_timeout)
                .min(record.absolute_deadline);
            let emptied = record.is_empty();
            let outcome = if emptied {
                // Nothing left worth keeping (e.g. the last flash was read): drop the record,
                // but only the version this request emptied (SECURITY.md 45).
                self.store()
                    .delete_version(&key, expected, Durability::Lazy)
                    .await?
            } else {
                self.check_size(&record)?;
                self.store()
                    .update(&key, &record, expected, Durability::Lazy)
                    .await?
            };
            match outcome {
                Update::Saved if emptied => {
                    st.id = None;
                    st.record = None;
                    st.clear_session_cookie = true;
                    st.set_session_cookie = false;
                    st.ops.clear();
                    return Ok(());
                }
                Update::Saved => {
                    st.base_version = record.version;
                    st.record = Some(Arc::new(record));
                    st.ops.clear();
                    return Ok(());
                }
                Update::Missing => {
                    // Logged out or rotated by a concurrent request: that wins.
                    tracing::debug!(
                        "sesame: session vanished before save; dropping the stale write"
                    );
                    st.id = None;
                    st.record = None;
                    st.ops.clear();
                    return Ok(());
                }
                Update::Conflict(current) => {
                    if self.expired(&current, now) || current.user_id() != record.user_id() {
                        // A concurrent login/logout changed who owns the session: stale write.
                        st.ops.clear();
                        st.record = Some(Arc::new(current));
                        return Ok(());
                    }
                    expected = current.version;
                    let mut merged = current;
                    // Keep any auth-state change this request made (e.g. confirm or protection).
                    if let (Some(mine), Some(theirs)) = (record.auth.as_ref(), merged.auth.as_mut())
                    {
                        theirs.fresh = theirs.fresh && mine.fresh;
                    }
                    for op in &st.ops {
                        op.apply(&mut merged);
                    }
                    record = merged;
                    tokio::task::yield_now().await;
                }
            }
        }
        Err(StoreError::backend(std::io::Error::other(
            "too many concurrent writes to one session",
        ))
        .into())
    }

    /// Finishes the request: persists what changed (and only that) and returns the `Set-Cookie`
    /// values and cache headers for the adapter to apply. Call it once per response, including
    /// error responses; on a `5xx` status no session data is saved.
    ///
    /// Which cookies a request sends is decided here, once, for every framework (SECURITY.md
    /// 50): logins, logouts, id rotations and remember-me rotations are durable as soon as their
    /// call returned, so their cookies are always sent, even when this final save fails or the
    /// response is an error; what failed to persist sends nothing. When the save fails (or the
    /// request hit a store failure that leaves its session in doubt),
    /// [`Finish::replacement`] holds the `503` to send *instead of* the response, still with
    /// [`Finish::set_cookies`] applied (fail closed). Conversions of errors into a
    /// [`Rejection`] log the error; adapters need not log again.
    pub async fn finish(&self, status: u16) -> Finish {
        let mut st = self.inner.state.lock().await;
        if st.finished {
            return Finish::default();
        }
        st.finished = true;
        let st = &mut *st;
        let mut failure: Option<SessionError> = st.failed.take().map(Into::into);
        if failure.is_none() && st.loaded && status < 500 && self.needs_persist(st) {
            // Boxed: a store write dwarfs an allocation, and the future of a read-only
            // request (which adapters await inline) stays small.
            if let Err(e) = Box::pin(self.persist(st)).await {
                failure = Some(e);
            }
        }
        let mut finish = self.outgoing(st);
        if let Some(e) = failure {
            finish.replacement = Some(Rejection::from(e));
            finish.no_store = true;
        }
        finish
    }

    /// [`Session::finish`] without waiting, when that is possible: `Some` when the request
    /// has nothing to write to the store (the common read-only request) and no other clone of
    /// the handle is using the session right now; `None` means "call `finish` instead". An
    /// adapter whose response path is a hand-written future uses it to skip an allocation and
    /// an await on most requests; the outcome is the same as `finish`'s.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::{Config, Sesame, RequestInfo, testing::TestBackend};
    ///
    /// let sesame = Sesame::builder(Config::builder(&[1u8; 64]).build()?, TestBackend::default()).build();
    /// let (session, _auth) = sesame.begin(RequestInfo::new("GET", "/"), [].into_iter());
    /// assert_eq!(session.get::<String>("theme").await?, None); // read only
    /// let finish = session.try_finish(200).expect("nothing to write");
    /// assert!(finish.set_cookies.is_empty());
    ///
    /// let (session, _auth) = sesame.begin(RequestInfo::new("GET", "/"), [].into_iter());
    /// session.insert("theme", "dark").await?;
    /// assert!(session.try_finish(200).is_none()); // a record to create: `finish` it
    /// assert_eq!(session.finish(200).await.set_cookies.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn try_finish(&self, status: u16) -> Option<Finish> {
        let mut st = self.inner.state.try_lock().ok()?;
        if st.finished {
            return Some(Finish::default());
        }
        if st.failed.is_some() || (st.loaded && status < 500 && self.needs_persist(&st)) {
            return None;
        }
        st.finished = true;
        Some(self.outgoing(&mut st))
    }

    /// The cookies and cache headers of a finished request.
    fn outgoing(&self, st: &mut State) -> Finish {
        let c = self.config();
        let mut f = Finish {
            vary_cookie: st.read,
            ..Finish::default()
        };
        if st.set_session_cookie {
            if let (Some(id), Some(r)) = (&st.id, &st.record) {
                let max_age = r.absolute_deadline - c.now();
                f.set_cookies.push(cookies::session_cookie(c, id, max_age));
            }
        } else if st.clear_session_cookie && self.inner.incoming.session_present {
            f.set_cookies.push(cookies::removal(c, &c.cookie.name));
        }
        if let Some((token, max_age)) = &st.set_remember {
            f.set_cookies
                .push(cookies::remember_cookie(c, token, *max_age));
        } else if st.clear_remember && self.inner.incoming.remember_present {
            f.set_cookies
                .push(cookies::removal(c, &c.cookie.remember_name));
        }
        if st.flash_cookie_changed {
            let mut pending: Vec<Flash> = Vec::new();
            if !st.flash_cookie_consumed {
                pending.extend(self.inner.incoming.flashes.iter().cloned());
            }
            pending.append(&mut st.cookie_flashes);
            match cookies::encode_flashes(&pending) {
                Some(payload) => f.set_cookies.push(cookies::flash_cookie(c, &payload)),
                None if self.inner.incoming.flash_present => f
                    .set_cookies
                    .push(cookies::removal(c, &c.cookie.flash_name)),
                None => {}
            }
        }
        if let Some(t) = &st.set_csrf {
            f.set_cookies.push(cookies::csrf_cookie(c, t));
        }
        if let Some(d) = &st.set_device {
            f.set_cookies.push(cookies::device_cookie(c, d));
        }
        if !f.set_cookies.is_empty() {
            f.no_store = true;
            f.vary_cookie = true;
        }
        f
    }

    /// Whether finishing must write to the store: a new record with something in it, or a
    /// stored one that changed, emptied, or is due for its touch.
    fn needs_persist(&self, st: &State) -> bool {
        match (&st.id, &st.record) {
            (None, Some(r)) => !r.is_empty(),
            (Some(_), Some(r)) => !st.ops.is_empty() || r.is_empty() || self.touch_due(r),
            _ => false,
        }
    }

    /// Whether a stored record's last-seen is due to be persisted: once a touch interval has
    /// passed since it was last persisted. The touch interval is at most a tenth of the idle
    /// timeout, so a session used at least once per idle timeout minus a touch interval never
    /// expires from inactivity, and one left alone expires between that and the idle timeout
    /// after its last use.
    fn touch_due(&self, r: &Record) -> bool {
        self.config().now() - r.last_seen >= self.config().touch_interval
    }

    /// Writes what [`Session::needs_persist`] found to write.
    async fn persist(&self, st: &mut State) -> Result<(), SessionError> {
        match (&st.id, &st.record) {
            (None, Some(r)) => {
                // A new session (anonymous data or flash): create it.
                let mut record = Record::clone(r);
                let now = self.config().now();
                record.last_seen = now;
                let id = self.create_record_lazy(&record).await?;
                st.id = Some(id);
                st.record = Some(Arc::new(record));
                st.ops.clear();
                st.set_session_cookie = true;
                st.clear_session_cookie = false;
            }
            (Some(id), Some(r)) if st.ops.is_empty() && !r.is_empty() => {
                // Only the touch is due: extend the record's life in the store without
                // rewriting it (SECURITY.md 48), so it never conflicts with a concurrent save.
                let now = self.config().now();
                let expires_at = now
                    .saturating_add(self.config().idle_timeout)
                    .min(r.absolute_deadline);
                if !self.store().touch(&id.store_key(), now, expires_at).await? {
                    // Logged out or rotated meanwhile: that wins.
                    st.id = None;
                    st.record = None;
                }
            }
            (Some(_), Some(_)) => self.save_now(st).await?,
            _ => {}
        }
        Ok(())
    }

    async fn create_record_lazy(&self, record: &Record) -> Result<SessionId, SessionError> {
        self.check_size(record)?;
        loop {
            let id = SessionId::generate();
            if self
                .store()
                .create(&id.store_key(), record, Durability::Lazy)
                .await?
            {
                return Ok(id);
            }
        }
    }

    /// The store key of the current session, if it is stored.
    pub(crate) async fn current_key(&self) -> Result<Option<StoreKey>, SessionError> {
        let st = self.lock().await?;
        Ok(st.id.as_ref().map(SessionId::store_key))
    }
}
