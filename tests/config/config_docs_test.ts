import assert from "node:assert/strict";
import { render, undocumentedKeys, updateReference } from "../../config/docs.ts";
import {
  doc,
  list,
  object,
  optional,
  positiveInt,
  string,
  withDefault,
} from "../../config/schema.ts";
import { configSections } from "../../config/sections.ts";
import { SINKS } from "../../sinks/mod.ts";

const SECTIONS = configSections(SINKS);

Deno.test("docs/config.md holds the reference the schemas generate (run `deno task docs`)", async () => {
  const text = await Deno.readTextFile(new URL("../../docs/config.md", import.meta.url));
  assert.equal(updateReference(text, SECTIONS), text, "docs/config.md is stale: deno task docs");
});

Deno.test("every config key, Herald's and each sink's, has a description", () => {
  assert.deepEqual(undocumentedKeys(SECTIONS), []);
});

const sample = object({
  port: doc(withDefault(positiveInt(), 80), "the port"),
  name: doc(string(), "a name"),
  tags: doc(withDefault(list(string()), ["a", "b"]), "tags | labels"),
  mode: doc(optional(string()), "the mode", { default: "(off)" }),
  items: withDefault(list(object({ id: positiveInt(), text: doc(string(), "what it says") })), []),
});

Deno.test("undocumentedKeys() names undocumented keys at any depth, lists of maps included", () => {
  assert.deepEqual(undocumentedKeys([{ name: "demo", options: sample }]), [
    "demo.items",
    "demo.items[].id",
  ]);
});

Deno.test("render() writes one table per section with each key's default and description", () => {
  const sections = [{ name: "demo", options: sample }, {
    name: "one",
    options: doc(string(), "a"),
  }];
  assert.equal(
    render(sections),
    [
      "### `demo`",
      "",
      "| key                 | default    | description    |",
      "| ------------------- | ---------- | -------------- |",
      "| `demo.port`         | 80         | the port       |",
      "| `demo.name`         | (required) | a name         |",
      "| `demo.tags`         | `[a, b]`   | tags \\| labels |",
      "| `demo.mode`         | (off)      | the mode       |",
      "| `demo.items`        | `[]`       |                |",
      "| `demo.items[].id`   | (required) |                |",
      "| `demo.items[].text` | (required) | what it says   |",
      "",
      "### `one`",
      "",
      "| key   | default    | description |",
      "| ----- | ---------- | ----------- |",
      "| `one` | (required) | a           |",
    ].join("\n"),
  );
});

Deno.test("updateReference() replaces only the text between the markers", () => {
  const sections = [{ name: "one", options: doc(string(), "alone") }];
  const page =
    "# Title\n\n<!-- generated:config:start -->\nold\n<!-- generated:config:end -->\n\nEnd\n";
  const updated = updateReference(page, sections);
  assert.equal(
    updated,
    `# Title\n\n<!-- generated:config:start -->\n\n${
      render(sections)
    }\n\n<!-- generated:config:end -->\n\nEnd\n`,
  );
  assert.equal(updateReference(updated, sections), updated);
  assert.throws(() => updateReference("# Title\n", sections), SyntaxError);
});
