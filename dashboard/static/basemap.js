// The basemap the settings chose (dashboard/basemap.py): 地理院タイル, the city's tile
// server, the dashboard's own offline tiles, or none. kawamoriTiles adds its tile layer to
// a map (the staff map, map.js, watches it for the tiles-down notice); kawamoriMap makes
// the small maps of the rescue pages, whose <body> gives the basemap and the city's
// extent as data attributes (with no tiles the map still takes a tap).
"use strict";

window.kawamoriTiles = (map, basemap, lang) => {
  if (!basemap.url) return null;
  return L.tileLayer(basemap.url, {
    // an offline file may stop at a low zoom: its tiles are enlarged beyond it
    minZoom: basemap.minZoom,
    maxZoom: Math.max(basemap.maxZoom, 18),
    maxNativeZoom: basemap.maxZoom,
    attribution: basemap.attribution[lang] || basemap.attribution.ja,
  }).addTo(map);
};

window.kawamoriMap = (element, lang) => {
  const extent = JSON.parse(document.body.dataset.extent || "null");
  const map = L.map(element);
  if (extent) map.fitBounds([[extent.south, extent.west], [extent.north, extent.east]]);
  else map.fitWorld();
  window.kawamoriTiles(map, JSON.parse(document.body.dataset.basemap || "{}"), lang);
  return map;
};
