/**
 * The jars of a Kafka broker, assembled from Maven Central with `mvn`: no
 * Docker and no Apache tarball are needed.
 *
 * `org.apache.kafka:kafka_2.13` declares the broker's whole runtime classpath
 * except logging, so a tiny pom project plus
 * `maven-dependency-plugin:copy-dependencies` fetches every jar once into a
 * cache, and a log4j binding that logs to stderr is added.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { DEFAULT_KAFKA_VERSION, type Logging, loggingFor } from "./config.ts";
import { exists, readTextOrNull, writeTextIfChanged } from "./files.ts";
import { lastLines, run } from "./process.ts";

const DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1";
const CACHE_MARKER = "complete.json";
/** Temporary cache folders older than this are leftovers of killed fetches. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** Options of {@linkcode ensureKafkaJars}. */
export interface EnsureKafkaJarsOptions {
  /** Kafka version, e.g. "4.1.1" (default {@linkcode DEFAULT_KAFKA_VERSION}). */
  version?: string;
  /**
   * Cache root (default `$HERALD_CACHE`, else `$XDG_CACHE_HOME/herald`, else
   * `$HOME/.cache/herald`). The jars go to `<cacheDir>/kafka-<version>/lib`.
   */
  cacheDir?: string;
  /** Receives progress messages (only printed when something is downloaded). */
  log?: (msg: string) => void;
}

/**
 * The pom whose runtime dependencies are the broker's classpath. A cache is
 * complete only for the very same text, so any edit of it fetches every jar
 * again.
 */
function pomFor(version: string, logging: Logging): string {
  const deps: [string, string, string][] = [
    ["org.apache.kafka", "kafka_2.13", version],
    ...logging.dependencies,
  ];
  const xml = deps.map(([g, a, v]) =>
    `    <dependency>
      <groupId>${g}</groupId>
      <artifactId>${a}</artifactId>
      <version>${v}</version>
    </dependency>`
  ).join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by Herald's tools/kafka.ts: the runtime classpath of a Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.herald</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
${xml}
  </dependencies>
</project>
`;
}

function defaultCacheRoot(): string {
  const herald = Deno.env.get("HERALD_CACHE");
  if (herald) return herald;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "herald");
  const home = Deno.env.get("HOME");
  if (!home) throw new Error(`Cannot find a cache directory: set "HERALD_CACHE" or "HOME"`);
  return join(home, ".cache", "herald");
}

/** Is `home` a finished cache for this pom: same pom, marker present, every jar there? */
async function cacheState(home: string, pom: string): Promise<"complete" | "missing" | "broken"> {
  if (!(await exists(home))) return "missing";
  if ((await readTextOrNull(join(home, "pom.xml"))) !== pom) return "broken";
  const marker = await readTextOrNull(join(home, CACHE_MARKER));
  if (marker === null) return "broken";
  let jars: unknown;
  try {
    jars = JSON.parse(marker).jars;
  } catch {
    return "broken";
  }
  if (!Array.isArray(jars) || jars.length === 0) return "broken";
  for (const jar of jars) {
    if (typeof jar !== "string" || !(await exists(join(home, "lib", jar)))) return "broken";
  }
  return "complete";
}

/** Removes temporary and discarded cache folders that killed processes left behind. */
async function removeLeftovers(root: string, version: string): Promise<void> {
  const prefixes = [`kafka-${version}.tmp-`, `kafka-${version}.stale-`];
  for await (const entry of Deno.readDir(root)) {
    if (!prefixes.some((p) => entry.name.startsWith(p))) continue;
    const path = join(root, entry.name);
    try {
      const { mtime } = await Deno.stat(path);
      const stale = entry.name.includes(".stale-") ||
        (mtime !== null && Date.now() - mtime.getTime() > LEFTOVER_AGE_MS);
      if (stale) await Deno.remove(path, { recursive: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/**
 * Makes sure every jar of a Kafka broker (plus a log4j binding) is in the
 * local cache, downloading them once from Maven Central with `mvn`, and
 * returns the directory holding them (`<cache>/kafka-<version>/lib`), for
 * `java -cp '<lib>/*'`. The cache also holds the generated `pom.xml` and the
 * logging config (`log4j2.xml` for 4.x, `log4j.properties` for 3.x).
 *
 * Safe to call from several processes at once: each builds into its own
 * temporary folder and renames it into place; a cache lacking its marker or
 * any jar (or built from another pom) is discarded and fetched again.
 */
export async function ensureKafkaJars(options: EnsureKafkaJarsOptions = {}): Promise<string> {
  const version = options.version ?? DEFAULT_KAFKA_VERSION;
  const log = options.log ?? (() => {});
  const logging = loggingFor(version);
  const root = resolve(options.cacheDir ?? defaultCacheRoot());
  const home = join(root, `kafka-${version}`);
  const lib = join(home, "lib");
  const pom = pomFor(version, logging);

  const state = await cacheState(home, pom);
  if (state === "complete") {
    await writeTextIfChanged(join(home, logging.configName), logging.configText);
    return lib;
  }
  await Deno.mkdir(root, { recursive: true });
  await removeLeftovers(root, version);
  if (state === "broken") {
    log(`Discarding the incomplete Kafka cache "${home}"`);
    const aside = `${home}.stale-${crypto.randomUUID()}`;
    try {
      await Deno.rename(home, aside);
      await Deno.remove(aside, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  const tmp = await Deno.makeTempDir({ dir: root, prefix: `kafka-${version}.tmp-` });
  try {
    if (Deno.build.os !== "windows") await Deno.chmod(tmp, 0o755);
    await Deno.writeTextFile(join(tmp, "pom.xml"), pom);
    await Deno.writeTextFile(join(tmp, logging.configName), logging.configText);
    log(`Fetching Kafka ${version} jars from Maven Central with mvn into "${home}"`);
    const started = performance.now();
    const mvn = await run("mvn", [
      "-B",
      "-q",
      "-f",
      join(tmp, "pom.xml"),
      `${DEPENDENCY_PLUGIN}:copy-dependencies`,
      "-DincludeScope=runtime",
      `-DoutputDirectory=${join(tmp, "lib")}`,
    ], `Maven (Debian: "apt-get install maven")`);
    if (mvn.code !== 0) {
      throw new Error(
        `Cannot fetch Kafka ${version} jars: mvn exited with code ${mvn.code}:\n` +
          lastLines(mvn.stdout + mvn.stderr, 40),
      );
    }
    const jars: string[] = [];
    let bytes = 0;
    for await (const entry of Deno.readDir(join(tmp, "lib"))) {
      if (!entry.isFile || !entry.name.endsWith(".jar")) continue;
      jars.push(entry.name);
      bytes += (await Deno.stat(join(tmp, "lib", entry.name))).size;
    }
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(
        `Cannot fetch Kafka ${version} jars: mvn copied no "kafka_2.13-${version}.jar"`,
      );
    }
    jars.sort();
    await Deno.writeTextFile(
      join(tmp, CACHE_MARKER),
      JSON.stringify({ version, fetched: new Date().toISOString(), jars }, null, 2) + "\n",
    );
    try {
      await Deno.rename(tmp, home);
    } catch (error) {
      // Another process finished first: use its cache.
      if ((await cacheState(home, pom)) !== "complete") throw error;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    log(`Fetched ${jars.length} jars (${(bytes / 1048576).toFixed(1)} MiB) in ${seconds} s`);
  } finally {
    // Gone already when the rename succeeded.
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return lib;
}
