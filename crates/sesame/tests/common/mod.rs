//! What the core's integration tests share.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use sesame::Finish;

/// A browser: a cookie jar fed by `Set-Cookie` values.
#[derive(Default, Clone, Debug)]
pub(crate) struct Browser {
    pub(crate) cookies: BTreeMap<String, String>,
    pub(crate) user_agent: Option<String>,
}

impl Browser {
    /// The `Cookie` header this browser sends.
    pub(crate) fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Takes the cookies a response sets (and drops those it deletes).
    pub(crate) fn apply(&mut self, f: &Finish) {
        for sc in &f.set_cookies {
            let c = cookie::Cookie::parse(sc.clone()).unwrap();
            if c.max_age() == Some(cookie::time::Duration::ZERO) {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
    }

    /// A cookie's value.
    pub(crate) fn get(&self, name: &str) -> Option<&String> {
        self.cookies.get(name)
    }
}
