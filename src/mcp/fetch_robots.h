/*
 * fetch_robots.h - robots.txt for the fetch tool: the matching rules (RFC 9309) and a short
 * per-origin cache shared by the worker threads.
 */
#ifndef MCPGW_MCP_FETCH_ROBOTS_H
#define MCPGW_MCP_FETCH_ROBOTS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether robots.txt text (len bytes) lets user_agent fetch path ("/a/b?q", starting with
 * '/'). Groups are chosen by the longest product token in a User-agent line that appears
 * (case-insensitively) in user_agent, else "*"; within them the longest matching Allow or
 * Disallow pattern wins ('*' wildcards, '$' end anchor), Allow on a tie; no match allows. */
bool robots_allows(const char *text, size_t len, const char *user_agent, const char *path);

/* What a robots.txt fetch told us about an origin. */
enum robots_verdict {
    ROBOTS_USE_TEXT,  /* a 2xx body: apply robots_allows */
    ROBOTS_ALLOW_ALL, /* 404 and other 4xx: no rules */
    ROBOTS_DENY_ALL,  /* 401, 403: autonomous fetching refused */
};

/* How long an origin's robots.txt is reused, in seconds. */
#define ROBOTS_CACHE_SECONDS 60
#define ROBOTS_MAX_BYTES (512 * 1024)

/* A cached verdict for origin ("https://host:port"), within ROBOTS_CACHE_SECONDS. Returns
 * true and *verdict and *text (caller frees; NULL unless ROBOTS_USE_TEXT) when present.
 * Thread-safe. */
bool robots_cache_get(const char *origin, enum robots_verdict *verdict, char **text);
/* Remember a verdict and its text (copied, at most ROBOTS_MAX_BYTES). Thread-safe. */
void robots_cache_put(const char *origin, enum robots_verdict verdict, const char *text, size_t len);
/* Forget everything (tests). */
void robots_cache_clear(void);

#endif
