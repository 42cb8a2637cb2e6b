// vigil's dashboard: plain JS, no build step. Talks to the host's API with the bearer token
// and follows the live events over the WebSocket /events.
"use strict";

const $ = (sel) => document.querySelector(sel);
const KEY = "vigil.token";
let token = null;
let socket = null;
let retry = 500;
let owner = null; // the owner whose token this is (their sessions only), null for the admin
const qrShown = new Map(); // session id -> QR text whose image is shown
const timers = {};

function takeTokenFromUrl() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(KEY);
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token }, options.headers || {});
  if (options.body && typeof options.body !== "string") {
    options.body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    showLogin("The token was refused: " + (await errorText(res)));
    throw new ApiError(401, "unauthorised");
  }
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) return res.json();
  if (type.startsWith("image/")) return res.blob();
  return res.text();
}

async function errorText(res) {
  try { const j = await res.json(); return j.error || JSON.stringify(j); } catch (_) { return res.statusText; }
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const rel = s >= 0 ? (s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : d.toLocaleString())
                     : (-s < 60 ? `in ${-s}s` : -s < 3600 ? `in ${Math.round(-s / 60)}m` : d.toLocaleString());
  return rel;
}

function later(name, fn, ms = 150) {
  clearTimeout(timers[name]);
  timers[name] = setTimeout(fn, ms);
}

// ---- sessions -------------------------------------------------------------------------------

async function refreshSessions() {
  let list;
  try { list = await api("/api/sessions"); } catch (e) { if (e.status !== 401) $("#sessions-error").textContent = e.message; return; }
  $("#sessions-error").textContent = "";
  await refreshPlacement();
  const box = $("#sessions");
  const seen = new Set();
  for (const s of list) {
    seen.add(s.id);
    let card = box.querySelector(`[data-session="${CSS.escape(s.id)}"]`);
    if (!card) {
      card = el("div", { class: "card", "data-session": s.id });
      box.append(card);
    }
    renderSession(card, s);
  }
  for (const card of [...box.children]) {
    if (!seen.has(card.dataset.session)) { card.remove(); qrShown.delete(card.dataset.session); forgetHistory(card.dataset.session); }
  }
  if (!list.length) box.replaceChildren(el("p", { class: "hint" }, "No sessions yet: add one below, then scan its QR."));
}

// Cluster mode: which host runs each session (GET /api/cluster, admin only); `null` when the
// cluster mode is off or the token may not see it.
let placement = null;
async function refreshPlacement() {
  if (owner) { placement = null; return; }
  try {
    const c = await api("/api/cluster");
    placement = c.enabled ? new Map(c.placement.map((p) => [p.session, p.node])) : null;
  } catch (_) { placement = null; }
}

function renderSession(card, s) {
  card.dataset.status = s.status;
  const keepQr = card.querySelector("img.qr-code");
  const keepRestore = card.querySelector(".restore"); // an open backup list survives refreshes
  const keepSilence = card.querySelector(".silence-form");
  const actions = el("div", { class: "actions" },
    el("button", { onclick: () => act(s.id, "restart") }, "restart"),
    el("button", { onclick: () => act(s.id, "backup") }, "backup"),
    el("button", { onclick: () => chooseBackup(card, s.id) }, "restore…"),
    el("button", { onclick: () => silenceForm(card, s.id) }, "silence…"),
    el("button", { onclick: () => { if (confirm(`Log out ${s.id}? Its phone link is lost and it must be scanned again.`)) act(s.id, "logout"); } }, "log out"),
    owner ? null : el("button", { onclick: () => { if (confirm(`Delete session ${s.id} and its profile?`)) remove(s.id); } }, "delete"));
  const rows = [
    ["label", s.label || "—"], ["phone", s.phone ? "+" + s.phone : "—"], ["WhatsApp", s.wa_state || "—"],
    ["browser", s.running ? "running" : "not running"], ["last seen", when(s.last_seen)], ["owner", s.owner || "—"],
  ];
  if (placement) rows.push(["host", el("span", { "data-role": "host" }, placement.get(s.id) || "waiting for a host")]);
  if (s.restarts !== undefined) rows.push(["restarts", s.restarts]);
  if (s.site_version) rows.push(["WhatsApp Web", s.site_version]);
  if (s.resources) rows.push(["memory", resourcesView(s.resources)]);
  if (s.error) rows.push(["error", s.error]);
  card.replaceChildren(
    el("h3", {}, s.id, el("span", { class: "pill " + s.status, "data-role": "status" }, s.status)),
    el("dl", {}, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
  );
  if (s.qr) {
    const img = keepQr || el("img", { class: "qr-code", alt: `QR code to link ${s.id}` });
    card.append(img, el("p", { class: "hint" }, "On the phone: WhatsApp → Linked devices → Link a device, and scan."));
    if (qrShown.get(s.id) !== s.qr) loadQr(s.id, s.qr, img);
    if (s.pairing_code) {
      const code = s.pairing_code.length === 8 ? s.pairing_code.slice(0, 4) + "-" + s.pairing_code.slice(4) : s.pairing_code;
      card.append(el("p", { class: "pairing-code", "data-role": "pairing-code" }, code),
        el("p", { class: "hint" }, "Or: Linked devices → Link a device → Link with phone number instead, and type this code."));
    } else {
      card.append(el("button", { onclick: () => askCode(s.id) }, "link with phone number…"));
    }
  } else {
    qrShown.delete(s.id);
  }
  card.append(historyView(s.id), actions);
  if (keepRestore) card.append(keepRestore);
  if (keepSilence) card.append(keepSilence);
}

// ---- silences -------------------------------------------------------------------------------

// A form on the session's card: for how long, and why; the API checks both.
function silenceForm(card, id) {
  card.querySelector(".silence-form")?.remove();
  const duration = el("select", { "aria-label": `how long to silence ${id}`, name: "for" },
    ["30m", "1h", "2h", "8h", "1d", "7d"].map((d) => el("option", { value: d, selected: d === "2h" }, d)));
  const reason = el("input", { name: "reason", placeholder: "reason (e.g. phone in repair)", required: true });
  const box = el("form", { class: "silence-form actions", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("/api/silences", { method: "POST", body: { matcher: { session: id }, until: duration.value, reason: reason.value } });
      box.remove();
      refreshSilences();
    } catch (err) { $("#silences-error").textContent = `silence ${id}: ${err.message}`; }
  } }, duration, reason, el("button", {}, "silence"), el("button", { type: "button", class: "quiet", onclick: () => box.remove() }, "cancel"));
  card.append(box);
  reason.focus();
}

async function refreshSilences() {
  let list;
  try { list = await api("/api/silences"); } catch (e) { if (e.status !== 401) $("#silences-error").textContent = e.message; return; }
  $("#silences-error").textContent = "";
  const body = $("#silences tbody");
  const active = list.filter((s) => s.state === "active");
  if (!active.length) { body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "hint" }, "No active silences."))); return; }
  body.replaceChildren(...active.map((s) => el("tr", { "data-silence": s.id },
    el("td", {}, s.id),
    el("td", {}, s.matcher.session ? `session ${s.matcher.session}` : `alerts ${s.matcher.alert}…`),
    el("td", {}, `${new Date(s.ends).toLocaleString()} (${when(s.ends)})`),
    el("td", {}, s.reason), el("td", {}, s.created_by),
    el("td", {}, el("button", { onclick: () => expireSilence(s.id) }, "expire")))));
}

async function expireSilence(id) {
  try { await api(`/api/silences/${encodeURIComponent(id)}`, { method: "DELETE" }); }
  catch (e) { $("#silences-error").textContent = `expire ${id}: ${e.message}`; }
  refreshSilences();
  if (!owner) later("alerts", refreshAlerts, 300);
}

// What the session's browser costs: its memory now, CPU seconds, and a sparkline of the last
// samples (hand-drawn SVG).
function resourcesView(r) {
  const mb = (b) => (b / 1048576).toFixed(0) + " MB";
  const box = el("span", { class: "resources", "data-role": "memory" }, mb(r.memory_bytes), ` · CPU ${r.cpu_seconds.toFixed(1)} s `);
  const h = r.memory_history || [];
  if (h.length > 1) {
    const ns = "http://www.w3.org/2000/svg";
    const W = 120, H = 24, lo = Math.min(...h), hi = Math.max(...h), span = Math.max(hi - lo, 1);
    const pts = h.map((v, i) => `${(i * W / (h.length - 1)).toFixed(1)},${(H - 2 - (v - lo) * (H - 4) / span).toFixed(1)}`);
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "sparkline");
    svg.setAttribute("width", W); svg.setAttribute("height", H); svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `memory, last ${h.length} samples: ${mb(lo)} to ${mb(hi)}`);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "currentColor"); line.setAttribute("stroke-width", "1.5");
    svg.append(line);
    box.append(svg);
  }
  return box;
}

async function loadQr(id, text, img) {
  qrShown.set(id, text);
  try {
    const blob = await api(`/api/sessions/${encodeURIComponent(id)}/qr?format=svg`);
    const old = img.src;
    img.onload = () => { img.dataset.loaded = "1"; if (old.startsWith("blob:")) URL.revokeObjectURL(old); };
    img.src = URL.createObjectURL(blob);
  } catch (e) {
    qrShown.delete(id);
    if (e.status !== 404) $("#sessions-error").textContent = `QR of ${id}: ${e.message}`;
  }
}

async function act(id, what) {
  try {
    await api(`/api/sessions/${encodeURIComponent(id)}/${what}`, { method: "POST" });
    later("sessions", refreshSessions, 50);
  } catch (e) { $("#sessions-error").textContent = `${what} ${id}: ${e.message}`; }
}

// The session's backups in a list to pick from; restoring stops the session, installs the
// (verified) backup and starts it again.
async function chooseBackup(card, id) {
  let list;
  try { list = await api(`/api/sessions/${encodeURIComponent(id)}/backups`); }
  catch (e) { $("#sessions-error").textContent = `backups of ${id}: ${e.message}`; return; }
  card.querySelector(".restore")?.remove();
  if (!list.length) { $("#sessions-error").textContent = `${id} has no backup yet: make one with "backup"`; return; }
  const select = el("select", { "aria-label": `backup of ${id} to restore` },
    [...list].reverse().map((b) => el("option", { value: b.name }, `${b.name} (${Math.round(b.bytes / 1024)} KiB)`)));
  const box = el("div", { class: "restore actions" }, select,
    el("button", { onclick: async () => {
      if (!confirm(`Restore ${id} from ${select.value}? The session restarts.`)) return;
      try {
        await api(`/api/sessions/${encodeURIComponent(id)}/restore`, { method: "POST", body: { backup: select.value } });
        box.remove();
        later("sessions", refreshSessions, 50);
      } catch (e) { $("#sessions-error").textContent = `restore ${id}: ${e.message}`; }
    } }, "restore this backup"),
    el("button", { class: "quiet", onclick: () => box.remove() }, "cancel"));
  card.append(box);
}

async function remove(id) {
  try { await api(`/api/sessions/${encodeURIComponent(id)}`, { method: "DELETE" }); refreshSessions(); }
  catch (e) { $("#sessions-error").textContent = `delete ${id}: ${e.message}`; }
}

// ---- behaviours -----------------------------------------------------------------------------

function outcome(t) {
  const o = t.outcome;
  if (!o || o === "ok" || o.ok !== undefined || o.outcome === "ok") return "ok";
  return o.message || o.limit || JSON.stringify(o);
}

async function askCode(id) {
  const phone = prompt(`Phone number of the account to link to ${id} (e.g. +34 600 000 000):`);
  if (!phone) return;
  try {
    await api(`/api/sessions/${encodeURIComponent(id)}/pairing-code`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ phone }),
    });
  } catch (e) { alert(String(e.message || e)); }
  refreshSessions();
}

async function refreshBehaviours() {
  let list;
  try { list = await api("/api/behaviours"); } catch (_) { return; }
  const body = $("#behaviours tbody");
  body.replaceChildren(...list.map((b) => {
    const status = b.load_error ? "failed" : b.suspended ? "suspended" : b.last_error ? "error" : "ok";
    const suspended = b.suspended
      ? el("div", { class: "suspended" }, `suspended until ${new Date(b.suspended.until).toLocaleTimeString()} (${when(b.suspended.until)})`,
          el("br"), el("small", {}, b.suspended.reason === "cpu_share" ? "too much CPU" : `${b.suspended.failures} failures in a row`),
          " ", el("button", { onclick: () => resume(b.name) }, "resume"))
      : null;
    const skipped = b.skipped_overlap ? el("div", {}, el("small", {}, `${b.skipped_overlap} overlapping fires skipped`)) : null;
    const traces = (b.traces || []).slice().reverse().map((t) =>
      `${t.started}  ${t.handler}  ${Math.round(t.duration_ms * 10) / 10} ms  ${outcome(t)}` +
      (t.calls || []).map((c) => `\n    ${c.ok ? "✓" : "✗"} ${c.call} ${c.detail}`).join(""));
    return el("tr", { "data-behaviour": b.name },
      el("td", {}, el("strong", {}, b.name), el("br"), el("small", {}, b.compiled ? "plugin" : "script")),
      el("td", {}, el("span", { class: "pill " + status }, status), suspended, b.load_error ? el("pre", { class: "error" }, b.load_error) : null),
      el("td", {}, (b.triggers || []).map((t) => el("div", {}, `${t.trigger} → ${when(t.next_fire)}`))),
      el("td", {}, `${b.runs} (${b.failures} failed)`, el("br"), el("small", {}, `${Math.round((b.cpu_share || 0) * 1000) / 10} % CPU`), skipped),
      el("td", {}, b.last_error ? el("pre", {}, b.last_error) : "—"),
      el("td", {},
        traces.length ? el("details", {}, el("summary", {}, `traces (${traces.length})`), el("pre", {}, traces.join("\n"))) : null,
        el("button", { onclick: () => reload(b.name) }, "reload")));
  }));
}

async function resume(name) {
  try { await api(`/api/behaviours/${encodeURIComponent(name)}/resume`, { method: "POST" }); } catch (_) { /* shown by refresh */ }
  refreshBehaviours();
}

async function reload(name) {
  try { await api(`/api/behaviours/${encodeURIComponent(name)}/reload`, { method: "POST" }); } catch (_) { /* shown by refresh */ }
  refreshBehaviours();
}

// ---- alerts ---------------------------------------------------------------------------------

async function refreshAlerts() {
  let list;
  try { list = await api("/api/alerts?limit=20"); } catch (_) { return; }
  const body = $("#alerts tbody");
  if (!list.length) { body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "hint" }, "No alerts."))); return; }
  body.replaceChildren(...list.map((a) => el("tr", {},
    el("td", {}, a.key), el("td", {}, el("span", { class: "pill " + a.state }, a.state),
      a.silenced_by && a.silenced_by.length ? el("div", {}, el("small", {}, `held by silence ${a.silenced_by.join(", ")}`)) : null,
      a.escalation && a.escalation.state === "sent" ? el("div", {}, el("small", {}, `escalated ${when(a.escalation.sent)}`)) : null,
      a.escalation && a.escalation.state === "pending" && a.escalation.due ? el("div", {}, el("small", {}, `escalates ${when(a.escalation.due)}`)) : null),
    el("td", {}, a.severity),
    el("td", {}, a.recipient), el("td", {}, when(a.last_sent)), el("td", {}, `${a.raised_count}× (last ${when(a.last_raised)})`))));
}

// ---- live events ----------------------------------------------------------------------------

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${proto}//${location.host}/events?token=${encodeURIComponent(token)}`);
  socket.onopen = () => { retry = 500; live(true); refreshAll(); };
  socket.onclose = () => { live(false); setTimeout(connect, retry); retry = Math.min(retry * 2, 15000); };
  socket.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    logEvent(ev);
    if (ev.name.startsWith("session.") || ev.name.startsWith("message.") || ev.name.startsWith("cluster.")) later("sessions", refreshSessions);
    if (ev.name.startsWith("behaviour")) later("behaviours", refreshBehaviours, 300);
    if (ev.name.startsWith("alert") && !owner) later("alerts", refreshAlerts, 300);
  };
}

function live(on) {
  const p = $("#live");
  p.textContent = on ? "live" : "offline";
  p.className = "pill " + (on ? "on" : "off");
}

function logEvent(ev) {
  const list = $("#events");
  const data = Object.assign({}, ev.data);
  if (data.qr) data.qr = data.qr.slice(0, 12) + "…";
  list.prepend(el("li", {}, el("span", { class: "t" }, new Date(ev.at || Date.now()).toLocaleTimeString()),
    el("strong", {}, ev.name), " ", JSON.stringify(data)));
  while (list.children.length > 100) list.lastChild.remove();
}

// ---- start ----------------------------------------------------------------------------------

function refreshAll() { refreshSessions(); refreshSilences(); if (!owner) { refreshBehaviours(); refreshAlerts(); } }

// An owner token reaches only its owner's sessions: the admin's parts of the page are hidden.
async function scope() {
  let me;
  try { me = await api("/api/me"); } catch (_) { return; }
  owner = me.scope === "owner" ? me.owner : null;
  const pill = $("#scope");
  pill.hidden = !owner;
  pill.textContent = owner ? `owner ${owner}` : "";
  for (const e of document.querySelectorAll("[data-admin]")) e.hidden = !!owner;
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#forget").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  if (socket) { socket.onclose = null; socket.close(); socket = null; }
}

function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#forget").hidden = false;
  scope().then(() => { refreshAll(); connect(); });
}

$("#login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("#token").value.trim();
  localStorage.setItem(KEY, token);
  start();
});
$("#forget").addEventListener("click", () => { localStorage.removeItem(KEY); token = null; showLogin(); });
$("#add-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("#add-id").value.trim();
  const label = $("#add-label").value.trim() || undefined;
  try {
    await api("/api/sessions", { method: "POST", body: { id, label } });
    $("#add-id").value = ""; $("#add-label").value = "";
    refreshSessions();
  } catch (err) { $("#sessions-error").textContent = err.message; }
});
setInterval(() => { if (token && !$("#app").hidden) { if (!owner) refreshBehaviours(); refreshSessions(); refreshSilences(); } }, 10000);

token = takeTokenFromUrl();
if (token) start(); else showLogin();
