/*
 * token_record.h - the JSON value of token:{jti} (docs/internals/tokens.md), in one place for
 * every writer: auth's token endpoint (src/auth/token_store.c) and the operator's
 * generate-token (src/ops/token_commands.c).
 */
#ifndef MCPGW_CORE_TOKEN_RECORD_H
#define MCPGW_CORE_TOKEN_RECORD_H

/* What an issued access token stands for. Strings are borrowed; NULL username and scope are
 * written as "". */
struct token_record {
    const char *client_id;
    const char *sub;
    const char *username;
    const char *scope;
    const char *resource; /* the audience */
    long long iat;
    long long exp;
    const char *grant; /* "authorization_code", "refresh_token", "operator" */
};

/* {"client_id","sub","username","resource","iat","exp","grant","scope"} as compact JSON, a new
 * string the caller frees with free(); NULL when a string is not valid UTF-8 (or out of memory). */
char *token_record_json(const struct token_record *record);

#endif
