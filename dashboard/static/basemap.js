// The basemap the settings chose (dashboard/basemap.py), for the small maps of the rescue
// pages: 地理院タイル, the city's tile server, the dashboard's own offline tiles, or none
// (then the map still takes a tap). The page gives it and the city's extent as data
// attributes of <body>; the staff map (map.js) has its own, with the tiles-down notice.
"use strict";

window.kawamoriMap = (element, lang) => {
  const basemap = JSON.parse(document.body.dataset.basemap || "{}");
  const extent = JSON.parse(document.body.dataset.extent || "null");
  const map = L.map(element);
  if (extent) map.fitBounds([[extent.south, extent.west], [extent.north, extent.east]]);
  else map.fitWorld();
  if (basemap.url) {
    L.tileLayer(basemap.url, {
      // an offline file may stop at a low zoom: its tiles are enlarged beyond it
      minZoom: basemap.minZoom,
      maxZoom: Math.max(basemap.maxZoom, 18),
      maxNativeZoom: basemap.maxZoom,
      attribution: basemap.attribution[lang] || basemap.attribution.ja,
    }).addTo(map);
  }
  return map;
};
