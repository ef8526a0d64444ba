# C declarations of socketify_cy/native/router.h.

from libc.stdint cimport uint32_t

cdef extern from "router.h" nogil:
    ctypedef struct router_t:
        pass

    ctypedef struct router_param_t:
        const char *data
        uint32_t len

    ctypedef struct router_match_t:
        router_param_t params[1]
        uint32_t num_params
        const char *const *param_names
        const uint32_t *param_name_lens

    int ROUTER_SKIP_METHOD
    int ROUTER_SKIP_ANY

    router_t *router_create()
    void router_free(router_t *r)
    int router_add(router_t *r, const char *method, size_t method_len,
                   const char *pattern, size_t pattern_len, void *handler)

# Visitors run Python handlers, so this part is declared with the GIL held.
cdef extern from "router.h":
    ctypedef int (*router_visit_fn)(void *handler, const router_match_t *match, void *user) noexcept

    int router_dispatch(router_t *r, const char *method, size_t method_len,
                        const char *path, size_t path_len, int flags,
                        router_visit_fn visit, void *user)
