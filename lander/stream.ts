/**
 * Reading the assigned partitions from their committed offsets, with a new
 * stream whenever the client ends one while the consumer stays in its group.
 *
 * @module
 */
import type { Message, MessagesStream } from "@platformatic/kafka";
import type { Logger } from "pino";
import type { KafkaClient, RawConsumer } from "./group.ts";

/** A record as fetched, bytes undecoded. */
export type RawMessage = Message<Buffer, Buffer, Buffer, Buffer>;

type RawStream = MessagesStream<Buffer, Buffer, Buffer, Buffer>;

/** What {@linkcode Consumption.start} reads, and what it hands each record to. */
export interface ConsumptionOptions {
  topics: string[];
  /** Where a partition with no committed offset starts. */
  fromBeginning: boolean;
  /** Called for each record in turn; the next waits for it. */
  handle(message: RawMessage): Promise<void>;
  /** Whether the lander is stopping: no new stream is opened then. */
  stopping(): boolean;
  logger: Logger;
}

/** Records flowing from the consumer to a handler until {@linkcode Consumption.close}. */
export class Consumption {
  #stream: RawStream;
  #done: Promise<void> = Promise.resolve();

  private constructor(stream: RawStream) {
    this.#stream = stream;
  }

  /** Opens the first stream (rejecting if it cannot) and starts handing records over. */
  static async start(
    kafka: KafkaClient,
    consumer: RawConsumer,
    options: ConsumptionOptions,
  ): Promise<Consumption> {
    const open = () =>
      consumer.consume({
        topics: options.topics,
        mode: kafka.MessagesStreamModes.COMMITTED,
        fallbackMode: options.fromBeginning
          ? kafka.MessagesStreamFallbackModes.EARLIEST
          : kafka.MessagesStreamFallbackModes.LATEST,
        autocommit: false,
      });
    const consumption = new Consumption(await open());
    consumption.#done = consumption.#run(open, options);
    return consumption;
  }

  /**
   * The client ends a stream on some broker failures (a killed leader) while
   * the consumer stays in its group: open a new one, which resumes from the
   * committed offsets (what this lander buffered already is skipped).
   */
  async #run(open: () => Promise<RawStream>, options: ConsumptionOptions): Promise<void> {
    const { stopping, logger } = options;
    while (!stopping()) {
      try {
        for await (const message of this.#stream) await options.handle(message);
      } catch (error) {
        if (stopping()) return;
        logger.warn({ err: String(error) }, "consumer stream failed; consuming again");
      }
      while (!stopping()) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          this.#stream = await open();
          break;
        } catch (error) {
          logger.warn({ err: String(error) }, "cannot consume yet; retrying");
        }
      }
    }
  }

  /** Closes the current stream and waits for the last record handed over. */
  async close(): Promise<void> {
    await this.#stream.close().catch(() => {});
    await this.#done;
  }
}
