// Every page: the header menu and the phone cards (no inline script: CSP).
(function () {
  // On a desk the menu stays open (the CSS hides its summary); on a phone it folds.
  const menu = document.getElementById("menu");
  if (menu) {
    const wide = window.matchMedia("(min-width: 900px)");
    const fit = () => { menu.open = wide.matches; };
    fit();
    wide.addEventListener("change", fit);
  }
  // Filter boxes and the like: open on a desk, folded on a phone until tapped.
  const roomy = window.matchMedia("(min-width: 720px)");
  for (const box of document.querySelectorAll("details.fold-narrow")) box.open = roomy.matches;
  // On a phone each table row is a card: every cell carries its column's heading.
  for (const table of document.querySelectorAll("table.grid")) {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    if (!heads.length) continue;
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => {
        if (i < heads.length && !cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) {
          cell.dataset.label = heads[i];
        }
      });
    }
  }
})();

// A refused form comes back as it was typed (passwords and files aside): each POST keeps
// its fields for one page load, and a page that says why it refused puts them back.
(function () {
  const KEY = "rectify-typed";
  const SKIP = new Set(["hidden", "password", "file", "submit", "button"]);
  const keyOf = (form) => form.action + "|" + [...form.querySelectorAll("input[type=hidden]")]
    .filter((i) => i.name !== "csrf_token" && i.name !== "version")
    .map((i) => `${i.name}=${i.value}`).join("&");
  const kept = JSON.parse(sessionStorage.getItem(KEY) || "null");
  sessionStorage.removeItem(KEY);
  if (kept && document.querySelector(".flash.error, .flash.refused, [role=alert]")) {
    const form = [...document.forms].find((f) => keyOf(f) === kept.key);
    if (form) {
      const left = {};
      for (const [name, value] of kept.fields) (left[name] = left[name] || []).push(value);
      for (const el of form.elements) {
        if (!el.name || SKIP.has(el.type) || !(el.name in left)) continue;
        if (el.type === "checkbox" || el.type === "radio") el.checked = left[el.name].includes(el.value);
        else if (el.tagName === "SELECT" && el.multiple) {
          for (const o of el.options) o.selected = left[el.name].includes(o.value);
        } else el.value = left[el.name].shift() ?? el.value;
      }
      form.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.method !== "post") return;
    const fields = [...form.elements]
      .filter((el) => el.name && !SKIP.has(el.type) && !((el.type === "checkbox" || el.type === "radio") && !el.checked))
      .flatMap((el) => (el.tagName === "SELECT" && el.multiple
        ? [...el.selectedOptions].map((o) => [el.name, o.value]) : [[el.name, el.value]]));
    sessionStorage.setItem(KEY, JSON.stringify({ key: keyOf(form), fields }));
  });
})();
