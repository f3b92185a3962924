/* This machine's own ksmd on the work of bench/ksm/bench_ksm.cpp (the KSM issue's targets):
 * MIB MiB of mergeable anonymous memory, the first half identical pages (every byte 0x5a), the
 * second half each page its own (its index in the first 8 bytes), with pages_to_scan 10000,
 * sleep_millisecs 0 and smart_scan 0. Prints
 *   merge_ms T      from run=1 until pages_shared + pages_sharing covers the identical half
 *   steady_pages_per_s R   pages_scanned per second over 3 full scans once merged
 * Needs root and CONFIG_KSM; every knob it changes is put back, and run is left at 0 (after
 * run=2 unmerges what it merged). Not used by the tests or CI.
 *
 *   cc -O2 -o ksm_merge bench/native/ksm_merge.c && sudo ./ksm_merge 256
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *const knobs[] = {"pages_to_scan", "sleep_millisecs", "smart_scan",
                                    "max_page_sharing"};
#define NKNOBS (sizeof knobs / sizeof knobs[0])

static long read_knob(const char *name) {
    char path[256], buf[64];
    snprintf(path, sizeof path, "/sys/kernel/mm/ksm/%s", name);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f)) {
        perror(path);
        exit(1);
    }
    fclose(f);
    return strtol(buf, NULL, 10);
}

static void write_knob(const char *name, long v) {
    char path[256];
    snprintf(path, sizeof path, "/sys/kernel/mm/ksm/%s", name);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "%ld\n", v) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const long mib = argc > 1 ? atol(argv[1]) : 256;
    const size_t size = (size_t)mib << 20, pages = size / 4096;
    long saved[NKNOBS];
    const long saved_run = read_knob("run");
    for (size_t i = 0; i < NKNOBS; i++) saved[i] = read_knob(knobs[i]);
    write_knob("run", 2);
    write_knob("pages_to_scan", 10000);
    write_knob("sleep_millisecs", 0);
    write_knob("smart_scan", 0);

    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise(p, size, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < pages; i++) {
        if (i < pages / 2) {
            memset(p + i * 4096, 0x5a, 4096);
        } else {
            memset(p + i * 4096, 0, 4096);
            memcpy(p + i * 4096, &i, sizeof i);
        }
    }
    if (madvise(p, size, MADV_MERGEABLE)) {
        perror("madvise(MADV_MERGEABLE)");
        return 1;
    }
    const double t0 = now_s();
    write_knob("run", 1);
    /* Polled every millisecond: reading the counters in a busy loop slows ksmd several-fold. */
    while ((size_t)(read_knob("pages_shared") + read_knob("pages_sharing")) < pages / 2) {
        usleep(1000);
        if (now_s() - t0 > 60) {
            fprintf(stderr, "no full merge within 60 s\n");
            break;
        }
    }
    const double merge_ms = (now_s() - t0) * 1000;
    /* Steady state: three full scans once merged. */
    const long scans0 = read_knob("full_scans"), scanned0 = read_knob("pages_scanned");
    const double t1 = now_s();
    while (read_knob("full_scans") < scans0 + 3) usleep(100);
    const double dt = now_s() - t1;
    const long scanned = read_knob("pages_scanned") - scanned0;

    write_knob("run", 2);
    for (size_t i = 0; i < NKNOBS; i++) write_knob(knobs[i], saved[i]);
    write_knob("run", saved_run == 1 ? 0 : saved_run); /* left at 0 */
    munmap(p, size);
    printf("merge_ms %.1f\nsteady_pages_per_s %.0f\n", merge_ms, scanned / dt);
    return 0;
}
