// The resident page's service worker (served at /r/sw.js, scope /r/). It shows the
// alert a push message carries (notify/render.py push_payload: title, body, url,
// unsubscribe, tag, id, lang, urgency) and opens the resident page when tapped. It
// caches no pages and handles no other requests.
//
// A service worker is a script the browser runs in the background, without the page
// being open; it is started for each event (here: a push, a tap on a notification) and
// stopped again when idle, so anything it must remember between pushes goes to storage.
"use strict";

importScripts("/static/resident-timeline-store.js"); // マイ・タイムライン (this browser only)

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// --- pushes already shown ------------------------------------------------------------
// Delivery is at least once: a delivery worker that crashes after sending but before
// recording sends the same push again, so a phone can get one alert version twice. The
// payload's `id` is the alert message's CAP identifier, one per (alert, version); `tag`
// is one per alert. The ids shown last are kept in Cache Storage (which survives the
// worker being stopped and the phone restarting) as one JSON list of
// {id, first: when it was first shown (ms), repeats: how many copies came after}.
const SEEN_CACHE = "kawamori-seen-pushes-v1";
const SEEN_KEY = "/r/seen-pushes"; // a key in that cache, never fetched from the server
const SEEN_MAX = 200; // the newest 200 ids: far more versions than one storm sends

async function readSeen() {
  try {
    const stored = await (await caches.open(SEEN_CACHE)).match(SEEN_KEY);
    const seen = stored ? await stored.json() : [];
    return Array.isArray(seen) ? seen : [];
  } catch (error) {
    return []; // no storage (e.g. a private window): every push alerts, as it did before
  }
}

async function writeSeen(seen) {
  const cache = await caches.open(SEEN_CACHE);
  await cache.put(SEEN_KEY, new Response(JSON.stringify(seen.slice(-SEEN_MAX))));
}

async function showPush(data) {
  const seen = data.id ? await readSeen() : [];
  let entry = seen.find((s) => s.id === data.id);
  const repeat = Boolean(entry);
  if (repeat) {
    entry.repeats += 1;
  } else {
    entry = { id: data.id, first: Date.now(), repeats: 0 };
    seen.push(entry);
  }
  // Browsers require every push to show a notification (userVisibleOnly). Chromium is
  // satisfied when one of the site's notifications is on screen as the push handler
  // ends, else it shows its own "This site has been updated in the background"; Safari
  // revokes the subscription after a few pushes that showed nothing. Leaving a repeat
  // alone would pass Chromium only while the first is still on screen (not once the
  // resident has closed it), so a repeat shows it again, quietly: the same tag replaces
  // it in place, `renotify: false` and `silent: true` mean no sound, vibration or
  // pop-up, and it keeps the time it first came. A newer version (another id, the
  // same tag) replaces it too, and alerts again.
  // the resident's own step for this level (マイ・タイムライン), first: what they will do
  const step = self.kawamoriTimeline.stepFor(await self.kawamoriTimeline.read(), data.level);
  const own = step && !data.exercise ? `${step.label}: ${step.text}\n\n` : "";
  await self.registration.showNotification(data.title || "川守 Kawamori", {
    body: own + (data.body || ""),
    tag: data.tag || undefined,
    renotify: Boolean(data.tag) && !repeat,
    silent: repeat,
    timestamp: entry.first,
    lang: data.lang === "en" ? "en" : "ja",
    requireInteraction: data.urgency === "high",
    data: { url: data.url || "/r/", unsubscribe: data.unsubscribe || null, id: entry.id || null,
            first: entry.first, repeats: entry.repeats },
  });
  // remembered only once shown: a worker stopped in between means a repeat alerts again
  // (twice is better than a missed evacuation order)
  if (data.id) await writeSeen(seen).catch(() => {});
}

// Two pushes can arrive together; handling them one after the other keeps the second
// from reading the list before the first has written it.
let pushes = Promise.resolve();

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const shown = pushes.then(() => showPush(data));
  pushes = shown.catch(() => {});
  event.waitUntil(shown);
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/r/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url);
    })
  );
});
