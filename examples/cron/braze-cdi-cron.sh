#!/usr/bin/env bash
# braze-cdi from cron: one run at a time, everything in a log file, alerts through the exit code.
#
#   */30 * * * * BRAZE_CDI_HOME=/srv/braze-cdi /srv/braze-cdi/braze-cdi-cron.sh
#
# BRAZE_CDI_HOME  folder with .dlt/ (config, secrets) where the run happens (default: this script's folder)
# BRAZE_CDI       the braze-cdi command (default: braze-cdi on PATH, e.g. /srv/braze-cdi/.venv/bin/braze-cdi)
# BRAZE_CDI_LOG   log file (default: $BRAZE_CDI_HOME/logs/braze-cdi.log); rotate it with logrotate
# BRAZE_CDI_LOG_FORMAT  text (default) or json (one JSON object a line on stderr, for log shippers)
# BRAZE_CDI_SKIP_HEALTH=1  run only, no `braze-cdi health` afterwards
# Arguments are passed to `braze-cdi run` (e.g. --destination postgres).
#
# Exit code (cron mails whatever this prints on stderr when MAILTO is set; it prints only on trouble):
#   0  loaded and healthy, or skipped because the previous run is still going (logged, not an error)
#   1  some integrations failed to load, or `braze-cdi health` says an integration is unhealthy
#   2  nothing loaded (configuration, key, destination) or health could not tell
set -uo pipefail

BRAZE_CDI_HOME=${BRAZE_CDI_HOME:-$(cd "$(dirname "$0")" && pwd)}
BRAZE_CDI=${BRAZE_CDI:-braze-cdi}
BRAZE_CDI_LOG=${BRAZE_CDI_LOG:-$BRAZE_CDI_HOME/logs/braze-cdi.log}
BRAZE_CDI_LOG_FORMAT=${BRAZE_CDI_LOG_FORMAT:-text}
LOCK_FILE=$BRAZE_CDI_HOME/.braze-cdi-cron.lock

cd "$BRAZE_CDI_HOME" || { echo "braze-cdi-cron: no folder $BRAZE_CDI_HOME" >&2; exit 2; }
mkdir -p "$(dirname "$BRAZE_CDI_LOG")"

log() { printf '%s braze-cdi-cron[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >>"$BRAZE_CDI_LOG"; }

# One run at a time: the lock is held on fd 9 until this script exits (the kernel frees it even on kill -9).
exec 9>>"$LOCK_FILE"
if ! flock -n 9; then
    log "skipped: the previous run still holds $LOCK_FILE"
    # silent under cron (any output is mailed); say it when run by hand in a terminal
    if [ -t 1 ]; then echo "braze-cdi-cron: skipped, the previous run is still going (lock $LOCK_FILE)"; fi
    exit 0
fi

log "run started"
"$BRAZE_CDI" --log-format "$BRAZE_CDI_LOG_FORMAT" run "$@" >>"$BRAZE_CDI_LOG" 2>&1
run_rc=$?
log "run exited $run_rc"
if [ "$run_rc" -eq 75 ]; then
    # braze-cdi's own lock: a run started by hand (not by this script) is loading the same pipeline.
    log "skipped: another braze-cdi run of this pipeline is in progress"
    exit 0
fi

health_rc=0
if [ "$run_rc" -le 1 ] && [ "${BRAZE_CDI_SKIP_HEALTH:-0}" != "1" ]; then
    "$BRAZE_CDI" --log-format "$BRAZE_CDI_LOG_FORMAT" health >>"$BRAZE_CDI_LOG" 2>&1
    health_rc=$?
    log "health exited $health_rc"
fi

if [ "$run_rc" -ne 0 ]; then
    echo "braze-cdi-cron: run failed (exit $run_rc), health exit $health_rc; see $BRAZE_CDI_LOG" >&2
    exit "$run_rc"
fi
if [ "$health_rc" -ne 0 ]; then
    echo "braze-cdi-cron: loaded, but health exit $health_rc (1 unhealthy, 2 could not tell); see $BRAZE_CDI_LOG" >&2
    exit "$health_rc"
fi
exit 0
