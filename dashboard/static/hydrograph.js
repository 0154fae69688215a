// Kawamori hydrograph: one station's water level as an SVG drawn from the API's buckets.
// The band between each bucket's minimum and maximum is drawn, so a one-reading peak is
// never averaged away; every stage is labelled in the right margin (labels pushed apart,
// never over the curve); "now" and the current value are marked; the trend projection
// (the evaluator's stored rate of rise) runs to the next stage with its ETA; the area's
// issued level is a labelled band along the top. Plain SVG, no library: every element
// is text a browser test and a screen reader can read, and nothing is loaded from outside.
"use strict";

const Hydrograph = (() => {
  const W = 640, H = 300, LEFT = 48, RIGHT = 150, TOP = 26, BOTTOM = 24;
  const FILL = { 2: "#f2e700", 3: "#ff2800", 4: "#aa00aa", 5: "#0c000c" };
  const INK = { 2: "#111", 3: "#111", 4: "#fff", 5: "#fff" };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  // label positions: each wants to sit at its own y; pushed apart to at least `gap`
  // and kept inside [lo, hi] (a pure function, so that the test can read it)
  function placeLabels(wanted, gap, lo, hi) {
    const order = wanted.map((y, i) => [y, i]).sort((a, b) => a[0] - b[0]);
    const placed = order.map(([y]) => Math.min(Math.max(y, lo), hi));
    for (let k = 1; k < placed.length; k++) placed[k] = Math.max(placed[k], placed[k - 1] + gap);
    const over = placed.length ? placed[placed.length - 1] - hi : 0;
    if (over > 0) {  // pushed past the bottom: shift back up, keeping the gaps
      placed[placed.length - 1] -= over;
      for (let k = placed.length - 2; k >= 0; k--) placed[k] = Math.min(placed[k], placed[k + 1] - gap);
    }
    const out = new Array(wanted.length);
    order.forEach(([, i], k) => { out[i] = placed[k]; });
    return out;
  }

  // round steps (1, 2, 5 × 10^n) for about `count` ticks between lo and hi
  function ticks(lo, hi, count) {
    const raw = (hi - lo) / count, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(6));
    return out;
  }

  // the next stage above `level` and when a rise of `rate` m/h reaches it (hours), or null
  function projection(level, rate, stages) {
    if (level == null || !(rate > 0)) return null;
    const next = stages.filter((s) => s.level_m > level).sort((a, b) => a.level_m - b.level_m)[0];
    return next ? { stage: next, hours: (next.level_m - level) / rate } : null;
  }

  // `data`: { points, stages, since, until, now, rate, latest: {time, level_m} | null,
  //          issued: {level, since, text} | null }
  // `t`: the page's texts (t.now, t.current, t.peak, t.eta(stage, minutes, at), t.crossed(stage))
  function draw(box, data, t) {
    const { points, stages, now, rate, issued } = data;
    const t0 = data.since, t1 = Math.max(data.until, now ?? data.until);  // now: null in a review
    const summary = [];
    if (!points.length) { box.innerHTML = `<p>${esc(t.noData)}</p>`; return summary; }
    // the newest reading itself (not its bucket's mean), when the station gave it
    const last = data.latest && data.latest.level_m != null ? data.latest : points[points.length - 1];
    const current = last.level_m;
    const proj = projection(current, rate, stages);
    const lows = points.map((d) => d.min_m ?? d.level_m), highs = points.map((d) => d.max_m ?? d.level_m);
    const near = stages.filter((s) => s.level_m >= Math.min(...lows) - 2).map((s) => s.level_m);
    let lo = Math.min(...lows, ...near, current), hi = Math.max(...highs, ...near, current);
    const pad = Math.max((hi - lo) * 0.08, 0.1);
    lo -= pad; hi += pad;
    const x = (v) => LEFT + (v - t0) / (t1 - t0 || 1) * (W - LEFT - RIGHT);
    const y = (v) => TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    const xs = points.map((d) => x(Date.parse(d.time)));
    const f = (v) => v.toFixed(1);

    // the envelope (min–max per bucket) and the mean
    const upper = points.map((d, i) => `${f(xs[i])},${f(y(highs[i]))}`);
    const lower = points.map((d, i) => `${f(xs[i])},${f(y(lows[i]))}`).reverse();
    const envelope = `<polygon class="envelope" points="${upper.concat(lower).join(" ")}" fill="#7fb3d5"
      fill-opacity="0.55" stroke="#1f5f8b" stroke-width="1"/>`;
    const mean = `<polyline class="mean" points="${points.map((d, i) => `${f(xs[i])},${f(y(d.level_m))}`).join(" ")}"
      fill="none" stroke="#0b3d5c" stroke-width="2"/>`;

    // stages: dashed lines across the plot, labels in the right margin, pushed apart
    const visible = stages.filter((s) => s.level_m >= lo && s.level_m <= hi);
    const labelY = placeLabels(visible.map((s) => y(s.level_m) + 4), 14, TOP + 10, H - BOTTOM);
    const stageLines = visible.map((s, i) => {
      const cls = s.alert_level ? `s-${s.alert_level}` : "s-watch";
      return `<g class="stage" data-stage="${esc(s.key)}">
        <line x1="${LEFT}" x2="${W - RIGHT}" y1="${f(y(s.level_m))}" y2="${f(y(s.level_m))}" stroke="#333"
          stroke-dasharray="5 3"/>
        <line x1="${W - RIGHT}" x2="${W - RIGHT + 6}" y1="${f(y(s.level_m))}" y2="${f(labelY[i] - 4)}" stroke="#333"/>
        <text class="stage-label ${cls}" x="${W - RIGHT + 8}" y="${f(labelY[i])}" font-size="11">${esc(t.stageName(s))} ${s.level_m.toFixed(2)} m</text></g>`;
    }).join("");

    // y ticks, x ticks at the ends, "now"
    const yTicks = ticks(lo, hi, 5).map((v) => `<text class="y-tick" x="${LEFT - 4}" y="${f(y(v) + 4)}"
      font-size="11" text-anchor="end">${v.toFixed(v % 1 ? 1 : 0)}</text>
      <line x1="${LEFT - 3}" x2="${LEFT}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="#666"/>`).join("");
    const nowX = x(now);
    const nowMark = now != null && now <= t1 ? `<g class="now"><line x1="${f(nowX)}" x2="${f(nowX)}" y1="${TOP}" y2="${H - BOTTOM}"
      stroke="#c00" stroke-width="1.5"/><text x="${f(nowX - 3)}" y="${H - BOTTOM - 4}" font-size="11"
      text-anchor="end" fill="#c00">${esc(t.now)}</text></g>` : "";
    const lastX = x(Date.parse(last.time));
    const currentMark = `<g class="current"><circle cx="${f(lastX)}" cy="${f(y(current))}" r="4" fill="#0b3d5c"/>
      <text x="${f(Math.min(lastX, W - RIGHT) - 6)}" y="${f(y(current) - 8)}" font-size="12" font-weight="700"
      text-anchor="end">${current.toFixed(2)} m</text></g>`;
    summary.push(`${t.current}: ${current.toFixed(2)} m (${t.time(last.time)})`);

    // the highest reading in view, and the stages it crossed
    const top = Math.max(...highs), topAt = points[highs.indexOf(top)].time;
    summary.push(`${t.peak}: ${top.toFixed(2)} m (${t.time(topAt)})`);
    const crossed = stages.filter((s) => top >= s.level_m).sort((a, b) => b.level_m - a.level_m)[0];
    if (crossed) summary.push(t.crossed(crossed));

    // the projection at the stored rate to the next stage, drawn up to 3 hours ahead
    let projectionMark = "";
    if (proj) {
      const lastT = Date.parse(last.time), hours = Math.min(proj.hours, 3);
      const endT = Math.min(lastT + hours * 3600e3, t1);
      const at = new Date(lastT + proj.hours * 3600e3);
      const minutes = Math.round(proj.hours * 60);
      summary.push(t.eta(proj.stage, minutes, at.toISOString()));
      projectionMark = `<line class="projection" x1="${f(lastX)}" y1="${f(y(current))}" x2="${f(x(endT))}"
        y2="${f(y(current + rate * (endT - lastT) / 3600e3))}" stroke="#c00" stroke-width="2"
        stroke-dasharray="2 3"/>`;
    }

    // the area's issued level: a band along the top from when it was issued, with words
    let band = "";
    if (issued) {
      const from = Math.max(Date.parse(issued.since), t0);
      band = `<g class="issued-band"><rect x="${f(x(from))}" y="2" width="${f(Math.max(x(t1) - x(from), 2))}"
        height="${TOP - 6}" fill="${FILL[issued.level] || "#999"}"/><text x="${f(x(from) + 4)}" y="${TOP - 9}"
        font-size="11" font-weight="700" fill="${INK[issued.level] || "#111"}">${esc(issued.text)}</text></g>`;
      summary.push(issued.text);
    }

    box.innerHTML = `<svg viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" aria-hidden="true">
      <rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${H - TOP - BOTTOM}" fill="#f7fbff" stroke="#999"/>
      ${band}${stageLines}${envelope}${mean}${projectionMark}${nowMark}${currentMark}${yTicks}
      <text x="4" y="${TOP - 9}" font-size="11">m</text>
      <text x="${LEFT}" y="${H - 6}" font-size="11">${esc(t.time(new Date(t0).toISOString()))}</text>
      <text x="${W - RIGHT}" y="${H - 6}" font-size="11" text-anchor="end">${esc(t.time(new Date(t1).toISOString()))}</text>
    </svg><ul class="hydrograph-summary">${summary.map((s) => `<li>${esc(s)}</li>`).join("")}</ul>`;
    return summary;
  }

  return { draw, placeLabels, projection, ticks };
})();
