#!/bin/sh
# The fallback process manager where systemd is not running (containers, minimal images, test targets):
#   sh supervise.sh start|stop|restart|status DEST
# `start` runs DEST/current's service in a respawn loop (restart 2 s after any exit, like systemd's
# Restart=always) in its own session, detached from the caller; pids and the log are in DEST/run/.
# `stop` sends SIGTERM to the loop's whole process group and waits up to 10 s (then SIGKILL).
# `kill -HUP "$(cat DEST/run/service.pid)"` asks the running service to reload its bundle.
set -eu
CMD=$1
DEST=$(cd "$2" && pwd)
RUN="$DEST/run"
mkdir -p "$RUN"

running() { [ -f "$RUN/supervisor.pid" ] && kill -0 "$(cat "$RUN/supervisor.pid")" 2>/dev/null; }

start() {
    running && return 0
    # shellcheck disable=SC2016  # $0 and $! are expanded by the inner shell
    rm -f "$RUN/supervisor.pid"
    setsid sh -c '
        echo $$ > "$0/run/supervisor.pid"  # setsid may fork: the loop records its own pid (= its pgid)
        cd "$0"
        while :; do
            "$0/current/venv/bin/prognos-edge" serve --config "$0/current/edge.toml" </dev/null >>"$0/run/service.log" 2>&1 &
            echo $! > "$0/run/service.pid"
            wait $! || true
            sleep 2
        done' "$DEST" </dev/null >/dev/null 2>&1 &
    i=0
    while [ ! -s "$RUN/supervisor.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
}

stop() {
    running || { rm -f "$RUN/supervisor.pid"; return 0; }
    PGID=$(cat "$RUN/supervisor.pid")
    kill -TERM "-$PGID" 2>/dev/null || true
    i=0
    while kill -0 "-$PGID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "-$PGID" 2>/dev/null || true
    rm -f "$RUN/supervisor.pid" "$RUN/service.pid"
}

case "$CMD" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) if running; then echo "running (supervisor pid $(cat "$RUN/supervisor.pid"))"; else echo stopped; exit 3; fi ;;
    *) echo "usage: supervise.sh start|stop|restart|status DEST" >&2; exit 2 ;;
esac
