/*
 * HTTP/1.x request-head parser and chunked body decoder (see http_parser.h).
 *
 * Design notes
 * - The head parser is restartable from scratch: it keeps no state between
 *   calls. The caller hands it the whole buffered prefix every time; it
 *   validates as far as the bytes go and answers INCOMPLETE only when what it
 *   has seen is a valid prefix, so junk is refused as soon as it arrives.
 *   Lower-casing header names in place is idempotent, so re-parsing a prefix
 *   that was already partly lower-cased is harmless.
 * - Only the first max_head_size bytes are ever looked at. A head that does
 *   not end inside them is over the limit once more bytes than the limit are
 *   buffered (431; 414 while still in the request line, 501 in the method);
 *   until then it is INCOMPLETE.
 * - Byte classes come from 256-entry tables; the long runs (target, field
 *   names, field values) are also tested eight bytes at a time where that is
 *   cheap (see "scanning loops"). No per-byte calls, nothing allocates.
 * - The chunked decoder is a byte-at-a-time state machine (except for chunk
 *   data, which is handed out as views), so input may be split anywhere.
 *
 * What we refuse, and why (RFC 9110 / RFC 9112; status in brackets)
 * Request line
 * - More than one empty line (CRLF) before the request line [400]: RFC 9112
 *   2.2 asks to tolerate at least one; more is not a client quirk. A bare LF
 *   there [400].
 * - Method: 1*tchar, case-sensitive; empty, or any other byte [400]. A method
 *   still going at the head limit [501] (RFC 9112 3: longer than any method
 *   we implement).
 * - Exactly one SP between method, target and version; HTAB, two SP, leading
 *   or trailing whitespace [400] (RFC 9112 3 allows lenient parsing; we do
 *   not, whitespace ambiguity is a smuggling tool).
 * - A request line still going at the head limit [414] (RFC 9112 3: a target
 *   longer than we wish to parse MUST be 414); over the limit in the fields
 *   it is [431].
 * - Target bytes: visible ASCII 0x21-0x7E only; controls, DEL, raw UTF-8 /
 *   obs-text [400] (RFC 3986 allows no such byte); '#' [400] (a fragment is
 *   never part of a request-target, RFC 9112 3.2). We do not refuse the other
 *   visible bytes RFC 3986 wants percent-encoded (" < > \ ^ ` { | }) nor bad
 *   %-escapes: they change no framing or routing, clients send them, and the
 *   application decodes the target anyway.
 * - Target forms (RFC 9112 3.2):
 *   origin-form "/..." is the usual one.
 *   absolute-form "http://" or "https://" (scheme in any case) authority
 *   [path] ["?" query] is accepted (3.2.2: MUST accept). target/path_len
 *   then cover its path and query, "/" for an empty path, so routing sees
 *   what an origin-form request would give. Refused [400]: another scheme,
 *   userinfo ("user@", RFC 9110 4.2.4), an empty or invalid host, an empty
 *   path followed by a query ("http://h?q": the origin-form "/?q" exists
 *   nowhere in the buffer to point at, and clients send "http://h/?q"), and
 *   a Host field naming another host or port (see below).
 *   asterisk-form "*" with OPTIONS only (3.2.4); with another method, or
 *   followed by more bytes [400].
 *   authority-form (CONNECT host:port, 3.2.3) [501]: well formed, but we are
 *   no proxy and do not tunnel. Anything else, including host:port with
 *   another method or CONNECT without a port [400].
 * - Version "HTTP/" DIGIT "." DIGIT exactly (case-sensitive): HTTP/1.0 and
 *   HTTP/1.1; HTTP/1.2-1.9 are handled as HTTP/1.1 (RFC 9110 2.5: a higher
 *   minor version of a major we implement), version_minor says 1. Another
 *   major (0.9, 2.0, 3.0) [505]. Any other shape (1.10, 01.1, "http/1.1",
 *   missing, trailing bytes) [400].
 * Header fields
 * - Name: 1*tchar directly followed by ':'; whitespace before the colon
 *   [400] (RFC 9112 5.1 MUST); empty name, any other byte [400]. A line
 *   starting with SP/HTAB (obs-fold) [400] (RFC 9112 5.2 lets a server
 *   reject it; unfolding is how parsers disagree).
 * - Value: HTAB, SP, VCHAR, obs-text; NUL, other controls, DEL, CR not
 *   followed by LF [400]. Every line ends in CRLF; a bare LF [400].
 * - More than HTTP_MAX_HEADERS fields, or a head over the limit [431].
 * - Host (RFC 9112 3.2, RFC 9110 7.2): more than one [400] in any version;
 *   missing or empty in HTTP/1.1 [400]; HTTP/1.0 may omit it or send it
 *   empty. A non-empty value must be uri-host [":" port] (RFC 3986 3.2.2):
 *   reg-name (unreserved, %HH, sub-delims), an IPv4 address (a reg-name by
 *   syntax), or "[" IPv6address / IPvFuture "]"; else [400]. Stricter than
 *   RFC 3986: ',' is refused, as a comma in Host can only come from two Host
 *   lines combined into a list; the port must be 1-5 digits, at most 65535,
 *   and an empty port ("h:") is refused: senders SHOULD omit it, and one
 *   authority should have one spelling when we compare it.
 * - Absolute-form target and Host: when Host is present, its host must equal
 *   the target's (ASCII case-insensitive, bytes otherwise) and its port the
 *   target's, a missing port counting as the scheme's default (80/443); else
 *   [400]. RFC 9112 3.2.2 says a server uses the target's authority and
 *   ignores Host; we refuse the mismatch instead as a cache-poisoning and
 *   routing-confusion defence. HTTP/1.1 still needs Host [400 if missing].
 * - Content-Length: 1-18 DIGITs; sign, hex, list ("5, 5"), inner space,
 *   empty [400]; repeated fields must be byte-identical [400].
 * - Transfer-Encoding: see check_transfer_encoding (chunked alone; other
 *   codings [501]; chunked not last, repeated, junk [400]). TE with
 *   Content-Length, TE in HTTP/1.0, two TE fields [400] (RFC 9112 6.1, 6.3).
 * Chunked body (http_chunked_decode): hex size below 2^60, extensions
 * without controls, CRLF exactly where due, the trailer section with the
 * field syntax above; a trailer field from FORBIDDEN_TRAILERS [400].
 */
#include "http_parser.h"

#include <string.h>

/* ---- byte classes ---------------------------------------------------------- */

/* RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA */
#define C_TOKEN 0x01
/* allowed inside a field value: HTAB, 0x20-0x7E, obs-text 0x80-0xFF */
#define C_VALUE 0x02
/* allowed inside the request target: visible ASCII 0x21-0x7E except '#' */
#define C_TARGET 0x04
/* hexadecimal digit */
#define C_HEX 0x08
/* reg-name bytes of a host (RFC 3986 3.2.2): unreserved, sub-delims except
 * ',' (see the decisions above), and '%' (its two hex digits are checked) */
#define C_HOST 0x10

static const uint8_t char_class[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   2,   0,   0,   0,   0,   0,   0,  /* 0x00 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x10 */
      2,  23,   6,   3,  23,  23,  23,  23,  22,  22,  23,  23,   6,  23,  23,   6,  /* 0x20 */
     31,  31,  31,  31,  31,  31,  31,  31,  31,  31,   6,  22,   6,  22,   6,   6,  /* 0x30 */
      6,  31,  31,  31,  31,  31,  31,  23,  23,  23,  23,  23,  23,  23,  23,  23,  /* 0x40 */
     23,  23,  23,  23,  23,  23,  23,  23,  23,  23,  23,   6,   6,   6,   7,  23,  /* 0x50 */
      7,  31,  31,  31,  31,  31,  31,  23,  23,  23,  23,  23,  23,  23,  23,  23,  /* 0x60 */
     23,  23,  23,  23,  23,  23,  23,  23,  23,  23,  23,   6,   7,   6,  23,   0,  /* 0x70 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0x80 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0x90 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xA0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xB0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xC0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xD0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xE0 */
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,  /* 0xF0 */
};
static const uint8_t token_lower[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x00 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x10 */
      0,  33,   0,  35,  36,  37,  38,  39,   0,   0,  42,  43,   0,  45,  46,   0,  /* 0x20 */
     48,  49,  50,  51,  52,  53,  54,  55,  56,  57,   0,   0,   0,   0,   0,   0,  /* 0x30 */
      0,  97,  98,  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,  /* 0x40 */
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,   0,   0,   0,  94,  95,  /* 0x50 */
     96,  97,  98,  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,  /* 0x60 */
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,   0, 124,   0, 126,   0,  /* 0x70 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x80 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0x90 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xA0 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xB0 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xC0 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xD0 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xE0 */
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,  /* 0xF0 */
};

/* Case-insensitive comparison of n bytes against a lower-case literal made
 * of token characters only (any non-token byte in s fails the compare). */
static int token_ieq(const char *s, const char *lower_lit, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (token_lower[(uint8_t)s[i]] != (uint8_t)lower_lit[i])
            return 0;
    }
    return 1;
}

static inline int is_ows(char c) { return c == ' ' || c == '\t'; }

/* ---- scanning loops -------------------------------------------------------- */

/*
 * On little-endian GCC/Clang targets the three long runs of a head (target,
 * field names, field values) are scanned eight bytes at a time with plain
 * 64-bit arithmetic; the table loop handles the bytes the word test cannot
 * decide and the last few bytes of the buffer. Elsewhere only the table loop
 * is compiled. Both give identical results.
 */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    !defined(HTTP_PARSER_NO_SWAR)
#define HP_SWAR 1

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Index of the lowest byte whose high bit is set in a non-zero mask. */
static inline unsigned first_byte(uint64_t mask) { return (unsigned)__builtin_ctzll(mask) >> 3; }

/*
 * High bit set for bytes below `floor` (at most 0x80) or equal to 0x7F.
 * Bytes above a flagged byte may be flagged wrongly (a borrow travels up),
 * but the lowest flagged byte is always a real one, which is all we use.
 */
static inline uint64_t stop_bytes(uint64_t v, unsigned floor)
{
    uint64_t del = v ^ (ONES * 0x7F);
    return (((v - ONES * floor) & ~v) | ((del - ONES) & ~del)) & HIGHS;
}

/* High bit set for bytes in [lo, hi]; v7 must have every high bit clear. */
static inline uint64_t bytes_in(uint64_t v7, unsigned lo, unsigned hi)
{
    return (v7 + ONES * (0x80 - lo)) & ~(v7 + ONES * (0x7F - hi)) & HIGHS;
}
#endif

/* Request target bytes: 0x21-0x7E but '#'. Returns the first other byte. */
static inline char *scan_target(char *p, const char *end)
{
    for (;;) {
#ifdef HP_SWAR
        if (end - p >= 8) {
            uint64_t v = load8(p), hash = v ^ (ONES * '#');
            /* each term's lowest flag is a real stop byte, so is their union's */
            uint64_t m = stop_bytes(v, 0x21) | (v & HIGHS) | ((hash - ONES) & ~hash & HIGHS);
            if (m == 0) {
                p += 8;
                continue;
            }
            p += first_byte(m);
        }
#endif
        if (p == end || !(char_class[(uint8_t)*p] & C_TARGET))
            return p;
        p++;
    }
}

/* Field value bytes: HTAB, 0x20-0x7E, 0x80-0xFF. Returns the first other byte. */
static inline char *scan_value(char *p, const char *end)
{
    for (;;) {
#ifdef HP_SWAR
        if (end - p >= 8) {
            uint64_t m = stop_bytes(load8(p), 0x20);
            if (m == 0) {
                p += 8;
                continue;
            }
            p += first_byte(m); /* HTAB lands here and is taken below */
        }
#endif
        if (p == end || !(char_class[(uint8_t)*p] & C_VALUE))
            return p;
        p++;
    }
}

/* Field name: token bytes, lower-cased in place. Returns the first non-token
 * byte. The word test covers ALPHA, DIGIT, '-' and '.'; the rarer token
 * characters go through the table. */
static inline char *scan_name(char *p, const char *end)
{
    uint8_t c;
    for (;;) {
#ifdef HP_SWAR
        if (end - p >= 8) {
            uint64_t v = load8(p);
            uint64_t v7 = v & ~HIGHS;
            /* b | 0x20 is a lower-case letter exactly when b is a letter */
            uint64_t letters = bytes_in(v7 | (ONES * 0x20), 'a', 'z');
            /* '-' '.' '/' and digits, then '/' taken out again */
            uint64_t digits = bytes_in(v7, '-', '9') & ((v7 ^ (ONES * '/')) + ONES * 0x7F);
            uint64_t good = (letters | digits) & ~v & HIGHS;
            if (good == HIGHS) {
                v |= letters >> 2; /* 0x80 >> 2 == 0x20: upper to lower case */
                memcpy(p, &v, 8);
                p += 8;
                continue;
            }
            {
                unsigned k = first_byte(~good & HIGHS);
                if (k) {
                    /* lower only the bytes before k; later ones are not ours */
                    uint64_t below = (UINT64_C(1) << (8 * k)) - 1;
                    v |= (letters & below) >> 2;
                    memcpy(p, &v, 8);
                    p += k;
                }
            }
        }
#endif
        if (p == end || (c = token_lower[(uint8_t)*p]) == 0)
            return p;
        *p++ = (char)c;
    }
}

/* ---- request head ---------------------------------------------------------- */

/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the
 * request line (clients sending CRLF after a POST body); one is all we take. */
#define MAX_LEADING_EMPTY_LINES 1

static inline int is_alpha(uint8_t c) { return (uint8_t)((c | 0x20) - 'a') < 26; }
static inline int is_digit(uint8_t c) { return (uint8_t)(c - '0') < 10; }

/* ASCII case-insensitive equality of two byte runs of length n. */
static int ascii_ieq(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x != y && !(is_alpha(x) && (x ^ y) == 0x20))
            return 0;
    }
    return 1;
}

/* dec-octet "." dec-octet "." dec-octet "." dec-octet (RFC 3986 3.2.2):
 * 0-255, no leading zero. */
static int valid_ipv4(const char *s, size_t n)
{
    size_t i = 0;
    int octets;
    for (octets = 0; octets < 4; octets++) {
        size_t st;
        unsigned v = 0;
        if (octets && (i == n || s[i++] != '.'))
            return 0;
        st = i;
        while (i < n && i - st < 4 && is_digit((uint8_t)s[i]))
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == st || i - st > 3 || v > 255 || (s[st] == '0' && i - st > 1))
            return 0;
    }
    return i == n;
}

/* IPv6address (RFC 3986 3.2.2): eight h16 groups, or fewer with one "::",
 * the last 32 bits optionally as an IPv4 address. */
static int valid_ipv6(const char *s, size_t n)
{
    size_t i = 0;
    int groups = 0, dcolon = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        dcolon = 1;
        i = 2;
    }
    while (i < n) {
        size_t st = i;
        while (i < n && i - st < 5 && (char_class[(uint8_t)s[i]] & C_HEX))
            i++;
        if (i < n && s[i] == '.') {
            /* an IPv4 tail ends the address and counts as two groups */
            if (!valid_ipv4(s + st, n - st))
                return 0;
            groups += 2;
            i = n;
            break;
        }
        if (i == st || i - st > 4)
            return 0;
        groups++;
        if (i == n)
            break;
        if (s[i] != ':' || ++i == n)
            return 0; /* junk, or a single trailing ':' */
        if (s[i] == ':') {
            if (dcolon)
                return 0;
            dcolon = 1;
            i++;
        }
    }
    /* "::" stands for at least one group */
    return dcolon ? groups <= 7 : groups == 8;
}

/* IP-literal contents: IPv6address / IPvFuture ("v" 1*HEXDIG "." 1*( unreserved
 * / sub-delims / ":" ); we leave ',' out here as in reg-name). */
static int valid_ip_literal(const char *s, size_t n)
{
    if (n && (s[0] == 'v' || s[0] == 'V')) {
        size_t i = 1, st;
        while (i < n && (char_class[(uint8_t)s[i]] & C_HEX))
            i++;
        if (i == 1 || i == n || s[i] != '.')
            return 0;
        st = ++i;
        while (i < n && ((char_class[(uint8_t)s[i]] & C_HOST) || s[i] == ':') && s[i] != '%')
            i++;
        return i == n && i > st;
    }
    return valid_ipv6(s, n);
}

/*
 * uri-host [ ":" port ] (RFC 9110 7.2 and 4.2; RFC 3986 3.2.2, 3.2.3) in
 * s[0..n). On success returns 0, *host_len is the length of the uri-host and
 * *port the port (-1 when there is none). The host is never empty.
 */
static int parse_host_port(const char *s, size_t n, size_t *host_len, long *port)
{
    size_t i = 0;
    long v = 0;
    if (n == 0)
        return -1;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || !valid_ip_literal(s + 1, (size_t)(rb - s) - 1))
            return -1;
        i = (size_t)(rb - s) + 1;
    } else {
        /* Every request has a Host: one table test per byte, and the rare
         * percent-escapes checked only when there is one. */
        while (i < n && (char_class[(uint8_t)s[i]] & C_HOST))
            i++;
        if (i == 0 || (i < n && s[i] != ':'))
            return -1;
        for (const char *pct = memchr(s, '%', i); pct; pct = memchr(pct + 1, '%', (size_t)(s + i - pct - 1))) {
            size_t at = (size_t)(pct - s);
            if (i - at < 3 || !(char_class[(uint8_t)s[at + 1]] & C_HEX) ||
                !(char_class[(uint8_t)s[at + 2]] & C_HEX))
                return -1;
        }
    }
    *host_len = i;
    *port = -1;
    if (i == n)
        return 0;
    if (s[i] != ':')
        return -1;
    /* 1 to 5 digits, at most 65535; an empty port is refused */
    if (++i == n || n - i > 5)
        return -1;
    for (; i < n; i++) {
        if (!is_digit((uint8_t)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = v;
    return 0;
}

/* Connection: comma-separated tokens; we only care about two of them. */
static void scan_connection(const char *v, size_t n, int *saw_close, int *saw_keep_alive)
{
    size_t i = 0;
    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ',' || is_ows(v[i])))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && is_ows(v[e - 1]))
            e--;
        if (e - s == 5 && token_ieq(v + s, "close", 5))
            *saw_close = 1;
        else if (e - s == 10 && token_ieq(v + s, "keep-alive", 10))
            *saw_keep_alive = 1;
    }
}

/*
 * Transfer-Encoding policy. We implement the chunked coding only.
 *   "chunked" alone (any letter case, OWS trimmed)             -> 0 (accepted)
 *   one other coding name ("gzip", "identity", ...)            -> 501
 *   a list ending in chunked, chunked only last ("gzip, chunked")
 *                                                              -> 501 (the
 *      other codings are not implemented)
 *   anything else: empty value, empty list element, a byte that is not a
 *   token character (this includes coding parameters), a list that does not
 *   end in chunked, chunked given twice                        -> 400
 * A list not ending in chunked is 400 because the message length would then
 * be undeterminable (RFC 9112 6.3), i.e. a smuggling attempt, not a feature.
 */
static int check_transfer_encoding(const char *v, size_t n)
{
    size_t i = 0;
    int elements = 0, chunked_seen = 0, last_is_chunked = 0;
    for (;;) {
        size_t s, e;
        while (i < n && is_ows(v[i]))
            i++;
        s = i;
        while (i < n && (char_class[(uint8_t)v[i]] & C_TOKEN))
            i++;
        e = i;
        if (e == s)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        while (i < n && is_ows(v[i]))
            i++;
        elements++;
        last_is_chunked = (e - s == 7 && token_ieq(v + s, "chunked", 7));
        if (last_is_chunked) {
            if (chunked_seen)
                return HTTP_PARSE_ERROR_BAD_REQUEST;
            chunked_seen = 1;
        }
        if (i == n)
            break;
        if (v[i] != ',')
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        i++;
    }
    if (last_is_chunked)
        return elements == 1 ? 0 : HTTP_PARSE_ERROR_NOT_IMPLEMENTED;
    if (elements == 1 && !chunked_seen)
        return HTTP_PARSE_ERROR_NOT_IMPLEMENTED;
    return HTTP_PARSE_ERROR_BAD_REQUEST;
}

/*
 * Check the version in p[0..avail) against "HTTP/" DIGIT "." DIGIT CRLF.
 * Returns 1 with *major and *minor set when all 10 bytes are there and well
 * formed, 0 when the bytes seen so far are a valid prefix, -1 otherwise.
 */
static int scan_version(const char *p, size_t avail, int *major, int *minor)
{
    static const char shape[10] = {'H', 'T', 'T', 'P', '/', '0', '.', '0', '\r', '\n'};
    size_t i, n = avail < 10 ? avail : 10;
    for (i = 0; i < n; i++) {
        if (i == 5 || i == 7) {
            if ((uint8_t)(p[i] - '0') > 9)
                return -1;
        } else if (p[i] != shape[i]) {
            return -1;
        }
    }
    if (avail < 10)
        return 0;
    *major = p[5] - '0';
    *minor = p[7] - '0';
    return 1;
}

/* What the request target turned out to be (see parse_target). */
struct target_info {
    const char *authority; /* absolute-form only */
    size_t authority_len;
    size_t host_len;       /* uri-host part of the authority */
    long port;             /* the authority's port, or the scheme's default */
    long default_port;     /* 80 for http, 443 for https */
    int absolute;
};

/*
 * Classify and check a complete request target t[0..n) (its bytes already
 * passed scan_target, so they are visible ASCII without '#') and set the
 * target views of req. Returns 0 or a negative parse result.
 *   origin-form   "/" ...                      -> as is
 *   asterisk-form "*", method OPTIONS only      -> target "*"
 *   absolute-form http(s)://authority[path][?q] -> target = path[?q]
 *   authority-form host:port, method CONNECT    -> 501 (we do not tunnel)
 *   anything else                               -> 400
 */
static int parse_target(char *t, size_t n, http_request_t *req, struct target_info *ti)
{
    size_t scheme_len, i, alen, hl;
    char *auth, *rest;
    long port;

    ti->authority = NULL;
    ti->authority_len = ti->host_len = 0;
    ti->port = ti->default_port = 0;
    ti->absolute = 0;
    if (t[0] == '/') {
        req->target = t;
        req->target_len = (uint32_t)n;
        return 0;
    }
    if (t[0] == '*') {
        /* the caller already refused '*' for methods other than OPTIONS */
        if (n != 1)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        req->target = t;
        req->target_len = 1;
        return 0;
    }
    if (n > 5 && token_ieq(t, "https", 5) && t[5] == ':')
        scheme_len = 5;
    else if (n > 4 && token_ieq(t, "http", 4) && t[4] == ':')
        scheme_len = 4;
    else
        scheme_len = 0;
    if (scheme_len == 0 || n < scheme_len + 3 || t[scheme_len + 1] != '/' || t[scheme_len + 2] != '/') {
        /* authority-form is CONNECT's only (RFC 9112 3.2.3) */
        if (req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0 &&
            parse_host_port(t, n, &hl, &port) == 0 && port >= 0)
            return HTTP_PARSE_ERROR_NOT_IMPLEMENTED;
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    }

    auth = t + scheme_len + 3;
    for (i = 0; auth + i < t + n && auth[i] != '/' && auth[i] != '?'; i++) {
        if (auth[i] == '@')
            return HTTP_PARSE_ERROR_BAD_REQUEST; /* userinfo: RFC 9110 4.2.4 */
    }
    alen = i;
    /* an empty host is invalid for http(s) (RFC 9110 4.2.1, 4.2.2) */
    if (parse_host_port(auth, alen, &hl, &port) != 0)
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    rest = auth + alen;
    if (rest == t + n) {
        /* empty path means "/" (RFC 9110 4.2.3): the second '/' of "//" is one */
        req->target = auth - 1;
        req->target_len = 1;
    } else if (*rest == '?') {
        /* empty path with a query: "/?q" exists nowhere in the buffer */
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    } else {
        req->target = rest;
        req->target_len = (uint32_t)(t + n - rest);
    }
    ti->absolute = 1;
    ti->authority = auth;
    ti->authority_len = alen;
    ti->host_len = hl;
    ti->default_port = scheme_len == 5 ? 443 : 80;
    ti->port = port >= 0 ? port : ti->default_port;
    return 0;
}

int http_parse_head(char *data, size_t len, size_t max_head_size, http_request_t *req, size_t *consumed)
{
    /* where an incomplete head stopped: decides the status once over the limit */
    enum { IN_METHOD, IN_LINE, IN_FIELDS } where = IN_LINE;
    char *p = data;
    char *end = data + (len < max_head_size ? len : max_head_size);
    char *start;
    unsigned empty_lines = 0;
    uint32_t n = 0;
    int minor, r;
    int host_count = 0, host_empty = 0;
    int saw_close = 0, saw_keep_alive = 0;
    const char *te_value = NULL, *cl_value = NULL, *host_value = NULL;
    uint32_t te_len = 0, cl_len = 0, host_vlen = 0;
    size_t host_hlen = 0;
    long host_port = -1;
    uint64_t content_length = 0;
    struct target_info ti;

    *consumed = 0;
    req->expect_continue = 0;

    /* optional empty line */
    while (p < end && *p == '\r') {
        if (empty_lines++ == MAX_LEADING_EMPTY_LINES)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        if (p + 1 == end)
            goto incomplete;
        if (p[1] != '\n')
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        p += 2;
    }

    /* method: 1*tchar SP */
    where = IN_METHOD;
    start = p;
    while (p < end && (char_class[(uint8_t)*p] & C_TOKEN))
        p++;
    if (p == end)
        goto incomplete;
    if (*p != ' ' || p == start)
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    req->method = start;
    req->method_len = (uint32_t)(p - start);
    p++;
    where = IN_LINE;

    /* request target: visible ASCII but '#', then SP; its form is checked
     * once it is complete, the bytes as they come */
    if (p == end)
        goto incomplete;
    if (*p == '*') {
        if (req->method_len != 7 || memcmp(req->method, "OPTIONS", 7) != 0)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
    } else if (*p != '/' && *p != '[' && !(char_class[(uint8_t)*p] & C_HOST)) {
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    }
    start = p;
    p = scan_target(p, end);
    if (p == end)
        goto incomplete;
    if (*p != ' ')
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    r = parse_target(start, (size_t)(p - start), req, &ti);
    if (r != 0)
        return r;
    p++;

    /* version and CRLF */
    if (end - p >= 10 && memcmp(p, "HTTP/1.1\r\n", 10) == 0) {
        minor = 1;
    } else {
        int major;
        r = scan_version(p, (size_t)(end - p), &major, &minor);
        if (r == 0)
            goto incomplete;
        if (r < 0)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        if (major != 1)
            return HTTP_PARSE_ERROR_BAD_VERSION;
        /* RFC 9110 2.5: a higher minor version of a supported major version
         * is handled as the highest one we implement */
        if (minor > 1)
            minor = 1;
    }
    p += 10;
    where = IN_FIELDS;

    /* header fields, up to the empty line */
    for (;;) {
        char *name, *value, *vend;
        uint32_t name_len, value_len;

        if (p == end)
            goto incomplete;
        if (*p == '\r') {
            if (p + 1 == end)
                goto incomplete;
            if (p[1] != '\n')
                return HTTP_PARSE_ERROR_BAD_REQUEST;
            p += 2;
            break;
        }
        if (n == HTTP_MAX_HEADERS)
            return HTTP_PARSE_ERROR_HEAD_TOO_LARGE;

        /* field name, lower-cased in place; a line starting with SP/HTAB
         * (obs-fold) has an empty name and fails here */
        name = p;
        p = scan_name(p, end);
        if (p == end)
            goto incomplete;
        if (*p != ':' || p == name)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        name_len = (uint32_t)(p - name);
        p++;

        /* field value: skip leading OWS, scan, require CRLF, trim */
        while (p < end && is_ows(*p))
            p++;
        value = p;
        p = scan_value(p, end);
        if (p == end)
            goto incomplete;
        if (*p != '\r')
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        if (p + 1 == end)
            goto incomplete;
        if (p[1] != '\n')
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        vend = p;
        while (vend > value && is_ows(vend[-1]))
            vend--;
        value_len = (uint32_t)(vend - value);
        p += 2;

        req->headers[n].name = name;
        req->headers[n].name_len = name_len;
        req->headers[n].value = value;
        req->headers[n].value_len = value_len;
        n++;

        /* the few fields that shape framing, routing and connection handling */
        switch (name_len) {
        case 4:
            if (memcmp(name, "host", 4) == 0) {
                if (++host_count > 1)
                    return HTTP_PARSE_ERROR_BAD_REQUEST;
                host_value = value;
                host_vlen = value_len;
                host_empty = (value_len == 0);
                if (!host_empty && parse_host_port(value, value_len, &host_hlen, &host_port) != 0)
                    return HTTP_PARSE_ERROR_BAD_REQUEST;
            }
            break;
        case 6:
            if (memcmp(name, "expect", 6) == 0)
                req->expect_continue = (value_len == 12 && token_ieq(value, "100-continue", 12));
            break;
        case 10:
            if (memcmp(name, "connection", 10) == 0) {
                /* the two usual spellings first */
                if (value_len == 10 && memcmp(value, "keep-alive", 10) == 0)
                    saw_keep_alive = 1;
                else if (value_len == 5 && memcmp(value, "close", 5) == 0)
                    saw_close = 1;
                else
                    scan_connection(value, value_len, &saw_close, &saw_keep_alive);
            }
            break;
        case 14:
            if (memcmp(name, "content-length", 14) == 0) {
                if (cl_value) {
                    /* repeats must be byte-identical */
                    if (value_len != cl_len || memcmp(value, cl_value, value_len) != 0)
                        return HTTP_PARSE_ERROR_BAD_REQUEST;
                } else {
                    uint32_t i;
                    /* 1 to 18 digits: fits in 63 bits, no overflow check needed */
                    if (value_len == 0 || value_len > 18)
                        return HTTP_PARSE_ERROR_BAD_REQUEST;
                    for (i = 0; i < value_len; i++) {
                        unsigned d = (uint8_t)value[i] - (unsigned)'0';
                        if (d > 9)
                            return HTTP_PARSE_ERROR_BAD_REQUEST;
                        content_length = content_length * 10 + d;
                    }
                    cl_value = value;
                    cl_len = value_len;
                }
            }
            break;
        case 17:
            if (memcmp(name, "transfer-encoding", 17) == 0) {
                if (te_value)
                    return HTTP_PARSE_ERROR_BAD_REQUEST;
                te_value = value;
                te_len = value_len;
            }
            break;
        default:
            break;
        }
    }

    /* whole-head checks */
    if (minor == 1 && (host_count == 0 || host_empty))
        return HTTP_PARSE_ERROR_BAD_REQUEST;
    if (ti.absolute) {
        /* RFC 9112 3.2.2: the target's authority wins over Host. Two
         * different authorities in one request is how caches and routers
         * get confused (cache poisoning), so a Host that names another
         * host or port is refused instead. The port absent on either side
         * is the scheme's default. */
        if (host_count) {
            long hp = host_port >= 0 ? host_port : ti.default_port;
            if (host_empty || host_hlen != ti.host_len || hp != ti.port ||
                !ascii_ieq(host_value, ti.authority, ti.host_len))
                return HTTP_PARSE_ERROR_BAD_REQUEST;
        }
        req->authority = ti.authority;
        req->authority_len = (uint32_t)ti.authority_len;
    } else {
        req->authority = host_value;
        req->authority_len = host_vlen;
    }
    req->absolute_form = (uint8_t)ti.absolute;
    if (te_value) {
        if (minor == 0 || cl_value)
            return HTTP_PARSE_ERROR_BAD_REQUEST;
        r = check_transfer_encoding(te_value, te_len);
        if (r != 0)
            return r;
        req->body_kind = HTTP_BODY_CHUNKED;
        req->content_length = 0;
    } else if (cl_value) {
        req->body_kind = HTTP_BODY_LENGTH;
        req->content_length = content_length;
    } else {
        req->body_kind = HTTP_BODY_NONE;
        req->content_length = 0;
    }

    {
        const char *q = memchr(req->target, '?', req->target_len);
        req->path_len = q ? (uint32_t)(q - req->target) : req->target_len;
    }
    req->version_minor = (uint8_t)minor;
    req->keep_alive = (uint8_t)(saw_close ? 0 : (minor == 1 ? 1 : saw_keep_alive));
    req->is_head = (req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0);
    req->num_headers = n;
    *consumed = (size_t)(p - data);
    return HTTP_PARSE_DONE;

incomplete:
    /* no end of head inside the first max_head_size bytes: 501 for a method
     * longer than any we implement (RFC 9112 3 SHOULD), 414 for a longer
     * request line, 431 for the fields */
    if (len > max_head_size)
        return where == IN_METHOD ? HTTP_PARSE_ERROR_NOT_IMPLEMENTED
             : where == IN_LINE   ? HTTP_PARSE_ERROR_URI_TOO_LONG
                                  : HTTP_PARSE_ERROR_HEAD_TOO_LARGE;
    return HTTP_PARSE_INCOMPLETE;
}

const http_header_t *http_find_header(const http_request_t *req, const char *lower_name, size_t name_len)
{
    uint32_t i;
    for (i = 0; i < req->num_headers; i++) {
        const http_header_t *h = &req->headers[i];
        if (h->name_len == name_len && memcmp(h->name, lower_name, name_len) == 0)
            return h;
    }
    return NULL;
}

/* ---- chunked transfer coding ---------------------------------------------- */

enum {
    CS_SIZE_FIRST = 0, /* first hex digit of a chunk-size */
    CS_SIZE,           /* further hex digits, or ';', OWS, CR */
    CS_SIZE_WS,        /* OWS after the size: only ';' may follow */
    CS_EXT,            /* inside chunk extensions, up to CR */
    CS_SIZE_LF,        /* LF ending the chunk-size line */
    CS_DATA,           /* chunk data, c->remaining bytes left */
    CS_DATA_CR,        /* CR after chunk data */
    CS_DATA_LF,        /* LF after chunk data */
    CS_TRAILER_START,  /* start of a trailer line or the final CRLF */
    CS_TRAILER_NAME,   /* trailer field name */
    CS_TRAILER_VALUE,  /* trailer field value, up to CR */
    CS_TRAILER_LF,     /* LF ending a trailer line */
    CS_FINAL_LF,       /* LF of the final empty line */
    CS_DONE,
    CS_ERROR
};

/* a chunk-size line (digits, extensions) longer than this is refused */
#define CHUNK_LINE_LIMIT 4096
/* the whole trailer section longer than this is refused */
#define CHUNK_TRAILER_LIMIT HTTP_DEFAULT_MAX_HEAD_SIZE
/* sizes must stay below 2^60: refuse a digit once the value reaches 2^56 */
#define CHUNK_SIZE_SHIFT_LIMIT ((uint64_t)1 << 56)

/*
 * Fields a request may not carry in its trailer section. RFC 9110 6.5.1: a
 * field may only be a trailer when its definition allows it, and the fields
 * needed before the content can be processed never are: message framing,
 * routing, authentication, request modifiers, response controls, content
 * format. A recipient that merged these into the header section, or an
 * intermediary that did, would act on values the head never showed, so a
 * request trailing one is refused (400) rather than having it dropped.
 *   framing / connection:   content-length, transfer-encoding, trailer, te,
 *                           connection, keep-alive, proxy-connection, upgrade,
 *                           http2-settings
 *   routing:                host, max-forwards
 *   authentication / state: authorization, proxy-authorization, cookie,
 *                           set-cookie, www-authenticate, proxy-authenticate
 *   request modifiers:      expect, range, if-match, if-none-match,
 *                           if-modified-since, if-unmodified-since, if-range,
 *                           cache-control, pragma
 *   content format:         content-type, content-encoding, content-range
 * At most 32 names (one bit each in name_match).
 */
static const char *const FORBIDDEN_TRAILERS[] = {
    "content-length", "transfer-encoding", "trailer", "te", "connection", "keep-alive",
    "proxy-connection", "upgrade", "http2-settings", "host", "max-forwards", "authorization",
    "proxy-authorization", "cookie", "set-cookie", "www-authenticate", "proxy-authenticate",
    "expect", "range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
    "if-range", "cache-control", "pragma", "content-type", "content-encoding", "content-range",
};
#define N_FORBIDDEN_TRAILERS (sizeof(FORBIDDEN_TRAILERS) / sizeof(FORBIDDEN_TRAILERS[0]))
typedef char forbidden_trailers_fit_in_32_bits[N_FORBIDDEN_TRAILERS <= 32 ? 1 : -1];

/* Advance the match of a trailer name by one byte: keep the names whose
 * byte at c->name_pos is this one, lower-cased. Trailers are rare, so a plain
 * loop over the names still in the race is enough. */
static void trailer_name_step(http_chunked_t *c, uint8_t b)
{
    uint32_t m = c->name_match, pos = c->name_pos;
    uint8_t lc = token_lower[b];
    unsigned k;
    for (k = 0; m && k < N_FORBIDDEN_TRAILERS; k++) {
        uint32_t bit = (uint32_t)1 << k;
        if ((m & bit) && (uint8_t)FORBIDDEN_TRAILERS[k][pos] != lc)
            m &= ~bit; /* the terminating NUL never equals a token byte */
    }
    c->name_match = m;
    if (m)
        c->name_pos = pos + 1;
}

/* At the ':' of a trailer field: is the complete name a forbidden one? */
static int trailer_name_forbidden(const http_chunked_t *c)
{
    unsigned k;
    for (k = 0; c->name_match && k < N_FORBIDDEN_TRAILERS; k++) {
        if ((c->name_match >> k & 1) && FORBIDDEN_TRAILERS[k][c->name_pos] == '\0')
            return 1;
    }
    return 0;
}

static inline unsigned hex_digit(uint8_t c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

int http_chunked_decode(http_chunked_t *c, const char *data, size_t len, size_t *consumed,
                        const char **out, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)data;
    const uint8_t *end = p + len;
    uint32_t st = c->state;

    *out = NULL;
    *out_len = 0;
    *consumed = 0;
    if (st == CS_DONE)
        return HTTP_CHUNKED_DONE;
    if (st == CS_ERROR)
        return HTTP_CHUNKED_ERROR;

    while (p < end) {
        uint8_t b = *p;

        if (st == CS_DATA) {
            size_t avail = (size_t)(end - p);
            size_t take = c->remaining < avail ? (size_t)c->remaining : avail;
            *out = (const char *)p;
            *out_len = take;
            c->remaining -= take;
            p += take;
            if (c->remaining == 0)
                st = CS_DATA_CR;
            c->state = st;
            *consumed = (size_t)(p - (const uint8_t *)data);
            return HTTP_CHUNKED_DATA;
        }

        switch (st) {
        case CS_SIZE_FIRST:
            if (!(char_class[b] & C_HEX))
                goto error;
            c->remaining = hex_digit(b);
            c->aux = 1;
            st = CS_SIZE;
            break;
        case CS_SIZE:
            if (++c->aux > CHUNK_LINE_LIMIT)
                goto error;
            if (char_class[b] & C_HEX) {
                if (c->remaining >= CHUNK_SIZE_SHIFT_LIMIT)
                    goto error;
                c->remaining = (c->remaining << 4) | hex_digit(b);
            } else if (b == '\r') {
                st = CS_SIZE_LF;
            } else if (b == ';') {
                st = CS_EXT;
            } else if (b == ' ' || b == '\t') {
                st = CS_SIZE_WS;
            } else {
                goto error;
            }
            break;
        case CS_SIZE_WS:
            if (++c->aux > CHUNK_LINE_LIMIT)
                goto error;
            if (b == ';')
                st = CS_EXT;
            else if (b != ' ' && b != '\t')
                goto error;
            break;
        case CS_EXT:
            /* extensions are ignored; any control byte but HTAB is refused,
             * so the line can only end at CRLF */
            if (++c->aux > CHUNK_LINE_LIMIT)
                goto error;
            if (b == '\r')
                st = CS_SIZE_LF;
            else if (!(char_class[b] & C_VALUE))
                goto error;
            break;
        case CS_SIZE_LF:
            if (b != '\n')
                goto error;
            if (c->remaining == 0) {
                c->aux = 0;
                st = CS_TRAILER_START;
            } else {
                st = CS_DATA;
            }
            break;
        case CS_DATA_CR:
            if (b != '\r')
                goto error;
            st = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (b != '\n')
                goto error;
            st = CS_SIZE_FIRST;
            break;
        case CS_TRAILER_START:
            if (++c->aux > CHUNK_TRAILER_LIMIT)
                goto error;
            if (b == '\r') {
                st = CS_FINAL_LF;
            } else if (char_class[b] & C_TOKEN) {
                c->name_pos = 0;
                c->name_match = (uint32_t)(((uint64_t)1 << N_FORBIDDEN_TRAILERS) - 1);
                trailer_name_step(c, b);
                st = CS_TRAILER_NAME;
            } else {
                goto error; /* includes obs-fold and bare LF */
            }
            break;
        case CS_TRAILER_NAME:
            if (++c->aux > CHUNK_TRAILER_LIMIT)
                goto error;
            if (b == ':') {
                if (trailer_name_forbidden(c))
                    goto error;
                st = CS_TRAILER_VALUE;
            } else if (char_class[b] & C_TOKEN) {
                if (c->name_match)
                    trailer_name_step(c, b);
            } else {
                goto error;
            }
            break;
        case CS_TRAILER_VALUE:
            if (++c->aux > CHUNK_TRAILER_LIMIT)
                goto error;
            if (b == '\r')
                st = CS_TRAILER_LF;
            else if (!(char_class[b] & C_VALUE))
                goto error;
            break;
        case CS_TRAILER_LF:
            if (b != '\n')
                goto error;
            st = CS_TRAILER_START;
            break;
        case CS_FINAL_LF:
            if (b != '\n')
                goto error;
            p++;
            c->state = CS_DONE;
            c->remaining = 0;
            *consumed = (size_t)(p - (const uint8_t *)data);
            return HTTP_CHUNKED_DONE;
        default:
            goto error;
        }
        p++;
    }
    c->state = st;
    *consumed = len;
    return HTTP_CHUNKED_NEED_MORE;

error:
    c->state = CS_ERROR;
    *consumed = (size_t)(p - (const uint8_t *)data);
    return HTTP_CHUNKED_ERROR;
}
