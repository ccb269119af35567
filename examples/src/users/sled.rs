//! The user table in sled, in the database of the session store (the demo's default).
//!
//! Trees:
//!
//! * `demo/users`: user id → the user, as JSON;
//! * `demo/usernames`: lower-case username → user id, claimed with compare-and-swap;
//! * `demo/tokens`: SHA-256 of an API token → its [`TokenRecord`], as JSON;
//! * `demo/passkeys`: passkey credential id (base64url) → the id of its user, claimed with
//!   compare-and-swap.

use std::fmt;

use async_trait::async_trait;
use sesame_sled::{SledStore, sled};

use super::{
    CreateError, DemoUser, TokenHash, TokenRecord, UserChange, UserStoreError, UserTable, changed,
    decode_user,
};

/// The user table in sled trees next to the sessions. Cheap to clone (trees are handles).
#[derive(Clone)]
pub struct SledUsers {
    /// The session store on the same database: its flush makes the table's writes durable
    /// (sled's own `flush` stops short of the disk's stable storage).
    store: SledStore,
    users: sled::Tree,
    usernames: sled::Tree,
    tokens: sled::Tree,
    passkeys: sled::Tree,
}

impl fmt::Debug for SledUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledUsers")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl SledUsers {
    /// Opens (creating if needed) the trees in `store`'s database. Writes are made durable
    /// with the store's flush, shared with its session writes.
    ///
    /// # Errors
    ///
    /// sled's, when the trees cannot be opened.
    pub fn open(store: &SledStore) -> Result<Self, UserStoreError> {
        let db = store.db();
        Ok(Self {
            store: store.clone(),
            users: db.open_tree("demo/users")?,
            usernames: db.open_tree("demo/usernames")?,
            tokens: db.open_tree("demo/tokens")?,
            passkeys: db.open_tree("demo/passkeys")?,
        })
    }
}

#[async_trait]
impl UserTable for SledUsers {
    async fn get(&self, id: &str) -> Result<Option<DemoUser>, UserStoreError> {
        self.users
            .get(id.as_bytes())?
            .map(|bytes| decode_user(&bytes))
            .transpose()
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<DemoUser>, UserStoreError> {
        match self.usernames.get(username.to_lowercase().as_bytes())? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    async fn count(&self) -> Result<usize, UserStoreError> {
        Ok(self.users.len())
    }

    /// The username index is ordered by lower-case name: its first `limit` entries.
    async fn list(&self, limit: usize) -> Result<Vec<DemoUser>, UserStoreError> {
        let mut users = Vec::new();
        for entry in self.usernames.iter() {
            if users.len() >= limit {
                break;
            }
            let (_, id) = entry?;
            // A name claimed by a registration still writing its user has no user yet.
            if let Some(user) = self.get(&String::from_utf8_lossy(&id)).await? {
                users.push(user);
            }
        }
        Ok(users)
    }

    async fn next_id(&self) -> Result<String, UserStoreError> {
        Ok(self.store.db().generate_id()?.to_string())
    }

    async fn insert(&self, user: &DemoUser) -> Result<(), CreateError> {
        let bytes = serde_json::to_vec(user).map_err(UserStoreError::from)?;
        let name = user.username.to_lowercase();
        let (name, id) = (name.as_bytes(), user.id.as_bytes());
        let claimed = self
            .usernames
            .compare_and_swap(name, None::<&[u8]>, Some(id))
            .map_err(UserStoreError::from)?;
        if claimed.is_err() {
            return Err(CreateError::UsernameTaken);
        }
        if let Err(e) = self.users.insert(id, bytes) {
            // Give the name back.
            let _ = self
                .usernames
                .compare_and_swap(name, Some(id), None::<&[u8]>);
            return Err(UserStoreError::from(e).into());
        }
        Ok(())
    }

    async fn update(
        &self,
        id: &str,
        change: &UserChange<'_>,
    ) -> Result<Option<DemoUser>, UserStoreError> {
        loop {
            let Some(old) = self.users.get(id.as_bytes())? else {
                return Ok(None);
            };
            let (user, new) = changed(&old, change)?;
            if self
                .users
                .compare_and_swap(id.as_bytes(), Some(old), Some(new))?
                .is_ok()
            {
                return Ok(Some(user));
            }
        }
    }

    async fn insert_token(
        &self,
        hash: &TokenHash,
        record: &TokenRecord,
    ) -> Result<(), UserStoreError> {
        self.tokens.insert(hash, serde_json::to_vec(record)?)?;
        Ok(())
    }

    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, UserStoreError> {
        Ok(self
            .tokens
            .get(hash)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()?)
    }

    async fn remove_token(&self, hash: &TokenHash) -> Result<(), UserStoreError> {
        self.tokens.remove(hash)?;
        Ok(())
    }

    async fn claim_passkey(
        &self,
        credential_id: &str,
        user_id: &str,
    ) -> Result<bool, UserStoreError> {
        Ok(self
            .passkeys
            .compare_and_swap(
                credential_id.as_bytes(),
                None::<&[u8]>,
                Some(user_id.as_bytes()),
            )?
            .is_ok())
    }

    async fn passkey_owner(&self, credential_id: &str) -> Result<Option<String>, UserStoreError> {
        Ok(self
            .passkeys
            .get(credential_id.as_bytes())?
            .map(|id| String::from_utf8_lossy(&id).into_owned()))
    }

    async fn release_passkey(&self, credential_id: &str) -> Result<(), UserStoreError> {
        self.passkeys.remove(credential_id.as_bytes())?;
        Ok(())
    }

    async fn flush(&self) -> Result<(), UserStoreError> {
        self.store.flush().await.map_err(UserStoreError::Flush)
    }
}
