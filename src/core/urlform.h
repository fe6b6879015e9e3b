/*
 * urlform.h - percent-decoding and -encoding, application/x-www-form-urlencoded bodies and
 * query strings, and a strict URL splitter (RFC 3986 shapes).
 *
 * Everything here reads untrusted bytes from the network, so it is strict: a '%' not followed
 * by two hex digits, or an escape that decodes to a NUL byte, is an error (GW_ERR_INVALID),
 * never silently passed through. Inputs are (pointer, length) and need not be NUL-terminated;
 * their size is bounded by the caller's buffer (the HTTP layer's body and header caps).
 */
#ifndef MCPGW_CORE_URLFORM_H
#define MCPGW_CORE_URLFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* ---- percent-decoding and -encoding ---- */

/* Decode src[0..len). form: '+' means a space (form bodies, query strings); otherwise '+' is
 * kept. Fails with GW_ERR_INVALID on a malformed %XX or a decoded NUL byte, leaving *out NULL.
 * On success *out is a new NUL-terminated string the caller frees; *out_len (may be NULL)
 * receives its length. */
enum gw_err url_decode(const char *src, size_t len, bool form, char **out, size_t *out_len);

/* Append src[0..len) to dst percent-encoded: RFC 3986 unreserved bytes (A-Z a-z 0-9 - . _ ~)
 * are kept, every other byte becomes %XX (upper-case hex; a space is %20). The result is safe
 * in a query value, a form value and a path segment. GW_ERR_TOO_LARGE if dst's cap is hit
 * (dst then holds a partial result; callers discard it). */
enum gw_err url_encode(struct buf *dst, const char *src, size_t len);

/* Append "name=value" (both encoded with url_encode) to url, preceded by '?' if url has no
 * '?' yet, else by '&' (nothing when url already ends in '?' or '&'). For building redirects:
 * url must not contain a fragment. GW_ERR_TOO_LARGE as url_encode. */
enum gw_err url_append_query_param(struct buf *url, const char *name, const char *value);

/* ---- form bodies and query strings ---- */

#define FORM_MAX_PAIRS 256

/* One decoded pair. name and value are NUL-terminated and owned by the struct form. */
struct form_pair {
    char *name;
    char *value;
    size_t name_len;
    size_t value_len;
};

/* Pairs in input order, duplicates kept (OAuth must see and reject repeated parameters). */
struct form {
    struct form_pair *pairs;
    size_t count;
};

/* Parse an application/x-www-form-urlencoded body, or a URL query string given without its
 * leading '?': pairs separated by '&', "name=value" or bare "name" (value ""), '+' is a space,
 * empty segments ("a=1&&b=2") skipped. Errors: GW_ERR_INVALID (bad escape or NUL),
 * GW_ERR_TOO_LARGE (more than FORM_MAX_PAIRS pairs). On success the caller owns *out and
 * releases it with form_free; on failure *out is empty and owns nothing. */
enum gw_err form_parse(const char *src, size_t len, struct form *out);
/* Release every pair; *form becomes empty (count 0). Safe on an empty or freed form. */
void form_free(struct form *form);
/* The value of the first pair called name, borrowed from form; NULL when absent. */
const char *form_get(const struct form *form, const char *name);
/* How many pairs are called name. */
size_t form_count(const struct form *form, const char *name);
/* Whether name appears more than once (RFC 6749 §3.1: such a request must be rejected). */
bool form_is_repeated(const struct form *form, const char *name);
/* The name of the first pair whose name appears again later, borrowed from form; NULL if
 * every name is unique. */
const char *form_first_repeated(const struct form *form);

/* ---- URL splitting ---- */

/* The parts of an absolute URL, as views into the string given to url_split (borrowed: valid
 * while that string is). A part that is absent has ptr NULL and len 0; has_* tells an empty
 * part ("http://h/?") from an absent one ("http://h/"). Nothing is decoded or lower-cased. */
struct url_parts {
    struct strview scheme;   /* "https", without ':' */
    struct strview userinfo; /* "user:pass", without '@' */
    struct strview user;     /* before the first ':' of userinfo */
    struct strview password; /* after it */
    struct strview host;     /* "example.com", "127.0.0.1", or "::1" (brackets removed) */
    struct strview port;     /* digits, without ':' */
    struct strview path;     /* "/a/b", possibly empty */
    struct strview query;    /* without '?' */
    struct strview fragment; /* without '#' */
    int port_number;         /* 0..65535, or -1 when there is no port */
    bool has_authority;      /* "//" followed the scheme */
    bool has_userinfo;
    bool has_password;
    bool host_is_ipv6; /* the host was written in [brackets] */
    bool has_query;
    bool has_fragment;
};

/* Split an absolute URL "scheme:[//[userinfo@]host[:port]]path[?query][#fragment]".
 * GW_ERR_INVALID when: no valid scheme; a byte that RFC 3986 never allows unencoded (controls,
 * space, non-ASCII, \ " < > ^ ` { | }, and NUL); a malformed %XX; a bad [IPv6] literal; a
 * non-numeric port or one above 65535. The userinfo ends at the last '@' of the authority, as
 * browsers read it. On failure *out is zeroed. */
enum gw_err url_split(const char *url, size_t len, struct url_parts *out);

#endif
