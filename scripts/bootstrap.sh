# Sourced by scripts/up and scripts/test: install what FireGrid needs, once, idempotently.
#   - Mosquitto (the embedded broker) from the distribution's packages when missing;
#   - a virtualenv in .venv with FireGrid and its dev tools, refreshed when pyproject changes;
#   - with FIREGRID_NEED_BROWSER=1 (scripts/test), Debian's Chromium for the console's browser
#     tests (Playwright drives it; `playwright install` would download from the internet), and a
#     Chinese font, without which the screenshots show the console's labels as empty boxes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "firegrid: need root to run: $*" >&2; exit 1; fi
}

apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "firegrid: please install: $* (no apt-get on this machine)" >&2; exit 1
    fi
    echo "installing $* with apt-get ..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    apt_install mosquitto
fi
# mosquitto_pub and curl: the first commands `./scripts/up` prints to try use them.
if ! command -v mosquitto_pub >/dev/null; then
    apt_install mosquitto-clients
fi
if ! command -v curl >/dev/null; then
    apt_install curl
fi

if [ "${FIREGRID_NEED_BROWSER:-0}" = 1 ]; then
    if ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
        apt_install chromium
    fi
    # Playwright's own driver (a Node.js binary in its wheel) links libatomic, which a minimal
    # Debian lacks; Chromium itself does not pull it in.
    if ! ldconfig -p 2>/dev/null | grep -q 'libatomic\.so\.1'; then
        apt_install libatomic1
    fi
    if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh family)" ]; then
        apt_install fonts-wqy-zenhei
    fi
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null; then apt_install python3 python3-venv; fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "firegrid: Python >= 3.11 is required ($("$PYTHON" --version))" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv "$VENV"; }
fi

STAMP="$VENV/.firegrid-installed"
HASH="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
    echo "installing FireGrid into $VENV ..." >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>/dev/null
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]"
    echo "$HASH" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
