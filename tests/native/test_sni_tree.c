/* sources: vendor/usockets/src/sni_tree.c | libs: -Wl,--wrap=calloc -Wl,--wrap=realloc */
/*
 * Tests for the TLS server-name table (vendor/usockets/src/sni_tree.c):
 * exact and one-label '*' patterns, case and one trailing dot ignored, the
 * exact label preferred at the leftmost level where matching patterns
 * differ, duplicates, remove and find (exact only), what a pattern or a
 * hostname may not be (empty labels, over 10 labels or 255 characters,
 * spaces, control bytes, bytes >= 0x7f), a thousand entries, and free's
 * callback. calloc and realloc are wrapped (see the libs above) so a test
 * can make an allocation fail.
 */
#include "sni_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

/* ------------------------------------------------------------ allocation failures */

void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);

static long g_alloc_countdown = -1; /* fail when it reaches 0; -1 never */

static int alloc_fails(void)
{
    if (g_alloc_countdown < 0)
        return 0;
    return g_alloc_countdown-- == 0;
}

void *__wrap_calloc(size_t a, size_t b)
{
    return alloc_fails() ? NULL : __real_calloc(a, b);
}

void *__wrap_realloc(void *old, size_t n)
{
    return alloc_fails() ? NULL : __real_realloc(old, n);
}

/* ------------------------------------------------------------ helpers */

/* Distinct values to store; a test compares the pointers it gets back. */
static int V[16];
#define VAL(i) ((void *)&V[i])

static int g_freed;
static void count_free(void *value)
{
    (void)value;
    g_freed++;
}

/* "a.a.a...": n one-letter labels */
static const char *labels(int n)
{
    static char buf[64];
    int i;
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        strcat(buf, i ? ".a" : "a");
    return buf;
}

/* n characters: labels of 'x' joined by dots, none longer than 60 and at most 10 labels */
static char *long_name(size_t n, char *buf)
{
    size_t i;
    memset(buf, 'x', n);
    for (i = 60; i < n; i += 61)
        buf[i] = '.';
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------------ tests */

static void test_empty_tree(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(t != NULL);
    CHECK(us_sni_tree_size(t) == 0);
    CHECK(us_sni_tree_match(t, "example.test") == NULL);
    CHECK(us_sni_tree_find(t, "example.test") == NULL);
    CHECK(us_sni_tree_remove(t, "example.test") == NULL);
    CHECK(us_sni_tree_match(t, NULL) == NULL);
    CHECK(us_sni_tree_find(t, NULL) == NULL);
    CHECK(us_sni_tree_remove(t, NULL) == NULL);
    CHECK(us_sni_tree_add(t, NULL, VAL(0)) == -1);
    CHECK(us_sni_tree_size(NULL) == 0);
    CHECK(us_sni_tree_match(NULL, "example.test") == NULL);
    g_freed = 0;
    us_sni_tree_free(t, count_free);
    CHECK(g_freed == 0);
    us_sni_tree_free(NULL, count_free);
    us_sni_tree_free(NULL, NULL);
}

static void test_exact_match(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "example.test", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "www.example.test", VAL(1)) == 0);
    CHECK(us_sni_tree_add(t, "localhost", VAL(2)) == 0);
    CHECK(us_sni_tree_size(t) == 3);
    CHECK(us_sni_tree_match(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "www.example.test") == VAL(1));
    CHECK(us_sni_tree_match(t, "localhost") == VAL(2));
    /* no suffix, prefix or label-count slack */
    CHECK(us_sni_tree_match(t, "api.example.test") == NULL);
    CHECK(us_sni_tree_match(t, "a.www.example.test") == NULL);
    CHECK(us_sni_tree_match(t, "example") == NULL);
    CHECK(us_sni_tree_match(t, "test") == NULL);
    CHECK(us_sni_tree_match(t, "xexample.test") == NULL);
    CHECK(us_sni_tree_match(t, "example.testx") == NULL);
    CHECK(us_sni_tree_match(t, "example.tes") == NULL);
    CHECK(us_sni_tree_match(t, "localhost.test") == NULL);
    us_sni_tree_free(t, NULL);
}

static void test_wildcard_matches_one_label_only(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "*.example.test", VAL(0)) == 0);
    CHECK(us_sni_tree_match(t, "a.example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "www.example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "xn--bcher-kva.example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "*.example.test") == VAL(0)); /* a literal '*' label is still one label */
    /* not zero labels */
    CHECK(us_sni_tree_match(t, "example.test") == NULL);
    CHECK(us_sni_tree_match(t, ".example.test") == NULL);
    /* not two */
    CHECK(us_sni_tree_match(t, "b.a.example.test") == NULL);
    CHECK(us_sni_tree_match(t, "a.b.example.test") == NULL);
    /* the rest must be equal */
    CHECK(us_sni_tree_match(t, "a.example.tes") == NULL);
    CHECK(us_sni_tree_match(t, "a.xexample.test") == NULL);
    CHECK(us_sni_tree_match(t, "a.example.test.org") == NULL);
    us_sni_tree_free(t, NULL);
}

static void test_wildcard_in_any_position(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "www.*.test", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "*.*.org", VAL(1)) == 0);
    CHECK(us_sni_tree_add(t, "api.example.*", VAL(2)) == 0);
    CHECK(us_sni_tree_add(t, "*", VAL(3)) == 0);
    CHECK(us_sni_tree_match(t, "www.example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "www.other.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "www.test") == NULL);
    CHECK(us_sni_tree_match(t, "www.a.b.test") == NULL);
    CHECK(us_sni_tree_match(t, "ww.example.test") == NULL);
    CHECK(us_sni_tree_match(t, "a.b.org") == VAL(1));
    CHECK(us_sni_tree_match(t, "a.org") == NULL);
    CHECK(us_sni_tree_match(t, "a.b.c.org") == NULL);
    CHECK(us_sni_tree_match(t, "api.example.net") == VAL(2));
    CHECK(us_sni_tree_match(t, "api.example") == NULL);
    CHECK(us_sni_tree_match(t, "api.example.co.uk") == NULL);
    /* "*" alone: any one-label name */
    CHECK(us_sni_tree_match(t, "localhost") == VAL(3));
    CHECK(us_sni_tree_match(t, "a.b") == NULL);
    us_sni_tree_free(t, NULL);
}

static void test_only_a_whole_label_is_a_wildcard(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    /* a '*' inside a label is a configuration mistake: refused */
    CHECK(us_sni_tree_add(t, "w*.example.test", VAL(0)) == -1);
    CHECK(us_sni_tree_add(t, "**.example.test", VAL(1)) == -1);
    CHECK(us_sni_tree_add(t, "a.*b.test", VAL(1)) == -1);
    CHECK(us_sni_tree_size(t) == 0);
    CHECK(us_sni_tree_match(t, "www.example.test") == NULL);
    CHECK(us_sni_tree_match(t, "w*.example.test") == NULL);
    CHECK(us_sni_tree_add(t, "*.*.test", VAL(2)) == 0);
    CHECK(us_sni_tree_match(t, "a.b.test") == VAL(2));
    us_sni_tree_free(t, NULL);
}

static void test_case_insensitive(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "WWW.Example.TEST", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "*.Wild.Test", VAL(1)) == 0);
    CHECK(us_sni_tree_match(t, "www.example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "WWW.EXAMPLE.TEST") == VAL(0));
    CHECK(us_sni_tree_match(t, "wWw.eXaMpLe.TeSt") == VAL(0));
    CHECK(us_sni_tree_match(t, "ABC.WILD.TEST") == VAL(1));
    CHECK(us_sni_tree_match(t, "abc.wild.test") == VAL(1));
    /* only ASCII letters fold: '@' (0x40) is not '`' (0x60), '[' is not '{' */
    CHECK(us_sni_tree_add(t, "@[.test", VAL(2)) == 0);
    CHECK(us_sni_tree_match(t, "@[.test") == VAL(2));
    CHECK(us_sni_tree_match(t, "`{.test") == NULL);
    /* find and remove fold too */
    CHECK(us_sni_tree_find(t, "www.EXAMPLE.test") == VAL(0));
    CHECK(us_sni_tree_find(t, "*.WILD.TEST") == VAL(1));
    CHECK(us_sni_tree_remove(t, "Www.Example.Test") == VAL(0));
    CHECK(us_sni_tree_match(t, "www.example.test") == NULL);
    CHECK(us_sni_tree_size(t) == 2);
    us_sni_tree_free(t, NULL);
}

static void test_one_trailing_dot_ignored(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "example.test.", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "*.wild.test", VAL(1)) == 0);
    CHECK(us_sni_tree_match(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "example.test.") == VAL(0));
    CHECK(us_sni_tree_match(t, "a.wild.test.") == VAL(1));
    CHECK(us_sni_tree_match(t, "a.wild.test") == VAL(1));
    /* only one */
    CHECK(us_sni_tree_match(t, "example.test..") == NULL);
    CHECK(us_sni_tree_match(t, "a.wild.test..") == NULL);
    CHECK(us_sni_tree_add(t, "other.test..", VAL(2)) == -1);
    /* the same pattern with and without it */
    CHECK(us_sni_tree_add(t, "example.test", VAL(2)) == 1);
    CHECK(us_sni_tree_add(t, "*.wild.test.", VAL(2)) == 1);
    CHECK(us_sni_tree_find(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_find(t, "*.wild.test.") == VAL(1));
    CHECK(us_sni_tree_size(t) == 2);
    CHECK(us_sni_tree_remove(t, "*.wild.test.") == VAL(1));
    CHECK(us_sni_tree_remove(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_size(t) == 0);
    us_sni_tree_free(t, NULL);
}

/* the tree built from patterns[order[0..n-1]] */
static struct us_sni_tree *build(const char *const *patterns, const int *order, int n)
{
    struct us_sni_tree *t = us_sni_tree_create();
    int i;
    for (i = 0; i < n; i++)
        CHECK(us_sni_tree_add(t, patterns[order[i]], VAL(order[i])) == 0);
    return t;
}

static void test_exact_label_preferred_leftmost(void)
{
    static const char *const pat[] = {"*.example.test", "www.*.test", "www.example.test", "*.*.test",
                                      "a.*.test"};
    static const int orders[][5] = {{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}, {3, 1, 4, 0, 2}};
    size_t k;
    for (k = 0; k < sizeof(orders) / sizeof(orders[0]); k++) {
        struct us_sni_tree *t = build(pat, orders[k], 5);
        /* every label exact */
        CHECK(us_sni_tree_match(t, "www.example.test") == VAL(2));
        /* first label differs: "*.example.test" has no rival with an exact first label */
        CHECK(us_sni_tree_match(t, "api.example.test") == VAL(0));
        /* "www.*.test" (exact at label 0) beats "*.*.test" */
        CHECK(us_sni_tree_match(t, "www.other.test") == VAL(1));
        /* "a.*.test" (exact at label 0) beats "*.example.test" (exact at 1): leftmost wins */
        CHECK(us_sni_tree_match(t, "a.example.test") == VAL(4));
        CHECK(us_sni_tree_match(t, "b.other.test") == VAL(3));
        CHECK(us_sni_tree_match(t, "www.example.org") == NULL);
        /* removing the best falls back to the next best */
        CHECK(us_sni_tree_remove(t, "www.example.test") == VAL(2));
        CHECK(us_sni_tree_match(t, "www.example.test") == VAL(1)); /* www.* beats *.example */
        CHECK(us_sni_tree_remove(t, "www.*.test") == VAL(1));
        CHECK(us_sni_tree_match(t, "www.example.test") == VAL(0));
        CHECK(us_sni_tree_remove(t, "*.example.test") == VAL(0));
        CHECK(us_sni_tree_match(t, "www.example.test") == VAL(3));
        CHECK(us_sni_tree_match(t, "a.example.test") == VAL(4));
        CHECK(us_sni_tree_remove(t, "*.*.test") == VAL(3));
        CHECK(us_sni_tree_match(t, "www.example.test") == NULL);
        CHECK(us_sni_tree_size(t) == 1);
        us_sni_tree_free(t, NULL);
    }
}

static void test_exact_label_preferred_deeper(void)
{
    /* four labels: the comparison goes on past equal levels */
    static const char *const pat[] = {"a.*.*.d", "a.*.c.d", "*.b.c.d", "a.b.*.d", "*.*.*.*"};
    static const int orders[][5] = {{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {1, 3, 0, 4, 2}};
    size_t k;
    for (k = 0; k < sizeof(orders) / sizeof(orders[0]); k++) {
        struct us_sni_tree *t = build(pat, orders[k], 5);
        CHECK(us_sni_tree_match(t, "a.b.c.d") == VAL(3)); /* a.b beats a.*; *.b.c.d loses at level 0 */
        CHECK(us_sni_tree_match(t, "a.x.c.d") == VAL(1)); /* a.*.c beats a.*.* */
        CHECK(us_sni_tree_match(t, "a.x.y.d") == VAL(0));
        CHECK(us_sni_tree_match(t, "x.b.c.d") == VAL(2));
        CHECK(us_sni_tree_match(t, "x.b.c.e") == VAL(4));
        CHECK(us_sni_tree_match(t, "a.b.c") == NULL);
        us_sni_tree_free(t, NULL);
    }
}

static void test_duplicates_keep_first_value(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "example.test", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "*.example.test", VAL(1)) == 0);
    CHECK(us_sni_tree_add(t, "example.test", VAL(2)) == 1);
    CHECK(us_sni_tree_add(t, "EXAMPLE.test.", VAL(3)) == 1);
    CHECK(us_sni_tree_add(t, "*.example.test", VAL(4)) == 1);
    CHECK(us_sni_tree_add(t, "*.EXAMPLE.TEST.", VAL(5)) == 1);
    CHECK(us_sni_tree_size(t) == 2);
    CHECK(us_sni_tree_match(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_find(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_match(t, "a.example.test") == VAL(1));
    CHECK(us_sni_tree_find(t, "*.example.test") == VAL(1));
    /* after a remove the name can be added again with a new value */
    CHECK(us_sni_tree_remove(t, "example.test") == VAL(0));
    CHECK(us_sni_tree_add(t, "example.test", VAL(6)) == 0);
    CHECK(us_sni_tree_match(t, "example.test") == VAL(6));
    CHECK(us_sni_tree_size(t) == 2);
    /* an invalid pattern is not a duplicate of anything */
    CHECK(us_sni_tree_add(t, "example..test", VAL(7)) == -1);
    CHECK(us_sni_tree_size(t) == 2);
    us_sni_tree_free(t, NULL);
}

static void test_remove(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "a.test", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "*.test", VAL(1)) == 0);
    CHECK(us_sni_tree_add(t, "b.test", VAL(2)) == 0);
    CHECK(us_sni_tree_add(t, "c.test", VAL(3)) == 0);
    /* no wildcard expansion in remove, and invalid names remove nothing */
    CHECK(us_sni_tree_remove(t, "x.test") == NULL);
    CHECK(us_sni_tree_remove(t, "*") == NULL);
    CHECK(us_sni_tree_remove(t, "*.*") == NULL);
    CHECK(us_sni_tree_remove(t, "") == NULL);
    CHECK(us_sni_tree_remove(t, "a..test") == NULL);
    CHECK(us_sni_tree_size(t) == 4);
    /* the first: the others stay */
    CHECK(us_sni_tree_remove(t, "a.test") == VAL(0));
    CHECK(us_sni_tree_remove(t, "a.test") == NULL);
    CHECK(us_sni_tree_size(t) == 3);
    CHECK(us_sni_tree_match(t, "a.test") == VAL(1)); /* now the wildcard */
    CHECK(us_sni_tree_find(t, "a.test") == NULL);
    CHECK(us_sni_tree_match(t, "b.test") == VAL(2));
    CHECK(us_sni_tree_match(t, "c.test") == VAL(3));
    /* the wildcard by its exact text */
    CHECK(us_sni_tree_remove(t, "*.test") == VAL(1));
    CHECK(us_sni_tree_match(t, "a.test") == NULL);
    CHECK(us_sni_tree_match(t, "x.test") == NULL);
    CHECK(us_sni_tree_match(t, "b.test") == VAL(2));
    /* the last */
    CHECK(us_sni_tree_remove(t, "c.test") == VAL(3));
    CHECK(us_sni_tree_match(t, "c.test") == NULL);
    CHECK(us_sni_tree_match(t, "b.test") == VAL(2));
    CHECK(us_sni_tree_remove(t, "b.test") == VAL(2));
    CHECK(us_sni_tree_size(t) == 0);
    CHECK(us_sni_tree_match(t, "b.test") == NULL);
    /* usable again once empty */
    CHECK(us_sni_tree_add(t, "b.test", VAL(4)) == 0);
    CHECK(us_sni_tree_match(t, "b.test") == VAL(4));
    us_sni_tree_free(t, NULL);
}

static void test_find_is_exact_only(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "*.example.test", VAL(0)) == 0);
    CHECK(us_sni_tree_add(t, "www.example.test", VAL(1)) == 0);
    CHECK(us_sni_tree_find(t, "*.example.test") == VAL(0));
    CHECK(us_sni_tree_find(t, "www.example.test") == VAL(1));
    CHECK(us_sni_tree_find(t, "a.example.test") == NULL);  /* the wildcard would match it */
    CHECK(us_sni_tree_find(t, "*.*.test") == NULL);        /* nor the other way round */
    CHECK(us_sni_tree_find(t, "www.*.test") == NULL);
    CHECK(us_sni_tree_find(t, "example.test") == NULL);
    CHECK(us_sni_tree_find(t, "*.example.test..") == NULL);
    CHECK(us_sni_tree_find(t, "*.EXAMPLE.test.") == VAL(0));
    CHECK(us_sni_tree_size(t) == 2); /* find changes nothing */
    us_sni_tree_free(t, NULL);
}

static const char *const bad_names[] = {
    "", ".", "..", "...", ".a", "a..b", "a..", "..a", "a.b..", "a. .b",
    "a b", " a", "a ", "a\tb", "a\nb", "a\rb", "a\x01", "\x1f", "a.\x7f", "a\x80.b",
    "caf\xc3\xa9.test", "\xff",
};

static void test_invalid_patterns_rejected(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    char buf[300];
    size_t i;
    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        CHECK(us_sni_tree_add(t, bad_names[i], VAL(0)) == -1);
        if (us_sni_tree_size(t) != 0)
            fprintf(stderr, "accepted bad pattern %zu\n", i);
    }
    CHECK(us_sni_tree_add(t, labels(11), VAL(0)) == -1);
    CHECK(us_sni_tree_add(t, "*.*.*.*.*.*.*.*.*.*.*", VAL(0)) == -1);
    CHECK(us_sni_tree_add(t, long_name(256, buf), VAL(0)) == -1);
    CHECK(us_sni_tree_add(t, strcat(long_name(256, buf), "."), VAL(0)) == -1);
    memset(buf, 'y', 256);
    buf[256] = '\0';
    CHECK(us_sni_tree_add(t, buf, VAL(0)) == -1); /* one 256-character label */
    CHECK(us_sni_tree_size(t) == 0);
    /* the limits themselves are fine */
    CHECK(us_sni_tree_add(t, labels(10), VAL(1)) == 0);
    CHECK(us_sni_tree_add(t, "*.*.*.*.*.*.*.*.*.*", VAL(2)) == 0);
    CHECK(us_sni_tree_add(t, long_name(255, buf), VAL(3)) == 0);
    CHECK(us_sni_tree_match(t, long_name(255, buf)) == VAL(3));
    CHECK(us_sni_tree_add(t, strcat(long_name(255, buf), "."), VAL(4)) == 1); /* 256 with the dot */
    memset(buf, 'y', 255);
    buf[255] = '\0';
    CHECK(us_sni_tree_add(t, buf, VAL(5)) == 0); /* one 255-character label */
    CHECK(us_sni_tree_match(t, buf) == VAL(5));
    /* printable ASCII other than letters is kept as it is */
    CHECK(us_sni_tree_add(t, "_x-1.!~", VAL(6)) == 0);
    CHECK(us_sni_tree_match(t, "_X-1.!~") == VAL(6));
    CHECK(us_sni_tree_size(t) == 5);
    us_sni_tree_free(t, NULL);
}

static void test_invalid_hostnames_never_match(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    char pat[32], buf[300];
    size_t i;
    int n;
    /* "*", "*.*", ... "*.*.*.*.*.*.*.*.*.*": every valid name matches one */
    for (n = 1; n <= 10; n++) {
        pat[0] = '\0';
        for (i = 0; i < (size_t)n; i++)
            strcat(pat, i ? ".*" : "*");
        CHECK(us_sni_tree_add(t, pat, VAL(n)) == 0);
    }
    CHECK(us_sni_tree_add(t, "a.b", VAL(0)) == 0);
    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        CHECK(us_sni_tree_match(t, bad_names[i]) == NULL);
        CHECK(us_sni_tree_find(t, bad_names[i]) == NULL);
    }
    CHECK(us_sni_tree_match(t, labels(11)) == NULL);
    CHECK(us_sni_tree_match(t, long_name(256, buf)) == NULL);
    CHECK(us_sni_tree_match(t, strcat(long_name(256, buf), ".")) == NULL);
    CHECK(us_sni_tree_match(t, "a.b..") == NULL);
    CHECK(us_sni_tree_match(t, NULL) == NULL);
    /* while their valid neighbours do */
    CHECK(us_sni_tree_match(t, "a.b") == VAL(0));
    CHECK(us_sni_tree_match(t, "a.b.") == VAL(0));
    CHECK(us_sni_tree_match(t, "a.c") == VAL(2));
    CHECK(us_sni_tree_match(t, "a") == VAL(1));
    CHECK(us_sni_tree_match(t, labels(10)) == VAL(10));
    CHECK(us_sni_tree_match(t, long_name(255, buf)) == VAL(5)); /* 5 labels */
    CHECK(us_sni_tree_match(t, strcat(long_name(255, buf), ".")) == VAL(5));
    CHECK(us_sni_tree_size(t) == 11);
    us_sni_tree_free(t, NULL);
}

static void test_many_entries(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    char name[64];
    int i, ok = 1;
    /* 1000 exact names and 1000 wildcards, each its own value */
    static int vals[2000];
    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "h%d.example.test", i);
        ok &= us_sni_tree_add(t, name, &vals[i]) == 0;
        snprintf(name, sizeof(name), "*.d%d.test", i);
        ok &= us_sni_tree_add(t, name, &vals[1000 + i]) == 0;
        ok &= us_sni_tree_size(t) == (unsigned)(2 * i + 2);
    }
    CHECK(ok);
    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "H%d.EXAMPLE.test", i);
        ok &= us_sni_tree_match(t, name) == &vals[i];
        snprintf(name, sizeof(name), "h%d.d%d.test", i, i);
        ok &= us_sni_tree_match(t, name) == &vals[1000 + i];
        snprintf(name, sizeof(name), "h%d.d%d.test", i, i + 1000);
        ok &= us_sni_tree_match(t, name) == NULL;
    }
    CHECK(ok);
    /* remove the even ones */
    for (i = 0; i < 1000; i += 2) {
        snprintf(name, sizeof(name), "h%d.example.test", i);
        ok &= us_sni_tree_remove(t, name) == &vals[i];
        snprintf(name, sizeof(name), "*.d%d.test", i);
        ok &= us_sni_tree_remove(t, name) == &vals[1000 + i];
    }
    CHECK(ok);
    CHECK(us_sni_tree_size(t) == 1000);
    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "h%d.example.test", i);
        ok &= us_sni_tree_match(t, name) == (i % 2 ? &vals[i] : NULL);
        ok &= us_sni_tree_find(t, name) == (i % 2 ? &vals[i] : NULL);
        snprintf(name, sizeof(name), "x.d%d.test", i);
        ok &= us_sni_tree_match(t, name) == (i % 2 ? &vals[1000 + i] : NULL);
    }
    CHECK(ok);
    /* the rest, from the end */
    for (i = 999; i >= 0; i -= 2) {
        snprintf(name, sizeof(name), "*.d%d.test", i);
        ok &= us_sni_tree_remove(t, name) == &vals[1000 + i];
        snprintf(name, sizeof(name), "h%d.example.test", i);
        ok &= us_sni_tree_remove(t, name) == &vals[i];
        ok &= us_sni_tree_size(t) == (unsigned)(i - 1);
    }
    CHECK(ok);
    CHECK(us_sni_tree_size(t) == 0);
    CHECK(us_sni_tree_match(t, "h1.example.test") == NULL);
    us_sni_tree_free(t, NULL);
}

static int g_free_seen[8];
static void record_free(void *value)
{
    int *v = value;
    g_free_seen[*v]++;
    free(v);
}

static int *boxed(int i)
{
    int *v = malloc(sizeof(*v));
    *v = i;
    return v;
}

static void test_free_calls_free_value_once_each(void)
{
    struct us_sni_tree *t = us_sni_tree_create();
    int *dup = boxed(7), i;
    void *r;
    memset(g_free_seen, 0, sizeof(g_free_seen));
    for (i = 0; i < 5; i++) {
        static const char *const names[] = {"a.test", "*.test", "b.test", "*.b.test", "c"};
        CHECK(us_sni_tree_add(t, names[i], boxed(i)) == 0);
    }
    /* not stored: still the caller's */
    CHECK(us_sni_tree_add(t, "A.TEST", dup) == 1);
    free(dup);
    /* removed values are the caller's again */
    r = us_sni_tree_remove(t, "b.test");
    CHECK(r && *(int *)r == 2);
    free(r);
    r = us_sni_tree_remove(t, "c");
    CHECK(r && *(int *)r == 4);
    free(r);
    us_sni_tree_free(t, record_free);
    CHECK(g_free_seen[0] == 1 && g_free_seen[1] == 1 && g_free_seen[3] == 1);
    CHECK(g_free_seen[2] == 0 && g_free_seen[4] == 0 && g_free_seen[7] == 0);
    /* a NULL callback frees only the table */
    t = us_sni_tree_create();
    CHECK(us_sni_tree_add(t, "a.test", VAL(0)) == 0);
    us_sni_tree_free(t, NULL);
}

static void test_out_of_memory(void)
{
    struct us_sni_tree *t;
    char name[32];
    int i;
    g_alloc_countdown = 0;
    CHECK(us_sni_tree_create() == NULL);
    g_alloc_countdown = -1;
    t = us_sni_tree_create();
    CHECK(t != NULL);
    /* the first add allocates */
    g_alloc_countdown = 0;
    CHECK(us_sni_tree_add(t, "a.test", VAL(0)) == -1);
    CHECK(us_sni_tree_size(t) == 0);
    CHECK(us_sni_tree_match(t, "a.test") == NULL);
    g_alloc_countdown = -1;
    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        CHECK(us_sni_tree_add(t, name, VAL(i)) == 0);
    }
    /* the fifth grows the array: a failure leaves the four */
    g_alloc_countdown = 0;
    CHECK(us_sni_tree_add(t, "n4.test", VAL(4)) == -1);
    g_alloc_countdown = -1;
    CHECK(us_sni_tree_size(t) == 4);
    for (i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "n%d.test", i);
        CHECK(us_sni_tree_match(t, name) == VAL(i));
    }
    CHECK(us_sni_tree_add(t, "n4.test", VAL(4)) == 0);
    CHECK(us_sni_tree_match(t, "n4.test") == VAL(4));
    /* a duplicate allocates nothing */
    g_alloc_countdown = 0;
    CHECK(us_sni_tree_add(t, "n0.test", VAL(5)) == 1);
    g_alloc_countdown = -1;
    us_sni_tree_free(t, NULL);
}

int main(void)
{
    RUN(test_empty_tree);
    RUN(test_exact_match);
    RUN(test_wildcard_matches_one_label_only);
    RUN(test_wildcard_in_any_position);
    RUN(test_only_a_whole_label_is_a_wildcard);
    RUN(test_case_insensitive);
    RUN(test_one_trailing_dot_ignored);
    RUN(test_exact_label_preferred_leftmost);
    RUN(test_exact_label_preferred_deeper);
    RUN(test_duplicates_keep_first_value);
    RUN(test_remove);
    RUN(test_find_is_exact_only);
    RUN(test_invalid_patterns_rejected);
    RUN(test_invalid_hostnames_never_match);
    RUN(test_many_entries);
    RUN(test_free_calls_free_value_once_each);
    RUN(test_out_of_memory);
    return report();
}
