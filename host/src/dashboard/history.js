// vigil's dashboard: each session's history (GET /api/sessions/{id}/history) as three
// hand-drawn SVG plots — its status over time, its browser's memory, its messages per hour.
// Loaded before app.js, which appends historyView(id) to each session card.
"use strict";

const HISTORY_SPAN = "24h";
const HISTORY_EVERY_MS = 5000; // at most one fetch per session this often
const SVG_NS = "http://www.w3.org/2000/svg";
const historyBoxes = new Map(); // session id -> { box, fetched, busy }

function svgEl(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function plot(role, label, width, height) {
  return svgEl("svg", { class: "plot", "data-role": role, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
}

// The session's history box: the same element across the card's re-renders, refreshed at most
// every HISTORY_EVERY_MS.
function historyView(id) {
  let h = historyBoxes.get(id);
  if (!h) {
    const box = document.createElement("div");
    box.className = "history";
    box.dataset.role = "history";
    h = { box, fetched: 0, busy: false };
    historyBoxes.set(id, h);
  }
  if (!h.busy && Date.now() - h.fetched >= HISTORY_EVERY_MS) refreshHistory(id, h);
  return h.box;
}

function forgetHistory(id) { historyBoxes.delete(id); }

async function refreshHistory(id, h) {
  h.busy = true;
  try {
    const data = await api(`/api/sessions/${encodeURIComponent(id)}/history?since=${HISTORY_SPAN}`);
    drawHistory(h.box, data, Date.now());
  } catch (e) {
    if (e.status !== 401) h.box.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: `history: ${e.message}` }));
  } finally {
    h.fetched = Date.now();
    h.busy = false;
  }
}

const mb = (b) => (b / 1048576).toFixed(0) + " MB";
const t = (s) => new Date(s).getTime();

function drawHistory(box, d, now) {
  const W = 240;
  // The timeline starts where the history does: at `since` when the status then is known,
  // else at the first thing recorded.
  const firsts = [d.status[0], d.memory[0]].filter(Boolean).map((x) => t(x.at));
  const start = d.status_at_since ? t(d.since) : Math.min(now - 60000, ...firsts);
  const span = Math.max(now - start, 1000);
  const x = (ms) => Math.max(0, Math.min(W, ((ms - start) * W) / span));
  const heading = (text) => Object.assign(document.createElement("div"), { className: "plot-title", textContent: text });

  // Status: one coloured band per status held, unknown (grey) before the first record.
  const tl = plot("status-timeline", "status over time", W, 14);
  const bands = [];
  let from = start, cur = d.status_at_since || null;
  for (const c of d.status) {
    const at = Math.max(t(c.at), start);
    if (at > from) bands.push([from, at, cur || "unknown"]);
    from = Math.max(from, at);
    cur = c.status;
  }
  if (cur) bands.push([from, now, cur]);
  for (const [a, b, s] of bands) {
    const w = Math.max(x(b) - x(a), 1);
    tl.append(svgEl("rect", { class: "tl-" + s, "data-status": s, x: x(a).toFixed(1), y: 0, width: w.toFixed(1), height: 14 },
      svgEl("title", {}, `${s} from ${new Date(a).toLocaleTimeString()} to ${new Date(b).toLocaleTimeString()}`)));
  }

  // Memory: the mean per step as a line, the max as a lighter one, scaled to the largest.
  const H = 48;
  const mem = plot("memory-plot", "memory over time", W, H);
  const top = Math.max(1, ...d.memory.map((m) => m.max_bytes));
  const y = (v) => (H - 2 - (v * (H - 4)) / top).toFixed(1);
  const line = (key, cls) => svgEl("polyline", { class: cls, fill: "none", points: d.memory.map((m) => `${x(t(m.at)).toFixed(1)},${y(m[key])}`).join(" ") });
  if (d.memory.length) {
    mem.append(line("max_bytes", "mem-max"), line("avg_bytes", "mem-avg"));
    mem.append(svgEl("text", { x: 2, y: 10, class: "plot-label" }, `max ${mb(top)}`));
  } else {
    mem.append(svgEl("text", { x: 2, y: 28, class: "plot-label" }, "no sample yet"));
  }

  // Messages: the last 24 hours, one slot each; sent as a bar, delivered inside it.
  const MH = 36, slots = 24, hourMs = 3600000;
  const msg = plot("messages-plot", "messages per hour, last 24 hours", W, MH);
  const lastHour = Math.floor(now / hourMs) * hourMs;
  const most = Math.max(1, ...d.messages.map((m) => m.sent));
  const slotW = W / slots;
  let total = 0;
  for (const m of d.messages) {
    const i = slots - 1 - Math.round((lastHour - t(m.hour)) / hourMs);
    if (i < 0 || i >= slots) continue;
    total += m.sent;
    const bh = (m.sent * (MH - 12)) / most, ah = (m.acked * (MH - 12)) / most;
    msg.append(svgEl("rect", { class: "msg-sent", "data-sent": m.sent, x: (i * slotW + 1).toFixed(1), y: (MH - bh).toFixed(1), width: (slotW - 2).toFixed(1), height: bh.toFixed(1) },
      svgEl("title", {}, `${new Date(t(m.hour)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ${m.sent} sent, ${m.acked} delivered`)));
    if (m.acked) msg.append(svgEl("rect", { class: "msg-acked", x: (i * slotW + 3).toFixed(1), y: (MH - ah).toFixed(1), width: Math.max(slotW - 6, 1).toFixed(1), height: ah.toFixed(1) }));
  }
  msg.append(svgEl("text", { x: 2, y: 10, class: "plot-label" }, `${total} sent in 24 h (most ${most}/h)`));

  box.replaceChildren(heading("status"), tl, heading("memory"), mem, heading("messages per hour"), msg);
}
