/*
 * fcgi_error.c: the fcgi_err and fcgi_phase text tables (a switch with a
 * default, like curl's lib/strerror.c).
 */
#include "fcgi.h"

const char *fcgi_err_str(fcgi_err err) {
  switch (err) {
  case FCGI_OK:
    return "success";
  case FCGI_AGAIN:
    return "more I/O is needed (internal state, not an error)";
  case FCGI_ENOMEM:
    return "out of memory";
  case FCGI_EINVAL:
    return "invalid argument (bad endpoint syntax or a parameter too large)";
  case FCGI_ERESOLVE:
    return "the host name did not resolve";
  case FCGI_ENOENT:
    return "no such socket: nothing exists at that path";
  case FCGI_EACCES:
    return "permission denied on the socket or a directory on its path";
  case FCGI_ECONNREFUSED:
    return "connection refused: nobody is listening (stopped server or stale "
           "socket)";
  case FCGI_EBACKLOG:
    return "the listen backlog is full: every worker is busy and the queue "
           "is full";
  case FCGI_ECONNECT:
    return "could not connect to the FastCGI server";
  case FCGI_EIO:
    return "sending to or receiving from the FastCGI server failed";
  case FCGI_ETIMEDOUT:
    return "the deadline passed before the response was complete";
  case FCGI_ECANCELED:
    return "the request was cancelled";
  case FCGI_ECLOSED:
    return "the server closed the connection before the end of the request";
  case FCGI_EPROTO:
    return "the server broke the FastCGI protocol";
  case FCGI_EOVERLOADED:
    return "the FastCGI server is overloaded (protocolStatus OVERLOADED)";
  case FCGI_ECANTMPX:
    return "the FastCGI server cannot multiplex connections (protocolStatus "
           "CANT_MPX_CONN)";
  case FCGI_EUNKNOWNROLE:
    return "the FastCGI server does not support the role (protocolStatus "
           "UNKNOWN_ROLE)";
  case FCGI_ETOOBIG:
    return "the response is larger than its configured cap";
  case FCGI_ENOFILES:
    return "too many open files for another socket";
  case FCGI_ENOTFCGI:
    return "the peer does not speak FastCGI (its answer looks like HTTP)";
  default:
    return "unknown FastCGI client error code";
  }
}

const char *fcgi_err_name(fcgi_err err) {
  static const char *const names[] = {
      "FCGI_OK",          "FCGI_AGAIN",        "FCGI_ENOMEM",
      "FCGI_EINVAL",      "FCGI_ERESOLVE",     "FCGI_ENOENT",
      "FCGI_EACCES",      "FCGI_ECONNREFUSED", "FCGI_EBACKLOG",
      "FCGI_ECONNECT",    "FCGI_EIO",          "FCGI_ETIMEDOUT",
      "FCGI_ECANCELED",   "FCGI_ECLOSED",      "FCGI_EPROTO",
      "FCGI_EOVERLOADED", "FCGI_ECANTMPX",     "FCGI_EUNKNOWNROLE",
      "FCGI_ETOOBIG",     "FCGI_ENOTFCGI",     "FCGI_ENOFILES"};
  _Static_assert(sizeof names / sizeof names[0] == FCGI_ERR_LAST,
                 "one name per fcgi_err");
  if ((int)err < 0 || err >= FCGI_ERR_LAST)
    return "FCGI_E?";
  return names[err];
}

const char *fcgi_phase_name(fcgi_phase phase) {
  switch (phase) {
  case FCGI_PHASE_CONNECT:
    return "connect";
  case FCGI_PHASE_SEND:
    return "send";
  case FCGI_PHASE_RECV:
    return "response";
  default:
    return "none";
  }
}
