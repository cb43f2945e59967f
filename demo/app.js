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
//   authorizer denies an expired token) gets one refresh and one retry, no more.
// - Text from the API is shown with textContent, never innerHTML.

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

async function callProtected(method, path, body) {
  const first = await call(method, path, body);
  if (first.status !== 401 && first.status !== 403) return first;
  const refreshed = await refreshOnce();
  if (refreshed.status !== 200) return first;
  return call(method, path, body);
}

// ------------------------------------------------------------------ the page
const $ = (id) => document.getElementById(id);
let seq = 0;

function show(action, result) {
  seq += 1;
  const output = $("result");
  let line = `${result.method} ${result.path} → ${result.status || "network error"}`;
  if (result.status === 429 && result.retryAfter) line += ` (locked: retry in ${result.retryAfter} s)`;
  output.textContent = line;
  output.dataset.action = action;
  output.dataset.status = String(result.status);
  output.dataset.seq = String(seq);
  $("body").textContent = result.data === null ? "(no body)" : JSON.stringify(result.data, null, 2);
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

async function login(event) {
  event.preventDefault();
  const username = $("username").value;
  const password = $("password").value;
  $("password").value = ""; // not a moment longer in the page than needed
  const result = await call("POST", "/auth/login", { username, password, delivery: "cookie" });
  if (result.status === 200) setState(true, `Signed in as ${username}.`);
  show("login", result);
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

$("login-form").addEventListener("submit", login);
$("me").addEventListener("click", me);
$("refresh").addEventListener("click", refresh);
$("sessions").addEventListener("click", sessions);
$("logout").addEventListener("click", () => logout(false));
$("logout-all").addEventListener("click", () => logout(true));

// After a reload the access cookie may have expired while the refresh cookie lives on:
// one protected call (with its refresh) tells whether the session is still there.
callProtected("GET", "/api/me").then(noteUser);
