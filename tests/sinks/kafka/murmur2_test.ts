import assert from "node:assert/strict";
import { murmur2 as clientMurmur2 } from "@platformatic/kafka";
import { murmur2, partitionOfKey } from "../../../sinks/kafka/_murmur2.ts";
import { withSeed } from "../../_testing.ts";

Deno.test("murmur2() gives the values of Kafka's Java client (UtilsTest vectors)", () => {
  const cases: [string, number][] = [
    ["21", -973932308],
    ["foobar", -790332482],
    ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
    ["abc", 479470107],
  ];
  for (const [key, hash] of cases) assert.equal(murmur2(key), hash, key);
});

Deno.test("murmur2() agrees with the Kafka client's own on random UTF-8 keys", async () => {
  await withSeed(20261202, (random) => {
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 40);
      const key = Array.from({ length }, () => String.fromCodePoint(Math.floor(random() * 0x2fff)))
        .join("");
      assert.equal(murmur2(key), clientMurmur2(key), JSON.stringify(key));
    }
  });
});

Deno.test("partitionOfKey() is toPositive(murmur2) modulo the partition count", () => {
  assert.equal(partitionOfKey("foobar", 3), (-790332482 & 0x7fffffff) % 3);
  for (const key of ["", "user1.comcast.com", "ключ"]) {
    const p = partitionOfKey(key, 6);
    assert.ok(p >= 0 && p < 6, `${key}: ${p}`);
  }
});
