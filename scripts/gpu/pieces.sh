# Sourced by the scripts beside it. A lent GPU machine reaches no registry and each call carries at most 64 MiB, so
# wheels travel as a tar split into pieces of 60 MiB (the checkout, about 1.5 MiB, travels beside each), one folder
# per piece, each folder carried in its own call.
# Here (a machine that reaches PyPI): wheel_platform and pack_pieces. There: install_pieces and overlay_pieces.

# The machine's Python 3.12 on x86_64 (glibc 2.39): every manylinux tag up to 2.35.
wheel_platform=(--python-version 3.12 --implementation cp --only-binary=:all:
  --platform manylinux_2_35_x86_64 --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any)

# pack_pieces WHEELS DEST PREFIX NAME: the wheels in WHEELS (a folder, removed after) as DEST/PREFIX00/NAME00, ...,
# with DEST/wheels.txt (each wheel and its size in KiB), DEST/size.txt and DEST/.done.
pack_pieces() {
  local wheels=$1 dest=$2 prefix=$3 name=$4 piece folder
  rm -rf "$dest"/"$prefix"[0-9][0-9]
  mkdir -p "$dest/split"
  tar cf - -C "$wheels" . | split -b 60M -d -a 2 - "$dest/split/$name"
  for piece in "$dest"/split/*; do
    folder=$dest/$prefix${piece##*-}
    mkdir -p "$folder" && mv "$piece" "$folder/"
  done
  rmdir "$dest/split"
  (cd "$wheels" && du -k -- *.whl) | awk '{print $2 "\t" $1}' >"$dest/wheels.txt"
  du -sh "$wheels" | cut -f1 >"$dest/size.txt"
  rm -rf "$wheels"
  touch "$dest/.done"
  echo "$dest: $(wc -l <"$dest/wheels.txt") wheels, $(cat "$dest/size.txt"), $(ls -d "$dest/$prefix"[0-9][0-9] | wc -l) pieces"
}

# install_pieces 'PIECES' SITE: the wheels of the pieces PIECES (a glob, in order) into SITE (pip --target, no
# registry, no dependency resolution: the set is complete by construction), once.
install_pieces() {
  local pieces=$1 site=$2
  [ -f "$site/.ready" ] && return 0
  rm -rf "$site" "$site.wheels" && mkdir -p "$site.wheels"
  # shellcheck disable=SC2086  # PIECES is a glob
  cat $pieces | tar xf - -C "$site.wheels" || return 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$site.wheels"/*.whl ||
    return 1
  rm -rf "$site.wheels"
  touch "$site/.ready"
}

# overlay_pieces 'PIECES' BASE SITE: SITE is a hard-linked copy of BASE (which stays as it was) with the wheels of
# PIECES (another release and the pins it changes) installed over it, once.
overlay_pieces() {
  local pieces=$1 base=$2 site=$3 whl
  [ -f "$site/.ready" ] && return 0
  rm -rf "$site" "$site.wheels" && mkdir -p "$site.wheels"
  # shellcheck disable=SC2086  # PIECES is a glob
  cat $pieces | tar xf - -C "$site.wheels" || return 1
  cp -al "$base" "$site" || return 1
  rm -f "$site/.ready"
  for whl in "$site.wheels"/*.whl; do
    rm -rf "$site/$(basename "$whl" | cut -d- -f1)"-*.dist-info
  done
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$site.wheels"/*.whl || return 1
  rm -rf "$site.wheels"
  touch "$site/.ready"
}
