/*
 * libFuzzer target for vendor/usockets/src/sni_tree.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ivendor/usockets/src \
 *       vendor/usockets/src/sni_tree.c tests/fuzz/fuzz_sni_tree.c -o /tmp/fuzz_sni
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Ivendor/usockets/src \
 *       vendor/usockets/src/sni_tree.c tests/fuzz/fuzz_sni_tree.c -o /tmp/fuzz_sni
 *
 * The input is cut at fuzz-chosen offsets into a sequence of operations:
 * add a pattern, remove, find, match a hostname, check every entry. Each
 * takes one name, made from the input in one of four ways: raw bytes, bytes
 * mapped onto a small alphabet of letters, '*', dots and a few bad bytes,
 * a long name of fuzz-chosen length and label size (past 255 characters and
 * 10 labels), or a stored pattern with labels kept, upper-cased, made '*' or
 * replaced (near misses and wildcard hits); the op byte may add a "*."
 * prefix, a trailing dot or upper-case it all.
 *
 * A reference model (a brute-force table written here, with its own
 * normalisation and a label-by-label comparison of which labels are exact)
 * predicts every return value: add's 0/1/-1, remove's and find's value,
 * match's best pattern (and that no two patterns ever tie), and the size.
 * Values are heap blocks: ASan/LSan check that each is freed exactly once,
 * by the caller (refused add, remove) or by the free callback.
 */
#include "sni_tree.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_MAX 32 /* adds of new names beyond this are skipped */
#define NAME_BUF 640

/* ------------------------------------------------------------ input */

static const uint8_t *g_in;
static size_t g_len, g_pos;

static uint8_t next_byte(void) { return g_pos < g_len ? g_in[g_pos++] : 0; }

/* The next piece of the input: `want` bytes, or what is left. */
static size_t take(const uint8_t **piece, size_t want)
{
    size_t n = g_len - g_pos < want ? g_len - g_pos : want;
    *piece = g_in + g_pos;
    g_pos += n;
    return n;
}

/* ------------------------------------------------------------ reference model */

struct ref_entry {
    char norm[US_SNI_MAX_LENGTH + 1];
    void *value;
};

static struct {
    struct ref_entry e[MODEL_MAX];
    int n;
    int freed; /* by the free callback */
} R;

/* Lower-cased copy without one trailing dot; -1 if s is not a usable name. */
static int ref_norm(const char *s, char *out)
{
    size_t n = strlen(s), i, dots = 0;
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n < 1 || n > US_SNI_MAX_LENGTH)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < '!' || c > '~')
            return -1;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        dots += c == '.';
    }
    out[n] = '\0';
    if (out[0] == '.' || out[n - 1] == '.' || strstr(out, "..") || dots + 1 > US_SNI_MAX_LABELS)
        return -1;
    return 0;
}

/* A pattern may hold '*' only as a whole label. */
static int ref_stars_ok(const char *norm)
{
    const char *label = norm;
    for (;;) {
        const char *dot = strchr(label, '.');
        size_t len = dot ? (size_t)(dot - label) : strlen(label);
        if (memchr(label, '*', len) && !(len == 1 && label[0] == '*'))
            return 0;
        if (!dot)
            return 1;
        label = dot + 1;
    }
}

static int ref_index(const char *norm)
{
    int i;
    for (i = 0; i < R.n; i++)
        if (strcmp(R.e[i].norm, norm) == 0)
            return i;
    return -1;
}

/* Label i of a normalised name: its start, its length in *len. */
static const char *ref_label(const char *name, int i, size_t *len)
{
    const char *p = name, *dot;
    while (i-- > 0)
        p = strchr(p, '.') + 1;
    dot = strchr(p, '.');
    *len = dot ? (size_t)(dot - p) : strlen(p);
    return p;
}

static int ref_count_labels(const char *name)
{
    int n = 1;
    for (; *name; name++)
        n += *name == '.';
    return n;
}

/* Whether pattern matches host (both normalised); exact[i] = label i equal. */
static int ref_matches(const char *pattern, const char *host, int nlabels, unsigned char *exact)
{
    int i;
    if (ref_count_labels(pattern) != nlabels)
        return 0;
    for (i = 0; i < nlabels; i++) {
        size_t pl, hl;
        const char *p = ref_label(pattern, i, &pl), *h = ref_label(host, i, &hl);
        exact[i] = pl == hl && memcmp(p, h, pl) == 0;
        if (!exact[i] && !(pl == 1 && p[0] == '*'))
            return 0;
    }
    return 1;
}

/* The best pattern for hostname: the first label where two candidates
 * differ decides, exact beating '*'. */
static void *ref_best(const char *hostname)
{
    char host[NAME_BUF];
    unsigned char best[US_SNI_MAX_LABELS], cur[US_SNI_MAX_LABELS];
    int i, k, nlabels, found = -1;
    if (ref_norm(hostname, host) != 0)
        return NULL;
    nlabels = ref_count_labels(host);
    for (i = 0; i < R.n; i++) {
        int cmp = 0;
        if (!ref_matches(R.e[i].norm, host, nlabels, cur))
            continue;
        if (found >= 0)
            for (k = 0; k < nlabels && cmp == 0; k++)
                cmp = (int)cur[k] - (int)best[k];
        /* two different patterns matching one host differ in some label */
        FUZZ_CHECK(found < 0 || cmp != 0);
        if (found < 0 || cmp > 0) {
            found = i;
            memcpy(best, cur, sizeof(cur));
        }
    }
    return found < 0 ? NULL : R.e[found].value;
}

static void *ref_find(const char *name)
{
    char norm[NAME_BUF];
    int i;
    if (ref_norm(name, norm) != 0)
        return NULL;
    i = ref_index(norm);
    return i < 0 ? NULL : R.e[i].value;
}

/* ------------------------------------------------------------ operations */

static struct us_sni_tree *g_tree;

static void *new_value(void)
{
    static uintptr_t serial;
    uintptr_t *v = malloc(sizeof(*v));
    FUZZ_CHECK(v);
    *v = ++serial;
    return v;
}

static void do_add(const char *name)
{
    char norm[NAME_BUF];
    int valid = ref_norm(name, norm) == 0 && ref_stars_ok(norm), at = valid ? ref_index(norm) : -1, r;
    void *value, *before = at >= 0 ? R.e[at].value : NULL;
    if (valid && at < 0 && R.n == MODEL_MAX)
        return;
    value = new_value();
    r = us_sni_tree_add(g_tree, name, value);
    if (!valid) {
        FUZZ_CHECK(r == -1);
        free(value);
    } else if (at >= 0) {
        FUZZ_CHECK(r == 1);
        FUZZ_CHECK(us_sni_tree_find(g_tree, name) == before); /* the first value stays */
        free(value);
    } else {
        FUZZ_CHECK(r == 0);
        memcpy(R.e[R.n].norm, norm, strlen(norm) + 1);
        R.e[R.n++].value = value;
    }
}

static void do_remove(const char *name)
{
    char norm[NAME_BUF];
    int at = ref_norm(name, norm) == 0 ? ref_index(norm) : -1;
    void *r = us_sni_tree_remove(g_tree, name);
    if (at < 0) {
        FUZZ_CHECK(r == NULL);
        return;
    }
    FUZZ_CHECK(r == R.e[at].value);
    free(r);
    R.e[at] = R.e[--R.n];
    FUZZ_CHECK(us_sni_tree_find(g_tree, name) == NULL);
}

/* find and match of one name against the model */
static void check_name(const char *name)
{
    FUZZ_CHECK(us_sni_tree_find(g_tree, name) == ref_find(name));
    FUZZ_CHECK(us_sni_tree_match(g_tree, name) == ref_best(name));
}

/* Every entry is found by its name and by an upper-cased, dotted spelling,
 * and is the best match for its own name read as a hostname ('*' labels
 * then match exactly). */
static void check_all(void)
{
    char alt[NAME_BUF];
    int i;
    size_t j, n;
    for (i = 0; i < R.n; i++) {
        const char *s = R.e[i].norm;
        FUZZ_CHECK(us_sni_tree_find(g_tree, s) == R.e[i].value);
        FUZZ_CHECK(us_sni_tree_match(g_tree, s) == R.e[i].value);
        n = strlen(s);
        for (j = 0; j < n; j++)
            alt[j] = (char)(s[j] >= 'a' && s[j] <= 'z' ? s[j] - 32 : s[j]);
        alt[n] = '.';
        alt[n + 1] = '\0';
        FUZZ_CHECK(us_sni_tree_find(g_tree, alt) == R.e[i].value);
        FUZZ_CHECK(us_sni_tree_match(g_tree, alt) == R.e[i].value);
    }
    FUZZ_CHECK(us_sni_tree_size(g_tree) == (unsigned)R.n);
}

static void on_free_value(void *value)
{
    int i;
    FUZZ_CHECK(value != NULL);
    for (i = 0; i < R.n && R.e[i].value != value; i++)
        ;
    FUZZ_CHECK(i < R.n);
    R.e[i].value = NULL; /* a second call for it fails the check above */
    R.freed++;
    free(value);
}

/* ------------------------------------------------------------ names */

/* mapped bytes: mostly what names are made of, the neighbours of 'A'..'Z' and
 * 'a'..'z' (which must not fold), and bytes a name may not contain */
static const char ALPHABET[16] = {'a', 'b', 'A', 'B', '*', '*', '.', '.', '.', '@', '[', '`', '{', ' ', '\x7f', '\x80'};
static const char LETTERS[8] = {'a', 'b', 'A', 'Z', '*', '-', '[', '`'};

static size_t append(char *out, size_t at, const char *s, size_t n)
{
    if (at + n >= NAME_BUF)
        n = NAME_BUF - 1 - at;
    memcpy(out + at, s, n);
    return at + n;
}

/* A name from the input, in out (NUL-terminated); mode from the op byte. */
static void make_name(uint8_t op, char *out)
{
    const uint8_t *piece;
    size_t n, i, at = 0;
    char tmp[NAME_BUF];

    if (op & 0x80)
        at = append(out, at, "*.", 2);
    switch ((op >> 4) & 3) {
    case 0: /* raw bytes, up to the first NUL */
        n = take(&piece, next_byte());
        for (i = 0; i < n && piece[i]; i++)
            tmp[i] = (char)piece[i];
        at = append(out, at, tmp, i);
        break;
    case 1: /* mapped bytes */
        n = take(&piece, next_byte() % 48);
        for (i = 0; i < n; i++)
            tmp[i] = ALPHABET[piece[i] & 15];
        at = append(out, at, tmp, n);
        break;
    case 2: { /* long: total 200..455 characters, labels of 1..64, letters cycled from a piece */
        size_t total = 200 + next_byte(), label = 1 + next_byte() % 64;
        n = take(&piece, 1 + next_byte() % 8);
        for (i = 0; i < total; i++)
            tmp[i] = (i % (label + 1) == label) ? '.' : n ? LETTERS[piece[i % n] & 7] : 'a';
        at = append(out, at, tmp, total);
        break;
    }
    default: { /* a stored pattern, label by label kept, upper-cased, '*' or replaced */
        int k, nlabels;
        if (R.n == 0) {
            at = append(out, at, "a.b", 3);
            break;
        }
        k = next_byte() % R.n;
        nlabels = ref_count_labels(R.e[k].norm);
        for (i = 0; i < (size_t)nlabels; i++) {
            size_t len, j;
            const char *lab = ref_label(R.e[k].norm, (int)i, &len);
            uint8_t how = next_byte();
            if (i)
                at = append(out, at, ".", 1);
            switch (how & 3) {
            case 0:
                at = append(out, at, lab, len);
                break;
            case 1:
                for (j = 0; j < len; j++)
                    tmp[j] = (char)(lab[j] >= 'a' && lab[j] <= 'z' ? lab[j] - 32 : lab[j]);
                at = append(out, at, tmp, len);
                break;
            case 2:
                at = append(out, at, "*", 1);
                break;
            default: /* 0..3 letters: "" makes an empty label */
                n = take(&piece, (how >> 2) & 3);
                for (j = 0; j < n; j++)
                    tmp[j] = LETTERS[piece[j] & 7];
                at = append(out, at, tmp, n);
                break;
            }
        }
        break;
    }
    }
    if (op & 0x08)
        at = append(out, at, ".", 1);
    out[at] = '\0';
    if (op & 0x40)
        for (i = 0; i < at; i++)
            if (out[i] >= 'a' && out[i] <= 'z')
                out[i] = (char)(out[i] - 32);
}

/* ------------------------------------------------------------ driver */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[NAME_BUF];
    int i;

    memset(&R, 0, sizeof(R));
    g_in = data;
    g_len = size;
    g_pos = 0;
    g_tree = us_sni_tree_create();
    FUZZ_CHECK(g_tree);

    while (g_pos < g_len) {
        uint8_t op = next_byte();
        if ((op & 7) == 7) {
            check_all();
            continue;
        }
        make_name(op, name);
        switch (op & 7) {
        case 0:
        case 1:
            do_add(name);
            break;
        case 2:
            do_remove(name);
            break;
        case 3:
            FUZZ_CHECK(us_sni_tree_find(g_tree, name) == ref_find(name));
            break;
        default: /* 4, 5, 6 */
            FUZZ_CHECK(us_sni_tree_match(g_tree, name) == ref_best(name));
            break;
        }
        check_name(name);
        FUZZ_CHECK(us_sni_tree_size(g_tree) == (unsigned)R.n);
    }

    check_all();
    us_sni_tree_free(g_tree, on_free_value);
    FUZZ_CHECK(R.freed == R.n);
    for (i = 0; i < R.n; i++)
        FUZZ_CHECK(R.e[i].value == NULL);
    return 0;
}
