// Kawamori alert console: approvals awaited first, then active alerts, then history.
// Live through server-sent events (/api/alerts/events) with a polling fallback. Every
// change goes through the API with the session's CSRF token; the server decides.
"use strict";

// the words: the catalogue's console.alerts, embedded in the page (texts.js)
const body = document.body;
let lang = localStorage.getItem("kawamori-lang") || body.dataset.lang || "ja";
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const t = (key, params) => kawamoriTexts.say(lang)(key, params);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const nameOf = (obj, field) => obj[`${field}_${lang}`] || obj[`${field}_ja`] || "";
const minutesSince = (iso) => Math.max(0, Math.round((Date.now() - new Date(iso)) / 60000));
// how long a card has waited, in minutes ("just now" under one)
const waitingText = (iso) => { const m = minutesSince(iso); return m < 1 ? t("waitingNow") : t("waiting", { m }); };
const sinceText = (iso) => { const m = minutesSince(iso); return m < 1 ? t("sinceNow") : t("since", { m }); };
const clock = (iso) => new Date(iso).toLocaleString(lang === "ja" ? "ja-JP" : "en-GB",
  { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });

let alerts = [];
let stationNames = {}; // id → {name_ja, name_en}, for the evidence lists
const conflicts = new Map(); // alert id → the server's 409 text, shown on the card until dismissed
const seenPending = new Set();
let firstLoad = true;
let sound = localStorage.getItem("kawamori-sound") === "on";
const openAudits = new Set();

// --- pieces of a card -----------------------------------------------------------------

function levelBadge(level) {
  if (!level) return `<span class="badge s-none">–</span>`;
  const short = t("levelShort", { level });
  return `<span class="badge s-${level}">${esc(short)}<span class="badge-name">${esc(t("levels")[level])}</span></span>`;
}
function drillBadge(a) {
  if (a.status === "Exercise") return `<span class="drill" lang="ja">訓練</span> <span class="drill" lang="en">EXERCISE</span>`;
  if (a.status === "Test") return `<span class="drill" lang="ja">テスト</span> <span class="drill" lang="en">TEST</span>`;
  return "";
}
const isArea = (a) => a.kind === "area";
const isNotice = (a) => ["unverified", "sensor", "offline"].includes(a.kind); // staff only, never public
// what residents can be told: an area's issuance (stage and forecast: alerts before areas, in the history)
const isPublicKind = (a) => a.kind === "area" || a.kind === "stage" || a.kind === "forecast";
function stationName(id) {
  const known = stationNames[id];
  return known ? nameOf(known, "name") : id;
}
// an area's name (the API gives the names); a station in no area is an area of its own
function areaName(a) {
  const area = (a.areas || []).find((x) => x.id === a.area_id);
  if (area && (area.name_ja !== area.id || area.name_en !== area.id)) return nameOf(area, "name");
  if (a.area_id === a.station_id) return nameOf(a, "station_name") || a.area_id;
  return stationNames[a.area_id] ? stationName(a.area_id) : a.area_id;
}
function where(a) {
  if (isArea(a)) return esc(areaName(a));
  return `${esc(nameOf(a, "river"))} ${esc(nameOf(a, "station_name"))}`;
}
function levelWhat(level) {
  return t("levelWhat", { name: t("levels")[level], level });
}
// the open proposal in words: "引き上げ 警戒レベル4へ · 根拠: 観測"
function proposalText(a) {
  if (!a.proposal) return "";
  const kind = t("proposals")[a.proposal] || a.proposal;
  const target = a.pending_level ? t("toLevel", { level: a.pending_level }) : t("toLift");
  const reason = a.proposal_reason ? ` · ${t("basis")}: ${t("reasons")[a.proposal_reason] || a.proposal_reason}` : "";
  return `${t("proposal")}: ${kind} ${target}${reason}`;
}
function areaMeaning(a) {
  const area = areaName(a);
  const issued = a.state === "active" ? a.alert_level : null;
  const to = a.pending_level;
  if (a.proposal === "raise" || !issued) {
    return issued ? t("escalates", { from: issued, what: levelWhat(to), areas: area }) : t("sends", { what: levelWhat(to), areas: area });
  }
  if (a.proposal === "lower") return t("lowers", { from: issued, what: levelWhat(to), area });
  if (a.proposal === "lift") return t("lifts", { from: issued, area });
  return to ? t("verifiesLower", { from: issued, to, area }) : t("verifiesLift", { from: issued, area });
}
function meaning(a) {
  if (!isPublicKind(a)) return [t("staffOnly")];
  let text;
  if (isArea(a)) {
    text = areaMeaning(a);
  } else {
    const what = levelWhat(a.awaiting_level);
    const areas = a.areas.length ? a.areas.map((x) => nameOf(x, "name")).join(t("listSeparator")) : t("noAreas");
    text = a.state === "active" && a.alert_level ? t("escalates", { from: a.alert_level, what, areas }) : t("sends", { what, areas });
  }
  if (a.status === "Exercise") return [t("exerciseNote"), `${t("ifReal")} ${text}`];
  if (a.status === "Test") return [t("testNote"), `${t("ifReal")} ${text}`];
  return [text];
}
function meaningHtml(a) {
  const [main, real] = meaning(a);
  return `<p class="meaning">${esc(main)}</p>${real ? `<p class="if-real">${esc(real)}</p>` : ""}`;
}
function figures(a) {
  const parts = [];
  if (a.details && typeof a.details.level_m === "number") parts.push(`${t("waterLevel")} ${a.details.level_m.toFixed(2)} m`);
  if (a.stale) parts.push(`<span class="warn">⚠ ${esc(t("stale"))}</span>`);
  if (a.details && a.details.lower_at) parts.push(`<span class="hold">↘ ${esc(t("lowerAt"))} ${esc(clock(a.details.lower_at))}</span>`);
  return parts.join(" · ");
}
// the approvals that count for what awaits: an area's, those given for this proposal revision
function counted(a, p) {
  return isArea(a) ? p.revision === a.revision && p.level === a.awaiting_level : p.level >= a.awaiting_level;
}
function approvalLine(a) {
  const got = a.approvals_total - a.approvals_needed;
  const names = a.approvals.filter((p) => counted(a, p)).map((p) => esc(p.display_name)).join(", ");
  let line = `<strong>${esc(t("approvals", { got, total: a.approvals_total }))}</strong>${names ? ` (${names})` : ""}`;
  if (a.approvals_needed > 0) line += ` — ${esc(t(a.approvals_needed > 1 ? "needMore" : "needMoreOne", { n: a.approvals_needed, role: t("roles")[a.role_needed] }))}`;
  if (!a.can.approve) {
    const mine = a.approvals.some((p) => p.mine && counted(a, p));
    line += `<br><span class="why">${esc(mine ? t("alreadyYou") : t("needRole", { role: t("roles")[a.role_needed] }))}</span>`;
  }
  return line;
}
function button(action, a, label, cls = "") {
  return `<button type="button" class="${cls}" data-action="${action}" data-id="${a.id}">${esc(label)}</button>`;
}
function auditBlock(a) {
  const open = openAudits.has(a.id) ? " open" : "";
  return `<details class="audit" data-id="${a.id}"${open}><summary>${esc(t("audit"))}</summary>
    <ol class="trail" id="trail-${a.id}"><li>…</li></ol></details>`;
}
function heading(a, level) {
  if (isArea(a)) return areaHeading(a);
  return `<h3 id="alert-${a.id}-title">${drillBadge(a)} ${levelBadge(level)}
    <span class="where">${where(a)}</span></h3>`;
}
// an area's card: titled by the area, with the level issued there (not the one proposed)
function issuedBadge(a) {
  const level = a.state === "pending" ? null : a.alert_level;
  const badge = level ? levelBadge(level) : `<span class="badge s-none">${esc(t("notIssued"))}</span>`;
  return `<span class="issued"><span class="issued-label">${esc(t("issuedLevel"))}:</span> ${badge}</span>`;
}
function areaHeading(a) {
  return `<h3 id="alert-${a.id}-title">${drillBadge(a)} <span class="where">${where(a)}</span>
    ${issuedBadge(a)}</h3>`;
}
function proposalBlock(a) {
  if (!isArea(a) || !a.proposal) return "";
  const badge = a.pending_level ? ` ${levelBadge(a.pending_level)}` : "";
  return `<p class="proposal"><span aria-hidden="true" class="icon">➜</span> <strong>${esc(proposalText(a))}</strong>${badge}</p>`;
}
function evidenceItem(e) {
  const parts = [`<span class="station">${esc(stationName(e.station))}</span>`,
    `<span class="basis">${esc(t("reasons")[e.basis] || e.basis)}</span>`];
  if (e.level) parts.push(esc(t("evidenceLevel", { level: e.level })));
  if (typeof e.level_m === "number") parts.push(esc(`${t("waterLevel")} ${e.level_m.toFixed(2)} m`));
  if (typeof e.threshold_m === "number") parts.push(esc(`${t("threshold")} ${e.threshold_m.toFixed(2)} m`));
  if (e.eta) parts.push(`${esc(t("eta"))} <time datetime="${esc(e.eta)}">${esc(clock(e.eta))}</time>`);
  const counts = e.counts === false ? ` <em class="not-counted">(${esc(t("notCounted"))})</em>` : "";
  return `<li class="${e.counts === false ? "ignored" : ""}">${parts.join(" · ")}${counts}${trendLine(e.station)}</li>`;
}
// each station's last three hours as a small line beside its evidence, with the
// direction in words (never the picture alone); fetched at most once a minute
const trends = new Map(); // station id → { at, points: [[t, level]] }
function trendLine(station) {
  const trend = trends.get(station);
  if (!trend || trend.points.length < 2) return "";
  const xs = trend.points.map((p) => p[0]);
  const ys = trend.points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const w = 96, h = 24, dx = (x1 - x0) || 1, dy = (y1 - y0) || 1;
  const path = trend.points.map(([x, y]) => `${(((x - x0) / dx) * w).toFixed(1)},${(h - ((y - y0) / dy) * h).toFixed(1)}`).join(" ");
  const change = ys[ys.length - 1] - ys[0];
  const word = change > 0.05 ? t("rising") : change < -0.05 ? t("falling") : t("steady");
  const arrow = change > 0.05 ? "↑" : change < -0.05 ? "↓" : "→";
  const label = `${t("trend")}: ${word} (${ys[0].toFixed(2)} → ${ys[ys.length - 1].toFixed(2)} m)`;
  return ` <span class="trend" title="${esc(label)}"><svg viewBox="0 -1 ${w} ${h + 2}" width="${w}" height="${h}" aria-hidden="true">
    <polyline points="${path}" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>
    <span class="trend-word">${esc(arrow)} ${esc(label)}</span></span>`;
}
async function loadTrends(stations) {
  const now = Date.now();
  const stale = [...new Set(stations)].filter((s) => !trends.has(s) || now - trends.get(s).at > 60_000);
  if (!stale.length) return;
  await Promise.all(stale.map(async (station) => {
    trends.set(station, { at: now, points: trends.get(station)?.points || [] });
    try {
      const response = await fetch(`/api/stations/${encodeURIComponent(station)}/readings?hours=3`, { credentials: "same-origin" });
      if (!response.ok) return;
      const rows = await response.json();
      trends.set(station, { at: now, points: rows.map((r) => [Date.parse(r.time), r.level_m]) });
    } catch (_) { /* the card works without its line */ }
  }));
  render();
}
function evidenceBlock(a) {
  const items = isArea(a) && a.details && Array.isArray(a.details.evidence) ? a.details.evidence : [];
  if (!items.length) return "";
  return `<div class="evidence"><p class="evidence-title">${esc(t("evidence"))}</p>
    <ul>${items.map(evidenceItem).join("")}</ul></div>`;
}
function conflictBlock(a) {
  if (!conflicts.has(a.id)) return "";
  return `<div class="conflict" role="alert" tabindex="-1" id="conflict-${a.id}"><p><span aria-hidden="true">⚠</span>
    <strong>${esc(t("conflict"))}</strong></p><p class="server">${esc(conflicts.get(a.id))}</p>
    <button type="button" data-action="dismiss" data-id="${a.id}">${esc(t("dismiss"))}</button></div>`;
}

function pendingCard(a) {
    const approveLabel = a.status === "Actual" ? t("approve") : t("approveExercise");
  const buttons = [
    a.can.approve ? button("approve", a, approveLabel, "primary") : "",
    a.can.reject ? button("reject", a, t("reject")) : "",
  ].join(" ");
  return `<li class="card pending ${a.status !== "Actual" ? "is-drill" : ""}" id="alert-${a.id}" tabindex="-1" aria-labelledby="alert-${a.id}-title" data-id="${a.id}">
    ${heading(a, a.awaiting_level)}
    ${conflictBlock(a)}
    ${proposalBlock(a)}
    ${meaningHtml(a)}
    <p class="facts">${figures(a)}${figures(a) ? " · " : ""}${esc(waitingText(a.opened_at))}
      ${esc(t("openedAt", { time: clock(a.opened_at) }))}</p>
    <p class="approvals">${approvalLine(a)}</p>
    <div class="actions">${buttons}</div>
    ${evidenceBlock(a)}
    ${auditBlock(a)}</li>`;
}
function activeCard(a) {
  const ack = a.acknowledged_by ? `<span class="ack">✓ ${esc(t("acknowledgedBy", { n: a.acknowledged_by }))}</span>` : "";
  const buttons = [
    a.can.acknowledge ? button("acknowledge", a, t("acknowledge"), "primary") : "",
    a.can.cancel ? button("cancel", a, t("cancel")) : "",
  ].join(" ");
  const kind = a.kind === "stage" || isArea(a) ? "" : `${t(a.kind)} · `;
  return `<li class="card active-alert ${a.status !== "Actual" ? "is-drill" : ""}" id="alert-${a.id}" tabindex="-1" aria-labelledby="alert-${a.id}-title" data-id="${a.id}">
    ${heading(a, a.alert_level)}
    ${conflictBlock(a)}
    ${proposalBlock(a)}
    <p class="facts">${esc(kind)}${esc(t("states")[a.state])} ${esc(sinceText(a.opened_at))}
      (${esc(clock(a.opened_at))}) ${figures(a) ? " · " + figures(a) : ""} ${ack}</p>
    ${isPublicKind(a) ? "" : `<p class="meaning">${esc(t("staffOnly"))}</p>`}
    <div class="actions">${buttons}</div>
    ${evidenceBlock(a)}
    ${auditBlock(a)}</li>`;
}
function historyCard(a) {
  return `<li class="card" id="alert-${a.id}" tabindex="-1" aria-labelledby="alert-${a.id}-title" data-id="${a.id}">
    ${heading(a, a.alert_level)}
    ${conflictBlock(a)}
    <p class="facts"><span class="state">${esc(isNotice(a) && a.state === "resolved" ? t("noticeEnded") : t("states")[a.state])}</span> · ${esc(clock(a.opened_at))}
      – ${a.ended_at ? esc(clock(a.ended_at)) : ""}</p>
    ${auditBlock(a)}</li>`;
}

// --- rendering ----------------------------------------------------------------------

function renderStatic() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = t("lang");
  document.getElementById("lang").setAttribute("lang", lang === "ja" ? "en" : "ja");
  document.getElementById("my-role").textContent = t("roles")[body.dataset.role];
  const soundButton = document.getElementById("sound");
  soundButton.textContent = sound ? t("soundOn") : t("soundOff");
  soundButton.setAttribute("aria-pressed", String(sound));
}

function render() {
  const pending = alerts.filter((a) => a.awaiting_level != null && a.approvals_needed > 0 && ["pending", "active"].includes(a.state));
  const pendingIds = new Set(pending.map((a) => a.id));
  const active = alerts.filter((a) => a.state === "active" && !pendingIds.has(a.id));
  const history = alerts.filter((a) => !["pending", "active"].includes(a.state));
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset : {};
  const refocus = focused.action ? `[data-action="${focused.action}"][data-id="${focused.id}"]` : null;
  // a focused card (opened from the map's link) keeps the focus across re-renders
  const focusedCard = document.activeElement?.classList?.contains("card") ? document.activeElement.id : null;

  document.getElementById("pending-list").innerHTML =
    pending.map(pendingCard).join("") || `<li class="empty">${esc(t("pendingNone"))}</li>`;
  const prompt = document.getElementById("sound-prompt");
  prompt.hidden = sound || !pending.length;
  prompt.querySelector(".text").textContent = t("soundPrompt");
  prompt.querySelector("button").textContent = t("soundEnable");
  document.getElementById("active-list").innerHTML =
    active.map(activeCard).join("") || `<li class="empty">${esc(t("none"))}</li>`;
  document.getElementById("history-list").innerHTML =
    history.map(historyCard).join("") || `<li class="empty">${esc(t("none"))}</li>`;
  document.getElementById("pending-count").textContent = `(${pending.length})`;
  document.getElementById("active-count").textContent = `(${active.length})`;
  document.getElementById("pending").classList.toggle("attention", pending.length > 0);
  const base = `${t("title")} — 川守 Kawamori`;
  document.title = pending.length ? `(${pending.length}) ${t("pending")} — ${base}` : base;
  if (refocus) document.querySelector(refocus)?.focus();
  if (focusedCard) document.getElementById(focusedCard)?.focus({ preventScroll: true });
  showTarget();
  document.querySelectorAll("details.audit[open]").forEach((d) => loadAudit(Number(d.dataset.id)));

  const fresh = pending.filter((a) => !seenPending.has(a.id));
  pending.forEach((a) => seenPending.add(a.id));
  if (fresh.length && !firstLoad) {
    notify(t("newPending", { s: fresh.map(pendingSummary).join(", ") }));
  }
  firstLoad = false;
  const open = alerts.filter((a) => isArea(a) && ["pending", "active"].includes(a.state));
  loadTrends(open.flatMap((a) => (a.details?.evidence || []).map((e) => e.station)));
}

// /alerts#alert-<id> (the map links a proposal to its card): once the card is there,
// bring it into view, focus it and mark it, after each re-render too
let target = null;
function showTarget(fromHash = false) {
  const match = /^#alert-(\d+)$/.exec(location.hash);
  if (fromHash) target = match ? { id: match[1], focused: false } : null;
  if (!target) return;
  const card = document.getElementById(`alert-${target.id}`);
  if (!card) return;
  card.classList.add("targeted");
  if (!target.focused) {
    target.focused = true;
    card.scrollIntoView({ block: "center" });
    card.focus({ preventScroll: true });
  }
}
showTarget(true);
window.addEventListener("hashchange", () => { showTarget(true); render(); });

function pendingSummary(a) {
  if (isArea(a)) return `${areaName(a)}: ${proposalText(a)}`;
  return `${t("level")}${a.awaiting_level} ${nameOf(a, "station_name")}`;
}

function notify(message) {
  document.getElementById("announce").textContent = message;
  const section = document.getElementById("pending");
  section.classList.remove("flash");
  void section.offsetWidth; // restart the animation
  section.classList.add("flash");
  if (sound) beep();
}

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    [0, 0.35].forEach((offset) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.3);
    });
  } catch (_) { /* no audio device: the visual cue remains */ }
}

function reasonOf(e) {
  return (lang === "ja" ? e.reason_ja : e.reason_en) || e.reason;
}

async function loadAudit(id) {
  const response = await fetch(`/api/alerts/${id}`, { credentials: "same-origin" });
  if (!response.ok) return;
  const detail = await response.json();
  const list = document.getElementById(`trail-${id}`);
  if (!list) return;
  list.innerHTML = detail.audit.map((e) => {
    const who = e.actor ? esc(e.actor) : `<em>${esc(t("system"))}</em>`;
    const what = t("actions")[e.action] || e.action;
    const proposal = e.details && e.details.proposal ? ` ${t("proposals")[e.details.proposal] || e.details.proposal}` : "";
    const level = e.details && e.details.level ? ` (${t("level")}${e.details.level})` : "";
    return `<li><time datetime="${esc(e.at)}">${esc(clock(e.at))}</time> <span class="who">${who}</span>:
      <strong>${esc(what)}</strong>${esc(proposal)}${esc(level)}${reasonOf(e) ? ` — ${esc(reasonOf(e))}` : ""}</li>`;
  }).join("");
}

// --- data -----------------------------------------------------------------------------

const status = document.getElementById("live");
let live = false;
function showStatus(ok) {
  status.dataset.state = live ? "live" : "polling";
  const when = `${t("updated")} ${new Date().toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB")}`;
  status.textContent = ok ? `${live ? "● " + t("live") : "○ " + t("reconnecting")} · ${when}` : `⚠ ${t("failed")}`;
  status.classList.toggle("error", !ok);
}

async function loadStationNames() {
  try {
    const response = await fetch("/api/stations", { credentials: "same-origin" });
    if (!response.ok) return;
    stationNames = Object.fromEntries((await response.json()).map((s) => [s.id, s]));
    render();
  } catch (_) { /* ids are shown instead */ }
}

async function refresh() {
  try {
    const response = await fetch("/api/alerts", { credentials: "same-origin" });
    if (response.status === 401) return signedOut();
    if (!response.ok) throw new Error(response.status);
    alerts = await response.json();
    render();
    showStatus(true);
  } catch (_) {
    showStatus(false);
  }
}
let pendingRefresh = null;
function soon() {
  clearTimeout(pendingRefresh);
  pendingRefresh = setTimeout(refresh, 200);
}
// the person signing out: the sign-out answer takes them to the sign-in page with its
// "you have signed out" note; the stream and polls that notice the ended session first
// must not send them there without it
let leaving = false;
document.querySelector("form[action='/staff/logout']")?.addEventListener("submit", () => { leaving = true; });
function signedOut() {
  if (leaving) return;
  location.href = `/staff/login?next=/alerts&lang=${lang}`;
}

function connect() {
  if (!window.EventSource) return;
  const source = new EventSource("/api/alerts/events");
  source.addEventListener("hello", () => { live = true; soon(); });
  source.addEventListener("resync", () => { live = true; soon(); });
  source.addEventListener("alert", (event) => {
    live = true;
    const id = Number(JSON.parse(event.data).id);
    const known = alerts.find((a) => a.id === id);
    if (known && known.awaiting_level != null && known.approvals_needed > 0) notify(t("newPending", { s: pendingSummary(known) }));
    soon();
  });
  source.addEventListener("signed-out", () => { source.close(); signedOut(); });
  source.onerror = () => { live = false; showStatus(true); };
}
// the fallback: every 10 s while the live stream is down, every 60 s while it is up
setInterval(() => { if (!live) refresh(); }, 10000);
setInterval(() => { if (live) refresh(); }, 60000);

// --- actions --------------------------------------------------------------------------

const dialog = document.getElementById("confirm");
const reasonBox = document.getElementById("confirm-reason");
const errorBox = document.getElementById("confirm-error");
let pendingAction = null;

function ask(action, a) {
  if (action === "dismiss") {
    conflicts.delete(a.id);
    render();
    return;
  }
  conflicts.delete(a.id);
  // approve and decline carry the proposal revision the person sees: if it has changed since, the server refuses (409)
  pendingAction = { action, id: a.id, revision: a.revision };
  const required = action === "reject" || action === "cancel";
  const title = { approve: "confirmApprove", reject: "confirmReject", cancel: "confirmCancel", acknowledge: "confirmAcknowledge" }[action];
  const text = {
    approve: () => meaning(a).join(" "),
    reject: () => isArea(a) ? t("declineNote") : t("rejectNote"),
    cancel: () => t(a.public && a.state === "active" ? "cancelNoteSent" : "cancelNoteUnsent"),
    acknowledge: () => t("ackNote"),
  }[action]();
  document.getElementById("confirm-title").innerHTML = `${drillBadge(a)} ${esc(t(title))}`;
  const deciding = action === "approve" || action === "reject";
  document.getElementById("confirm-text").innerHTML = isArea(a)
    ? `<strong>${where(a)}</strong> ${issuedBadge(a)}${deciding && a.proposal ? `<br><strong>${esc(proposalText(a))}</strong>` : ""}<br>${esc(text)}`
    : `${levelBadge(deciding ? a.awaiting_level : a.alert_level)} <strong>${where(a)}</strong><br>${esc(text)}`;
  document.getElementById("confirm-reason-label").textContent = required ? t("reasonRequired") : t("reasonOptional");
  reasonBox.required = required;
  reasonBox.value = "";
  reasonBox.hidden = action === "acknowledge";
  document.getElementById("confirm-reason-label").hidden = action === "acknowledge";
  errorBox.hidden = true;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = { approve: a.status === "Actual" ? t("approve") : t("approveExercise"), reject: t("reject"), cancel: t("cancel"), acknowledge: t("acknowledge") }[action];
  ok.className = action === "approve" || action === "acknowledge" ? "primary" : "danger";
  ok.disabled = false;
  dialog.showModal();
  (action === "acknowledge" ? ok : reasonBox).focus();
}

document.getElementById("confirm-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const { action, id, revision } = pendingAction;
  const reason = reasonBox.value.trim();
  if (reasonBox.required && !reason) {
    errorBox.textContent = t("needReason");
    errorBox.hidden = false;
    reasonBox.focus();
    return;
  }
  const ok = document.getElementById("confirm-ok");
  ok.disabled = true;
  try {
    const response = await fetch(`/api/alerts/${id}/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(action === "approve" || action === "reject" ? { reason, revision } : { reason }),
    });
    if (response.status === 401) return signedOut();
    if (response.status === 409) {
      // what the person saw has changed: say so with the server's words, and show them what it is now
      const detail = (await response.json().catch(() => ({}))).detail || "";
      conflicts.set(id, detail);
      dialog.close();
      document.getElementById("announce").textContent = `${t("conflict")} ${detail}`;
      await refresh();
      document.getElementById(`conflict-${id}`)?.focus();
      return;
    }
    if (!response.ok) {
      const detail = (await response.json().catch(() => ({}))).detail || "";
      errorBox.textContent = `${t("errors")[response.status] || response.status} ${detail}`;
      errorBox.hidden = false;
      ok.disabled = false;
      refresh();
      return;
    }
    dialog.close();
    document.getElementById("announce").textContent = t("done");
    openAudits.add(id);
    await refresh();
    document.querySelector(`[data-id="${id}"] h3`)?.closest("li")?.querySelector("summary")?.focus();
  } catch (_) {
    errorBox.textContent = t("failed");
    errorBox.hidden = false;
    ok.disabled = false;
  }
});
document.getElementById("confirm-cancel").addEventListener("click", () => dialog.close());

document.querySelector("main").addEventListener("click", (event) => {
  const target = event.target.closest("button[data-action]");
  if (!target) return;
  const a = alerts.find((x) => x.id === Number(target.dataset.id));
  if (a) ask(target.dataset.action, a);
});
document.querySelector("main").addEventListener("toggle", (event) => {
  const details = event.target;
  if (!details.matches || !details.matches("details.audit")) return;
  const id = Number(details.dataset.id);
  if (details.open) { openAudits.add(id); loadAudit(id); } else openAudits.delete(id);
}, true);

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "ja" ? "en" : "ja";
  localStorage.setItem("kawamori-lang", lang);
  document.cookie = `kawamori_lang=${lang}; path=/; SameSite=Lax; max-age=31536000`;
  document.querySelector('form.inline input[name="lang"]').value = lang;
  renderStatic();
  render();
  showStatus(true);
});
function toggleSound(on) {
  sound = on;
  localStorage.setItem("kawamori-sound", sound ? "on" : "off");
  renderStatic();
  render();
  if (sound) beep(); // also unlocks audio, which browsers allow only after a click
}
document.getElementById("sound").addEventListener("click", () => toggleSound(!sound));
document.querySelector("#sound-prompt button").addEventListener("click", () => toggleSound(true));

renderStatic();
refresh().then(loadStationNames);
connect();
