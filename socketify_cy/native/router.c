/*
 * URL router implementation (see router.h for the contract).
 *
 * Layout: the router keeps a small list of method trees (looked up by an
 * exact byte compare of the method) plus one tree for "any method". A tree
 * is made of nodes, one per path segment. Every node has
 *   - static children, each with an inline integer key of its bytes; a node
 *     with few children is scanned, one with many also gets a hash index,
 *   - at most one parameter child (":name" segments all share it),
 *   - at most one wildcard child ("*", always a leaf),
 *   - the handlers registered for the pattern that ends at this node, in
 *     registration order. Each handler entry carries the parameter names of
 *     its own pattern, because two patterns may reach the same node with
 *     different names ("/:id" and "/:name").
 *
 * Matching walks the request path segment by segment trying static, then
 * parameter, then wildcard, recursing only where there is something to
 * backtrack to. It allocates nothing and finds segment ends on the fly.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

/* Up to this many static children a linear scan is used; above it, a hash index. */
#define LINEAR_SCAN_MAX 8

typedef struct route_entry_s {
    void *handler;
    uint32_t num_names;
    const char **names;   /* num_names pointers into name_buf */
    uint32_t *name_lens;  /* num_names lengths */
    char *name_buf;       /* one block holding every name (not NUL-separated) */
} route_entry_t;

struct node_s;

/*
 * A static child with its lookup key kept inline (no pointer chase while
 * scanning). For segments of up to 8 bytes, (len, key) identifies the
 * segment exactly; longer ones also compare the bytes after the first 8.
 */
typedef struct static_ref_s {
    uint64_t key;          /* seg_key() of the segment */
    uint64_t hash;         /* seg_hash() of the segment */
    uint32_t len;          /* segment length */
    struct node_s *child;
} static_ref_t;

typedef struct node_s {
    static_ref_t *statics; /* registration order */
    uint32_t num_statics;
    uint32_t cap_statics;
    /* Open-addressing index into statics (slot holds position + 1, 0 = free);
     * present only when num_statics > LINEAR_SCAN_MAX. */
    uint32_t *index;
    uint32_t index_bits;
    struct node_s *param;
    struct node_s *wild;
    route_entry_t *entries;
    uint32_t num_entries;
    uint32_t cap_entries;
    uint32_t seg_len;
    char seg[]; /* static segment text (empty for param/wildcard/root nodes) */
} node_t;

typedef struct method_tree_s {
    uint64_t key;          /* seg_key() of the method */
    size_t method_len;
    char *method;
    node_t *root;
} method_tree_t;

struct router_s {
    method_tree_t *methods;
    size_t num_methods;
    size_t cap_methods;
    node_t *any_root;
};

/* ------------------------------------------------------------ segment keys */

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/*
 * Integer key of a byte string, made of a few (possibly overlapping) loads.
 * For two strings of the same length up to 8 bytes, equal keys mean equal
 * strings: the loads together cover every byte at fixed positions. Longer
 * strings are keyed by their first 8 bytes only.
 */
static inline uint64_t seg_key(const char *s, size_t len)
{
    if (len >= 8)
        return load64(s);
    if (len >= 4)
        return load32(s) | (load32(s + len - 4) << 32);
    if (len > 0)
        return (uint64_t)(unsigned char)s[0] | ((uint64_t)(unsigned char)s[len / 2] << 8) |
               ((uint64_t)(unsigned char)s[len - 1] << 16);
    return 0;
}

static inline uint64_t seg_hash(uint64_t key, const char *s, size_t len)
{
    uint64_t h = key ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);
    if (len > 8)
        h ^= load64(s + len - 8) * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

/* Byte equality for short strings without a library call. */
static inline int bytes_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static inline int ref_matches(const static_ref_t *r, uint64_t key, const char *s, size_t len)
{
    return r->len == len && r->key == key &&
           (len <= 8 || bytes_eq(r->child->seg + 8, s + 8, len - 8));
}

/* ------------------------------------------------------------------ nodes */

static node_t *node_new(const char *seg, size_t seg_len)
{
    node_t *n = calloc(1, sizeof(*n) + seg_len + 1);
    if (!n)
        return NULL;
    n->seg_len = (uint32_t)seg_len;
    if (seg_len)
        memcpy(n->seg, seg, seg_len);
    n->seg[seg_len] = '\0';
    return n;
}

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->num_statics; i++)
        node_free(n->statics[i].child);
    free(n->statics);
    free(n->index);
    node_free(n->param);
    node_free(n->wild);
    for (uint32_t i = 0; i < n->num_entries; i++) {
        free(n->entries[i].names);
        free(n->entries[i].name_lens);
        free(n->entries[i].name_buf);
    }
    free(n->entries);
    free(n);
}

/* Hot path: find the static child equal to the request segment (s, len). */
static inline node_t *static_lookup(const node_t *n, const char *s, size_t len)
{
    uint32_t count = n->num_statics;
    if (count == 0)
        return NULL;
    uint64_t key = seg_key(s, len);
    const static_ref_t *refs = n->statics;
    if (!n->index) {
        for (uint32_t i = 0; i < count; i++)
            if (ref_matches(&refs[i], key, s, len))
                return refs[i].child;
        return NULL;
    }
    uint64_t h = seg_hash(key, s, len);
    uint32_t mask = (1u << n->index_bits) - 1;
    for (uint32_t slot = (uint32_t)(h >> (64 - n->index_bits));; slot = (slot + 1) & mask) {
        uint32_t at = n->index[slot];
        if (at == 0)
            return NULL;
        const static_ref_t *r = &refs[at - 1];
        if (r->hash == h && ref_matches(r, key, s, len))
            return r->child;
    }
}

static void index_put(uint32_t *index, uint32_t bits, uint64_t hash, uint32_t pos)
{
    uint32_t mask = (1u << bits) - 1;
    uint32_t slot = (uint32_t)(hash >> (64 - bits));
    while (index[slot])
        slot = (slot + 1) & mask;
    index[slot] = pos + 1;
}

/* Keep the index at most half full; build it once the node outgrows a linear scan. */
static int index_update(node_t *n)
{
    uint32_t count = n->num_statics;
    if (count <= LINEAR_SCAN_MAX)
        return 0;
    if (n->index && count * 2 <= (1u << n->index_bits)) {
        index_put(n->index, n->index_bits, n->statics[count - 1].hash, count - 1);
        return 0;
    }
    uint32_t bits = 5;
    while ((1u << bits) < count * 2)
        bits++;
    uint32_t *index = calloc((size_t)1 << bits, sizeof(*index));
    if (!index)
        return -1;
    for (uint32_t i = 0; i < count; i++)
        index_put(index, bits, n->statics[i].hash, i);
    free(n->index);
    n->index = index;
    n->index_bits = bits;
    return 0;
}

static node_t *static_get_or_add(node_t *n, const char *s, size_t len)
{
    node_t *found = static_lookup(n, s, len);
    if (found)
        return found;
    if (n->num_statics == n->cap_statics) {
        uint32_t cap = n->cap_statics ? n->cap_statics * 2 : 4;
        static_ref_t *grown = realloc(n->statics, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        n->statics = grown;
        n->cap_statics = cap;
    }
    node_t *child = node_new(s, len);
    if (!child)
        return NULL;
    static_ref_t *r = &n->statics[n->num_statics++];
    r->key = seg_key(s, len);
    r->hash = seg_hash(r->key, s, len);
    r->len = (uint32_t)len;
    r->child = child;
    if (index_update(n) != 0) {
        n->num_statics--;
        node_free(child);
        return NULL;
    }
    return child;
}

/* ---------------------------------------------------------------- trees */

static inline node_t *method_lookup(const router_t *r, const char *method, size_t method_len)
{
    uint64_t key = seg_key(method, method_len);
    for (size_t i = 0; i < r->num_methods; i++) {
        const method_tree_t *t = &r->methods[i];
        if (t->method_len == method_len && t->key == key &&
            (method_len <= 8 || bytes_eq(t->method + 8, method + 8, method_len - 8)))
            return t->root;
    }
    return NULL;
}

static node_t *tree_for_add(router_t *r, const char *method, size_t method_len)
{
    if (!method) {
        if (!r->any_root)
            r->any_root = node_new(NULL, 0);
        return r->any_root;
    }
    node_t *found = method_lookup(r, method, method_len);
    if (found)
        return found;
    if (r->num_methods == r->cap_methods) {
        size_t cap = r->cap_methods ? r->cap_methods * 2 : 8;
        method_tree_t *grown = realloc(r->methods, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        r->methods = grown;
        r->cap_methods = cap;
    }
    char *copy = malloc(method_len + 1);
    node_t *root = node_new(NULL, 0);
    if (!copy || !root) {
        free(copy);
        free(root);
        return NULL;
    }
    if (method_len)
        memcpy(copy, method, method_len);
    copy[method_len] = '\0';
    method_tree_t *t = &r->methods[r->num_methods++];
    t->key = seg_key(method, method_len);
    t->method = copy;
    t->method_len = method_len;
    t->root = root;
    return root;
}

/* ------------------------------------------------------------- public API */

router_t *router_create(void)
{
    return calloc(1, sizeof(router_t));
}

void router_free(router_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->num_methods; i++) {
        free(r->methods[i].method);
        node_free(r->methods[i].root);
    }
    free(r->methods);
    node_free(r->any_root);
    free(r);
}

/* Segment [s, e) of a pattern: what kind is it? */
enum seg_kind { SEG_STATIC, SEG_PARAM, SEG_WILD, SEG_BAD };

static enum seg_kind classify(const char *s, const char *e)
{
    if (s < e && s[0] == ':')
        return SEG_PARAM;
    if (s < e && s[0] == '*')
        return (e - s == 1) ? SEG_WILD : SEG_BAD;
    return SEG_STATIC;
}

/* The pattern "*" is for "OPTIONS *" (RFC 9112 3.2.4), which names the
 * server, not a path. It is kept as the root segment " *": no request path
 * can reach that (the parser refuses SP in a target), only the path "*". */
static const char ASTERISK_PATTERN[] = "/ *";

int router_add(router_t *r, const char *method, size_t method_len,
               const char *pattern, size_t pattern_len, void *handler)
{
    if (pattern && pattern_len == 1 && pattern[0] == '*') {
        pattern = ASTERISK_PATTERN;
        pattern_len = 3;
    }
    if (!r || !pattern || pattern_len == 0 || pattern[0] != '/')
        return -1;
    const char *end = pattern + pattern_len;

    /* Validation pass: count segments and parameters, check '*' placement. */
    size_t num_segments = 0, num_params = 0, names_bytes = 0;
    for (const char *p = pattern; p < end;) {
        const char *s = p + 1;
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (!e)
            e = end;
        num_segments++;
        switch (classify(s, e)) {
        case SEG_PARAM:
            num_params++;
            names_bytes += (size_t)(e - s - 1);
            break;
        case SEG_WILD:
            if (e != end)
                return -1; /* wildcard must be the last segment */
            break;
        case SEG_BAD:
            return -1;
        case SEG_STATIC:
            break;
        }
        p = e;
    }
    /* Deeper patterns could never match a URL; more params could not be reported. */
    if (num_segments > ROUTER_MAX_SEGMENTS || num_params > ROUTER_MAX_PARAMS)
        return -1;

    node_t *n = tree_for_add(r, method, method_len);
    if (!n)
        return -1;

    /* Build the entry first so a failure leaves no half-registered handler. */
    route_entry_t entry = {0};
    entry.handler = handler;
    entry.num_names = (uint32_t)num_params;
    if (num_params) {
        entry.names = malloc(num_params * sizeof(*entry.names));
        entry.name_lens = malloc(num_params * sizeof(*entry.name_lens));
        entry.name_buf = malloc(names_bytes + 1);
        if (!entry.names || !entry.name_lens || !entry.name_buf) {
            free(entry.names);
            free(entry.name_lens);
            free(entry.name_buf);
            return -1;
        }
    }

    size_t pi = 0, off = 0;
    for (const char *p = pattern; p < end;) {
        const char *s = p + 1;
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (!e)
            e = end;
        node_t *next = NULL;
        switch (classify(s, e)) {
        case SEG_PARAM: {
            size_t len = (size_t)(e - s - 1);
            if (len)
                memcpy(entry.name_buf + off, s + 1, len);
            entry.names[pi] = entry.name_buf + off;
            entry.name_lens[pi] = (uint32_t)len;
            pi++;
            off += len;
            if (!n->param)
                n->param = node_new(NULL, 0);
            next = n->param;
            break;
        }
        case SEG_WILD:
            if (!n->wild)
                n->wild = node_new(NULL, 0);
            next = n->wild;
            break;
        default:
            next = static_get_or_add(n, s, (size_t)(e - s));
            break;
        }
        if (!next)
            goto fail;
        n = next;
        p = e;
    }

    if (n->num_entries == n->cap_entries) {
        uint32_t cap = n->cap_entries ? n->cap_entries * 2 : 1;
        route_entry_t *grown = realloc(n->entries, cap * sizeof(*grown));
        if (!grown)
            goto fail;
        n->entries = grown;
        n->cap_entries = cap;
    }
    n->entries[n->num_entries++] = entry;
    return 0;

fail:
    /* Any nodes created on the way stay empty; they are harmless and freed later. */
    free(entry.names);
    free(entry.name_lens);
    free(entry.name_buf);
    return -1;
}

/* ----------------------------------------------------------------- match */

typedef struct walk_s {
    const char *end;          /* end of the request path */
    router_match_t *match;
    router_visit_fn visit;
    void *user;
} walk_t;

static int run_entries(const node_t *n, walk_t *w)
{
    router_match_t *m = w->match;
    for (uint32_t i = 0; i < n->num_entries; i++) {
        const route_entry_t *en = &n->entries[i];
        m->param_names = (const char *const *)en->names;
        m->param_name_lens = en->name_lens;
        if (w->visit(en->handler, m, w->user))
            return 1;
    }
    return 0;
}

/*
 * cur points at the '/' that opens the next request segment, or equals
 * w->end when the path is exhausted. depth = segments consumed so far.
 * Nodes without a parameter or wildcard child leave nothing to backtrack
 * to, so the walk goes down through them in a loop instead of recursing.
 */
static int walk(const node_t *n, const char *cur, unsigned depth, walk_t *w)
{
    for (;;) {
        if (cur == w->end)
            return n->num_entries ? run_entries(n, w) : 0;
        /* No pattern is deeper than this, and none may match a path it has
         * not consumed whole. */
        if (depth >= ROUTER_MAX_SEGMENTS)
            return 0;

        const char *s = cur + 1;
        /* Segments are short: a plain loop beats a memchr call here. */
        const char *e = s;
        while (e < w->end && *e != '/')
            e++;
        size_t len = (size_t)(e - s);

        const node_t *c = static_lookup(n, s, len);
        if (!n->param && !n->wild) {
            if (!c)
                return 0;
            n = c;
            cur = e;
            depth++;
            continue;
        }
        if (c && walk(c, e, depth + 1, w))
            return 1;

        if (n->param && len > 0) {
            router_match_t *m = w->match;
            uint32_t np = m->num_params;
            /* Registration caps parameters per pattern, so this always holds. */
            if (np < ROUTER_MAX_PARAMS) {
                m->params[np].data = s;
                m->params[np].len = (uint32_t)len;
                m->num_params = np + 1;
                int done = walk(n->param, e, depth + 1, w);
                m->num_params = np;
                if (done)
                    return 1;
            }
        }

        if (n->wild && n->wild->num_entries)
            return run_entries(n->wild, w);
        return 0;
    }
}

int router_dispatch(router_t *r, const char *method, size_t method_len,
                    const char *path, size_t path_len, int flags,
                    router_visit_fn visit, void *user)
{
    int asterisk = path && path_len == 1 && path[0] == '*';
    if (!r || !visit || !path || path_len == 0 || (path[0] != '/' && !asterisk))
        return 0;

    router_match_t match;
    match.num_params = 0;
    match.param_names = NULL;
    match.param_name_lens = NULL;

    walk_t w;
    w.end = path + path_len;
    w.match = &match;
    w.visit = visit;
    w.user = user;

    if (asterisk) {
        /* only "*" routes, method tree then any tree */
        const node_t *root, *c;
        if (!(flags & ROUTER_SKIP_METHOD) && method && (root = method_lookup(r, method, method_len)) &&
            (c = static_lookup(root, ASTERISK_PATTERN + 1, 2)) && run_entries(c, &w))
            return 1;
        if (!(flags & ROUTER_SKIP_ANY) && r->any_root && (c = static_lookup(r->any_root, ASTERISK_PATTERN + 1, 2)))
            return run_entries(c, &w);
        return 0;
    }

    if (!(flags & ROUTER_SKIP_METHOD) && method) {
        const node_t *root = method_lookup(r, method, method_len);
        if (root && walk(root, path, 0, &w))
            return 1;
    }
    if (!(flags & ROUTER_SKIP_ANY) && r->any_root) {
        match.num_params = 0;
        if (walk(r->any_root, path, 0, &w))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- iteration */

static void node_each(const node_t *n, void (*fn)(void *, void *), void *user)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->num_entries; i++)
        fn(n->entries[i].handler, user);
    for (uint32_t i = 0; i < n->num_statics; i++)
        node_each(n->statics[i].child, fn, user);
    node_each(n->param, fn, user);
    node_each(n->wild, fn, user);
}

void router_for_each_handler(router_t *r, void (*fn)(void *handler, void *user), void *user)
{
    if (!r || !fn)
        return;
    for (size_t i = 0; i < r->num_methods; i++)
        node_each(r->methods[i].root, fn, user);
    node_each(r->any_root, fn, user);
}
