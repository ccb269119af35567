//! [`Reply`], the framework-neutral response every route returns, and [`ReplyParts`], what a
//! framework's glue builds its own response from.

use sesame::Rejection;

use crate::pages::{self, Frame};

/// A framework-neutral response. Framework glue turns it into its own response type with
/// [`Reply::into_parts`], so that every framework answers byte for byte the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An HTML page.
    Html {
        /// The status code.
        status: u16,
        /// The page.
        body: String,
    },
    /// `303 See Other` to a local path.
    Redirect(String),
    /// A JSON document.
    Json {
        /// The status code.
        status: u16,
        /// The document.
        body: serde_json::Value,
    },
    /// A response decided by the core (login redirect, `401`, `403`, `429`, `503`...).
    Reject(Rejection),
    /// `204 No Content`.
    NoContent,
    /// A static file (the passkeys script), the same for everyone: cached for a year (its
    /// address changes with its content).
    Static {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The file.
        body: &'static str,
    },
    /// `405` for a known path and a method it does not take, with the `Allow` header.
    MethodNotAllowed {
        /// The methods the path takes, e.g. `GET, HEAD, POST`.
        allow: String,
    },
}

/// A [`Reply`] as status, headers and body: all a framework needs to build its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyParts {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl From<Rejection> for Reply {
    fn from(r: Rejection) -> Self {
        Self::Reject(r)
    }
}

impl Reply {
    pub(crate) fn html(status: u16, body: String) -> Self {
        Self::Html { status, body }
    }
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Self {
        Self::Json { status, body }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::Html { status, .. } | Self::Json { status, .. } => *status,
            Self::Redirect(_) => 303,
            Self::NoContent => 204,
            Self::Static { .. } => 200,
            Self::Reject(r) => r.status(),
            Self::MethodNotAllowed { .. } => 405,
        }
    }

    /// Status, headers and body. Pages carry a strict Content-Security-Policy; everything is
    /// `Cache-Control: no-store` (every page depends on who is asking) and `nosniff`.
    pub fn into_parts(self) -> ReplyParts {
        let (status, mut headers, body) = match self {
            Self::Html { status, body } => (
                status,
                vec![
                    ("content-type", "text/html; charset=utf-8".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                    ("content-security-policy", pages::CSP.clone()),
                    ("referrer-policy", "same-origin".to_owned()),
                    ("x-frame-options", "DENY".to_owned()),
                ],
                body,
            ),
            Self::Json { status, body } => (
                status,
                vec![
                    ("content-type", "application/json".to_owned()),
                    ("cache-control", "no-store".to_owned()),
                ],
                body.to_string(),
            ),
            Self::Redirect(location) => {
                let r = Rejection::redirect(location);
                (r.status(), r.headers().to_vec(), r.body().to_owned())
            }
            Self::Reject(r) => (r.status(), r.headers().to_vec(), r.body().to_owned()),
            Self::Static { content_type, body } => (
                200,
                vec![
                    ("content-type", content_type.to_owned()),
                    (
                        "cache-control",
                        "public, max-age=31536000, immutable".to_owned(),
                    ),
                ],
                body.to_owned(),
            ),
            Self::NoContent => (
                204,
                vec![("cache-control", "no-store".to_owned())],
                String::new(),
            ),
            Self::MethodNotAllowed { allow } => {
                let page = pages::error(
                    &Frame::bare(),
                    "Method not allowed",
                    "This page does not accept that kind of request.",
                );
                let mut parts = Self::html(405, page).into_parts();
                parts.headers.insert(1, ("allow", allow));
                return parts;
            }
        };
        headers.push(("x-content-type-options", "nosniff".to_owned()));
        ReplyParts {
            status,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Demo;

    #[test]
    fn replies_have_their_headers() {
        let p = Reply::Redirect("/x".into()).into_parts();
        assert_eq!(p.status, 303);
        assert!(p.headers.contains(&("location", "/x".to_owned())));
        let p = Reply::json(200, serde_json::json!({"a": 1})).into_parts();
        assert_eq!(p.body, r#"{"a":1}"#);
        let p = Demo::not_found().into_parts();
        assert_eq!(p.status, 404);
        assert!(
            p.headers
                .iter()
                .any(|(n, _)| *n == "content-security-policy")
        );
    }
}
