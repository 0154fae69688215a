// The resident page's small script: "use where I am now" (the place is rounded to
// 0.01°, about 1 km, before it leaves the phone) and Web Push through the service
// worker. Everything else on the page works without JavaScript.
"use strict";
(function () {
  const body = document.body;
  const texts = JSON.parse(body.dataset.texts || "{}");
  const lang = body.dataset.lang || "ja";
  const TOKEN = "kawamori-push-token";

  function say(id, text) {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  // --- where am I? -------------------------------------------------------------------------
  const locate = document.getElementById("locate");
  if (locate && "geolocation" in navigator) {
    locate.hidden = false;
    locate.addEventListener("click", () => {
      say("locate-status", texts.locating);
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          const lat = pos.coords.latitude.toFixed(2);
          const lon = pos.coords.longitude.toFixed(2);
          location.href = `/r/?lang=${encodeURIComponent(lang)}&lat=${lat}&lon=${lon}`;
        },
        () => say("locate-status", texts.location_failed),
        { enableHighAccuracy: false, timeout: 15000, maximumAge: 600000 }
      );
    });
  }

  // --- マイ・タイムライン: the resident's own step at this level (kept in this browser) ----
  const level = Number(body.dataset.level || 0);
  if (level >= 3 && self.kawamoriTimeline) {
    kawamoriTimeline.read().then((mine) => {
      const step = kawamoriTimeline.stepFor(mine, level);
      if (!step) return;
      const box = document.getElementById("my-step");
      box.textContent =
        lang === "en" ? `${step.label} (level ${step.level}): ${step.text}` : `${step.label}（レベル${step.level}）：${step.text}`;
      box.hidden = false;
    });
  }

  // --- a level that changes while the page is open is announced (screen readers too) ----
  let shownLevel = Number(body.dataset.level || 0);
  async function watchLevel() {
    try {
      const answer = await fetch("/api/residents/summary?" + body.dataset.summary);
      if (!answer.ok) return;
      const now = await answer.json();
      const level = Number(now.alert_level || 0);
      if (level === shownLevel) return;
      shownLevel = level;
      const text = document.querySelector("#level-text strong");
      if (text) text.textContent = now.level_text;
      const action = document.querySelector(".action");
      if (action) action.textContent = now.action;
      const badge = document.querySelector("#level-text .badge");
      if (badge) badge.textContent = level || "";
      document.getElementById("level-announce").textContent = texts.level_changed.replace("{level}", now.level_text);
    } catch (error) {
      // offline: the page keeps what it shows, with its time
    }
  }
  if (body.dataset.summary) setInterval(watchLevel, 60000);

  // --- Web Push ----------------------------------------------------------------------------
  const on = document.getElementById("push-on");
  const off = document.getElementById("push-off");
  const vapid = body.dataset.vapid;
  if (!("serviceWorker" in navigator)) {
    if (on) say("push-status", texts.push_unsupported);
    return;
  }
  const ready = navigator.serviceWorker.register("/r/sw.js", { scope: "/r/" });
  window.kawamoriServiceWorker = ready; // for tests and for curious people
  if (!on || !vapid) return;
  if (!("PushManager" in window) || !("Notification" in window)) {
    // iPhones allow Web Push only for a web app added to the Home Screen
    const ios = /iPhone|iPad|iPod/.test(navigator.userAgent) && !navigator.standalone;
    say("push-status", ios ? texts.push_ios : texts.push_unsupported);
    return;
  }

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function show(subscribed) {
    on.hidden = subscribed;
    off.hidden = !subscribed;
  }

  ready.then((reg) => reg.pushManager.getSubscription()).then((sub) => show(Boolean(sub && localStorage.getItem(TOKEN))));

  on.addEventListener("click", async () => {
    const areas = (body.dataset.areas || "").split(",").filter(Boolean);
    if (!areas.length) return say("push-status", texts.need_area);
    on.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        return say("push-status", texts.push_denied);
      }
      const reg = await navigator.serviceWorker.ready;
      let sub;
      try {
        sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(vapid) });
      } catch (error) {
        // the browser cannot push (no push service, blocked, not a Home-Screen app): trying
        // again will not help; LINE and e-mail will
        return say("push-status", texts.push_failed);
      }
      const point = (body.dataset.point || "").split(",").filter(Boolean).map(Number);
      const answer = await fetch("/api/subscriptions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          channel: "webpush",
          address: sub.toJSON(),
          language: lang,
          areas,
          point: point.length === 2 ? { lat: point[0], lon: point[1] } : null,
        }),
      });
      if (answer.status === 429) return say("push-status", texts.busy);
      if (!answer.ok) return say("push-status", texts.error);
      localStorage.setItem(TOKEN, (await answer.json()).unsubscribe_token);
      show(true);
      say("push-status", texts.push_done);
    } catch (error) {
      say("push-status", texts.error);
    } finally {
      on.disabled = false;
    }
  });

  off.addEventListener("click", async () => {
    const token = localStorage.getItem(TOKEN);
    if (token) {
      await fetch("/api/subscriptions", {
        method: "DELETE",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token }),
      });
    }
    const reg = await navigator.serviceWorker.ready;
    const sub = await reg.pushManager.getSubscription();
    if (sub) await sub.unsubscribe();
    localStorage.removeItem(TOKEN);
    show(false);
    say("push-status", texts.push_removed);
  });
})();
