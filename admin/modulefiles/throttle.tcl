#%Module1.0
##
## Environment Modules (Tcl) modulefile for libthrottle @VERSION@.
## A template: admin/install.sh replaces @PREFIX@ and @VERSION@ and installs
## it as <prefix>/share/modulefiles/throttle/@VERSION@.

module-whatis "libthrottle @VERSION@: keeps unmodified programs' thread pools inside their CPU allocation (LD_PRELOAD)"

proc ModulesHelp { } {
    puts stderr "libthrottle @VERSION@ (@PREFIX@)"
    puts stderr ""
    puts stderr "Loading this module preloads @PREFIX@/lib/libthrottle.so into every program"
    puts stderr "started from this shell (LD_PRELOAD) and puts the `throttle` command on PATH."
    puts stderr "Each program then sees, and sizes its thread pools to, its thread budget:"
    puts stderr "THROTTLE_THREADS, a budget file, the scheduler's allocation, or the CPUs it"
    puts stderr "may run on. `throttle info` shows the budget and where it comes from."
    puts stderr "Unloading the module restores LD_PRELOAD as it was."
}

# The default ":" separator: LD_PRELOAD also accepts it.
prepend-path LD_PRELOAD @PREFIX@/lib/libthrottle.so
prepend-path PATH @PREFIX@/bin

# Sites may set defaults here, e.g. (see the README's configuration table):
# setenv THROTTLE_POLICY wait
