#!/bin/bash
# agent.sim: the rollout simulator at a small N (tests/agent/scale.sh runs
# N = 1000 for docs/scale.md): every simulated device receives the retained
# deployment and reports success, and ledge fleet status lists them all.
set -euo pipefail
exec "$(dirname "$0")/scale.sh" 50 tls
