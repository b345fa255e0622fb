/*
 * fpmfcgi_export.h: force-included (-include) first into every source of the
 * shared libfpmfcgi, which is compiled with -fvisibility=hidden. The public
 * header is read here under default visibility, so exactly the functions it
 * declares are exported; its include guard keeps the sources' own
 * #include "fcgi.h" from reading it again. Not installed.
 */
#ifndef FPMFCGI_EXPORT_H
#define FPMFCGI_EXPORT_H
#pragma GCC visibility push(default)
#include "fcgi.h"
#pragma GCC visibility pop
#endif
