/*
 * PROXY protocol preamble parser (versions 1 and 2).
 *
 * A load balancer in front of the server may prepend one preamble to a TCP
 * stream that names the real client and server addresses. This file only
 * recognises and decodes that preamble; the connection engine decides
 * whether a listener expects one. No allocation, no Python, no state kept
 * between calls: the caller buffers bytes and calls proxy_parse() again on
 * the whole buffer whenever more arrive.
 *
 * Decisions (strict on purpose: the peer is a proxy we trust, so anything
 * odd is a broken or hostile sender, not a client to be lenient with):
 *  v1  "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", "PROXY TCP6 ...\r\n",
 *      "PROXY UNKNOWN\r\n" or "PROXY UNKNOWN <printable ASCII>\r\n".
 *      - Exactly one space between fields, no trailing space, CRLF only.
 *      - At most PROXY_V1_MAX_LINE bytes including CRLF.
 *      - IPv4: exactly four decimal octets 0-255, no leading zeros ("01" is
 *        refused, as the spec asks, so that no one reads it as octal).
 *      - IPv6: text as inet_pton(AF_INET6) accepts it (so "::ffff:1.2.3.4"
 *        works); at most 45 characters; no zone id.
 *      - Ports: 1-5 decimal digits, 0-65535, no sign, no leading zeros
 *        ("0" itself is fine, "080" is refused, as the spec asks).
 *      - TCP4 needs two IPv4 addresses, TCP6 two IPv6 addresses.
 *      - UNKNOWN gives family 0; whatever follows it must be printable.
 *  v2  12-byte signature, version nibble 2, then:
 *      - LOCAL (command 0): family 0; the family byte and the whole block
 *        are ignored (the spec says so: health checks from the proxy).
 *      - PROXY (command 1) with family/transport byte
 *          0x11 TCP over IPv4 -> family 4 (block >= 12 bytes)
 *          0x21 TCP over IPv6 -> family 6 (block >= 36 bytes)
 *          0x31 unix stream   -> family 0 (block >= 216 bytes): no IP to
 *                                report, use the socket's address
 *          0x00 UNSPEC        -> family 0, block skipped unparsed
 *        anything else (DGRAM 0x12/0x22/0x32, unknown nibbles) is an error.
 *      - Other versions or commands are errors.
 *      - The whole preamble (16-byte header + block) is at most
 *        PROXY_MAX_PREAMBLE bytes; a longer length field is an error as
 *        soon as it is seen.
 *      - TLVs after a known address block are skipped but their framing
 *        is checked: each TLV header (type, 2-byte length) and value must
 *        fit exactly inside the block. Their content is not interpreted.
 */
#ifndef SOCKETIFY_PROXY_PROTOCOL_H
#define SOCKETIFY_PROXY_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* Longest v1 line, CRLF included (the spec's own bound). */
#define PROXY_V1_MAX_LINE 107
/* Longest preamble we accept (v2 header + address block + TLVs). */
#define PROXY_MAX_PREAMBLE 4096

typedef struct proxy_addr_s {
    uint8_t family;        /* 0 = unknown/LOCAL (use the socket's address), 4 = IPv4, 6 = IPv6 */
    uint8_t src_ip[16];    /* 4 or 16 bytes used, network order; the rest zero */
    uint8_t dst_ip[16];
    uint16_t src_port, dst_port; /* host order; 0 when family is 0 */
} proxy_addr_t;

enum { PROXY_INCOMPLETE = 0, PROXY_DONE = 1, PROXY_ERROR = -1 };

/* Parse a preamble at the start of buf (len bytes available so far). Returns PROXY_DONE and
 * sets *consumed (the whole preamble, TLVs included) and *out; PROXY_INCOMPLETE when more
 * bytes are needed (never when the bytes seen so far already prove it invalid); PROXY_ERROR
 * when buf does not start with a valid preamble (including: not a PROXY preamble at all).
 * On INCOMPLETE and ERROR, *consumed is 0 and *out is left untouched. Bytes after the
 * preamble are never looked at. */
int proxy_parse(const char *buf, size_t len, size_t *consumed, proxy_addr_t *out);

/* 1 if buf (len bytes) could be the start of a v1 or v2 preamble, so the caller can answer
 * 400 to a preamble sent to a server that does not expect one. It compares the available
 * bytes with "PROXY TCP4 ", "PROXY TCP6 ", "PROXY UNKNOWN" and the v2 signature, so it
 * does not mistake an HTTP request with method PROXY ("PROXY / HTTP/1.1") for one. With
 * fewer bytes than that it may answer 1 for the start of an HTTP request ("P", "\r\n");
 * 0 when len is 0. */
int proxy_looks_like_preamble(const char *buf, size_t len);

#endif
