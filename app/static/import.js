// An import running as a job: follow its progress, then show the result the server kept
// (without JavaScript, the page's refresh link does the same).
(function () {
  const box = document.getElementById("import-status");
  if (!box || !["queued", "running"].includes(box.dataset.state)) return;
  const bar = document.getElementById("import-progress");
  const done = document.getElementById("import-done");
  const timer = setInterval(async () => {
    const r = await fetch(box.dataset.status, { credentials: "same-origin" });
    if (!r.ok) return;
    const s = await r.json();
    bar.max = s.total || bar.max;
    bar.value = s.done || 0;
    done.textContent = s.done || 0;
    if (s.state === "done" || s.state === "failed") {
      clearInterval(timer);
      window.location.reload();
    }
  }, 500);
})();
