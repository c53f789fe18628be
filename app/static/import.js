// Confirming an import: post the form in the background and show progress while the
// server writes the rows (without JavaScript the form simply posts).
(function () {
  const form = document.getElementById("commit");
  if (!form) return;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const bar = document.getElementById("import-progress");
    bar.hidden = false;
    form.querySelector("button").disabled = true;
    const timer = setInterval(async () => {
      const r = await fetch(form.dataset.status, { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        bar.max = s.total || bar.max;
        bar.value = s.done || 0;
      }
    }, 300);
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((r) => r.json())
      .then((b) => { clearInterval(timer); window.location = b.redirect; })
      .catch(() => { clearInterval(timer); form.submit(); });
  });
})();
