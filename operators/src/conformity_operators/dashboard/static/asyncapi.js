// An offline reader of a service's AsyncAPI 3 document: what it publishes and what it consumes.
"use strict";

const SERVICES = ["approval", "certificates", "supervision", "proficiency", "notifications"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// "#/components/schemas/X" -> the object it names in the document.
function resolve(doc, value) {
  let seen = 0;
  while (value && typeof value === "object" && typeof value.$ref === "string" && value.$ref.startsWith("#/") && seen++ < 20) {
    value = value.$ref.slice(2).split("/").reduce((at, part) => (at ? at[decodeURIComponent(part)] : undefined), doc);
  }
  return value;
}

function typeOf(doc, schema) {
  schema = resolve(doc, schema) || {};
  if (schema.enum) return schema.enum.join(" | ");
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(doc, s)).join(" or ");
  if (schema.type === "array") return `array of ${typeOf(doc, schema.items)}`;
  return schema.format ? `${schema.type} (${schema.format})` : schema.type || "any";
}

function schemaTable(doc, schema) {
  schema = resolve(doc, schema) || {};
  const required = new Set(schema.required || []);
  const rows = Object.entries(schema.properties || {}).map(([name, prop]) =>
    el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, typeOf(doc, prop)), el("td", {}, required.has(name) ? "yes" : "no")),
  );
  if (!rows.length) return el("p", { class: "muted" }, "no payload fields");
  return el("table", { class: "events schema" }, el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "required"))), el("tbody", {}, rows));
}

function operation(doc, op) {
  const channel = resolve(doc, op.channel) || {};
  const messages = (op.messages || []).map((m) => resolve(doc, m) || {});
  return el("article", { class: "operation" },
    el("h3", {}, el("code", {}, channel.address || "?"), " ",
      el("span", { class: "muted" }, messages.map((m) => (m.title || "").split(":").slice(1, 2).join("")).filter(Boolean).join(", "))),
    channel.description ? el("p", {}, channel.description) : null,
    ...messages.map((m) => {
      const payload = resolve(doc, m.payload) || {};
      return el("div", {},
        payload.description ? el("p", {}, payload.description) : null,
        payload.title && payload.title !== "EmptyPayload" ? el("p", { class: "muted" }, `payload: ${payload.title}`) : null,
        payload.title === "EmptyPayload" ? null : schemaTable(doc, payload));
    }),
  );
}

async function show() {
  const service = new URLSearchParams(location.search).get("service") || "approval";
  document.getElementById("services").replaceChildren(
    ...SERVICES.map((s) => el("a", { href: `?service=${s}`, class: s === service ? "current" : null }, s)),
  );
  const box = document.getElementById("document");
  const answer = await fetch(`/api/asyncapi/${encodeURIComponent(service)}`);
  const doc = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    box.replaceChildren(el("h2", {}, service), el("p", { class: "problem" }, doc.detail || `${answer.status}`));
    return;
  }
  document.title = `AsyncAPI · ${doc.info?.title || service}`;
  const operations = Object.values(doc.operations || {});
  const sent = operations.filter((o) => o.action === "send");
  const received = operations.filter((o) => o.action === "receive");
  const servers = Object.values(doc.servers || {}).map((s) => `${s.protocol}://${s.host}`);
  box.replaceChildren(
    el("h2", { class: "doc-title" }, `${doc.info?.title || service} ${doc.info?.version || ""}`),
    el("p", {}, doc.info?.description || ""),
    el("p", { class: "muted" }, `AsyncAPI ${doc.asyncapi} · ${doc.defaultContentType || ""} · servers: ${servers.join(", ") || "none"}`),
    el("h2", {}, `Publishes (${sent.length})`),
    ...sent.map((o) => operation(doc, o)),
    el("h2", {}, `Consumes (${received.length})`),
    ...received.map((o) => operation(doc, o)),
  );
}

show();
