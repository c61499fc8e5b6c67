# What a layer left on a host, as one digest: the layer's inputs (a digest the controller made), then each file's
# type, mode, owner and content, each unit's enabled and active state, each package's version and selection, and
# the output of each read-only command. `check` prints "converged" when it equals the digest recorded by the last
# converge, else "differs"; `record` writes it. Only the digest leaves the host: no file's content (a munge key) is
# printed.
# Usage: sh state.sh STAMP INPUTS FILES UNITS PACKAGES COMMANDS check|record
# FILES to COMMANDS are lists of one item per line. Each kind is read by one process, not one per item: a re-run
# costs this read per layer and host, and process starts are most of it.
set -u -f
stamp=$1 inputs=$2 files=$3 units=$4 packages=$5 commands=$6 mode=$7
# Lists split at newlines only (paths and commands may hold spaces), and `set -f` keeps them from globbing.
IFS='
'

state() {
  echo "$inputs"
  echo --files
  if [ -n "$files" ]; then
    # An absent path is missing from both lists, which changes the digest as its presence would. Directories are left
    # out of the checksums (sha256sum only complains of them).
    stat -c '%n %F %a %U %G' $files 2>/dev/null
    sha256sum $files 2>/dev/null
  fi
  echo --units
  if [ -n "$units" ]; then systemctl show --property=Id,UnitFileState,ActiveState $units 2>&1; fi
  echo --packages
  if [ -n "$packages" ]; then
    # An absent package is missing from the list.
    if command -v dpkg-query >/dev/null 2>&1; then
      dpkg-query -W -f '${Package} ${Version} ${Status}\n' $packages 2>/dev/null
    else
      rpm -q $packages 2>&1
    fi
  fi
  echo --commands
  for command in $commands; do
    sh -c "$command" 2>&1
    echo "rc $?"
  done
}

case $mode in
  check)
    # No record yet (a first run): nothing to compare, so nothing is read.
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(state | sha256sum | cut -d ' ' -f 1)" ]; then
      echo converged
    else
      echo differs
    fi ;;
  record)
    digest=$(state | sha256sum | cut -d ' ' -f 1)
    mkdir -p "${stamp%/*}" && chmod 0700 "${stamp%/*}" && printf '%s\n' "$digest" >"$stamp.new" && mv "$stamp.new" "$stamp" ;;
  *) echo "state.sh: unknown mode $mode" >&2; exit 2 ;;
esac
