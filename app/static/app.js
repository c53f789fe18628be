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
