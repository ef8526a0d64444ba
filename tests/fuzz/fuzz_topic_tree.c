/*
 * libFuzzer target for socketify_cy/native/topic_tree.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/topic_tree.c tests/fuzz/fuzz_topic_tree.c -o /tmp/fuzz_topic
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/topic_tree.c tests/fuzz/fuzz_topic_tree.c -o /tmp/fuzz_topic
 *
 * The input is a command stream over NSLOTS subscriber slots and NTOPICS
 * topics (some differ only after a NUL byte, two are long): new / free
 * subscriber, subscribe, unsubscribe, publish (with or without a sender,
 * message size from the input), drain, drain one subscriber, and arming an
 * action the next deliverer performs (publish, drain another subscriber,
 * drain everything, free itself). A reference model predicts every return
 * value and every delivery: which subscriber the deliverer is called for
 * next (any of those that got their first message in the same publish),
 * and exactly which messages in which order. Message caches are
 * checked to be freed once, and only when no queue still holds the message;
 * LeakSanitizer checks that tt_free leaves nothing behind.
 */
#include "topic_tree.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 6
#define NTOPICS 8

static const char *topic_name[NTOPICS];
static size_t topic_len[NTOPICS];
static char long_topic[301];

typedef struct slot_s {
    tt_subscriber_t *s; /* NULL: free slot */
    int topics[NTOPICS]; /* subscription order */
    int ntopics;
    uint32_t *queue; /* model: message ids queued, in order */
    size_t qlen;
    int on_pending, in_deliver;
    uint32_t pend_key; /* the id of the message that put it on the pending list */
} slot_t;

/* one running drain (the deliverer may nest a tt_drain_subscriber) */
typedef struct ctx_s {
    int all;              /* tt_drain, else tt_drain_subscriber(one) */
    int one;
    uint32_t base;        /* tt_drain: ids below it are delivered */
    /* tt_drain: who was pending when it began, with when each got its first
     * message (the order among one publish's recipients is the topic's) */
    int snap[NSLOTS];
    uint32_t snap_key[NSLOTS];
    int visited[NSLOTS];
    int nsnap;
    int calls;
} ctx_t;

static struct {
    tt_tree_t *t;
    slot_t slot[NSLOTS];
    int pending[NSLOTS]; /* slots in the order they got their first message */
    int npending;
    uint32_t next_id;
    uint32_t *refs;     /* per message: queues holding it */
    uint8_t *cached, *cache_freed, *dropped;
    size_t max_msgs;
    ctx_t ctx[8];
    int depth;
    long caches_made, caches_freed;
    /* the action the next deliverer performs */
    int armed; /* 0 none, 1 publish, 2 drain one, 3 drain all, 4 free self */
    int arm_topic, arm_sender, arm_slot;
    size_t arm_len;
    const uint8_t *in;
    size_t in_len, pos;
} M;

static uint8_t next_byte(void) { return M.pos < M.in_len ? M.in[M.pos++] : 0; }

static void init_topics(void)
{
    memset(long_topic, 'x', sizeof(long_topic));
    topic_name[0] = "";
    topic_name[1] = "a";
    topic_name[2] = "b";
    topic_name[3] = "a\0";
    topic_name[4] = "a\0b";
    topic_name[5] = "ab";
    topic_name[6] = long_topic;
    topic_name[7] = long_topic;
    topic_len[0] = 0;
    topic_len[1] = 1;
    topic_len[2] = 1;
    topic_len[3] = 2;
    topic_len[4] = 3;
    topic_len[5] = 2;
    topic_len[6] = 300;
    topic_len[7] = 301;
}

static int model_subscribed(int sl, int tp)
{
    int i;
    for (i = 0; i < M.slot[sl].ntopics; i++)
        if (M.slot[sl].topics[i] == tp)
            return 1;
    return 0;
}

static size_t model_count(int tp)
{
    size_t n = 0;
    int i;
    for (i = 0; i < NSLOTS; i++)
        if (M.slot[i].s && model_subscribed(i, tp))
            n++;
    return n;
}

static void pending_remove(int sl)
{
    int i, j;
    if (!M.slot[sl].on_pending)
        return;
    for (i = 0; i < M.npending; i++)
        if (M.pending[i] == sl) {
            for (j = i + 1; j < M.npending; j++)
                M.pending[j - 1] = M.pending[j];
            M.npending--;
            break;
        }
    M.slot[sl].on_pending = 0;
}

/* Drops the first n entries of a slot's model queue. */
static void queue_take(int sl, size_t n)
{
    slot_t *s = &M.slot[sl];
    size_t i;
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(M.refs[s->queue[i]] > 0);
        M.refs[s->queue[i]]--;
    }
    memmove(s->queue, s->queue + n, (s->qlen - n) * sizeof(uint32_t));
    s->qlen -= n;
}

static void check_message(const tt_message_t *m, uint32_t id)
{
    uint32_t got;
    size_t j;
    FUZZ_CHECK(m->len >= 4);
    memcpy(&got, m->data, 4);
    FUZZ_CHECK(got == id);
    FUZZ_CHECK(m->flags == (id ^ 0x5a5a5a5au));
    for (j = 4; j < m->len; j++)
        FUZZ_CHECK((uint8_t)m->data[j] == (uint8_t)(id + j));
    FUZZ_CHECK(!M.dropped[id]);
}

static void do_publish(int tp, int sender, size_t extra);
static void do_drain_one(int sl);
static void do_drain_all(void);
static void do_free(int sl);

static void on_deliver(void *tree_user, tt_subscriber_t *sub, void *sub_user,
                       tt_message_t *const *msgs, size_t n)
{
    int sl = (int)(intptr_t)sub_user, act;
    slot_t *s;
    ctx_t *c;
    size_t i, want;

    FUZZ_CHECK(tree_user == &M);
    FUZZ_CHECK(sl >= 0 && sl < NSLOTS);
    s = &M.slot[sl];
    FUZZ_CHECK(s->s == sub);
    FUZZ_CHECK(M.depth > 0);
    c = &M.ctx[M.depth - 1];
    c->calls++;
    if (c->all) {
        /* one of those that got their first message earliest, among those
         * not visited yet that still have something old */
        int j, me = -1;
        uint32_t min_key = UINT32_MAX;
        for (j = 0; j < c->nsnap; j++) {
            int cand = c->snap[j];
            if (c->visited[j] || !M.slot[cand].s || !M.slot[cand].qlen ||
                M.slot[cand].queue[0] >= c->base)
                continue;
            if (c->snap_key[j] < min_key)
                min_key = c->snap_key[j];
            if (cand == sl)
                me = j;
        }
        FUZZ_CHECK(me >= 0 && c->snap_key[me] == min_key);
        c->visited[me] = 1;
        for (want = 0; want < s->qlen && s->queue[want] < c->base; want++)
            ;
    } else {
        FUZZ_CHECK(c->one == sl && c->calls == 1);
        want = s->qlen;
    }
    FUZZ_CHECK(n == want && n > 0);
    for (i = 0; i < n; i++) {
        check_message(msgs[i], s->queue[i]);
        if (!msgs[i]->cache) {
            uint32_t *cache = malloc(sizeof(*cache));
            FUZZ_CHECK(cache);
            *cache = s->queue[i];
            msgs[i]->cache = cache;
            msgs[i]->cache_len = sizeof(*cache);
            FUZZ_CHECK(!M.cached[s->queue[i]]);
            M.cached[s->queue[i]] = 1;
            M.caches_made++;
        }
    }
    queue_take(sl, n);

    s->in_deliver = 1;
    act = M.armed;
    M.armed = 0;
    switch (act) {
    case 1:
        do_publish(M.arm_topic, M.arm_sender, M.arm_len);
        break;
    case 2:
        do_drain_one(M.arm_slot);
        break;
    case 3:
        do_drain_all();
        break;
    case 4:
        do_free(sl);
        break;
    default:
        break;
    }
    s->in_deliver = 0;
}

static void on_cache_free(void *tree_user, void *cache)
{
    uint32_t id;
    FUZZ_CHECK(tree_user == &M);
    memcpy(&id, cache, sizeof(id));
    FUZZ_CHECK(id < M.next_id);
    FUZZ_CHECK(M.cached[id] && !M.cache_freed[id]);
    FUZZ_CHECK(M.refs[id] == 0); /* no queue may still hold it */
    M.cache_freed[id] = 1;
    M.dropped[id] = 1;
    M.caches_freed++;
    free(cache);
}

static void do_new(int sl)
{
    slot_t *s = &M.slot[sl];
    if (s->s || M.depth)
        return;
    s->s = tt_subscriber_new(M.t, (void *)(intptr_t)sl);
    FUZZ_CHECK(s->s);
    s->ntopics = 0;
    s->qlen = 0;
    s->on_pending = 0;
}

static void do_free(int sl)
{
    slot_t *s = &M.slot[sl];
    if (!s->s)
        return;
    tt_subscriber_free(M.t, s->s);
    s->s = NULL;
    s->ntopics = 0;
    queue_take(sl, s->qlen);
    pending_remove(sl);
}

static void do_subscribe(int sl, int tp)
{
    slot_t *s = &M.slot[sl];
    size_t before;
    long r;
    if (!s->s)
        return;
    before = model_count(tp);
    r = tt_subscribe(M.t, s->s, topic_name[tp], topic_len[tp]);
    if (model_subscribed(sl, tp)) {
        FUZZ_CHECK(r == 0);
        return;
    }
    FUZZ_CHECK(r == (long)before + 1);
    s->topics[s->ntopics++] = tp;
}

static void do_unsubscribe(int sl, int tp)
{
    slot_t *s = &M.slot[sl];
    long r;
    int i;
    if (!s->s)
        return;
    r = tt_unsubscribe(M.t, s->s, topic_name[tp], topic_len[tp]);
    if (!model_subscribed(sl, tp)) {
        FUZZ_CHECK(r == -1);
        return;
    }
    for (i = 0; s->topics[i] != tp; i++)
        ;
    for (; i + 1 < s->ntopics; i++)
        s->topics[i] = s->topics[i + 1];
    s->ntopics--;
    FUZZ_CHECK(r == (long)model_count(tp));
}

static void do_publish(int tp, int sender, size_t extra)
{
    char buf[4 + 300];
    uint32_t id = M.next_id;
    tt_subscriber_t *snd = sender >= 0 ? M.slot[sender].s : NULL;
    long r, want = 0;
    size_t j, len = 4 + extra;
    int i;

    if (id >= M.max_msgs)
        return;
    memcpy(buf, &id, 4);
    for (j = 4; j < len; j++)
        buf[j] = (char)(uint8_t)(id + j);
    r = tt_publish(M.t, topic_name[tp], topic_len[tp], snd, buf, len, id ^ 0x5a5a5a5au);
    for (i = 0; i < NSLOTS; i++)
        if (M.slot[i].s && M.slot[i].s != snd && model_subscribed(i, tp))
            want++;
    FUZZ_CHECK(r == want);
    if (want == 0)
        return; /* nothing stored: the id is not used */
    M.next_id++;
    for (i = 0; i < NSLOTS; i++) {
        slot_t *s = &M.slot[i];
        if (!s->s || s->s == snd || !model_subscribed(i, tp))
            continue;
        s->queue[s->qlen++] = id;
        M.refs[id]++;
        if (!s->on_pending) {
            M.pending[M.npending++] = i;
            s->on_pending = 1;
            s->pend_key = id;
        }
    }
}

static void do_drain_one(int sl)
{
    slot_t *s = &M.slot[sl];
    ctx_t *c;
    int expect_call;
    if (!s->s || M.depth >= 7)
        return;
    /* no delivery when nothing is queued or its own delivery is running */
    expect_call = s->qlen > 0 && !s->in_deliver;
    c = &M.ctx[M.depth++];
    memset(c, 0, sizeof(*c));
    c->one = sl;
    if (expect_call)
        pending_remove(sl);
    tt_drain_subscriber(M.t, s->s);
    FUZZ_CHECK(c->calls == expect_call);
    M.depth--;
}

static void do_drain_all(void)
{
    ctx_t *c;
    int i;
    uint32_t id;
    if (M.depth) {
        /* from inside a deliverer: does nothing (the running drain, or the
         * next, covers it) */
        int calls = M.ctx[M.depth - 1].calls;
        tt_drain(M.t);
        FUZZ_CHECK(M.ctx[M.depth - 1].calls == calls);
        return;
    }
    c = &M.ctx[M.depth++];
    memset(c, 0, sizeof(*c));
    c->all = 1;
    c->base = M.next_id;
    for (i = 0; i < M.npending; i++) {
        c->snap_key[c->nsnap] = M.slot[M.pending[i]].pend_key;
        c->snap[c->nsnap++] = M.pending[i];
        M.slot[M.pending[i]].on_pending = 0;
    }
    M.npending = 0;
    tt_drain(M.t);
    /* everyone not visited has nothing old queued */
    for (i = 0; i < c->nsnap; i++) {
        slot_t *s = &M.slot[c->snap[i]];
        FUZZ_CHECK(c->visited[i] || !s->s || s->qlen == 0 || s->queue[0] >= c->base);
    }
    M.depth--;
    /* every message before the drain is gone */
    for (id = 0; id < c->base; id++) {
        FUZZ_CHECK(M.refs[id] == 0);
        if (M.cached[id])
            FUZZ_CHECK(M.cache_freed[id]);
        M.dropped[id] = 1;
    }
}

static void check_state(void)
{
    int i, tp, any = 0;
    for (tp = 0; tp < NTOPICS; tp++)
        FUZZ_CHECK(tt_num_subscribers(M.t, topic_name[tp], topic_len[tp]) == model_count(tp));
    for (i = 0; i < NSLOTS; i++) {
        slot_t *s = &M.slot[i];
        if (!s->s)
            continue;
        FUZZ_CHECK(tt_subscriber_topic_count(s->s) == (size_t)s->ntopics);
        for (tp = 0; tp < s->ntopics; tp++) {
            size_t len;
            const char *p = tt_subscriber_topic(s->s, (size_t)tp, &len);
            FUZZ_CHECK(len == topic_len[s->topics[tp]]);
            FUZZ_CHECK(len == 0 || memcmp(p, topic_name[s->topics[tp]], len) == 0);
        }
        for (tp = 0; tp < NTOPICS; tp++)
            FUZZ_CHECK(tt_is_subscribed(M.t, s->s, topic_name[tp], topic_len[tp]) ==
                       model_subscribed(i, tp));
        if (s->qlen)
            any = 1;
        FUZZ_CHECK(s->on_pending == (s->qlen > 0));
    }
    FUZZ_CHECK(tt_pending(M.t) == any);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int i;
    if (!topic_name[0])
        init_topics();
    memset(&M, 0, sizeof(M));
    M.in = data;
    M.in_len = size;
    /* each publish uses at least one input byte */
    M.max_msgs = size + 1;
    M.refs = calloc(M.max_msgs, sizeof(*M.refs));
    M.cached = calloc(M.max_msgs, 1);
    M.cache_freed = calloc(M.max_msgs, 1);
    M.dropped = calloc(M.max_msgs, 1);
    FUZZ_CHECK(M.refs && M.cached && M.cache_freed && M.dropped);
    for (i = 0; i < NSLOTS; i++) {
        M.slot[i].queue = malloc(M.max_msgs * sizeof(uint32_t));
        FUZZ_CHECK(M.slot[i].queue);
    }
    M.t = tt_create(on_deliver, on_cache_free, &M);
    FUZZ_CHECK(M.t);
    /* two subscribers to start with, so short inputs do something */
    do_new(0);
    do_new(1);

    while (M.pos < M.in_len) {
        uint8_t op = next_byte(), a, b;
        switch (op % 10) {
        case 0:
            do_new(next_byte() % NSLOTS);
            break;
        case 1:
            do_free(next_byte() % NSLOTS);
            break;
        case 2:
            a = next_byte();
            do_subscribe(a % NSLOTS, (a >> 4) % NTOPICS);
            break;
        case 3:
            a = next_byte();
            do_unsubscribe(a % NSLOTS, (a >> 4) % NTOPICS);
            break;
        case 4: /* publish, no sender; the op's high bits give the topic */
            a = next_byte();
            do_publish((op / 10) % NTOPICS, -1, a);
            break;
        case 5: /* publish with a sender */
            a = next_byte();
            b = next_byte();
            do_publish(a % NTOPICS, (a >> 3) % NSLOTS, b);
            break;
        case 6:
            do_drain_all();
            break;
        case 7:
            do_drain_one(next_byte() % NSLOTS);
            break;
        case 8: /* arm what the next deliverer does */
            a = next_byte();
            b = next_byte();
            M.armed = 1 + a % 4;
            M.arm_topic = (a >> 2) % NTOPICS;
            M.arm_sender = (a >> 5) % 4 == 0 ? -1 : (int)(b % NSLOTS);
            M.arm_slot = b % NSLOTS;
            M.arm_len = b;
            break;
        default:
            break;
        }
        check_state();
    }

    /* the end: everything queued arrives, then nothing is left */
    M.armed = 0;
    do_drain_all();
    check_state();
    FUZZ_CHECK(!tt_pending(M.t));
    for (i = 0; i < NSLOTS; i++)
        FUZZ_CHECK(!M.slot[i].s || M.slot[i].qlen == 0);
    tt_free(M.t);
    FUZZ_CHECK(M.caches_made == M.caches_freed);
    for (i = 0; i < NSLOTS; i++)
        free(M.slot[i].queue);
    free(M.refs);
    free(M.cached);
    free(M.cache_freed);
    free(M.dropped);
    return 0;
}
