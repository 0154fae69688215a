// The staff triage queue: polls the queue every second (on the map within 2 s of a
// request), draws each request as a card and a numbered pin, and moves a request through
// received → confirmed → assigned (team) → resolved / cancelled with the session's CSRF
// token. The server checks the permission and the step; this page only asks.
"use strict";

(() => {
  const t = JSON.parse(document.body.dataset.texts);
  const lang = document.body.dataset.lang;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const SYMBOL = { received: "！", confirmed: "✓", assigned: "→", resolved: "◎", cancelled: "×" };
  const NEXT = {
    received: ["confirmed", "assigned", "cancelled"],
    confirmed: ["assigned", "resolved", "cancelled"],
    assigned: ["resolved", "confirmed", "cancelled"],
    resolved: ["received"],
    cancelled: ["received"],
  };
  const queue = document.getElementById("queue");
  const live = document.getElementById("live");
  const map = window.kawamoriMap("triage-map", lang);
  const pins = L.layerGroup().addTo(map);
  let last = "";
  let fitted = false;

  // in the city's time zone (KAWAMORI_TIME_ZONE), named: staff may sit elsewhere
  const time = (iso) => new Date(iso).toLocaleTimeString(lang === "ja" ? "ja-JP" : "en-GB", { timeZone: document.body.dataset.zone, hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };

  function card(item, n) {
    const li = el("li", { className: "request", id: "request-" + item.id });
    li.dataset.state = item.state;
    const area = lang === "ja" ? item.area_ja : item.area_en;
    li.append(
      el("h3", {}, `${n}. `, el("span", { className: "state" }, `${SYMBOL[item.state]} ${t[item.state]}`),
         ` — ${t.people.replace("{n}", item.people)}`, item.team ? ` — ${item.team}` : ""),
      el("p", {}, `${time(item.received_at)}${area ? " · " + area : ""}`),
    );
    if (item.flagged) li.append(el("p", {}, el("span", { className: "flag" }, "⚠ " + t.flagged)));
    if (item.repeats) li.append(el("p", {}, t.repeats.replace("{n}", item.repeats)));
    if (item.needs && item.needs.length) li.append(el("p", {}, item.needs.map((need) => t.needs[need] || need).join("・")));
    if (item.phone) li.append(el("p", {}, "☎ ", el("a", { href: "tel:" + item.phone }, item.phone)));
    if (item.address) li.append(el("p", {}, "⌂ " + item.address));
    if (item.lat === null || item.lat === undefined) li.append(el("p", {}, t.no_place));
    if (item.note) li.append(el("p", { className: "note" }, item.note));
    const actions = el("div", { className: "actions" });
    for (const target of NEXT[item.state]) {
      if (target === "assigned") {
        const input = el("input", { type: "text", maxLength: 64, id: "team-" + item.id, value: item.team || "" });
        actions.append(el("label", { htmlFor: input.id }, t.team, input));
      }
      const button = el("button", { type: "button" }, t["to_" + target]);
      button.dataset.target = target;
      button.addEventListener("click", () => move(item.id, target));
      actions.append(button);
    }
    li.append(actions);
    return li;
  }

  async function move(id, state) {
    const input = document.getElementById("team-" + id);
    const answer = await fetch(`/api/rescue/${id}/state`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ state, team: state === "assigned" && input ? input.value : null }),
    });
    if (!answer.ok) {
      const data = await answer.json().catch(() => ({}));
      live.textContent = data.detail || String(answer.status);
    }
    refresh();
  }

  function draw(items) {
    queue.replaceChildren(...items.map((item, i) => card(item, i + 1)));
    document.getElementById("queue-none").hidden = items.length > 0;
    document.getElementById("queue-count").textContent = `(${items.filter((i) => NEXT[i.state].length > 1).length})`;
    pins.clearLayers();
    const points = [];
    items.forEach((item, i) => {
      if (item.lat === null || item.lat === undefined) return;
      points.push([item.lat, item.lon]);
      const icon = L.divIcon({ className: "pin", html: String(i + 1), iconSize: [28, 28] });
      L.marker([item.lat, item.lon], { icon, title: `${i + 1}. ${t[item.state]}`, alt: `${i + 1}. ${t[item.state]}` })
        .on("click", () => document.getElementById("request-" + item.id).scrollIntoView({ block: "nearest" }))
        .addTo(pins);
    });
    if (points.length && !fitted) {
      map.fitBounds(points, { maxZoom: 15, padding: [30, 30] });
      fitted = true;
    }
  }

  async function refresh() {
    try {
      const answer = await fetch("/api/rescue/queue", { headers: { Accept: "application/json" } });
      if (answer.status === 401) {
        location.href = "/staff/login?next=/rescue";
        return;
      }
      const text = await answer.text();
      if (answer.ok && text !== last) {
        last = text;
        draw(JSON.parse(text));
      }
      live.textContent = t.live.replace("{time}", time(new Date().toISOString()));
    } catch (error) {
      live.textContent = t.offline;
    }
  }

  const cell = (value) => el("td", {}, String(value));
  async function counts() {
    const answer = await fetch("/api/rescue/counts").catch(() => null);
    if (!answer || !answer.ok) return;
    const data = await answer.json();
    document.querySelector("#area-counts tbody").replaceChildren(
      ...data.areas.map((a) => el("tr", {}, el("th", { scope: "row" }, lang === "ja" ? a.name_ja : a.name_en),
        cell(a.safe_people), cell(a.shelter_people), cell(a.open_requests), cell(a.people_waiting))));
    document.querySelector("#shelter-counts tbody").replaceChildren(
      ...data.shelters.map((s) => el("tr", {}, el("th", { scope: "row" }, lang === "ja" ? s.name_ja : s.name_en),
        cell(s.checked_in), cell(s.occupancy), cell(s.capacity))));
  }

  refresh();
  counts();
  setInterval(refresh, 1000);
  setInterval(counts, 5000);
})();
