#!/usr/bin/env bash
# Fuzz every Go fuzz target of the module, each for a fixed number of executions:
#
#   bash scripts/fuzz.sh                 # CI's budgets (make test runs this)
#   bash scripts/fuzz.sh 10              # ten times every budget, a longer hunt (make fuzz)
#   bash scripts/fuzz.sh 10 ./server     # only the targets of the packages named
#
# Budgets are counts (-fuzztime Nx), never durations. With a duration, Go 1.26's fuzz
# coordinator can fail a target that found nothing, "context deadline exceeded", when the machine
# is busy (golang/go#75804, fixed in Go 1.27). A count only takes longer on a busy machine.
#
# Targets are found, not listed here: `go test -list '^Fuzz'` over the packages, so a target
# added or removed in any package is fuzzed or dropped with no change to this script. Each target
# gets its own run (go test -fuzz takes one target at a time), every target runs even after one
# fails, and the script ends with the list of failures and exits 1 if there is any.
#
# A real finding fails the run and is left where Go writes it, in the package's
# testdata/fuzz/<Target>/, to be committed with its fix (plain `go test` then runs it as a
# regression test); the script prints its path. Nothing here deletes or cleans that directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# Executions per target in CI: about 10 s each on an idle 2-core machine (20-30 s under load).
# A target not named below gets the default. Keys are PACKAGE-DIR/TARGET, the path of the
# target's corpus without testdata/fuzz. Only targets that are much slower or faster per
# execution than the others need an entry; an entry whose target no longer exists is reported,
# not an error.
default_budget=60000
declare -A budgets=(
	[server/FuzzRequest]=25000      # the whole HTTP stack per input, about 2.5x slower than the others
	[server/FuzzRequestGraph]=25000 # likewise, under the graph profile
	[server/FuzzAdmin]=25000        # likewise, the admin API's, with its state compared around each input
)

scale=${1:-1}
if [ $# -gt 0 ]; then shift; fi
if ! [[ $scale =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bash scripts/fuzz.sh [MULTIPLIER] [PACKAGES...]" >&2
	echo "MULTIPLIER is a whole number that scales every execution budget (got \"$scale\")." >&2
	echo "Durations such as 10s are not accepted: a duration -fuzztime fails at random on a busy machine (golang/go#75804)." >&2
	exit 2
fi
packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
	packages=(./...)
fi

module=$(go list -m)

# Discover the targets: `go test -list` prints each package's matching names, then the package's
# "ok" line. The names before an "ok" line belong to that package.
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
if ! go test -list '^Fuzz' "${packages[@]}" >"$listing" 2>&1; then
	cat "$listing" >&2
	echo "fuzz: listing the fuzz targets failed (above)" >&2
	exit 1
fi
targets=() # "PACKAGE-DIR TARGET"
pending=()
while IFS= read -r line; do
	if [[ $line =~ ^Fuzz[A-Za-z0-9_]*$ ]]; then
		pending+=("$line")
	elif [[ $line =~ ^ok[[:space:]]+([^[:space:]]+) ]]; then
		pkg=${BASH_REMATCH[1]}
		dir=${pkg#"$module"}
		dir=${dir#/}
		dir=${dir:-.}
		for t in "${pending[@]}"; do
			targets+=("$dir $t")
		done
		pending=()
	fi
done <"$listing"
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets in ${packages[*]}" >&2
	exit 1
fi

# Budget entries that match no target are stale: say so, so that the table gets trimmed.
for key in "${!budgets[@]}"; do
	found=0
	for entry in "${targets[@]}"; do
		[ "${entry/ //}" = "$key" ] && found=1
	done
	if [ $found -eq 0 ] && [ "${packages[*]}" = "./..." ]; then
		echo "fuzz: note: scripts/fuzz.sh has a budget for $key, which is no fuzz target any more"
	fi
done

names=()
for entry in "${targets[@]}"; do names+=("${entry/ //}"); done
echo "fuzz: ${#targets[@]} targets: ${names[*]}"

log=$(mktemp)
trap 'rm -f "$listing" "$log"' EXIT
failed=()
reproducers=()
files=()
for entry in "${targets[@]}"; do
	dir=${entry% *}
	target=${entry#* }
	budget=$(( ${budgets[$dir/$target]:-$default_budget} * scale ))
	corpus="$dir/testdata/fuzz/$target"
	echo
	echo "=== fuzz $dir $target for ${budget} executions"
	start=$SECONDS
	if go test "./$dir" -run '^$' -fuzz "^${target}\$" -fuzztime "${budget}x" 2>&1 | tee "$log"; then
		echo "=== ok $dir $target ($(( SECONDS - start )) s)"
		continue
	fi
	failed+=("$dir $target")
	echo "=== FAIL $dir $target ($(( SECONDS - start )) s)"
	# Go names the input it wrote relative to the package directory:
	# "Failing input written to testdata/fuzz/FuzzX/0123abcd".
	while IFS= read -r written; do
		reproducers+=("$dir/$written (go test ./$dir -run '^$target/${written##*/}\$')")
		files+=("$dir/$written")
	done < <(sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^[:space:]]*\).*/\1/p' "$log")
	if ! grep -q 'Failing input written to' "$log"; then
		reproducers+=("none written for $dir $target: a seed in $corpus failed, or the run failed before fuzzing (see its output above)")
	fi
done

echo
if [ ${#failed[@]} -eq 0 ]; then
	echo "fuzz: all ${#targets[@]} targets passed"
	exit 0
fi
echo "fuzz: ${#failed[@]} of ${#targets[@]} targets FAILED:"
printf '  %s\n' "${failed[@]}"
echo "reproducers (commit each with its fix; plain go test then runs it):"
printf '  %s\n' "${reproducers[@]}"
# The files too, for a CI whose workspace is gone once the job ends: copy one from the log into
# its path to reproduce the failure.
for f in "${files[@]}"; do
	echo "--- $f"
	head -c 4096 "$f"
	echo
done
exit 1
