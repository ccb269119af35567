//! The conformance suite: every scenario against the demo served by every framework.
//!
//! Each test starts its own server (port 0, its own temporary data directory, a mock clock) and
//! talks to it over real HTTP, so the tests are independent and run concurrently. Test names are
//! `<framework>::<scenario>`.

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod scenarios;

/// Calls `$callback! { <module> => <kind> <entry point>; ... }` once per framework under test.
///
/// **Adding a framework is one line here**: the name of its test module, and the demo's entry
/// point for it, of one of two kinds:
///
/// - `listener path::to::serve` for `serve(tokio::net::TcpListener, Demo) -> io::Result<()>`
///   (the harness binds the listener);
/// - `addr path::to::start` for `start(SocketAddr, Demo) -> io::Result<(SocketAddr,
///   JoinHandle<io::Result<()>>)>` (the framework binds `127.0.0.1:0` itself and says where).
///
/// Every scenario then runs against it; none may be skipped or special-cased.
macro_rules! for_each_framework {
    ($callback:ident! { $($args:tt)* }) => {
        $callback! { axum => listener sesame_demo::axum_app::serve; $($args)* }
        $callback! { poem => listener sesame_demo::poem_app::serve; $($args)* }
        $callback! { rocket => addr sesame_demo::rocket_app::start; $($args)* }
        $callback! { warp => listener sesame_demo::warp_app::serve; $($args)* }
    };
}

/// How the harness starts a framework's entry point (see `for_each_framework!`).
macro_rules! start_fn {
    (listener $serve:path) => {
        |addr, demo| -> crate::harness::StartFuture {
            Box::pin(crate::harness::on_listener(addr, demo, $serve))
        }
    };
    (addr $start:path) => {
        |addr, demo| -> crate::harness::StartFuture { Box::pin($start(addr, demo)) }
    };
}

/// One test module per framework, with one `#[tokio::test]` per scenario.
macro_rules! framework_tests {
    ($module:ident => $kind:ident $entry:path; $($scenario:ident),+ $(,)?) => {
        mod $module {
            use crate::harness::Framework;

            const FRAMEWORK: Framework =
                Framework::new(stringify!($module), start_fn!($kind $entry));

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::harness::run(crate::scenarios::$scenario(FRAMEWORK)).await;
                }
            )+
        }
    };
}

/// Expands to one test per (scenario, framework): `conformance!(scenario_fn, ...)`.
macro_rules! conformance {
    ($($scenario:ident),+ $(,)?) => {
        for_each_framework! { framework_tests! { $($scenario),+ } }
    };
}

conformance!(
    // Pages and headers.
    anonymous_pages_create_no_session,
    responses_carry_cache_and_vary_headers,
    pages_carry_security_headers,
    // Routing, and answering like the reference framework.
    unknown_paths_are_404_and_other_methods_405,
    answers_without_a_session_match_the_reference,
    starting_on_an_address_in_use_is_an_error,
    // Registration.
    register_logs_in,
    register_validation_errors_are_422,
    duplicate_username_is_refused,
    // CSRF.
    forms_require_a_csrf_token,
    csrf_token_is_rotated_at_login,
    security_52_csrf_is_enforced_on_unsafe_methods,
    // Login.
    login_failure_is_generic,
    unicode_passwords_are_never_truncated,
    login_follows_a_safe_next,
    login_ignores_hostile_next,
    session_id_changes_at_login,
    login_required_redirects_or_401,
    login_throttling_answers_429,
    security_28_parallel_guesses_are_limited_and_known_devices_log_in,
    // API.
    api_me_and_bearer_tokens,
    an_api_key_header_reaches_the_request_loader,
    security_49_authorization_headers_do_not_waive_csrf_for_cookie_sessions,
    // Logout.
    logout_ends_the_session,
    // Remember-me.
    remember_me_restores_a_non_fresh_session,
    remember_me_theft_revokes_everything,
    // Password and sessions.
    password_change_ends_other_sessions,
    sessions_list_and_revoke_others,
    // The second factor: TOTP and recovery codes.
    security_54_totp_enrollment_needs_a_valid_code,
    security_53_a_login_pending_its_second_factor_grants_nothing,
    security_54_a_totp_code_is_accepted_once,
    security_55_recovery_codes_are_single_use,
    remember_me_with_totp_restores_after_the_second_factor,
    turning_totp_off_needs_the_password,
    // Passkeys.
    security_56_registering_a_passkey_needs_a_fresh_login,
    security_56_a_passkey_registers_logs_in_once_per_challenge_and_is_removed,
    // Session data.
    concurrent_cart_posts_lose_nothing,
    security_50_a_failed_save_still_sends_the_durable_login_cookie,
    // Protection.
    session_protection_basic_requires_reauth,
    security_42_forwarded_headers_from_untrusted_peers_are_ignored,
    security_42_forwarded_headers_from_trusted_proxies_name_the_client,
    // Authorization: the admin page.
    security_51_the_admin_page_requires_the_permission,
    security_44_disabling_from_the_admin_page_ends_everything_at_once,
    // Hostile input.
    hostile_session_cookies_are_anonymous,
    cookie_headers_in_many_shapes_are_fine,
    cookies_of_another_deployment_are_anonymous,
    bad_form_input_is_a_4xx,
    invalid_utf8_form_input_is_a_4xx,
    // Expiry.
    idle_timeout_ends_the_session,
    absolute_timeout_ends_the_session,
    short_idle_timeout_ends_an_idle_session,
    short_idle_timeout_slides_with_activity,
    short_absolute_timeout_ends_a_busy_session,
);
