/* Declarations of src/lib.c (no libc headers in the freestanding build). */
#ifndef LIB_H
#define LIB_H
#include <stddef.h>
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
#endif
