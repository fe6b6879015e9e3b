/*
 * alloc.h - allocation that never returns NULL.
 *
 * mcpgw's out-of-memory policy: abort with a message on stderr. These wrappers are the only
 * place that policy lives; everything else may assume allocation succeeds.
 */
#ifndef MCPGW_CORE_ALLOC_H
#define MCPGW_CORE_ALLOC_H

#include <stddef.h>

/* Abort the process reporting that `size` bytes could not be allocated. */
_Noreturn void gw_oom(size_t size);

/* malloc/calloc/realloc/strdup/strndup that abort on failure. Caller frees with free(). */
void *gw_malloc(size_t size);
void *gw_calloc(size_t count, size_t size);
void *gw_realloc(void *ptr, size_t size);
char *gw_strdup(const char *s);
char *gw_strndup(const char *s, size_t n);

#endif
