//! A software WebAuthn authenticator for the passkey scenarios: one discoverable P-256 (ES256)
//! credential, "none" attestation, user verification given; the responses it makes are what a
//! browser posts from `navigator.credentials.create` and `.get`. (The same as the core's, in
//! `crates/sesame/tests/passkeys.rs`.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The demo's relying party under test (`Settings::for_tests`: port 0).
pub(crate) const RP_ID: &str = "localhost";
/// The demo's origin under test.
pub(crate) const ORIGIN: &str = "http://localhost";

/// A software authenticator holding one discoverable credential.
pub(crate) struct SoftAuthenticator {
    key: SigningKey,
    cred_id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
    rp_id: String,
    /// The origin it reports (a browser reports the page's).
    pub(crate) origin: String,
}

fn cbor_head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    match len {
        0..=23 => vec![m | u8::try_from(len).unwrap()],
        24..=0xff => vec![m | 24, u8::try_from(len).unwrap()],
        _ => {
            let mut v = vec![m | 25];
            v.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
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
    /// A new credential for the demo under test.
    pub(crate) fn new() -> Self {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).unwrap();
        let mut cred_id = vec![0u8; 32];
        getrandom::getrandom(&mut cred_id).unwrap();
        Self {
            key: SigningKey::from_slice(&secret).unwrap(),
            cred_id,
            user_handle: Vec::new(),
            counter: 0,
            rp_id: RP_ID.to_owned(),
            origin: ORIGIN.to_owned(),
        }
    }

    /// The credential id, base64url: how the demo names the passkey.
    pub(crate) fn credential_id(&self) -> String {
        B64.encode(&self.cred_id)
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        // UP, UV, and AT when attested.
        let mut flags = 0x01 | 0x04;
        if attested {
            flags |= 0x40;
        }
        data.push(flags);
        data.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            data.extend_from_slice(&[0u8; 16]); // AAGUID
            data.extend_from_slice(&u16::try_from(self.cred_id.len()).unwrap().to_be_bytes());
            data.extend_from_slice(&self.cred_id);
            let point = self.key.verifying_key().to_encoded_point(false);
            // COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
            let mut cose = cbor_head(5, 5);
            cose.extend_from_slice(&[0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
            cose.extend(cbor_bytes(point.x().unwrap()));
            cose.push(0x22);
            cose.extend(cbor_bytes(point.y().unwrap()));
            data.extend(cose);
        }
        data
    }

    /// `navigator.credentials.create(options)`: the response JSON.
    pub(crate) fn register(&mut self, options: &Value) -> String {
        let user_id = options["publicKey"]["user"]["id"].as_str().unwrap();
        self.user_handle = B64.decode(user_id).unwrap();
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

    /// `navigator.credentials.get(options)` with this discoverable credential (its signature
    /// counter moved on): the response JSON.
    pub(crate) fn assert(&mut self, options: &Value) -> String {
        self.counter += 1;
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
