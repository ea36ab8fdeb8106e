// The agent's softphone: Twilio Voice SDK 2.x, presence, heartbeat, screen-pop,
// the call's ticket. Plain JavaScript on purpose: it must load fast on a shared
// office connection. Every word it shows comes from the page (#softphone-config),
// in the agent's language: none is written here.
(function () {
  "use strict";
  const root = document.getElementById("softphone");
  const config = JSON.parse(document.getElementById("softphone-config").textContent);
  const urls = config.urls;
  const texts = config.texts;
  const $ = (id) => document.getElementById(id);
  const csrf = root.dataset.csrf;
  const words = (group, value) =>
    value === null || value === undefined ? "—" : (config.labels[group] || {})[value] || String(value);
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => values[name]);
  const localTime = new Intl.DateTimeFormat(config.lang, {
    dateStyle: "short", timeStyle: "short", timeZone: config.zone,
  });
  const when = (iso) => (iso ? localTime.format(new Date(iso)) : "—");
  const ticketPage = (reference) => urls.ticket_page.replace("0000-0000", reference);
  const callerPage = (phone) => urls.caller_page.replace("PHONE", encodeURIComponent(phone));

  let device = null;
  let call = null;
  // The call this agent has taken: other calls' pushes never replace its screen.
  let activeCallSid = null;
  // The call whose ticket the agent chose from the screen-pop: the ticket the
  // answer opened must not take its place in the form again.
  let attachedFor = null;
  const belongsElsewhere = (data) =>
    activeCallSid !== null && Boolean(data.call_sid) && data.call_sid !== activeCallSid;

  function problem(text) {
    const box = $("problem");
    box.textContent = text;
    box.hidden = !text;
  }

  function send(method, url, body) {
    return fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body ? JSON.stringify(body) : null,
    });
  }
  const post = (url, body) => send("POST", url, body);

  async function failure(response) {
    try {
      const body = await response.json();
      return body.error ? body.error.message : response.statusText;
    } catch (error) {
      return response.statusText;
    }
  }

  function item(list, text) {
    const li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
    return li;
  }

  // --- screen-pop: the caller's history, pushed before the agent answers ---
  let lastPop = null;
  function showScreenPop(data) {
    lastPop = data;
    $("screenpop").hidden = false;
    const caller = data.caller || {};
    const phone = $("pop-phone");
    phone.textContent = caller.phone || texts.withheld;
    // The caller page, when there is a number to open it by.
    if (caller.phone) phone.href = callerPage(caller.phone);
    else phone.removeAttribute("href");
    // Who the number belongs to, when staff filled in the profile (CONTRACT §8.5).
    $("pop-name").textContent = caller.name || "";
    $("pop-matricule").textContent = caller.matricule || "";
    $("pop-name").hidden = !caller.name;
    $("pop-matricule-row").hidden = !caller.matricule;
    $("pop-person").hidden = !caller.name && !caller.matricule;
    $("pop-line").textContent = data.line ? "→ " + data.line : "";
    for (const id of ["pop-tickets", "pop-calls", "pop-messages", "pop-recordings"]) $(id).replaceChildren();
    showOpenTickets(data);
    for (const c of data.calls || []) {
      const seconds = c.duration === null || c.duration === undefined ? "" : ` · ${fill(texts.seconds, { seconds: c.duration })}`;
      item($("pop-calls"), `${when(c.started_at)} · ${words("call_status", c.status)}${seconds}`);
    }
    for (const m of data.messages || []) {
      item($("pop-messages"), `${words("direction", m.direction)} · ${words("message_status", m.status)} · ${m.body}`);
    }
    for (const r of data.recordings || []) {
      const li = document.createElement("li");
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";  // nothing downloads until the agent presses play
      audio.src = r.audio;
      li.append(`${when(r.created_at)} · ${fill(texts.seconds, { seconds: r.duration ?? "?" })} `, audio);
      $("pop-recordings").appendChild(li);
    }
    for (const id of ["pop-calls", "pop-messages", "pop-recordings"]) {
      if (!$(id).children.length) item($(id), "—").className = "muted";
    }
    idle();
  }

  // The caller's requests still being handled, each with its page and a button
  // that attaches the call to it instead of the ticket the answer opened.
  function showOpenTickets(data) {
    const list = $("pop-tickets");
    list.replaceChildren();
    const open = (data.tickets || []).filter((t) => config.open_statuses.includes(t.status));
    if (!open.length) item(list, texts.no_open_tickets).className = "muted";
    const onThisCall = activeCallSid !== null && data.call_sid === activeCallSid;
    for (const t of open) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = ticketPage(t.reference);
      link.textContent = t.reference;
      li.append(link, ` · ${words("status", t.status)} · ${words("category", t.category)} · ${when(t.created_at)} `);
      if (onThisCall) {
        const attach = document.createElement("button");
        attach.type = "button";
        attach.className = "attach";
        attach.dataset.reference = t.reference;
        attach.textContent = texts.attach;
        attach.disabled = form.dataset.reference === t.reference;
        attach.addEventListener("click", () => attachTo(t.reference));
        li.append(attach);
      }
      list.appendChild(li);
    }
  }

  async function attachTo(reference) {
    const callSid = activeCallSid;
    if (!callSid) return;
    const response = await post(urls.attach, { call_sid: callSid, reference });
    if (!response.ok) return problem(await failure(response));
    problem("");
    attachedFor = callSid;
    const ticket = await response.json();
    showTicket(ticket);
    $("ticket-saved").textContent = fill(texts.attached, { reference });
    refreshListed(ticket);
  }

  // The screen-pop's line for a ticket just changed here says what it is now.
  function refreshListed(ticket) {
    if (!lastPop) return;
    lastPop.tickets = (lastPop.tickets || []).map((t) => (t.reference === ticket.reference ? ticket : t));
    showOpenTickets(lastPop);
  }

  // Nothing on the screen yet: say what the page is waiting for.
  function idle() {
    $("idle").hidden = !$("screenpop").hidden || !$("call").hidden;
  }

  // --- the call's ticket, opened once the agent answers: edit it while talking ---
  const form = $("current-ticket");
  const save = form.querySelector("button[type=submit]");
  let pendingTicket = null;
  function showTicket(ticket) {
    if (!activeCallSid) {
      // The answer's push may beat the SDK's own "accept": kept for it.
      pendingTicket = ticket;
      return;
    }
    form.hidden = false;
    form.dataset.reference = ticket.reference;
    form.dataset.status = ticket.status;
    const link = $("ticket-reference");
    link.textContent = ticket.reference;
    link.href = ticketPage(ticket.reference);
    // Never a category nobody chose: the empty "Choose a category" until then.
    form.elements.category.value = ticket.category || "";
    form.elements.service.value = ticket.service || "";
    form.elements.status.value = ticket.status;
    save.disabled = false;
    $("ticket-saved").textContent = "";
  }
  function hideTicket() {
    pendingTicket = null;
    // A note still being typed stays until it is saved: hanging up loses nothing.
    if (form.elements.note.value.trim() && form.dataset.reference) return;
    form.hidden = true;
    delete form.dataset.reference;
    save.disabled = true;
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reference = form.dataset.reference;
    if (!reference) return problem(texts.no_ticket);
    const change = {
      service: form.elements.service.value || null,
      status: form.elements.status.value,
    };
    // No category chosen: the ticket's stays as it is.
    const category = form.elements.category.value;
    if (category) change.category = category;
    const text = form.elements.note.value.trim();
    // Resolving: the text is the answer the caller is sent; otherwise a staff note.
    const resolving = change.status === "resolved" && form.dataset.status !== "resolved";
    if (text) change[resolving ? "resolution" : "note"] = text;
    save.disabled = true;
    const response = await send("PATCH", `${urls.tickets}/${encodeURIComponent(reference)}`, change);
    save.disabled = false;
    if (!response.ok) return problem(await failure(response));
    problem("");
    const body = await response.json();
    refreshListed(body);
    form.elements.note.value = "";
    if (!activeCallSid) return hideTicket();  // the call had ended: done
    showTicket(body);
    $("ticket-saved").textContent = category ? texts.saved : texts.saved_no_category;
  });

  // EventSource reconnects by itself when a stream drops, but gives up on an
  // error status (503 while the server cannot reach Redis): start it again then.
  function listen() {
    const events = new EventSource(urls.events, { withCredentials: true });
    events.addEventListener("screenpop", (e) => {
      const data = JSON.parse(e.data);
      if (!belongsElsewhere(data)) showScreenPop(data);
    });
    events.addEventListener("ticket", (e) => {
      const data = JSON.parse(e.data);
      if (belongsElsewhere(data) || (data.call_sid && data.call_sid === attachedFor)) return;
      showTicket(data);
    });
    events.addEventListener("error", () => {
      if (events.readyState === EventSource.CLOSED) setTimeout(listen, 5000);
    });
  }
  listen();

  // --- presence follows the device: offline while it is not registered (no call
  // rings a desk that cannot answer), available again when it is, if that is
  // what the agent chose; the server says which presence holds ---
  const presence = $("presence");
  let shown = presence.value;  // what the server last said
  let wanted = presence.value;  // what the agent last chose
  function showPresence(status) {
    presence.value = shown = status === "ringing" ? "available" : status;
  }
  async function choosePresence(status) {
    const response = await post(urls.presence, { status });
    if (!response.ok) {
      presence.value = shown;
      problem(response.status === 409 ? texts.device : await failure(response));
      return false;
    }
    problem("");
    showPresence((await response.json()).status);
    return true;
  }
  presence.addEventListener("change", async (e) => {
    const status = e.target.value;
    if (await choosePresence(status)) wanted = status;
  });

  const registered = () => Boolean(device && device.state === "registered");
  async function reportDevice() {
    const response = await post(urls.device, { registered: registered() });
    if (!response.ok) return;
    const body = await response.json();
    if (body.status === "offline" && shown !== "offline") {
      showPresence("offline");
      problem(texts.dropped);
    } else if (registered() && wanted === "available" && shown === "offline") {
      if (await choosePresence("available")) problem(texts.back);
    }
  }
  setInterval(() => post(urls.heartbeat, { registered: registered() }), 20000);

  function deviceState(text) {
    $("device-state").textContent = text;
  }

  // --- calls, and how long the current one has lasted ---
  let timer = null;
  function startTimer() {
    const started = Date.now();
    const show = () => {
      const seconds = Math.floor((Date.now() - started) / 1000);
      const mm = String(Math.floor(seconds / 60)).padStart(2, "0");
      const ss = String(seconds % 60).padStart(2, "0");
      $("call-timer").textContent = `${mm}:${ss}`;
    };
    show();
    $("call-timer").hidden = false;
    timer = setInterval(show, 1000);
  }
  function stopTimer() {
    clearInterval(timer);
    timer = null;
    $("call-timer").hidden = true;
  }

  function showCall(state, from) {
    $("call").hidden = !state;
    $("call-state").textContent = state || "";
    $("call-from").textContent = from || "";
    $("answer").hidden = state !== texts.incoming;
    $("reject").hidden = state !== texts.incoming;
    $("hangup").hidden = state !== texts.on_call;
    $("mute").hidden = state !== texts.on_call;
    $("keypad").hidden = state !== texts.on_call;
    idle();
  }

  function attach(incoming) {
    if (call) return incoming.reject();  // one call at a time on this page
    call = incoming;
    const from = call.customParameters.get("caller") || call.parameters.From;
    showCall(texts.incoming, from);
    const ended = () => {
      call = null;
      activeCallSid = null;
      stopTimer();
      showCall(null);
      hideTicket();
      if (lastPop) showOpenTickets(lastPop);
    };
    call.on("accept", () => {
      activeCallSid = call.customParameters.get("callSid") || null;
      showCall(texts.on_call, from);
      startTimer();
      if (pendingTicket && pendingTicket.call_sid === activeCallSid) showTicket(pendingTicket);
      pendingTicket = null;
      if (lastPop) showOpenTickets(lastPop);
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
    const response = await fetch(urls.token, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await failure(response));
    return (await response.json()).token;
  }

  async function start() {
    try {
      const token = await fetchToken();
      if (!window.Twilio || !window.Twilio.Device) throw new Error(texts.no_sdk);
      device = new window.Twilio.Device(token, { codecPreferences: ["opus", "pcmu"] });
      device.on("registered", () => {
        deviceState(texts.ready);
        reportDevice();
      });
      device.on("unregistered", () => {
        deviceState(texts.disconnected);
        reportDevice();
      });
      device.on("error", (error) => {
        const mic = error.code === 31208 || error.code === 31401 || /NotAllowed/.test(error.name || "");
        problem(mic ? texts.microphone : `${error.code}: ${error.message}`);
        // A device that cannot take calls (no microphone, dropped) leaves routing.
        if (mic || !registered()) {
          deviceState(registered() ? texts.unavailable : texts.disconnected);
          if (mic) choosePresence("offline").then(() => problem(texts.microphone));
          else reportDevice();
        }
      });
      device.on("tokenWillExpire", async () => device.updateToken(await fetchToken()));
      device.on("incoming", attach);
      await device.register();
    } catch (error) {
      deviceState(texts.unavailable);
      problem(String(error.message || error));
      reportDevice();
    }
  }

  window.ecouteSoftphone = { showScreenPop };
  start();
})();
