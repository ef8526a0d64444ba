/*
 * Pub/sub topics: exact-match topic strings, the subscribers of each, and
 * the messages published since the last drain, queued per subscriber in
 * publish order. A message is copied once however many subscribers get it.
 * Nothing here knows WebSockets: a subscriber is an opaque user pointer,
 * messages are opaque bytes with a caller-defined flags word.
 */
#ifndef SOCKETIFY_TOPIC_TREE_H
#define SOCKETIFY_TOPIC_TREE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tt_tree_s tt_tree_t;
typedef struct tt_subscriber_s tt_subscriber_t;

typedef struct tt_message_s {
    const char *data;
    size_t len;
    uint32_t flags;          /* the publisher's (e.g. opcode and compress) */
    void *cache;             /* free for the deliverer (e.g. the framed bytes); starts NULL */
    size_t cache_len;
} tt_message_t;

/* Called by tt_drain / tt_drain_subscriber with one subscriber's queued
 * messages in publish order. The deliverer may not subscribe, unsubscribe
 * or free subscribers from inside it; it may publish (those messages go to
 * the next drain). */
typedef void (*tt_deliver_fn)(void *tree_user, tt_subscriber_t *s, void *sub_user,
                              tt_message_t *const *msgs, size_t n);
/* Called for every message's cache when the message is dropped (after a drain). */
typedef void (*tt_cache_free_fn)(void *tree_user, void *cache);

tt_tree_t *tt_create(tt_deliver_fn deliver, tt_cache_free_fn cache_free, void *user);
/* Frees every topic, subscriber and queued message. */
void tt_free(tt_tree_t *t);

tt_subscriber_t *tt_subscriber_new(tt_tree_t *t, void *user);
/* Unsubscribes from everything and drops its queued messages. */
void tt_subscriber_free(tt_tree_t *t, tt_subscriber_t *s);

/* Returns the topic's subscriber count after subscribing (>= 1), 0 if s was
 * subscribed already, -1 out of memory. */
long tt_subscribe(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len);
/* Returns the count after unsubscribing (>= 0), -1 if s was not subscribed.
 * A topic with no subscriber left is deleted. */
long tt_unsubscribe(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len);
int tt_is_subscribed(tt_tree_t *t, tt_subscriber_t *s, const char *topic, size_t len);
size_t tt_num_subscribers(tt_tree_t *t, const char *topic, size_t len);
/* The topics of s in the order it subscribed: count, then each by index. */
size_t tt_subscriber_topic_count(const tt_subscriber_t *s);
const char *tt_subscriber_topic(const tt_subscriber_t *s, size_t i, size_t *len);

/* Queue a copy of data for every subscriber of topic except sender (may be
 * NULL). Returns the number of subscribers it was queued for, -1 out of memory. */
long tt_publish(tt_tree_t *t, const char *topic, size_t topic_len, tt_subscriber_t *sender,
                const char *data, size_t len, uint32_t flags);
/* 1 if some subscriber has queued messages. */
int tt_pending(const tt_tree_t *t);
/* Deliver every subscriber's queued messages (subscribers in the order
 * they first got a message since the last drain), then drop the messages. */
void tt_drain(tt_tree_t *t);
/* Deliver just s's queued messages now (before a direct send to it, so the
 * order holds). */
void tt_drain_subscriber(tt_tree_t *t, tt_subscriber_t *s);

#endif
