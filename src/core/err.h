/*
 * err.h - the one error convention of mcpgw.
 *
 * Every fallible function returns an `enum gw_err`; GW_OK (0) is success, so callers write
 *     err = thing(); if (err) return err;
 * Out-of-memory is not an error code: allocation failure aborts the process through
 * gw_oom() (see alloc.h), as redis and h2o do, because a gateway that keeps running after a
 * failed malloc can only fail in stranger ways later.
 */
#ifndef MCPGW_CORE_ERR_H
#define MCPGW_CORE_ERR_H

enum gw_err {
    GW_OK = 0,
    GW_ERR_INVALID,     /* bad argument or malformed input */
    GW_ERR_TOO_LARGE,   /* input exceeds a configured cap */
    GW_ERR_NOT_FOUND,   /* no such key / file / route */
    GW_ERR_EXISTS,      /* already exists / already in use */
    GW_ERR_IO,          /* system call failed; errno holds the reason */
    GW_ERR_TIMEOUT,     /* deadline passed */
    GW_ERR_CONFIG,      /* configuration is missing or invalid */
    GW_ERR_TLS,         /* TLS setup or handshake failed */
    GW_ERR_PROTOCOL,    /* peer spoke the protocol wrongly */
    GW_ERR_UNAVAILABLE, /* dependency (Redis, upstream) is down */
    GW_ERR_CLOSED,      /* connection closed before completion */
};

/* A static English description of err. Never NULL. */
const char *gw_strerror(enum gw_err err);

#endif
