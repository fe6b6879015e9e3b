/*
 * protocol.c - revisions, negotiation helpers and the 2026-07-28 header-vs-body checks.
 */
#include "mcp/protocol.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

static const char *const version_names[] = {
    [MCP_VERSION_UNKNOWN] = "",
    [MCP_VERSION_2024_11_05] = "2024-11-05",
    [MCP_VERSION_2025_03_26] = "2025-03-26",
    [MCP_VERSION_2025_06_18] = "2025-06-18",
    [MCP_VERSION_2025_11_25] = "2025-11-25",
    [MCP_VERSION_2026_07_28] = "2026-07-28",
};

const char *mcp_version_name(enum mcp_version version)
{
    return version <= MCP_VERSION_MAX ? version_names[version] : "";
}

enum mcp_version mcp_version_from_name(const char *name)
{
    if (!name)
        return MCP_VERSION_UNKNOWN;
    for (int v = MCP_VERSION_2024_11_05; v <= MCP_VERSION_MAX; v++)
        if (strcmp(name, version_names[v]) == 0)
            return (enum mcp_version)v;
    return MCP_VERSION_UNKNOWN;
}

static bool is_revision_date(const char *s)
{
    if (!s || strlen(s) != 10)
        return false;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return false;
        } else if (!isdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool mcp_version_name_is_modern(const char *name)
{
    /* Dates compare correctly as strings once they have the YYYY-MM-DD shape. */
    return is_revision_date(name) && strcmp(name, version_names[MCP_VERSION_2026_07_28]) >= 0;
}

bool mcp_version_allows_batch(enum mcp_version version)
{
    return version != MCP_VERSION_UNKNOWN && version <= MCP_VERSION_2025_03_26;
}

bool mcp_versions_has(const struct mcp_versions *versions, enum mcp_version version)
{
    for (size_t i = 0; i < versions->count; i++)
        if (versions->list[i] == version)
            return true;
    return false;
}

bool mcp_versions_has_legacy(const struct mcp_versions *versions)
{
    for (size_t i = 0; i < versions->count; i++)
        if (versions->list[i] < MCP_VERSION_2026_07_28)
            return true;
    return false;
}

enum gw_err mcp_versions_init(struct mcp_versions *out, char *const *names, size_t count,
                              const char *preferred, struct buf *warnings)
{
    memset(out, 0, sizeof(*out));
    bool seen[MCP_VERSION_MAX + 1] = {false};
    for (size_t i = 0; i < count; i++) {
        enum mcp_version v = mcp_version_from_name(names[i]);
        if (v == MCP_VERSION_UNKNOWN) {
            if (warnings)
                buf_printf(warnings,
                           "WARNING: MCP_PROTOCOL_VERSIONS_SUPPORTED: %s is not a revision this build "
                           "serves; ignored\n",
                           names[i]);
            continue;
        }
        seen[v] = true;
    }
    for (int v = MCP_VERSION_MAX; v > MCP_VERSION_UNKNOWN; v--)
        if (seen[v])
            out->list[out->count++] = (enum mcp_version)v;
    if (out->count == 0) {
        if (warnings)
            buf_append_str(
                warnings,
                "ERROR: MCP_PROTOCOL_VERSIONS_SUPPORTED names no protocol revision this build serves\n");
        return GW_ERR_CONFIG;
    }
    /* The newest supported legacy revision, unless the operator prefers another one. */
    for (size_t i = 0; i < out->count && !out->counter_offer; i++)
        if (out->list[i] < MCP_VERSION_2026_07_28)
            out->counter_offer = out->list[i];
    enum mcp_version pref = mcp_version_from_name(preferred);
    if (pref != MCP_VERSION_UNKNOWN && pref < MCP_VERSION_2026_07_28 && seen[pref])
        out->counter_offer = pref;
    out->headerless = seen[MCP_VERSION_2025_03_26] ? MCP_VERSION_2025_03_26 : out->counter_offer;
    return GW_OK;
}

json_t *mcp_versions_json(const struct mcp_versions *versions)
{
    json_t *array = json_array();
    if (!array)
        gw_oom(0);
    for (size_t i = 0; i < versions->count; i++)
        json_array_append_new(array, json_string(mcp_version_name(versions->list[i])));
    return array;
}

enum mcp_version mcp_versions_negotiate(const struct mcp_versions *versions, const char *requested)
{
    enum mcp_version v = mcp_version_from_name(requested);
    if (v != MCP_VERSION_UNKNOWN && v < MCP_VERSION_2026_07_28 && mcp_versions_has(versions, v))
        return v;
    return versions->counter_offer;
}

/* ---- HTTP negotiation ---- */

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One media range of an Accept header: type/subtype and its q (1.0 when absent). */
static const char *next_media_range(const char *p, char *type, size_t type_size, double *q)
{
    size_t n = 0;
    p = skip_space(p);
    while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') {
        if (n + 1 < type_size)
            type[n++] = (char)tolower((unsigned char)*p);
        p++;
    }
    type[n] = '\0';
    *q = 1.0;
    while (*p && *p != ',') {
        if (*p != ';') {
            p++;
            continue;
        }
        p = skip_space(p + 1); /* may stop on the terminating NUL: never step past it */
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char *end;
            double v = strtod(p + 2, &end);
            if (end != p + 2)
                *q = v;
            p = end;
        }
    }
    return *p == ',' ? p + 1 : p;
}

void mcp_accept_parse(const char *header, struct mcp_accept *out)
{
    memset(out, 0, sizeof(*out));
    if (!header) {
        out->json = out->sse = true;
        return;
    }
    out->present = true;
    /* Specific types override wildcards, whatever their order (RFC 9110 12.5.1). */
    int json_q = -1, sse_q = -1, app_any = -1, text_any = -1, any = -1;
    const char *p = header;
    while (*p) {
        char type[64];
        double q;
        p = next_media_range(p, type, sizeof(type), &q);
        int weight = q > 0 ? 1 : 0;
        if (strcmp(type, "application/json") == 0)
            json_q = weight;
        else if (strcmp(type, "text/event-stream") == 0)
            sse_q = weight;
        else if (strcmp(type, "application/*") == 0)
            app_any = weight;
        else if (strcmp(type, "text/*") == 0)
            text_any = weight;
        else if (strcmp(type, "*/*") == 0)
            any = weight;
    }
    out->json = json_q >= 0 ? json_q : app_any >= 0 ? app_any : any > 0;
    out->sse = sse_q >= 0 ? sse_q : text_any >= 0 ? text_any : any > 0;
}

bool mcp_content_type_is_json(const char *content_type)
{
    if (!content_type)
        return false;
    const char *p = skip_space(content_type);
    size_t n = strlen("application/json");
    if (strncasecmp(p, "application/json", n) != 0)
        return false;
    p = skip_space(p + n);
    return *p == '\0' || *p == ';';
}

bool mcp_origin_allowed(const char *origin, char *const *allowed, size_t count)
{
    size_t len = strlen(origin);
    while (len && origin[len - 1] == '/')
        len--;
    for (size_t i = 0; i < count; i++) {
        const char *a = allowed[i];
        if (strcmp(a, "*") == 0)
            return true;
        size_t alen = strlen(a);
        while (alen && a[alen - 1] == '/')
            alen--;
        if (alen == len && strncasecmp(a, origin, len) == 0)
            return true;
    }
    return false;
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard Base64 with padding; the output is NUL-terminated and has no NUL inside. */
static enum gw_err base64_decode_strict(const char *in, size_t len, char **out)
{
    if (len % 4 != 0)
        return GW_ERR_INVALID;
    char *dst = gw_malloc(len / 4 * 3 + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int a = base64_value((unsigned char)in[i]), b = base64_value((unsigned char)in[i + 1]);
        if (a < 0 || b < 0)
            goto invalid;
        dst[n++] = (char)(a << 2 | b >> 4);
        if (last && in[i + 2] == '=' && in[i + 3] == '=')
            break;
        int c = base64_value((unsigned char)in[i + 2]);
        if (c < 0)
            goto invalid;
        dst[n++] = (char)((b & 15) << 4 | c >> 2);
        if (last && in[i + 3] == '=')
            break;
        int d = base64_value((unsigned char)in[i + 3]);
        if (d < 0)
            goto invalid;
        dst[n++] = (char)((c & 3) << 6 | d);
    }
    dst[n] = '\0';
    if (memchr(dst, '\0', n))
        goto invalid;
    *out = dst;
    return GW_OK;
invalid:
    free(dst);
    return GW_ERR_INVALID;
}

enum gw_err mcp_header_value_decode(const char *value, char **out)
{
    *out = NULL;
    const char *start = skip_space(value);
    size_t len = strlen(start);
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    static const char prefix[] = "=?base64?", suffix[] = "?=";
    size_t plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1;
    if (len >= plen + slen && memcmp(start, prefix, plen) == 0 &&
        memcmp(start + len - slen, suffix, slen) == 0)
        return base64_decode_strict(start + plen, len - plen - slen, out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)start[i];
        if (!(c == '\t' || (c >= 0x20 && c <= 0x7e)))
            return GW_ERR_INVALID;
    }
    *out = gw_strndup(start, len);
    return GW_OK;
}

/* ---- the era of a POST ---- */

const char *mcp_envelope_version(const json_t *params, bool *present)
{
    json_t *meta = json_is_object(params) ? json_object_get(params, "_meta") : NULL;
    json_t *v = json_is_object(meta) ? json_object_get(meta, MCP_META_PROTOCOL_VERSION) : NULL;
    if (present)
        *present = v != NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void reject(struct mcp_verdict *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reject(struct mcp_verdict *out, int code, const char *fmt, ...)
{
    out->route = MCP_ROUTE_REJECT;
    out->http_status = 400;
    out->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}

static void reject_version(struct mcp_verdict *out, const char *requested)
{
    reject(out, MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version");
    snprintf(out->requested, sizeof(out->requested), "%s", requested ? requested : "");
}

/* Where Mcp-Name comes from for the methods that mirror it (2026-07-28 "Standard Request
 * Headers"); NULL for the others. */
static const char *name_source(const char *method)
{
    if (strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0)
        return "name";
    if (strcmp(method, "resources/read") == 0)
        return "uri";
    return NULL;
}

/* The -32020 checks of Mcp-Method and Mcp-Name (presence only demanded of requests). */
static bool check_mirrored_headers(const struct jsonrpc_message *m, const struct mcp_request_headers *h,
                                   struct mcp_verdict *out)
{
    bool is_request = m->kind == JSONRPC_REQUEST;
    if (!h->method) {
        if (is_request) {
            reject(out, MCP_ERROR_HEADER_MISMATCH,
                   "Header mismatch: the required Mcp-Method header is missing");
            return false;
        }
    } else if (strcmp(h->method, m->method) != 0) {
        reject(out, MCP_ERROR_HEADER_MISMATCH,
               "Header mismatch: Mcp-Method header value '%.100s' does not match body value '%.100s'",
               h->method, m->method);
        return false;
    }
    const char *field = is_request ? name_source(m->method) : NULL;
    if (!field)
        return true;
    const char *body_value = jsonrpc_param_string(m->params, field);
    if (!h->name) {
        if (body_value) {
            reject(out, MCP_ERROR_HEADER_MISMATCH,
                   "Header mismatch: the required Mcp-Name header is missing");
            return false;
        }
        return true;
    }
    char *decoded;
    if (mcp_header_value_decode(h->name, &decoded) != GW_OK) {
        reject(out, MCP_ERROR_HEADER_MISMATCH, "Header mismatch: the Mcp-Name header value is malformed");
        return false;
    }
    bool same = body_value && strcmp(decoded, body_value) == 0;
    if (!same)
        reject(out, MCP_ERROR_HEADER_MISMATCH,
               "Header mismatch: Mcp-Name header value '%.100s' does not match body value '%.100s'", decoded,
               body_value ? body_value : "(none)");
    free(decoded);
    return same;
}

static void classify_modern_claim(const struct jsonrpc_message *m, const char *claim,
                                  const struct mcp_request_headers *h, const struct mcp_versions *supported,
                                  struct mcp_verdict *out)
{
    enum mcp_version v = mcp_version_from_name(claim);
    if (v < MCP_VERSION_2026_07_28 || !mcp_versions_has(supported, v)) {
        /* Unknown, not configured, or a 2025 revision sent through the 2026 mechanism. */
        reject_version(out, claim);
        return;
    }
    if (m->kind == JSONRPC_REQUEST && !h->protocol_version) {
        reject(out, MCP_ERROR_HEADER_MISMATCH,
               "Header mismatch: the required MCP-Protocol-Version header is missing");
        return;
    }
    if (h->protocol_version && strcmp(h->protocol_version, claim) != 0) {
        reject(out, MCP_ERROR_HEADER_MISMATCH,
               "Header mismatch: MCP-Protocol-Version header value '%.60s' does not match body value '%.60s'",
               h->protocol_version, claim);
        return;
    }
    if (!check_mirrored_headers(m, h, out))
        return;
    if (m->kind == JSONRPC_REQUEST) {
        json_t *meta = json_object_get(m->params, "_meta");
        json_t *caps = json_object_get(meta, MCP_META_CLIENT_CAPABILITIES);
        if (!json_is_object(caps)) {
            reject(out, JSONRPC_INVALID_PARAMS, "Invalid params: _meta must carry an object \"%s\"",
                   MCP_META_CLIENT_CAPABILITIES);
            return;
        }
    }
    out->route = MCP_ROUTE_MODERN;
    out->version = v;
}

void mcp_classify_post(const struct jsonrpc_batch *batch, const struct mcp_request_headers *headers,
                       const struct mcp_versions *supported, struct mcp_verdict *out)
{
    memset(out, 0, sizeof(*out));
    const char *header_version = headers->protocol_version;
    bool header_modern = mcp_version_name_is_modern(header_version);
    if (batch->is_array) {
        for (size_t i = 0; i < batch->count; i++) {
            bool claimed = false;
            mcp_envelope_version(batch->messages[i].params, &claimed);
            if (claimed || header_modern) {
                reject(out, JSONRPC_INVALID_REQUEST,
                       "Invalid Request: batches are not part of protocol version 2026-07-28");
                return;
            }
        }
        if (header_version && !mcp_versions_has(supported, mcp_version_from_name(header_version))) {
            reject_version(out, header_version);
            return;
        }
        out->route = MCP_ROUTE_LEGACY;
        return;
    }
    const struct jsonrpc_message *m = &batch->messages[0];
    if (m->kind == JSONRPC_INVALID) {
        reject(out, JSONRPC_INVALID_REQUEST, "%s", m->invalid_reason);
        return;
    }
    bool claimed = false;
    const char *claim = m->kind == JSONRPC_RESPONSE ? NULL : mcp_envelope_version(m->params, &claimed);
    if (claimed && !claim) {
        reject(out, JSONRPC_INVALID_PARAMS, "Invalid params: _meta \"%s\" must be a string",
               MCP_META_PROTOCOL_VERSION);
        return;
    }
    if (claim) {
        classify_modern_claim(m, claim, headers, supported, out);
        return;
    }
    if (header_version && !mcp_versions_has(supported, mcp_version_from_name(header_version))) {
        reject_version(out, header_version);
        return;
    }
    if (header_modern) {
        if (m->kind == JSONRPC_RESPONSE) {
            reject(out, JSONRPC_INVALID_REQUEST,
                   "Invalid Request: clients do not send responses in protocol version %.20s",
                   header_version);
            return;
        }
        if (m->kind == JSONRPC_REQUEST) {
            reject(out, JSONRPC_INVALID_PARAMS,
                   "Invalid params: a %.20s request must carry _meta \"%s\" and \"%s\"", header_version,
                   MCP_META_PROTOCOL_VERSION, MCP_META_CLIENT_CAPABILITIES);
            return;
        }
        /* A notification: its era comes from the header (notifications carry no claim). */
        if (!check_mirrored_headers(m, headers, out))
            return;
        out->route = MCP_ROUTE_MODERN;
        out->version = mcp_version_from_name(header_version);
        return;
    }
    out->route = MCP_ROUTE_LEGACY;
}
