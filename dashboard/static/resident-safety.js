// The check-in and rescue page (/r/safety). Every report carries an id made here, so the
// server stores it once however often it is sent; reports wait in localStorage while the
// phone is offline and are sent, once, when it is back. The page keeps the request's
// status token (never sent anywhere else) to show, cancel or delete the request.
"use strict";

(() => {
  const body = document.body;
  const t = JSON.parse(body.dataset.texts);
  const lang = body.dataset.lang;
  const enabled = body.dataset.enabled === "on";
  const OUTBOX = "kawamori-safety-outbox";
  const TOKEN = "kawamori-rescue-token";
  const status = document.getElementById("safety-status");
  const checkin = document.getElementById("checkin");
  const rescue = document.getElementById("rescue");
  let point = null;
  let kind = null;

  const say = (text) => {
    status.hidden = !text;
    status.textContent = text || "";
  };
  const randomId = () => crypto.randomUUID();
  const household = () => {
    let id = localStorage.getItem("kawamori-household");
    if (!id) {
      id = randomId().replace(/-/g, "");
      localStorage.setItem("kawamori-household", id);
    }
    return id;
  };
  const outbox = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
  const keep = (items) => localStorage.setItem(OUTBOX, JSON.stringify(items));

  async function post(url, payload, method = "POST") {
    return fetch(url, {
      method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
  }

  const errorText = (code) => t["safety_err_" + code] || t.safety_err_error;

  // send what waits, oldest first; a network failure or a 5xx keeps it for later
  let flushing = false;
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      for (const item of outbox()) {
        let answer;
        try {
          answer = await post(item.url, item.body);
        } catch (error) {
          say(t.safety_queued);
          return;
        }
        if (answer.status >= 500) {
          say(t.safety_queued);
          return;
        }
        keep(outbox().filter((other) => other.body.id !== item.body.id));
        const data = await answer.json().catch(() => ({}));
        if (!answer.ok) {
          say(errorText(data.code));
          continue;
        }
        if (data.token) {
          localStorage.setItem(TOKEN, data.token);
          showMine({ state: data.state });
        }
        say(t.safety_sent);
      }
    } finally {
      flushing = false;
    }
  }

  function send(url, payload) {
    keep([...outbox(), { url, body: payload }]);
    return flush();
  }

  // --- the choice: safe, at a shelter, help ------------------------------------------------
  function choose(chosen) {
    kind = chosen;
    for (const button of document.querySelectorAll(".choice")) {
      button.setAttribute("aria-pressed", String(button.dataset.kind === chosen));
    }
    checkin.hidden = chosen === "help";
    rescue.hidden = chosen !== "help";
    document.getElementById("shelter-choice").hidden = chosen !== "shelter";
    if (chosen === "help") showMap();
    (chosen === "help" ? rescue : checkin).querySelector("h2").scrollIntoView({ block: "start" });
  }
  for (const button of document.querySelectorAll(".choice")) {
    button.disabled = !enabled;
    button.addEventListener("click", () => choose(button.dataset.kind));
  }

  const chosenPeople = (name) => Number(document.querySelector(`input[name="${name}"]:checked`).value);

  checkin.addEventListener("submit", (event) => {
    event.preventDefault();
    const shelter = document.getElementById("shelter").value;
    if (kind === "shelter" && !shelter) {
      say(t.safety_err_no_shelter);
      return;
    }
    send("/api/checkins", {
      id: randomId(),
      household: household(),
      status: kind,
      shelter_id: kind === "shelter" ? shelter : null,
      household_size: chosenPeople("people"),
      language: lang,
      reported_at: new Date().toISOString(),
    });
  });

  document.getElementById("forget-checkin").addEventListener("click", async () => {
    const answer = await post("/api/checkins", { household: household() }, "DELETE").catch(() => null);
    say(answer && answer.ok ? t.safety_sent : t.safety_queued);
  });

  // --- rescue: a tap on the map, or the phone's own place -------------------------------
  let map = null;
  let marker = null;
  function setPoint(lat, lon) {
    point = { lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) };
    document.getElementById("point-status").textContent = t.safety_point_set;
    if (map) {
      if (marker) marker.setLatLng([lat, lon]);
      else marker = L.marker([lat, lon], { keyboard: false }).addTo(map);
    }
  }
  function showMap() {
    if (map || typeof L === "undefined") return;
    map = window.kawamoriMap("rescue-map", document.body.dataset.lang);
    map.on("click", (event) => setPoint(event.latlng.lat, event.latlng.lng));
  }
  document.getElementById("rescue-locate").addEventListener("click", () => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(
      (where) => {
        setPoint(where.coords.latitude, where.coords.longitude);
        if (map) map.setView([where.coords.latitude, where.coords.longitude], 16);
      },
      () => say(t.location_failed),
      { enableHighAccuracy: true, timeout: 15000 },
    );
  });

  rescue.addEventListener("submit", (event) => {
    event.preventDefault();
    const address = document.getElementById("rescue-address").value.trim();
    const phone = document.getElementById("rescue-phone").value.trim();
    if (!point && !address) {
      say(t.safety_err_no_place);
      return;
    }
    if (!phone) {
      say(t.safety_err_no_contact);
      return;
    }
    send("/api/rescue-requests", {
      id: randomId(),
      household: household(),
      people: chosenPeople("rescue-people"),
      needs: [...rescue.querySelectorAll('input[name="needs"]:checked')].map((box) => box.value),
      point,
      address: address || null,
      phone,
      note: document.getElementById("rescue-note").value.trim() || null,
      language: lang,
    });
  });

  // --- the resident's own request ------------------------------------------------------------
  const mine = document.getElementById("mine");
  function showMine(state) {
    mine.hidden = false;
    document.getElementById("mine-state").textContent = t["safety_state_" + state.state] || "";
    document.getElementById("mine-cancel").hidden = !["received", "confirmed", "assigned"].includes(state.state);
  }
  async function refreshMine() {
    const token = localStorage.getItem(TOKEN);
    if (!token) return;
    const answer = await post("/api/rescue-requests/status", { token }).catch(() => null);
    if (!answer) return;
    if (answer.status === 404) {
      localStorage.removeItem(TOKEN);
      mine.hidden = true;
      return;
    }
    if (answer.ok) showMine(await answer.json());
  }
  document.getElementById("mine-cancel").addEventListener("click", async () => {
    const answer = await post("/api/rescue-requests/cancel", { token: localStorage.getItem(TOKEN) });
    if (answer.ok) showMine(await answer.json());
  });
  document.getElementById("mine-forget").addEventListener("click", async () => {
    const answer = await post("/api/rescue-requests/forget", { token: localStorage.getItem(TOKEN) });
    if (answer.ok || answer.status === 404) {
      localStorage.removeItem(TOKEN);
      mine.hidden = true;
      say(t.safety_sent);
    }
  });

  window.addEventListener("online", flush);
  setInterval(refreshMine, 10000);
  refreshMine();
  flush();
  if (body.dataset.kind) choose(body.dataset.kind);
})();
