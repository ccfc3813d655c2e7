// The policy workbench: edit a policy, see its diagnostics and highlighting as you type (both from the
// engine's own lexer and checker on the server), try a record, see the impact of the unsaved edit on
// sample data, save. All text from the server is put in the page as text (textContent or escaped),
// except the impact report, which the server renders with every value escaped.
"use strict";

const $ = (id) => document.getElementById(id);
const API = "/workbench/api/policies/";
const state = {
  name: null, base: null, saved: "", errors: 0, checked: null, token: sessionStorage.getItem("rules-token") || "",
  seq: { check: 0, impact: 0, explain: 0 }, timers: {}, traced: false,
};

// ---- talking to the service
class Refused extends Error {
  constructor(status, body) { super(body.message || `HTTP ${status}`); this.status = status; this.body = body; }
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { message: `HTTP ${response.status}` }; }
  if (response.status === 401) {
    $("token-box").hidden = false;
    $("token").focus();
    throw new Refused(401, { message: state.token ? "The token was refused; enter the one in the service's --token-file."
                                                 : "This service needs a token: enter the one in its --token-file." });
  }
  if (!response.ok) throw new Refused(response.status, data);
  return data;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = "message" + (isError ? " error" : "");
  box.hidden = !text;
}

function later(name, ms, fn) {
  clearTimeout(state.timers[name]);
  state.timers[name] = setTimeout(fn, ms);
}

// ---- the editor: a transparent textarea over a highlighted copy of its text
function escapeHtml(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

// The last check's tokens and diagnostics carried over an edit made since: those before the edited
// stretch stay, those after it move with the text, those inside it wait for the next check.
function carried(text) {
  const last = state.checked;
  if (!last) return { tokens: [], diagnostics: [] };
  if (last.text === text) return last;
  const old = last.text, shortest = Math.min(old.length, text.length);
  let p = 0;
  while (p < shortest && old[p] === text[p]) p++;
  let s = 0;
  while (s < shortest - p && old[old.length - 1 - s] === text[text.length - 1 - s]) s++;
  const tail = old.length - s, delta = text.length - old.length;
  const move = (a, b) => (b <= p ? [a, b] : a >= tail ? [a + delta, b + delta] : null);
  const tokens = [];
  for (const [a, b, kind] of last.tokens) {
    const at = move(a, b);
    if (at) tokens.push([at[0], at[1], kind]);
  }
  const diagnostics = [];
  for (const d of last.diagnostics) {
    const at = move(d.start, d.end);
    if (at) diagnostics.push({ ...d, start: at[0], end: at[1], line: text.slice(0, at[0]).split("\n").length });
  }
  return { tokens, diagnostics };
}

function paint() {
  const text = $("source").value;
  const { tokens, diagnostics: diags } = carried(text);
  const marks = diags.map((d) => {
    let start = Math.min(d.start, text.length), end = Math.min(Math.max(d.end, d.start), text.length);
    if (end === start && start < text.length && text[start] !== "\n") end = start + 1;
    return { start, end, severity: d.severity, message: `${d.code}: ${d.message}` };
  });
  const cuts = new Set([0, text.length]);
  for (const [a, b] of tokens) { cuts.add(a); cuts.add(b); }
  for (const m of marks) { cuts.add(m.start); cuts.add(m.end); }
  const points = [...cuts].filter((x) => x >= 0 && x <= text.length).sort((x, y) => x - y);
  const out = [];
  let t = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i], b = points[i + 1];
    while (t < tokens.length && tokens[t][1] <= a) t++;
    const classes = [];
    if (t < tokens.length && tokens[t][0] <= a && b <= tokens[t][1]) classes.push("tok-" + tokens[t][2]);
    const over = marks.filter((m) => m.start <= a && b <= m.end && m.start < m.end);
    for (const m of over) classes.push("diag-" + m.severity);
    const piece = escapeHtml(text.slice(a, b));
    if (classes.length) {
      const title = over.length ? ` title="${escapeHtml(over.map((m) => m.message).join("\n"))}"` : "";
      out.push(`<span class="${classes.join(" ")}"${title}>${piece}</span>`);
    } else out.push(piece);
  }
  for (const m of marks.filter((m) => m.start === m.end)) {  // at the end of the text, or of a line
    out.push(`<span class="diag-${m.severity} diag-eof" title="${escapeHtml(m.message)}"> </span>`);
  }
  $("highlight").innerHTML = out.join("") + "\n ";
  const bad = new Set(diags.filter((d) => d.severity === "error").map((d) => d.line));
  const lines = text.split("\n").length;
  const numbers = [];
  for (let i = 1; i <= lines; i++) numbers.push(bad.has(i) ? `<span class="bad">${i}</span>` : String(i));
  $("gutter").innerHTML = numbers.join("\n") + "\n ";
  syncScroll();
}

function syncScroll() {
  const src = $("source");
  $("highlight").scrollTop = src.scrollTop;
  $("highlight").scrollLeft = src.scrollLeft;
  $("gutter").scrollTop = src.scrollTop;
}

function showDiagnostics(diags) {
  const list = $("diagnostics");
  list.replaceChildren();
  if (!diags.length) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = "No problems found.";
    list.append(li);
  }
  for (const d of diags) {
    const li = document.createElement("li");
    li.className = d.severity;
    li.dataset.code = d.code;
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = `line ${d.line}, column ${d.column}`;
    li.append(where, `${d.severity} ${d.code}: ${d.message}`);
    if (d.help) {
      const help = document.createElement("span");
      help.className = "help";
      help.textContent = "help: " + d.help;
      li.append(help);
    }
    li.addEventListener("click", () => {
      const src = $("source");
      src.focus();
      src.setSelectionRange(d.start, Math.max(d.end, d.start));
    });
    list.append(li);
  }
}

function showState() {
  const dirty = $("source").value !== state.saved;
  const el = $("state");
  const checking = !state.checked || state.checked.text !== $("source").value;
  const problems = state.errors ? `${state.errors} error${state.errors > 1 ? "s" : ""}` : "no errors";
  el.textContent = (dirty ? "Unsaved changes" : "Saved") + " · " + (checking ? "checking…" : problems);
  el.className = "state " + (state.errors ? "bad" : dirty ? "dirty" : "clean");
  $("save").disabled = !dirty || checking || state.errors > 0;
  $("revert").disabled = !dirty;
}

// ---- checking, explaining, impact
async function check() {
  const text = $("source").value, seq = ++state.seq.check;
  let result;
  try {
    result = await api("POST", API + state.name + "/check", { text });
  } catch (e) {
    if (seq === state.seq.check) say(e.message, true);
    return;
  }
  if (seq !== state.seq.check) return;
  state.checked = { text, tokens: result.tokens, diagnostics: result.diagnostics };
  state.errors = result.diagnostics.filter((d) => d.severity === "error").length;
  paint();
  showDiagnostics(result.diagnostics);
  showState();
  if (state.errors) {
    $("impact").classList.add("stale");
    $("impact-state").textContent = "Fix the errors to see the impact of the edit.";
  } else {
    later("impact", 150, impact);
    if (state.traced) later("explain", 150, explain);
  }
}

async function impact() {
  const sample = $("sample").value;
  if (!sample) {
    $("impact-state").textContent = "No sample data: start the service with --samples DIR.";
    return;
  }
  const seq = ++state.seq.impact, text = $("source").value;
  $("impact-state").textContent = "deciding the sample…";
  try {
    const result = await api("POST", API + state.name + "/impact", { text, sample, as_of: $("as-of").value });
    if (seq !== state.seq.impact) return;
    const im = result.impact, moved = im.segments.reduce((n, s) => n + s.changed, 0);
    const against = { saved: "the saved version", serving: "the version serving (the file on disk has errors)",
                      none: "nothing (no saved version checks clean)" }[result.against];
    $("impact-state").textContent = `${im.compared} records of ${result.sample}, edited vs ${against}: ` +
      (text === state.saved ? "no unsaved edit." : `${moved} segment change${moved === 1 ? "" : "s"}.`);
    $("impact").innerHTML = result.html;  // rendered by the server with every value escaped
    $("impact").classList.remove("stale");
  } catch (e) {
    if (seq !== state.seq.impact) return;
    $("impact-state").textContent = e.message;
    $("impact").classList.add("stale");
  }
}

async function explain() {
  const seq = ++state.seq.explain, body = { text: $("source").value, as_of: $("as-of").value };
  const key = $("key").value.trim();
  if (key) {
    body.key = key;
    body.sample = $("sample").value;
  } else {
    try {
      body.record = JSON.parse($("record").value || "{}");
    } catch (e) {
      $("trace").textContent = "The record is not valid JSON: " + e.message;
      return;
    }
  }
  state.traced = true;
  try {
    const result = await api("POST", API + state.name + "/explain", body);
    if (seq === state.seq.explain) $("trace").textContent = result.text;
  } catch (e) {
    if (seq !== state.seq.explain) return;
    const diags = (e.body && e.body.diagnostics) || [];
    $("trace").textContent = e.message + diags.map((d) => `\n  line ${d.line}: ${d.message}`).join("");
  }
}

async function save() {
  $("save").disabled = true;
  const text = $("source").value;
  try {
    const result = await api("PUT", API + state.name, { text, base: state.base });
    state.base = result.base;
    state.saved = text;
    say(`Saved ${result.file}; the service now serves it (${result.hash || "not serving: " + result.problem}).`);
    impact();
  } catch (e) {
    say(e.message, true);
  }
  showState();
}

// ---- choosing a policy
async function open(name) {
  if (state.name && $("source").value !== state.saved && !confirm("Discard the unsaved edit?")) {
    $("policy").value = state.name;
    return;
  }
  const doc = await api("GET", API + encodeURIComponent(name));
  state.name = doc.name;
  state.base = doc.base;
  state.saved = doc.text;
  state.checked = null;
  state.traced = false;
  location.hash = doc.name;
  $("source").value = doc.text;
  $("record").value = doc.record ? JSON.stringify(doc.record, null, 2) : "{}";
  $("as-of").value = doc.as_of || "";
  $("trace").textContent = "";
  $("impact").replaceChildren();
  const samples = $("sample");
  samples.replaceChildren(...doc.samples.map((s) => new Option(s, s)));
  if (doc.sample) samples.value = doc.sample;
  say(doc.status && doc.status !== "ok" ? `${doc.file}: ${doc.problem}` : "", doc.status !== "ok");
  paint();
  showState();
  check();
}

async function start() {
  let policies;
  try {
    policies = await api("GET", "/v1/policies");
  } catch (e) {
    say(e.message, true);
    return;
  }
  const select = $("policy");
  select.replaceChildren(...policies.map((p) => new Option(p.label ? `${p.name} — ${p.label}` : p.name, p.name)));
  if (!policies.length) {
    say("The folder has no .rules files.", true);
    return;
  }
  const wanted = decodeURIComponent(location.hash.slice(1));
  const first = policies.some((p) => p.name === wanted) ? wanted : policies[0].name;
  select.value = first;
  try {
    await open(first);
  } catch (e) {
    say(e.message, true);
  }
}

// ---- wiring
$("source").addEventListener("input", () => {
  paint();
  showState();
  later("check", 200, check);
});
$("source").addEventListener("scroll", syncScroll);
$("source").addEventListener("keydown", (event) => {
  if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    document.execCommand("insertText", false, "  ");
  } else if ((event.ctrlKey || event.metaKey) && event.key === "s") {
    event.preventDefault();
    if (!$("save").disabled) save();
  }
});
$("policy").addEventListener("change", () => open($("policy").value).catch((e) => say(e.message, true)));
$("sample").addEventListener("change", impact);
$("as-of").addEventListener("change", () => { impact(); if (state.traced) explain(); });
$("explain").addEventListener("click", explain);
$("save").addEventListener("click", save);
$("revert").addEventListener("click", () => {
  $("source").value = state.saved;
  paint();
  showState();
  check();
});
$("token-box").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("rules-token", state.token);
  $("token-box").hidden = true;
  say("");
  if (state.name) open(state.name).catch((e) => say(e.message, true)); else start();
});
window.addEventListener("beforeunload", (event) => {
  if ($("source").value !== state.saved) event.preventDefault();
});
start();
