// The llmopt web page: ask a question through the OpenAI-compatible API (with citations, usage and cost), and
// browse `llmopt lab` / `llmopt eval` reports. Plain JS, no build step; every server text goes in via textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "llmopt-api-key";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function headers(extra = {}) {
  const key = localStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function notice(text) {
  $("notice").textContent = text || "";
  $("notice").hidden = !text;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (response.status === 401) $("settings").open = true;
    return `${response.status}: ${body.error ? body.error.message : JSON.stringify(body)}`;
  } catch (e) {
    return `${response.status} ${response.statusText}`;
  }
}

// pictures and plots need the API key, so they are fetched and shown from blob: URLs
async function blobImage(url, alt) {
  const img = el("img", { alt: alt || "" });
  try {
    const response = await api(url);
    img.src = URL.createObjectURL(await response.blob());
  } catch (e) {
    img.alt = `${alt || "image"} (${e.message})`;
  }
  return img;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number" && !Number.isInteger(value)) {
    if (value === 0) return "0";
    return Math.abs(value) < 0.001 ? value.toExponential(2) : value.toFixed(Math.abs(value) < 100 ? 3 : 0);
  }
  return String(value);
}

// -- ask ---------------------------------------------------------------------------------------------------------
let models = [];

async function loadModels() {
  try {
    const data = await (await api("/v1/models")).json();
    models = data.data;
    const select = $("model");
    select.replaceChildren(...models.map((m) => el("option", { value: m.id }, m.id)));
    const preferred = models.find((m) => m.id === "rag-k5") || models[0];
    if (preferred) select.value = preferred.id;
    describeModel();
    notice("");
  } catch (e) {
    notice(`Could not list the strategies (${e.message}).`);
  }
}

function describeModel() {
  const model = models.find((m) => m.id === $("model").value);
  const info = model && model.llmopt;
  $("model-description").textContent = info
    ? [info.description, info.kind, `model ${info.model}`].filter(Boolean).join(" · ") : "";
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const body = {
    model: $("model").value,
    messages: [{ role: "user", content: question }],
    max_tokens: Number($("max-tokens").value) || undefined,
    stream: $("stream").checked,
  };
  if (body.stream) body.stream_options = { include_usage: true };
  $("ask-button").disabled = true;
  $("result").hidden = false;
  $("result").classList.add("busy");
  renderAnswer({ content: "", citations: [], usage: null, llmopt: null });
  $("answer").textContent = "…";
  try {
    const response = await api("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const result = body.stream ? await readStream(response) : fromCompletion(await response.json());
    renderAnswer(result);
    notice("");
  } catch (e) {
    $("answer").textContent = "";
    notice(e.message);
  } finally {
    $("ask-button").disabled = false;
    $("result").classList.remove("busy");
  }
}

function fromCompletion(data) {
  const message = data.choices[0].message;
  return { content: message.content, citations: message.citations || [], usage: data.usage, llmopt: data.llmopt };
}

async function readStream(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const result = { content: "", citations: [], usage: null, llmopt: null };
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (!line.startsWith("data:")) continue; // comments (": ping") and blank lines
      const data = line.slice(5).trim();
      if (data === "[DONE]") return result;
      applyChunk(result, JSON.parse(data));
    }
  }
  return result;
}

function applyChunk(result, chunk) {
  if (chunk.error) throw new Error(chunk.error.message);
  if (chunk.usage) result.usage = chunk.usage;
  if (chunk.llmopt) result.llmopt = chunk.llmopt;
  for (const choice of chunk.choices || []) {
    const delta = choice.delta || {};
    if (delta.content) {
      result.content += delta.content;
      $("answer").textContent = result.content;
    }
    if (delta.citations) result.citations = delta.citations;
  }
}

function renderAnswer(result) {
  const answer = $("answer");
  answer.replaceChildren(result.content || (result.usage ? "(no answer)" : ""));
  for (const c of result.citations) {
    answer.append(" ", el("a", { href: `#citation-${c.index}`, class: "marker", onclick: () => openCitation(c.index) },
      `[${c.index}]`));
  }
  const sql = result.llmopt && result.llmopt.sql;
  $("sql").hidden = !sql;
  if (sql) {
    answer.replaceChildren(sqlTable(sql));
    $("sql").textContent = sql.query || "-- no query";
  }
  $("usage").textContent = result.usage ? usageLine(result.usage, result.llmopt) : "";
  $("citations-title").hidden = result.citations.length === 0;
  $("citations").replaceChildren(...result.citations.map(citationItem));
}

function sqlTable(sql) {
  if (sql.error) return el("p", { class: "error" }, `The query did not run: ${sql.error}`);
  const table = el("table", {}, el("thead", {}, el("tr", {}, ...sql.columns.map((c) => el("th", {}, c)))));
  table.append(el("tbody", {}, ...sql.rows.map((row) => el("tr", {}, ...row.map((v) => el("td", {}, fmt(v)))))));
  return el("div", {}, table, el("p", { class: "muted" }, `${sql.rows.length} row(s)${sql.truncated ? " (more exist)" : ""}`));
}

function usageLine(u, info) {
  const cached = u.prompt_tokens_details && u.prompt_tokens_details.cached_tokens;
  const parts = [
    `${u.prompt_tokens} prompt${cached ? ` (${cached} cached)` : ""} + ${u.completion_tokens} completion tokens`,
    `${u.calls ?? "?"} call(s)`,
    `effective context ${u.effective_context_tokens ?? "?"} tokens`,
    `${fmt(u.latency_s)} s`,
    `$${(u.cost_usd ?? 0).toFixed(6)}`,
  ];
  if (info && info.engine_model) parts.push(info.engine_model);
  return parts.join(" · ");
}

function citationItem(c) {
  const where = [c.title || c.source, c.page ? `p. ${c.page}` : null, c.type, `score ${fmt(c.score)}`]
    .filter(Boolean).join(" · ");
  const details = el("div", { class: "citation-body" },
    c.section ? el("p", { class: "muted" }, c.section) : null,
    el("blockquote", {}, c.text || ""),
    el("p", { class: "muted" }, `source: ${c.source}${c.supports ? " · contains the answer" : ""}`));
  if (c.image_url) blobImage(c.image_url, c.title).then((img) => details.prepend(img));
  const item = el("li", { id: `citation-${c.index}`, class: "citation" },
    el("button", { type: "button", class: "citation-head", onclick: () => item.classList.toggle("open") }, where),
    details);
  return item;
}

function openCitation(index) {
  const item = $(`citation-${index}`);
  if (item) item.classList.add("open");
}

// -- reports -----------------------------------------------------------------------------------------------------
async function loadReports() {
  try {
    const data = await (await api("/api/reports")).json();
    $("no-reports").hidden = data.reports.length > 0;
    $("report-list").replaceChildren(...data.reports.map((r) => el("li", {},
      el("a", { href: `#report-${r.id}`, onclick: () => showReport(r.id) }, r.title),
      el("div", { class: "muted" }, `${r.folder} · ${r.generated || ""}`))));
  } catch (e) {
    notice(`Could not list the reports (${e.message}).`);
  }
}

async function showReport(id) {
  const target = $("report");
  target.replaceChildren(el("p", { class: "muted" }, "loading…"));
  try {
    const report = await (await api(`/api/reports/${encodeURIComponent(id)}`)).json();
    target.replaceChildren(...renderReport(report));
  } catch (e) {
    target.replaceChildren(el("p", { class: "error" }, e.message));
  }
}

function renderReport(report) {
  const meta = Object.entries(report.meta || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  const nodes = [el("h2", {}, report.title || report.folder), el("p", { class: "muted" }, meta)];
  if ((report.ladder || []).length) {
    nodes.push(el("h3", {}, "Ladder"), table(["rung", "configuration", "metric", "value", "95% CI", "latency s/q",
      "cost $/q", "n"], report.ladder.map((r) => [r.rung, r.config, r.metric, r.value,
      r.ci_low === null || r.ci_low === undefined ? "–" : `[${fmt(r.ci_low)}, ${fmt(r.ci_high)}]`, r.latency_s,
      r.cost_usd, r.n])));
  }
  for (const s of report.sections || []) nodes.push(renderSection(report.id, s));
  return nodes;
}

function renderSection(id, s) {
  const took = s.seconds === null || s.seconds === undefined ? "" : ` (${fmt(s.seconds)} s)`;
  const node = el("section", { class: "report-section" }, el("h3", {}, `${s.title}${took}`));
  if (s.status && s.status !== "ok") node.append(el("p", { class: "error" }, `${s.status}: ${s.error || ""}`));
  for (const para of (s.summary || "").split("\n\n").filter(Boolean)) node.append(el("p", {}, para));
  for (const t of s.tables || []) node.append(table(t.columns, t.rows, t.caption));
  for (const [caption, rel] of s.plots || []) {
    const figure = el("figure", {}, el("figcaption", {}, caption));
    const url = `/api/reports/${encodeURIComponent(id)}/files/${rel.split("/").map(encodeURIComponent).join("/")}`;
    blobImage(url, caption).then((img) => figure.prepend(img));
    node.append(figure);
  }
  return node;
}

function table(columns, rows, caption) {
  return el("table", {}, caption ? el("caption", {}, caption) : null,
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((v) => el("td", {}, fmt(v)))))));
}

// -- wiring ------------------------------------------------------------------------------------------------------
function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  $("view-ask").hidden = name !== "ask";
  $("view-reports").hidden = name !== "reports";
  if (name === "reports") loadReports();
}

document.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = localStorage.getItem(KEY) || "";
  $("save-key").addEventListener("click", () => {
    const key = $("api-key").value.trim();
    if (key) localStorage.setItem(KEY, key); else localStorage.removeItem(KEY);
    $("settings").open = false;
    loadModels();
  });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("model").addEventListener("change", describeModel);
  $("ask-form").addEventListener("submit", ask);
  loadModels();
});
