// The resident page's service worker (served at /r/sw.js, scope /r/). It shows the
// alert a push message carries (notify/render.py push_payload: title, body, url,
// unsubscribe, tag, lang, urgency) and opens the resident page when tapped. It caches
// nothing and handles no other requests.
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = { body: event.data ? event.data.text() : "" };
  }
  const title = data.title || "川守 Kawamori";
  const options = {
    body: data.body || "",
    tag: data.tag || undefined, // a newer version of the same alert replaces the older one
    renotify: Boolean(data.tag),
    lang: data.lang === "en" ? "en" : "ja",
    requireInteraction: data.urgency === "high",
    data: { url: data.url || "/r/", unsubscribe: data.unsubscribe || null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
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
