// The after-action review's plots: each station's hydrograph (the map's, hydrograph.js:
// min–max envelope, stages) and each shelter's head count as a step line against its
// capacity; and the print button. The data are in the page: nothing is fetched.
"use strict";

(() => {
  const lang = document.body.dataset.lang === "en" ? "en" : "ja";
  const fmt = (iso) => new Date(iso).toLocaleString(lang === "ja" ? "ja-JP" : "en-GB",
    { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
  // the words: the catalogue's console.review, embedded in the page (texts.js)
  const t = kawamoriTexts.say(lang);
  const T = {
    noData: t("noData"), current: t("current"), peak: t("peak"), capacity: t("capacity"),
    crossed: (s) => t("crossed", { stage: s[`name_${lang}`], metres: s.level_m.toFixed(2) }),
  };

  document.querySelectorAll(".plot").forEach((box) => {
    const { points, stages } = JSON.parse(box.dataset.series);
    Hydrograph.draw(box, {
      points, stages, since: Date.parse(box.dataset.since), until: Date.parse(box.dataset.until),
      now: null, rate: null, latest: null, issued: null,
    }, { ...T, time: fmt, stageName: (s) => s[`name_${lang}`] || s.name_ja, eta: () => "" });
  });

  // a step line of the head count, the capacity dashed, the highest count written
  document.querySelectorAll(".occupancy").forEach((box) => {
    const curve = JSON.parse(box.dataset.curve).map(([t, n]) => [Date.parse(t), n]);
    const capacity = Number(box.dataset.capacity) || null;
    const t0 = Date.parse(box.dataset.since), t1 = Date.parse(box.dataset.until);
    const W = 640, H = 160, L = 48, R = 90, TOP = 10, B = 22;
    const top = Math.max(1, capacity || 0, ...curve.map(([, n]) => n)) * 1.1;
    const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R), y = (n) => TOP + (1 - n / top) * (H - TOP - B);
    let d = "";
    curve.forEach(([t, n], i) => { d += i ? `H${x(t).toFixed(1)}V${y(n).toFixed(1)}` : `M${x(t).toFixed(1)},${y(n).toFixed(1)}`; });
    if (curve.length) d += `H${x(t1).toFixed(1)}`;
    const highest = Math.max(0, ...curve.map(([, n]) => n));
    const cap = capacity ? `<line x1="${L}" x2="${W - R}" y1="${y(capacity)}" y2="${y(capacity)}" stroke="#333" stroke-dasharray="5 3"/>
      <text x="${W - R + 4}" y="${y(capacity) + 4}" font-size="11">${T.capacity} ${capacity}</text>` : "";
    box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">
      <rect x="${L}" y="${TOP}" width="${W - L - R}" height="${H - TOP - B}" fill="#f7fbff" stroke="#999"/>
      ${cap}<path class="count" d="${d}" fill="none" stroke="#0b5d1e" stroke-width="2"/>
      <text x="${L - 4}" y="${y(highest) + 4}" font-size="11" text-anchor="end">${highest}</text>
      <text x="${L - 4}" y="${y(0) + 4}" font-size="11" text-anchor="end">0</text>
      <text x="${L}" y="${H - 6}" font-size="11">${fmt(box.dataset.since)}</text>
      <text x="${W - R}" y="${H - 6}" font-size="11" text-anchor="end">${fmt(box.dataset.until)}</text></svg>`;
  });

  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());
})();
