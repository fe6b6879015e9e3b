/*
 * config_internal.h - what config.c, config_env.c and config_schema.c share; not for other
 * modules (use config.h).
 */
#ifndef MCPGW_CORE_CONFIG_INTERNAL_H
#define MCPGW_CORE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"

#define CONFIG_ENV_FILE_MAX (1024 * 1024) /* bytes of .env text */
#define CONFIG_VALUE_MAX (64 * 1024)      /* bytes of one value after expansion */
#define CONFIG_MAX_ENTRIES 4096           /* keys in one config, defaults included */

/* The stored value of name (defaults included), borrowed from cfg; NULL when absent. */
const char *config_lookup(const struct config *cfg, const char *name);
/* Set name to a copy of value, replacing any earlier value. GW_ERR_TOO_LARGE when the config
 * already holds CONFIG_MAX_ENTRIES keys. */
enum gw_err config_store(struct config *cfg, const char *name, const char *value, bool from_default);
/* Parse .env text into cfg (config_env.c). Appends "ERROR: .env line N: ..." lines to errors
 * (may be NULL) and returns how many problems it found (0: success). */
size_t config_parse_env(struct config *cfg, const char *text, size_t len, bool use_environ,
                        struct buf *errors);

#endif
