//! [`SoftAuthenticator`]: a software WebAuthn authenticator, to test passkey flows without a
//! browser.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A software WebAuthn authenticator holding one discoverable P-256 (ES256) credential, with
/// "none" attestation: it answers the options of
/// [`start_passkey_registration`](crate::AuthSession::start_passkey_registration) and
/// [`start_passkey_login`](crate::AuthSession::start_passkey_login) (as JSON) with the response
/// JSON a browser posts from `navigator.credentials.create` and `.get`, genuinely signed. Its
/// public fields make it misbehave on purpose: another origin or relying party, no user
/// verification, a signature counter that goes back.
///
/// ```
/// use sesame::testing::SoftAuthenticator;
///
/// let mut authenticator = SoftAuthenticator::new("example.com", "https://example.com");
/// let options = serde_json::json!({"publicKey": {
///     "challenge": "c2VzYW1l",
///     "user": {"id": "dXNlci0x"},
/// }});
/// let response: serde_json::Value = serde_json::from_str(&authenticator.register(&options))?;
/// assert_eq!(response["type"], "public-key");
/// assert_eq!(response["id"], authenticator.credential_id());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SoftAuthenticator {
    key: SigningKey,
    cred_id: Vec<u8>,
    user_handle: Vec<u8>,
    /// The relying party id whose hash it puts in its authenticator data.
    pub rp_id: String,
    /// The origin it reports in its client data (a browser reports the page's).
    pub origin: String,
    /// Whether it reports the user verified (the `UV` flag).
    pub user_verified: bool,
    /// Its signature counter: the value of the next assertion, less one when `counts`.
    pub counter: u32,
    /// Whether it keeps a signature counter, adding one per assertion (hardware keys do; synced
    /// passkeys always report 0).
    pub counts: bool,
}

fn cbor_head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    match u8::try_from(len) {
        Ok(n) if n <= 23 => vec![m | n],
        Ok(n) => vec![m | 24, n],
        Err(_) => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            v
        }
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    let mut v = cbor_head(2, b.len());
    v.extend_from_slice(b);
    v
}

fn cbor_text(s: &str) -> Vec<u8> {
    let mut v = cbor_head(3, s.len());
    v.extend_from_slice(s.as_bytes());
    v
}

impl SoftAuthenticator {
    /// A new credential (a random key and credential id) for the relying party `rp_id`, used
    /// from `origin`.
    ///
    /// # Panics
    ///
    /// When the operating system's random number generator fails (a test helper).
    pub fn new(rp_id: &str, origin: &str) -> Self {
        let key = loop {
            let mut secret = [0u8; 32];
            crate::id::os_random(&mut secret);
            // Nearly every 32 random bytes are a valid scalar; try again on the rare others.
            if let Ok(key) = SigningKey::from_slice(&secret) {
                break key;
            }
        };
        let mut cred_id = vec![0u8; 32];
        crate::id::os_random(&mut cred_id);
        Self {
            key,
            cred_id,
            user_handle: Vec::new(),
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
            user_verified: true,
            counter: 0,
            counts: true,
        }
    }

    /// The credential id, base64url without padding (the passkey's
    /// [`StoredPasskey::id`](crate::passkey::StoredPasskey::id)).
    pub fn credential_id(&self) -> String {
        B64.encode(&self.cred_id)
    }

    /// The user handle it was registered with (empty before [`register`](Self::register)),
    /// which it returns with every assertion.
    pub fn user_handle(&self) -> &[u8] {
        &self.user_handle
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .unwrap_or_default();
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        // UP, UV, AT.
        let mut flags = 0x01;
        if self.user_verified {
            flags |= 0x04;
        }
        if attested {
            flags |= 0x40;
        }
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            data.extend_from_slice(&[0u8; 16]); // AAGUID
            let len = u16::try_from(self.cred_id.len()).unwrap_or(u16::MAX);
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&self.cred_id);
            let point = self.key.verifying_key().to_encoded_point(false);
            // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
            let mut cose = cbor_head(5, 5);
            cose.extend_from_slice(&[0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
            cose.extend(cbor_bytes(
                point.x().map(|x| x.as_slice()).unwrap_or_default(),
            ));
            cose.push(0x22);
            cose.extend(cbor_bytes(
                point.y().map(|y| y.as_slice()).unwrap_or_default(),
            ));
            data.extend(cose);
        }
        data
    }

    /// `navigator.credentials.create(options)` (the options as JSON): the response JSON. It
    /// takes the user handle the options give.
    pub fn register(&mut self, options: &Value) -> String {
        let user_id = options["publicKey"]["user"]["id"]
            .as_str()
            .unwrap_or_default();
        self.user_handle = B64.decode(user_id).unwrap_or_default();
        let client_data = self.client_data("webauthn.create", options);
        let mut att = cbor_head(5, 3);
        att.extend(cbor_text("fmt"));
        att.extend(cbor_text("none"));
        att.extend(cbor_text("attStmt"));
        att.extend(cbor_head(5, 0));
        att.extend(cbor_text("authData"));
        att.extend(cbor_bytes(&self.auth_data(true)));
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(att),
                "clientDataJSON": B64.encode(client_data),
            },
            "extensions": {},
        })
        .to_string()
    }

    /// `navigator.credentials.get(options)` with this discoverable credential (its counter
    /// moved on first, when it [`counts`](Self::counts)): the response JSON.
    pub fn assert(&mut self, options: &Value) -> String {
        if self.counts {
            self.counter = self.counter.wrapping_add(1);
        }
        let client_data = self.client_data("webauthn.get", options);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        })
        .to_string()
    }
}
