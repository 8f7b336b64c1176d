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

// Constants defined as enums or macros whose Swift import is awkward.
static inline uint32_t csystem_epollin(void) { return EPOLLIN; }
static inline uint32_t csystem_epollout(void) { return EPOLLOUT; }
static inline uint32_t csystem_epollerr(void) { return EPOLLERR; }
static inline uint32_t csystem_epollhup(void) { return EPOLLHUP; }
static inline uint32_t csystem_epollrdhup(void) { return EPOLLRDHUP; }
static inline uint32_t csystem_epollet(void) { return EPOLLET; }
#endif
