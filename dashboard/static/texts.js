// A staff page's words from the text catalogue (kawamori/texts/<language>.yaml, section
// console.<page>). The server embeds them in the page as JSON (<script id="texts">):
// nothing is fetched, so the page works offline on the municipal LAN and switches
// language at once.
"use strict";

window.kawamoriTexts = (() => {
  const all = JSON.parse(document.getElementById("texts").textContent);
  // say(lang)(key, params): the text with its {placeholders} filled in; a group of texts
  // (levels, roles, …) as it is; the key itself when the catalogue has no such text
  const say = (lang) => (key, params) => {
    const text = (all[lang] || all.ja)[key] ?? key;
    if (typeof text !== "string" || !params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  };
  return { all, say };
})();
