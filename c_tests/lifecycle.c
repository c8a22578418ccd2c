/* Ends threads in every way a thread can end, 1000 times each, one thread at
 * a time: returning, calling pthread_exit, being cancelled (half spinning on
 * pthread_testcancel, half asleep in nanosleep), and running detached.
 * A library that failed to give back a slot on one of these paths would leak
 * it: the report's `live` would be above 1, and under a small cap with the
 * `fail` policy later creations would fail.
 *
 * Prints: returned= exited= cancelled= detached= errors= */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "task_count.h"

#define CYCLES 1000

static atomic_int detached_done;

static void *ends_by_return(void *arg) {
    (void)arg;
    return (void *)1;
}

static void exit_from_nested_call(void) {
    pthread_exit((void *)2);
}

static void *ends_by_pthread_exit(void *arg) {
    (void)arg;
    exit_from_nested_call();
    return NULL;
}

static void *spins_until_cancelled(void *arg) {
    (void)arg;
    for (;;)
        pthread_testcancel();
    return NULL;
}

static void *sleeps_until_cancelled(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *ends_detached(void *arg) {
    (void)arg;
    atomic_store(&detached_done, 1);
    return NULL;
}

static void short_sleep(void) {
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
}


/* Waits until the detached thread has set its flag and then has really gone
 * (only the main thread left in /proc/self/task). Returns 0 on success. */
static int wait_detached_gone(void) {
    for (long i = 0; i < 200000; i++) { /* 200000 x 50 us = 10 s at most */
        if (atomic_load(&detached_done) && task_count() == 1)
            return 0;
        short_sleep();
    }
    return -1;
}

int main(void) {
    int returned = 0, exited = 0, cancelled = 0, detached = 0, errors = 0;
    pthread_attr_t detached_attr;
    pthread_attr_init(&detached_attr);
    pthread_attr_setdetachstate(&detached_attr, PTHREAD_CREATE_DETACHED);

    for (int i = 0; i < CYCLES; i++) {
        pthread_t t;
        void *ret;

        if (pthread_create(&t, NULL, ends_by_return, NULL) != 0)
            errors++;
        else if (pthread_join(t, &ret) != 0 || ret != (void *)1)
            errors++;
        else
            returned++;

        if (pthread_create(&t, NULL, ends_by_pthread_exit, NULL) != 0)
            errors++;
        else if (pthread_join(t, &ret) != 0 || ret != (void *)2)
            errors++;
        else
            exited++;

        void *(*victim)(void *) = i % 2 ? sleeps_until_cancelled : spins_until_cancelled;
        if (pthread_create(&t, NULL, victim, NULL) != 0)
            errors++;
        else if (pthread_cancel(t) != 0 || pthread_join(t, &ret) != 0 || ret != PTHREAD_CANCELED)
            errors++;
        else
            cancelled++;

        atomic_store(&detached_done, 0);
        if (pthread_create(&t, &detached_attr, ends_detached, NULL) != 0)
            errors++;
        else if (wait_detached_gone() != 0)
            errors++;
        else
            detached++;
    }
    pthread_attr_destroy(&detached_attr);

    printf("returned=%d\n", returned);
    printf("exited=%d\n", exited);
    printf("cancelled=%d\n", cancelled);
    printf("detached=%d\n", detached);
    printf("errors=%d\n", errors);
    return 0;
}
