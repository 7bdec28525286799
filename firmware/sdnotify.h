/*
 * sdnotify — the systemd notify protocol (READY=1, WATCHDOG=1, STATUS=...,
 * STOPPING=1) without linking libsystemd: one datagram to $NOTIFY_SOCKET.
 */
#ifndef FIRMWARE_SDNOTIFY_H
#define FIRMWARE_SDNOTIFY_H

#include <stdint.h>

/*
 * Sends state (e.g. "READY=1\nSTATUS=running") to $NOTIFY_SOCKET.
 * 1 sent, 0 not under systemd (no NOTIFY_SOCKET), -errno on failure.
 */
int sdnotify_send(const char *state);

/*
 * The watchdog interval systemd asks for ($WATCHDOG_USEC, if $WATCHDOG_PID
 * is unset or ours), in microseconds; 0 when not asked.
 */
uint64_t sdnotify_watchdog_usec(void);

#endif
