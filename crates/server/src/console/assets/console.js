// The operator console (served at /admin, embedded in the proxy binary). Plain JavaScript, no
// build step. The admin key lives in this tab's sessionStorage and goes out only as
// `Authorization: Bearer …` to the proxy's own /admin/v1 endpoints. Data is written into the
// page as text nodes, never as HTML.
"use strict";
(() => {
  const KEY = "ccp-admin-key";
  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#2f5bd3", "#e07b39", "#2a9d8f", "#c0392b", "#8e6bbf", "#b7791f", "#4a8bd6",
    "#7a8699"];

  // ---- DOM helpers ------------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k === "title") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const kid of kids) if (kid !== undefined && kid !== null) e.append(kid);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const clear = (node) => { while (node.firstChild) node.removeChild(node.firstChild); };

  // ---- formatting -------------------------------------------------------------------------------
  const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  const ms = (n) => (n === null || n === undefined ? "–" : n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(2)} s`);
  function usd(micro) {
    if (!micro) return "$0";
    const v = micro / 1e6;
    return "$" + (v < 0.01 ? v.toFixed(6) : v.toFixed(2));
  }
  const time = (msSinceEpoch) => new Date(msSinceEpoch).toLocaleTimeString([], { hour12: false });
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  function statusPill(status, code) {
    const kind = status < 400 ? "ok" : status === 499 ? "warn" : "bad";
    const text = code && code !== "ok" ? `${status} ${code}` : String(status);
    return el("span", { class: `pill ${kind}` }, text);
  }

  // ---- the API ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(path, opts = {}) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method: opts.method || "GET", headers, cache: "no-store",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    const message = (data && data.error && data.error.message) || resp.statusText;
    if (resp.status === 401 || resp.status === 403) {
      signOut(`The proxy refused the admin key: ${message}`);
      throw new ApiError(resp.status, message);
    }
    if (!resp.ok) throw new ApiError(resp.status, message);
    return data;
  }
  function showError(e) {
    const banner = $("page-error");
    if (!e) { banner.hidden = true; return; }
    banner.textContent = e.message || String(e);
    banner.hidden = false;
  }
  function pulse() {
    const live = $("live");
    live.classList.add("on");
    live.title = `last refresh ${new Date().toLocaleTimeString()}`;
  }

  // ---- pages ------------------------------------------------------------------------------------
  const pages = {};
  let current = null;
  let timer = null;

  function route() {
    const name = (location.hash || "#overview").slice(1);
    const page = pages[name] ? name : "overview";
    if (timer) { clearInterval(timer); timer = null; }
    for (const p of Object.keys(pages)) $(`page-${p}`).hidden = p !== page;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
    current = page;
    showError(null);
    const run = async () => {
      try { await pages[page].load(); pulse(); if (current === page) showError(null); } catch (e) {
        if (!(e instanceof ApiError && (e.status === 401 || e.status === 403))) showError(e);
      }
    };
    run();
    if (pages[page].every) timer = setInterval(run, pages[page].every);
  }

  // Overview: rates and percentiles over the last minute, the 5-minute series.
  pages.overview = {
    every: 2000,
    async load() {
      const o = await api("/admin/v1/overview");
      const cards = $("overview-cards");
      clear(cards);
      const card = (label, value, bad) => cards.append(el("div", { class: "card" },
        el("div", { class: "label" }, label), el("div", { class: bad ? "value bad" : "value" }, value)));
      card("requests / s", o.requests_per_sec.toFixed(2));
      card("error rate", pct(o.error_rate), o.error_rate > 0.05);
      card("latency p50", ms(o.latency_p50_ms));
      card("latency p99", ms(o.latency_p99_ms));
      card("first token p50", ms(o.ttft_p50_ms));
      card("first token p99", ms(o.ttft_p99_ms));
      card("in flight", num(o.in_flight));
      card("open streams", num(o.active_streams));
      card("requests since start", num(o.since_start.requests));
      card("tokens in / out", `${num(o.since_start.input_tokens)} / ${num(o.since_start.output_tokens)}`);
      card("cost since start", usd(o.since_start.cost_micro_usd));
      $("overview-note").textContent = `Rates and percentiles cover the last ${o.window_secs} s ` +
        `(${num(o.requests)} requests, ${num(o.errors)} errors).`;
      trafficChart($("chart-traffic"), o.series);
    },
  };

  function trafficChart(node, series) {
    clear(node);
    const W = 900, H = 180, L = 40, B = 22, T = 10;
    const max = Math.max(1, ...series.map((s) => s[1]));
    const step = (W - L - 10) / Math.max(1, series.length);
    node.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - 10, y2: H - B }));
    node.append(svg("text", { x: L - 6, y: T + 8, "text-anchor": "end" }, String(max)));
    node.append(svg("text", { x: L - 6, y: H - B, "text-anchor": "end" }, "0"));
    series.forEach(([start, requests, errors], i) => {
      const x = L + i * step + 1;
      const h = ((H - B - T) * requests) / max;
      const eh = ((H - B - T) * errors) / max;
      const bar = svg("rect", { class: "bar", x, y: H - B - h, width: Math.max(1, step - 2), height: h, fill: "#2f5bd3" });
      bar.append(svg("title", {}, `${time(start * 1000)}: ${requests} requests, ${errors} errors`));
      node.append(bar);
      if (errors) node.append(svg("rect", { x, y: H - B - eh, width: Math.max(1, step - 2), height: eh, fill: "#c0392b" }));
      if (i % 6 === 0) node.append(svg("text", { x, y: H - 6 }, time(start * 1000).slice(0, 5)));
    });
  }

  // Requests: a live list, polled every second for what came after the last one seen.
  const live = { lastSeq: 0, rows: [], selected: null };
  const MAX_ROWS = 300;
  pages.requests = {
    every: 1000,
    async load() {
      const r = await api(`/admin/v1/requests?after=${live.lastSeq}&limit=200`);
      live.lastSeq = Math.max(live.lastSeq, r.last_seq);
      const fresh = live.rows.length > 0;
      for (const req of r.data.slice().reverse()) live.rows.unshift({ req, fresh });
      live.rows.length = Math.min(live.rows.length, MAX_ROWS);
      renderRequests();
    },
  };
  function renderRequests() {
    const body = $("requests-body");
    const errorsOnly = $("requests-errors-only").checked;
    clear(body);
    let shown = 0;
    for (const row of live.rows) {
      const q = row.req;
      if (errorsOnly && (q.status < 400 || q.status === 499)) continue;
      shown++;
      const model = q.client_model && q.model && q.client_model !== q.model
        ? `${q.client_model} → ${q.model}` : (q.model || q.client_model || "–");
      const tr = el("tr", { "data-request-id": q.request_id, "data-seq": String(q.seq),
        class: [row.fresh ? "fresh" : "", live.selected === q.seq ? "selected" : ""].join(" ") },
      el("td", {}, time(q.started_ms)), el("td", {}, statusPill(q.status, q.code)),
      el("td", {}, q.client), el("td", {}, model), el("td", {}, q.backend || "–"),
      el("td", { class: "num" }, num(q.input_tokens)), el("td", { class: "num" }, num(q.output_tokens)),
      el("td", { class: "num" }, ms(q.latency_ms)), el("td", { class: "num" }, ms(q.ttft_ms)),
      el("td", { class: "num" }, usd(q.cost_micro_usd)), el("td", {}, q.cache || "–"));
      tr.addEventListener("click", () => showDetail(q));
      body.append(tr);
      row.fresh = false;
    }
    $("requests-count").textContent = `(${shown} shown, live)`;
  }
  async function showDetail(q) {
    live.selected = q.seq;
    renderRequests();
    const d = await api(`/admin/v1/requests/${encodeURIComponent(q.request_id)}?seq=${q.seq}`)
      .catch((e) => { showError(e); return null; });
    if (!d) return;
    $("detail").hidden = false;
    $("detail-title").textContent = `Request ${d.request_id}`;
    const facts = $("detail-facts");
    clear(facts);
    const fact = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, v === null || v === undefined || v === "" ? "–" : String(v)));
    fact("request id", d.request_id);
    fact("started", new Date(d.started_ms).toISOString());
    fact("key", d.client);
    fact("principal / team", `${d.principal || "–"} / ${d.team || "–"}`);
    fact("ingress", `${d.ingress} over ${d.transport}`);
    fact("backend", d.backend);
    fact("model", `${d.client_model || "–"} → ${d.model || "–"}`);
    fact("status", `${d.status} ${d.code}`);
    fact("tokens in", `${num(d.input_tokens)} (cached ${num(d.cached_input_tokens)})`);
    fact("tokens out", `${num(d.output_tokens)} (reasoning ${num(d.reasoning_tokens)})`);
    fact("latency", ms(d.latency_ms));
    fact("first token", ms(d.ttft_ms));
    fact("cost", usd(d.cost_micro_usd));
    fact("cache", d.cache);
    fact("fallbacks", d.fallbacks);
    const off = "Not kept: bodies are kept only with log_body on (and for the newest requests).";
    $("detail-upstream").textContent = d.has_bodies ? pretty(d.upstream_request) || "(none)" : off;
    $("detail-events").textContent = d.has_bodies
      ? (d.events.join("\n") || "(none)") + (d.truncated ? "\n… (cut to stay within the size bound)" : "")
      : off;
  }
  function pretty(text) {
    if (!text) return "";
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
  }

  // Spend: per day by key and by model, as stacked bars.
  pages.spend = {
    async load() {
      const days = $("spend-days").value;
      const d = await api(`/admin/v1/usage/daily?days=${encodeURIComponent(days)}`);
      stacked($("chart-by-key"), $("legend-by-key"), d.days, d.by_key);
      stacked($("chart-by-model"), $("legend-by-model"), d.days, d.by_model);
      const body = $("spend-keys");
      clear(body);
      const sum = (a) => a.reduce((x, y) => x + y, 0);
      for (const k of d.by_key) {
        body.append(el("tr", {}, el("td", {}, k.name), el("td", { class: "num" }, num(sum(k.requests))),
          el("td", { class: "num" }, num(sum(k.input_tokens))), el("td", { class: "num" }, num(sum(k.output_tokens))),
          el("td", { class: "num" }, usd(sum(k.cost_micro_usd)))));
      }
      if (!d.by_key.length) body.append(el("tr", {}, el("td", { colSpan: 5, class: "muted" }, "No requests in this period.")));
    },
  };
  function stacked(node, legend, days, series) {
    clear(node);
    clear(legend);
    const W = 640, H = 260, L = 64, B = 28, T = 12, R = 8;
    const top = series.slice(0, PALETTE.length - 1).map((s) => ({ name: s.name, values: s.cost_micro_usd }));
    const rest = series.slice(PALETTE.length - 1);
    if (rest.length) {
      top.push({ name: `${rest.length} more`, values: days.map((_, i) => rest.reduce((a, s) => a + s.cost_micro_usd[i], 0)) });
    }
    const totals = days.map((_, i) => top.reduce((a, s) => a + s.values[i], 0));
    const max = Math.max(...totals, 0);
    node.setAttribute("data-series", String(top.length));
    node.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
    if (max === 0) {
      node.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No spend in this period"));
      return;
    }
    for (let g = 1; g <= 4; g++) {
      const y = H - B - ((H - B - T) * g) / 4;
      node.append(svg("line", { class: "axis", x1: L, y1: y, x2: W - R, y2: y, "stroke-dasharray": "2 3" }));
      node.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, usd((max * g) / 4)));
    }
    const step = (W - L - R) / days.length;
    const labelEvery = Math.ceil(days.length / 10);
    days.forEach((day, i) => {
      let y = H - B;
      top.forEach((s, j) => {
        const v = s.values[i];
        if (!v) return;
        const h = Math.max(1, ((H - B - T) * v) / max);
        y -= h;
        const bar = svg("rect", { class: "bar", x: L + i * step + step * 0.15, y, width: step * 0.7, height: h,
          fill: PALETTE[j % PALETTE.length], "data-name": s.name });
        bar.append(svg("title", {}, `${s.name} · ${day} · ${usd(v)}`));
        node.append(bar);
      });
      if (i % labelEvery === 0) node.append(svg("text", { x: L + i * step + step / 2, y: H - 10, "text-anchor": "middle" }, day.slice(5)));
    });
    top.forEach((s, j) => {
      const item = el("span", {}, s.name);
      item.style.setProperty("--swatch", PALETTE[j % PALETTE.length]);
      legend.append(item);
    });
  }

  // Keys: list, create (the secret is shown once), edit limits, revoke (two clicks).
  pages.keys = {
    async load() {
      const r = await api("/admin/v1/keys");
      const body = $("keys-body");
      clear(body);
      for (const k of r.data) body.append(keyRow(k));
      if (!r.data.length) body.append(el("tr", {}, el("td", { colSpan: 9, class: "muted" }, "No virtual keys yet.")));
    },
  };
  function limitsText(k) {
    const parts = [];
    if (k.rate_limits && k.rate_limits.rpm) parts.push(`${k.rate_limits.rpm} rpm`);
    if (k.rate_limits && k.rate_limits.tpm) parts.push(`${k.rate_limits.tpm} tpm`);
    for (const b of k.budgets || []) parts.push(`$${b.limit_usd}/${b.window}${b.scope === "key" ? "" : ` (${b.scope})`}`);
    return parts.join(", ") || "none";
  }
  function keyRow(k) {
    const actions = el("td", {});
    if (k.source === "config") {
      actions.append(el("span", { class: "muted", title: "declared in the config file" }, "config"));
    } else if (k.status === "active") {
      const edit = el("button", { class: "quiet edit", type: "button" }, "Edit");
      edit.addEventListener("click", () => editKey(k));
      const revoke = el("button", { class: "danger revoke", type: "button" }, "Revoke");
      revoke.addEventListener("click", async () => {
        if (!revoke.classList.contains("armed")) {
          revoke.classList.add("armed");
          revoke.textContent = "Confirm revoke";
          setTimeout(() => { revoke.classList.remove("armed"); revoke.textContent = "Revoke"; }, 4000);
          return;
        }
        try { await api(`/admin/v1/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" }); await pages.keys.load(); } catch (e) { showError(e); }
      });
      actions.append(edit, " ", revoke);
    }
    const status = el("span", { class: `pill ${k.status === "active" ? "ok" : "bad"}` }, k.status);
    return el("tr", { "data-key-id": k.id, "data-status": k.status },
      el("td", {}, k.name), el("td", {}, el("code", {}, k.id)), el("td", {}, status),
      el("td", {}, k.principal || "–"), el("td", {}, k.team || "–"),
      el("td", {}, (k.models_allowed || ["any"]).join(", ")), el("td", {}, limitsText(k)),
      el("td", {}, (k.created_at || "").slice(0, 10)), actions);
  }
  function keySpec() {
    const text = (id) => $(id).value.trim();
    const int = (id) => (text(id) === "" ? undefined : Number(text(id)));
    const spec = { name: text("key-name") };
    if (text("key-principal")) spec.principal = text("key-principal");
    if (text("key-team")) spec.team = text("key-team");
    const models = text("key-models").split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) spec.models_allowed = models;
    spec.rate_limits = {};
    if (int("key-rpm") !== undefined) spec.rate_limits.rpm = int("key-rpm");
    if (int("key-tpm") !== undefined) spec.rate_limits.tpm = int("key-tpm");
    spec.budgets = text("key-budget") === "" ? [] :
      [{ scope: "key", window: $("key-budget-window").value, limit_usd: Number(text("key-budget")) }];
    return spec;
  }
  function editKey(k) {
    $("key-edit-id").value = k.id;
    $("key-form-title").textContent = `Edit ${k.name}`;
    $("key-submit").textContent = "Save changes";
    $("key-cancel").hidden = false;
    $("key-name").value = k.name;
    $("key-principal").value = k.principal || "";
    $("key-team").value = k.team || "";
    $("key-models").value = (k.models_allowed || []).join(", ");
    $("key-rpm").value = (k.rate_limits && k.rate_limits.rpm) || "";
    $("key-tpm").value = (k.rate_limits && k.rate_limits.tpm) || "";
    const own = (k.budgets || []).find((b) => b.scope === "key");
    $("key-budget").value = own ? own.limit_usd : "";
    if (own) $("key-budget-window").value = own.window;
    $("key-name").focus();
  }
  function resetKeyForm() {
    $("key-form").reset();
    $("key-edit-id").value = "";
    $("key-form-title").textContent = "Create a key";
    $("key-submit").textContent = "Create key";
    $("key-cancel").hidden = true;
    $("key-form-error").textContent = "";
  }
  async function submitKey(ev) {
    ev.preventDefault();
    $("key-form-error").textContent = "";
    const id = $("key-edit-id").value;
    try {
      if (id) {
        await api(`/admin/v1/keys/${encodeURIComponent(id)}`, { method: "PATCH", body: keySpec() });
      } else {
        const created = await api("/admin/v1/keys", { method: "POST", body: keySpec() });
        $("key-secret").textContent = created.key;
        $("key-secret-box").hidden = false;
      }
      resetKeyForm();
      await pages.keys.load();
    } catch (e) {
      $("key-form-error").textContent = e.message;
    }
  }

  // Backends: configuration, breaker per model group, recent traffic and failures.
  pages.backends = {
    every: 3000,
    async load() {
      const [health, config] = await Promise.all([
        api("/admin/v1/backends/health"),
        api("/admin/v1/backends").catch(() => ({ data: [] })),
      ]);
      const byName = new Map(config.data.map((b) => [b.name, b]));
      const list = $("backends-list");
      clear(list);
      for (const h of health.data) {
        const c = byName.get(h.name) || {};
        const kind = { ok: "ok", idle: "", cooling_down: "warn", failing: "bad", no_key: "bad" }[h.status];
        const card = el("div", { class: "card backend", "data-backend": h.name },
          el("h3", {}, h.name, el("span", { class: `pill ${kind}` }, h.status.replace("_", " "))),
          el("div", { class: "sub" }, [h.kind, c.url, c.models && c.models.join(", ")].filter(Boolean).join(" · ")),
          el("div", {}, `last 5 min: ${num(h.requests)} requests, ${num(h.errors)} errors, p50 ${ms(h.latency_p50_ms)}`));
        for (const g of h.groups) {
          const left = g.cooldown_left_secs ? `, ${g.cooldown_left_secs.toFixed(0)} s of cooldown left` : "";
          card.append(el("div", {}, `group ${g.model}: ${g.state.replace("_", " ")}${left}`));
        }
        const errors = el("ul", {});
        for (const e of h.recent_errors) {
          errors.append(el("li", {}, `${time(e.at_ms)} ${e.status} ${e.code}: ${e.message} `, el("code", {}, e.request_id)));
        }
        card.append(el("h4", {}, "recent upstream errors"), h.recent_errors.length ? errors : el("div", { class: "muted" }, "none"));
        list.append(card);
      }
    },
  };

  // ---- sign in and out --------------------------------------------------------------------------
  function signOut(message) {
    sessionStorage.removeItem(KEY);
    if (timer) { clearInterval(timer); timer = null; }
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("admin-key").value = "";
    $("admin-key").focus();
  }
  async function signIn(ev) {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("admin-key").value.trim());
    try {
      await api("/admin/v1/overview");
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403))) signOut(e.message);
      return;
    }
    start();
  }
  function start() {
    $("login").hidden = true;
    $("app").hidden = false;
    route();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", signIn);
    $("logout").addEventListener("click", () => signOut(""));
    $("key-form").addEventListener("submit", submitKey);
    $("key-cancel").addEventListener("click", resetKeyForm);
    $("key-secret-hide").addEventListener("click", () => { $("key-secret-box").hidden = true; clear($("key-secret")); });
    $("spend-days").addEventListener("change", () => pages.spend.load().catch(showError));
    $("requests-errors-only").addEventListener("change", renderRequests);
    $("detail-close").addEventListener("click", () => { $("detail").hidden = true; live.selected = null; renderRequests(); });
    window.addEventListener("hashchange", () => { if (!$("app").hidden) route(); });
    if (sessionStorage.getItem(KEY)) start(); else signOut("");
  });
})();
