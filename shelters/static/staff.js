// Kawamori shelter staff page. Every tap becomes an event with its own id
// (crypto.randomUUID()), queued in localStorage first and sent from there, so taps made
// while the network is down are sent once it is back, and a retry after a lost answer
// stores nothing twice. The count shown is the server's count plus the taps not yet sent.
"use strict";

const TEXT = {
  ja: {
    title: "避難所スタッフ", lang: "English", signinTitle: "避難所にサインイン", shelterId: "避難所ID",
    code: "アクセスコード", signin: "サインイン", headcount: "現在の避難者数", setExact: "人数を直接入力",
    set: "設定", statusTitle: "開設状況", open: "開設", preparing: "開設準備中", closed: "閉鎖",
    signout: "サインアウト", people: "人", synced: "最終同期", never: "未同期", offline: "オフライン",
    pending: "件が未送信（接続が戻ると送信します）", allSent: "すべて送信済み", badSignin: "避難所IDまたはアクセスコードが違います",
    throttled: "間違いが続いたため、しばらく待ってからもう一度お試しください（約{s}秒）",
    expired: "セッションが終了しました。もう一度サインインしてください（未送信の記録は保持されています）",
    rejected: "送信できない記録を取り除きました", capacity: "収容", overCapacity: "定員超過",
    vacant: "空いています", somewhat_crowded: "やや混雑", crowded: "混雑", full: "満員", unknown: "不明",
    statusNow: "状況",
  },
  en: {
    title: "Shelter staff", lang: "日本語", signinTitle: "Sign in to a shelter", shelterId: "Shelter ID",
    code: "Access code", signin: "Sign in", headcount: "People in the shelter now", setExact: "Set the exact count",
    set: "Set", statusTitle: "Shelter status", open: "Open", preparing: "Preparing", closed: "Closed",
    signout: "Sign out", people: "people", synced: "Last synced", never: "not synced yet", offline: "Offline",
    pending: "not sent yet (will be sent when the connection is back)", allSent: "all sent",
    badSignin: "Wrong shelter ID or access code",
    throttled: "Too many wrong codes. Please wait and try again (about {s} seconds).",
    expired: "Your session has ended. Please sign in again (unsent taps are kept).",
    rejected: "An entry the server refused was removed", capacity: "capacity", overCapacity: "over capacity",
    vacant: "Vacant", somewhat_crowded: "Somewhat crowded", crowded: "Crowded", full: "Full", unknown: "Unknown",
    statusNow: "Status",
  },
};
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
let session = store.get("kawamori-staff-session", null);  // {shelter, csrf_token}
let lastSynced = store.get("kawamori-staff-synced", null);
let online = navigator.onLine;
let syncing = false;

const queueKey = () => `kawamori-staff-queue-${session ? session.shelter.id : "none"}`;
const queue = () => store.get(queueKey(), []);
const setQueue = (items) => store.set(queueKey(), items);

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

function projected() {
  // the server's state with the taps not yet sent applied in order
  let count = session.shelter.occupancy;
  let status = session.shelter.status;
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
  $("signin").hidden = !!session;
  $("panel").hidden = !session;
  renderSync();
  if (!session) return;
  const s = session.shelter;
  const { count, status } = projected();
  $("shelter-name").textContent = lang === "ja" ? s.name_ja : s.name_en;
  $("status-line").textContent = `${t("statusNow")}: ${STATUS_ICON[status] || ""} ${t(status)}`;
  $("count").textContent = String(count);
  $("capacity").textContent = `/ ${s.capacity} ${t("people")}`;
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
  const waiting = session ? queue().length : 0;
  const when = lastSynced
    ? new Date(lastSynced).toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB") : t("never");
  const parts = [`${t("synced")}: ${when}`];
  if (!online) parts.unshift(`⚠ ${t("offline")}`);
  parts.push(waiting ? `${waiting} ${t("pending")}` : t("allSent"));
  el.textContent = parts.join(" · ");
  el.classList.toggle("offline", !online || waiting > 0);
  el.dataset.pending = String(waiting);
}

function adopt(answer) {
  session = { shelter: answer.shelter, csrf_token: answer.csrf_token, bands: answer.bands };
  store.set("kawamori-staff-session", session);
  lastSynced = new Date().toISOString();
  store.set("kawamori-staff-synced", lastSynced);
  online = true;
}

function enqueue(event) {
  setQueue([...queue(), { id: crypto.randomUUID(), recorded_at: new Date().toISOString(), ...event }]);
  render();
  sync();
}

async function sync() {
  if (!session || syncing) return;
  syncing = true;
  try {
    const batch = queue().slice(0, 500);
    let response;
    if (batch.length) {
      response = await fetch("/api/staff/events", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf_token },
        body: JSON.stringify({ events: batch }),
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
      setQueue(queue().filter((e) => e.id !== bad));
      showError(`${t("rejected")}: ${detail.message || ""}`);
    } else if (response.ok) {
      const answer = await response.json();
      const sent = new Set(batch.map((e) => e.id));
      setQueue(queue().filter((e) => !sent.has(e.id)));
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
  if (session && online && queue().length) setTimeout(sync, 0);
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
    adopt(await response.json());
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
$("signout").addEventListener("click", async () => {
  if (queue().length) await sync();
  try {
    await fetch("/api/staff/session", { method: "DELETE", credentials: "same-origin",
      headers: { "X-CSRF-Token": session.csrf_token } });
  } catch (error) { /* signing out locally is enough when offline */ }
  session = null;
  store.set("kawamori-staff-session", null);
  render();
});
$("lang").addEventListener("click", () => {
  lang = lang === "ja" ? "en" : "ja";
  localStorage.setItem("kawamori-lang", lang);
  render();
});
window.addEventListener("online", () => { online = true; sync(); });
window.addEventListener("offline", () => { online = false; render(); });

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/staff-sw.js", { scope: "/staff" }).catch(() => {});
}
render();
sync();
setInterval(sync, 3000);
