/* sources: socketify_cy/native/router.c */
/*
 * Standalone tests for the URL router. Handlers are small tag strings; a
 * recording visitor logs every visit (tag plus parameters) and answers or
 * yields according to the test's wishes.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

/* ------------------------------------------------------------ recorder */

typedef struct rec_s {
    char log[4096];        /* "TAG(p1,p2)|TAG2|..." for every visit */
    const char *answer_tag; /* answer (return 1) when visiting this tag; NULL = yield always */
    int answer_all;         /* answer at the first visit */
    uint32_t last_num_params;
    char names[512];        /* "name1,name2" of the answered (or last) visit */
} rec_t;

static void rec_reset(rec_t *r)
{
    memset(r, 0, sizeof(*r));
}

static void append(char *buf, size_t cap, const char *s, size_t n)
{
    size_t len = strlen(buf);
    if (len + n + 1 > cap)
        n = cap - len - 1;
    memcpy(buf + len, s, n);
    buf[len + n] = '\0';
}

static int rec_visit(void *handler, const router_match_t *m, void *user)
{
    rec_t *r = user;
    const char *tag = handler;
    if (r->log[0])
        append(r->log, sizeof(r->log), "|", 1);
    append(r->log, sizeof(r->log), tag, strlen(tag));
    if (m->num_params) {
        append(r->log, sizeof(r->log), "(", 1);
        for (uint32_t i = 0; i < m->num_params; i++) {
            if (i)
                append(r->log, sizeof(r->log), ",", 1);
            append(r->log, sizeof(r->log), m->params[i].data, m->params[i].len);
        }
        append(r->log, sizeof(r->log), ")", 1);
    }
    r->last_num_params = m->num_params;
    r->names[0] = '\0';
    for (uint32_t i = 0; i < m->num_params; i++) {
        if (i)
            append(r->names, sizeof(r->names), ",", 1);
        append(r->names, sizeof(r->names), m->param_names[i], m->param_name_lens[i]);
    }
    if (r->answer_all)
        return 1;
    return r->answer_tag && strcmp(r->answer_tag, tag) == 0;
}

static int add(router_t *rt, const char *method, const char *pattern, const char *tag)
{
    return router_add(rt, method, method ? strlen(method) : 0, pattern, strlen(pattern), (void *)tag);
}

/* Dispatch answering at the first visit; returns the log ("" when nothing matched). */
static const char *first(router_t *rt, rec_t *r, const char *method, const char *path)
{
    rec_reset(r);
    r->answer_all = 1;
    router_dispatch(rt, method, strlen(method), path, strlen(path), 0, rec_visit, r);
    return r->log;
}

/* Dispatch yielding at every visit; returns the whole visit log. */
static const char *all(router_t *rt, rec_t *r, const char *method, const char *path, int flags)
{
    rec_reset(r);
    router_dispatch(rt, method, strlen(method), path, strlen(path), flags, rec_visit, r);
    return r->log;
}

#define EQ(a, b) CHECK(strcmp((a), (b)) == 0)

/* ---------------------------------------------------------------- tests */

static void test_static(void)
{
    router_t *rt = router_create();
    rec_t r;
    CHECK(add(rt, "GET", "/plaintext", "P") == 0);
    CHECK(add(rt, "GET", "/json", "J") == 0);
    CHECK(add(rt, "GET", "/a/b", "AB") == 0);
    EQ(first(rt, &r, "GET", "/plaintext"), "P");
    EQ(first(rt, &r, "GET", "/json"), "J");
    EQ(first(rt, &r, "GET", "/a/b"), "AB");
    EQ(first(rt, &r, "GET", "/a"), "");
    EQ(first(rt, &r, "GET", "/plain"), "");
    EQ(first(rt, &r, "GET", "/plaintextx"), "");
    EQ(first(rt, &r, "GET", "/a/b/c"), "");
    router_free(rt);
}

static void test_dispatch_return_value(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/x", "X");
    rec_reset(&r);
    r.answer_all = 1;
    CHECK(router_dispatch(rt, "GET", 3, "/x", 2, 0, rec_visit, &r) == 1);
    rec_reset(&r); /* yields everything */
    CHECK(router_dispatch(rt, "GET", 3, "/x", 2, 0, rec_visit, &r) == 0);
    EQ(r.log, "X");
    CHECK(router_dispatch(rt, "GET", 3, "/y", 2, 0, rec_visit, &r) == 0);
    router_free(rt);
}

static void test_root(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/", "ROOT");
    EQ(first(rt, &r, "GET", "/"), "ROOT");
    EQ(first(rt, &r, "GET", "/x"), "");
    EQ(first(rt, &r, "GET", "//"), "");
    router_free(rt);
}

static void test_param_value_and_name(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/user/:id", "U");
    EQ(first(rt, &r, "GET", "/user/42"), "U(42)");
    CHECK(r.last_num_params == 1);
    EQ(r.names, "id");
    EQ(first(rt, &r, "GET", "/user/42/x"), "");
    router_free(rt);
}

static void test_multiple_params(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/:org/repos/:repo/issues/:num", "I");
    EQ(first(rt, &r, "GET", "/acme/repos/rocket/issues/7"), "I(acme,rocket,7)");
    EQ(r.names, "org,repo,num");
    router_free(rt);
}

static void test_param_names_per_pattern(void)
{
    /* Two patterns sharing the parameter node keep their own names. */
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/:id", "A");
    add(rt, "GET", "/:name", "B");
    rec_reset(&r);
    r.answer_tag = "B";
    router_dispatch(rt, "GET", 3, "/zz", 3, 0, rec_visit, &r);
    EQ(r.log, "A(zz)|B(zz)");
    EQ(r.names, "name");
    rec_reset(&r);
    r.answer_tag = "A";
    router_dispatch(rt, "GET", 3, "/zz", 3, 0, rec_visit, &r);
    EQ(r.names, "id");
    router_free(rt);
}

static void test_empty_param_name(void)
{
    router_t *rt = router_create();
    rec_t r;
    CHECK(add(rt, "GET", "/x/:", "E") == 0);
    EQ(first(rt, &r, "GET", "/x/v"), "E(v)");
    EQ(r.names, "");
    router_free(rt);
}

static void test_empty_segment_not_param(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/user/:id", "U");
    EQ(first(rt, &r, "GET", "/user/"), "");
    EQ(first(rt, &r, "GET", "/user"), "");
    add(rt, "GET", "/:a/:b", "AB");
    EQ(first(rt, &r, "GET", "//x"), "");
    EQ(first(rt, &r, "GET", "/x/y"), "AB(x,y)");
    router_free(rt);
}

static void test_wildcard(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/a/*", "W");
    EQ(first(rt, &r, "GET", "/a/"), "W");
    EQ(first(rt, &r, "GET", "/a/b"), "W");
    EQ(first(rt, &r, "GET", "/a/b/c/d"), "W");
    EQ(first(rt, &r, "GET", "/a//"), "W");
    EQ(first(rt, &r, "GET", "/a"), "");
    EQ(first(rt, &r, "GET", "/ab"), "");
    EQ(first(rt, &r, "GET", "/b/c"), "");
    router_free(rt);
}

static void test_wildcard_after_param(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/:hello/:hi/*", "W");
    EQ(first(rt, &r, "GET", "/x/y/z/w"), "W(x,y)");
    EQ(r.names, "hello,hi");
    EQ(first(rt, &r, "GET", "/x/y"), "");
    router_free(rt);
}

static void test_catch_all(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, NULL, "/*", "ALL");
    EQ(first(rt, &r, "GET", "/"), "ALL");
    EQ(first(rt, &r, "POST", "/anything/at/all"), "ALL");
    EQ(first(rt, &r, "GET", "//"), "ALL");
    EQ(first(rt, &r, "GET", "/x?y"), "ALL");
    router_free(rt);
}

static void test_priority_static_param_wild(void)
{
    /* Registration order is the reverse of the priority order. */
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/a/*", "W");
    add(rt, "GET", "/a/:x", "P");
    add(rt, "GET", "/a/b", "S");
    EQ(first(rt, &r, "GET", "/a/b"), "S");
    EQ(first(rt, &r, "GET", "/a/c"), "P(c)");
    EQ(first(rt, &r, "GET", "/a/c/d"), "W");
    EQ(first(rt, &r, "GET", "/a/"), "W");
    EQ(all(rt, &r, "GET", "/a/b", 0), "S|P(b)|W");
    router_free(rt);
}

static void test_method_before_any(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, NULL, "/x", "ANY");
    add(rt, "GET", "/x", "G");
    EQ(first(rt, &r, "GET", "/x"), "G");
    EQ(all(rt, &r, "GET", "/x", 0), "G|ANY");
    /* The any tree wins over a method-tree wildcard only after that tree is exhausted. */
    add(rt, "GET", "/*", "GW");
    EQ(all(rt, &r, "GET", "/x", 0), "G|GW|ANY");
    router_free(rt);
}

static void test_yield_order(void)
{
    router_t *rt = router_create();
    rec_t r;
    /* Registered in a scrambled order on purpose. */
    add(rt, NULL, "/a/:x/c", "AP");
    add(rt, "GET", "/a/*", "GW");
    add(rt, NULL, "/a/b/c", "AS");
    add(rt, "GET", "/a/:x/c", "GP");
    add(rt, "GET", "/a/b/c", "GS");
    EQ(all(rt, &r, "GET", "/a/b/c", 0), "GS|GP(b)|GW|AS|AP(b)");
    /* Answering in the middle stops the search. */
    rec_reset(&r);
    r.answer_tag = "GW";
    CHECK(router_dispatch(rt, "GET", 3, "/a/b/c", 6, 0, rec_visit, &r) == 1);
    EQ(r.log, "GS|GP(b)|GW");
    router_free(rt);
}

static void test_patch_yield_then_any(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "PATCH", "/s", "PS");
    add(rt, NULL, "/s", "AS");
    add(rt, "GET", "/s", "GS");
    EQ(all(rt, &r, "PATCH", "/s", 0), "PS|AS");
    router_free(rt);
}

static void test_registration_order_same_node(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/h", "H1");
    add(rt, "GET", "/h", "H2");
    add(rt, "GET", "/h", "H3");
    EQ(all(rt, &r, "GET", "/h", 0), "H1|H2|H3");
    EQ(first(rt, &r, "GET", "/h"), "H1");
    router_free(rt);
}

static void test_backtracking(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/a/b/c", "S");
    add(rt, "GET", "/a/:x/d", "P");
    EQ(first(rt, &r, "GET", "/a/b/d"), "P(b)");
    CHECK(r.last_num_params == 1);
    EQ(first(rt, &r, "GET", "/a/b/c"), "S");
    CHECK(r.last_num_params == 0);
    router_free(rt);
}

static void test_param_pop_on_backtrack(void)
{
    /* A param pushed in a failing branch must not leak into a later visit. */
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/:a/:b/zzz", "DEEP");
    add(rt, "GET", "/:a/*", "PW");
    add(rt, "GET", "/*", "W");
    add(rt, NULL, "/:q/y", "ANYP");
    EQ(all(rt, &r, "GET", "/x/y", 0), "PW(x)|W|ANYP(x)");
    router_free(rt);
}

static void test_trailing_slash(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/foo", "NOSLASH");
    add(rt, "GET", "/bar/", "SLASH");
    EQ(first(rt, &r, "GET", "/foo"), "NOSLASH");
    EQ(first(rt, &r, "GET", "/foo/"), "");
    EQ(first(rt, &r, "GET", "/bar/"), "SLASH");
    EQ(first(rt, &r, "GET", "/bar"), "");
    add(rt, "GET", "/foo/", "FOOSLASH");
    EQ(first(rt, &r, "GET", "/foo/"), "FOOSLASH");
    EQ(first(rt, &r, "GET", "/foo"), "NOSLASH");
    router_free(rt);
}

static void test_double_slash_significant(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/a//b", "DS");
    EQ(first(rt, &r, "GET", "/a//b"), "DS");
    EQ(first(rt, &r, "GET", "/a/b"), "");
    router_free(rt);
}

static void test_skip_any(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/x", "G");
    add(rt, NULL, "/x", "A");
    EQ(all(rt, &r, "GET", "/x", ROUTER_SKIP_ANY), "G");
    router_free(rt);
}

static void test_skip_method(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/x", "G");
    add(rt, NULL, "/x", "A");
    EQ(all(rt, &r, "GET", "/x", ROUTER_SKIP_METHOD), "A");
    EQ(all(rt, &r, "GET", "/x", ROUTER_SKIP_METHOD | ROUTER_SKIP_ANY), "");
    router_free(rt);
}

static void test_unknown_method_goes_to_any(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, "GET", "/x", "G");
    add(rt, NULL, "/x", "A");
    EQ(first(rt, &r, "BREW", "/x"), "A");
    /* Methods are exact and case-sensitive. */
    EQ(all(rt, &r, "get", "/x", 0), "A");
    EQ(all(rt, &r, "GETX", "/x", 0), "A");
    EQ(all(rt, &r, "GE", "/x", 0), "A");
    /* A NULL method at dispatch only searches the any tree. */
    rec_reset(&r);
    router_dispatch(rt, NULL, 0, "/x", 2, 0, rec_visit, &r);
    EQ(r.log, "A");
    router_free(rt);
}

static void test_many_methods(void)
{
    static const char *methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "CONNECT", "TRACE"};
    router_t *rt = router_create();
    rec_t r;
    size_t n = sizeof(methods) / sizeof(methods[0]);
    for (size_t i = 0; i < n; i++)
        CHECK(add(rt, methods[i], "/m", methods[i]) == 0);
    for (size_t i = 0; i < n; i++)
        EQ(all(rt, &r, methods[i], "/m", 0), methods[i]);
    router_free(rt);
}

static void test_bad_patterns(void)
{
    router_t *rt = router_create();
    rec_t r;
    CHECK(add(rt, "GET", "", "X") == -1);
    CHECK(add(rt, "GET", "abc", "X") == -1);
    CHECK(add(rt, "GET", "**", "X") == -1);
    CHECK(add(rt, "GET", "*/", "X") == -1);
    CHECK(add(rt, "GET", "/a/*/b", "X") == -1);
    CHECK(add(rt, "GET", "/*/", "X") == -1);
    CHECK(add(rt, "GET", "/a/*x", "X") == -1);
    CHECK(router_add(rt, "GET", 3, NULL, 0, (void *)"X") == -1);
    /* Nothing was registered by the failures. */
    EQ(all(rt, &r, "GET", "/a/x/b", 0), "");
    EQ(all(rt, &r, "GET", "/a/b", 0), "");
    /* Stars inside a segment are plain text. */
    CHECK(add(rt, "GET", "/a/x*", "STAR") == 0);
    EQ(first(rt, &r, "GET", "/a/x*"), "STAR");
    EQ(first(rt, &r, "GET", "/a/xy"), "");
    router_free(rt);
}

static void test_pattern_length_respected(void)
{
    /* pattern_len bounds the pattern; bytes after it are ignored. */
    router_t *rt = router_create();
    rec_t r;
    const char *p = "/abc/def";
    CHECK(router_add(rt, "GETX", 3, p, 4, (void *)"ABC") == 0);
    EQ(first(rt, &r, "GET", "/abc"), "ABC");
    EQ(first(rt, &r, "GET", "/abc/def"), "");
    /* path_len likewise */
    rec_reset(&r);
    r.answer_all = 1;
    CHECK(router_dispatch(rt, "GET", 3, "/abc/def", 4, 0, rec_visit, &r) == 1);
    EQ(r.log, "ABC");
    router_free(rt);
}

static void test_bad_paths(void)
{
    router_t *rt = router_create();
    rec_t r;
    add(rt, NULL, "/*", "ALL");
    EQ(all(rt, &r, "GET", "", 0), "");
    EQ(all(rt, &r, "GET", "*", 0), "");
    EQ(all(rt, &r, "GET", "http://x/", 0), "");
    router_free(rt);
}

static void test_asterisk(void)
{
    /* "*" routes serve "OPTIONS *" only; the wildcard route stays a path one */
    router_t *rt = router_create();
    rec_t r;
    CHECK(add(rt, "OPTIONS", "*", "OPT*") == 0);
    CHECK(add(rt, NULL, "*", "ANY*") == 0);
    CHECK(add(rt, "OPTIONS", "/*", "WILD") == 0);
    CHECK(add(rt, "OPTIONS", "/:p", "P") == 0);
    EQ(first(rt, &r, "OPTIONS", "*"), "OPT*");
    EQ(all(rt, &r, "OPTIONS", "*", 0), "OPT*|ANY*");
    EQ(all(rt, &r, "OPTIONS", "*", ROUTER_SKIP_ANY), "OPT*");
    EQ(all(rt, &r, "OPTIONS", "*", ROUTER_SKIP_METHOD), "ANY*");
    EQ(all(rt, &r, "GET", "*", 0), "ANY*");
    EQ(all(rt, &r, "OPTIONS", "/*", 0), "P(*)|WILD");
    EQ(all(rt, &r, "OPTIONS", "/x", 0), "P(x)|WILD");
    EQ(all(rt, &r, "OPTIONS", "**", 0), "");
    router_free(rt);
    /* without a "*" route, "*" matches nothing, not even a wildcard route */
    rt = router_create();
    add(rt, NULL, "/*", "ALL");
    add(rt, "OPTIONS", "/", "ROOT");
    EQ(all(rt, &r, "OPTIONS", "*", 0), "");
    router_free(rt);
}

static void test_similar_static_segments(void)
{
    /* Short segments differing in one byte, and long ones sharing their first
     * bytes, in a node small enough for a scan and in one large enough for the
     * hash index. */
    static char pats[2][64][40];
    static char tags[2][64][16];
    for (int big = 0; big < 2; big++) {
        router_t *rt = router_create();
        rec_t r;
        int count = big ? 64 : 8;
        for (int i = 0; i < count; i++) {
            if (i % 2)
                snprintf(pats[big][i], sizeof(pats[big][i]), "/%c%c%c", 'a' + (i >> 3) % 8, 'a' + (i >> 1) % 4, 'a' + i % 3);
            else
                snprintf(pats[big][i], sizeof(pats[big][i]), "/shared-prefix-%03d-tail", i);
            snprintf(tags[big][i], sizeof(tags[big][i]), "S%d", i);
            add(rt, "GET", pats[big][i], tags[big][i]);
        }
        int found = 0;
        for (int i = 0; i < count; i++) {
            /* Duplicated short patterns register a second handler; the first answers. */
            first(rt, &r, "GET", pats[big][i]);
            const char *expect = tags[big][i];
            for (int j = 0; j < i; j++)
                if (strcmp(pats[big][j], pats[big][i]) == 0) {
                    expect = tags[big][j];
                    break;
                }
            found += strcmp(r.log, expect) == 0;
        }
        CHECK(found == count);
        EQ(first(rt, &r, "GET", "/shared-prefix-000-tailx"), "");
        EQ(first(rt, &r, "GET", "/shared-prefix-001-tail"), "");
        EQ(first(rt, &r, "GET", "/shared-prefix-000-taiL"), "");
        EQ(first(rt, &r, "GET", "/shared-p"), "");
        EQ(first(rt, &r, "GET", "/zzz"), "");
        EQ(first(rt, &r, "GET", "/aa"), "");
        router_free(rt);
    }
}

static void test_many_static_children(void)
{
    router_t *rt = router_create();
    rec_t r;
    static char pats[200][32];
    static char tags[200][16];
    for (int i = 0; i < 200; i++) {
        /* Mix lengths and prefixes so ordering matters. */
        snprintf(pats[i], sizeof(pats[i]), "/r%d%s", (i * 7919) % 1000, (i % 3) ? "x" : "");
        snprintf(tags[i], sizeof(tags[i]), "T%d", i);
    }
    int registered = 0;
    for (int i = 0; i < 200; i++)
        registered += add(rt, "GET", pats[i], tags[i]) == 0;
    CHECK(registered == 200);
    int found = 0;
    for (int i = 0; i < 200; i++) {
        first(rt, &r, "GET", pats[i]);
        found += strcmp(r.log, tags[i]) == 0;
    }
    CHECK(found == 200);
    EQ(first(rt, &r, "GET", "/r"), "");
    EQ(first(rt, &r, "GET", "/r99999"), "");
    EQ(first(rt, &r, "GET", "/"), "");
    /* Many children under a deeper node too, next to a param. */
    for (int i = 0; i < 50; i++) {
        char p[32];
        snprintf(p, sizeof(p), "/deep/k%d", i);
        add(rt, "GET", p, tags[i]);
    }
    add(rt, "GET", "/deep/:k", "DP");
    EQ(first(rt, &r, "GET", "/deep/k17"), "T17");
    EQ(first(rt, &r, "GET", "/deep/k50"), "DP(k50)");
    router_free(rt);
}

static void test_max_params(void)
{
    router_t *rt = router_create();
    rec_t r;
    char pat[1024] = "", url[1024] = "", expect[1024] = "M(";
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++) {
        char seg[16];
        snprintf(seg, sizeof(seg), "/:p%d", i);
        strcat(pat, seg);
        snprintf(seg, sizeof(seg), "/v%d", i);
        strcat(url, seg);
        snprintf(seg, sizeof(seg), "%sv%d", i ? "," : "", i);
        strcat(expect, seg);
    }
    strcat(expect, ")");
    CHECK(add(rt, "GET", pat, "M") == 0);
    EQ(first(rt, &r, "GET", url), expect);
    CHECK(r.last_num_params == ROUTER_MAX_PARAMS);
    /* One more parameter than fits is refused, and leaves nothing behind. */
    char pat2[2048];
    strcpy(pat2, pat);
    strcat(pat2, "/:extra");
    CHECK(add(rt, "GET", pat2, "TOO") == -1);
    char url2[2048];
    strcpy(url2, url);
    strcat(url2, "/more");
    EQ(all(rt, &r, "GET", url2, 0), "");
    /* A long URL under a param + wildcard route does not overflow either. */
    add(rt, "GET", "/:a/*", "PW");
    char longurl[4096] = "";
    for (int i = 0; i < 300; i++)
        strcat(longurl, "/s");
    EQ(first(rt, &r, "GET", longurl), "PW(s)");
    router_free(rt);
}

static void test_max_segments(void)
{
    router_t *rt = router_create();
    rec_t r;
    char pat[4096] = "", url[4096] = "";
    for (int i = 0; i < ROUTER_MAX_SEGMENTS; i++)
        strcat(pat, "/s");
    CHECK(add(rt, "GET", pat, "DEEP") == 0);
    EQ(first(rt, &r, "GET", pat), "DEEP");
    /* A deeper URL is not matched by a pattern that ends at the limit. */
    strcpy(url, pat);
    strcat(url, "/extra/more");
    EQ(first(rt, &r, "GET", url), "");
    /* A pattern deeper than the limit could never match: refused. */
    strcat(pat, "/s");
    CHECK(add(rt, "GET", pat, "TOO") == -1);
    router_free(rt);
}

static int g_count_calls;
static void count_handler(void *handler, void *user)
{
    int *counts = user;
    const char *tag = handler;
    counts[tag[0] - 'A']++;
    g_count_calls++;
}

static void test_for_each_handler(void)
{
    router_t *rt = router_create();
    add(rt, "GET", "/", "A");
    add(rt, "GET", "/", "A");
    add(rt, "POST", "/x/:y", "B");
    add(rt, NULL, "/*", "C");
    add(rt, NULL, "/q/*", "D");
    add(rt, "DELETE", "/q", "E");
    CHECK(add(rt, "DELETE", "/q/*/z", "F") == -1);
    int counts[8] = {0};
    g_count_calls = 0;
    router_for_each_handler(rt, count_handler, counts);
    CHECK(g_count_calls == 6);
    CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 1 && counts[3] == 1 && counts[4] == 1 && counts[5] == 0);
    router_free(rt);

    router_t *empty = router_create();
    g_count_calls = 0;
    router_for_each_handler(empty, count_handler, counts);
    CHECK(g_count_calls == 0);
    router_free(empty);
}

static void test_empty_router(void)
{
    router_t *rt = router_create();
    rec_t r;
    CHECK(rt != NULL);
    EQ(all(rt, &r, "GET", "/", 0), "");
    router_free(rt);
    router_free(NULL);
}

static int null_visit(void *handler, const router_match_t *m, void *user)
{
    (void)m;
    if (handler == NULL)
        ++*(int *)user;
    return handler == NULL;
}

static void test_null_handler_pointer(void)
{
    /* The router never dereferences handlers; NULL is stored and visited like any other. */
    router_t *rt = router_create();
    int visits = 0;
    CHECK(router_add(rt, "GET", 3, "/n", 2, NULL) == 0);
    CHECK(router_dispatch(rt, "GET", 3, "/n", 2, 0, null_visit, &visits) == 1);
    CHECK(visits == 1);
    router_free(rt);
}

int main(void)
{
    RUN(test_static);
    RUN(test_asterisk);
    RUN(test_dispatch_return_value);
    RUN(test_root);
    RUN(test_param_value_and_name);
    RUN(test_multiple_params);
    RUN(test_param_names_per_pattern);
    RUN(test_empty_param_name);
    RUN(test_empty_segment_not_param);
    RUN(test_wildcard);
    RUN(test_wildcard_after_param);
    RUN(test_catch_all);
    RUN(test_priority_static_param_wild);
    RUN(test_method_before_any);
    RUN(test_yield_order);
    RUN(test_patch_yield_then_any);
    RUN(test_registration_order_same_node);
    RUN(test_backtracking);
    RUN(test_param_pop_on_backtrack);
    RUN(test_trailing_slash);
    RUN(test_double_slash_significant);
    RUN(test_skip_any);
    RUN(test_skip_method);
    RUN(test_unknown_method_goes_to_any);
    RUN(test_many_methods);
    RUN(test_bad_patterns);
    RUN(test_pattern_length_respected);
    RUN(test_bad_paths);
    RUN(test_many_static_children);
    RUN(test_similar_static_segments);
    RUN(test_max_params);
    RUN(test_max_segments);
    RUN(test_for_each_handler);
    RUN(test_empty_router);
    RUN(test_null_handler_pointer);
    return report();
}
