// Kawamori live map: stations coloured *and* labelled by stage, shelters, alert areas,
// and a 24-hour hydrograph of the chosen station. Refreshes every 10 seconds.
"use strict";

const TEXT = {
  ja: {
    subtitle: "河川水位モニタ", stations: "観測所", legend: "凡例", updated: "更新",
    lang: "English", normal: "平常", stale: "データ途絶", level: "警戒レベル",
    noData: "データなし", shelter: "避難所", capacity: "収容", open: "開設", closed: "閉鎖",
    preparing: "開設準備中", hydrograph: "過去24時間の水位", failed: "更新できません",
    watch: "観測中", console: "警報コンソール（職員）",
  },
  en: {
    subtitle: "River level monitor", stations: "Stations", legend: "Legend", updated: "Updated",
    lang: "日本語", normal: "Normal", stale: "No recent data", level: "Alert level",
    noData: "No data", shelter: "Shelter", capacity: "Capacity", open: "Open", closed: "Closed",
    preparing: "Preparing", hydrograph: "Water level, last 24 hours", failed: "Cannot update",
    watch: "Watching", console: "Alert console (staff)",
  },
};
let lang = localStorage.getItem("kawamori-lang") || window.KAWAMORI_LANG || "ja";
const t = (key) => TEXT[lang][key] || key;
const name = (obj, field) => obj[`${field}_${lang}`] || obj[`${field}_ja`];

function stageClass(p) {
  if (p.stale) return "s-stale";
  if (p.alert_level) return `s-${p.alert_level}`;
  return p.stage_key ? "s-watch" : "s-none";
}
function stageLabel(p) {
  if (p.stale) return t("stale");
  if (!p.stage) return t("normal");
  const stage = p.stage[`name_${lang}`];
  return p.alert_level ? `${t("level")} ${p.alert_level} · ${stage}` : stage;
}
function badgeText(p) {
  if (p.stale) return "?";
  const lv = p.alert_level ? (lang === "ja" ? `警${p.alert_level}` : `L${p.alert_level}`) : "–";
  return p.level_m == null ? lv : `${lv} ${p.level_m.toFixed(2)}m`;
}
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

function renderStatic() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = t("lang");
  const legend = [
    ["s-none", "–", t("normal")], ["s-watch", "–", `${t("watch")}`],
    ["s-2", lang === "ja" ? "警2" : "L2", `${t("level")} 2`], ["s-3", lang === "ja" ? "警3" : "L3", `${t("level")} 3`],
    ["s-4", lang === "ja" ? "警4" : "L4", `${t("level")} 4`], ["s-5", lang === "ja" ? "警5" : "L5", `${t("level")} 5`],
    ["s-stale", "?", t("stale")], ["shelter", "避", t("shelter")],
  ];
  document.getElementById("legend").innerHTML = legend.map(([cls, txt, label]) =>
    `<li><span class="badge ${cls}" aria-hidden="true">${txt}</span> ${esc(label)}</li>`).join("");
}

function renderStations(collection) {
  const features = [...collection.features].sort((a, b) =>
    (b.properties.alert_level || 0) - (a.properties.alert_level || 0) || a.id.localeCompare(b.id));
  const list = document.getElementById("stations");
  list.innerHTML = features.map((f) => {
    const p = f.properties;
    return `<li tabindex="0" data-id="${esc(f.id)}" aria-label="${esc(name(p, "name"))}: ${esc(stageLabel(p))}">
      <span class="badge ${stageClass(p)}">${esc(badgeText(p))}</span>
      <span><span class="name">${esc(name(p, "name"))}</span> <span class="sub">${esc(name(p, "river"))}</span><br>
      <span class="sub">${esc(stageLabel(p))} · ${esc(fmtTime(p.latest_time))}</span></span></li>`;
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
      .bindTooltip(name(f.properties, "river")).addTo(stationLayer);
  }
  for (const f of features) {
    const p = f.properties;
    const [lon, lat] = f.geometry.coordinates;
    const icon = L.divIcon({ className: "marker", iconSize: null,
      html: `<div class="pin"><span class="badge ${stageClass(p)}">${esc(badgeText(p))}</span>
             <span class="label">${esc(name(p, "name"))}</span></div>` });
    L.marker([lat, lon], { icon, title: `${name(p, "name")} — ${stageLabel(p)}`, keyboard: true })
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
        + `<br>${t("capacity")} ${p.occupancy}/${p.capacity}`)
      .addTo(shelterLayer);
  }
}

function renderAreas(collection) {
  if (!areaLayer) return;
  areaLayer.clearLayers();
  L.geoJSON(collection, { style: { color: "#0b3d5c", weight: 2, dashArray: "6 4", fillOpacity: 0.05 },
    onEachFeature: (f, layer) => layer.bindTooltip(name(f.properties, "name")) }).addTo(areaLayer);
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

let lastStations = null;
async function refresh() {
  const status = document.getElementById("updated");
  try {
    const [stations, shelters, areas] = await Promise.all(
      ["stations.geojson", "shelters.geojson", "areas.geojson"].map((p) => fetch(`/api/${p}`).then((r) => {
        if (!r.ok) throw new Error(r.status); return r.json(); })));
    lastStations = stations;
    renderAreas(areas); renderShelters(shelters); renderStations(stations);
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
  refresh();
});
renderStatic();
refresh();
setInterval(refresh, 10000);
