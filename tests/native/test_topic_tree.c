/* sources: socketify_cy/native/topic_tree.c | libs: -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=free */
/*
 * Standalone tests for the pub/sub topic tree. Subscribers carry a one-letter
 * name; a recording deliverer logs every delivery as "A[m1,m2]" (message
 * bytes as given to tt_publish, NUL as '~') so a test compares one string. malloc,
 * calloc, realloc and free are wrapped (see the libs above) so a test can
 * make the n-th allocation fail and count the blocks alive.
 */
#include "topic_tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

/* ------------------------------------------------------------ allocation failures */

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static long g_alloc_countdown = -1; /* fail when it reaches 0; -1 never */
static long g_alloc_failures;
static long g_live_blocks;

static int alloc_fails(void)
{
    if (g_alloc_countdown < 0)
        return 0;
    if (g_alloc_countdown-- == 0) {
        g_alloc_failures++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    void *p = alloc_fails() ? NULL : __real_malloc(n);
    g_live_blocks += p != NULL;
    return p;
}

void *__wrap_calloc(size_t a, size_t b)
{
    void *p = alloc_fails() ? NULL : __real_calloc(a, b);
    g_live_blocks += p != NULL;
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    void *p = alloc_fails() ? NULL : __real_realloc(old, n);
    g_live_blocks += p != NULL && old == NULL;
    return p;
}

void __wrap_free(void *p)
{
    g_live_blocks -= p != NULL;
    __real_free(p);
}

/* ------------------------------------------------------------ recorder */

typedef struct rec_s {
    char log[8192];
    tt_tree_t *tree;
    /* publish this from inside the next delivery to subscriber `when` */
    char inner_msg[32];
    const char *inner_topic;
    void *inner_when;
    /* drain this subscriber from inside a delivery to `when2` */
    tt_subscriber_t *inner_drain;
    void *inner_drain_when;
    /* free this subscriber from inside its own delivery */
    void *free_self;
    /* set each message's cache to a fresh allocation at its first delivery */
    int make_cache;
    long caches_made, caches_freed;
    long deliveries, messages;
} rec_t;

static rec_t R;

static void append(const char *s, size_t n)
{
    size_t len = strlen(R.log);
    if (len + n + 1 > sizeof(R.log))
        n = sizeof(R.log) - len - 1;
    memcpy(R.log + len, s, n);
    R.log[len + n] = '\0';
}

static void rec_deliver(void *tree_user, tt_subscriber_t *s, void *sub_user,
                        tt_message_t *const *msgs, size_t n)
{
    const char *name = sub_user;
    size_t i;
    CHECK(tree_user == &R);
    CHECK(n > 0);
    R.deliveries++;
    R.messages += (long)n;
    append(name, strlen(name));
    append("[", 1);
    for (i = 0; i < n; i++) {
        if (i)
            append(",", 1);
        for (size_t j = 0; j < msgs[i]->len; j++) /* a NUL byte logs as '~' */
            append(msgs[i]->data[j] ? &msgs[i]->data[j] : "~", 1);
        if (R.make_cache && !msgs[i]->cache) {
            msgs[i]->cache = malloc(16);
            msgs[i]->cache_len = 16;
            R.caches_made++;
        }
    }
    append("]", 1);
    if (R.inner_when == sub_user) {
        R.inner_when = NULL;
        tt_publish(R.tree, R.inner_topic, strlen(R.inner_topic), NULL, R.inner_msg,
                   strlen(R.inner_msg), 0);
    }
    if (R.inner_drain_when == sub_user) {
        R.inner_drain_when = NULL;
        tt_drain_subscriber(R.tree, R.inner_drain);
    }
    if (R.free_self == sub_user) {
        R.free_self = NULL;
        tt_subscriber_free(R.tree, s);
    }
}

static void rec_cache_free(void *tree_user, void *cache)
{
    CHECK(tree_user == &R);
    R.caches_freed++;
    free(cache);
}

static tt_tree_t *new_tree(void)
{
    memset(&R, 0, sizeof(R));
    R.tree = tt_create(rec_deliver, rec_cache_free, &R);
    return R.tree;
}

static long sub(tt_tree_t *t, tt_subscriber_t *s, const char *topic)
{
    return tt_subscribe(t, s, topic, strlen(topic));
}

static long unsub(tt_tree_t *t, tt_subscriber_t *s, const char *topic)
{
    return tt_unsubscribe(t, s, topic, strlen(topic));
}

static long pub(tt_tree_t *t, const char *topic, tt_subscriber_t *sender, const char *msg)
{
    return tt_publish(t, topic, strlen(topic), sender, msg, strlen(msg), 0);
}

static size_t nsubs(tt_tree_t *t, const char *topic)
{
    return tt_num_subscribers(t, topic, strlen(topic));
}

/* "a,b,c": s's topics in order */
static const char *topics_of(const tt_subscriber_t *s)
{
    static char buf[1024];
    size_t i, n = tt_subscriber_topic_count(s), len, at = 0;
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *p = tt_subscriber_topic(s, i, &len);
        if (at + len + 2 >= sizeof(buf))
            break;
        if (i)
            buf[at++] = ',';
        memcpy(buf + at, p, len);
        at += len;
        buf[at] = '\0';
    }
    return buf;
}

/* ------------------------------------------------------------ tests */

static void test_subscribe_counts(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    CHECK(t && a && b);
    CHECK(nsubs(t, "x") == 0);
    CHECK(sub(t, a, "x") == 1);
    CHECK(sub(t, a, "x") == 0); /* already */
    CHECK(sub(t, b, "x") == 2);
    CHECK(sub(t, b, "y") == 1);
    CHECK(nsubs(t, "x") == 2 && nsubs(t, "y") == 1);
    CHECK(tt_is_subscribed(t, a, "x", 1) && !tt_is_subscribed(t, a, "y", 1));
    CHECK(!tt_is_subscribed(t, a, "z", 1));
    CHECK(unsub(t, a, "y") == -1); /* topic exists, a not in it */
    CHECK(unsub(t, a, "z") == -1); /* no such topic */
    CHECK(unsub(t, a, "x") == 1);
    CHECK(unsub(t, a, "x") == -1);
    CHECK(unsub(t, b, "x") == 0);
    CHECK(nsubs(t, "x") == 0);
    CHECK(tt_subscriber_topic_count(a) == 0);
    CHECK(strcmp(topics_of(b), "y") == 0);
    CHECK(tt_subscriber_topic(b, 5, NULL) == NULL);
    tt_free(t);
}

static void test_topics_with_nul_bytes(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    size_t len;
    const char *p;
    CHECK(tt_subscribe(t, a, "a\0b", 3) == 1);
    CHECK(tt_subscribe(t, b, "a\0c", 3) == 1);
    CHECK(tt_subscribe(t, b, "a", 1) == 1);
    CHECK(tt_subscribe(t, b, "", 0) == 1); /* the empty topic is a topic */
    CHECK(tt_num_subscribers(t, "a\0b", 3) == 1);
    CHECK(tt_num_subscribers(t, "a\0c", 3) == 1);
    CHECK(tt_num_subscribers(t, "a", 1) == 1);
    CHECK(tt_num_subscribers(t, "a\0", 2) == 0);
    CHECK(tt_is_subscribed(t, a, "a\0b", 3) && !tt_is_subscribed(t, a, "a\0c", 3));
    p = tt_subscriber_topic(a, 0, &len);
    CHECK(len == 3 && memcmp(p, "a\0b", 3) == 0);
    CHECK(tt_publish(t, "a\0c", 3, NULL, "m\0n", 3, 7) == 1);
    CHECK(tt_publish(t, "", 0, NULL, "e", 1, 0) == 1);
    tt_drain(t);
    CHECK(R.messages == 2 && R.deliveries == 1);
    CHECK(strcmp(R.log, "B[m~n,e]") == 0);
    tt_free(t);
}

static void test_long_topics_and_many(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A");
    size_t big = 70000, i;
    char *name = malloc(big), key[32];
    memset(name, 'q', big);
    CHECK(tt_subscribe(t, a, name, big) == 1);
    name[big - 1] = 'r'; /* differs only in the last byte */
    CHECK(tt_num_subscribers(t, name, big) == 0);
    name[big - 1] = 'q';
    CHECK(tt_num_subscribers(t, name, big) == 1);
    CHECK(tt_num_subscribers(t, name, big - 1) == 0);
    /* enough topics to grow the table several times, then shrink it */
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        CHECK(sub(t, a, key) == 1);
    }
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        CHECK(nsubs(t, key) == 1);
    }
    CHECK(tt_subscriber_topic_count(a) == 5001);
    for (i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%zu", i);
        CHECK(unsub(t, a, key) == 0);
    }
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        CHECK(nsubs(t, key) == (i % 2 ? 1u : 0u));
    }
    CHECK(tt_subscriber_topic_count(a) == 2501);
    {
        size_t len;
        const char *p = tt_subscriber_topic(a, 1, &len);
        CHECK(len == 2 && memcmp(p, "k1", 2) == 0); /* order kept */
        p = tt_subscriber_topic(a, 2500, &len);
        CHECK(len == 5 && memcmp(p, "k4999", 5) == 0);
    }
    CHECK(tt_unsubscribe(t, a, name, big) == 0);
    /* all gone: the table shrinks back and still finds what it holds */
    for (i = 1; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%zu", i);
        CHECK(unsub(t, a, key) == 0);
    }
    CHECK(tt_subscriber_topic_count(a) == 0);
    CHECK(sub(t, a, "k1") == 1 && nsubs(t, "k1") == 1 && nsubs(t, "k3") == 0);
    free(name);
    tt_free(t);
}

static void test_topic_deleted_with_last_subscriber(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    CHECK(sub(t, a, "x") == 1);
    CHECK(sub(t, b, "x") == 2);
    CHECK(unsub(t, a, "x") == 1);
    tt_subscriber_free(t, b); /* the last one leaves by being freed */
    CHECK(nsubs(t, "x") == 0);
    CHECK(pub(t, "x", NULL, "m") == 0);
    CHECK(!tt_pending(t));
    CHECK(sub(t, a, "x") == 1); /* a fresh topic */
    CHECK(pub(t, "x", NULL, "m") == 1);
    tt_drain(t);
    CHECK(strcmp(R.log, "A[m]") == 0);
    /* a thousand topics come and go: nothing of them stays allocated */
    {
        long base = g_live_blocks;
        char key[16];
        int i;
        for (i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            CHECK(sub(t, a, key) == 1);
        }
        CHECK(g_live_blocks >= base + 2000);
        for (i = 0; i < 1000; i++) {
            snprintf(key, sizeof(key), "k%d", i);
            CHECK(unsub(t, a, key) == 0);
        }
        CHECK(g_live_blocks == base);
    }
    tt_free(t);
}

static void test_topic_order_after_middle_unsubscribe(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    const char *names[] = {"t1", "t2", "t3", "t4", "t5"};
    int i;
    for (i = 0; i < 5; i++)
        CHECK(sub(t, a, names[i]) == 1);
    for (i = 0; i < 5; i++)
        CHECK(sub(t, b, names[4 - i]) == 2);
    CHECK(strcmp(topics_of(a), "t1,t2,t3,t4,t5") == 0);
    CHECK(strcmp(topics_of(b), "t5,t4,t3,t2,t1") == 0);
    CHECK(unsub(t, a, "t3") == 1);
    CHECK(strcmp(topics_of(a), "t1,t2,t4,t5") == 0);
    CHECK(unsub(t, b, "t1") == 1); /* moves a's member within t1 */
    CHECK(unsub(t, a, "t1") == 0);
    CHECK(strcmp(topics_of(a), "t2,t4,t5") == 0);
    CHECK(strcmp(topics_of(b), "t5,t4,t3,t2") == 0);
    CHECK(sub(t, a, "t3") == 2); /* back at the end */
    CHECK(strcmp(topics_of(a), "t2,t4,t5,t3") == 0);
    CHECK(unsub(t, b, "t4") == 1);
    CHECK(unsub(t, a, "t4") == 0);
    CHECK(unsub(t, a, "t2") == 1);
    CHECK(strcmp(topics_of(a), "t5,t3") == 0);
    CHECK(strcmp(topics_of(b), "t5,t3,t2") == 0);
    CHECK(nsubs(t, "t5") == 2 && nsubs(t, "t3") == 2 && nsubs(t, "t2") == 1);
    CHECK(nsubs(t, "t1") == 0 && nsubs(t, "t4") == 0);
    tt_free(t);
}

static void test_publish_to_none(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A");
    CHECK(pub(t, "nobody", NULL, "m") == 0);
    CHECK(sub(t, a, "x") == 1);
    CHECK(pub(t, "x", a, "m") == 0); /* only the sender */
    CHECK(!tt_pending(t));
    tt_drain(t);
    CHECK(R.deliveries == 0 && R.log[0] == '\0');
    tt_free(t);
}

static void test_sender_excluded(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B"),
                    *c = tt_subscriber_new(t, "C");
    sub(t, a, "x");
    sub(t, b, "x");
    sub(t, c, "x");
    CHECK(pub(t, "x", b, "1") == 2);
    CHECK(pub(t, "x", c, "2") == 2); /* c's send reaches b */
    CHECK(pub(t, "x", NULL, "3") == 3);
    CHECK(tt_pending(t));
    tt_drain(t);
    CHECK(!tt_pending(t));
    CHECK(strcmp(R.log, "A[1,2,3]C[1,3]B[2,3]") == 0);
    tt_free(t);
}

static void test_order_across_topics(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    sub(t, a, "x");
    sub(t, a, "y");
    sub(t, b, "y");
    sub(t, b, "z");
    pub(t, "y", NULL, "1");
    pub(t, "z", NULL, "2");
    pub(t, "x", NULL, "3");
    pub(t, "z", NULL, "4");
    pub(t, "y", NULL, "5");
    pub(t, "x", NULL, "6");
    tt_drain(t);
    CHECK(strcmp(R.log, "A[1,3,5,6]B[1,2,4,5]") == 0);
    /* a second round uses the emptied store and queues again */
    R.log[0] = '\0';
    pub(t, "z", NULL, "7");
    pub(t, "x", NULL, "8");
    tt_drain(t);
    CHECK(strcmp(R.log, "B[7]A[8]") == 0);
    tt_free(t);
}

static void test_drain_order_is_first_message_order(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *s[4];
    const char *names[] = {"A", "B", "C", "D"};
    int i;
    for (i = 0; i < 4; i++) {
        s[i] = tt_subscriber_new(t, (void *)names[i]);
        sub(t, s[i], names[i]); /* own topic */
        sub(t, s[i], "all");
    }
    pub(t, "C", NULL, "1");
    pub(t, "A", NULL, "2");
    pub(t, "all", NULL, "3");
    pub(t, "D", NULL, "4");
    tt_drain(t);
    CHECK(strcmp(R.log, "C[1,3]A[2,3]B[3]D[3,4]") == 0);
    tt_free(t);
}

static void test_drain_subscriber_then_drain(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B");
    sub(t, a, "x");
    sub(t, b, "x");
    pub(t, "x", NULL, "1");
    pub(t, "x", NULL, "2");
    tt_drain_subscriber(t, a);
    CHECK(strcmp(R.log, "A[1,2]") == 0);
    tt_drain_subscriber(t, a); /* nothing left: no call */
    CHECK(R.deliveries == 1);
    CHECK(tt_pending(t)); /* b still waits */
    pub(t, "x", NULL, "3");
    tt_drain(t);
    CHECK(strcmp(R.log, "A[1,2]B[1,2,3]A[3]") == 0);
    CHECK(!tt_pending(t));
    tt_drain(t);
    CHECK(R.deliveries == 3);
    /* draining everyone one by one, then tt_drain just frees */
    R.log[0] = '\0';
    R.make_cache = 1;
    pub(t, "x", NULL, "4");
    tt_drain_subscriber(t, b);
    tt_drain_subscriber(t, a);
    CHECK(!tt_pending(t));
    CHECK(R.caches_made == 1 && R.caches_freed == 0); /* still in the store */
    tt_drain(t);
    CHECK(R.caches_freed == 1);
    CHECK(strcmp(R.log, "B[4]A[4]") == 0);
    tt_free(t);
}

static void test_publish_inside_deliver_goes_to_next_drain(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B"),
                    *c = tt_subscriber_new(t, "C");
    sub(t, a, "x");
    sub(t, b, "x");
    sub(t, c, "y");
    R.make_cache = 1;
    pub(t, "x", NULL, "1");
    /* while A gets 1, publish 2 to x (A and B, B not yet visited) */
    strcpy(R.inner_msg, "2");
    R.inner_topic = "x";
    R.inner_when = "A";
    tt_drain(t);
    CHECK(strcmp(R.log, "A[1]B[1]") == 0);
    CHECK(tt_pending(t));
    CHECK(R.caches_made == 1 && R.caches_freed == 1); /* 1 dropped, 2 kept */
    /* while B gets 2, publish 3 to y: the third drain has it */
    R.log[0] = '\0';
    strcpy(R.inner_msg, "3");
    R.inner_topic = "y";
    R.inner_when = "B";
    tt_drain(t);
    CHECK(strcmp(R.log, "A[2]B[2]") == 0);
    CHECK(R.caches_made == 2 && R.caches_freed == 2);
    R.log[0] = '\0';
    tt_drain(t);
    CHECK(strcmp(R.log, "C[3]") == 0);
    CHECK(!tt_pending(t));
    CHECK(R.caches_made == 3 && R.caches_freed == 3);
    tt_free(t);
}

static void test_nested_drain_subscriber_and_self_free(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B"),
                    *c = tt_subscriber_new(t, "C");
    sub(t, a, "x");
    sub(t, b, "x");
    sub(t, c, "x");
    pub(t, "x", NULL, "1");
    /* A's deliverer sends directly to C, so it drains C first; meanwhile it
     * publishes 2, which C gets in the same nested delivery */
    strcpy(R.inner_msg, "2");
    R.inner_topic = "x";
    R.inner_when = "A";
    R.inner_drain = c;
    R.inner_drain_when = "A";
    R.free_self = "B";
    tt_drain(t);
    CHECK(strcmp(R.log, "A[1]C[1,2]B[1]") == 0);
    CHECK(nsubs(t, "x") == 2); /* B left from inside its delivery */
    R.log[0] = '\0';
    tt_drain(t);
    CHECK(strcmp(R.log, "A[2]") == 0);
    tt_free(t);
}

static void test_cache_free_once_per_cached_message(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *s[5];
    int i;
    for (i = 0; i < 5; i++) {
        s[i] = tt_subscriber_new(t, "S");
        sub(t, s[i], "x");
    }
    R.make_cache = 1;
    for (i = 0; i < 10; i++)
        CHECK(pub(t, "x", s[i % 5], "m") == 4);
    tt_drain(t);
    CHECK(R.messages == 40);
    CHECK(R.caches_made == 10 && R.caches_freed == 10);
    /* messages without a cache: no call */
    R.make_cache = 0;
    pub(t, "x", NULL, "n");
    tt_drain(t);
    CHECK(R.caches_freed == 10);
    /* queued and cached messages dropped by tt_free */
    R.make_cache = 1;
    pub(t, "x", NULL, "o");
    pub(t, "x", NULL, "p");
    tt_drain_subscriber(t, s[0]);
    CHECK(R.caches_made == 12);
    tt_free(t);
    CHECK(R.caches_freed == 12);
}

static void test_stress_10000_subscribers_100_topics(void)
{
    enum { NS = 10000, NT = 100 };
    tt_tree_t *t = new_tree();
    tt_subscriber_t **s = malloc(NS * sizeof(*s));
    char key[16];
    int i, j, bad = 0;
    long n;
    long long t0 = now_ms();
    for (i = 0; i < NS; i++)
        s[i] = tt_subscriber_new(t, "S");
    for (i = 0; i < NS; i++)
        for (j = 0; j < NT; j++) {
            snprintf(key, sizeof(key), "t%d", (i + j) % NT);
            if (sub(t, s[i], key) != (long)(i + 1))
                bad++;
        }
    CHECK(bad == 0);
    for (j = 0; j < NT; j++) {
        snprintf(key, sizeof(key), "t%d", j);
        n = pub(t, key, s[j], "m");
        if (n != NS - 1)
            bad++;
    }
    CHECK(bad == 0);
    tt_drain(t);
    CHECK(R.deliveries == NS);
    CHECK(R.messages == (long)NS * NT - NT);
    /* the even subscribers leave the odd topics */
    for (i = 0; i < NS; i += 2)
        for (j = 1; j < NT; j += 2) {
            snprintf(key, sizeof(key), "t%d", j);
            if (unsub(t, s[i], key) < 0 || tt_is_subscribed(t, s[i], key, strlen(key)))
                bad++;
        }
    CHECK(bad == 0);
    for (j = 0; j < NT; j++) {
        snprintf(key, sizeof(key), "t%d", j);
        if (nsubs(t, key) != (j % 2 ? NS / 2u : (size_t)NS))
            bad++;
    }
    CHECK(bad == 0);
    CHECK(tt_subscriber_topic_count(s[0]) == NT / 2 && tt_subscriber_topic_count(s[1]) == NT);
    R.messages = R.deliveries = 0;
    for (j = 0; j < NT; j++) {
        snprintf(key, sizeof(key), "t%d", j);
        pub(t, key, NULL, "n");
    }
    /* the odd half frees with messages queued */
    for (i = 1; i < NS; i += 2)
        tt_subscriber_free(t, s[i]);
    tt_drain(t);
    CHECK(R.deliveries == NS / 2 && R.messages == (long)(NS / 2) * (NT / 2));
    for (j = 0; j < NT; j++) {
        snprintf(key, sizeof(key), "t%d", j);
        if (nsubs(t, key) != (j % 2 ? 0u : NS / 2u))
            bad++;
    }
    CHECK(bad == 0);
    tt_free(t);
    free(s);
    printf("     stress: %lld ms\n", now_ms() - t0);
}

static void test_subscriber_free_with_queued_messages(void)
{
    tt_tree_t *t = new_tree();
    tt_subscriber_t *a = tt_subscriber_new(t, "A"), *b = tt_subscriber_new(t, "B"),
                    *c = tt_subscriber_new(t, "C");
    sub(t, a, "x");
    sub(t, b, "x");
    sub(t, c, "x");
    sub(t, b, "only-b");
    R.make_cache = 1;
    pub(t, "x", NULL, "1");
    pub(t, "only-b", NULL, "2");
    tt_subscriber_free(t, b);
    CHECK(nsubs(t, "only-b") == 0 && nsubs(t, "x") == 2);
    CHECK(tt_pending(t));
    tt_drain(t);
    CHECK(strcmp(R.log, "A[1]C[1]") == 0);
    CHECK(R.caches_made == 1 && R.caches_freed == 1);
    /* the only one with something queued leaves: nothing pending */
    pub(t, "x", a, "3");
    tt_subscriber_free(t, c);
    CHECK(!tt_pending(t));
    tt_drain(t);
    CHECK(R.deliveries == 2);
    tt_subscriber_free(t, a);
    CHECK(nsubs(t, "x") == 0);
    tt_free(t);
}

/* Every operation, failing at each of its allocations in turn, returns -1
 * and leaves the tree as it was; the tree still works afterwards. */
static void test_out_of_memory(void)
{
    tt_tree_t *t = NULL;
    tt_subscriber_t *a, *b;
    long r, k, failures = 0;
    char key[16];
    int i;

    for (k = 0;; k++) {
        g_alloc_countdown = k;
        t = new_tree();
        g_alloc_countdown = -1;
        if (t)
            break;
        failures++;
    }
    CHECK(failures == 2); /* the tree and its buckets */
    a = tt_subscriber_new(t, "A");
    b = tt_subscriber_new(t, "B");
    g_alloc_countdown = 0;
    CHECK(tt_subscriber_new(t, "C") == NULL);
    g_alloc_countdown = -1;

    /* subscribe: many topics (links grow, the table grows) */
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        for (k = 0;; k++) {
            g_alloc_countdown = k;
            r = sub(t, a, key);
            g_alloc_countdown = -1;
            if (r != -1)
                break;
            CHECK(nsubs(t, key) == 0 && !tt_is_subscribed(t, a, key, strlen(key)));
            CHECK(tt_subscriber_topic_count(a) == (size_t)i);
        }
        CHECK(r == 1);
        for (k = 0;; k++) {
            g_alloc_countdown = k;
            r = sub(t, b, key);
            g_alloc_countdown = -1;
            if (r != -1)
                break;
            CHECK(nsubs(t, key) == 1);
        }
        CHECK(r == 2);
    }
    /* publish: queues, scratch, store and message can each fail */
    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "m%d", i);
        for (k = 0;; k++) {
            g_alloc_countdown = k;
            r = pub(t, i % 2 ? "k3" : "k7", i % 3 ? NULL : b, key);
            g_alloc_countdown = -1;
            if (r != -1)
                break;
        }
        CHECK(r == (i % 3 ? 2 : 1));
    }
    tt_drain(t);
    CHECK(R.messages == 40 + 26);
    {
        /* A got m0..m39 in order */
        char want[1024] = "A[";
        for (i = 0; i < 40; i++) {
            snprintf(key, sizeof(key), "%sm%d", i ? "," : "", i);
            strcat(want, key);
        }
        strcat(want, "]");
        CHECK(strncmp(R.log, want, strlen(want)) == 0);
    }
    CHECK(g_alloc_failures > 40);
    tt_free(t);
}

int main(void)
{
    RUN(test_subscribe_counts);
    RUN(test_topics_with_nul_bytes);
    RUN(test_long_topics_and_many);
    RUN(test_topic_deleted_with_last_subscriber);
    RUN(test_topic_order_after_middle_unsubscribe);
    RUN(test_publish_to_none);
    RUN(test_sender_excluded);
    RUN(test_order_across_topics);
    RUN(test_drain_order_is_first_message_order);
    RUN(test_drain_subscriber_then_drain);
    RUN(test_publish_inside_deliver_goes_to_next_drain);
    RUN(test_nested_drain_subscriber_and_self_free);
    RUN(test_cache_free_once_per_cached_message);
    RUN(test_stress_10000_subscribers_100_topics);
    RUN(test_subscriber_free_with_queued_messages);
    RUN(test_out_of_memory);
    return report();
}
