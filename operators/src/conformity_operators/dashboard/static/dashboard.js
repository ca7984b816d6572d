// The dashboard page: plain JavaScript, no build step, nothing fetched from the internet.
"use strict";

const MAX_ROWS = 300;
const $ = (id) => document.getElementById(id);

// Build DOM nodes from text only (event data comes from Kafka: never inserted as HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM: the page's Content-Security-Policy refuses inline style attributes.
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clock(iso) {
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function day(iso) {
  return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

// Approval and inspection ids are UUIDs: their first 8 characters tell them apart on screen.
function shortId(text) {
  return /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(text) ? `${text.slice(0, 8)}…` : text;
}

function service(name) {
  return el("span", { class: `svc svc-${name}` }, name);
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

async function getJSON(url) {
  const answer = await fetch(url);
  if (answer.status === 401) {
    // The session ended (its token expired): sign in again, then come back here.
    window.location.assign("/auth/sign-in?next=/");
    throw new Error("signed out");
  }
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.detail || `${answer.status} ${answer.statusText}`);
  return body;
}

// --- status and documents ---------------------------------------------------------------

let linksShown = false;

async function refreshStatus() {
  try {
    const status = await getJSON("/api/status");
    const pill = $("broker");
    pill.textContent = `broker ${status.broker}`;
    pill.className = `pill ${status.broker === "connected" ? "pill-ok" : status.broker === "connecting" ? "pill-wait" : "pill-bad"}`;
    pill.title = `${status.bootstrap_servers} · consumer group ${status.consumer_group}`;
    $("total").textContent = `${status.events} events read`;
    const problem = $("problem");
    problem.hidden = !status.problem;
    problem.textContent = status.problem || "";
    if (!linksShown) {
      linksShown = true;
      $("asyncapi-links").replaceChildren(
        ...status.services.flatMap((s) => [
          el("a", { href: s.asyncapi, target: "_blank", rel: "noopener", title: `${s.name}: its AsyncAPI document, read offline` }, s.name),
          el("a", { href: s.asyncapi_json, target: "_blank", rel: "noopener", class: "json", title: `${s.name}: AsyncAPI JSON` }, "json"),
        ]),
      );
    }
  } catch (error) {
    const pill = $("broker");
    pill.textContent = "dashboard unreachable";
    pill.className = "pill pill-bad";
  }
}

// --- live stream ------------------------------------------------------------------------

function matchesFilter(ev) {
  const words = $("stream-filter").value.trim().toLowerCase();
  if (!words) return true;
  const text = `${ev.type} ${ev.subject} ${ev.service} ${ev.summary} ${ev.correlation_id}`.toLowerCase();
  return words.split(/\s+/).every((w) => text.includes(w));
}

function streamRow(ev) {
  return el(
    "tr",
    {
      class: `tone-${ev.tone}${Date.now() - Date.parse(ev.time) < 10000 ? " fresh" : ""}`,
      dataset: { type: ev.type, subject: ev.subject, correlation: ev.correlation_id, id: ev.id },
      title: `event ${ev.id}\nrequest ${ev.correlation_id}\n${ev.position}`,
      onclick: () => showCascade(ev.correlation_id, true),
    },
    el("td", { class: "time" }, clock(ev.time)),
    el("td", {}, service(ev.service)),
    el("td", { class: "type" }, ev.type),
    el("td", { class: "subject", title: ev.subject }, shortId(ev.subject)),
    el("td", {}, ev.summary),
  );
}

const received = [];

function onEvent(ev) {
  received.push(ev);
  if (received.length > MAX_ROWS * 4) received.splice(0, received.length - MAX_ROWS * 4);
  if (matchesFilter(ev)) {
    // Newest first by event time: partitions are read in turns, so arrival order is not time order.
    const rows = $("stream-rows");
    const row = streamRow(ev);
    row.dataset.time = ev.time;
    const later = [...rows.children].find((r) => r.dataset.time < ev.time);
    rows.insertBefore(row, later || null);
    while (rows.children.length > MAX_ROWS) rows.lastChild.remove();
  }
  refreshCountsSoon();
  refreshStatusSoon();
  if (cascadeShown && (ev.correlation_id === cascadeShown || ev.id === cascadeShown)) redrawCascadeSoon();
  if (historyShown && JSON.stringify(ev).toUpperCase().includes(historyShown)) redrawHistorySoon();
}

function refilter() {
  const shown = received.filter(matchesFilter).sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  const rows = shown.slice(0, MAX_ROWS).map((ev) => {
    const row = streamRow(ev);
    row.dataset.time = ev.time;
    row.classList.remove("fresh");
    return row;
  });
  $("stream-rows").replaceChildren(...rows);
}

function connectStream() {
  const live = $("live");
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "pill pill-ok";
  });
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "pill pill-wait";
  });
  source.addEventListener("event", (message) => onEvent(JSON.parse(message.data)));
}

// --- counts -----------------------------------------------------------------------------

function toneOf(type) {
  if (/suspen[ds]|revoked|failed|breached|withdrawn/.test(type)) return "alarm";
  if (/granted|issued|reinstated|verified/.test(type)) return "good";
  if (/expired|cancelled|scope_reduced/.test(type)) return "muted";
  return "info";
}

async function refreshCounts() {
  const counts = await getJSON("/api/counts").catch(() => ({}));
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const top = Math.max(1, ...entries.map(([, n]) => n));
  $("total").textContent = `${entries.reduce((sum, [, n]) => sum + n, 0)} events read`;
  $("counts").replaceChildren(
    ...entries.map(([type, n]) =>
      el(
        "li",
        { class: `tone-${toneOf(type)}`, dataset: { type }, title: `filter the stream by ${type}`, onclick: () => { $("stream-filter").value = type; refilter(); } },
        el("div", { class: "bar" }, el("i", { style: `width:${(100 * n) / top}%` }), el("span", { class: "type" }, type)),
        el("span", { class: "n" }, n),
      ),
    ),
  );
  if (!entries.length) $("counts").replaceChildren(el("li", { class: "muted" }, "no events yet"));
}

// --- history (search) -------------------------------------------------------------------

let historyShown = null;

async function showHistory(query) {
  query = query.trim().toUpperCase();
  if (!query) return;
  historyShown = query;
  $("search-input").value = query;
  location.hash = `history=${encodeURIComponent(query)}`;
  const box = $("search-results");
  try {
    const found = await getJSON(`/api/search?q=${encodeURIComponent(query)}`);
    if (!found.events.length) {
      box.replaceChildren(el("p", { class: "muted" }, `No event names ${query} yet.`));
      return;
    }
    const services = [...new Set(found.events.map((e) => e.service))];
    box.replaceChildren(
      el("p", { class: "history-head" },
        el("strong", {}, found.name ? `${found.name} · ` : "", query), " · ",
        `${found.events.length} event(s) from `, ...services.flatMap((s, i) => [i ? " " : "", service(s)])),
      el("ol", { class: "history" },
        ...found.events.slice().reverse().map((ev) =>
          el("li", { class: `tone-${ev.tone}`, dataset: { type: ev.type } },
            el("div", {}, el("span", { class: "muted" }, `${day(ev.time)} ${clock(ev.time)} `), service(ev.service), " ",
              el("span", { class: `type tone-${ev.tone}` }, ev.type),
              el("a", { href: "#", class: "cascade-link", onclick: (e) => { e.preventDefault(); showCascade(ev.correlation_id, true); } }, "cascade ›")),
            el("div", { class: "facts" }, ev.summary),
          ),
        ),
      ),
    );
  } catch (error) {
    box.replaceChildren(el("p", { class: "problem" }, error.message));
  }
}

// --- cascade ----------------------------------------------------------------------------

let cascadeShown = null;

function cascadeNode(node, focus) {
  const card = el(
    "div",
    { class: `node tone-${node.tone}${node.id === focus ? " focus" : ""}`, dataset: { type: node.type, id: node.id } },
    el("div", { class: "line1" },
      el("span", { class: "delay", title: "time since its cause" }, node.since_cause || "+0 ms"),
      el("span", { class: `type tone-${node.tone}` }, node.type),
      service(node.service),
      el("code", {}, node.subject)),
    node.summary ? el("div", { class: "facts" }, node.summary) : null,
    el("div", { class: "meta" }, `event ${node.id} · ${day(node.time)} ${clock(node.time)}`),
    node.cause_missing ? el("div", { class: "dead" }, "its cause is not on the topics") : null,
    ...node.dead_letters.map((d) => el("div", { class: "dead" }, `dead-lettered by ${d.consumer}: ${d.error}`)),
    node.deliveries ? webhooks(node.id, node.deliveries) : null,
  );
  return el("li", {}, card, node.children.length ? el("ul", {}, ...node.children.map((c) => cascadeNode(c, focus))) : null);
}

// The webhooks an event caused (notifications' deliveries), collapsed: counts, then the list page by page.
const DELIVERY_PAGE = 100;

function webhookCounts(s) {
  return `${s.total} webhook(s): ${s.delivered} delivered · ${s.retrying} retrying · ${s.given_up} given up`;
}

function webhooks(eventId, counts) {
  const rows = el("tbody", {});
  const more = el("button", { type: "button", class: "more", hidden: "" }, "more");
  let next = 0;
  async function load() {
    if (next === null) return;
    const page = await getJSON(`/api/deliveries/${encodeURIComponent(eventId)}?after=${next}&limit=${DELIVERY_PAGE}`);
    for (const d of page.deliveries) {
      rows.append(el("tr", { class: `delivery-${d.status}` },
        el("td", {}, d.status.replace("_", " ")), el("td", {}, d.attempts), el("td", {}, el("code", {}, d.subscriber_uscc)),
        el("td", {}, el("code", { title: d.endpoint_id }, shortId(d.endpoint_id))),
        el("td", {}, el("code", { title: d.webhook_id }, shortId(d.webhook_id))), el("td", {}, d.failure || "")));
    }
    next = page.next_after;
    more.hidden = next === null;
  }
  more.addEventListener("click", () => load().catch((e) => more.replaceWith(el("span", { class: "problem" }, e.message))));
  const box = el("details", { class: "webhooks" },
    el("summary", {}, webhookCounts(counts)),
    el("table", {}, el("thead", {}, el("tr", {}, ...["status", "attempts", "subscriber", "endpoint", "webhook-id", "last failure"].map((h) => el("th", {}, h)))), rows),
    more);
  box.addEventListener("toggle", () => { if (box.open && next === 0 && !rows.children.length) load().catch(() => {}); });
  return box;
}

async function showCascade(ident, scroll = false) {
  ident = ident.trim();
  if (!ident) return;
  cascadeShown = ident;
  $("cascade-input").value = ident;
  location.hash = `cascade=${encodeURIComponent(ident)}`;
  const box = $("cascade");
  try {
    const tree = await getJSON(`/api/trace/${encodeURIComponent(ident)}`);
    cascadeShown = tree.correlation_id;
    box.replaceChildren(
      el("div", { class: "tree" },
        el("div", { class: "tree-root" }, "request ", el("code", {}, tree.correlation_id),
          el("span", { class: "muted" }, ` · ${tree.events} event(s) over ${Math.round(tree.duration_ms)} ms`),
          tree.deliveries ? el("span", { class: "muted" }, ` · ${webhookCounts(tree.deliveries)}`) : null),
        el("ul", {}, ...tree.roots.map((r) => cascadeNode(r, tree.focus)))),
    );
    if (scroll) $("cascade-panel").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (error) {
    box.replaceChildren(el("p", { class: "problem" }, error.message));
  }
}

const refreshCountsSoon = debounce(refreshCounts, 300);
const refreshStatusSoon = debounce(refreshStatus, 1000);
const redrawCascadeSoon = debounce(() => cascadeShown && showCascade(cascadeShown), 300);
const redrawHistorySoon = debounce(() => historyShown && showHistory(historyShown), 500);

// --- start ------------------------------------------------------------------------------

$("stream-filter").addEventListener("input", refilter);
$("search-form").addEventListener("submit", (e) => { e.preventDefault(); showHistory($("search-input").value); });
$("cascade-form").addEventListener("submit", (e) => { e.preventDefault(); showCascade($("cascade-input").value); });

refreshStatus();
refreshCounts();
connectStream();
setInterval(refreshStatus, 5000);
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("cascade")) showCascade(hash.get("cascade"));
if (hash.get("history")) showHistory(hash.get("history"));
