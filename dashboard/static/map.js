// Kawamori live map: stations coloured *and* labelled by stage, shelters, alert areas,
// and a 24-hour hydrograph of the chosen station. Refreshes every 10 seconds.
"use strict";

// the words: the catalogue's console.map, embedded in the page (texts.js)
let lang = localStorage.getItem("kawamori-lang") || document.documentElement.lang || "ja";
const t = (key, params) => kawamoriTexts.say(lang)(key, params);
const name = (obj, field) => obj[`${field}_${lang}`] || obj[`${field}_ja`];
// a proposal's target: a level, or 0 for lifting it
const toText = (n) => n === 0 ? t("toLift") : t("toLevel", { n });
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
  const equivalent = p.alert_level ? t("equivalentNote", { text: t("equivalent", { n: p.alert_level }) }) : "";
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
// the basemap the settings chose (dashboard/basemap.py): 地理院タイル, the city's tile
// server, the dashboard's own offline tiles, or none; when a view's tiles all fail (no
// internet on the city's LAN, the tile server down) a notice says so and the map goes on
// with the rivers and areas drawn from the data
const BASEMAP = JSON.parse(document.getElementById("map").dataset.basemap || "{}");
let tileLayer = null, tilesFailed = false;
function tilesNotice() {
  const notice = document.getElementById("tiles-notice");
  notice.hidden = !tilesFailed;
  notice.textContent = tilesFailed ? t("tilesFailed") : "";
}
if (window.L) {
  map = L.map("map", { zoomControl: true }).setView([38.78, 139.89], 12);
  tileLayer = window.kawamoriTiles(map, BASEMAP, lang);  // basemap.js
  if (tileLayer) {
    let loaded = 0, failed = 0;
    tileLayer.on("loading", () => { loaded = 0; failed = 0; });
    tileLayer.on("tileload", () => { loaded += 1; });
    tileLayer.on("tileerror", () => { failed += 1; });
    tileLayer.on("load", () => { tilesFailed = failed > 0 && loaded === 0; tilesNotice(); });
  }
  map.setMaxZoom(18);
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
  const issued = [2, 3, 4, 5].map((n) => item(swatch(`area-swatch s-${n}`, `${t("issued")} ${t("short", { n })}`), t("levels")[n]));
  issued.push(item(swatch("area-swatch none", t("issuedNone")), t("issuedNone")));
  const observed = [
    item(swatch("s-none", "–"), t("normal")), item(swatch("s-watch", "–"), t("watch")),
    ...[2, 3, 4, 5].map((n) => item(swatch(`s-${n}`, `${ARROWS.rising} m`), `${t("observed")}: ${t("equivalent", { n })}`)),
    ...Object.keys(ARROWS).map((k) => item(swatch("s-none", ARROWS[k]), t("trends")[k])),
    item(swatch("s-stale", "?"), t("stale")), item(swatch("shelter", "避"), t("shelter")),
  ];
  document.getElementById("legend").innerHTML = `
    <h3>${esc(t("issued"))}</h3><p class="sub">${esc(t("legendIssued"))}</p><ul>${issued.join("")}</ul>
    <h3>${esc(t("proposed"))}</h3><p class="sub">${esc(t("legendProposed"))}</p>
    <ul><li>${swatch("area-swatch proposed", `${t("proposed")}: ${toText(4)}`)} ${esc(t("waiting"))}</li>
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
    const over = p.over_capacity ? t("overCapacity") : "";
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
  return `${t("proposed")}: ${t("proposalWords", { to: toText(p.level), words })}`;
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
    const badge = level ? swatch(`s-${level}`, `${t("issued")} ${t("short", { n: level })}`) : swatch("area-swatch none", "–");
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
      const badge = level ? swatch(`s-${level}`, `${t("issued")} ${t("short", { n: level })}`) : "";
      const html = `<div class="area-label" data-area="${esc(f.id)}">${badge}
        <span class="label">${esc(name(a, "name"))}</span>
        ${a.proposal ? proposalLink(a.proposal, "proposal-badge") : ""}
        ${(a.drills || []).map(drillLine).join("")}</div>`;
      L.marker(layer.getBounds().getCenter(), { icon: L.divIcon({ className: "marker", iconSize: null, html }),
                                                interactive: false, keyboard: false }).addTo(areaLayer);
    },
  }).addTo(areaLayer);
}

// the hydrograph's periods: a bucket small enough to show a rise, whole hours (the
// rollups) from a week on; ← / → move by half the period, up to a year back
const RANGES = [
  { key: "6h", hours: 6, bucket: 300 }, { key: "24h", hours: 24, bucket: 600 },
  { key: "7d", hours: 168, bucket: 3600 }, { key: "30d", hours: 720, bucket: 21600 },
  { key: "1y", hours: 8760, bucket: 86400 },
];
const MAX_BACK_H = 24 * 366;
let range = RANGES[1], offsetH = 0;

function issuedFor(stationId) {
  if (!lastAreas) return null;
  const [collection, levels] = lastAreas;
  const stations = Object.fromEntries(collection.features.map((f) => [f.id, f.properties.station_ids || []]));
  const issued = levels.areas.filter((a) => a.issued && (a.id === stationId || (stations[a.id] || []).includes(stationId)))
    .map((a) => a.issued).sort((a, b) => b.level - a.level)[0];
  return issued ? { level: issued.level, since: issued.since, text: t("issuedBand", { level: t("levels")[issued.level] || t("levelN", { n: issued.level }) }) } : null;
}

function renderRangeTools() {
  const tools = document.getElementById("hydrograph-tools");
  const periods = RANGES.map((r) => `<button type="button" data-range="${r.key}" aria-pressed="${r === range}">${esc(t("ranges")[r.key])}</button>`).join("");
  tools.innerHTML = `<span role="group" aria-label="${esc(t("range"))}">${periods}</span>
    <span role="group"><button type="button" data-pan="-1" ${offsetH + range.hours * 1.5 > MAX_BACK_H ? "disabled" : ""}>${esc(t("earlier"))}</button>
    <button type="button" data-pan="1" ${offsetH ? "" : "disabled"}>${esc(t("later"))}</button>
    <button type="button" data-pan="0" ${offsetH ? "" : "disabled"}>${esc(t("latest"))}</button></span>`;
  tools.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => {
    range = RANGES.find((r) => r.key === b.dataset.range); offsetH = Math.min(offsetH, MAX_BACK_H - range.hours);
    redrawSelected();
  }));
  tools.querySelectorAll("[data-pan]").forEach((b) => b.addEventListener("click", () => {
    const step = Number(b.dataset.pan);
    offsetH = step === 0 ? 0 : Math.min(Math.max(offsetH - step * range.hours / 2, 0), MAX_BACK_H - range.hours);
    redrawSelected();
  }));
}
const redrawSelected = () => lastStations && select(lastStations.features.find((f) => f.id === selected));

async function select(feature) {
  if (!feature) return;
  selected = feature.id;
  const p = feature.properties;
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = `${name(p, "name")} — ${t("hydrograph")} (${t("ranges")[range.key]})`;
  renderRangeTools();
  const now = Date.now(), until = now - offsetH * 3600e3;
  const query = new URLSearchParams({ hours: offsetH + range.hours, bucket_s: range.bucket });
  if (offsetH) query.set("until", new Date(until).toISOString());
  const response = await fetch(`/api/stations/${encodeURIComponent(feature.id)}/readings?${query}`);
  const points = response.ok ? await response.json() : [];
  const box = document.getElementById("hydrograph");
  box.setAttribute("aria-label", `${t("hydrograph")}: ${name(p, "name")}`);
  Hydrograph.draw(box, {
    points, stages: p.stages || [], now, rate: offsetH ? null : p.rate_m_h,
    latest: offsetH ? null : { time: p.latest_time, level_m: p.latest_level_m },
    since: until - range.hours * 3600e3,
    until: offsetH ? until : now + range.hours * 3600e3 * 0.15,  // room for the projection
    issued: issuedFor(feature.id),
  }, {
    noData: t("noData"), now: t("now"), current: t("current"), peak: t("peak"), time: fmtTime,
    stageName: (s) => s[`name_${lang}`] || s.name_ja, crossed: (s) => t("crossed", { stage: s[`name_${lang}`], metres: s.level_m.toFixed(2) }),
    eta: (s, m, at) => t("eta", { stage: s[`name_${lang}`], m, time: fmtTime(at) }),
  });
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
      map.invalidateSize();  // the layout may have changed the map's size since it was made (a phone)
      map.fitBounds(L.latLngBounds(stations.features.map((f) => [f.geometry.coordinates[1], f.geometry.coordinates[0]])).pad(0.3));
      refresh.fitted = true;
    }
    if (selected) select(stations.features.find((f) => f.id === selected));
    status.textContent = `${t("updated")} ${new Date().toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB")}`;
  } catch (error) {
    status.textContent = `⚠ ${t("failed")} (${error.message})`;
  }
}

window.addEventListener("resize", () => map && map.invalidateSize());
document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "ja" ? "en" : "ja";
  localStorage.setItem("kawamori-lang", lang);
  document.cookie = `kawamori_lang=${lang}; path=/; SameSite=Lax; max-age=31536000`;
  renderStatic();
  if (tileLayer) {
    map.attributionControl.removeAttribution(tileLayer.getAttribution());
    tileLayer.options.attribution = BASEMAP.attribution[lang] || BASEMAP.attribution.ja;
    map.attributionControl.addAttribution(tileLayer.options.attribution);
  }
  tilesNotice();
  if (lastStations) renderStations(lastStations);
  if (lastAreas) renderAreas(...lastAreas);
  refresh();
});
renderStatic();
refresh();
setInterval(refresh, 10000);
