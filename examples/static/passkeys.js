// Passkeys for the Sesame demo: the browser side of the WebAuthn ceremonies.
//
// The one script the pages load (their Content-Security-Policy allows no other, and no inline
// script). Each ceremony posts JSON to `.../start`, hands the options to
// `navigator.credentials.create` or `.get` (binary fields travel as base64url, and become
// ArrayBuffers here), and posts the credential back to `.../finish`, with the CSRF token in the
// `X-CSRF-Token` header. The server answers `{"redirect": "/..."}` or `{"error": "..."}`.
"use strict";

(function () {
  function toBuffer(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function showError(message) {
    var el = document.getElementById("passkey-error");
    if (el) {
      el.textContent = message;
      el.hidden = false;
    }
  }

  async function post(url, token, body) {
    var response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": token,
      },
      body: JSON.stringify(body),
    });
    var data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    if (!response.ok) {
      throw new Error(data.error || "The request failed (" + response.status + ").");
    }
    return data;
  }

  function credentialIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: toBuffer(c.id) });
    });
  }

  async function register(button) {
    var token = button.dataset.csrf;
    var options = await post("/settings/passkeys/register/start", token, {});
    var pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.user.id = toBuffer(pk.user.id);
    pk.excludeCredentials = credentialIds(pk.excludeCredentials);
    var credential = await navigator.credentials.create({ publicKey: pk });
    var done = await post("/settings/passkeys/register/finish", token, {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        attestationObject: toBase64url(credential.response.attestationObject),
        clientDataJSON: toBase64url(credential.response.clientDataJSON),
      },
      extensions: {},
    });
    window.location.assign(done.redirect || "/settings/passkeys");
  }

  async function login(button) {
    var token = button.dataset.csrf;
    var options = await post("/login/passkey/start", token, {});
    var pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    pk.allowCredentials = credentialIds(pk.allowCredentials);
    var credential = await navigator.credentials.get({ publicKey: pk });
    var r = credential.response;
    var finish = "/login/passkey/finish";
    if (button.dataset.next) {
      finish += "?next=" + encodeURIComponent(button.dataset.next);
    }
    var done = await post(finish, token, {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: {
        authenticatorData: toBase64url(r.authenticatorData),
        clientDataJSON: toBase64url(r.clientDataJSON),
        signature: toBase64url(r.signature),
        userHandle: r.userHandle ? toBase64url(r.userHandle) : null,
      },
      extensions: {},
    });
    window.location.assign(done.redirect || "/dashboard");
  }

  function wire(id, ceremony) {
    var button = document.getElementById(id);
    if (!button) {
      return;
    }
    if (!window.PublicKeyCredential) {
      button.disabled = true;
      showError("This browser does not support passkeys.");
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      ceremony(button)
        .catch(function (e) {
          showError(e && e.name === "NotAllowedError" ? "The passkey was not used." : e.message);
        })
        .finally(function () {
          button.disabled = false;
        });
    });
  }

  wire("passkey-register", register);
  wire("passkey-login", login);
})();
