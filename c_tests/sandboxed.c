/* sandboxed [--no-affinity] [--no-threads] [--writable] [--hide-proc] PROG [ARG...]: runs PROG under a system-call
 * filter like the one man-db puts around groff and its helpers (man-db's
 * lib/sandbox.c): every open for writing is answered ENOSYS, everything else
 * is allowed. The library inside PROG cannot open its tree's ledger; PROG
 * must run as it would without the library, its output unchanged.
 * --no-affinity: sched_getaffinity is refused too (ENOSYS), as a stricter
 * sandbox may; the library cannot know its CPUs and must pass through
 * without a word.
 * --no-threads: no thread can be created (clone3 is answered ENOSYS, as
 * older filters do, and glibc falls back to clone; a clone with
 * CLONE_THREAD is answered EPERM), as in a sandbox that allows one thread:
 * the library cannot start its steward and must say nothing of it.
 * --writable: opens for writing are allowed (the ledger can be opened).
 * --hide-proc: a Landlock sandbox (as bubblewrap without --proc, or a
 * program that restricts itself) in which /proc and /sys cannot be opened
 * (EACCES) and every other top-level directory of / can: the library can
 * read neither its cgroup nor its own start time. Exits 77 where the
 * kernel has no Landlock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <sched.h>
#include <dirent.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "no seccomp architecture for this target"
#endif

#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define REFUSE BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS)
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/* Landlock's first rights (ABI 1): every access to files and directories. */
#define FS_ALL ((1ULL << 13) - 1)
#define FS_FILE                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                  \
     LANDLOCK_ACCESS_FS_READ_FILE)

/* Every top-level entry of / but proc and sys: all rights beneath it. */
static int hide_proc_and_sys(void) {
    struct landlock_ruleset_attr attr = {.handled_access_fs = FS_ALL};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        perror("sandboxed: landlock");
        return -1;
    }
    DIR *root = opendir("/");
    if (!root) {
        perror("sandboxed: /");
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(root))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "proc") == 0 || strcmp(e->d_name, "sys") == 0) {
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/%s", e->d_name);
        struct landlock_path_beneath_attr rule = {.parent_fd = open(path, O_PATH | O_CLOEXEC)};
        if (rule.parent_fd < 0) {
            continue;
        }
        /* A directory takes every right; a file only a file's. */
        rule.allowed_access = FS_ALL;
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
            rule.allowed_access = FS_FILE;
            syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
        }
        close(rule.parent_fd);
    }
    closedir(root);
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        perror("sandboxed: landlock_restrict_self");
        return -1;
    }
    close(ruleset);
    return 0;
}

int main(int argc, char **argv) {
    int no_affinity = 0, no_threads = 0, writable = 0, hide_proc = 0;
    for (;;) {
        if (argc > 1 && strcmp(argv[1], "--no-affinity") == 0) {
            no_affinity = 1;
        } else if (argc > 1 && strcmp(argv[1], "--no-threads") == 0) {
            no_threads = 1;
        } else if (argc > 1 && strcmp(argv[1], "--writable") == 0) {
            writable = 1;
        } else if (argc > 1 && strcmp(argv[1], "--hide-proc") == 0) {
            hide_proc = 1;
        } else {
            break;
        }
        argv++;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: sandboxed [--no-affinity] [--no-threads] [--writable] [--hide-proc] PROG [ARG...]\n");
        return 2;
    }
    /* With --no-affinity, sched_getaffinity's number: never matches. */
    unsigned affinity_nr = no_affinity ? __NR_sched_getaffinity : 0xffffffffu;
    /* With --no-threads, clone3's and clone's numbers; else none. */
    unsigned clone3_nr = no_threads ? 435 /* __NR_clone3, the same on x86_64 and aarch64 */ : 0xffffffffu;
    unsigned clone_nr = no_threads ? __NR_clone : 0xffffffffu;
    /* With --writable, no open's number: opens for writing pass. */
    unsigned openat_nr = writable ? 0xffffffffu : __NR_openat;
#ifdef __NR_open
    unsigned open_nr = writable ? 0xffffffffu : __NR_open;
#endif
    struct sock_filter filter[] = {
        LOAD(arch),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        ALLOW,
        LOAD(nr),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, affinity_nr, 0, 1),
        REFUSE,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, clone3_nr, 0, 1),
        REFUSE,
        /* clone(flags, ...): a thread has CLONE_THREAD in the flags */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, clone_nr, 0, 3),
        LOAD(args[0]),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        LOAD(nr),
#ifdef __NR_open
        /* open(path, flags, mode): flags are the second argument */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, open_nr, 0, 3),
        LOAD(args[1]),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_WRONLY | O_RDWR, 0, 1),
        REFUSE,
        LOAD(nr),
#endif
        /* openat(dirfd, path, flags, mode): the third */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, openat_nr, 0, 3),
        LOAD(args[2]),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_WRONLY | O_RDWR, 0, 1),
        REFUSE,
        ALLOW,
    };
    struct sock_fprog prog = {
        .len = sizeof(filter) / sizeof(filter[0]),
        .filter = filter,
    };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("sandboxed: no_new_privs");
        return 2;
    }
    if (hide_proc && hide_proc_and_sys() != 0) {
        return 77;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("sandboxed: seccomp");
        return 2;
    }
    execvp(argv[1], argv + 1);
    perror("sandboxed: exec");
    return 127;
}
