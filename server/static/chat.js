// The chat page: streams replies from POST /v1/chat (Server-Sent Events read through fetch),
// shows which agent answers, keeps the conversation across reloads (the server knows the
// browser's thread) and asks for a code to continue on WhatsApp. Replies are rendered by
// markdown.js (DOM nodes and textContent only, never innerHTML).
"use strict";

(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const CSRF = meta("csrf-token");
  const USER = meta("user-id");
  let threadId = meta("thread-id");

  // No byte for this long while a reply streams: give up and offer to try again.
  const IDLE_TIMEOUT_MS = 60000;

  const log = document.getElementById("log");
  const empty = document.getElementById("empty");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const send = document.getElementById("send");
  const linkButton = document.getElementById("link-button");
  const linkPanel = document.getElementById("link-panel");

  let agents = {};
  let busy = false;

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function scrollDown() {
    window.requestAnimationFrame(() => window.scrollTo(0, document.body.scrollHeight));
  }

  function addUserMessage(text, pending) {
    empty.hidden = true;
    const bubble = el("div", "msg user");
    bubble.appendChild(el("p", "", text));
    if (pending) bubble.appendChild(el("span", "note", "aguardando resposta"));
    log.appendChild(bubble);
    scrollDown();
    return bubble;
  }

  function badge(bubble, agentId) {
    const agent = agents[agentId] || { display_name: agentId, color: "#4b5563" };
    let tag = bubble.querySelector(".badge");
    if (!tag) {
      tag = el("span", "badge");
      bubble.prepend(tag);
    }
    tag.textContent = agent.display_name;
    tag.style.backgroundColor = agent.color;
    bubble.style.borderLeftColor = agent.color;
    bubble.dataset.agent = agentId;
  }

  function addAssistantMessage(agentId, text, note) {
    empty.hidden = true;
    const bubble = el("div", "msg assistant");
    const body = el("div", "body");
    bubble.appendChild(body);
    if (agentId) badge(bubble, agentId);
    if (text) window.renderMarkdown(body, text);
    if (note) bubble.appendChild(el("span", "note", note));
    log.appendChild(bubble);
    scrollDown();
    return bubble;
  }

  function showError(bubble, message, retry) {
    bubble.classList.add("failed");
    const box = el("div", "error");
    box.setAttribute("role", "alert");
    box.appendChild(el("span", "", message));
    const again = el("button", "retry", "Tentar de novo");
    again.type = "button";
    again.addEventListener("click", () => {
      box.remove();
      retry();
    });
    box.appendChild(again);
    bubble.appendChild(box);
    scrollDown();
  }

  function headers(extra) {
    return Object.assign({ "X-CSRF-Token": CSRF }, extra || {});
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && typeof body.message === "string") return body.message;
    } catch (_) {
      /* not JSON: fall through */
    }
    return `O servidor respondeu com erro ${response.status}. Tente de novo.`;
  }

  // Parse one SSE frame ("event: x\r\ndata: {...}") into [kind, data], or null.
  function parseFrame(frame) {
    let kind = "message";
    const data = [];
    for (const line of frame.split(/\r?\n/)) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return null;
    try {
      return [kind, JSON.parse(data.join("\n"))];
    } catch (_) {
      return null;
    }
  }

  async function ask(text, userBubble) {
    busy = true;
    send.disabled = true;
    const bubble = addAssistantMessage(null, "", null);
    bubble.classList.add("streaming");
    const body = bubble.querySelector(".body");
    const typing = el("span", "typing", "digitando…");
    bubble.appendChild(typing);
    let reply = "";
    let finished = false;
    const controller = new AbortController();
    let idle = setTimeout(() => controller.abort(), IDLE_TIMEOUT_MS);
    const keepAlive = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), IDLE_TIMEOUT_MS);
    };
    const retry = () => {
      bubble.remove();
      ask(text, userBubble);
    };
    const fail = (message) => {
      userBubble.querySelector(".note")?.remove();
      typing.remove();
      bubble.classList.remove("streaming");
      showError(bubble, message, retry);
    };
    try {
      const response = await fetch("/v1/chat", {
        method: "POST",
        headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ message: text }),
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) {
        fail(await errorMessage(response));
        return;
      }
      threadId = response.headers.get("X-Thread-Id") || threadId;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        keepAlive();
        buffer += value;
        const frames = buffer.split(/\r?\n\r?\n/);
        buffer = frames.pop();
        for (const frame of frames) {
          const event = parseFrame(frame);
          if (!event) continue;
          const [kind, data] = event;
          if (kind === "route") {
            badge(bubble, data.agent);
          } else if (kind === "token") {
            reply += data.text;
            window.renderMarkdown(body, reply);
            scrollDown();
          } else if (kind === "done") {
            finished = true;
            typing.remove();
            bubble.classList.remove("streaming");
            if (data.agent) badge(bubble, data.agent);
            if (data.offline) {
              bubble.appendChild(el("span", "note offline", "modo offline · resposta da base de conhecimento"));
            }
            userBubble.querySelector(".note")?.remove();
          } else if (kind === "merged") {
            finished = true;
            bubble.remove();
            userBubble.querySelector(".note")?.remove();
            userBubble.appendChild(el("span", "note", "juntei com a mensagem anterior"));
          } else if (kind === "error") {
            finished = true;
            fail(data.message || "Algo deu errado. Tente de novo.");
          }
        }
      }
      if (!finished) fail("A conexão caiu antes de a resposta terminar.");
    } catch (error) {
      fail(
        error && error.name === "AbortError"
          ? "A resposta está demorando demais. Verifique sua conexão e tente de novo."
          : "Sem conexão com o servidor. Verifique sua internet e tente de novo."
      );
    } finally {
      clearTimeout(idle);
      busy = false;
      send.disabled = false;
    }
  }

  async function loadAgents() {
    try {
      const response = await fetch("/v1/agents", { credentials: "same-origin" });
      if (response.ok) {
        for (const agent of await response.json()) agents[agent.id] = agent;
      }
    } catch (_) {
      /* badges fall back to the agent's id */
    }
  }

  async function loadHistory() {
    if (!threadId) return;
    let response;
    try {
      response = await fetch(`/v1/threads/${encodeURIComponent(threadId)}`, {
        credentials: "same-origin",
      });
    } catch (_) {
      const bubble = addAssistantMessage(null, "", null);
      showError(bubble, "Não consegui carregar a conversa anterior.", () => {
        bubble.remove();
        loadHistory();
      });
      return;
    }
    if (!response.ok) return; // a thread never written (404): start fresh
    const thread = await response.json();
    for (const message of thread.messages) {
      if (message.role === "user") addUserMessage(message.content, message.pending);
      else addAssistantMessage(message.agent, message.content, message.interrupted ? "resposta interrompida" : null);
    }
  }

  async function askLinkCode() {
    linkButton.disabled = true;
    linkPanel.hidden = false;
    linkPanel.replaceChildren(el("p", "", "Gerando seu código…"));
    try {
      const response = await fetch(`/v1/users/${encodeURIComponent(USER)}/link-codes`, {
        method: "POST",
        headers: headers(),
        credentials: "same-origin",
      });
      if (!response.ok) {
        linkPanel.replaceChildren(el("p", "error-text", await errorMessage(response)));
        return;
      }
      const body = await response.json();
      const minutes = Math.round(body.expires_in_s / 60);
      const close = el("button", "ghost", "Fechar");
      close.type = "button";
      close.addEventListener("click", () => (linkPanel.hidden = true));
      linkPanel.replaceChildren(
        el("p", "", "Para continuar esta conversa no WhatsApp, mande esta mensagem para o FalaChefe:"),
        el("p", "code", `meu código é ${body.code}`),
        el("p", "hint", `O código vale por ${minutes} minutos e só pode ser usado uma vez.`),
        close
      );
    } catch (_) {
      linkPanel.replaceChildren(el("p", "error-text", "Sem conexão com o servidor. Tente de novo."));
    } finally {
      linkButton.disabled = false;
    }
  }

  function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    input.style.height = "";
    ask(text, addUserMessage(text, true));
  }

  form.addEventListener("submit", submit);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) submit(event);
  });
  input.addEventListener("input", () => {
    input.style.height = "";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  });
  linkButton.addEventListener("click", askLinkCode);

  loadAgents().then(loadHistory).finally(() => {
    document.body.dataset.ready = "true";
    input.focus();
  });
})();
