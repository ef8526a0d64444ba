/*
 * Server-name patterns for TLS SNI: a small table from hostname patterns to
 * caller values. No TLS in here, so it is unit-tested and fuzzed on its own.
 *
 * A pattern is a hostname whose labels may be '*', matching exactly one
 * label ("*.example.test" matches "a.example.test", not "example.test" nor
 * "b.a.example.test"). Matching is case-insensitive and ignores one trailing
 * dot. When several patterns match, the one with an exact label at the
 * leftmost level where they differ wins (exact beats '*', label by label).
 */
#ifndef US_SNI_TREE_H
#define US_SNI_TREE_H

#define US_SNI_MAX_LABELS 10
#define US_SNI_MAX_LENGTH 255

struct us_sni_tree;

struct us_sni_tree *us_sni_tree_create(void);
/* free_value (may be NULL) is called for every value still in the table. */
void us_sni_tree_free(struct us_sni_tree *t, void (*free_value)(void *value));
/* 0 added, 1 the pattern exists already (nothing changed), -1 invalid pattern
 * (a '*' that is not a whole label included) or no memory. */
int us_sni_tree_add(struct us_sni_tree *t, const char *pattern, void *value);
/* Removes the exact pattern; returns its value, NULL if absent. */
void *us_sni_tree_remove(struct us_sni_tree *t, const char *pattern);
/* The value stored for exactly this pattern, NULL if absent. */
void *us_sni_tree_find(const struct us_sni_tree *t, const char *pattern);
/* The best pattern matching hostname, NULL if none. */
void *us_sni_tree_match(const struct us_sni_tree *t, const char *hostname);
unsigned us_sni_tree_size(const struct us_sni_tree *t);

#endif
