#ifndef PROTO_H
#define PROTO_H
#include <stdint.h>

/* Initialise counters (cold boot only) and parser state. */
void proto_init(int cold);
/* Serve the host link forever (docs/protocol.md). */
void proto_loop(void) __attribute__((noreturn));

#endif
