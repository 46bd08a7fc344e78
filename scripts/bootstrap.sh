# Creates .venv with Python 3.11 and installs the pinned requirements (sourced; $1 = requirements file).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
stamp=".venv/.installed-$(sha1sum requirements*.txt | sha1sum | cut -c1-12)-$(basename "$1")"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$1"
  touch "$stamp"
fi
