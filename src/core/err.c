#include "err.h"

const char *gw_strerror(enum gw_err err)
{
    switch (err) {
    case GW_OK:
        return "success";
    case GW_ERR_INVALID:
        return "invalid input";
    case GW_ERR_TOO_LARGE:
        return "too large";
    case GW_ERR_NOT_FOUND:
        return "not found";
    case GW_ERR_EXISTS:
        return "already exists";
    case GW_ERR_IO:
        return "input/output error";
    case GW_ERR_TIMEOUT:
        return "timed out";
    case GW_ERR_CONFIG:
        return "configuration error";
    case GW_ERR_TLS:
        return "TLS error";
    case GW_ERR_PROTOCOL:
        return "protocol error";
    case GW_ERR_UNAVAILABLE:
        return "unavailable";
    case GW_ERR_CLOSED:
        return "connection closed";
    }
    return "unknown error";
}
