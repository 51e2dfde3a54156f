# SPDX-License-Identifier: MIT
# Shell functions shared by deploy/mosquitto/setup and scripts/add-edge.
# Sourced, not run.

# add_user PASSWD_FILE SECRETS_DIR NAME
# Makes a random password for NAME, stores it in SECRETS_DIR/NAME.password
# (mode 0600) and appends NAME's hash to PASSWD_FILE. The clear password is
# never on a command line: mosquitto_passwd -U hashes a private temp file.
add_user() {
  local passwd="$1" secrets="$2" name="$3" tmp
  if grep -q "^${name}:" "$passwd" 2>/dev/null; then
    echo "user '$name' already exists in $passwd" >&2
    return 1
  fi
  command -v mosquitto_passwd >/dev/null || { echo "mosquitto_passwd not found (install mosquitto)" >&2; return 1; }
  (umask 077; mkdir -p "$secrets")
  tmp=$(umask 077; mktemp)
  local pw
  pw=$(openssl rand -hex 24)
  (umask 077; printf '%s\n' "$pw" > "$secrets/$name.password")
  printf '%s:%s\n' "$name" "$pw" > "$tmp"
  unset pw
  if ! mosquitto_passwd -U "$tmp" >/dev/null 2>&1; then
    rm -f "$tmp"
    echo "mosquitto_passwd could not hash the password of '$name'" >&2
    return 1
  fi
  cat "$tmp" >> "$passwd"
  rm -f "$tmp"
}

# valid_id STRING: the id alphabet of the topic tree.
valid_id() {
  [[ "$1" =~ ^[a-z0-9_-]{1,64}$ ]]
}
