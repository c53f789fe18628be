"""The web server as deployed: ``gunicorn -c gunicorn.conf.py 'app:create_app()'`` (the
Dockerfile's and docker-compose's command), a real gunicorn with two workers on a
migrated SQLite database. Each worker freezes its start-up heap once the app is built
(app/heap.py: a full collection otherwise walks the app's ~200,000 objects, about 160 ms
once every fifty to a hundred requests) and says so in the log, and then serves pages."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from app.migrate import upgrade
from tests.integration.celery_fixtures import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_each_gunicorn_worker_freezes_its_start_up_heap_and_serves(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")} | {
        "RECTIFY_DATABASE_URL": url,
        "RECTIFY_SECRET_KEY": secrets.token_hex(32),
        "RECTIFY_INSTANCE_DIR": str(tmp_path / "instance"),
        "RECTIFY_SCHEDULER": "off",
    }
    log_path = tmp_path / "gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-w", "2", "-b", f"127.0.0.1:{port}"]
    with log_path.open("w") as log:
        proc = subprocess.Popen([*cmd, "app:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        line = re.compile(r"worker (\d+): start-up heap frozen \((\d+) objects\)")

        def both_frozen() -> bool:
            assert proc.poll() is None, log_path.read_text()
            return len(line.findall(log_path.read_text())) == 2

        wait_for(both_frozen, 60, "both gunicorn workers to freeze their start-up heap")
        frozen = line.findall(log_path.read_text())
        assert len({pid for pid, _ in frozen}) == 2  # one line from each worker
        assert min(int(n) for _, n in frozen) > 50_000, frozen  # the app's objects, not a handful
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/login")  # a frozen worker serves as before
        response = conn.getresponse()
        assert response.status == 200 and "登录" in response.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
