// A TypeScript application and a driver author's code, compiled strict with skipLibCheck off.
import { runCli } from "@portable-pubsub/cli";
import { runConformanceTests } from "@portable-pubsub/conformance";
import {
  ErrorCode,
  errorCode,
  type Message,
  openSubscription,
  openTopic,
  PubSubError,
  type TopicOptions,
} from "@portable-pubsub/core";
import { type DriverModule, describeUrl, parseDurationMs, type TopicDriver } from "@portable-pubsub/core/driver";
import * as memory from "@portable-pubsub/driver-memory";
import "@portable-pubsub/driver-rabbit/register";

const options: TopicOptions = { batching: { maxBatchSize: 10 } };
const registered: DriverModule = memory;
const query = (url: URL): [string, number | undefined] => [describeUrl(url), parseDurationMs("5s")];

export async function roundTrip(): Promise<string> {
  const topic = await openTopic("mem://consumer", options);
  const sub = await openSubscription("mem://consumer");
  await topic.send({ body: "hello", metadata: { kind: "greeting" } });
  const message: Message = await sub.receive();
  message.ack();
  return message.text();
}

// rabbit:// options are typed once the register entry (or any import of the driver) brings the driver's types.
export const typed = () => openTopic("rabbit://orders", { serverUrl: "amqp://localhost", shutdownTimeoutMs: 5000 });
// @ts-expect-error: a typo of serverUrl does not compile
export const misspelled = () => openTopic("rabbit://orders", { severUrl: "amqp://localhost" });

export function classify(err: unknown): boolean {
  return err instanceof PubSubError && errorCode(err) === ErrorCode.NotFound;
}

export const unused: [typeof runCli, typeof runConformanceTests, DriverModule, typeof query, TopicDriver | undefined] =
  [runCli, runConformanceTests, registered, query, undefined];
