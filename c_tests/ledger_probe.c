/* A member of a tree whose ledger another process overwrites meanwhile.
 * Prints `ledger=` (THROTTLE_LEDGER), `before=` (the CPU count it is shown),
 * then waits (at most 30 s) until the file argv[1] exists, and prints
 * `after=`: the count once the ledger has been written over. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ledger_probe GO_FILE\n");
        return 2;
    }
    const char *ledger = getenv("THROTTLE_LEDGER");
    printf("ledger=%s\nbefore=%ld\n", ledger ? ledger : "", sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    for (int i = 0; i < 3000 && access(argv[1], F_OK) != 0; i++)
        usleep(10000);
    printf("after=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
}
