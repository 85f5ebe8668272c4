import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { openLake } from "../../query/mod.ts";
import { parseWorkers, restartDelayMs, WORKER_DENO_FLAGS } from "../../ops/workers.ts";
import {
  configFile,
  type HeraldProcess,
  http,
  logged,
  runTask,
  sample,
  startHerald,
  taskArgs,
} from "../_testing.ts";

/** GET `path` on a connection of its own, so the kernel may hand it to any worker. */
function fresh(herald: { url: string }, path: string) {
  return http(`${herald.url}${path}`, { headers: { connection: "close" } });
}

/** Herald with `--workers 2`, once every worker listens; the pids of its workers. */
async function startWorkers(args: string[]): Promise<{ herald: HeraldProcess; pids: number[] }> {
  const herald = await startHerald(["--workers", "2", ...args]);
  const line = await logged(herald, "every worker listening");
  return { herald, pids: JSON.parse(line).pids };
}

Deno.test("parseWorkers() takes a whole number of at least 1 or auto, and names the source", () => {
  assert.equal(parseWorkers(undefined, "--workers"), 1);
  assert.equal(parseWorkers("3", "--workers"), 3);
  assert.equal(parseWorkers("auto", "HERALD_WORKERS"), navigator.hardwareConcurrency);
  for (const bad of ["0", "abc", "-1", "1.5", "2x"]) {
    assert.throws(
      () => parseWorkers(bad, "--workers"),
      new RangeError(
        `Invalid --workers "${bad}": expected a whole number of at least 1, or "auto"`,
      ),
    );
  }
});

Deno.test("restartDelayMs() restarts at once after a long run, then backs off to 30 s", () => {
  assert.deepEqual([0, 1, 2, 3, 6, 7, 20].map(restartDelayMs), [
    0,
    500,
    1000,
    2000,
    16_000,
    30_000,
    30_000,
  ]);
});

Deno.test("WORKER_DENO_FLAGS are the serve task's flags, without --allow-run, with --unstable-net", () => {
  const task = taskArgs("serve").slice(1, -1); // between `run` and `main.ts`
  assert.deepEqual(
    WORKER_DENO_FLAGS.filter((f) => f !== "--unstable-net"),
    task.filter((f) => !f.startsWith("--allow-run")),
  );
  assert.ok(WORKER_DENO_FLAGS.includes("--unstable-net"));
});

Deno.test("serve refuses --workers 0, --workers abc and HERALD_WORKERS=abc, naming the flag", async () => {
  for (
    const [args, env, named] of [
      [["--workers", "0"], {}, '--workers "0"'],
      [["--workers", "abc"], {}, '--workers "abc"'],
      [[], { HERALD_WORKERS: "abc" }, 'HERALD_WORKERS "abc"'],
    ] as const
  ) {
    const { code, stderr } = await runTask("serve", [...args], { env });
    assert.equal(code, 1, stderr);
    assert.match(stderr, new RegExp(`Cannot start: Invalid ${named}`));
  }
});

Deno.test("serve --workers 1 is one process with the untagged log and file names", async () => {
  const herald = await startHerald(["--workers", "1", "--sinks", "parquet"]);
  try {
    assert.equal((await fresh(herald, "/purchase_a_sword")).status, 200);
    const wal = await Array.fromAsync(Deno.readDir(`${herald.lake}/_wal`));
    assert.deepEqual(wal.map((e) => e.isFile && /^\d{13}-\d{6}\.wal$/.test(e.name)), [true]);
    assert.deepEqual(await fresh(herald, "/healthz").then((r) => JSON.parse(r.text)), {
      status: "ok",
    });
  } finally {
    assert.equal((await herald.stop()).code, 0, herald.stderr());
  }
  assert.doesNotMatch(herald.stderr(), /supervisor/);
  const lake = await openLake(herald.lake);
  try {
    const { rows } = await lake.run(
      "select regexp_extract(filename, '[^/]*$') from read_parquet('" + herald.lake +
        "/purchases/*/*/*.parquet', filename = true)",
    );
    assert.match(String(rows[0]?.[0]), /^herald-\d{13}-\d{6}-0\.parquet$/);
  } finally {
    lake.close();
  }
});

Deno.test("serve --workers 2 refuses an invalid config before starting a worker", async () => {
  const bad = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(bad, "server: { port: 5000, colour: blue }\n");
  const { code, stderr } = await runTask("serve", ["--workers", "2", "--config", bad]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /server\.colour/);
  assert.doesNotMatch(stderr, /"msg":"listening"/);
});

Deno.test("serve --workers 2 exits 1 when its first worker cannot bind the port", async () => {
  const taken = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  try {
    const { code, stderr } = await runTask("serve", [
      "--workers",
      "2",
      "--port",
      String(taken.addr.port),
    ]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /"msg":"a worker exited before it listened; stopping"/);
  } finally {
    taken.close();
  }
});

Deno.test("serve --workers 2: both workers answer on one port, /metrics sums them, SIGHUP reloads both", async () => {
  const config = await configFile({});
  const { herald } = await startWorkers(["--sinks", "stdout", "--config", config]);
  try {
    // Until both workers answered; each /healthz names the worker that answered it.
    const answered: Record<number, number> = { 0: 0, 1: 0 };
    let requests = 0;
    while ((answered[0] === 0 || answered[1] === 0) && requests < 400) {
      const res = await fresh(herald, "/healthz");
      assert.equal(res.status, 200);
      const { worker } = JSON.parse(res.text);
      answered[worker] = (answered[worker] ?? 0) + 1;
      requests++;
    }
    assert.ok(
      answered[0]! > 0 && answered[1]! > 0,
      `answers by worker: ${JSON.stringify(answered)}`,
    );
    for (let i = 0; i < 10; i++) {
      assert.equal((await fresh(herald, "/purchase_a_sword")).status, 200);
    }
    // Whichever worker is scraped counts every worker's requests: one alone has fewer.
    for (let scrape = 0; scrape < 4; scrape++) {
      const text = (await fresh(herald, "/metrics")).text;
      assert.equal(
        sample(text, "herald_http_requests_total", { action: "_ops", status: "200" }),
        requests,
      );
      assert.equal(
        sample(text, "herald_http_requests_total", { action: "purchase_a_sword", status: "200" }),
        10,
      );
      assert.equal(
        sample(text, "herald_sink_events_total", { sink: "stdout", outcome: "accepted" }),
        10,
      );
      assert.equal(sample(text, "herald_workers", { state: "configured" }), 2);
      assert.equal(sample(text, "herald_workers", { state: "answering" }), 2);
      assert.equal(sample(text, "herald_sink_up", { sink: "stdout" }), 1);
      requests++; // a scrape is counted once answered: the next one sees it
    }

    const ready = await fresh(herald, "/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(Object.keys(JSON.parse(ready.text).workers), ["0", "1"]);

    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace("Sword Purchased!", "Sword Bought!"),
    );
    herald.child.kill("SIGHUP");
    await logged(herald, '"msg":"config reloaded"', 2);
    for (let i = 0; i < 6; i++) {
      assert.equal((await fresh(herald, "/purchase_a_sword")).text, "Sword Bought!\n");
    }
  } finally {
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
  }
});

Deno.test("serve --workers 2: kill -9 of a worker loses no 2xx event, it is restarted, SIGTERM drains both", async () => {
  const { herald, pids } = await startWorkers(["--sinks", "parquet"]);
  const acked: string[] = [];
  let stop = false;
  // Clients that keep sending while a worker dies; a refused or cut request is simply not acked.
  const clients = Array.from({ length: 2 }, async () => {
    while (!stop) {
      try {
        const res = await fetch(`${herald.url}/purchase_a_sword`, {
          headers: { connection: "close" },
        });
        await res.text();
        if (res.ok) acked.push(res.headers.get("x-request-id")!);
      } catch { /* the connection went to the killed worker */ }
    }
  });
  try {
    while (acked.length < 200) await new Promise((r) => setTimeout(r, 20));
    Deno.kill(pids[1]!, "SIGKILL");
    const died = JSON.parse(await logged(herald, "worker died; restarting it"));
    assert.equal(died.worker, 1);
    assert.equal(died.pid, pids[1]);
    assert.equal(died.signal, "SIGKILL");
    assert.equal(died.restarts, 1);
    const restarted = JSON.parse(await logged(herald, '"msg":"worker restarted"'));
    assert.equal(restarted.worker, 1);
    assert.notEqual(restarted.pid, pids[1]);
    // The restarted worker replayed its own log: the events it had acknowledged.
    assert.match(herald.stderr(), /"worker":1,[^\n]*"msg":"replayed the write-ahead log"/);
    const before = acked.length;
    while (acked.length < before + 200) await new Promise((r) => setTimeout(r, 20));
  } finally {
    stop = true;
    await Promise.all(clients);
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
  }
  const stderr = herald.stderr();
  assert.equal(stderr.match(/"msg":"stopped"/g)?.length, 2, "both workers drained");
  assert.match(stderr, /"msg":"every worker stopped"/);

  // Read as `deno task query` reads the lake.
  const lake = await openLake(herald.lake);
  let rows: unknown[][];
  try {
    rows = (await lake.run("select request_id, count(*) from purchases group by 1")).rows;
  } finally {
    lake.close();
  }
  const inLake = new Map(rows.map(([id, n]) => [String(id), Number(n)]));
  const db = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    const glob = `${herald.lake}/purchases/*/*/*.parquet`;
    const missing = acked.filter((id) => !inLake.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged events lost`);
    const twice = [...inLake].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], "no event twice in the lake");
    const files = (await db.runAndReadAll(
      `select distinct regexp_extract(filename, 'herald-(w\\d)-', 1) from read_parquet('${glob}', filename = true) order by 1`,
    )).getRows().map(([w]) => w);
    assert.deepEqual(files, ["w0", "w1"], "each worker wrote files of its own");
  } finally {
    db.closeSync();
  }
});

Deno.test("serve --workers 2 backs off a worker that keeps dying, and /readyz is 503 meanwhile", async () => {
  const { herald, pids } = await startWorkers(["--sinks", "parquet"]);
  try {
    // Worker 1's log folder turns into a file: each new worker 1 fails at startup.
    const wal = `${herald.lake}/_wal/w1`;
    await Deno.remove(wal, { recursive: true });
    await Deno.writeTextFile(wal, "");
    Deno.kill(pids[1]!, "SIGKILL");
    const deaths = async (n: number) => {
      await logged(herald, "worker died; restarting it", n);
      return herald.stderr().split("\n").filter((l) => l.includes("worker died")).map((l) =>
        JSON.parse(l)
      );
    };
    const died = await deaths(3);
    assert.deepEqual(died.map((d) => [d.worker, d.restarts]), [[1, 1], [1, 2], [1, 3]]);
    assert.deepEqual(died.slice(1).map((d) => d.code), [1, 1], "the restarts failed at startup");
    assert.ok(
      died[1].delay_ms > died[0].delay_ms && died[2].delay_ms > died[1].delay_ms,
      `growing delays: ${died.map((d) => d.delay_ms)}`,
    );

    const ready = await fresh(herald, "/readyz");
    assert.equal(ready.status, 503, ready.text);
    const body = JSON.parse(ready.text);
    assert.equal(body.worker, 0);
    assert.equal(body.workers["0"].ok, true);
    assert.equal(body.workers["1"].ok, false);
    assert.match(body.workers["1"].detail, /^worker 1 did not answer/);

    await Deno.remove(wal);
    await logged(herald, '"msg":"worker restarted"');
    assert.equal((await fresh(herald, "/readyz")).status, 200);
  } finally {
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
  }
});

/**
 * From 4 clients, `perClient` GETs each on a connection of its own, then a
 * SIGTERM that must drain every worker; the request ids of the answers.
 */
async function sendThenStop(
  herald: HeraldProcess,
  perClient: number,
  headers: Record<string, string> = {},
): Promise<string[]> {
  const acked: string[] = [];
  try {
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = 0; i < perClient; i++) {
        const res = await http(`${herald.url}/purchase_a_sword`, {
          headers: { connection: "close", ...headers },
        });
        assert.equal(res.status, 200);
        acked.push(res.headers.get("x-request-id")!);
      }
    }));
  } finally {
    const status = await herald.stop();
    assert.equal(status.code, 0, herald.stderr());
  }
  return acked;
}

/** Every stdout line parses as an event, and the events are exactly the `acked` requests. */
function assertStdoutHolds(herald: HeraldProcess, acked: string[]): void {
  const lines = herald.stdout().split("\n").filter((l) => l !== "");
  const ids = lines.map((l) => JSON.parse(l).request_id);
  assert.deepEqual(ids.toSorted(), acked.toSorted());
}

Deno.test("serve --workers 2 --sinks stdout: one clean NDJSON stream with every 2xx event once", async () => {
  const { herald } = await startWorkers(["--sinks", "stdout"]);
  assertStdoutHolds(herald, await sendThenStop(herald, 50));
});

Deno.test("serve --workers 2 --sinks stdout > file: the workers write it themselves, every 2xx event once, whole lines", async () => {
  const file = await Deno.makeTempFile({ suffix: ".ndjson" });
  const herald = await startHerald(["--workers", "2", "--sinks", "stdout"], { stdoutFile: file });
  const pids: number[] = JSON.parse(await logged(herald, "every worker listening")).pids;
  // Each worker's stdout is the file itself, not a pipe to the supervisor.
  for (const pid of pids) assert.equal(Deno.readLinkSync(`/proc/${pid}/fd/1`), file);
  // Lines of about 3 KB: a flush of two is past what a pipe keeps whole.
  assertStdoutHolds(herald, await sendThenStop(herald, 100, { "user-agent": "x".repeat(3000) }));
  await Deno.remove(file);
});

Deno.test("serve --workers 2 drains on a SIGTERM that arrives while workers start, leaving none behind", async () => {
  // Resolves at worker 0's "listening": worker 1 may still be starting.
  const herald = await startHerald(["--workers", "2", "--sinks", "stdout"]);
  const status = await herald.stop();
  assert.equal(status.code, 0, herald.stderr());
  assert.match(herald.stderr(), /"msg":"every worker stopped"/);
  // No worker holds the port any more.
  const listener = Deno.listen({ hostname: "0.0.0.0", port: herald.port });
  listener.close();
});

Deno.test("serve --workers 2 removes the socket folder a killed supervisor left, and no other", async () => {
  const tmp = (Deno.env.get("TMPDIR") ?? "/tmp").replace(/\/$/, "");
  const made = () => Deno.makeTempDir({ dir: tmp, prefix: "herald-workers-test-" });
  const [gone, living, older] = [await made(), await made(), await made()];
  // A socket file nobody listens on, as a supervisor killed with -9 leaves it.
  const bind = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
      `${gone}/supervisor.sock`,
    ],
  });
  assert.equal((await bind.output()).code, 0);
  await Deno.writeTextFile(`${gone}/w0.sock`, "");
  const listening = Deno.listen({ transport: "unix", path: `${living}/supervisor.sock` });
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  try {
    const { herald } = await startWorkers(["--sinks", "stdout"]);
    assert.equal((await herald.stop()).code, 0, herald.stderr());
    assert.match(herald.stderr(), /removed the socket folder of a supervisor that is gone/);
    assert.equal(await exists(gone), false, "the gone supervisor's folder is removed");
    assert.equal(await exists(living), true, "a living supervisor's folder stays");
    assert.equal(await exists(older), true, "a folder with no presence socket stays");
  } finally {
    listening.close();
    for (const dir of [gone, living, older]) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
});
