#!/usr/bin/env bash
# A shell script that forks heavily: command substitutions, subshells and
# pipelines of small tools in loops, as build and glue scripts do.
# Prints a digest of everything it computed. usage: fork_heavy.sh [N]
set -euo pipefail
n=${1:-400}
out=""
for i in $(seq 1 "$n"); do
  a=$(echo "$i" | tr 0-9 a-j)
  b=$( (printf '%s\n' "$a" "$i"; echo $((i * i))) | sort | paste -sd, )
  c=$(printf '%05d' "$i" | rev | cut -c1-3)
  ( : "$((i % 7))" ) &
  if (( i % 50 == 0 )); then wait; fi
  out+="$a:$b:$c;"
done
wait
sum=$(printf '%s' "$out" | tr ';' '\n' | awk -F: '{ s += length($2) } END { print s }')
echo "lines $n chars $sum"
printf '%s' "$out" | sha256sum | cut -d' ' -f1
