/*
 * Pub/sub topics (see topic_tree.h).
 *
 * Layout:
 * - topics live in a chained hash table keyed by a seeded SipHash-1-3 of
 *   their bytes (seeded so that clients choosing topic names cannot pile
 *   them into one chain);
 * - a topic holds its subscribers in an array of members; a subscriber holds
 *   its topics in an array of links, in subscription order. Each member
 *   knows its link's index and each link its member's index, so a member is
 *   removed from a topic by swapping the last one in (O(1)), and a link is
 *   removed by shifting the later links down (O(topics of the subscriber)),
 *   which keeps the subscription order;
 * - every published message is one allocation (the header and a copy of
 *   the bytes) whose index in the tree's store is appended to each
 *   recipient's queue (uint32 indices, increasing within a queue);
 * - subscribers with something queued are on the pending list, in the order
 *   they got their first message. tt_drain moves that list to the active
 *   list and remembers how many messages the store held (base): during the
 *   pass only indices below base are delivered; anything published from a
 *   deliverer lands at base or above and its recipients go back on the
 *   pending list, for the next drain. After the pass, no queue holds an
 *   index below base, so those messages are freed and the rest move down.
 */
#include "topic_tree.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define INITIAL_BUCKETS 16u
#define NO_INDEX UINT32_MAX

typedef struct topic_s topic_t;

typedef struct member_s {
    tt_subscriber_t *s;
    uint32_t link; /* index in s->links */
} member_t;

typedef struct link_s {
    topic_t *topic;
    uint32_t member; /* index in topic->members */
} link_t;

struct topic_s {
    topic_t *next; /* hash chain */
    uint64_t hash;
    member_t *members;
    uint32_t nmembers, cap;
    size_t len;
    char name[]; /* len bytes plus a NUL, for callers that print it */
};

struct tt_subscriber_s {
    void *user;
    link_t *links;
    uint32_t nlinks, links_cap;
    uint32_t *queue; /* message indices, increasing */
    uint32_t qlen, qcap;
    /* every subscriber of the tree (for tt_free) */
    tt_subscriber_t *all_prev, *all_next;
    /* the pending list: queued messages not yet taken by a drain */
    tt_subscriber_t *pend_prev, *pend_next;
    /* the active list: subscribers the running tt_drain still has to visit */
    tt_subscriber_t *act_prev, *act_next;
    unsigned on_pending : 1, on_active : 1, in_deliver : 1, zombie : 1;
};

typedef struct list_s {
    tt_subscriber_t *head, *tail;
} list_t;

struct tt_tree_s {
    tt_deliver_fn deliver;
    tt_cache_free_fn cache_free;
    void *user;
    uint64_t k0, k1; /* hash key */

    topic_t **buckets;
    size_t nbuckets, ntopics;

    tt_message_t **store;
    uint32_t nstore, store_cap;

    /* pointers handed to deliver; as long as the longest queue, grown by
     * tt_publish so that a drain never has to allocate */
    tt_message_t **scratch;
    uint32_t scratch_cap;
    int scratch_busy; /* a deliverer is using it (nested deliveries allocate) */
    int draining;

    tt_subscriber_t *all;
    list_t pending, active;
};

/* ------------------------------------------------------------ hashing */

static inline uint64_t rotl64(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

#define SIPROUND                                                                              \
    do {                                                                                      \
        v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32);                        \
        v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                                              \
        v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                                              \
        v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32);                        \
    } while (0)

/* SipHash-1-3 (one compression round, three finalization rounds). */
static uint64_t sip13(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    size_t i, full = len & ~(size_t)7;
    uint64_t m, b = (uint64_t)len << 56;

    for (i = 0; i < full; i += 8) {
        m = (uint64_t)p[i] | (uint64_t)p[i + 1] << 8 | (uint64_t)p[i + 2] << 16 |
            (uint64_t)p[i + 3] << 24 | (uint64_t)p[i + 4] << 32 | (uint64_t)p[i + 5] << 40 |
            (uint64_t)p[i + 6] << 48 | (uint64_t)p[i + 7] << 56;
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static void seed_key(tt_tree_t *t)
{
    uint64_t k[2];
    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        /* no entropy yet (early boot): weaker, but still differs per tree */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
        k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)&ts;
    }
    t->k0 = k[0];
    t->k1 = k[1];
}

/* ------------------------------------------------------------ topics */

static topic_t *topic_find(const tt_tree_t *t, const char *name, size_t len, uint64_t h)
{
    topic_t *tp;
    for (tp = t->buckets[h & (t->nbuckets - 1)]; tp; tp = tp->next)
        if (tp->hash == h && tp->len == len && (len == 0 || memcmp(tp->name, name, len) == 0))
            return tp;
    return NULL;
}

static topic_t *topic_lookup(const tt_tree_t *t, const char *name, size_t len)
{
    if (t->ntopics == 0)
        return NULL;
    return topic_find(t, name, len, sip13(t->k0, t->k1, (const unsigned char *)name, len));
}

/* Moves every topic to a table of n buckets (a power of two). On failure
 * the old table stays, which still works (chains are just longer). */
static void rehash(tt_tree_t *t, size_t n)
{
    topic_t **nb = calloc(n, sizeof(*nb));
    size_t i;
    if (!nb)
        return;
    for (i = 0; i < t->nbuckets; i++) {
        topic_t *tp = t->buckets[i], *next;
        for (; tp; tp = next) {
            next = tp->next;
            tp->next = nb[tp->hash & (n - 1)];
            nb[tp->hash & (n - 1)] = tp;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

static topic_t *topic_create(tt_tree_t *t, const char *name, size_t len, uint64_t h)
{
    topic_t *tp;
    if (len > SIZE_MAX - sizeof(*tp) - 1)
        return NULL;
    tp = malloc(sizeof(*tp) + len + 1);
    if (!tp)
        return NULL;
    tp->members = malloc(2 * sizeof(member_t));
    if (!tp->members) {
        free(tp);
        return NULL;
    }
    tp->cap = 2;
    tp->nmembers = 0;
    tp->hash = h;
    tp->len = len;
    if (len)
        memcpy(tp->name, name, len);
    tp->name[len] = '\0';
    if (t->ntopics + 1 > t->nbuckets / 4 * 3 && t->nbuckets <= SIZE_MAX / 2 / sizeof(topic_t *))
        rehash(t, t->nbuckets * 2);
    tp->next = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = tp;
    t->ntopics++;
    return tp;
}

static void topic_delete(tt_tree_t *t, topic_t *tp)
{
    topic_t **pp = &t->buckets[tp->hash & (t->nbuckets - 1)];
    while (*pp != tp)
        pp = &(*pp)->next;
    *pp = tp->next;
    t->ntopics--;
    free(tp->members);
    free(tp);
    /* give memory back after a burst of topics; failure keeps the big table */
    if (t->nbuckets > INITIAL_BUCKETS && t->ntopics < t->nbuckets / 8)
        rehash(t, t->nbuckets / 2);
}

/* Removes s's link li (and its member in that topic); deletes the topic if
 * it becomes empty. Returns the topic's count after. */
static uint32_t unlink_at(tt_tree_t *t, tt_subscriber_t *s, uint32_t li)
{
    topic_t *tp = s->links[li].topic;
    uint32_t mi = s->links[li].member, i, left;

    /* the topic side: swap the last member into the hole */
    tp->nmembers--;
    if (mi != tp->nmembers) {
        member_t last = tp->members[tp->nmembers];
        tp->members[mi] = last;
        last.s->links[last.link].member = mi;
    }
    left = tp->nmembers;

    /* the subscriber side: shift later links down to keep their order */
    for (i = li + 1; i < s->nlinks; i++) {
        link_t l = s->links[i];
        s->links[i - 1] = l;
        l.topic->members[l.member].link = i - 1;
    }
    s->nlinks--;

    if (left == 0)
        topic_delete(t, tp);
    return left;
}

/* Finds s in tp: the index of its link in s->links, or NO_INDEX. Scans the
 * shorter of the two arrays. */
static uint32_t find_link(const tt_subscriber_t *s, const topic_t *tp)
{
    uint32_t i;
    if (s->nlinks <= tp->nmembers) {
        for (i = 0; i < s->nlinks; i++)
            if (s->links[i].topic == tp)
                return i;
    } else {
        for (i = 0; i < tp->nmembers; i++)
            if (tp->members[i].s == s)
                return tp->members[i].link;
    }
    return NO_INDEX;
}

/* Returns arr (capacity *cap) grown by doubling to hold at least need >= 1
 * elements, or NULL (arr and *cap unchanged) if that cannot be done. */
static void *grow_to(void *arr, uint32_t *cap, uint32_t need, size_t elem)
{
    uint32_t nc;
    void *na;
    if (need <= *cap)
        return arr;
    nc = *cap ? *cap : 4;
    while (nc < need)
        nc = nc > UINT32_MAX / 2 ? UINT32_MAX : nc * 2;
    if ((size_t)nc > SIZE_MAX / elem)
        return NULL;
    na = realloc(arr, (size_t)nc * elem);
    if (na)
        *cap = nc;
    return na;
}

/* Makes room in ptr (an lvalue) for one more element after n; 0 or -1. */
#define RESERVE(ptr, cap, n)                                                    \
    __extension__({                                                             \
        int r_ = -1;                                                            \
        if ((n) != UINT32_MAX) {                                                \
            void *np_ = grow_to((ptr), &(cap), (n) + 1, sizeof(*(ptr)));        \
            if (np_) {                                                          \
                (ptr) = np_;                                                    \
                r_ = 0;                                                         \
            }                                                                   \
        }                                                                       \
        r_;                                                                     \
    })

/* ------------------------------------------------------------ lists */

#define LIST_PUSH(l, s, PREV, NEXT)            \
    do {                                       \
        (s)->PREV = (l)->tail;                 \
        (s)->NEXT = NULL;                      \
        if ((l)->tail)                         \
            (l)->tail->NEXT = (s);             \
        else                                   \
            (l)->head = (s);                   \
        (l)->tail = (s);                       \
    } while (0)

#define LIST_REMOVE(l, s, PREV, NEXT)          \
    do {                                       \
        if ((s)->PREV)                         \
            (s)->PREV->NEXT = (s)->NEXT;       \
        else                                   \
            (l)->head = (s)->NEXT;             \
        if ((s)->NEXT)                         \
            (s)->NEXT->PREV = (s)->PREV;       \
        else                                   \
            (l)->tail = (s)->PREV;             \
        (s)->PREV = (s)->NEXT = NULL;          \
    } while (0)

static void pending_remove(tt_tree_t *t, tt_subscriber_t *s)
{
    if (s->on_pending) {
        LIST_REMOVE(&t->pending, s, pend_prev, pend_next);
        s->on_pending = 0;
    }
}

static void active_remove(tt_tree_t *t, tt_subscriber_t *s)
{
    if (s->on_active) {
        LIST_REMOVE(&t->active, s, act_prev, act_next);
        s->on_active = 0;
    }
}

/* ------------------------------------------------------------ messages */

typedef struct msg_block_s {
    tt_message_t m;
    char data[];
} msg_block_t;

static void message_free(tt_tree_t *t, tt_message_t *m)
{
    if (m->cache && t->cache_free)
        t->cache_free(t->user, m->cache);
    free(m); /* m is the start of its msg_block_t */
}

/* ------------------------------------------------------------ API */

tt_tree_t *tt_create(tt_deliver_fn deliver, tt_cache_free_fn cache_free, void *user)
{
    tt_tree_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->buckets = calloc(INITIAL_BUCKETS, sizeof(*t->buckets));
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->nbuckets = INITIAL_BUCKETS;
    t->deliver = deliver;
    t->cache_free = cache_free;
    t->user = user;
    seed_key(t);
    return t;
}

static void subscriber_destroy(tt_subscriber_t *s)
{
    free(s->links);
    free(s->queue);
    free(s);
}

void tt_free(tt_tree_t *t)
{
    size_t i;
    tt_subscriber_t *s, *next;
    if (!t)
        return;
    for (s = t->all; s; s = next) {
        next = s->all_next;
        subscriber_destroy(s);
    }
    for (i = 0; i < t->nbuckets; i++) {
        topic_t *tp = t->buckets[i], *tn;
        for (; tp; tp = tn) {
            tn = tp->next;
            free(tp->members);
            free(tp);
        }
    }
    for (i = 0; i < t->nstore; i++)
        message_free(t, t->store[i]);
    free(t->store);
    free(t->scratch);
    free(t->buckets);
    free(t);
}

tt_subscriber_t *tt_subscriber_new(tt_tree_t *t, void *user)
{
    tt_subscriber_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->user = user;
    s->all_next = t->all;
    if (t->all)
        t->all->all_prev = s;
    t->all = s;
    return s;
}

void tt_subscriber_free(tt_tree_t *t, tt_subscriber_t *s)
{
    if (!s)
        return;
    /* from the back, so no link has to shift */
    while (s->nlinks)
        unlink_at(t, s, s->nlinks - 1);
    s->qlen = 0;
    pending_remove(t, s);
    active_remove(t, s);
    if (s->in_deliver) {
        /* freed by its own deliverer: the delivery finishes the job */
        s->zombie = 1;
        return;
    }
    if (s->all_prev)
        s->all_prev->all_next = s->all_next;
    else
        t->all = s->all_next;
    if (s->all_next)
        s->all_next->all_prev = s->all_prev;
    subscriber_destroy(s);
}

long tt_subscribe(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len)
{
    uint64_t h = sip13(t->k0, t->k1, (const unsigned char *)topic, len);
    topic_t *tp = topic_find(t, topic, len, h);

    if (tp && find_link(s, tp) != NO_INDEX)
        return 0;
    /* both reservations before any change, so a failure changes nothing */
    if (RESERVE(s->links, s->links_cap, s->nlinks) < 0)
        return -1;
    if (!tp) {
        tp = topic_create(t, topic, len, h);
        if (!tp)
            return -1;
    } else if (RESERVE(tp->members, tp->cap, tp->nmembers) < 0) {
        return -1;
    }
    tp->members[tp->nmembers].s = s;
    tp->members[tp->nmembers].link = s->nlinks;
    s->links[s->nlinks].topic = tp;
    s->links[s->nlinks].member = tp->nmembers;
    s->nlinks++;
    tp->nmembers++;
    return (long)tp->nmembers;
}

long tt_unsubscribe(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len)
{
    topic_t *tp = topic_lookup(t, topic, len);
    uint32_t li;
    if (!tp || (li = find_link(s, tp)) == NO_INDEX)
        return -1;
    return (long)unlink_at(t, s, li);
}

int tt_is_subscribed(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len)
{
    topic_t *tp = topic_lookup(t, topic, len);
    return tp && find_link(s, tp) != NO_INDEX;
}

size_t tt_num_subscribers(tt_tree_t *t, const char *topic, size_t len)
{
    topic_t *tp = topic_lookup(t, topic, len);
    return tp ? tp->nmembers : 0;
}

size_t tt_subscriber_topic_count(const tt_subscriber_t *s)
{
    return s->nlinks;
}

const char *tt_subscriber_topic(const tt_subscriber_t *s, size_t i, size_t *len)
{
    if (i >= s->nlinks) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = s->links[i].topic->len;
    return s->links[i].topic->name;
}

long tt_publish(tt_tree_t *t, const char *topic, size_t topic_len, tt_subscriber_t *sender,
                const char *data, size_t len, uint32_t flags)
{
    topic_t *tp = topic_lookup(t, topic, topic_len);
    msg_block_t *b;
    uint32_t i, n = 0, longest = 0, idx;

    if (!tp)
        return 0;
    /* first every allocation, so that out of memory leaves no trace */
    for (i = 0; i < tp->nmembers; i++) {
        tt_subscriber_t *s = tp->members[i].s;
        if (s == sender)
            continue;
        if (RESERVE(s->queue, s->qcap, s->qlen) < 0)
            return -1;
        if (s->qlen + 1 > longest)
            longest = s->qlen + 1;
        n++;
    }
    if (n == 0)
        return 0;
    if (longest > t->scratch_cap) {
        tt_message_t **ns = grow_to(t->scratch, &t->scratch_cap, longest, sizeof(*ns));
        if (!ns)
            return -1;
        t->scratch = ns;
    }
    /* the store's last index is reserved: NO_INDEX never names a message */
    if (t->nstore >= UINT32_MAX - 1 ||
        RESERVE(t->store, t->store_cap, t->nstore) < 0)
        return -1;
    if (len > SIZE_MAX - sizeof(*b))
        return -1;
    b = malloc(sizeof(*b) + len);
    if (!b)
        return -1;

    if (len)
        memcpy(b->data, data, len);
    b->m.data = b->data;
    b->m.len = len;
    b->m.flags = flags;
    b->m.cache = NULL;
    b->m.cache_len = 0;
    idx = t->nstore++;
    t->store[idx] = &b->m;

    for (i = 0; i < tp->nmembers; i++) {
        tt_subscriber_t *s = tp->members[i].s;
        if (s == sender)
            continue;
        s->queue[s->qlen++] = idx;
        if (!s->on_pending) {
            /* first message since it was last taken (or since this drain
             * began): the next drain visits it */
            LIST_PUSH(&t->pending, s, pend_prev, pend_next);
            s->on_pending = 1;
        }
    }
    return (long)n;
}

int tt_pending(const tt_tree_t *t)
{
    return t->pending.head != NULL;
}

/* Delivers the first n entries of s's queue and removes them. Returns 0, or
 * -1 if a nested delivery could not get a buffer (the entries stay). */
static int deliver_prefix(tt_tree_t *t, tt_subscriber_t *s, uint32_t n)
{
    tt_message_t **ptrs;
    uint32_t i;
    int own = 0;

    if (n == 0)
        return 0;
    if (t->scratch_busy) {
        /* a deliverer reached another subscriber's drain: its own buffer */
        ptrs = malloc((size_t)n * sizeof(*ptrs));
        if (!ptrs)
            return -1;
        own = 1;
    } else {
        ptrs = t->scratch; /* scratch_cap >= every queue's length */
        t->scratch_busy = 1;
    }
    for (i = 0; i < n; i++)
        ptrs[i] = t->store[s->queue[i]];

    s->in_deliver = 1;
    if (t->deliver)
        t->deliver(t->user, s, s->user, (tt_message_t *const *)ptrs, n);
    s->in_deliver = 0;

    if (own)
        free(ptrs);
    else
        t->scratch_busy = 0;

    if (s->zombie) {
        s->zombie = 0;
        tt_subscriber_free(t, s);
        return 0;
    }
    /* publishes from the deliverer may have appended after the prefix */
    memmove(s->queue, s->queue + n, (size_t)(s->qlen - n) * sizeof(uint32_t));
    s->qlen -= n;
    return 0;
}

void tt_drain_subscriber(tt_tree_t *t, tt_subscriber_t *s)
{
    uint32_t n = s->qlen;
    /* s's own deliverer is running: what it has is already going out, and
     * anything newer waits for the next drain */
    if (n == 0 || s->in_deliver)
        return;
    /* off the pending list first: a publish from the deliverer puts it back
     * at the end, which is when it got its first undelivered message */
    pending_remove(t, s);
    if (deliver_prefix(t, s, n) < 0 && !s->on_pending) {
        LIST_PUSH(&t->pending, s, pend_prev, pend_next);
        s->on_pending = 1;
    }
    /* its messages stay in the store until tt_drain: others may hold them */
}

void tt_drain(tt_tree_t *t)
{
    uint32_t base, i;
    tt_subscriber_t *s;

    /* called from a deliverer: the messages it would free may be in the
     * running delivery's hands; the outer drain (or the next) covers it */
    if (t->draining || t->scratch_busy)
        return;
    if (!t->pending.head) {
        /* nothing queued, so nothing references the store */
        for (i = 0; i < t->nstore; i++)
            message_free(t, t->store[i]);
        t->nstore = 0;
        return;
    }
    t->draining = 1;
    base = t->nstore;

    while ((s = t->pending.head)) {
        pending_remove(t, s);
        LIST_PUSH(&t->active, s, act_prev, act_next);
        s->on_active = 1;
    }
    while ((s = t->active.head)) {
        uint32_t k = 0;
        active_remove(t, s);
        while (k < s->qlen && s->queue[k] < base)
            k++;
        /* the outermost drain always has the scratch buffer, so this
         * cannot fail */
        deliver_prefix(t, s, k);
    }

    /* no queue refers below base any more */
    for (i = 0; i < base; i++)
        message_free(t, t->store[i]);
    memmove(t->store, t->store + base, (size_t)(t->nstore - base) * sizeof(*t->store));
    t->nstore -= base;
    for (s = t->pending.head; s; s = s->pend_next)
        for (i = 0; i < s->qlen; i++)
            s->queue[i] -= base;
    t->draining = 0;
}
