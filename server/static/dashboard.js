// The metrics dashboard: latency p50/p95 over time, messages and cost per agent and day,
// routing mix by layer, and the alerts — all from /admin/api, drawn with the vendored Chart.js.
//
// Signing in is the admin page's: the same ADMIN_TOKEN in this tab's sessionStorage (same key,
// so coming from /admin needs no second sign-in), sent only as `Authorization: Bearer`. Every
// text from the API is written with textContent; Chart.js draws on canvases.
"use strict";

(function () {
  const TOKEN_KEY = "esquadra.admin.token";
  const REFRESH_MS = 30000;
  const HOURS = 24;
  const DAYS = 14;
  const ZONE = "America/Sao_Paulo";
  const FORMAT = window.adminFormat;
  const PALETTE = ["#0f766e", "#c2410c", "#7c3aed", "#1d4ed8", "#be185d", "#4d7c0f", "#a16207"];
  const LAYER_LABELS = {
    rules: "regras",
    followup: "continuação",
    semantic: "semântica",
    examples: "exemplos",
    llm: "modelo (LLM)",
    fallback: "reserva (sem certeza)",
    mention: "menção (@agente)",
  };
  const LAYER_COLORS = {
    rules: "#0f766e",
    followup: "#1d4ed8",
    semantic: "#7c3aed",
    examples: "#4d7c0f",
    llm: "#c2410c",
    fallback: "#b42318",
    mention: "#a16207",
  };
  const NOTICE_LABELS = {
    pending: "pendente",
    sent: "enviado",
    failed: "falhou",
    cooldown: "silenciado (intervalo entre avisos)",
    off: "sem webhook",
  };
  const KIND_LABELS = {
    latency_p95: "latência p95",
    error_rate: "taxa de erro",
    daily_cost: "custo do dia",
    fallback_share: "mensagens para o reserva",
    trace_export: "traces perdidos",
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    who: $("who"),
    updated: $("updated"),
    refresh: $("refresh"),
    signOut: $("sign-out"),
    disabled: $("disabled"),
    signIn: $("sign-in"),
    signInForm: $("sign-in-form"),
    token: $("token"),
    signInError: $("sign-in-error"),
    signInButton: $("sign-in-button"),
    app: $("app"),
    banner: $("banner"),
    alerts: $("alerts"),
    alertsEmpty: $("alerts-empty"),
    alertsRules: $("alerts-rules"),
  };

  let token = null;
  let timer = null;
  const charts = {};

  function show(element, visible) {
    element.hidden = !visible;
  }

  function setMessage(element, text) {
    element.textContent = text || "";
    show(element, Boolean(text));
  }

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  // ---------------------------------------------------------------- the API ----

  class Unauthorized extends Error {}
  class Disabled extends Error {}

  async function api(path, withToken) {
    let response;
    try {
      response = await fetch(`/admin/api${path}`, {
        headers: { Accept: "application/json", Authorization: `Bearer ${withToken || token}` },
        credentials: "omit",
        cache: "no-store",
      });
    } catch (_) {
      throw new Error("Sem conexão com o servidor. Verifique a rede e tente de novo.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      /* described by the status below */
    }
    if (response.status === 401) throw new Unauthorized();
    if (response.status === 404 && data && data.code === "admin_disabled") throw new Disabled();
    if (!response.ok) {
      throw new Error((data && data.message) || `O servidor respondeu com erro ${response.status}.`);
    }
    return data;
  }

  // ----------------------------------------------------------- signing in ----

  function showDisabled() {
    stopRefresh();
    show(ui.app, false);
    show(ui.signIn, false);
    show(ui.who, false);
    show(ui.disabled, true);
  }

  function showSignIn(message) {
    stopRefresh();
    show(ui.app, false);
    show(ui.who, false);
    show(ui.signIn, true);
    setMessage(ui.signInError, message);
    ui.token.focus();
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(message);
  }

  async function enter(candidate) {
    const data = await load(candidate);
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, token);
    ui.token.value = "";
    show(ui.signIn, false);
    show(ui.who, true);
    show(ui.app, true);
    render(data); // after the app is visible: Chart.js sizes to its box
    startRefresh();
  }

  async function submitSignIn(event) {
    event.preventDefault();
    const candidate = ui.token.value.trim();
    if (!candidate) {
      setMessage(ui.signInError, "Digite o token de administração.");
      return;
    }
    ui.signInButton.disabled = true;
    setMessage(ui.signInError, "");
    try {
      await enter(candidate);
    } catch (error) {
      if (error instanceof Unauthorized) {
        setMessage(ui.signInError, "Token inválido: confira o ADMIN_TOKEN do servidor e tente de novo.");
      } else if (error instanceof Disabled) {
        showDisabled();
      } else {
        setMessage(ui.signInError, error.message);
      }
    } finally {
      ui.signInButton.disabled = false;
    }
  }

  function startRefresh() {
    stopRefresh();
    timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  }

  function stopRefresh() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  async function refresh() {
    try {
      render(await load(token));
      setMessage(ui.banner, "");
    } catch (error) {
      if (error instanceof Unauthorized) signOut("O servidor recusou o token (ele pode ter mudado). Entre de novo.");
      else if (error instanceof Disabled) showDisabled();
      else setMessage(ui.banner, error.message);
    }
  }

  async function load(withToken) {
    const [series, alerts, agents] = await Promise.all([
      api(`/metrics/timeseries?hours=${HOURS}&days=${DAYS}`, withToken),
      api("/alerts", withToken),
      api("/agents", withToken),
    ]);
    return { series, alerts, agents };
  }

  // --------------------------------------------------------------- drawing ----

  function localTime(iso, withDay) {
    const options = { timeZone: ZONE, hour: "2-digit", minute: "2-digit" };
    if (withDay) Object.assign(options, { day: "2-digit", month: "2-digit" });
    return new Date(iso).toLocaleString("pt-BR", options);
  }

  function dayLabel(day) {
    const [, month, date] = day.split("-");
    return `${date}/${month}`;
  }

  // The last DAYS local days, oldest first, as YYYY-MM-DD (so empty days still show).
  function dayRange(generatedAt) {
    const today = new Date(generatedAt).toLocaleDateString("en-CA", { timeZone: ZONE });
    const base = Date.parse(`${today}T12:00:00Z`);
    const days = [];
    for (let n = DAYS - 1; n >= 0; n -= 1) {
      days.push(new Date(base - n * 86400000).toISOString().slice(0, 10));
    }
    return days;
  }

  function draw(name, config) {
    const existing = charts[name];
    if (existing) {
      existing.data = config.data;
      existing.options = config.options;
      existing.update("none");
      return;
    }
    charts[name] = new window.Chart($(`chart-${name}`), config);
  }

  function baseOptions(yTitle, tickFormat, stacked) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: "pt-BR",
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${tickFormat(item.raw)}`,
          },
        },
      },
      scales: {
        x: { stacked, grid: { display: false } },
        y: {
          stacked,
          beginAtZero: true,
          title: { display: true, text: yTitle },
          ticks: { callback: (value) => tickFormat(value) },
        },
      },
    };
  }

  function seconds(ms) {
    return `${(Number(ms) / 1000).toLocaleString("pt-BR", { maximumFractionDigits: 2 })} s`;
  }

  // For display only (axis ticks, tooltips): totals are summed as decimals elsewhere.
  function reais(value, places) {
    const small = Math.abs(Number(value)) < 0.1 && Number(value) !== 0;
    return Number(value).toLocaleString("pt-BR", {
      style: "currency",
      currency: "BRL",
      minimumFractionDigits: places || 2,
      maximumFractionDigits: places || (small ? 4 : 2),
    });
  }

  // Every bucket of the last HOURS, oldest first; buckets without turns stay empty (a gap).
  function latencyBuckets(series) {
    const size = series.latency.bucket_s * 1000;
    const end = Math.floor(Date.parse(series.generated_at) / size) * size;
    const byStart = Object.fromEntries(series.latency.points.map((p) => [Date.parse(p.at), p]));
    const buckets = [];
    for (let at = end - Math.ceil((HOURS * 3600000) / size - 1) * size; at <= end; at += size) {
      buckets.push({ at: new Date(at).toISOString(), point: byStart[at] || null });
    }
    return buckets;
  }

  function drawLatency(series, rules) {
    const buckets = latencyBuckets(series);
    const points = series.latency.points;
    const labels = buckets.map((b) => localTime(b.at, false));
    const value = (key) => buckets.map((b) => (b.point ? b.point[key] : null));
    const datasets = [
      { label: "p50", data: value("p50_ms"), borderColor: "#0f766e", backgroundColor: "#0f766e", tension: 0.2, spanGaps: false },
      { label: "p95", data: value("p95_ms"), borderColor: "#c2410c", backgroundColor: "#c2410c", tension: 0.2, spanGaps: false },
    ];
    const rule = rules.find((r) => r.kind === "latency_p95" && !r.agent);
    if (rule) {
      const limit = Number(rule.threshold) * 1000;
      datasets.push({
        label: "limite do alerta (p95)",
        data: buckets.map(() => limit),
        borderColor: "#b42318",
        borderDash: [6, 4],
        borderWidth: 1.5,
        pointRadius: 0,
        backgroundColor: "#b42318",
      });
    }
    draw("latency", { type: "line", data: { labels, datasets }, options: baseOptions("segundos", seconds, false) });
    $("latency-hint").textContent =
      `últimas ${HOURS} horas, em intervalos de ${Math.round(series.latency.bucket_s / 60)} min (horário de Brasília)`;
    show(document.querySelector('[data-empty-for="latency"]'), points.length === 0);
  }

  function agentColors(agents, rows) {
    const ids = agents.map((a) => a.id);
    for (const row of rows) if (!ids.includes(row.agent || "")) ids.push(row.agent || "");
    const colors = {};
    ids.forEach((id, n) => (colors[id] = id === "" ? "#9aa5b1" : PALETTE[n % PALETTE.length]));
    return { ids, colors };
  }

  function drawPerAgent(series, agents) {
    const days = dayRange(series.generated_at);
    const labels = days.map(dayLabel);
    const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
    const { ids, colors } = agentColors(agents, series.days);
    const seen = new Set(series.days.map((row) => row.agent || ""));
    const volume = [];
    const cost = [];
    for (const id of ids) {
      if (!seen.has(id)) continue;
      const rows = series.days.filter((row) => (row.agent || "") === id);
      const byDay = Object.fromEntries(rows.map((row) => [row.day, row]));
      const label = id === "" ? "falhou antes do roteamento" : names[id] || id;
      const color = colors[id];
      volume.push({ label, backgroundColor: color, data: days.map((d) => (byDay[d] ? byDay[d].turns : 0)) });
      cost.push({ label, backgroundColor: color, data: days.map((d) => (byDay[d] ? Number(byDay[d].cost_brl) : 0)) });
    }
    const count = (value) => FORMAT.integer(value);
    draw("volume", { type: "bar", data: { labels, datasets: volume }, options: baseOptions("mensagens", count, true) });
    draw("cost", { type: "bar", data: { labels, datasets: cost }, options: baseOptions("R$", reais, true) });
    for (const empty of document.querySelectorAll('[data-empty-for="days"]')) show(empty, series.days.length === 0);
  }

  function drawLayers(series) {
    const days = dayRange(series.generated_at);
    const layers = [...new Set(series.layers.map((row) => row.layer || ""))];
    const datasets = layers.map((layer) => {
      const byDay = {};
      for (const row of series.layers) if ((row.layer || "") === layer) byDay[row.day] = row.turns;
      return {
        label: layer === "" ? "falhou antes do roteamento" : LAYER_LABELS[layer] || layer,
        backgroundColor: layer === "" ? "#9aa5b1" : LAYER_COLORS[layer] || "#5f6b76",
        data: days.map((d) => byDay[d] || 0),
      };
    });
    const count = (value) => FORMAT.integer(value);
    draw("layers", { type: "bar", data: { labels: days.map(dayLabel), datasets }, options: baseOptions("mensagens", count, true) });
    show(document.querySelector('[data-empty-for="layers"]'), series.layers.length === 0);
  }

  function drawSummary(series, alerts) {
    const today = dayRange(series.generated_at).pop();
    const rows = series.days.filter((row) => row.day === today);
    const turns = rows.reduce((sum, row) => sum + row.turns, 0);
    const errors = rows.reduce((sum, row) => sum + row.errors, 0);
    // Money stays decimal: summed in micro-reais as integers, formatted by admin_format.
    const micros = rows.reduce((sum, row) => sum + BigInt(row.cost_brl.replace(".", "")), 0n);
    const cost = `${micros / 1000000n}.${(micros % 1000000n).toString().padStart(6, "0")}`;
    $("s-turns").textContent = FORMAT.integer(turns);
    // Under one real (a quiet day, cheap models) cents would all read R$ 0,00: show 4 places.
    $("s-cost").textContent = micros < 1000000n && micros > 0n ? reais(cost, 4) : FORMAT.brl(cost);
    $("s-errors").textContent = turns ? `${FORMAT.integer(errors)} (${FORMAT.percent(errors / turns)})` : "0";
    $("s-alerts").textContent = FORMAT.integer(alerts.active.length);
    $("s-alerts-box").classList.toggle("alarm", alerts.active.length > 0);
  }

  function drawAlerts(alerts) {
    const rows = [...alerts.active, ...alerts.past];
    ui.alerts.replaceChildren();
    for (const alert of rows) {
      const tr = el("tr");
      const state = el("td");
      const active = !alert.resolved_at;
      state.appendChild(el("span", `state ${active ? "active" : "resolved"}`, active ? "ativo" : "resolvido"));
      tr.appendChild(state);
      const rule = el("td", "", alert.rule_id);
      rule.title = KIND_LABELS[alert.kind] || alert.kind;
      tr.appendChild(rule);
      tr.appendChild(el("td", "", alert.message));
      const when = active
        ? FORMAT.dateTime(alert.fired_at)
        : `${FORMAT.dateTime(alert.fired_at)} → ${FORMAT.dateTime(alert.resolved_at)}`;
      tr.appendChild(el("td", "", when));
      tr.appendChild(el("td", "", NOTICE_LABELS[alert.notice] || alert.notice));
      tr.dataset.rule = alert.rule_id;
      ui.alerts.appendChild(tr);
    }
    show(ui.alertsEmpty, rows.length === 0);
    const webhook = alerts.webhook ? "avisos por webhook ligados" : "sem webhook configurado (avisos só aqui)";
    const minutes = Math.round(alerts.cooldown_s / 60);
    ui.alertsRules.textContent =
      `${alerts.rules.length} regras, verificadas a cada ${alerts.interval_s.toLocaleString("pt-BR")} s; ` +
      `${webhook}; uma regra que avisou fica em silêncio por ${FORMAT.integer(minutes)} min.`;
  }

  function render(data) {
    drawSummary(data.series, data.alerts);
    drawLatency(data.series, data.alerts.rules);
    drawPerAgent(data.series, data.agents);
    drawLayers(data.series);
    drawAlerts(data.alerts);
    ui.updated.textContent = `Atualizado às ${localTime(data.series.generated_at, false)}`;
    ui.app.dataset.loaded = String(Number(ui.app.dataset.loaded || 0) + 1);
  }

  // ------------------------------------------------------------------ start ----

  async function start() {
    ui.signInForm.addEventListener("submit", submitSignIn);
    ui.signOut.addEventListener("click", () => signOut(""));
    ui.refresh.addEventListener("click", refresh);
    const enabled = document.querySelector('meta[name="admin-enabled"]').content === "true";
    if (!enabled) {
      showDisabled();
    } else {
      const saved = sessionStorage.getItem(TOKEN_KEY);
      if (saved) {
        try {
          await enter(saved);
        } catch (error) {
          if (error instanceof Disabled) showDisabled();
          else signOut(error instanceof Unauthorized ? "" : error.message);
        }
      } else {
        showSignIn("");
      }
    }
    document.body.dataset.ready = "true";
  }

  start();
})();
