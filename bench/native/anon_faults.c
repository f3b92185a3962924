/* The native side of mmemu's process benchmarks (scripts/bench-processes.sh): the same work on
 * this machine's real Linux kernel, timed around the work itself, warm (one unmeasured round
 * first, so the page allocator and page tables are warmed up).
 *
 *   anon_faults zero MIB   write one byte to each page of a fresh MIB MiB anonymous mapping:
 *                          demand-zero faults per second
 *   anon_faults fork MIB   fork a process with MIB MiB of touched anonymous memory: the fork's
 *                          time in ms (the child exits at once)
 *   anon_faults cow MIB    after that fork, the child writes one byte to each page: COW faults
 *                          per second (measured in the child)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static char* map_touched(size_t len) {
    char* p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static double zero_round(size_t len) {
    char* p = map_touched(len);
    const double t0 = now();
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    const double t = now() - t0;
    munmap(p, len);
    return t;
}

static double fork_round(size_t len, int cow, double* cow_seconds) {
    char* p = map_touched(len);
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    int fd[2];
    if (pipe(fd)) return -1;
    const double t0 = now();
    pid_t c = fork();
    if (c == 0) {
        double t = 0;
        if (cow) {
            const double s = now();
            for (size_t i = 0; i < len; i += 4096) p[i] = 2;
            t = now() - s;
        }
        if (write(fd[1], &t, sizeof t) != sizeof t) _exit(1);
        _exit(0);
    }
    const double t = now() - t0;
    double child = 0;
    if (read(fd[0], &child, sizeof child) != sizeof child) child = -1;
    waitpid(c, NULL, 0);
    close(fd[0]);
    close(fd[1]);
    munmap(p, len);
    *cow_seconds = child;
    return t;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s zero|fork|cow MIB\n", argv[0]);
        return 2;
    }
    const size_t len = (size_t)strtoull(argv[2], NULL, 10) << 20;
    const size_t pages = len / 4096;
    double cow = 0;
    if (!strcmp(argv[1], "zero")) {
        zero_round(len);
        printf("faults_per_second %.0f\n", pages / zero_round(len));
    } else if (!strcmp(argv[1], "fork")) {
        fork_round(len, 0, &cow);
        printf("fork_ms %.3f\n", fork_round(len, 0, &cow) * 1e3);
    } else if (!strcmp(argv[1], "cow")) {
        fork_round(len, 1, &cow);
        fork_round(len, 1, &cow);
        printf("faults_per_second %.0f\n", pages / cow);
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[1]);
        return 2;
    }
    return 0;
}
