// Kawamori live map: stations coloured *and* labelled by stage, shelters, alert areas,
// and a 24-hour hydrograph of the chosen station. Refreshes every 10 seconds.
"use strict";

const TEXT = {
  ja: {
    subtitle: "河川水位モニタ", stations: "観測所（観測）", legend: "凡例", updated: "更新",
    lang: "English", normal: "平常", stale: "データ途絶", level: "警戒レベル",
    noData: "データなし", shelter: "避難所", capacity: "収容", unknown: "不明", open: "開設", closed: "閉鎖",
    preparing: "開設準備中", hydrograph: "過去24時間の水位", failed: "更新できません",
    watch: "観測中", console: "警報コンソール（職員）",
    areas: "発令地区（発令・提案）", observed: "観測", issued: "発令", proposed: "提案",
    stationsNote: "観測所の印は水位の観測です。発令ではありません。発令は地区の色で示します。",
    issuedNone: "発令なし", waiting: "承認待ち", drill: "訓練", test: "テスト",
    equivalent: (n) => `警戒レベル${n}相当`, short: (n) => `警${n}`,
    to: (n) => n === 0 ? "解除" : `レベル${n}へ`,
    proposals: { raise: "引き上げ", lower: "引き下げ", lift: "解除", verify: "確認（根拠の喪失）" },
    levels: { 2: "警戒レベル2", 3: "警戒レベル3 高齢者等避難", 4: "警戒レベル4 避難指示", 5: "警戒レベル5 緊急安全確保" },
    trends: { rising: "上昇", falling: "下降", steady: "横ばい" },
    signIn: "承認待ちの提案と訓練は、職員としてサインインすると表示されます。", signInLink: "サインイン",
    staffView: "提案と訓練を含みます（職員のみ）。住民に届いているのは「発令」だけです。",
    noAreas: "発令地区はありません",
    legendIssued: "発令（地区の色と文字）: 住民に伝えている警戒レベル",
    legendProposed: "提案（破線の枠と「提案」）: 職員の判断待ち。住民にはまだ届いていません。",
    legendObserved: "観測（観測所の印）: 確認済みの水位の段階と傾向。発令ではありません。",
    legendDrill: "訓練: 住民には届きません。地区の色は変わりません。",
  },
  en: {
    subtitle: "River level monitor", stations: "Stations (observed)", legend: "Legend", updated: "Updated",
    lang: "日本語", normal: "Normal", stale: "No recent data", level: "Alert level",
    noData: "No data", shelter: "Shelter", capacity: "Capacity", unknown: "unknown", open: "Open", closed: "Closed",
    preparing: "Preparing", hydrograph: "Water level, last 24 hours", failed: "Cannot update",
    watch: "Watching", console: "Alert console (staff)",
    areas: "Areas (issued, proposed)", observed: "Observed", issued: "Issued", proposed: "Proposed",
    stationsNote: "A station marker is the observed water level, not an issued level. Issued levels are the areas' shading.",
    issuedNone: "Nothing issued", waiting: "awaiting approval", drill: "Drill", test: "Test",
    equivalent: (n) => `level ${n} equivalent`, short: (n) => `L${n}`,
    to: (n) => n === 0 ? "lift" : `level ${n}`,
    proposals: { raise: "raise", lower: "lower", lift: "lift", verify: "verify (evidence lost)" },
    levels: { 2: "Alert level 2", 3: "Alert level 3: older people evacuate", 4: "Alert level 4: evacuate", 5: "Alert level 5: emergency" },
    trends: { rising: "rising", falling: "falling", steady: "steady" },
    signIn: "Proposals awaiting approval and drills are shown to signed-in staff.", signInLink: "Sign in",
    staffView: "Includes proposals and drills (staff only). Residents have been told only what is issued.",
    noAreas: "No alert areas",
    legendIssued: "Issued (area colour and text): the alert level residents were told",
    legendProposed: "Proposed (dashed outline and “proposed”): awaiting a staff decision; residents have not been told.",
    legendObserved: "Observed (station markers): the confirmed stage and trend of the water; not an issued level.",
    legendDrill: "Drill: never sent to residents; does not shade the area.",
  },
};
let lang = localStorage.getItem("kawamori-lang") || document.documentElement.lang || "ja";
const t = (key) => TEXT[lang][key] ?? key;
const name = (obj, field) => obj[`${field}_${lang}`] || obj[`${field}_ja`];
const ARROWS = { rising: "↑", falling: "↓", steady: "→" };
const FILL = { 2: "#f2e700", 3: "#ff2800", 4: "#aa00aa", 5: "#0c000c" };

function stageClass(p) {
  if (p.stale) return "s-stale";
  if (p.alert_level) return `s-${p.alert_level}`;
  return p.stage_key ? "s-watch" : "s-none";
}
function trendText(p) {
  if (!p.trend) return "";
  const rate = p.rate_m_h == null ? "" : ` ${p.rate_m_h > 0 ? "+" : ""}${p.rate_m_h.toFixed(2)} m/h`;
  return `${ARROWS[p.trend]} ${t("trends")[p.trend]}${rate}`;
}
// the station's observation in words: never "level N" as if issued, but the stage and
// the level it corresponds to (相当)
function stageLabel(p) {
  if (p.stale) return `${t("observed")}: ${t("stale")}`;
  const stage = p.stage ? p.stage[`name_${lang}`] : t("normal");
  const equivalent = p.alert_level ? (lang === "ja" ? `（${t("equivalent")(p.alert_level)}）` : ` (${t("equivalent")(p.alert_level)})`) : "";
  const trend = trendText(p);
  return `${t("observed")}: ${stage}${equivalent}${trend ? " · " + trend : ""}`;
}
function badgeText(p) {
  if (p.stale) return "?";
  const arrow = p.trend ? `${ARROWS[p.trend]} ` : "";
  return p.level_m == null ? "–" : `${arrow}${p.level_m.toFixed(2)}m`;
}
const drillWord = (status) => status === "Test" ? t("test") : t("drill");
const fmtTime = (iso) => iso ? new Date(iso).toLocaleString(lang === "ja" ? "ja-JP" : "en-GB",
  { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" }) : t("noData");
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

let map = null, stationLayer = null, shelterLayer = null, areaLayer = null, selected = null;
if (window.L) {
  map = L.map("map", { zoomControl: true }).setView([38.78, 139.89], 12);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 18, attribution: "© OpenStreetMap contributors",
  }).addTo(map);
  areaLayer = L.layerGroup().addTo(map);
  shelterLayer = L.layerGroup().addTo(map);
  stationLayer = L.layerGroup().addTo(map);
}

function swatch(cls, text, style = "") {
  return `<span class="badge ${cls}" aria-hidden="true"${style ? ` style="${style}"` : ""}>${esc(text)}</span>`;
}
function renderStatic() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = t("lang");
  const item = (badge, label) => `<li>${badge} ${esc(label)}</li>`;
  const issued = [2, 3, 4, 5].map((n) => item(swatch(`area-swatch s-${n}`, `${t("issued")} ${t("short")(n)}`), t("levels")[n]));
  issued.push(item(swatch("area-swatch none", t("issuedNone")), t("issuedNone")));
  const observed = [
    item(swatch("s-none", "–"), t("normal")), item(swatch("s-watch", "–"), t("watch")),
    ...[2, 3, 4, 5].map((n) => item(swatch(`s-${n}`, `${ARROWS.rising} m`), `${t("observed")}: ${t("equivalent")(n)}`)),
    ...Object.keys(ARROWS).map((k) => item(swatch("s-none", ARROWS[k]), t("trends")[k])),
    item(swatch("s-stale", "?"), t("stale")), item(swatch("shelter", "避"), t("shelter")),
  ];
  document.getElementById("legend").innerHTML = `
    <h3>${esc(t("issued"))}</h3><p class="sub">${esc(t("legendIssued"))}</p><ul>${issued.join("")}</ul>
    <h3>${esc(t("proposed"))}</h3><p class="sub">${esc(t("legendProposed"))}</p>
    <ul><li>${swatch("area-swatch proposed", `${t("proposed")}: ${t("to")(4)}`)} ${esc(t("waiting"))}</li>
        <li>${swatch("area-swatch drill", t("drill"))} ${esc(t("legendDrill"))}</li></ul>
    <h3>${esc(t("observed"))}</h3><p class="sub">${esc(t("legendObserved"))}</p><ul>${observed.join("")}</ul>`;
}

function renderStations(collection) {
  const features = [...collection.features].sort((a, b) =>
    (b.properties.alert_level || 0) - (a.properties.alert_level || 0) || a.id.localeCompare(b.id));
  const list = document.getElementById("stations");
  list.innerHTML = features.map((f) => {
    const p = f.properties;
    const drill = p.alert_status && p.alert_status !== "Actual" ? ` · ${drillWord(p.alert_status)}` : "";
    return `<li tabindex="0" data-id="${esc(f.id)}" aria-label="${esc(name(p, "name"))}: ${esc(stageLabel(p))}${esc(drill)}">
      <span class="badge ${stageClass(p)}">${esc(badgeText(p))}</span>
      <span><span class="name">${esc(name(p, "name"))}</span> <span class="sub">${esc(name(p, "river"))}${esc(drill)}</span><br>
      <span class="sub observed">${esc(stageLabel(p))} · ${esc(fmtTime(p.latest_time))}</span></span></li>`;
  }).join("");
  list.querySelectorAll("li").forEach((li) => {
    const open = () => select(features.find((f) => f.id === li.dataset.id));
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
  });
  if (!stationLayer) return;
  stationLayer.clearLayers();
  // rivers drawn from each station to the next one downstream: context even without map tiles
  const byId = Object.fromEntries(features.map((f) => [f.id, f]));
  for (const f of features) {
    const down = byId[f.properties.downstream_id];
    if (!down) continue;
    const line = [f, down].map((g) => [g.geometry.coordinates[1], g.geometry.coordinates[0]]);
    L.polyline(line, { color: "#1f78b4", weight: 5, opacity: 0.7 })
      .bindTooltip(esc(name(f.properties, "river"))).addTo(stationLayer);
  }
  for (const f of features) {
    const p = f.properties;
    const [lon, lat] = f.geometry.coordinates;
    const stage = !p.stale && p.stage ? ` · ${p.stage[`name_${lang}`]}` : "";
    const drill = p.alert_status && p.alert_status !== "Actual" ? ` · ${drillWord(p.alert_status)}` : "";
    const icon = L.divIcon({ className: "marker station-marker", iconSize: null,
      html: `<div class="pin" data-station="${esc(f.id)}"><span class="badge ${stageClass(p)}">${esc(badgeText(p))}</span>
             <span class="label">${esc(name(p, "name"))}${esc(stage)}${esc(drill)}</span></div>` });
    L.marker([lat, lon], { icon, title: `${name(p, "name")} — ${stageLabel(p)}${drill}`, keyboard: true })
      .on("click", () => select(f)).addTo(stationLayer);
  }
}

function renderShelters(collection) {
  // crowding (避難所のひっ迫度) by colour *and* icon *and* words; closed shelters greyed and labelled
  if (!shelterLayer) return;
  shelterLayer.clearLayers();
  for (const f of collection.features) {
    const p = f.properties;
    const [lon, lat] = f.geometry.coordinates;
    const open = p.status === "open";
    const crowd = lang === "ja" ? p.label_ja : p.label_en;
    const words = open ? crowd : t(p.status);
    const style = (open ? `background:${p.colour};color:${p.text_colour}` : "background:#fff;color:#444;border-style:dashed")
      + ";border-radius:.35rem";
    const badge = open ? `避${p.icon}` : "避";
    const icon = L.divIcon({ className: "marker", iconSize: null,
      html: `<div class="pin"><span class="badge shelter" style="${style}" aria-hidden="true">${esc(badge)}</span>
             <span class="label">${esc(words)}</span></div>` });
    const over = p.over_capacity ? (lang === "ja" ? "（定員超過）" : " (over capacity)") : "";
    L.marker([lat, lon], { icon, title: `${t("shelter")}: ${name(p, "name")} — ${words}` })
      .bindPopup(`<strong>${esc(name(p, "name"))}</strong><br>${esc(t(p.status))} · ${esc(p.icon)} ${esc(crowd)}${esc(over)}`
        + `<br>${t("capacity")} ${capacityText(p)}`)
      .addTo(shelterLayer);
  }
}

// head count against capacity; a capacity the registry could not read is "unknown" (with
// the municipality's own wording), never "/0"
function capacityText(p) {
  const count = p.occupancy ?? "–";
  if (p.capacity) return `${count}/${p.capacity}`;
  return `${count}/${t("unknown")}${p.capacity_text ? ` (${esc(p.capacity_text)})` : ""}`;
}

// what was issued, what is proposed and what is a drill, in words (never colour alone)
function issuedText(a) {
  return a.issued ? `${t("issued")}: ${t("levels")[a.issued.level] || `${t("level")} ${a.issued.level}`}` : t("issuedNone");
}
function proposalText(p) {
  const words = t("proposals")[p.proposal] || p.proposal;
  return `${t("proposed")}: ${lang === "ja" ? `${t("to")(p.level)}（${words}）` : `${words} to ${t("to")(p.level)}`}`;
}
const cardLink = (id) => `/alerts#alert-${encodeURIComponent(id)}`;
function proposalLink(p, cls) {
  return `<a class="${cls}" href="${cardLink(p.alert_id)}" data-alert="${esc(p.alert_id)}">${esc(proposalText(p))} · ${esc(t("waiting"))}</a>`;
}
function drillLine(d) {
  const what = d.proposal ? proposalText(d.proposal) : d.level ? `${t("issued")}: ${t("level")} ${d.level}` : "";
  const text = `【${drillWord(d.status)}】${what}`;
  return `<a class="drill-badge" href="${cardLink(d.alert_id)}" data-alert="${esc(d.alert_id)}">${esc(text)}</a>`;
}

function renderAreaList(levels) {
  document.getElementById("areas-note").innerHTML = levels.staff ? esc(t("staffView"))
    : `${esc(t("signIn"))} <a href="/staff/login?next=/&amp;lang=${lang}">${esc(t("signInLink"))}</a>`;
  const list = document.getElementById("areas");
  list.innerHTML = levels.areas.map((a) => {
    const level = a.issued ? a.issued.level : null;
    const badge = level ? swatch(`s-${level}`, `${t("issued")} ${t("short")(level)}`) : swatch("area-swatch none", "–");
    const proposal = a.proposal ? `<br>${proposalLink(a.proposal, "proposal-badge")}` : "";
    const drills = a.drills.map((d) => `<br>${drillLine(d)}`).join("");
    return `<li data-area="${esc(a.id)}">${badge}
      <span><span class="name">${esc(name(a, "name"))}</span><br>
      <span class="sub issued-text">${esc(issuedText(a))}</span>${proposal}${drills}</span></li>`;
  }).join("") || `<li>${esc(t("noAreas"))}</li>`;
}

function renderAreas(collection, levels) {
  renderAreaList(levels);
  if (!areaLayer) return;
  areaLayer.clearLayers();
  const byId = Object.fromEntries(levels.areas.map((a) => [a.id, a]));
  L.geoJSON(collection, {
    style: (f) => {
      const a = byId[f.id] || {};
      const level = a.issued ? a.issued.level : null;
      const style = level
        ? { color: "#222", weight: 2, fillColor: FILL[level], fillOpacity: level === 5 ? 0.45 : 0.35,
            className: `area area-issued area-issued-${level}` }
        : { color: "#0b3d5c", weight: 1.5, fillOpacity: 0.03, className: "area area-none" };
      if (a.proposal) {  // a pending proposal: a heavy dashed outline in the proposed level's colour
        Object.assign(style, { dashArray: "10 6", weight: 4, color: FILL[a.proposal.level] || "#0b3d5c",
                               className: `${style.className} area-proposed` });
      }
      return style;
    },
    onEachFeature: (f, layer) => {
      const a = byId[f.id] || { name_ja: f.properties.name_ja, name_en: f.properties.name_en, drills: [] };
      const lines = [name(a, "name"), issuedText(a)];
      if (a.proposal) lines.push(`${proposalText(a.proposal)} · ${t("waiting")}`);
      for (const d of a.drills || []) lines.push(`【${drillWord(d.status)}】`);
      layer.bindTooltip(lines.map(esc).join("<br>"), { sticky: true });
      if (!a.issued && !a.proposal && !(a.drills || []).length) return;
      // a label at the area's centre: the level in words, the proposal as a link to its card
      const level = a.issued ? a.issued.level : null;
      const badge = level ? swatch(`s-${level}`, `${t("issued")} ${t("short")(level)}`) : "";
      const html = `<div class="area-label" data-area="${esc(f.id)}">${badge}
        <span class="label">${esc(name(a, "name"))}</span>
        ${a.proposal ? proposalLink(a.proposal, "proposal-badge") : ""}
        ${(a.drills || []).map(drillLine).join("")}</div>`;
      L.marker(layer.getBounds().getCenter(), { icon: L.divIcon({ className: "marker", iconSize: null, html }),
                                                interactive: false, keyboard: false }).addTo(areaLayer);
    },
  }).addTo(areaLayer);
}

async function select(feature) {
  if (!feature) return;
  selected = feature.id;
  const p = feature.properties;
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = `${name(p, "name")} — ${t("hydrograph")}`;
  const response = await fetch(`/api/stations/${encodeURIComponent(feature.id)}/readings?hours=24&bucket_s=300`);
  const points = response.ok ? await response.json() : [];
  drawHydrograph(points, p);
}

function drawHydrograph(points, p) {
  const box = document.getElementById("hydrograph");
  box.setAttribute("aria-label", `${t("hydrograph")}: ${name(p, "name")}`);
  if (!points.length) { box.textContent = t("noData"); return; }
  const W = 360, H = 200, L0 = 44, R0 = 8, T0 = 8, B0 = 22;
  const times = points.map((d) => Date.parse(d.time));
  const levels = points.map((d) => d.level_m);
  const stages = p.stages || [];
  const lo = Math.min(...levels, ...stages.map((s) => s.level_m)) - 0.2;
  const hi = Math.max(...levels, ...stages.map((s) => s.level_m)) + 0.2;
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
  const x = (v) => L0 + (v - t0) / (t1 - t0) * (W - L0 - R0);
  const y = (v) => T0 + (hi - v) / (hi - lo) * (H - T0 - B0);
  const path = points.map((d, i) => `${i ? "L" : "M"}${x(times[i]).toFixed(1)},${y(d.level_m).toFixed(1)}`).join("");
  const lines = stages.map((s) => {
    const cls = s.alert_level ? `s-${s.alert_level}` : "s-watch";
    return `<line x1="${L0}" x2="${W - R0}" y1="${y(s.level_m)}" y2="${y(s.level_m)}" class="${cls}"
      stroke="#333" stroke-dasharray="4 3"/><text x="${W - R0 - 2}" y="${y(s.level_m) - 3}" text-anchor="end"
      font-size="11">${esc(s[`name_${lang}`])} ${s.level_m.toFixed(2)} m</text>`;
  }).join("");
  box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg">
    <rect x="${L0}" y="${T0}" width="${W - L0 - R0}" height="${H - T0 - B0}" fill="#f7fbff" stroke="#999"/>
    ${lines}<path d="${path}" fill="none" stroke="#0b3d5c" stroke-width="2.5"/>
    <text x="4" y="${y(hi - 0.2) + 4}" font-size="11">${(hi - 0.2).toFixed(1)} m</text>
    <text x="4" y="${y(lo + 0.2) + 4}" font-size="11">${(lo + 0.2).toFixed(1)} m</text>
    <text x="${L0}" y="${H - 6}" font-size="11">${esc(fmtTime(points[0].time))}</text>
    <text x="${W - R0}" y="${H - 6}" font-size="11" text-anchor="end">${esc(fmtTime(points[points.length - 1].time))}</text>
  </svg>`;
}

let lastStations = null, lastAreas = null;
async function refresh() {
  const status = document.getElementById("updated");
  try {
    const [stations, shelters, areas, levels] = await Promise.all(
      ["stations.geojson", "shelters.geojson", "areas.geojson", "areas/levels"].map((p) =>
        fetch(`/api/${p}`, { credentials: "same-origin" }).then((r) => {
          if (!r.ok) throw new Error(r.status); return r.json(); })));
    lastStations = stations; lastAreas = [areas, levels];
    renderAreas(areas, levels); renderShelters(shelters); renderStations(stations);
    if (map && stations.features.length && !refresh.fitted) {
      map.fitBounds(L.latLngBounds(stations.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])).pad(0.3));
      refresh.fitted = true;
    }
    if (selected) select(stations.features.find((f) => f.id === selected));
    status.textContent = `${t("updated")} ${new Date().toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB")}`;
  } catch (error) {
    status.textContent = `⚠ ${t("failed")} (${error.message})`;
  }
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "ja" ? "en" : "ja";
  localStorage.setItem("kawamori-lang", lang);
  document.cookie = `kawamori_lang=${lang}; path=/; SameSite=Lax; max-age=31536000`;
  renderStatic();
  if (lastStations) renderStations(lastStations);
  if (lastAreas) renderAreas(...lastAreas);
  refresh();
});
renderStatic();
refresh();
setInterval(refresh, 10000);
