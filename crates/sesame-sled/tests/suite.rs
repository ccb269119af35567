//! The shared store suite, on a temporary sled database.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sesame_sled::SledStore;

sesame::store_suite!(SledStore::temporary().expect("temporary sled"));

mod per_write {
    use sesame_sled::{FlushPolicy, SledStore};

    fn store() -> SledStore {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary sled");
        SledStore::builder(db)
            .flush_policy(FlushPolicy::PerWrite)
            .build()
            .expect("store")
    }

    sesame::store_suite!(store());
}

mod shared_db {
    use sesame_sled::SledStore;

    // Two stores on one database, used one after the other: the suite must pass on the second.
    fn store() -> SledStore {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .expect("temporary sled");
        let _other = SledStore::with_prefix(db.clone(), "other").expect("store");
        SledStore::with_prefix(db, "app").expect("store")
    }

    sesame::store_suite!(store());
}
