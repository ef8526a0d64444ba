# C declarations of socketify_cy/native/http_parser.h (the request views the binding reads).

from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "http_parser.h" nogil:
    ctypedef struct http_header_t:
        const char *name
        const char *value
        uint32_t name_len
        uint32_t value_len

    ctypedef struct http_request_t:
        const char *method
        const char *target
        uint32_t method_len
        uint32_t target_len
        uint32_t path_len
        uint8_t version_minor
        uint8_t keep_alive
        uint8_t body_kind
        uint8_t expect_continue
        uint8_t is_head
        uint64_t content_length
        uint32_t num_headers
        http_header_t headers[1]

    const http_header_t *http_find_header(const http_request_t *req, const char *lower_name,
                                          size_t name_len)
