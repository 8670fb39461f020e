// app.js: the certlab console. It talks to the platform's IoTDA REST API on
// its own origin, signing every request (sign.js) or sending X-Auth-Token.
// Everything is rendered with textContent: no HTML from the API is ever parsed.

import { signRequest, fingerprints, sdkDate, canonicalURI, canonicalQuery } from "./sign.js";

// PROTOCOLS mirrors iotda.ProtocolTypes.
const PROTOCOLS = ["MQTT", "CoAP", "HTTP", "HTTPS", "Modbus", "ONVIF", "OPC-UA", "OPC-DA", "Other", "TCP", "UDP"];
const PAGE = 50; // IoTDA's maximum list page
const MAX_PAGES = 10;
const CREDS_KEY = "certlab.console.credentials";

const $ = (id) => document.getElementById(id);

const state = {
  creds: null, // {projectId, mode: "aksk"|"token", accessKey, secretKey, token}
  remedies: {},
  pollMs: 2000,
  pollTimer: 0,
  lastAttempts: "",
  verifying: null, // {id, code}
  detailDevice: "",
};

// ApiError is an IoTDA error answer: {"error_code","error_msg"} and the HTTP status.
class ApiError extends Error {
  constructor(status, code, msg, requestId) {
    super(code ? `${code} (HTTP ${status}): ${msg}` : `HTTP ${status}: ${msg}`);
    this.status = status;
    this.code = code;
    this.msg = msg;
    this.requestId = requestId;
  }
}

function encodeQuery(query) {
  return Object.keys(query || {})
    .filter((k) => query[k] !== undefined && query[k] !== "")
    .sort()
    .map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(String(query[k])))
    .join("&");
}

// api sends one request as the signed-in project and returns the decoded
// body (null when empty); HTTP errors throw ApiError.
async function api(method, path, { query, body, creds } = {}) {
  creds = creds || state.creds;
  const qs = encodeQuery(query);
  const url = path + (qs ? "?" + qs : "");
  const bodyText = body === undefined ? "" : JSON.stringify(body);
  let headers = { "Content-Type": "application/json", "X-Project-Id": creds.projectId };
  if (creds.mode === "aksk") {
    headers = await signRequest({ method, url, headers, body: bodyText, accessKey: creds.accessKey, secretKey: creds.secretKey });
  } else {
    headers["X-Auth-Token"] = creds.token;
  }
  const resp = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : bodyText,
    cache: "no-store",
    credentials: "omit",
  });
  const text = await resp.text();
  if (!resp.ok) {
    let code = "";
    let msg = text.slice(0, 300) || resp.statusText;
    try {
      const e = JSON.parse(text);
      code = e.error_code || e.code || "";
      msg = e.error_msg || e.message || msg;
    } catch {
      // not an IoTDA error body: keep the text
    }
    throw new ApiError(resp.status, code, msg, resp.headers.get("X-Request-Id"));
  }
  return text.trim() ? JSON.parse(text) : null;
}

const v5 = (...segs) => "/v5/iot/" + [state.creds.projectId, ...segs].map(encodeURIComponent).join("/");

// listAll pages a list call with marker until it has everything (at most MAX_PAGES pages).
async function listAll(path, key, query = {}) {
  const out = [];
  let marker = "";
  let count = 0;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await api("GET", path, { query: { ...query, limit: PAGE, marker } });
    const items = page[key] || [];
    out.push(...items);
    count = page.page ? page.page.count : out.length;
    if (items.length < PAGE || out.length >= count || !page.page || !page.page.marker) break;
    marker = page.page.marker;
  }
  return { items: out, count };
}

// ---- messages ----

function showError(err) {
  const box = $("error");
  box.textContent = err instanceof ApiError ? err.message + (err.requestId ? ` [request ${err.requestId}]` : "") : String(err.message || err);
  if (err instanceof ApiError) {
    box.dataset.code = err.code;
  } else {
    delete box.dataset.code;
  }
  box.hidden = false;
  $("notice").hidden = true;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  $("error").hidden = true;
}

function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
}

// action runs fn for a button: disables it meanwhile, shows errors as the API states them.
function action(button, fn) {
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    clearMessages();
    try {
      await fn(ev);
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- DOM helpers ----

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k === "text") e.textContent = v;
    else e[k] = v;
  }
  for (const c of children) {
    if (c !== null && c !== undefined) e.append(c);
  }
  return e;
}

function cell(text, cls) {
  return el("td", { text: text ?? "", class: cls || "" });
}

// compactDate turns 20060102T150405Z into a Date.
function compactDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s || "");
  return m ? new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

function showDate(s) {
  const d = compactDate(s);
  return d ? d.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "Z") : s || "";
}

async function readFile(input) {
  const f = input.files && input.files[0];
  return f ? await f.text() : "";
}

// ---- sign in ----

async function signIn(creds) {
  // Any authenticated call proves the credentials; the CA list is the cheapest.
  await api("GET", "/v5/iot/" + encodeURIComponent(creds.projectId) + "/certificates", { query: { limit: 1 }, creds });
  state.creds = creds;
  sessionStorage.setItem(CREDS_KEY, JSON.stringify(creds));
  $("signin").hidden = true;
  $("app").hidden = false;
  $("whoami").hidden = false;
  $("whoami-project").textContent = creds.projectId;
  $("whoami-mode").textContent = creds.mode === "aksk" ? `(AK ${creds.accessKey}, SDK-HMAC-SHA256)` : "(X-Auth-Token)";
  document.body.dataset.signedIn = "true";
  await Promise.all([loadCAs(), loadProducts(), loadDevices()]);
  startPolling();
}

function signOut() {
  sessionStorage.removeItem(CREDS_KEY);
  state.creds = null;
  clearTimeout(state.pollTimer);
  state.pollTimer = 0;
  state.lastAttempts = "";
  for (const id of ["ca-list", "product-list", "device-list", "attempt-list"]) $(id).replaceChildren();
  $("app").hidden = true;
  $("whoami").hidden = true;
  $("signin").hidden = false;
  delete document.body.dataset.signedIn;
  clearMessages();
}

// ---- CAs ----

async function loadCAs() {
  const { items, count } = await listAll(v5("certificates"), "certificates");
  const now = Date.now();
  const rows = items.map((ca) => {
    const expiry = compactDate(ca.expiry_date);
    const expCls = expiry && expiry.getTime() < now ? "bad" : expiry && expiry.getTime() - now < 30 * 864e5 ? "warn" : "";
    const verifyBtn = ca.status ? null : el("button", { type: "button", class: "verify", text: "Verify" });
    const delBtn = el("button", { type: "button", class: "delete", text: "Delete" });
    const tr = el(
      "tr",
      { data: { id: ca.certificate_id, status: ca.status ? "verified" : "unverified" } },
      cell(ca.cn_name, "cn"),
      cell(ca.owner, "owner"),
      cell(ca.status ? "verified" : "not verified", "status " + (ca.status ? "good" : "warn")),
      cell(ca.verify_code, "verify-code"),
      cell(showDate(ca.effective_date), "effective"),
      cell(showDate(ca.expiry_date), "expiry " + expCls),
      cell(ca.certificate_id, "id"),
      el("td", { class: "actions" }, verifyBtn, delBtn),
    );
    if (verifyBtn) {
      verifyBtn.addEventListener("click", () => openVerify(ca));
    }
    confirmAction(delBtn, "Confirm delete", async () => {
      await api("DELETE", v5("certificates", ca.certificate_id));
      notice(`CA ${ca.cn_name} (${ca.certificate_id}) deleted.`);
      if (state.verifying && state.verifying.id === ca.certificate_id) closeVerify();
      await loadCAs();
    });
    return tr;
  });
  $("ca-list").replaceChildren(...rows);
  $("ca-count").textContent = `${count} of at most 100 device CA certificates in this project.`;
}

// confirmAction makes a destructive button ask for a second click.
function confirmAction(button, confirmText, fn) {
  const label = button.textContent;
  let armed = false;
  action(button, async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmText;
      button.classList.add("armed");
      setTimeout(() => {
        armed = false;
        button.textContent = label;
        button.classList.remove("armed");
      }, 5000);
      return;
    }
    await fn();
  });
}

function openVerify(ca) {
  state.verifying = { id: ca.certificate_id, code: ca.verify_code };
  $("verify-ca-id").textContent = `${ca.cn_name} (${ca.certificate_id})`;
  $("verify-code").textContent = ca.verify_code;
  $("verify-code-2").textContent = ca.verify_code;
  $("verify-pem").value = "";
  $("verify-file").value = "";
  $("verify-panel").hidden = false;
  $("verify-panel").dataset.caId = ca.certificate_id;
}

function closeVerify() {
  state.verifying = null;
  $("verify-panel").hidden = true;
  delete $("verify-panel").dataset.caId;
}

async function uploadCA() {
  const pem = (await readFile($("ca-file"))) || $("ca-pem").value;
  if (!pem.trim()) throw new Error("Choose a CA certificate file or paste its PEM.");
  const ca = await api("POST", v5("certificates"), { body: { content: pem } });
  $("ca-file").value = "";
  $("ca-pem").value = "";
  notice(`CA ${ca.cn_name} uploaded (${ca.certificate_id}). Verify it with a certificate whose CN is ${ca.verify_code}.`);
  await loadCAs();
  openVerify(ca);
}

async function verifyCA() {
  if (!state.verifying) throw new Error("Choose a CA to verify.");
  const pem = (await readFile($("verify-file"))) || $("verify-pem").value;
  if (!pem.trim()) throw new Error("Choose the verification certificate file or paste its PEM.");
  const { id } = state.verifying;
  await api("POST", v5("certificates", id, "action"), { query: { action_id: "verify" }, body: { verify_content: pem } });
  closeVerify();
  notice(`CA ${id} verified: devices whose certificates it issued can log in.`);
  await loadCAs();
}

// ---- products ----

async function loadProducts() {
  const { items } = await listAll(v5("products"), "products");
  $("product-list").replaceChildren(
    ...items.map((p) =>
      el("tr", { data: { id: p.product_id } }, cell(p.product_id, "id"), cell(p.name), cell(p.protocol_type, "protocol"), cell(showDate(p.create_time))),
    ),
  );
  const sel = $("device-product");
  const keep = sel.value;
  sel.replaceChildren(...items.map((p) => el("option", { value: p.product_id, text: `${p.name} (${p.product_id}, ${p.protocol_type})` })));
  if (items.some((p) => p.product_id === keep)) sel.value = keep;
}

async function createProduct() {
  const body = {
    name: $("product-name").value.trim(),
    device_type: $("product-type").value.trim(),
    protocol_type: $("product-protocol").value,
    data_format: "json",
    service_capabilities: [],
  };
  const id = $("product-id").value.trim();
  if (id) body.product_id = id;
  const p = await api("POST", v5("products"), { body });
  $("product-id").value = "";
  $("product-name").value = "";
  notice(`Product ${p.name} created (${p.product_id}).`);
  await loadProducts();
  $("device-product").value = p.product_id;
}

// ---- devices ----

async function loadDevices() {
  const { items } = await listAll(v5("devices"), "devices");
  $("device-list").replaceChildren(
    ...items.map((d) => {
      const frozen = d.status === "FROZEN";
      const details = el("button", { type: "button", class: "details", text: "Details" });
      const freeze = el("button", { type: "button", class: frozen ? "unfreeze" : "freeze", text: frozen ? "Unfreeze" : "Freeze" });
      const del = el("button", { type: "button", class: "delete", text: "Delete" });
      action(details, () => showDevice(d.device_id));
      action(freeze, async () => {
        await api("POST", v5("devices", d.device_id, frozen ? "unfreeze" : "freeze"));
        notice(`Device ${d.device_id} ${frozen ? "unfrozen" : "frozen"}.`);
        await loadDevices();
      });
      confirmAction(del, "Confirm delete", async () => {
        await api("DELETE", v5("devices", d.device_id));
        notice(`Device ${d.device_id} deleted.`);
        if (state.detailDevice === d.device_id) $("device-panel").hidden = true;
        await loadDevices();
      });
      return el(
        "tr",
        { data: { id: d.device_id, status: d.status } },
        cell(d.device_id, "id"),
        cell(d.node_id),
        cell(d.product_id),
        cell(d.status, "status " + (d.status === "ONLINE" ? "good" : frozen ? "bad" : "")),
        el("td", { class: "actions" }, details, freeze, del),
      );
    }),
  );
  if (state.detailDevice && !$("device-panel").hidden) {
    await showDevice(state.detailDevice).catch(() => {});
  }
}

async function showDevice(id) {
  const d = await api("GET", v5("devices", id));
  state.detailDevice = id;
  $("detail-device-id").textContent = id;
  const a = d.auth_info || {};
  const fields = [
    ["status", d.status],
    ["node_id", d.node_id],
    ["product", `${d.product_name} (${d.product_id})`],
    ["auth_type", a.auth_type],
    ["fingerprint", a.fingerprint || "(none: bound at first login)"],
    ["secondary_fingerprint", a.secondary_fingerprint || "(none)"],
    ["created", showDate(d.create_time)],
    ["active since", d.active_time || "(never logged in)"],
    ["status changed", d.connection_status_update_time || ""],
  ];
  $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v || "", data: { field: k } })]));
  $("device-panel").hidden = false;
  $("device-panel").dataset.deviceId = id;
}

async function resetFingerprint() {
  const id = state.detailDevice;
  if (!id) throw new Error("Choose a device first (Details).");
  const body = { fingerprint_type: $("reset-type").value, force_disconnect: $("reset-force").checked };
  const fp = $("reset-fingerprint").value.trim();
  if (fp) body.fingerprint = fp;
  const r = await api("POST", v5("devices", id, "reset-fingerprint"), { body });
  notice(`Device ${id}: ${r.fingerprint_type || body.fingerprint_type} fingerprint set to ${r.fingerprint || "(none)"}.`);
  $("reset-fingerprint").value = "";
  $("reset-cert-file").value = "";
  await showDevice(id);
}

async function registerDevice() {
  const auth = { auth_type: "CERTIFICATES" };
  const fp = $("device-fingerprint").value.trim();
  if (fp) auth.fingerprint = fp;
  const body = { node_id: $("device-node").value.trim(), product_id: $("device-product").value, auth_info: auth };
  const id = $("device-id").value.trim();
  if (id) body.device_id = id;
  const d = await api("POST", v5("devices"), { body });
  for (const f of ["device-node", "device-id", "device-fingerprint", "device-cert-pem", "device-cert-file"]) $(f).value = "";
  $("device-fingerprint-hint").textContent = "";
  notice(`Device ${d.device_id} registered (${d.auth_info.auth_type}, fingerprint ${d.auth_info.fingerprint || "bound at first login"}).`);
  await loadDevices();
}

// fillFingerprint computes a certificate's fingerprints in the browser and fills the field.
async function fillFingerprint(pem, source, field, hint) {
  try {
    const fp = await fingerprints(pem);
    field.value = fp.sha256;
    if (hint) hint.textContent = `${source}: SHA-256 ${fp.sha256} (SHA-1 ${fp.sha1})`;
  } catch (err) {
    field.value = "";
    if (hint) hint.textContent = `${source}: ${err.message}`;
    else showError(err);
  }
}

// ---- live view of login attempts ----

function startPolling() {
  clearTimeout(state.pollTimer);
  const tick = async () => {
    if (!state.creds) return;
    if (!$("live-pause").checked) {
      try {
        await loadAttempts();
      } catch (err) {
        $("live-status").textContent = `not updated: ${err.message}`;
      }
    }
    if (state.creds) state.pollTimer = setTimeout(tick, state.pollMs);
  };
  tick();
}

async function loadAttempts() {
  const query = { limit: 50 };
  const dev = $("live-device").value.trim();
  if (dev) query.device_id = dev;
  const r = await api("GET", "/certlab/v1/login-attempts", { query });
  const attempts = r.attempts || [];
  $("live-status").textContent = `updated ${new Date().toLocaleTimeString()}, ${attempts.length} attempts`;
  const key = JSON.stringify(attempts);
  if (key === state.lastAttempts) return;
  state.lastAttempts = key;
  $("attempt-list").replaceChildren(...attempts.map(attemptRow));
}

function attemptRow(a) {
  const rem = state.remedies[a.reason] || {};
  const ok = a.outcome === "success";
  const codes = [a.stage, a.connack_code ? `CONNACK 0x${a.connack_code.toString(16).padStart(2, "0")}` : "", a.mqtt_version ? `MQTT ${a.mqtt_version === 5 ? "5" : a.mqtt_version === 4 ? "3.1.1" : "3.1"}` : ""]
    .filter(Boolean)
    .join(", ");
  const cert = [a.cert_subject, a.cert_key_type, a.cert_sha256 ? "sha256 " + a.cert_sha256.slice(0, 16) + "…" : ""].filter(Boolean).join(" · ");
  return el(
    "tr",
    { class: ok ? "success" : "refused", data: { reason: a.reason, device: a.device_id || "", outcome: a.outcome } },
    cell(a.time ? new Date(a.time).toLocaleString() : "", "time"),
    cell(a.outcome, "outcome " + (ok ? "good" : "bad")),
    el("td", { class: "reason" }, el("code", { text: a.reason }), el("div", { class: "hint", text: [rem.title, codes].filter(Boolean).join(" — ") })),
    el("td", { class: "device" }, a.device_id || "—", el("div", { class: "hint", text: a.client_id || a.peer || "" })),
    cell([a.tls_version, a.cipher_suite].filter(Boolean).join(" "), "tls"),
    cell(cert, "cert"),
    el("td", { class: "remedy" }, ok ? "" : el("div", { class: "remedy-text", text: rem.remedy || "" }), a.detail ? el("div", { class: "detail", text: a.detail }) : null),
  );
}

// ---- start ----

async function loadSettings() {
  try {
    const [cfg, rem] = await Promise.all([fetch("config.json").then((r) => r.json()), fetch("remedies.json").then((r) => r.json())]);
    if (cfg.poll_ms > 0) state.pollMs = cfg.poll_ms;
    state.remedies = rem;
  } catch (err) {
    showError(new Error("console settings could not be loaded: " + err.message));
  }
}

function wire() {
  $("product-protocol").replaceChildren(...PROTOCOLS.map((p) => el("option", { value: p, text: p })));
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", () => {
      const token = $("signin-mode-token").checked;
      $("signin-aksk").hidden = token;
      $("signin-token-box").hidden = !token;
    });
  }
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("signin-submit");
    btn.disabled = true;
    clearMessages();
    const mode = $("signin-mode-token").checked ? "token" : "aksk";
    const creds = { projectId: $("signin-project").value.trim(), mode };
    if (mode === "aksk") {
      creds.accessKey = $("signin-ak").value.trim();
      creds.secretKey = $("signin-sk").value.trim();
    } else {
      creds.token = $("signin-token").value.trim();
    }
    try {
      await signIn(creds);
      $("signin-sk").value = "";
      $("signin-token").value = "";
    } catch (err) {
      showError(err);
    } finally {
      btn.disabled = false;
    }
  });
  $("signout").addEventListener("click", signOut);
  action($("ca-upload"), uploadCA);
  action($("verify-submit"), verifyCA);
  $("verify-cancel").addEventListener("click", closeVerify);
  action($("product-create"), createProduct);
  action($("device-register"), registerDevice);
  action($("reset-submit"), resetFingerprint);
  $("device-panel-close").addEventListener("click", () => {
    state.detailDevice = "";
    $("device-panel").hidden = true;
  });
  $("device-cert-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) await fillFingerprint(await f.text(), f.name, $("device-fingerprint"), $("device-fingerprint-hint"));
  });
  $("device-cert-pem").addEventListener("input", async (ev) => {
    if (ev.target.value.trim()) await fillFingerprint(ev.target.value, "pasted certificate", $("device-fingerprint"), $("device-fingerprint-hint"));
  });
  $("reset-cert-file").addEventListener("change", async (ev) => {
    const f = ev.target.files[0];
    if (f) await fillFingerprint(await f.text(), f.name, $("reset-fingerprint"), null);
  });
  const drop = $("device-drop");
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    const f = ev.dataTransfer.files[0];
    if (f) await fillFingerprint(await f.text(), f.name, $("device-fingerprint"), $("device-fingerprint-hint"));
  });
  $("live-device").addEventListener("change", () => {
    state.lastAttempts = "";
    if (state.creds) startPolling();
  });
}

// window.certlab exposes the pure helpers to tests driving the page.
window.certlab = { signRequest, fingerprints, sdkDate, canonicalURI, canonicalQuery };

wire();
await loadSettings();
const saved = sessionStorage.getItem(CREDS_KEY);
if (saved) {
  try {
    await signIn(JSON.parse(saved));
  } catch (err) {
    sessionStorage.removeItem(CREDS_KEY);
    showError(err);
  }
}
document.body.dataset.ready = "true";
