// The admin page: sign in with ADMIN_TOKEN, switch agents on and off, edit their parameters,
// read and restore versions, read the audit log — all through /admin/api.
//
// The token lives in sessionStorage (this tab only; "Sair" or closing the tab forgets it) and
// goes out only as `Authorization: Bearer`, never in a URL. Everything the server sends is
// written with textContent: no text from the API ever becomes markup.
"use strict";

(function () {
  const TOKEN_KEY = "esquadra.admin.token";
  const ACTOR_KEY = "esquadra.admin.actor";
  // The figures are refreshed this often while the page is visible.
  const REFRESH_MS = 15000;
  // A name for the audit log: one line, what an HTTP header can carry (Latin-1), 100 at most.
  const ACTOR_PATTERN = /^[\x20-\x7e\xa0-\xff]{0,100}$/;
  const FORMAT = window.adminFormat;

  const FIELD_LABELS = {
    active: "Ativo",
    temperature: "Temperatura",
    max_tokens: "Máx. tokens",
    model: "Modelo",
    tools: "Ferramentas",
    prompt_text: "Persona",
    "routing.examples": "Exemplos de roteamento",
    routing_examples: "Exemplos de roteamento",
  };
  const SOURCE_LABELS = { yaml: "YAML", admin: "painel", rollback: "restauração" };
  const ACTION_LABELS = {
    seed: "carga inicial",
    update: "alteração",
    rollback: "restauração",
    sync: "sincronização do YAML",
  };
  const FORM_FIELDS = ["temperature", "max_tokens", "model", "tools", "routing_examples", "prompt_text"];

  const $ = (id) => document.getElementById(id);
  const ui = {
    who: $("who"),
    actorLabel: $("actor-label"),
    signOut: $("sign-out"),
    refresh: $("refresh"),
    disabled: $("disabled"),
    signIn: $("sign-in"),
    signInForm: $("sign-in-form"),
    token: $("token"),
    actor: $("actor"),
    signInError: $("sign-in-error"),
    signInButton: $("sign-in-button"),
    app: $("app"),
    banner: $("banner"),
    agents: $("agents"),
    editor: $("editor"),
    editorTitle: $("editor-title"),
    params: $("params"),
    paramsError: $("params-error"),
    paramsStatus: $("params-status"),
    save: $("save"),
    discard: $("discard"),
    historyStatus: $("history-status"),
    versions: $("versions"),
    audit: $("audit"),
  };

  let token = null;
  let actor = "";
  let selected = null; // the agent id open in the editor
  let detail = null; // that agent's GET /admin/api/agents/{id}
  let pending = 0; // writes in flight: the periodic refresh waits for them
  let timer = null;

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function show(element, visible) {
    element.hidden = !visible;
  }

  function setMessage(element, text) {
    element.textContent = text || "";
    show(element, Boolean(text));
  }

  // ---------------------------------------------------------------- the API ----

  class Unauthorized extends Error {}
  class Disabled extends Error {}

  async function api(method, path, body, withToken) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${withToken || token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && actor) headers["X-Admin-Actor"] = actor;
    let response;
    try {
      response = await fetch(`/admin/api${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
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
      /* an empty or non-JSON body: described by the status below */
    }
    if (response.status === 401) throw new Unauthorized(data && data.message);
    if (response.status === 404 && data && data.code === "admin_disabled") throw new Disabled();
    return { ok: response.ok, status: response.status, data };
  }

  function serverMessage(reply) {
    const data = reply.data;
    if (data && Array.isArray(data.errors) && data.errors.length) {
      return data.errors.map((e) => e.message).join("; ");
    }
    if (data && typeof data.message === "string") return data.message;
    return `O servidor respondeu com erro ${reply.status}. Tente de novo.`;
  }

  // Run `work`; a lost token or a disabled admin changes the whole page, anything else is
  // shown where the caller says.
  async function guarded(work, onError) {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Unauthorized) {
        signOut("O servidor recusou o token (ele pode ter mudado). Entre de novo.");
      } else if (error instanceof Disabled) {
        showDisabled();
      } else if (onError) {
        onError(error.message);
      }
      return undefined;
    }
  }

  // ----------------------------------------------------------- signing in ----

  function showDisabled() {
    stopRefresh();
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    show(ui.app, false);
    show(ui.signIn, false);
    show(ui.who, false);
    show(ui.disabled, true);
  }

  function showSignIn(message) {
    show(ui.app, false);
    show(ui.who, false);
    show(ui.disabled, false);
    show(ui.signIn, true);
    setMessage(ui.signInError, message);
    ui.token.focus();
  }

  async function enter(candidate, name) {
    const reply = await api("GET", "/agents", undefined, candidate);
    if (!reply.ok) throw new Error(serverMessage(reply));
    token = candidate;
    actor = name;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(ACTOR_KEY, actor);
    ui.token.value = "";
    ui.actorLabel.textContent = `Alterações assinadas por: ${actor || "admin"}`;
    show(ui.signIn, false);
    show(ui.disabled, false);
    show(ui.who, true);
    show(ui.app, true);
    renderAgents(reply.data);
    await loadAudit();
    startRefresh();
  }

  async function submitSignIn(event) {
    event.preventDefault();
    const candidate = ui.token.value.trim();
    const name = ui.actor.value.trim();
    if (!candidate) {
      setMessage(ui.signInError, "Digite o token de administração.");
      return;
    }
    if (!ACTOR_PATTERN.test(name)) {
      setMessage(ui.signInError, "Seu nome deve ter até 100 caracteres, sem símbolos especiais.");
      return;
    }
    ui.signInButton.disabled = true;
    setMessage(ui.signInError, "");
    try {
      await enter(candidate, name);
    } catch (error) {
      if (error instanceof Unauthorized) {
        setMessage(ui.signInError, "Token inválido: confira o ADMIN_TOKEN do servidor e tente de novo.");
        ui.token.select();
      } else if (error instanceof Disabled) {
        showDisabled();
      } else {
        setMessage(ui.signInError, error.message);
      }
    } finally {
      ui.signInButton.disabled = false;
    }
  }

  function signOut(message) {
    stopRefresh();
    token = null;
    selected = null;
    detail = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ACTOR_KEY);
    ui.agents.replaceChildren();
    ui.audit.replaceChildren();
    ui.versions.replaceChildren();
    show(ui.editor, false);
    setMessage(ui.banner, "");
    showSignIn(message);
  }

  function startRefresh() {
    stopRefresh();
    timer = setInterval(() => {
      if (!document.hidden && pending === 0) refreshAgents();
    }, REFRESH_MS);
  }

  function stopRefresh() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  // --------------------------------------------------------------- agents ----

  function figure(list, label, key) {
    const group = el("div", "figure");
    group.appendChild(el("dt", "", label));
    const value = el("dd", "");
    value.dataset.figure = key;
    group.appendChild(value);
    list.appendChild(group);
  }

  function createCard(agent) {
    const card = el("article", "card");
    card.dataset.agent = agent.id;

    const head = el("header", "card-head");
    const title = el("div", "card-title");
    title.appendChild(el("h3", "name"));
    title.appendChild(el("span", "agent-id", agent.id));
    const fallback = el("span", "tag fallback-tag", "reserva");
    fallback.title = "Agente de reserva: recebe o que nenhum outro atende";
    title.appendChild(fallback);
    head.appendChild(title);

    const toggle = el("label", "switch");
    const input = el("input", "");
    input.type = "checkbox";
    input.setAttribute("role", "switch");
    input.addEventListener("change", () => switchAgent(agent.id, input));
    toggle.appendChild(input);
    toggle.appendChild(el("span", "slider"));
    toggle.appendChild(el("span", "switch-text"));
    head.appendChild(toggle);
    card.appendChild(head);

    card.appendChild(el("p", "description"));
    const figures = el("dl", "figures");
    figure(figures, "Mensagens hoje", "messages");
    figure(figures, "Latência p50", "p50");
    figure(figures, "Latência p95", "p95");
    figure(figures, "Taxa de erro", "error_rate");
    figure(figures, "Custo hoje", "cost");
    card.appendChild(figures);
    card.appendChild(el("p", "params-line"));
    card.appendChild(el("p", "meta"));
    const error = el("p", "card-error error-text");
    error.setAttribute("role", "alert");
    error.hidden = true;
    card.appendChild(error);
    const edit = el("button", "ghost edit", "Parâmetros e histórico");
    edit.type = "button";
    edit.addEventListener("click", () => openEditor(agent.id));
    card.appendChild(edit);
    return card;
  }

  function updateCard(card, agent) {
    card.classList.toggle("off", !agent.active);
    card.querySelector(".name").textContent = agent.name;
    card.querySelector(".fallback-tag").hidden = !agent.fallback;
    const input = card.querySelector(".switch input");
    if (!input.disabled) input.checked = agent.active;
    input.setAttribute("aria-label", `${agent.name} ativo`);
    card.querySelector(".switch-text").textContent = agent.active ? "Ligado" : "Desligado";
    card.querySelector(".description").textContent = agent.description;
    const today = agent.today;
    const set = (key, text) => (card.querySelector(`[data-figure="${key}"]`).textContent = text);
    set("messages", FORMAT.integer(today.messages));
    set("p50", FORMAT.millis(today.p50_latency_ms));
    set("p95", FORMAT.millis(today.p95_latency_ms));
    set("error_rate", FORMAT.percent(today.error_rate));
    set("cost", FORMAT.brl(today.cost_brl));
    const temperature = String(agent.temperature).replace(".", ",");
    card.querySelector(".params-line").textContent =
      `Modelo ${agent.model} · temperatura ${temperature} · até ${FORMAT.integer(agent.max_tokens)} tokens`;
    card.querySelector(".meta").textContent =
      `Versão ${agent.version} · por ${agent.updated_by} em ${FORMAT.dateTime(agent.updated_at)}`;
    card.classList.toggle("selected", agent.id === selected);
  }

  function renderAgents(agents) {
    const seen = new Set();
    for (const agent of agents) {
      seen.add(agent.id);
      let card = ui.agents.querySelector(`.card[data-agent="${CSS.escape(agent.id)}"]`);
      if (!card) {
        card = createCard(agent);
        ui.agents.appendChild(card);
      }
      updateCard(card, agent);
    }
    for (const card of ui.agents.querySelectorAll(".card")) {
      if (!seen.has(card.dataset.agent)) card.remove();
    }
  }

  async function refreshAgents() {
    await guarded(
      async () => {
        const reply = await api("GET", "/agents");
        if (!reply.ok) throw new Error(serverMessage(reply));
        renderAgents(reply.data);
        setMessage(ui.banner, "");
      },
      (message) => setMessage(ui.banner, message)
    );
  }

  async function switchAgent(agentId, input) {
    const card = input.closest(".card");
    const error = card.querySelector(".card-error");
    const wanted = input.checked;
    setMessage(error, "");
    input.disabled = true;
    pending += 1;
    try {
      await guarded(
        async () => {
          const reply = await api("PATCH", `/agents/${encodeURIComponent(agentId)}`, { active: wanted });
          if (!reply.ok) {
            input.checked = !wanted;
            setMessage(error, `Não foi possível ${wanted ? "ligar" : "desligar"}: ${serverMessage(reply)}`);
            return;
          }
          input.disabled = false;
          await refreshAll();
        },
        (message) => {
          input.checked = !wanted;
          setMessage(error, message);
        }
      );
    } finally {
      input.disabled = false;
      pending -= 1;
    }
  }

  // --------------------------------------------------------------- editor ----

  function field(name) {
    return ui.params.elements.namedItem(name);
  }

  function formValues(config) {
    return {
      temperature: String(config.temperature ?? ""),
      max_tokens: String(config.max_tokens ?? ""),
      model: config.model ?? "",
      tools: (config.tools || []).join(", "),
      routing_examples: ((config.routing && config.routing.examples) || []).join("\n"),
      prompt_text: config.prompt_text ?? "",
    };
  }

  function fillForm() {
    const values = formValues(detail.config);
    for (const name of FORM_FIELDS) field(name).value = values[name];
    clearFieldErrors();
  }

  function readNumber(input) {
    const text = input.value.trim();
    if (text === "") return null; // empty, or what the browser could not read as a number
    return Number(text);
  }

  function splitList(text, separator) {
    return text
      .split(separator)
      .map((item) => item.trim())
      .filter(Boolean);
  }

  // Only the fields whose value differs from the agent's current config.
  function changes() {
    const config = detail.config;
    const now = {
      temperature: readNumber(field("temperature")),
      max_tokens: readNumber(field("max_tokens")),
      model: field("model").value.trim(),
      tools: splitList(field("tools").value, /[,\n]/),
      routing_examples: splitList(field("routing_examples").value, /\r?\n/),
      prompt_text: field("prompt_text").value,
    };
    const before = {
      temperature: config.temperature,
      max_tokens: config.max_tokens,
      model: config.model,
      tools: config.tools || [],
      routing_examples: (config.routing && config.routing.examples) || [],
      prompt_text: config.prompt_text,
    };
    const patch = {};
    for (const name of FORM_FIELDS) {
      if (JSON.stringify(now[name]) !== JSON.stringify(before[name])) patch[name] = now[name];
    }
    return patch;
  }

  function clearFieldErrors() {
    for (const box of ui.params.querySelectorAll(".field-error")) setMessage(box, "");
    for (const name of FORM_FIELDS) field(name).removeAttribute("aria-invalid");
    setMessage(ui.paramsError, "");
  }

  function showFieldErrors(reply) {
    const loose = [];
    for (const error of (reply.data && reply.data.errors) || []) {
      const box = ui.params.querySelector(`.field-error[data-error-for="${CSS.escape(error.field)}"]`);
      if (box) {
        setMessage(box, box.hidden ? error.message : `${box.textContent}; ${error.message}`);
        field(error.field).setAttribute("aria-invalid", "true");
      } else {
        loose.push(error.field ? `${FIELD_LABELS[error.field] || error.field}: ${error.message}` : error.message);
      }
    }
    if (loose.length || !(reply.data && reply.data.errors && reply.data.errors.length)) {
      setMessage(ui.paramsError, loose.length ? loose.join("; ") : serverMessage(reply));
    } else {
      setMessage(ui.paramsError, "Corrija os campos marcados.");
    }
  }

  async function loadEditor(refill) {
    const path = `/agents/${encodeURIComponent(selected)}`;
    const [agent, versions] = await Promise.all([api("GET", path), api("GET", `${path}/versions`)]);
    if (!agent.ok) throw new Error(serverMessage(agent));
    if (!versions.ok) throw new Error(serverMessage(versions));
    const dirty = detail !== null && detail.id === agent.data.id && Object.keys(changes()).length > 0;
    detail = agent.data;
    ui.editorTitle.textContent = `${detail.name} (${detail.id}) · versão ${detail.version}`;
    if (refill || !dirty) fillForm();
    renderVersions(versions.data);
  }

  async function openEditor(agentId) {
    selected = agentId;
    detail = null;
    setMessage(ui.paramsStatus, "");
    setMessage(ui.historyStatus, "");
    for (const card of ui.agents.querySelectorAll(".card")) {
      card.classList.toggle("selected", card.dataset.agent === agentId);
    }
    await guarded(
      async () => {
        await loadEditor(true);
        show(ui.editor, true);
        ui.editor.scrollIntoView({ behavior: "smooth", block: "start" });
      },
      (message) => setMessage(ui.banner, message)
    );
  }

  async function submitParams(event) {
    event.preventDefault();
    if (!detail) return;
    clearFieldErrors();
    const patch = changes();
    if (!Object.keys(patch).length) {
      setMessage(ui.paramsStatus, "Nada para salvar: nenhum campo mudou.");
      return;
    }
    setMessage(ui.historyStatus, "");
    setMessage(ui.paramsStatus, "Salvando…");
    ui.save.disabled = true;
    pending += 1;
    try {
      await guarded(
        async () => {
          const reply = await api("PATCH", `/agents/${encodeURIComponent(detail.id)}`, patch);
          if (!reply.ok) {
            setMessage(ui.paramsStatus, "");
            showFieldErrors(reply);
            return;
          }
          const version = reply.data.version.version;
          await refreshAll(true);
          setMessage(
            ui.paramsStatus,
            reply.data.changed ? `Salvo: versão ${version}.` : "Nada mudou: os valores já eram esses."
          );
        },
        (message) => {
          setMessage(ui.paramsStatus, "");
          setMessage(ui.paramsError, message);
        }
      );
    } finally {
      ui.save.disabled = false;
      pending -= 1;
    }
  }

  async function rollback(version, button) {
    button.disabled = true;
    setMessage(ui.paramsStatus, "");
    setMessage(ui.historyStatus, "Restaurando…");
    pending += 1;
    try {
      await guarded(
        async () => {
          const reply = await api("POST", `/agents/${encodeURIComponent(detail.id)}/rollback`, { version });
          if (!reply.ok) {
            setMessage(ui.historyStatus, `Não foi possível restaurar: ${serverMessage(reply)}`);
            return;
          }
          await refreshAll(true);
          setMessage(
            ui.historyStatus,
            reply.data.changed
              ? `Versão ${version} restaurada (agora é a versão ${reply.data.version.version}).`
              : `A versão ${version} já é a configuração atual.`
          );
        },
        (message) => setMessage(ui.historyStatus, message)
      );
    } finally {
      button.disabled = false;
      pending -= 1;
    }
  }

  // ------------------------------------------------------------ the diffs ----

  function describe(value, fieldName) {
    if (value === null || value === undefined) return "—";
    if (fieldName === "active") return value ? "ligado" : "desligado";
    if (typeof value === "number") return String(value).replace(".", ",");
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function isLong(value) {
    return typeof value === "string" && (value.length > 80 || value.includes("\n"));
  }

  // Items of `a` not in `b` (lists, or the lines of a text).
  function missing(a, b) {
    const other = new Set(b.map((item) => JSON.stringify(item)));
    return a.filter((item) => !other.has(JSON.stringify(item)));
  }

  const SHOWN_ITEMS = 8;

  function itemLines(list, sign, className) {
    const lines = list.slice(0, SHOWN_ITEMS).map((item) =>
      el("li", className, `${sign} ${typeof item === "string" ? item : JSON.stringify(item)}`)
    );
    if (list.length > SHOWN_ITEMS) lines.push(el("li", "more", `… e mais ${list.length - SHOWN_ITEMS}`));
    return lines;
  }

  // One field's change as nodes: "before → after", or the items/lines added and removed.
  function diffNode(fieldName, before, after, compact) {
    const box = el("div", "diff");
    box.dataset.field = fieldName;
    box.appendChild(el("span", "field-name", FIELD_LABELS[fieldName] || fieldName));
    let a = before;
    let b = after;
    if (isLong(a) || isLong(b)) {
      a = String(a ?? "").split("\n");
      b = String(b ?? "").split("\n");
    }
    if (Array.isArray(a) || Array.isArray(b)) {
      const removed = missing(Array.isArray(a) ? a : [], Array.isArray(b) ? b : []);
      const added = missing(Array.isArray(b) ? b : [], Array.isArray(a) ? a : []);
      if (compact) {
        box.appendChild(el("span", "counts", `+${added.length} −${removed.length}`));
        return box;
      }
      const list = el("ul", "items");
      list.append(...itemLines(removed, "−", "removed"), ...itemLines(added, "+", "added"));
      if (!removed.length && !added.length) list.appendChild(el("li", "more", "mesma lista, outra ordem"));
      box.appendChild(list);
      return box;
    }
    box.appendChild(el("span", "before", describe(before, fieldName)));
    box.appendChild(el("span", "arrow", " → "));
    box.appendChild(el("span", "after", describe(after, fieldName)));
    return box;
  }

  function diffNodes(diff, compact) {
    return Object.entries(diff || {}).map(([name, pair]) => diffNode(name, pair[0], pair[1], compact));
  }

  function renderVersions(versions) {
    const current = versions.length ? versions[0].version : null;
    const items = versions.map((version) => {
      const item = el("li", "version");
      item.dataset.version = String(version.version);
      const head = el("div", "version-head");
      head.appendChild(el("strong", "", `Versão ${version.version}`));
      head.appendChild(el("span", `tag source-${version.source}`, SOURCE_LABELS[version.source] || version.source));
      head.appendChild(el("span", "when", `por ${version.actor} em ${FORMAT.dateTime(version.created_at)}`));
      if (version.version === current) {
        head.appendChild(el("span", "tag current", "atual"));
      } else {
        const restore = el("button", "restore", "Restaurar");
        restore.type = "button";
        restore.title = `Voltar à configuração da versão ${version.version} (vira uma nova versão)`;
        restore.addEventListener("click", () => rollback(version.version, restore));
        head.appendChild(restore);
      }
      item.appendChild(head);
      const changes = diffNodes(version.diff, false);
      if (changes.length) item.append(...changes);
      else item.appendChild(el("p", "hint", "Configuração inicial, sem mudanças a mostrar."));
      return item;
    });
    ui.versions.replaceChildren(...items);
  }

  async function loadAudit() {
    const reply = await api("GET", "/audit");
    if (!reply.ok) throw new Error(serverMessage(reply));
    const rows = reply.data.map((entry) => {
      const row = el("tr", "");
      row.dataset.action = entry.action;
      row.dataset.agent = entry.agent_id;
      row.appendChild(el("td", "when", FORMAT.dateTime(entry.at)));
      row.appendChild(el("td", "", entry.actor));
      row.appendChild(el("td", "", ACTION_LABELS[entry.action] || entry.action));
      row.appendChild(el("td", "", entry.agent_id));
      const versions =
        entry.from_version === null || entry.from_version === undefined
          ? `v${entry.to_version}`
          : `v${entry.from_version} → v${entry.to_version}`;
      row.appendChild(el("td", "nowrap", versions));
      const cell = el("td", "changes");
      const changes = diffNodes(entry.diff, true);
      if (changes.length) cell.append(...changes);
      else cell.textContent = "—";
      row.appendChild(cell);
      return row;
    });
    if (!rows.length) {
      const row = el("tr", "");
      const cell = el("td", "hint", "Nenhuma alteração registrada ainda.");
      cell.colSpan = 6;
      row.appendChild(cell);
      rows.push(row);
    }
    ui.audit.replaceChildren(...rows);
  }

  // After a write: the cards, the open editor (its form refilled when `refill`) and the audit.
  async function refreshAll(refill) {
    const work = [refreshAgents(), guarded(loadAudit, (m) => setMessage(ui.banner, m))];
    if (selected) work.push(guarded(() => loadEditor(refill), (m) => setMessage(ui.banner, m)));
    await Promise.all(work);
  }

  // ------------------------------------------------------------- start-up ----

  ui.signInForm.addEventListener("submit", submitSignIn);
  ui.signOut.addEventListener("click", () => signOut(""));
  ui.refresh.addEventListener("click", () => refreshAll(false));
  ui.params.addEventListener("submit", submitParams);
  ui.discard.addEventListener("click", () => {
    if (detail) fillForm();
    setMessage(ui.paramsStatus, "");
  });

  async function start() {
    if (document.querySelector('meta[name="admin-enabled"]').content !== "true") {
      showDisabled();
      return;
    }
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (!saved) {
      showSignIn("");
      return;
    }
    ui.actor.value = sessionStorage.getItem(ACTOR_KEY) || "";
    try {
      await enter(saved, ui.actor.value);
    } catch (error) {
      if (error instanceof Disabled) showDisabled();
      else if (error instanceof Unauthorized) signOut("O servidor recusou o token salvo. Entre de novo.");
      else showSignIn(error.message);
    }
  }

  start().finally(() => {
    document.body.dataset.ready = "true";
  });
})();
