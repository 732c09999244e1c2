#!/usr/bin/env bash
# The RustSec advisory database that `cargo deny check advisories` reads.
#
# cargo-deny clones it from GitHub (https://github.com/RustSec/advisory-db,
# the `db-urls` of deny.toml) into $CARGO_HOME/advisory-dbs/. Machines that
# cannot reach GitHub (this project's CI) check against a local copy there
# instead, with `cargo deny --offline`. A snapshot of the database is
# committed as conformance/rustsec-advisory-db.tar.xz (a shallow, bare git
# clone of one upstream commit; conformance/README.md says which), so a
# fresh machine has a copy without GitHub. This script makes, refreshes and
# dates the local copy, and makes the snapshot.
#
#   scripts/advisory-db.sh fetch          clone or update the copy from GitHub
#   scripts/advisory-db.sh ensure         without GitHub: make sure the copy is at
#                                         least as new as the committed snapshot
#                                         (importing the snapshot when the copy is
#                                         missing or older)
#   scripts/advisory-db.sh import SOURCE  make the copy from another clone of the
#                                         database (a directory, a git URL, or a
#                                         snapshot .tar.xz); its origin is set back
#                                         to GitHub, so a later `fetch` updates it
#                                         from there
#   scripts/advisory-db.sh snapshot       write the copy as the committed snapshot
#                                         (after `fetch` or `import`), and print
#                                         its commit and date for conformance/README.md
#   scripts/advisory-db.sh status         where the copy is, where it came from,
#                                         its newest commit and age. Exit 0: usable
#                                         (STALE printed past MAX_AGE_DAYS); 1: there
#                                         is none; 2: older than REFUSE_AGE_DAYS
#                                         (cargo-deny refuses it, see deny.toml)
#   scripts/advisory-db.sh path           the copy's directory
#
# Env: CARGO_HOME, ADVISORY_DB_MAX_AGE_DAYS (90: older is reported STALE).
set -euo pipefail
cd "$(dirname "$0")/.."

URL="https://github.com/RustSec/advisory-db"
# cargo-deny's directory for that URL: its last path segment and the XxHash64
# (seed 0xca80de71) of the lowercased URL (src/advisories/helpers/db.rs,
# url_to_db_path, cargo-deny 0.20). A different URL needs a different name.
NAME="advisory-db-3157b0e258782691"
ROOT="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
DB="$ROOT/$NAME"
SNAPSHOT="conformance/rustsec-advisory-db.tar.xz"
# The directory inside the snapshot: a bare repository.
SNAPSHOT_DIR="advisory-db.git"
MAX_AGE_DAYS="${ADVISORY_DB_MAX_AGE_DAYS:-90}"
# deny.toml's maximum-db-staleness (P365D): cargo-deny refuses an older copy.
REFUSE_AGE_DAYS=365

# cargo-deny dates a copy by the mtime of .git/FETCH_HEAD, else by the newer
# of its HEAD commit's time and the mtime of .git/HEAD (src/git.rs,
# get_fetch_time). A copy made here gets no FETCH_HEAD and a .git/HEAD as
# old as its newest commit, so cargo-deny judges it by the age of its data,
# not by when it was copied.
date_by_commit() {
  rm -f "$1/.git/FETCH_HEAD"
  touch -d "@$(git -C "$1" show -s --format=%ct HEAD)" "$1/.git/HEAD"
}

# Unpacks snapshot $1 into directory $2; prints the bare repository's path.
unpack_snapshot() {
  tar -xJf "$1" -C "$2"
  echo "$2/$SNAPSHOT_DIR"
}

case "${1:-status}" in
  path)
    echo "$DB"
    ;;
  fetch)
    # cargo-deny fetches the way it always does (`git fetch --depth=1` of
    # main from the copy's origin, or a shallow clone).
    if ! cargo deny --locked fetch db; then
      # A failed `git fetch` leaves an empty .git/FETCH_HEAD written now,
      # which cargo-deny would take for the date of the copy.
      if [ -d "$DB/.git" ] && [ ! -s "$DB/.git/FETCH_HEAD" ]; then
        date_by_commit "$DB"
      fi
      exit 1
    fi
    ;;
  ensure)
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    snap="$(unpack_snapshot "$SNAPSHOT" "$TMP")"
    snap_time="$(git -C "$snap" show -s --format=%ct HEAD)"
    if [ -d "$DB/.git" ] && have_time="$(git -C "$DB" show -s --format=%ct HEAD 2>/dev/null)" &&
      [ "$have_time" -ge "$snap_time" ]; then
      echo "the local copy is as new as $SNAPSHOT or newer; keeping it"
    else
      "$0" import "$SNAPSHOT"
    fi
    ;;
  import)
    SOURCE="${2:?usage: scripts/advisory-db.sh import SOURCE (a clone of $URL, or a snapshot .tar.xz)}"
    mkdir -p "$ROOT"
    NEW="$(mktemp -d "$ROOT/.import.XXXXXX")"
    trap 'rm -rf "$NEW"' EXIT
    FROM="$SOURCE"
    case "$SOURCE" in
      *.tar.xz)
        mkdir "$NEW/snapshot"
        bare="$(unpack_snapshot "$SOURCE" "$NEW/snapshot")"
        SOURCE="file://$bare"
        FROM="$FROM (commit $(git -C "$bare" rev-parse HEAD))"
        ;;
      *) [ -d "$SOURCE" ] && SOURCE="file://$(cd "$SOURCE" && pwd)" && FROM="$SOURCE" ;;
    esac
    git clone --quiet --depth=1 --branch main "$SOURCE" "$NEW/db"
    [ -d "$NEW/db/crates" ] ||
      { echo "$SOURCE does not look like the RustSec advisory database (no crates/)" >&2; exit 1; }
    git -C "$NEW/db" remote set-url origin "$URL"
    git -C "$NEW/db" config gezinsregie.imported-from "$FROM"
    git -C "$NEW/db" config gezinsregie.imported-at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    date_by_commit "$NEW/db"
    rm -rf "$DB"
    mv "$NEW/db" "$DB"
    echo "imported $FROM into $DB"
    "$0" status || true
    ;;
  snapshot)
    [ -d "$DB/.git" ] || { echo "no advisory database at $DB: run fetch or import first" >&2; exit 1; }
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    BARE="$TMP/$SNAPSHOT_DIR"
    git clone --quiet --bare --depth=1 --branch main "file://$DB" "$BARE"
    git -C "$BARE" remote set-url origin "$URL"
    # Objects stored whole and uncompressed: xz then finds what the
    # advisories have in common (under 400 kB instead of 800 kB for the
    # usual zlib-compressed pack). No bitmap, no reverse index, no hooks:
    # git needs none of them to clone it.
    git -C "$BARE" -c pack.compression=0 -c repack.writeBitmaps=false \
      -c pack.writeReverseIndex=false repack -q -a -d -F --window=0
    rm -rf "$BARE/hooks" "$BARE/description" "$BARE/info" "$BARE/branches" \
      "$BARE"/objects/pack/*.bitmap "$BARE"/objects/pack/*.rev
    when="$(git -C "$BARE" show -s --format=%ct HEAD)"
    tar --sort=name --mtime="@$when" --owner=0 --group=0 --numeric-owner \
      -C "$TMP" -cf - "$SNAPSHOT_DIR" | xz -9e >"$SNAPSHOT.new"
    mv "$SNAPSHOT.new" "$SNAPSHOT"
    echo "wrote $SNAPSHOT ($(stat -c %s "$SNAPSHOT") bytes): commit" \
      "$(git -C "$BARE" show -s --format='%H of %cI' HEAD)"
    ;;
  status)
    if [ ! -d "$DB/.git" ]; then
      echo "no advisory database at $DB"
      exit 1
    fi
    commit="$(git -C "$DB" show -s --format='%h %cs' HEAD)"
    age=$(( ($(date +%s) - $(git -C "$DB" show -s --format=%ct HEAD)) / 86400 ))
    from="$(git -C "$DB" config gezinsregie.imported-from || true)"
    if [ -n "$from" ]; then
      from="imported from $from at $(git -C "$DB" config gezinsregie.imported-at || echo '?')"
    else
      from="fetched from $(git -C "$DB" remote get-url origin 2>/dev/null || echo '?')"
    fi
    echo "advisory database at $DB: $from; newest commit $commit ($age days old)"
    if [ "$age" -gt "$REFUSE_AGE_DAYS" ]; then
      echo "older than $REFUSE_AGE_DAYS days: cargo-deny refuses it (refresh $SNAPSHOT, see conformance/README.md)"
      exit 2
    elif [ "$age" -gt "$MAX_AGE_DAYS" ]; then
      echo "STALE: older than $MAX_AGE_DAYS days; advisories published after it are not known to the check"
    fi
    ;;
  *)
    echo "usage: scripts/advisory-db.sh fetch | ensure | import SOURCE | snapshot | status | path" >&2
    exit 64
    ;;
esac
