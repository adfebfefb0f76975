# Sourced by toy.sh and test.sh: make sure .venv exists and matches requirements.txt, then use it.
# The venv is rebuilt when requirements.txt changes (its hash is stored inside the venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "setup: creating .venv from requirements.txt (first run: a few minutes; fasttext compiles)"
  if [ -L .venv ]; then  # a link to another checkout's venv: drop the link, never the venv it names
    echo "setup: .venv links to $(readlink .venv), which does not match requirements.txt: replacing the link"
    rm .venv
  else
    rm -rf .venv
  fi
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
export PATH="$PWD/.venv/bin:$PATH"
