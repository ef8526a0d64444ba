/*
 * Server-name patterns (see sni_tree.h). A handful of certificates per
 * server is the norm, so a flat array scanned per handshake is both the
 * simplest and the fastest structure here; a match compares at most ten
 * labels per entry.
 */
#include <stdlib.h>
#include <string.h>

#include "sni_tree.h"

struct name {
    char text[US_SNI_MAX_LENGTH + 1]; /* lower-cased, no trailing dot */
    unsigned char nlabels;
    unsigned char off[US_SNI_MAX_LABELS];
    unsigned char len[US_SNI_MAX_LABELS];
};

struct entry {
    struct name name;
    void *value;
};

struct us_sni_tree {
    struct entry *entries;
    unsigned count, cap;
};

/* Split and normalise; 0 on success, -1 if s is not a usable name. */
static int parse_name(const char *s, struct name *out) {
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') n--;
    if (n == 0 || n > US_SNI_MAX_LENGTH) return -1;
    unsigned labels = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t len = i - start;
            if (len == 0 || labels == US_SNI_MAX_LABELS) return -1;
            out->off[labels] = (unsigned char)start;
            out->len[labels] = (unsigned char)len;
            labels++;
            start = i + 1;
            if (i < n) out->text[i] = '.';
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f) return -1; /* no spaces, controls or raw bytes */
        out->text[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    out->text[n] = '\0';
    out->nlabels = (unsigned char)labels;
    return 0;
}

static int same_label(const struct name *a, unsigned i, const struct name *b) {
    return a->len[i] == b->len[i] && memcmp(a->text + a->off[i], b->text + b->off[i], a->len[i]) == 0;
}

static int is_star(const struct name *p, unsigned i) { return p->len[i] == 1 && p->text[p->off[i]] == '*'; }

/* -1 if pattern p does not match host h, else a score: bit (nlabels-1-i)
 * set for an exact match at label i, so exact labels further left weigh more. */
static long score(const struct name *p, const struct name *h) {
    if (p->nlabels != h->nlabels) return -1;
    long sc = 0;
    for (unsigned i = 0; i < p->nlabels; i++) {
        if (same_label(p, i, h)) sc |= 1L << (p->nlabels - 1 - i);
        else if (!is_star(p, i)) return -1;
    }
    return sc;
}

/* '*' is a whole label or nothing: "w*.example.test" is a mistake, not a pattern. */
static int stars_are_labels(const struct name *p) {
    for (unsigned i = 0; i < p->nlabels; i++)
        if (!is_star(p, i) && memchr(p->text + p->off[i], '*', p->len[i])) return 0;
    return 1;
}

static struct entry *find_exact(const struct us_sni_tree *t, const struct name *p) {
    for (unsigned i = 0; i < t->count; i++)
        if (strcmp(t->entries[i].name.text, p->text) == 0) return &t->entries[i];
    return NULL;
}

struct us_sni_tree *us_sni_tree_create(void) { return calloc(1, sizeof(struct us_sni_tree)); }

void us_sni_tree_free(struct us_sni_tree *t, void (*free_value)(void *value)) {
    if (!t) return;
    if (free_value)
        for (unsigned i = 0; i < t->count; i++) free_value(t->entries[i].value);
    free(t->entries);
    free(t);
}

int us_sni_tree_add(struct us_sni_tree *t, const char *pattern, void *value) {
    struct name p;
    if (!t || !pattern || parse_name(pattern, &p) != 0 || !stars_are_labels(&p)) return -1;
    if (find_exact(t, &p)) return 1;
    if (t->count == t->cap) {
        unsigned cap = t->cap ? t->cap * 2 : 4;
        struct entry *e = realloc(t->entries, cap * sizeof(*e));
        if (!e) return -1;
        t->entries = e;
        t->cap = cap;
    }
    t->entries[t->count].name = p;
    t->entries[t->count].value = value;
    t->count++;
    return 0;
}

void *us_sni_tree_remove(struct us_sni_tree *t, const char *pattern) {
    struct name p;
    if (!t || !pattern || parse_name(pattern, &p) != 0) return NULL;
    struct entry *e = find_exact(t, &p);
    if (!e) return NULL;
    void *value = e->value;
    *e = t->entries[--t->count];
    return value;
}

void *us_sni_tree_find(const struct us_sni_tree *t, const char *pattern) {
    struct name p;
    if (!t || !pattern || parse_name(pattern, &p) != 0) return NULL;
    struct entry *e = find_exact(t, &p);
    return e ? e->value : NULL;
}

void *us_sni_tree_match(const struct us_sni_tree *t, const char *hostname) {
    struct name h;
    if (!t || !hostname || parse_name(hostname, &h) != 0) return NULL;
    long best = -1;
    void *value = NULL;
    for (unsigned i = 0; i < t->count; i++) {
        long sc = score(&t->entries[i].name, &h);
        if (sc > best) {
            best = sc;
            value = t->entries[i].value;
        }
    }
    return value;
}

unsigned us_sni_tree_size(const struct us_sni_tree *t) { return t ? t->count : 0; }
