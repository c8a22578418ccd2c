/* Run setuid root by an unprivileged user (tests/host_safety.rs): creates 4
 * threads and prints how many it got, and its real and effective uids.
 * Prints: created= euid= uid= */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *work(void *arg) {
    usleep(200000);
    return arg;
}

int main(void) {
    pthread_t t[4];
    int created = 0;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[created], NULL, work, NULL) == 0) created++;
    for (int i = 0; i < created; i++) pthread_join(t[i], NULL);
    printf("created=%d\neuid=%d\nuid=%d\n", created, (int)geteuid(), (int)getuid());
    return 0;
}
