//! The state shared by every request: configuration, store, user backend, login throttle.

use std::sync::Arc;

use super::{AuthSession, Backend};
use crate::config::Config;
use crate::cookies::read_cookies;
use crate::error::StoreError;
use crate::events::{Event, Events, Listener, RevokeReason};
use crate::metrics::MeteredStore;
use crate::request::RequestInfo;
use crate::session::{Core, Session};
use crate::store::{MemoryStore, SessionStore};
use crate::throttle::{LoginThrottle, ThrottleConfig};

struct SesameInner<B> {
    core: Arc<Core>,
    /// The store as configured; `core.store` is it wrapped in the metrics layer.
    store: Arc<dyn SessionStore>,
    backend: B,
    throttle: LoginThrottle,
}

/// Sesame: configuration, store and user backend, shared by every request. Cheap to clone.
///
/// Adapters call [`Sesame::begin`] per request; applications mostly use the handles it returns.
///
/// ```
/// use std::sync::Arc;
/// use sesame::{Config, Sesame, store::MemoryStore, testing::TestBackend};
///
/// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
/// let sesame = Sesame::builder(config, TestBackend::default())
///     .store(Arc::new(MemoryStore::new()))
///     .build();
/// # let _ = sesame;
/// # Ok::<(), sesame::ConfigError>(())
/// ```
pub struct Sesame<B: Backend> {
    inner: Arc<SesameInner<B>>,
}

impl<B: Backend> Clone for Sesame<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B: Backend> std::fmt::Debug for Sesame<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sesame")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// Builder for [`Sesame`].
#[must_use]
pub struct SesameBuilder<B: Backend> {
    config: Config,
    backend: B,
    store: Option<Arc<dyn SessionStore>>,
    events: Events,
    throttle: ThrottleConfig,
}

impl<B: Backend> std::fmt::Debug for SesameBuilder<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SesameBuilder").finish_non_exhaustive()
    }
}

impl<B: Backend> SesameBuilder<B> {
    /// The session store (default: a new [`MemoryStore`]).
    pub fn store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }
    /// Registers an event listener (Flask's signals).
    pub fn on_event(mut self, listener: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events.add(Arc::new(listener) as Listener);
        self
    }
    /// Login throttling settings (default [`ThrottleConfig::default`]: 10 failures per account
    /// in 15 minutes, then 30 s doubling up to 15 min). The throttle keeps its state in the
    /// store; see [`crate::throttle`].
    pub fn throttle(mut self, t: ThrottleConfig) -> Self {
        self.throttle = t;
        self
    }
    /// Builds the shared state. Every call Sesame makes to the store is timed into the
    /// [`sesame_store_seconds`](crate::metrics::STORE_SECONDS) histogram.
    pub fn build(self) -> Sesame<B> {
        let raw = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let store = MeteredStore::wrap(raw.clone());
        let throttle = LoginThrottle::new(&self.config, store.clone(), self.throttle);
        Sesame {
            inner: Arc::new(SesameInner {
                store: raw,
                core: Arc::new(Core {
                    config: self.config,
                    store,
                    events: self.events,
                }),
                backend: self.backend,
                throttle,
            }),
        }
    }
}

impl<B: Backend> Sesame<B> {
    /// Starts a builder.
    pub fn builder(config: Config, backend: B) -> SesameBuilder<B> {
        SesameBuilder {
            config,
            backend,
            store: None,
            events: Events::default(),
            throttle: ThrottleConfig::default(),
        }
    }

    /// Begins a request: reads Sesame's cookies from the raw `Cookie` header values and returns
    /// the session and auth handles. Does no I/O.
    pub fn begin<'a>(
        &self,
        mut request: RequestInfo,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> (Session, AuthSession<B>) {
        request.decide_client_addr(&self.inner.core.config.trusted_proxies);
        let incoming = read_cookies(&self.inner.core.config, cookie_headers);
        let session = Session::new(self.inner.core.clone(), request, incoming);
        let auth = AuthSession::new(session.clone(), self.clone());
        (session, auth)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }
    /// The store, as given to [`SesameBuilder::store`] (calls made on it directly are not
    /// timed into the metrics).
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }
    /// The user backend.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }
    /// The state every session shares: configuration, store, event listeners.
    pub(super) fn core(&self) -> &Core {
        &self.inner.core
    }
    /// The password hasher of the configuration ([`Config::password_hasher`]), for handlers
    /// that set passwords (registration, password change): clones share one pool of argon2
    /// computations with the backend's.
    pub fn hasher(&self) -> &crate::password::PasswordHasher {
        self.inner.core.config.password_hasher()
    }
    /// The login throttle [`AuthSession::authenticate`] uses, on this Sesame's store.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    /// Deletes expired records now; run it periodically (stores also expire lazily). Like
    /// each round of the purge loop, it refreshes the
    /// [`sesame_sessions_active`](crate::metrics::SESSIONS_ACTIVE) gauge.
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.inner.core.config.now();
        crate::purge::purge_once(&*self.inner.store, now).await
    }

    /// Ends every session and remember-me token of a user (disable, "log out everywhere" from
    /// an admin tool). Durable. Emits [`Event::SessionsRevoked`].
    pub async fn revoke_user(&self, user_id: &str) -> Result<usize, StoreError> {
        self.revoke_user_for(user_id, RevokeReason::RevokeUser)
            .await
    }

    pub(super) async fn revoke_user_for(
        &self,
        user_id: &str,
        reason: RevokeReason,
    ) -> Result<usize, StoreError> {
        let store = &self.inner.core.store;
        store.delete_user_remember(user_id).await?;
        let sessions = store.delete_user_sessions(user_id, None).await?;
        self.inner.core.events.emit(Event::SessionsRevoked {
            user_id: user_id.to_owned(),
            sessions,
            reason,
        });
        Ok(sessions)
    }
}
