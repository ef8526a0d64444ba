/*
 * WebSocket frames (RFC 6455 section 5), server side: the incremental frame
 * parser (client frames must be masked) and the writers for server frames
 * and close payloads. No sockets, no allocation: the caller owns the bytes.
 *
 * The parser enforces every rule that needs no more than the frame stream:
 * RSV bits (RSV1 only on the first frame of a data message, and only when
 * compression was negotiated), reserved opcodes, control frames (FIN set,
 * payload <= 125), the fragmentation rule (CONTINUATION only inside a
 * message, no new data frame inside one), the mask bit, the 64-bit length's
 * top bit, and the message size limit on the wire. What the payload means
 * (UTF-8, close codes, inflation) is the caller's.
 */
#ifndef SOCKETIFY_WS_CODEC_H
#define SOCKETIFY_WS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
    WS_OP_CONTINUATION = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10
};

/* Close codes the server itself sends (RFC 6455 7.4.1). */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_NO_STATUS = 1005,   /* never on the wire: "the peer sent no code" */
    WS_CLOSE_ABNORMAL = 1006,    /* never on the wire: "closed without a close frame" */
    WS_CLOSE_INVALID_DATA = 1007,/* e.g. a TEXT message that is not UTF-8 */
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL_ERROR = 1011
};

/* What ws_parse found. */
enum ws_parse_result {
    WS_PARSE_NEED_MORE = 0, /* all input used; feed more */
    WS_PARSE_HEADER = 1,    /* a frame header is complete: frame fields are set */
    WS_PARSE_PAYLOAD = 2,   /* *out, *out_len: unmasked payload bytes of the current frame */
    WS_PARSE_FRAME_END = 3, /* the current frame's payload is complete (also for empty payloads) */
    WS_PARSE_ERROR = -1     /* protocol violation: p->error_code is the close code to send */
};

typedef struct ws_parser_s {
    /* settings */
    uint64_t max_message;   /* data message size limit on the wire (sum of its frames); 0 = none */
    uint8_t allow_rsv1;     /* permessage-deflate was negotiated */
    /* the current frame, valid from WS_PARSE_HEADER to WS_PARSE_FRAME_END */
    uint8_t opcode;         /* enum ws_opcode as on the wire (CONTINUATION stays 0) */
    uint8_t fin;
    uint8_t rsv1;
    uint64_t length;        /* payload length of the frame */
    /* message state */
    uint8_t in_message;     /* a fragmented data message is in progress */
    uint8_t message_opcode; /* TEXT or BINARY of the message in progress (or of this unfragmented frame) */
    uint8_t message_rsv1;   /* the message in progress is compressed */
    uint64_t message_size;  /* wire bytes of the message so far, this frame included */
    uint16_t error_code;    /* with WS_PARSE_ERROR */
    /* internal */
    uint8_t state;
    uint8_t hdr_len, hdr_need;
    uint8_t hdr[14];
    uint8_t mask[4];
    uint8_t mask_pos;
    uint64_t remaining;     /* payload bytes of the current frame still to come */
} ws_parser_t;

void ws_parser_init(ws_parser_t *p, uint64_t max_message, int allow_rsv1);

/* Parse from data[0, len). Returns one event at a time and sets *used to the
 * bytes consumed for it; the caller calls again with the rest. Payload bytes
 * are unmasked IN PLACE (data is modified) and returned as *out (a view into
 * data). After WS_PARSE_ERROR the parser stays failed. */
int ws_parse(ws_parser_t *p, char *data, size_t len, size_t *used, const char **out, size_t *out_len);

/* Header of an unmasked server frame into out (2, 4 or 10 bytes); returns its length. */
size_t ws_frame_header(uint8_t out[10], int opcode, int fin, int rsv1, uint64_t payload_len);
/* Largest header ws_frame_header writes. */
#define WS_MAX_HEADER 10

/* 1 if a peer may send this close code (1000-1003, 1007-1011, 3000-4999). */
int ws_close_code_valid(unsigned code);
/* Validate a received close payload: empty -> *code 1005, reason empty;
 * otherwise a valid code and a UTF-8 reason. Returns 0, or -1 if invalid
 * (1 byte, a code that may not be sent, a reason that is not UTF-8). */
int ws_close_parse(const char *payload, size_t len, unsigned *code, const char **reason, size_t *reason_len);
/* Close payload for code and reason into out (<= 125 bytes): nothing for
 * code 0, 1005 and 1006; the reason is cut to 123 bytes at a UTF-8 character
 * boundary. Returns its length. */
size_t ws_close_payload(char out[125], unsigned code, const char *reason, size_t reason_len);

#endif
