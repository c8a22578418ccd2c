#!/bin/sh
# Slurm TaskProlog for libthrottle: preloads the library into every task.
#
# slurm.conf:   TaskProlog=@PREFIX@/libexec/throttle/taskprolog.sh
#
# slurmstepd runs this as the job's user, in the task's environment, before
# each task (batch scripts included), and applies the `export NAME=value`
# lines it prints to stdout. So stdout carries that one line and nothing
# else; anything else goes to stderr. A template: admin/install.sh replaces
# @PREFIX@ with the install prefix.
#
# The library goes first in LD_PRELOAD, before any entries the task already
# has (not repeated if it is already there). If the file is missing on this
# node, nothing is printed (a missing preload path makes every process print
# an ld.so error) and one line goes to stderr.

LIB='@PREFIX@/lib/libthrottle.so'

if [ ! -f "$LIB" ]; then
    echo "throttle taskprolog: $LIB is missing on $(hostname 2>/dev/null || echo this node): not preloading libthrottle" >&2
    exit 0
fi

# LD_PRELOAD entries are separated by colons or spaces; keep the others in order.
set -f
rest=''
old_ifs=$IFS
IFS=': '
for entry in ${LD_PRELOAD-}; do
    if [ -n "$entry" ] && [ "$entry" != "$LIB" ]; then
        rest="$rest:$entry"
    fi
done
IFS=$old_ifs

echo "export LD_PRELOAD=$LIB$rest"
exit 0
