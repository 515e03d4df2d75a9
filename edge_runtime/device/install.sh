#!/bin/sh
# Installs release ID under DEST on this device (run by `prognos-edge deploy`, locally or over ssh):
#   venv -> pip install -> switch DEST/current -> restart -> /healthz -> roll back if unhealthy.
# Usage: sh install.sh DEST ID      (the release's files are already in DEST/releases/ID)
# Environment (all optional):
#   PROGNOS_PYTHON                 interpreter for the venv (default python3; needs the venv module)
#   PROGNOS_DEPLOY_PIP_ARGS        extra pip args, e.g. "--no-index --find-links /opt/wheels" offline
#   PROGNOS_DEPLOY_VENV_ARGS       extra venv args, e.g. --system-site-packages for a distro numpy
#   PROGNOS_DEPLOY_SITE            a directory of already-installed packages the venv may use (.pth line)
#   PROGNOS_DEPLOY_INIT            systemd | supervise | auto (default: systemd if it is running)
#   PROGNOS_DEPLOY_HEALTH_TIMEOUT  seconds to wait for /healthz (default 30)
#   PROGNOS_DEPLOY_KEEP            releases to keep (default 3)
set -eu
DEST=$(cd "$1" && pwd)
ID=$2
REL="$DEST/releases/$ID"
PY=${PROGNOS_PYTHON:-python3}
log() { echo "[prognos-install] $*"; }

init_kind() {
    case "${PROGNOS_DEPLOY_INIT:-auto}" in
        auto) if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then echo systemd; else echo supervise; fi ;;
        *) echo "$PROGNOS_DEPLOY_INIT" ;;
    esac
}

restart() {
    if [ "$(init_kind)" = systemd ]; then
        sed "s|@DEST@|$DEST|g" "$DEST/current/prognos-edge.service" > /etc/systemd/system/prognos-edge.service
        systemctl daemon-reload
        systemctl enable --quiet prognos-edge
        systemctl restart prognos-edge
    else
        sh "$DEST/current/supervise.sh" restart "$DEST"
    fi
}

stop_service() {  # a failed first release: nothing may keep running or start at boot
    if [ "$(init_kind)" = systemd ]; then
        systemctl disable --now --quiet prognos-edge || true
    else
        sh "$REL/supervise.sh" stop "$DEST"
    fi
}

healthy() {
    "$DEST/current/venv/bin/prognos-edge" healthcheck --config "$DEST/current/edge.toml" \
        --timeout "${PROGNOS_DEPLOY_HEALTH_TIMEOUT:-30}"
}

switch_to() {  # atomically point DEST/current at releases/$1
    ln -sfn "releases/$1" "$DEST/current.new"
    "$REL/venv/bin/python" -c 'import os, sys; os.replace(sys.argv[1], sys.argv[2])' "$DEST/current.new" "$DEST/current"
}

log "release $ID: creating the venv with $PY"
# shellcheck disable=SC2086  # the *_ARGS variables are word lists on purpose
"$PY" -m venv ${PROGNOS_DEPLOY_VENV_ARGS:-} "$REL/venv"
if [ -n "${PROGNOS_DEPLOY_SITE:-}" ]; then
    SITE=$("$REL/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$PROGNOS_DEPLOY_SITE" > "$SITE/prognos_deploy_site.pth"
fi
log "pip install -r requirements-edge.txt $(cd "$REL/wheels" && echo *.whl)"
# shellcheck disable=SC2086
"$REL/venv/bin/python" -m pip install --quiet --disable-pip-version-check ${PROGNOS_DEPLOY_PIP_ARGS:-} \
    -r "$REL/requirements-edge.txt" "$REL"/wheels/*.whl
"$REL/venv/bin/prognos-edge" healthcheck --config "$REL/edge.toml" --check-bundle

PREV=$(readlink "$DEST/current" 2>/dev/null | sed 's|^releases/||' || true)
switch_to "$ID"
log "restarting the service ($(init_kind))"
restart
if healthy; then
    log "release $ID is healthy"
    drop=$(( $(ls -1 "$DEST/releases" | wc -l) - ${PROGNOS_DEPLOY_KEEP:-3} ))
    for old in $(ls -1 "$DEST/releases" | sort); do  # release ids start with a UTC timestamp
        [ "$drop" -gt 0 ] || break
        [ "$old" = "$ID" ] || [ "$old" = "$PREV" ] || { rm -rf "${DEST:?}/releases/$old"; drop=$((drop - 1)); }
    done
    exit 0
fi
if [ -z "$PREV" ] || [ "$PREV" = "$ID" ]; then
    log "release $ID is unhealthy and there is no previous release to roll back to: stopping the service"
    stop_service
    rm -f "$DEST/current"  # the next deploy must not take this release for a healthy one to roll back to
    exit 1
fi
log "release $ID is unhealthy; rolling back to $PREV"
switch_to "$PREV"
restart
if healthy; then
    log "rolled back to $PREV, which is healthy"
else
    log "rolled back to $PREV, but it is unhealthy too"
fi
exit 1
