// The マイ・タイムライン page: fills the form from this browser's storage and saves it
// there (never to the server).
"use strict";

(async () => {
  const texts = JSON.parse(document.body.dataset.texts);
  const form = document.getElementById("timeline");
  const status = document.getElementById("timeline-status");
  const box = (level) => document.getElementById("step-" + level);
  const mine = await kawamoriTimeline.read();
  for (const level of [3, 4, 5]) box(level).value = (mine && mine.steps && mine.steps[level]) || "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const steps = {};
    for (const level of [3, 4, 5]) steps[level] = box(level).value.trim();
    try {
      await kawamoriTimeline.write({ label: texts.label, steps });
      status.textContent = texts.saved;
    } catch (error) {
      status.textContent = texts.failed;
    }
  });
  document.getElementById("timeline-clear").addEventListener("click", async () => {
    await kawamoriTimeline.clear();
    for (const level of [3, 4, 5]) box(level).value = "";
    status.textContent = texts.cleared;
  });
})();
