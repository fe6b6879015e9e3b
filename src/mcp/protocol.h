/*
 * protocol.h - the Streamable HTTP rules that do not need a socket: protocol revisions and
 * their differences, the era of a POST (2025 "legacy" sessions vs 2026-07-28 "modern"
 * per-request metadata), the 2026-07-28 header-vs-body checks, Accept and Content-Type
 * negotiation, Origin validation and the Base64 sentinel of mirrored header values.
 *
 * Pure functions, so the transport (streamable_http.c), the unit tests and the fuzz target
 * all exercise the same code.
 *
 * How the era of a POST is decided (a dual-era endpoint, as the 2026-07-28 versioning page
 * describes and the official SDK implements): a request whose params._meta carries
 * "io.modelcontextprotocol/protocolVersion" is modern, whatever its method; a message without
 * that claim is legacy unless its MCP-Protocol-Version header names a modern revision. The
 * header is a cross-check, never a way to change a body's era.
 */
#ifndef MCPGW_MCP_PROTOCOL_H
#define MCPGW_MCP_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "mcp/jsonrpc.h"

/* The revisions this implementation can serve, oldest first (the order matters: comparisons). */
enum mcp_version {
    MCP_VERSION_UNKNOWN = 0,
    MCP_VERSION_2024_11_05, /* served like 2025-03-26 (older SDKs fall back to it) */
    MCP_VERSION_2025_03_26,
    MCP_VERSION_2025_06_18,
    MCP_VERSION_2025_11_25,
    MCP_VERSION_2026_07_28,
};
#define MCP_VERSION_MAX MCP_VERSION_2026_07_28

#define MCP_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CLIENT_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define MCP_META_SERVER_INFO "io.modelcontextprotocol/serverInfo"

/* "2025-06-18" for a known revision, "" for MCP_VERSION_UNKNOWN. Static. */
const char *mcp_version_name(enum mcp_version version);
/* The revision named exactly by name, or MCP_VERSION_UNKNOWN. name may be NULL. */
enum mcp_version mcp_version_from_name(const char *name);
/* Whether name looks like a revision date (YYYY-MM-DD) of the modern era (2026-07-28 or later,
 * including revisions newer than this code knows). */
bool mcp_version_name_is_modern(const char *name);
/* Legacy revisions allow JSON-RPC batches only up to 2025-03-26 (batching was removed in
 * 2025-06-18). */
bool mcp_version_allows_batch(enum mcp_version version);

/* The revisions a server accepts (MCP_PROTOCOL_VERSIONS_SUPPORTED), newest first. */
struct mcp_versions {
    enum mcp_version list[MCP_VERSION_MAX];
    size_t count;
    /* The legacy revision offered to an initialize naming an unsupported one. */
    enum mcp_version counter_offer;
    /* Assumed for a legacy request without MCP-Protocol-Version and without a session (the
     * transport spec says 2025-03-26). */
    enum mcp_version headerless;
};

/* Build the set from the configured names (unknown names are reported as
 * "WARNING: ..." lines in warnings and skipped) and preferred (MCP_PROTOCOL_VERSION; used as
 * the counter offer when it is a supported legacy revision; may be NULL). GW_ERR_CONFIG with
 * an "ERROR: ..." line in warnings when no usable revision remains. */
enum gw_err mcp_versions_init(struct mcp_versions *out, char *const *names, size_t count,
                              const char *preferred, struct buf *warnings);
bool mcp_versions_has(const struct mcp_versions *versions, enum mcp_version version);
/* Whether any legacy (session-era) revision is supported. */
bool mcp_versions_has_legacy(const struct mcp_versions *versions);
/* A new JSON array of the supported names, newest first (caller decrefs). */
json_t *mcp_versions_json(const struct mcp_versions *versions);
/* Legacy version negotiation (initialize): the requested revision when supported and legacy,
 * else the counter offer. requested may be NULL. */
enum mcp_version mcp_versions_negotiate(const struct mcp_versions *versions, const char *requested);

/* ---- HTTP negotiation ---- */

struct mcp_accept {
    bool present; /* an Accept header was sent */
    bool json;    /* application/json acceptable (q > 0) */
    bool sse;     /* text/event-stream acceptable (q > 0) */
};
/* Parse an Accept header (NULL: absent, which counts as accepting both). Media ranges, wildcards
 * and q-values are understood; q=0 excludes a type. */
void mcp_accept_parse(const char *header, struct mcp_accept *out);
/* Whether a Content-Type is application/json (any case, parameters such as charset allowed). */
bool mcp_content_type_is_json(const char *content_type);
/* Whether a browser Origin is allowed: allowed holds the MCP_CORS_ORIGINS entries; "*" allows
 * every origin. Compared without case and without a trailing '/'. */
bool mcp_origin_allowed(const char *origin, char *const *allowed, size_t count);

/* Decode a mirrored header value (Mcp-Name, Mcp-Param-*): surrounding spaces are dropped; the
 * sentinel form "=?base64?...?=" is Base64-decoded; a plain value must be visible ASCII,
 * spaces or tabs. On GW_OK *out is a new string the caller frees; GW_ERR_INVALID for a bad
 * sentinel, a decoded NUL byte or a character a plain value may not contain. */
enum gw_err mcp_header_value_decode(const char *value, char **out);

/* ---- the era of a POST and the 2026-07-28 checks ---- */

/* The request headers the checks read (each NULL when absent). */
struct mcp_request_headers {
    const char *protocol_version; /* MCP-Protocol-Version */
    const char *method;           /* Mcp-Method */
    const char *name;             /* Mcp-Name */
};

enum mcp_route {
    MCP_ROUTE_LEGACY, /* serve by the 2025 rules (initialize, sessions, ...) */
    MCP_ROUTE_MODERN, /* serve statelessly by the 2026-07-28 rules */
    MCP_ROUTE_REJECT, /* answer http_status with the JSON-RPC error code/message */
};

struct mcp_verdict {
    enum mcp_route route;
    enum mcp_version version; /* MODERN: the revision claimed */
    int http_status;          /* REJECT */
    int code;                 /* REJECT */
    char message[320];        /* REJECT: the error message (may quote header values) */
    /* REJECT with MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION: the version asked for (truncated). */
    char requested[64];
};

/* Decide how to serve a parsed POST body. Checks, in order: a batch may not carry modern
 * messages; a single invalid message is -32600; a modern claim must name a supported modern
 * revision (else -32022), agree with MCP-Protocol-Version (-32020), come with Mcp-Method and,
 * for tools/call, prompts/get and resources/read, Mcp-Name matching the body (-32020), and
 * carry clientCapabilities (-32602); a legacy message's MCP-Protocol-Version must be a
 * supported revision (-32022). Every rejection is HTTP 400. */
void mcp_classify_post(const struct jsonrpc_batch *batch, const struct mcp_request_headers *headers,
                       const struct mcp_versions *supported, struct mcp_verdict *out);

/* The body's protocol-version claim (params._meta[MCP_META_PROTOCOL_VERSION]) when it is a
 * string, else NULL. *present (may be NULL) says whether the key exists at all. Borrowed. */
const char *mcp_envelope_version(const json_t *params, bool *present);

#endif
