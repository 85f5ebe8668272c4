/**
 * The drills that break the single broker under Herald: SIGKILL and restart
 * it, or SIGSTOP it past Kafka's timeout and SIGCONT it.
 *
 * @module
 */
import { startKafka } from "../kafka/mod.ts";
import { waitReady } from "./herald.ts";
import { type Outcome, sleep, startLoad, waitFor } from "./load.ts";
import { drill, MB, seconds } from "./steps.ts";
import type { Drill } from "./types.ts";

/** SIGKILL the broker under load, restart it, Herald recovers by itself. */
export const brokerKill9: Drill = (ctx) =>
  drill("broker-kill9", ctx, async (run) => {
    await run.setup();
    const shared = await ctx.broker();
    const herald = await run.startReady("kafka,parquet");
    const load = startLoad({ prefix: "broker-kill9", url: () => herald.url });
    const phaseMs = Math.max(1500, (ctx.seconds * 1000) / 2);
    await sleep(phaseMs);
    const old = shared.current;
    await old.kill("SIGKILL");
    const killedAt = Date.now();
    run.log("broker killed");
    await sleep(Math.max(2000, phaseMs));
    shared.current = await startKafka({
      dir: old.dir,
      port: old.port,
      controllerPort: old.controllerPort,
    });
    const restartedAt = Date.now();
    run.log(`broker restarted in ${seconds(restartedAt - killedAt)}`);
    const ready = await waitReady(herald.url, 60_000);
    const readyAt = Date.now();
    run.check(ready, "Herald's /readyz never said 200 again after the broker came back");
    const resumed = await waitFor(
      () => load.outcomes.some((o) => o.sentAt > restartedAt && o.status === 200),
      30_000,
    );
    run.check(resumed, "no 2xx after the broker came back (without restarting Herald)");
    await sleep(1000);
    const outcomes = await load.stop();
    run.check(herald.child.pid === run.herald?.pid, "Herald was restarted");
    const during = outcomes.filter((o) => o.sentAt > killedAt + 500 && o.sentAt < restartedAt);
    run.check(
      during.some((o) => o.status === 503),
      "no 503 while the broker was down",
    );
    run.check(
      during.every((o) => o.status !== 200),
      `${during.filter((o) => o.status === 200).length} requests got 2xx while the broker was down`,
    );
    await run.stopClean();
    run.notes.push(
      `broker down ${seconds(restartedAt - killedAt)}; ready ${
        seconds(readyAt - restartedAt)
      } after restart`,
    );
    return run.verdict(outcomes, { kafka: true, lake: true });
  });

/** SIGSTOP the broker past Kafka's timeout: fast 503s, bounded memory, recovery on SIGCONT. */
export const brokerStop: Drill = (ctx) =>
  drill("broker-stop", ctx, async (run) => {
    await run.setup();
    const shared = await ctx.broker();
    const herald = await run.startReady("kafka,parquet");
    run.sampleRss();
    const load = startLoad({ prefix: "broker-stop", url: () => herald.url });
    const ack = run.ackTimeoutMs;
    const kafkaTimeout = Number(run.config.kafka!.timeout_ms);
    const stopMs = Math.max(kafkaTimeout * 3, 6000);
    await sleep(Math.max(1000, (ctx.seconds * 1000) / 3));
    const pid = shared.current.pid;
    let stopped = false;
    let stopAt = 0, contAt = 0;
    try {
      Deno.kill(pid, "SIGSTOP");
      stopped = true;
      stopAt = Date.now();
      run.log(`broker stopped for ${seconds(stopMs)}`);
      await sleep(stopMs);
    } finally {
      if (stopped) Deno.kill(pid, "SIGCONT");
      contAt = Date.now();
    }
    const resumed = await waitFor(
      () => load.outcomes.some((o) => o.sentAt > contAt && o.status === 200),
      30_000,
    );
    const resumedAt = Date.now();
    run.check(resumed, "no 2xx within 30 s of SIGCONT (without restarting Herald)");
    await sleep(1000);
    const outcomes = await load.stop();
    const limit = ack + 1000;
    const answeredAt = (o: Outcome) => o.sentAt + o.ms;
    // Answered while stopped (a little after SIGSTOP, so no answer already on
    // its way counts): each must be a 503, within the limit.
    const answered = outcomes.filter((o) =>
      answeredAt(o) >= stopAt + 200 && answeredAt(o) <= contAt
    );
    // In flight or sent while stopped, early enough that the answer was due
    // before SIGCONT: none may take longer than the limit.
    const due = outcomes.filter((o) => o.sentAt >= stopAt - limit && o.sentAt <= contAt - limit);
    const maxLatency = Math.max(0, ...answered.map((o) => o.ms), ...due.map((o) => o.ms));
    run.check(answered.length > 0, "no request was answered while the broker was stopped");
    // A 2xx while stopped can only carry an ack the broker sent before SIGSTOP;
    // on a busy machine it may reach the client late, so only requests sent
    // after SIGSTOP must be 503s (nothing could have acked them).
    const not503 = answered.filter((o) => o.sentAt > stopAt && o.status !== 503);
    run.check(
      not503.length === 0,
      `${not503.length} requests sent and answered while the broker was stopped got ${
        [...new Set(not503.map((o) => o.status))].join("/")
      }, not 503`,
    );
    run.check(
      maxLatency <= limit,
      `a request took ${maxLatency} ms while the broker was stopped (limit ${limit} ms)`,
    );
    const fast = answered.filter((o) => o.ms < kafkaTimeout).length;
    // Once the sink has seen no ack for kafka.timeout_ms it refuses at once:
    // later requests must not wait for the ack timeout.
    const late = answered.filter((o) => o.sentAt > stopAt + kafkaTimeout + 500);
    const slowLate = late.filter((o) => o.ms > 1000);
    run.check(
      late.length > 0 && slowLate.length === 0,
      `${slowLate.length} of ${late.length} requests sent after kafka.timeout_ms of silence ` +
        `waited over 1 s for their 503`,
    );
    run.check(run.maxRss > 0, "Herald's RSS could not be read");
    run.check(run.maxRss < 400 * MB, `Herald's RSS reached ${(run.maxRss / MB).toFixed(0)} MB`);
    await run.stopClean();
    run.notes.push(
      `stopped ${seconds(stopMs)}: ${answered.length} answered (all 503: ${
        not503.length === 0
      }; ${fast} faster than kafka.timeout_ms), max latency ${maxLatency} ms ` +
        `(limit ${limit}); max RSS ${(run.maxRss / MB).toFixed(0)} MB; ` +
        `2xx ${seconds(resumedAt - contAt)} after SIGCONT`,
    );
    return run.verdict(outcomes, { kafka: true, lake: true });
  });
