// Real Estate OS — the pages' behaviour. The server renders every piece of
// HTML (pages and fragments, escaped by html/template); this module fetches
// fragments, calls the JSON API with the session cookie and its CSRF token,
// and keeps the page live over one EventSource per tab. No innerHTML with
// data: fragments are parsed as documents and their nodes adopted.

const body = document.body;
const csrf = body.dataset.csrf;
const heartbeatMs = Number(body.dataset.heartbeat || 20) * 1000;
const announcer = document.getElementById("announcer");

function announce(text) {
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = text; }, 30);
}

// api calls the JSON API; it returns {status, headers, data}.
async function api(method, path, payload, headers = {}) {
  const h = { Accept: "application/json", ...headers };
  if (method !== "GET") h["X-CSRF-Token"] = csrf;
  if (payload !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers: h, credentials: "same-origin", body: payload === undefined ? undefined : JSON.stringify(payload) });
  let data = null;
  try { data = await res.json(); } catch { /* no body */ }
  if (res.status === 401) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  return { status: res.status, headers: res.headers, data };
}

// fragment fetches server-rendered HTML and returns its nodes.
async function fragment(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (res.status === 401) { location.assign("/login"); return null; }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  const doc = new DOMParser().parseFromString(await res.text(), "text/html");
  return [...doc.body.childNodes].map((n) => document.adoptNode(n));
}

function problem(r) {
  return (r.data && (r.data.detail || r.data.title)) || `HTTP ${r.status}`;
}

// ---- the board -------------------------------------------------------------

const host = document.getElementById("board-host");
let boardTimer = 0;

// boardSeq numbers the reloads: answers can come back out of order, and
// an older one must not overwrite a newer board (the last change would be
// lost until the next one).
let boardSeq = 0;

async function reloadBoard(flashId) {
  if (!host) return;
  const seq = ++boardSeq;
  const nodes = await fragment("/ui/board" + location.search);
  if (!nodes || seq !== boardSeq) return;
  const focusedId = document.activeElement && document.activeElement.closest(".card")?.dataset.id;
  host.replaceChildren(...nodes);
  if (focusedId) host.querySelector(`.card[data-id="${focusedId}"] .card-title`)?.focus();
  if (flashId) host.querySelector(`.card[data-id="${flashId}"]`)?.classList.add("flash");
}

function scheduleBoard(flashId) {
  clearTimeout(boardTimer);
  boardTimer = setTimeout(() => reloadBoard(flashId), 80);
}

function cardMessage(card, text) {
  const msg = card?.querySelector(".card-msg");
  if (!msg) return;
  msg.textContent = text;
  msg.hidden = false;
}

// move asks the API to move a property; a stale board (412) reloads and
// says so instead of overwriting, an illegal move says why in place.
async function move(id, to) {
  const card = host.querySelector(`.card[data-id="${id}"]`);
  if (!card || card.dataset.stage === to) return;
  const r = await api("PATCH", `/api/v1/properties/${id}`, { stage: to }, { "If-Match": `"p${id}.v${card.dataset.version}"` });
  if (r.status === 200) {
    await reloadBoard(id);
    announce(`Moved ${r.data.address} to ${label(to)}`);
  } else if (r.status === 412) {
    await reloadBoard(id);
    const again = host.querySelector(`.card[data-id="${id}"]`);
    cardMessage(again, "Changed elsewhere — the board was reloaded. Try the move again.");
    announce("This property changed elsewhere; the board was reloaded.");
  } else {
    cardMessage(card, problem(r));
    announce(problem(r));
  }
}

function label(stage) {
  return document.getElementById(`col-${stage}`)?.textContent || stage;
}

function closeMenus(except) {
  host?.querySelectorAll(".menu:not([hidden])").forEach((m) => {
    if (m === except) return;
    m.hidden = true;
    m.parentElement.querySelector("[aria-haspopup]").setAttribute("aria-expanded", "false");
  });
}

function openMenu(button) {
  const menu = button.parentElement.querySelector(".menu");
  closeMenus(menu);
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  menu.querySelector('[role="menuitem"]')?.focus();
}

if (host) {
  host.addEventListener("click", (e) => {
    const open = e.target.closest("[data-open]");
    if (open) { e.preventDefault(); openDrawer(open.dataset.open, open); return; }
    const button = e.target.closest("[aria-haspopup]");
    if (button) {
      if (button.getAttribute("aria-expanded") === "true") closeMenus(); else openMenu(button);
      return;
    }
    const item = e.target.closest('[role="menuitem"][data-to]');
    if (item) { closeMenus(); move(item.closest(".card").dataset.id, item.dataset.to); }
  });
  host.addEventListener("keydown", (e) => {
    const item = e.target.closest('[role="menuitem"]');
    if (!item) return;
    const items = [...item.parentElement.querySelectorAll('[role="menuitem"]')];
    const i = items.indexOf(item);
    if (e.key === "ArrowDown") { e.preventDefault(); items[(i + 1) % items.length].focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    else if (e.key === "Escape") { e.preventDefault(); const b = item.closest(".move").querySelector("[aria-haspopup]"); closeMenus(); b.focus(); }
    else if ((e.key === "Enter" || e.key === " ") && item.dataset.to) { e.preventDefault(); closeMenus(); move(item.closest(".card").dataset.id, item.dataset.to); }
  });
  document.addEventListener("click", (e) => { if (!e.target.closest(".move")) closeMenus(); });

  host.addEventListener("dragstart", (e) => {
    const card = e.target.closest(".card");
    if (!card) return;
    e.dataTransfer.setData("text/plain", card.dataset.id);
    e.dataTransfer.effectAllowed = "move";
    card.classList.add("dragging");
  });
  host.addEventListener("dragend", (e) => e.target.closest(".card")?.classList.remove("dragging"));
  host.addEventListener("dragover", (e) => {
    const col = e.target.closest(".column");
    if (!col) return;
    e.preventDefault();
    host.querySelectorAll(".column.drop").forEach((c) => c !== col && c.classList.remove("drop"));
    col.classList.add("drop");
  });
  host.addEventListener("dragleave", (e) => { if (!e.relatedTarget || !e.target.closest(".column")?.contains(e.relatedTarget)) e.target.closest(".column")?.classList.remove("drop"); });
  host.addEventListener("drop", (e) => {
    const col = e.target.closest(".column");
    if (!col) return;
    e.preventDefault();
    col.classList.remove("drop");
    move(e.dataTransfer.getData("text/plain"), col.dataset.stage);
  });

  document.querySelector("[data-testid=filters]")?.addEventListener("submit", (e) => {
    e.preventDefault();
    const params = new URLSearchParams(new FormData(e.target));
    for (const [k, v] of [...params]) if (!v) params.delete(k);
    history.replaceState(null, "", params.toString() ? "/?" + params : "/");
    reloadBoard();
  });
}

// ---- the property drawer ---------------------------------------------------

const drawer = document.getElementById("drawer");
let drawerId = null;
let opener = null;
let generating = false; // a memo is being followed: live refreshes wait

async function openDrawer(id, from) {
  opener = from || null;
  drawerId = String(id);
  const nodes = await fragment(`/ui/properties/${id}`);
  if (!nodes) return;
  drawer.replaceChildren(...nodes);
  if (!drawer.open) drawer.showModal();
  drawer.querySelector("[data-close]").focus();
  history.replaceState(null, "", location.pathname + location.search + `#property-${id}`);
}

let drawerSeq = 0; // as boardSeq: only the newest answer is shown

async function refreshDrawer() {
  if (!drawer?.open || !drawerId) return;
  if (generating || drawer.querySelector(".compose:not([hidden])")) return; // do not wipe what is in progress
  const seq = ++drawerSeq;
  const nodes = await fragment(`/ui/properties/${drawerId}`);
  if (nodes && drawer.open && seq === drawerSeq) drawer.replaceChildren(...nodes);
}

if (drawer) {
  drawer.addEventListener("close", () => {
    const id = drawerId;
    drawerId = null;
    history.replaceState(null, "", location.pathname + location.search);
    const target = (opener && opener.isConnected) ? opener : host?.querySelector(`[data-open="${id}"]`);
    target?.focus();
  });
  drawer.addEventListener("click", (e) => {
    if (e.target === drawer || e.target.closest("[data-close]")) { drawer.close(); return; }
    const action = e.target.closest("[data-action]");
    if (!action || action.disabled) return;
    const what = action.dataset.action;
    if (what === "memo") generateMemo(action);
    if (what === "compose-email" || what === "compose-sms") {
      const section = drawer.querySelector(`[data-compose="${what.slice(8)}"]`);
      section.hidden = !section.hidden;
      if (!section.hidden) section.querySelector("textarea").focus();
    }
  });
  drawer.addEventListener("submit", async (e) => {
    const form = e.target.closest("form[data-send]");
    if (!form) return;
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const fields = Object.fromEntries(new FormData(form));
    const kind = form.dataset.send;
    const path = kind === "sms" ? "/api/v1/communications/sms" : "/api/v1/communications/email-thread";
    const r = await api("POST", path, { property_id: Number(drawerId), ...fields }, { "Idempotency-Key": crypto.randomUUID() });
    button.disabled = false;
    if (r.status === 201 || r.status === 202) {
      form.closest(".compose").hidden = true;
      announce(kind === "sms" ? "SMS queued" : "Email queued");
      await refreshDrawer();
    } else {
      let msg = form.querySelector(".alert");
      if (!msg) { msg = document.createElement("p"); msg.className = "alert alert-error"; msg.setAttribute("role", "alert"); form.append(msg); }
      msg.textContent = problem(r);
    }
  });
  if (location.hash.startsWith("#property-")) openDrawer(location.hash.slice(10));
}

// generateMemo starts a memo job and follows it to its viewer.
async function generateMemo(button) {
  generating = true;
  try { await followMemo(button); } finally { generating = false; }
}

async function followMemo(button) {
  const status = drawer.querySelector("[data-testid=memo-status]");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Generating…";
  status.textContent = "Queued…";
  const r = await api("POST", "/api/v1/jobs/memo/generate", { property_id: Number(drawerId) }, { "Idempotency-Key": crypto.randomUUID() });
  if (r.status !== 202) { status.textContent = problem(r); button.disabled = false; button.textContent = "Generate memo"; return; }
  const id = r.data.job_id;
  const deadline = Date.now() + 120000;
  let job = r.data;
  while (job.status !== "done" && job.status !== "failed" && Date.now() < deadline) {
    status.textContent = job.status === "running" ? "Writing and rendering the memo…" : "Queued…";
    await new Promise((ok) => setTimeout(ok, 300));
    job = (await api("GET", `/api/v1/jobs/${id}`)).data || job;
  }
  button.removeAttribute("aria-busy");
  button.disabled = false;
  button.textContent = "Generate memo";
  status.replaceChildren();
  if (job.status !== "done") { status.textContent = `The memo failed: ${job.error || job.status}`; return; }
  const link = document.createElement("a");
  link.href = `/memos/${id}`;
  link.textContent = "Open the memo";
  link.dataset.testid = "memo-open";
  const sum = document.createElement("code");
  sum.textContent = job.sha256.slice(0, 12) + "…";
  status.append("Memo ready: ", link, " · ", sum);
  announce("Memo ready");
  link.focus();
}

// ---- live updates ----------------------------------------------------------

const conn = document.querySelector("[data-testid=connection]");
const liveTypes = ["property.created", "property.updated", "job.queued", "job.running", "job.done", "job.failed", "dlq.added",
  "message.queued", "message.sending", "message.sent", "message.delivered", "message.undelivered", "message.failed", "message.refused",
  "message.suppressed", "message.received", "message.late-status", "message.requeued", "message.open", "message.click", "message.bounce",
  "message.dropped", "message.deferred"];
let lastEventId = "";
let backoff = 1000;
let watchdog = 0;
let source = null;

function setConn(state, text) {
  if (!conn) return;
  conn.dataset.state = state;
  conn.textContent = text;
}

function armWatchdog() {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => { setConn("reconnecting", "No heartbeat — reconnecting…"); reconnect(); }, heartbeatMs * 2.5);
}

function reconnect() {
  source?.close();
  source = null;
  clearTimeout(watchdog);
  const wait = Math.round(backoff * (0.5 + Math.random() / 2)); // 1 s doubling to 30 s, with jitter
  backoff = Math.min(backoff * 2, 30000);
  setConn(navigator.onLine === false ? "offline" : "reconnecting", `Reconnecting in ${Math.ceil(wait / 1000)} s`);
  setTimeout(connect, wait);
}

function onEvent(e) {
  if (e.lastEventId) lastEventId = e.lastEventId;
  armWatchdog();
  let ev = {};
  try { ev = JSON.parse(e.data); } catch { return; }
  const data = ev.data || {};
  const pid = String(data.property_id || "");
  if (e.type.startsWith("property.")) {
    scheduleBoard(pid);
    if (pid === drawerId) refreshDrawer();
  } else if (e.type.startsWith("message.") || e.type.startsWith("job.")) {
    if (pid && pid === drawerId) refreshDrawer();
    if (e.type === "message.received") scheduleBoard(pid);
  }
}

async function connect() {
  setConn("connecting", "Connecting…");
  let token;
  try {
    const r = await api("GET", "/api/v1/sse-events/token");
    if (r.status !== 200) throw new Error(problem(r));
    token = r.data.token;
  } catch { reconnect(); return; }
  let url = "/api/v1/sse-events/stream?token=" + encodeURIComponent(token);
  if (lastEventId) url += "&last_event_id=" + encodeURIComponent(lastEventId);
  source = new EventSource(url);
  source.onopen = () => { backoff = 1000; setConn("live", "Live"); armWatchdog(); };
  source.onerror = () => reconnect(); // the token is single-use in spirit: reconnect with a fresh one
  for (const t of liveTypes) source.addEventListener(t, onEvent);
  source.addEventListener("ping", (e) => { if (e.lastEventId) lastEventId = e.lastEventId; armWatchdog(); });
  source.addEventListener("reset", () => { lastEventId = ""; reloadBoard(); refreshDrawer(); announce("Reloaded after a long disconnection"); });
}

if (conn) connect();
