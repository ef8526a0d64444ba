/*
 * WebSocket frame codec, server side (RFC 6455 section 5).
 *
 * The parser is a small state machine fed arbitrary pieces of the stream:
 * header bytes gather in p->hdr until the header is whole (so a header may
 * be split anywhere), payload bytes are unmasked in place with the mask
 * position carried across calls. Every rule that the first two header bytes
 * decide is checked as soon as they are in, so a bad frame fails before the
 * rest of its header arrives.
 */
#include "ws_codec.h"

#include <string.h>

#include "utf8.h"

enum { S_HEADER = 0, S_PAYLOAD, S_END, S_ERROR };

void ws_parser_init(ws_parser_t *p, uint64_t max_message, int allow_rsv1)
{
    memset(p, 0, sizeof(*p));
    p->max_message = max_message;
    p->allow_rsv1 = allow_rsv1 ? 1 : 0;
    p->state = S_HEADER;
    p->hdr_need = 2;
}

static int fail(ws_parser_t *p, uint16_t code)
{
    p->state = S_ERROR;
    p->error_code = code;
    return WS_PARSE_ERROR;
}

/* Rules decided by the first two bytes; sets hdr_need to the whole header. */
static int check_start(ws_parser_t *p)
{
    uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
    uint8_t op = b0 & 0x0F, len7 = b1 & 0x7F;
    int control = op >= 8;

    if (b0 & 0x30)
        return fail(p, WS_CLOSE_PROTOCOL_ERROR); /* RSV2/RSV3: no extension of ours uses them */
    if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
        op != WS_OP_PING && op != WS_OP_PONG)
        return fail(p, WS_CLOSE_PROTOCOL_ERROR);
    if (!(b1 & 0x80))
        return fail(p, WS_CLOSE_PROTOCOL_ERROR); /* every client frame is masked (5.1) */
    if (b0 & 0x40) {
        /* RSV1 is permessage-deflate's "compressed" bit: first data frame only (RFC 7692 6.1) */
        if (!p->allow_rsv1 || control || op == WS_OP_CONTINUATION)
            return fail(p, WS_CLOSE_PROTOCOL_ERROR);
    }
    if (control) {
        if (!(b0 & 0x80) || len7 > 125)
            return fail(p, WS_CLOSE_PROTOCOL_ERROR); /* 5.5: unfragmented, <= 125 bytes */
    } else if (op == WS_OP_CONTINUATION) {
        if (!p->in_message)
            return fail(p, WS_CLOSE_PROTOCOL_ERROR);
    } else if (p->in_message) {
        return fail(p, WS_CLOSE_PROTOCOL_ERROR); /* no new message inside a fragmented one */
    }
    p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return 0;
}

/* The header is whole: set the frame fields and the message state. */
static int finish_header(ws_parser_t *p)
{
    uint8_t b0 = p->hdr[0], len7 = p->hdr[1] & 0x7F;
    const uint8_t *q = p->hdr + 2;
    uint64_t length = len7;
    uint8_t op = b0 & 0x0F;

    if (len7 == 126) {
        length = ((uint64_t)q[0] << 8) | q[1];
        q += 2;
    } else if (len7 == 127) {
        int i;
        if (q[0] & 0x80)
            return fail(p, WS_CLOSE_PROTOCOL_ERROR); /* 5.2: the top bit must be 0 */
        length = 0;
        for (i = 0; i < 8; i++)
            length = (length << 8) | q[i];
        q += 8;
    }
    memcpy(p->mask, q, 4);
    p->mask_pos = 0;
    p->opcode = op;
    p->fin = (b0 & 0x80) ? 1 : 0;
    p->rsv1 = (b0 & 0x40) ? 1 : 0;
    p->length = length;
    p->remaining = length;

    if (op < 8) {
        /* a data frame: the message state moves; control frames leave it alone */
        if (op == WS_OP_CONTINUATION) {
            p->message_size = length > UINT64_MAX - p->message_size ? UINT64_MAX : p->message_size + length;
        } else {
            p->message_opcode = op;
            p->message_rsv1 = p->rsv1;
            p->message_size = length;
        }
        p->in_message = p->fin ? 0 : 1;
        if (p->max_message && p->message_size > p->max_message)
            return fail(p, WS_CLOSE_TOO_BIG);
    }
    p->state = length ? S_PAYLOAD : S_END;
    p->hdr_len = 0;
    p->hdr_need = 2;
    return WS_PARSE_HEADER;
}

/* XOR data[0, n) with the mask starting at mask position pos. */
static void unmask(uint8_t *d, size_t n, const uint8_t mask[4], unsigned pos)
{
    size_t i = 0;
    if (n >= 16) {
        uint8_t rot[8];
        uint64_t m;
        for (i = 0; i < 8; i++)
            rot[i] = mask[(pos + i) & 3];
        memcpy(&m, rot, 8);
        /* 8 is a multiple of 4, so the rotated pattern repeats every word */
        for (i = 0; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, d + i, 8);
            w ^= m;
            memcpy(d + i, &w, 8);
        }
    }
    for (; i < n; i++)
        d[i] ^= mask[(pos + i) & 3];
}

int ws_parse(ws_parser_t *p, char *data, size_t len, size_t *used, const char **out, size_t *out_len)
{
    size_t pos = 0;

    *used = 0;
    *out = NULL;
    *out_len = 0;
    switch (p->state) {
    case S_ERROR:
        return WS_PARSE_ERROR;
    case S_END:
        p->state = S_HEADER;
        return WS_PARSE_FRAME_END;
    case S_PAYLOAD: {
        size_t n = p->remaining < len ? (size_t)p->remaining : len;
        if (n == 0) {
            *used = len;
            return WS_PARSE_NEED_MORE;
        }
        unmask((uint8_t *)data, n, p->mask, p->mask_pos);
        p->mask_pos = (uint8_t)((p->mask_pos + n) & 3);
        p->remaining -= n;
        if (p->remaining == 0)
            p->state = S_END;
        *used = n;
        *out = data;
        *out_len = n;
        return WS_PARSE_PAYLOAD;
    }
    default:
        break;
    }

    /* S_HEADER: gather bytes until hdr_need, which grows once the first two are known */
    while (pos < len) {
        size_t take = (size_t)(p->hdr_need - p->hdr_len);
        if (take > len - pos)
            take = len - pos;
        memcpy(p->hdr + p->hdr_len, data + pos, take);
        p->hdr_len = (uint8_t)(p->hdr_len + take);
        pos += take;
        if (p->hdr_len < p->hdr_need)
            break;
        if (p->hdr_len == 2) {
            if (check_start(p) == WS_PARSE_ERROR) {
                *used = pos;
                return WS_PARSE_ERROR;
            }
            continue;
        }
        *used = pos;
        return finish_header(p);
    }
    *used = pos;
    return WS_PARSE_NEED_MORE;
}

size_t ws_frame_header(uint8_t out[10], int opcode, int fin, int rsv1, uint64_t payload_len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0F));
    if (payload_len <= 125) {
        out[1] = (uint8_t)payload_len;
        return 2;
    }
    if (payload_len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
    return 10;
}

int ws_close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

int ws_close_parse(const char *payload, size_t len, unsigned *code, const char **reason, size_t *reason_len)
{
    unsigned c;
    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        *reason = payload;
        *reason_len = 0;
        return 0;
    }
    if (len == 1)
        return -1; /* half a code */
    c = ((unsigned)(uint8_t)payload[0] << 8) | (uint8_t)payload[1];
    if (!ws_close_code_valid(c) || !utf8_valid(payload + 2, len - 2))
        return -1;
    *code = c;
    *reason = payload + 2;
    *reason_len = len - 2;
    return 0;
}

size_t ws_close_payload(char out[125], unsigned code, const char *reason, size_t reason_len)
{
    if (code == 0 || code == WS_CLOSE_NO_STATUS || code == WS_CLOSE_ABNORMAL)
        return 0; /* these codes mean "no code" and never go on the wire */
    out[0] = (char)(uint8_t)(code >> 8);
    out[1] = (char)(uint8_t)code;
    if (reason_len > 123) {
        /* back off to the start of the character that would be cut */
        reason_len = 123;
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xC0) == 0x80)
            reason_len--;
    }
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    return 2 + reason_len;
}
