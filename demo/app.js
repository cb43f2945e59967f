// The browser side of serverless-auth: the reference for single-page apps.
//
// What matters here, and why:
// - JavaScript never holds a token. Login asks for cookie delivery, so the answers carry only
//   lifetimes; both tokens live in HttpOnly cookies the browser sends by itself. Nothing is put
//   in localStorage, sessionStorage or document.cookie: a script injected into the page could
//   act as the user while the page is open, but could not steal a token to use elsewhere.
// - Every call is fetch(…, {credentials: "include"}). On the API's own origin (this page) the
//   default would do; "include" is what an app served from another origin listed in
//   ALLOWED_ORIGINS needs (CORS with credentials), so the reference uses it throughout.
// - One refresh at a time: a refresh token is single-use, so two refreshes racing with the same
//   cookie would make the second look like a replay. Calls that need a refresh share one.
//   (Several tabs racing are covered by the server's REFRESH_REUSE_GRACE_SECONDS.)
// - A protected route that refuses the access cookie (401, or 403 from the gateway when the
//   authorizer denies an expired token) gets one refresh and one retry, no more. Only the
//   gateway's refusals: a route's own 401 (a wrong current password) is never sent twice, as
//   each one counts toward the account's lockout.
// - Text from the API is shown with textContent, never innerHTML.
// - Two-factor authentication: a login may answer 401 mfa_required with a single-use mfa_token
//   (5 minutes). It is the only credential the page ever holds, in a variable, for the moment
//   between the two steps, and never shown; the second step's answer sets the cookies as a
//   login does. Enrolment shows the secret (QR code and text) and the recovery codes once, and
//   clears them from the page when they are done with.
// - The account mails link here (APP_URL/reset-password#token=…, /verify-email, /accept-invite).
//   The token travels in the #fragment, which browsers never send to a server; the page takes it
//   out of the address bar (and so out of the history) as soon as it has read it.

// The API's origin: "" when the page is served from the API's own domain, as here.
const API = "";

async function call(method, path, body) {
  const init = { method, credentials: "include", cache: "no-store", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (error) {
    return { method, path, status: 0, data: { error: "network_error", error_description: String(error) } };
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  return { method, path, status: response.status, data, retryAfter: response.headers.get("Retry-After") };
}

let refreshing = null;

function refreshOnce() {
  refreshing ??= call("POST", "/auth/refresh").finally(() => {
    refreshing = null;
  });
  return refreshing;
}

// API Gateway's own refusals are {"message": …}; the service's errors carry "error".
function refusedByGateway(result) {
  if (result.status !== 401 && result.status !== 403) return false;
  return !(result.data && typeof result.data === "object" && "error" in result.data);
}

async function callProtected(method, path, body) {
  const first = await call(method, path, body);
  if (!refusedByGateway(first)) return first;
  const refreshed = await refreshOnce();
  if (refreshed.status !== 200) return first;
  return call(method, path, body);
}

// ------------------------------------------------------------------ the page
const $ = (id) => document.getElementById(id);
let seq = 0;

// What "Last call" shows of an answer: the mfa_token is held, not displayed, and the QR code's
// data: URI (shown as an image) is too long to read.
function displayed(data) {
  if (!data || typeof data !== "object") return data;
  const copy = { ...data };
  if ("mfa_token" in copy) copy.mfa_token = "(held by the page for the second step)";
  if ("otpauth_qr" in copy) copy.otpauth_qr = "(the QR code above)";
  return copy;
}

function show(action, result) {
  seq += 1;
  const output = $("result");
  let line = `${result.method} ${result.path} → ${result.status || "network error"}`;
  if (result.status === 429 && result.retryAfter) line += ` (locked: retry in ${result.retryAfter} s)`;
  output.textContent = line;
  output.dataset.action = action;
  output.dataset.status = String(result.status);
  output.dataset.seq = String(seq);
  $("body").textContent = result.data === null ? "(no body)" : JSON.stringify(displayed(result.data), null, 2);
}

function setState(signedIn, text) {
  $("state").dataset.signedIn = String(signedIn);
  $("state").textContent = text;
  if (!signedIn) $("session-list").hidden = true;
}

function noteUser(result) {
  if (result.status === 200) setState(true, `Signed in as ${result.data.user} (scope: ${result.data.scope || "none"}).`);
  else setState(false, "Signed out.");
}

// A login between its two steps: who, and the single-use token of the second step.
let pendingLogin = null;

function endSecondStep() {
  pendingLogin = null;
  $("mfa-code").value = "";
  $("mfa-form").hidden = true;
  $("login-form").hidden = false;
}

async function login(event) {
  event.preventDefault();
  const username = $("username").value;
  const password = $("password").value;
  $("password").value = ""; // not a moment longer in the page than needed
  const result = await call("POST", "/auth/login", { username, password, delivery: "cookie" });
  say("login-message", "", true);
  if (result.status === 200) setState(true, `Signed in as ${username}.`);
  else if (result.status === 401 && result.data?.error === "mfa_required") {
    pendingLogin = { username, mfaToken: result.data.mfa_token };
    $("login-form").hidden = true;
    $("mfa-form").hidden = false;
    say("login-message", "Password right. Now a code from your authenticator app (or a recovery code).", true);
    $("mfa-code").focus();
  } else if (result.status === 401) say("login-message", "Wrong username or password.", false);
  else say("login-message", explain(result, "Not signed in"), false);
  show("login", result);
}

async function secondStep(event) {
  event.preventDefault();
  if (!pendingLogin) return;
  const typed = $("mfa-code").value.trim();
  $("mfa-code").value = "";
  // Six digits are the app's code; anything else is read as a recovery code.
  const digits = typed.replace(/\s/g, "");
  const body = /^[0-9]{6}$/.test(digits)
    ? { mfa_token: pendingLogin.mfaToken, code: digits }
    : { mfa_token: pendingLogin.mfaToken, recovery_code: typed };
  const result = await call("POST", "/auth/login/mfa", body);
  if (result.status === 200) {
    setState(true, `Signed in as ${pendingLogin.username}.`);
    say("login-message", "", true);
    endSecondStep();
  } else if (result.status === 401) {
    // One answer for a wrong or used code and an expired login: both may be retried.
    say("login-message", "That code did not work (or the login expired after 5 minutes: start over).", false);
  } else if (result.status === 429) {
    say("login-message", `Too many wrong codes: try again in ${result.retryAfter || "a few"} seconds.`, false);
  } else say("login-message", explain(result, "Not signed in"), false);
  show("login-mfa", result);
}

async function me() {
  const result = await callProtected("GET", "/api/me");
  noteUser(result);
  show("me", result);
}

async function refresh() {
  const result = await refreshOnce();
  if (result.status !== 200) setState(false, "Signed out: the session ended.");
  show("refresh", result);
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function when(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString();
}

function renderSessions(sessions) {
  const tbody = $("session-list").querySelector("tbody");
  tbody.replaceChildren();
  for (const session of sessions) {
    const row = document.createElement("tr");
    row.dataset.sid = session.sid;
    cell(row, session.sid.slice(0, 8) + "…" + (session.current ? " (this one)" : ""));
    cell(row, when(session.created_at));
    cell(row, when(session.last_used_at));
    cell(row, when(session.expires_at));
    cell(row, session.user_agent || "");
    const actions = cell(row, "");
    if (!session.current) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.textContent = "End";
      revoke.addEventListener("click", () => revokeSession(session.sid));
      actions.append(revoke);
    }
    tbody.append(row);
  }
  $("session-list").hidden = false;
}

async function sessions() {
  const result = await callProtected("GET", "/auth/sessions");
  if (result.status === 200) renderSessions(result.data.sessions);
  else setState(false, "Signed out.");
  show("sessions", result);
}

async function revokeSession(sid) {
  const result = await callProtected("DELETE", `/auth/sessions/${encodeURIComponent(sid)}`);
  show("revoke", result);
  if (result.status === 204) await sessions();
}

async function logout(everywhere) {
  const result = await call("POST", "/auth/logout", everywhere ? { all: true } : undefined);
  if (result.status === 204) setState(false, everywhere ? "Signed out everywhere." : "Signed out.");
  show(everywhere ? "logout-all" : "logout", result);
}

// ------------------------------------------------------------------ accounts
function say(id, text, ok) {
  $(id).textContent = text;
  $(id).dataset.ok = String(ok);
}

// The service's own words for a refusal (weak_password's says what is wrong with the password).
function explain(result, fallback) {
  if (result.data && typeof result.data === "object" && result.data.error_description) {
    return result.data.error_description;
  }
  return `${fallback} (${result.status || "network error"})`;
}

const looksLikeAddress = (text) => /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text);

async function changePassword(event) {
  event.preventDefault();
  const body = { current_password: $("current-password").value, new_password: $("changed-password").value };
  $("current-password").value = "";
  $("changed-password").value = "";
  const result = await callProtected("POST", "/auth/password", body);
  if (result.status === 204) say("change-message", "Password changed. Your other sessions have ended.", true);
  else if (result.status === 401 && result.data?.error === "invalid_grant") {
    say("change-message", "The current password is wrong.", false);
  } else if (refusedByGateway(result)) say("change-message", "Sign in first.", false);
  else say("change-message", explain(result, "Not changed"), false);
  show("change-password", result);
}

// ------------------------------------------------------------------ two-factor authentication
// The service's refusal of a change that needs a fresher login (RFC 9470).
const needsStepUp = (result) => result.status === 401 && result.data?.error === "insufficient_user_authentication";

function mfaRefused(result, fallback) {
  if (needsStepUp(result)) {
    say("mfa-message", `${result.data.error_description} (Log out, then log in again.)`, false);
  } else if (refusedByGateway(result)) say("mfa-message", "Sign in first.", false);
  else if (result.status === 404) say("mfa-message", "Two-factor authentication is not on.", false);
  else say("mfa-message", explain(result, fallback), false);
}

function hideEnrolment() {
  $("totp-enrolment").hidden = true;
  $("totp-qr").removeAttribute("src");
  $("totp-secret").textContent = "";
}

function showRecoveryCodes(codes) {
  const list = $("recovery-list");
  list.replaceChildren();
  for (const code of codes) {
    const item = document.createElement("li");
    item.textContent = code;
    list.append(item);
  }
  $("recovery").hidden = false;
}

async function startTotp() {
  const result = await callProtected("POST", "/auth/mfa/totp");
  $("recovery").hidden = true;
  if (result.status === 200) {
    // Only the image the API drew: an SVG data: URI (an <img> runs no script in it).
    if (result.data.otpauth_qr.startsWith("data:image/svg+xml;base64,")) $("totp-qr").src = result.data.otpauth_qr;
    $("totp-secret").textContent = result.data.secret;
    $("totp-enrolment").hidden = false;
    say("mfa-message", "Not on yet: confirm with the code the app shows.", true);
  } else {
    hideEnrolment();
    mfaRefused(result, "Could not start");
  }
  show("totp-start", result);
}

async function confirmTotp(event) {
  event.preventDefault();
  const code = $("totp-code").value.replace(/\s/g, "");
  $("totp-code").value = "";
  const result = await callProtected("POST", "/auth/mfa/totp/confirm", { code });
  if (result.status === 200) {
    hideEnrolment();
    showRecoveryCodes(result.data.recovery_codes);
    say("mfa-message", "Two-factor authentication is on. Your next login will ask for a code.", true);
  } else if (result.status === 401 && result.data?.error === "invalid_grant") {
    say("mfa-message", "Wrong code: try the one the app shows now.", false);
  } else mfaRefused(result, "Not turned on");
  show("totp-confirm", result);
}

async function newRecoveryCodes() {
  const result = await callProtected("POST", "/auth/mfa/recovery-codes");
  if (result.status === 200) {
    showRecoveryCodes(result.data.recovery_codes);
    say("mfa-message", "New recovery codes: the old ones no longer work.", true);
  } else mfaRefused(result, "No new codes");
  show("recovery-codes", result);
}

async function turnTotpOff() {
  const result = await callProtected("DELETE", "/auth/mfa/totp");
  if (result.status === 204) {
    hideEnrolment();
    $("recovery").hidden = true;
    say("mfa-message", "Two-factor authentication is off: the password alone signs you in.", true);
  } else mfaRefused(result, "Not turned off");
  show("totp-off", result);
}

async function forgot(event) {
  event.preventDefault();
  const who = $("forgot-who").value.trim();
  // Usernames may hold an "@" too; an address is what has a domain after it.
  const body = looksLikeAddress(who) ? { email: who } : { username: who };
  const result = await call("POST", "/auth/password/forgot", body);
  if (result.status === 202) {
    say("forgot-message", "If an account exists, a mail is on its way. Its link works for 30 minutes.", true);
    if (body.email) $("outbox-to").value = body.email;
  } else say("forgot-message", explain(result, "Could not ask for a link"), false);
  show("forgot", result);
}

// The token of the link that opened the page, once read (out of the address bar by then).
let mailToken = null;

function takeToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    mailToken = token;
    history.replaceState(null, "", location.pathname);
  }
  return mailToken;
}

function startReset(invited) {
  $("reset-title").textContent = invited ? "Welcome: choose your password" : "Choose a new password";
  $("reset-form").hidden = false;
  $("reset-done").hidden = true;
  say("reset-message", "", true);
  if (!takeToken()) {
    $("reset-form").hidden = true;
    say("reset-message", "This page needs the link from your mail: it carries a token.", false);
  }
}

async function reset(event) {
  event.preventDefault();
  const password = $("reset-password").value;
  const again = $("reset-password-again").value;
  if (password !== again) {
    say("reset-message", "The two passwords differ.", false);
    return;
  }
  $("reset-password").value = "";
  $("reset-password-again").value = "";
  const result = await call("POST", "/auth/password/reset", { token: mailToken, new_password: password });
  if (result.status === 204) {
    mailToken = null; // used: it would only be refused now
    $("reset-form").hidden = true;
    $("reset-done").hidden = false;
    say("reset-message", "Password set: sign in with it. Every other session of the account has ended.", true);
  } else if (result.status === 401) {
    say("reset-message", "This link is invalid, used or expired: ask for a new one (Forgot your password?).", false);
  } else say("reset-message", explain(result, "Not set"), false);
  show("reset", result);
}

async function verifyEmail() {
  if (!takeToken()) {
    say("verify-message", "This page needs the link from your mail: it carries a token.", false);
    return;
  }
  const result = await call("POST", "/auth/email/verify", { token: mailToken });
  mailToken = null;
  if (result.status === 204) say("verify-message", "Your address is confirmed: you can sign in.", true);
  else if (result.status === 401) say("verify-message", "This link is invalid, used or expired.", false);
  else say("verify-message", explain(result, "Not confirmed"), false);
  show("verify-email", result);
}

async function signup(event) {
  event.preventDefault();
  const body = {
    username: $("signup-username").value,
    email: $("signup-email").value,
    password: $("signup-password").value,
  };
  $("signup-password").value = "";
  const result = await call("POST", "/auth/signup", body);
  if (result.status === 202) {
    // The same answer when the name or the address is taken (its owner gets a note instead).
    say("signup-message", "Check your mail: if the username and address were free, a link to confirm the address is on its way.", true);
    $("outbox-to").value = body.email;
  } else if (result.status === 404) say("signup-message", "Sign-up is closed on this server.", false);
  else say("signup-message", explain(result, "Not signed up"), false);
  show("signup", result);
}

// ------------------------------------------------------------------ passkeys
// WebAuthn wants bytes where the API's JSON has base64url (WebAuthn L3's *JSON forms). Newer
// browsers convert with PublicKeyCredential.parse*OptionsFromJSON and credential.toJSON();
// the conversions are spelled out here so the page works in older ones too.
const b64url = {
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  },
  encode(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

const withIds = (list) => (list ?? []).map((c) => ({ ...c, id: b64url.decode(c.id) }));

function creationOptions(json) {
  return {
    ...json,
    challenge: b64url.decode(json.challenge),
    user: { ...json.user, id: b64url.decode(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  return { ...json, challenge: b64url.decode(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

// What PublicKeyCredential.toJSON() gives: what the API verifies. The private key never
// leaves the authenticator; the page only carries signed data.
function credentialJSON(credential) {
  const r = credential.response;
  const response = { clientDataJSON: b64url.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64url.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64url.encode(r.authenticatorData);
    response.signature = b64url.encode(r.signature);
    response.userHandle = r.userHandle ? b64url.encode(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: b64url.encode(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment ?? null,
    clientExtensionResults: credential.getClientExtensionResults(),
    response,
  };
}

// The browser's own refusal (the user cancelled, no authenticator, a timeout), shown as a call
// that never reached the API.
const browserRefused = (method, path, error) => ({
  method,
  path,
  status: 0,
  data: { error: "webauthn_error", error_description: `${error.name}: ${error.message}` },
});

async function registerPasskey(event) {
  event.preventDefault();
  const options = await callProtected("POST", "/auth/webauthn/register/options", {});
  if (options.status !== 200) {
    say("passkey-message", refusedByGateway(options) ? "Sign in first." : explain(options, "No options"), false);
    show("passkey-register", options);
    return;
  }
  let created;
  try {
    created = await navigator.credentials.create({ publicKey: creationOptions(options.data.publicKey) });
  } catch (error) {
    say("passkey-message", "The browser created no passkey.", false);
    show("passkey-register", browserRefused("POST", "/auth/webauthn/register", error));
    return;
  }
  const body = { ...credentialJSON(created), challenge_id: options.data.challenge_id };
  const name = $("passkey-name").value.trim();
  if (name) body.name = name;
  const result = await callProtected("POST", "/auth/webauthn/register", body);
  if (result.status === 201) say("passkey-message", `Passkey "${result.data.name}" registered: sign in with it next time.`, true);
  else say("passkey-message", explain(result, "Not registered"), false);
  show("passkey-register", result);
}

async function passkeyLogin() {
  // With a username typed above, that user's passkeys; without, whichever the device holds
  // for this site (a discoverable credential). The options look the same for every username.
  const username = $("username").value.trim();
  const options = await call("POST", "/auth/webauthn/login/options", username ? { username } : {});
  if (options.status !== 200) {
    show("passkey-login", options);
    return;
  }
  let assertion;
  try {
    assertion = await navigator.credentials.get({ publicKey: requestOptions(options.data.publicKey) });
  } catch (error) {
    show("passkey-login", browserRefused("POST", "/auth/webauthn/login", error));
    return;
  }
  const body = { ...credentialJSON(assertion), challenge_id: options.data.challenge_id, delivery: "cookie" };
  const result = await call("POST", "/auth/webauthn/login", body);
  if (result.status === 200) setState(true, "Signed in with a passkey.");
  show("passkey-login", result);
}

// ------------------------------------------------------------------ the local outbox
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function renderMail(mail) {
  $("mail").hidden = false;
  $("mail-to").textContent = mail.to;
  $("mail-subject").textContent = mail.subject;
  $("mail-text").textContent = mail.text;
  const link = $("mail-link");
  link.textContent = mail.link || "(none)";
  // Only web links become clickable: a mail file is text anyone could have written.
  if (mail.link && /^https?:\/\//.test(mail.link)) link.href = mail.link;
  else link.removeAttribute("href");
}

async function openLastMail(event) {
  event.preventDefault();
  const to = $("outbox-to").value.trim();
  const path = "/_local/outbox" + (to ? `?to=${encodeURIComponent(to)}` : "");
  // Mail jobs run asynchronously: give a mail just asked for a few seconds to arrive.
  let result;
  for (let attempt = 0; attempt < 20; attempt += 1) {
    result = await call("GET", path);
    if (result.status !== 200 || (Array.isArray(result.data) && result.data.length > 0)) break;
    await sleep(500);
  }
  $("mail").hidden = true;
  if (result.status === 200 && Array.isArray(result.data)) {
    if (result.data.length > 0) renderMail(result.data[0]);
    show("outbox", { ...result, data: result.data[0] ?? [] });
  } else show("outbox", result);
}

// ------------------------------------------------------------------ screens
const SCREENS = {
  "/": "home",
  "/forgot-password": "forgot",
  "/reset-password": "reset",
  "/accept-invite": "reset",
  "/verify-email": "verify",
  "/signup": "signup",
};

function route() {
  const screen = SCREENS[location.pathname] ?? "home";
  for (const section of document.querySelectorAll("[data-screen]")) {
    section.hidden = section.dataset.screen !== screen;
  }
  if (screen === "reset") startReset(location.pathname === "/accept-invite");
  if (screen === "verify") verifyEmail();
}

$("login-form").addEventListener("submit", login);
$("mfa-form").addEventListener("submit", secondStep);
$("mfa-cancel").addEventListener("click", () => {
  endSecondStep();
  say("login-message", "", true);
});
$("totp-start").addEventListener("click", startTotp);
$("totp-confirm-form").addEventListener("submit", confirmTotp);
$("recovery-codes").addEventListener("click", newRecoveryCodes);
$("totp-off").addEventListener("click", turnTotpOff);
$("me").addEventListener("click", me);
$("refresh").addEventListener("click", refresh);
$("sessions").addEventListener("click", sessions);
$("logout").addEventListener("click", () => logout(false));
$("logout-all").addEventListener("click", () => logout(true));
$("change-form").addEventListener("submit", changePassword);
$("passkey-form").addEventListener("submit", registerPasskey);
$("passkey-login").addEventListener("click", passkeyLogin);
$("forgot-form").addEventListener("submit", forgot);
$("reset-form").addEventListener("submit", reset);
$("signup-form").addEventListener("submit", signup);
$("outbox-form").addEventListener("submit", openLastMail);
$("open-last-mail").addEventListener("click", openLastMail);
// A mail's link to the page already open changes only the fragment: no reload, so read it here.
window.addEventListener("hashchange", route);
route();

// After a reload the access cookie may have expired while the refresh cookie lives on:
// one protected call (with its refresh) tells whether the session is still there.
callProtected("GET", "/api/me").then(noteUser);
