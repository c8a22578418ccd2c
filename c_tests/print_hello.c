/* Prints one fixed line and exits with the status given as argv[1] (default
 * 0). Used to check the library changes neither stdout nor the exit status.
 *
 * Prints: hello=world */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("hello=world\n");
    return argc > 1 ? atoi(argv[1]) : 0;
}
