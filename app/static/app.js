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
  // The header's counts (what waits, unread messages): my work prints them, every other
  // page asks for them once shown (counting every box is the dearest part of a page).
  // What a page asks for once it is shown: JSON of the signed-in reader's, or null.
  const fetched = (url) => fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null));
  if (menu && menu.dataset.counts) {
    fetched(menu.dataset.counts)
      .then((found) => {
        if (!found) return;
        const show = (selector, text) => {
          for (const badge of document.querySelectorAll(selector)) {
            badge.textContent = text;
            badge.hidden = text === "0";
          }
        };
        show("[data-waiting]", found.waiting);
        show("[data-unread]", String(found.unread));
      })
      .catch(() => {});  // the badges stay hidden: the page itself is whole without them
  }
  // Filter boxes and the like: open on a desk, folded on a phone until tapped.
  const roomy = window.matchMedia("(min-width: 720px)");
  for (const box of document.querySelectorAll("details.fold-narrow")) box.open = roomy.matches;
  // A long select (a city's thousand units) comes with its chosen option only; the rest
  // are fetched once shown, and the browser keeps them a few minutes.
  for (const select of document.querySelectorAll("select[data-options]")) {
    fetched(select.dataset.options)
      .then((choices) => {
        if (!choices) return;
        const chosen = select.value;
        for (const option of [...select.options]) if (option.value) option.remove();
        for (const [value, label] of choices) {
          const option = new Option(label, String(value));
          option.selected = String(value) === chosen;
          select.add(option);
        }
      })
      .catch(() => {});  // the chosen unit and 全部 stay: the filter still works
  }
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
