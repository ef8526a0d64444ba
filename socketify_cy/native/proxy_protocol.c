/*
 * PROXY protocol preamble parser, versions 1 and 2. See proxy_protocol.h
 * for the rules we apply and why.
 *
 * The caller feeds the growing buffer again and again, so every call parses
 * from the start; the preamble is small (107 / 4096 bytes at most). For an
 * unfinished v1 line we ask "can any completion still make this valid?" by
 * finishing the last field the shortest way and checking the result, so a
 * hopeless prefix is refused at once instead of waiting for more bytes.
 */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <string.h>

static const char V2_SIG[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

#define V1_PREFIX "PROXY "
#define V1_PREFIX_LEN 6
#define V2_HEADER_LEN 16
#define IPV6_TEXT_MAX 45 /* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */

/* ---- v1 fields ------------------------------------------------------------ */

/* Decimal 0..max, 1..digits long, no sign, no leading zero. */
static int parse_decimal(const char *s, size_t n, size_t digits, unsigned max, unsigned *out)
{
    unsigned v = 0;
    size_t i;
    if (n == 0 || n > digits || (n > 1 && s[0] == '0'))
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
    unsigned v;
    if (!parse_decimal(s, n, 5, 65535, &v))
        return 0;
    *out = (uint16_t)v;
    return 1;
}

/* Our own dotted-quad reader: exact and locale-free, no leading zeros. */
static int parse_ipv4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0, start;
    int octet;
    for (octet = 0; octet < 4; octet++) {
        unsigned v;
        start = i;
        while (i < n && s[i] != '.')
            i++;
        if (!parse_decimal(s + start, i - start, 3, 255, &v))
            return 0;
        out[octet] = (uint8_t)v;
        if (octet < 3) {
            if (i == n)
                return 0;
            i++; /* the dot */
        }
    }
    return i == n;
}

static int parse_ipv6(const char *s, size_t n, uint8_t out[16])
{
    char text[IPV6_TEXT_MAX + 1];
    size_t i;
    if (n == 0 || n > IPV6_TEXT_MAX)
        return 0;
    /* inet_pton reads up to a NUL; a NUL inside the field must not end it early */
    for (i = 0; i < n; i++)
        if (s[i] == '\0')
            return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(AF_INET6, text, out) == 1;
}

/* Shortest text appended to a partial address field that makes it valid;
 * the length of that text, or -1 when no completion exists. */
static int complete_ipv4(const char *s, size_t n)
{
    char text[32];
    uint8_t ip[4];
    size_t dots = 0, i, k = n;
    if (n > 15)
        return -1;
    for (i = 0; i < n; i++)
        dots += s[i] == '.';
    if (dots > 3)
        return -1;
    memcpy(text, s, n);
    /* an empty last octet becomes "0", then ".0" per missing octet */
    if (n == 0 || s[n - 1] == '.')
        text[k++] = '0';
    for (i = dots; i < 3; i++) {
        text[k++] = '.';
        text[k++] = '0';
    }
    return parse_ipv4(text, k, ip) ? (int)(k - n) : -1;
}

static int complete_ipv6(const char *s, size_t n)
{
    /* Shortest first. Together these finish every valid prefix: a missing
     * group (":" / "0"), a missing "::", or a cut embedded IPv4 tail. */
    static const char *const tails[] = {"", "0", ":", "::", ":0", ".0", "0::", "0.0", ".0.0", "0.0.0", ".0.0.0"};
    char text[IPV6_TEXT_MAX + 8];
    uint8_t ip[16];
    size_t i;
    if (n > IPV6_TEXT_MAX)
        return -1;
    memcpy(text, s, n);
    for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t t = strlen(tails[i]);
        memcpy(text + n, tails[i], t);
        if (parse_ipv6(text, n + t, ip))
            return (int)t;
    }
    return -1;
}

static int complete_port(const char *s, size_t n)
{
    uint16_t p;
    if (n == 0)
        return 1; /* "0" */
    return parse_port(s, n, &p) ? 0 : -1;
}

/* ---- v1 line -------------------------------------------------------------- */

enum { V1_TCP4, V1_TCP6, V1_UNKNOWN };

static const struct {
    const char *name;
    size_t len;
    size_t min_rest; /* shortest " src dst sport dport" for this protocol */
} V1_PROTOS[3] = {
    {"TCP4", 4, 20}, /* " 0.0.0.0 0.0.0.0 0 0" */
    {"TCP6", 4, 10}, /* " :: :: 0 0" */
    {"UNKNOWN", 7, 0},
};

/*
 * s: the line after "PROXY ", without CRLF (n bytes, no CR or LF inside).
 * Complete line (partial == 0): 1 and *out filled when valid, else -1.
 * Partial line (more bytes may follow s): the fewest bytes still needed
 * before the CRLF to make it valid, or -1 when nothing can.
 */
static int v1_line(const char *s, size_t n, int partial, proxy_addr_t *out)
{
    size_t pos = 0, start, flen;
    int proto, field, need;
    proxy_addr_t a;

    /* the protocol name */
    while (pos < n && s[pos] != ' ')
        pos++;
    flen = pos;
    if (pos == n && partial) {
        /* still inside the name: which protocols is it a prefix of? */
        int best = -1;
        for (proto = 0; proto < 3; proto++) {
            if (flen <= V1_PROTOS[proto].len && memcmp(s, V1_PROTOS[proto].name, flen) == 0) {
                int k = (int)(V1_PROTOS[proto].len - flen + V1_PROTOS[proto].min_rest);
                if (best < 0 || k < best)
                    best = k;
            }
        }
        return best;
    }
    for (proto = 0; proto < 3; proto++)
        if (flen == V1_PROTOS[proto].len && memcmp(s, V1_PROTOS[proto].name, flen) == 0)
            break;
    if (proto == 3)
        return -1;

    memset(&a, 0, sizeof(a));
    if (proto == V1_UNKNOWN) {
        /* nothing, or a space and anything printable: the spec says ignore it */
        for (; pos < n; pos++)
            if ((unsigned char)s[pos] < 0x20 || (unsigned char)s[pos] > 0x7E)
                return -1;
        if (partial)
            return 0;
        memcpy(out, &a, sizeof(a)); /* padding included: callers may memcmp */
        return 1;
    }

    a.family = proto == V1_TCP4 ? 4 : 6;
    /* four fields, each after exactly one space */
    for (field = 0; field < 4; field++) {
        int ok;
        if (pos == n)
            return -1; /* a field is missing (a partial line never stops here) */
        pos++; /* s[pos] is the space */
        start = pos;
        while (pos < n && s[pos] != ' ')
            pos++;
        flen = pos - start;
        if (pos == n && partial) {
            /* the last field may be cut: finish it, then the rest */
            if (field < 2)
                need = proto == V1_TCP4 ? complete_ipv4(s + start, flen) : complete_ipv6(s + start, flen);
            else
                need = complete_port(s + start, flen);
            if (need < 0)
                return -1;
            for (field++; field < 4; field++)
                need += 1 + (field < 2 ? (proto == V1_TCP4 ? 7 : 2) : 1);
            return need;
        }
        switch (field) {
        case 0:
            ok = proto == V1_TCP4 ? parse_ipv4(s + start, flen, a.src_ip) : parse_ipv6(s + start, flen, a.src_ip);
            break;
        case 1:
            ok = proto == V1_TCP4 ? parse_ipv4(s + start, flen, a.dst_ip) : parse_ipv6(s + start, flen, a.dst_ip);
            break;
        case 2:
            ok = parse_port(s + start, flen, &a.src_port);
            break;
        default:
            ok = parse_port(s + start, flen, &a.dst_port);
            break;
        }
        if (!ok)
            return -1;
    }
    /* a partial line never gets here: its last field took the branch above */
    if (pos != n)
        return -1; /* a fifth field or a trailing space */
    memcpy(out, &a, sizeof(a)); /* padding included: callers may memcmp */
    return 1;
}

static int parse_v1(const char *buf, size_t len, size_t *consumed, proxy_addr_t *out)
{
    size_t window = len < PROXY_V1_MAX_LINE ? len : PROXY_V1_MAX_LINE;
    size_t i;
    int need;

    if (memcmp(buf, V1_PREFIX, window < V1_PREFIX_LEN ? window : V1_PREFIX_LEN) != 0)
        return PROXY_ERROR;
    if (len < V1_PREFIX_LEN)
        return PROXY_INCOMPLETE;

    for (i = V1_PREFIX_LEN; i < window; i++) {
        if (buf[i] == '\n')
            return PROXY_ERROR; /* LF without CR */
        if (buf[i] != '\r')
            continue;
        if (i + 2 > PROXY_V1_MAX_LINE)
            return PROXY_ERROR;
        if (i + 1 == len) {
            /* only the LF is missing: the line must already be whole */
            proxy_addr_t scratch;
            return v1_line(buf + V1_PREFIX_LEN, i - V1_PREFIX_LEN, 0, &scratch) == 1 ? PROXY_INCOMPLETE
                                                                                       : PROXY_ERROR;
        }
        if (buf[i + 1] != '\n')
            return PROXY_ERROR;
        if (v1_line(buf + V1_PREFIX_LEN, i - V1_PREFIX_LEN, 0, out) != 1)
            return PROXY_ERROR;
        *consumed = i + 2;
        return PROXY_DONE;
    }
    /* no CR yet within the window */
    need = v1_line(buf + V1_PREFIX_LEN, window - V1_PREFIX_LEN, 1, NULL);
    if (need < 0 || window + (size_t)need + 2 > PROXY_V1_MAX_LINE)
        return PROXY_ERROR;
    return PROXY_INCOMPLETE;
}

/* ---- v2 ------------------------------------------------------------------- */

static size_t be16(const char *p) { return ((size_t)(unsigned char)p[0] << 8) | (unsigned char)p[1]; }

static int parse_v2(const char *buf, size_t len, size_t *consumed, proxy_addr_t *out)
{
    size_t block, total, addr_len = 0, pos;
    int cmd, check_tlvs = 0;
    unsigned fam = 0;

    if (memcmp(buf, V2_SIG, len < sizeof(V2_SIG) ? len : sizeof(V2_SIG)) != 0)
        return PROXY_ERROR;
    if (len < 13)
        return PROXY_INCOMPLETE;
    if (((unsigned char)buf[12] >> 4) != 2)
        return PROXY_ERROR;
    cmd = buf[12] & 0x0F;
    if (cmd > 1)
        return PROXY_ERROR; /* only LOCAL (0) and PROXY (1) exist */
    if (len < 14)
        return PROXY_INCOMPLETE;
    if (cmd == 1) {
        fam = (unsigned char)buf[13];
        switch (fam) {
        case 0x00: /* UNSPEC: layout unknown, skip it */
            break;
        case 0x11:
            addr_len = 12;
            check_tlvs = 1;
            break;
        case 0x21:
            addr_len = 36;
            check_tlvs = 1;
            break;
        case 0x31:
            addr_len = 216;
            check_tlvs = 1;
            break;
        default:
            return PROXY_ERROR; /* DGRAM and undefined pairs */
        }
    }
    if (len < V2_HEADER_LEN)
        return PROXY_INCOMPLETE;
    block = be16(buf + 14);
    total = V2_HEADER_LEN + block;
    if (total > PROXY_MAX_PREAMBLE || block < addr_len)
        return PROXY_ERROR;

    /* TLV framing, as far as the bytes go: a TLV that overruns the block
     * is an error now, whatever follows */
    if (check_tlvs) {
        pos = V2_HEADER_LEN + addr_len;
        while (pos < total) {
            size_t tlv_len;
            if (total - pos < 3)
                return PROXY_ERROR;
            if (len < pos + 3)
                break; /* not here yet */
            tlv_len = be16(buf + pos + 1);
            if (tlv_len > total - pos - 3)
                return PROXY_ERROR;
            pos += 3 + tlv_len;
        }
    }
    if (len < total)
        return PROXY_INCOMPLETE;

    memset(out, 0, sizeof(*out));
    if (fam == 0x11) {
        out->family = 4;
        memcpy(out->src_ip, buf + 16, 4);
        memcpy(out->dst_ip, buf + 20, 4);
        out->src_port = (uint16_t)be16(buf + 24);
        out->dst_port = (uint16_t)be16(buf + 26);
    } else if (fam == 0x21) {
        out->family = 6;
        memcpy(out->src_ip, buf + 16, 16);
        memcpy(out->dst_ip, buf + 32, 16);
        out->src_port = (uint16_t)be16(buf + 48);
        out->dst_port = (uint16_t)be16(buf + 50);
    }
    *consumed = total;
    return PROXY_DONE;
}

/* ---- entry points ------------------------------------------------------- */

int proxy_parse(const char *buf, size_t len, size_t *consumed, proxy_addr_t *out)
{
    *consumed = 0;
    if (len == 0)
        return PROXY_INCOMPLETE;
    if (buf[0] == 'P')
        return parse_v1(buf, len, consumed, out);
    if (buf[0] == '\r')
        return parse_v2(buf, len, consumed, out);
    return PROXY_ERROR;
}

static int starts_like(const char *buf, size_t len, const char *sig, size_t sig_len)
{
    return memcmp(buf, sig, len < sig_len ? len : sig_len) == 0;
}

int proxy_looks_like_preamble(const char *buf, size_t len)
{
    if (len == 0)
        return 0;
    return starts_like(buf, len, "PROXY TCP4 ", 11) || starts_like(buf, len, "PROXY TCP6 ", 11) ||
           starts_like(buf, len, "PROXY UNKNOWN", 13) || starts_like(buf, len, V2_SIG, sizeof(V2_SIG));
}
