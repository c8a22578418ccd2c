-- -*- lua -*-
-- Lmod modulefile for libthrottle @VERSION@.
-- A template: admin/install.sh replaces @PREFIX@ and @VERSION@ and installs
-- it as <prefix>/share/modulefiles/throttle/@VERSION@.lua.

whatis("Name: throttle")
whatis("Version: @VERSION@")
whatis("Description: libthrottle, keeps unmodified programs' thread pools inside their CPU allocation (LD_PRELOAD)")

help([[
libthrottle @VERSION@ (@PREFIX@)

Loading this module preloads @PREFIX@/lib/libthrottle.so into every program
started from this shell (LD_PRELOAD) and puts the `throttle` command on PATH.
Each program then sees, and sizes its thread pools to, its thread budget:
THROTTLE_THREADS, a budget file, the scheduler's allocation, or the CPUs it
may run on. `throttle info` shows the budget and where it comes from.
Unloading the module restores LD_PRELOAD as it was.
]])

-- The default ":" separator: LD_PRELOAD also accepts it.
prepend_path("LD_PRELOAD", "@PREFIX@/lib/libthrottle.so")
prepend_path("PATH", "@PREFIX@/bin")

-- Sites may set defaults here, e.g. (see the README's configuration table):
-- setenv("THROTTLE_POLICY", "wait")
