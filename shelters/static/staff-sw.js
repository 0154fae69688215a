// Service worker for the staff page: the page itself (HTML, script, style) is served
// from the cache when the network is down, so a reload or a tablet restart during an
// outage still shows the page and its queue. API calls are never cached.
"use strict";
const CACHE = "kawamori-staff-v2";
const PAGE = ["/staff", "/shelters/static/staff.js", "/shelters/static/staff.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PAGE)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !PAGE.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        return response;
      })
      .catch(() => caches.match(url.pathname)),
  );
});
