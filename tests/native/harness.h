/*
 * The C unit tests' harness: CHECK records a failure of the current test and
 * goes on; run() (or begin/finish around a test) counts it; the last line of
 * output is "N passed, M failed" (read by tests/test_native_units.py).
 */
#ifndef SOCKETIFY_TEST_HARNESS_H
#define SOCKETIFY_TEST_HARNESS_H

#include <stdio.h>
#include <time.h>

static int g_passed, g_failed, g_cur_failed;
static const char *g_test;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__,     \
                    g_test ? g_test : "-", #cond);                                    \
            g_cur_failed = 1;                                                         \
        }                                                                             \
    } while (0)

static inline void begin(const char *name)
{
    g_test = name;
    g_cur_failed = 0;
}

static inline void finish(void)
{
    if (g_cur_failed)
        g_failed++;
    else
        g_passed++;
}

static inline void run(const char *name, void (*fn)(void))
{
    begin(name);
    fn();
    printf("%s %s\n", g_cur_failed ? "FAIL" : "ok  ", name);
    finish();
}

/* Prints the closing line; the exit status of main. */
static inline int report(void)
{
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
