// rewardkit /ui: the playground and the live dashboard. Plain JavaScript, no framework, no build
// step. Every number comes from the server's own JSON API; every text from a user or the server is
// put on the page with textContent, never parsed as HTML.
"use strict";

const KEY_STORE = "rewardkit.apiKey"; // sessionStorage: this tab only
const MAX_CANDIDATES = 100; // the page's own limit; the server's --max-items-per-request applies as well
const REFRESH_S = 1.5;
const WINDOW_S = 10;

const state = {
  info: null,
  last: null, // the request last sent: {path, body, call}
  timer: null,
  samples: [], // dashboard: [{at, summary}] over the last WINDOW_S seconds
};

// ---------------------------------------------------------------- small helpers

function $(id) {
  return document.getElementById(id);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(digits);
}

function cell(row, text, className) {
  const td = el("td", className, text);
  row.appendChild(td);
  return td;
}

function headRow(table, names, numeric = []) {
  const thead = el("thead");
  const tr = el("tr");
  names.forEach((name, i) => tr.appendChild(el("th", numeric.includes(i) ? "num" : "", name)));
  thead.appendChild(tr);
  table.appendChild(thead);
  const tbody = el("tbody");
  table.appendChild(tbody);
  return tbody;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------- the API, with the key

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The server did not answer ${path} (${err.message}). Is it still running?`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (err) {
    data = null;
  }
  if (response.status === 401) {
    const hadKey = Boolean(key);
    sessionStorage.removeItem(KEY_STORE);
    showLogin(hadKey ? "The server refused that key. Enter its API key." : "");
    throw new ApiError(401, "This server needs an API key.");
  }
  if (!response.ok) throw new ApiError(response.status, describeError(response, data, text));
  return data;
}

function describeError(response, data, text) {
  let detail = data && (data.detail ?? data.message ?? (data.error && data.error.message));
  if (detail && typeof detail !== "string") detail = JSON.stringify(detail);
  const kind = data && typeof data.error === "string" ? data.error : response.statusText;
  const what = detail || (text ? text.slice(0, 300) : "no details");
  const side = response.status >= 500 ? "The server failed" : "The server refused the request";
  return `${side} (HTTP ${response.status}${kind ? " " + kind : ""}): ${what}`;
}

// ---------------------------------------------------------------- start, login, tabs

function onDashboard() {
  return location.pathname.replace(/\/+$/, "") === "/ui/metrics";
}

function showOnly(id) {
  for (const name of ["loading", "login", "playground", "dashboard"]) $(name).hidden = name !== id;
  $("tabs").hidden = id === "login" || id === "loading";
}

function showLogin(message) {
  stopDashboard();
  state.info = null;
  $("model-name").textContent = "";
  clear($("results"));
  clear($("model-card"));
  clear($("cards"));
  $("copy-box").hidden = true;
  showOnly("login");
  $("login-message").textContent = message || "";
  $("login-key").value = "";
  $("login-key").focus();
}

async function boot() {
  let info;
  try {
    info = await api("GET", "/info");
  } catch (err) {
    if (err.status !== 401) {
      showOnly("loading");
      $("loading").textContent = err.message;
      $("loading").className = "error";
    }
    return;
  }
  state.info = info;
  $("model-name").textContent = describeModel(info);
  $("logout").hidden = !sessionStorage.getItem(KEY_STORE);
  $("tab-playground").classList.toggle("active", !onDashboard());
  $("tab-dashboard").classList.toggle("active", onDashboard());
  renderModelCard(info);
  if (onDashboard()) {
    showOnly("dashboard");
    startDashboard();
  } else {
    showOnly("playground");
    setUpPlayground(info);
  }
}

function describeModel(info) {
  const name = info.served_model_name || "";
  const kind = modelKind(info);
  return `${name} · ${kind}`;
}

function modelKind(info) {
  if (info.format === "ensemble") return `ensemble of ${(info.ensemble && info.ensemble.members || []).length} (${info.ensemble && info.ensemble.method})`;
  if (info.format === "none") return "reward functions only";
  if (info.pairwise) return "pairwise preference model";
  if (info.steps) return "process reward model";
  if ((info.outputs || []).length > 1) return `multi-objective (${info.outputs.length} outputs)`;
  return info.format || "reward model";
}

// ---------------------------------------------------------------- playground: inputs

let playgroundReady = false;

function setUpPlayground(info) {
  const rules = ruleNames(info);
  $("label-box").hidden = rules.length === 0;
  if (playgroundReady) return;
  playgroundReady = true;
  addPromptTurn();
  for (let i = 0; i < 2; i++) addCandidate("");
  loadExamples();
}

function ruleNames(info) {
  const parts = (info && info.reward_functions && info.reward_functions.rules) || [];
  return parts.map((rule) => rule.name);
}

function turnBox(role, text, removable) {
  const box = el("div", "turn");
  const select = el("select");
  for (const option of ["user", "assistant"]) {
    const node = el("option", "", option);
    node.value = option;
    select.appendChild(node);
  }
  select.value = role;
  select.setAttribute("aria-label", "role");
  const area = el("textarea");
  area.rows = 2;
  area.value = text;
  box.appendChild(select);
  box.appendChild(area);
  if (removable) {
    const remove = el("button", "remove", "×");
    remove.type = "button";
    remove.title = "remove this turn";
    remove.addEventListener("click", () => box.remove());
    box.appendChild(remove);
  }
  return box;
}

function addPromptTurn() {
  const box = el("div", "turn prompt-turn");
  const label = el("label", "", "Prompt");
  label.htmlFor = "prompt";
  const area = el("textarea");
  area.id = "prompt";
  area.rows = 3;
  area.placeholder = "The user's message the answers reply to";
  box.appendChild(label);
  box.appendChild(area);
  $("turns").appendChild(box);
}

function addEarlierTurns(turns) {
  const prompt = $("turns").querySelector(".prompt-turn");
  for (const turn of turns) $("turns").insertBefore(turnBox(turn.role, turn.content, true), prompt);
}

function clearEarlierTurns() {
  for (const box of [...$("turns").querySelectorAll(".turn:not(.prompt-turn)")]) box.remove();
}

function addCandidate(text) {
  const list = $("candidates");
  if (list.children.length >= MAX_CANDIDATES) {
    showMessage(`At most ${MAX_CANDIDATES} answers on this page. Score larger groups with POST /best_of_n or \`rewardkit score\`.`);
    return null;
  }
  const box = el("div", "candidate");
  const label = el("label", "", `Answer ${list.children.length + 1}`);
  const area = el("textarea");
  area.rows = 3;
  area.value = text;
  const remove = el("button", "remove", "×");
  remove.type = "button";
  remove.title = "remove this answer";
  remove.addEventListener("click", () => {
    box.remove();
    renumberCandidates();
  });
  box.appendChild(label);
  box.appendChild(area);
  box.appendChild(remove);
  list.appendChild(box);
  return area;
}

function renumberCandidates() {
  [...$("candidates").children].forEach((box, i) => {
    box.querySelector("label").textContent = `Answer ${i + 1}`;
  });
}

async function loadExamples() {
  const holder = $("examples");
  try {
    const data = await api("GET", "/ui/examples.json");
    for (const example of data.examples) {
      const button = el("button", "", example.title);
      button.type = "button";
      button.title = example.source;
      button.addEventListener("click", () => useExample(example));
      holder.appendChild(button);
    }
  } catch (err) {
    holder.appendChild(el("span", "error", "examples could not be loaded: " + err.message));
  }
}

function useExample(example) {
  clearEarlierTurns();
  const turns = example.turns;
  addEarlierTurns(turns.slice(0, -1));
  $("prompt").value = turns[turns.length - 1].content;
  $("system").value = example.system || "";
  clear($("candidates"));
  for (const answer of example.answers) addCandidate(answer);
  showMessage("");
}

function showMessage(text) {
  $("message").textContent = text;
}

/** The context as the API takes it: {prompt} alone, or {messages} with the system and earlier turns. */
function readContext() {
  const prompt = $("prompt").value;
  if (!prompt.trim()) return { error: "Enter a prompt: the user's message the answers reply to." };
  const earlier = [...$("turns").querySelectorAll(".turn:not(.prompt-turn)")].map((box) => ({
    role: box.querySelector("select").value,
    content: box.querySelector("textarea").value,
  }));
  const empty = earlier.findIndex((turn) => !turn.content.trim());
  if (empty >= 0) return { error: `Earlier turn ${empty + 1} is empty: write it or remove it (×).` };
  const system = $("system").value;
  if (!system.trim() && earlier.length === 0) return { context: { prompt }, messages: [{ role: "user", content: prompt }] };
  const messages = [...(system.trim() ? [{ role: "system", content: system }] : []), ...earlier, { role: "user", content: prompt }];
  return { context: { messages }, messages };
}

function readCandidates() {
  const answers = [...$("candidates").querySelectorAll("textarea")].map((area) => area.value);
  if (answers.length === 0) return { error: "Add at least one candidate answer (+ answer)." };
  const empty = answers.findIndex((answer) => !answer.trim());
  if (empty >= 0) return { error: `Answer ${empty + 1} is empty: write it or remove it (×).` };
  if (answers.length > MAX_CANDIDATES) return { error: `At most ${MAX_CANDIDATES} answers on this page.` };
  return { answers };
}

// ---------------------------------------------------------------- playground: scoring

async function score() {
  showMessage("");
  const info = state.info;
  const context = readContext();
  if (context.error) return showMessage(context.error);
  const candidates = readCandidates();
  if (candidates.error) return showMessage(candidates.error);
  const answers = candidates.answers;
  if (info.pairwise && answers.length < 2) return showMessage("A pairwise model compares answers: give at least two.");
  const conversations = answers.map((answer) => [...context.messages, { role: "assistant", content: answer }]);
  const button = $("score");
  button.disabled = true;
  button.textContent = "Scoring…";
  clear($("results"));
  try {
    const rules = ruleNames(info);
    if (info.format === "none") {
      // reward functions alone: /get_reward gives the rewards, ranked here as /best_of_n ranks scores
      const body = ruleBody(conversations);
      setLastRequest("/get_reward", body);
      const rewards = await api("POST", "/get_reward", body);
      renderResults({ info, answers, best: rankedByScore(rewards.rewards), details: null, rewards, rules });
      return;
    }
    const body = { ...context.context, candidates: answers };
    if (info.pairwise) body.method = "round_robin";
    setLastRequest("/best_of_n", body);
    const calls = [api("POST", "/best_of_n", body)];
    calls.push(info.pairwise ? pairMatrix(context.context, answers) : api("POST", "/score", { conversations }));
    if (rules.length) calls.push(api("POST", "/get_reward", ruleBody(conversations)));
    const [best, details, rewards] = await Promise.all(calls);
    renderResults({ info, answers, best, details, rewards: rules.length ? rewards : null, rules });
  } catch (err) {
    if (err.status !== 401) showMessage(err.message);
  } finally {
    button.disabled = false;
    button.textContent = "Score";
  }
}

/** Best first, an exact tie to the earlier answer: the shape of /best_of_n's answer. */
function rankedByScore(scores) {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const ranks = new Array(scores.length);
  order.forEach((index, k) => (ranks[index] = k + 1));
  return { best: order[0], order, ranks, scores, method: "reward functions" };
}

function ruleBody(conversations) {
  const body = { conversations };
  const label = $("label").value;
  if (label.trim()) body.labels = conversations.map(() => label);
  return body;
}

/** P(row beats column) for every pair, from /compare (both orders averaged by the server). */
async function pairMatrix(context, answers) {
  const n = answers.length;
  const pairs = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
  const results = await Promise.all(
    pairs.map(([i, j]) => api("POST", "/compare", { ...context, responses: [answers[i], answers[j]] })),
  );
  const matrix = answers.map(() => answers.map(() => null));
  pairs.forEach(([i, j], k) => {
    matrix[i][j] = results[k].probability;
    matrix[j][i] = 1 - results[k].probability;
  });
  return { matrix };
}

// ---------------------------------------------------------------- playground: results

function renderResults({ info, answers, best, details, rewards, rules }) {
  const out = $("results");
  clear(out);
  const n = answers.length;
  const scores = best.scores;
  const tokens = details && details.num_tokens ? details.num_tokens : null;
  const lengths = tokens || answers.map((answer) => answer.length);
  const lengthUnit = tokens ? "tokens" : "characters";
  const rankOf = best.ranks;

  const summary = el("div", "summary");
  const what = info.pairwise ? "Bradley-Terry strength from a round-robin of every pair" : "reward";
  summary.appendChild(el("div", "", `Best: answer ${best.best + 1} (${what} ${fmt(scores[best.best])}), ${n} answers ranked by ${best.method}.`));
  summary.appendChild(el("div", "muted", lengthBaseline(lengths, scores, rankOf, lengthUnit)));
  if (details && details.truncated && details.truncated.some(Boolean)) {
    summary.appendChild(el("div", "error", "Some inputs were cut to the model's max length (left truncation keeps the end): see 'truncated'."));
  }
  out.appendChild(summary);

  const table = el("table");
  table.id = "ranking";
  const names = ["rank", "answer", "", info.pairwise ? "strength" : "reward", lengthUnit, "answer text"];
  const tbody = headRow(table, names, [0, 3, 4]);
  const low = Math.min(...scores);
  const high = Math.max(...scores);
  for (const index of best.order) {
    const row = el("tr", index === best.best ? "best" : "");
    row.dataset.index = String(index);
    cell(row, String(rankOf[index]), "num");
    const name = cell(row, `#${index + 1}`);
    if (index === best.best) name.appendChild(el("span", "badge", "best"));
    if (details && details.truncated && details.truncated[index]) name.appendChild(el("span", "badge warn", "truncated"));
    const barCell = cell(row, "", "barcell");
    const bar = el("div", "bar");
    bar.style.width = `${high > low ? 4 + (96 * (scores[index] - low)) / (high - low) : 100}%`;
    barCell.appendChild(bar);
    cell(row, fmt(scores[index]), "num score");
    cell(row, String(lengths[index]), "num");
    cell(row, "").appendChild(el("div", "answer", answers[index]));
    tbody.appendChild(row);
  }
  out.appendChild(table);

  if (details && details.objectives) renderObjectives(out, info, details.objectives, best.order);
  if (details && details.steps) renderSteps(out, info, answers, details.steps, scores, best.order);
  if (best.members) renderMembers(out, info, best.members, scores, best.order);
  if (details && details.matrix) renderMatrix(out, details.matrix);
  if (rewards) renderRules(out, rules, rewards, best.order);
}

/** Does the longest win? Where the longest answer ranks, and the rank correlation of reward and
 * length (Spearman, tied values sharing their average rank; undefined when either side is all ties). */
function lengthBaseline(lengths, scores, ranks, unit) {
  const n = lengths.length;
  if (n < 2) return "Length baseline: needs two answers or more.";
  const longest = lengths.indexOf(Math.max(...lengths));
  const verdict = ranks[longest] === 1 ? "the longest answer wins" : `the longest answer (#${longest + 1}) ranks ${ranks[longest]} of ${n}`;
  const rho = spearman(averageRanks(scores), averageRanks(lengths));
  const correlation = Number.isNaN(rho)
    ? "no rank correlation with length (every answer has the same reward, or the same length)"
    : `rank correlation of reward with length ρ = ${fmt(rho, 2)}`;
  return `Length baseline (${unit}): ${verdict}; ${correlation}.`;
}

/** 1 for the largest value; equal values share the mean of the ranks they span. */
function averageRanks(values) {
  const order = values.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
  const ranks = new Array(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1][0] === order[start][0]) end++;
    for (let k = start; k <= end; k++) ranks[order[k][1]] = (start + end) / 2 + 1;
    start = end + 1;
  }
  return ranks;
}

function spearman(a, b) {
  const n = a.length;
  const meanA = a.reduce((x, y) => x + y, 0) / n;
  const meanB = b.reduce((x, y) => x + y, 0) / n;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (a[i] - meanA) * (b[i] - meanB);
    da += (a[i] - meanA) ** 2;
    db += (b[i] - meanB) ** 2;
  }
  return da && db ? num / Math.sqrt(da * db) : NaN;
}

function renderObjectives(out, info, objectives, order) {
  out.appendChild(el("h3", "", "Objectives"));
  const names = Object.keys(objectives[0]);
  const reward = info.objective;
  const table = el("table");
  table.id = "objectives";
  const tbody = headRow(table, ["answer", ...names.map((name) => (name === reward ? `${name} (the reward)` : name))], names.map((_, i) => i + 1));
  for (const index of order) {
    const row = el("tr");
    cell(row, `#${index + 1}`);
    for (const name of names) cell(row, fmt(objectives[index][name]), "num");
    tbody.appendChild(row);
  }
  out.appendChild(table);
  if (reward) out.appendChild(el("p", "muted", `The reward is '${reward}' (/info's objective; the server's --objective chooses it); the others are shown beside it.`));
}

/** Each answer split at the model's step separator, each step shaded by its score (red low, green high). */
function renderSteps(out, info, answers, steps, scores, order) {
  const how = info.steps || {};
  out.appendChild(el("h3", "", `Step scores (separator ${JSON.stringify(how.separator ?? "")}, aggregate: ${how.aggregation || "?"})`));
  const all = steps.flat();
  const probability = all.every((s) => s >= 0 && s <= 1);
  const low = probability ? 0 : Math.min(...all);
  const high = probability ? 1 : Math.max(...all);
  for (const index of order) {
    const block = el("div", "steps");
    block.dataset.index = String(index);
    const head = el("div", "muted", `#${index + 1}: aggregate ${fmt(scores[index])} over ${steps[index].length} step(s)`);
    block.appendChild(head);
    const pieces = splitSteps(answers[index], how.separator, steps[index].length);
    pieces.forEach((piece, k) => {
      const span = el("span", k < steps[index].length ? "step" : "step unscored", piece);
      if (k < steps[index].length) {
        const value = steps[index][k];
        const t = high > low ? Math.min(Math.max((value - low) / (high - low), 0), 1) : 0.5;
        span.style.backgroundColor = `hsla(${Math.round(120 * t)}, 70%, 50%, 0.28)`;
        span.dataset.score = String(value);
        span.title = `step ${k + 1}: ${fmt(value)}`;
      } else {
        span.title = steps[index].length ? "after the last separator: no step score" : "no separator in this answer: the reward is read at its last token";
      }
      block.appendChild(span);
    });
    out.appendChild(block);
  }
}

function splitSteps(text, separator, count) {
  if (!separator || count === 0) return [text];
  const pieces = [];
  let rest = text;
  for (let k = 0; k < count; k++) {
    const at = rest.indexOf(separator);
    if (at < 0) break;
    pieces.push(rest.slice(0, at + separator.length));
    rest = rest.slice(at + separator.length);
  }
  if (rest) pieces.push(rest);
  return pieces;
}

/** Each member's reward, the server's combination and the other two computed here from the same members. */
function renderMembers(out, info, members, scores, order) {
  const ensemble = info.ensemble || {};
  const names = Object.keys(members);
  const lambda = ensemble.uwo_lambda ?? 0.5;
  out.appendChild(el("h3", "", `Ensemble members (server combines by ${ensemble.method || "?"})`));
  const table = el("table");
  table.id = "members";
  const columns = [...names, "mean", "worst case", `uncertainty-weighted (λ=${lambda})`, "spread (std)", "served"];
  const tbody = headRow(table, ["answer", ...columns], columns.map((_, i) => i + 1));
  const bestOf = names.map((name) => members[name].indexOf(Math.max(...members[name])));
  for (const index of order) {
    const values = names.map((name) => members[name][index]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    const row = el("tr");
    cell(row, `#${index + 1}`);
    names.forEach((name, m) => {
      const td = cell(row, fmt(values[m]), "num");
      if (bestOf[m] === index) td.appendChild(el("span", "badge", "top"));
    });
    for (const value of [mean, Math.min(...values), mean - lambda * variance, Math.sqrt(variance), scores[index]]) cell(row, fmt(value), "num");
    tbody.appendChild(row);
  }
  out.appendChild(table);
  const agree = new Set(bestOf).size === 1;
  const picks = names.map((name, m) => `${name} → #${bestOf[m] + 1}`).join(", ");
  const served = scores.indexOf(Math.max(...scores));
  const apart = bestOf.every((pick) => pick !== served) ? ` The ${ensemble.method || "served"} combination picks #${served + 1}, no member's top.` : "";
  out.appendChild(el("p", agree && !apart ? "muted" : "error", `${agree ? "Members agree on the best" : "Members disagree on the best"}: ${picks}.${apart}`));
  if (ensemble.standardize) out.appendChild(el("p", "muted", "Members are standardized on the server's reference set; the columns computed here use the values shown."));
}

function renderMatrix(out, matrix) {
  out.appendChild(el("h3", "", "Win probability: P(row beats column), both orders averaged"));
  const table = el("table", "matrix");
  table.id = "matrix";
  const n = matrix.length;
  const tbody = headRow(table, ["", ...matrix.map((_, j) => `#${j + 1}`)]);
  for (let i = 0; i < n; i++) {
    const row = el("tr");
    cell(row, `#${i + 1}`);
    for (let j = 0; j < n; j++) {
      const value = matrix[i][j];
      const td = cell(row, i === j ? "—" : fmt(value, 3));
      if (i !== j) td.style.backgroundColor = `hsla(${Math.round(120 * value)}, 70%, 50%, 0.25)`;
    }
    tbody.appendChild(row);
  }
  out.appendChild(table);
}

function renderRules(out, rules, rewards, order) {
  const logs = rewards.extra_logs || {};
  out.appendChild(el("h3", "", "Reward functions beside the model (POST /get_reward)"));
  const table = el("table");
  table.id = "rules";
  const columns = ["model", ...rules, "combined"];
  const tbody = headRow(table, ["answer", ...columns], columns.map((_, i) => i + 1));
  for (const index of order) {
    const row = el("tr");
    cell(row, `#${index + 1}`);
    for (const name of ["model", ...rules]) cell(row, logs[name] ? fmt(logs[name][index]) : "—", "num");
    cell(row, fmt(rewards.rewards[index]), "num");
    tbody.appendChild(row);
  }
  out.appendChild(table);
}

// ---------------------------------------------------------------- copy as curl / Python

function setLastRequest(path, body) {
  state.last = { path, body };
  $("copy-box").hidden = false;
  $("snippet").hidden = true;
  $("copy-status").textContent = "";
}

function shellQuote(text) {
  return "'" + text.replace(/'/g, "'\\''") + "'";
}

function curlSnippet() {
  const { path, body } = state.last;
  const lines = [`curl -s ${shellQuote(location.origin + path)}`, "  -H 'Content-Type: application/json'"];
  if (sessionStorage.getItem(KEY_STORE)) lines.push('  -H "Authorization: Bearer $REWARDKIT_API_KEY"');
  lines.push(`  -d ${shellQuote(JSON.stringify(body))}`);
  return lines.join(" \\\n");
}

function pyLiteral(value, indent) {
  // JSON strings, lists and objects of strings are Python literals too (the bodies hold no null/true/false).
  return JSON.stringify(value, null, 4)
    .split("\n")
    .join("\n" + " ".repeat(indent));
}

function pythonSnippet() {
  const { path, body } = state.last;
  const key = sessionStorage.getItem(KEY_STORE) ? ', api_key=os.environ["REWARDKIT_API_KEY"]' : "";
  const argument = (name, value) => (value === undefined ? [] : [`        ${name ? name + "=" : ""}${pyLiteral(value, 8)},`]);
  const rulesOnly = path === "/get_reward";
  const call = rulesOnly
    ? ["    result = client.get_reward_conversations(", ...argument("", body.conversations), ...argument("labels", body.labels)]
    : ["    result = client.best_of_n(", ...argument("", body.candidates), ...argument("prompt", body.prompt), ...argument("messages", body.messages), ...argument("method", body.method)];
  return [
    ...(key ? ["import os", ""] : []),
    "from rewardkit import Client",
    "",
    `with Client(${pyLiteral(location.origin, 0)}${key}) as client:`,
    ...call,
    "    )",
    rulesOnly ? 'print(result["rewards"], result["extra_logs"])' : 'print(result["order"], result["scores"])',
  ].join("\n");
}

async function copySnippet(text) {
  const box = $("snippet");
  box.textContent = text;
  box.hidden = false;
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = "Copied.";
  } catch (err) {
    $("copy-status").textContent = "Select the text below and copy it (this browser did not allow the clipboard here).";
    const range = document.createRange();
    range.selectNodeContents(box);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
}

// ---------------------------------------------------------------- dashboard

function startDashboard() {
  stopDashboard();
  $("refresh-every").textContent = String(REFRESH_S);
  $("window").textContent = String(WINDOW_S);
  state.samples = [];
  poll();
  state.timer = setInterval(poll, REFRESH_S * 1000);
}

function stopDashboard() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
}

async function poll() {
  let summary;
  try {
    summary = await api("GET", "/metrics/summary");
  } catch (err) {
    $("dashboard-status").textContent = err.status === 401 ? "" : err.message;
    $("dashboard-status").className = "error";
    return;
  }
  $("dashboard-status").textContent = "";
  state.samples.push(summary);
  while (state.samples.length > 2 && summary.uptime_s - state.samples[0].uptime_s > WINDOW_S) state.samples.shift();
  renderDashboard(state.samples[0], summary);
}

function card(id, label, value, sub) {
  const box = el("div", "card");
  box.id = id;
  box.appendChild(el("div", "label", label));
  const shown = el("div", "value", value);
  shown.id = id + "-value";
  box.appendChild(shown);
  if (sub) box.appendChild(el("div", "sub", sub));
  return box;
}

function renderDashboard(old, now) {
  const seconds = Math.max(now.uptime_s - old.uptime_s, 1e-9);
  const rate = (pick) => (old === now ? null : (pick(now) - pick(old)) / seconds);
  const batches = now.batches.count - old.batches.count;
  const sequences = now.sequences_scored - old.sequences_scored;
  const real = now.tokens.real - old.tokens.real;
  const computed = now.tokens.computed - old.tokens.computed;
  const windowed = subtractBuckets(now.latency_seconds.buckets, old.latency_seconds.buckets);
  const latency = windowed.total > 0 ? windowed : { buckets: now.latency_seconds.buckets, total: now.latency_seconds.count };
  const latencyWhen = windowed.total > 0 ? `last ${WINDOW_S} s` : "since start (no requests lately)";
  const ms = (q) => {
    const value = quantile(latency.buckets, q);
    if (value === null) return "—";
    const milliseconds = value * 1000;
    return `${milliseconds < 10 ? milliseconds.toFixed(1) : Math.round(milliseconds)} ms`;
  };
  const errors = Object.values(now.errors).reduce((a, b) => a + b, 0);
  const cards = $("cards");
  clear(cards);
  cards.appendChild(card("stat-rps", "requests / s", fmt(rate((s) => s.requests.scoring), 2), "scoring routes"));
  cards.appendChild(card("stat-tps", "tokens / s", fmt(rate((s) => s.tokens.real), 1), "real tokens through the model"));
  cards.appendChild(card("stat-sps", "sequences / s", fmt(rate((s) => s.sequences_scored), 2)));
  cards.appendChild(card("stat-queue", "queue depth", String(now.queue_depth), "sequences waiting"));
  cards.appendChild(card("stat-batch", "mean batch size", batches > 0 ? fmt(sequences / batches, 1) : "—", `${batches} batches in the window`));
  cards.appendChild(card("stat-padding", "tokens that are real", computed > 0 ? `${fmt((100 * real) / computed, 1)}%` : "—",
    `padding / packing efficiency; since start ${now.tokens.computed ? fmt((100 * now.tokens.real) / now.tokens.computed, 1) + "%" : "—"}`));
  const cached = (now.tokens.cached ?? 0) - (old.tokens.cached ?? 0);
  cards.appendChild(card("stat-cached", "tokens from the prefix cache", real > 0 ? `${fmt((100 * cached) / real, 1)}%` : "—",
    `keys and values reused across batches; since start ${now.tokens.real ? fmt((100 * (now.tokens.cached ?? 0)) / now.tokens.real, 1) + "%" : "—"}`));
  cards.appendChild(card("stat-p50", "latency p50", ms(0.5), latencyWhen));
  cards.appendChild(card("stat-p90", "latency p90", ms(0.9), latencyWhen));
  cards.appendChild(card("stat-p99", "latency p99", ms(0.99), latencyWhen));
  cards.appendChild(card("stat-requests", "scoring requests", String(now.requests.scoring), "since start"));
  cards.appendChild(card("stat-scored", "sequences scored", String(now.sequences_scored), `${now.truncated} truncated`));
  cards.appendChild(card("stat-errors", "errors", String(errors), "since start, by kind below"));
  cards.appendChild(card("stat-uptime", "up", formatDuration(now.uptime_s)));
  renderCounts($("errors"), ["kind", "count"], Object.entries(now.errors));
  renderCounts($("batch-sizes"), ["sequences per batch", "batches"], batchSizes(now.batches.buckets), false);
  const routes = Object.entries(now.requests.by_route).map(([route, statuses]) => [
    route,
    Object.entries(statuses).map(([status, count]) => `${status}: ${count}`).join(", "),
  ]);
  renderCounts($("routes"), ["route", "status: count"], routes);
}

function renderCounts(table, names, rows, sorted = true) {
  clear(table);
  const tbody = headRow(table, names);
  if (rows.length === 0) {
    const row = el("tr");
    cell(row, "none yet", "muted");
    tbody.appendChild(row);
  }
  for (const values of sorted ? rows.sort() : rows) {
    const row = el("tr");
    for (const value of values) cell(row, String(value));
    tbody.appendChild(row);
  }
}

/** Cumulative batch-size buckets as [range, batches] rows, empty ranges left out. */
function batchSizes(buckets) {
  const rows = [];
  let lower = 0;
  let below = 0;
  for (const [bound, count] of buckets) {
    const label = bound === null ? `> ${lower}` : bound === lower + 1 ? String(bound) : `${lower + 1}–${bound}`;
    if (count > below) rows.push([label, count - below]);
    if (bound !== null) lower = bound;
    below = count;
  }
  return rows;
}

function subtractBuckets(now, old) {
  const before = new Map(old.map(([bound, count]) => [String(bound), count]));
  const buckets = now.map(([bound, count]) => [bound, count - (before.get(String(bound)) || 0)]);
  return { buckets, total: buckets.length ? buckets[buckets.length - 1][1] : 0 };
}

/** Prometheus's histogram_quantile: linear within the bucket; +Inf (null) gives the highest finite bound. */
function quantile(buckets, q) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (total <= 0) return null;
  const target = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= target) {
      if (bound === null) return lowerBound;
      if (count === lowerCount) return bound;
      return lowerBound + ((bound - lowerBound) * (target - lowerCount)) / (count - lowerCount);
    }
    if (bound !== null) lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

function formatDuration(seconds) {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

/** /info as nested definition lists, every value as text. */
function renderModelCard(info) {
  const holder = $("model-card");
  clear(holder);
  holder.appendChild(keyValues(info));
}

const CARD_FOLD_CHARS = 240; // a nested value longer than this (as JSON) is folded under its name

function keyValues(object) {
  const list = el("dl", "kv");
  for (const [key, value] of Object.entries(object)) {
    if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    list.appendChild(el("dt", "", key.replace(/_/g, " ")));
    const dd = el("dd");
    dd.appendChild(shownValue(value));
    list.appendChild(dd);
  }
  return list;
}

function shownValue(value) {
  if (value === null || typeof value !== "object") return document.createTextNode(typeof value === "number" ? fmt(value) : String(value));
  const rows = Array.isArray(value) && value.every((v) => v && typeof v === "object" && !Array.isArray(v));
  const inner = rows ? objectTable(value) : Array.isArray(value) ? document.createTextNode(value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ")) : keyValues(value);
  if (JSON.stringify(value).length <= CARD_FOLD_CHARS) return inner;
  const fold = el("details");
  fold.appendChild(el("summary", "muted", Array.isArray(value) ? `${value.length} rows` : `${Object.keys(value).length} fields`));
  fold.appendChild(inner);
  return fold;
}

/** A list of records (e.g. a Best-of-N curve) as a table, one column per key. */
function objectTable(records) {
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const table = el("table");
  const tbody = headRow(table, columns.map((c) => c.replace(/_/g, " ")), columns.map((_, i) => i));
  for (const record of records) {
    const row = el("tr");
    for (const column of columns) {
      const value = record[column];
      cell(row, value !== null && typeof value === "object" ? JSON.stringify(value) : fmt(value), "num");
    }
    tbody.appendChild(row);
  }
  return table;
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("login-key").value.trim();
    if (!key) {
      $("login-message").textContent = "Enter the key the server was started with (--api-key).";
      return;
    }
    sessionStorage.setItem(KEY_STORE, key);
    $("login-message").textContent = "";
    boot();
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    showLogin("");
  });
  $("add-turn").addEventListener("click", () => addEarlierTurns([{ role: "user", content: "" }, { role: "assistant", content: "" }]));
  $("add-candidate").addEventListener("click", () => {
    showMessage("");
    const area = addCandidate("");
    if (area) area.focus();
  });
  $("score").addEventListener("click", score);
  $("copy-curl").addEventListener("click", () => state.last && copySnippet(curlSnippet()));
  $("copy-python").addEventListener("click", () => state.last && copySnippet(pythonSnippet()));
  window.addEventListener("error", (event) => showMessage(`Something broke on this page: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => showMessage(`Something broke on this page: ${event.reason}`));
  boot();
});
