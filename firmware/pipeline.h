/*
 * pipeline — the box's stages and the rings between them, built from the
 * config, run under the supervisor.
 *
 *   ble ──[ble ring: SPSC, drop-oldest]──> presence ──┐
 *   camera ──[frame ring: SPSC, drop-oldest]──> face ──┼─[event ring: MPSC, reject]─> conversation
 *   gpio ──────────────────────────────────────────────┘
 *
 * docs/ARCHITECTURE.md has the capacities, priorities and owners.
 * Devices are opened once in pipeline_create (so their config keys are read
 * and checked before the daemon reports ready) and again by a stage's init
 * when the supervisor restarts it. The display sockets, which clients can
 * reach, are created by pipeline_start.
 */
#ifndef FIRMWARE_PIPELINE_H
#define FIRMWARE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;
struct pipeline;
struct supervisor;

/*
 * Builds the pipeline from cfg (which must outlive it): rings, stages,
 * store, devices. A device that cannot be opened is logged once and left to
 * the supervisor (its stage retries, then is marked failed); the pipeline
 * is still created. Errors: -EINVAL for a bad config (err says file, line,
 * key, expected), -ENOMEM, or the store's -errno (err says why).
 */
int pipeline_create(const struct config *cfg, struct pipeline **ret, struct config_error *err);

/* Creates the kiosk and staff sockets (only now: a config that is refused
 * after pipeline_create never opens them) and starts every stage. Once per
 * pipeline. 0 or -errno. */
int pipeline_start(struct pipeline *p);

/* One supervision round: restarts, watchdog, status file when due. */
void pipeline_tick(struct pipeline *p, uint64_t now_ns);

/* Stops producers first so the conversation stage drains the events into
 * the store, then closes the devices. */
void pipeline_stop(struct pipeline *p);

/* Closes the store and frees everything; NULL is fine. */
void pipeline_free(struct pipeline *p);

/* How often pipeline_tick wants to run, in ms. */
int pipeline_tick_ms(const struct pipeline *p);

struct supervisor *pipeline_supervisor(struct pipeline *p);

/* The control socket, for staff tablets' pairing PINs and device tokens
 * ([staff] pairing = required). NULL: no tablet gets in. */
struct control;
void pipeline_set_control(struct pipeline *p, struct control *c);

/*
 * The status as one JSON object (stages, rings, watchdog, uptime), written
 * into a new string *ret (caller frees). 0 or -ENOMEM.
 */
int pipeline_status_json(struct pipeline *p, char **ret);

/* Writes the status file now (atomically: temp file + rename). 0 or -errno. */
int pipeline_write_status(struct pipeline *p);

#endif
