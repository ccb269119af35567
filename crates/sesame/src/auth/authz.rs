//! Permissions (axum-login's `AuthzBackend`, Django's `has_perm`): a backend that knows what
//! each user may do, and the checks on the request's auth handle.

use std::any::Any;
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

use async_trait::async_trait;

use super::{AuthSession, AuthUser, Backend, backend_err};
use crate::error::AuthError;
use crate::events::Event;
use crate::response::Rejection;

/// A [`Backend`] that knows users' permissions: their own and their groups'.
///
/// A permission is any `Hash + Eq` value: an enum, a `&'static str`, a `String` read from the
/// database. Override [`AuthzBackend::all_permissions`] to load both kinds in one query.
///
/// ```
/// use std::collections::HashSet;
/// use async_trait::async_trait;
/// use sesame::testing::{TestBackend, TestUser};
/// use sesame::{AuthzBackend, Backend, RequestInfo};
///
/// #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
/// enum Perm { ReadReports, ManageUsers }
///
/// struct Users(TestBackend);
///
/// #[async_trait]
/// impl Backend for Users {
///     type User = TestUser;
///     type Credentials = (String, String);
///     type Error = std::convert::Infallible;
///     async fn get_user(&self, id: &str) -> Result<Option<TestUser>, Self::Error> {
///         self.0.get_user(id).await
///     }
/// }
///
/// #[async_trait]
/// impl AuthzBackend for Users {
///     type Permission = Perm;
///     async fn user_permissions(&self, user: &TestUser) -> Result<HashSet<Perm>, Self::Error> {
///         Ok(if user.username == "alice" { [Perm::ManageUsers].into() } else { HashSet::new() })
///     }
///     async fn group_permissions(&self, _user: &TestUser) -> Result<HashSet<Perm>, Self::Error> {
///         Ok([Perm::ReadReports].into()) // everyone is in the "staff" group here
///     }
/// }
/// ```
#[async_trait]
pub trait AuthzBackend: Backend {
    /// A permission.
    type Permission: Hash + Eq + Clone + Send + Sync + 'static;

    /// The user's own permissions. None by default.
    async fn user_permissions(
        &self,
        user: &Self::User,
    ) -> Result<HashSet<Self::Permission>, Self::Error> {
        let _ = user;
        Ok(HashSet::new())
    }

    /// The permissions of the user's groups. None by default.
    async fn group_permissions(
        &self,
        user: &Self::User,
    ) -> Result<HashSet<Self::Permission>, Self::Error> {
        let _ = user;
        Ok(HashSet::new())
    }

    /// Everything the user may do: their own permissions and their groups'. What the checks
    /// of [`AuthSession`] read, once per request.
    async fn all_permissions(
        &self,
        user: &Self::User,
    ) -> Result<HashSet<Self::Permission>, Self::Error> {
        let mut all = self.user_permissions(user).await?;
        all.extend(self.group_permissions(user).await?);
        Ok(all)
    }
}

/// The permissions loaded for this request: whose, and which (type-erased: the handle's user
/// slot does not know the backend's permission type).
pub(super) struct LoadedPermissions {
    user_id: String,
    permissions: Arc<dyn Any + Send + Sync>,
}

impl<B: AuthzBackend> AuthSession<B> {
    /// What the logged-in user may do: empty for an anonymous request. Loaded from the backend
    /// at most once per request (again only if the request logs another user in).
    ///
    /// # Errors
    ///
    /// [`AuthError`] when the store or the backend fails (the core's `503`).
    pub async fn permissions(&self) -> Result<Arc<HashSet<B::Permission>>, AuthError> {
        let Some(user) = self.current_user().await? else {
            return Ok(Arc::new(HashSet::new()));
        };
        let id = user.id();
        let mut loaded = self.user.permissions.lock().await;
        if let Some(l) = loaded.as_ref()
            && l.user_id == id
            && let Ok(perms) = Arc::clone(&l.permissions).downcast::<HashSet<B::Permission>>()
        {
            return Ok(perms);
        }
        let perms = Arc::new(
            self.sesame()
                .backend()
                .all_permissions(&user)
                .await
                .map_err(backend_err)?,
        );
        *loaded = Some(LoadedPermissions {
            user_id: id,
            permissions: perms.clone(),
        });
        Ok(perms)
    }

    /// Whether the logged-in user has `permission` (Django's `has_perm`); `false` for an
    /// anonymous request.
    ///
    /// # Errors
    ///
    /// As [`AuthSession::permissions`].
    pub async fn has_perm(&self, permission: &B::Permission) -> Result<bool, AuthError> {
        Ok(self.permissions().await?.contains(permission))
    }

    /// Whether the logged-in user has every one of `permissions` (Django's `has_perms`);
    /// `false` for an anonymous request, `true` for an empty list once logged in.
    ///
    /// # Errors
    ///
    /// As [`AuthSession::permissions`].
    pub async fn has_perms<'p>(
        &self,
        permissions: impl IntoIterator<Item = &'p B::Permission>,
    ) -> Result<bool, AuthError> {
        if self.current_user().await?.is_none() {
            return Ok(false);
        }
        let held = self.permissions().await?;
        Ok(permissions.into_iter().all(|p| held.contains(p)))
    }

    /// Django's `permission_required`: the logged-in user, if they have `permission`. An
    /// anonymous request gets exactly [`AuthSession::require_login`]'s answer (the redirect to
    /// the login view, or the `401`); a logged-in user without the permission a `403` (JSON
    /// `{"error":"forbidden"}` for JSON requests), never a redirect to the login page they
    /// would come straight back from.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use sesame::testing::{login_cookie, TestBackend, TestUser};
    /// use sesame::{Config, LoginOptions, RejectionKind, RequestInfo, Sesame};
    ///
    /// let alice = TestUser::new("1", "alice", "pw");
    /// let config = Config::builder(&Config::generate_secret()).login_view("/login").build()?;
    /// // TestBackend grants the permissions listed on each TestUser.
    /// let sesame = Sesame::builder(config, TestBackend::default().with_user(alice.clone())).build();
    ///
    /// let (_, anonymous) = sesame.begin(RequestInfo::new("GET", "/admin"), []);
    /// let refused = anonymous.require_perm(&"admin".to_owned()).await.unwrap_err();
    /// assert_eq!(refused.status(), 303); // to the login view, with ?next=/admin
    ///
    /// let cookie = login_cookie(&sesame, &alice, LoginOptions::default()).await?;
    /// let (_, auth) = sesame.begin(RequestInfo::new("GET", "/admin"), [cookie.as_bytes()]);
    /// let refused = auth.require_perm(&"admin".to_owned()).await.unwrap_err();
    /// assert_eq!((refused.status(), refused.kind()), (403, RejectionKind::Forbidden));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// The response to send instead: the login-required answer, the `403`, or the `503` of a
    /// failing store or backend.
    pub async fn require_perm(&self, permission: &B::Permission) -> Result<B::User, Rejection> {
        self.require_perms([permission]).await
    }

    /// [`AuthSession::require_perm`] for several permissions: all of them are needed.
    ///
    /// # Errors
    ///
    /// As [`AuthSession::require_perm`].
    pub async fn require_perms<'p>(
        &self,
        permissions: impl IntoIterator<Item = &'p B::Permission>,
    ) -> Result<B::User, Rejection> {
        let user = self.require_login().await?;
        let held = self.permissions().await?;
        if permissions.into_iter().all(|p| held.contains(p)) {
            Ok(user)
        } else {
            self.events().emit(Event::Forbidden { user_id: user.id() });
            Err(Rejection::forbidden(self.session().request().wants_json()))
        }
    }
}
