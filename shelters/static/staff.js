// Kawamori shelter staff page. Every tap becomes an event with its own id
// (crypto.randomUUID()), queued in localStorage first and sent from there, so taps made
// while the network is down are sent once it is back, and a retry after a lost answer
// stores nothing twice. The count shown is the server's count plus the taps not yet sent.
// One browser may count for several shelters (codes added one by one, or a staff
// account's assigned shelters): each shelter has its own queue; the switcher picks one.
"use strict";

// the page's words come from the text catalogue (kawamori/texts/<language>.yaml, shelters.staff_page),
// put into the page by the server so that they work offline too
const TEXT = JSON.parse(document.getElementById("texts").textContent);
const NEXT = { ja: "en", en: "ja-easy", "ja-easy": "ja" };
const LOOK = {  // colour + icon + words, never colour alone
  vacant: ["#1b7f3b", "#fff", "○"], somewhat_crowded: ["#f2e700", "#111", "△"],
  crowded: ["#e05a00", "#111", "▲"], full: ["#b00020", "#fff", "×"], unknown: ["#fff", "#333", "?"],
};
const STATUS_ICON = { open: "●", preparing: "◐", closed: "○" };
const params = new URLSearchParams(location.search);
let lang = params.get("lang") || localStorage.getItem("kawamori-lang") || "ja";
if (!TEXT[lang]) lang = "ja";
const t = (key) => TEXT[lang][key] || key;
const $ = (id) => document.getElementById(id);

const store = {
  get(key, fallback) { try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; } },
  set(key, value) { localStorage.setItem(key, JSON.stringify(value)); },
};
// {shelters: [...], current: id, csrf_token, bands, account}; one browser may count for
// several shelters (a district lead), each with its own queue
let session = store.get("kawamori-staff-session", null);
if (session && !session.shelters && session.shelter) session = { ...session, shelters: [session.shelter], current: session.shelter.id };
let adding = false;
let lastSynced = store.get("kawamori-staff-synced", null);
let online = navigator.onLine;
let syncing = false;

const current = () => session && (session.shelters.find((s) => s.id === session.current) || session.shelters[0]);
const queueKey = (id) => `kawamori-staff-queue-${id}`;
const queue = (id = current() && current().id) => (id ? store.get(queueKey(id), []) : []);
const setQueue = (items, id = current().id) => store.set(queueKey(id), items);
const allWaiting = () => (session ? session.shelters.reduce((n, s) => n + queue(s.id).length, 0) : 0);

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

function projected() {
  // the server's state with the taps not yet sent applied in order
  let count = current().occupancy;
  let status = current().status;
  for (const e of queue()) {
    if (e.type === "delta") count = Math.max(0, count + e.value);
    else if (e.type === "set") count = e.value;
    else status = e.status;
  }
  return { count, status };
}

function crowdingOf(count, capacity) {
  const [a, b, c] = session.bands || [30, 60, 80];
  if (!capacity) return "unknown";
  const pct = 100 * count / capacity;
  return pct >= c ? "full" : pct >= b ? "crowded" : pct >= a ? "somewhat_crowded" : "vacant";
}

function render() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("lang");
  $("signin").hidden = !!session && !adding;
  $("cancel-add").hidden = !adding;
  $("panel").hidden = !session;
  renderSync();
  if (!session) return;
  const s = current();
  const pick = $("switch");
  $("switcher").hidden = session.shelters.length < 2;
  pick.replaceChildren(...session.shelters.map((x) => {
    const option = document.createElement("option");
    const waiting = queue(x.id).length;
    option.value = x.id;
    option.textContent = `${lang === "en" ? x.name_en : x.name_ja} (${x.id})${waiting ? ` · ${waiting}` : ""}`;
    option.selected = x.id === s.id;
    return option;
  }));
  $("who").hidden = !session.account;
  $("who").textContent = session.account ? `${t("signedInAs")}: ${session.account.display_name}` : "";
  const { count, status } = projected();
  $("shelter-name").textContent = lang === "en" ? s.name_en : s.name_ja;
  $("status-line").textContent = `${t("statusNow")}: ${STATUS_ICON[status] || ""} ${t(status)}`;
  $("count").textContent = String(count);
  $("capacity").textContent = s.capacity ? `/ ${s.capacity} ${t("people")}` : `/ ${t("unknown")}`;
  const level = crowdingOf(count, s.capacity);
  const [bg, fg, icon] = LOOK[level];
  const crowd = $("crowding");
  crowd.style.background = bg;
  crowd.style.color = fg;
  crowd.textContent = `${icon} ${t(level)}${s.capacity && count > s.capacity ? ` (${t("overCapacity")})` : ""}`;
  $("minus").disabled = count <= 0;
  document.querySelectorAll("[data-status]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.status === status)));
}

function renderSync() {
  const el = $("sync");
  const waiting = allWaiting();
  const when = lastSynced
    ? new Date(lastSynced).toLocaleTimeString(lang === "en" ? "en-GB" : "ja-JP") : t("never");
  const parts = [`${t("synced")}: ${when}`];
  if (!online) parts.unshift(`⚠ ${t("offline")}`);
  parts.push(waiting ? `${waiting} ${t("pending")}` : t("allSent"));
  el.textContent = parts.join(" · ");
  el.classList.toggle("offline", !online || waiting > 0);
  el.dataset.pending = String(waiting);
}

function adopt(answer, chosen) {
  const keep = chosen || (session && session.current);
  const ids = answer.shelters.map((s) => s.id);
  session = {
    shelters: answer.shelters, csrf_token: answer.csrf_token, bands: answer.bands, account: answer.account,
    current: ids.includes(keep) ? keep : answer.shelter.id,
  };
  store.set("kawamori-staff-session", session);
  lastSynced = new Date().toISOString();
  store.set("kawamori-staff-synced", lastSynced);
  online = true;
}

function enqueue(event) {
  const shelter_id = current().id;
  setQueue([...queue(), { id: crypto.randomUUID(), recorded_at: new Date().toISOString(), shelter_id, ...event }]);
  render();
  sync();
}

async function sync() {
  if (!session || syncing) return;
  syncing = true;
  try {
    // the current shelter's taps first, then any other shelter's still waiting
    const target = [current(), ...session.shelters].find((s) => queue(s.id).length) || current();
    const batch = queue(target.id).slice(0, 500);
    let response;
    if (batch.length) {
      response = await fetch("/api/staff/events", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token },
        body: JSON.stringify({ shelter_id: target.id, events: batch }),
      });
    } else {
      response = await fetch("/api/staff/session", { credentials: "same-origin" });
    }
    if (response.status === 401) {
      session = null;  // the queue stays in localStorage under the shelter's id
      store.set("kawamori-staff-session", null);
      showError(t("expired"));
    } else if (response.status === 403) {
      // the CSRF token is stale (signed in again in another tab): fetch the current one, retry
      const current = await fetch("/api/staff/session", { credentials: "same-origin" });
      if (!current.ok) throw new Error(`HTTP ${current.status}`);
      adopt(await current.json());
    } else if (response.status === 422 && batch.length) {
      const detail = (await response.json()).detail || {};
      const bad = typeof detail.index === "number" ? batch[detail.index].id : batch[0].id;
      setQueue(queue(target.id).filter((e) => e.id !== bad), target.id);
      showError(`${t("rejected")}: ${detail.message || ""}`);
    } else if (response.ok) {
      const answer = await response.json();
      const sent = new Set(batch.map((e) => e.id));
      setQueue(queue(target.id).filter((e) => !sent.has(e.id)), target.id);
      adopt(answer);
    } else {
      throw new Error(`HTTP ${response.status}`);
    }
  } catch (error) {
    online = false;  // network down or server unreachable: keep everything, try again later
  } finally {
    syncing = false;
    render();
  }
  if (session && online && allWaiting()) setTimeout(sync, 0);
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  try {
    const response = await fetch("/api/staff/session", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ shelter_id: $("shelter-id").value.trim(), code: $("code").value }),
    });
    if (response.status === 429) {
      showError(t("throttled").replace("{s}", response.headers.get("Retry-After") || "60"));
      return;
    }
    if (!response.ok) { showError(t("badSignin")); return; }
    adopt(await response.json(), $("shelter-id").value.trim());
    adding = false;
    $("code").value = "";
    render();
    sync();
  } catch (error) {
    online = false;
    render();
  }
});
$("plus").addEventListener("click", () => enqueue({ type: "delta", value: 1 }));
$("minus").addEventListener("click", () => enqueue({ type: "delta", value: -1 }));
$("exact").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = Number($("exact-value").value);
  if (!Number.isInteger(value) || value < 0) return;
  enqueue({ type: "set", value });
  $("exact-value").value = "";
});
document.querySelectorAll("[data-status]").forEach((b) =>
  b.addEventListener("click", () => enqueue({ type: "status", status: b.dataset.status })));
$("switch").addEventListener("change", (e) => {
  session.current = e.target.value;
  store.set("kawamori-staff-session", session);
  render();
});
$("add").addEventListener("click", () => { adding = true; $("shelter-id").value = ""; render(); $("shelter-id").focus(); });
$("cancel-add").addEventListener("click", () => { adding = false; render(); });
$("signout").addEventListener("click", async () => {
  if (allWaiting()) await sync();
  try {
    await fetch("/api/staff/session", { method: "DELETE", credentials: "same-origin",
      headers: { "X-CSRF-Token": session.csrf_token } });
  } catch (error) { /* signing out locally is enough when offline */ }
  session = null;
  store.set("kawamori-staff-session", null);
  render();
});
$("lang").addEventListener("click", () => {
  lang = NEXT[lang] || "ja";
  localStorage.setItem("kawamori-lang", lang);
  render();
});
window.addEventListener("online", () => { online = true; sync(); });
window.addEventListener("offline", () => { online = false; render(); });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/staff-sw.js", { scope: "/staff" }).catch(() => {});
}
async function probe() {
  // no shelter on this device yet: a staff account signed in at /staff/login may count here
  try {
    const response = await fetch("/api/staff/session", { credentials: "same-origin" });
    if (response.ok && !session) { adopt(await response.json()); render(); }
  } catch (error) { /* offline: the sign-in form stays */ }
}

render();
if (session) sync(); else probe();
setInterval(sync, 3000);
