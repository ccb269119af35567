//! The TOTP second factor and recovery codes (requirements 54 and 55), through the public API,
//! with fixed clock values (Unix seconds).

// Test code: a failed unwrap is a failed test. (clippy.toml's `allow-*-in-tests` does not
// reach helpers outside `#[test]` functions.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use sesame::recovery::{CODE_COUNT, RecoveryCodes, StoredRecoveryCodes};
use sesame::totp::{
    AcceptedStep, EncryptedSecret, PERIOD, PendingEnrollment, Totp, TotpEnrollment, TotpError,
};

const APP_KEY: [u8; 64] = [7; 64];
const OTHER_KEY: [u8; 64] = [9; 64];
/// RFC 6238 appendix B's SHA-1 secret.
const RFC_SECRET: &[u8] = b"12345678901234567890";
/// A fixed "now", in the middle of a step.
const NOW: u64 = 1_700_000_010;

fn rfc_enrollment() -> TotpEnrollment {
    TotpEnrollment::from_secret("Sesame", "alice", RFC_SECRET.to_vec()).unwrap()
}

/// Enrolled with a fixed secret, so that no test depends on two random codes differing.
fn enrolled(totp: &Totp, user: &str) -> (TotpEnrollment, EncryptedSecret, AcceptedStep) {
    let enrollment = rfc_enrollment();
    let confirmed = totp
        .confirm(&enrollment, user, &enrollment.code_at(NOW), NOW)
        .unwrap();
    (enrollment, confirmed.secret, confirmed.step)
}

#[test]
fn security_54_rfc6238_sha1_vectors_truncated_to_six_digits() {
    // RFC 6238 appendix B publishes 8-digit codes; a 6-digit code is the same value modulo
    // 10^6, i.e. the last six digits.
    let enrollment = rfc_enrollment();
    for (t, eight) in [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(enrollment.code_at(t), eight[2..], "t = {t}");
    }
    // And verification agrees with the vectors.
    let totp = Totp::new(&APP_KEY).unwrap();
    let confirmed = totp
        .confirm(&enrollment, "u1", "005924", 1_234_567_890)
        .unwrap();
    assert_eq!(confirmed.step.step(), 1_234_567_890 / PERIOD);
    assert_eq!(
        totp.verify(
            &confirmed.secret,
            "u1",
            "279037",
            2_000_000_000,
            Some(confirmed.step)
        ),
        Ok(AcceptedStep::from_step(2_000_000_000 / PERIOD))
    );
}

#[test]
fn security_54_one_step_of_drift_accepted_two_refused() {
    let totp = Totp::new(&APP_KEY).unwrap();
    let (enrollment, secret, _) = enrolled(&totp, "u1");
    let later = NOW + 10 * PERIOD;
    let step = later / PERIOD;
    for (offset, expected) in [
        (-1i64, Ok(AcceptedStep::from_step(step - 1))),
        (0, Ok(AcceptedStep::from_step(step))),
        (1, Ok(AcceptedStep::from_step(step + 1))),
        (-2, Err(TotpError::WrongCode)),
        (2, Err(TotpError::WrongCode)),
    ] {
        let code = enrollment.code_at(later.checked_add_signed(offset * 30).unwrap());
        assert_eq!(
            totp.verify(&secret, "u1", &code, later, None),
            expected,
            "offset {offset}"
        );
    }
    // Typed with the space apps show, accepted; letters, wrong length or a wrong code, refused.
    let code = enrollment.code_at(later);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    assert!(totp.verify(&secret, "u1", &spaced, later, None).is_ok());
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    for bad in [&wrong[..], &code[..5], "12345a", "", "1234567"] {
        let err = totp.verify(&secret, "u1", bad, later, None).unwrap_err();
        assert_eq!(err, TotpError::WrongCode, "{bad:?}");
        assert!(err.is_failed_attempt());
    }
}

#[test]
fn security_54_code_refused_for_the_rest_of_its_window_and_older_steps() {
    let totp = Totp::new(&APP_KEY).unwrap();
    let (enrollment, secret, confirm_step) = enrolled(&totp, "u1");
    // The confirming code itself cannot be used to log in.
    let err = totp
        .verify(
            &secret,
            "u1",
            &enrollment.code_at(NOW),
            NOW,
            Some(confirm_step),
        )
        .unwrap_err();
    assert_eq!(err, TotpError::Replayed);
    assert!(err.is_failed_attempt());

    let t = NOW + 5 * PERIOD;
    let code = enrollment.code_at(t);
    let last = totp
        .verify(&secret, "u1", &code, t, Some(confirm_step))
        .unwrap();
    // Same code, later in its window and during the drift step after it: refused.
    for again in [t + 1, t + 15, t + PERIOD] {
        assert_eq!(
            totp.verify(&secret, "u1", &code, again, Some(last)),
            Err(TotpError::Replayed),
            "at {again}"
        );
    }
    // An older step still within the drift window: refused too.
    let older = enrollment.code_at(t - PERIOD);
    assert_eq!(
        totp.verify(&secret, "u1", &older, t, Some(last)),
        Err(TotpError::Replayed)
    );
    // A code of the next step (drift ahead) is accepted; then the current one is older: refused.
    let ahead = totp
        .verify(
            &secret,
            "u1",
            &enrollment.code_at(t + 2 * PERIOD),
            t + PERIOD,
            Some(last),
        )
        .unwrap();
    assert_eq!(ahead.step(), last.step() + 2);
    assert_eq!(
        totp.verify(
            &secret,
            "u1",
            &enrollment.code_at(t + PERIOD),
            t + PERIOD,
            Some(ahead)
        ),
        Err(TotpError::Replayed)
    );
    // The next fresh step after that is fine.
    let t2 = t + 3 * PERIOD;
    assert!(
        totp.verify(&secret, "u1", &enrollment.code_at(t2), t2, Some(ahead))
            .is_ok()
    );
}

#[test]
fn security_54_enrollment_takes_effect_only_after_a_valid_code() {
    let totp = Totp::new(&APP_KEY).unwrap();
    let enrollment = rfc_enrollment();
    let code = enrollment.code_at(NOW);
    let wrong = format!(
        "{:06}",
        (code.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    assert_eq!(
        totp.confirm(&enrollment, "u1", &wrong, NOW).unwrap_err(),
        TotpError::WrongCode
    );
    assert_eq!(
        totp.confirm(
            &enrollment,
            "u1",
            &enrollment.code_at(NOW + 2 * PERIOD),
            NOW
        )
        .unwrap_err(),
        TotpError::WrongCode
    );
    assert_eq!(
        totp.confirm(&enrollment, "u1", "", NOW).unwrap_err(),
        TotpError::WrongCode
    );

    // Kept between requests, sealed: it opens again for the same user only, and its blob is no
    // enrolled secret.
    let pending = totp.seal_pending(&enrollment, "u1");
    let json = serde_json::to_string(&pending).unwrap();
    assert!(!json.contains(&enrollment.secret_base32()));
    let pending: PendingEnrollment = serde_json::from_str(&json).unwrap();
    let reopened = totp.open_pending(&pending, "u1").unwrap();
    assert_eq!(reopened.secret_base32(), enrollment.secret_base32());
    assert_eq!(reopened.otpauth_uri(), enrollment.otpauth_uri());
    assert_eq!(
        totp.open_pending(&pending, "u2").unwrap_err(),
        TotpError::Undecryptable
    );
    assert_eq!(
        Totp::new(&OTHER_KEY)
            .unwrap()
            .open_pending(&pending, "u1")
            .unwrap_err(),
        TotpError::Undecryptable
    );
    // Renaming the account in the sealed enrollment breaks it.
    let renamed = json.replace("\"alice\"", "\"mallory\"");
    assert_ne!(renamed, json);
    let renamed: PendingEnrollment = serde_json::from_str(&renamed).unwrap();
    assert!(totp.open_pending(&renamed, "u1").is_err());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let blob = EncryptedSecret::from_base64(value["secret"].as_str().unwrap()).unwrap();
    assert_eq!(
        totp.verify(&blob, "u1", &code, NOW, None),
        Err(TotpError::Undecryptable)
    );

    let confirmed = totp.confirm(&reopened, "u1", &code, NOW).unwrap();
    assert_eq!(confirmed.step.step(), NOW / PERIOD);
    let t = NOW + PERIOD;
    assert!(
        totp.verify(
            &confirmed.secret,
            "u1",
            &enrollment.code_at(t),
            t,
            Some(confirmed.step)
        )
        .is_ok()
    );
}

#[test]
fn security_54_secret_encrypted_at_rest_for_this_key_and_user() {
    let totp = Totp::new(&APP_KEY).unwrap();
    let (enrollment, secret, _) = enrolled(&totp, "u1");
    let t = NOW + 4 * PERIOD;
    let code = enrollment.code_at(t);

    // Not the secret in clear, and two encryptions differ (random nonce).
    let raw = enrollment.secret_base32();
    assert!(!secret.to_base64().contains(&raw));
    let again = totp
        .confirm(&enrollment, "u1", &enrollment.code_at(NOW), NOW)
        .unwrap();
    assert_ne!(again.secret, secret);

    // Serde round trip (text), and raw bytes.
    let json = serde_json::to_string(&secret).unwrap();
    let back: EncryptedSecret = serde_json::from_str(&json).unwrap();
    assert_eq!(back, secret);
    assert_eq!(
        EncryptedSecret::from_bytes(secret.as_bytes().to_vec()),
        secret
    );
    assert!(serde_json::from_str::<EncryptedSecret>("\"not base64!\"").is_err());
    assert!(totp.verify(&back, "u1", &code, t, None).is_ok());

    // Another user, another application key: refused.
    assert_eq!(
        totp.verify(&secret, "u2", &code, t, None),
        Err(TotpError::Undecryptable)
    );
    let other = Totp::new(&OTHER_KEY).unwrap();
    assert_eq!(
        other.verify(&secret, "u1", &code, t, None),
        Err(TotpError::Undecryptable)
    );
    // After a key rotation the old key still decrypts.
    let rotated = Totp::new(&OTHER_KEY)
        .unwrap()
        .with_old_secret(&APP_KEY)
        .unwrap();
    assert!(rotated.verify(&secret, "u1", &code, t, None).is_ok());

    // Any flipped byte, truncation or extension: refused, never a panic.
    let bytes = secret.as_bytes();
    for i in 0..bytes.len() {
        let mut tampered = bytes.to_vec();
        tampered[i] ^= 0x01;
        assert_eq!(
            totp.verify(&EncryptedSecret::from_bytes(tampered), "u1", &code, t, None),
            Err(TotpError::Undecryptable),
            "byte {i}"
        );
    }
    for len in 0..bytes.len() {
        assert_eq!(
            totp.verify(
                &EncryptedSecret::from_bytes(&bytes[..len]),
                "u1",
                &code,
                t,
                None
            ),
            Err(TotpError::Undecryptable)
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(
        totp.verify(&EncryptedSecret::from_bytes(longer), "u1", &code, t, None),
        Err(TotpError::Undecryptable)
    );

    // Weak application keys are refused as everywhere else.
    assert!(Totp::new(&[1; 32]).is_err());
    assert!(Totp::new(&[0; 64]).is_err());
}

#[test]
fn security_54_enrollment_shown_as_text_uri_and_svg_qr_code() {
    let enrollment =
        TotpEnrollment::from_secret("Sesame Demo", "alice+2fa@example.com", RFC_SECRET.to_vec())
            .unwrap();
    assert_eq!(
        enrollment.secret_base32(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    );
    assert_eq!(
        enrollment.otpauth_uri(),
        "otpauth://totp/Sesame%20Demo:alice%2B2fa%40example.com\
         ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Sesame%20Demo\
         &algorithm=SHA1&digits=6&period=30"
    );
    let odd = TotpEnrollment::from_secret("Ça & co/?#", "ü é", RFC_SECRET.to_vec()).unwrap();
    assert_eq!(
        odd.otpauth_uri().split('?').next().unwrap(),
        "otpauth://totp/%C3%87a%20%26%20co%2F%3F%23:%C3%BC%20%C3%A9"
    );

    let svg = enrollment.qr_svg().unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg:.80}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("<path"));

    // A random enrollment: 160-bit secret, fresh each time.
    let a = TotpEnrollment::new("Sesame", "alice").unwrap();
    let b = TotpEnrollment::new("Sesame", "alice").unwrap();
    assert_eq!(a.secret_base32().len(), 32);
    assert_ne!(a.secret_base32(), b.secret_base32());
    assert_eq!((a.issuer(), a.account_name()), ("Sesame", "alice"));
    // Debug output does not show the secret.
    assert!(!format!("{a:?}").contains(&a.secret_base32()));

    // Labels the otpauth format cannot carry, and short secrets, are refused.
    for (issuer, account) in [
        ("", "alice"),
        ("Sesame", " "),
        ("Ses:ame", "alice"),
        ("Sesame", "a:b"),
    ] {
        assert_eq!(
            TotpEnrollment::new(issuer, account).unwrap_err(),
            TotpError::InvalidLabel
        );
    }
    assert_eq!(
        TotpEnrollment::from_secret("Sesame", "alice", vec![1; 15]).unwrap_err(),
        TotpError::SecretTooShort
    );
    // Far too long for a QR code: an error, not a panic.
    let huge = TotpEnrollment::from_secret("S", &"a".repeat(5000), RFC_SECRET.to_vec()).unwrap();
    assert_eq!(huge.qr_svg().unwrap_err(), TotpError::QrCode);
}

#[test]
fn security_55_ten_unique_readable_codes_stored_hashed() {
    let recovery = RecoveryCodes::new(&APP_KEY).unwrap();
    let issued = recovery.generate("u1");
    let codes = issued.codes().to_vec();
    assert_eq!(codes.len(), CODE_COUNT);
    assert_eq!(CODE_COUNT, 10);
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10);
    for code in &codes {
        assert_eq!(code.len(), 11, "{code}");
        assert_eq!(code.as_bytes()[5], b'-');
        assert!(
            code.chars()
                .filter(|&c| c != '-')
                .all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)),
            "{code}"
        );
    }
    // Another generation: other codes.
    let other = recovery.generate("u1");
    assert!(other.codes().iter().all(|c| !codes.contains(c)));

    // Stored: hashes only, none of the codes (with or without the hyphen), in any form.
    let stored = issued.into_stored();
    assert_eq!(stored.remaining(), 10);
    let json = serde_json::to_string(&stored).unwrap();
    for code in &codes {
        assert!(!json.contains(code.as_str()));
        assert!(!json.contains(&code.replace('-', "")));
    }
    assert!(!format!("{stored:?}").contains(&codes[0]));
    let back: StoredRecoveryCodes = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stored);
    assert!(serde_json::from_str::<StoredRecoveryCodes>("[\"short\"]").is_err());
}

#[test]
fn security_55_each_code_single_use_for_its_user_only() {
    let recovery = RecoveryCodes::new(&APP_KEY).unwrap();
    let issued = recovery.generate("u1");
    let codes = issued.codes().to_vec();
    let mut stored = issued.into_stored();

    // Another user's hashes, another application key: no match, nothing consumed.
    let mut copied = stored.clone();
    assert!(!recovery.verify_and_consume(&mut copied, "u2", &codes[0]));
    let other = RecoveryCodes::new(&OTHER_KEY).unwrap();
    assert!(!other.verify_and_consume(&mut copied, "u1", &codes[0]));
    assert_eq!(copied.remaining(), 10);

    // Forgiving typing: upper case, no hyphen, spaces; Crockford's look-alikes.
    let typed = [
        codes[0].to_uppercase(),
        codes[1].replace('-', ""),
        format!(" {} ", codes[2].replace('-', " ")),
        codes[3].replace('1', "l").replace('0', "O"),
    ];
    for (i, t) in typed.iter().enumerate() {
        assert!(recovery.verify_and_consume(&mut stored, "u1", t), "{t}");
        assert_eq!(stored.remaining(), 9 - i);
        // Single use, in any spelling.
        assert!(!recovery.verify_and_consume(&mut stored, "u1", &codes[i]));
        assert_eq!(stored.remaining(), 9 - i);
    }
    // The last code in the list (every stored hash is compared).
    assert!(recovery.verify_and_consume(&mut stored, "u1", &codes[9]));
    assert!(!recovery.verify_and_consume(&mut stored, "u1", &codes[9]));
    assert_eq!(stored.remaining(), 5);

    // Near misses and malformed input: refused, nothing consumed.
    let code = &codes[4];
    let last = code.chars().last().unwrap();
    let near = format!(
        "{}{}",
        &code[..code.len() - 1],
        if last == 'z' { 'y' } else { 'z' }
    );
    for bad in [
        near.as_str(),
        &code[..code.len() - 1],
        &format!("{code}0"),
        "",
        "-----",
        "uuuuu-uuuuu",
        "ééééé-ééééé",
    ] {
        assert!(
            !recovery.verify_and_consume(&mut stored, "u1", bad),
            "{bad:?}"
        );
    }
    assert_eq!(stored.remaining(), 5);

    // Key rotation: codes hashed under the old key still work once.
    let rotated = RecoveryCodes::new(&OTHER_KEY)
        .unwrap()
        .with_old_secret(&APP_KEY)
        .unwrap();
    assert!(rotated.verify_and_consume(&mut stored, "u1", &codes[4]));
    assert!(!rotated.verify_and_consume(&mut stored, "u1", &codes[4]));
    for code in &codes[5..9] {
        assert!(recovery.verify_and_consume(&mut stored, "u1", code));
    }
    assert!(stored.is_empty());
}
