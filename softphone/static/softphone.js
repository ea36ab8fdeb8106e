// The agent's softphone: Twilio Voice SDK 2.x, presence, heartbeat, screen-pop.
// Plain JavaScript on purpose: it must load fast on a shared office connection.
(function () {
  "use strict";
  const root = document.getElementById("softphone");
  const $ = (id) => document.getElementById(id);
  const csrf = root.dataset.csrf;
  let device = null;
  let call = null;
  // The call this agent has taken: other calls' pushes never replace its screen.
  let activeCallSid = null;
  const belongsElsewhere = (data) =>
    activeCallSid !== null && Boolean(data.call_sid) && data.call_sid !== activeCallSid;

  function problem(text) {
    const box = $("problem");
    box.textContent = text;
    box.hidden = !text;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body ? JSON.stringify(body) : null,
    });
  }

  function item(list, text) {
    const li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
  }

  // --- screen-pop: the caller's history, pushed before the agent answers ---
  function showScreenPop(data) {
    $("screenpop").hidden = false;
    const caller = data.caller || {};
    $("pop-phone").textContent = caller.phone || "?";
    // Who the number belongs to, when staff filled in the profile (CONTRACT §8.5).
    $("pop-name").textContent = caller.name || "";
    $("pop-matricule").textContent = caller.matricule || "";
    $("pop-name").hidden = !caller.name;
    $("pop-matricule-row").hidden = !caller.matricule;
    $("pop-person").hidden = !caller.name && !caller.matricule;
    $("pop-line").textContent = data.line ? "→ " + data.line : "";
    for (const id of ["pop-tickets", "pop-calls", "pop-messages", "pop-recordings"]) $(id).replaceChildren();
    for (const t of data.tickets || []) {
      item($("pop-tickets"), `${t.reference} · ${t.status} · ${t.category || "—"} · ${t.created_at.slice(0, 10)}`);
      // The ticket page, a new tab so the call screen stays.
      const link = Object.assign(document.createElement("a"), { href: `/tickets/${t.reference}`, target: "_blank" });
      link.append($("pop-tickets").lastChild.firstChild);
      $("pop-tickets").lastChild.append(link);
    }
    for (const c of data.calls || []) {
      item($("pop-calls"), `${c.started_at.slice(0, 16).replace("T", " ")} · ${c.status} · ${c.duration ?? "?"} s`);
    }
    for (const m of data.messages || []) item($("pop-messages"), `${m.direction} · ${m.status} · ${m.body}`);
    for (const r of data.recordings || []) {
      const li = document.createElement("li");
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";  // nothing downloads until the agent presses play
      audio.src = r.audio;
      li.append(`${r.created_at.slice(0, 10)} · ${r.duration ?? "?"} s `, audio);
      $("pop-recordings").appendChild(li);
    }
  }

  // --- the call's ticket, opened once the agent answers: edit it while talking ---
  const form = $("current-ticket");
  function showTicket(ticket) {
    form.hidden = false;
    form.dataset.reference = ticket.reference;
    $("ticket-reference").textContent = ticket.reference;
    if (ticket.category) form.elements.category.value = ticket.category;
    form.elements.service.value = ticket.service || "";
    form.elements.status.value = form.dataset.status = ticket.status;
    $("ticket-saved").textContent = "";
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const change = {
      category: form.elements.category.value,
      service: form.elements.service.value || null,
      status: form.elements.status.value,
    };
    const text = form.elements.note.value.trim();
    // Resolving: the text is the answer the caller is sent; otherwise a staff note.
    const resolving = change.status === "resolved" && form.dataset.status !== "resolved";
    if (text) change[resolving ? "resolution" : "note"] = text;
    const response = await fetch(`${root.dataset.ticketsUrl}/${form.dataset.reference}`, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(change),
    });
    const body = await response.json();
    if (!response.ok) return problem(body.error ? body.error.message : response.statusText);
    form.elements.note.value = "";
    form.dataset.status = change.status;
    showTicket(body);
    $("ticket-saved").textContent = "✓";
  });

  // EventSource reconnects by itself when a stream drops, but gives up on an
  // error status (503 while the server cannot reach Redis): start it again then.
  function listen() {
    const events = new EventSource(root.dataset.eventsUrl, { withCredentials: true });
    events.addEventListener("screenpop", (e) => {
      const data = JSON.parse(e.data);
      if (!belongsElsewhere(data)) showScreenPop(data);
    });
    events.addEventListener("ticket", (e) => {
      const data = JSON.parse(e.data);
      if (!belongsElsewhere(data)) showTicket(data);
    });
    events.addEventListener("error", () => {
      if (events.readyState === EventSource.CLOSED) setTimeout(listen, 5000);
    });
  }
  listen();

  // --- presence, device and heartbeat: no call rings a page that is gone or a
  // device that is not registered; the server says which presence holds ---
  const presence = $("presence");
  let chosen = presence.value;
  presence.addEventListener("change", async (e) => {
    const response = await post(root.dataset.presenceUrl, { status: e.target.value });
    const body = await response.json();
    if (!response.ok) {
      presence.value = chosen;
      return problem(response.status === 409 ? root.dataset.msgDevice : body.error.message);
    }
    problem("");
    presence.value = chosen = body.status === "ringing" ? "available" : body.status;
  });
  const registered = () => Boolean(device && device.state === "registered");
  async function reportDevice() {
    const response = await post(root.dataset.deviceUrl, { registered: registered() });
    if (!response.ok) return;
    const body = await response.json();
    if (body.status === "offline" && chosen !== "offline") {
      presence.value = chosen = "offline";
      problem(root.dataset.msgDropped);
    }
  }
  setInterval(() => post(root.dataset.heartbeatUrl, { registered: registered() }), 20000);

  // --- calls ---
  function showCall(state, from) {
    $("call").hidden = !state;
    $("call-state").textContent = state || "";
    $("call-from").textContent = from || "";
  }

  function attach(incoming) {
    if (call) return incoming.reject();  // one call at a time on this page
    call = incoming;
    const from = call.customParameters.get("caller") || call.parameters.From;
    showCall("Appel entrant", from);
    const ended = () => { call = null; activeCallSid = null; showCall(null); };
    call.on("accept", () => {
      activeCallSid = call.customParameters.get("callSid") || null;
      showCall("En ligne", from);
    });
    call.on("disconnect", ended);
    call.on("cancel", ended);
    call.on("reject", ended);
    call.on("error", (error) => problem(`${error.code}: ${error.message}`));
  }

  $("answer").addEventListener("click", () => call && call.accept());
  $("reject").addEventListener("click", () => call && call.reject());
  $("hangup").addEventListener("click", () => call && call.disconnect());
  $("mute").addEventListener("click", (e) => {
    if (!call) return;
    const muted = !call.isMuted();
    call.mute(muted);
    e.target.setAttribute("aria-pressed", String(muted));
  });
  for (const key of document.querySelectorAll("[data-digit]")) {
    key.addEventListener("click", () => call && call.sendDigits(key.dataset.digit));
  }

  async function fetchToken() {
    const response = await fetch(root.dataset.tokenUrl, { credentials: "same-origin" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body.token;
  }

  async function start() {
    try {
      const token = await fetchToken();
      if (!window.Twilio || !window.Twilio.Device) throw new Error("Twilio Voice SDK not loaded");
      device = new window.Twilio.Device(token, { codecPreferences: ["opus", "pcmu"] });
      device.on("registered", () => {
        $("device-state").textContent = "Prêt";
        reportDevice();
      });
      device.on("unregistered", () => {
        $("device-state").textContent = "Déconnecté";
        reportDevice();
      });
      device.on("error", (error) => {
        const mic = error.code === 31208 || error.code === 31401 || /NotAllowed/.test(error.name || "");
        problem(mic ? "Micro refusé : autorisez le micro pour prendre les appels." : `${error.code}: ${error.message}`);
      });
      device.on("tokenWillExpire", async () => device.updateToken(await fetchToken()));
      device.on("incoming", attach);
      await device.register();
    } catch (error) {
      $("device-state").textContent = "Indisponible";
      problem(String(error.message || error));
      reportDevice();
    }
  }

  window.ecouteSoftphone = { showScreenPop };
  start();
})();
