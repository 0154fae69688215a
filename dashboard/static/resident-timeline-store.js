// マイ・タイムライン storage, shared by the resident pages and the service worker: what
// a resident wrote for levels 3, 4 and 5 stays in this browser's IndexedDB and is never
// sent to the server. The service worker reads it to add the resident's own step to an
// alert of that level.
"use strict";

(() => {
  const DB = "kawamori-timeline";
  const STORE = "steps";
  const KEY = "mine";

  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function run(mode, action) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  }

  // {label: "my step" words in the resident's language, steps: {"3": "...", "4": ..., "5": ...}}
  self.kawamoriTimeline = {
    read: () => run("readonly", (store) => store.get(KEY)).catch(() => undefined),
    write: (value) => run("readwrite", (store) => store.put(value, KEY)),
    clear: () => run("readwrite", (store) => store.delete(KEY)),
    // the step for an alert level: the highest level written at or below it
    stepFor(timeline, level) {
      if (!timeline || !timeline.steps || !level) return null;
      for (let n = Math.min(level, 5); n >= 3; n -= 1) {
        const text = (timeline.steps[String(n)] || "").trim();
        if (text) return { level: n, text, label: timeline.label || "" };
      }
      return null;
    },
  };
})();
