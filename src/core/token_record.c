/*
 * token_record.c - see token_record.h.
 */
#include "token_record.h"

#include <stdlib.h>

#include <jansson.h>
char *token_record_json(const struct token_record *r)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "client_id", r->client_id ? r->client_id : "",
                  "sub", r->sub ? r->sub : "", "username", r->username ? r->username : "", "resource",
                  r->resource ? r->resource : "", "iat", (json_int_t)r->iat, "exp", (json_int_t)r->exp,
                  "grant", r->grant ? r->grant : "", "scope", r->scope ? r->scope : "");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
