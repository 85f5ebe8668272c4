/**
 * The whole pipeline on the 3-node cluster: two Herald processes write the
 * topic, two landers of one consumer group land it into one lake, and one of
 * each dies by kill -9 under load.
 *
 * @module
 */
import { CLUSTER_OVERRIDES, faultNotes } from "./cluster_drills.ts";
import { sleep, startLoad, waitFor } from "./load.ts";
import { kafkaCounts, lakeCounts } from "./oracle.ts";
import { drill, seconds } from "./steps.ts";
import type { Drill } from "./types.ts";

/** Clients per Herald. */
const CLIENTS = 8;

/** The sum of a count map's values. */
const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/**
 * Two Heralds (Kafka sink) and two landers: kill -9 one Herald (its clients
 * move to the other) and the lander owning more partitions; the survivor
 * takes them over from the committed offsets and the claims. Every 2xx is in
 * Kafka once and in the lake once, and the lake holds every record of the
 * topic exactly as often as the topic does (the lander's promise).
 */
export const clusterHeraldLanderKill9: Drill = (ctx) =>
  drill("cluster-herald-lander-kill9", ctx, async (run) => {
    await run.setup(CLUSTER_OVERRIDES);
    const cluster = await ctx.cluster();
    const [a, b] = await Promise.all([
      run.startReady("kafka", { brokers: cluster.brokers }),
      run.startReady("kafka", { brokers: cluster.brokers }),
    ]);
    const topic = run.topic;
    const partitions = (await cluster.leaders(topic)).length;
    const group = `${topic}-landers`;
    const landers = await Promise.all([run.startLander(group), run.startLander(group)]);
    const owned = () => landers.map((l) => l.assigned(topic).length);
    const split = await waitFor(() => {
      const [x = 0, y = 0] = owned();
      return x > 0 && y > 0 && x + y === partitions;
    }, 60_000);
    if (!split) throw new Error(`The landers never split the ${partitions} partitions: ${owned()}`);
    let aAlive = true;
    const toA = startLoad({
      prefix: `${run.name}-a`,
      url: () => aAlive ? a.url : b.url,
      concurrency: CLIENTS,
    });
    const toB = startLoad({ prefix: `${run.name}-b`, url: () => b.url, concurrency: CLIENTS });
    const phaseMs = Math.max(1500, (ctx.seconds * 1000) / 2);
    await sleep(phaseMs);
    const [first, second] = landers;
    const [x = 0, y = 0] = owned();
    const [victim, survivor] = x >= y ? [first, second] : [second, first];
    const moved = victim.assigned(topic);
    aAlive = false; // Herald 1's clients go to Herald 2 from now on, as behind a balancer
    const killedAt = Date.now();
    await Promise.all([a.stop("SIGKILL"), victim.stop("SIGKILL")]);
    run.log(`Herald 1 and the lander of partitions ${moved.join(", ")} killed`);
    const tookOver = await waitFor(() => survivor.assigned(topic).length === partitions, 60_000);
    const tookMs = Date.now() - killedAt;
    run.check(tookOver, `the surviving lander never took partitions ${moved.join(", ")}`);
    await sleep(phaseMs);
    const [viaA, viaB] = await Promise.all([toA.stop(), toB.stop()]);
    await run.stopClean(b);
    // Herald 1's requests in flight at its death get no answer (one per client at most);
    // every other answer is within the cluster drills' budget.
    const lost = viaA.filter((o) => o.status === 0).length;
    run.check(
      lost <= CLIENTS,
      `${lost} of Herald 1's requests got no answer (at most ${CLIENTS}: those in flight at its kill)`,
    );
    faultNotes(run, viaA.filter((o) => o.status !== 0), killedAt, "Herald 1's clients");
    faultNotes(run, viaB, killedAt, "Herald 2's clients");

    // The surviving lander lands the whole topic, then stops cleanly.
    const records = total(await kafkaCounts(run.brokers!, topic));
    const landed = await waitFor(async () => total(await lakeCounts(run.lake)) >= records, 60_000);
    const landedMs = Date.now() - killedAt;
    run.check(landed, `the lake holds fewer than the topic's ${records} records after 60 s`);
    const stopped = await survivor.stop();
    run.check(stopped.code === 0, `the surviving lander exited with ${stopped.code}`);
    run.notes.push(
      `Herald 1 and the lander of partitions ${moved.join(", ")} killed; the other lander ` +
        `owned all ${partitions} ${seconds(tookMs)} later, rebuilt ${survivor.rebuilt()} ` +
        `claimed ranges, and the lake held the topic's ${records} records ` +
        `${seconds(landedMs)} after the kill; ${lost} of Herald 1's requests unanswered`,
    );
    return run.verdict([...viaA, ...viaB], { kafka: true, lake: true, landed: true });
  });
