#!/usr/bin/env bash
# Installs patchcore-edge from this bundle into PREFIX, a Python virtual environment, without contacting any
# package index. Re-run it (this bundle's or another's) over an install to upgrade or roll back in place.
# It writes only inside PREFIX: the product store (/var/lib/patchcore-edge with the unit) is never touched.
#
#   ./install.sh PREFIX            e.g. ./install.sh /opt/patchcore-edge
#   PYTHON=/usr/bin/python3.11 ./install.sh PREFIX     another interpreter (default: python3)
set -euo pipefail
# What is installed must be readable by the service's user whatever umask the installing shell has (hardened
# systems set 027 or 077, and sudo keeps it): without this the unit failed with "Permission denied".
umask 022

usage() {
    echo "usage: $0 PREFIX   (e.g. $0 /opt/patchcore-edge); PYTHON=... picks the interpreter" >&2
    exit 2
}
die() {
    echo "error: $*" >&2
    exit 1
}
[ $# -eq 1 ] || usage
case "$1" in -h | --help) usage ;; esac

BUNDLE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null  # VERSION, PYTHON_TAG, DEFAULT_MODEL, written by make bundle
. "$BUNDLE/bundle.env"
PYTHON=${PYTHON:-python3}
PREFIX=$(realpath -m "$1")
MARKER="$PREFIX/patchcore-edge.bundle" # names the bundle last installed here; allows installing over it
SECONDS=0

# The unit file names PREFIX unquoted, so keep it to plain path characters.
[[ "$PREFIX" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "PREFIX may hold only letters, digits and . _ / + - ($PREFIX)"
if [ -e "$PREFIX" ] && [ ! -f "$MARKER" ] && [ -n "$(ls -A "$PREFIX")" ]; then
    die "$PREFIX is not empty and holds no earlier patchcore-edge install; choose a new or empty folder"
fi

python_tag() {
    "$1" -c 'import sys; print("cp%d%d" % sys.version_info[:2])'
}
command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH; the bundle needs Python $PYTHON_TAG (PYTHON=...)"
[ "$(python_tag "$PYTHON")" = "$PYTHON_TAG" ] ||
    die "this bundle's wheels are for $PYTHON_TAG, $PYTHON is $(python_tag "$PYTHON"); set PYTHON=..."
if [ -x "$PREFIX/bin/python" ]; then
    [ "$(python_tag "$PREFIX/bin/python")" = "$PYTHON_TAG" ] ||
        die "$PREFIX runs $(python_tag "$PREFIX/bin/python"), the bundle is for $PYTHON_TAG; use a new PREFIX"
else
    # Without pip: ensurepip (Debian's python3-venv package) is not needed, pip comes from the bundle.
    "$PYTHON" -m venv --without-pip "$PREFIX"
fi
echo "$(basename "$BUNDLE")" >"$MARKER"

# pip reads no configuration file and no PIP_* variable of this machine: only the bundle's wheels count.
export PIP_CONFIG_FILE=/dev/null
pip_options=(--isolated --disable-pip-version-check --no-input --quiet)
pip_options+=(--no-index --find-links "$BUNDLE/wheels")
if ! "$PREFIX/bin/python" -m pip --version >/dev/null 2>&1; then
    pip_wheel=$(ls "$BUNDLE"/wheels/pip-*.whl)
    "$PREFIX/bin/python" "$pip_wheel/pip" install "${pip_options[@]}" pip # pip runs from its own wheel
fi
pip=("$PREFIX/bin/python" -m pip install "${pip_options[@]}")
# Exactly this bundle's versions, newer or older than what PREFIX holds; then our own three wheels again, in
# case an earlier bundle had other files under the same version number.
"${pip[@]}" --requirement "$BUNDLE/requirements.txt"
"${pip[@]}" --no-deps --force-reinstall "$BUNDLE"/wheels/patchcore_edge*.whl

mkdir -p "$PREFIX/models" "$PREFIX/systemd"
for model in "$BUNDLE"/models/*.onnx; do # readable by the service's user; replaced whole, never half-written
    install -m 0644 "$model" "$PREFIX/models/.$(basename "$model").partial"
    mv "$PREFIX/models/.$(basename "$model").partial" "$PREFIX/models/$(basename "$model")"
done
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@MODEL@|$PREFIX/models/$DEFAULT_MODEL|g" \
    "$BUNDLE/patchcore-edge.service" >"$PREFIX/systemd/patchcore-edge.service"
cp "$BUNDLE/patchcore-edge.env" "$PREFIX/systemd/patchcore-edge.env"

cat <<DONE
patchcore-edge $VERSION installed in $PREFIX in $SECONDS s (models: $(ls "$PREFIX/models" | tr '\n' ' '))

As a service (as root; once, the first time):
  useradd --system --home-dir /var/lib/patchcore-edge --shell /usr/sbin/nologin patchcore-edge
  mkdir -p /etc/patchcore-edge && install -m 0600 $PREFIX/systemd/patchcore-edge.env /etc/patchcore-edge/
  systemctl link $PREFIX/systemd/patchcore-edge.service
  systemctl enable --now patchcore-edge
Check it:    $PREFIX/bin/patchcore-client health      (SERVING)
Settings:    /etc/patchcore-edge/patchcore-edge.env (tokens, TLS, address, model; then restart)
After an upgrade or roll-back: systemctl daemon-reload && systemctl restart patchcore-edge
DONE
