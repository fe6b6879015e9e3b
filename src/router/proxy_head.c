#include "proxy_head.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* A field name and its length (compared length first: most names differ there). */
struct field_name {
    const char *name;
    size_t len;
};

/* RFC 9110 §7.6.1 and RFC 9112: fields that describe one connection, never forwarded. */
static const struct field_name hop_by_hop[] = {
    {"connection", 10},
    {"keep-alive", 10},
    {"proxy-connection", 16},
    {"te", 2},
    {"trailer", 7},
    {"transfer-encoding", 17},
    {"upgrade", 7},
    {"proxy-authenticate", 18},
    {"proxy-authorization", 19},
    {NULL, 0},
};

/* Request fields the router replaces or must not pass on (identity and forwarding facts come from
 * the router, never from the client). */
static const struct field_name request_replaced[] = {
    {"host", 4},
    {"content-length", 14},
    {"expect", 6},
    {"authorization", 13},
    {"x-client-id", 11},
    {"x-forwarded-for", 15},
    {"x-forwarded-proto", 17},
    {"x-forwarded-host", 16},
    {"x-forwarded-port", 16},
    {"forwarded", 9},
    {"x-real-ip", 9},
    {"x-request-id", 12},
    {NULL, 0},
};

static bool name_in(const char *name, size_t len, const struct field_name *list)
{
    char first = (char)(name[0] | 0x20); /* lower case for letters; the lists start with letters */
    for (const struct field_name *f = list; f->name; f++)
        if (f->len == len && f->name[0] == first && strncasecmp(name, f->name, len) == 0)
            return true;
    return false;
}

bool proxy_connection_lists(const char *connection, const char *name, size_t name_len)
{
    if (!connection)
        return false;
    const char *p = connection;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t)(p - start);
        if (len && len == name_len && strncasecmp(start, name, len) == 0)
            return true;
    }
    return false;
}

/* RFC 9110 token characters: what a field name may be made of. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

static bool valid_name(const char *s, size_t len)
{
    if (!s || len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* The length of a value we can put on the wire (visible ASCII, space, tab and obs-text; no CR,
 * LF, NUL or other controls), or SIZE_MAX for a value that must not be sent. */
static size_t value_length(const char *s)
{
    if (!s)
        return SIZE_MAX;
    size_t n = 0;
    for (;; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c >= 0x20 && c != 0x7f)
            continue;
        if (c == '\0')
            return n;
        if (c != '\t')
            return SIZE_MAX;
    }
}

static bool valid_target(const char *s)
{
    if (!s || *s != '/')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static enum gw_err add_field(struct buf *out, const char *name, const char *value)
{
    size_t value_len = value_length(value);
    if (value_len == 0 || value_len == SIZE_MAX)
        return GW_OK; /* nothing safe to say: say nothing */
    return buf_append_field_line(out, name, strlen(name), value, value_len);
}

enum gw_err proxy_build_request_head(const struct proxy_head_input *in, struct buf *out)
{
    size_t authority_len = value_length(in->upstream_authority);
    if (!in->method || !valid_name(in->method, strlen(in->method)) || !valid_target(in->target) ||
        authority_len == 0 || authority_len == SIZE_MAX)
        return GW_ERR_INVALID;
    const char *connection = NULL;
    for (size_t i = 0; i < in->nheaders; i++) {
        const char *name = in->headers[i].name;
        if (name && (name[0] == 'c' || name[0] == 'C') && strcasecmp(name, "connection") == 0)
            connection = in->headers[i].value;
    }

    (void)buf_reserve(out, 1024); /* a typical head in one allocation (the cap still rules) */
    enum gw_err err = buf_append_str(out, in->method);
    if (!err)
        err = buf_append_char(out, ' ');
    if (!err)
        err = buf_append_str(out, in->target);
    if (!err)
        err = buf_append(out, " HTTP/1.1\r\n", 11);
    if (!err)
        err = add_field(out, "Host", in->upstream_authority);
    for (size_t i = 0; !err && i < in->nheaders; i++) {
        const char *name = in->headers[i].name, *value = in->headers[i].value;
        if (!name || !value)
            continue;
        size_t len = strlen(name);
        bool kept_authorization =
            in->keep_authorization && len == 13 && strcasecmp(name, "authorization") == 0;
        /* dropped fields first: the longest value (Authorization) rarely needs scanning */
        if (name_in(name, len, hop_by_hop) || (name_in(name, len, request_replaced) && !kept_authorization) ||
            ((name[0] | 0x20) == 'x' && strncasecmp(name, "x-user-", 7) == 0) ||
            proxy_connection_lists(connection, name, len) || !valid_name(name, len))
            continue;
        size_t value_len = value_length(value);
        if (value_len == SIZE_MAX)
            continue;
        err = buf_append_field_line(out, name, len, value, value_len);
    }
    if (!err)
        err = add_field(out, "X-User-Id", in->user_id);
    if (!err)
        err = add_field(out, "X-User-Name", in->username);
    if (!err)
        err = add_field(out, "X-Client-Id", in->client_id);
    if (!err)
        err = add_field(out, "X-Request-Id", in->request_id);
    if (!err)
        err = add_field(out, "X-Forwarded-For", in->client_addr);
    if (!err)
        err = add_field(out, "X-Forwarded-Proto", in->scheme);
    if (!err)
        err = add_field(out, "X-Forwarded-Host", in->client_host);
    bool body_method =
        strcmp(in->method, "POST") == 0 || strcmp(in->method, "PUT") == 0 || strcmp(in->method, "PATCH") == 0;
    if (!err && (in->body_len > 0 || body_method)) {
        err = buf_append(out, "Content-Length: ", 16);
        if (!err)
            err = buf_append_decimal(out, (long long)in->body_len);
        if (!err)
            err = buf_append(out, "\r\n", 2);
    }
    if (!err)
        err = buf_append(out, "\r\n", 2);
    return err;
}

bool proxy_response_header_relayed(const char *name, size_t name_len, const char *connection)
{
    if (name_in(name, name_len, hop_by_hop) || proxy_connection_lists(connection, name, name_len))
        return false;
    /* The router's own framing and identity; the core adds Date and X-Request-Id. */
    static const struct field_name own[] = {
        {"content-length", 14}, {"date", 4}, {"x-request-id", 12}, {NULL, 0}};
    return !name_in(name, name_len, own);
}
