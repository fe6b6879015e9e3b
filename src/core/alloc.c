#include "alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gw_oom(size_t size)
{
    fprintf(stderr, "FATAL: out of memory allocating %zu bytes\n", size);
    abort();
}

void *gw_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        gw_oom(size);
    return p;
}

void *gw_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        gw_oom(count * size);
    return p;
}

void *gw_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        gw_oom(size);
    return p;
}

char *gw_strdup(const char *s)
{
    return gw_strndup(s, strlen(s));
}

char *gw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = gw_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
