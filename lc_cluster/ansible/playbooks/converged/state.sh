# What a layer left on a host, as one digest: the layer's inputs (a digest the controller made), then each file's
# type, mode, owner and content, each unit's enabled and active state, each package's version and selection, and
# the output of each read-only command. `check` prints "converged" when it equals the digest recorded by the last
# converge, else "differs"; `record` writes it. Only the digest leaves the host: no file's content (a munge key) is
# printed.
# Usage: sh state.sh check|record STAMP INPUTS [--files PATH...] [--units UNIT...] [--packages NAME...]
#        [--commands COMMAND...]
set -u
mode=$1 stamp=$2 inputs=$3
shift 3

state() {
  echo "$inputs"
  section=
  for arg; do
    case $arg in
      --files | --units | --packages | --commands) section=$arg; echo "$arg"; continue ;;
    esac
    case $section in
      --files)
        if [ -e "$arg" ] || [ -L "$arg" ]; then
          stat -c '%n %F %a %U %G' "$arg"
          if [ -f "$arg" ]; then sha256sum <"$arg"; fi
        else
          echo "$arg absent"
        fi ;;
      --units) echo "$arg $(systemctl is-enabled "$arg" 2>&1) $(systemctl is-active "$arg" 2>&1)" ;;
      --packages)
        if command -v dpkg-query >/dev/null 2>&1; then
          dpkg-query -W -f '${Package} ${Version} ${Status}\n' "$arg" 2>&1
        else
          rpm -q "$arg" 2>&1
        fi ;;
      --commands) sh -c "$arg" 2>&1; echo "rc $?" ;;
    esac
  done
}

# No record yet (a first run): nothing to compare, so nothing is read.
if [ "$mode" = check ] && [ ! -f "$stamp" ]; then echo differs; exit 0; fi
digest=$(state "$@" | sha256sum | cut -d ' ' -f 1)
case $mode in
  check)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then echo converged; else echo differs; fi ;;
  record)
    mkdir -p "${stamp%/*}" && chmod 0700 "${stamp%/*}" && printf '%s\n' "$digest" >"$stamp.new" && mv "$stamp.new" "$stamp" ;;
  *) echo "state.sh: unknown mode $mode" >&2; exit 2 ;;
esac
