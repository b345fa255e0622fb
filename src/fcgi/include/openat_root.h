/*
 * openat_root.h: open a path inside a directory as if that directory were
 * "/" (what openat2's RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS does): an
 * absolute symbolic link restarts at that directory, ".." stops there, and
 * no link of /proc's kind ("/proc/self/fd/N") is followed. Uses openat2
 * where the kernel has it (Linux 5.6), else an equivalent walk one
 * component at a time (each opened with O_NOFOLLOW, each link read and
 * resolved by hand, at most 40 links).
 *
 * Generic (no FastCGI or PHP-FPM knowledge); used by the FastCGI client
 * for a unix socket in a container and by discovery for a container's
 * configuration files. Thread-safe: no state.
 */
#ifndef FPM_OPENAT_ROOT_H
#define FPM_OPENAT_ROOT_H

#ifdef __cplusplus
extern "C" {
#endif

/* A new descriptor for path (absolute or relative: both start at root_fd,
 * an O_PATH or O_RDONLY descriptor of a directory) opened with flags
 * (O_CLOEXEC is added), or -1 with errno set (ELOOP: too many links). */
int openat_root(int root_fd, const char *path, int flags);

/* The same without openat2, whatever the kernel (for tests). */
int openat_root_walk(int root_fd, const char *path, int flags);

#ifdef __cplusplus
}
#endif
#endif /* FPM_OPENAT_ROOT_H */
