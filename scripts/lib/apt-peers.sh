# Shared by scripts/install-*-peers.sh (sourced, not run): which Debian
# packages are missing, and how to get the rights to install them.

# Prints the packages among the arguments that dpkg does not have installed, one per line.
missing_packages() {
  local package status
  for package in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)"
    [[ "$status" == installed ]] || echo "$package"
  done
}

# apt_privileges NAME PACKAGE...: sets the array `sudo` (empty as root,
# `sudo -n` otherwise), or explains what to install by hand and exits 1.
apt_privileges() {
  local name="$1"
  shift
  if ! command -v apt-get >/dev/null; then
    echo "$name: apt-get not found; install these by hand: $*" >&2
    exit 1
  fi
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null; then
      echo "$name: not root and no sudo; install these as root: $*" >&2
      exit 1
    fi
    sudo=(sudo -n)
  fi
}
