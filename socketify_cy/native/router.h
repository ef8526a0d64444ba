/*
 * URL router: a tree of path segments per HTTP method plus one for "any".
 *
 * Order of candidates for a request (uWebSockets' rules): the method tree
 * first, then the any tree; inside a tree depth-first with backtracking,
 * static segments before ":param" before "*"; handlers of one node in
 * registration order. A visitor that returns 0 ("yield") continues the
 * search. No allocation while matching; no Python.
 */
#ifndef SOCKETIFY_ROUTER_H
#define SOCKETIFY_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#define ROUTER_MAX_PARAMS 32
#define ROUTER_MAX_SEGMENTS 100

typedef struct router_s router_t;

typedef struct router_param_s {
    const char *data;  /* view into the matched path */
    uint32_t len;
} router_param_t;

typedef struct router_match_s {
    router_param_t params[ROUTER_MAX_PARAMS];
    uint32_t num_params;
    /* names of the parameters of the pattern being visited (":name" without
     * the colon), NULL-free; for get_parameter(name) lookups */
    const char *const *param_names;
    const uint32_t *param_name_lens;
} router_match_t;

/* Return 1 if the handler answered, 0 to yield (continue the search). */
typedef int (*router_visit_fn)(void *handler, const router_match_t *match, void *user);

/* Flags for router_dispatch. */
#define ROUTER_SKIP_METHOD 1  /* do not search the method tree */
#define ROUTER_SKIP_ANY 2     /* do not search the any tree */

router_t *router_create(void);
/* Does not touch the handler pointers; the owner frees what they point to. */
void router_free(router_t *r);

/*
 * Register handler for method (exact, case-sensitive; NULL = any method) and
 * pattern ("/static", "/:name", or a last segment "*"; or "*" alone, which only the
 * path "*" of "OPTIONS *" matches). Registering the same method and
 * pattern again adds another handler after the first one.
 * Returns 0, or -1 on a bad pattern ('*' not last, no leading '/') or no memory.
 */
int router_add(router_t *r, const char *method, size_t method_len,
               const char *pattern, size_t pattern_len, void *handler);

/*
 * Visit candidate handlers for (method, path) in order until one returns 1.
 * path is the URL without the query. Returns 1 if a visitor answered, else 0.
 */
int router_dispatch(router_t *r, const char *method, size_t method_len,
                    const char *path, size_t path_len, int flags,
                    router_visit_fn visit, void *user);

/* Call fn for every registered handler pointer (e.g. to release them). */
void router_for_each_handler(router_t *r, void (*fn)(void *handler, void *user), void *user);

#endif
