#!/usr/bin/env bash
# django-helpdesk's `manage.py escalate_tickets`, for comparison with bench/sweep.py.
#
# A thin wrapper around the shared peer benchmark (../shared/peers/helpdesk/bench.sh next
# to this repository): it pip-installs django-helpdesk into a temporary directory, seeds N
# overdue tickets and prints one line per N, e.g.
#   helpdesk escalate N=1000 wall_s=10.6 ... tickets_per_s=94 escalated=1000 emails=1000 ...
# Arguments and environment (WORKDIR, KEEP, PYTHON, QN, VERBOSE, BENCH_EMAIL_*) are passed through;
# HELPDESK_BENCH names the peer script when this repository is not beside ../shared (a worktree).
#
# Usage:  bench/helpdesk.sh [N ...]        (default 1000 10000; ~100 tickets/s)
set -euo pipefail
script="${HELPDESK_BENCH:-$(dirname "$0")/../../shared/peers/helpdesk/bench.sh}"
if [ ! -f "$script" ]; then
  echo "bench/helpdesk.sh: $script not found (expected ../shared/peers/helpdesk/ beside the repo)" >&2
  exit 2
fi
exec bash "$script" "$@"
