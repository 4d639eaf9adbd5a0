# Sourced by the benchmark scripts: fetch_crate NAME VERSION SCRATCH prints
# the directory of the crate's published source, copied once out of cargo's
# registry into SCRATCH/src/NAME-VERSION and made a workspace of its own
# (reused by later runs). Needs crates.io.
fetch_crate() { # name version scratch -> prints the source dir
  local name=$1 version=$2 scratch=$3
  local dir="$scratch/src/$name-$version" proj="$scratch/fetch/$name-$version" reg
  if [[ ! -f $dir/Cargo.toml ]]; then
    mkdir -p "$proj/src" "$scratch/src"
    : >"$proj/src/lib.rs"
    printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n%s = "=%s"\n\n[workspace]\n' \
      "$name" "$name" "$version" >"$proj/Cargo.toml"
    cargo fetch --quiet --manifest-path "$proj/Cargo.toml" >&2
    reg=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -mindepth 2 -maxdepth 2 -name "$name-$version" -print -quit)
    [[ -n $reg ]] || { echo "$name $version: not found in the registry after cargo fetch" >&2; return 1; }
    rm -rf "$dir.tmp"
    cp -R "$reg" "$dir.tmp"
    grep -qE '^\[workspace(\]|\.)' "$dir.tmp/Cargo.toml" || printf '\n[workspace]\n' >>"$dir.tmp/Cargo.toml"
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
