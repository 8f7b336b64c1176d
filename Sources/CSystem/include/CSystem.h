#ifndef SLUICE_CSYSTEM_H
#define SLUICE_CSYSTEM_H
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>

// accept4 and pipe2 need _GNU_SOURCE, which is set only in CSystem.c so that
// it does not leak into every module importing this header.
int csystem_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
int csystem_pipe2(int fds[2], int flags);

// Thread id of the calling thread, for log lines.
int csystem_gettid(void);

// The event loop that owns the calling thread, or NULL. Stored in a C
// thread-local so that checking it costs one load and no lock.
void *csystem_current_event_loop(void);
void csystem_set_current_event_loop(void *loop);

// Names the calling thread (at most 15 bytes are kept), for debuggers and top -H.
void csystem_set_thread_name(const char *name);

// Number of CPUs this process may run on (sched_getaffinity), at least 1.
int csystem_available_cpu_count(void);

// Installs a handler for `signal_number` that writes the signal number as one
// byte to `fd` (a non-blocking pipe), so an event loop can read it. Returns 0
// or -1 with errno set. All signals installed this way share one `fd`.
int csystem_install_signal_pipe(int signal_number, int fd);
// Restores the default action for `signal_number` and detaches the pipe from
// every installed handler. Returns 0 or -1 with errno set.
int csystem_restore_default_signal(int signal_number);

// Constants defined as enums or macros whose Swift import is awkward.
static inline uint32_t csystem_epollin(void) { return EPOLLIN; }
static inline uint32_t csystem_epollout(void) { return EPOLLOUT; }
static inline uint32_t csystem_epollerr(void) { return EPOLLERR; }
static inline uint32_t csystem_epollhup(void) { return EPOLLHUP; }
static inline uint32_t csystem_epollrdhup(void) { return EPOLLRDHUP; }
static inline uint32_t csystem_epollet(void) { return EPOLLET; }
#endif
