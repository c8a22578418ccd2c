#!/usr/bin/env bash
# git on a generated tree: init, 20 commits with fixed author/committer
# dates (so every hash is the same on every run), a branch and merge,
# gc --aggressive (threaded delta compression), fsck, then a digest of
# the log and of the objects. usage: git_work.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir" && cd "$dir"
export GIT_CONFIG_NOSYSTEM=1 HOME="$PWD" LC_ALL=C TZ=UTC
export GIT_AUTHOR_NAME=corpus GIT_AUTHOR_EMAIL=corpus@example.org
export GIT_COMMITTER_NAME=corpus GIT_COMMITTER_EMAIL=corpus@example.org
git init -q -b main repo
cd repo
commit() {
  export GIT_AUTHOR_DATE="2024-01-01T00:00:$(printf '%02d' "$1")Z"
  export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
  git add -A
  git commit -q -m "commit $1"
}
for c in $(seq 1 20); do
  for f in $(seq 1 30); do
    d="dir$((f % 5))"
    mkdir -p "$d"
    # files that change a little each commit: deltas for gc to find
    seq 1 $((200 + f * 3)) | awk -v c="$c" -v f="$f" '{ print $1 * f + (NR % 17 == c % 17 ? c : 0) }' > "$d/file$f.txt"
  done
  commit "$c"
  if [ "$c" = 10 ]; then git branch -q side; fi
done
git checkout -q side
seq 1 500 > side.txt
commit 40
git checkout -q main
export GIT_AUTHOR_DATE="2024-01-01T00:01:00Z" GIT_COMMITTER_DATE="2024-01-01T00:01:00Z"
git merge -q --no-edit side
git gc -q --aggressive
git fsck --strict --no-progress
git count-objects -v | grep -E '^(count|in-pack|packs):'
git log -3 --format='%H %s'
git log --format='%H %T' | sha256sum | cut -d' ' -f1
git cat-file --batch-all-objects --batch-check | sort | sha256sum | cut -d' ' -f1
