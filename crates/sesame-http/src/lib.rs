#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod csrf;
mod request;
mod response;

pub use csrf::{Checked, check_csrf, csrf_header, is_csrf_exempt, token_in_body};
pub use request::{cookie_headers, request_info};
pub use response::{apply_finish, finish_response, rejection_response, rejection_status};
